//! Other servers' signing keys.

use super::*;

fn key(id: &str, public: &str, valid_until_ts: i64, expired_ts: Option<i64>) -> ServerSigningKey {
    ServerSigningKey {
        key_id: id.into(),
        public_key: public.into(),
        valid_until_ts,
        expired_ts,
    }
}

/// Keys are kept per server with their validity; a refresh extends a key
/// (never shortens it), a rotated key stays known as expired, and the
/// last answer replaces the one before.
pub async fn server_keys_are_cached_by_validity(store: SqlStore) {
    let a = ruma::server_name!("a.example");
    let b = ruma::server_name!("127.0.0.1:8448");
    assert!(store.server_signing_keys(a).await.unwrap().is_empty());
    assert_eq!(store.server_key_answer(a).await.unwrap(), None);

    store
        .save_server_keys(
            a,
            "{\"n\":1}",
            1_000,
            &[key("ed25519:k1", "AAA", 1_000, None)],
        )
        .await
        .unwrap();
    store
        .save_server_keys(
            b,
            "{\"b\":1}",
            5_000,
            &[key("ed25519:x", "BBB", 5_000, None)],
        )
        .await
        .unwrap();
    assert_eq!(
        store.server_signing_keys(a).await.unwrap(),
        [key("ed25519:k1", "AAA", 1_000, None)]
    );
    assert_eq!(
        store.server_key_answer(a).await.unwrap(),
        Some(("{\"n\":1}".to_owned(), 1_000))
    );

    // Refreshed: k1 valid for longer; a stale copy does not shorten it.
    store
        .save_server_keys(
            a,
            "{\"n\":2}",
            2_000,
            &[key("ed25519:k1", "AAA", 2_000, None)],
        )
        .await
        .unwrap();
    store
        .save_server_keys(
            a,
            "{\"n\":3}",
            1_500,
            &[key("ed25519:k1", "AAA", 1_500, None)],
        )
        .await
        .unwrap();
    assert_eq!(
        store.server_signing_keys(a).await.unwrap(),
        [key("ed25519:k1", "AAA", 2_000, None)]
    );
    assert_eq!(
        store.server_key_answer(a).await.unwrap(),
        Some(("{\"n\":3}".to_owned(), 1_500))
    );

    // Rotated: k1 becomes old (expired at 1_800), k2 is current.
    store
        .save_server_keys(
            a,
            "{\"n\":4}",
            9_000,
            &[
                key("ed25519:k1", "AAA", 1_800, Some(1_800)),
                key("ed25519:k2", "CCC", 9_000, None),
            ],
        )
        .await
        .unwrap();
    // A later answer listing k1 as current again does not revive it.
    store
        .save_server_keys(
            a,
            "{\"n\":5}",
            9_000,
            &[key("ed25519:k1", "AAA", 9_000, None)],
        )
        .await
        .unwrap();
    assert_eq!(
        store.server_signing_keys(a).await.unwrap(),
        [
            key("ed25519:k1", "AAA", 9_000, Some(1_800)),
            key("ed25519:k2", "CCC", 9_000, None),
        ]
    );
    // The other server is untouched.
    assert_eq!(
        store.server_signing_keys(b).await.unwrap(),
        [key("ed25519:x", "BBB", 5_000, None)]
    );
}
