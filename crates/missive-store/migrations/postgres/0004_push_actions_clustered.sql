-- The unread count of every sync reads `highlight` from the key's index
-- (an index-only scan) instead of visiting the table for each counted row.
-- Keep in step with ../sqlite/0004_push_actions_clustered.sql.

ALTER TABLE event_push_actions
    DROP CONSTRAINT event_push_actions_pkey,
    ADD PRIMARY KEY (user_id, room_id, stream_ordering) INCLUDE (highlight);
