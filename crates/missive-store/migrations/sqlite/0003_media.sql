-- Media repository (SQLite). Keep in step with ../postgres/0003_media.sql.

-- One row per MXC URI. The bytes live in the blob store under sha256;
-- identical files share one blob. sha256 is NULL while an asynchronous
-- upload (POST /media/v1/create) waits for its content.
CREATE TABLE media (
    server_name  TEXT NOT NULL,
    media_id     TEXT NOT NULL,
    uploader     TEXT NOT NULL,
    content_type TEXT,
    filename     TEXT,
    size         INTEGER NOT NULL DEFAULT 0,
    sha256       TEXT,
    created_ts   INTEGER NOT NULL,
    expires_ts   INTEGER,
    PRIMARY KEY (server_name, media_id)
);
CREATE INDEX media_uploader ON media (uploader);
CREATE INDEX media_sha256 ON media (sha256);

-- Generated thumbnails, by source blob and requested size/method.
CREATE TABLE media_thumbnails (
    sha256       TEXT NOT NULL,
    width        INTEGER NOT NULL,
    height       INTEGER NOT NULL,
    method       TEXT NOT NULL,
    thumb_sha256 TEXT NOT NULL,
    content_type TEXT NOT NULL,
    size         INTEGER NOT NULL,
    PRIMARY KEY (sha256, width, height, method)
);
