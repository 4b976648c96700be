-- Settings changed from the administration pages that the configuration file also defines
-- (docs/web.md, "What the store keeps over the configuration"): one row per saved version,
-- the newest per (kind, name) in force. Kinds: 'sla_policy' (an SLA grid, JSON), 'calendar_hours'
-- (a calendar's weekly opening hours, JSON), 'agent_queues' (an agent's queues and levels, JSON).
-- Keep this file and migrations/postgres/20261124010000_admin_settings.sql column-for-column
-- identical.

CREATE TABLE admin_settings (
    id INTEGER PRIMARY KEY,
    kind TEXT NOT NULL,
    name TEXT NOT NULL,
    value TEXT NOT NULL,
    author TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX admin_settings_kind_name ON admin_settings(kind, name, id);
