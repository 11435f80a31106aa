//! Media across servers: a client of one server downloads a file uploaded
//! on another (its server fetches it once over authenticated federation
//! media and keeps it), an encrypted attachment sent across servers is
//! decrypted byte-identical, and a remote file the antivirus flags is
//! refused like an infected upload.

#![allow(clippy::unwrap_used)]

mod support;

use matrix_sdk::{
    attachment::AttachmentConfig,
    media::{MediaFormat, MediaRequestParameters},
    ruma::events::room::message::{MessageType, RoomMessageEventContent},
};
use serde_json::Value;
use support::{
    Backend, Clamd, EICAR, TestServer,
    e2ee::encrypted_room,
    federation::{encode, get_as},
    sync_once,
};

/// Uploads `bytes` to `server` as `token`; returns the MXC URI.
async fn upload(server: &TestServer, token: &str, content_type: &str, bytes: Vec<u8>) -> String {
    let res: Value = reqwest::Client::new()
        .post(format!(
            "{}/_matrix/media/v3/upload?filename=note.txt",
            server.base_url
        ))
        .bearer_auth(token)
        .header("content-type", content_type)
        .body(bytes)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    res["content_uri"].as_str().expect("uploaded").to_owned()
}

/// `GET /_matrix/client/v1/media/download/...` on `server`.
async fn download(server: &TestServer, token: &str, mxc: &str) -> (u16, Vec<u8>) {
    let path = mxc.trim_start_matches("mxc://");
    let res = reqwest::Client::new()
        .get(format!(
            "{}/_matrix/client/v1/media/download/{path}",
            server.base_url
        ))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    (res.status().as_u16(), res.bytes().await.unwrap().to_vec())
}

async fn remote_media_is_fetched_once_and_kept(backend: Backend) {
    let a = TestServer::start_federating(backend, &[]).await;
    let mut b = TestServer::start_federating(backend, &[]).await;
    let alice = a.register_token("alice").await;
    let bob = b.register_token("bob").await;
    let text = "Ordre du jour : budget 2027".as_bytes().to_vec();
    let mxc = upload(&a, &alice, "text/plain", text.clone()).await;

    // Other servers download it over federation, signed.
    let media_id = mxc.rsplit('/').next().unwrap();
    let (status, _) = get_as(
        &b,
        &a,
        &format!("/_matrix/federation/v1/media/download/{}", encode(media_id)),
    )
    .await;
    // A multipart answer, not JSON: the status says it was served.
    assert_eq!(status, 200);

    let (status, bytes) = download(&b, &bob, &mxc).await;
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&bytes));
    assert_eq!(bytes, text);

    // Kept: with A gone, B still serves it.
    drop(a);
    let (status, bytes) = download(&b, &bob, &mxc).await;
    assert_eq!((status, bytes), (200, text.clone()));
    b.crash_and_restart().await;
    let (status, bytes) = download(&b, &bob, &mxc).await;
    assert_eq!((status, bytes), (200, text));
}

async fn an_encrypted_attachment_crosses_servers(backend: Backend) {
    let a = TestServer::start_federating(backend, &[]).await;
    let b = TestServer::start_federating(backend, &[]).await;
    let alice = a.register("alice").await;
    let bob = b.register("bob").await;
    sync_once(&alice).await;
    sync_once(&bob).await;
    let room_id = encrypted_room(&alice, &bob).await;

    let data: Vec<u8> = (0..200_000u32).map(|i| (i * 7 % 251) as u8).collect();
    let sent = alice
        .get_room(&room_id)
        .unwrap()
        .send_attachment(
            "rapport.pdf",
            &mime::APPLICATION_PDF,
            data.clone(),
            AttachmentConfig::new(),
        )
        .await
        .expect("send attachment");
    let mut received = None;
    for _ in 0..60 {
        sync_once(&bob).await;
        if let Ok(event) = bob
            .get_room(&room_id)
            .unwrap()
            .event(&sent.event_id, None)
            .await
            && let Ok(Some(content)) = event.raw().get_field::<RoomMessageEventContent>("content")
            && let MessageType::File(file) = content.msgtype
        {
            received = Some(file.source);
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    }
    let source = received.expect("bob decrypts the file event");
    assert!(
        matches!(
            source,
            matrix_sdk::ruma::events::room::MediaSource::Encrypted(_)
        ),
        "sent encrypted"
    );
    // Bob's client asks his own server, which fetches the ciphertext from
    // Alice's; the client decrypts it.
    let bytes = bob
        .media()
        .get_media_content(
            &MediaRequestParameters {
                source,
                format: MediaFormat::File,
            },
            false,
        )
        .await
        .expect("download and decrypt");
    assert_eq!(bytes, data, "byte-identical after decryption");
}

both_backends!(
    remote_media_is_fetched_once_and_kept => remote_media_is_fetched_once_and_kept,
    an_encrypted_attachment_crosses_servers => an_encrypted_attachment_crosses_servers,
);

/// A has no antivirus and accepts the EICAR test file; B scans what it
/// fetches and refuses it as it refuses an infected upload.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn remote_media_is_scanned_by_the_antivirus() {
    let clamd = Clamd::start().await;
    let a = TestServer::start_federating(Backend::Sqlite, &[]).await;
    let b =
        TestServer::start_federating(Backend::Sqlite, &[("MISSIVE_CLAMD", &clamd.address())]).await;
    let alice = a.register_token("alice").await;
    let bob = b.register_token("bob").await;
    let infected = upload(&a, &alice, "text/plain", EICAR.to_vec()).await;
    let clean = upload(&a, &alice, "text/plain", b"harmless".to_vec()).await;

    let (status, body) = download(&b, &bob, &infected).await;
    let error: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    assert_eq!(
        (status, error["errcode"].as_str()),
        (403, Some("M_FORBIDDEN")),
        "{error}"
    );
    let (status, bytes) = download(&b, &bob, &clean).await;
    assert_eq!((status, bytes), (200, b"harmless".to_vec()));
}
