//! Reporting content over raw HTTP: events one can see (with a reason and
//! a score), whole rooms, and what Synapse answers otherwise (404 for an
//! event one cannot see, a redacted one, or a room that does not exist);
//! the reports reach the admins' list.

#![allow(clippy::unwrap_used)]

mod support;

use serde_json::{Value, json};
use support::{Backend, TestServer};

async fn report(server: &TestServer, token: &str, path: String, body: Value) -> (u16, Value) {
    server.call(Some(token), "POST", &path, body).await
}

async fn reports_are_filed_for_admins(backend: Backend) {
    let server = TestServer::start(backend).await;
    let (ok, out) = server.admin(&["create-user", "root", "--admin", "--password", "rootpass"]);
    assert!(ok, "{out}");
    let alice = server.register_token("alice").await;
    let bob = server.register_token("bob").await;
    let carol = server.register_token("carol").await;
    let room = server
        .create_room(
            &alice,
            json!({
                "preset": "public_chat",
                "initial_state": [{
                    "type": "m.room.history_visibility", "state_key": "",
                    "content": { "history_visibility": "joined" }
                }]
            }),
        )
        .await;
    let (_, sent) = server
        .send_event(
            &alice,
            &room,
            "m.room.message",
            "1",
            json!({ "msgtype": "m.text", "body": "avant" }),
        )
        .await;
    let before = sent["event_id"].as_str().unwrap().to_owned();
    server.join(&bob, &room).await;
    let (_, sent) = server
        .send_event(
            &alice,
            &room,
            "m.room.message",
            "2",
            json!({ "msgtype": "m.text", "body": "spam" }),
        )
        .await;
    let spam = sent["event_id"].as_str().unwrap().to_owned();

    // Bob reports what he sees, with a reason and a score.
    let (status, v) = report(
        &server,
        &bob,
        format!("/_matrix/client/v3/rooms/{room}/report/{spam}"),
        json!({ "reason": "c'est du spam", "score": -100 }),
    )
    .await;
    assert_eq!((status, &v), (200, &json!({})));
    // Neither a message from before he joined (history "joined"), nor a
    // room he is not in (carol), nor an unknown event: all 404.
    for (token, event) in [
        (&bob, &before),
        (&carol, &spam),
        (&bob, &"$nope:localhost".to_owned()),
    ] {
        let (status, v) = report(
            &server,
            token,
            format!("/_matrix/client/v3/rooms/{room}/report/{event}"),
            json!({ "reason": "x" }),
        )
        .await;
        assert_eq!(status, 404, "{v}");
        assert_eq!(v["errcode"], "M_NOT_FOUND");
    }
    // A score that is not an integer is refused, as by Synapse.
    let (status, v) = report(
        &server,
        &bob,
        format!("/_matrix/client/v3/rooms/{room}/report/{spam}"),
        json!({ "score": "bad" }),
    )
    .await;
    assert_eq!((status, v["errcode"].as_str()), (400, Some("M_BAD_JSON")));
    // A redacted event is no longer reportable.
    let (status, _) = server
        .call(
            Some(&alice),
            "PUT",
            &format!("/_matrix/client/v3/rooms/{room}/redact/{spam}/r1"),
            json!({}),
        )
        .await;
    assert_eq!(status, 200);
    let (status, _) = report(
        &server,
        &bob,
        format!("/_matrix/client/v3/rooms/{room}/report/{spam}"),
        json!({}),
    )
    .await;
    assert_eq!(status, 404);

    // Rooms: any existing one, by anyone, with a reason.
    let (status, v) = report(
        &server,
        &carol,
        format!("/_matrix/client/v3/rooms/{room}/report"),
        json!({ "reason": "salon douteux" }),
    )
    .await;
    assert_eq!((status, &v), (200, &json!({})));
    let (status, v) = report(
        &server,
        &carol,
        "/_matrix/client/v3/rooms/!unknown:localhost/report".to_owned(),
        json!({ "reason": "x" }),
    )
    .await;
    assert_eq!((status, v["errcode"].as_str()), (404, Some("M_NOT_FOUND")));
    let (status, v) = report(
        &server,
        &carol,
        format!("/_matrix/client/v3/rooms/{room}/report"),
        json!({}),
    )
    .await;
    assert_eq!((status, v["errcode"].as_str()), (400, Some("M_BAD_JSON")));

    // The admins see both, newest first; others may not look.
    let (status, _) = server
        .call(
            Some(&bob),
            "GET",
            "/_synapse/admin/v1/event_reports",
            Value::Null,
        )
        .await;
    assert_eq!(status, 403);
    let (status, login) = server
        .call(
            None,
            "POST",
            "/_matrix/client/v3/login",
            json!({ "type": "m.login.password", "identifier": { "type": "m.id.user", "user": "root" }, "password": "rootpass" }),
        )
        .await;
    assert_eq!(status, 200, "{login}");
    let root = login["access_token"].as_str().unwrap();
    let (status, list) = server
        .call(
            Some(root),
            "GET",
            "/_synapse/admin/v1/event_reports",
            Value::Null,
        )
        .await;
    assert_eq!(status, 200, "{list}");
    let reports = list["event_reports"].as_array().unwrap();
    assert_eq!(reports.len(), 2, "{list}");
    assert_eq!(reports[0]["user_id"], "@carol:localhost");
    assert_eq!(reports[0]["room_id"], room.as_str());
    assert!(reports[0].get("event_id").is_none());
    assert_eq!(reports[0]["reason"], "salon douteux");
    assert_eq!(reports[1]["user_id"], "@bob:localhost");
    assert_eq!(reports[1]["event_id"], spam.as_str());
    assert_eq!(reports[1]["reason"], "c'est du spam");
    assert_eq!(reports[1]["score"], -100);
    assert!(reports[1]["received_ts"].as_i64().unwrap() > 0);
    assert_eq!(list["total"], 2);
}

both_backends!(reports_are_filed_for_admins => reports_are_filed_for_admins);
