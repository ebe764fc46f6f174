//! The outcomes an analysis ranges over: the whole space, or the product of the
//! values no party's red line refuses (red lines refuse values issue by issue, so
//! the outcomes that cross none of them are again a product of per-issue sets).

use crate::red_line::Forbidden;
use crate::space::OutcomeSpace;

/// Per issue, the values in play, indexed `0..cards[issue]`.
pub(crate) struct Domain {
    cards: Vec<u32>,
    /// `None`: every value of the issue, value `k` is index `k`.
    values: Vec<Option<Vec<u32>>>,
}

impl Domain {
    /// The outcomes of `space` that cross none of `forbidden`'s lines.
    pub(crate) fn new(space: &OutcomeSpace, forbidden: &Forbidden) -> Domain {
        let values = forbidden.allowed_values(space.n_issues());
        let cards = space
            .cardinalities()
            .iter()
            .zip(&values)
            .map(|(&card, allowed)| allowed.as_ref().map_or(card, |a| a.len() as u32))
            .collect();
        Domain { cards, values }
    }

    /// How many values of each issue are in play.
    pub(crate) fn cards(&self) -> &[u32] {
        &self.cards
    }

    /// Value index of the `k`-th value in play of `issue`.
    #[inline]
    pub(crate) fn value(&self, issue: usize, k: u32) -> u32 {
        match &self.values[issue] {
            None => k,
            Some(allowed) => allowed[k as usize],
        }
    }

    /// The number of outcomes in play, when it fits 64 bits.
    pub(crate) fn count(&self) -> Option<u64> {
        self.cards
            .iter()
            .try_fold(1u64, |acc, &c| acc.checked_mul(u64::from(c)))
    }

    /// Whether every value of every issue is in play.
    pub(crate) fn is_whole(&self) -> bool {
        self.values.iter().all(Option::is_none)
    }

    /// Decodes the `index`-th outcome in play (last issue fastest) into value indices.
    pub(crate) fn decode(&self, mut index: u64, outcome: &mut [u32]) {
        for (issue, (slot, &card)) in outcome.iter_mut().zip(&self.cards).enumerate().rev() {
            let k = (index % u64::from(card.max(1))) as u32;
            *slot = self.value(issue, k);
            index /= u64::from(card.max(1));
        }
    }
}
