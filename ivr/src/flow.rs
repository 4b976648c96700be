//! Flow definitions (as written in the configuration) and their validation.
//!
//! A [`FlowSpec`] is what the binary deserialises from the TOML config; [`FlowSpec::compile`]
//! checks it against a [`PromptCatalogue`] and yields a [`Flow`] that sessions run.

use std::collections::{BTreeMap, BTreeSet};

use serde::Deserialize;

use crate::catalogue::PromptCatalogue;

/// Default first-digit timeout of a menu, in milliseconds (5 s, from the issue).
pub const DEFAULT_FIRST_DIGIT_TIMEOUT_MS: u64 = 5_000;
/// Default inter-digit timeout of a menu, in milliseconds.
pub const DEFAULT_INTER_DIGIT_TIMEOUT_MS: u64 = 3_000;
/// Default number of re-prompts after the first attempt of a menu.
pub const DEFAULT_MAX_RETRIES: u32 = 2;
/// Default safety limit on one playback, in milliseconds (see [`FlowSpec::playback_guard_ms`]).
pub const DEFAULT_PLAYBACK_GUARD_MS: u64 = 300_000;
/// Default queue priority (lower is served first; 0 is the VIP/P0 level).
pub const DEFAULT_QUEUE_PRIORITY: u8 = 5;

/// A voice-menu flow as declared in the configuration, one per line.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FlowSpec {
    /// Name of the flow, used in every error and in the call log (e.g. `"louvre-8585"`).
    pub name: String,
    /// Name of the node the call enters first.
    pub start: String,
    /// Safety limit on a single playback in milliseconds: if the media layer never reports
    /// the end of a prompt, the session carries on after this long so no call is stuck.
    #[serde(default = "default_playback_guard_ms")]
    pub playback_guard_ms: u64,
    /// The nodes, by name.
    pub nodes: BTreeMap<String, NodeSpec>,
}

fn default_playback_guard_ms() -> u64 {
    DEFAULT_PLAYBACK_GUARD_MS
}
fn default_first_digit_timeout_ms() -> u64 {
    DEFAULT_FIRST_DIGIT_TIMEOUT_MS
}
fn default_inter_digit_timeout_ms() -> u64 {
    DEFAULT_INTER_DIGIT_TIMEOUT_MS
}
fn default_max_retries() -> u32 {
    DEFAULT_MAX_RETRIES
}
fn default_true() -> bool {
    true
}
fn default_priority() -> u8 {
    DEFAULT_QUEUE_PRIORITY
}

/// One node of a flow; the `kind` key selects the variant.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum NodeSpec {
    /// Play one or more prompts, then go to `next`.
    Play {
        /// Prompt ids, played in order.
        prompts: Vec<String>,
        /// Node to go to once played.
        next: String,
        /// Whether a key press cuts the prompts short (the digit itself is discarded).
        #[serde(default)]
        barge_in: bool,
    },
    /// Play prompts and collect a choice on the keypad.
    Menu {
        /// Prompt ids of the menu itself (played on entry and after each failed attempt).
        prompts: Vec<String>,
        /// Choice (a string of keys among `0-9`, `*`, `#`) to the node it leads to.
        choices: BTreeMap<String, String>,
        /// Time allowed for the first key after the prompts end, in ms (5 s by default).
        #[serde(default = "default_first_digit_timeout_ms")]
        first_digit_timeout_ms: u64,
        /// Time allowed between two keys of a multi-key choice, in ms (3 s by default).
        #[serde(default = "default_inter_digit_timeout_ms")]
        inter_digit_timeout_ms: u64,
        /// How many times the menu is offered again after a wrong or missing choice
        /// (2 by default: three attempts in all).
        #[serde(default = "default_max_retries")]
        max_retries: u32,
        /// Prompts played after an invalid choice, before the menu is played again.
        #[serde(default)]
        invalid_prompts: Vec<String>,
        /// Prompts played when no key was pressed in time, before the menu is played again.
        #[serde(default)]
        timeout_prompts: Vec<String>,
        /// Whether a key press interrupts the menu prompts (true by default).
        #[serde(default = "default_true")]
        barge_in: bool,
        /// Node to go to when the attempts are exhausted.
        on_failure: String,
    },
    /// Branch on the opening state of the line at the moment the caller reaches this node.
    CheckHours {
        /// Node when open.
        open: String,
        /// Node when closed (outside hours, or exceptional closure).
        closed: String,
        /// Node on a public holiday; the `closed` node when absent.
        #[serde(default)]
        holiday: Option<String>,
    },
    /// Branch on the caller's VIP flag.
    CheckVip {
        /// Node for VIP callers.
        vip: String,
        /// Node for everyone else.
        other: String,
        /// Whether a caller in a P0 period counts as VIP here (true by default).
        #[serde(default = "default_true")]
        include_p0: bool,
    },
    /// Play the line's crisis message if one is active at this moment, then go to `next`.
    CrisisMessage {
        /// Next node (reached at once when no crisis message is active).
        next: String,
    },
    /// Play the line's deterrence message if one is active at this moment, then go to `next`.
    DeterrenceMessage {
        /// Next node (reached at once when no deterrence message is active).
        next: String,
    },
    /// Leave the IVR into an ACD queue.
    Queue {
        /// Queue name, as configured in the ACD.
        queue: String,
        /// Priority in the queue: lower is served first, 0 is the VIP/P0 level (5 by default).
        #[serde(default = "default_priority")]
        priority: u8,
    },
    /// Leave the IVR by transferring the call to a number.
    Transfer {
        /// Destination number (digits, optionally a leading `+`).
        number: String,
    },
    /// Hang up, optionally after goodbye prompts.
    HangUp {
        /// Prompts played before hanging up.
        #[serde(default)]
        prompts: Vec<String>,
    },
}

impl NodeSpec {
    /// Nodes reachable from this one without any key press (including a menu's failure exit).
    fn edges_without_input(&self) -> Vec<&str> {
        match self {
            NodeSpec::Play { next, .. }
            | NodeSpec::CrisisMessage { next }
            | NodeSpec::DeterrenceMessage { next } => vec![next.as_str()],
            NodeSpec::Menu { on_failure, .. } => vec![on_failure.as_str()],
            NodeSpec::CheckHours {
                open,
                closed,
                holiday,
            } => {
                let mut v = vec![open.as_str(), closed.as_str()];
                if let Some(h) = holiday {
                    v.push(h.as_str());
                }
                v
            }
            NodeSpec::CheckVip { vip, other, .. } => vec![vip.as_str(), other.as_str()],
            NodeSpec::Queue { .. } | NodeSpec::Transfer { .. } | NodeSpec::HangUp { .. } => {
                Vec::new()
            }
        }
    }

    /// Every node this one can lead to.
    fn all_edges(&self) -> Vec<&str> {
        let mut v = self.edges_without_input();
        if let NodeSpec::Menu { choices, .. } = self {
            v.extend(choices.values().map(String::as_str));
        }
        v
    }

    /// Every prompt id this node names.
    fn prompts(&self) -> Vec<&str> {
        match self {
            NodeSpec::Play { prompts, .. } | NodeSpec::HangUp { prompts } => {
                prompts.iter().map(String::as_str).collect()
            }
            NodeSpec::Menu {
                prompts,
                invalid_prompts,
                timeout_prompts,
                ..
            } => prompts
                .iter()
                .chain(invalid_prompts)
                .chain(timeout_prompts)
                .map(String::as_str)
                .collect(),
            _ => Vec::new(),
        }
    }
}

/// Why a flow was refused. Every variant names the flow and, where there is one, the node.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum FlowError {
    /// The flow has no name.
    #[error("a flow has an empty name")]
    EmptyName,
    /// The start node does not exist.
    #[error("flow `{flow}`: start node `{node}` does not exist")]
    MissingStart {
        /// Flow name.
        flow: String,
        /// The missing start node.
        node: String,
    },
    /// A node leads to a node that does not exist.
    #[error("flow `{flow}`, node `{node}`: leads to node `{target}`, which does not exist")]
    MissingNode {
        /// Flow name.
        flow: String,
        /// Node holding the reference.
        node: String,
        /// The missing node.
        target: String,
    },
    /// A node names a prompt that is not in the catalogue.
    #[error("flow `{flow}`, node `{node}`: prompt `{prompt}` is not in the prompt catalogue")]
    MissingPrompt {
        /// Flow name.
        flow: String,
        /// Node naming the prompt.
        node: String,
        /// The unknown prompt id.
        prompt: String,
    },
    /// A node cannot be reached from the start node.
    #[error("flow `{flow}`, node `{node}`: unreachable from the start node")]
    Unreachable {
        /// Flow name.
        flow: String,
        /// The unreachable node.
        node: String,
    },
    /// Nodes form a loop the call can go round forever without any key press.
    #[error(
        "flow `{flow}`, node `{node}`: loops forever without caller input (through {})",
        cycle.join(" -> ")
    )]
    LoopWithoutInput {
        /// Flow name.
        flow: String,
        /// First node of the loop.
        node: String,
        /// The loop, node by node, back to `node`.
        cycle: Vec<String>,
    },
    /// A flow-level setting is wrong.
    #[error("flow `{flow}`: `{field}` {reason}")]
    InvalidSetting {
        /// Flow name.
        flow: String,
        /// The field.
        field: &'static str,
        /// What is wrong, in English.
        reason: &'static str,
    },
    /// A node's settings are wrong (empty list, zero timeout, bad key...).
    #[error("flow `{flow}`, node `{node}`: {reason}")]
    InvalidNode {
        /// Flow name.
        flow: String,
        /// Node at fault.
        node: String,
        /// What is wrong, in English.
        reason: String,
    },
}

/// A validated flow, ready to be run by [`crate::IvrSession`]s (share it with an `Arc`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Flow {
    spec: FlowSpec,
}

impl Flow {
    /// Flow name.
    pub fn name(&self) -> &str {
        &self.spec.name
    }
    /// Start node name.
    pub fn start(&self) -> &str {
        &self.spec.start
    }
    /// The node called `name`, if any.
    pub fn node(&self, name: &str) -> Option<&NodeSpec> {
        self.spec.nodes.get(name)
    }
    /// The playback guard, in milliseconds.
    pub fn playback_guard_ms(&self) -> u64 {
        self.spec.playback_guard_ms
    }
    /// The spec this flow was compiled from.
    pub fn spec(&self) -> &FlowSpec {
        &self.spec
    }
    /// Every prompt id the flow references, sorted and deduplicated.
    pub fn prompt_ids(&self) -> BTreeSet<String> {
        self.spec
            .nodes
            .values()
            .flat_map(|n| n.prompts())
            .map(str::to_owned)
            .collect()
    }
}

fn is_valid_choice(choice: &str) -> bool {
    !choice.is_empty()
        && choice
            .chars()
            .all(|c| c.is_ascii_digit() || c == '*' || c == '#')
}

fn is_valid_number(number: &str) -> bool {
    let digits = number.strip_prefix('+').unwrap_or(number);
    !digits.is_empty() && digits.chars().all(|c| c.is_ascii_digit())
}

impl FlowSpec {
    /// Parses one flow from TOML text (convenience for tests and tools; the binary embeds
    /// [`FlowSpec`] in its own config).
    pub fn from_toml_str(text: &str) -> Result<FlowSpec, toml::de::Error> {
        toml::from_str(text)
    }

    /// Validates the flow against the prompt catalogue: every referenced node and prompt
    /// exists, every node is reachable from the start, no loop can run without caller input
    /// (a loop through a menu choice needs a key press, so it is allowed; a menu's failure
    /// exit does not), and every node's settings make sense.
    pub fn compile(self, prompts: &PromptCatalogue) -> Result<Flow, FlowError> {
        let flow = self.name.clone();
        if flow.trim().is_empty() {
            return Err(FlowError::EmptyName);
        }
        if !self.nodes.contains_key(&self.start) {
            return Err(FlowError::MissingStart {
                flow,
                node: self.start.clone(),
            });
        }
        if self.playback_guard_ms == 0 {
            return Err(FlowError::InvalidSetting {
                flow,
                field: "playback_guard_ms",
                reason: "must be greater than zero",
            });
        }
        for (name, node) in &self.nodes {
            let invalid = |reason: &str| FlowError::InvalidNode {
                flow: flow.clone(),
                node: name.clone(),
                reason: reason.to_owned(),
            };
            for target in node.all_edges() {
                if !self.nodes.contains_key(target) {
                    return Err(FlowError::MissingNode {
                        flow,
                        node: name.clone(),
                        target: target.to_owned(),
                    });
                }
            }
            for prompt in node.prompts() {
                if !prompts.contains(prompt) {
                    return Err(FlowError::MissingPrompt {
                        flow,
                        node: name.clone(),
                        prompt: prompt.to_owned(),
                    });
                }
            }
            match node {
                NodeSpec::Play { prompts, .. } if prompts.is_empty() => {
                    return Err(invalid("a play node needs at least one prompt"));
                }
                NodeSpec::Menu {
                    prompts,
                    choices,
                    first_digit_timeout_ms,
                    inter_digit_timeout_ms,
                    ..
                } => {
                    if prompts.is_empty() {
                        return Err(invalid("a menu needs at least one prompt"));
                    }
                    if choices.is_empty() {
                        return Err(invalid("a menu needs at least one choice"));
                    }
                    if let Some(bad) = choices.keys().find(|c| !is_valid_choice(c)) {
                        return Err(invalid(&format!(
                            "choice `{bad}` must be made of the keys 0-9, * and #"
                        )));
                    }
                    if *first_digit_timeout_ms == 0 || *inter_digit_timeout_ms == 0 {
                        return Err(invalid("menu timeouts must be greater than zero"));
                    }
                }
                NodeSpec::Queue { queue, .. } if queue.trim().is_empty() => {
                    return Err(invalid("queue name is empty"));
                }
                NodeSpec::Transfer { number } if !is_valid_number(number) => {
                    return Err(invalid(&format!(
                        "transfer number `{number}` must be digits, optionally after a +"
                    )));
                }
                _ => {}
            }
        }
        self.check_reachability()?;
        self.check_loops_without_input()?;
        Ok(Flow { spec: self })
    }

    fn check_reachability(&self) -> Result<(), FlowError> {
        let mut seen = BTreeSet::new();
        let mut stack = vec![self.start.as_str()];
        while let Some(name) = stack.pop() {
            if !seen.insert(name) {
                continue;
            }
            if let Some(node) = self.nodes.get(name) {
                stack.extend(node.all_edges());
            }
        }
        match self.nodes.keys().find(|n| !seen.contains(n.as_str())) {
            Some(node) => Err(FlowError::Unreachable {
                flow: self.name.clone(),
                node: node.clone(),
            }),
            None => Ok(()),
        }
    }

    /// Depth-first search for a cycle in the graph of edges taken without a key press.
    fn check_loops_without_input(&self) -> Result<(), FlowError> {
        #[derive(Clone, Copy, PartialEq)]
        enum Mark {
            New,
            OnPath,
            Done,
        }
        let mut marks: BTreeMap<&str, Mark> =
            self.nodes.keys().map(|k| (k.as_str(), Mark::New)).collect();
        for root in self.nodes.keys() {
            if marks.get(root.as_str()) != Some(&Mark::New) {
                continue;
            }
            // Iterative DFS: (node, index of the next edge to explore).
            let mut path: Vec<(&str, usize)> = vec![(root.as_str(), 0)];
            marks.insert(root.as_str(), Mark::OnPath);
            while let Some((name, idx)) = path.last().copied() {
                let edges = self
                    .nodes
                    .get(name)
                    .map(NodeSpec::edges_without_input)
                    .unwrap_or_default();
                if let Some(next) = edges.get(idx).copied() {
                    if let Some(top) = path.last_mut() {
                        top.1 += 1;
                    }
                    match marks.get(next).copied() {
                        Some(Mark::New) => {
                            marks.insert(next, Mark::OnPath);
                            path.push((next, 0));
                        }
                        Some(Mark::OnPath) => {
                            let start = path.iter().position(|(n, _)| *n == next).unwrap_or(0);
                            let mut cycle: Vec<String> =
                                path[start..].iter().map(|(n, _)| (*n).to_owned()).collect();
                            cycle.push(next.to_owned());
                            return Err(FlowError::LoopWithoutInput {
                                flow: self.name.clone(),
                                node: next.to_owned(),
                                cycle,
                            });
                        }
                        _ => {}
                    }
                } else {
                    marks.insert(name, Mark::Done);
                    path.pop();
                }
            }
        }
        Ok(())
    }
}
