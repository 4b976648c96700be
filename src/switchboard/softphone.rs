//! Browser softphones: agents whose agent page holds the signalling WebSocket are reachable
//! there. The switchboard rings the page as it rings a desk phone (both when the agent has
//! both: the first answer wins, the other is cancelled), bridges the WebRTC session with the
//! caller's RTP leg on the page's answer, and treats the page's hang-up, or the page going
//! away, as the agent's BYE.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use guichet_media::{Playlist, SessionId};
use guichet_sip::CallId as SipCallId;
use guichet_tickets::{CallOutcome, CallUpdate};
use guichet_web::softphone::{FromPage, ToPage};
use tokio::sync::{mpsc, oneshot};
use tracing::{debug, info, warn};

use super::{Phase, Switchboard};

/// How long each DTMF digit the agent keys lasts on the caller's leg.
const KEYPAD_DIGIT_MS: u32 = 120;

/// Messages between the web room's softphone sockets and the switchboard.
pub enum SoftphoneCommand {
    /// A page of `login` opened its socket; the answer is the link id.
    Attach {
        login: String,
        events: mpsc::UnboundedSender<ToPage>,
        reply: oneshot::Sender<Result<u64, String>>,
    },
    /// A message of the page attached as `link`.
    Page {
        login: String,
        link: u64,
        message: FromPage,
        reply: oneshot::Sender<Result<(), String>>,
    },
    /// The page attached as `link` closed its socket.
    Detach { login: String, link: u64 },
}

/// The attached pages, one per agent.
#[derive(Default)]
pub(super) struct Softphones {
    pages: HashMap<String, Page>,
    next_link: u64,
}

struct Page {
    link: u64,
    events: mpsc::UnboundedSender<ToPage>,
}

impl Softphones {
    fn send(&self, login: &str, message: ToPage) {
        if let Some(page) = self.pages.get(login) {
            let _ = page.events.send(message);
        }
    }

    fn link_of(&self, login: &str) -> Option<u64> {
        self.pages.get(login).map(|p| p.link)
    }
}

/// The browser leg of a call: the page rings, then the WebRTC session is bridged.
pub(super) struct BrowserLeg {
    pub(super) agent: String,
    link: u64,
    /// The WebRTC session, once the page answered.
    pub(super) media: Option<SessionId>,
    pub(super) answered: bool,
    on_hold: bool,
}

fn ended(reason: &str, message: &str) -> ToPage {
    ToPage::Ended {
        reason: reason.to_owned(),
        message: message.to_owned(),
    }
}

impl Switchboard {
    pub(super) async fn on_softphone(&mut self, command: SoftphoneCommand) {
        match command {
            SoftphoneCommand::Attach {
                login,
                events,
                reply,
            } => {
                if let Some(old) = self.softphones.link_of(&login)
                    && self.browser_call(&login, Some(old)).is_some_and(|id| {
                        self.calls
                            .get(&id)
                            .and_then(|c| c.browser.as_ref())
                            .is_some_and(|b| b.answered)
                    })
                {
                    // The call's audio lives in the other page: it keeps the softphone.
                    let _ =
                        reply.send(Err("une communication est en cours dans une autre page : \
                         ce softphone reste inactif"
                            .to_owned()));
                    return;
                }
                self.softphones.next_link += 1;
                let link = self.softphones.next_link;
                let _ = events.send(ToPage::Ready {
                    agent: login.clone(),
                });
                if let Some(old) = self
                    .softphones
                    .pages
                    .insert(login.clone(), Page { link, events })
                {
                    let _ = old.events.send(ToPage::Replaced);
                    self.page_gone(&login, old.link).await;
                }
                info!(agent = %login, link, "browser softphone attached");
                let _ = reply.send(Ok(link));
            }
            SoftphoneCommand::Detach { login, link } => {
                if self.softphones.link_of(&login) == Some(link) {
                    self.softphones.pages.remove(&login);
                    info!(agent = %login, link, "browser softphone detached");
                }
                self.page_gone(&login, link).await;
            }
            SoftphoneCommand::Page {
                login,
                link,
                message,
                reply,
            } => {
                let result = if self.softphones.link_of(&login) != Some(link) {
                    Err("ce softphone a été remplacé par une autre page".to_owned())
                } else {
                    match message {
                        FromPage::Answer { sdp } => self.browser_answer(&login, &sdp).await,
                        FromPage::Hangup => self.browser_hang_up(&login, link).await,
                        FromPage::Hold { on } => self.browser_hold(&login, on).await,
                        FromPage::Dtmf { digits } => self.browser_dtmf(&login, &digits),
                        _ => Err("demande du softphone non prise en charge".to_owned()),
                    }
                };
                let _ = reply.send(result);
            }
        }
    }

    /// The caller's call whose browser leg belongs to `login` (and, when given, `link`).
    fn browser_call(&self, login: &str, link: Option<u64>) -> Option<SipCallId> {
        self.calls
            .iter()
            .find(|(_, c)| {
                c.browser
                    .as_ref()
                    .is_some_and(|b| b.agent == login && link.is_none_or(|l| l == b.link))
            })
            .map(|(id, _)| id.clone())
    }

    /// Rings `agent`'s page, if one is attached, for the caller's call `sip_id`. Returns
    /// whether the page rings.
    pub(super) fn ring_browser(&mut self, sip_id: &SipCallId, agent: &str) -> bool {
        let Some(link) = self.softphones.link_of(agent) else {
            return false;
        };
        let Some(call) = self.calls.get_mut(sip_id) else {
            return false;
        };
        call.browser = Some(BrowserLeg {
            agent: agent.to_owned(),
            link,
            media: None,
            answered: false,
            on_hold: false,
        });
        let offer = ToPage::Incoming {
            number: call.caller_number.clone(),
            name: call.caller_name.clone(),
            vip: call.vip,
            p0: call.p0,
            line: call.line.clone(),
        };
        self.softphones.send(agent, offer);
        info!(%agent, "ringing the agent's browser softphone");
        true
    }

    /// The ACD withdrew the offer to `agent` (ring timeout, caller gone, desk phone
    /// answered): the page stops ringing.
    pub(super) fn cancel_browser_ring(&mut self, sip_id: &SipCallId, agent: &str, why: ToPage) {
        let Some(call) = self.calls.get_mut(sip_id) else {
            return;
        };
        if call
            .browser
            .as_ref()
            .is_some_and(|b| b.agent == agent && !b.answered)
            && let Some(b) = call.browser.take()
        {
            if let Some(m) = b.media {
                let _ = self.media.release(m);
            }
            debug!(agent = %b.agent, "browser offer withdrawn");
            self.softphones.send(&b.agent, why);
        }
    }

    /// The desk phone answered first: the page stops ringing.
    pub(super) fn desk_phone_answered(&mut self, sip_id: &SipCallId, agent: &str) {
        self.cancel_browser_ring(
            sip_id,
            agent,
            ended("ailleurs", "Appel décroché sur le poste téléphonique."),
        );
    }

    /// The offer was withdrawn by the ACD.
    pub(super) fn browser_ring_cancelled(&mut self, sip_id: &SipCallId, agent: &str) {
        self.cancel_browser_ring(
            sip_id,
            agent,
            ended(
                "annule",
                "Appel non décroché : il a été présenté à un autre agent ou l'appelant a raccroché.",
            ),
        );
    }

    /// The caller's call is being released: its browser leg goes with it.
    pub(super) fn release_browser_leg(&mut self, leg: &BrowserLeg) {
        if let Some(m) = leg.media {
            let _ = self.media.release(m);
        }
        let message = if leg.answered {
            ended("fin", "Communication terminée.")
        } else {
            ended("annule", "L'appelant a raccroché avant la réponse.")
        };
        self.softphones.send(&leg.agent, message);
    }

    async fn browser_answer(&mut self, login: &str, offer: &str) -> Result<(), String> {
        let Some(sip_id) = self.browser_call(login, None) else {
            return Err("aucun appel ne vous est présenté".to_owned());
        };
        let now = self.clock.now();
        let Some(call) = self.calls.get_mut(&sip_id) else {
            return Err("aucun appel ne vous est présenté".to_owned());
        };
        if call.browser.as_ref().is_some_and(|b| b.answered) {
            return Err("cet appel est déjà décroché".to_owned());
        }
        let (session, answer) = self.media.webrtc_accept(offer).map_err(|e| {
            warn!(error = %e, "browser offer refused");
            format!("offre audio du navigateur refusée : {e}")
        })?;
        let acd = call.acd;
        if let Err(e) = self.acd.agent_answered(now, login, acd) {
            info!(error = %e, "browser answer too late");
            let _ = self.media.release(session);
            self.browser_ring_cancelled(&sip_id, login);
            self.drain_acd().await;
            return Err("trop tard : l'appel n'est plus présenté".to_owned());
        }
        let Some(call) = self.calls.get_mut(&sip_id) else {
            let _ = self.media.release(session);
            return Err("l'appelant a raccroché".to_owned());
        };
        // First answer wins: the desk phone, if it rings too, is cancelled.
        if let Some(desk) = call.agent.take() {
            self.by_leg.remove(&desk.sip);
            // `self.calls` is borrowed: the field, not `hang_up_after_log`.
            self.after_log
                .push(super::after_log::AfterLog::HangUp(desk.sip.clone()));
            let _ = self.media.release(desk.media);
        }
        if let Some(b) = call.browser.as_mut() {
            b.media = Some(session);
            b.answered = true;
        }
        call.answered_by = Some(login.to_owned());
        call.phase = Phase::Connected;
        call.hold_play = None;
        let (caller_media, record) = (call.media, call.record);
        let _ = self.media.stop(caller_media);
        match self.media.bridge(caller_media, session) {
            Ok(b) => call.bridge = Some(b),
            Err(e) => warn!(error = %e, "cannot bridge the browser leg"),
        }
        self.softphones
            .send(login, ToPage::Connected { sdp: answer });
        info!(agent = %login, "agent answered in the browser, legs bridged");
        self.update(
            record,
            CallUpdate::Answered {
                at: now,
                agent: login.to_owned(),
            },
        )
        .await;
        self.drain_acd().await;
        Ok(())
    }

    /// « Raccrocher »: a call in progress ends as when the agent's phone sends BYE; a call
    /// still ringing is declined.
    async fn browser_hang_up(&mut self, login: &str, link: u64) -> Result<(), String> {
        if self.browser_call(login, Some(link)).is_none() {
            return Err("aucun appel en cours".to_owned());
        }
        self.page_gone(login, link).await;
        Ok(())
    }

    /// The page attached as `link` hangs up or went away: its call in progress ends like a
    /// BYE from the agent; a call ringing there is not answered (the ACD offers it again, or
    /// the desk phone rings on).
    async fn page_gone(&mut self, login: &str, link: u64) {
        let Some(sip_id) = self.browser_call(login, Some(link)) else {
            return;
        };
        let now = self.clock.now();
        let Some(call) = self.calls.get_mut(&sip_id) else {
            return;
        };
        let Some(leg) = call.browser.take() else {
            return;
        };
        let acd = call.acd;
        let desk_rings = call.agent.is_some();
        if leg.answered {
            info!(agent = %login, "agent hung up in the browser");
            if let Some(m) = leg.media {
                call.agent_quality = super::call_quality::agent_quality(&self.media, m);
                let _ = self.media.release(m);
            }
            self.softphones
                .send(login, ended("fin", "Communication terminée."));
            self.hang_up_after_log(&sip_id);
            if let Err(e) = self.acd.call_ended(now, acd) {
                debug!(error = %e, "call end ignored by the ACD");
            }
            self.finish_call(&sip_id, Some(CallOutcome::Answered), now)
                .await;
        } else {
            info!(agent = %login, "offer declined in the browser");
            self.softphones
                .send(login, ended("refuse", "Appel refusé."));
            if !desk_rings && let Err(e) = self.acd.offer_failed(now, login, acd) {
                debug!(error = %e, "offer failure ignored by the ACD");
            }
        }
        self.drain_acd().await;
    }

    fn connected_browser_call(&self, login: &str) -> Result<SipCallId, String> {
        self.browser_call(login, None)
            .filter(|id| {
                self.calls
                    .get(id)
                    .and_then(|c| c.browser.as_ref())
                    .is_some_and(|b| b.answered)
            })
            .ok_or_else(|| "aucune communication en cours".to_owned())
    }

    /// Hold: the caller hears the music on hold and the agent nothing; back: bridged again.
    async fn browser_hold(&mut self, login: &str, on: bool) -> Result<(), String> {
        let sip_id = self.connected_browser_call(login)?;
        if on {
            // Hold undoes the bridge the supervisors are on.
            self.end_monitors(
                &sip_id,
                "L'agent a mis l'appelant en attente : l'écoute est terminée.",
            )
            .await;
        }
        let music = self.prompts.music_on_hold();
        let Some(call) = self.calls.get_mut(&sip_id) else {
            return Err("aucune communication en cours".to_owned());
        };
        let Some(browser_media) = call.browser.as_ref().and_then(|b| b.media) else {
            return Err("aucune communication en cours".to_owned());
        };
        if call.browser.as_ref().is_some_and(|b| b.on_hold == on) {
            self.softphones.send(login, ToPage::Held { on });
            return Ok(());
        }
        if on {
            if let Some(b) = call.bridge.take() {
                let _ = self.media.unbridge(b);
            }
            let played = self.media.play(
                call.media,
                Playlist {
                    items: vec![music],
                    looped: true,
                    barge_in: false,
                },
            );
            if let Err(e) = played {
                warn!(error = %e, "no music on hold");
            }
        } else {
            let _ = self.media.stop(call.media);
            match self.media.bridge(call.media, browser_media) {
                Ok(b) => call.bridge = Some(b),
                Err(e) => {
                    warn!(error = %e, "cannot bridge again after hold");
                    return Err("reprise impossible : la liaison audio a échoué".to_owned());
                }
            }
        }
        if let Some(b) = call.browser.as_mut() {
            b.on_hold = on;
        }
        info!(agent = %login, on, "browser hold");
        self.softphones.send(login, ToPage::Held { on });
        Ok(())
    }

    /// Keypad digits go to the caller's leg as RFC 4733 telephone events.
    fn browser_dtmf(&mut self, login: &str, digits: &str) -> Result<(), String> {
        let sip_id = self.connected_browser_call(login)?;
        if digits.is_empty() || digits.chars().count() > 32 {
            return Err("de 1 à 32 touches à la fois".to_owned());
        }
        let Some(call) = self.calls.get(&sip_id) else {
            return Err("aucune communication en cours".to_owned());
        };
        self.media
            .send_dtmf(call.media, digits, KEYPAD_DIGIT_MS)
            .map_err(|e| {
                debug!(error = %e, "keypad digits not sent");
                "touches non transmises : la ligne de l'appelant ne les accepte pas".to_owned()
            })
    }

    /// Records the offer of the call to `agent` when only their page rings.
    pub(super) async fn browser_offered(
        &self,
        sip_id: &SipCallId,
        agent: String,
        now: DateTime<Utc>,
    ) {
        if let Some(record) = self.calls.get(sip_id).map(|c| c.record) {
            self.update(record, CallUpdate::Offered { at: now, agent })
                .await;
        }
    }
}

impl super::SwitchboardHandle {
    /// Attaches a browser softphone page of `login`; returns the link id, or why not (French).
    pub async fn softphone_attach(
        &self,
        login: &str,
        events: mpsc::UnboundedSender<ToPage>,
    ) -> anyhow::Result<Result<u64, String>> {
        self.ask(|reply| {
            super::Command::Softphone(SoftphoneCommand::Attach {
                login: login.to_owned(),
                events,
                reply,
            })
        })
        .await
    }

    /// Carries a message of the page attached as `link`; the error is French.
    pub async fn softphone_page(
        &self,
        login: &str,
        link: u64,
        message: FromPage,
    ) -> anyhow::Result<Result<(), String>> {
        self.ask(|reply| {
            super::Command::Softphone(SoftphoneCommand::Page {
                login: login.to_owned(),
                link,
                message,
                reply,
            })
        })
        .await
    }

    /// The page attached as `link` closed its socket.
    pub async fn softphone_detach(&self, login: &str, link: u64) -> anyhow::Result<()> {
        self.tx
            .send(super::Command::Softphone(SoftphoneCommand::Detach {
                login: login.to_owned(),
                link,
            }))
            .await
            .map_err(|_| anyhow::anyhow!("the switchboard has stopped"))
    }
}
