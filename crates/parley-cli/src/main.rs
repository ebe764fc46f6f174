//! The `parley` command-line tool: analyse, convert and negotiate scenarios.

mod commands;
mod plot;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// parley: multi-issue negotiation between parties who keep their preferences private.
#[derive(Parser)]
#[command(name = "parley", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Analyse a scenario: Pareto frontier, Nash, Kalai–Smorodinsky, welfare, opposition.
    Analyze(commands::analyze::Args),
    /// Convert a scenario between formats (TOML, JSON, Genius XML folder).
    Convert(commands::convert::Args),
    /// Negotiate: run one session of a protocol with built-in negotiators.
    Run(commands::run::Args),
    /// Rank negotiators: many sessions over scenarios, role assignments and repetitions.
    Tournament(commands::tournament::Args),
    /// Host live talks: HTTP and WebSocket API, web UI, durable event log.
    Serve(commands::serve::Args),
    /// Verify the hash chains of the sessions in a server's database.
    Audit(commands::serve::AuditArgs),
}

fn run() -> anyhow::Result<()> {
    let cli = Cli::parse();
    // `llm:…` names a language-model seat everywhere a built-in's name is taken.
    parley_llm::install();
    match cli.command {
        Command::Analyze(args) => commands::analyze::run(&args),
        Command::Convert(args) => commands::convert::run(&args),
        Command::Run(args) => commands::run::run(&args),
        Command::Tournament(args) => commands::tournament::run(&args),
        Command::Serve(args) => commands::serve::serve(&args),
        Command::Audit(args) => commands::serve::audit(&args),
    }
}

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}
