-- The server as its own identity server (third-party invites by e-mail):
-- its long-term ed25519 key (PKCS#8, base64), the ephemeral public keys it
-- gave invites, the identity-service access tokens it issued (hashed), and
-- the invites waiting for their address to become an account's.
-- Keep in step with ../sqlite/0013_third_party_invites.sql.
CREATE TABLE identity_keys (
    key_id     TEXT PRIMARY KEY,
    pkcs8      TEXT NOT NULL,
    created_ts BIGINT NOT NULL
);

CREATE TABLE identity_ephemeral_keys (
    public_key TEXT PRIMARY KEY,
    created_ts BIGINT NOT NULL
);

CREATE TABLE identity_tokens (
    token_hash TEXT PRIMARY KEY,
    user_id    TEXT NOT NULL,
    created_ts BIGINT NOT NULL
);

CREATE TABLE third_party_invites (
    token        TEXT PRIMARY KEY,
    medium       TEXT NOT NULL,
    address      TEXT NOT NULL,
    room_id      TEXT NOT NULL,
    sender       TEXT NOT NULL,
    display_name TEXT NOT NULL,
    created_ts   BIGINT NOT NULL
);

CREATE INDEX third_party_invites_address ON third_party_invites (medium, address);
