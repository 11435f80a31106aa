//! Room upgrades over raw HTTP (`POST /rooms/{roomId}/upgrade`): the new
//! room's carried state, bans, aliases, tags, push rules and directory
//! listing; the tombstone and the old room closed to ordinary members;
//! members following; errors; concurrent requests answered with one room.

// Test code throughout: allow-unwrap-in-tests (clippy.toml) covers only
// #[test] functions, not the helpers an integration test crate shares.
#![allow(clippy::unwrap_used)]

mod support;

use serde_json::{Value, json};
use support::{Backend, TestServer};

async fn get(server: &TestServer, token: &str, path: &str) -> Value {
    let (status, v) = server.call(Some(token), "GET", path, Value::Null).await;
    assert_eq!(status, 200, "GET {path}: {v}");
    v
}

async fn state(server: &TestServer, token: &str, room: &str, ty: &str, key: &str) -> (u16, Value) {
    server
        .call(
            Some(token),
            "GET",
            &format!("/_matrix/client/v3/rooms/{room}/state/{ty}/{key}"),
            Value::Null,
        )
        .await
}

async fn content(server: &TestServer, token: &str, room: &str, ty: &str) -> Value {
    let (status, v) = state(server, token, room, ty, "").await;
    assert_eq!(status, 200, "{ty} in {room}: {v}");
    v
}

async fn upgrade(server: &TestServer, token: &str, room: &str, version: &str) -> (u16, Value) {
    server
        .call(
            Some(token),
            "POST",
            &format!("/_matrix/client/v3/rooms/{room}/upgrade"),
            json!({ "new_version": version }),
        )
        .await
}

async fn upgrade_carries_the_room_over(backend: Backend) {
    let server = TestServer::start(backend).await;
    let alice = server.register_token("alice").await;
    let bob = server.register_token("bob").await;
    let carol = server.register_token("carol").await;
    let old = server
        .create_room(
            &alice,
            json!({
                "room_version": "10",
                "preset": "public_chat",
                "visibility": "public",
                "name": "Cabinet",
                "topic": "budget",
                "room_alias_name": "cabinet",
                "initial_state": [{
                    "type": "m.room.encryption", "state_key": "",
                    "content": { "algorithm": "m.megolm.v1.aes-sha2" }
                }],
                "power_level_content_override": {
                    "users": { "@alice:localhost": 100, "@bob:localhost": 10 }
                },
            }),
        )
        .await;
    server.join(&bob, &old).await;
    server.join(&carol, &old).await;
    let (status, v) = server
        .call(
            Some(&alice),
            "POST",
            &format!("/_matrix/client/v3/rooms/{old}/ban"),
            json!({ "user_id": "@carol:localhost", "reason": "spam" }),
        )
        .await;
    assert_eq!(status, 200, "{v}");
    // Alice's tag and room push rule on the old room.
    let (status, _) = server
        .call(
            Some(&alice),
            "PUT",
            &format!("/_matrix/client/v3/user/@alice:localhost/rooms/{old}/tags/u.work"),
            json!({ "order": 0.5 }),
        )
        .await;
    assert_eq!(status, 200);
    let (status, _) = server
        .call(
            Some(&alice),
            "PUT",
            &format!("/_matrix/client/v3/pushrules/global/room/{old}"),
            json!({ "actions": [] }),
        )
        .await;
    assert_eq!(status, 200);
    let (status, _) = server
        .call(
            Some(&alice),
            "PUT",
            "/_matrix/client/v3/user/@alice:localhost/account_data/m.direct",
            json!({ "@bob:localhost": [old] }),
        )
        .await;
    assert_eq!(status, 200);

    // Errors first: an unknown version, then a member without the power.
    let (status, v) = upgrade(&server, &alice, &old, "99").await;
    assert_eq!(status, 400, "{v}");
    assert_eq!(v["errcode"], "M_UNSUPPORTED_ROOM_VERSION");
    let (status, v) = upgrade(&server, &bob, &old, "12").await;
    assert_eq!(status, 403, "{v}");
    assert_eq!(v["errcode"], "M_FORBIDDEN");
    let (status, v) = upgrade(&server, &alice, "!unknown:localhost", "12").await;
    assert_eq!(status, 404, "{v}");

    // Two requests at once make one room.
    let (first, second) = tokio::join!(
        upgrade(&server, &alice, &old, "12"),
        upgrade(&server, &alice, &old, "12")
    );
    assert_eq!(first.0, 200, "{first:?}");
    assert_eq!(first, second);
    let new = first.1["replacement_room"].as_str().unwrap().to_owned();
    assert_ne!(new, old);
    // Someone without the power to upgrade is refused before anything is
    // claimed (so a refused request never holds off a real one).
    let (status, v) = upgrade(&server, &bob, &old, "12").await;
    assert_eq!(
        (status, v["errcode"].as_str()),
        (403, Some("M_FORBIDDEN")),
        "{v}"
    );

    // The new room: version 12, its predecessor, the carried state.
    let create = content(&server, &alice, &new, "m.room.create").await;
    assert_eq!(create["room_version"], "12");
    assert_eq!(create["predecessor"]["room_id"], old.as_str());
    assert_eq!(
        content(&server, &alice, &new, "m.room.name").await["name"],
        "Cabinet"
    );
    assert_eq!(
        content(&server, &alice, &new, "m.room.topic").await["topic"],
        "budget"
    );
    assert_eq!(
        content(&server, &alice, &new, "m.room.encryption").await["algorithm"],
        "m.megolm.v1.aes-sha2"
    );
    assert_eq!(
        content(&server, &alice, &new, "m.room.join_rules").await["join_rule"],
        "public"
    );
    let levels = content(&server, &alice, &new, "m.room.power_levels").await;
    // The creator is unlisted (version 12); the others keep their levels.
    assert_eq!(levels["users"], json!({ "@bob:localhost": 10 }), "{levels}");
    let (status, ban) = state(&server, &alice, &new, "m.room.member", "@carol:localhost").await;
    assert_eq!(status, 200);
    assert_eq!(ban["membership"], "ban");
    assert_eq!(ban["reason"], "spam");

    // Aliases point to the new room, whose canonical alias it is now.
    let alias = get(
        &server,
        &alice,
        "/_matrix/client/v3/directory/room/%23cabinet:localhost",
    )
    .await;
    assert_eq!(alias["room_id"], new.as_str());
    assert_eq!(
        content(&server, &alice, &new, "m.room.canonical_alias").await["alias"],
        "#cabinet:localhost"
    );
    let old_alias = content(&server, &alice, &old, "m.room.canonical_alias").await;
    assert!(old_alias.get("alias").is_none(), "{old_alias}");
    // The directory lists the new room instead of the old.
    let listed = |room: &str| format!("/_matrix/client/v3/directory/list/room/{room}");
    assert_eq!(
        get(&server, &alice, &listed(&new)).await["visibility"],
        "public"
    );
    assert_eq!(
        get(&server, &alice, &listed(&old)).await["visibility"],
        "private"
    );
    // Alice's tag and push rule followed.
    let tags = get(
        &server,
        &alice,
        &format!("/_matrix/client/v3/user/@alice:localhost/rooms/{new}/tags"),
    )
    .await;
    assert!(tags["tags"]["u.work"].is_object(), "{tags}");
    let (status, _) = server
        .call(
            Some(&alice),
            "GET",
            &format!("/_matrix/client/v3/pushrules/global/room/{new}"),
            Value::Null,
        )
        .await;
    assert_eq!(status, 200);
    let direct = get(
        &server,
        &alice,
        "/_matrix/client/v3/user/@alice:localhost/account_data/m.direct",
    )
    .await;
    assert_eq!(direct["@bob:localhost"], json!([old, new]));

    // The old room: tombstoned, closed to ordinary members.
    let tombstone = content(&server, &alice, &old, "m.room.tombstone").await;
    assert_eq!(tombstone["replacement_room"], new.as_str());
    let old_levels = content(&server, &alice, &old, "m.room.power_levels").await;
    assert_eq!(old_levels["events_default"], 50);
    assert_eq!(old_levels["invite"], 50);
    let (status, v) = server
        .send_event(
            &bob,
            &old,
            "m.room.message",
            "late",
            json!({"msgtype": "m.text", "body": "anyone?"}),
        )
        .await;
    assert_eq!(status, 403, "{v}");

    // Bob's sync shows the tombstone; he follows it into the new room.
    let sync = get(&server, &bob, "/_matrix/client/v3/sync").await;
    let timeline = sync["rooms"]["join"][&old]["timeline"]["events"]
        .as_array()
        .unwrap()
        .clone();
    assert!(
        timeline
            .iter()
            .any(|e| e["type"] == "m.room.tombstone"
                && e["content"]["replacement_room"] == new.as_str()),
        "{timeline:?}"
    );
    server.join(&bob, &new).await;
    server.say(&bob, &new, "t1", "here now").await;
    // The banned member cannot follow.
    let (status, _) = server
        .call(
            Some(&carol),
            "POST",
            &format!("/_matrix/client/v3/join/{new}"),
            json!({}),
        )
        .await;
    assert_eq!(status, 403);
}

/// Upgrading to an older-format version (random room IDs, `creator`) and
/// from version 12 works too; the upgrader's raised level is given back.
async fn upgrades_between_any_versions(backend: Backend) {
    let server = TestServer::start(backend).await;
    let alice = server.register_token("alice").await;
    let bob = server.register_token("bob").await;
    let v12 = server
        .create_room(
            &alice,
            json!({ "preset": "private_chat", "name": "twelve" }),
        )
        .await;
    let (status, v) = upgrade(&server, &alice, &v12, "9").await;
    assert_eq!(status, 200, "{v}");
    let v9 = v["replacement_room"].as_str().unwrap().to_owned();
    assert!(v9.ends_with(":localhost"), "{v9}");
    let create = content(&server, &alice, &v9, "m.room.create").await;
    assert_eq!(create["room_version"], "9");
    assert_eq!(create["predecessor"]["room_id"], v12.as_str());
    assert!(create["predecessor"]["event_id"].is_string(), "{create}");
    assert_eq!(
        content(&server, &alice, &v9, "m.room.name").await["name"],
        "twelve"
    );
    // Version 9 lists the old creator, at the highest level the room names
    // (version 12's tombstone level), so she keeps every power.
    let levels = content(&server, &alice, &v9, "m.room.power_levels").await;
    assert_eq!(levels["users"]["@alice:localhost"], 150, "{levels}");
    // Private rooms stay closed to the old room's non-invited users.
    let (status, _) = server
        .call(
            Some(&bob),
            "POST",
            &format!("/_matrix/client/v3/join/{v9}"),
            json!({}),
        )
        .await;
    assert_eq!(status, 403);
    // Version 1, with its own event format, as a target.
    let (status, v) = upgrade(&server, &alice, &v9, "1").await;
    assert_eq!(status, 200, "{v}");
    let v1 = v["replacement_room"].as_str().unwrap().to_owned();
    assert_eq!(
        content(&server, &alice, &v1, "m.room.create").await["room_version"],
        "1"
    );
    server.say(&alice, &v1, "m1", "still here").await;
}

/// A room restricted to a space's members stays so after the upgrade: the
/// space's members join the new room without an invite.
async fn restricted_rooms_stay_open_to_the_space(backend: Backend) {
    let server = TestServer::start(backend).await;
    let alice = server.register_token("alice").await;
    let bob = server.register_token("bob").await;
    let space = server
        .create_room(
            &alice,
            json!({ "preset": "public_chat", "creation_content": { "type": "m.space" } }),
        )
        .await;
    server.join(&bob, &space).await;
    let old = server
        .create_room(
            &alice,
            json!({
                "room_version": "10",
                "initial_state": [{
                    "type": "m.room.join_rules", "state_key": "",
                    "content": { "join_rule": "restricted",
                                 "allow": [{ "type": "m.room_membership", "room_id": space }] }
                }],
            }),
        )
        .await;
    server.join(&bob, &old).await;
    let (status, v) = upgrade(&server, &alice, &old, "12").await;
    assert_eq!(status, 200, "{v}");
    let new = v["replacement_room"].as_str().unwrap();
    let rules = content(&server, &alice, new, "m.room.join_rules").await;
    assert_eq!(rules["join_rule"], "restricted");
    assert_eq!(rules["allow"][0]["room_id"], space.as_str());
    server.join(&bob, new).await;
    server.say(&bob, new, "s1", "in the new room").await;

    // A space upgraded keeps its type and its children (not removed ones).
    for (child, content) in [
        (new, json!({ "via": ["localhost"] })),
        (old.as_str(), json!({})),
    ] {
        let (status, v) = server
            .send_state(&alice, &space, "m.space.child", child, content)
            .await;
        assert_eq!(status, 200, "{v}");
    }
    let (status, v) = upgrade(&server, &alice, &space, "12").await;
    assert_eq!(status, 200, "{v}");
    let new_space = v["replacement_room"].as_str().unwrap();
    let create = content(&server, &alice, new_space, "m.room.create").await;
    assert_eq!(create["type"], "m.space");
    let (status, child) = state(&server, &alice, new_space, "m.space.child", new).await;
    assert_eq!(status, 200, "{child}");
    assert_eq!(child["via"], json!(["localhost"]));
    let (status, _) = state(&server, &alice, new_space, "m.space.child", &old).await;
    assert_eq!(status, 404);
}

both_backends!(
    restricted_rooms_stay_open_to_the_space => restricted_rooms_stay_open_to_the_space,
    upgrade_carries_the_room_over => upgrade_carries_the_room_over,
    upgrades_between_any_versions => upgrades_between_any_versions,
);
