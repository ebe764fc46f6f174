//! `parley analyze PATH`: the analysis report of a scenario.

use std::fmt::Write as _;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::Context;
use parley_core::analysis::{analyze, Analysis, AnalysisConfig, Method, SpecialPoint};
use parley_core::{IssueKind, OutcomeCount, Scenario, UtilityFunction};
use parley_formats::report::AnalysisReport;

use super::outcome_text;

/// Arguments of `parley analyze`.
#[derive(clap::Args)]
pub struct Args {
    /// A native scenario file (.toml, .json) or a Genius scenario folder.
    pub path: PathBuf,
    /// Print the analysis as JSON.
    #[arg(long)]
    pub json: bool,
    /// Draw the outcome space to this SVG file.
    #[arg(long, value_name = "FILE.svg")]
    pub plot: Option<PathBuf>,
    /// How to find the frontier.
    #[arg(long, value_enum, default_value_t = MethodArg::Auto)]
    pub method: MethodArg,
    /// Time budget of the frontier search (spaces too large to enumerate), in seconds.
    #[arg(long, default_value_t = 10.0, value_name = "SECONDS")]
    pub budget: f64,
    /// Work budget of the search in utility evaluations instead of --budget: the same
    /// frontier on every machine and run.
    #[arg(long, value_name = "EVALUATIONS")]
    pub work: Option<u64>,
    /// Seed of the frontier search.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// How many frontier points the report lists.
    #[arg(long, default_value_t = 12, value_name = "N")]
    pub show: usize,
    /// Do not print notes about repairs made while reading the file.
    #[arg(long, short)]
    pub quiet: bool,
}

/// How to find the frontier.
#[derive(Clone, Copy, clap::ValueEnum)]
pub enum MethodArg {
    /// Additive DP if every utility is linear, else enumeration if small, else search.
    Auto,
    /// Dynamic programming over issues (linear utilities); exact.
    Additive,
    /// Enumerate every outcome; exact.
    Enumerate,
    /// Anytime local search within --budget.
    Search,
}

impl From<MethodArg> for Method {
    fn from(m: MethodArg) -> Method {
        match m {
            MethodArg::Auto => Method::Auto,
            MethodArg::Additive => Method::Additive,
            MethodArg::Enumerate => Method::Enumerate,
            MethodArg::Search => Method::Search,
        }
    }
}

/// Runs `parley analyze`.
pub fn run(args: &Args) -> anyhow::Result<()> {
    if !(args.budget.is_finite() && args.budget > 0.0 && args.budget < 1e7) {
        anyhow::bail!(
            "--budget must be a positive number of seconds, not {}",
            args.budget
        );
    }
    let loaded = super::load_scenario(&args.path, args.quiet)?;
    let scenario = &loaded.scenario;
    let config = AnalysisConfig {
        method: args.method.into(),
        time_budget: Duration::from_secs_f64(args.budget),
        work_budget: args.work,
        seed: args.seed,
        ..AnalysisConfig::default()
    };
    let started = Instant::now();
    let analysis =
        analyze(scenario, &config).with_context(|| format!("analysing {}", args.path.display()))?;
    let elapsed = started.elapsed();
    if let Some(plot) = &args.plot {
        crate::plot::draw(scenario, &analysis, plot)
            .with_context(|| format!("drawing {}", plot.display()))?;
    }
    if args.json {
        println!("{}", AnalysisReport::new(scenario, &analysis).to_json());
    } else {
        print!("{}", report(scenario, &analysis, elapsed, args.show));
        if let Some(plot) = &args.plot {
            println!("plot       {}", plot.display());
        }
    }
    Ok(())
}

fn describe_issue(kind: &IssueKind, cardinality: u32) -> String {
    match kind {
        IssueKind::Discrete { values } => {
            let shown: Vec<&str> = values.iter().take(6).map(String::as_str).collect();
            let more = if values.len() > 6 { ", …" } else { "" };
            format!("{cardinality} values: {}{more}", shown.join(", "))
        }
        IssueKind::Integer { min, max } => format!("integer {min}..={max}"),
        IssueKind::Real { min, max, steps } => format!("real [{min}, {max}] on {steps} points"),
    }
}

/// Greedy word wrap.
fn wrap(text: &str, width: usize) -> Vec<String> {
    let mut lines = Vec::new();
    let mut line = String::new();
    for word in text.split_whitespace() {
        if !line.is_empty() && line.chars().count() + 1 + word.chars().count() > width {
            lines.push(std::mem::take(&mut line));
        }
        if !line.is_empty() {
            line.push(' ');
        }
        line.push_str(word);
    }
    if !line.is_empty() {
        lines.push(line);
    }
    lines
}

fn utilities(us: &[f64]) -> String {
    us.iter()
        .map(|u| format!("{u:.4}"))
        .collect::<Vec<_>>()
        .join("  ")
}

/// The readable report.
pub fn report(scenario: &Scenario, analysis: &Analysis, elapsed: Duration, show: usize) -> String {
    let mut out = String::new();
    let space = scenario.space();
    let w = space
        .issues()
        .iter()
        .map(|i| i.name().chars().count())
        .max()
        .unwrap_or(0)
        .max(
            scenario
                .parties()
                .iter()
                .map(|p| p.name.chars().count())
                .max()
                .unwrap_or(0),
        );
    let _ = writeln!(out, "scenario   {}", scenario.name());
    if let Some(description) = scenario.description() {
        for line in wrap(description, 88) {
            let _ = writeln!(out, "           {line}");
        }
    }
    let count = analysis.outcome_count.as_f64();
    if count >= 1e9 {
        let _ = writeln!(out, "outcomes   {} ({count:.1e})", analysis.outcome_count);
    } else {
        let _ = writeln!(out, "outcomes   {}", analysis.outcome_count);
    }
    let _ = writeln!(out, "issues     {}", space.n_issues());
    for issue in space.issues() {
        let _ = writeln!(
            out,
            "  {:w$}  {}",
            issue.name(),
            describe_issue(issue.kind(), issue.cardinality())
        );
    }
    let _ = writeln!(out, "parties    {}", scenario.n_parties());
    for party in scenario.parties() {
        let kind = match &party.utility {
            UtilityFunction::Linear(l) => format!("linear-additive over {} issues", l.terms.len()),
            UtilityFunction::HyperRectangles(r) => {
                format!("{} hyper-rectangles", r.rectangles.len())
            }
        };
        let _ = writeln!(
            out,
            "  {:w$}  reservation {:.4}  discount {:.4}  {kind}",
            party.name, party.reservation, party.discount
        );
        if let Some(a) = &party.alternative {
            let labels: Vec<&str> = a.consequences().iter().map(|c| c.label.as_str()).collect();
            let _ = writeln!(
                out,
                "  {:w$}  alternative: a lottery over time ({}), worth {:.4} at t = 0 and {:.4} \
                 at t = 1",
                "",
                labels.join(", "),
                a.value(0.0),
                a.value(1.0)
            );
        }
        for line in &party.red_lines {
            let issue = &space.issues()[line.issue];
            let mut refused: Vec<String> =
                line.never.iter().map(|&v| issue.value_label(v)).collect();
            if let Some(b) = line.below {
                refused.push(format!("below {b}"));
            }
            if let Some(b) = line.above {
                refused.push(format!("above {b}"));
            }
            let _ = writeln!(
                out,
                "  {:w$}  red line on {}: never {}",
                "",
                issue.name(),
                refused.join(", ")
            );
        }
    }
    let how = if analysis.pareto_exact {
        "exact"
    } else {
        "found by search, not proven exact"
    };
    let _ = writeln!(
        out,
        "frontier   {} points ({how}; method {}; {:.1} ms)",
        analysis.pareto.len(),
        analysis.method.name(),
        elapsed.as_secs_f64() * 1e3
    );
    if let Some(stats) = &analysis.search {
        let _ = writeln!(
            out,
            "           search: {} moves evaluated in {} climbs on {} threads, {:.1} s",
            stats.evaluations,
            stats.climbs,
            stats.threads,
            stats.elapsed.as_secs_f64()
        );
    }
    let names: Vec<&str> = scenario.parties().iter().map(|p| p.name.as_str()).collect();
    let _ = writeln!(out, "  utilities ({})", names.join(", "));
    let step = if analysis.pareto.len() > show && show > 0 {
        analysis.pareto.len().div_ceil(show)
    } else {
        1
    };
    for point in analysis.pareto.iter().step_by(step).take(show.max(1)) {
        let _ = writeln!(
            out,
            "  {}  {}",
            utilities(&point.utilities),
            outcome_text(scenario, &point.outcome)
        );
    }
    if step > 1 {
        let _ = writeln!(out, "  … one point in {step} shown; --json lists all");
    }
    let special = |label: &str, what: &str, p: &Option<SpecialPoint>, out: &mut String| match p {
        Some(p) => {
            let _ = writeln!(
                out,
                "{label:<10} {}  ({what} {:.6})",
                utilities(&p.utilities),
                p.value
            );
            let _ = writeln!(out, "           {}", outcome_text(scenario, &p.outcome));
        }
        None => {
            let _ = writeln!(
                out,
                "{label:<10} none: no outcome is acceptable to every party"
            );
        }
    };
    special("nash", "product of gains", &analysis.nash, &mut out);
    special(
        "kalai",
        "least relative gain",
        &analysis.kalai_smorodinsky,
        &mut out,
    );
    special(
        "welfare",
        "sum of utilities",
        &analysis.max_welfare,
        &mut out,
    );
    let _ = writeln!(out, "opposition {:.6}", analysis.opposition);
    zone_section(scenario, analysis, &mut out);
    out
}

/// Whether what walking away is worth changes over time for some party. Between two
/// consecutive moments of the zone every curve is linear, so each party's value is a
/// quadratic there: it is constant on a piece exactly when it is the same at both ends
/// and in the middle.
pub fn walk_away_varies(scenario: &Scenario) -> bool {
    let moments = parley_core::analysis::zone::moments(scenario);
    let middles = moments.windows(2).map(|w| (w[0] + w[1]) / 2.0);
    let probes: Vec<f64> = moments.iter().copied().chain(middles).collect();
    scenario.parties().iter().any(|party| {
        let start = party.reservation_at(0.0);
        probes
            .iter()
            .any(|&t| (party.reservation_at(t) - start).abs() > 1e-12)
    })
}

/// How many outcomes cross some party's red line: the space minus the product, over
/// the issues, of the values no red line refuses (exact, without enumerating).
fn ruled_out_by_red_lines(scenario: &Scenario) -> OutcomeCount {
    let space = scenario.space();
    let allowed = scenario.red_lines_of_all().allowed_values(space.n_issues());
    let per_issue: Vec<u32> = space
        .issues()
        .iter()
        .zip(&allowed)
        .map(|(issue, values)| {
            values
                .as_ref()
                .map_or(issue.cardinality(), |v| v.len() as u32)
        })
        .collect();
    let exact_allowed = per_issue
        .iter()
        .try_fold(1u128, |acc, &n| acc.checked_mul(u128::from(n)));
    match (space.outcome_count(), exact_allowed) {
        (OutcomeCount::Exact(total), Some(allowed)) => OutcomeCount::Exact(total - allowed),
        (total, _) => {
            let allowed: f64 = per_issue.iter().map(|&n| f64::from(n)).product();
            OutcomeCount::Approximate(total.as_f64() - allowed)
        }
    }
}

/// "1 outcome" or "n outcomes".
fn outcomes(n: u64) -> String {
    if n == 1 {
        "1 outcome".into()
    } else {
        format!("{n} outcomes")
    }
}

/// The zone of agreement: one line when nothing about it changes over time, else a
/// table of its moments and when it closes.
fn zone_section(scenario: &Scenario, analysis: &Analysis, out: &mut String) {
    let zone = &analysis.zone;
    let has_red_lines = !scenario.red_lines_of_all().is_empty();
    if !has_red_lines && !walk_away_varies(scenario) {
        let start = zone.moments.first();
        let what = match start.and_then(|m| m.rational_count) {
            Some(0) => "no outcome is acceptable to every party".to_string(),
            Some(n) => format!("{} acceptable to every party", outcomes(n)),
            None if start.is_some_and(|m| m.nash.is_some()) => {
                "open (too many outcomes to count those acceptable to every party)".into()
            }
            None => "no outcome is acceptable to every party".into(),
        };
        let _ = writeln!(out, "zone       {what}; it does not change over time");
        return;
    }
    let _ = writeln!(out, "Zone of agreement over time");
    if has_red_lines {
        let ruled_out = ruled_out_by_red_lines(scenario);
        let share = 100.0 * ruled_out.as_f64() / analysis.outcome_count.as_f64();
        let _ = writeln!(
            out,
            "  red lines rule out {ruled_out} of the {} outcomes ({share:.1}%); no deal can cross them",
            analysis.outcome_count
        );
    }
    let names: Vec<&str> = scenario.parties().iter().map(|p| p.name.as_str()).collect();
    let party_widths: Vec<usize> = names.iter().map(|n| n.chars().count().max(6)).collect();
    let cells = |values: &[f64]| -> String {
        values
            .iter()
            .zip(&party_widths)
            .map(|(v, w)| format!("{v:<w$.4}"))
            .collect::<Vec<_>>()
            .join("  ")
            .trim_end()
            .to_string()
    };
    let party_header = names
        .iter()
        .zip(&party_widths)
        .map(|(n, w)| format!("{n:<w$}"))
        .collect::<Vec<_>>()
        .join("  ")
        .trim_end()
        .to_string();
    // Four blocks: t, walk-away values, outcomes acceptable to all, the Nash point;
    // two header lines, then one row per moment.
    let mut rows: Vec<[String; 4]> = vec![
        [
            String::new(),
            "walk-away value".into(),
            "acceptable".into(),
            "Nash point".into(),
        ],
        [
            "t".into(),
            party_header.clone(),
            "to all".into(),
            party_header,
        ],
    ];
    for moment in &zone.moments {
        rows.push([
            format!("{:.6}", moment.t),
            cells(&moment.reserved),
            moment
                .rational_count
                .map_or_else(|| "not counted".into(), |n| n.to_string()),
            moment.nash.as_ref().map_or_else(
                || "none: the zone is closed".into(),
                |nash| cells(&nash.utilities),
            ),
        ]);
    }
    let widths: Vec<usize> = (0..4)
        .map(|k| rows.iter().map(|r| r[k].chars().count()).max().unwrap_or(0))
        .collect();
    for row in &rows {
        let line = row
            .iter()
            .zip(&widths)
            .map(|(cell, w)| format!("{cell:<w$}"))
            .collect::<Vec<_>>()
            .join("   ");
        let _ = writeln!(out, "  {}", line.trim_end());
    }
    match zone.closes_at {
        Some(t) if t <= 0.0 => {
            let _ = writeln!(
                out,
                "  The zone is closed from the start: no outcome is acceptable to every party"
            );
        }
        Some(t) => {
            let _ = writeln!(out, "  The zone closes at t = {t:.6}");
        }
        None => {
            let _ = writeln!(out, "  The zone stays open to the deadline");
        }
    }
    if !analysis.pareto_exact {
        let _ = writeln!(
            out,
            "  (from a frontier found by search, not proven exact: the zone may close later)"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use parley_core::RedLine;

    /// Three issues of 3, 4 and 2 values (24 outcomes); constant reservation values.
    const SMALL: &str = r#"
name = "Small"

[[issues]]
name = "price"
values = ["low", "mid", "high"]

[[issues]]
name = "delivery"
values = ["fast", "standard", "slow", "never"]

[[issues]]
name = "warranty"
values = ["none", "full"]

[[parties]]
name = "buyer"
reservation = 0.3

[parties.utility]
[[parties.utility.issues]]
issue = "price"
weight = 0.5
values = { low = 2, mid = 1, high = 0 }
[[parties.utility.issues]]
issue = "delivery"
weight = 0.3
values = { fast = 3, standard = 2, slow = 1, never = 0 }
[[parties.utility.issues]]
issue = "warranty"
weight = 0.2
values = { none = 0, full = 1 }

[[parties]]
name = "seller"
reservation = 0.2

[parties.utility]
[[parties.utility.issues]]
issue = "price"
weight = 0.6
values = { low = 0, mid = 1, high = 2 }
[[parties.utility.issues]]
issue = "delivery"
weight = 0.2
values = { fast = 0, standard = 1, slow = 2, never = 3 }
[[parties.utility.issues]]
issue = "warranty"
weight = 0.2
values = { none = 1, full = 0 }
"#;

    /// The small scenario, with red lines added to each party (by index).
    fn small_with(red_lines: [Vec<RedLine>; 2]) -> Scenario {
        let base = parley_formats::native::parse_toml(SMALL, "small.toml").expect("valid");
        let mut parties = base.parties().to_vec();
        for (party, lines) in parties.iter_mut().zip(red_lines) {
            party.red_lines = lines;
        }
        Scenario::new(base.name(), None, base.space().clone(), parties).expect("valid")
    }

    fn never(issue: usize, values: &[u32]) -> RedLine {
        RedLine {
            issue,
            never: values.to_vec(),
            ..RedLine::default()
        }
    }

    fn report_of(scenario: &Scenario) -> String {
        let analysis = analyze(scenario, &AnalysisConfig::default()).expect("analysis");
        report(scenario, &analysis, Duration::ZERO, 4)
    }

    #[test]
    fn outcomes_ruled_out_by_red_lines_match_a_brute_force_count() {
        let cases = [
            [vec![], vec![]],
            [vec![never(1, &[3])], vec![]],
            [vec![never(1, &[3])], vec![never(1, &[0]), never(2, &[1])]],
            [vec![never(0, &[2]), never(1, &[3])], vec![never(0, &[0])]],
        ];
        for lines in cases {
            let scenario = small_with(lines);
            let cards = scenario.space().cardinalities();
            let mut outcome = vec![0u32; cards.len()];
            let brute = (0..24u64)
                .filter(|&k| {
                    parley_core::analysis::decode(k, &cards, &mut outcome);
                    scenario.red_lines_of_all().crosses(&outcome)
                })
                .count() as u128;
            assert_eq!(
                ruled_out_by_red_lines(&scenario),
                OutcomeCount::Exact(brute)
            );
        }
    }

    #[test]
    fn red_lines_bring_the_zone_section_and_say_what_they_rule_out() {
        // The buyer never takes "never" (delivery #4), the seller never gives a full
        // warranty: 24 − 3·3·1 = 15 outcomes crossed.
        let scenario = small_with([vec![never(1, &[3])], vec![never(2, &[1])]]);
        let report = report_of(&scenario);
        let zone = &report[report
            .find("Zone of agreement over time")
            .expect("a zone section")..];
        assert!(
            zone.contains("red lines rule out 15 of the 24 outcomes (62.5%)"),
            "{zone}"
        );
        // Constant reservation values: the zone is the same at t = 0 and t = 1.
        let rows: Vec<&str> = zone
            .lines()
            .filter(|l| l.starts_with("  0.") || l.starts_with("  1."))
            .collect();
        assert_eq!(rows.len(), 2, "{zone}");
        assert_eq!(
            rows[0][2..].split_once(' ').map(|r| r.1),
            rows[1][2..].split_once(' ').map(|r| r.1)
        );
        assert!(
            zone.ends_with("  The zone stays open to the deadline\n"),
            "{zone}"
        );
    }

    #[test]
    fn no_red_line_and_constant_reservations_take_one_line() {
        let scenario = small_with([vec![], vec![]]);
        assert!(!walk_away_varies(&scenario));
        let report = report_of(&scenario);
        assert!(!report.contains("Zone of agreement over time"), "{report}");
        let last = report.lines().last().expect("lines");
        assert!(
            last.starts_with("zone       ") && last.ends_with("; it does not change over time"),
            "{last}"
        );
    }
}
