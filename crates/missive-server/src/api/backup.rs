//! Server-side key backup (`/room_keys`). The keys are encrypted by the
//! client; the server keeps the best copy of each session.

use axum::{Json, extract::State};
use missive_store::{BackedUpKey, BackupStore};
use ruma::api::client::backup::{
    add_backup_keys, add_backup_keys_for_room, add_backup_keys_for_session, create_backup_version,
    delete_backup_keys, delete_backup_keys_for_room, delete_backup_keys_for_session,
    delete_backup_version, get_backup_info, get_backup_keys, get_backup_keys_for_room,
    get_backup_keys_for_session, get_latest_backup_info, update_backup_version,
};
use serde_json::{Map, Value, json};

use crate::{
    error::{ApiError, ApiResult},
    ruma_wrapper::Ruma,
    state::AppState,
};

/// Most session keys accepted in one upload.
const MAX_KEYS_PER_UPLOAD: usize = 10_000;

fn info_json(v: &missive_store::BackupVersion) -> Value {
    json!({
        "version": v.version,
        "algorithm": v.algorithm,
        "auth_data": serde_json::from_str::<Value>(&v.auth_data).unwrap_or_else(|_| json!({})),
        "etag": v.etag,
        "count": v.count,
    })
}

fn algorithm_and_auth(body: &Option<Value>) -> ApiResult<(String, String)> {
    let body = body
        .as_ref()
        .ok_or_else(|| ApiError::bad_json("missing body"))?;
    let algorithm = body
        .get("algorithm")
        .and_then(Value::as_str)
        .ok_or_else(|| ApiError::bad_json("missing algorithm"))?;
    let auth = body
        .get("auth_data")
        .filter(|a| a.is_object())
        .ok_or_else(|| ApiError::bad_json("missing auth_data"))?;
    Ok((algorithm.to_owned(), auth.to_string()))
}

pub async fn create_backup_version(
    State(s): State<AppState>,
    req: Ruma<create_backup_version::v3::Request>,
) -> ApiResult<Json<Value>> {
    let me = req.user()?;
    let (algorithm, auth) = algorithm_and_auth(&req.json_body)?;
    let version = s
        .store
        .create_backup_version(me.user_id.as_str(), &algorithm, &auth)
        .await?;
    Ok(Json(json!({ "version": version })))
}

pub async fn get_latest_backup_info(
    State(s): State<AppState>,
    req: Ruma<get_latest_backup_info::v3::Request>,
) -> ApiResult<Json<Value>> {
    let me = req.user()?;
    let v = s
        .store
        .backup_version(me.user_id.as_str(), None)
        .await?
        .ok_or_else(|| ApiError::not_found("no backup"))?;
    Ok(Json(info_json(&v)))
}

pub async fn get_backup_info(
    State(s): State<AppState>,
    req: Ruma<get_backup_info::v3::Request>,
) -> ApiResult<Json<Value>> {
    let me = req.user()?;
    let v = s
        .store
        .backup_version(me.user_id.as_str(), Some(&req.body.version))
        .await?
        .ok_or_else(|| ApiError::not_found("unknown backup version"))?;
    Ok(Json(info_json(&v)))
}

pub async fn update_backup_version(
    State(s): State<AppState>,
    req: Ruma<update_backup_version::v3::Request>,
) -> ApiResult<Json<Value>> {
    let me = req.user()?;
    let (algorithm, auth) = algorithm_and_auth(&req.json_body)?;
    let current = s
        .store
        .backup_version(me.user_id.as_str(), Some(&req.body.version))
        .await?
        .ok_or_else(|| ApiError::not_found("unknown backup version"))?;
    if current.algorithm != algorithm {
        return Err(ApiError::invalid_param(
            "the algorithm of a backup version cannot change",
        ));
    }
    s.store
        .update_backup_version(me.user_id.as_str(), &req.body.version, &auth)
        .await?;
    Ok(Json(json!({})))
}

pub async fn delete_backup_version(
    State(s): State<AppState>,
    req: Ruma<delete_backup_version::v3::Request>,
) -> ApiResult<Json<Value>> {
    let me = req.user()?;
    if !s
        .store
        .delete_backup_version(me.user_id.as_str(), &req.body.version)
        .await?
    {
        return Err(ApiError::not_found("unknown backup version"));
    }
    Ok(Json(json!({})))
}

/// Uploads go only to the current version (so that a client with a stale
/// key does not write where nobody reads).
async fn require_current(s: &AppState, user: &str, version: &str) -> ApiResult<()> {
    let current = s.store.backup_version(user, None).await?;
    match current {
        Some(c) if c.version == version => Ok(()),
        Some(c) => Err(ApiError::WrongRoomKeysVersion {
            current: Some(c.version),
            message: "this is not the current backup version".into(),
        }),
        None => Err(ApiError::not_found("no backup version exists")),
    }
}

fn parse_key(room_id: &str, session_id: &str, data: &Value) -> ApiResult<BackedUpKey> {
    let int = |f: &str| {
        data.get(f)
            .and_then(Value::as_i64)
            .ok_or_else(|| ApiError::bad_json(format!("missing {f}")))
    };
    Ok(BackedUpKey {
        room_id: room_id.to_owned(),
        session_id: session_id.to_owned(),
        first_message_index: int("first_message_index")?,
        forwarded_count: int("forwarded_count")?,
        is_verified: data
            .get("is_verified")
            .and_then(Value::as_bool)
            .ok_or_else(|| ApiError::bad_json("missing is_verified"))?,
        session_data: data
            .get("session_data")
            .filter(|d| d.is_object())
            .ok_or_else(|| ApiError::bad_json("missing session_data"))?
            .to_string(),
    })
}

/// Keys from a `{room: {sessions: {session: data}}}` body.
fn parse_rooms(rooms: &Map<String, Value>) -> ApiResult<Vec<BackedUpKey>> {
    let mut keys = Vec::new();
    for (room, v) in rooms {
        let sessions = v
            .get("sessions")
            .and_then(Value::as_object)
            .ok_or_else(|| ApiError::bad_json("missing sessions"))?;
        for (session, data) in sessions {
            keys.push(parse_key(room, session, data)?);
        }
    }
    if keys.len() > MAX_KEYS_PER_UPLOAD {
        return Err(ApiError::TooLarge("too many keys in one upload".into()));
    }
    Ok(keys)
}

async fn store_keys(
    s: &AppState,
    user: &str,
    version: &str,
    keys: &[BackedUpKey],
) -> ApiResult<Json<Value>> {
    require_current(s, user, version).await?;
    s.store.put_backup_keys(user, version, keys).await?;
    let v = s
        .store
        .backup_version(user, Some(version))
        .await?
        .ok_or_else(|| ApiError::not_found("backup vanished"))?;
    Ok(Json(json!({ "etag": v.etag, "count": v.count })))
}

pub async fn add_backup_keys(
    State(s): State<AppState>,
    req: Ruma<add_backup_keys::v3::Request>,
) -> ApiResult<Json<Value>> {
    let me = req.user()?;
    let rooms = req
        .json_body
        .as_ref()
        .and_then(|b| b.get("rooms"))
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    store_keys(
        &s,
        me.user_id.as_str(),
        &req.body.version,
        &parse_rooms(&rooms)?,
    )
    .await
}

pub async fn add_backup_keys_for_room(
    State(s): State<AppState>,
    req: Ruma<add_backup_keys_for_room::v3::Request>,
) -> ApiResult<Json<Value>> {
    let me = req.user()?;
    let mut rooms = Map::new();
    rooms.insert(
        req.body.room_id.to_string(),
        req.json_body.clone().unwrap_or_else(|| json!({})),
    );
    store_keys(
        &s,
        me.user_id.as_str(),
        &req.body.version,
        &parse_rooms(&rooms)?,
    )
    .await
}

pub async fn add_backup_keys_for_session(
    State(s): State<AppState>,
    req: Ruma<add_backup_keys_for_session::v3::Request>,
) -> ApiResult<Json<Value>> {
    let me = req.user()?;
    let data = req.json_body.clone().unwrap_or_else(|| json!({}));
    let key = parse_key(req.body.room_id.as_str(), &req.body.session_id, &data)?;
    store_keys(&s, me.user_id.as_str(), &req.body.version, &[key]).await
}

fn key_json(k: &BackedUpKey) -> Value {
    json!({
        "first_message_index": k.first_message_index,
        "forwarded_count": k.forwarded_count,
        "is_verified": k.is_verified,
        "session_data": serde_json::from_str::<Value>(&k.session_data).unwrap_or_else(|_| json!({})),
    })
}

async fn load(
    s: &AppState,
    user: &str,
    version: &str,
    room: Option<&str>,
    session: Option<&str>,
) -> ApiResult<Vec<BackedUpKey>> {
    if s.store.backup_version(user, Some(version)).await?.is_none() {
        return Err(ApiError::not_found("unknown backup version"));
    }
    Ok(s.store.backup_keys(user, version, room, session).await?)
}

fn rooms_json(keys: &[BackedUpKey]) -> Map<String, Value> {
    let mut rooms = Map::new();
    for k in keys {
        let room = rooms
            .entry(k.room_id.clone())
            .or_insert_with(|| json!({ "sessions": {} }));
        room["sessions"][&k.session_id] = key_json(k);
    }
    rooms
}

pub async fn get_backup_keys(
    State(s): State<AppState>,
    req: Ruma<get_backup_keys::v3::Request>,
) -> ApiResult<Json<Value>> {
    let me = req.user()?;
    let keys = load(&s, me.user_id.as_str(), &req.body.version, None, None).await?;
    Ok(Json(json!({ "rooms": rooms_json(&keys) })))
}

pub async fn get_backup_keys_for_room(
    State(s): State<AppState>,
    req: Ruma<get_backup_keys_for_room::v3::Request>,
) -> ApiResult<Json<Value>> {
    let me = req.user()?;
    let keys = load(
        &s,
        me.user_id.as_str(),
        &req.body.version,
        Some(req.body.room_id.as_str()),
        None,
    )
    .await?;
    let sessions: Map<String, Value> = keys
        .iter()
        .map(|k| (k.session_id.clone(), key_json(k)))
        .collect();
    Ok(Json(json!({ "sessions": sessions })))
}

pub async fn get_backup_keys_for_session(
    State(s): State<AppState>,
    req: Ruma<get_backup_keys_for_session::v3::Request>,
) -> ApiResult<Json<Value>> {
    let me = req.user()?;
    let b = &req.body;
    let keys = load(
        &s,
        me.user_id.as_str(),
        &b.version,
        Some(b.room_id.as_str()),
        Some(&b.session_id),
    )
    .await?;
    let key = keys
        .first()
        .ok_or_else(|| ApiError::not_found("no such session in the backup"))?;
    Ok(Json(key_json(key)))
}

async fn delete_keys(
    s: &AppState,
    user: &str,
    version: &str,
    room: Option<&str>,
    session: Option<&str>,
) -> ApiResult<Json<Value>> {
    if s.store.backup_version(user, Some(version)).await?.is_none() {
        return Err(ApiError::not_found("unknown backup version"));
    }
    s.store
        .delete_backup_keys(user, version, room, session)
        .await?;
    let v = s
        .store
        .backup_version(user, Some(version))
        .await?
        .ok_or_else(|| ApiError::not_found("backup vanished"))?;
    Ok(Json(json!({ "etag": v.etag, "count": v.count })))
}

pub async fn delete_backup_keys(
    State(s): State<AppState>,
    req: Ruma<delete_backup_keys::v3::Request>,
) -> ApiResult<Json<Value>> {
    let me = req.user()?;
    delete_keys(&s, me.user_id.as_str(), &req.body.version, None, None).await
}

pub async fn delete_backup_keys_for_room(
    State(s): State<AppState>,
    req: Ruma<delete_backup_keys_for_room::v3::Request>,
) -> ApiResult<Json<Value>> {
    let me = req.user()?;
    delete_keys(
        &s,
        me.user_id.as_str(),
        &req.body.version,
        Some(req.body.room_id.as_str()),
        None,
    )
    .await
}

pub async fn delete_backup_keys_for_session(
    State(s): State<AppState>,
    req: Ruma<delete_backup_keys_for_session::v3::Request>,
) -> ApiResult<Json<Value>> {
    let me = req.user()?;
    let b = &req.body;
    delete_keys(
        &s,
        me.user_id.as_str(),
        &b.version,
        Some(b.room_id.as_str()),
        Some(&b.session_id),
    )
    .await
}
