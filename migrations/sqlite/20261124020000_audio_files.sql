-- Audio uploaded from the administration pages (replaced prompts, uploaded messages), kept
-- in the database so that every node on one database plays the same audio; each node's
-- directories are a cache of it (docs/web.md). `name`: 'prompt/<id>.wav' or
-- 'message/<file name>'; `version` grows with each replacement. Keep this file and
-- migrations/postgres/20261124020000_audio_files.sql column-for-column identical.

CREATE TABLE audio_files (
    name TEXT PRIMARY KEY,
    version BIGINT NOT NULL,
    bytes BLOB NOT NULL,
    created_at BIGINT NOT NULL
);
