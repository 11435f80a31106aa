-- History fetched from other servers with /backfill, from before this
-- server joined a room (keep in step with ../postgres/0020_backfilled_events.sql).
-- The events themselves are outliers in `events`; this table orders them
-- before the room's first timeline event: position -1 is the newest, each
-- older one below it, so /messages pages on into them.
CREATE TABLE backfilled_events (
    room_id  TEXT NOT NULL,
    position INTEGER NOT NULL,
    event_id TEXT NOT NULL,
    PRIMARY KEY (room_id, position)
);
CREATE UNIQUE INDEX backfilled_events_by_id ON backfilled_events (event_id);
