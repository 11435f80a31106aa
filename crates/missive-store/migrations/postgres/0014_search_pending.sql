-- Searchable events written but not yet in the full-text index, with their
-- terms. An event's transaction only queues it here (a plain B-tree row):
-- adding it to the index, which on SQLite flushes an FTS5 segment at every
-- commit, is done after the commit, many events at a time, by the event
-- writer when idle and by every search before it runs. A crash between the
-- two loses nothing: the rows wait here. Keep in step with the other
-- dialect's 0014_search_pending.sql.
CREATE TABLE search_pending (
    stream_ordering BIGINT PRIMARY KEY,
    terms           TEXT NOT NULL
);
