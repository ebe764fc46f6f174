//! Agendas: scenarios whose parties set their own preferences.
//!
//! An agenda is a native scenario file in which some parties have no `utility`: it
//! gives the issues, the parties' names and their briefings, and each of those
//! parties states its preferences privately later (in a live session, through its
//! seat). [`Agenda`] holds the file's model, checks everything it does say, and takes
//! each party's [`Preferences`] as they come; once every party has some it converts
//! into a [`Scenario`] like any other file.

use parley_core::Scenario;
use serde::{Deserialize, Serialize};

use super::model::{
    default_discount, is_one, FileAlternative, FileParty, FileRedLine, FileScenario, FileUtility,
    UtilityKind,
};
use super::{convert, Source};
use crate::error::{invalid, Error, Result};
use crate::locate::Locator;

/// One party's preferences, as its seat states them: the party fields of the native
/// format (`docs/scenario-format.md`) except its name and briefing, which the agenda
/// gives.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Preferences {
    /// Reservation value (default 0); not with `alternative`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reservation: Option<f64>,
    /// Discount factor (default 1).
    #[serde(default = "default_discount", skip_serializing_if = "is_one")]
    pub discount: f64,
    /// The alternative to a deal as a lottery over time; not with `reservation`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alternative: Option<FileAlternative>,
    /// Packages the party never accepts.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub red_lines: Vec<FileRedLine>,
    /// The utility function.
    pub utility: FileUtility,
}

impl Preferences {
    /// A party's preferences as a file states them (none if it has no utility).
    pub fn of(party: &FileParty) -> Option<Preferences> {
        Some(Preferences {
            reservation: party.reservation,
            discount: party.discount,
            alternative: party.alternative.clone(),
            red_lines: party.red_lines.clone(),
            utility: party.utility.clone()?,
        })
    }

    fn apply(self, party: &mut FileParty) {
        party.reservation = self.reservation;
        party.discount = self.discount;
        party.alternative = self.alternative;
        party.red_lines = self.red_lines;
        party.utility = Some(self.utility);
    }
}

/// A scenario file whose parties may lack preferences; see the module docs.
#[derive(Clone, Debug, PartialEq)]
pub struct Agenda {
    model: FileScenario,
}

impl Agenda {
    /// Reads an agenda (or a complete scenario) from native JSON text.
    pub fn parse_json(text: &str, path: &str) -> Result<Agenda> {
        let model: FileScenario = serde_json::from_str(text).map_err(|e| Error::Syntax {
            path: path.to_string(),
            message: e.to_string(),
        })?;
        Agenda::checked(model, path, Locator::json(text))
    }

    /// Reads an agenda (or a complete scenario) from native TOML text.
    pub fn parse_toml(text: &str, path: &str) -> Result<Agenda> {
        let model: FileScenario = toml::from_str(text).map_err(|e| Error::Syntax {
            path: path.to_string(),
            message: e.to_string().trim_end().replace('\n', "\n  "),
        })?;
        Agenda::checked(model, path, Locator::toml(text))
    }

    /// An agenda from a model (errors name the field, not the line).
    pub fn from_model(model: FileScenario, path: &str) -> Result<Agenda> {
        Agenda::checked(model, path, Locator::none())
    }

    fn checked(model: FileScenario, path: &str, locator: Locator<'_>) -> Result<Agenda> {
        for party in &model.parties {
            let stated = party.reservation.is_some()
                || party.alternative.is_some()
                || !party.red_lines.is_empty()
                || party.discount != 1.0;
            if party.utility.is_none() && stated {
                return Err(invalid(
                    path,
                    format!("party {:?}", party.name),
                    "no `utility`, but a reservation, alternative, discount or red lines: \
                     in an agenda a party states all of its preferences itself, or none \
                     are given",
                ));
            }
        }
        let agenda = Agenda { model };
        convert(&agenda.placeholder_model(), &Source { path, locator })?;
        Ok(agenda)
    }

    /// The file's model, as read (parties without preferences have no `utility`).
    pub fn model(&self) -> &FileScenario {
        &self.model
    }

    /// Which parties have no preferences yet.
    pub fn unset(&self) -> Vec<bool> {
        self.model
            .parties
            .iter()
            .map(|p| p.utility.is_none())
            .collect()
    }

    /// Whether every party has preferences (then [`Agenda::scenario`] converts it).
    pub fn is_complete(&self) -> bool {
        self.model.parties.iter().all(|p| p.utility.is_some())
    }

    /// Party `party`'s preferences, if set.
    pub fn preferences(&self, party: usize) -> Option<Preferences> {
        self.model.parties.get(party).and_then(Preferences::of)
    }

    /// Sets party `party`'s preferences (replacing any it had), checked against the
    /// issues; on an error the agenda is unchanged. `path` names them in errors.
    pub fn set(&mut self, party: usize, preferences: Preferences, path: &str) -> Result<()> {
        let mut model = self.model.clone();
        let Some(target) = model.parties.get_mut(party) else {
            return Err(invalid(
                path,
                "preferences",
                format!("there is no party {party}"),
            ));
        };
        preferences.apply(target);
        let candidate = Agenda { model };
        convert(
            &candidate.placeholder_model(),
            &Source {
                path,
                locator: Locator::none(),
            },
        )?;
        *self = candidate;
        Ok(())
    }

    /// The scenario, once every party has preferences.
    pub fn scenario(&self, path: &str) -> Result<Scenario> {
        super::from_model(&self.model, path)
    }

    /// The scenario with every party that has no preferences yet valuing every
    /// outcome at 0: its issues, names and briefings are the agenda's, for whatever
    /// needs them before the parties have spoken. Nothing may be decided on its
    /// utilities.
    pub fn placeholder(&self, path: &str) -> Result<Scenario> {
        super::from_model(&self.placeholder_model(), path)
    }

    fn placeholder_model(&self) -> FileScenario {
        let mut model = self.model.clone();
        for party in &mut model.parties {
            if party.utility.is_none() {
                party.utility = Some(FileUtility {
                    kind: UtilityKind::Linear,
                    issues: Vec::new(),
                    max: None,
                    rectangles: Vec::new(),
                });
            }
        }
        model
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const AGENDA: &str = r#"
name = "lease"
description = "A shop lease."

[[issues]]
name = "rent"
values = ["low", "mid", "high"]

[[issues]]
name = "term"
type = "integer"
min = 1
max = 5

[[parties]]
name = "tenant"
briefing = "You run a bakery."

[[parties]]
name = "landlord"
reservation = 0.3
[parties.utility]
[[parties.utility.issues]]
issue = "rent"
weight = 1.0
values = { low = 0.0, mid = 0.5, high = 1.0 }
"#;

    fn tenant() -> Preferences {
        serde_json::from_str(
            r#"{"reservation": 0.4,
                "red_lines": [{"issue": "rent", "never": ["high"]}],
                "utility": {"issues": [
                  {"issue": "rent", "weight": 0.7, "values": {"low": 1, "mid": 0.6, "high": 0}},
                  {"issue": "term", "weight": 0.3, "linear": {"slope": 0.25, "offset": 0}}]}}"#,
        )
        .expect("preferences")
    }

    #[test]
    fn an_agenda_reads_and_waits_for_the_missing_preferences() {
        let agenda = Agenda::parse_toml(AGENDA, "lease.toml").expect("agenda");
        assert_eq!(agenda.unset(), vec![true, false]);
        assert!(!agenda.is_complete());
        let err = agenda.scenario("lease.toml").expect_err("incomplete");
        assert!(err.to_string().contains("party \"tenant\""), "{err}");
        assert!(err.to_string().contains("no `utility`"), "{err}");
        let placeholder = agenda.placeholder("lease.toml").expect("placeholder");
        assert_eq!(placeholder.n_parties(), 2);
        assert_eq!(placeholder.briefing(0), Some("You run a bakery."));
        assert_eq!(placeholder.utilities()[0].value(&[2, 4]), 0.0);
        assert_eq!(placeholder.utilities()[1].value(&[2, 4]), 1.0);
    }

    #[test]
    fn setting_preferences_completes_the_scenario() {
        let mut agenda = Agenda::parse_toml(AGENDA, "lease.toml").expect("agenda");
        agenda.set(0, tenant(), "preferences").expect("set");
        assert!(agenda.is_complete());
        assert_eq!(agenda.preferences(0), Some(tenant()));
        let scenario = agenda.scenario("lease.toml").expect("complete");
        assert_eq!(scenario.parties()[0].reservation, 0.4);
        assert_eq!(scenario.briefing(0), Some("You run a bakery."));
        // rent low (1.0 × 0.7) and the longest term (1.0 × 0.3).
        assert!((scenario.utilities()[0].value(&[0, 4]) - 1.0).abs() < 1e-12);
        assert!(scenario.red_lines(0).crossed(&[2, 0]).is_some());
    }

    #[test]
    fn bad_preferences_are_refused_and_change_nothing() {
        let mut agenda = Agenda::parse_toml(AGENDA, "lease.toml").expect("agenda");
        let before = agenda.clone();
        let mut bad = tenant();
        bad.utility.issues[0].issue = "deposit".into();
        let err = agenda
            .set(0, bad, "preferences")
            .expect_err("unknown issue");
        assert!(err.to_string().contains("deposit"), "{err}");
        let mut bad = tenant();
        bad.red_lines[0].never = vec![super::super::Label::Text("none".into())];
        assert!(agenda.set(0, bad, "preferences").is_err());
        assert_eq!(agenda, before);
    }

    #[test]
    fn an_agenda_party_states_all_of_its_preferences_or_none() {
        let text = AGENDA.replace(
            "briefing = \"You run a bakery.\"",
            "briefing = \"You run a bakery.\"\nreservation = 0.2",
        );
        let err = Agenda::parse_toml(&text, "lease.toml").expect_err("half stated");
        assert!(err.to_string().contains("tenant"), "{err}");
        assert!(err.to_string().contains("agenda"), "{err}");
    }

    #[test]
    fn an_agenda_still_checks_its_issues() {
        let text = AGENDA.replace("max = 5", "max = 0");
        assert!(Agenda::parse_toml(&text, "lease.toml").is_err());
    }
}
