-- OpenID tokens a user asked for to prove who they are to a third party
-- (`POST /user/{userId}/openid/request_token`), checked by
-- `GET /_matrix/federation/v1/openid/userinfo`. Only a SHA-256 of each
-- token is kept, as for access tokens.
-- Keep in step with ../postgres/0008_openid_tokens.sql.
CREATE TABLE openid_tokens (
    token_hash TEXT PRIMARY KEY,
    user_id    TEXT NOT NULL,
    expires_ts INTEGER NOT NULL
);

CREATE INDEX openid_tokens_expiry ON openid_tokens (expires_ts);
