//! Parties and scenarios.

use std::collections::BTreeMap;

use crate::label;
use crate::red_line::Forbidden;
use crate::space::OutcomeSpace;
use crate::ufun::{CompiledUtility, UtilityFunction};
use crate::{Error, Result};

/// A side of the negotiation, with its private preferences.
#[derive(Clone, Debug, PartialEq)]
pub struct Party {
    /// The party's name: a label, unique in a scenario ([`Scenario::new`] stores it in
    /// canonical spelling).
    pub name: String,
    /// The private utility function.
    pub utility: UtilityFunction,
    /// The utility of no deal (BATNA), in the same normalised units.
    pub reservation: f64,
    /// d in (0, 1]: a deal at normalised time t is worth u·d^t (and so is walking away).
    pub discount: f64,
    /// The alternative to a deal when it is a lottery that changes over time (then
    /// `reservation` is its value at t = 0); `None`: walking away pays `reservation`.
    pub alternative: Option<crate::Alternative>,
    /// Packages the party never accepts, whatever they offer elsewhere.
    pub red_lines: Vec<crate::RedLine>,
}

impl Party {
    /// What walking away is worth to the party at normalised time `t`, undiscounted:
    /// its alternative's value v(t), or its reservation value.
    pub fn reservation_at(&self, t: f64) -> f64 {
        self.alternative
            .as_ref()
            .map_or(self.reservation, |a| a.value(t))
    }

    /// What walking away pays the party at time `t`: [`Party::reservation_at`]
    /// discounted as a deal is (`d^t`, Genius semantics).
    pub fn walk_away(&self, t: f64) -> f64 {
        self.reservation_at(t) * self.discount.powf(t)
    }
}

/// An outcome space plus one party per side.
#[derive(Clone, Debug)]
pub struct Scenario {
    name: String,
    description: Option<String>,
    space: OutcomeSpace,
    parties: Vec<Party>,
    compiled: Vec<CompiledUtility>,
    /// Per party, its red lines compiled; then their union.
    forbidden: Vec<Forbidden>,
    forbidden_by_any: Forbidden,
    breakdown: f64,
    /// Per party: its private briefing (shown only in that party's room).
    briefings: Vec<Option<String>>,
}

impl Scenario {
    /// A validated scenario: at least one party, unique names, utility functions that
    /// fit the space, finite reservation values and discounts in (0, 1].
    ///
    /// The scenario's and the parties' names are labels: they are stored in canonical
    /// spelling (NFC, outer whitespace removed) and refused when they hold control or
    /// invisible characters (see [`label`]); two parties whose names are the same
    /// label once normalised are refused.
    pub fn new(
        name: impl Into<String>,
        description: Option<String>,
        space: OutcomeSpace,
        mut parties: Vec<Party>,
    ) -> Result<Scenario> {
        let name = label::normalize("scenario name", &name.into())?;
        if parties.is_empty() {
            return Err(Error::NoParties);
        }
        let mut seen: BTreeMap<String, &str> = BTreeMap::new();
        let mut raw_names = Vec::with_capacity(parties.len());
        for (party_idx, party) in parties.iter_mut().enumerate() {
            let normalized =
                label::normalize(&format!("name of party {}", party_idx + 1), &party.name)?;
            raw_names.push(std::mem::replace(&mut party.name, normalized));
        }
        if let Some((first, second)) =
            label::first_lookalikes(parties.iter().map(|p| p.name.as_str()))
        {
            return Err(Error::InvalidParty {
                party: parties[second].name.clone(),
                source: Box::new(Error::InvalidUtility(format!(
                    "parties {} and {}: {}",
                    first + 1,
                    second + 1,
                    label::lookalike_message(&parties[first].name, &parties[second].name)
                ))),
            });
        }
        let description = description
            .map(|d| label::normalize_text("scenario description", &d))
            .transpose()?
            .filter(|d| !d.is_empty());
        let mut compiled = Vec::with_capacity(parties.len());
        let mut forbidden = Vec::with_capacity(parties.len());
        for (party, raw_name) in parties.iter().zip(&raw_names) {
            let invalid = |e: Error| Error::InvalidParty {
                party: party.name.clone(),
                source: Box::new(e),
            };
            if let Some(first) = seen.insert(party.name.clone(), raw_name) {
                return Err(invalid(Error::InvalidUtility(format!(
                    "two parties have this name{}",
                    label::twins(first, raw_name)
                ))));
            }
            if !(0.0..=1.0).contains(&party.reservation) {
                return Err(invalid(Error::InvalidUtility(format!(
                    "the reservation value {} must be in [0, 1] (utilities are normalised: \
                     0 is the worst outcome, 1 the best)",
                    party.reservation
                ))));
            }
            if !(party.discount > 0.0 && party.discount <= 1.0) {
                return Err(invalid(Error::InvalidUtility(format!(
                    "the discount factor {} must be in (0, 1]",
                    party.discount
                ))));
            }
            compiled.push(CompiledUtility::new(&party.utility, &space).map_err(invalid)?);
            forbidden.push(
                Forbidden::compile(&party.red_lines, &space)
                    .map_err(|e| invalid(Error::InvalidUtility(e)))?,
            );
        }
        let forbidden_by_any = Forbidden::union(&forbidden);
        Ok(Scenario {
            name,
            description,
            space,
            parties,
            compiled,
            forbidden,
            forbidden_by_any,
            breakdown: 0.0,
            briefings: Vec::new(),
        })
    }

    /// The same scenario with a breakdown risk: the chance, each round after the
    /// first, that the talks collapse and every party gets what walking away pays at
    /// that moment. In [0, 1).
    pub fn with_breakdown(mut self, chance: f64) -> Result<Scenario> {
        if !(0.0..1.0).contains(&chance) {
            return Err(Error::InvalidUtility(format!(
                "breakdown: the chance per round that talks collapse must be in [0, 1), not \
                 {chance}"
            )));
        }
        self.breakdown = chance;
        Ok(self)
    }

    /// The same scenario with a private briefing per party (in party order; `None` or a
    /// blank text: none). Each is free text, normalised as descriptions are; a briefing
    /// for a party that does not exist is refused.
    pub fn with_briefings(mut self, briefings: Vec<Option<String>>) -> Result<Scenario> {
        if briefings.len() > self.parties.len() {
            return Err(Error::InvalidUtility(format!(
                "{} briefings for {} parties",
                briefings.len(),
                self.parties.len()
            )));
        }
        let mut out = Vec::with_capacity(self.parties.len());
        for (party, briefing) in self.parties.iter().zip(
            briefings
                .into_iter()
                .chain(std::iter::repeat(None))
                .take(self.parties.len()),
        ) {
            let normalized = briefing
                .map(|b| label::normalize_text("briefing", &b))
                .transpose()
                .map_err(|e| Error::InvalidParty {
                    party: party.name.clone(),
                    source: Box::new(Error::from(e)),
                })?
                .filter(|b| !b.is_empty());
            out.push(normalized);
        }
        self.briefings = out;
        Ok(self)
    }

    /// Party `party`'s private briefing, if it has one.
    pub fn briefing(&self, party: usize) -> Option<&str> {
        self.briefings.get(party).and_then(|b| b.as_deref())
    }

    /// The chance per round that the talks collapse (0: they never do).
    pub fn breakdown(&self) -> f64 {
        self.breakdown
    }

    /// The scenario's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The optional description.
    pub fn description(&self) -> Option<&str> {
        self.description.as_deref()
    }

    /// The outcome space.
    pub fn space(&self) -> &OutcomeSpace {
        &self.space
    }

    /// The parties, in order.
    pub fn parties(&self) -> &[Party] {
        &self.parties
    }

    /// The position of the party with this name, compared in canonical spelling
    /// ([`label::canonical`]).
    pub fn party_index(&self, name: &str) -> Option<usize> {
        label::position(self.parties.iter().map(|p| p.name.as_str()), name)
    }

    /// The number of parties.
    pub fn n_parties(&self) -> usize {
        self.parties.len()
    }

    /// The compiled utility functions, one per party in order.
    pub fn utilities(&self) -> &[CompiledUtility] {
        &self.compiled
    }

    /// The reservation values, one per party in order.
    pub fn reservations(&self) -> Vec<f64> {
        self.parties.iter().map(|p| p.reservation).collect()
    }

    /// Party `party`'s red lines, compiled (empty when it has none or is not a party).
    pub fn red_lines(&self, party: usize) -> &Forbidden {
        static NONE: Forbidden = Forbidden::EMPTY;
        self.forbidden.get(party).unwrap_or(&NONE)
    }

    /// Every party's red lines together: the outcomes no agreement can be.
    pub fn red_lines_of_all(&self) -> &Forbidden {
        &self.forbidden_by_any
    }

    /// Whether `outcome` is acceptable to party `party` at normalised time `t`: worth
    /// at least what walking away is worth then ([`Party::reservation_at`]; both are
    /// discounted alike) and across none of its red lines.
    pub fn acceptable(&self, party: usize, outcome: &[u32], t: f64) -> bool {
        match (self.parties.get(party), self.compiled.get(party)) {
            (Some(p), Some(u)) => {
                u.value(outcome) >= p.reservation_at(t) && !self.red_lines(party).crosses(outcome)
            }
            _ => false,
        }
    }

    /// Each party's utility for an outcome.
    pub fn evaluate(&self, outcome: &[u32]) -> Result<Vec<f64>> {
        self.space.check_outcome(outcome)?;
        Ok(self.compiled.iter().map(|u| u.value(outcome)).collect())
    }
}
