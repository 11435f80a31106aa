-- Missive initial schema (PostgreSQL). Keep in step with ../sqlite/0001_initial.sql:
-- the same tables and columns, only the dialect differs.

-- One monotonic position shared by every stream (events, account data, receipts,
-- typing, presence). Writers bump it inside their transaction, so positions
-- become visible in commit order and a sync token is a single number.
CREATE TABLE stream_counter (id BIGINT PRIMARY KEY, position BIGINT NOT NULL);
INSERT INTO stream_counter (id, position) VALUES (1, 0);

CREATE TABLE users (
    user_id       TEXT PRIMARY KEY,
    password_hash TEXT,
    is_admin      BIGINT NOT NULL DEFAULT 0,
    deactivated   BIGINT NOT NULL DEFAULT 0,
    displayname   TEXT,
    avatar_url    TEXT,
    created_ts    BIGINT NOT NULL
);

CREATE TABLE devices (
    user_id      TEXT NOT NULL,
    device_id    TEXT NOT NULL,
    display_name TEXT,
    last_seen_ts BIGINT,
    last_seen_ip TEXT,
    PRIMARY KEY (user_id, device_id)
);

-- Only a SHA-256 of each token is kept: a leaked database leaks no session.
CREATE TABLE access_tokens (
    token_hash TEXT PRIMARY KEY,
    user_id    TEXT NOT NULL,
    device_id  TEXT NOT NULL
);
CREATE INDEX access_tokens_device ON access_tokens (user_id, device_id);

CREATE TABLE registration_tokens (
    token        TEXT PRIMARY KEY,
    uses_allowed BIGINT,
    completed    BIGINT NOT NULL DEFAULT 0,
    expiry_ts    BIGINT
);

CREATE TABLE uiaa_sessions (
    session_id TEXT PRIMARY KEY,
    completed  TEXT NOT NULL,
    params     TEXT NOT NULL,
    created_ts BIGINT NOT NULL
);

CREATE TABLE rooms (
    room_id             TEXT PRIMARY KEY,
    room_version        TEXT NOT NULL,
    creator             TEXT NOT NULL,
    published           BIGINT NOT NULL DEFAULT 0,
    join_rule           TEXT NOT NULL DEFAULT 'invite',
    current_state_group BIGINT,
    created_ts          BIGINT NOT NULL
);

CREATE TABLE events (
    stream_ordering  BIGINT PRIMARY KEY,
    event_id         TEXT NOT NULL UNIQUE,
    room_id          TEXT NOT NULL,
    sender           TEXT NOT NULL,
    event_type       TEXT NOT NULL,
    state_key        TEXT,
    membership       TEXT,
    depth            BIGINT NOT NULL,
    origin_server_ts BIGINT NOT NULL,
    state_group      BIGINT NOT NULL,
    json             TEXT NOT NULL,
    redacted_by      TEXT
);
CREATE INDEX events_room_order ON events (room_id, stream_ordering);
CREATE INDEX events_room_state ON events (room_id, event_type, state_key, stream_ordering);

CREATE TABLE event_txns (
    user_id   TEXT NOT NULL,
    device_id TEXT NOT NULL,
    txn_id    TEXT NOT NULL,
    event_id  TEXT NOT NULL,
    PRIMARY KEY (user_id, device_id, txn_id)
);

CREATE TABLE forward_extremities (
    room_id  TEXT NOT NULL,
    event_id TEXT NOT NULL,
    PRIMARY KEY (room_id, event_id)
);

-- State groups: the state after an event. A group stores only its delta to
-- prev_group; every so often a full snapshot bounds the chain length.
CREATE TABLE state_groups (
    group_id   BIGINT PRIMARY KEY,
    room_id    TEXT NOT NULL,
    prev_group BIGINT,
    chain_len  BIGINT NOT NULL
);
CREATE TABLE state_group_entries (
    group_id   BIGINT NOT NULL,
    event_type TEXT NOT NULL,
    state_key  TEXT NOT NULL,
    event_id   TEXT NOT NULL,
    PRIMARY KEY (group_id, event_type, state_key)
);

CREATE TABLE current_state (
    room_id    TEXT NOT NULL,
    event_type TEXT NOT NULL,
    state_key  TEXT NOT NULL,
    event_id   TEXT NOT NULL,
    PRIMARY KEY (room_id, event_type, state_key)
);

-- Each user's current membership per room, with the stream position of the
-- member event: the index sync walks to find a user's rooms.
CREATE TABLE memberships (
    room_id         TEXT NOT NULL,
    user_id         TEXT NOT NULL,
    membership      TEXT NOT NULL,
    event_id        TEXT NOT NULL,
    stream_ordering BIGINT NOT NULL,
    forgotten       BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (room_id, user_id)
);
CREATE INDEX memberships_user ON memberships (user_id, membership);

CREATE TABLE room_aliases (
    alias   TEXT PRIMARY KEY,
    room_id TEXT NOT NULL,
    creator TEXT NOT NULL
);
CREATE INDEX room_aliases_room ON room_aliases (room_id);

CREATE TABLE account_data (
    user_id    TEXT NOT NULL,
    room_id    TEXT NOT NULL,
    data_type  TEXT NOT NULL,
    content    TEXT NOT NULL,
    stream_pos BIGINT NOT NULL,
    PRIMARY KEY (user_id, room_id, data_type)
);
CREATE INDEX account_data_pos ON account_data (user_id, stream_pos);

CREATE TABLE receipts (
    room_id      TEXT NOT NULL,
    user_id      TEXT NOT NULL,
    receipt_type TEXT NOT NULL,
    thread_id    TEXT NOT NULL,
    event_id     TEXT NOT NULL,
    event_order  BIGINT NOT NULL,
    ts           BIGINT NOT NULL,
    stream_pos   BIGINT NOT NULL,
    PRIMARY KEY (room_id, user_id, receipt_type, thread_id)
);
CREATE INDEX receipts_pos ON receipts (room_id, stream_pos);

CREATE TABLE typing (
    room_id    TEXT NOT NULL,
    user_id    TEXT NOT NULL,
    expires_ts BIGINT NOT NULL,
    stream_pos BIGINT NOT NULL,
    PRIMARY KEY (room_id, user_id)
);
CREATE TABLE typing_rooms (
    room_id    TEXT PRIMARY KEY,
    stream_pos BIGINT NOT NULL
);

CREATE TABLE event_push_actions (
    room_id         TEXT NOT NULL,
    user_id         TEXT NOT NULL,
    stream_ordering BIGINT NOT NULL,
    highlight       BIGINT NOT NULL,
    PRIMARY KEY (user_id, room_id, stream_ordering)
);

CREATE TABLE filters (
    filter_id BIGSERIAL PRIMARY KEY,
    user_id   TEXT NOT NULL,
    json      TEXT NOT NULL
);

CREATE TABLE presence (
    user_id        TEXT PRIMARY KEY,
    state          TEXT NOT NULL,
    status_msg     TEXT,
    last_active_ts BIGINT NOT NULL,
    stream_pos     BIGINT NOT NULL
);
