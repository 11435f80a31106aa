-- Other servers' users whose device lists are kept here (keep in step
-- with ../sqlite/0018_remote_device_lists.sql). Their device keys and
-- cross-signing keys live in device_keys and cross_signing_keys as local
-- users' do; this row says the copy is whole and current up to the
-- origin's stream_id, as `m.device_list_update` EDUs keep it. A user
-- without a row is asked of their server.
CREATE TABLE remote_device_lists (
    user_id   TEXT PRIMARY KEY,
    stream_id BIGINT NOT NULL,
    synced_ts BIGINT NOT NULL
);
