//! Key backup versions (`/room_keys/version`): the `auth_data` of
//! `m.megolm_backup.v1.curve25519-aes-sha2` has the spec's shape (a
//! `public_key` string and a `signatures` object), or the request is a
//! clear 400.

// Test code throughout: allow-unwrap-in-tests (clippy.toml) covers only
// #[test] functions, not the helpers an integration test crate shares.
#![allow(clippy::unwrap_used)]

mod support;

use serde_json::{Value, json};
use support::{Backend, TestServer};

const ALGORITHM: &str = "m.megolm_backup.v1.curve25519-aes-sha2";

fn version(auth_data: Value) -> Value {
    json!({ "algorithm": ALGORITHM, "auth_data": auth_data })
}

async fn backup_auth_data_has_the_spec_shape(backend: Backend) {
    let server = TestServer::start(backend).await;
    let token = server.register_token("alice").await;
    let good = json!({
        "public_key": "hSDwCYkwp1R0i33ctD73Wg2/Og0mOBr066SpjqqbTmo",
        "signatures": { "@alice:localhost": { "ed25519:DEVICE": "c2lnbmF0dXJl" } },
    });
    let (status, v) = server
        .call(
            Some(&token),
            "POST",
            "/_matrix/client/v3/room_keys/version",
            version(good.clone()),
        )
        .await;
    assert_eq!(status, 200, "{v}");
    let created = v["version"].as_str().unwrap().to_owned();

    for bad in [
        json!({ "signatures": {} }),
        json!({ "public_key": 5, "signatures": {} }),
        json!({ "public_key": "not base64!", "signatures": {} }),
        json!({ "public_key": "hSDwCYkwp1R0i33ctD73Wg2/Og0mOBr066SpjqqbTmo", "signatures": [] }),
        json!("a string"),
    ] {
        let (status, v) = server
            .call(
                Some(&token),
                "POST",
                "/_matrix/client/v3/room_keys/version",
                version(bad.clone()),
            )
            .await;
        assert_eq!(
            (status, v["errcode"].as_str()),
            (400, Some("M_BAD_JSON")),
            "{bad}: {v}"
        );
        let (status, v) = server
            .call(
                Some(&token),
                "PUT",
                &format!("/_matrix/client/v3/room_keys/version/{created}"),
                version(bad.clone()),
            )
            .await;
        assert_eq!(
            (status, v["errcode"].as_str()),
            (400, Some("M_BAD_JSON")),
            "{bad}: {v}"
        );
    }

    // Synapse: a version in the body must be the path's.
    let mut body = version(good);
    body["version"] = json!("other");
    let (status, v) = server
        .call(
            Some(&token),
            "PUT",
            &format!("/_matrix/client/v3/room_keys/version/{created}"),
            body,
        )
        .await;
    assert_eq!(
        (status, v["errcode"].as_str()),
        (400, Some("M_INVALID_PARAM")),
        "{v}"
    );
}

both_backends! {
    backup_auth_data_has_the_spec_shape => backup_auth_data_has_the_spec_shape,
}
