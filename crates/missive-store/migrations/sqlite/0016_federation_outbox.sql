-- The outbound federation queue: PDUs and EDUs waiting to be sent, one
-- ordered queue per destination server (`seq` orders it). A PDU row points
-- at its event (the JSON is read from `events` when it is sent: one copy
-- whatever the number of destinations); an EDU row holds its JSON. Rows
-- taken into the destination's transaction in flight carry its `txn_id`,
-- so a retry (after a crash too) sends the same transaction again; they
-- are deleted once the destination acknowledges it.
-- Keep in step with ../postgres/0016_federation_outbox.sql.
CREATE TABLE federation_outbox (
    seq             INTEGER PRIMARY KEY AUTOINCREMENT,
    destination     TEXT NOT NULL,
    stream_ordering INTEGER,
    edu             TEXT,
    txn_id          TEXT
);
CREATE INDEX federation_outbox_by_destination ON federation_outbox (destination, seq);

-- Per destination: its transaction in flight (if any), the counter its
-- transaction IDs are made from, and its retry state (consecutive failures,
-- and when to try again, in ms since the epoch).
CREATE TABLE federation_destinations (
    destination TEXT PRIMARY KEY,
    txn_id      TEXT,
    txn_counter INTEGER NOT NULL DEFAULT 0,
    failures    INTEGER NOT NULL DEFAULT 0,
    retry_at    INTEGER NOT NULL DEFAULT 0
);
