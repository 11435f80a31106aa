-- Other servers' signing keys, fetched from their `/_matrix/key/v2/server`
-- (self-signature checked) and kept until `valid_until_ts`. A key a server
-- stopped using (`old_verify_keys`) keeps its `expired_ts`: signatures made
-- before then still verify. The last signed answer of each server is kept
-- whole, as the notary (`/_matrix/key/v2/query`) serves it countersigned.
-- Keep in step with ../sqlite/0015_server_keys.sql.
CREATE TABLE server_signing_keys (
    server_name    TEXT NOT NULL,
    key_id         TEXT NOT NULL,
    public_key     TEXT NOT NULL,
    valid_until_ts BIGINT NOT NULL,
    expired_ts     BIGINT,
    PRIMARY KEY (server_name, key_id)
);

CREATE TABLE server_key_answers (
    server_name    TEXT PRIMARY KEY,
    answer         TEXT NOT NULL,
    valid_until_ts BIGINT NOT NULL
);
