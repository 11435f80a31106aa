-- Third-party identifiers (e-mail addresses) bound to accounts, and the
-- validation sessions that prove a person holds an address (`requestToken`,
-- then the link mailed to it). Only a SHA-256 of each mailed token is kept.
-- Addresses are stored canonical (lowercased), so the primary key makes an
-- address belong to one account at most.
-- Keep in step with ../postgres/0011_threepids.sql.
CREATE TABLE user_threepids (
    medium       TEXT NOT NULL,
    address      TEXT NOT NULL,
    user_id      TEXT NOT NULL,
    validated_ts INTEGER NOT NULL,
    added_ts     INTEGER NOT NULL,
    -- Published for discovery (`/account/3pid/bind`): only these are found
    -- by `/lookup` and resolve an invitation by e-mail to the account.
    published    INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (medium, address)
);

CREATE INDEX user_threepids_user ON user_threepids (user_id);

CREATE TABLE threepid_sessions (
    session_id       TEXT PRIMARY KEY,
    medium           TEXT NOT NULL,
    address          TEXT NOT NULL,
    client_secret    TEXT NOT NULL,
    send_attempt     INTEGER NOT NULL,
    token_hash       TEXT NOT NULL,
    token_expires_ts INTEGER NOT NULL,
    created_ts       INTEGER NOT NULL,
    validated_ts     INTEGER
);

CREATE INDEX threepid_sessions_secret ON threepid_sessions (client_secret, medium, address);
CREATE INDEX threepid_sessions_created ON threepid_sessions (created_ts);
