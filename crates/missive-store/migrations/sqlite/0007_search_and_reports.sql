-- Server-side search (POST /search) and content reports.
-- Keep in step with ../postgres/0007_search_and_reports.sql.
--
-- `event_search` holds the search terms of each searchable event (the text
-- of m.room.message bodies, room names and topics, stemmed and folded by
-- missive_core::search), its rowid being the event's stream_ordering. The
-- terms are already normalised, so the `ascii` tokenizer only splits them
-- at spaces: SQLite and PostgreSQL match exactly the same terms. A
-- redaction deletes the row.
CREATE VIRTUAL TABLE event_search USING fts5(terms, tokenize = 'ascii');

-- Events written before this migration are indexed after start, newest
-- first, by a background task: it indexes those below `next_below`.
CREATE TABLE search_backfill (next_below INTEGER NOT NULL);
INSERT INTO search_backfill (next_below)
    SELECT COALESCE(MAX(stream_ordering), 0) + 1 FROM events;

-- Reports of events (`event_id` set) and of rooms (`event_id` NULL), kept
-- for the server's admins. `score` is the optional -100..0 of the older
-- spec, which clients still send.
CREATE TABLE content_reports (
    report_id   INTEGER PRIMARY KEY,
    reporter    TEXT NOT NULL,
    room_id     TEXT NOT NULL,
    event_id    TEXT,
    reason      TEXT,
    score       INTEGER,
    received_ts INTEGER NOT NULL
);
CREATE INDEX content_reports_room ON content_reports (room_id, received_ts);
