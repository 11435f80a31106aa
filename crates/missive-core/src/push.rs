//! Push rule evaluation: does an event notify or highlight a user?

use ruma::{
    OwnedRoomId, OwnedUserId, UInt,
    push::{Action, FlattenedJson, PushConditionPowerLevelsCtx, PushConditionRoomCtx, Ruleset},
    serde::Raw,
};

/// The outcome of a user's push rules for one event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PushOutcome {
    pub notify: bool,
    pub highlight: bool,
}

/// Everything about the room and recipient the rules may look at.
pub struct Recipient {
    pub user_id: OwnedUserId,
    pub display_name: String,
    pub room_id: OwnedRoomId,
    pub member_count: u64,
    pub power_levels: Option<PushConditionPowerLevelsCtx>,
}

/// Evaluates `ruleset` for the client-format event `event`.
pub async fn evaluate(
    ruleset: &Ruleset,
    event: &Raw<serde_json::Value>,
    recipient: Recipient,
) -> PushOutcome {
    evaluate_flattened(ruleset, &FlattenedJson::from_raw(event), recipient).await
}

/// [`evaluate`] for an event flattened once by the caller: a message to a
/// large room is evaluated for every member, and flattening it is most of
/// the cost of one evaluation.
pub async fn evaluate_flattened(
    ruleset: &Ruleset,
    event: &FlattenedJson,
    recipient: Recipient,
) -> PushOutcome {
    let actions = matched_actions(ruleset, event, recipient).await;
    PushOutcome {
        notify: actions.iter().any(|a| a.should_notify()),
        highlight: actions.iter().any(|a| a.is_highlight()),
    }
}

/// The actions of the first rule of `ruleset` that matches (none when no
/// rule does, or for one's own events): what a push gateway is told, its
/// tweaks (sound, highlight) included.
pub async fn matched_actions<'a>(
    ruleset: &'a Ruleset,
    event: &FlattenedJson,
    recipient: Recipient,
) -> &'a [Action] {
    // As `Ruleset::get_match`: one's own events never notify.
    if event.get_str("sender") == Some(recipient.user_id.as_str()) {
        return &[];
    }
    let mut ctx = PushConditionRoomCtx::new(
        recipient.room_id,
        UInt::try_from(recipient.member_count).unwrap_or(UInt::MAX),
        recipient.user_id,
        recipient.display_name,
    );
    if let Some(pl) = recipient.power_levels {
        ctx = ctx.with_power_levels(pl);
    }
    for rule in ruleset {
        if rule.applies(event, &ctx).await {
            return rule.actions();
        }
    }
    &[]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(body: &str, sender: &str) -> Raw<serde_json::Value> {
        let mentions: Vec<&str> = if body.contains("Bob") {
            vec!["@bob:example.org"]
        } else {
            vec![]
        };
        Raw::new(&serde_json::json!({
            "type": "m.room.message",
            "sender": sender,
            "room_id": "!r:example.org",
            "event_id": "$e",
            "origin_server_ts": 1,
            "content": { "msgtype": "m.text", "body": body, "m.mentions": { "user_ids": mentions } },
        }))
        .unwrap()
    }

    fn bob(member_count: u64) -> Recipient {
        Recipient {
            user_id: "@bob:example.org".try_into().unwrap(),
            display_name: "Bob".into(),
            room_id: "!r:example.org".try_into().unwrap(),
            member_count,
            power_levels: None,
        }
    }

    #[test]
    fn default_rules_notify_one_to_one_and_highlight_intentional_mentions() {
        let rules = Ruleset::server_default(ruma::user_id!("@bob:example.org"));
        let rt = tokio_like_block_on;
        let (hello, hi_bob, own) = (
            message("hello", "@alice:example.org"),
            message("hi Bob!", "@alice:example.org"),
            message("hello", "@bob:example.org"),
        );
        let dm = rt(evaluate(&rules, &hello, bob(2)));
        assert!(dm.notify && !dm.highlight);
        let mention = rt(evaluate(&rules, &hi_bob, bob(5)));
        assert!(mention.notify && mention.highlight);
        let own = rt(evaluate(&rules, &own, bob(2)));
        assert!(!own.notify);
    }

    /// Drives a future that never waits on IO to completion.
    fn tokio_like_block_on<F: std::future::Future>(f: F) -> F::Output {
        let waker = std::task::Waker::noop();
        let mut cx = std::task::Context::from_waker(waker);
        let mut f = std::pin::pin!(f);
        loop {
            if let std::task::Poll::Ready(v) = f.as_mut().poll(&mut cx) {
                return v;
            }
        }
    }
}
