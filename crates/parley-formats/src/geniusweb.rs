//! GeniusWeb JSON profiles: the format of the GeniusWeb platform (and of NegMAS's
//! GeniusWeb bridge). A scenario is a folder of profiles, one per party (ordered by
//! file name), each a `LinearAdditiveUtilitySpace` that carries its domain; a domain
//! file (`{"name", "issuesValues"}`) may sit beside them. See `docs/genius.md`.
//!
//! GeniusWeb values an outcome as `Σ w_i · u_i(v)` with the value utilities as written
//! (in [0, 1]); parley, as Genius, divides each value table by its largest entry and
//! the weights by their sum, so that a party's best outcome is worth 1. The two differ
//! by one factor per party, GeniusWeb's best utility: reading scales a profile by it
//! (and says so in a note when it is not 1), which keeps every comparison and ratio.
//! A profile's reservation is a bid (`reservationBid`): parley's reservation value is
//! that bid's utility; writing picks the outcome worth the least among those worth at
//! least the reservation value.

use std::collections::BTreeMap;
use std::path::Path;

use parley_core::{OutcomeCount, Scenario};
use serde_json::{json, Map, Value};

use crate::error::{invalid, Error, Result};
use crate::native::{
    self, FileIssue, FileParty, FileScenario, FileTerm, FileUtility, IssueType, OrderedMap,
    UtilityKind,
};

/// A folder read: the scenario and what was noted on the way.
pub struct GeniusWebScenario {
    /// The scenario.
    pub scenario: Scenario,
    /// Scalings and other notes, one line each.
    pub notes: Vec<String>,
}

fn profile_of(v: &Value) -> Option<&Map<String, Value>> {
    v.get("LinearAdditiveUtilitySpace")?.as_object()
}

/// Whether `dir` holds GeniusWeb profiles (a `.json` file with a
/// `LinearAdditiveUtilitySpace`).
pub fn is_folder(dir: &Path) -> bool {
    json_files(dir).iter().any(|(_, text)| {
        serde_json::from_str::<Value>(text)
            .ok()
            .is_some_and(|v| profile_of(&v).is_some())
    })
}

fn json_files(dir: &Path) -> Vec<(String, String)> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut files: Vec<(String, String)> = entries
        .flatten()
        .filter(|e| {
            e.path()
                .extension()
                .and_then(|x| x.to_str())
                .is_some_and(|x| x.eq_ignore_ascii_case("json"))
        })
        .filter_map(|e| {
            let text = std::fs::read_to_string(e.path()).ok()?;
            Some((e.file_name().to_string_lossy().into_owned(), text))
        })
        .collect();
    files.sort();
    files
}

/// A number written as a JSON number or a numeric string.
fn number(v: &Value) -> Option<f64> {
    v.as_f64()
        .or_else(|| v.as_str().and_then(|s| s.trim().parse().ok()))
}

/// A value label as GeniusWeb writes it: a string, or a number.
fn label(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// Reads a folder of GeniusWeb profiles.
pub fn read_folder(dir: &Path) -> Result<GeniusWebScenario> {
    let shown = dir.display().to_string();
    let mut notes = Vec::new();
    let mut domain: Option<(String, Value)> = None;
    let mut profiles = Vec::new();
    for (name, text) in json_files(dir) {
        let path = format!("{shown}/{name}");
        let v: Value = serde_json::from_str(&text).map_err(|e| Error::Syntax {
            path: path.clone(),
            message: e.to_string(),
        })?;
        if let Some(profile) = profile_of(&v) {
            profiles.push((path, name, profile.clone()));
        } else if v.get("issuesValues").is_some() {
            domain = Some((path, v));
        } else {
            notes.push(format!(
                "ignored {name} (neither a GeniusWeb profile nor a domain)"
            ));
        }
    }
    if profiles.len() < 2 {
        return Err(invalid(
            &shown,
            "profiles",
            format!(
                "{} GeniusWeb profile(s) (.json files with a LinearAdditiveUtilitySpace); a scenario needs one per party, at least two",
                profiles.len()
            ),
        ));
    }
    // The domain: every profile carries one; they (and a domain file) must agree.
    let first_domain = profiles[0].2.get("domain").cloned().unwrap_or(Value::Null);
    for (path, _, p) in &profiles[1..] {
        if p.get("domain").map(|d| &d["issuesValues"]) != Some(&first_domain["issuesValues"]) {
            return Err(invalid(
                path,
                "domain",
                "not the same domain as the first profile's",
            ));
        }
    }
    if let Some((path, d)) = &domain {
        if d["issuesValues"] != first_domain["issuesValues"] {
            return Err(invalid(
                path,
                "issuesValues",
                "the domain file and the profiles' domain differ",
            ));
        }
    }
    let (domain_path, issues_values) =
        match first_domain.get("issuesValues").and_then(Value::as_object) {
            Some(iv) => (profiles[0].0.clone(), iv.clone()),
            None => return Err(invalid(&profiles[0].0, "domain.issuesValues", "missing")),
        };
    let mut issues = Vec::new();
    for (issue, set) in &issues_values {
        let values = set
            .get("values")
            .and_then(Value::as_array)
            .ok_or_else(|| {
                invalid(
                    &domain_path,
                    format!("domain.issuesValues.{issue}"),
                    "only discrete value sets ({\"values\": [...]}) are read; a number range is not yet",
                )
            })?;
        issues.push((issue.clone(), values.iter().map(label).collect::<Vec<_>>()));
    }
    let mut parties = Vec::new();
    for (path, file, p) in &profiles {
        parties.push(read_profile(path, file, p, &issues, &mut notes)?);
    }
    let model = FileScenario {
        name: first_domain["name"].as_str().map_or_else(
            || {
                dir.file_name()
                    .map_or("geniusweb".into(), |n| n.to_string_lossy().into_owned())
            },
            str::to_string,
        ),
        description: None,
        breakdown: None,
        issues: issues
            .iter()
            .map(|(name, values)| FileIssue {
                name: name.clone(),
                kind: IssueType::Discrete,
                values: Some(values.clone()),
                min: None,
                max: None,
                steps: None,
            })
            .collect(),
        parties,
    };
    let scenario = native::from_model(&model, &shown)?;
    Ok(GeniusWebScenario { scenario, notes })
}

fn read_profile(
    path: &str,
    file: &str,
    p: &Map<String, Value>,
    issues: &[(String, Vec<String>)],
    notes: &mut Vec<String>,
) -> Result<FileParty> {
    let name = Path::new(file)
        .file_stem()
        .map_or_else(|| file.to_string(), |s| s.to_string_lossy().into_owned());
    let weights = p
        .get("issueWeights")
        .and_then(Value::as_object)
        .ok_or_else(|| invalid(path, "issueWeights", "missing"))?;
    let utilities = p
        .get("issueUtilities")
        .and_then(Value::as_object)
        .ok_or_else(|| invalid(path, "issueUtilities", "missing"))?;
    // Per issue: value label → GeniusWeb's utility, as written.
    let mut tables: BTreeMap<&str, BTreeMap<String, f64>> = BTreeMap::new();
    for (issue, labels) in issues {
        let Some(u) = utilities.get(issue) else {
            continue;
        };
        let at = format!("issueUtilities.{issue}");
        let mut table = BTreeMap::new();
        // The type names of the GeniusWeb platform (`discreteutils`, `numberutils`) or
        // of its Python port (the class names).
        let discrete = u
            .get("discreteutils")
            .or_else(|| u.get("DiscreteValueSetUtilities"));
        let numeric = u
            .get("numberutils")
            .or_else(|| u.get("NumberValueSetUtilities"));
        if let Some(d) = discrete {
            let vu = d
                .get("valueUtilities")
                .and_then(Value::as_object)
                .ok_or_else(|| invalid(path, &at, "valueUtilities missing"))?;
            for (value, x) in vu {
                if !labels.contains(value) {
                    return Err(invalid(
                        path,
                        &at,
                        format!("{value:?} is not a value of the issue"),
                    ));
                }
                let x = number(x)
                    .filter(|x| (0.0..=1.0).contains(x))
                    .ok_or_else(|| {
                        invalid(
                            path,
                            &at,
                            format!("the utility of {value:?} is not a number in [0, 1]"),
                        )
                    })?;
                table.insert(value.clone(), x);
            }
        } else if let Some(n) = numeric {
            let read = |k: &str| {
                n.get(k)
                    .and_then(number)
                    .ok_or_else(|| invalid(path, &at, format!("{k} missing")))
            };
            let (lv, lu, hv, hu) = (
                read("lowValue")?,
                read("lowUtility")?,
                read("highValue")?,
                read("highUtility")?,
            );
            for value in labels {
                let x: f64 = value
                    .parse()
                    .map_err(|_| invalid(path, &at, format!("{value:?} is not a number")))?;
                let t = if hv == lv {
                    1.0
                } else {
                    ((x - lv) / (hv - lv)).clamp(0.0, 1.0)
                };
                table.insert(value.clone(), lu + t * (hu - lu));
            }
        } else {
            return Err(invalid(path, &at, "expected discreteutils or numberutils (DiscreteValueSetUtilities or NumberValueSetUtilities)"));
        }
        tables.insert(issue.as_str(), table);
    }
    let weight_of = |issue: &str| weights.get(issue).and_then(number).unwrap_or(0.0);
    // GeniusWeb's best outcome: the weighted best of each issue.
    let best: f64 = tables
        .iter()
        .map(|(issue, t)| weight_of(issue) * t.values().copied().fold(0.0, f64::max))
        .sum();
    if best <= 0.0 {
        return Err(invalid(path, "issueUtilities", "every outcome is worth 0"));
    }
    if (best - 1.0).abs() > 1e-9 {
        notes.push(format!(
            "{file}: utilities scaled by 1/{best:.6} so that the best outcome is worth 1 (GeniusWeb's best outcome was worth {best:.6})"
        ));
    }
    let raw_utility = |bid: &Map<String, Value>| -> f64 {
        tables
            .iter()
            .map(|(issue, t)| {
                weight_of(issue)
                    * bid
                        .get(*issue)
                        .map(label)
                        .and_then(|l| t.get(&l).copied())
                        .unwrap_or(0.0)
            })
            .sum()
    };
    let reservation = match p.get("reservationBid") {
        None | Some(Value::Null) => 0.0,
        Some(bid) => {
            let values = bid
                .get("issuevalues")
                .and_then(Value::as_object)
                .ok_or_else(|| {
                    invalid(path, "reservationBid", "expected {\"issuevalues\": {...}}")
                })?;
            (raw_utility(values) / best).clamp(0.0, 1.0)
        }
    };
    let terms = tables
        .into_iter()
        .filter(|(issue, t)| weight_of(issue) > 0.0 && t.values().any(|&x| x > 0.0))
        .map(|(issue, t)| FileTerm {
            issue: issue.to_string(),
            weight: weight_of(issue) * t.values().copied().fold(0.0, f64::max),
            values: Some(OrderedMap(t.into_iter().collect())),
            linear: None,
        })
        .collect();
    Ok(FileParty {
        name,
        reservation: Some(reservation),
        discount: 1.0,
        alternative: None,
        red_lines: Vec::new(),
        briefing: None,
        utility: Some(FileUtility {
            kind: UtilityKind::Linear,
            issues: terms,
            max: None,
            rectangles: Vec::new(),
        }),
    })
}

/// Writes a folder of GeniusWeb profiles: `<domain>.json` and one `<party>.json` per
/// party. Linear utility functions only; returns notes (reservation bids).
pub fn write_folder(scenario: &Scenario, dir: &Path) -> Result<Vec<String>> {
    let shown = dir.display().to_string();
    let io = |error| Error::Io {
        path: shown.clone(),
        error,
    };
    std::fs::create_dir_all(dir).map_err(io)?;
    let model = native::to_model(scenario);
    let space = scenario.space();
    let labels: Vec<(String, Vec<String>)> = space
        .issues()
        .iter()
        .map(|i| {
            (
                i.name().to_string(),
                (0..i.cardinality()).map(|v| i.value_label(v)).collect(),
            )
        })
        .collect();
    let mut issues_values = Map::new();
    for (name, values) in &labels {
        issues_values.insert(name.clone(), json!({ "values": values }));
    }
    let domain = json!({"name": scenario.name(), "issuesValues": issues_values});
    let mut notes = Vec::new();
    let write = |file: &str, v: &Value| -> Result<()> {
        let text = serde_json::to_string_pretty(v).map_err(|e| Error::Syntax {
            path: file.into(),
            message: e.to_string(),
        })?;
        std::fs::write(dir.join(file), text + "\n").map_err(|error| Error::Io {
            path: format!("{shown}/{file}"),
            error,
        })
    };
    for (index, party) in model.parties.iter().enumerate() {
        let utility = party
            .utility
            .as_ref()
            .filter(|u| u.kind == UtilityKind::Linear)
            .ok_or_else(|| {
                invalid(
                    &shown,
                    format!("party {:?}", party.name),
                    "GeniusWeb profiles are linear additive; this utility is not",
                )
            })?;
        let total: f64 = utility
            .issues
            .iter()
            .map(|t| t.weight)
            .sum::<f64>()
            .max(f64::MIN_POSITIVE);
        let mut weights = Map::new();
        let mut utilities = Map::new();
        for (name, values) in &labels {
            let term = utility.issues.iter().find(|t| &t.issue == name);
            let evals: Vec<f64> = match term {
                None => vec![0.0; values.len()],
                Some(t) => values.iter().map(|v| term_eval(t, values, v)).collect(),
            };
            weights.insert(name.clone(), json!(term.map_or(0.0, |t| t.weight / total)));
            let vu: Map<String, Value> = values
                .iter()
                .cloned()
                .zip(evals.into_iter().map(Value::from))
                .collect();
            utilities.insert(
                name.clone(),
                json!({"discreteutils": {"valueUtilities": vu}}),
            );
        }
        let reservation = scenario.parties()[index].reservation;
        let bid = reservation_bid(scenario, index, reservation);
        if reservation > 0.0 {
            notes.push(match &bid {
                Some(_) => format!("{}: the reservation value {reservation} is written as the bid worth the least among those worth at least it", party.name),
                None => format!("{}: no reservation bid written (no outcome is worth at least {reservation}, or the space is too large to search)", party.name),
            });
        }
        let profile = json!({"LinearAdditiveUtilitySpace": {
            "name": party.name,
            "domain": domain,
            "issueWeights": weights,
            "issueUtilities": utilities,
            "reservationBid": bid.map(|b| json!({"issuevalues": b})),
        }});
        write(&format!("{}.json", party.name), &profile)?;
    }
    write(&format!("{}.json", sanitize(scenario.name())), &domain)?;
    Ok(notes)
}

fn sanitize(name: &str) -> String {
    let s: String = name
        .chars()
        .map(|c| {
            if c.is_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    format!("{s}-domain")
}

/// One issue's evaluation of its k-th value under the native rules: a table divided by
/// its largest entry, or `clamp(slope·(v − min) + offset)`.
fn term_eval(t: &FileTerm, values: &[String], v: &str) -> f64 {
    if let Some(table) = &t.values {
        let top = table.0.iter().map(|(_, x)| *x).fold(0.0, f64::max);
        let x = table
            .0
            .iter()
            .find(|(l, _)| l == v)
            .map_or(0.0, |(_, x)| *x);
        return if top > 0.0 { x / top } else { 0.0 };
    }
    match (
        &t.linear,
        values.first().and_then(|m| m.parse::<f64>().ok()),
        v.parse::<f64>().ok(),
    ) {
        (Some(lin), Some(min), Some(x)) => (lin.slope * (x - min) + lin.offset).clamp(0.0, 1.0),
        _ => 0.0,
    }
}

/// The outcome worth the least to `party` among those worth at least `reservation`, as
/// issue → label (spaces up to a million outcomes; none when the reservation is 0).
fn reservation_bid(
    scenario: &Scenario,
    party: usize,
    reservation: f64,
) -> Option<Map<String, Value>> {
    if reservation <= 0.0 {
        return None;
    }
    let space = scenario.space();
    let count = match space.outcome_count() {
        OutcomeCount::Exact(n) if n <= 1_000_000 => n as usize,
        _ => return None,
    };
    let cards = space.cardinalities();
    let u = &scenario.utilities()[party];
    let mut outcome = vec![0u32; cards.len()];
    let mut chosen: Option<(f64, Vec<u32>)> = None;
    for _ in 0..count {
        let x = u.value(&outcome);
        if x >= reservation - 1e-12 && chosen.as_ref().is_none_or(|(best, _)| x < *best) {
            chosen = Some((x, outcome.clone()));
        }
        for k in (0..cards.len()).rev() {
            outcome[k] += 1;
            if outcome[k] < cards[k] {
                break;
            }
            outcome[k] = 0;
        }
    }
    let (_, o) = chosen?;
    Some(
        space
            .issues()
            .iter()
            .zip(space.outcome_labels(&o))
            .map(|(i, l)| (i.name().to_string(), Value::from(l)))
            .collect(),
    )
}
