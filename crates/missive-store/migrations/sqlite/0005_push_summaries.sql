-- Unread counts folded up to a position, so that a sync counts only the
-- push actions after it instead of every unread one (a busy room nobody
-- reads would otherwise cost more on every sync, forever).
-- Keep in step with ../postgres/0005_push_summaries.sql.
--
-- `notifications` and `highlights` count the user's push actions in the
-- room at positions in (counted_from, counted_upto]. They are the start of
-- the unread count only while the user's unread start (read receipt, else
-- membership event) is still `counted_from`; a moved receipt makes the row
-- stale, and the next count that finds many rows writes a new one.
CREATE TABLE push_summaries (
    user_id       TEXT NOT NULL,
    room_id       TEXT NOT NULL,
    counted_from  INTEGER NOT NULL,
    counted_upto  INTEGER NOT NULL,
    notifications INTEGER NOT NULL,
    highlights    INTEGER NOT NULL,
    PRIMARY KEY (user_id, room_id)
) WITHOUT ROWID;
