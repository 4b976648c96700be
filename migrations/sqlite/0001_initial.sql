-- Guichet store, SQLite dialect. Every instant is a BIGINT of milliseconds
-- since the Unix epoch (UTC); flags are INTEGER 0/1 here (sqlx's Any driver cannot decode SQLite BOOLEAN columns) and BOOLEAN in PostgreSQL. Keep this file and
-- migrations/postgres/0001_initial.sql column-for-column identical.

CREATE TABLE agents (
    id INTEGER PRIMARY KEY,
    login TEXT NOT NULL UNIQUE,
    display_name TEXT NOT NULL,
    roles TEXT NOT NULL,
    sip_extension TEXT,
    password_hash TEXT,
    active INTEGER NOT NULL DEFAULT 1,
    created_at BIGINT NOT NULL
);

CREATE TABLE sessions (
    id TEXT PRIMARY KEY,
    agent_id BIGINT NOT NULL REFERENCES agents(id) ON DELETE CASCADE,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    revoked_at BIGINT
);

CREATE TABLE security_log (
    id INTEGER PRIMARY KEY,
    at BIGINT NOT NULL,
    login TEXT NOT NULL,
    event TEXT NOT NULL,
    success INTEGER NOT NULL,
    remote_addr TEXT,
    detail TEXT
);
CREATE INDEX security_log_at ON security_log(at);

CREATE TABLE people (
    id INTEGER PRIMARY KEY,
    external_key TEXT NOT NULL UNIQUE,
    last_name TEXT NOT NULL,
    first_name TEXT NOT NULL,
    entity TEXT NOT NULL,
    site TEXT NOT NULL,
    dependency TEXT,
    vip INTEGER NOT NULL DEFAULT 0,
    updated_at BIGINT NOT NULL
);

CREATE TABLE person_numbers (
    person_id BIGINT NOT NULL REFERENCES people(id) ON DELETE CASCADE,
    number TEXT NOT NULL,
    PRIMARY KEY (person_id, number)
);
CREATE INDEX person_numbers_number ON person_numbers(number);

CREATE TABLE p0_windows (
    id INTEGER PRIMARY KEY,
    person_id BIGINT NOT NULL REFERENCES people(id) ON DELETE CASCADE,
    starts_at BIGINT NOT NULL,
    ends_at BIGINT NOT NULL
);
CREATE INDEX p0_windows_person ON p0_windows(person_id);

CREATE TABLE messages (
    id INTEGER PRIMARY KEY,
    line TEXT NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN ('crisis', 'deterrence')),
    version BIGINT NOT NULL,
    text TEXT NOT NULL,
    audio_path TEXT,
    starts_at BIGINT,
    ends_at BIGINT,
    author TEXT NOT NULL,
    active INTEGER NOT NULL,
    created_at BIGINT NOT NULL,
    UNIQUE (line, kind, version)
);

CREATE TABLE journal (
    id INTEGER PRIMARY KEY,
    at BIGINT NOT NULL,
    actor TEXT NOT NULL,
    action TEXT NOT NULL,
    subject TEXT NOT NULL,
    old_value TEXT,
    new_value TEXT
);
CREATE INDEX journal_at ON journal(at);

CREATE TABLE calls (
    id INTEGER PRIMARY KEY,
    sip_call_id TEXT NOT NULL,
    line TEXT NOT NULL,
    state TEXT NOT NULL,
    outcome TEXT,
    queue TEXT,
    agent_login TEXT,
    caller_number TEXT NOT NULL,
    caller_name TEXT,
    person_id BIGINT REFERENCES people(id) ON DELETE SET NULL,
    vip INTEGER NOT NULL,
    p0 INTEGER NOT NULL,
    arrived_at BIGINT NOT NULL,
    ivr_exited_at BIGINT,
    queued_at BIGINT,
    offered_at BIGINT,
    answered_at BIGINT,
    ended_at BIGINT,
    wrap_up_ended_at BIGINT,
    overflow_target TEXT,
    ivr_exit_node TEXT,
    interrupted INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX calls_arrived_at ON calls(arrived_at);
CREATE INDEX calls_caller_number ON calls(caller_number, arrived_at);
CREATE INDEX calls_in_flight ON calls(ended_at) WHERE ended_at IS NULL;

CREATE TABLE call_events (
    id INTEGER PRIMARY KEY,
    call_id BIGINT NOT NULL REFERENCES calls(id) ON DELETE CASCADE,
    at BIGINT NOT NULL,
    kind TEXT NOT NULL,
    detail TEXT
);
CREATE INDEX call_events_call ON call_events(call_id);

CREATE TABLE support_groups (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    active INTEGER NOT NULL DEFAULT 1
);

CREATE TABLE categories (
    id INTEGER PRIMARY KEY,
    parent_id BIGINT REFERENCES categories(id),
    name TEXT NOT NULL,
    active INTEGER NOT NULL DEFAULT 1
);
CREATE UNIQUE INDEX categories_name ON categories(COALESCE(parent_id, 0), name);

CREATE TABLE tickets (
    id INTEGER PRIMARY KEY,
    nature TEXT NOT NULL CHECK (nature IN ('incident', 'request', 'assistance')),
    form TEXT NOT NULL CHECK (form IN ('simplified', 'complete')),
    status TEXT NOT NULL,
    waiting_reason TEXT,
    title TEXT NOT NULL,
    requester_person_id BIGINT REFERENCES people(id) ON DELETE SET NULL,
    requester_name TEXT NOT NULL,
    entity TEXT,
    site TEXT,
    vip INTEGER NOT NULL,
    p0 INTEGER NOT NULL,
    symptom TEXT,
    diagnosis TEXT,
    technical_domain TEXT,
    urgency TEXT,
    impact TEXT,
    priority TEXT NOT NULL CHECK (priority IN ('P0', 'P1', 'P2', 'P3')),
    category_id BIGINT REFERENCES categories(id),
    group_id BIGINT REFERENCES support_groups(id),
    assignee_login TEXT,
    parent_id BIGINT REFERENCES tickets(id),
    created_by TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    resolved_at BIGINT,
    closed_at BIGINT,
    reopen_count BIGINT NOT NULL DEFAULT 0,
    sla_outcome TEXT CHECK (sla_outcome IN ('met', 'breached', 'excluded')),
    sla_state TEXT
);
CREATE INDEX tickets_created_at ON tickets(created_at);
CREATE INDEX tickets_resolved_at ON tickets(resolved_at);
CREATE INDEX tickets_closed_at ON tickets(closed_at);
CREATE INDEX tickets_status ON tickets(status);

CREATE TABLE ticket_tasks (
    id INTEGER PRIMARY KEY,
    ticket_id BIGINT NOT NULL REFERENCES tickets(id) ON DELETE CASCADE,
    title TEXT NOT NULL,
    group_id BIGINT REFERENCES support_groups(id),
    assignee_login TEXT,
    done_at BIGINT,
    created_at BIGINT NOT NULL
);
CREATE INDEX ticket_tasks_ticket ON ticket_tasks(ticket_id);

CREATE TABLE ticket_notes (
    id INTEGER PRIMARY KEY,
    ticket_id BIGINT NOT NULL REFERENCES tickets(id) ON DELETE CASCADE,
    kind TEXT NOT NULL CHECK (kind IN ('note', 'chase_up')),
    author TEXT NOT NULL,
    at BIGINT NOT NULL,
    body TEXT NOT NULL
);
CREATE INDEX ticket_notes_ticket ON ticket_notes(ticket_id);

CREATE TABLE ticket_calls (
    ticket_id BIGINT NOT NULL REFERENCES tickets(id) ON DELETE CASCADE,
    call_id BIGINT NOT NULL REFERENCES calls(id) ON DELETE CASCADE,
    PRIMARY KEY (ticket_id, call_id)
);
CREATE INDEX ticket_calls_call ON ticket_calls(call_id);

CREATE TABLE ticket_audit (
    id INTEGER PRIMARY KEY,
    ticket_id BIGINT NOT NULL REFERENCES tickets(id) ON DELETE CASCADE,
    at BIGINT NOT NULL,
    actor TEXT NOT NULL,
    field TEXT NOT NULL,
    old_value TEXT,
    new_value TEXT,
    reason TEXT
);
CREATE INDEX ticket_audit_ticket ON ticket_audit(ticket_id);

CREATE TABLE callback_requests (
    id INTEGER PRIMARY KEY,
    call_id BIGINT REFERENCES calls(id) ON DELETE SET NULL,
    number TEXT NOT NULL,
    name TEXT,
    queue TEXT NOT NULL,
    requested_at BIGINT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('pending', 'done', 'cancelled')),
    handled_by TEXT,
    handled_at BIGINT
);
