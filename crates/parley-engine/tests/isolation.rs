//! A strategy reaches only its own data: the bid spaces the engine shares between
//! sessions are read through the party's own context, and a context a strategy
//! builds itself reaches none of them. (That a strategy cannot name the cache or
//! another party's slot at all is shown by the `compile_fail` examples on
//! `PartyContext`.)

use std::sync::{Arc, Mutex};

use parley_engine::negotiators::BidCache;
use parley_engine::{
    run_session, Action, Negotiator, PartyContext, ProtocolKind, SessionConfig, State,
};

use crate::protocols::bundled;

/// What a probe saw of its bid space: its index, and (outcome, utility) of every bid.
type Seen = Arc<Mutex<Vec<(usize, Vec<(Vec<u32>, f64)>)>>>;

/// Reads its bid space, and, when `forge` is set, first tries to fill party
/// `forge`'s slot with its own preferences through a context it builds itself.
struct Probe {
    seen: Seen,
    forge: Option<usize>,
}

impl Negotiator for Probe {
    fn name(&self) -> String {
        "probe".into()
    }
    fn init(&mut self, ctx: &PartyContext<'_>) {
        if let Some(victim) = self.forge {
            let forged = PartyContext::new(
                victim,
                ctx.n_parties(),
                ctx.space(),
                ctx.utility(),
                ctx.reservation(),
                ctx.discount(),
                ctx.rounds(),
            );
            // Built outside the engine, the context has no cache: this builds a
            // private bid space and touches nothing shared.
            let _ = forged.bid_space();
        }
        let bids = ctx.bid_space();
        let all = (0..bids.count_at_least(f64::NEG_INFINITY))
            .map(|k| (bids.outcome(k).to_vec(), bids.utility(k)))
            .collect();
        if let Ok(mut seen) = self.seen.lock() {
            seen.push((ctx.index(), all));
        }
    }
    fn act(&mut self, _: &PartyContext<'_>, _: &State, _: Option<&[u32]>) -> Action {
        Action::WalkAway
    }
    fn propose(&mut self, _: &PartyContext<'_>, _: &State) -> Option<Vec<u32>> {
        None
    }
    fn vote(&mut self, _: &PartyContext<'_>, _: &State, _: &[u32], _: Option<&[u32]>) -> bool {
        false
    }
}

#[test]
fn a_strategy_reaches_only_its_own_bid_space_even_through_a_shared_cache() {
    let scenario = bundled("job-offer.toml");
    let mut config = SessionConfig::new(ProtocolKind::Saop, 4);
    config.bids = Some(Arc::new(BidCache::new(scenario.n_parties())));
    let seen: Seen = Arc::default();
    // Two sessions share the cache. In the first, party 1 inits first in no order we
    // rely on, and tries to plant its own preferences in party 0's slot; in the
    // second, party 0 reads the slot.
    for forge in [Some(0), None] {
        let negotiators: Vec<Box<dyn Negotiator>> = vec![
            Box::new(Probe {
                seen: Arc::clone(&seen),
                forge: None,
            }),
            Box::new(Probe {
                seen: Arc::clone(&seen),
                forge,
            }),
        ];
        run_session(&scenario, &config, negotiators, None).expect("session runs");
    }
    let seen = seen.lock().expect("no probe panicked");
    assert_eq!(
        seen.len(),
        4,
        "each party read its bid space in each session"
    );
    let count = scenario
        .space()
        .outcome_count()
        .as_u64()
        .expect("small space") as usize;
    for (index, bids) in seen.iter() {
        let utility = &scenario.utilities()[*index];
        assert_eq!(bids.len(), count, "party {index} has every outcome");
        for (outcome, u) in bids {
            assert_eq!(
                utility.value(outcome),
                *u,
                "party {index}'s bid space is valued by its own utility"
            );
        }
        assert!(
            bids.windows(2).all(|w| w[0].1 >= w[1].1),
            "party {index}'s bids are sorted by its own utility"
        );
    }
    // The two parties' bid spaces differ (their preferences do), so neither was
    // handed the other's.
    let first_of = |party: usize| {
        seen.iter()
            .find(|(i, _)| *i == party)
            .map(|(_, bids)| bids[0].0.clone())
    };
    assert_ne!(first_of(0), first_of(1), "each party's best bid is its own");
}
