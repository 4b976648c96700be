-- The audio quality of a call's legs, written by the call-log writer when the call's media
-- is released (docs/store.md, docs/media.md): one row per leg ('caller', 'agent') that had
-- an RTP session. Jitter in microseconds (integers: the same on both databases); the RTCP
-- remote loss as the report's 8-bit fraction (x/256), NULL when the remote sent no report;
-- the MOS estimate in hundredths. Keep this file and
-- migrations/postgres/20261124043000_call_media_quality.sql column-for-column identical.

CREATE TABLE call_media_quality (
    call_id BIGINT NOT NULL REFERENCES calls(id) ON DELETE CASCADE,
    leg TEXT NOT NULL,
    packets_sent BIGINT NOT NULL,
    packets_received BIGINT NOT NULL,
    packets_lost BIGINT NOT NULL,
    late_packets BIGINT NOT NULL,
    jitter_max_us BIGINT NOT NULL,
    jitter_final_us BIGINT NOT NULL,
    remote_fraction_lost BIGINT,
    mos_centi BIGINT NOT NULL,
    PRIMARY KEY (call_id, leg)
);
