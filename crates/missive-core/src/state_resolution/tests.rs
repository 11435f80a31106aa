//! State resolution on forks built with the real event builder: a power
//! event beats a concurrent change it revokes, whatever the order.

use ruma::{RoomVersionId, events::StateEventType, user_id};
use serde_json::json;

use super::*;
use crate::{
    event_builder::EventTemplate,
    testing::{Room, member_of},
};

fn state_of(room: &Room) -> StateMap<OwnedEventId> {
    room.state
        .iter()
        .map(|(k, pdu)| (k.clone(), pdu.event_id.clone()))
        .collect()
}

/// Bob, a moderator, changes the topic on one branch while Alice kicks him
/// on the other: the kick (a power event) is applied first, and Bob's
/// topic then fails the authorization rules, whichever order the states
/// come in.
fn a_kick_beats_the_kicked_users_concurrent_change(version: RoomVersionId) {
    let alice = user_id!("@alice:example.org");
    let bob = user_id!("@bob:example.org");
    let mut room = Room::of_version(version);
    room.send(alice, member_of(bob.as_str(), "invite")).unwrap();
    room.send(bob, member_of(bob.as_str(), "join")).unwrap();
    let mut users = json!({"@bob:example.org": 50});
    if !room.rules.authorization.explicitly_privilege_room_creators {
        users["@alice:example.org"] = json!(100);
    }
    room.send(
        alice,
        EventTemplate::state(
            StateEventType::RoomPowerLevels,
            "",
            json!({"users": users, "state_default": 50, "events_default": 0, "kick": 50}),
        ),
    )
    .unwrap();
    let (base_state, base_prev) = (room.state.clone(), room.prev.clone());

    let kick = room.send(alice, member_of(bob.as_str(), "leave")).unwrap();
    let kicked = state_of(&room);
    room.state = base_state;
    room.prev = base_prev;
    let topic = room
        .send(
            bob,
            EventTemplate::state(StateEventType::RoomTopic, "", json!({"topic": "mine"})),
        )
        .unwrap();
    let changed = state_of(&room);

    for states in [[kicked.clone(), changed.clone()], [changed, kicked]] {
        let resolved = resolve(&room.rules, &states, &room.events).unwrap();
        let key = |ty: StateEventType, k: &str| (ty, k.to_owned());
        assert_eq!(
            resolved.get(&key(StateEventType::RoomMember, bob.as_str())),
            Some(&kick.event_id)
        );
        assert_ne!(
            resolved.get(&key(StateEventType::RoomTopic, "")),
            Some(&topic.event_id)
        );
        assert!(resolved.contains_key(&key(StateEventType::RoomCreate, "")));
    }
}

#[test]
fn a_kick_beats_the_kicked_users_concurrent_change_v11() {
    a_kick_beats_the_kicked_users_concurrent_change(RoomVersionId::V11);
}

#[test]
fn a_kick_beats_the_kicked_users_concurrent_change_v12() {
    a_kick_beats_the_kicked_users_concurrent_change(RoomVersionId::V12);
}

#[test]
fn one_state_resolves_to_itself_and_version_1_is_refused() {
    let room = Room::new();
    let state = state_of(&room);
    assert_eq!(
        resolve(&room.rules, std::slice::from_ref(&state), &room.events).unwrap(),
        state
    );
    let v1 = RoomVersionId::V1.rules().unwrap();
    assert!(matches!(
        resolve(&v1, &[state.clone(), state], &room.events),
        Err(ResolveError::UnsupportedVersion)
    ));
}
