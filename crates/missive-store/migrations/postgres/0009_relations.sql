-- Relations between events: one row per event whose content has an
-- `m.relates_to` with a `rel_type` and an `event_id` (a reply's
-- `m.in_reply_to` alone is no relation here, as in Synapse). Written in
-- the relating event's transaction; redacting the relating event deletes
-- its row (Synapse does too). Keep in step with ../sqlite/0009_relations.sql.
CREATE TABLE event_relations (
    event_id        TEXT PRIMARY KEY,
    room_id         TEXT NOT NULL,
    relates_to      TEXT NOT NULL,
    rel_type        TEXT NOT NULL,
    event_type      TEXT NOT NULL,
    sender          TEXT NOT NULL,
    stream_ordering BIGINT NOT NULL
);
-- /relations pages and bundled aggregations seek on the parent.
CREATE INDEX event_relations_parent ON event_relations (relates_to, rel_type, stream_ordering);
-- "Has this user replied in the thread?" without walking the thread.
CREATE INDEX event_relations_sender ON event_relations (relates_to, sender);

-- One row per thread root with its latest reply and reply count, kept with
-- each `m.thread` relation written or redacted: /threads reads roots by
-- latest activity, and a bundled thread summary is one row.
CREATE TABLE threads (
    thread_id       TEXT PRIMARY KEY,
    room_id         TEXT NOT NULL,
    latest_event_id TEXT NOT NULL,
    latest_pos      BIGINT NOT NULL,
    reply_count     BIGINT NOT NULL
);
CREATE INDEX threads_by_activity ON threads (room_id, latest_pos);
