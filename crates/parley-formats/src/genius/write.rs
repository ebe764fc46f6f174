//! Writing a scenario as a Genius XML folder: a domain file and one profile per
//! party (`docs/genius.md`, "Export").

use std::path::Path;

use parley_core::{Issue, IssueKind, Scenario, UtilityFunction, ValueFunction};

use super::io;
use crate::error::{invalid, Result};

fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c => out.push(c),
        }
    }
    out
}

fn file_stem(name: &str) -> String {
    let cleaned: String = name
        .chars()
        .map(|c| {
            if c.is_alphanumeric() || "-_. ".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect();
    if cleaned.trim().is_empty() {
        "scenario".into()
    } else {
        cleaned
    }
}

fn issue_xml(issue: &Issue, index: usize) -> String {
    let name = escape(issue.name());
    match issue.kind() {
        IssueKind::Discrete { values } => {
            let mut s = format!(
                "    <issue index=\"{index}\" name=\"{name}\" type=\"discrete\" etype=\"discrete\" vtype=\"discrete\">\n"
            );
            for (i, v) in values.iter().enumerate() {
                s += &format!("      <item index=\"{}\" value=\"{}\"/>\n", i + 1, escape(v));
            }
            s + "    </issue>\n"
        }
        IssueKind::Integer { min, max } => format!(
            "    <issue index=\"{index}\" name=\"{name}\" type=\"integer\" etype=\"integer\" vtype=\"integer\" lowerbound=\"{min}\" upperbound=\"{max}\"/>\n"
        ),
        IssueKind::Real { min, max, .. } => format!(
            "    <issue index=\"{index}\" name=\"{name}\" type=\"real\" etype=\"real\" vtype=\"real\" lowerbound=\"{min}\" upperbound=\"{max}\"/>\n"
        ),
    }
}

/// Writes a scenario as a Genius folder: `<name>-domain.xml` and one `<party>.xml` per
/// party. Genius orders parties by file name, so reading the folder back yields the
/// parties in name order. Real issues keep their interval but not their `steps`.
/// What Genius cannot express is written as near as it can be, with an XML comment in
/// the profile saying so: an alternative as its value at t = 0, and red lines not at
/// all.
pub fn write_folder(scenario: &Scenario, dir: &Path) -> Result<()> {
    std::fs::create_dir_all(dir).map_err(io(dir))?;
    let space = scenario.space();
    let issues_xml: Vec<String> = space
        .issues()
        .iter()
        .enumerate()
        .map(|(i, issue)| issue_xml(issue, i + 1))
        .collect();
    let domain = format!(
        "<negotiation_template>\n  <utility_space number_of_issues=\"{}\">\n  <objective index=\"0\" name=\"root\" type=\"objective\" etype=\"objective\">\n{}  </objective>\n  </utility_space>\n</negotiation_template>\n",
        space.n_issues(),
        issues_xml.concat()
    );
    let write = |name: String, text: String| {
        let path = dir.join(name);
        std::fs::write(&path, text).map_err(io(&path))
    };
    write(format!("{}-domain.xml", file_stem(scenario.name())), domain)?;
    for party in scenario.parties() {
        let mut body = String::new();
        let mut head = "<utility_space>\n".to_string();
        match &party.utility {
            UtilityFunction::Linear(linear) => {
                body += "  <objective index=\"0\" name=\"root\" type=\"objective\" etype=\"objective\">\n";
                for (i, issue) in space.issues().iter().enumerate() {
                    let term = linear.terms.iter().find(|t| t.issue == i);
                    let name = escape(issue.name());
                    let index = i + 1;
                    match (issue.kind(), term.map(|t| &t.value_function)) {
                        (IssueKind::Discrete { values }, table) => {
                            body += &format!(
                                "    <issue index=\"{index}\" name=\"{name}\" type=\"discrete\" etype=\"discrete\" vtype=\"discrete\">\n"
                            );
                            for (v, label) in values.iter().enumerate() {
                                let eval = match table {
                                    Some(ValueFunction::Table(evals)) => evals[v],
                                    _ => 0.0,
                                };
                                body += &format!(
                                    "      <item index=\"{}\" value=\"{}\" evaluation=\"{eval}\"/>\n",
                                    v + 1,
                                    escape(label)
                                );
                            }
                            body += "    </issue>\n";
                        }
                        (kind, value_function) => {
                            let (slope, offset) = match value_function {
                                Some(ValueFunction::Linear { slope, offset }) => (*slope, *offset),
                                _ => (0.0, 0.0),
                            };
                            let (vtype, min, max) = match kind {
                                IssueKind::Integer { min, max } => {
                                    ("integer", *min as f64, *max as f64)
                                }
                                // Discrete issues took the branch above.
                                IssueKind::Real { min, max, .. } => ("real", *min, *max),
                                IssueKind::Discrete { .. } => continue,
                            };
                            body += &format!(
                                "    <issue index=\"{index}\" name=\"{name}\" type=\"{vtype}\" etype=\"{vtype}\" vtype=\"{vtype}\" lowerbound=\"{min}\" upperbound=\"{max}\">\n      <evaluator ftype=\"linear\" slope=\"{slope}\" offset=\"{offset}\"/>\n    </issue>\n"
                            );
                        }
                    }
                    body += &format!(
                        "    <weight index=\"{index}\" value=\"{}\"/>\n",
                        term.map_or(0.0, |t| t.weight)
                    );
                }
                body += "  </objective>\n";
            }
            UtilityFunction::HyperRectangles(rects) => {
                head = "<utility_space type=\"nonlinear\">\n".to_string();
                body += "  <objective index=\"0\" name=\"root\" type=\"objective\" etype=\"objective\">\n";
                body += &issues_xml.concat();
                body += &format!(
                    "  <utility maxutility=\"{}\">\n  <ufun type=\"PlainUfun\" weight=\"1\" aggregation=\"sum\">\n",
                    rects.max
                );
                for rect in &rects.rectangles {
                    body += &format!("    <hyperRectangle utility=\"{}\">\n", rect.utility);
                    for (tag, bounds) in [("INCLUDES", &rect.include), ("EXCLUDES", &rect.exclude)]
                    {
                        for b in bounds {
                            let issue = &space.issues()[b.issue];
                            let (Some(lo), Some(hi)) =
                                (issue.numeric_value(b.lo), issue.numeric_value(b.hi))
                            else {
                                return Err(invalid(
                                    &dir.display().to_string(),
                                    format!("party {:?}", party.name),
                                    format!(
                                        "Genius hyper-rectangles bound integer issues only; {:?} is discrete",
                                        issue.name()
                                    ),
                                ));
                            };
                            body += &format!(
                                "      <{tag} index=\"{}\" min=\"{lo}\" max=\"{hi}\"/>\n",
                                b.issue + 1
                            );
                        }
                    }
                    body += "    </hyperRectangle>\n";
                }
                body += "  </ufun>\n  </utility>\n  </objective>\n";
            }
        }
        // What walking away is worth at the start, without the float noise of Σ p·u
        // (0.42, not 0.42000000000000004).
        let reservation = (party.reservation_at(0.0) * 1e12).round() / 1e12;
        if party.alternative.is_some() {
            // Genius takes one reservation value: the alternative's value at the start.
            body += &format!(
                "  <!-- parley: this party's alternative to a deal is a lottery that changes \
                 over time, which Genius cannot express; its value at t = 0 ({}) is written \
                 as the reservation value -->\n",
                reservation
            );
        }
        if !party.red_lines.is_empty() {
            // Genius has no red lines: say so rather than drop them silently.
            body += "  <!-- parley: this party has red lines (outcomes it refuses whatever \
                     their utility), which Genius cannot express; they are left out -->\n";
        }
        body += &format!(
            "  <discount_factor value=\"{}\"/>\n  <reservation value=\"{}\"/>\n</utility_space>\n",
            party.discount, reservation
        );
        write(format!("{}.xml", file_stem(&party.name)), head + &body)?;
    }
    Ok(())
}
