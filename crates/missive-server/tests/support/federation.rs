//! Requests to a server's federation listener as another server makes
//! them: over HTTPS to its self-signed certificate, signed with `X-Matrix`.

use base64::Engine;
use ruma::{
    OwnedServerName,
    api::federation::authentication::{ServerSignaturesInput, XMatrix},
    signatures::Ed25519KeyPair,
};
use serde_json::Value;

use super::{Backend, TestServer, sync_until};

/// An HTTPS client for the servers' self-signed federation listeners.
pub fn https() -> reqwest::Client {
    reqwest::Client::builder()
        .danger_accept_invalid_certs(true)
        .build()
        .unwrap()
}

/// The signing key a server keeps in its data directory.
pub fn signing_key(server: &TestServer) -> Ed25519KeyPair {
    let text = std::fs::read_to_string(server.data_dir.path().join("signing.key")).unwrap();
    let parts: Vec<&str> = text.split_whitespace().collect();
    let der = base64::engine::general_purpose::STANDARD
        .decode(parts[2])
        .unwrap();
    Ed25519KeyPair::from_der(&der, parts[1].to_owned()).unwrap()
}

/// Sends `GET path` to `to`'s federation listener, signed by `key` as
/// `origin` for `destination`, as ruma's `X-Matrix` scheme signs it.
pub async fn signed_get(
    to: &TestServer,
    path: &str,
    origin: &str,
    destination: &str,
    key: &Ed25519KeyPair,
) -> (u16, Value) {
    let request = http::Request::get(path).body(Vec::<u8>::new()).unwrap();
    let x_matrix = XMatrix::try_from_http_request(
        &request,
        ServerSignaturesInput::new(
            OwnedServerName::try_from(origin).unwrap(),
            OwnedServerName::try_from(destination).unwrap(),
            key,
        ),
    )
    .unwrap();
    let res = https()
        .get(format!("{}{path}", to.federation_url()))
        .header(http::header::AUTHORIZATION, x_matrix.to_string())
        .send()
        .await
        .unwrap();
    let status = res.status().as_u16();
    (status, res.json().await.unwrap_or(Value::Null))
}

/// `GET path` on `to` as server `from` asks it.
pub async fn get_as(from: &TestServer, to: &TestServer, path: &str) -> (u16, Value) {
    signed_get(
        to,
        path,
        &from.server_name,
        &to.server_name,
        &signing_key(from),
    )
    .await
}

/// Sends `method path` (with a JSON body) to `to`'s federation listener,
/// signed as `from` with its own key, as ruma's `X-Matrix` scheme signs it.
pub async fn signed(
    from: &TestServer,
    to: &TestServer,
    method: http::Method,
    path: &str,
    body: Option<&Value>,
) -> (u16, Value) {
    let bytes = body
        .map(|b| serde_json::to_vec(b).unwrap())
        .unwrap_or_default();
    let request = http::Request::builder()
        .method(method.clone())
        .uri(path)
        .body(bytes.clone())
        .unwrap();
    let key = signing_key(from);
    let x_matrix = XMatrix::try_from_http_request(
        &request,
        ServerSignaturesInput::new(
            OwnedServerName::try_from(from.server_name.as_str()).unwrap(),
            OwnedServerName::try_from(to.server_name.as_str()).unwrap(),
            &key,
        ),
    )
    .unwrap();
    let mut builder = https()
        .request(method, format!("{}{path}", to.federation_url()))
        .header(http::header::AUTHORIZATION, x_matrix.to_string());
    if body.is_some() {
        builder = builder
            .header(http::header::CONTENT_TYPE, "application/json")
            .body(bytes);
    }
    let res = builder.send().await.unwrap();
    let status = res.status().as_u16();
    (status, res.json().await.unwrap_or(Value::Null))
}

/// Percent-encodes a path segment or query value (room and event IDs hold
/// `!`, `$`, `:`).
pub fn encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// Two federating servers (A started with `a_env` besides the federation
/// settings): Alice of A has a public room that Bob of B joined; both
/// clients have synced (and so uploaded their keys).
pub async fn shared_public_room(
    backend: Backend,
    a_env: &[(&str, &str)],
) -> (
    TestServer,
    TestServer,
    matrix_sdk::Client,
    matrix_sdk::Client,
    matrix_sdk::ruma::OwnedRoomId,
) {
    use matrix_sdk::ruma::api::client::room::{
        Visibility,
        create_room::v3::{Request, RoomPreset},
    };
    let a = TestServer::start_federating(backend, a_env).await;
    let b = TestServer::start_federating(backend, &[]).await;
    let alice = a.register("alice").await;
    let bob = b.register("bob").await;
    let mut request = Request::new();
    request.visibility = Visibility::Public;
    request.preset = Some(RoomPreset::PublicChat);
    let room_id = alice
        .create_room(request)
        .await
        .unwrap()
        .room_id()
        .to_owned();
    let via = OwnedServerName::try_from(a.server_name.as_str()).unwrap();
    let target: &matrix_sdk::ruma::RoomOrAliasId = room_id.as_str().try_into().unwrap();
    bob.join_room_by_id_or_alias(target, &[via]).await.unwrap();
    sync_until(&[&alice, &bob], 20, "both joined", || async {
        bob.get_room(&room_id)
            .is_some_and(|r| r.state() == matrix_sdk::RoomState::Joined)
            && alice
                .get_room(&room_id)
                .is_some_and(|r| r.active_members_count() == 2 || r.joined_members_count() == 2)
    })
    .await;
    (a, b, alice, bob, room_id)
}

/// `user_id`'s member event in the room as `client` holds it (an invite
/// or knock as stripped state), as JSON.
pub async fn member_event(
    client: &matrix_sdk::Client,
    room: &matrix_sdk::ruma::RoomId,
    user_id: &str,
) -> Option<Value> {
    use matrix_sdk::{
        deserialized_responses::RawSyncOrStrippedState,
        ruma::events::room::member::RoomMemberEventContent,
    };
    let user = <&matrix_sdk::ruma::UserId>::try_from(user_id).ok()?;
    let raw = client
        .get_room(room)?
        .get_state_event_static_for_key::<RoomMemberEventContent, _>(user)
        .await
        .ok()??;
    let json = match raw {
        RawSyncOrStrippedState::Sync(raw) => raw.json().get().to_owned(),
        RawSyncOrStrippedState::Stripped(raw) => raw.json().get().to_owned(),
    };
    serde_json::from_str(&json).ok()
}
