-- Saved messages: a library of named crisis/deterrence messages supervisors re-activate in
-- one click. Keep this file and migrations/postgres/20261123220000_saved_messages.sql column-for-column
-- identical.

CREATE TABLE saved_messages (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    text TEXT NOT NULL,
    audio_path TEXT,
    author TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
