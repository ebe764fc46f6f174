//! Outcomes, preferences and replies in words: what a prompt says, the JSON schema of
//! an offer, reading an offer back, and the filter on what a seat says.

use parley_core::{Forbidden, OutcomeSpace};
use parley_engine::PartyContext;
use serde_json::{json, Map, Value};

/// Issues with more values than this are asked for as free strings (checked by
/// parley) rather than as an enumeration in the schema.
const MAX_ENUM: u32 = 200;

/// An outcome as `issue=value, issue=value`.
pub fn outcome(space: &OutcomeSpace, outcome: &[u32]) -> String {
    space
        .issues()
        .iter()
        .zip(outcome)
        .map(|(issue, &v)| format!("{}={}", issue.name(), issue.value_label(v)))
        .collect::<Vec<_>>()
        .join(", ")
}

/// An outcome as its values only, in issue order (`90 / in 2 weeks / none`): the
/// history's short form (a prompt names the order once, see [`order`]).
pub fn values(space: &OutcomeSpace, outcome: &[u32]) -> String {
    space
        .issues()
        .iter()
        .zip(outcome)
        .map(|(issue, &v)| issue.value_label(v))
        .collect::<Vec<_>>()
        .join(" / ")
}

/// The line that names the order of [`values`].
pub fn order(space: &OutcomeSpace) -> String {
    let names: Vec<&str> = space.issues().iter().map(|i| i.name()).collect();
    format!("(Packages in the history list {}.)\n", names.join(" / "))
}

/// An outcome as a JSON object issue → value label.
pub fn outcome_json(space: &OutcomeSpace, outcome: &[u32]) -> Value {
    let mut map = Map::new();
    for (issue, &v) in space.issues().iter().zip(outcome) {
        map.insert(issue.name().to_string(), Value::from(issue.value_label(v)));
    }
    Value::Object(map)
}

/// The JSON schema of an outcome: every issue, each with its values but those a red
/// line in `forbidden` refuses (so an endpoint that enforces the schema cannot even
/// write one; parley checks again either way).
pub fn outcome_schema(space: &OutcomeSpace, forbidden: &Forbidden) -> Value {
    let mut properties = Map::new();
    let mut required = Vec::new();
    for (i, issue) in space.issues().iter().enumerate() {
        let schema = if issue.cardinality() <= MAX_ENUM {
            let labels: Vec<String> = (0..issue.cardinality())
                .filter(|&v| forbidden.allows(i, v))
                .map(|v| issue.value_label(v))
                .collect();
            json!({"type": "string", "enum": labels})
        } else {
            json!({"type": "string"})
        };
        properties.insert(issue.name().to_string(), schema);
        required.push(Value::from(issue.name()));
    }
    json!({
        "type": "object",
        "properties": properties,
        "required": required,
        "additionalProperties": false,
    })
}

/// Reads an outcome (issue → value label) from a reply; every issue must be there
/// with one of its values.
pub fn read_outcome(space: &OutcomeSpace, value: Option<&Value>) -> Result<Vec<u32>, String> {
    let map = value
        .and_then(Value::as_object)
        .ok_or("\"offer\" is missing or not an object of issue → value")?;
    let mut out = Vec::with_capacity(space.n_issues());
    for issue in space.issues() {
        let got = map
            .iter()
            .find(|(k, _)| k.trim().eq_ignore_ascii_case(issue.name()))
            .map(|(_, v)| v)
            .ok_or_else(|| format!("the offer has no value for issue {:?}", issue.name()))?;
        let label = match got {
            Value::String(s) => s.trim().to_string(),
            Value::Number(n) => n.to_string(),
            Value::Bool(b) => b.to_string(),
            _ => return Err(format!("the value for {:?} is not a string", issue.name())),
        };
        let index = issue.value_index(&label).ok_or_else(|| {
            let some: Vec<String> = (0..issue.cardinality().min(12))
                .map(|v| issue.value_label(v))
                .collect();
            format!(
                "{label:?} is not a value of issue {:?} (its values: {}{})",
                issue.name(),
                some.join(", "),
                if issue.cardinality() > 12 {
                    ", …"
                } else {
                    ""
                }
            )
        })?;
        out.push(index);
    }
    if let Some(extra) = map.keys().find(|k| space.issue_index(k.trim()).is_none()) {
        return Err(format!("the offer names {extra:?}, which is not an issue"));
    }
    Ok(out)
}

/// How good `u` is for a party whose walk-away value is `floor` and best outcome
/// `best`, in words (no numbers: a prompt says nothing a message could leak).
pub fn rating(u: f64, floor: f64, best: f64) -> &'static str {
    if u < floor - 1e-12 {
        return "worse than walking away";
    }
    let span = (best - floor).max(1e-12);
    let x = (u - floor) / span;
    if x >= 0.8 {
        "excellent"
    } else if x >= 0.55 {
        "good"
    } else if x >= 0.3 {
        "fair"
    } else {
        "barely better than walking away"
    }
}

/// A party's preferences in words: issues most important first, each with its values
/// best first (additive utilities), or a note that they interact; its red lines.
pub fn preferences(ctx: &PartyContext<'_>) -> String {
    let space = ctx.space();
    let utility = ctx.utility();
    let mut lines = Vec::new();
    if utility.is_additive() {
        let mut issues: Vec<(usize, f64, Vec<u32>)> = space
            .issues()
            .iter()
            .enumerate()
            .map(|(i, issue)| {
                let mut values: Vec<(u32, f64)> = (0..issue.cardinality())
                    .filter(|&v| ctx.red_lines().allows(i, v))
                    .map(|v| (v, utility.contribution(i, v).map_or(0.0, |c| c.value)))
                    .collect();
                values.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
                let range =
                    values.first().map_or(0.0, |f| f.1) - values.last().map_or(0.0, |l| l.1);
                (i, range, values.into_iter().map(|(v, _)| v).collect())
            })
            .collect();
        issues.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
        let top = issues.first().map_or(0.0, |f| f.1).max(1e-12);
        for (rank, (i, range, values)) in issues.iter().enumerate() {
            let issue = &space.issues()[*i];
            let weight = if *range < 1e-9 {
                "does not matter to you"
            } else if range / top >= 0.66 {
                "matters a lot"
            } else if range / top >= 0.33 {
                "matters somewhat"
            } else {
                "matters little"
            };
            let shown: Vec<String> = if values.len() <= 8 {
                values.iter().map(|&v| issue.value_label(v)).collect()
            } else {
                let n = values.len();
                vec![
                    issue.value_label(values[0]),
                    issue.value_label(values[1]),
                    "…".into(),
                    issue.value_label(values[n - 1]),
                ]
            };
            lines.push(format!(
                "{}. {} ({weight}): best {}",
                rank + 1,
                issue.name(),
                shown.join(" > ")
            ));
        }
    } else {
        lines.push(
            "Your preferences are not issue by issue: values matter in combination. \
             Judge packages by the ratings given below."
                .into(),
        );
        let names: Vec<&str> = space.issues().iter().map(|i| i.name()).collect();
        lines.push(format!("Issues: {}.", names.join(", ")));
    }
    for line in refused(space, ctx.red_lines()) {
        lines.push(format!("Red line: never agree to {line}."));
    }
    lines.join("\n")
}

/// What `forbidden` refuses, issue by issue: `ISSUE = VALUE or VALUE`.
pub fn refused(space: &OutcomeSpace, forbidden: &Forbidden) -> Vec<String> {
    space
        .issues()
        .iter()
        .enumerate()
        .filter_map(|(i, issue)| {
            let values: Vec<String> = (0..issue.cardinality())
                .filter(|&v| !forbidden.allows(i, v))
                .map(|v| issue.value_label(v))
                .take(12)
                .collect();
            (!values.is_empty()).then(|| format!("{} = {}", issue.name(), values.join(" or ")))
        })
        .collect()
}

/// What walking away is worth, in words: how many of the party's possible deals beat it.
pub fn walk_away(share: f64) -> &'static str {
    if share <= 0.0 {
        "no deal left is better than walking away: walk away"
    } else if share < 0.15 {
        "only a few possible deals are better than walking away"
    } else if share < 0.4 {
        "some possible deals are better than walking away, most are not"
    } else if share < 0.7 {
        "about half the possible deals are better than walking away"
    } else {
        "most possible deals are better than walking away"
    }
}

/// Words that name private facts of a profile; a sentence of a seat's message that
/// holds one is left out.
const PRIVATE_WORDS: &[&str] = &[
    "utility",
    "utilities",
    "weight",
    "reservation",
    "bottom line",
    "bottom-line",
    "walk-away value",
    "walk away value",
    "batna",
    "red line",
    "red-line",
    "my minimum",
    "lowest i",
    "at least worth",
    "score",
    "points",
    "instructions",
    "system prompt",
    "rating",
];

/// What a seat may say: sentences naming private facts left out, numbers that are not
/// part of the space's value labels masked, control characters dropped, at most
/// `max_chars` characters. Returns the text and what was changed (empty when
/// nothing). Limits (docs/llm.md): it cannot catch a preference said in plain words
/// ("salary matters most to me"), which is ordinary negotiating talk.
pub fn filter_message(text: &str, space: &OutcomeSpace, max_chars: usize) -> (String, String) {
    let mut notes = Vec::new();
    let clean: String = text
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    let mut kept = Vec::new();
    let mut dropped = 0;
    for sentence in sentences(&clean) {
        let lower = sentence.to_lowercase();
        if PRIVATE_WORDS.iter().any(|w| lower.contains(w)) {
            dropped += 1;
        } else {
            kept.push(sentence);
        }
    }
    if dropped > 0 {
        notes.push(format!(
            "{dropped} sentence(s) naming private facts left out"
        ));
    }
    let joined = kept.join(" ");
    let (masked, n) = mask_numbers(&joined, space);
    if n > 0 {
        notes.push(format!("{n} number(s) masked"));
    }
    let mut out: String = masked.split_whitespace().collect::<Vec<_>>().join(" ");
    if out.chars().count() > max_chars {
        out = out
            .chars()
            .take(max_chars.saturating_sub(1))
            .collect::<String>()
            + "…";
        notes.push(format!("cut to {max_chars} characters"));
    }
    (out, notes.join("; "))
}

fn sentences(text: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut start = 0;
    let bytes: Vec<(usize, char)> = text.char_indices().collect();
    for (k, &(i, c)) in bytes.iter().enumerate() {
        let next_space = bytes.get(k + 1).is_none_or(|&(_, n)| n.is_whitespace());
        if matches!(c, '.' | '!' | '?' | ';') && next_space {
            let s = text[start..i + c.len_utf8()].trim();
            if !s.is_empty() {
                out.push(s);
            }
            start = i + c.len_utf8();
        }
    }
    let rest = text[start..].trim();
    if !rest.is_empty() {
        out.push(rest);
    }
    out
}

/// Masks every number (digits, with `.`/`,` inside and an optional `%`) that is not
/// the whole or a part of some value label of the space.
fn mask_numbers(text: &str, space: &OutcomeSpace) -> (String, usize) {
    let mut out = String::with_capacity(text.len());
    let mut masked = 0;
    let chars: Vec<char> = text.chars().collect();
    let mut k = 0;
    while k < chars.len() {
        if chars[k].is_ascii_digit() {
            let start = k;
            while k < chars.len()
                && (chars[k].is_ascii_digit()
                    || ((chars[k] == '.' || chars[k] == ',')
                        && chars.get(k + 1).is_some_and(char::is_ascii_digit)))
            {
                k += 1;
            }
            let number: String = chars[start..k].iter().collect();
            let percent = chars.get(k) == Some(&'%');
            if percent {
                k += 1;
            }
            let shown = if percent {
                format!("{number}%")
            } else {
                number.clone()
            };
            if label_number(space, &shown) || (!percent && label_number(space, &number)) {
                out.push_str(&shown);
            } else {
                out.push('#');
                masked += 1;
            }
        } else {
            out.push(chars[k]);
            k += 1;
        }
    }
    (out, masked)
}

/// Whether `number` appears in a value label of the space (as its own token).
fn label_number(space: &OutcomeSpace, number: &str) -> bool {
    space.issues().iter().any(|issue| {
        (0..issue.cardinality().min(10_000)).any(|v| {
            let label = issue.value_label(v);
            label == number
                || label
                    .split(|c: char| !(c.is_ascii_digit() || c == '.' || c == ',' || c == '%'))
                    .any(|tok| tok == number)
        })
    })
}

/// Text from another role, made safe to quote in a prompt: one line, no quotes that
/// could close the quoting, at most 400 characters.
pub fn quote(text: &str) -> String {
    let one: String = text
        .chars()
        .map(|c| match c {
            '"' | '“' | '”' => '\'',
            c if c.is_control() => ' ',
            c => c,
        })
        .take(400)
        .collect();
    format!(
        "\"{}\"",
        one.split_whitespace().collect::<Vec<_>>().join(" ")
    )
}

/// Adds a line of history (`round N: …`), keeping what a prompt may show (`shown`
/// lines) and a little more.
pub fn remember(history: &mut Vec<String>, round: u32, line: &str, shown: usize) {
    history.push(format!("round {}: {line}", round + 1));
    let keep = shown.max(1) * 4;
    if history.len() > keep * 2 {
        history.drain(..history.len() - keep);
    }
}

/// The last `shown` lines of history under a heading, or nothing.
pub fn recent(history: &[String], shown: usize, order: &str) -> String {
    if history.is_empty() || shown == 0 {
        return String::new();
    }
    let mut text = String::from("What happened so far (latest last):\n");
    text.push_str(order);
    for line in &history[history.len().saturating_sub(shown)..] {
        text.push_str("- ");
        text.push_str(line);
        text.push('\n');
    }
    text
}
