-- The major-incident log (CULTURE 2239-2249): start, end, status and who, with every
-- timestamped update (tickets/src/incidents.rs, docs/web.md). Keep this file and
-- migrations/postgres/20261124003700_major_incidents.sql column-for-column identical.

CREATE TABLE major_incidents (
    id INTEGER PRIMARY KEY,
    title TEXT NOT NULL,
    services TEXT NOT NULL,
    description TEXT NOT NULL,
    crisis_line TEXT,
    status TEXT NOT NULL,
    opened_by TEXT NOT NULL,
    started_at BIGINT NOT NULL,
    ended_at BIGINT,
    closed_at BIGINT,
    closed_by TEXT
);
CREATE INDEX major_incidents_started ON major_incidents(started_at);
CREATE INDEX major_incidents_status ON major_incidents(status);

CREATE TABLE major_incident_updates (
    id INTEGER PRIMARY KEY,
    incident_id INTEGER NOT NULL REFERENCES major_incidents(id),
    at BIGINT NOT NULL,
    author TEXT NOT NULL,
    status_before TEXT,
    status_after TEXT NOT NULL,
    note TEXT NOT NULL
);
CREATE INDEX major_incident_updates_incident ON major_incident_updates(incident_id);
