//! What the binary gives the `web` room: health checks, metrics, the clock, the store, the
//! settings it needs from the configuration and the switchboard handle, behind the
//! `guichet_web::Backend` trait; and the seeding of the store's accounts from `[[agents]]`.

use std::time::Instant;

use chrono::{DateTime, Utc};
use guichet_tickets::Store;
use guichet_tickets::admin::MessageKind;
use guichet_web::metrics::{MetricKind, MetricsText};
use guichet_web::{
    Actor, AgentStateChange, Backend, BoxFuture, Check, LineInfo, Role, WebSettings,
};

use crate::clock::Clock;
use crate::config::{self, Config};
use crate::switchboard::SwitchboardHandle;

pub struct ServerBackend {
    pub started: Instant,
    pub clock: Clock,
    pub settings: WebSettings,
    /// Voice settings, for message previews.
    pub tts: guichet_ivr::tts::TtsOptions,
    pub store: Store,
    pub sip: guichet_sip::SipHandle,
    pub media: guichet_media::MediaHandle,
    pub switchboard: SwitchboardHandle,
    /// Where message audio files live (the switchboard's messages directory).
    pub messages_dir: std::path::PathBuf,
    /// The prompts administrators may replace.
    pub prompt_set: guichet_web::PromptSet,
    /// The configuration (calendars and SLA policies for the administration pages).
    pub config: std::sync::Arc<Config>,
    /// The running SLA runner, which takes calendar and grid changes live (none when no
    /// line has an SLA policy).
    pub sla: Option<crate::sla_runner::SlaRunnerHandle>,
}

impl ServerBackend {
    /// The calendar `name` in force (configuration, then the weekly hours and exceptions saved
    /// from the administration page), with `pending` added when given, checked. The error is
    /// French.
    async fn calendar_spec(
        &self,
        name: &str,
        pending: Option<guichet_tickets::admin::NewCalendarException>,
    ) -> Result<guichet_calendar::CalendarSpec, String> {
        let mut spec = crate::live_settings::calendar_spec(&self.store, &self.config, name)
            .await
            .map_err(|e| e.to_string())?
            .ok_or_else(|| format!("calendrier inconnu : « {name} »"))?;
        if let Some(e) = pending {
            spec.exceptions.push(guichet_calendar::ExceptionSpec {
                date: e.date,
                until: e.until,
                hours: e.hours,
                label: e.label,
            });
        }
        guichet_calendar::Calendar::new(&spec).map_err(|e| format!("calendrier refusé : {e}"))?;
        Ok(spec)
    }

    /// Makes `spec` the calendar `name` of the running switchboard and SLA clocks.
    async fn apply_calendar(
        &self,
        name: &str,
        spec: guichet_calendar::CalendarSpec,
    ) -> anyhow::Result<()> {
        // The stored history, not `spec` alone: the change applies from the instant it was
        // saved, time already counted keeps the calendar it was counted with.
        if let Some(sla) = &self.sla
            && let Some(history) =
                crate::live_settings::calendar_history(&self.store, &self.config, name).await?
        {
            sla.send(crate::sla_runner::SlaChange::Calendar {
                name: name.to_owned(),
                history,
            });
        }
        self.switchboard.set_calendar(name, spec).await
    }

    /// Applies the weekly hours and exceptions saved in the store to the running switchboard
    /// (at start; the SLA engine is built with them).
    pub async fn apply_stored_calendars(&self) -> anyhow::Result<()> {
        let stored = self.store.calendar_exceptions(None).await?;
        let hours = self
            .store
            .current_settings(guichet_tickets::settings::CALENDAR_HOURS)
            .await?;
        let mut names: Vec<&str> = stored
            .iter()
            .map(|e| e.exception.calendar.as_str())
            .chain(hours.iter().map(|h| h.name.as_str()))
            .collect();
        names.sort_unstable();
        names.dedup();
        for name in names {
            match self.calendar_spec(name, None).await {
                Ok(spec) => self.switchboard.set_calendar(name, spec).await?,
                // A calendar removed from the configuration, or an exception it no longer
                // accepts: the configured calendar stays.
                Err(e) => {
                    tracing::warn!(calendar = name, error = %e, "stored calendar exceptions not applied")
                }
            }
        }
        Ok(())
    }
}

/// The web room's settings from the configuration.
pub fn web_settings(config: &Config) -> WebSettings {
    WebSettings {
        server_name: config.server.name.clone(),
        secure_cookies: config.http.secure_cookies,
        lines: config
            .lines
            .iter()
            .map(|l| LineInfo {
                number: l.number.clone(),
                name: l.name.clone(),
            })
            .collect(),
        zone: config
            .server
            .timezone
            .parse()
            .unwrap_or_else(|_| guichet_tickets::reports::default_zone()),
        stats: guichet_acd::stats::StatsParams {
            short_abandon: chrono::Duration::seconds(config.stats.short_abandon_secs.into()),
            service_level_threshold: chrono::Duration::seconds(
                config.stats.service_level_secs.into(),
            ),
        },
    }
}

fn web_role(role: config::Role) -> Role {
    match role {
        config::Role::Agent => Role::Agent,
        config::Role::Supervisor => Role::Supervisor,
        config::Role::Admin => Role::Admin,
    }
}

fn ivr_actor(actor: Actor) -> guichet_ivr::Actor {
    guichet_ivr::Actor {
        name: actor.login,
        role: match actor.role {
            Role::Agent => guichet_ivr::Role::Agent,
            Role::Supervisor => guichet_ivr::Role::Supervisor,
            Role::Admin => guichet_ivr::Role::Admin,
        },
    }
}

/// Creates or updates the store's accounts from `[[agents]]`. A configured `password` is
/// hashed (argon2, with the role's length rule) only when the account has no hash yet, so a
/// password changed later is never overwritten; an account disabled from the administration
/// page stays disabled; accounts that did not change are not rewritten (and not journaled
/// again).
pub async fn seed_accounts(
    store: &Store,
    config: &Config,
    now: DateTime<Utc>,
) -> anyhow::Result<()> {
    for section in &config.agents {
        let roles: Vec<Role> = section.roles.iter().copied().map(web_role).collect();
        let existing = store.agent(&section.login).await?;
        let password_hash = match existing.as_ref().and_then(|a| a.password_hash.clone()) {
            Some(hash) => Some(hash),
            None => match &section.password {
                Some(password) => Some(
                    guichet_web::auth::hash_password(password, &roles)
                        .map_err(|e| anyhow::anyhow!("agents.{}.password: {e}", section.login))?,
                ),
                None => None,
            },
        };
        let wanted = guichet_tickets::admin::Agent {
            login: section.login.clone(),
            display_name: section.name.clone(),
            roles: roles.iter().map(|r| r.as_str().to_owned()).collect(),
            sip_extension: section.extension.clone(),
            password_hash,
            // An account an admin disabled stays disabled.
            active: existing.as_ref().is_none_or(|a| a.active),
        };
        if existing.as_ref() != Some(&wanted) {
            store.upsert_agent(&wanted, "system", now).await?;
        }
    }
    Ok(())
}

impl Backend for ServerBackend {
    fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }

    fn store(&self) -> &Store {
        &self.store
    }

    fn settings(&self) -> &WebSettings {
        &self.settings
    }

    fn snapshot(&self) -> BoxFuture<'_, Result<guichet_acd::Snapshot, String>> {
        Box::pin(async move { self.switchboard.snapshot().await.map_err(|e| e.to_string()) })
    }

    fn live_changes(&self) -> Option<tokio::sync::watch::Receiver<u64>> {
        Some(self.switchboard.acd_changes())
    }

    fn set_message<'a>(
        &'a self,
        actor: Actor,
        line: &'a str,
        kind: MessageKind,
        text: &'a str,
        ends_at: Option<DateTime<Utc>>,
    ) -> BoxFuture<'a, Result<(), String>> {
        Box::pin(async move {
            let kind = match kind {
                MessageKind::Crisis => guichet_ivr::MessageKind::Crisis,
                MessageKind::Deterrence => guichet_ivr::MessageKind::Deterrence,
            };
            self.switchboard
                .set_message(ivr_actor(actor), line, kind, text, ends_at)
                .await
                .map_err(|e| e.to_string())
        })
    }

    fn preview_message<'a>(&'a self, text: &'a str) -> BoxFuture<'a, Result<Vec<u8>, String>> {
        Box::pin(async move {
            static PREVIEWS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
            let n = PREVIEWS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let path =
                std::env::temp_dir().join(format!("guichet-apercu-{}-{n}.wav", std::process::id()));
            let (text, options, out) = (text.to_owned(), self.tts.clone(), path.clone());
            // Synthesis runs a subprocess: keep it off the async workers.
            let result = tokio::task::spawn_blocking(move || {
                guichet_ivr::tts::synthesize(&text, &out, &options)
                    .map_err(|e| e.french())
                    .and_then(|()| std::fs::read(&out).map_err(|e| e.to_string()))
            })
            .await
            .map_err(|e| e.to_string())
            .and_then(|r| r);
            let _ = std::fs::remove_file(&path);
            result
        })
    }

    fn agent_state<'a>(
        &'a self,
        login: &'a str,
        change: AgentStateChange,
    ) -> BoxFuture<'a, Result<(), String>> {
        use crate::switchboard::AgentChange;
        Box::pin(async move {
            let change = match change {
                AgentStateChange::LogIn => AgentChange::LogIn,
                AgentStateChange::LogOut => AgentChange::LogOut,
                AgentStateChange::Pause { reason } => AgentChange::Pause { reason },
                AgentStateChange::Resume => AgentChange::Resume,
                AgentStateChange::EndWrapUp => AgentChange::EndWrapUp,
                AgentStateChange::SetQueue { queue, level } => {
                    AgentChange::SetQueue { queue, level }
                }
                _ => return Err("changement d'état inconnu".to_owned()),
            };
            self.switchboard
                .agent(login, change)
                .await
                .map_err(|e| e.to_string())
        })
    }

    fn remove_message<'a>(
        &'a self,
        actor: Actor,
        line: &'a str,
        kind: MessageKind,
    ) -> BoxFuture<'a, Result<(), String>> {
        Box::pin(async move {
            let kind = match kind {
                MessageKind::Crisis => guichet_ivr::MessageKind::Crisis,
                MessageKind::Deterrence => guichet_ivr::MessageKind::Deterrence,
            };
            self.switchboard
                .remove_message(ivr_actor(actor), line, kind)
                .await
                .map_err(|e| e.to_string())
        })
    }

    fn audio_dir(&self) -> Option<std::path::PathBuf> {
        Some(self.messages_dir.clone())
    }

    fn prompt_set(&self) -> Option<&guichet_web::PromptSet> {
        Some(&self.prompt_set)
    }

    fn calendars_toml(&self) -> Vec<(String, String)> {
        self.config
            .calendars
            .iter()
            .map(|(name, spec)| {
                (
                    name.clone(),
                    toml::to_string_pretty(spec).unwrap_or_else(|e| e.to_string()),
                )
            })
            .collect()
    }

    fn sla_policies_toml(&self) -> Vec<(String, String)> {
        self.config
            .sla_policies
            .iter()
            .map(|(name, spec)| {
                (
                    name.clone(),
                    toml::to_string_pretty(spec).unwrap_or_else(|e| e.to_string()),
                )
            })
            .collect()
    }

    fn calendar_update<'a>(
        &'a self,
        name: &'a str,
        pending: Option<guichet_tickets::admin::NewCalendarException>,
    ) -> BoxFuture<'a, Result<(), String>> {
        Box::pin(async move {
            let checking = pending.is_some();
            let spec = self.calendar_spec(name, pending).await?;
            if checking {
                return Ok(());
            }
            self.apply_calendar(name, spec)
                .await
                .map_err(|e| e.to_string())
        })
    }

    fn sla_policies_in_force(
        &self,
    ) -> BoxFuture<
        '_,
        Result<
            Vec<guichet_web::admin_settings::InForce<guichet_tickets::sla::SlaPolicySpec>>,
            String,
        >,
    > {
        Box::pin(async move {
            crate::live_settings::sla_policies_in_force(&self.store, &self.config)
                .await
                .map_err(|e| e.to_string())
        })
    }

    fn sla_policy_update<'a>(
        &'a self,
        name: &'a str,
        spec: guichet_tickets::sla::SlaPolicySpec,
        actor: &'a str,
    ) -> BoxFuture<'a, Result<(), String>> {
        Box::pin(async move {
            let change = crate::live_settings::save_sla_policy(
                &self.store,
                &self.config,
                name,
                spec,
                actor,
                self.clock.now(),
            )
            .await?;
            if let Some(sla) = &self.sla {
                sla.send(change);
            }
            Ok(())
        })
    }

    fn calendar_hours(
        &self,
    ) -> BoxFuture<
        '_,
        Result<Vec<guichet_web::admin_settings::InForce<guichet_calendar::WeeklyHours>>, String>,
    > {
        Box::pin(async move {
            crate::live_settings::calendar_hours_in_force(&self.store, &self.config)
                .await
                .map_err(|e| e.to_string())
        })
    }

    fn calendar_hours_update<'a>(
        &'a self,
        name: &'a str,
        hours: guichet_calendar::WeeklyHours,
        actor: &'a str,
    ) -> BoxFuture<'a, Result<(), String>> {
        Box::pin(async move {
            let spec = crate::live_settings::save_calendar_hours(
                &self.store,
                &self.config,
                name,
                hours,
                actor,
                self.clock.now(),
            )
            .await?;
            self.apply_calendar(name, spec)
                .await
                .map_err(|e| e.to_string())
        })
    }

    fn convert_wav<'a>(&'a self, wav: &'a [u8]) -> BoxFuture<'a, Result<Vec<u8>, String>> {
        Box::pin(async move {
            static CONVERSIONS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
            let n = CONVERSIONS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let stem = format!("guichet-conversion-{}-{n}", std::process::id());
            let input = std::env::temp_dir().join(format!("{stem}-in.wav"));
            let output = std::env::temp_dir().join(format!("{stem}-out.wav"));
            let result = async {
                tokio::fs::write(&input, wav)
                    .await
                    .map_err(|_| "fichier temporaire impossible à écrire".to_owned())?;
                let run = tokio::process::Command::new(&self.tts.sox)
                    .arg(&input)
                    .args(["-r", "8000", "-c", "1", "-b", "16", "-e", "signed-integer"])
                    .arg(&output)
                    .stdin(std::process::Stdio::null())
                    .stdout(std::process::Stdio::null())
                    .stderr(std::process::Stdio::null())
                    .kill_on_drop(true)
                    .status();
                let limit = std::time::Duration::from_millis(self.tts.timeout_ms.max(1000));
                match tokio::time::timeout(limit, run).await {
                    Ok(Ok(status)) if status.success() => tokio::fs::read(&output)
                        .await
                        .map_err(|_| "fichier converti illisible".to_owned()),
                    Ok(Ok(_)) => Err("sox n'a pas su lire ce fichier".to_owned()),
                    Ok(Err(_)) => Err("sox est introuvable sur le serveur".to_owned()),
                    Err(_) => Err("la conversion a pris trop de temps".to_owned()),
                }
            }
            .await;
            let _ = tokio::fs::remove_file(&input).await;
            let _ = tokio::fs::remove_file(&output).await;
            result
        })
    }

    fn call_back<'a>(&'a self, login: &'a str, callback: i64) -> BoxFuture<'a, Result<(), String>> {
        Box::pin(async move {
            self.switchboard
                .call_back(callback, login)
                .await
                .map_err(|e| e.to_string())
        })
    }

    fn softphone_attach<'a>(
        &'a self,
        login: &'a str,
    ) -> BoxFuture<'a, Result<guichet_web::softphone::Link, String>> {
        Box::pin(async move {
            if self.media.webrtc_addr().is_none() {
                return Err(
                    "le softphone n'est pas activé sur ce serveur ([rtp] webrtc_port)".to_owned(),
                );
            }
            let (events, rx) = tokio::sync::mpsc::unbounded_channel();
            let id = self
                .switchboard
                .softphone_attach(login, events)
                .await
                .map_err(|e| e.to_string())??;
            Ok(guichet_web::softphone::Link { id, events: rx })
        })
    }

    fn softphone_send<'a>(
        &'a self,
        login: &'a str,
        link: u64,
        message: guichet_web::softphone::FromPage,
    ) -> BoxFuture<'a, Result<(), String>> {
        Box::pin(async move {
            self.switchboard
                .softphone_page(login, link, message)
                .await
                .map_err(|e| e.to_string())?
        })
    }

    fn softphone_detach<'a>(&'a self, login: &'a str, link: u64) -> BoxFuture<'a, ()> {
        Box::pin(async move {
            if let Err(e) = self.switchboard.softphone_detach(login, link).await {
                tracing::debug!(error = %e, "softphone detach not delivered");
            }
        })
    }

    fn monitor_attach(
        &self,
        actor: Actor,
    ) -> BoxFuture<'_, Result<guichet_web::ecoute::MonitorLink, String>> {
        Box::pin(async move {
            if self.media.webrtc_addr().is_none() {
                return Err(
                    "l'écoute n'est pas activée sur ce serveur ([rtp] webrtc_port)".to_owned(),
                );
            }
            let (events, rx) = tokio::sync::mpsc::unbounded_channel();
            let id = self
                .switchboard
                .monitor_attach(&actor.login, events)
                .await
                .map_err(|e| e.to_string())?;
            Ok(guichet_web::ecoute::MonitorLink { id, events: rx })
        })
    }

    fn monitor_send(
        &self,
        link: u64,
        message: guichet_web::ecoute::FromSupervisor,
    ) -> BoxFuture<'_, Result<(), String>> {
        Box::pin(async move {
            self.switchboard
                .monitor_page(link, message)
                .await
                .map_err(|e| e.to_string())?
        })
    }

    fn monitor_detach(&self, link: u64) -> BoxFuture<'_, ()> {
        Box::pin(async move {
            if let Err(e) = self.switchboard.monitor_detach(link).await {
                tracing::debug!(error = %e, "supervision detach not delivered");
            }
        })
    }

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
            let refusals = self.switchboard.refusal_counters();
            m.family(
                "guichet_calls_refused_total",
                "Calls refused with 503 by the switchboard (overload or shutdown), by reason.",
                MetricKind::Counter,
            );
            for (reason, n) in refusals.by_reason() {
                m.sample(&[("reason", reason.as_str())], n as f64);
            }
            m.single(
                "guichet_calls_refused_unrecorded_total",
                "Of the refused calls, those beyond the per-second budget: counted per minute, no record of their own.",
                MetricKind::Counter,
                refusals.unrecorded() as f64,
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
            let media = self.media.totals();
            for (name, help, value) in [
                (
                    "guichet_media_sessions_released_total",
                    "RTP sessions released since the start.",
                    media.sessions_released,
                ),
                (
                    "guichet_media_packets_sent_total",
                    "RTP packets sent, all sessions.",
                    media.packets_sent,
                ),
                (
                    "guichet_media_packets_received_total",
                    "RTP packets received and accepted, all sessions.",
                    media.packets_received,
                ),
                (
                    "guichet_media_packets_lost_total",
                    "RTP packets lost according to sequence numbers (RFC 3550), all sessions.",
                    media.packets_lost,
                ),
                (
                    "guichet_media_packets_late_total",
                    "RTP packets that arrived too late for a bridge's jitter buffer.",
                    media.late_packets,
                ),
                (
                    "guichet_media_packets_reordered_total",
                    "RTP packets received out of order.",
                    media.reordered_packets,
                ),
                (
                    "guichet_media_packets_foreign_total",
                    "RTP packets from another address than the latched one, read before the latch connected the socket (after it, the kernel drops them uncounted).",
                    media.foreign_packets,
                ),
                (
                    "guichet_media_clock_ticks_total",
                    "Media clock ticks (1 ms each) processed.",
                    media.clock_ticks,
                ),
                (
                    "guichet_media_clock_ticks_late_total",
                    "Media clock ticks started more than 5 ms after their deadline (overload).",
                    media.clock_ticks_late,
                ),
                (
                    "guichet_media_clock_ticks_skipped_total",
                    "Media clock ticks skipped by a clock thread more than 100 ms behind (each a missing 20 ms packet for the streams of its slot).",
                    media.clock_ticks_skipped,
                ),
            ] {
                m.single(name, help, MetricKind::Counter, value as f64);
            }
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

    fn ticket_sla_line(&self, ticket: i64) -> BoxFuture<'_, Option<String>> {
        Box::pin(async move {
            let status = self.sla_status(ticket).await?;
            let mut line = crate::sla_runner::status_sentence(&status, &self.config);
            // The P0/P1 chase-up cycle shows on the same line (CULTURE 2258-2261).
            let trail = self.store.ticket_audit(ticket).await.unwrap_or_default();
            if let Some(chases) = crate::sla_runner::chase_up::chase_summary(&trail) {
                line.push(' ');
                line.push_str(&chases);
            }
            Some(line)
        })
    }

    fn ticket_due(&self, ticket: i64) -> BoxFuture<'_, Option<DateTime<Utc>>> {
        Box::pin(async move {
            let status = self.sla_status(ticket).await?;
            status
                .resolve
                .as_ref()
                .or(status.take_charge.as_ref())
                .and_then(|t| t.due)
        })
    }
}

impl ServerBackend {
    /// The ticket's SLA clock as the live settings compute it now; `None` without a clock.
    async fn sla_status(&self, ticket: i64) -> Option<guichet_tickets::sla::SlaStatus> {
        let (engine, _) = crate::live_settings::sla_engine(&self.store, &self.config)
            .await
            .ok()?;
        let now = self.clock.now();
        self.store
            .ticket_sla_status(ticket, &engine, now)
            .await
            .ok()?
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn seeding_hashes_once_keeps_changed_passwords_and_does_not_rejournal() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&format!("sqlite://{}", dir.path().join("s.db").display()))
            .await
            .unwrap();
        let config = config::load_demo().unwrap().config;
        let t0 = chrono::Utc::now();
        seed_accounts(&store, &config, t0).await.unwrap();
        let admin = store.agent("admin").await.unwrap().unwrap();
        let hash = admin.password_hash.clone().unwrap();
        assert!(guichet_web::auth::verify_password(
            "Guichet-Admin-2026!",
            &hash
        ));
        assert_eq!(admin.roles, vec!["admin", "supervisor"]);
        let amelie = store.agent("amelie.martin").await.unwrap().unwrap();
        assert_eq!(amelie.sip_extension.as_deref(), Some("1001"));

        // A password changed since is kept at the next start; nothing is journaled again.
        let changed =
            guichet_web::auth::hash_password("un-autre-mot-de-passe!", &[Role::Admin]).unwrap();
        store
            .upsert_agent(
                &guichet_tickets::admin::Agent {
                    password_hash: Some(changed.clone()),
                    ..admin
                },
                "admin",
                t0,
            )
            .await
            .unwrap();
        let journaled = |s: &Store| {
            let s = s.clone();
            async move {
                s.journal_between(
                    t0 - chrono::Duration::hours(1),
                    t0 + chrono::Duration::hours(1),
                )
                .await
                .unwrap()
                .len()
            }
        };
        let before = journaled(&store).await;
        seed_accounts(&store, &config, t0).await.unwrap();
        assert_eq!(journaled(&store).await, before);
        let admin = store.agent("admin").await.unwrap().unwrap();
        assert_eq!(admin.password_hash.as_deref(), Some(changed.as_str()));
    }
}
