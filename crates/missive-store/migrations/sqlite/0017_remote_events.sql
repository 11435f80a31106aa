-- Events received over federation (keep in step with the other dialect).
--
-- Outliers (events known by ID but not part of the room's timeline: the
-- state and auth chain a join brings, auth events fetched to check another
-- event) live in `events` with positions of zero or less, taken from the
-- second counter row, downwards: every query by ID or by state finds them,
-- and no timeline read (positions above zero) returns them.
INSERT INTO stream_counter (id, position) VALUES (2, 0);

-- Events that failed the authorization rules: kept so that they are not
-- fetched again and an event citing one fails too; never served.
CREATE TABLE rejected_events (
    event_id TEXT PRIMARY KEY,
    room_id  TEXT NOT NULL,
    json     TEXT NOT NULL,
    reason   TEXT NOT NULL
);

-- Inbound transactions by origin and transaction ID, with the answer
-- given: a repeat gets the same answer and changes nothing.
CREATE TABLE federation_inbound_txns (
    origin      TEXT NOT NULL,
    txn_id      TEXT NOT NULL,
    response    TEXT NOT NULL,
    received_ts INTEGER NOT NULL,
    PRIMARY KEY (origin, txn_id)
);
