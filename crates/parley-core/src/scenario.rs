//! Parties and scenarios.

use crate::space::OutcomeSpace;
use crate::ufun::{CompiledUtility, UtilityFunction};
use crate::{Error, Result};

/// A side of the negotiation, with its private preferences.
#[derive(Clone, Debug, PartialEq)]
pub struct Party {
    /// The party's name (unique in a scenario).
    pub name: String,
    /// The private utility function.
    pub utility: UtilityFunction,
    /// The utility of no deal (BATNA), in the same normalised units.
    pub reservation: f64,
    /// d in (0, 1]: a deal at normalised time t is worth u·d^t.
    pub discount: f64,
}

/// An outcome space plus one party per side.
#[derive(Clone, Debug)]
pub struct Scenario {
    name: String,
    description: Option<String>,
    space: OutcomeSpace,
    parties: Vec<Party>,
    compiled: Vec<CompiledUtility>,
}

impl Scenario {
    /// A validated scenario: at least one party, unique names, utility functions that
    /// fit the space, finite reservation values and discounts in (0, 1].
    pub fn new(
        name: impl Into<String>,
        description: Option<String>,
        space: OutcomeSpace,
        parties: Vec<Party>,
    ) -> Result<Scenario> {
        if parties.is_empty() {
            return Err(Error::NoParties);
        }
        let mut seen = std::collections::BTreeSet::new();
        let mut compiled = Vec::with_capacity(parties.len());
        for party in &parties {
            let invalid = |e: Error| Error::InvalidParty {
                party: party.name.clone(),
                source: Box::new(e),
            };
            if party.name.trim().is_empty() {
                return Err(invalid(Error::InvalidUtility(
                    "the party has no name".into(),
                )));
            }
            if !seen.insert(party.name.as_str()) {
                return Err(invalid(Error::InvalidUtility(
                    "two parties have this name".into(),
                )));
            }
            if !party.reservation.is_finite() {
                return Err(invalid(Error::InvalidUtility(
                    "the reservation value must be a finite number".into(),
                )));
            }
            if !(party.discount > 0.0 && party.discount <= 1.0) {
                return Err(invalid(Error::InvalidUtility(format!(
                    "the discount factor {} must be in (0, 1]",
                    party.discount
                ))));
            }
            compiled.push(CompiledUtility::new(&party.utility, &space).map_err(invalid)?);
        }
        Ok(Scenario {
            name: name.into(),
            description,
            space,
            parties,
            compiled,
        })
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

    /// Each party's utility for an outcome.
    pub fn evaluate(&self, outcome: &[u32]) -> Result<Vec<f64>> {
        self.space.check_outcome(outcome)?;
        Ok(self.compiled.iter().map(|u| u.value(outcome)).collect())
    }
}
