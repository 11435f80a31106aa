//! Account data (global and per room) and room tags.

use axum::{Json, extract::State};
use ruma::{
    api::client::{
        config::{
            get_global_account_data, get_room_account_data, set_global_account_data,
            set_room_account_data,
        },
        tag::{create_tag, delete_tag, get_tags},
    },
    serde::Raw,
};
use serde_json::{Value, json, value::RawValue};

use crate::{
    error::ApiResult,
    ruma_wrapper::{Ruma, RumaResponse},
    services::account_data::AccountData,
};

/// Stored account data as a raw JSON body; `{}` if the stored text is not
/// JSON (it was checked on the way in, so only a damaged row gets here).
fn raw_content<T>(data: String) -> Raw<T> {
    let raw = RawValue::from_string(data)
        .unwrap_or_else(|_| RawValue::from_string("{}".to_owned()).expect("valid JSON"));
    Raw::from_json(raw)
}

pub async fn set_global_account_data(
    State(data): State<AccountData>,
    req: Ruma<set_global_account_data::v3::Request>,
) -> ApiResult<RumaResponse<set_global_account_data::v3::Response>> {
    let me = req.user()?;
    let b = &req.body;
    data.set(
        &me.user_id,
        &b.user_id,
        None,
        &b.event_type.to_string(),
        b.data.json().get(),
    )
    .await?;
    Ok(RumaResponse(set_global_account_data::v3::Response::new()))
}

pub async fn get_global_account_data(
    State(data): State<AccountData>,
    req: Ruma<get_global_account_data::v3::Request>,
) -> ApiResult<RumaResponse<get_global_account_data::v3::Response>> {
    let me = req.user()?;
    let b = &req.body;
    let stored = data
        .get(&me.user_id, &b.user_id, None, &b.event_type.to_string())
        .await?;
    Ok(RumaResponse(get_global_account_data::v3::Response::new(
        raw_content(stored),
    )))
}

pub async fn set_room_account_data(
    State(data): State<AccountData>,
    req: Ruma<set_room_account_data::v3::Request>,
) -> ApiResult<RumaResponse<set_room_account_data::v3::Response>> {
    let me = req.user()?;
    let b = &req.body;
    data.set(
        &me.user_id,
        &b.user_id,
        Some(&b.room_id),
        &b.event_type.to_string(),
        b.data.json().get(),
    )
    .await?;
    Ok(RumaResponse(set_room_account_data::v3::Response::new()))
}

pub async fn get_room_account_data(
    State(data): State<AccountData>,
    req: Ruma<get_room_account_data::v3::Request>,
) -> ApiResult<RumaResponse<get_room_account_data::v3::Response>> {
    let me = req.user()?;
    let b = &req.body;
    let stored = data
        .get(
            &me.user_id,
            &b.user_id,
            Some(&b.room_id),
            &b.event_type.to_string(),
        )
        .await?;
    Ok(RumaResponse(get_room_account_data::v3::Response::new(
        raw_content(stored),
    )))
}

/// Raw JSON: ruma's `TagInfo` keeps only `order`, and a tag's info is
/// served back exactly as the client stored it (other fields included).
pub async fn get_tags(
    State(data): State<AccountData>,
    req: Ruma<get_tags::v3::Request>,
) -> ApiResult<Json<Value>> {
    let me = req.user()?;
    let b = &req.body;
    Ok(Json(data.tags(&me.user_id, &b.user_id, &b.room_id).await?))
}

pub async fn create_tag(
    State(data): State<AccountData>,
    req: Ruma<create_tag::v3::Request>,
) -> ApiResult<RumaResponse<create_tag::v3::Response>> {
    let me = req.user()?;
    let b = &req.body;
    // The raw body, for the same reason `get_tags` serves raw JSON.
    let info = req.json_body.clone().unwrap_or_else(|| json!({}));
    data.add_tag(&me.user_id, &b.user_id, &b.room_id, &b.tag, info)
        .await?;
    Ok(RumaResponse(create_tag::v3::Response::new()))
}

pub async fn delete_tag(
    State(data): State<AccountData>,
    req: Ruma<delete_tag::v3::Request>,
) -> ApiResult<RumaResponse<delete_tag::v3::Response>> {
    let me = req.user()?;
    let b = &req.body;
    data.remove_tag(&me.user_id, &b.user_id, &b.room_id, &b.tag)
        .await?;
    Ok(RumaResponse(delete_tag::v3::Response::new()))
}
