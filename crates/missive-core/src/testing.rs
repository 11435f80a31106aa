//! Test helpers shared by the core's unit tests: rooms built event by
//! event with the real event builder and a real signing key.

use std::collections::HashMap;

use ruma::{
    MilliSecondsSinceUnixEpoch, OwnedEventId, RoomVersionId, UserId,
    events::{StateEventType, TimelineEventType},
    owned_server_name, room_id,
    room_version_rules::{RoomIdFormatVersion, RoomVersionRules},
    signatures::Ed25519KeyPair,
    user_id,
};
use serde_json::json;

use crate::{
    CoreError, Pdu,
    event_builder::{EventTemplate, RoomContext, Signer, StateEvents, build_event},
};

pub(crate) fn signer() -> Signer {
    let doc = Ed25519KeyPair::generate();
    Signer {
        server_name: owned_server_name!("example.org"),
        key: Ed25519KeyPair::from_der(&doc, "k1".into()).unwrap(),
    }
}

/// A room built event by event in memory, as the server does.
pub(crate) struct Room {
    pub(crate) room_id: Option<ruma::OwnedRoomId>,
    pub(crate) rules: RoomVersionRules,
    pub(crate) signer: Signer,
    pub(crate) state: StateEvents,
    pub(crate) prev: Vec<Pdu>,
    pub(crate) events: HashMap<OwnedEventId, Pdu>,
}

impl Room {
    pub(crate) fn new() -> Self {
        Self::of_version(RoomVersionId::V11)
    }

    pub(crate) fn of_version(version: RoomVersionId) -> Self {
        let rules = version.rules().unwrap();
        let mut room = Room {
            // Version 12 names the room after its create event.
            room_id: (rules.room_id_format == RoomIdFormatVersion::V1)
                .then(|| room_id!("!room:example.org").to_owned()),
            rules,
            signer: signer(),
            state: StateEvents::new(),
            prev: Vec::new(),
            events: HashMap::new(),
        };
        let alice = user_id!("@alice:example.org");
        let mut create = json!({"room_version": version.as_str()});
        if !room.rules.authorization.use_room_create_sender {
            create["creator"] = json!(alice);
        }
        let create = room
            .send(
                alice,
                EventTemplate::state(StateEventType::RoomCreate, "", create),
            )
            .unwrap();
        room.room_id.get_or_insert(create.room_id);
        room.send(alice, member("join")).map(|_| ()).unwrap();
        // Version 12 creators have unlimited power and are not listed.
        let users = if room.rules.authorization.explicitly_privilege_room_creators {
            json!({})
        } else {
            json!({"@alice:example.org": 100})
        };
        room.send(
            alice,
            EventTemplate::state(
                StateEventType::RoomPowerLevels,
                "",
                json!({"users": users, "state_default": 50, "events_default": 0}),
            ),
        )
        .unwrap();
        room.send(
            alice,
            EventTemplate::state(
                StateEventType::RoomJoinRules,
                "",
                json!({"join_rule": "invite"}),
            ),
        )
        .unwrap();
        room
    }

    pub(crate) fn send(
        &mut self,
        sender: &UserId,
        template: EventTemplate,
    ) -> Result<Pdu, CoreError> {
        let target = template.redaction_target()?;
        let ctx = RoomContext {
            room_id: self.room_id.as_deref(),
            rules: &self.rules,
            prev_events: &self.prev,
            state: &self.state,
            redaction_target: target.and_then(|id| self.events.get(&id)),
        };
        let pdu = build_event(
            template,
            sender,
            &ctx,
            &self.signer,
            MilliSecondsSinceUnixEpoch::now(),
        )?;
        if let Some(key) = &pdu.state_key {
            self.state.insert(
                (pdu.event_type.to_string().into(), key.clone()),
                pdu.clone(),
            );
        }
        self.prev = vec![pdu.clone()];
        self.events.insert(pdu.event_id.clone(), pdu.clone());
        Ok(pdu)
    }
}

pub(crate) fn member(membership: &str) -> EventTemplate {
    EventTemplate::state(
        StateEventType::RoomMember,
        "@alice:example.org",
        json!({"membership": membership}),
    )
}

pub(crate) fn member_of(user: &str, membership: &str) -> EventTemplate {
    EventTemplate::state(
        StateEventType::RoomMember,
        user,
        json!({"membership": membership}),
    )
}

pub(crate) fn text(body: &str) -> EventTemplate {
    EventTemplate::message(
        TimelineEventType::RoomMessage,
        json!({"msgtype": "m.text", "body": body}),
    )
}

/// A room where bob (power 0) has joined alice's room.
pub(crate) fn room_with_bob_in(version: RoomVersionId) -> (Room, &'static UserId) {
    let mut room = Room::of_version(version);
    let bob = user_id!("@bob:example.org");
    room.send(
        user_id!("@alice:example.org"),
        member_of(bob.as_str(), "invite"),
    )
    .unwrap();
    room.send(bob, member_of(bob.as_str(), "join")).unwrap();
    (room, bob)
}
