//! Who may see what: the one place that decides it.
//!
//! Every event goes to the full trace (owner and audit). A party's view, and what a
//! negotiator is told through `observe`, is the trace filtered by [`visible_to`].
//! Nothing that carries another party's utility function or reservation value is ever
//! an event: confiding records only the fact, and the content goes straight to the
//! mediator.

use crate::events::{Event, EventKind, Recipient, Trace};

/// Who looks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Viewer {
    /// A party, by index.
    Party(usize),
    /// The mediator.
    Mediator,
    /// An observer of the public record only (a host that does not run the mediator).
    Public,
    /// The session's owner or an auditor: everything.
    Owner,
}

/// Whether `viewer` may see `event`.
pub fn visible_to(event: &Event, viewer: Viewer) -> bool {
    let party = match viewer {
        Viewer::Owner => return true,
        Viewer::Public => usize::MAX,
        Viewer::Mediator => {
            // The mediator sees everything said to it or in public; direct-phase offers
            // are public, so it sees those too. A party's exchanges with its language
            // model are its own.
            return !matches!(event.kind, EventKind::ModelCall { by: Some(_), .. });
        }
        Viewer::Party(i) => i,
    };
    match &event.kind {
        // Public: the frame of the session and direct talks.
        EventKind::Start { .. }
        | EventKind::Phase { .. }
        | EventKind::End { .. }
        | EventKind::Offer { .. }
        | EventKind::Accept { .. }
        | EventKind::WalkAway { .. }
        | EventKind::Text { .. }
        | EventKind::Default { .. }
        | EventKind::Consent { .. } => true,
        // The call carries the mediator's progress measure, a function of private
        // answers and confided preferences: the parties see the consents it asks for.
        EventKind::CallDirect { .. } => false,
        // Said to the mediator, or by the mediator to one party.
        EventKind::Confide { by } | EventKind::Vote { by, .. } => *by == party,
        EventKind::Proposal { from, .. } => *from == party,
        EventKind::Carry { to, .. } => *to == party,
        EventKind::Invalid { by, .. } | EventKind::ModelCall { by, .. } => *by == Some(party),
        // Said to everyone, to this party, or by it.
        EventKind::Message { from, to, .. } => match to {
            Recipient::All => true,
            Recipient::Party(p) => *p == party || *from == Some(party),
            Recipient::Mediator => *from == Some(party),
        },
    }
}

/// The trace as `viewer` may see it, numbered in the view: `seq` counts the events
/// the viewer sees, so no gap tells it that something happened out of its sight.
pub fn view(trace: &Trace, viewer: Viewer) -> Trace {
    Trace {
        events: trace
            .events
            .iter()
            .filter(|e| visible_to(e, viewer))
            .enumerate()
            .map(|(k, e)| Event {
                seq: k as u64,
                ..e.clone()
            })
            .collect(),
    }
}
