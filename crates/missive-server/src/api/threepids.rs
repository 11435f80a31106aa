//! Third-party identifiers (e-mail addresses): `requestToken` for
//! registration, adding an address and password resets; the mailed link
//! and `submit_url`; `/account/3pid` (list, add, delete, bind, unbind).

use axum::{
    Json,
    extract::{Query, State},
    response::{Html, IntoResponse, Response},
};
use http::StatusCode;
use ruma::{
    MilliSecondsSinceUnixEpoch, UInt,
    api::client::account::{
        ThirdPartyIdRemovalStatus, add_3pid, bind_3pid, delete_3pid, get_3pids,
        request_3pid_management_token_via_email, request_3pid_management_token_via_msisdn,
        request_password_change_token_via_email, request_password_change_token_via_msisdn,
        request_registration_token_via_email, request_registration_token_via_msisdn, unbind_3pid,
    },
    thirdparty::{Medium, ThirdPartyIdentifier, ThirdPartyIdentifierInit},
};
use serde::Deserialize;
use serde_json::json;

use crate::{
    error::{ApiError, ApiResult},
    ruma_wrapper::{Ruma, RumaResponse},
    services::{
        mail::escape_html,
        threepids::{Threepids, TokenPurpose, TokenRequest, TokenSent},
        uiaa::Uiaa,
    },
};

async fn request_token(
    threepids: &Threepids,
    purpose: TokenPurpose,
    client_secret: &str,
    email: &str,
    send_attempt: UInt,
    ip: Option<std::net::IpAddr>,
) -> ApiResult<TokenSent> {
    threepids
        .request_email_token(TokenRequest {
            purpose,
            client_secret,
            email,
            send_attempt: send_attempt.into(),
            ip,
        })
        .await
}

fn session_id(sid: String) -> ApiResult<ruma::OwnedSessionId> {
    sid.try_into()
        .map_err(|_| ApiError::Internal("generated session ID is invalid".into()))
}

pub async fn request_registration_token_via_email(
    State(threepids): State<Threepids>,
    req: Ruma<request_registration_token_via_email::v3::Request>,
) -> ApiResult<RumaResponse<request_registration_token_via_email::v3::Response>> {
    let b = &req.body;
    let sent = request_token(
        &threepids,
        TokenPurpose::Register,
        b.client_secret.as_str(),
        &b.email,
        b.send_attempt,
        req.client_ip,
    )
    .await?;
    let mut res = request_registration_token_via_email::v3::Response::new(session_id(sent.sid)?);
    res.submit_url = Some(sent.submit_url);
    Ok(RumaResponse(res))
}

pub async fn request_3pid_management_token_via_email(
    State(threepids): State<Threepids>,
    req: Ruma<request_3pid_management_token_via_email::v3::Request>,
) -> ApiResult<RumaResponse<request_3pid_management_token_via_email::v3::Response>> {
    let b = &req.body;
    let sent = request_token(
        &threepids,
        TokenPurpose::Add,
        b.client_secret.as_str(),
        &b.email,
        b.send_attempt,
        req.client_ip,
    )
    .await?;
    let mut res = request_3pid_management_token_via_email::v3::Response::new(session_id(sent.sid)?);
    res.submit_url = Some(sent.submit_url);
    Ok(RumaResponse(res))
}

pub async fn request_password_change_token_via_email(
    State(threepids): State<Threepids>,
    req: Ruma<request_password_change_token_via_email::v3::Request>,
) -> ApiResult<RumaResponse<request_password_change_token_via_email::v3::Response>> {
    let b = &req.body;
    let sent = request_token(
        &threepids,
        TokenPurpose::PasswordReset,
        b.client_secret.as_str(),
        &b.email,
        b.send_attempt,
        req.client_ip,
    )
    .await?;
    let mut res = request_password_change_token_via_email::v3::Response::new(session_id(sent.sid)?);
    res.submit_url = Some(sent.submit_url);
    Ok(RumaResponse(res))
}

/// Phone numbers are not supported (no SMS gateway), on any of the three.
fn no_msisdn() -> ApiError {
    ApiError::ThreepidMediumNotSupported("phone numbers are not supported on this server".into())
}

pub async fn request_registration_token_via_msisdn(
    _req: Ruma<request_registration_token_via_msisdn::v3::Request>,
) -> ApiError {
    no_msisdn()
}

pub async fn request_3pid_management_token_via_msisdn(
    _req: Ruma<request_3pid_management_token_via_msisdn::v3::Request>,
) -> ApiError {
    no_msisdn()
}

pub async fn request_password_change_token_via_msisdn(
    _req: Ruma<request_password_change_token_via_msisdn::v3::Request>,
) -> ApiError {
    no_msisdn()
}

/// The three values of a validation link, from its query or a client's
/// `submit_url` POST.
#[derive(Deserialize)]
pub struct SubmitToken {
    sid: String,
    client_secret: String,
    token: String,
}

/// `POST {submit_url}`: `{success: true}`, or 400 with `success: false`.
pub async fn submit_token_json(
    State(threepids): State<Threepids>,
    Json(body): Json<SubmitToken>,
) -> ApiResult<Response> {
    if threepids
        .submit_token(&body.sid, &body.client_secret, &body.token)
        .await?
    {
        return Ok(Json(json!({ "success": true })).into_response());
    }
    Ok((
        StatusCode::BAD_REQUEST,
        Json(json!({
            "errcode": "M_UNKNOWN",
            "error": "validation token not found or has expired",
            "success": false,
        })),
    )
        .into_response())
}

/// `GET` of the link in the mail: a small page, in French and English.
pub async fn submit_token_page(
    State(threepids): State<Threepids>,
    Query(q): Query<SubmitToken>,
) -> ApiResult<Response> {
    let ok = threepids
        .submit_token(&q.sid, &q.client_secret, &q.token)
        .await?;
    let (status, fr, en) = if ok {
        (
            StatusCode::OK,
            "Votre adresse est confirmée. Vous pouvez revenir à votre application.",
            "Your address is confirmed. You can go back to your application.",
        )
    } else {
        (
            StatusCode::BAD_REQUEST,
            "Ce lien n'est pas valide ou a expiré. Demandez un nouveau message depuis votre application.",
            "This link is invalid or has expired. Ask for a new mail from your application.",
        )
    };
    let page = format!(
        "<!DOCTYPE html><html lang=\"fr\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>Confirmation</title></head><body style=\"font-family: sans-serif; \
         max-width: 40em; margin: 3em auto; padding: 0 1em\">\
         <p>{}</p><hr><p lang=\"en\">{}</p></body></html>",
        escape_html(fr),
        escape_html(en)
    );
    Ok((status, Html(page)).into_response())
}

pub async fn get_3pids(
    State(threepids): State<Threepids>,
    req: Ruma<get_3pids::v3::Request>,
) -> ApiResult<RumaResponse<get_3pids::v3::Response>> {
    let me = req.user()?;
    let ms = |ts: i64| MilliSecondsSinceUnixEpoch(UInt::try_from(ts.max(0)).unwrap_or_default());
    let listed = threepids
        .list(&me.user_id)
        .await?
        .into_iter()
        .map(|t| {
            ThirdPartyIdentifier::from(ThirdPartyIdentifierInit {
                address: t.address,
                medium: Medium::from(t.medium.as_str()),
                validated_at: ms(t.validated_ts),
                added_at: ms(t.added_ts),
            })
        })
        .collect();
    Ok(RumaResponse(get_3pids::v3::Response::new(listed)))
}

pub async fn add_3pid(
    State(threepids): State<Threepids>,
    State(uiaa): State<Uiaa>,
    req: Ruma<add_3pid::v3::Request>,
) -> ApiResult<RumaResponse<add_3pid::v3::Response>> {
    let me = req.user()?;
    let auth = req.json_body.as_ref().and_then(|b| b.get("auth"));
    uiaa.confirm_password(&me.user_id, &req.operation, auth, req.client_ip)
        .await?;
    threepids
        .add(
            &me.user_id,
            req.body.sid.as_str(),
            req.body.client_secret.as_str(),
        )
        .await?;
    Ok(RumaResponse(add_3pid::v3::Response::new()))
}

pub async fn delete_3pid(
    State(threepids): State<Threepids>,
    req: Ruma<delete_3pid::v3::Request>,
) -> ApiResult<RumaResponse<delete_3pid::v3::Response>> {
    let me = req.user()?;
    threepids
        .delete(&me.user_id, req.body.medium.as_str(), &req.body.address)
        .await?;
    Ok(RumaResponse(delete_3pid::v3::Response::new(
        ThirdPartyIdRemovalStatus::NoSupport,
    )))
}

/// Binding publishes one of the account's addresses for discovery in an
/// identity server: only this server's own.
pub async fn bind_3pid(
    State(threepids): State<Threepids>,
    req: Ruma<bind_3pid::v3::Request>,
) -> ApiResult<RumaResponse<bind_3pid::v3::Response>> {
    let me = req.user()?;
    let b = &req.body;
    threepids
        .publish(
            &me.user_id,
            &b.identity_server_info.id_server,
            b.sid.as_str(),
            b.client_secret.as_str(),
        )
        .await?;
    Ok(RumaResponse(bind_3pid::v3::Response::new()))
}

/// Withdraws an address from this server's discovery; another identity
/// server has nothing of this server's to withdraw.
pub async fn unbind_3pid(
    State(threepids): State<Threepids>,
    req: Ruma<unbind_3pid::v3::Request>,
) -> ApiResult<RumaResponse<unbind_3pid::v3::Response>> {
    let me = req.user()?;
    let b = &req.body;
    let withdrawn = threepids
        .withdraw(
            &me.user_id,
            b.id_server.as_deref(),
            b.medium.as_str(),
            &b.address,
        )
        .await?;
    Ok(RumaResponse(unbind_3pid::v3::Response::new(if withdrawn {
        ThirdPartyIdRemovalStatus::Success
    } else {
        ThirdPartyIdRemovalStatus::NoSupport
    })))
}
