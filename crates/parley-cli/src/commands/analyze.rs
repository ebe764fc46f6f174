//! `parley analyze PATH`: the analysis report of a scenario.

use std::fmt::Write as _;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::Context;
use parley_core::analysis::{analyze, Analysis, AnalysisConfig, Method, SpecialPoint};
use parley_core::{IssueKind, Scenario, UtilityFunction};
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
        let _ = writeln!(out, "  … every {step}th point shown; --json lists all");
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
    out
}
