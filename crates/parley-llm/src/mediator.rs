//! A mediator played by a language model: it chooses the text to put and writes to
//! the parties; a built-in mediator keeps the progress measure, the default, the
//! improvements after a deal, and moves whenever the model does not answer validly.

use parley_engine::{Event, EventKind, Mediator, MediatorContext, ModelCall, State, Tabled};
use serde_json::{json, Value};

use crate::ask::ask;
use crate::client::Client;
use crate::words;
use crate::Settings;

/// A mediator that asks a language model for each text (see `docs/llm.md`). What a
/// party told the mediator alone (its proposals, votes, notes) reaches the model
/// without the party's name, and a sentence of the mediator's message that names a
/// party is left out, so its words cannot attribute anyone's private moves; its
/// texts never cross a red line; confided preferences never reach the model.
pub struct LlmMediator {
    settings: Settings,
    client: Client,
    fallback: Box<dyn Mediator + Send>,
    names: Vec<String>,
    history: Vec<String>,
    /// The latest proposal of each party (anonymous in prompts).
    proposals: Vec<Option<Vec<u32>>>,
    /// Answers to the latest text: accepted, asked.
    answers: (usize, usize),
    message: Option<String>,
    calls: Vec<ModelCall>,
    pub(crate) turns: u32,
    pub(crate) fallbacks: u32,
}

impl LlmMediator {
    /// A mediator with these settings, asking `client`, with the built-in `fallback`.
    pub fn new(settings: Settings, client: Client, fallback: Box<dyn Mediator + Send>) -> Self {
        LlmMediator {
            settings,
            client,
            fallback,
            names: Vec::new(),
            history: Vec::new(),
            proposals: Vec::new(),
            answers: (0, 0),
            message: None,
            calls: Vec::new(),
            turns: 0,
            fallbacks: 0,
        }
    }

    fn note(&mut self, note: &str) {
        match self.calls.last_mut() {
            Some(last) => {
                if !last.note.is_empty() {
                    last.note.push_str("; ");
                }
                last.note.push_str(note);
            }
            None => self.calls.push(ModelCall {
                note: note.to_string(),
                ..ModelCall::default()
            }),
        }
    }
}

impl Mediator for LlmMediator {
    fn name(&self) -> String {
        self.settings.spec.clone()
    }

    fn init(&mut self, ctx: &MediatorContext<'_>) {
        self.proposals = vec![None; ctx.n_parties];
        self.fallback.init(ctx);
    }

    fn observe(&mut self, ctx: &MediatorContext<'_>, event: &Event) {
        self.fallback.observe(ctx, event);
        let space = ctx.space;
        let line = match &event.kind {
            EventKind::Start { parties, .. } => {
                self.names = parties.clone();
                None
            }
            EventKind::Proposal { from, outcome } => {
                if let Some(slot) = self.proposals.get_mut(*from) {
                    *slot = Some(outcome.clone());
                }
                Some(format!(
                    "a party proposed {}",
                    words::values(space, outcome)
                ))
            }
            EventKind::Text { outcome } => {
                self.answers = (0, 0);
                Some(format!(
                    "you put the text {}",
                    words::values(space, outcome)
                ))
            }
            EventKind::Carry { outcome, .. } => {
                self.answers = (0, 0);
                Some(format!(
                    "you carried the text {} to a room",
                    words::values(space, outcome)
                ))
            }
            EventKind::Vote { accept, .. } => {
                self.answers.1 += 1;
                if *accept {
                    self.answers.0 += 1;
                }
                None
            }
            EventKind::Offer { from, outcome } => Some(format!(
                "{} offered {}",
                self.names.get(*from).cloned().unwrap_or_default(),
                words::values(space, outcome)
            )),
            EventKind::Message {
                from: Some(_),
                text,
                ..
            } => Some(format!("a party said: {}", words::quote(text))),
            EventKind::Phase { to, .. } => Some(format!("the talks are now {}", to.name())),
            _ => None,
        };
        if let Some(line) = line {
            words::remember(&mut self.history, event.round, &line, self.settings.history);
        }
    }

    fn text(&mut self, ctx: &MediatorContext<'_>, state: &State) -> Tabled {
        self.turns += 1;
        let suggested = self.fallback.text(ctx, state);
        let space = ctx.space;
        let base: Vec<u32> = match &suggested {
            Tabled::Common(t) => t.clone(),
            Tabled::PerRoom(texts) => texts.first().cloned().unwrap_or_default(),
        };
        let mut user = format!(
            "You mediate between {} parties who do not talk to each other directly. You put \
             a text (a package) to them; a deal needs every party to accept the same text.\n\
             Time: round {} of {}.\n",
            ctx.n_parties,
            state.round + 1,
            ctx.rounds
        );
        if self.answers.1 > 0 {
            user.push_str(&format!(
                "Answers to your last text: {} of {} accepted.\n",
                self.answers.0, self.answers.1
            ));
        }
        user.push_str(&words::recent(
            &self.history,
            self.settings.history,
            &words::order(space),
        ));
        let mut proposals: Vec<&Vec<u32>> = self.proposals.iter().flatten().collect();
        proposals.dedup();
        if !proposals.is_empty() {
            user.push_str("The parties' latest proposals (anonymous):\n");
            for p in proposals {
                user.push_str(&format!("- {}\n", words::outcome(space, p)));
            }
        }
        let refused = words::refused(space, ctx.red_lines);
        if !refused.is_empty() {
            user.push_str(&format!(
                "No text may have (a party's red line): {}.\n",
                refused.join("; ")
            ));
        }
        user.push_str(&format!(
            "The analysis suggests this text: {}\nPut that text, or change it towards a \
             compromise. Reply as {{\"text\": {{issue: value, ...}}, \"message\": a short \
             note to all parties explaining the text}}. Never name a party or say what any \
             party proposed or answered.",
            words::outcome(space, &base)
        ));
        let system = "You are a neutral mediator. What parties tell you alone stays \
                      confidential. Answer with one JSON object only.";
        let schema = json!({
            "type": "object",
            "properties": {
                "text": words::outcome_schema(space, ctx.red_lines),
                "message": {"type": "string", "maxLength": self.settings.max_message_chars},
            },
            "required": ["text", "message"],
            "additionalProperties": false,
        });
        let red_lines = ctx.red_lines;
        let asked = ask(
            &mut self.client,
            &self.settings,
            system,
            &user,
            "text",
            &schema,
            |reply| {
                let text = words::read_outcome(space, reply.get("text"))?;
                if red_lines.crosses(&text) {
                    return Err(format!(
                        "the text {} crosses a party's red line",
                        words::outcome(space, &text)
                    ));
                }
                Ok((text, reply.clone()))
            },
        );
        self.calls.extend(asked.calls);
        let Some((text, reply)) = asked.answer else {
            self.fallbacks += 1;
            self.note(&format!("fallback: {} put its text", self.fallback.name()));
            return suggested;
        };
        if let Some(m) = reply.get("message").and_then(Value::as_str) {
            let (mut clean, mut note) =
                words::filter_message(m, space, self.settings.max_message_chars);
            let (named, dropped) = drop_names(&clean, &self.names);
            if dropped > 0 {
                clean = named;
                if !note.is_empty() {
                    note.push_str("; ");
                }
                note.push_str(&format!("{dropped} sentence(s) naming a party left out"));
            }
            if !note.is_empty() {
                self.note(&format!("message filtered: {note}"));
            }
            if !clean.is_empty() {
                self.message = Some(clean);
            }
        }
        if text == base {
            suggested
        } else {
            Tabled::Common(text)
        }
    }

    fn direct_text(&mut self, ctx: &MediatorContext<'_>, state: &State) -> Option<Vec<u32>> {
        self.fallback.direct_text(ctx, state)
    }

    fn progress(&self) -> f64 {
        self.fallback.progress()
    }

    fn messages(&mut self) -> Vec<(Option<usize>, String)> {
        self.message.take().map(|m| (None, m)).into_iter().collect()
    }

    fn model_calls(&mut self) -> Vec<ModelCall> {
        std::mem::take(&mut self.calls)
    }

    fn improve(&mut self, ctx: &MediatorContext<'_>, agreement: &[u32]) -> Option<Vec<u32>> {
        self.fallback.improve(ctx, agreement)
    }
}

/// Leaves out every sentence that names a party (case-insensitively).
fn drop_names(text: &str, names: &[String]) -> (String, usize) {
    let mut dropped = 0;
    let kept: Vec<&str> = text
        .split_inclusive(['.', '!', '?', ';'])
        .filter(|s| {
            let named = names.iter().any(|n| names_party(s, n.trim()));
            if named {
                dropped += 1;
            }
            !named
        })
        .collect();
    (kept.concat().trim().to_string(), dropped)
}

/// Whether `sentence` holds `name` as a word of its own (case-insensitively, or
/// exactly for names of three characters or fewer, so that "US" is not "us").
fn names_party(sentence: &str, name: &str) -> bool {
    if name.is_empty() {
        return false;
    }
    let (hay, needle) = if name.chars().count() > 3 {
        (sentence.to_lowercase(), name.to_lowercase())
    } else {
        (sentence.to_string(), name.to_string())
    };
    hay.match_indices(&needle).any(|(i, m)| {
        let before = hay[..i].chars().next_back();
        let after = hay[i + m.len()..].chars().next();
        !before.is_some_and(char::is_alphanumeric) && !after.is_some_and(char::is_alphanumeric)
    })
}
