//! Configuration of the ACD, embedded by the binary in its TOML file
//! (`[acd]` table), and its validation.

use std::collections::HashSet;

use chrono_tz::Tz;
use serde::Deserialize;

use crate::stats::StatsParams;

/// The whole ACD configuration.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AcdConfig {
    /// The queues (files d'attente).
    #[serde(default)]
    pub queues: Vec<QueueConfig>,
    /// The agents and the queues they belong to.
    #[serde(default)]
    pub agents: Vec<AgentConfig>,
    /// Zone whose midnight resets the wallboard's "today" figures.
    /// Default `Europe/Paris`.
    #[serde(default = "default_zone")]
    pub time_zone: Tz,
    /// Thresholds of the statistics (short abandon, service level).
    #[serde(default)]
    pub stats: StatsParams,
    /// Safety limit of one conversation, in seconds: after this the ACD
    /// asks the switchboard to release the call and frees the agent, so no
    /// agent stays "on call" if a hang-up was lost. Default 14,400 (4 h).
    #[serde(default = "default_max_call_duration")]
    pub max_call_duration: u32,
}

impl Default for AcdConfig {
    fn default() -> Self {
        Self {
            queues: Vec::new(),
            agents: Vec::new(),
            time_zone: default_zone(),
            stats: StatsParams::default(),
            max_call_duration: default_max_call_duration(),
        }
    }
}

fn default_zone() -> Tz {
    chrono_tz::Europe::Paris
}

fn default_max_call_duration() -> u32 {
    4 * 3600
}

/// How a queue chooses among its available agents.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Strategy {
    /// The agent idle for the longest time (default).
    #[default]
    LongestIdle,
    /// The members in turn, in configuration order, after the last one
    /// offered a call.
    RoundRobin,
    /// The agent who answered the fewest calls since logging in (ties: the
    /// longest idle).
    FewestCalls,
    /// The agent with the highest level in this queue (ties: the longest
    /// idle).
    SkillsFirst,
}

/// One queue.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QueueConfig {
    /// Unique name, used by the IVR's `route to queue` and in statistics.
    pub name: String,
    /// Distribution strategy. Default `longest_idle`.
    #[serde(default)]
    pub strategy: Strategy,
    /// Seconds an agent's phone rings before the call is offered to the
    /// next agent. Default 20.
    #[serde(default = "default_ring_timeout")]
    pub ring_timeout: u32,
    /// Consecutive missed offers after which an agent is paused with the
    /// reason "absent". Default 2.
    #[serde(default = "default_max_missed")]
    pub max_missed_offers: u32,
    /// Wrap-up (after-call work) seconds after each call of this queue; the
    /// agent may end it early or extend it. Default 30.
    #[serde(default = "default_wrap_up")]
    pub wrap_up: u32,
    /// Ageing rule, in seconds: a VIP/P0 caller is placed ahead of ordinary
    /// callers unless they have already waited this much longer than the
    /// VIP, so no ordinary caller is starved. Default 300.
    #[serde(default = "default_ageing")]
    pub ageing: u32,
    /// Maximum calls waiting; a caller arriving at a full queue (and not
    /// moved by an overflow rule) is refused with a "busy" message.
    #[serde(default)]
    pub max_length: Option<u32>,
    /// Maximum wait in seconds; a caller still waiting then becomes a
    /// callback request (nobody is dropped silently). Use a `wait_above`
    /// overflow rule with a smaller value to go elsewhere first.
    #[serde(default)]
    pub max_wait: Option<u32>,
    /// Announce position and expected wait when the caller enters. Default true.
    #[serde(default = "default_true")]
    pub announce_on_entry: bool,
    /// Repeat the announcement every this many seconds while waiting
    /// (absent: never). Default 60.
    #[serde(default = "default_announce_every")]
    pub announce_every: Option<u32>,
    /// Handle time (talk + wrap-up, seconds) assumed for the expected-wait
    /// estimate until the queue has answered calls. Default 450 (7 min talk
    /// and 30 s wrap-up, CULTURE 2748).
    #[serde(default = "default_handle_time")]
    pub default_handle_time: u32,
    /// Overflow (débordement) rules, tried in order.
    #[serde(default)]
    pub overflow: Vec<OverflowRule>,
}

impl QueueConfig {
    /// A queue with every default and the given name.
    pub fn named(name: &str) -> Self {
        Self {
            name: name.to_owned(),
            strategy: Strategy::default(),
            ring_timeout: default_ring_timeout(),
            max_missed_offers: default_max_missed(),
            wrap_up: default_wrap_up(),
            ageing: default_ageing(),
            max_length: None,
            max_wait: None,
            announce_on_entry: true,
            announce_every: default_announce_every(),
            default_handle_time: default_handle_time(),
            overflow: Vec::new(),
        }
    }
}

fn default_ring_timeout() -> u32 {
    20
}
fn default_max_missed() -> u32 {
    2
}
fn default_wrap_up() -> u32 {
    30
}
fn default_ageing() -> u32 {
    300
}
fn default_true() -> bool {
    true
}
fn default_announce_every() -> Option<u32> {
    Some(60)
}
fn default_handle_time() -> u32 {
    450
}

/// One overflow rule: exactly one condition and exactly one target, e.g.
/// `{ wait_above = 120, to_queue = "renfort" }` or
/// `{ no_agent_logged_in = true, callback = true }`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OverflowRule {
    /// Condition: the caller has waited more than this many seconds.
    #[serde(default)]
    pub wait_above: Option<u32>,
    /// Condition: on arrival, this many calls or more are already waiting.
    #[serde(default)]
    pub length_above: Option<u32>,
    /// Condition: no member agent is logged in (on arrival, or when the
    /// last one logs out).
    #[serde(default)]
    pub no_agent_logged_in: bool,
    /// Condition: the queue is closed (on arrival, or when it closes).
    #[serde(default)]
    pub closed: bool,
    /// Target: another queue, by name (the caller keeps their place by
    /// arrival time).
    #[serde(default)]
    pub to_queue: Option<String>,
    /// Target: an external number the switchboard transfers to.
    #[serde(default)]
    pub to_number: Option<String>,
    /// Target: a callback request keeping the caller's number.
    #[serde(default)]
    pub callback: bool,
}

/// What an overflow rule checks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Condition {
    WaitAbove(u32),
    LengthAbove(u32),
    NoAgentLoggedIn,
    Closed,
}

/// Where an overflow rule sends the call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Target {
    Queue(String),
    Number(String),
    Callback,
}

impl OverflowRule {
    fn conditions(&self) -> Vec<Condition> {
        let mut c = Vec::new();
        if let Some(s) = self.wait_above {
            c.push(Condition::WaitAbove(s));
        }
        if let Some(n) = self.length_above {
            c.push(Condition::LengthAbove(n));
        }
        if self.no_agent_logged_in {
            c.push(Condition::NoAgentLoggedIn);
        }
        if self.closed {
            c.push(Condition::Closed);
        }
        c
    }

    fn targets(&self) -> Vec<Target> {
        let mut t = Vec::new();
        if let Some(q) = &self.to_queue {
            t.push(Target::Queue(q.clone()));
        }
        if let Some(n) = &self.to_number {
            t.push(Target::Number(n.clone()));
        }
        if self.callback {
            t.push(Target::Callback);
        }
        t
    }

    /// The rule's single condition and target (after validation).
    pub(crate) fn parts(&self) -> Option<(Condition, Target)> {
        let c = self.conditions();
        let t = self.targets();
        match (c.as_slice(), t.as_slice()) {
            ([c], [t]) => Some((*c, t.clone())),
            _ => None,
        }
    }
}

/// One agent.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AgentConfig {
    /// Login, unique (the same as the web desk account and SIP user).
    pub login: String,
    /// The queues this agent answers, with a level.
    #[serde(default)]
    pub queues: Vec<Membership>,
}

/// Membership of an agent in a queue.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Membership {
    /// Queue name.
    pub queue: String,
    /// Skill level in this queue, 1 (basic) to 9 (expert); the
    /// `skills_first` strategy offers to the highest level first. Default 1.
    #[serde(default = "default_level")]
    pub level: u8,
}

fn default_level() -> u8 {
    1
}

/// A configuration error, naming the offending item and field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// An item (queue or agent) has an invalid field.
    #[error("{item}: field `{field}`: {problem}")]
    Invalid {
        /// The item, e.g. `queue "support"` or `agent "alice"`.
        item: String,
        /// The field, e.g. `overflow[1]` or `queues[0].queue`.
        field: String,
        /// What is wrong.
        problem: String,
    },
}

fn invalid(item: String, field: &str, problem: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        item,
        field: field.to_owned(),
        problem: problem.into(),
    }
}

impl AcdConfig {
    /// Checks the configuration; the first error names the item and field.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let mut names = HashSet::new();
        for (i, q) in self.queues.iter().enumerate() {
            let item = format!("queue \"{}\"", q.name);
            if q.name.trim().is_empty() {
                return Err(invalid(format!("queues[{i}]"), "name", "empty name"));
            }
            if !names.insert(q.name.as_str()) {
                return Err(invalid(item, "name", "duplicate queue name"));
            }
            if q.ring_timeout == 0 {
                return Err(invalid(item, "ring_timeout", "must be at least 1 second"));
            }
            if q.max_missed_offers == 0 {
                return Err(invalid(item, "max_missed_offers", "must be at least 1"));
            }
            if q.default_handle_time == 0 {
                return Err(invalid(
                    item,
                    "default_handle_time",
                    "must be at least 1 second",
                ));
            }
            if q.announce_every == Some(0) {
                return Err(invalid(item, "announce_every", "must be at least 1 second"));
            }
            if q.max_wait == Some(0) {
                return Err(invalid(item, "max_wait", "must be at least 1 second"));
            }
        }
        for q in &self.queues {
            for (r, rule) in q.overflow.iter().enumerate() {
                let item = format!("queue \"{}\"", q.name);
                let field = format!("overflow[{r}]");
                let n_cond = rule.conditions().len();
                let n_target = rule.targets().len();
                if n_cond != 1 {
                    return Err(invalid(
                        item,
                        &field,
                        "give exactly one condition (wait_above, length_above, no_agent_logged_in, closed)",
                    ));
                }
                if n_target != 1 {
                    return Err(invalid(
                        item,
                        &field,
                        "give exactly one target (to_queue, to_number, callback)",
                    ));
                }
                if let Some(t) = &rule.to_queue {
                    if !names.contains(t.as_str()) {
                        return Err(invalid(item, &field, format!("unknown queue \"{t}\"")));
                    }
                    if t == &q.name {
                        return Err(invalid(item, &field, "a queue cannot overflow to itself"));
                    }
                }
                if rule.to_number.as_ref().is_some_and(|n| n.trim().is_empty()) {
                    return Err(invalid(item, &field, "empty to_number"));
                }
            }
        }
        let mut logins = HashSet::new();
        for (i, a) in self.agents.iter().enumerate() {
            let item = format!("agent \"{}\"", a.login);
            if a.login.trim().is_empty() {
                return Err(invalid(format!("agents[{i}]"), "login", "empty login"));
            }
            if !logins.insert(a.login.as_str()) {
                return Err(invalid(item, "login", "duplicate login"));
            }
            let mut seen = HashSet::new();
            for (m, mem) in a.queues.iter().enumerate() {
                if !names.contains(mem.queue.as_str()) {
                    return Err(invalid(
                        item,
                        &format!("queues[{m}].queue"),
                        format!("unknown queue \"{}\"", mem.queue),
                    ));
                }
                if !seen.insert(mem.queue.as_str()) {
                    return Err(invalid(
                        item,
                        &format!("queues[{m}].queue"),
                        "queue listed twice",
                    ));
                }
                if !(1..=9).contains(&mem.level) {
                    return Err(invalid(
                        item,
                        &format!("queues[{m}].level"),
                        "must be 1 to 9",
                    ));
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = r#"
time_zone = "Europe/Paris"
[stats]
service_level_threshold = 30

[[queues]]
name = "support"
strategy = "skills_first"
max_wait = 600
overflow = [
  { wait_above = 120, to_queue = "renfort" },
  { no_agent_logged_in = true, callback = true },
]

[[queues]]
name = "renfort"

[[agents]]
login = "alice"
queues = [{ queue = "support", level = 5 }, { queue = "renfort" }]
"#;

    #[test]
    fn sample_parses_and_validates() {
        let c: AcdConfig = toml::from_str(SAMPLE).unwrap();
        c.validate().unwrap();
        assert_eq!(c.queues[0].strategy, Strategy::SkillsFirst);
        assert_eq!(c.queues[1].ring_timeout, 20);
        assert_eq!(c.queues[1].wrap_up, 30);
        assert_eq!(c.agents[0].queues[1].level, 1);
        assert_eq!(
            c.queues[0].overflow[1].parts(),
            Some((Condition::NoAgentLoggedIn, Target::Callback))
        );
        assert_eq!(
            c.stats.service_level_threshold,
            chrono::Duration::seconds(30)
        );
    }

    #[test]
    fn unknown_field_is_refused() {
        let bad = SAMPLE.replace("max_wait", "max_wiat");
        assert!(toml::from_str::<AcdConfig>(&bad).is_err());
    }

    #[test]
    fn errors_name_item_and_field() {
        let mut c: AcdConfig = toml::from_str(SAMPLE).unwrap();
        c.queues[0].overflow[0].callback = true;
        let e = c.validate().unwrap_err().to_string();
        assert!(
            e.contains("queue \"support\"") && e.contains("overflow[0]"),
            "{e}"
        );

        let mut c: AcdConfig = toml::from_str(SAMPLE).unwrap();
        c.agents[0].queues[1].queue = "nope".into();
        let e = c.validate().unwrap_err().to_string();
        assert!(
            e.contains("agent \"alice\"") && e.contains("queues[1].queue"),
            "{e}"
        );

        let mut c: AcdConfig = toml::from_str(SAMPLE).unwrap();
        c.queues[1].name = "support".into();
        assert!(c.validate().unwrap_err().to_string().contains("duplicate"));

        let mut c: AcdConfig = toml::from_str(SAMPLE).unwrap();
        c.queues[0].overflow[0].to_queue = Some("support".into());
        assert!(c.validate().unwrap_err().to_string().contains("itself"));

        let mut c: AcdConfig = toml::from_str(SAMPLE).unwrap();
        c.agents[0].queues[0].level = 0;
        assert!(c.validate().unwrap_err().to_string().contains("level"));
    }
}
