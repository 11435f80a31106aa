//! Thumbnails with bounded resources, through the real binary: requested
//! sizes snap to the configured ones, images over the pixel limit or with
//! oversized metadata are refused before they are decoded, and query
//! errors are Matrix errors.

// Test code throughout: allow-unwrap-in-tests (clippy.toml) covers only
// #[test] functions, not the helpers an integration test crate shares.
#![allow(clippy::unwrap_used)]

mod support;

use std::io::{Cursor, Write};

use reqwest::StatusCode;
use serde_json::Value;
use support::{Backend, TestServer};

async fn upload(server: &TestServer, token: &str, body: Vec<u8>) -> String {
    let res = reqwest::Client::new()
        .post(format!(
            "{}/_matrix/media/v3/upload?filename=i.png",
            server.base_url
        ))
        .bearer_auth(token)
        .header("content-type", "image/png")
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let uri: Value = res.json().await.unwrap();
    uri["content_uri"]
        .as_str()
        .unwrap()
        .rsplit('/')
        .next()
        .unwrap()
        .to_owned()
}

async fn thumbnail(server: &TestServer, token: &str, id: &str, query: &str) -> reqwest::Response {
    reqwest::Client::new()
        .get(format!(
            "{}/_matrix/client/v1/media/thumbnail/localhost/{id}?{query}",
            server.base_url
        ))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
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

/// A PNG chunk: length, type, data, CRC.
fn chunk(kind: &[u8; 4], data: &[u8]) -> Vec<u8> {
    let mut crc = flate2::Crc::new();
    crc.update(kind);
    crc.update(data);
    let mut out = (data.len() as u32).to_be_bytes().to_vec();
    out.extend_from_slice(kind);
    out.extend_from_slice(data);
    out.extend_from_slice(&crc.sum().to_be_bytes());
    out
}

/// A valid 16 x 16 PNG carrying an ICC profile that inflates to
/// `profile_mib` MiB of zeros (a few hundred KiB compressed).
fn png_with_huge_icc_profile(profile_mib: usize) -> Vec<u8> {
    let mut zlib = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::best());
    let zeros = vec![0u8; 1024 * 1024];
    for _ in 0..profile_mib {
        zlib.write_all(&zeros).unwrap();
    }
    let mut iccp = b"bomb\0\0".to_vec(); // name, NUL, compression method 0
    iccp.extend_from_slice(&zlib.finish().unwrap());
    let plain = png(16, 16);
    // The signature (8 bytes) and IHDR (25 bytes) come first; iCCP must
    // come before the image data.
    let mut out = plain[..33].to_vec();
    out.extend_from_slice(&chunk(b"iCCP", &iccp));
    out.extend_from_slice(&plain[33..]);
    out
}

/// A PNG whose header claims `w` x `h` pixels, with no pixels behind it.
fn png_header_only(w: u32, h: u32) -> Vec<u8> {
    let mut ihdr = w.to_be_bytes().to_vec();
    ihdr.extend_from_slice(&h.to_be_bytes());
    ihdr.extend_from_slice(&[8, 2, 0, 0, 0]);
    let mut out = vec![0x89, b'P', b'N', b'G', 0x0d, 0x0a, 0x1a, 0x0a];
    out.extend_from_slice(&chunk(b"IHDR", &ihdr));
    out.extend_from_slice(&chunk(b"IDAT", &[]));
    out.extend_from_slice(&chunk(b"IEND", &[]));
    out
}

async fn dimensions(res: reqwest::Response) -> (u32, u32) {
    assert_eq!(res.status(), 200);
    let img = image::load_from_memory(&res.bytes().await.unwrap()).unwrap();
    (img.width(), img.height())
}

async fn snapped_sizes(backend: Backend) {
    let server = TestServer::start(backend).await;
    let t = server.register_token("alice").await;
    let id = upload(&server, &t, png(2000, 1500)).await;
    // Eight different sizes at once: one generation serves them all (the
    // others wait for it, then read the stored thumbnails).
    let sizes = [
        (1000, 1000, "scale", (800, 600)),
        (600, 400, "scale", (640, 480)),
        (300, 200, "scale", (320, 240)),
        (10, 10, "scale", (320, 240)),
        (20, 20, "crop", (32, 32)),
        (50, 50, "crop", (96, 96)),
        (96, 96, "crop", (96, 96)),
        (500, 500, "crop", (96, 96)),
    ];
    let queries: Vec<String> = sizes
        .iter()
        .map(|(w, h, m, _)| format!("width={w}&height={h}&method={m}"))
        .collect();
    let answers =
        futures::future::join_all(queries.iter().map(|q| thumbnail(&server, &t, &id, q))).await;
    for (res, (w, h, m, expected)) in answers.into_iter().zip(sizes) {
        assert_eq!(dimensions(res).await, expected, "{m} {w}x{h}");
    }
    // Synapse's default sizes: 32x32 and 96x96 crop, 320x240, 640x480 and
    // 800x600 scale. Larger than all of them: the largest.
    let res = thumbnail(&server, &t, &id, "width=1000&height=1000&method=scale").await;
    assert_eq!(dimensions(res).await, (800, 600));
    let res = thumbnail(&server, &t, &id, "width=1000&height=1000&method=crop").await;
    assert_eq!(dimensions(res).await, (96, 96));
    // Otherwise the closest one at least as large.
    let res = thumbnail(&server, &t, &id, "width=100&height=100&method=scale").await;
    assert_eq!(dimensions(res).await, (320, 240));
    let res = thumbnail(&server, &t, &id, "width=40&height=40&method=crop").await;
    assert_eq!(dimensions(res).await, (96, 96));
    let res = thumbnail(&server, &t, &id, "width=20&height=20&method=crop").await;
    assert_eq!(dimensions(res).await, (32, 32));
}

both_backends! {
    requested_sizes_snap_to_the_configured_thumbnail_sizes => snapped_sizes,
}

/// What the spec answers for "too large to thumbnail": 413 M_TOO_LARGE.
async fn assert_too_large(res: reqwest::Response, what: &str) {
    assert_eq!(res.status(), StatusCode::PAYLOAD_TOO_LARGE, "{what}");
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["errcode"], "M_TOO_LARGE", "{what}: {body}");
}

#[tokio::test]
async fn images_over_the_limits_are_refused_before_decoding() {
    let server = TestServer::start(Backend::Sqlite).await;
    let t = server.register_token("alice").await;

    // 64 MiB of ICC profile in a 16 x 16 image: over the metadata budget.
    let id = upload(&server, &t, png_with_huge_icc_profile(64)).await;
    let res = thumbnail(&server, &t, &id, "width=32&height=32&method=crop").await;
    assert_too_large(res, "a huge iCCP chunk").await;

    // Ten billion pixels declared.
    let id = upload(&server, &t, png_header_only(100_000, 100_000)).await;
    let res = thumbnail(&server, &t, &id, "width=32&height=32&method=crop").await;
    assert_too_large(res, "over-limit dimensions").await;

    // The server is still well.
    let id = upload(&server, &t, png(64, 48)).await;
    let res = thumbnail(&server, &t, &id, "width=32&height=32&method=crop").await;
    assert_eq!(dimensions(res).await, (32, 32));
}

#[tokio::test]
async fn the_pixel_limit_is_configurable() {
    let server =
        TestServer::start_with(Backend::Sqlite, &[("MISSIVE_MAX_IMAGE_PIXELS", "10000")]).await;
    let t = server.register_token("alice").await;
    let id = upload(&server, &t, png(200, 100)).await;
    let res = thumbnail(&server, &t, &id, "width=32&height=32&method=crop").await;
    assert_too_large(res, "20,000 pixels over a 10,000 limit").await;
    let id = upload(&server, &t, png(100, 100)).await;
    let res = thumbnail(&server, &t, &id, "width=32&height=32&method=crop").await;
    assert_eq!(dimensions(res).await, (32, 32));
}

#[tokio::test]
async fn thumbnail_query_errors_are_matrix_errors() {
    let server = TestServer::start(Backend::Sqlite).await;
    let t = server.register_token("alice").await;
    let id = upload(&server, &t, png(64, 48)).await;
    for (query, errcode) in [
        ("width=abc&height=32", "M_INVALID_PARAM"),
        ("width=-1&height=32", "M_INVALID_PARAM"),
        ("width=32&height=99999999999", "M_INVALID_PARAM"),
        ("width=0&height=32", "M_INVALID_PARAM"),
        ("width=32&height=32&method=stretch", "M_INVALID_PARAM"),
        ("width=32", "M_MISSING_PARAM"),
    ] {
        let res = thumbnail(&server, &t, &id, query).await;
        assert_eq!(res.status(), 400, "{query}");
        assert_eq!(res.headers()["content-type"], "application/json", "{query}");
        let body: Value = res.json().await.unwrap();
        assert_eq!(body["errcode"], errcode, "{query}: {body}");
    }
}
