//! The storage conformance suite: behaviour every backend must share.
//!
//! Each check is a plain async function taking a fresh, empty store, so
//! backends run the same checks through [`store_conformance_tests!`]. Checks
//! panic (assert) on failure. One file per domain.
//!
//! Compiled only with the crate's `testing` feature. This is test code: a
//! failed `unwrap` is a failed check with its location, which is what we want.
#![allow(clippy::unwrap_used)]

mod accounts;
mod e2ee;
mod federation_outbox;
mod media;
mod pushers;
mod relations;
mod remote_devices;
mod remote_events;
mod rooms;
mod search;
mod server_keys;
mod streams;
mod sync_batch;
mod threepids;

pub use self::{
    accounts::*, e2ee::*, federation_outbox::*, media::*, pushers::*, relations::*,
    remote_devices::*, remote_events::*, rooms::*, search::*, server_keys::*, streams::*,
    sync_batch::*, threepids::*,
};

use crate::*;
pub(crate) use ruma::{
    device_id, event_id, events::room::member::MembershipState, room_alias_id, room_id, user_id,
};

/// An event ID the test holds as text.
pub(crate) fn eid(id: &str) -> &ruma::EventId {
    <&ruma::EventId>::try_from(id).unwrap()
}

/// Room IDs the tests wrote as text, typed for the batch reads.
pub(crate) fn ids(rooms: &[String]) -> Vec<ruma::OwnedRoomId> {
    rooms
        .iter()
        .map(|r| ruma::OwnedRoomId::try_from(r.as_str()).unwrap())
        .collect()
}

pub(crate) fn user(id: &str) -> NewUser {
    NewUser {
        user_id: id.into(),
        password_hash: Some("hash".into()),
        is_admin: false,
        is_guest: false,
        displayname: Some(
            id.trim_start_matches('@')
                .split(':')
                .next()
                .unwrap_or("")
                .into(),
        ),
        created_ts: 1,
    }
}

/// A minimal event for `room` built on `prev`.
pub fn event(room: &str, id: &str, ty: &str, state_key: Option<&str>, prev: &[&str]) -> NewEvent {
    NewEvent {
        event_id: id.into(),
        room_id: room.into(),
        sender: "@alice:test".into(),
        event_type: ty.into(),
        state_key: state_key.map(Into::into),
        membership: None,
        join_rule: None,
        depth: 1,
        origin_server_ts: 1000,
        json: format!(r#"{{"type":"{ty}","event_id":"{id}"}}"#),
        prev_events: prev.iter().map(|p| p.to_string()).collect(),
        ..Default::default()
    }
}

pub(crate) fn member(
    room: &str,
    id: &str,
    user: &str,
    membership: &str,
    prev: &[&str],
) -> NewEvent {
    NewEvent {
        membership: Some(membership.into()),
        ..event(room, id, "m.room.member", Some(user), prev)
    }
}

/// Creates `room` with a create event and alice's join; returns the last event ID.
pub async fn create_room(store: &SqlStore, room: &str) -> String {
    let mut create = event(
        room,
        &format!("$create{room}"),
        "m.room.create",
        Some(""),
        &[],
    );
    create.create_room = Some(RoomRecord {
        room_id: room.into(),
        room_version: "11".into(),
        creator: "@alice:test".into(),
        published: false,
        join_rule: "invite".into(),
    });
    let join = member(
        room,
        &format!("$join{room}"),
        "@alice:test",
        "join",
        &[&format!("$create{room}")],
    );
    store.persist_events(vec![create, join]).await.unwrap();
    format!("$join{room}")
}

pub(crate) fn otk(id: &str, json: &str) -> OneTimeKey {
    OneTimeKey {
        algorithm: "signed_curve25519".into(),
        key_id: id.into(),
        key_json: json.into(),
    }
}

/// Generates one `#[tokio::test]` per conformance check, each on a fresh
/// store from `$make`: an async expression yielding the `SqlStore` and a
/// guard kept until the check ends, then dropped (a SQLite store's temporary
/// directory, removed on drop, even when the check fails).
#[macro_export]
macro_rules! store_conformance_tests {
    ($make:expr) => {
        $crate::store_conformance_tests!(@tests $make;
            accounts_are_unique_and_updatable,
            user_search_respects_shared_rooms,
            tokens_die_with_their_device,
            openid_tokens_expire,
            guests_upgrade_once,
            events_extend_the_room_and_its_state,
            concurrent_events_commit_together_and_conflicts_fail_alone,
            plain_messages_are_written_together,
            long_state_chains_resolve,
            memberships_track_the_latest_event,
            push_targets_bring_profiles_and_rules_of_joined_members,
            push_targets_follow_joins_leaves_names_and_rules,
            push_targets_follow_pushers,
            a_joined_room_starts_with_its_join_and_the_state_before_it,
            an_event_on_a_fork_keeps_both_tips_and_the_resolved_state,
            rejections_and_inbound_transactions_are_kept,
            an_invite_to_a_remote_room_is_a_membership_outside_the_timeline,
            backfilled_history_is_kept_in_order,
            push_actions_for_a_large_room_are_all_kept,
            timelines_paginate_both_ways,
            transactions_and_redactions_apply_once,
            account_data_streams_changes,
            each_kind_of_change_is_seen_from_just_before_it,
            receipts_only_move_forward,
            typing_expires,
            small_tables_round_trip,
            room_activity_is_indexed,
            sync_reads_for_many_rooms_match_per_room_reads,
            unread_counts_fold_and_stay_exact,
            device_sync_counts_match_the_separate_reads,
            one_time_keys_are_claimed_once_then_fallback,
            device_list_changes_reach_room_members,
            device_lifecycle_is_a_device_list_change,
            to_device_messages_wait_for_acknowledgement,
            backups_keep_the_best_session_copy,
            dehydrated_devices_replace_each_other,
            media_records_share_blobs_and_count_quota,
            pushers_are_keyed_tied_to_devices_and_advance,
            one_process_delivers_pushes,
            search_matches_ranks_pages_and_filters,
            search_covers_members_up_to_their_leave_and_not_redactions,
            batched_messages_are_indexed,
            the_writer_indexes_queued_messages_once_idle,
            a_search_indexes_what_is_queued_first,
            older_events_are_indexed_by_the_backfill,
            reports_are_kept_newest_first,
            relations_are_indexed_paged_and_redacted,
            thread_unread_counts_follow_threaded_receipts,
            threepid_sessions_validate_once_with_their_token,
            threepids_belong_to_one_account,
            identity_keys_tokens_and_pending_invites,
            events_are_found_by_time,
            server_keys_are_cached_by_validity,
            outbound_pdus_are_queued_with_their_events,
            outbound_transactions_batch_retry_and_acknowledge,
            room_servers_are_the_joined_members_servers,
            one_process_sends_to_other_servers,
            remote_device_lists_are_replaced_updated_and_forgotten,
        );
    };
    (@tests $make:expr; $($name:ident),* $(,)?) => {
        $(
            #[tokio::test]
            async fn $name() {
                let (store, _guard) = $make.await;
                $crate::conformance::$name(store).await;
            }
        )*
    };
}
