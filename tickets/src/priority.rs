//! Priority matrix (CULTURE 2989-3012): urgency × impact → P0..P3; a VIP
//! caller, or a caller inside one of their P0 windows (e.g. the accounting
//! department during budget closing, CULTURE 345-366), gets P0 directly.
//!
//! | Urgence \ Impact | Critique | Majeur | Modéré |
//! |---|---|---|---|
//! | Sévère  | P0 | P1 | P2 |
//! | Élevée  | P1 | P2 | P3 |
//! | Moyenne | P2 | P3 | P3 |

use std::fmt;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// Urgency (CULTURE 3036-3052).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Urgency {
    /// Sévère: service completely unavailable or imminent breach of the
    /// required service level.
    Severe,
    /// Élevée: service unavailable on a sensitive environment, or reduced
    /// performance.
    Elevee,
    /// Moyenne: service partially available, non-sensitive environment, or a
    /// single user affected.
    Moyenne,
}

/// Impact (CULTURE 3016-3032).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Impact {
    /// Critique: complete interruption for all users.
    Critique,
    /// Majeur: complete interruption for a group, or degradation for all.
    Majeur,
    /// Modéré: moderate degradation, no interruption.
    Modere,
}

/// Ticket priority, P0 the most urgent. Orders P0 < P1 < P2 < P3, so sorting
/// ascending puts the most urgent first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Priority {
    /// P0: VIP, P0 window, or severe urgency with critical impact.
    P0,
    /// P1.
    P1,
    /// P2.
    P2,
    /// P3.
    P3,
}

/// Why a priority was given, for the audit trail and the agent desk.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PriorityBasis {
    /// From the urgency × impact matrix.
    Matrix,
    /// The caller is a VIP.
    Vip,
    /// The caller is inside one of their P0 windows.
    P0Window,
}

impl Urgency {
    /// Every value, most urgent first.
    pub const ALL: [Urgency; 3] = [Urgency::Severe, Urgency::Elevee, Urgency::Moyenne];

    /// Stored and exchanged text (the serde name): `severe`, `elevee`, `moyenne`.
    pub fn code(self) -> &'static str {
        match self {
            Urgency::Severe => "severe",
            Urgency::Elevee => "elevee",
            Urgency::Moyenne => "moyenne",
        }
    }

    /// The urgency whose [`Urgency::code`] is `code`.
    pub fn from_code(code: &str) -> Option<Urgency> {
        Urgency::ALL.into_iter().find(|u| u.code() == code)
    }

    /// French label, as agents read it.
    pub fn label(self) -> &'static str {
        match self {
            Urgency::Severe => "Sévère",
            Urgency::Elevee => "Élevée",
            Urgency::Moyenne => "Moyenne",
        }
    }
}

impl Impact {
    /// Every value, widest first.
    pub const ALL: [Impact; 3] = [Impact::Critique, Impact::Majeur, Impact::Modere];

    /// Stored and exchanged text (the serde name): `critique`, `majeur`, `modere`.
    pub fn code(self) -> &'static str {
        match self {
            Impact::Critique => "critique",
            Impact::Majeur => "majeur",
            Impact::Modere => "modere",
        }
    }

    /// The impact whose [`Impact::code`] is `code`.
    pub fn from_code(code: &str) -> Option<Impact> {
        Impact::ALL.into_iter().find(|i| i.code() == code)
    }

    /// French label, as agents read it.
    pub fn label(self) -> &'static str {
        match self {
            Impact::Critique => "Critique",
            Impact::Majeur => "Majeur",
            Impact::Modere => "Modéré",
        }
    }
}

impl Priority {
    /// Every value, most urgent first.
    pub const ALL: [Priority; 4] = [Priority::P0, Priority::P1, Priority::P2, Priority::P3];

    /// Short code, "P0".."P3".
    pub fn code(self) -> &'static str {
        match self {
            Priority::P0 => "P0",
            Priority::P1 => "P1",
            Priority::P2 => "P2",
            Priority::P3 => "P3",
        }
    }

    /// French label, as agents and supervisors read it.
    pub fn label(self) -> &'static str {
        match self {
            Priority::P0 => "P0 – priorité maximale",
            Priority::P1 => "P1 – priorité haute",
            Priority::P2 => "P2 – priorité normale",
            Priority::P3 => "P3 – priorité basse",
        }
    }
}

impl PriorityBasis {
    /// French explanation, for the audit trail.
    pub fn label(self) -> &'static str {
        match self {
            PriorityBasis::Matrix => "matrice urgence × impact",
            PriorityBasis::Vip => "appelant VIP",
            PriorityBasis::P0Window => "période P0 de l'appelant",
        }
    }
}

impl fmt::Display for Urgency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.label())
    }
}

impl fmt::Display for Impact {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.label())
    }
}

impl fmt::Display for Priority {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

/// The matrix alone (CULTURE 2989-3008).
pub fn matrix(urgency: Urgency, impact: Impact) -> Priority {
    use Impact::*;
    use Urgency::*;
    match (urgency, impact) {
        (Severe, Critique) => Priority::P0,
        (Severe, Majeur) | (Elevee, Critique) => Priority::P1,
        (Severe, Modere) | (Elevee, Majeur) | (Moyenne, Critique) => Priority::P2,
        (Elevee, Modere) | (Moyenne, Majeur) | (Moyenne, Modere) => Priority::P3,
    }
}

/// A dated period during which a person's tickets are P0 (CULTURE 345-366),
/// `[from, until)`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct P0Window {
    /// First instant of the period.
    pub from: DateTime<Utc>,
    /// End of the period (excluded).
    pub until: DateTime<Utc>,
    /// Why, e.g. "Clôture budgétaire".
    #[serde(default)]
    pub label: String,
}

impl P0Window {
    /// Whether `t` lies in the window.
    pub fn contains(&self, t: DateTime<Utc>) -> bool {
        self.from <= t && t < self.until
    }
}

/// What the directory says about the caller that can raise the priority.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CallerStanding {
    /// The caller is on the VIP list.
    pub vip: bool,
    /// The caller is inside one of their P0 windows now.
    pub in_p0_window: bool,
}

impl CallerStanding {
    /// Standing of a caller with the given VIP flag and P0 windows at `now`.
    pub fn at(vip: bool, windows: &[P0Window], now: DateTime<Utc>) -> Self {
        CallerStanding {
            vip,
            in_p0_window: windows.iter().any(|w| w.contains(now)),
        }
    }
}

/// The priority of a ticket and why: VIP → P0, P0 window → P0, otherwise
/// the matrix.
pub fn priority(
    urgency: Urgency,
    impact: Impact,
    caller: CallerStanding,
) -> (Priority, PriorityBasis) {
    if caller.vip {
        (Priority::P0, PriorityBasis::Vip)
    } else if caller.in_p0_window {
        (Priority::P0, PriorityBasis::P0Window)
    } else {
        (matrix(urgency, impact), PriorityBasis::Matrix)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn codes_are_the_serde_names_and_read_back() {
        for u in Urgency::ALL {
            let json = serde_json::to_string(&u).expect("json");
            assert_eq!(json, format!("\"{}\"", u.code()));
            assert_eq!(Urgency::from_code(u.code()), Some(u));
        }
        for i in Impact::ALL {
            let json = serde_json::to_string(&i).expect("json");
            assert_eq!(json, format!("\"{}\"", i.code()));
            assert_eq!(Impact::from_code(i.code()), Some(i));
        }
        assert_eq!(Urgency::from_code("Sévère"), None);
        assert_eq!(Impact::from_code("modéré"), None);
    }

    #[test]
    fn matrix_is_the_culture_table() {
        // Rows Sévère, Élevée, Moyenne; columns Critique, Majeur, Modéré.
        let table = [["P0", "P1", "P2"], ["P1", "P2", "P3"], ["P2", "P3", "P3"]];
        for (i, u) in Urgency::ALL.into_iter().enumerate() {
            for (j, imp) in Impact::ALL.into_iter().enumerate() {
                assert_eq!(matrix(u, imp).code(), table[i][j], "{u} × {imp}");
            }
        }
    }

    #[test]
    fn vip_and_p0_window_give_p0() {
        let t = Utc.with_ymd_and_hms(2026, 12, 15, 10, 0, 0).unwrap();
        let windows = [P0Window {
            from: Utc.with_ymd_and_hms(2026, 12, 1, 0, 0, 0).unwrap(),
            until: Utc.with_ymd_and_hms(2027, 1, 15, 0, 0, 0).unwrap(),
            label: "Clôture budgétaire".into(),
        }];
        let low = (Urgency::Moyenne, Impact::Modere);
        assert_eq!(
            priority(low.0, low.1, CallerStanding::at(true, &[], t)),
            (Priority::P0, PriorityBasis::Vip)
        );
        assert_eq!(
            priority(low.0, low.1, CallerStanding::at(false, &windows, t)),
            (Priority::P0, PriorityBasis::P0Window)
        );
        let after = Utc.with_ymd_and_hms(2027, 1, 15, 0, 0, 0).unwrap();
        assert_eq!(
            priority(low.0, low.1, CallerStanding::at(false, &windows, after)),
            (Priority::P3, PriorityBasis::Matrix)
        );
    }

    #[test]
    fn serde_names_and_french_labels() {
        assert_eq!(
            serde_json::to_string(&Urgency::Elevee).unwrap(),
            "\"elevee\""
        );
        assert_eq!(
            serde_json::to_string(&Impact::Modere).unwrap(),
            "\"modere\""
        );
        assert_eq!(serde_json::to_string(&Priority::P2).unwrap(), "\"p2\"");
        let u: Urgency = serde_json::from_str("\"severe\"").unwrap();
        assert_eq!(u, Urgency::Severe);
        assert!(serde_json::from_str::<Impact>("\"critical\"").is_err());
        assert_eq!(Urgency::Elevee.to_string(), "Élevée");
        assert_eq!(Impact::Modere.to_string(), "Modéré");
        assert!(Priority::P0 < Priority::P3);
    }
}
