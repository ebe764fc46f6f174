//! One row per session: what `results.jsonl` and `results.csv` hold.

use serde::{Deserialize, Serialize};

/// The result of one session.
///
/// Distances are Euclidean in the utility plane, from the undiscounted utilities of the
/// agreement (the reservation values when there is none) to the nearest point of the
/// Pareto frontier and to the Nash point.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Row {
    /// The session's number in the tournament.
    pub session: u64,
    /// The scenario's label.
    pub scenario: String,
    /// The protocol's name.
    pub protocol: String,
    /// The repetition, from 0.
    pub repetition: u32,
    /// The seed of the session's negotiators.
    pub seed: u64,
    /// The parties, in role order.
    pub parties: Vec<String>,
    /// The competitor playing each role.
    pub negotiators: Vec<String>,
    /// The agreement as one value label per issue, if there is one.
    pub agreement: Option<Vec<String>>,
    /// Each role's utility: of the deal, or its reservation value when there is none,
    /// discounted to the end time.
    pub utilities: Vec<f64>,
    /// Each role's utility minus what walking away would have paid it at that moment
    /// (its reservation value, discounted the same way): 0 with no deal.
    pub advantages: Vec<f64>,
    /// Rounds used.
    pub rounds: u32,
    /// Normalised time of the deal or of the end.
    pub time: f64,
    /// How the session ended (`agreement`, `deadline`, `walk-away`, `invalid`).
    pub ended_by: String,
    /// The phase the session ended in.
    pub phase: String,
    /// Distance to the Pareto frontier.
    pub pareto_distance: f64,
    /// Distance to the Nash point (absent when no outcome is rational).
    pub nash_distance: Option<f64>,
    /// The sum of the utilities.
    pub welfare: f64,
}

/// The CSV header for a tournament whose largest scenario has `roles` parties.
pub fn csv_header(roles: usize) -> Vec<String> {
    let mut header: Vec<String> = [
        "session",
        "scenario",
        "protocol",
        "repetition",
        "seed",
        "agreement",
        "ended_by",
        "phase",
        "rounds",
        "time",
        "welfare",
        "pareto_distance",
        "nash_distance",
        "outcome",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    for k in 1..=roles {
        for field in ["party", "negotiator", "utility", "advantage"] {
            header.push(format!("{field}_{k}"));
        }
    }
    header
}

impl Row {
    /// The row as CSV fields under [`csv_header`]`(roles)`.
    pub fn csv_record(&self, roles: usize) -> Vec<String> {
        let mut record = vec![
            self.session.to_string(),
            self.scenario.clone(),
            self.protocol.clone(),
            self.repetition.to_string(),
            self.seed.to_string(),
            self.agreement.is_some().to_string(),
            self.ended_by.clone(),
            self.phase.clone(),
            self.rounds.to_string(),
            self.time.to_string(),
            self.welfare.to_string(),
            self.pareto_distance.to_string(),
            self.nash_distance
                .map_or_else(String::new, |d| d.to_string()),
            self.agreement
                .as_ref()
                .map_or_else(String::new, |a| a.join(";")),
        ];
        for k in 0..roles {
            match self.parties.get(k) {
                Some(party) => {
                    record.push(party.clone());
                    record.push(self.negotiators.get(k).cloned().unwrap_or_default());
                    record.push(
                        self.utilities
                            .get(k)
                            .map_or_else(String::new, f64::to_string),
                    );
                    record.push(
                        self.advantages
                            .get(k)
                            .map_or_else(String::new, f64::to_string),
                    );
                }
                None => record.extend(std::iter::repeat_n(String::new(), 4)),
            }
        }
        record
    }

    /// Checks that the row is internally consistent (one value per role).
    pub fn check(&self) -> Result<(), String> {
        let n = self.parties.len();
        if n < 2
            || self.negotiators.len() != n
            || self.utilities.len() != n
            || self.advantages.len() != n
        {
            return Err(format!(
                "session {}: parties, negotiators, utilities and advantages must have one entry per role",
                self.session
            ));
        }
        Ok(())
    }
}
