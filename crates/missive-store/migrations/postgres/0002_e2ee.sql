-- End-to-end encryption support (PostgreSQL). Keep in step with ../sqlite/0002_e2ee.sql.

CREATE TABLE device_keys (
    user_id   TEXT NOT NULL,
    device_id TEXT NOT NULL,
    key_json  TEXT NOT NULL,
    PRIMARY KEY (user_id, device_id)
);

CREATE TABLE one_time_keys (
    user_id   TEXT NOT NULL,
    device_id TEXT NOT NULL,
    algorithm TEXT NOT NULL,
    key_id    TEXT NOT NULL,
    key_json  TEXT NOT NULL,
    PRIMARY KEY (user_id, device_id, algorithm, key_id)
);

CREATE TABLE fallback_keys (
    user_id   TEXT NOT NULL,
    device_id TEXT NOT NULL,
    algorithm TEXT NOT NULL,
    key_id    TEXT NOT NULL,
    key_json  TEXT NOT NULL,
    used      BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (user_id, device_id, algorithm)
);

CREATE TABLE cross_signing_keys (
    user_id  TEXT NOT NULL,
    key_type TEXT NOT NULL,
    key_json TEXT NOT NULL,
    PRIMARY KEY (user_id, key_type)
);

-- Each change to a user's devices or keys, for sync's device_lists.
CREATE TABLE device_list_changes (
    user_id    TEXT PRIMARY KEY,
    stream_pos BIGINT NOT NULL
);
CREATE INDEX device_list_changes_pos ON device_list_changes (stream_pos);

-- To-device messages wait here until the recipient acknowledges them with
-- a later sync token: delivered_at is the token of the sync that carried them.
CREATE TABLE to_device (
    id               BIGSERIAL PRIMARY KEY,
    recipient_user   TEXT NOT NULL,
    recipient_device TEXT NOT NULL,
    stream_pos       BIGINT NOT NULL,
    message_json     TEXT NOT NULL,
    delivered_at     BIGINT
);
CREATE INDEX to_device_recipient ON to_device (recipient_user, recipient_device, id);

CREATE TABLE to_device_txns (
    sender_user   TEXT NOT NULL,
    sender_device TEXT NOT NULL,
    txn_id        TEXT NOT NULL,
    PRIMARY KEY (sender_user, sender_device, txn_id)
);

CREATE TABLE backup_versions (
    user_id   TEXT NOT NULL,
    version   BIGINT NOT NULL,
    algorithm TEXT NOT NULL,
    auth_data TEXT NOT NULL,
    etag      BIGINT NOT NULL DEFAULT 0,
    deleted   BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (user_id, version)
);

CREATE TABLE backup_keys (
    user_id             TEXT NOT NULL,
    version             BIGINT NOT NULL,
    room_id             TEXT NOT NULL,
    session_id          TEXT NOT NULL,
    first_message_index BIGINT NOT NULL,
    forwarded_count     BIGINT NOT NULL,
    is_verified         BIGINT NOT NULL,
    session_data        TEXT NOT NULL,
    PRIMARY KEY (user_id, version, room_id, session_id)
);

CREATE TABLE dehydrated_devices (
    user_id     TEXT PRIMARY KEY,
    device_id   TEXT NOT NULL,
    device_data TEXT NOT NULL
);
