//! What a guest account may call. Guests (`register?kind=guest`, when the
//! server allows them) read and talk in rooms open to guests and keep
//! their encryption working; everything else (creating rooms, account
//! data, devices, directories, media uploads, key backup...) answers 403
//! `M_GUEST_ACCESS_FORBIDDEN`, the endpoints Synapse opens to guests being
//! the reference.

use std::any::TypeId;

use ruma::api::client::{
    account::whoami,
    context::get_context,
    filter::{create_filter, get_filter},
    keys::{claim_keys, get_key_changes, get_keys, upload_keys},
    membership::{
        get_member_events, join_room_by_id, join_room_by_id_or_alias, joined_members, leave_room,
    },
    message::{get_message_events, send_message_event},
    presence::{get_presence, set_presence},
    profile::{get_avatar_url, get_display_name, get_profile, set_avatar_url, set_display_name},
    push::get_pushrules_all,
    read_marker::set_read_marker,
    receipt::create_receipt,
    relations::{
        get_relating_events, get_relating_events_with_rel_type,
        get_relating_events_with_rel_type_and_event_type,
    },
    room::get_room_event,
    session::{logout, logout_all},
    state::{get_state_event_for_key, get_state_events, send_state_event},
    sync::sync_events,
    threads::get_threads,
    to_device::send_event_to_device,
    typing::create_typing_event,
    voip::get_turn_server_info,
};

/// Whether a guest may call endpoint `T`.
pub fn guest_may_call<T: 'static>() -> bool {
    let allowed = [
        TypeId::of::<sync_events::v3::Request>(),
        TypeId::of::<get_message_events::v3::Request>(),
        TypeId::of::<get_room_event::v3::Request>(),
        TypeId::of::<get_context::v3::Request>(),
        TypeId::of::<get_state_events::v3::Request>(),
        TypeId::of::<get_state_event_for_key::v3::Request>(),
        TypeId::of::<get_member_events::v3::Request>(),
        TypeId::of::<joined_members::v3::Request>(),
        TypeId::of::<join_room_by_id::v3::Request>(),
        TypeId::of::<join_room_by_id_or_alias::v3::Request>(),
        TypeId::of::<leave_room::v3::Request>(),
        TypeId::of::<send_message_event::v3::Request>(),
        TypeId::of::<send_state_event::v3::Request>(),
        TypeId::of::<create_typing_event::v3::Request>(),
        TypeId::of::<create_receipt::v3::Request>(),
        TypeId::of::<set_read_marker::v3::Request>(),
        TypeId::of::<get_presence::v3::Request>(),
        TypeId::of::<set_presence::v3::Request>(),
        TypeId::of::<get_profile::v3::Request>(),
        TypeId::of::<get_display_name::v3::Request>(),
        TypeId::of::<get_avatar_url::v3::Request>(),
        TypeId::of::<set_display_name::v3::Request>(),
        TypeId::of::<set_avatar_url::v3::Request>(),
        TypeId::of::<whoami::v3::Request>(),
        TypeId::of::<logout::v3::Request>(),
        TypeId::of::<logout_all::v3::Request>(),
        TypeId::of::<get_pushrules_all::v3::Request>(),
        TypeId::of::<create_filter::v3::Request>(),
        TypeId::of::<get_filter::v3::Request>(),
        TypeId::of::<upload_keys::v3::Request>(),
        TypeId::of::<get_keys::v3::Request>(),
        TypeId::of::<claim_keys::v3::Request>(),
        TypeId::of::<get_key_changes::v3::Request>(),
        TypeId::of::<send_event_to_device::v3::Request>(),
        TypeId::of::<get_relating_events::v1::Request>(),
        TypeId::of::<get_relating_events_with_rel_type::v1::Request>(),
        TypeId::of::<get_relating_events_with_rel_type_and_event_type::v1::Request>(),
        TypeId::of::<get_threads::v1::Request>(),
        // Answered only where MISSIVE_TURN_GUESTS allows it.
        TypeId::of::<get_turn_server_info::v3::Request>(),
    ];
    allowed.contains(&TypeId::of::<T>())
}

#[cfg(test)]
mod tests {
    use ruma::api::client::{account::register, room::create_room};

    use super::*;

    #[test]
    fn guests_talk_but_do_not_create() {
        assert!(guest_may_call::<sync_events::v3::Request>());
        assert!(guest_may_call::<send_message_event::v3::Request>());
        assert!(!guest_may_call::<create_room::v3::Request>());
        assert!(!guest_may_call::<register::v3::Request>());
    }
}
