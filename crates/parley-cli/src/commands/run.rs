//! `parley run SCENARIO`: one negotiation session, its transcript and its analysis.

use std::fmt::Write as _;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use parley_core::analysis::{analyze, AnalysisConfig};
use parley_core::Scenario;
use parley_engine::negotiators::{mediator, negotiator, role_seed};
use parley_engine::visibility::{view, Viewer};
use parley_engine::{run_session, EventKind, Recipient, SessionConfig, SessionResult};

use super::protocol::{ProtocolArg, ProtocolOpts};

/// Arguments of `parley run`.
#[derive(clap::Args)]
pub struct Args {
    /// A native scenario file (.toml, .json) or a Genius scenario folder.
    pub scenario: PathBuf,
    #[arg(
        long,
        default_value = "boulware,boulware",
        value_delimiter = ',',
        help = super::protocol::negotiators_help("One negotiator per party, in party order, e.g. `boulware:e=0.2,conceder`")
    )]
    pub negotiators: Vec<String>,
    #[command(flatten)]
    pub talks: ProtocolOpts,
    /// Seed of the negotiators' randomness.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Write the full trace as JSON Lines to this file.
    #[arg(long, value_name = "FILE")]
    pub trace: Option<PathBuf>,
    /// With --trace: write only what this party (or `mediator`) may see.
    #[arg(long, value_name = "PARTY", requires = "trace")]
    pub view: Option<String>,
    /// Print the result as JSON.
    #[arg(long)]
    pub json: bool,
    /// Do not print notes about repairs made while reading the file.
    #[arg(long, short)]
    pub quiet: bool,
}

fn confide_flags(scenario: &Scenario, names: &[String]) -> anyhow::Result<Vec<bool>> {
    let n = scenario.n_parties();
    match names {
        [one] if one == "all" => Ok(vec![true; n]),
        [one] if one == "none" => Ok(vec![false; n]),
        names => {
            let mut flags = vec![false; n];
            for name in names {
                let idx = scenario
                    .party_index(name)
                    .with_context(|| format!("--confide: there is no party {name:?}"))?;
                flags[idx] = true;
            }
            Ok(flags)
        }
    }
}

/// Runs `parley run`.
pub fn run(args: &Args) -> anyhow::Result<()> {
    let loaded = super::load_scenario(&args.scenario, args.quiet)?;
    let scenario = &loaded.scenario;
    let n = scenario.n_parties();
    if args.negotiators.len() != n {
        let given = args.negotiators.len();
        anyhow::bail!(
            "--negotiators: the scenario has {n} parties ({}) but {given} {} given",
            scenario
                .parties()
                .iter()
                .map(|p| p.name.as_str())
                .collect::<Vec<_>>()
                .join(", "),
            if given == 1 {
                "negotiator was"
            } else {
                "negotiators were"
            }
        );
    }
    let talks = &args.talks;
    let protocol = talks.protocol(ProtocolArg::Staged);
    let config = SessionConfig {
        protocol,
        rounds: talks.rounds,
        time_limit: talks.time_limit()?,
        confide: confide_flags(scenario, &talks.confide)?,
        post_settlement: talks.post_settlement.on(),
        clock: None,
        bids: None,
        observer: None,
        seed: args.seed,
    };
    let negotiators = args
        .negotiators
        .iter()
        .enumerate()
        .map(|(i, spec)| negotiator(spec, role_seed(args.seed, i as u64)))
        .collect::<Result<Vec<_>, _>>()
        .context("--negotiators")?;
    let mediator = talks
        .mediator_spec(&protocol)
        .map(|spec| mediator(&spec, role_seed(args.seed, u64::MAX)))
        .transpose()
        .context("--mediator")?;
    let names: Vec<String> = args.negotiators.clone();
    let result = run_session(scenario, &config, negotiators, mediator)?;

    let parties: Vec<String> = scenario.parties().iter().map(|p| p.name.clone()).collect();
    if let Some(path) = &args.trace {
        let trace = match args.view.as_deref() {
            None => result.trace.clone(),
            Some("mediator") => view(&result.trace, Viewer::Mediator),
            Some(name) => {
                let idx = scenario
                    .party_index(name)
                    .with_context(|| format!("--view: there is no party {name:?}"))?;
                view(&result.trace, Viewer::Party(idx))
            }
        };
        std::fs::write(path, trace.to_jsonl(scenario.space(), &parties))
            .with_context(|| format!("writing the trace to {}", path.display()))?;
    }
    let analysis = analyze(
        scenario,
        &AnalysisConfig {
            time_budget: Duration::from_secs(2),
            ..AnalysisConfig::default()
        },
    )?;
    let raw: Option<Vec<f64>> = result
        .agreement
        .as_ref()
        .map(|a| scenario.utilities().iter().map(|u| u.value(a)).collect());
    let pareto_distance = raw.as_ref().map(|u| analysis.pareto_distance(u));
    let nash_distance = raw.as_ref().and_then(|u| analysis.nash_distance(u));

    if args.json {
        let out = result.summary_json(scenario, &analysis);
        println!("{}", serde_json::to_string_pretty(&out)?);
    } else {
        print!(
            "{}",
            transcript(
                scenario,
                &names,
                &config,
                &result,
                pareto_distance,
                nash_distance,
                analysis.nash.as_ref().map(|n| n.utilities.clone())
            )
        );
    }
    Ok(())
}

/// Separates a transcript line from the labels of its outcome, which go last.
const OUTCOME_TEXT: char = '\u{1f}';

/// A transcript line: what happened (with the answers), the outcome's labels, and the
/// rounds over which it repeated.
struct Line {
    first: u32,
    last: u32,
    count: usize,
    head: String,
    text: String,
}

impl Line {
    fn render(&self) -> String {
        let rounds = if self.count == 1 {
            format!("r{}", self.first)
        } else {
            format!("r{}–{}", self.first, self.last)
        };
        let count = if self.count == 1 {
            String::new()
        } else {
            format!(" (×{})", self.count)
        };
        let text = if self.text.is_empty() {
            String::new()
        } else {
            format!("  {}", self.text)
        };
        format!("  {rounds:<7} {}{count}{text}", self.head)
    }
}

fn transcript(
    scenario: &Scenario,
    names: &[String],
    config: &SessionConfig,
    result: &SessionResult,
    pareto_distance: Option<f64>,
    nash_distance: Option<f64>,
    nash: Option<Vec<f64>>,
) -> String {
    let mut out = String::new();
    let parties: Vec<&str> = scenario.parties().iter().map(|p| p.name.as_str()).collect();
    let utils = |o: &[u32]| {
        scenario
            .utilities()
            .iter()
            .map(|u| format!("{:.3}", u.value(o)))
            .collect::<Vec<_>>()
            .join(" ")
    };
    let text = |o: &[u32]| super::outcome_text(scenario, o);
    let _ = writeln!(out, "scenario   {}", scenario.name());
    let _ = writeln!(
        out,
        "protocol   {} ({} rounds)",
        config.protocol.name(),
        config.rounds
    );
    for (party, name) in parties.iter().zip(names) {
        let _ = writeln!(out, "  {party:<16} played by {name}");
    }
    let _ = writeln!(out, "utilities are listed as ({})", parties.join(" "));
    // One line per event worth reading; a party's unchanged proposal is not repeated,
    // the answers to a text are folded into its line, and a line that repeats the one
    // before (the same text, the same answers) in later rounds is counted, not repeated.
    let mut lines: Vec<Line> = Vec::new();
    let mut pending: Option<(u32, String)> = None;
    let mut last_proposal: Vec<Option<&[u32]>> = vec![None; parties.len()];
    let mut votes: Vec<String> = Vec::new();
    let flush =
        |lines: &mut Vec<Line>, pending: &mut Option<(u32, String)>, votes: &mut Vec<String>| {
            let Some((round, body)) = pending.take() else {
                votes.clear();
                return;
            };
            // The outcome's labels (after OUTCOME_TEXT) come last, after the answers.
            let (head, text) = body.split_once(OUTCOME_TEXT).unwrap_or((&body, ""));
            let mut head = head.to_string();
            if !votes.is_empty() {
                head.push_str(&format!("  → {}", votes.join(", ")));
                votes.clear();
            }
            match lines.last_mut() {
                Some(last) if last.head == head && last.text == text && last.last < round => {
                    last.last = round;
                    last.count += 1;
                }
                _ => lines.push(Line {
                    first: round,
                    last: round,
                    count: 1,
                    head,
                    text: text.to_string(),
                }),
            }
        };
    // Rounds in which the mediator carried the same text to every room.
    let mut carried: std::collections::BTreeMap<u32, Vec<&[u32]>> = Default::default();
    for event in &result.trace.events {
        if let EventKind::Carry { outcome, .. } = &event.kind {
            carried.entry(event.round).or_default().push(outcome);
        }
    }
    let common = |round: u32| {
        carried
            .get(&round)
            .is_some_and(|t| t.windows(2).all(|w| w[0] == w[1]))
    };
    for event in &result.trace.events {
        let line = match &event.kind {
            EventKind::Offer { from, outcome } => Some(format!(
                "{} offers  [{}]\u{1f}{}",
                parties[*from],
                utils(outcome),
                text(outcome)
            )),
            EventKind::Accept { by } => Some(format!("{} accepts", parties[*by])),
            EventKind::WalkAway { by } => Some(format!("{} walks away", parties[*by])),
            EventKind::Proposal { from, outcome } => {
                if last_proposal[*from] == Some(outcome.as_slice()) {
                    None
                } else {
                    last_proposal[*from] = Some(outcome.as_slice());
                    Some(format!(
                        "{} → mediator  [{}]\u{1f}{}",
                        parties[*from],
                        utils(outcome),
                        text(outcome)
                    ))
                }
            }
            EventKind::Carry { to, outcome } if common(event.round) => (*to == 0).then(|| {
                format!(
                    "mediator carries to each party  [{}]\u{1f}{}",
                    utils(outcome),
                    text(outcome)
                )
            }),
            EventKind::Carry { to, outcome } => Some(format!(
                "mediator carries to {}  [{}]\u{1f}{}",
                parties[*to],
                utils(outcome),
                text(outcome)
            )),
            EventKind::Text { outcome } => Some(format!(
                "mediator's text  [{}]\u{1f}{}",
                utils(outcome),
                text(outcome)
            )),
            EventKind::Default { outcome } => Some(format!(
                "default text  [{}]\u{1f}{}",
                utils(outcome),
                text(outcome)
            )),
            EventKind::CallDirect { progress } => Some(format!(
                "mediator calls for direct talks (progress {progress:.2})"
            )),
            EventKind::Consent { by, accept } => Some(format!(
                "{} {} direct talks",
                parties[*by],
                if *accept { "consents to" } else { "refuses" }
            )),
            EventKind::Vote { by, accept } => {
                let answer = if *accept { "accepts" } else { "rejects" };
                votes.push(format!("{} {answer}", parties[*by]));
                None
            }
            EventKind::Phase { from, to } => {
                Some(format!("── phase {} → {} ──", from.name(), to.name()))
            }
            EventKind::Confide { by } => Some(format!(
                "{} confides its preferences to the mediator",
                parties[*by]
            )),
            EventKind::Invalid { by, message } => Some(format!(
                "{} broke the rules: {message}",
                by.map_or("mediator", |b| parties[b])
            )),
            EventKind::Message { from, to, text } => Some(format!(
                "{}{}: “{text}”",
                from.map_or("mediator", |b| parties[b]),
                match to {
                    Recipient::All => String::new(),
                    Recipient::Mediator => " → mediator".into(),
                    Recipient::Party(p) => format!(" → {}", parties[*p]),
                }
            )),
            _ => None,
        };
        if let Some(line) = line {
            flush(&mut lines, &mut pending, &mut votes);
            pending = Some((event.round, line));
        }
    }
    flush(&mut lines, &mut pending, &mut votes);
    let lines: Vec<String> = lines.iter().map(Line::render).collect();
    let (head, tail) = (20, 12);
    if lines.len() > head + tail + 1 {
        for line in &lines[..head] {
            let _ = writeln!(out, "{line}");
        }
        let omitted = lines.len() - head - tail;
        let _ = writeln!(
            out,
            "  …      {omitted} more lines (--trace FILE keeps every event)"
        );
        for line in &lines[lines.len() - tail..] {
            let _ = writeln!(out, "{line}");
        }
    } else {
        for line in &lines {
            let _ = writeln!(out, "{line}");
        }
    }
    let calls: Vec<&parley_engine::ModelCall> = result
        .trace
        .events
        .iter()
        .filter_map(|e| match &e.kind {
            EventKind::ModelCall { call, .. } => Some(call),
            _ => None,
        })
        .collect();
    if !calls.is_empty() {
        let sent: Vec<&&parley_engine::ModelCall> =
            calls.iter().filter(|c| !c.prompt.is_empty()).collect();
        let count = |what: &str| sent.iter().filter(|c| c.note.contains(what)).count();
        let unsent = calls.len() - sent.len();
        let _ =
            writeln!(
            out,
            "model      {} requests: {} invalid replies, {} failed requests, {} fallback moves, \
             {} guardrail corrections{} (--trace FILE keeps every prompt and reply)",
            sent.len(),
            count("invalid reply"),
            count("request failed"),
            calls.iter().filter(|c| c.note.contains("fallback:")).count(),
            count("guardrail:"),
            if unsent > 0 {
                format!(", {unsent} turns not asked (the endpoint refused the seat)")
            } else {
                String::new()
            }
        );
        if let Some(failed) = calls.iter().find(|c| c.note.contains("request failed")) {
            let why: String = failed.note.chars().take(300).collect();
            let _ = writeln!(out, "           first failure: {why}");
        }
    }
    let _ = writeln!(
        out,
        "ended      {} after {} rounds (time {:.3})",
        result.ended_by.name(),
        result.rounds,
        result.time
    );
    match &result.agreement {
        Some(agreement) => {
            let _ = writeln!(out, "agreement  {}", text(agreement));
            for (i, party) in scenario.parties().iter().enumerate() {
                let _ = writeln!(
                    out,
                    "  {:<16} utility {:.4}  gain over walking away {:+.4}",
                    party.name,
                    result.utilities[i],
                    result.utilities[i] - party.walk_away(result.time)
                );
            }
            let _ = writeln!(
                out,
                "welfare    {:.4}",
                result.utilities.iter().sum::<f64>()
            );
            if let Some(d) = pareto_distance {
                let _ = writeln!(out, "distance   {d:.4} to the Pareto frontier");
            }
            if let (Some(d), Some(nash)) = (nash_distance, nash) {
                let _ = writeln!(
                    out,
                    "           {d:.4} to the Nash point ({})",
                    nash.iter()
                        .map(|u| format!("{u:.3}"))
                        .collect::<Vec<_>>()
                        .join(" ")
                );
            }
        }
        None => {
            let _ = writeln!(
                out,
                "no deal    every party walks away with what its alternative is worth then"
            );
            for (party, u) in scenario.parties().iter().zip(&result.utilities) {
                let _ = writeln!(out, "  {:16} utility {u:.4}", party.name);
            }
        }
    }
    out
}
