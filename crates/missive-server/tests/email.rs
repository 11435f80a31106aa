//! E-mail addresses (third-party identifiers) against a real SMTP server
//! (aiosmtpd on loopback): validation mails and their links, registration
//! requiring an address, adding, listing and deleting addresses (raw HTTP
//! and matrix-sdk's `Account` API), login by address, password resets by
//! e-mail, and Synapse's errors.

// Test code throughout: allow-unwrap-in-tests (clippy.toml) covers only
// #[test] functions, not the helpers an integration test crate shares.
#![allow(clippy::unwrap_used)]

mod support;

use matrix_sdk::ruma::{
    ClientSecret, OwnedClientSecret, api::client::account::ThirdPartyIdRemovalStatus,
    api::client::uiaa, thirdparty::Medium, uint,
};
use serde_json::{Value, json};
use support::{Backend, PASSWORD, TestServer, smtp::SmtpServer};

const SUBMIT: &str = "/_missive/client/email/submit_token";

async fn start(backend: Backend, smtp: &SmtpServer, extra: &[(&str, &str)]) -> TestServer {
    let url = smtp.url();
    let mut env = vec![
        ("MISSIVE_SMTP_URL", url.as_str()),
        ("MISSIVE_SMTP_FROM", "Missive <noreply@localhost>"),
    ];
    env.extend_from_slice(extra);
    TestServer::start_with(backend, &env).await
}

/// Asks for a validation mail; returns the answer's status and body.
async fn request_token(
    server: &TestServer,
    kind: &str,
    secret: &str,
    email: &str,
    attempt: u32,
) -> (u16, Value) {
    server
        .call(
            None,
            "POST",
            &format!("/_matrix/client/v3/{kind}/email/requestToken"),
            json!({ "client_secret": secret, "email": email, "send_attempt": attempt }),
        )
        .await
}

/// Opens the validation link of the last mail to `to` (`count` mails
/// expected) as a browser would.
async fn open_link(server: &TestServer, smtp: &SmtpServer, to: &str, count: usize) -> String {
    let mail = smtp.wait_for_mail(to, count).await;
    let link = mail.link(&format!("{}{SUBMIT}", server.base_url));
    let res = reqwest::get(&link).await.unwrap();
    assert_eq!(res.status(), 200, "{link}");
    let page = res.text().await.unwrap();
    assert!(
        page.contains("confirmée") && page.contains("confirmed"),
        "{page}"
    );
    mail.link_param(&server.base_url, "token")
}

fn email_stage(sid: &str, secret: &str, session: Option<&str>) -> Value {
    let mut auth = json!({
        "type": "m.login.email.identity",
        "threepid_creds": { "sid": sid, "client_secret": secret },
    });
    if let Some(s) = session {
        auth["session"] = json!(s);
    }
    auth
}

async fn login(server: &TestServer, body: Value) -> (u16, Value) {
    server
        .call(None, "POST", "/_matrix/client/v3/login", body)
        .await
}

async fn registration_requires_a_validated_address(backend: Backend) {
    let smtp = SmtpServer::start().await;
    let server = start(
        backend,
        &smtp,
        &[("MISSIVE_REGISTRATION_REQUIRES_EMAIL", "on")],
    )
    .await;
    let (status, v) = server
        .call(
            None,
            "POST",
            "/_matrix/client/v3/register",
            json!({ "username": "alice", "password": PASSWORD }),
        )
        .await;
    assert_eq!(status, 401, "{v}");
    assert_eq!(
        v["flows"],
        json!([{ "stages": ["m.login.email.identity"] }])
    );
    let session = v["session"].as_str().unwrap().to_owned();

    // The address is canonical (lowercased) from the start.
    let (status, v) = request_token(&server, "register", "s3cret", "Alice@Example.ORG", 1).await;
    assert_eq!(status, 200, "{v}");
    let sid = v["sid"].as_str().unwrap().to_owned();
    assert_eq!(
        v["submit_url"],
        json!(format!("{}{SUBMIT}", server.base_url))
    );
    let mail = smtp.wait_for_mail("alice@example.org", 1).await;
    assert!(mail.subject.contains("Confirmez") && mail.subject.contains("Confirm"));
    assert!(mail.text.contains("Bonjour") && mail.text.contains("Hello"));
    assert!(mail.html.contains("<a href="), "{}", mail.html);

    // The same attempt again: the same session and no new mail; a higher
    // attempt: the same session and a new mail (whose token replaces the
    // first one's).
    let (_, again) = request_token(&server, "register", "s3cret", "alice@example.org", 1).await;
    assert_eq!(again["sid"], json!(sid));
    let (_, next) = request_token(&server, "register", "s3cret", "alice@example.org", 2).await;
    assert_eq!(next["sid"], json!(sid));
    smtp.wait_for_mail("alice@example.org", 2).await;
    assert_eq!(smtp.mails_to("alice@example.org").len(), 2);

    // Not validated yet: the stage fails.
    let register = |auth: Value| json!({ "username": "alice", "password": PASSWORD, "auth": auth });
    let (status, v) = server
        .call(
            None,
            "POST",
            "/_matrix/client/v3/register",
            register(email_stage(&sid, "s3cret", Some(&session))),
        )
        .await;
    assert_eq!(
        (status, v["errcode"].as_str()),
        (401, Some("M_UNAUTHORIZED")),
        "{v}"
    );

    // A wrong token, then the superseded one, are refused.
    let first_token = mail.link_param(&server.base_url, "token");
    for token in ["not-the-token", first_token.as_str()] {
        let (status, v) = server
            .call(
                None,
                "POST",
                SUBMIT,
                json!({ "sid": sid, "client_secret": "s3cret", "token": token }),
            )
            .await;
        assert_eq!(status, 400, "{v}");
        assert_eq!(
            (v["errcode"].as_str(), &v["success"]),
            (Some("M_UNKNOWN"), &json!(false))
        );
    }
    let token = open_link(&server, &smtp, "alice@example.org", 2).await;
    // The client's submit_url says the same.
    let (status, v) = server
        .call(
            None,
            "POST",
            SUBMIT,
            json!({ "sid": sid, "client_secret": "s3cret", "token": token }),
        )
        .await;
    assert_eq!((status, &v["success"]), (200, &json!(true)), "{v}");

    // Another client secret cannot borrow the session.
    let (status, _) = server
        .call(
            None,
            "POST",
            "/_matrix/client/v3/register",
            register(email_stage(&sid, "other", Some(&session))),
        )
        .await;
    assert_eq!(status, 401);
    let (status, v) = server
        .call(
            None,
            "POST",
            "/_matrix/client/v3/register",
            register(email_stage(&sid, "s3cret", Some(&session))),
        )
        .await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["user_id"], json!("@alice:localhost"));
    let alice = v["access_token"].as_str().unwrap().to_owned();
    assert!(!server.log().contains(&token), "the token was logged");
    let (_, caps) = server
        .call(
            Some(&alice),
            "GET",
            "/_matrix/client/v3/capabilities",
            Value::Null,
        )
        .await;
    assert_eq!(
        caps["capabilities"]["m.3pid_changes"]["enabled"],
        json!(true)
    );

    let (status, v) = server
        .call(
            Some(&alice),
            "GET",
            "/_matrix/client/v3/account/3pid",
            Value::Null,
        )
        .await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["threepids"].as_array().unwrap().len(), 1, "{v}");
    assert_eq!(v["threepids"][0]["medium"], json!("email"));
    assert_eq!(v["threepids"][0]["address"], json!("alice@example.org"));
    assert!(v["threepids"][0]["validated_at"].as_u64().unwrap() > 0);

    // Login by address, whatever its case, in both shapes.
    for body in [
        json!({
            "type": "m.login.password",
            "identifier": { "type": "m.id.thirdparty", "medium": "email", "address": "ALICE@example.org" },
            "password": PASSWORD,
        }),
        json!({
            "type": "m.login.password",
            "medium": "email",
            "address": "alice@example.org",
            "password": PASSWORD,
        }),
    ] {
        let (status, v) = login(&server, body).await;
        assert_eq!(status, 200, "{v}");
        assert_eq!(v["user_id"], json!("@alice:localhost"));
    }
    let (status, v) = login(
        &server,
        json!({
            "type": "m.login.password",
            "identifier": { "type": "m.id.thirdparty", "medium": "email", "address": "alice@example.org" },
            "password": "wrong",
        }),
    )
    .await;
    assert_eq!(
        (status, v["errcode"].as_str()),
        (403, Some("M_FORBIDDEN")),
        "{v}"
    );
    let (status, _) = login(
        &server,
        json!({
            "type": "m.login.password",
            "identifier": { "type": "m.id.thirdparty", "medium": "email", "address": "nobody@example.org" },
            "password": PASSWORD,
        }),
    )
    .await;
    assert_eq!(status, 403);

    // The address is taken now.
    for kind in ["register", "account/3pid"] {
        let (status, v) = request_token(&server, kind, "new", "alice@EXAMPLE.org", 1).await;
        assert_eq!(
            (status, v["errcode"].as_str()),
            (400, Some("M_THREEPID_IN_USE")),
            "{kind}: {v}"
        );
    }
    let (status, v) = request_token(&server, "register", "x", "not an address", 1).await;
    assert_eq!(status, 400, "{v}");
}

/// Adds the address to the account of `client` through matrix-sdk.
async fn add_address(
    server: &TestServer,
    smtp: &SmtpServer,
    client: &matrix_sdk::Client,
    address: &str,
) {
    let secret = OwnedClientSecret::try_from(format!("secret-{}", address.len())).unwrap();
    let account = client.account();
    // Counted before the request: the mail it sends is the next one.
    let before = smtp.mails_to(address).len();
    let sent = account
        .request_3pid_email_token(&secret, address, uint!(1))
        .await
        .unwrap();
    open_link(server, smtp, address, before + 1).await;
    let err = account
        .add_3pid(&secret, &sent.sid, None)
        .await
        .expect_err("adding asks for the password");
    let info = err.as_uiaa_response().expect("a UIA challenge").clone();
    let user_id = client.user_id().unwrap().to_owned();
    let mut password = uiaa::Password::new(
        uiaa::UserIdentifier::Matrix(uiaa::MatrixUserIdentifier::new(user_id.to_string())),
        PASSWORD.to_owned(),
    );
    password.session = info.session;
    account
        .add_3pid(&secret, &sent.sid, Some(uiaa::AuthData::Password(password)))
        .await
        .unwrap();
}

async fn addresses_are_added_listed_and_deleted(backend: Backend) {
    let smtp = SmtpServer::start().await;
    let server = start(backend, &smtp, &[]).await;
    // Registration offers an address as an alternative flow.
    let (_, v) = server
        .call(None, "POST", "/_matrix/client/v3/register", json!({}))
        .await;
    assert_eq!(
        v["flows"],
        json!([{ "stages": ["m.login.dummy"] }, { "stages": ["m.login.email.identity"] }])
    );
    let alice = server.register("alice").await;
    let account = alice.account();
    add_address(&server, &smtp, &alice, "alice@example.org").await;
    let listed = account.get_3pids().await.unwrap().threepids;
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].address, "alice@example.org");
    assert_eq!(listed[0].medium, Medium::Email);

    // Someone else cannot take it; nor add an address not validated.
    let bob = server.register_token("bob").await;
    let (status, v) = request_token(&server, "account/3pid", "b", "alice@example.org", 1).await;
    assert_eq!(
        (status, v["errcode"].as_str()),
        (400, Some("M_THREEPID_IN_USE")),
        "{v}"
    );
    let (status, v) = request_token(&server, "account/3pid", "bsecret", "bob@example.org", 1).await;
    assert_eq!(status, 200, "{v}");
    let bob_sid = v["sid"].as_str().unwrap().to_owned();
    let (status, v) = server
        .call(
            Some(&bob),
            "POST",
            "/_matrix/client/v3/account/3pid/add",
            json!({
                "sid": bob_sid,
                "client_secret": "bsecret",
                "auth": {
                    "type": "m.login.password",
                    "identifier": { "type": "m.id.user", "user": "bob" },
                    "password": PASSWORD,
                },
            }),
        )
        .await;
    assert_eq!(
        (status, v["errcode"].as_str()),
        (400, Some("M_THREEPID_AUTH_FAILED")),
        "{v}"
    );

    // Binding to an identity server other than this one is refused, and
    // an address not on one's account has nothing to withdraw.
    let (status, v) = server
        .call(
            Some(&bob),
            "POST",
            "/_matrix/client/v3/account/3pid/bind",
            json!({
                "sid": bob_sid, "client_secret": "bsecret",
                "id_server": "vector.im", "id_access_token": "x",
            }),
        )
        .await;
    assert_eq!(
        (status, v["errcode"].as_str()),
        (400, Some("M_SERVER_NOT_TRUSTED")),
        "{v}"
    );
    let (status, v) = server
        .call(
            Some(&bob),
            "POST",
            "/_matrix/client/v3/account/3pid/unbind",
            json!({ "medium": "email", "address": "bob@example.org" }),
        )
        .await;
    assert_eq!(
        (status, &v["id_server_unbind_result"]),
        (200, &json!("no-support")),
        "{v}"
    );

    // Deleting frees the address for someone else.
    let deleted = account
        .delete_3pid("Alice@Example.org", Medium::Email, None)
        .await
        .unwrap();
    assert_eq!(
        deleted.id_server_unbind_result,
        ThirdPartyIdRemovalStatus::NoSupport
    );
    assert!(account.get_3pids().await.unwrap().threepids.is_empty());
    let (status, v) = request_token(&server, "account/3pid", "b2", "alice@example.org", 1).await;
    assert_eq!(status, 200, "{v}");

    // Deactivation frees an account's addresses too.
    add_address(&server, &smtp, &alice, "alice.dupont@example.org").await;
    let (status, v) = request_token(&server, "register", "c", "alice.dupont@example.org", 1).await;
    assert_eq!(status, 400, "{v}");
    let token = alice.matrix_auth().session().unwrap().tokens.access_token;
    let (status, v) = server
        .call(
            Some(&token),
            "POST",
            "/_matrix/client/v3/account/deactivate",
            json!({ "auth": {
                "type": "m.login.password",
                "identifier": { "type": "m.id.user", "user": "alice" },
                "password": PASSWORD,
            }}),
        )
        .await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["id_server_unbind_result"], json!("no-support"));
    let (status, v) = request_token(&server, "register", "c", "alice.dupont@example.org", 1).await;
    assert_eq!(status, 200, "{v}");
}

async fn passwords_are_reset_by_email(backend: Backend) {
    let smtp = SmtpServer::start().await;
    let server = start(backend, &smtp, &[]).await;
    let alice = server.register("alice").await;
    add_address(&server, &smtp, &alice, "alice@example.org").await;
    let old_token = alice.matrix_auth().session().unwrap().tokens.access_token;

    let (status, v) =
        request_token(&server, "account/password", "r", "nobody@example.org", 1).await;
    assert_eq!(
        (status, v["errcode"].as_str()),
        (400, Some("M_THREEPID_NOT_FOUND")),
        "{v}"
    );
    let before = smtp.mails_to("alice@example.org").len();
    let (status, v) =
        request_token(&server, "account/password", "reset", "ALICE@example.org", 1).await;
    assert_eq!(status, 200, "{v}");
    let sid = v["sid"].as_str().unwrap().to_owned();
    let mail = smtp.wait_for_mail("alice@example.org", before + 1).await;
    assert!(mail.text.contains("mot de passe") && mail.text.contains("password"));

    // Not signed in: the one stage is the address, which must be validated.
    let reset = |auth: Value| json!({ "new_password": "a new password", "logout_devices": true, "auth": auth });
    let (status, v) = server
        .call(
            None,
            "POST",
            "/_matrix/client/v3/account/password",
            json!({ "new_password": "x" }),
        )
        .await;
    assert_eq!(status, 401, "{v}");
    assert_eq!(
        v["flows"],
        json!([{ "stages": ["m.login.email.identity"] }])
    );
    let session = v["session"].as_str().unwrap().to_owned();
    let (status, v) = server
        .call(
            None,
            "POST",
            "/_matrix/client/v3/account/password",
            reset(email_stage(&sid, "reset", Some(&session))),
        )
        .await;
    assert_eq!(status, 401, "not validated yet: {v}");
    open_link(&server, &smtp, "alice@example.org", before + 1).await;
    let (status, v) = server
        .call(
            None,
            "POST",
            "/_matrix/client/v3/account/password",
            reset(email_stage(&sid, "reset", Some(&session))),
        )
        .await;
    assert_eq!(status, 200, "{v}");

    // Every session ended; the new password works, the old one not.
    let (status, v) = server
        .call(
            Some(&old_token),
            "GET",
            "/_matrix/client/v3/account/whoami",
            Value::Null,
        )
        .await;
    assert_eq!(
        (status, v["errcode"].as_str()),
        (401, Some("M_UNKNOWN_TOKEN")),
        "{v}"
    );
    let by_name = |password: &str| {
        json!({
            "type": "m.login.password",
            "identifier": { "type": "m.id.user", "user": "alice" },
            "password": password,
        })
    };
    assert_eq!(login(&server, by_name(PASSWORD)).await.0, 403);
    let (status, v) = login(&server, by_name("a new password")).await;
    assert_eq!(status, 200, "{v}");
}

async fn without_mail_there_are_no_addresses(backend: Backend) {
    let server = TestServer::start(backend).await;
    let alice = server.register_token("alice").await;
    let (_, caps) = server
        .call(
            Some(&alice),
            "GET",
            "/_matrix/client/v3/capabilities",
            Value::Null,
        )
        .await;
    assert_eq!(
        caps["capabilities"]["m.3pid_changes"]["enabled"],
        json!(false)
    );
    for kind in ["register", "account/3pid", "account/password"] {
        let (status, v) = request_token(&server, kind, "s", "a@example.org", 1).await;
        assert_eq!(
            (status, v["errcode"].as_str()),
            (400, Some("M_THREEPID_MEDIUM_NOT_SUPPORTED")),
            "{kind}: {v}"
        );
    }
    let (status, v) = server
        .call(
            None,
            "POST",
            "/_matrix/client/v3/register/msisdn/requestToken",
            json!({ "client_secret": "s", "country": "FR", "phone_number": "0600000000", "send_attempt": 1 }),
        )
        .await;
    assert_eq!(
        (status, v["errcode"].as_str()),
        (400, Some("M_THREEPID_MEDIUM_NOT_SUPPORTED")),
        "{v}"
    );
    let (_, v) = server
        .call(None, "POST", "/_matrix/client/v3/register", json!({}))
        .await;
    assert_eq!(v["flows"], json!([{ "stages": ["m.login.dummy"] }]));
    // A client secret ruma refuses is a clear 400.
    let secret: Result<&ClientSecret, _> = "bad secret!".try_into();
    assert!(secret.is_err());
    let (status, _) = request_token(&server, "register", "bad secret!", "a@example.org", 1).await;
    assert_eq!(status, 400);
}

both_backends!(
    registration_requires_a_validated_address => registration_requires_a_validated_address,
    addresses_are_added_listed_and_deleted => addresses_are_added_listed_and_deleted,
    passwords_are_reset_by_email => passwords_are_reset_by_email,
    without_mail_there_are_no_addresses => without_mail_there_are_no_addresses,
);
