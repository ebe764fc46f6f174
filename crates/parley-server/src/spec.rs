//! What a session is made of: the creation request, checked, and the stored spec.

use std::collections::BTreeMap;

use parley_core::Scenario;
use parley_engine::ProtocolKind;
use serde::{Deserialize, Serialize};

use crate::error::ApiError;
use crate::limits::Limits;

/// The body of `POST /api/sessions`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateRequest {
    /// A bundled scenario id, or `{"upload": scenario}`.
    pub scenario: ScenarioRef,
    /// `saop`, `single-text`, `shuttle` or `staged`.
    pub protocol: String,
    /// Round deadline.
    pub rounds: u32,
    /// Staged: `shuttle` or `single-text`.
    #[serde(default)]
    pub indirect: Option<String>,
    /// Staged: progress at which talks move to direct.
    #[serde(default)]
    pub threshold: Option<f64>,
    /// Staged: rounds of the indirect phase.
    #[serde(default)]
    pub indirect_rounds: Option<u32>,
    /// After a deal, let the mediator propose improvements (default true).
    #[serde(default = "default_post_settlement")]
    pub post_settlement: bool,
    /// Seed of the built-in negotiators.
    #[serde(default)]
    pub seed: u64,
    /// How long tokens are valid.
    #[serde(default)]
    pub token_ttl_seconds: Option<u64>,
    /// Seconds a seat may take to act before it forfeits its turn (walks away, passes,
    /// rejects, refuses), logged as a timeout; none by default.
    #[serde(default)]
    pub seat_timeout_seconds: Option<u64>,
    /// A wall-clock limit on the talks, in seconds from their start: when it passes,
    /// the talks end with no deal (`reason: "time-up"`); none by default.
    #[serde(default)]
    pub time_limit_seconds: Option<u64>,
    /// Who plays each role.
    pub roles: BTreeMap<String, RoleRequest>,
    /// Mandates of delegated seats.
    #[serde(default)]
    pub mandates: BTreeMap<String, Mandate>,
    /// Parties played by agents that confide their preferences to the mediator.
    #[serde(default)]
    pub confide: Vec<String>,
    /// What the session's owner (its host) sees: `public`, `confided` or `all`
    /// (default: `confided` when a built-in agent mediates, else `public`).
    #[serde(default)]
    pub owner_sees: Option<OwnerSees>,
}

/// What the owner of a session (its host) sees of the talks.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum OwnerSees {
    /// The public record only: what every party sees.
    Public,
    /// The public record and what the parties told the mediator (their proposals, votes
    /// and, if they confided them, their preferences): the host runs the mediator.
    Confided,
    /// Everything: every private move and every party's preferences (and the full log,
    /// with an auditor token). Every party is told so in its view.
    All,
}

impl OwnerSees {
    /// Its name.
    pub fn name(self) -> &'static str {
        match self {
            OwnerSees::Public => "public",
            OwnerSees::Confided => "confided",
            OwnerSees::All => "all",
        }
    }
}

/// Sessions stored before the setting existed showed the owner everything.
fn legacy_owner_sees() -> OwnerSees {
    OwnerSees::All
}

fn default_post_settlement() -> bool {
    true
}

impl ScenarioRef {
    /// The scenario as native JSON, its bundled id if it is one, and what a Genius
    /// import repaired or ignored. An upload is sized before it is parsed.
    pub fn resolve(
        self,
        bundled: &dyn Fn(&str) -> Option<String>,
        limits: &Limits,
    ) -> Result<(String, Option<String>, Vec<String>), ApiError> {
        match self {
            ScenarioRef::Bundled(id) => Ok((
                bundled(&id).ok_or_else(|| {
                    bad(format!(
                        "scenario: there is no bundled scenario {id:?} (GET /api/scenarios \
                         lists them)"
                    ))
                })?,
                Some(id),
                Vec::new(),
            )),
            ScenarioRef::Upload(upload) => {
                let uploaded = upload.into_native()?;
                // Sized before it is parsed: parsing builds per-value tables.
                prescan_upload(&uploaded.json, limits)?;
                Ok((uploaded.json.to_string(), None, uploaded.notes))
            }
        }
    }
}

/// A scenario: bundled or uploaded.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum ScenarioRef {
    /// A bundled scenario's id.
    Bundled(String),
    /// An uploaded native scenario.
    Upload(Upload),
}

pub use crate::upload::Upload;

/// Who plays a role, as requested.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RoleRequest {
    /// A built-in negotiator or mediator.
    #[serde(default)]
    pub agent: Option<String>,
    /// A seat: `person` or `program`.
    #[serde(default)]
    pub seat: Option<String>,
}

/// What a delegate may accept without its principal.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Mandate {
    /// The least utility, for the delegate's party, it may accept alone.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_utility: Option<f64>,
    /// Per issue, the values it may accept alone.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allowed: Option<BTreeMap<String, Vec<String>>>,
}

/// Who holds a role.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "held_by", rename_all = "kebab-case")]
pub enum Holder {
    /// A built-in negotiator or mediator.
    Agent {
        /// Its specification.
        spec: String,
    },
    /// A seat for a person or a program.
    Seat {
        /// `person` or `program`.
        kind: String,
        /// Set when the seat is a delegate.
        mandate: Option<Mandate>,
    },
}

/// One role of a session.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Role {
    /// The party's name, or `mediator`.
    pub name: String,
    /// Who holds it.
    pub holder: Holder,
}

/// A session's configuration, as stored (the scenario in the native JSON format, so a
/// session does not depend on files that may change).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct SessionSpec {
    /// The scenario, native JSON.
    pub scenario: String,
    /// The bundled scenario's id, if it was one.
    pub scenario_id: Option<String>,
    /// The protocol.
    pub protocol: ProtocolKind,
    /// Round deadline.
    pub rounds: u32,
    /// Post-settlement.
    pub post_settlement: bool,
    /// Seed.
    pub seed: u64,
    /// Parties in order, then the mediator if any.
    pub roles: Vec<Role>,
    /// Token lifetime.
    pub token_ttl_seconds: u64,
    /// Seconds a seat may take to act (see [`CreateRequest::seat_timeout_seconds`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seat_timeout_seconds: Option<u64>,
    /// The wall-clock limit (see [`CreateRequest::time_limit_seconds`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time_limit_seconds: Option<u64>,
    /// What the owner sees.
    #[serde(default = "legacy_owner_sees")]
    pub owner_sees: OwnerSees,
}

const MAX_ROUNDS: u32 = 10_000;
const DEFAULT_TTL: u64 = 7 * 24 * 3600;

fn bad(what: impl Into<String>) -> ApiError {
    ApiError::bad_request(what)
}

impl CreateRequest {
    /// Checks the request against the scenario, the engine and the server's `limits`
    /// (an uploaded scenario's size before it is parsed); the spec, the scenario as an
    /// agenda (complete unless some party sets its own preferences) and the scenario
    /// (with those parties valuing everything at 0 until they do).
    pub fn into_spec(
        self,
        bundled: &dyn Fn(&str) -> Option<String>,
        limits: &Limits,
    ) -> Result<(SessionSpec, parley_formats::native::Agenda, Scenario), ApiError> {
        if !(1..=MAX_ROUNDS).contains(&self.rounds) {
            return Err(bad(format!(
                "rounds: must be 1 to {MAX_ROUNDS}, not {}",
                self.rounds
            )));
        }
        let (json, scenario_id, _) = self.scenario.resolve(bundled, limits)?;
        let agenda = parley_formats::native::Agenda::parse_json(&json, "scenario.upload")
            .map_err(|e| bad(e.to_string()))?;
        // Parties the scenario leaves without preferences set their own, in their seats.
        let open = agenda.unset();
        let scenario = agenda
            .placeholder("scenario.upload")
            .map_err(|e| bad(e.to_string()))?;
        check_scenario_size(&scenario, limits)?;
        let protocol = ProtocolKind::from_options(
            &self.protocol,
            self.rounds,
            self.indirect.as_deref(),
            self.threshold,
            self.indirect_rounds,
        )
        .map_err(bad)?;
        // What the session may write: every round, each role may move.
        let n_roles = scenario.n_parties() + usize::from(protocol.needs_mediator());
        if n_roles > limits.max_roles {
            return Err(bad(format!(
                "roles: this session would have {n_roles} roles ({} parties{}); a session \
                 may have at most {} (--max-roles)",
                scenario.n_parties(),
                if protocol.needs_mediator() {
                    " and the mediator"
                } else {
                    ""
                },
                limits.max_roles
            )));
        }
        let role_rounds = u64::from(self.rounds) * n_roles as u64;
        if role_rounds > limits.max_role_rounds {
            return Err(bad(format!(
                "rounds: {} rounds × {n_roles} roles = {role_rounds}; a session may have at \
                 most {} (rounds × roles, --max-role-rounds): give at most {} rounds",
                self.rounds,
                limits.max_role_rounds,
                limits.max_role_rounds / n_roles as u64
            )));
        }
        // Role names are compared in their canonical (NFC) spelling, as labels are.
        let canonical_keys = |what: &str, map: Vec<String>| -> Result<(), ApiError> {
            let mut seen = std::collections::BTreeSet::new();
            for k in map {
                if !seen.insert(parley_core::label::canonical(&k).into_owned()) {
                    return Err(bad(format!(
                        "{what}: {} is given twice (in two spellings)",
                        parley_core::label::escaped(&k)
                    )));
                }
            }
            Ok(())
        };
        canonical_keys("roles", self.roles.keys().cloned().collect())?;
        canonical_keys("mandates", self.mandates.keys().cloned().collect())?;
        let role_requests: BTreeMap<String, RoleRequest> = self
            .roles
            .into_iter()
            .map(|(k, v)| (parley_core::label::canonical(&k).into_owned(), v))
            .collect();
        let mandates: BTreeMap<String, Mandate> = self
            .mandates
            .into_iter()
            .map(|(k, v)| (parley_core::label::canonical(&k).into_owned(), v))
            .collect();
        let mut names: Vec<String> = scenario.parties().iter().map(|p| p.name.clone()).collect();
        if protocol.needs_mediator() {
            if names.iter().any(|n| n == "mediator") {
                return Err(bad(
                    "scenario: a party may not be called \"mediator\" in a mediated protocol",
                ));
            }
            names.push("mediator".into());
        }
        for name in role_requests.keys() {
            if !names.contains(name) {
                return Err(bad(format!(
                    "roles: {name:?} is not a role of this session (roles: {})",
                    names.join(", ")
                )));
            }
        }
        for name in mandates.keys() {
            if !names.contains(name) {
                return Err(bad(format!(
                    "mandates: {name:?} is not a role of this session"
                )));
            }
        }
        let mut roles = Vec::new();
        for (index, name) in names.iter().enumerate() {
            let request = role_requests
                .get(name)
                .ok_or_else(|| bad(format!("roles: {name:?} needs an agent or a seat")))?;
            let is_mediator = index >= scenario.n_parties();
            let holder = match (&request.agent, &request.seat) {
                (Some(_), None) if open.get(index).copied().unwrap_or(false) => {
                    return Err(bad(format!(
                        "roles.{name}.agent: the scenario gives this party no preferences \
                         (an agenda): it needs a seat, where it sets its own"
                    )))
                }
                (Some(spec), None) => {
                    let check = if is_mediator {
                        parley_engine::negotiators::mediator(spec, 0).map(|_| ())
                    } else {
                        parley_engine::negotiators::negotiator(spec, 0).map(|_| ())
                    };
                    check.map_err(|e| bad(format!("roles.{name}.agent: {e}")))?;
                    if mandates.contains_key(name) {
                        return Err(bad(format!(
                            "mandates: {name:?} is played by an agent; mandates are for seats"
                        )));
                    }
                    Holder::Agent { spec: spec.clone() }
                }
                (None, Some(kind)) if kind == "person" || kind == "program" => {
                    let mandate = match mandates.get(name) {
                        Some(_) if is_mediator => {
                            return Err(bad("mandates: the mediator cannot be a delegate"))
                        }
                        Some(m) => Some(check_mandate(&scenario, name, m)?),
                        None => None,
                    };
                    Holder::Seat {
                        kind: kind.clone(),
                        mandate,
                    }
                }
                (None, Some(kind)) => {
                    return Err(bad(format!(
                        "roles.{name}.seat: expected \"person\" or \"program\", not {kind:?}"
                    )))
                }
                _ => {
                    return Err(bad(format!(
                        "roles.{name}: give exactly one of \"agent\" or \"seat\""
                    )))
                }
            };
            roles.push(Role {
                name: name.clone(),
                holder,
            });
        }
        let ttl = match self.token_ttl_seconds {
            None => DEFAULT_TTL,
            Some(t) if (1..=365 * 24 * 3600).contains(&t) => t,
            Some(t) => {
                return Err(bad(format!(
                    "token_ttl_seconds: must be 1 s to a year, not {t}"
                )))
            }
        };
        let owner_sees = self.owner_sees.unwrap_or_else(|| {
            let hosted_mediator = protocol.needs_mediator()
                && matches!(
                    roles.last(),
                    Some(Role {
                        holder: Holder::Agent { .. },
                        ..
                    })
                );
            if hosted_mediator {
                OwnerSees::Confided
            } else {
                OwnerSees::Public
            }
        });
        if owner_sees == OwnerSees::All && !agenda.is_complete() {
            return Err(bad(
                "owner_sees: \"all\" would show the owner the preferences the parties set \
                 privately; an agenda session's owner sees \"public\" or \"confided\"",
            ));
        }
        if let Some(t) = self.time_limit_seconds {
            if !(1..=30 * 24 * 3600).contains(&t) {
                return Err(bad(format!(
                    "time_limit_seconds: must be 1 s to 30 days, not {t}"
                )));
            }
        }
        if let Some(t) = self.seat_timeout_seconds {
            if !(1..=30 * 24 * 3600).contains(&t) {
                return Err(bad(format!(
                    "seat_timeout_seconds: must be 1 s to 30 days, not {t}"
                )));
            }
        }
        let json = if agenda.is_complete() {
            parley_formats::native::to_json(&scenario).map_err(|e| bad(e.to_string()))?
        } else {
            serde_json::to_string_pretty(agenda.model()).map_err(|e| bad(e.to_string()))?
        };
        Ok((
            SessionSpec {
                scenario: json,
                scenario_id,
                protocol,
                rounds: self.rounds,
                post_settlement: self.post_settlement,
                seed: self.seed,
                roles,
                token_ttl_seconds: ttl,
                seat_timeout_seconds: self.seat_timeout_seconds,
                time_limit_seconds: self.time_limit_seconds,
                owner_sees,
            },
            agenda,
            scenario,
        ))
    }
}

/// An issue's or a party's name for an error message, when it is short enough to
/// quote (the scanned upload is not checked yet: a label could be huge).
fn quoted(name: Option<&str>) -> String {
    match name {
        Some(n) if n.chars().count() <= parley_core::label::MAX_LABEL_CHARS => {
            format!(" ({})", parley_core::label::escaped(n))
        }
        _ => String::new(),
    }
}

fn too_many_values(where_: &str, count: u128, limits: &Limits) -> ApiError {
    bad(format!(
        "{where_}: {count} values; an issue may have at most {} (--max-issue-values)",
        limits.max_issue_values
    ))
}

fn too_many_outcomes(count: &str, limits: &Limits) -> ApiError {
    bad(format!(
        "scenario: its outcome space has {count} outcomes (the product of its issues' \
         numbers of values); a session's may have at most {} (--max-outcomes)",
        limits.max_outcomes
    ))
}

fn too_many_issues(count: usize, limits: &Limits) -> ApiError {
    bad(format!(
        "scenario.issues: {count} issues; a scenario may have at most {} (--max-issues)",
        limits.max_issues
    ))
}

fn party_count(count: usize, limits: &Limits) -> Result<(), ApiError> {
    if count < 2 {
        return Err(bad(format!(
            "scenario.parties: a negotiation needs at least two parties; this scenario has \
             {count}"
        )));
    }
    if count > limits.max_roles {
        return Err(bad(format!(
            "scenario.parties: {count} parties; a session may have at most {} roles \
             (--max-roles)",
            limits.max_roles
        )));
    }
    Ok(())
}

/// Sizes an uploaded scenario from its JSON before it is parsed: parsing an issue
/// allocates per value, so an issue of 2^24 values (a few bytes of JSON for an
/// integer range) must be refused first. Whatever is malformed is left to the parser
/// to report.
fn prescan_upload(upload: &serde_json::Value, limits: &Limits) -> Result<(), ApiError> {
    if let Some(issues) = upload.get("issues").and_then(serde_json::Value::as_array) {
        if issues.len() > limits.max_issues {
            return Err(too_many_issues(issues.len(), limits));
        }
        let mut outcomes: u128 = 1;
        for (pos, issue) in issues.iter().enumerate() {
            let field = |key: &str| issue.get(key);
            let count: Option<u128> = match field("type").and_then(serde_json::Value::as_str) {
                Some("integer") => {
                    match (
                        field("min").and_then(serde_json::Value::as_i64),
                        field("max").and_then(serde_json::Value::as_i64),
                    ) {
                        (Some(min), Some(max)) if min <= max => {
                            Some((i128::from(max) - i128::from(min) + 1) as u128)
                        }
                        _ => None,
                    }
                }
                Some("real") => Some(
                    field("steps")
                        .and_then(serde_json::Value::as_u64)
                        .map_or(u128::from(parley_core::DEFAULT_REAL_STEPS), u128::from),
                ),
                _ => field("values")
                    .and_then(serde_json::Value::as_array)
                    .map(|v| v.len() as u128),
            };
            let Some(count) = count else { continue };
            if count > u128::from(limits.max_issue_values) {
                let name = quoted(field("name").and_then(serde_json::Value::as_str));
                return Err(too_many_values(
                    &format!("scenario.upload.issues[{pos}]{name}"),
                    count,
                    limits,
                ));
            }
            outcomes = outcomes.saturating_mul(count.max(1));
        }
        if outcomes > u128::from(limits.max_outcomes) {
            return Err(too_many_outcomes(&outcomes.to_string(), limits));
        }
    }
    if let Some(parties) = upload.get("parties").and_then(serde_json::Value::as_array) {
        party_count(parties.len(), limits)?;
    }
    Ok(())
}

/// The same limits on a parsed scenario (a bundled one, or an upload once parsed).
pub fn check_scenario_size(scenario: &Scenario, limits: &Limits) -> Result<(), ApiError> {
    let space = scenario.space();
    if space.n_issues() > limits.max_issues {
        return Err(too_many_issues(space.n_issues(), limits));
    }
    for (pos, issue) in space.issues().iter().enumerate() {
        let count = u128::from(issue.cardinality());
        if count > u128::from(limits.max_issue_values) {
            return Err(too_many_values(
                &format!(
                    "scenario.issues[{pos}] ({})",
                    parley_core::label::escaped(issue.name())
                ),
                count,
                limits,
            ));
        }
    }
    match space.outcome_count().as_u64() {
        Some(n) if n <= limits.max_outcomes => {}
        _ => {
            return Err(too_many_outcomes(
                &space.outcome_count().to_string(),
                limits,
            ))
        }
    }
    party_count(scenario.n_parties(), limits)
}

/// A mandate checked against the scenario, with its issues and values in their
/// canonical spelling.
fn check_mandate(scenario: &Scenario, role: &str, m: &Mandate) -> Result<Mandate, ApiError> {
    if let Some(u) = m.min_utility {
        if !(0.0..=1.0).contains(&u) {
            return Err(bad(format!(
                "mandates.{role}.min_utility: must be in [0, 1], not {u}"
            )));
        }
    }
    let mut checked = m.clone();
    if let Some(allowed) = &m.allowed {
        let space = scenario.space();
        let mut canonical = BTreeMap::new();
        for (issue, values) in allowed {
            let found = space
                .issue_index(issue)
                .map(|i| &space.issues()[i])
                .ok_or_else(|| {
                    bad(format!(
                        "mandates.{role}.allowed: there is no issue {issue:?}"
                    ))
                })?;
            let mut labels = Vec::with_capacity(values.len());
            for v in values {
                let index = found.value_index(v).ok_or_else(|| {
                    bad(format!(
                        "mandates.{role}.allowed.{issue}: {v:?} is not a value of the issue"
                    ))
                })?;
                labels.push(found.value_label(index));
            }
            if canonical.insert(found.name().to_string(), labels).is_some() {
                return Err(bad(format!(
                    "mandates.{role}.allowed: issue {:?} is given twice",
                    found.name()
                )));
            }
        }
        checked.allowed = Some(canonical);
    }
    Ok(checked)
}

impl Mandate {
    /// Whether accepting `outcome` (worth `utility` to the party) is within the mandate.
    pub fn allows(&self, scenario: &Scenario, outcome: &[u32], utility: f64) -> bool {
        if self.min_utility.is_some_and(|m| utility < m - 1e-12) {
            return false;
        }
        if let Some(allowed) = &self.allowed {
            for (issue, value) in scenario.space().issues().iter().zip(outcome) {
                if let Some(values) = allowed.get(issue.name()) {
                    if !values.iter().any(|v| issue.value_index(v) == Some(*value)) {
                        return false;
                    }
                }
            }
        }
        true
    }
}

impl SessionSpec {
    /// The index of the mediator role, if the protocol has one.
    pub fn mediator_index(&self) -> Option<usize> {
        self.protocol.needs_mediator().then(|| self.roles.len() - 1)
    }

    /// The index of the role called `name` (in any spelling of the same label).
    pub fn role_index(&self, name: &str) -> Option<usize> {
        parley_core::label::position(self.roles.iter().map(|r| r.name.as_str()), name)
    }
}
