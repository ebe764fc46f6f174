//! `parley tournament`: rank negotiators over scenarios × assignments × repetitions;
//! `parley tournament merge`: join the shards of one.

use std::path::{Path, PathBuf};

use anyhow::Context;
use parley_engine::negotiators::NEGOTIATORS;
use parley_tournament::store::{Manifest, LOG};
use parley_tournament::{Plan, Row, Settings, Shard, Summary};
use serde_json::json;

use super::protocol::{ProtocolArg, ProtocolOpts};

/// Arguments of `parley tournament`.
#[derive(clap::Args)]
#[command(args_conflicts_with_subcommands = true, subcommand_negates_reqs = true)]
pub struct Args {
    #[command(subcommand)]
    pub command: Option<Sub>,
    /// Scenario files, Genius scenario folders, or folders holding them (searched
    /// recursively; what does not load there is skipped and listed).
    #[arg(required = true)]
    pub scenarios: Vec<PathBuf>,
    #[arg(
        long,
        value_delimiter = ',',
        help = super::protocol::negotiators_help("The competitors, e.g. `boulware,conceder:e=5,frequency` [default: every built-in]")
    )]
    pub negotiators: Vec<String>,
    #[command(flatten)]
    pub talks: ProtocolOpts,
    /// Sessions per scenario and role assignment.
    #[arg(long, default_value_t = 1)]
    pub repetitions: u32,
    /// The tournament's seed (each session's seed derives from it).
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Let competitors meet themselves.
    #[arg(long)]
    pub self_play: bool,
    /// Only scenarios with this many parties.
    #[arg(long, value_name = "N")]
    pub parties: Option<usize>,
    /// The output folder.
    #[arg(long, default_value = "tournament")]
    pub out: PathBuf,
    /// Continue the tournament in --out where it stopped.
    #[arg(long)]
    pub resume: bool,
    /// Run only slice i of n (from 0): the sessions whose number is i modulo n.
    #[arg(long, default_value = "0/1", value_name = "I/N")]
    pub shard: Shard,
    /// Utility evaluations the frontier search may spend on a nonlinear scenario too
    /// large to analyse exactly (for the distances in the results).
    #[arg(long, default_value_t = parley_tournament::run::ANALYSIS_WORK, value_name = "EVALUATIONS")]
    pub analysis_work: u64,
    /// Worker threads [default: one per core].
    #[arg(long, value_name = "N")]
    pub jobs: Option<usize>,
    #[command(flatten)]
    pub output: OutputOpts,
}

/// What to print and draw.
#[derive(clap::Args)]
pub struct OutputOpts {
    /// Also draw the agreements of this scenario (its label) in the utility plane.
    #[arg(long, value_name = "SCENARIO")]
    pub plot: Vec<String>,
    /// Print the summary as JSON.
    #[arg(long)]
    pub json: bool,
    /// No progress bar and no notes.
    #[arg(long, short)]
    pub quiet: bool,
}

/// Subcommands of `parley tournament`.
#[derive(clap::Subcommand)]
pub enum Sub {
    /// Join the output folders of every shard into one, as an unsharded run would be.
    Merge(MergeArgs),
}

/// Arguments of `parley tournament merge`.
#[derive(clap::Args)]
pub struct MergeArgs {
    /// The shards' output folders.
    #[arg(required = true)]
    pub dirs: Vec<PathBuf>,
    /// The merged output folder (must not hold a tournament).
    #[arg(long)]
    pub out: PathBuf,
    #[command(flatten)]
    pub output: OutputOpts,
}

/// Runs `parley tournament`.
pub fn run(args: &Args) -> anyhow::Result<()> {
    if let Some(Sub::Merge(merge)) = &args.command {
        return run_merge(merge);
    }
    if let Some(jobs) = args.jobs {
        rayon::ThreadPoolBuilder::new()
            .num_threads(jobs.max(1))
            .build_global()
            .context("--jobs")?;
    }
    let talks = &args.talks;
    let protocol = talks.protocol(ProtocolArg::Saop);
    let confide = match talks.confide.as_slice() {
        [one] if one == "none" => false,
        [one] if one == "all" => true,
        _ => anyhow::bail!(
            "--confide: a tournament takes `all` or `none` (parties differ between scenarios)"
        ),
    };
    let negotiators: Vec<String> = if args.negotiators.is_empty() {
        NEGOTIATORS.iter().map(|s| s.to_string()).collect()
    } else {
        args.negotiators
            .iter()
            .map(|s| s.trim().to_owned())
            .collect()
    };
    let settings = Settings {
        negotiators,
        protocol,
        mediator: talks.mediator_spec(&protocol),
        confide,
        post_settlement: talks.post_settlement.on(),
        rounds: talks.rounds,
        time_limit: talks.time_limit()?.map(|d| d.as_secs_f64()),
        repetitions: args.repetitions,
        seed: args.seed,
        self_play: args.self_play,
        analysis_work: args.analysis_work,
    };
    let discovered = parley_tournament::discover(&args.scenarios, args.parties)?;
    let plan = Plan::new(settings, discovered)?;
    let shard_size = args.shard.size(plan.total());
    if !args.output.quiet {
        let s = &plan.settings;
        eprintln!(
            "tournament  {} scenarios{}, {} negotiators, {} ({} rounds), {} repetition{} → {} sessions{}",
            plan.entries.len(),
            if plan.skipped.is_empty() {
                String::new()
            } else {
                format!(" ({} skipped, listed in {})", plan.skipped.len(), args.out.join("tournament.json").display())
            },
            s.negotiators.len(),
            s.protocol.name(),
            s.rounds,
            s.repetitions,
            if s.repetitions == 1 { "" } else { "s" },
            plan.total(),
            if args.shard == Shard::ALL {
                String::new()
            } else {
                format!(", {shard_size} in shard {}", args.shard)
            }
        );
    }
    let bar = if args.output.quiet {
        indicatif::ProgressBar::hidden()
    } else {
        let bar = indicatif::ProgressBar::new(shard_size);
        bar.set_style(
            indicatif::ProgressStyle::with_template(
                "{bar:40} {pos}/{len} sessions  {per_sec}  ETA {eta}",
            )
            .context("progress bar template")?,
        );
        bar
    };
    let options = parley_tournament::Options {
        out: args.out.clone(),
        resume: args.resume,
        shard: args.shard,
    };
    let report = parley_tournament::run(&plan, &options, &|done, _| bar.set_position(done))?;
    bar.finish_and_clear();
    let seconds = report.elapsed.as_secs_f64();
    let timing = json!({
        "sessions_run": report.ran,
        "sessions_already_done": report.already_done,
        "elapsed_seconds": seconds,
        "sessions_per_second": if seconds > 0.0 { report.ran as f64 / seconds } else { 0.0 },
        "threads": rayon::current_num_threads(),
    });
    std::fs::write(
        args.out.join("timing.json"),
        serde_json::to_string_pretty(&timing)? + "\n",
    )
    .with_context(|| format!("writing {}", args.out.join("timing.json").display()))?;
    if !args.output.quiet {
        eprintln!(
            "ran {} sessions in {seconds:.1} s ({:.0} sessions/s, {} threads){} → {}",
            report.ran,
            if seconds > 0.0 {
                report.ran as f64 / seconds
            } else {
                0.0
            },
            rayon::current_num_threads(),
            if report.already_done > 0 {
                format!("; {} were done before", report.already_done)
            } else {
                String::new()
            },
            args.out.display()
        );
    }
    let manifest = Manifest::of(&plan, args.shard);
    report_summary(&report.summary, &manifest, &args.out, &args.output)
}

fn run_merge(args: &MergeArgs) -> anyhow::Result<()> {
    let summary = parley_tournament::merge(&args.dirs, &args.out)?;
    let manifest = Manifest::read(&args.out)?.context("the merged manifest is missing")?;
    if !args.output.quiet {
        eprintln!("merged {} shards → {}", args.dirs.len(), args.out.display());
    }
    report_summary(&summary, &manifest, &args.out, &args.output)
}

/// Prints the summary and draws the plots.
fn report_summary(
    summary: &Summary,
    manifest: &Manifest,
    out: &Path,
    opts: &OutputOpts,
) -> anyhow::Result<()> {
    let mut files = vec![
        out.join("results.csv"),
        out.join("summary.md"),
        out.join("summary.json"),
    ];
    let ranking = out.join("ranking.svg");
    crate::plot::draw_ranking(summary, &ranking)?;
    files.push(ranking);
    for label in &opts.plot {
        files.push(plot_agreements(manifest, out, label)?);
    }
    if opts.json {
        println!("{}", serde_json::to_string_pretty(summary)?);
        return Ok(());
    }
    println!("{}", summary.totals());
    println!("{}", summary.verdict());
    println!();
    print!("{}", summary.ranking_table());
    println!();
    print!("{}", summary.win_table());
    println!();
    println!(
        "files: {}",
        files
            .iter()
            .map(|f| f.display().to_string())
            .collect::<Vec<_>>()
            .join(", ")
    );
    Ok(())
}

/// Draws the agreements of scenario `label` over its analysis.
fn plot_agreements(manifest: &Manifest, out: &Path, label: &str) -> anyhow::Result<PathBuf> {
    let info = manifest
        .scenarios
        .iter()
        .find(|s| s.label == label)
        .with_context(|| {
            format!(
                "--plot: the tournament has no scenario {label:?} (its scenarios: {})",
                manifest
                    .scenarios
                    .iter()
                    .take(8)
                    .map(|s| s.label.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
                    + if manifest.scenarios.len() > 8 {
                        ", …"
                    } else {
                        ""
                    }
            )
        })?;
    let loaded = parley_formats::load(Path::new(&info.path))
        .with_context(|| format!("--plot {label}: loading {}", info.path))?;
    let scenario = &loaded.scenario;
    let analysis = parley_core::analysis::analyze(
        scenario,
        &parley_core::analysis::AnalysisConfig {
            work_budget: Some(manifest.settings.analysis_work),
            ..Default::default()
        },
    )?;
    let names = &manifest.settings.negotiators;
    let mut points = Vec::new();
    parley_tournament::store::scan_log(&out.join(LOG), |_, _, row: Row| {
        if row.scenario == label {
            if let Some(agreement) = &row.agreement {
                let values: Option<Vec<u32>> = scenario
                    .space()
                    .issues()
                    .iter()
                    .zip(agreement)
                    .map(|(issue, v)| issue.value_index(v))
                    .collect();
                if let Some(outcome) = values {
                    let utils: Vec<f64> = scenario
                        .utilities()
                        .iter()
                        .map(|u| u.value(&outcome))
                        .collect();
                    let series = names
                        .iter()
                        .position(|n| Some(n) == row.negotiators.first())
                        .unwrap_or(0);
                    points.push((utils, series));
                }
            }
        }
        Ok(())
    })?;
    let first_party = info.parties.first().map_or("party 1", String::as_str);
    let agreements = crate::plot::Agreements {
        points,
        series: names
            .iter()
            .map(|n| format!("{first_party} played by {n}"))
            .collect(),
    };
    let file = out.join(format!(
        "agreements-{}.svg",
        label.replace(['/', '\\', ' '], "_")
    ));
    crate::plot::draw_with(scenario, &analysis, Some(&agreements), &file)?;
    Ok(file)
}
