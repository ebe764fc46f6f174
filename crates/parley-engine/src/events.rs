//! Session events and traces.

use parley_core::OutcomeSpace;
use serde_json::{json, Value};

/// The phase of a session.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Phase {
    /// Talks through the mediator only.
    Indirect,
    /// Direct alternating offers.
    Direct,
    /// After a deal: the mediator looks for improvements.
    PostSettlement,
}

impl Phase {
    /// The phase's name in traces.
    pub fn name(self) -> &'static str {
        match self {
            Phase::Indirect => "indirect",
            Phase::Direct => "direct",
            Phase::PostSettlement => "post-settlement",
        }
    }
}

/// Why a session ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EndReason {
    /// Every party agreed.
    Agreement,
    /// The deadline passed without a deal.
    Deadline,
    /// The indirect phase's deadline passed before the talks moved to direct.
    IndirectDeadline,
    /// A party walked away.
    WalkAway,
    /// A negotiator broke the protocol's rules.
    InvalidAction,
    /// Staged talks: the direct talks reached the deadline and the default text, which
    /// every party had accepted, stands.
    Fallback,
    /// The talks collapsed (the scenario's breakdown risk): every party gets what
    /// walking away pays at that moment.
    Breakdown,
    /// Mediated talks: the parties' red lines together leave no outcome that could be
    /// agreed (on some issue every value is someone's red line). The mediator, who is
    /// told every red line, ends the talks at once.
    RedLines,
}

impl EndReason {
    /// The reason's name in traces and reports.
    pub fn name(self) -> &'static str {
        match self {
            EndReason::Agreement => "agreement",
            EndReason::Deadline => "deadline",
            EndReason::IndirectDeadline => "indirect-deadline",
            EndReason::WalkAway => "walk-away",
            EndReason::InvalidAction => "invalid-action",
            EndReason::Fallback => "fallback",
            EndReason::Breakdown => "breakdown",
            EndReason::RedLines => "red-lines",
        }
    }
}

/// Who hears a message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Recipient {
    /// Every role.
    All,
    /// The mediator only.
    Mediator,
    /// One party (from the mediator, into its room).
    Party(usize),
}

/// What happened.
#[derive(Clone, Debug, PartialEq)]
pub enum EventKind {
    /// The session starts.
    Start {
        /// Protocol name.
        protocol: &'static str,
        /// Party names, in order.
        parties: Vec<String>,
        /// Round deadline.
        rounds: u32,
    },
    /// A party tells the mediator it confides its preferences (content never logged).
    Confide {
        /// The party.
        by: usize,
    },
    /// Direct talks: a party offers an outcome to everyone.
    Offer {
        /// The party.
        from: usize,
        /// Value indices.
        outcome: Vec<u32>,
    },
    /// Direct talks: a party accepts the standing offer.
    Accept {
        /// The party.
        by: usize,
    },
    /// A party walks away.
    WalkAway {
        /// The party.
        by: usize,
    },
    /// Shuttle: a party's proposal, to the mediator only.
    Proposal {
        /// The party.
        from: usize,
        /// Value indices.
        outcome: Vec<u32>,
    },
    /// Shuttle: the mediator carries a text to one party.
    Carry {
        /// The receiving party.
        to: usize,
        /// Value indices.
        outcome: Vec<u32>,
    },
    /// Single text and post-settlement: the mediator puts a text to every party.
    Text {
        /// Value indices.
        outcome: Vec<u32>,
    },
    /// Staged talks, when they go direct: the text that stands as the default (the
    /// opening standing offer; counter-offers may not be worth less to their proposer).
    Default {
        /// Value indices.
        outcome: Vec<u32>,
    },
    /// A party's answer to a text, seen by the mediator and the party only.
    Vote {
        /// The party.
        by: usize,
        /// Whether it accepts.
        accept: bool,
    },
    /// Staged talks: the mediator calls for direct talks (every party answers with
    /// [`EventKind::Consent`]). Seen by the mediator and the owner only: its progress
    /// measure is built from private answers and confided preferences.
    CallDirect {
        /// The mediator's progress measure.
        progress: f64,
    },
    /// Staged talks: a party's answer to the call for direct talks (public).
    Consent {
        /// The party.
        by: usize,
        /// Whether it consents.
        accept: bool,
    },
    /// The phase changes.
    Phase {
        /// Old phase.
        from: Phase,
        /// New phase.
        to: Phase,
    },
    /// A negotiator broke a rule; the session ends.
    Invalid {
        /// The party (None: the mediator).
        by: Option<usize>,
        /// What was wrong.
        message: String,
    },
    /// Words said with a move (see [`crate::Negotiator::message`]).
    Message {
        /// Who says it (None: the mediator).
        from: Option<usize>,
        /// Who hears it.
        to: Recipient,
        /// The words (at most [`crate::negotiator::MAX_MESSAGE_CHARS`] characters).
        text: String,
    },
    /// A language model's exchange behind a move: seen by the owner and the role that
    /// made it only.
    ModelCall {
        /// The role (None: the mediator).
        by: Option<usize>,
        /// The prompt, reply and note.
        call: crate::negotiator::ModelCall,
    },
    /// The session ends.
    End {
        /// The agreement, if any.
        agreement: Option<Vec<u32>>,
        /// Why it ended.
        reason: EndReason,
    },
}

/// One entry of a trace.
#[derive(Clone, Debug, PartialEq)]
pub struct Event {
    /// Position in the trace.
    pub seq: u64,
    /// Round (0-based).
    pub round: u32,
    /// Normalised time in [0, 1].
    pub time: f64,
    /// What happened.
    pub kind: EventKind,
}

impl Event {
    /// The event as one JSON object; outcomes as value labels.
    pub fn to_json(&self, space: &OutcomeSpace, parties: &[String]) -> Value {
        let labels = |o: &[u32]| Value::from(space.outcome_labels(o));
        let party = |i: usize| Value::from(parties.get(i).cloned().unwrap_or_default());
        let mut v = match &self.kind {
            EventKind::Start {
                protocol,
                parties,
                rounds,
            } => {
                json!({"type": "start", "protocol": protocol, "parties": parties, "rounds": rounds})
            }
            EventKind::Confide { by } => json!({"type": "confide", "by": party(*by)}),
            EventKind::Offer { from, outcome } => {
                json!({"type": "offer", "from": party(*from), "outcome": labels(outcome)})
            }
            EventKind::Accept { by } => json!({"type": "accept", "by": party(*by)}),
            EventKind::WalkAway { by } => json!({"type": "walk-away", "by": party(*by)}),
            EventKind::Proposal { from, outcome } => {
                json!({"type": "proposal", "from": party(*from), "to": "mediator", "outcome": labels(outcome)})
            }
            EventKind::Carry { to, outcome } => {
                json!({"type": "carry", "from": "mediator", "to": party(*to), "outcome": labels(outcome)})
            }
            EventKind::Text { outcome } => {
                json!({"type": "text", "from": "mediator", "outcome": labels(outcome)})
            }
            EventKind::Default { outcome } => {
                json!({"type": "default", "from": "mediator", "outcome": labels(outcome)})
            }
            EventKind::Vote { by, accept } => {
                json!({"type": "vote", "by": party(*by), "accept": accept})
            }
            EventKind::CallDirect { progress } => {
                json!({"type": "call-direct", "from": "mediator", "progress": progress})
            }
            EventKind::Consent { by, accept } => {
                json!({"type": "consent", "by": party(*by), "accept": accept})
            }
            EventKind::Phase { from, to } => {
                json!({"type": "phase", "from": from.name(), "to": to.name()})
            }
            EventKind::Invalid { by, message } => json!({
                "type": "invalid",
                "by": by.map_or(Value::from("mediator"), party),
                "message": message
            }),
            EventKind::Message { from, to, text } => json!({
                "type": "message",
                "from": from.map_or(Value::from("mediator"), party),
                "to": match to {
                    Recipient::All => Value::from("all"),
                    Recipient::Mediator => Value::from("mediator"),
                    Recipient::Party(p) => party(*p),
                },
                "text": text
            }),
            EventKind::ModelCall { by, call } => json!({
                "type": "model-call",
                "by": by.map_or(Value::from("mediator"), party),
                "prompt": call.prompt,
                "reply": call.reply,
                "note": call.note
            }),
            EventKind::End { agreement, reason } => json!({
                "type": "end",
                "agreement": agreement.as_ref().map(|a| labels(a)),
                "reason": reason.name()
            }),
        };
        if let Some(obj) = v.as_object_mut() {
            obj.insert("seq".into(), self.seq.into());
            obj.insert("round".into(), self.round.into());
            obj.insert("time".into(), self.time.into());
        }
        v
    }
}

impl Event {
    /// Reads an event back from [`Event::to_json`]'s shape (outcomes as value labels,
    /// parties by name); the error says which field is wrong.
    pub fn from_json(
        value: &Value,
        space: &OutcomeSpace,
        parties: &[String],
    ) -> Result<Event, String> {
        let field = |name: &str| value.get(name).ok_or_else(|| format!("no field {name:?}"));
        let text = |name: &str| -> Result<&str, String> {
            field(name)?
                .as_str()
                .ok_or_else(|| format!("{name:?} is not a string"))
        };
        let party = |name: &str| -> Result<usize, String> {
            let who = text(name)?;
            parties
                .iter()
                .position(|p| p == who)
                .ok_or_else(|| format!("{name:?}: no party {who:?}"))
        };
        let outcome_of = |v: &Value| -> Result<Vec<u32>, String> {
            let labels: Vec<&str> = v
                .as_array()
                .ok_or("an outcome is not a list of labels")?
                .iter()
                .map(|l| l.as_str().ok_or("a label is not a string"))
                .collect::<Result<_, _>>()?;
            space
                .outcome_from_labels(&labels)
                .map_err(|e| e.to_string())
        };
        let outcome = || outcome_of(field("outcome")?);
        let flag = |name: &str| -> Result<bool, String> {
            field(name)?
                .as_bool()
                .ok_or_else(|| format!("{name:?} is not a boolean"))
        };
        let number = |name: &str| -> Result<f64, String> {
            field(name)?
                .as_f64()
                .ok_or_else(|| format!("{name:?} is not a number"))
        };
        let phase = |name: &str| -> Result<Phase, String> {
            match text(name)? {
                "indirect" => Ok(Phase::Indirect),
                "direct" => Ok(Phase::Direct),
                "post-settlement" => Ok(Phase::PostSettlement),
                other => Err(format!("{name:?}: no phase {other:?}")),
            }
        };
        let kind = match text("type")? {
            "start" => EventKind::Start {
                protocol: match text("protocol")? {
                    "saop" => "saop",
                    "single-text" => "single-text",
                    "shuttle" => "shuttle",
                    "staged" => "staged",
                    other => return Err(format!("no protocol {other:?}")),
                },
                parties: field("parties")?
                    .as_array()
                    .ok_or("\"parties\" is not a list")?
                    .iter()
                    .map(|p| p.as_str().map(str::to_owned).ok_or("a party is not a name"))
                    .collect::<Result<_, _>>()?,
                rounds: u32::try_from(
                    field("rounds")?
                        .as_u64()
                        .ok_or("\"rounds\" is not a count")?,
                )
                .map_err(|e| e.to_string())?,
            },
            "confide" => EventKind::Confide { by: party("by")? },
            "offer" => EventKind::Offer {
                from: party("from")?,
                outcome: outcome()?,
            },
            "accept" => EventKind::Accept { by: party("by")? },
            "walk-away" => EventKind::WalkAway { by: party("by")? },
            "proposal" => EventKind::Proposal {
                from: party("from")?,
                outcome: outcome()?,
            },
            "carry" => EventKind::Carry {
                to: party("to")?,
                outcome: outcome()?,
            },
            "text" => EventKind::Text {
                outcome: outcome()?,
            },
            "default" => EventKind::Default {
                outcome: outcome()?,
            },
            "vote" => EventKind::Vote {
                by: party("by")?,
                accept: flag("accept")?,
            },
            "call-direct" => EventKind::CallDirect {
                progress: number("progress")?,
            },
            "consent" => EventKind::Consent {
                by: party("by")?,
                accept: flag("accept")?,
            },
            "phase" => EventKind::Phase {
                from: phase("from")?,
                to: phase("to")?,
            },
            "invalid" => EventKind::Invalid {
                by: match text("by")? {
                    "mediator" => None,
                    _ => Some(party("by")?),
                },
                message: text("message")?.to_string(),
            },
            "message" => EventKind::Message {
                from: match text("from")? {
                    "mediator" => None,
                    _ => Some(party("from")?),
                },
                to: match text("to")? {
                    "all" => Recipient::All,
                    "mediator" => Recipient::Mediator,
                    _ => Recipient::Party(party("to")?),
                },
                text: text("text")?.to_string(),
            },
            "model-call" => EventKind::ModelCall {
                by: match text("by")? {
                    "mediator" => None,
                    _ => Some(party("by")?),
                },
                call: crate::negotiator::ModelCall {
                    prompt: text("prompt")?.to_string(),
                    reply: text("reply")?.to_string(),
                    note: text("note")?.to_string(),
                },
            },
            "end" => EventKind::End {
                agreement: match field("agreement")? {
                    Value::Null => None,
                    v => Some(outcome_of(v)?),
                },
                reason: match text("reason")? {
                    "agreement" => EndReason::Agreement,
                    "deadline" => EndReason::Deadline,
                    "indirect-deadline" => EndReason::IndirectDeadline,
                    "walk-away" => EndReason::WalkAway,
                    "invalid-action" => EndReason::InvalidAction,
                    "fallback" => EndReason::Fallback,
                    other => return Err(format!("no end reason {other:?}")),
                },
            },
            other => return Err(format!("no event type {other:?}")),
        };
        Ok(Event {
            seq: field("seq")?.as_u64().ok_or("\"seq\" is not a count")?,
            round: u32::try_from(field("round")?.as_u64().ok_or("\"round\" is not a count")?)
                .map_err(|e| e.to_string())?,
            time: number("time")?,
            kind,
        })
    }
}

/// The texts of a trace that every party was shown: tabled in public (a text or a
/// default), or carried to each party's room (possibly in different rounds). Each once, in the order in which
/// the last party received it.
pub fn texts_shown_to_all(events: &[Event], n_parties: usize) -> Vec<Vec<u32>> {
    let mut seen: std::collections::BTreeMap<&[u32], Vec<bool>> = Default::default();
    let mut complete = Vec::new();
    for event in events {
        let (outcome, to) = match &event.kind {
            EventKind::Text { outcome } | EventKind::Default { outcome } => (outcome, None),
            EventKind::Carry { to, outcome } => (outcome, Some(*to)),
            _ => continue,
        };
        let flags = seen
            .entry(outcome.as_slice())
            .or_insert_with(|| vec![false; n_parties]);
        let before = flags.iter().all(|f| *f);
        match to {
            None => flags.iter_mut().for_each(|f| *f = true),
            Some(p) => {
                if let Some(f) = flags.get_mut(p) {
                    *f = true;
                }
            }
        }
        if !before && flags.iter().all(|f| *f) {
            complete.push(outcome.clone());
        }
    }
    complete
}

/// The ordered, complete record of a session.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Trace {
    /// The events, in order.
    pub events: Vec<Event>,
}

impl Trace {
    /// JSON Lines, one event per line.
    pub fn to_jsonl(&self, space: &OutcomeSpace, parties: &[String]) -> String {
        let mut out = String::new();
        for event in &self.events {
            out.push_str(&event.to_json(space, parties).to_string());
            out.push('\n');
        }
        out
    }
}
