-- Push actions keyed by (user, room, position) in the table itself (WITHOUT
-- ROWID). Keep in step with ../postgres/0004_push_actions_clustered.sql.
--
-- Every sync counts a user's unread push actions per room, and the count
-- needs `highlight`: with a rowid table each counted row was an index entry
-- plus a lookup in the table. Clustered on the key, a count reads the rows
-- in order from the same pages, and each write is one b-tree instead of two.

CREATE TABLE event_push_actions_clustered (
    room_id         TEXT NOT NULL,
    user_id         TEXT NOT NULL,
    stream_ordering INTEGER NOT NULL,
    highlight       INTEGER NOT NULL,
    PRIMARY KEY (user_id, room_id, stream_ordering)
) WITHOUT ROWID;

INSERT INTO event_push_actions_clustered (room_id, user_id, stream_ordering, highlight)
    SELECT room_id, user_id, stream_ordering, highlight FROM event_push_actions;

DROP TABLE event_push_actions;

ALTER TABLE event_push_actions_clustered RENAME TO event_push_actions;
