//! Typing notifications, receipts and read markers.

use axum::extract::State;
use ruma::{
    api::client::{
        read_marker::set_read_marker, receipt::create_receipt, typing::create_typing_event,
    },
    events::receipt::ReceiptThread,
};

use crate::{
    error::{ApiError, ApiResult},
    ruma_wrapper::{Ruma, RumaResponse},
    services::ephemeral::Ephemeral,
};

pub async fn create_typing_event(
    State(ephemeral): State<Ephemeral>,
    req: Ruma<create_typing_event::v3::Request>,
) -> ApiResult<RumaResponse<create_typing_event::v3::Response>> {
    let me = req.user()?;
    let b = &req.body;
    if me.user_id != b.user_id {
        return Err(ApiError::forbidden(
            "you can only set your own typing state",
        ));
    }
    let timeout = match &b.state {
        create_typing_event::v3::Typing::Yes(info) => Some(info.timeout),
        _ => None,
    };
    ephemeral
        .set_typing(&b.room_id, &me.user_id, timeout)
        .await?;
    Ok(RumaResponse(create_typing_event::v3::Response::new()))
}

pub async fn create_receipt(
    State(ephemeral): State<Ephemeral>,
    req: Ruma<create_receipt::v3::Request>,
) -> ApiResult<RumaResponse<create_receipt::v3::Response>> {
    let me = req.user()?;
    let b = &req.body;
    match b.receipt_type.to_string().as_str() {
        // The spec: a fully-read marker belongs to no thread.
        "m.fully_read" if b.thread != ReceiptThread::Unthreaded => {
            return Err(ApiError::invalid_param(
                "m.fully_read receipts cannot have a thread_id",
            ));
        }
        "m.fully_read" => {
            ephemeral
                .set_fully_read(&b.room_id, &me.user_id, &b.event_id)
                .await?
        }
        receipt_type => {
            ephemeral
                .set_receipt(
                    &b.room_id,
                    &me.user_id,
                    receipt_type,
                    &b.event_id,
                    &b.thread,
                )
                .await?
        }
    }
    Ok(RumaResponse(create_receipt::v3::Response::new()))
}

pub async fn set_read_marker(
    State(ephemeral): State<Ephemeral>,
    req: Ruma<set_read_marker::v3::Request>,
) -> ApiResult<RumaResponse<set_read_marker::v3::Response>> {
    let me = req.user()?;
    let b = &req.body;
    let (room, user) = (&b.room_id, &me.user_id);
    if let Some(id) = &b.fully_read {
        ephemeral.set_fully_read(room, user, id).await?;
    }
    if let Some(id) = &b.read_receipt {
        ephemeral
            .set_receipt(room, user, "m.read", id, &ReceiptThread::Unthreaded)
            .await?;
    }
    if let Some(id) = &b.private_read_receipt {
        ephemeral
            .set_receipt(room, user, "m.read.private", id, &ReceiptThread::Unthreaded)
            .await?;
    }
    Ok(RumaResponse(set_read_marker::v3::Response::new()))
}
