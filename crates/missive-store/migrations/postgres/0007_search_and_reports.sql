-- Server-side search (POST /search) and content reports.
-- Keep in step with ../sqlite/0007_search_and_reports.sql, which explains
-- the tables.
--
-- The search terms are stored as a tsvector whose lexemes are the terms
-- verbatim (missive_core::search normalised them; no text search
-- configuration touches them), behind a GIN index.
CREATE TABLE event_search (
    stream_ordering BIGINT PRIMARY KEY,
    terms           TSVECTOR NOT NULL
);
CREATE INDEX event_search_terms ON event_search USING GIN (terms);

CREATE TABLE search_backfill (next_below BIGINT NOT NULL);
INSERT INTO search_backfill (next_below)
    SELECT COALESCE(MAX(stream_ordering), 0) + 1 FROM events;

CREATE TABLE content_reports (
    report_id   BIGSERIAL PRIMARY KEY,
    reporter    TEXT NOT NULL,
    room_id     TEXT NOT NULL,
    event_id    TEXT,
    reason      TEXT,
    score       BIGINT,
    received_ts BIGINT NOT NULL
);
CREATE INDEX content_reports_room ON content_reports (room_id, received_ts);
