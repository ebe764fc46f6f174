//! `parley convert INPUT OUTPUT`: translate a scenario between formats.

use std::path::PathBuf;

use anyhow::Context;
use parley_formats::{native, Format};

/// Arguments of `parley convert`.
#[derive(clap::Args)]
pub struct Args {
    /// The scenario to read: a .toml or .json file, a Genius folder or a GeniusWeb folder.
    pub input: PathBuf,
    /// Where to write: a .toml or .json file, or a folder (with --to genius or --to geniusweb).
    pub output: PathBuf,
    /// The output format (default: from the output's extension).
    #[arg(long, value_enum)]
    pub to: Option<FormatArg>,
    /// Do not print notes about repairs made while reading the input.
    #[arg(long, short)]
    pub quiet: bool,
}

/// An output format.
#[derive(Clone, Copy, clap::ValueEnum)]
pub enum FormatArg {
    /// Native TOML.
    Toml,
    /// Native JSON.
    Json,
    /// A Genius XML folder (domain and one profile per party).
    Genius,
    /// A GeniusWeb folder (one JSON profile per party, and the domain).
    Geniusweb,
}

/// Runs `parley convert`.
pub fn run(args: &Args) -> anyhow::Result<()> {
    let format = match args.to {
        Some(FormatArg::Toml) => Format::Toml,
        Some(FormatArg::Json) => Format::Json,
        Some(FormatArg::Genius) => Format::Genius,
        Some(FormatArg::Geniusweb) => Format::GeniusWeb,
        None => match args.output.extension().and_then(|e| e.to_str()) {
            Some("toml") => Format::Toml,
            Some("json") => Format::Json,
            _ => anyhow::bail!(
                "cannot tell the output format of {}: use a .toml or .json file, or --to genius or --to geniusweb with a folder",
                args.output.display()
            ),
        },
    };
    let loaded = super::load_scenario(&args.input, args.quiet)?;
    let write = |text: String| {
        std::fs::write(&args.output, text)
            .with_context(|| format!("writing {}", args.output.display()))
    };
    match format {
        Format::Toml => write(native::to_toml(&loaded.scenario)?)?,
        Format::Json => write(native::to_json(&loaded.scenario)? + "\n")?,
        Format::Genius => parley_formats::genius::write_folder(&loaded.scenario, &args.output)
            .with_context(|| format!("writing {}", args.output.display()))?,
        Format::GeniusWeb => {
            let notes = parley_formats::geniusweb::write_folder(&loaded.scenario, &args.output)
                .with_context(|| format!("writing {}", args.output.display()))?;
            if !args.quiet {
                for note in notes {
                    eprintln!("note: {note}");
                }
            }
        }
    }
    Ok(())
}
