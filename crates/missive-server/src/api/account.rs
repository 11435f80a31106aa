//! Registration, login, logout, whoami, password change and deactivation.

use axum::{Json, extract::State};
use ruma::api::client::{
    account::ThirdPartyIdRemovalStatus,
    account::{
        change_password, check_registration_token_validity, deactivate, get_username_availability,
        register, whoami,
    },
    session::{get_login_types, login, logout, logout_all},
};
use serde_json::{Value, json};

use crate::{
    config::RegistrationMode,
    error::{ApiError, ApiResult},
    ruma_wrapper::{Ruma, RumaResponse},
    services::{
        accounts::Accounts,
        passwords::{NewPassword, Passwords},
        registration::{NewAccount, Registration},
    },
    state::AppState,
};

/// Registration and login answer with `home_server` too, which ruma's
/// response types no longer carry and older clients still read (Synapse
/// sends it): these two stay JSON.
pub async fn register(
    State(registration): State<Registration>,
    State(accounts): State<Accounts>,
    req: Ruma<register::v3::Request>,
) -> ApiResult<Json<Value>> {
    let body = &req.body;
    let done = registration
        .register(NewAccount {
            username: body.username.as_deref(),
            password: body.password.as_deref(),
            device_id: body.device_id.clone(),
            initial_device_display_name: body.initial_device_display_name.clone(),
            inhibit_login: body.inhibit_login,
            guest: body.kind == register::RegistrationKind::Guest,
            guest_access_token: req
                .json_body
                .as_ref()
                .and_then(|b| b.get("guest_access_token"))
                .and_then(Value::as_str),
            auth: req.json_body.as_ref().and_then(|b| b.get("auth")),
            operation: &req.operation,
            ip: req.client_ip,
        })
        .await?;
    let Some(session) = done.session else {
        return Ok(Json(json!({ "user_id": done.user_id })));
    };
    Ok(Json(json!({
        "user_id": done.user_id,
        "access_token": session.access_token,
        "device_id": session.device_id,
        "home_server": accounts.server_name(),
    })))
}

pub async fn get_username_availability(
    State(s): State<AppState>,
    req: Ruma<get_username_availability::v3::Request>,
) -> ApiResult<RumaResponse<get_username_availability::v3::Response>> {
    s.limiter.check_register(req.client_ip)?;
    s.accounts
        .check_available(&req.body.username.to_lowercase())
        .await?;
    Ok(RumaResponse(get_username_availability::v3::Response::new(
        true,
    )))
}

pub async fn check_registration_token_validity(
    State(s): State<AppState>,
    req: Ruma<check_registration_token_validity::v1::Request>,
) -> ApiResult<RumaResponse<check_registration_token_validity::v1::Response>> {
    s.limiter.check_register(req.client_ip)?;
    if s.config.registration != RegistrationMode::Token {
        return Err(ApiError::forbidden("registration tokens are not in use"));
    }
    Ok(RumaResponse(
        check_registration_token_validity::v1::Response::new(
            s.uiaa.registration_token_valid(&req.body.token).await?,
        ),
    ))
}

pub async fn get_login_types(
    _req: Ruma<get_login_types::v3::Request>,
) -> RumaResponse<get_login_types::v3::Response> {
    use get_login_types::v3::{LoginType, PasswordLoginType};
    RumaResponse(get_login_types::v3::Response::new(vec![
        LoginType::Password(PasswordLoginType::new()),
    ]))
}

pub async fn login(
    State(s): State<AppState>,
    req: Ruma<login::v3::Request>,
) -> ApiResult<Json<Value>> {
    s.limiter.check_login(req.client_ip)?;
    let login::v3::LoginInfo::Password(info) = &req.body.login_info else {
        return Err(ApiError::Unknown(
            "only m.login.password is supported".into(),
        ));
    };
    use ruma::api::client::uiaa::UserIdentifier;
    let legacy_field = |name: &str| {
        req.json_body
            .as_ref()
            .and_then(|b| b.get(name))
            .and_then(Value::as_str)
    };
    // An e-mail address (`m.id.thirdparty`, or the legacy top-level
    // `medium` and `address`) names the account it is bound to.
    let email = match &info.identifier {
        Some(UserIdentifier::Email(e)) => Some(e.address.as_str()),
        None if legacy_field("medium") == Some("email") => legacy_field("address"),
        _ => None,
    };
    if let Some(address) = email {
        let Some(user_id) = s.threepids.user_of_email(address).await? else {
            return Err(ApiError::forbidden("invalid username or password"));
        };
        return login_as(&s, &req, &user_id, &info.password).await;
    }
    let user_input = match &info.identifier {
        Some(UserIdentifier::Matrix(id)) => id.user.clone(),
        _ => {
            let legacy = req
                .json_body
                .as_ref()
                .and_then(|b| b.get("user"))
                .and_then(Value::as_str);
            legacy
                .map(str::to_owned)
                .ok_or_else(|| ApiError::forbidden("only user identifiers are supported"))?
        }
    };
    let user_id = s.accounts.resolve_login_user(&user_input)?;
    if user_id.server_name() != s.accounts.server_name() {
        return Err(ApiError::forbidden("invalid username or password"));
    }
    login_as(&s, &req, &user_id, &info.password).await
}

/// The password check and the new session of a login.
async fn login_as(
    s: &AppState,
    req: &Ruma<login::v3::Request>,
    user_id: &ruma::UserId,
    password: &str,
) -> ApiResult<Json<Value>> {
    s.accounts
        .check_password(user_id, password, req.client_ip)
        .await?;
    let session = s
        .accounts
        .new_session(
            user_id,
            req.body.device_id.clone(),
            req.body.initial_device_display_name.clone(),
            req.client_ip,
        )
        .await?;
    tracing::info!(user = %user_id, device = %session.device_id, "logged in");
    Ok(Json(json!({
        "user_id": user_id,
        "access_token": session.access_token,
        "device_id": session.device_id,
        "home_server": s.accounts.server_name(),
        "well_known": { "m.homeserver": { "base_url": s.config.public_baseurl() } },
    })))
}

pub async fn logout(
    State(s): State<AppState>,
    req: Ruma<logout::v3::Request>,
) -> ApiResult<RumaResponse<logout::v3::Response>> {
    let me = req.user()?;
    s.devices.delete(&me.user_id, &[&me.device_id]).await?;
    Ok(RumaResponse(logout::v3::Response::new()))
}

pub async fn logout_all(
    State(s): State<AppState>,
    req: Ruma<logout_all::v3::Request>,
) -> ApiResult<RumaResponse<logout_all::v3::Response>> {
    let me = req.user()?;
    s.devices.delete_all(&me.user_id, None).await?;
    Ok(RumaResponse(logout_all::v3::Response::new()))
}

pub async fn whoami(
    req: Ruma<whoami::v3::Request>,
) -> ApiResult<RumaResponse<whoami::v3::Response>> {
    let me = req.user()?;
    let mut response = whoami::v3::Response::new(me.user_id.clone(), me.is_guest);
    response.device_id = Some(me.device_id.clone());
    Ok(RumaResponse(response))
}

/// Signed in: confirmed with the password. Not signed in: a reset,
/// confirmed by proving one holds an e-mail address of the account.
pub async fn change_password(
    State(passwords): State<Passwords>,
    req: Ruma<change_password::v3::Request>,
) -> ApiResult<RumaResponse<change_password::v3::Response>> {
    let new = NewPassword {
        password: &req.body.new_password,
        logout_devices: req.body.logout_devices,
        auth: req.json_body.as_ref().and_then(|b| b.get("auth")),
        operation: &req.operation,
        client_ip: req.client_ip,
    };
    match &req.identity {
        Some(me) => passwords.change(&me.user_id, &me.device_id, new).await?,
        None => passwords.reset(new).await?,
    }
    Ok(RumaResponse(change_password::v3::Response::new()))
}

pub async fn deactivate(
    State(s): State<AppState>,
    req: Ruma<deactivate::v3::Request>,
) -> ApiResult<RumaResponse<deactivate::v3::Response>> {
    let me = req.user()?;
    let auth = req.json_body.as_ref().and_then(|b| b.get("auth"));
    s.uiaa
        .confirm_password(&me.user_id, &req.operation, auth, req.client_ip)
        .await?;
    s.deactivation.deactivate(&me.user_id).await?;
    Ok(RumaResponse(deactivate::v3::Response::new(
        ThirdPartyIdRemovalStatus::NoSupport,
    )))
}
