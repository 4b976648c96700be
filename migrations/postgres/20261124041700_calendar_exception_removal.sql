-- An exceptional day removed from the administration page is kept with the instant of its
-- removal: SLA clocks count business time with the calendar in force at each instant
-- (docs/sla.md), so a restart must know when each closure or opening applied. Rows with a
-- removed_at are no longer in force. Keep this file and
-- migrations/sqlite/20261124041700_calendar_exception_removal.sql identical.

ALTER TABLE calendar_exceptions ADD COLUMN removed_at BIGINT;
