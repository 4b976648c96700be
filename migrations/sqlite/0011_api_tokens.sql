-- API tokens: named bearer tokens for programs (a ministry's ITSM, a
-- statistics tool). Only the SHA-256 of the token is kept; the clear token
-- is shown once, at creation.
CREATE TABLE api_tokens (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL,
    role TEXT NOT NULL CHECK (role IN ('statistics', 'supervisor')),
    token_hash TEXT NOT NULL UNIQUE,
    prefix TEXT NOT NULL,
    created_by TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    last_used_at BIGINT,
    revoked_at BIGINT,
    revoked_by TEXT
);
