//! Conformance: Media records, quota and thumbnails.

use super::*;

pub async fn media_records_share_blobs_and_count_quota(store: SqlStore) {
    let record = |id: &str, sha: Option<&str>, size: i64| MediaRecord {
        server_name: "test".into(),
        media_id: id.into(),
        uploader: "@a:test".into(),
        content_type: Some("image/png".into()),
        filename: Some("cat.png".into()),
        size,
        sha256: sha.map(Into::into),
        created_ts: 1,
        expires_ts: None,
    };
    let sha = "a".repeat(64);
    store
        .create_media(&record("m1", Some(&sha), 100))
        .await
        .unwrap();
    store
        .create_media(&record("m2", Some(&sha), 100))
        .await
        .unwrap();
    assert!(matches!(
        store.create_media(&record("m1", None, 0)).await,
        Err(StoreError::AlreadyExists(_))
    ));
    assert_eq!(store.media_usage("@a:test").await.unwrap(), 200);
    assert_eq!(
        store
            .media("test", "m1")
            .await
            .unwrap()
            .unwrap()
            .filename
            .as_deref(),
        Some("cat.png")
    );

    // An async upload: reserved, then filled exactly once.
    let mut pending = record("m3", None, 0);
    pending.expires_ts = Some(10_000);
    store.create_media(&pending).await.unwrap();
    assert_eq!(
        store.pending_media_count("@a:test", 5_000).await.unwrap(),
        1
    );
    assert!(
        store
            .complete_media("test", "m3", &sha, 7, Some("text/plain"), None)
            .await
            .unwrap()
    );
    assert!(
        !store
            .complete_media("test", "m3", &sha, 7, None, None)
            .await
            .unwrap()
    );
    assert_eq!(
        store.pending_media_count("@a:test", 5_000).await.unwrap(),
        0
    );

    let thumb = ThumbnailRecord {
        sha256: sha.clone(),
        width: 32,
        height: 32,
        method: "scale".into(),
        thumb_sha256: "b".repeat(64),
        content_type: "image/png".into(),
        size: 9,
    };
    store.add_thumbnail(&thumb).await.unwrap();
    assert_eq!(
        store.thumbnail(&sha, 32, 32, "scale").await.unwrap(),
        Some(thumb.clone())
    );
    assert!(
        store
            .thumbnail(&sha, 32, 32, "crop")
            .await
            .unwrap()
            .is_none()
    );

    // The blob is orphaned only when its last record goes.
    assert!(store.delete_media("test", "m1").await.unwrap().is_empty());
    assert!(
        store.delete_media("test", "m2").await.unwrap().is_empty(),
        "m3 still uses it"
    );
    let orphans = store.delete_media("test", "m3").await.unwrap();
    assert_eq!(orphans, vec![sha.clone(), "b".repeat(64)]);
    assert!(store.user_media("@a:test").await.unwrap().is_empty());
    assert!(store.thumbnails_of(&sha).await.unwrap().is_empty());
}
