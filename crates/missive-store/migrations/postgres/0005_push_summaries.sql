-- Unread counts folded up to a position, so that a sync counts only the
-- push actions after it instead of every unread one (a busy room nobody
-- reads would otherwise cost more on every sync, forever).
-- Keep in step with ../sqlite/0005_push_summaries.sql, which explains the
-- columns.
CREATE TABLE push_summaries (
    user_id       TEXT NOT NULL,
    room_id       TEXT NOT NULL,
    counted_from  BIGINT NOT NULL,
    counted_upto  BIGINT NOT NULL,
    notifications BIGINT NOT NULL,
    highlights    BIGINT NOT NULL,
    PRIMARY KEY (user_id, room_id)
);
