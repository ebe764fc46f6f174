//! Agent seats (built-in or language-model strategies the server plays): what people
//! write to them reaches them, and a language-model seat replayed from the log after a
//! restart answers from its recorded model calls instead of asking again.

use parley_engine::{Event, MediatorContext, Recipient, Tabled};

use super::*;

impl Live {
    /// The messages stored for role `role` (to it or to all, from another role) among
    /// the notices from position `from` on that are shown before `events` engine
    /// events; and the position to read from next time.
    pub(super) fn heard(&self, role: usize, from: usize, events: usize) -> (Vec<EventKind>, usize) {
        let inner = self.lock();
        let n = self.n_parties();
        let mediator = self.spec.mediator_index();
        let mut out = Vec::new();
        let mut next = from;
        for notice in inner.notices.iter().skip(from) {
            if notice.after > events {
                break;
            }
            next += 1;
            if notice.body["type"] != "message" || notice.role == role {
                continue;
            }
            let to = match notice.body["to"].as_str() {
                Some("all") => Recipient::All,
                Some(name) if self.spec.role_index(name) == Some(role) => {
                    if Some(role) == mediator {
                        Recipient::Mediator
                    } else {
                        Recipient::Party(role)
                    }
                }
                _ => continue,
            };
            let sender = if notice.role < n {
                Some(notice.role)
            } else if Some(notice.role) == mediator {
                None
            } else {
                continue;
            };
            let text = notice.body["text"].as_str().unwrap_or_default().to_string();
            out.push(EventKind::Message {
                from: sender,
                to,
                text,
            });
        }
        (out, next)
    }

    /// The model calls logged for `role` (a party index, or `None` for the mediator)
    /// in a session being replayed, in order.
    pub(super) fn logged_model_calls(&self, role: Option<usize>) -> Vec<parley_engine::ModelCall> {
        let inner = self.lock();
        let who = match role {
            Some(p) => self.parties.get(p).cloned().unwrap_or_default(),
            None => "mediator".to_string(),
        };
        inner
            .logged_events
            .iter()
            .filter_map(|body| serde_json::from_str::<Value>(body).ok())
            .filter(|e| e["type"] == "model-call" && e["by"] == who.as_str())
            .map(|e| parley_engine::ModelCall {
                prompt: e["prompt"].as_str().unwrap_or_default().to_string(),
                reply: e["reply"].as_str().unwrap_or_default().to_string(),
                note: e["note"].as_str().unwrap_or_default().to_string(),
            })
            .collect()
    }

    /// Tells `observe` the messages written to `role` since notice `*read` (an agent
    /// hears them before its move, stamped with the move's round and time).
    fn hand_messages(
        &self,
        role: usize,
        read: &mut usize,
        state: &State,
        mut observe: impl FnMut(&Event),
    ) {
        let events = self.lock().events.len();
        let (heard, next) = self.heard(role, *read, events);
        *read = next;
        for kind in heard {
            observe(&Event {
                seq: 0,
                round: state.round,
                time: state.time,
                kind,
            });
        }
    }
}

/// An agent party: before each move it hears the messages people wrote to it.
pub(super) struct Inbox<'a> {
    pub(super) inner: Box<dyn Negotiator + 'a>,
    pub(super) live: Arc<Live>,
    pub(super) role: usize,
    pub(super) read: usize,
}

impl Inbox<'_> {
    fn hear(&mut self, ctx: &PartyContext<'_>, state: &State) {
        let inner = &mut self.inner;
        self.live
            .hand_messages(self.role, &mut self.read, state, |e| inner.observe(ctx, e));
    }
}

impl Negotiator for Inbox<'_> {
    fn name(&self) -> String {
        self.inner.name()
    }
    fn init(&mut self, ctx: &PartyContext<'_>) {
        self.inner.init(ctx)
    }
    fn observe(&mut self, ctx: &PartyContext<'_>, event: &Event) {
        self.inner.observe(ctx, event)
    }
    fn act(&mut self, ctx: &PartyContext<'_>, state: &State, standing: Option<&[u32]>) -> Action {
        self.hear(ctx, state);
        self.inner.act(ctx, state, standing)
    }
    fn propose(&mut self, ctx: &PartyContext<'_>, state: &State) -> Option<Vec<u32>> {
        self.hear(ctx, state);
        self.inner.propose(ctx, state)
    }
    fn vote(
        &mut self,
        ctx: &PartyContext<'_>,
        state: &State,
        text: &[u32],
        current: Option<&[u32]>,
    ) -> bool {
        self.hear(ctx, state);
        self.inner.vote(ctx, state, text, current)
    }
    fn consent(&mut self, ctx: &PartyContext<'_>, state: &State) -> bool {
        self.hear(ctx, state);
        self.inner.consent(ctx, state)
    }
    fn message(&mut self) -> Option<String> {
        self.inner.message()
    }
    fn model_calls(&mut self) -> Vec<parley_engine::ModelCall> {
        self.inner.model_calls()
    }
}

/// An agent mediator: before each text it hears what parties wrote to it.
pub(super) struct MediatorInbox<'a> {
    pub(super) inner: Box<dyn Mediator + 'a>,
    pub(super) live: Arc<Live>,
    pub(super) role: usize,
    pub(super) read: usize,
}

impl MediatorInbox<'_> {
    fn hear(&mut self, ctx: &MediatorContext<'_>, state: &State) {
        let inner = &mut self.inner;
        self.live
            .hand_messages(self.role, &mut self.read, state, |e| inner.observe(ctx, e));
    }
}

impl Mediator for MediatorInbox<'_> {
    fn name(&self) -> String {
        self.inner.name()
    }
    fn init(&mut self, ctx: &MediatorContext<'_>) {
        self.inner.init(ctx)
    }
    fn observe(&mut self, ctx: &MediatorContext<'_>, event: &Event) {
        self.inner.observe(ctx, event)
    }
    fn text(&mut self, ctx: &MediatorContext<'_>, state: &State) -> Tabled {
        self.hear(ctx, state);
        self.inner.text(ctx, state)
    }
    fn direct_text(&mut self, ctx: &MediatorContext<'_>, state: &State) -> Option<Vec<u32>> {
        self.hear(ctx, state);
        self.inner.direct_text(ctx, state)
    }
    fn progress(&self) -> f64 {
        self.inner.progress()
    }
    fn messages(&mut self) -> Vec<(Option<usize>, String)> {
        self.inner.messages()
    }
    fn model_calls(&mut self) -> Vec<parley_engine::ModelCall> {
        self.inner.model_calls()
    }
    fn improve(&mut self, ctx: &MediatorContext<'_>, agreement: &[u32]) -> Option<Vec<u32>> {
        self.inner.improve(ctx, agreement)
    }
}
