-- HTTP pushers: where a user's notifications go (a push gateway), one row
-- per (app ID, pushkey, user) as the spec keys them. Keep in step with
-- ../sqlite/0006_pushers.sql.
--
-- `device_id` is the device whose access token set the pusher: deleting
-- the device or logging its token out deletes its pushers, as Synapse does.
-- `data` is the pusher's `data` object as JSON (`url`, `format`, and
-- whatever else the app gave). `last_pushed` is the stream position up to
-- which this pusher's notifications are done (delivered, or given up on):
-- delivery resumes after it, so a restart neither repeats nor loses one.
CREATE TABLE pushers (
    user_id             TEXT NOT NULL,
    device_id           TEXT NOT NULL,
    app_id              TEXT NOT NULL,
    pushkey             TEXT NOT NULL,
    kind                TEXT NOT NULL,
    app_display_name    TEXT NOT NULL,
    device_display_name TEXT NOT NULL,
    profile_tag         TEXT,
    lang                TEXT NOT NULL,
    data                TEXT NOT NULL,
    pushkey_ts          BIGINT NOT NULL,
    last_pushed         BIGINT NOT NULL,
    PRIMARY KEY (app_id, pushkey, user_id)
);

CREATE INDEX pushers_user ON pushers (user_id, device_id);
