//! What the binary gives the `web` room: health checks, metrics, and (as the pages land)
//! the accounts, the switchboard handle and the store, behind the `guichet_web::Backend` trait.

use std::time::Instant;

use guichet_tickets::Store;
use guichet_web::metrics::{MetricKind, MetricsText};
use guichet_web::{Backend, BoxFuture, Check};

use crate::switchboard::SwitchboardHandle;

pub struct ServerBackend {
    pub started: Instant,
    pub store: Store,
    pub sip: guichet_sip::SipHandle,
    pub media: guichet_media::MediaHandle,
    pub switchboard: SwitchboardHandle,
}

impl Backend for ServerBackend {
    fn health(&self) -> BoxFuture<'_, Vec<Check>> {
        Box::pin(async move {
            let database = match self.store.calls_in_flight().await {
                Ok(_) => Check {
                    name: "database".to_owned(),
                    ok: true,
                    detail: None,
                },
                Err(e) => Check {
                    name: "database".to_owned(),
                    ok: false,
                    detail: Some(e.to_string()),
                },
            };
            let switchboard = match self.switchboard.calls_in_progress().await {
                Ok(_) => Check {
                    name: "switchboard".to_owned(),
                    ok: true,
                    detail: None,
                },
                Err(e) => Check {
                    name: "switchboard".to_owned(),
                    ok: false,
                    detail: Some(e.to_string()),
                },
            };
            vec![database, switchboard]
        })
    }

    fn metrics(&self) -> BoxFuture<'_, String> {
        Box::pin(async move {
            let mut m = MetricsText::new();
            m.family(
                "guichet_build_info",
                "Version of the running Guichet.",
                MetricKind::Gauge,
            )
            .sample(&[("version", env!("CARGO_PKG_VERSION"))], 1.0);
            m.single(
                "guichet_uptime_seconds",
                "Seconds since the server started.",
                MetricKind::Gauge,
                self.started.elapsed().as_secs_f64().floor(),
            );
            let sip = self.sip.counters().snapshot();
            m.family(
                "guichet_sip_requests_total",
                "SIP requests received, by method.",
                MetricKind::Counter,
            );
            for (method, n) in &sip.requests {
                m.sample(&[("method", method)], *n as f64);
            }
            m.family(
                "guichet_sip_responses_sent_total",
                "SIP responses sent, by status code.",
                MetricKind::Counter,
            );
            for (code, n) in &sip.responses_sent {
                m.sample(&[("code", &code.to_string())], *n as f64);
            }
            m.family(
                "guichet_sip_responses_received_total",
                "SIP responses received, by status code.",
                MetricKind::Counter,
            );
            for (code, n) in &sip.responses_received {
                m.sample(&[("code", &code.to_string())], *n as f64);
            }
            m.single(
                "guichet_sip_malformed_dropped_total",
                "Malformed SIP messages that could not be answered and were dropped.",
                MetricKind::Counter,
                sip.dropped_malformed as f64,
            );
            m.single(
                "guichet_sip_malformed_rejected_total",
                "Malformed SIP requests answered with a 4xx/5xx.",
                MetricKind::Counter,
                sip.rejected_malformed as f64,
            );
            m.single(
                "guichet_sip_registrations_total",
                "Successful REGISTER requests.",
                MetricKind::Counter,
                sip.registrations as f64,
            );
            m.single(
                "guichet_sip_auth_failures_total",
                "Failed digest authentications.",
                MetricKind::Counter,
                sip.auth_failures as f64,
            );
            m.single(
                "guichet_sip_auth_rate_limited_total",
                "Requests refused because their source failed authentication too often.",
                MetricKind::Counter,
                sip.auth_rate_limited as f64,
            );
            m.single(
                "guichet_sip_overload_rejections_total",
                "Requests refused with 503 because of overload.",
                MetricKind::Counter,
                sip.overload_rejections as f64,
            );
            m.single(
                "guichet_sip_active_dialogs",
                "SIP dialogs in progress.",
                MetricKind::Gauge,
                sip.active_dialogs as f64,
            );
            m.single(
                "guichet_media_sessions",
                "RTP sessions open.",
                MetricKind::Gauge,
                self.media.session_count() as f64,
            );
            m.single(
                "guichet_media_ports_in_use",
                "RTP/RTCP port pairs in use.",
                MetricKind::Gauge,
                self.media.ports_in_use() as f64,
            );
            if let Ok(calls) = self.switchboard.calls_in_progress().await {
                m.single(
                    "guichet_calls_in_progress",
                    "Callers connected to Guichet (menu, queue or agent).",
                    MetricKind::Gauge,
                    calls as f64,
                );
            }
            m.finish()
        })
    }
}
