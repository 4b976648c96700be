//! SLA policies: the serde specs the binary embeds, their validation, and the
//! ready-made Louvre and Culture policies.

use std::collections::BTreeMap;

use chrono::TimeDelta;
use serde::{Deserialize, Serialize};

use crate::priority::Priority;

/// The SLA section of the configuration: named policies.
///
/// ```toml
/// [policies.louvre]
/// calendar = "louvre"
/// business_day = "9h"
/// [[policies.louvre.targets]]
/// priority = "p0"
/// resolve = "2h"
/// ```
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SlaConfigSpec {
    /// Policies by name; a ticket's clock names the policy it runs under.
    #[serde(default)]
    pub policies: BTreeMap<String, SlaPolicySpec>,
}

/// One SLA policy as configured.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SlaPolicySpec {
    /// Name of the calendar (from the configuration's calendars) whose
    /// business hours the targets are counted in.
    pub calendar: String,
    /// When the resolution clock starts: at ticket creation (default,
    /// LOUVRE-IT 529) or when it is assigned to the contractor (CULTURE 3082).
    /// The take-charge clock always starts at creation.
    #[serde(default)]
    pub clock_starts: ClockStart,
    /// Length of one business day, for targets written in days (`"3d"`).
    /// Default `"9h"` (Louvre 9:00-18:00); Culture's desk day is `"10h30min"`.
    #[serde(default = "default_business_day")]
    pub business_day: String,
    /// Fraction of a target after which an "at risk" warning is raised
    /// (CULTURE 741-746). Strictly between 0 and 1; default 0.75.
    #[serde(default = "default_at_risk")]
    pub at_risk: f64,
    /// Waiting reasons that pause the clock, and that keep it from starting
    /// when present at creation (LOUVRE-IT 529-544). Default: all of them.
    #[serde(default = "all_pause_reasons")]
    pub pause_reasons: Vec<PauseReason>,
    /// Whether agents may move a ticket's due date, with a reason
    /// (CULTURE 901-909). The ministry may withdraw it. Default true.
    #[serde(default = "yes")]
    pub allow_due_date_changes: bool,
    /// Whether agents may change a ticket's priority (severity) after
    /// creation, with a reason (CULTURE 901-909). Default true.
    #[serde(default = "yes")]
    pub allow_priority_changes: bool,
    /// Automatic closure after resolution (CULTURE 911-916).
    #[serde(default)]
    pub auto_close: AutoCloseSpec,
    /// Targets, tried in order: the first whose selectors all match the
    /// ticket applies. A ticket no target matches has no deadline.
    pub targets: Vec<TargetSpec>,
}

/// A deadline rule. Durations are business time of the policy's calendar,
/// written like `"25min"`, `"2h"`, `"1h30min"`, `"3d"` (d = `business_day`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TargetSpec {
    /// Applies only to this priority (any if absent).
    #[serde(default)]
    pub priority: Option<Priority>,
    /// Applies only to this nature (any if absent). `incident` also matches
    /// assistance, which is counted as an incident (CULTURE 588).
    #[serde(default)]
    pub nature: Option<Nature>,
    /// Applies only to requests in (false) or out of (true) the catalogue.
    #[serde(default)]
    pub out_of_catalogue: Option<bool>,
    /// Time to take charge (creation to assignment).
    #[serde(default)]
    pub take_charge: Option<String>,
    /// Time to resolve.
    #[serde(default)]
    pub resolve: Option<String>,
    /// The resolution target is also met by escalating to another support
    /// group within this delay (CULTURE 586: "resolved in 25 min or escalated
    /// in 20 min"). Requires `resolve`.
    #[serde(default)]
    pub escalate_within: Option<String>,
    /// Unresolved after this much business time, the ticket is bumped to
    /// `bump_to` and its resolution deadline restarts under that priority's
    /// target (LOUVRE-IT 562: non-blocking → normal after two days).
    #[serde(default)]
    pub bump_after: Option<String>,
    /// The priority a bump raises the ticket to; more urgent than `priority`.
    #[serde(default)]
    pub bump_to: Option<Priority>,
}

/// Automatic closure of resolved tickets.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AutoCloseSpec {
    /// Days after the last resolution. Default 14 (CULTURE 911-916).
    #[serde(default = "default_auto_close_days")]
    pub after_days: u32,
    /// How the days are counted. Default `calendar_days`.
    #[serde(default)]
    pub counting: DayCounting,
}

impl Default for AutoCloseSpec {
    fn default() -> Self {
        AutoCloseSpec {
            after_days: default_auto_close_days(),
            counting: DayCounting::default(),
        }
    }
}

/// How days are counted for automatic closure.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DayCounting {
    /// Civil days in the calendar's zone: same wall-clock time N dates later.
    #[default]
    CalendarDays,
    /// Days on which the calendar opens: same wall-clock time on the N-th
    /// such date after the resolution date.
    BusinessDays,
}

/// When the resolution clock starts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ClockStart {
    /// At ticket creation.
    #[default]
    Creation,
    /// At the first assignment.
    Assignment,
}

/// Why a ticket waits (and, when the policy says so, why its clock is paused
/// or has not started).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PauseReason {
    /// An appointment with the user (LOUVRE-IT 529-531, CULTURE 745).
    Appointment,
    /// Equipment awaiting delivery or repair (LOUVRE-IT 540-544).
    Delivery,
    /// Waiting for the user.
    User,
    /// Waiting for a third party.
    ThirdParty,
    /// Works to be done first by the site (sockets) or network inactive
    /// (LOUVRE-IT 536-538).
    SiteWorks,
}

impl PauseReason {
    /// Every reason.
    pub const ALL: [PauseReason; 5] = [
        PauseReason::Appointment,
        PauseReason::Delivery,
        PauseReason::User,
        PauseReason::ThirdParty,
        PauseReason::SiteWorks,
    ];

    /// French label for the audit trail and the agent desk.
    pub fn label(self) -> &'static str {
        match self {
            PauseReason::Appointment => "rendez-vous avec l'utilisateur",
            PauseReason::Delivery => "matériel en attente de livraison ou de réparation",
            PauseReason::User => "en attente de l'utilisateur",
            PauseReason::ThirdParty => "en attente d'un tiers",
            PauseReason::SiteWorks => "travaux préalables ou réseau inactif",
        }
    }
}

/// Nature of a ticket as the SLA selectors see it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Nature {
    /// A malfunction.
    Incident,
    /// A service request.
    Request,
    /// Assistance: counted as an incident.
    Assistance,
}

impl Nature {
    fn counted_as(self) -> Nature {
        match self {
            Nature::Assistance => Nature::Incident,
            other => other,
        }
    }
}

/// What the selectors look at.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct TicketFacts {
    /// Current priority.
    pub priority: Priority,
    /// Nature.
    pub nature: Nature,
    /// A request outside the service catalogue (CULTURE 590-594).
    #[serde(default)]
    pub out_of_catalogue: bool,
}

/// Why an SLA configuration was refused; `field` is the path of the
/// offending item, e.g. `policies.louvre.targets[3].bump_to`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {reason}")]
#[non_exhaustive]
pub struct SlaConfigError {
    /// Path of the offending field.
    pub field: String,
    /// What is wrong.
    pub reason: String,
}

/// A validated target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// Selector.
    pub priority: Option<Priority>,
    /// Selector.
    pub nature: Option<Nature>,
    /// Selector.
    pub out_of_catalogue: Option<bool>,
    /// Time to take charge.
    pub take_charge: Option<TimeDelta>,
    /// Time to resolve.
    pub resolve: Option<TimeDelta>,
    /// Resolution target also met by escalating within this.
    pub escalate_within: Option<TimeDelta>,
    /// Automatic bump: after this much resolution time, to this priority.
    pub bump: Option<(TimeDelta, Priority)>,
}

impl Target {
    fn matches(&self, facts: &TicketFacts) -> bool {
        self.priority.is_none_or(|p| p == facts.priority)
            && self
                .nature
                .is_none_or(|n| n.counted_as() == facts.nature.counted_as())
            && self
                .out_of_catalogue
                .is_none_or(|o| o == facts.out_of_catalogue)
    }
}

/// A validated policy.
#[derive(Debug, Clone, PartialEq)]
pub struct SlaPolicy {
    /// Calendar name.
    pub calendar: String,
    /// When the resolution clock starts.
    pub clock_starts: ClockStart,
    /// At-risk fraction.
    pub at_risk: f64,
    /// Reasons that pause the clock.
    pub pause_reasons: Vec<PauseReason>,
    /// Due-date changes allowed.
    pub allow_due_date_changes: bool,
    /// Priority changes allowed.
    pub allow_priority_changes: bool,
    /// Automatic closure.
    pub auto_close: AutoCloseSpec,
    /// Targets in order.
    pub targets: Vec<Target>,
}

impl SlaPolicy {
    /// Validates `spec`; `path` prefixes the field names in errors (e.g.
    /// `policies.louvre`).
    pub fn new(path: &str, spec: &SlaPolicySpec) -> Result<Self, SlaConfigError> {
        let err = |field: &str, reason: String| SlaConfigError {
            field: format!("{path}.{field}"),
            reason,
        };
        let business_day =
            parse_duration(&spec.business_day, None).map_err(|r| err("business_day", r))?;
        if !(spec.at_risk > 0.0 && spec.at_risk < 1.0) {
            return Err(err(
                "at_risk",
                format!("{} must be strictly between 0 and 1", spec.at_risk),
            ));
        }
        if spec.calendar.trim().is_empty() {
            return Err(err("calendar", "a calendar name is required".into()));
        }
        let mut targets = Vec::with_capacity(spec.targets.len());
        for (i, t) in spec.targets.iter().enumerate() {
            let field = |name: &str| format!("targets[{i}].{name}");
            let dur =
                |name: &str, v: &Option<String>| -> Result<Option<TimeDelta>, SlaConfigError> {
                    v.as_deref()
                        .map(|s| parse_duration(s, Some(business_day)))
                        .transpose()
                        .map_err(|r| err(&field(name), r))
                };
            let take_charge = dur("take_charge", &t.take_charge)?;
            let resolve = dur("resolve", &t.resolve)?;
            let escalate_within = dur("escalate_within", &t.escalate_within)?;
            let bump_after = dur("bump_after", &t.bump_after)?;
            if take_charge.is_none() && resolve.is_none() {
                return Err(err(
                    &format!("targets[{i}]"),
                    "needs take_charge or resolve".into(),
                ));
            }
            if escalate_within.is_some() && resolve.is_none() {
                return Err(err(&field("escalate_within"), "requires resolve".into()));
            }
            let bump = match (bump_after, t.bump_to) {
                (None, None) => None,
                (Some(after), Some(to)) => {
                    if resolve.is_none() {
                        return Err(err(&field("bump_after"), "requires resolve".into()));
                    }
                    if t.priority.is_none_or(|p| to >= p) {
                        return Err(err(
                            &field("bump_to"),
                            "must be more urgent than the target's priority (which must be set)"
                                .into(),
                        ));
                    }
                    Some((after, to))
                }
                (Some(_), None) => {
                    return Err(err(&field("bump_to"), "required with bump_after".into()));
                }
                (None, Some(_)) => {
                    return Err(err(&field("bump_after"), "required with bump_to".into()));
                }
            };
            targets.push(Target {
                priority: t.priority,
                nature: t.nature,
                out_of_catalogue: t.out_of_catalogue,
                take_charge,
                resolve,
                escalate_within,
                bump,
            });
        }
        let mut pause_reasons = spec.pause_reasons.clone();
        pause_reasons.sort();
        pause_reasons.dedup();
        Ok(SlaPolicy {
            calendar: spec.calendar.clone(),
            clock_starts: spec.clock_starts,
            at_risk: spec.at_risk,
            pause_reasons,
            allow_due_date_changes: spec.allow_due_date_changes,
            allow_priority_changes: spec.allow_priority_changes,
            auto_close: spec.auto_close.clone(),
            targets,
        })
    }

    /// The first target matching `facts`.
    pub fn target_for(&self, facts: &TicketFacts) -> Option<&Target> {
        self.targets.iter().find(|t| t.matches(facts))
    }

    /// Whether waiting for `reason` pauses the clock.
    pub fn pauses_for(&self, reason: PauseReason) -> bool {
        self.pause_reasons.contains(&reason)
    }
}

impl SlaPolicySpec {
    /// The Louvre grid (LOUVRE-IT 546-568), in business hours 9:00-18:00
    /// Monday-Friday of calendar `calendar`: P0 = URGENCE VIP < 2 h,
    /// P1 = IMPORTANT < 4 h, P2 = NORMAL < 8 h, P3 = NON BLOQUANTE < 3 days,
    /// bumped to NORMAL (P2) after 2 days. The deadline runs from creation and
    /// pauses for an appointment, equipment awaited, site works, or the user.
    pub fn louvre(calendar: &str) -> Self {
        let target = |p: Priority, resolve: &str| TargetSpec {
            priority: Some(p),
            resolve: Some(resolve.to_owned()),
            ..TargetSpec::default()
        };
        let mut non_blocking = target(Priority::P3, "3d");
        non_blocking.bump_after = Some("2d".to_owned());
        non_blocking.bump_to = Some(Priority::P2);
        SlaPolicySpec {
            calendar: calendar.to_owned(),
            clock_starts: ClockStart::Creation,
            business_day: "9h".to_owned(),
            at_risk: default_at_risk(),
            pause_reasons: vec![
                PauseReason::Appointment,
                PauseReason::Delivery,
                PauseReason::SiteWorks,
                PauseReason::User,
            ],
            allow_due_date_changes: true,
            allow_priority_changes: true,
            auto_close: AutoCloseSpec::default(),
            targets: vec![
                target(Priority::P0, "2h"),
                target(Priority::P1, "4h"),
                target(Priority::P2, "8h"),
                non_blocking,
            ],
        }
    }

    /// The Culture service-desk rules (CULTURE 586-594), in business hours
    /// 8:00-18:30 of calendar `calendar`: an incident (or assistance) is
    /// resolved in 25 min or escalated in 20 min; a request outside the
    /// catalogue is resolved or escalated in 10 min. The clock runs from
    /// creation, pauses for an appointment, equipment awaited or the user;
    /// resolved tickets close 14 calendar days after the last resolution.
    pub fn culture_service_desk(calendar: &str) -> Self {
        SlaPolicySpec {
            calendar: calendar.to_owned(),
            clock_starts: ClockStart::Creation,
            business_day: "10h30min".to_owned(),
            at_risk: default_at_risk(),
            pause_reasons: vec![
                PauseReason::Appointment,
                PauseReason::Delivery,
                PauseReason::User,
            ],
            allow_due_date_changes: true,
            allow_priority_changes: true,
            auto_close: AutoCloseSpec::default(),
            targets: vec![
                TargetSpec {
                    nature: Some(Nature::Incident),
                    resolve: Some("25min".to_owned()),
                    escalate_within: Some("20min".to_owned()),
                    ..TargetSpec::default()
                },
                TargetSpec {
                    nature: Some(Nature::Request),
                    out_of_catalogue: Some(true),
                    resolve: Some("10min".to_owned()),
                    escalate_within: Some("10min".to_owned()),
                    ..TargetSpec::default()
                },
            ],
        }
    }
}

/// Parses `"2h"`, `"25min"`, `"1h30min"`, `"90s"`, `"3d"` into a duration.
/// `d` is `business_day` long; it is refused when `business_day` is `None`.
pub fn parse_duration(text: &str, business_day: Option<TimeDelta>) -> Result<TimeDelta, String> {
    let s = text.trim();
    if s.is_empty() {
        return Err("empty duration (write e.g. \"25min\", \"2h\", \"3d\")".into());
    }
    let mut total = TimeDelta::zero();
    let mut rest = s;
    while !rest.is_empty() {
        let digits = rest.len() - rest.trim_start_matches(|c: char| c.is_ascii_digit()).len();
        if digits == 0 {
            return Err(format!("{text:?}: expected a number before {rest:?}"));
        }
        let n: i64 = rest[..digits]
            .parse()
            .map_err(|_| format!("{text:?}: number too large"))?;
        rest = &rest[digits..];
        let unit_len = rest.len()
            - rest
                .trim_start_matches(|c: char| c.is_ascii_alphabetic())
                .len();
        let unit = &rest[..unit_len];
        rest = rest[unit_len..].trim_start();
        let one = match unit {
            "d" => business_day.ok_or_else(|| format!("{text:?}: days are not allowed here"))?,
            "h" => TimeDelta::hours(1),
            "min" => TimeDelta::minutes(1),
            "s" => TimeDelta::seconds(1),
            "" => return Err(format!("{text:?}: missing unit (d, h, min or s)")),
            other => return Err(format!("{text:?}: unknown unit {other:?} (d, h, min or s)")),
        };
        let part = one
            .checked_mul(i32::try_from(n).map_err(|_| format!("{text:?}: number too large"))?)
            .ok_or_else(|| format!("{text:?}: too long"))?;
        total = total
            .checked_add(&part)
            .ok_or_else(|| format!("{text:?}: too long"))?;
    }
    if total <= TimeDelta::zero() {
        return Err(format!("{text:?}: must be positive"));
    }
    Ok(total)
}

fn default_business_day() -> String {
    "9h".to_owned()
}

fn default_at_risk() -> f64 {
    0.75
}

fn default_auto_close_days() -> u32 {
    14
}

fn all_pause_reasons() -> Vec<PauseReason> {
    PauseReason::ALL.to_vec()
}

fn yes() -> bool {
    true
}
