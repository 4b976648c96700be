//! The room's public vocabulary: configuration, events out, commands in.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use crate::digest::DigestAlgorithm;
use crate::sdp::SessionDescription;

/// A call's SIP Call-ID: the key of every event and command about that call.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CallId(pub String);

impl std::fmt::Display for CallId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// SIP configuration (the `[sip]` table of the Guichet config).
#[derive(Debug, Clone, serde::Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SipConfig {
    /// Address for both UDP and TCP (port 0 lets the OS choose; the bound address is reported
    /// by [`crate::SipEndpoint::local_addr`]). Default `0.0.0.0:5060`.
    pub listen: SocketAddr,
    /// Address written in Via and Contact when `listen` is a wildcard. Default: the listen
    /// address, or 127.0.0.1 for a wildcard.
    pub public_address: Option<IpAddr>,
    /// Dialled numbers that are helpdesk lines; an INVITE to any other number gets 404.
    pub lines: Vec<String>,
    /// Digest realm for REGISTER. Default `guichet`.
    pub realm: String,
    /// Digest algorithms offered to desk phones, preferred first. Default `["sha256", "md5"]`.
    pub digest_algorithms: Vec<DigestAlgorithm>,
    /// Lifetime of a digest nonce, seconds. Default 300.
    pub nonce_ttl_secs: u64,
    /// Shortest registration accepted (423 below), seconds. Default 60.
    pub min_register_expires: u32,
    /// Longest registration granted (longer requests are shortened), seconds. Default 3600.
    pub max_register_expires: u32,
    /// Failed authentications allowed per source address per window. Default 10.
    pub auth_max_failures: u32,
    /// The window for `auth_max_failures`, seconds. Default 60.
    pub auth_failure_window_secs: u64,
    /// Requests waiting for the signalling task beyond which new requests get 503. Default 20000.
    pub max_pending_requests: usize,
    /// An incoming call neither answered nor refused by the switchboard within this many
    /// seconds gets 480 and [`SipEvent::Ended`] with [`EndReason::Timeout`]. Default 300.
    pub answer_timeout_secs: u64,
    /// Outbound trunk for calls to external numbers (callbacks), if any.
    pub trunk: Option<TrunkConfig>,
    /// How the answers that end a call at the network's request are sent: the 200 OK to a
    /// BYE and, after a CANCEL, the 487 to the INVITE. Chosen by the application, not a key
    /// of the configuration file. Default [`ByeAnswer::Immediate`].
    #[serde(skip)]
    pub bye_answer: ByeAnswer,
}

/// When the room sends the 200 OK to a BYE received in a dialog, and the 487 to an INVITE
/// the caller cancelled before the answer. One setting covers both: each is the message that
/// tells the remote party its call is over, and an application that makes that end durable
/// first wants both held. The 200 OK to the CANCEL itself always goes at once: it answers
/// the CANCEL hop by hop and says nothing about the INVITE (RFC 3261 §9.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ByeAnswer {
    /// At once, before [`SipEvent::Ended`] or [`SipEvent::Cancelled`] is emitted.
    #[default]
    Immediate,
    /// Once the application confirms with [`crate::SipHandle::answer_bye`] (after it has made
    /// the end of the call durable, say), or after `bound` at the latest, with a warning, so
    /// that a phone is never left retransmitting its BYE until it gives up. Meanwhile the
    /// BYE's retransmissions are absorbed; once sent, the answer is repeated to them.
    /// [`SipEvent::Ended`] says `answer_pending: true` for such a BYE.
    ///
    /// Likewise the 487 to a cancelled INVITE waits for [`crate::SipHandle::answer_cancel`]
    /// or `bound` ([`SipEvent::Cancelled`] with `answer_pending: true`); meanwhile a
    /// retransmitted INVITE gets 100 Trying again and a retransmitted CANCEL its 200 OK.
    Deferred {
        /// Longest wait for the confirmation (positive, below the BYE's 32 s timer F).
        bound: Duration,
    },
}

impl Default for SipConfig {
    fn default() -> Self {
        SipConfig {
            listen: SocketAddr::from(([0, 0, 0, 0], 5060)),
            public_address: None,
            lines: Vec::new(),
            realm: "guichet".into(),
            digest_algorithms: vec![DigestAlgorithm::Sha256, DigestAlgorithm::Md5],
            nonce_ttl_secs: 300,
            min_register_expires: 60,
            max_register_expires: 3600,
            auth_max_failures: 10,
            auth_failure_window_secs: 60,
            max_pending_requests: 20_000,
            answer_timeout_secs: 300,
            trunk: None,
            bye_answer: ByeAnswer::Immediate,
        }
    }
}

/// An outbound SIP trunk (the PBX or the operator's gateway).
#[derive(Clone, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrunkConfig {
    /// Where to send INVITEs (IP and port).
    pub address: SocketAddr,
    /// Domain written in the Request-URI and To (`sip:NUMBER@domain`).
    pub domain: String,
    /// User part of our From (the helpdesk's presented number).
    pub from_user: String,
    /// Digest user name, if the trunk challenges.
    pub username: Option<String>,
    /// Digest password, if the trunk challenges. Never logged.
    pub password: Option<String>,
}

impl std::fmt::Debug for TrunkConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TrunkConfig")
            .field("address", &self.address)
            .field("domain", &self.domain)
            .field("username", &self.username)
            .finish_non_exhaustive()
    }
}

/// A configuration error naming the offending field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SipConfigError {
    /// The field has a value that cannot work.
    #[error("sip.{field}: {reason}")]
    InvalidField {
        /// Field name, e.g. `lines`.
        field: &'static str,
        /// What is wrong.
        reason: String,
    },
}

impl SipConfig {
    /// Check values that deserialization cannot.
    pub fn validate(&self) -> Result<(), SipConfigError> {
        let bad = |field, reason: &str| {
            Err(SipConfigError::InvalidField {
                field,
                reason: reason.to_owned(),
            })
        };
        if let Some(l) = self.lines.iter().find(|l| {
            l.is_empty()
                || !l
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "+*#-._".contains(c))
        }) {
            return bad("lines", &format!("`{l}` is not a dialable number"));
        }
        if self.realm.is_empty() || self.realm.contains('"') {
            return bad("realm", "must be non-empty and without quotes");
        }
        if self.digest_algorithms.is_empty() {
            return bad("digest_algorithms", "at least one algorithm is needed");
        }
        if self.nonce_ttl_secs == 0 {
            return bad("nonce_ttl_secs", "must be positive");
        }
        if self.min_register_expires == 0 || self.min_register_expires > self.max_register_expires {
            return bad(
                "min_register_expires",
                "must be positive and not above max_register_expires",
            );
        }
        if self.answer_timeout_secs == 0 {
            return bad("answer_timeout_secs", "must be positive");
        }
        if self.max_pending_requests == 0 {
            return bad("max_pending_requests", "must be positive");
        }
        if let Some(t) = &self.trunk
            && t.username.is_some() != t.password.is_some()
        {
            return bad("trunk", "username and password go together");
        }
        if let ByeAnswer::Deferred { bound } = self.bye_answer
            && (bound.is_zero() || bound >= Duration::from_secs(32))
        {
            return bad(
                "bye_answer",
                "the bound must be positive and below 32 s (the BYE's timer F)",
            );
        }
        Ok(())
    }
}

/// Why a call ended from the network's side.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum EndReason {
    /// The remote party sent BYE.
    RemoteBye,
    /// Our 2xx was never acknowledged (RFC 3261 §13.3.1.4): the call was torn down.
    NoAck,
    /// An incoming call was not answered in time (`answer_timeout_secs`), or an outgoing
    /// request went unanswered.
    Timeout,
}

/// A new call to one of the lines.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IncomingCall {
    /// Call-ID.
    pub call_id: CallId,
    /// The caller's number (From user part). Personal data: log at debug only.
    pub caller_number: String,
    /// The caller's display name, if given.
    pub display_name: Option<String>,
    /// The dialled line (Request-URI user part).
    pub dialled_number: String,
    /// The SDP offer, if the INVITE carried one.
    pub offer: Option<SessionDescription>,
    /// Where the INVITE came from.
    pub source: SocketAddr,
}

/// Progress of an outgoing call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OutboundProgress {
    /// 180 Ringing (or 183 with `early_media`).
    Ringing {
        /// SDP of a 183 Session Progress.
        early_media: Option<SessionDescription>,
    },
    /// 2xx: the agent or callee answered.
    Answered {
        /// Their SDP answer.
        answer: Option<SessionDescription>,
    },
    /// A final failure, or 408 on timeout.
    Failed {
        /// SIP status code.
        code: u16,
    },
}

/// What the room tells the switchboard.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum SipEvent {
    /// An INVITE to a configured line (already answered with 100 Trying).
    IncomingCall(IncomingCall),
    /// The caller cancelled before answer (200 OK to the CANCEL already sent).
    Cancelled {
        /// The call.
        call_id: CallId,
        /// The 487 to the INVITE still waits ([`ByeAnswer::Deferred`]): the application
        /// sends it with [`crate::SipHandle::answer_cancel`]. When false it has been sent.
        answer_pending: bool,
    },
    /// The dialog ended from the network side.
    Ended {
        /// The call.
        call_id: CallId,
        /// Why.
        reason: EndReason,
        /// The remote party's BYE still waits for its 200 OK ([`ByeAnswer::Deferred`]): the
        /// application sends it with [`crate::SipHandle::answer_bye`].
        answer_pending: bool,
    },
    /// A DTMF digit received by SIP INFO.
    Dtmf {
        /// The call.
        call_id: CallId,
        /// `0`-`9`, `*`, `#`, `A`-`D`.
        digit: char,
        /// Duration in ms if given.
        duration_ms: Option<u32>,
    },
    /// The remote party re-INVITEd: hold (sendonly/inactive/0.0.0.0) or unhold. Already
    /// answered from our current SDP with the direction mirrored.
    HoldChanged {
        /// The call.
        call_id: CallId,
        /// True when the remote side put the call on hold.
        on_hold: bool,
        /// The new offer.
        offer: SessionDescription,
    },
    /// Delayed offer (RFC 3261 §13.2.1): the INVITE had no SDP, so the switchboard answered
    /// with an offer, and the caller's answer arrived in the ACK.
    AnswerInAck {
        /// The call.
        call_id: CallId,
        /// The caller's SDP answer.
        answer: SessionDescription,
    },
    /// Outcome of a re-INVITE we sent.
    ReinviteResult {
        /// The call.
        call_id: CallId,
        /// Final status code.
        code: u16,
        /// SDP answer on 2xx.
        answer: Option<SessionDescription>,
    },
    /// The contacts registered for a user changed.
    RegistrationChanged {
        /// User (AOR user part).
        user: String,
        /// Live contact URIs.
        contacts: Vec<String>,
    },
    /// Progress of a call we placed.
    Outbound {
        /// The call.
        call_id: CallId,
        /// What happened.
        progress: OutboundProgress,
    },
}

/// Where to ring.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CallTarget {
    /// A registered user (agent desk phone): every live contact is tried, the most recent one.
    Registered(String),
    /// A SIP URI with an IP host, e.g. `sip:agent@192.0.2.10:5062`.
    Uri(String),
}

/// Errors from handle commands.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SipError {
    /// The user has no live registration.
    #[error("user {0} is not registered")]
    NotRegistered(String),
    /// The URI cannot be routed (not sip:, no IP host).
    #[error("cannot route to {0}")]
    BadTarget(String),
    /// No trunk is configured.
    #[error("no trunk configured")]
    NoTrunk,
    /// The endpoint has stopped.
    #[error("SIP endpoint stopped")]
    Stopped,
    /// Socket setup failed.
    #[error("cannot bind {addr}: {reason}")]
    Bind {
        /// Address.
        addr: SocketAddr,
        /// OS error text.
        reason: String,
    },
    /// Invalid configuration.
    #[error(transparent)]
    Config(#[from] SipConfigError),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validation_names_the_field() {
        assert_eq!(SipConfig::default().validate(), Ok(()));
        let bad = SipConfig {
            lines: vec!["85 85".into()],
            ..SipConfig::default()
        };
        assert!(matches!(
            bad.validate(),
            Err(SipConfigError::InvalidField { field: "lines", .. })
        ));
        let bad = SipConfig {
            digest_algorithms: Vec::new(),
            ..SipConfig::default()
        };
        assert!(
            bad.validate()
                .unwrap_err()
                .to_string()
                .starts_with("sip.digest_algorithms:")
        );
        let bad = SipConfig {
            min_register_expires: 7200,
            ..SipConfig::default()
        };
        assert!(matches!(
            bad.validate(),
            Err(SipConfigError::InvalidField {
                field: "min_register_expires",
                ..
            })
        ));
    }

    #[test]
    fn trunk_password_is_not_in_debug_output() {
        let t = TrunkConfig {
            address: "127.0.0.1:5060".parse().unwrap(),
            domain: "op".into(),
            from_user: "0140".into(),
            username: Some("u".into()),
            password: Some("hunter2-secret".into()),
        };
        assert!(!format!("{t:?}").contains("hunter2"));
    }
}
