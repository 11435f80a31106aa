//! Server-side key backup (`/room_keys`): thin handlers over `KeyBackup`.

use std::collections::BTreeMap;

use axum::extract::State;
use missive_store::{BackedUpKey, BackupVersion};
use ruma::{
    OwnedRoomId, UInt,
    api::client::backup::{
        KeyBackupData, RoomKeyBackup, add_backup_keys, add_backup_keys_for_room,
        add_backup_keys_for_session, create_backup_version, delete_backup_keys,
        delete_backup_keys_for_room, delete_backup_keys_for_session, delete_backup_version,
        get_backup_info, get_backup_keys, get_backup_keys_for_room, get_backup_keys_for_session,
        get_latest_backup_info, update_backup_version,
    },
    serde::Raw,
};
use serde_json::{Map, Value, json};

use crate::{
    error::{ApiError, ApiResult},
    ruma_wrapper::{Ruma, RumaResponse},
    services::backup::{KeyBackup, KeyScope},
};

/// A JSON value as the raw body part ruma's response carries.
fn raw<T>(v: &Value) -> ApiResult<Raw<T>> {
    serde_json::value::to_raw_value(v)
        .map(Raw::from_json)
        .map_err(|e| ApiError::Internal(e.to_string()))
}

fn count(n: i64) -> UInt {
    UInt::try_from(n).unwrap_or_default()
}

/// `{algorithm, auth_data}`, the part of a version ruma keeps raw.
fn algorithm(v: &BackupVersion) -> ApiResult<Raw<ruma::api::client::backup::BackupAlgorithm>> {
    let auth = serde_json::from_str::<Value>(&v.auth_data).unwrap_or_else(|_| json!({}));
    raw(&json!({ "algorithm": v.algorithm, "auth_data": auth }))
}

fn key_data(k: &BackedUpKey) -> ApiResult<Raw<KeyBackupData>> {
    raw(&json!({
        "first_message_index": k.first_message_index,
        "forwarded_count": k.forwarded_count,
        "is_verified": k.is_verified,
        "session_data": serde_json::from_str::<Value>(&k.session_data).unwrap_or_else(|_| json!({})),
    }))
}

fn sessions(keys: &[&BackedUpKey]) -> ApiResult<BTreeMap<String, Raw<KeyBackupData>>> {
    keys.iter()
        .map(|k| Ok((k.session_id.clone(), key_data(k)?)))
        .collect()
}

pub async fn create_backup_version(
    State(backup): State<KeyBackup>,
    req: Ruma<create_backup_version::v3::Request>,
) -> ApiResult<RumaResponse<create_backup_version::v3::Response>> {
    let me = req.user()?;
    let version = backup
        .create_version(&me.user_id, req.json_body.as_ref())
        .await?;
    Ok(RumaResponse(create_backup_version::v3::Response::new(
        version,
    )))
}

pub async fn get_latest_backup_info(
    State(backup): State<KeyBackup>,
    req: Ruma<get_latest_backup_info::v3::Request>,
) -> ApiResult<RumaResponse<get_latest_backup_info::v3::Response>> {
    let me = req.user()?;
    let v = backup.version(&me.user_id, None).await?;
    Ok(RumaResponse(get_latest_backup_info::v3::Response::new(
        algorithm(&v)?,
        count(v.count),
        v.etag,
        v.version,
    )))
}

pub async fn get_backup_info(
    State(backup): State<KeyBackup>,
    req: Ruma<get_backup_info::v3::Request>,
) -> ApiResult<RumaResponse<get_backup_info::v3::Response>> {
    let me = req.user()?;
    let v = backup.version(&me.user_id, Some(&req.body.version)).await?;
    Ok(RumaResponse(get_backup_info::v3::Response::new(
        algorithm(&v)?,
        count(v.count),
        v.etag,
        v.version,
    )))
}

pub async fn update_backup_version(
    State(backup): State<KeyBackup>,
    req: Ruma<update_backup_version::v3::Request>,
) -> ApiResult<RumaResponse<update_backup_version::v3::Response>> {
    let me = req.user()?;
    backup
        .update_version(&me.user_id, &req.body.version, req.json_body.as_ref())
        .await?;
    Ok(RumaResponse(update_backup_version::v3::Response::new()))
}

pub async fn delete_backup_version(
    State(backup): State<KeyBackup>,
    req: Ruma<delete_backup_version::v3::Request>,
) -> ApiResult<RumaResponse<delete_backup_version::v3::Response>> {
    let me = req.user()?;
    backup
        .delete_version(&me.user_id, &req.body.version)
        .await?;
    Ok(RumaResponse(delete_backup_version::v3::Response::new()))
}

// Uploads read the raw body: the server stores what the client sent, and
// answers M_BAD_JSON for a missing field itself.

pub async fn add_backup_keys(
    State(backup): State<KeyBackup>,
    req: Ruma<add_backup_keys::v3::Request>,
) -> ApiResult<RumaResponse<add_backup_keys::v3::Response>> {
    let me = req.user()?;
    let rooms = req
        .json_body
        .as_ref()
        .and_then(|b| b.get("rooms"))
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    let v = backup
        .add_keys(&me.user_id, &req.body.version, &rooms)
        .await?;
    Ok(RumaResponse(add_backup_keys::v3::Response::new(
        v.etag,
        count(v.count),
    )))
}

pub async fn add_backup_keys_for_room(
    State(backup): State<KeyBackup>,
    req: Ruma<add_backup_keys_for_room::v3::Request>,
) -> ApiResult<RumaResponse<add_backup_keys_for_room::v3::Response>> {
    let me = req.user()?;
    let mut rooms = Map::new();
    rooms.insert(
        req.body.room_id.to_string(),
        req.json_body.clone().unwrap_or_else(|| json!({})),
    );
    let v = backup
        .add_keys(&me.user_id, &req.body.version, &rooms)
        .await?;
    Ok(RumaResponse(add_backup_keys_for_room::v3::Response::new(
        v.etag,
        count(v.count),
    )))
}

pub async fn add_backup_keys_for_session(
    State(backup): State<KeyBackup>,
    req: Ruma<add_backup_keys_for_session::v3::Request>,
) -> ApiResult<RumaResponse<add_backup_keys_for_session::v3::Response>> {
    let me = req.user()?;
    let b = &req.body;
    let data = req.json_body.clone().unwrap_or_else(|| json!({}));
    let v = backup
        .add_session_key(
            &me.user_id,
            &b.version,
            b.room_id.as_str(),
            &b.session_id,
            &data,
        )
        .await?;
    Ok(RumaResponse(
        add_backup_keys_for_session::v3::Response::new(v.etag, count(v.count)),
    ))
}

pub async fn get_backup_keys(
    State(backup): State<KeyBackup>,
    req: Ruma<get_backup_keys::v3::Request>,
) -> ApiResult<RumaResponse<get_backup_keys::v3::Response>> {
    let me = req.user()?;
    let keys = backup
        .keys(&me.user_id, &req.body.version, KeyScope::ALL)
        .await?;
    let mut by_room: BTreeMap<OwnedRoomId, Vec<&BackedUpKey>> = BTreeMap::new();
    for k in &keys {
        // Room IDs were parsed on upload; a row that is not one is skipped.
        if let Ok(room) = OwnedRoomId::try_from(k.room_id.as_str()) {
            by_room.entry(room).or_default().push(k);
        }
    }
    let rooms = by_room
        .into_iter()
        .map(|(room, keys)| Ok((room, RoomKeyBackup::new(sessions(&keys)?))))
        .collect::<ApiResult<_>>()?;
    Ok(RumaResponse(get_backup_keys::v3::Response::new(rooms)))
}

pub async fn get_backup_keys_for_room(
    State(backup): State<KeyBackup>,
    req: Ruma<get_backup_keys_for_room::v3::Request>,
) -> ApiResult<RumaResponse<get_backup_keys_for_room::v3::Response>> {
    let me = req.user()?;
    let scope = KeyScope {
        room: Some(req.body.room_id.as_str()),
        session: None,
    };
    let keys = backup.keys(&me.user_id, &req.body.version, scope).await?;
    let keys: Vec<&BackedUpKey> = keys.iter().collect();
    Ok(RumaResponse(get_backup_keys_for_room::v3::Response::new(
        sessions(&keys)?,
    )))
}

pub async fn get_backup_keys_for_session(
    State(backup): State<KeyBackup>,
    req: Ruma<get_backup_keys_for_session::v3::Request>,
) -> ApiResult<RumaResponse<get_backup_keys_for_session::v3::Response>> {
    let me = req.user()?;
    let b = &req.body;
    let scope = KeyScope {
        room: Some(b.room_id.as_str()),
        session: Some(&b.session_id),
    };
    let keys = backup.keys(&me.user_id, &b.version, scope).await?;
    let key = keys
        .first()
        .ok_or_else(|| ApiError::not_found("no such session in the backup"))?;
    Ok(RumaResponse(
        get_backup_keys_for_session::v3::Response::new(key_data(key)?),
    ))
}

pub async fn delete_backup_keys(
    State(backup): State<KeyBackup>,
    req: Ruma<delete_backup_keys::v3::Request>,
) -> ApiResult<RumaResponse<delete_backup_keys::v3::Response>> {
    let me = req.user()?;
    let v = backup
        .delete_keys(&me.user_id, &req.body.version, KeyScope::ALL)
        .await?;
    Ok(RumaResponse(delete_backup_keys::v3::Response::new(
        v.etag,
        count(v.count),
    )))
}

pub async fn delete_backup_keys_for_room(
    State(backup): State<KeyBackup>,
    req: Ruma<delete_backup_keys_for_room::v3::Request>,
) -> ApiResult<RumaResponse<delete_backup_keys_for_room::v3::Response>> {
    let me = req.user()?;
    let scope = KeyScope {
        room: Some(req.body.room_id.as_str()),
        session: None,
    };
    let v = backup
        .delete_keys(&me.user_id, &req.body.version, scope)
        .await?;
    Ok(RumaResponse(
        delete_backup_keys_for_room::v3::Response::new(v.etag, count(v.count)),
    ))
}

pub async fn delete_backup_keys_for_session(
    State(backup): State<KeyBackup>,
    req: Ruma<delete_backup_keys_for_session::v3::Request>,
) -> ApiResult<RumaResponse<delete_backup_keys_for_session::v3::Response>> {
    let me = req.user()?;
    let b = &req.body;
    let scope = KeyScope {
        room: Some(b.room_id.as_str()),
        session: Some(&b.session_id),
    };
    let v = backup.delete_keys(&me.user_id, &b.version, scope).await?;
    Ok(RumaResponse(
        delete_backup_keys_for_session::v3::Response::new(v.etag, count(v.count)),
    ))
}
