//! Écoute et coaching: a supervisor's browser joins an agent's bridged call as the media
//! room's supervisor leg (`MediaHandle::monitor`), in listen, whisper or barge mode, switches
//! mode and leaves. Every step is written to the event journal.

use std::collections::HashMap;

use guichet_media::{MonitorMode as MediaMode, SessionId};
use guichet_sip::CallId as SipCallId;
use guichet_web::ecoute::{FromSupervisor, MonitorMode, ToSupervisor};
use tokio::sync::{mpsc, oneshot};
use tracing::{info, warn};

use super::{Phase, Switchboard};

/// Messages between the supervisors' wallboards and the switchboard.
pub enum MonitorCommand {
    /// A wallboard opened its supervision socket; the answer is the link id.
    Attach {
        supervisor: String,
        events: mpsc::UnboundedSender<ToSupervisor>,
        reply: oneshot::Sender<u64>,
    },
    /// A message of the wallboard attached as `link`.
    Page {
        link: u64,
        message: FromSupervisor,
        reply: oneshot::Sender<Result<(), String>>,
    },
    /// The wallboard attached as `link` closed its socket.
    Detach { link: u64 },
}

#[derive(Default)]
pub(super) struct Monitors {
    pages: HashMap<u64, Watcher>,
    next_link: u64,
}

struct Watcher {
    supervisor: String,
    events: mpsc::UnboundedSender<ToSupervisor>,
    active: Option<Active>,
}

/// A supervisor on a call.
struct Active {
    call: SipCallId,
    agent: String,
    session: SessionId,
    mode: MonitorMode,
}

fn media_mode(mode: MonitorMode) -> MediaMode {
    match mode {
        MonitorMode::Listen => MediaMode::Listen,
        MonitorMode::Whisper => MediaMode::Whisper,
        MonitorMode::Barge => MediaMode::Barge,
    }
}

fn mode_name(mode: MonitorMode) -> &'static str {
    match mode {
        MonitorMode::Listen => "listen",
        MonitorMode::Whisper => "whisper",
        MonitorMode::Barge => "barge",
    }
}

impl Switchboard {
    pub(super) async fn on_monitor(&mut self, command: MonitorCommand) {
        match command {
            MonitorCommand::Attach {
                supervisor,
                events,
                reply,
            } => {
                self.monitors.next_link += 1;
                let link = self.monitors.next_link;
                self.monitors.pages.insert(
                    link,
                    Watcher {
                        supervisor,
                        events,
                        active: None,
                    },
                );
                let _ = reply.send(link);
            }
            MonitorCommand::Detach { link } => {
                self.leave_call(link, None).await;
                self.monitors.pages.remove(&link);
            }
            MonitorCommand::Page {
                link,
                message,
                reply,
            } => {
                let result = match message {
                    FromSupervisor::Start { agent, mode, sdp } => {
                        self.start_monitor(link, &agent, mode, &sdp).await
                    }
                    FromSupervisor::Mode { mode } => self.change_monitor(link, mode).await,
                    FromSupervisor::Leave => {
                        self.leave_call(link, Some("Vous avez quitté l'appel."))
                            .await;
                        Ok(())
                    }
                    _ => Err("demande d'écoute non prise en charge".to_owned()),
                };
                let _ = reply.send(result);
            }
        }
    }

    async fn start_monitor(
        &mut self,
        link: u64,
        agent: &str,
        mode: MonitorMode,
        offer: &str,
    ) -> Result<(), String> {
        let Some(watcher) = self.monitors.pages.get(&link) else {
            return Err("écoute inconnue".to_owned());
        };
        if watcher.active.is_some() {
            return Err("vous écoutez déjà un appel : quittez-le d'abord".to_owned());
        }
        let supervisor = watcher.supervisor.clone();
        let found = self
            .calls
            .iter()
            .find(|(_, c)| c.phase == Phase::Connected && c.answered_by.as_deref() == Some(agent));
        let Some((call_id, bridge)) = found.and_then(|(id, c)| c.bridge.map(|b| (id.clone(), b)))
        else {
            return Err(format!("{agent} n'est pas en communication"));
        };
        let (session, answer) = self.media.webrtc_accept(offer).map_err(|e| {
            warn!(error = %e, "supervisor offer refused");
            format!("offre audio du navigateur refusée : {e}")
        })?;
        if let Err(e) = self.media.monitor(bridge, session, media_mode(mode)) {
            let _ = self.media.release(session);
            warn!(error = %e, "cannot join the supervisor to the call");
            return Err(
                "impossible de rejoindre l'appel (un autre superviseur l'écoute peut-être)"
                    .to_owned(),
            );
        }
        if let Some(w) = self.monitors.pages.get_mut(&link) {
            w.active = Some(Active {
                call: call_id,
                agent: agent.to_owned(),
                session,
                mode,
            });
            let _ = w.events.send(ToSupervisor::Connected {
                agent: agent.to_owned(),
                mode,
                sdp: answer,
            });
        }
        info!(%supervisor, %agent, mode = mode_name(mode), "supervisor joined a call");
        self.journal_monitor(&supervisor, agent, None, Some(mode))
            .await;
        Ok(())
    }

    async fn change_monitor(&mut self, link: u64, mode: MonitorMode) -> Result<(), String> {
        let Some(w) = self.monitors.pages.get(&link) else {
            return Err("écoute inconnue".to_owned());
        };
        let Some(active) = &w.active else {
            return Err("vous n'écoutez aucun appel".to_owned());
        };
        let (supervisor, agent, old, session) = (
            w.supervisor.clone(),
            active.agent.clone(),
            active.mode,
            active.session,
        );
        let Some(bridge) = self.calls.get(&active.call).and_then(|c| c.bridge) else {
            return Err("l'appel n'est plus en communication".to_owned());
        };
        self.media
            .monitor(bridge, session, media_mode(mode))
            .map_err(|e| format!("changement de mode impossible : {e}"))?;
        if let Some(w) = self.monitors.pages.get_mut(&link) {
            if let Some(a) = w.active.as_mut() {
                a.mode = mode;
            }
            let _ = w.events.send(ToSupervisor::Mode { mode });
        }
        info!(%supervisor, %agent, mode = mode_name(mode), "supervision mode changed");
        self.journal_monitor(&supervisor, &agent, Some(old), Some(mode))
            .await;
        Ok(())
    }

    /// The supervisor of `link` leaves the call it is on (if any); `message` tells the page.
    async fn leave_call(&mut self, link: u64, message: Option<&str>) {
        let Some(w) = self.monitors.pages.get_mut(&link) else {
            return;
        };
        let Some(active) = w.active.take() else {
            return;
        };
        // Releasing the supervisor's session takes it out of the bridge; the call goes on.
        let _ = self.media.release(active.session);
        if let Some(message) = message {
            let _ = w.events.send(ToSupervisor::Ended {
                message: message.to_owned(),
            });
        }
        let supervisor = w.supervisor.clone();
        info!(%supervisor, agent = %active.agent, "supervisor left a call");
        self.journal_monitor(&supervisor, &active.agent, Some(active.mode), None)
            .await;
    }

    /// Every supervisor on `call` leaves it (the call ended, or its bridge is undone).
    pub(super) async fn end_monitors(&mut self, call: &SipCallId, message: &str) {
        let links: Vec<u64> = self
            .monitors
            .pages
            .iter()
            .filter(|(_, w)| w.active.as_ref().is_some_and(|a| &a.call == call))
            .map(|(l, _)| *l)
            .collect();
        for link in links {
            self.leave_call(link, Some(message)).await;
        }
    }

    async fn journal_monitor(
        &self,
        supervisor: &str,
        agent: &str,
        old: Option<MonitorMode>,
        new: Option<MonitorMode>,
    ) {
        let action = match new {
            Some(mode) => format!("monitor.{}", mode_name(mode)),
            None => "monitor.leave".to_owned(),
        };
        let row = guichet_tickets::JournalEntry {
            at: self.clock.now(),
            actor: supervisor.to_owned(),
            action,
            subject: format!("agent:{agent}"),
            old_value: old.map(|m| mode_name(m).to_owned()),
            new_value: new.map(|m| mode_name(m).to_owned()),
        };
        if let Err(e) = self.store.journal(&row).await {
            warn!(error = %e, "supervision not journaled");
        }
    }
}

impl super::SwitchboardHandle {
    /// Attaches a supervisor's wallboard for listen / whisper / barge; returns the link id.
    pub async fn monitor_attach(
        &self,
        supervisor: &str,
        events: mpsc::UnboundedSender<ToSupervisor>,
    ) -> anyhow::Result<u64> {
        self.ask(|reply| {
            super::Command::Monitor(MonitorCommand::Attach {
                supervisor: supervisor.to_owned(),
                events,
                reply,
            })
        })
        .await
    }

    /// Carries a message of the wallboard attached as `link`; the error is French.
    pub async fn monitor_page(
        &self,
        link: u64,
        message: FromSupervisor,
    ) -> anyhow::Result<Result<(), String>> {
        self.ask(|reply| {
            super::Command::Monitor(MonitorCommand::Page {
                link,
                message,
                reply,
            })
        })
        .await
    }

    /// The wallboard attached as `link` closed its socket.
    pub async fn monitor_detach(&self, link: u64) -> anyhow::Result<()> {
        self.tx
            .send(super::Command::Monitor(MonitorCommand::Detach { link }))
            .await
            .map_err(|_| anyhow::anyhow!("the switchboard has stopped"))
    }
}
