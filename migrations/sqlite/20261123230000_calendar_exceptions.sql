-- Exceptional closures and openings added from the administration page, on top of the
-- calendar's configured ones (docs/web.md). Keep this file and
-- migrations/postgres/20261123230000_calendar_exceptions.sql column-for-column identical.

CREATE TABLE calendar_exceptions (
    id INTEGER PRIMARY KEY,
    calendar TEXT NOT NULL,
    first_day TEXT NOT NULL,
    last_day TEXT,
    hours TEXT,
    label TEXT NOT NULL,
    author TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX calendar_exceptions_calendar ON calendar_exceptions(calendar);
