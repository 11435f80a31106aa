//! The media repository: encrypted attachments end to end with matrix-sdk,
//! thumbnails, limits, authentication, and antivirus with a real clamd.

// Test code throughout: allow-unwrap-in-tests (clippy.toml) covers only
// #[test] functions, not the helpers an integration test crate shares.
#![allow(clippy::unwrap_used)]

mod support;

use std::io::Cursor;

use aes::Aes256;
use base64::Engine;
use ctr::cipher::{KeyIvInit, StreamCipher};
use matrix_sdk::{
    attachment::AttachmentConfig,
    media::{MediaFormat, MediaRequestParameters},
    ruma::{
        api::client::room::create_room,
        events::{
            InitialStateEvent,
            room::{
                encryption::RoomEncryptionEventContent,
                message::{MessageType, RoomMessageEventContent},
            },
        },
    },
};
use reqwest::StatusCode;
use serde_json::{Value, json};
use sha2::Digest;
use support::{Backend, Clamd, EICAR, TestServer, sync_once, sync_until};

async fn upload(
    server: &TestServer,
    token: &str,
    content_type: &str,
    body: Vec<u8>,
) -> (StatusCode, Value) {
    let res = reqwest::Client::new()
        .post(format!(
            "{}/_matrix/media/v3/upload?filename=f.bin",
            server.base_url
        ))
        .bearer_auth(token)
        .header("content-type", content_type)
        .body(body)
        .send()
        .await
        .unwrap();
    (res.status(), res.json().await.unwrap_or(Value::Null))
}

fn media_id(uri: &Value) -> String {
    uri["content_uri"]
        .as_str()
        .unwrap()
        .rsplit('/')
        .next()
        .unwrap()
        .to_owned()
}

fn png(w: u32, h: u32) -> Vec<u8> {
    let img = image::RgbImage::from_fn(w, h, |x, y| {
        image::Rgb([(x % 255) as u8, (y % 255) as u8, 128])
    });
    let mut out = Vec::new();
    image::DynamicImage::ImageRgb8(img)
        .write_to(&mut Cursor::new(&mut out), image::ImageFormat::Png)
        .unwrap();
    out
}

async fn encrypted_attachment_round_trip(backend: Backend) {
    let server = TestServer::start(backend).await;
    let alice = server.register("alice").await;
    let bob = server.register("bob").await;
    sync_once(&alice).await;
    sync_once(&bob).await;
    let mut request = create_room::v3::Request::new();
    request.invite = vec![bob.user_id().unwrap().to_owned()];
    request.initial_state = vec![
        InitialStateEvent::with_empty_state_key(
            RoomEncryptionEventContent::with_recommended_defaults(),
        )
        .to_raw_any(),
    ];
    let room = alice.create_room(request).await.unwrap();
    let room_id = room.room_id().to_owned();
    sync_until(&[&bob], 20, "bob is invited", || async {
        support::invited_to(&bob, &room_id)
    })
    .await;
    bob.join_room_by_id(&room_id).await.unwrap();
    sync_until(&[&alice, &bob], 20, "both joined", || async {
        alice
            .get_room(&room_id)
            .is_some_and(|r| r.joined_members_count() == 2)
    })
    .await;

    let data: Vec<u8> = (0..300_000u32).map(|i| (i * 7 % 251) as u8).collect();
    let sent = room
        .send_attachment(
            "rapport.pdf",
            &mime::APPLICATION_PDF,
            data.clone(),
            AttachmentConfig::new(),
        )
        .await
        .expect("send attachment");
    let event_id = sent.event_id;

    let mut received = None;
    for _ in 0..30 {
        sync_once(&bob).await;
        let event = bob
            .get_room(&room_id)
            .unwrap()
            .event(&event_id, None)
            .await
            .unwrap();
        if let Ok(Some(content)) = event.raw().get_field::<RoomMessageEventContent>("content")
            && let MessageType::File(file) = content.msgtype
        {
            received = Some(file.source);
            break;
        }
    }
    let source = received.expect("bob decrypts the file event");
    assert!(
        matches!(
            source,
            matrix_sdk::ruma::events::room::MediaSource::Encrypted(_)
        ),
        "sent encrypted"
    );
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

both_backends! {
    an_encrypted_attachment_is_decrypted_byte_identical => encrypted_attachment_round_trip,
}

#[tokio::test]
async fn thumbnails_have_the_requested_size() {
    let server = TestServer::start(Backend::Sqlite).await;
    let t = server.register_token("alice").await;
    let (status, uri) = upload(&server, &t, "image/png", png(640, 480)).await;
    assert_eq!(status, 200, "{uri}");
    let id = media_id(&uri);
    let http = reqwest::Client::new();
    for (w, h, method, expected) in [
        (96, 96, "crop", (96, 96)),
        (320, 240, "scale", (320, 240)),
        // Snapped to the closest configured size at least as large.
        (100, 100, "scale", (320, 240)),
    ] {
        let res = http
            .get(format!("{}/_matrix/client/v1/media/thumbnail/localhost/{id}?width={w}&height={h}&method={method}", server.base_url))
            .bearer_auth(&t)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200);
        assert_eq!(res.headers()["content-type"], "image/png");
        let img = image::load_from_memory(&res.bytes().await.unwrap()).unwrap();
        assert_eq!((img.width(), img.height()), expected, "{method} {w}x{h}");
    }
    // A non-image has no thumbnail.
    let (_, text) = upload(&server, &t, "text/plain", b"not an image".to_vec()).await;
    let res = http
        .get(format!(
            "{}/_matrix/client/v1/media/thumbnail/localhost/{}?width=32&height=32",
            server.base_url,
            media_id(&text)
        ))
        .bearer_auth(&t)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 400);
}

#[tokio::test]
async fn limits_quotas_and_authentication() {
    let server = TestServer::start_with(
        Backend::Sqlite,
        &[
            ("MISSIVE_MAX_UPLOAD_BYTES", "1000"),
            ("MISSIVE_MEDIA_QUOTA_BYTES", "1500"),
        ],
    )
    .await;
    let t = server.register_token("alice").await;
    let (status, json) = upload(&server, &t, "application/octet-stream", vec![0; 1001]).await;
    assert_eq!(
        (status, json["errcode"].as_str()),
        (StatusCode::PAYLOAD_TOO_LARGE, Some("M_TOO_LARGE"))
    );
    let (status, _) = upload(&server, &t, "application/octet-stream", vec![1; 900]).await;
    assert_eq!(status, 200);
    let (status, json) = upload(&server, &t, "application/octet-stream", vec![2; 900]).await;
    assert_eq!(
        (status, json["errcode"].as_str()),
        (StatusCode::FORBIDDEN, Some("M_RESOURCE_LIMIT_EXCEEDED")),
        "quota"
    );

    let http = reqwest::Client::new();
    let (status, _) = upload(&server, &t, "text/plain", vec![3; 500]).await;
    assert_eq!(status, 200, "what fits in the quota is accepted");
    for path in [
        "/_matrix/client/v1/media/config",
        "/_matrix/client/v1/media/download/localhost/x",
    ] {
        let res = http
            .get(format!("{}{path}", server.base_url))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 401, "{path} without a token");
    }
    let res = http
        .post(format!("{}/_matrix/media/v3/upload", server.base_url))
        .body("x")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401);
    let config: Value = http
        .get(format!(
            "{}/_matrix/client/v1/media/config",
            server.base_url
        ))
        .bearer_auth(&t)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(config["m.upload.size"], 1000);
}

#[tokio::test]
async fn dangerous_files_are_attachments_with_a_sandbox() {
    let server = TestServer::start(Backend::Sqlite).await;
    let t = server.register_token("alice").await;
    let (_, uri) = upload(
        &server,
        &t,
        "text/html",
        b"<script>alert(1)</script>".to_vec(),
    )
    .await;
    let res = reqwest::Client::new()
        .get(format!(
            "{}/_matrix/client/v1/media/download/localhost/{}/evil%22name.html",
            server.base_url,
            media_id(&uri)
        ))
        .bearer_auth(&t)
        .header("range", "bytes=0-7")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 206, "ranges are served");
    let h = res.headers().clone();
    assert!(
        h["content-disposition"]
            .to_str()
            .unwrap()
            .starts_with("attachment;")
    );
    assert!(
        !h["content-disposition"]
            .to_str()
            .unwrap()
            .contains("evil\""),
        "quotes stripped from the name"
    );
    assert!(
        h["content-security-policy"]
            .to_str()
            .unwrap()
            .contains("sandbox")
    );
    assert_eq!(h["x-content-type-options"], "nosniff");
    assert_eq!(res.bytes().await.unwrap().as_ref(), b"<script>");
    // The deprecated unauthenticated endpoint does not serve it.
    let res = reqwest::Client::new()
        .get(format!(
            "{}/_matrix/media/v3/download/localhost/{}",
            server.base_url,
            media_id(&uri)
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 404);
}

type Aes256Ctr = ctr::Ctr128BE<Aes256>;

/// Encrypts like a Matrix client does (AES-256-CTR) and returns the
/// ciphertext and its `file` info without the URL.
fn encrypt_attachment(plain: &[u8]) -> (Vec<u8>, Value) {
    let key = [42u8; 32];
    let iv = [0u8, 1, 2, 3, 4, 5, 6, 7, 0, 0, 0, 0, 0, 0, 0, 0];
    let mut cipher = plain.to_vec();
    Aes256Ctr::new(&key.into(), &iv.into()).apply_keystream(&mut cipher);
    let b64 = |b: &[u8]| base64::engine::general_purpose::STANDARD_NO_PAD.encode(b);
    let info = json!({
        "key": { "kty": "oct", "alg": "A256CTR", "ext": true, "key_ops": ["encrypt", "decrypt"],
                 "k": base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(key) },
        "iv": b64(&iv),
        "hashes": { "sha256": b64(&sha2::Sha256::digest(&cipher)) },
        "v": "v2",
    });
    (cipher, info)
}

#[tokio::test]
async fn clamav_refuses_malware_in_plain_and_encrypted_files() {
    let clamd = Clamd::start().await;
    let server =
        TestServer::start_with(Backend::Sqlite, &[("MISSIVE_CLAMD", &clamd.address())]).await;
    let t = server.register_token("alice").await;

    let (status, json) = upload(&server, &t, "text/plain", EICAR.to_vec()).await;
    assert_eq!(
        (status, json["errcode"].as_str()),
        (StatusCode::FORBIDDEN, Some("M_FORBIDDEN")),
        "{json}"
    );
    assert!(
        json["error"].as_str().unwrap().contains("malware"),
        "a clear error: {json}"
    );
    let (status, clean) = upload(
        &server,
        &t,
        "text/plain",
        b"a perfectly clean note".to_vec(),
    )
    .await;
    assert_eq!(status, 200, "{clean}");

    let http = reqwest::Client::new();
    let scan = |path: &str, body: Value| {
        http.post(format!(
            "{}/_matrix/media_proxy/unstable/{path}",
            server.base_url
        ))
        .bearer_auth(&t)
        .json(&body)
        .send()
    };
    for (plain, expect_clean) in [
        (EICAR.to_vec(), false),
        (b"minutes of the meeting".to_vec(), true),
    ] {
        let (cipher, mut info) = encrypt_attachment(&plain);
        let (status, uploaded) =
            upload(&server, &t, "application/octet-stream", cipher.clone()).await;
        assert_eq!(
            status, 200,
            "ciphertext looks like noise to clamd: {uploaded}"
        );
        info["url"] = uploaded["content_uri"].clone();
        let verdict: Value = scan("scan_encrypted", json!({ "file": info }))
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(verdict["clean"], expect_clean, "{verdict}");
        let res = scan("download_encrypted", json!({ "file": info }))
            .await
            .unwrap();
        if expect_clean {
            assert_eq!(res.status(), 200);
            assert_eq!(
                res.bytes().await.unwrap().as_ref(),
                cipher.as_slice(),
                "the ciphertext is served"
            );
        } else {
            assert_eq!(res.status(), 403);
            let body: Value = res.json().await.unwrap();
            assert_eq!(body["reason"], "MCS_MEDIA_NOT_CLEAN");
        }
    }
}

#[tokio::test]
async fn uploads_fail_closed_when_clamd_is_down() {
    let server = TestServer::start_with(
        Backend::Sqlite,
        &[("MISSIVE_CLAMD", "unix:/nonexistent/clamd.sock")],
    )
    .await;
    let t = server.register_token("alice").await;
    let (status, json) = upload(&server, &t, "text/plain", b"hello".to_vec()).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{json}");
    let server = TestServer::start_with(
        Backend::Sqlite,
        &[
            ("MISSIVE_CLAMD", "unix:/nonexistent/clamd.sock"),
            ("MISSIVE_CLAMD_FAIL_OPEN", "on"),
        ],
    )
    .await;
    let t = server.register_token("alice").await;
    let (status, _) = upload(&server, &t, "text/plain", b"hello".to_vec()).await;
    assert_eq!(status, 200, "fail-open when configured");
}

/// A local web page to preview.
async fn page_server() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let app = axum::Router::new().route(
        "/article",
        axum::routing::get(|| async {
            axum::response::Html(
                r#"<html><head><title>t</title><meta property="og:title" content="Note de service">
                <meta property="og:description" content="Réunion à 10h"></head></html>"#,
            )
        }),
    );
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    format!("http://{addr}/article")
}

#[tokio::test]
async fn url_previews_are_off_by_default_and_never_reach_internal_addresses() {
    let page = page_server().await;
    let http = reqwest::Client::new();
    let preview = |server: &TestServer, token: &str| {
        http.get(format!(
            "{}/_matrix/client/v1/media/preview_url",
            server.base_url
        ))
        .query(&[("url", page.as_str())])
        .bearer_auth(token.to_owned())
        .send()
    };

    let off = TestServer::start(Backend::Sqlite).await;
    let t = off.register_token("alice").await;
    assert_eq!(
        preview(&off, &t).await.unwrap().status(),
        403,
        "previews are off by default"
    );

    let on = TestServer::start_with(Backend::Sqlite, &[("MISSIVE_URL_PREVIEWS", "on")]).await;
    let t = on.register_token("alice").await;
    let res = preview(&on, &t).await.unwrap();
    assert_eq!(
        res.status(),
        403,
        "loopback is refused even with previews on"
    );

    let allowed = TestServer::start_with(
        Backend::Sqlite,
        &[
            ("MISSIVE_URL_PREVIEWS", "on"),
            ("MISSIVE_URL_PREVIEW_IP_ALLOWLIST", "127.0.0.0/8"),
        ],
    )
    .await;
    let t = allowed.register_token("alice").await;
    let res = preview(&allowed, &t).await.unwrap();
    assert_eq!(res.status(), 200);
    let og: Value = res.json().await.unwrap();
    assert_eq!(og["og:title"], "Note de service");
    assert_eq!(og["og:description"], "Réunion à 10h");
}
