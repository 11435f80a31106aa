//! Full-text search (matching, ranking, paging, filters, whose rooms,
//! redactions, batched writes, the backfill) and content reports.

use super::*;

const ALL_TYPES: [&str; 3] = ["m.room.message", "m.room.name", "m.room.topic"];

fn message(room: &str, id: &str, prev: &str, terms: &str) -> NewEvent {
    NewEvent {
        search_terms: Some(terms.into()),
        ..event(room, id, "m.room.message", None, &[prev])
    }
}

fn query(user: &str, groups: &[&[&str]], order: SearchOrder) -> SearchQuery {
    SearchQuery {
        user_id: user.try_into().unwrap(),
        terms: groups
            .iter()
            .map(|g| g.iter().map(|t| t.to_string()).collect())
            .collect(),
        types: ALL_TYPES.iter().map(|t| t.to_string()).collect(),
        rooms: None,
        not_rooms: Vec::new(),
        senders: None,
        not_senders: Vec::new(),
        order,
    }
}

async fn found(store: &SqlStore, q: &SearchQuery, from: SearchFrom, limit: i64) -> Vec<String> {
    store
        .search_events(q, from, limit)
        .await
        .unwrap()
        .into_iter()
        .map(|h| h.event.event_id)
        .collect()
}

pub async fn search_matches_ranks_pages_and_filters(store: SqlStore) {
    let join = create_room(&store, "!a:test").await;
    store
        .persist_event(message("!a:test", "$m1", &join, "bonjour monde"))
        .await
        .unwrap();
    store
        .persist_event(message("!a:test", "$m2", "$m1", "bonjour bonjour"))
        .await
        .unwrap();
    store
        .persist_event(message("!a:test", "$m3", "$m2", "au revoir"))
        .await
        .unwrap();
    let alice = "@alice:test";

    let rank = query(alice, &[&["bonjour"]], SearchOrder::Rank);
    assert_eq!(
        found(&store, &rank, SearchFrom::Start, 10).await,
        ["$m2", "$m1"],
        "more occurrences rank higher"
    );
    let hits = store
        .search_events(&rank, SearchFrom::Start, 10)
        .await
        .unwrap();
    assert!(hits[0].rank > hits[1].rank, "{hits:?}");
    assert_eq!(store.count_search_matches(&rank).await.unwrap(), 2);
    assert_eq!(
        found(&store, &rank, SearchFrom::Offset(1), 10).await,
        ["$m1"]
    );

    let recent = query(alice, &[&["revoir", "bonjour"]], SearchOrder::Recent);
    assert_eq!(
        found(&store, &recent, SearchFrom::Start, 2).await,
        ["$m3", "$m2"]
    );
    let m2 = store.event(eid("$m2")).await.unwrap().unwrap();
    assert_eq!(
        found(&store, &recent, SearchFrom::Before(m2.stream_ordering), 10).await,
        ["$m1"],
        "a group matches on any of its terms"
    );
    let both = query(alice, &[&["bonjour"], &["monde"]], SearchOrder::Recent);
    assert_eq!(
        found(&store, &both, SearchFrom::Start, 10).await,
        ["$m1"],
        "every group must match"
    );
    assert!(
        found(
            &store,
            &query(alice, &[&["bon"]], SearchOrder::Rank),
            SearchFrom::Start,
            10
        )
        .await
        .is_empty(),
        "terms match whole"
    );

    let filtered = |f: &dyn Fn(&mut SearchQuery)| {
        let mut q = query(alice, &[&["bonjour"]], SearchOrder::Recent);
        f(&mut q);
        q
    };
    let cases: Vec<(SearchQuery, Vec<&str>)> = vec![
        (
            filtered(&|q| q.not_senders = vec![user_id!("@alice:test").to_owned()]),
            vec![],
        ),
        (
            filtered(&|q| q.senders = Some(vec![user_id!("@bob:test").to_owned()])),
            vec![],
        ),
        (
            filtered(&|q| q.senders = Some(vec![user_id!("@alice:test").to_owned()])),
            vec!["$m2", "$m1"],
        ),
        (
            filtered(&|q| q.rooms = Some(vec![room_id!("!b:test").to_owned()])),
            vec![],
        ),
        (
            filtered(&|q| q.rooms = Some(vec![room_id!("!a:test").to_owned()])),
            vec!["$m2", "$m1"],
        ),
        (
            filtered(&|q| q.not_rooms = vec![room_id!("!a:test").to_owned()]),
            vec![],
        ),
        (filtered(&|q| q.types = vec!["m.room.topic".into()]), vec![]),
    ];
    for (q, expected) in cases {
        assert_eq!(
            found(&store, &q, SearchFrom::Start, 10).await,
            expected,
            "{q:?}"
        );
        assert_eq!(
            store.count_search_matches(&q).await.unwrap(),
            expected.len() as i64
        );
    }
}

pub async fn search_covers_members_up_to_their_leave_and_not_redactions(store: SqlStore) {
    let join = create_room(&store, "!a:test").await;
    store
        .persist_event(message("!a:test", "$m1", &join, "secret"))
        .await
        .unwrap();
    let bob = "@bob:test";
    let q = query(bob, &[&["secret"]], SearchOrder::Recent);
    assert!(
        found(&store, &q, SearchFrom::Start, 10).await.is_empty(),
        "not a member"
    );
    store
        .persist_event(member("!a:test", "$bj", bob, "join", &["$m1"]))
        .await
        .unwrap();
    store
        .persist_event(message("!a:test", "$m2", "$bj", "secret"))
        .await
        .unwrap();
    store
        .persist_event(member("!a:test", "$bl", bob, "leave", &["$m2"]))
        .await
        .unwrap();
    store
        .persist_event(message("!a:test", "$m3", "$bl", "secret"))
        .await
        .unwrap();
    // Which of the events before the leave bob may see is the server's
    // visibility gate's call; nothing after it is even read.
    assert_eq!(
        found(&store, &q, SearchFrom::Start, 10).await,
        ["$m2", "$m1"]
    );
    let alice = query("@alice:test", &[&["secret"]], SearchOrder::Recent);
    assert_eq!(
        found(&store, &alice, SearchFrom::Start, 10).await,
        ["$m3", "$m2", "$m1"]
    );

    let mut redaction = event("!a:test", "$red", "m.room.redaction", None, &["$m3"]);
    redaction.redaction = Some(("$m2".into(), r#"{"redacted":true}"#.into()));
    store.persist_event(redaction).await.unwrap();
    assert_eq!(
        found(&store, &alice, SearchFrom::Start, 10).await,
        ["$m3", "$m1"]
    );
    assert_eq!(store.count_search_matches(&alice).await.unwrap(), 2);
}

pub async fn batched_messages_are_indexed(store: SqlStore) {
    let a = create_room(&store, "!a:test").await;
    let b = create_room(&store, "!b:test").await;
    let first = message("!a:test", "$m1", &a, "rapport annuel");
    let second = message("!b:test", "$m2", &b, "rapport mensuel");
    let mut tx = store.begin().await.unwrap();
    let last = store
        .next_positions(&mut tx, 2, crate::StreamKind::Events)
        .await
        .unwrap();
    let written = store
        .insert_messages(&mut tx, &[(&first, last.prev()), (&second, last)])
        .await
        .unwrap();
    tx.commit().await.unwrap();
    assert_eq!(written.len(), 2, "both went the batched way");
    let q = query("@alice:test", &[&["rapport"]], SearchOrder::Recent);
    assert_eq!(
        found(&store, &q, SearchFrom::Start, 10).await,
        ["$m2", "$m1"]
    );
}

/// Events queued for search and not yet indexed.
async fn queued(store: &SqlStore) -> i64 {
    sqlx::query_scalar("SELECT COUNT(*) FROM search_pending")
        .fetch_one(&store.read)
        .await
        .unwrap()
}

/// Waits (bounded) until the event writer has indexed what it queued: it
/// then waits for the next write, and indexes nothing meanwhile.
async fn writer_indexed(store: &SqlStore) {
    let mut waits = 0;
    while queued(store).await > 0 {
        waits += 1;
        assert!(waits < 600, "the writer never indexed the queued messages");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

pub async fn the_writer_indexes_queued_messages_once_idle(store: SqlStore) {
    let join = create_room(&store, "!a:test").await;
    store
        .persist_event(message("!a:test", "$m1", &join, "circulaire urgente"))
        .await
        .unwrap();
    writer_indexed(&store).await;
    let q = query("@alice:test", &[&["circulaire"]], SearchOrder::Recent);
    assert_eq!(found(&store, &q, SearchFrom::Start, 10).await, ["$m1"]);
}

pub async fn a_search_indexes_what_is_queued_first(store: SqlStore) {
    let join = create_room(&store, "!a:test").await;
    store
        .persist_event(message("!a:test", "$m0", &join, "note de service"))
        .await
        .unwrap();
    writer_indexed(&store).await;
    // Written in a transaction of its own, as a crash would leave it:
    // queued, and the writer task idle.
    let event = message("!a:test", "$m1", "$m0", "arrete prefectoral");
    let mut tx = store.begin().await.unwrap();
    let pos = store
        .next_positions(&mut tx, 1, crate::StreamKind::Events)
        .await
        .unwrap();
    store.insert_event(&mut tx, &event, pos).await.unwrap();
    tx.commit().await.unwrap();
    assert_eq!(queued(&store).await, 1);
    let q = query("@alice:test", &[&["prefectoral"]], SearchOrder::Rank);
    assert_eq!(store.count_search_matches(&q).await.unwrap(), 1);
    assert_eq!(queued(&store).await, 0, "the search indexed it first");
    assert_eq!(found(&store, &q, SearchFrom::Start, 10).await, ["$m1"]);
}

pub async fn older_events_are_indexed_by_the_backfill(store: SqlStore) {
    let join = create_room(&store, "!a:test").await;
    let old = |id: &str, prev: &str, body: &str| NewEvent {
        json: format!(r#"{{"type":"m.room.message","content":{{"body":"{body}"}}}}"#),
        ..event("!a:test", id, "m.room.message", None, &[prev])
    };
    let mut prev = join;
    // More than one step of the backfill (500 events).
    for i in 0..520 {
        let id = format!("$old{i}");
        let body = if i % 2 == 0 { "pair" } else { "impair" };
        store.persist_event(old(&id, &prev, body)).await.unwrap();
        prev = id;
    }
    // As if the index had been created after those events.
    let upto = store.current_position().await.unwrap();
    sqlx::query("UPDATE search_backfill SET next_below = $1")
        .bind(upto.next())
        .execute(&store.write)
        .await
        .unwrap();
    let q = query("@alice:test", &[&["pair"]], SearchOrder::Recent);
    assert_eq!(store.count_search_matches(&q).await.unwrap(), 0);

    let terms = |event_type: &str, json: &str| -> Option<String> {
        assert_eq!(event_type, "m.room.message");
        let v: serde_json::Value = serde_json::from_str(json).ok()?;
        Some(v["content"]["body"].as_str()?.to_owned())
    };
    assert!(
        store.backfill_search_index(&terms).await.unwrap(),
        "more to do"
    );
    assert!(
        store.count_search_matches(&q).await.unwrap() > 0,
        "newest first"
    );
    assert!(!store.backfill_search_index(&terms).await.unwrap(), "done");
    assert_eq!(store.count_search_matches(&q).await.unwrap(), 260);
    assert!(!store.backfill_search_index(&terms).await.unwrap());
    assert_eq!(store.count_search_matches(&q).await.unwrap(), 260);
}

pub async fn reports_are_kept_newest_first(store: SqlStore) {
    let event_report = NewReport {
        reporter: user_id!("@alice:test").to_owned(),
        room_id: room_id!("!a:test").to_owned(),
        event_id: Some(event_id!("$e").to_owned()),
        reason: Some("spam".into()),
        score: Some(-100),
        received_ts: 10,
    };
    let room_report = NewReport {
        event_id: None,
        score: None,
        reason: Some("whole room".into()),
        received_ts: 20,
        ..event_report.clone()
    };
    assert_eq!(store.count_reports().await.unwrap(), 0);
    let first = store.add_report(&event_report).await.unwrap();
    let second = store.add_report(&room_report).await.unwrap();
    assert!(second > first);
    assert_eq!(store.count_reports().await.unwrap(), 2);
    let all = store.reports(0, 10).await.unwrap();
    assert_eq!(
        all,
        [
            ContentReport {
                report_id: second,
                report: room_report,
            },
            ContentReport {
                report_id: first,
                report: event_report.clone(),
            },
        ]
    );
    assert_eq!(
        store.reports(1, 10).await.unwrap(),
        [ContentReport {
            report_id: first,
            report: event_report,
        }]
    );
}
