//! Genius XML scenarios: a folder with one domain file (root `<negotiation_template>`)
//! and one profile per party (root `<utility_space>`).
//!
//! The reader accepts what a careful human would: issues numbered from 1 or with
//! gaps, nested objectives, values listed twice (the last evaluation wins, as in
//! Genius), profile issue names that differ from the domain's (issues are matched by
//! their `index`, as in Genius), legacy `parameter0`/`parameter1` linear evaluators,
//! and stray files (logs, `pareto.xml`) beside the profiles. Each such repair is
//! reported as a note. What cannot be loaded is an error naming the file, the line
//! and what was expected. Semantics: `docs/genius.md`.

use std::collections::BTreeMap;
use std::path::Path;

use parley_core::{
    label, Bound, HyperRectangles, Issue, IssueKind, IssueTerm, LinearAdditive, OutcomeSpace,
    Party, Rectangle, Scenario, UtilityFunction, ValueFunction, DEFAULT_REAL_STEPS,
};
use roxmltree::{Document, Node};

use crate::error::{invalid, Error, Result};

mod write;

pub use write::write_folder;

/// A loaded Genius scenario and the repairs made while reading it.
#[derive(Debug)]
pub struct GeniusScenario {
    /// The scenario.
    pub scenario: Scenario,
    /// What was repaired or ignored, one line each.
    pub notes: Vec<String>,
}

struct DomainIssue {
    /// The `index` attribute.
    index: Option<i64>,
    issue: Issue,
}

fn place(doc: &Document, node: Node, what: &str) -> String {
    let pos = doc.text_pos_at(node.range().start);
    format!("line {}: {what}", pos.row)
}

fn attr<'a>(node: Node<'a, '_>, names: &[&str]) -> Option<&'a str> {
    names.iter().find_map(|n| node.attribute(*n))
}

fn number(path: &str, doc: &Document, node: Node, names: &[&str]) -> Result<Option<f64>> {
    match attr(node, names) {
        None => Ok(None),
        Some(text) => text.trim().parse::<f64>().map(Some).map_err(|_| {
            invalid(
                path,
                place(doc, node, &format!("<{}>", node.tag_name().name())),
                format!("attribute {} = {text:?} is not a number", names[0]),
            )
        }),
    }
}

fn integer(path: &str, doc: &Document, node: Node, names: &[&str]) -> Result<Option<i64>> {
    match number(path, doc, node, names)? {
        None => Ok(None),
        Some(x) if x.fract() == 0.0 && x.abs() < 9e15 => Ok(Some(x as i64)),
        Some(x) => Err(invalid(
            path,
            place(doc, node, &format!("<{}>", node.tag_name().name())),
            format!("attribute {} = {x} is not a whole number", names[0]),
        )),
    }
}

fn issue_type(node: Node) -> String {
    attr(node, &["vtype", "type", "etype"])
        .unwrap_or("discrete")
        .to_ascii_lowercase()
}

fn elements<'a, 'input>(
    node: Node<'a, 'input>,
    tag: &'a str,
) -> impl Iterator<Item = Node<'a, 'input>> + 'a {
    node.children()
        .filter(move |c| c.is_element() && c.tag_name().name() == tag)
}

fn parse_xml<'a>(text: &'a str, path: &str) -> Result<Document<'a>> {
    Document::parse(text).map_err(|e| Error::Syntax {
        path: path.to_string(),
        message: format!("not well-formed XML: {e}"),
    })
}

/// Reads the issues of a domain file, in document order.
fn read_domain(text: &str, path: &str, notes: &mut Vec<String>) -> Result<Vec<DomainIssue>> {
    let doc = parse_xml(text, path)?;
    let mut issues = Vec::new();
    for node in doc.descendants().filter(|n| n.has_tag_name("issue")) {
        let name = node.attribute("name").ok_or_else(|| {
            invalid(
                path,
                place(&doc, node, "<issue>"),
                "expected a `name` attribute",
            )
        })?;
        // Labels are checked here too (the core checks them again) so that an error
        // names the line.
        let name = label::normalize("issue name", name)
            .map_err(|e| invalid(path, place(&doc, node, "<issue>"), e.to_string()))?;
        let index = integer(path, &doc, node, &["index"])?;
        let here = place(&doc, node, &format!("issue {name:?}"));
        let kind = match issue_type(node).as_str() {
            "discrete" => {
                let mut values: Vec<String> = Vec::new();
                for item in elements(node, "item") {
                    let value = item.attribute("value").ok_or_else(|| {
                        invalid(
                            path,
                            place(&doc, item, "<item>"),
                            "expected a `value` attribute",
                        )
                    })?;
                    label::normalize(&format!("issue {name:?}: value"), value)
                        .map_err(|e| invalid(path, place(&doc, item, "<item>"), e.to_string()))?;
                    if values.iter().any(|v| v == value) {
                        notes.push(format!(
                            "{path}: issue {name:?}: value {value:?} is listed twice; kept once"
                        ));
                    } else {
                        values.push(value.to_string());
                    }
                }
                IssueKind::Discrete { values }
            }
            "integer" | "real" => {
                let range = elements(node, "range").next().unwrap_or(node);
                let lo = number(path, &doc, range, &["lowerbound", "lowerBound"])?;
                let hi = number(path, &doc, range, &["upperbound", "upperBound"])?;
                let (Some(lo), Some(hi)) = (lo, hi) else {
                    return Err(invalid(
                        path,
                        here,
                        "expected `lowerbound` and `upperbound`",
                    ));
                };
                if issue_type(node) == "integer" {
                    if lo.fract() != 0.0 || hi.fract() != 0.0 {
                        return Err(invalid(
                            path,
                            here,
                            "an integer issue needs whole-number bounds",
                        ));
                    }
                    IssueKind::Integer {
                        min: lo as i64,
                        max: hi as i64,
                    }
                } else {
                    notes.push(format!(
                        "{path}: real issue {name:?} is analysed on {DEFAULT_REAL_STEPS} evenly spaced points"
                    ));
                    IssueKind::Real {
                        min: lo,
                        max: hi,
                        steps: DEFAULT_REAL_STEPS,
                    }
                }
            }
            other => {
                return Err(invalid(
                    path,
                    here,
                    format!(
                    "issue type {other:?} is not supported (expected discrete, integer or real)"
                ),
                ))
            }
        };
        let issue = Issue::new(name, kind).map_err(|e| Error::Scenario {
            path: path.to_string(),
            error: e,
        })?;
        issues.push(DomainIssue { index, issue });
    }
    if issues.is_empty() {
        return Err(invalid(
            path,
            "<negotiation_template>",
            "expected at least one <issue>",
        ));
    }
    Ok(issues)
}

/// Finds the domain issue a profile's `<issue>` refers to: by `index`, else by name.
fn match_issue(domain: &[DomainIssue], index: Option<i64>, name: Option<&str>) -> Option<usize> {
    if let Some(index) = index {
        if let Some(pos) = domain.iter().position(|d| d.index == Some(index)) {
            return Some(pos);
        }
    }
    name.and_then(|n| label::position(domain.iter().map(|d| d.issue.name()), n))
}

fn read_profile(
    text: &str,
    path: &str,
    party: &str,
    domain: &[DomainIssue],
    space: &OutcomeSpace,
    notes: &mut Vec<String>,
) -> Result<Party> {
    let doc = parse_xml(text, path)?;
    let root = doc.root_element();
    let reservation = elements(root, "reservation")
        .next()
        .map(|n| number(path, &doc, n, &["value"]))
        .transpose()?
        .flatten()
        .unwrap_or(0.0);
    let discount = elements(root, "discount_factor")
        .next()
        .map(|n| number(path, &doc, n, &["value"]))
        .transpose()?
        .flatten()
        .unwrap_or(1.0);
    // Genius reads a factor of 0 (or anything outside (0, 1]) as "no discounting".
    let discount = if discount > 0.0 && discount <= 1.0 {
        discount
    } else {
        1.0
    };

    let nonlinear = root.descendants().any(|n| n.has_tag_name("hyperRectangle"))
        || root.attribute("type") == Some("nonlinear");
    let utility = if nonlinear {
        read_rectangles(&doc, path, domain, space, notes)?
    } else {
        read_linear(&doc, path, party, domain, space, notes)?
    };
    Ok(Party {
        name: party.to_string(),
        utility,
        reservation,
        discount,
        alternative: None,
        red_lines: Vec::new(),
    })
}

fn read_linear(
    doc: &Document,
    path: &str,
    party: &str,
    domain: &[DomainIssue],
    space: &OutcomeSpace,
    notes: &mut Vec<String>,
) -> Result<UtilityFunction> {
    let root = doc.root_element();
    // Weights by the index of what they weigh (issues and objectives share numbering).
    let mut weights: BTreeMap<i64, f64> = BTreeMap::new();
    for node in root.descendants().filter(|n| n.has_tag_name("weight")) {
        if let (Some(index), Some(value)) = (
            integer(path, doc, node, &["index"])?,
            number(path, doc, node, &["value"])?,
        ) {
            weights.insert(index, value);
        }
    }
    let mut terms = Vec::new();
    let mut used_weights = Vec::new();
    for node in root.descendants().filter(|n| n.has_tag_name("issue")) {
        let index = integer(path, doc, node, &["index"])?;
        let name = node.attribute("name");
        let here = place(doc, node, &format!("issue {:?}", name.unwrap_or("?")));
        let Some(issue_idx) = match_issue(domain, index, name) else {
            return Err(invalid(
                path,
                here,
                "this issue is not in the domain (matched by `index`, then by name)",
            ));
        };
        let issue = &space.issues()[issue_idx];
        if let Some(name) = name {
            if !label::same_label(name, issue.name()) {
                notes.push(format!(
                    "{party}: issue {} is named {name:?} here but {:?} in the domain (matched by index, as Genius does)",
                    index.unwrap_or(0),
                    issue.name()
                ));
            }
        }
        let Some(weight) = index.and_then(|i| weights.get(&i).copied()) else {
            notes.push(format!(
                "{party}: issue {:?} has no weight; it counts 0",
                issue.name()
            ));
            continue;
        };
        if let Some(i) = index {
            used_weights.push(i);
        }
        let value_function = match issue.kind() {
            IssueKind::Discrete { values } => {
                let mut evals = vec![None; values.len()];
                for item in elements(node, "item") {
                    let Some(value) = item.attribute("value") else {
                        continue;
                    };
                    let eval = number(path, doc, item, &["evaluation"])?.unwrap_or(0.0);
                    match issue.value_index(value) {
                        Some(v) => {
                            if evals[v as usize].replace(eval).is_some() {
                                notes.push(format!(
                                    "{party}: issue {:?} value {value:?} is listed twice; the last is used, as Genius does",
                                    issue.name()
                                ));
                            }
                        }
                        None => notes.push(format!(
                            "{party}: issue {:?}: value {value:?} is not in the domain; ignored",
                            issue.name()
                        )),
                    }
                }
                let missing = evals.iter().filter(|e| e.is_none()).count();
                if missing > 0 {
                    notes.push(format!(
                        "{party}: issue {:?}: {missing} value(s) have no evaluation; they count 0",
                        issue.name()
                    ));
                }
                ValueFunction::Table(evals.into_iter().map(|e| e.unwrap_or(0.0)).collect())
            }
            IssueKind::Integer { .. } | IssueKind::Real { .. } => {
                let Some(evaluator) = elements(node, "evaluator").next() else {
                    return Err(invalid(
                        path,
                        here,
                        "expected an <evaluator ftype=\"linear\"> for a numeric issue",
                    ));
                };
                let ftype = evaluator.attribute("ftype").unwrap_or("linear");
                if ftype != "linear" {
                    return Err(invalid(
                        path,
                        here,
                        format!("evaluator ftype {ftype:?} is not supported (expected linear)"),
                    ));
                }
                let slope = number(path, doc, evaluator, &["slope"])?;
                let offset = number(path, doc, evaluator, &["offset"])?;
                match (slope, offset) {
                    (Some(slope), Some(offset)) => ValueFunction::Linear { slope, offset },
                    _ => {
                        let p0 = number(path, doc, evaluator, &["parameter0"])?;
                        let p1 = number(path, doc, evaluator, &["parameter1"])?;
                        match (p1, p0) {
                            (Some(slope), Some(offset)) => {
                                notes.push(format!(
                                    "{party}: issue {:?} uses legacy parameter1/parameter0 as slope/offset",
                                    issue.name()
                                ));
                                ValueFunction::Linear { slope, offset }
                            }
                            _ => {
                                return Err(invalid(
                                    path,
                                    here,
                                    "expected `slope` and `offset` (or legacy `parameter1` and `parameter0`)",
                                ))
                            }
                        }
                    }
                }
            }
        };
        if terms.iter().any(|t: &IssueTerm| t.issue == issue_idx) {
            return Err(invalid(path, here, "this issue is evaluated twice"));
        }
        terms.push(IssueTerm {
            issue: issue_idx,
            weight,
            value_function,
        });
    }
    let ignored: Vec<String> = weights
        .keys()
        .filter(|i| !used_weights.contains(i))
        .map(|i| i.to_string())
        .collect();
    if !ignored.is_empty() {
        notes.push(format!(
            "{party}: weights of non-issue objectives [{}] ignored",
            ignored.join(", ")
        ));
    }
    let sum: f64 = terms.iter().map(|t| t.weight).sum();
    if (sum - 1.0).abs() > parley_core::WEIGHT_SUM_TOLERANCE && sum > 0.0 {
        notes.push(format!(
            "{party}: weights summed to {sum}; divided by the sum"
        ));
    }
    Ok(UtilityFunction::Linear(LinearAdditive { terms }))
}

fn read_rectangles(
    doc: &Document,
    path: &str,
    domain: &[DomainIssue],
    space: &OutcomeSpace,
    notes: &mut Vec<String>,
) -> Result<UtilityFunction> {
    let root = doc.root_element();
    let utility_node = root.descendants().find(|n| n.has_tag_name("utility"));
    let max = match utility_node {
        Some(node) => number(path, doc, node, &["maxutility"])?,
        None => None,
    };
    let mut rectangles = Vec::new();
    let mut raw_sum = 0.0;
    for ufun in root.descendants().filter(|n| n.has_tag_name("ufun")) {
        let weight = number(path, doc, ufun, &["weight"])?.unwrap_or(1.0);
        if let Some(aggregation) = ufun.attribute("aggregation") {
            if aggregation != "sum" {
                return Err(invalid(
                    path,
                    place(doc, ufun, "<ufun>"),
                    format!("aggregation {aggregation:?} is not supported (expected sum)"),
                ));
            }
        }
        for rect in elements(ufun, "hyperRectangle") {
            let here = place(doc, rect, "<hyperRectangle>");
            let utility = number(path, doc, rect, &["utility"])?
                .ok_or_else(|| invalid(path, &here, "expected a `utility` attribute"))?;
            let bounds = |tag: &str| -> Result<Vec<Bound>> {
                elements(rect, tag)
                    .map(|b| {
                        let here = place(doc, b, &format!("<{tag}>"));
                        let index = integer(path, doc, b, &["index"])?;
                        let issue_idx = match_issue(domain, index, None).ok_or_else(|| {
                            invalid(path, &here, "`index` names no issue of the domain")
                        })?;
                        let issue = &space.issues()[issue_idx];
                        let lo = number(path, doc, b, &["min"])?;
                        let hi = number(path, doc, b, &["max"])?;
                        let (Some(lo), Some(hi)) = (lo, hi) else {
                            return Err(invalid(path, here, "expected `min` and `max`"));
                        };
                        let n = issue.cardinality();
                        let first = issue.numeric_value(0).unwrap_or(0.0);
                        let to_index =
                            |x: f64| ((x - first).round().max(0.0) as u64).min(n as u64 - 1) as u32;
                        if issue.numeric_value(0).is_none() {
                            return Err(invalid(
                                path,
                                here,
                                "rectangle bounds need an integer or real issue",
                            ));
                        }
                        Ok(Bound {
                            issue: issue_idx,
                            lo: to_index(lo),
                            hi: to_index(hi),
                        })
                    })
                    .collect()
            };
            raw_sum += utility * weight;
            rectangles.push(Rectangle {
                utility: utility * weight,
                include: bounds("INCLUDES")?,
                exclude: bounds("EXCLUDES")?,
            });
        }
    }
    if rectangles.is_empty() {
        return Err(invalid(
            path,
            "<utility_space type=\"nonlinear\">",
            "expected <hyperRectangle> constraints",
        ));
    }
    let max = match max {
        Some(m) if m > 0.0 => m,
        _ => {
            notes.push(format!(
                "{path}: no <utility maxutility=..>; normalised by the sum of utilities"
            ));
            raw_sum.max(1.0)
        }
    };
    Ok(UtilityFunction::HyperRectangles(HyperRectangles {
        max,
        rectangles,
    }))
}

pub(super) fn io(path: &Path) -> impl FnOnce(std::io::Error) -> Error + '_ {
    move |error| Error::Io {
        path: path.display().to_string(),
        error,
    }
}

/// Reads a Genius scenario folder; parties are the profiles, ordered by file name.
pub fn read_folder(dir: &Path) -> Result<GeniusScenario> {
    let mut files: Vec<(String, String)> = Vec::new(); // (file name, text)
    let entries = std::fs::read_dir(dir).map_err(io(dir))?;
    for entry in entries {
        let entry = entry.map_err(io(dir))?;
        let path = entry.path();
        let is_xml = path
            .extension()
            .and_then(|e| e.to_str())
            .is_some_and(|e| e.eq_ignore_ascii_case("xml"));
        if !is_xml || !path.is_file() {
            continue;
        }
        let bytes = std::fs::read(&path).map_err(io(&path))?;
        let text = String::from_utf8_lossy(&bytes).into_owned();
        let name = entry.file_name().to_string_lossy().into_owned();
        files.push((name, text));
    }
    read_files(dir, files)
}

/// Reads a Genius scenario from its XML files' names and texts (as [`read_folder`]
/// does from a folder's `.xml` files; `dir` names the folder in messages and gives
/// the scenario its name): the one domain file, and the profiles, ordered by name.
pub fn read_files(dir: &Path, mut files: Vec<(String, String)>) -> Result<GeniusScenario> {
    files.sort_by(|a, b| a.0.cmp(&b.0));

    let mut notes = Vec::new();
    let mut domain_file: Option<&(String, String)> = None;
    let mut profiles: Vec<&(String, String)> = Vec::new();
    for file in &files {
        let display = dir.join(&file.0).display().to_string();
        match Document::parse(&file.1) {
            Ok(doc) => match doc.root_element().tag_name().name() {
                "negotiation_template" => {
                    if let Some(first) = domain_file {
                        return Err(Error::Unsupported {
                            path: dir.display().to_string(),
                            what: format!("two domain files: {} and {}", first.0, file.0),
                        });
                    }
                    domain_file = Some(file);
                }
                "utility_space" => profiles.push(file),
                other => notes.push(format!("ignored {} (root <{other}>)", file.0)),
            },
            Err(e) => {
                let looks_genius =
                    file.1.contains("<utility_space") || file.1.contains("<negotiation_template");
                if looks_genius {
                    return Err(Error::Syntax {
                        path: display,
                        message: format!("not well-formed XML: {e}"),
                    });
                }
                notes.push(format!("ignored {} (not XML)", file.0));
            }
        }
    }
    let Some((domain_name, domain_text)) = domain_file else {
        return Err(Error::Unsupported {
            path: dir.display().to_string(),
            what: "no Genius domain file (an .xml file with root <negotiation_template>) in this folder".into(),
        });
    };
    if profiles.is_empty() {
        return Err(Error::Unsupported {
            path: dir.display().to_string(),
            what: "no Genius profile (an .xml file with root <utility_space>) in this folder"
                .into(),
        });
    }
    let domain_path = dir.join(domain_name).display().to_string();
    let domain = read_domain(domain_text, &domain_path, &mut notes)?;
    let space =
        OutcomeSpace::new(domain.iter().map(|d| d.issue.clone()).collect()).map_err(|e| {
            Error::Scenario {
                path: domain_path.clone(),
                error: e,
            }
        })?;
    let mut parties = Vec::with_capacity(profiles.len());
    for (file_name, text) in profiles {
        let path = dir.join(file_name).display().to_string();
        let stem = Path::new(file_name)
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_else(|| file_name.clone());
        label::normalize("party name (the profile's file name)", &stem)
            .map_err(|e| invalid(&path, "file name", e.to_string()))?;
        parties.push(read_profile(
            text, &path, &stem, &domain, &space, &mut notes,
        )?);
    }
    let name = dir
        .file_name()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "scenario".into());
    let scenario = Scenario::new(name, None, space, parties).map_err(|e| Error::Scenario {
        path: dir.display().to_string(),
        error: e,
    })?;
    Ok(GeniusScenario { scenario, notes })
}
