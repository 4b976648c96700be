-- Calls refused with 503 (overload or shutdown) beyond the ones the switchboard records one
-- by one (a per-second budget, docs/store.md): counted per minute, line and reason
-- ('too_many_calls', 'call_rate', 'shutdown') by the call-log writer, and added to the
-- presented calls of the dashboards and reports. minute_start is the minute's start in ms
-- since the epoch. Keep this file and migrations/postgres/20261124060000_refused_call_counts.sql
-- identical.

CREATE TABLE refused_call_counts (
    minute_start BIGINT NOT NULL,
    line TEXT NOT NULL,
    reason TEXT NOT NULL,
    refused BIGINT NOT NULL,
    PRIMARY KEY (minute_start, line, reason)
);
