//! The mediation benchmark: do mediated and staged talks beat going direct?
//!
//! Runs the same negotiator line-ups on the same scenarios under five settings (`saop`,
//! `shuttle` with every party confiding, `staged` with every party and with no party
//! confiding, `single-text` with every party confiding), seeds `1..=N`, and scores
//! every session with exact utilities:
//! - whether it ended in a deal;
//! - its distance to the Nash point (a deal's undiscounted utilities; with no deal, the
//!   reservation point's);
//! - whether the deal is Pareto-dominated by a text the mediator had already carried to
//!   every party (a text tabled in public counts as carried to everyone);
//! - the rounds it took.
//!
//! [`Table::violations`] states the floors mediation must meet (`docs/protocols.md`);
//! the benchmark `mediation` of this crate prints the table, and a test asserts the
//! floors on the shared corpus.

use std::sync::Arc;

use parley_core::analysis::{analyze, Analysis, AnalysisConfig};
use parley_core::{Scenario, Utility};
use parley_engine::events::texts_shown_to_all;
use parley_engine::negotiators::{mediator, negotiator, role_seed, BidCache};
use parley_engine::{run_session, ProtocolKind, SessionConfig};
use rayon::prelude::*;

use crate::plan::{Discovered, Skipped};
use crate::Result;

/// The negotiator line-ups, written for two parties; with more parties the last
/// negotiator plays every further party ([`lineup`]).
pub const PAIRS: [&str; 5] = [
    "boulware,boulware",
    "frequency,boulware",
    "conceder,conceder",
    "linear,linear",
    "tit-for-tat,boulware",
];

/// The negotiators of `pair` for a scenario of `n_parties` parties.
pub fn lineup(pair: &str, n_parties: usize) -> Vec<String> {
    let mut names: Vec<String> = pair.split(',').map(str::to_owned).collect();
    while names.len() < n_parties {
        let last = names.last().cloned().unwrap_or_else(|| "boulware".into());
        names.push(last);
    }
    names.truncate(n_parties);
    names
}

/// Who confides its preferences to the mediator.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Confide {
    /// Nobody.
    Nobody,
    /// Every party.
    All,
    /// Only the first party (a one-sided confidence).
    First,
}

impl Confide {
    /// The confide flags for `n` parties.
    pub fn flags(self, n: usize) -> Vec<bool> {
        (0..n)
            .map(|i| match self {
                Confide::Nobody => false,
                Confide::All => true,
                Confide::First => i == 0,
            })
            .collect()
    }
}

/// One way of holding the talks.
#[derive(Clone, Debug)]
pub struct Setting {
    /// Its name in the table (`staged --confide all`).
    pub name: String,
    /// The protocol (its default mediator is used).
    pub protocol: ProtocolKind,
    /// Who confides its preferences to the mediator.
    pub confide: Confide,
    /// Whether the mediator proposes improvements after a deal (on by default, as in
    /// `parley run`).
    pub post_settlement: bool,
}

/// The five settings of the benchmark, with `rounds` rounds and the defaults of
/// `parley run` (staged talks with their default indirect phase,
/// [`ProtocolKind::staged`]; post-settlement on).
pub fn settings(rounds: u32) -> Vec<Setting> {
    let staged = ProtocolKind::staged(rounds);
    vec![
        Setting {
            name: "saop".into(),
            protocol: ProtocolKind::Saop,
            confide: Confide::Nobody,
            post_settlement: false,
        },
        Setting {
            name: "shuttle --confide all".into(),
            protocol: ProtocolKind::Shuttle,
            confide: Confide::All,
            post_settlement: true,
        },
        Setting {
            name: "staged --confide all".into(),
            protocol: staged,
            confide: Confide::All,
            post_settlement: true,
        },
        Setting {
            name: "staged --confide none".into(),
            protocol: staged,
            confide: Confide::Nobody,
            post_settlement: true,
        },
        Setting {
            name: "single-text --confide all".into(),
            protocol: ProtocolKind::SingleText,
            confide: Confide::All,
            post_settlement: true,
        },
    ]
}

/// A scenario of the benchmark with its exact analysis.
pub struct Case {
    /// Its label.
    pub label: String,
    /// The scenario.
    pub scenario: Scenario,
    /// Its exact analysis (which has a Nash point).
    pub analysis: Analysis,
    /// Bid spaces shared by its sessions.
    pub bids: Arc<BidCache>,
}

/// Keeps the discovered scenarios the benchmark can score: two or three parties, an
/// exact analysis, and a rational outcome (a Nash point). The others are returned with
/// the reason.
pub fn cases(discovered: Discovered) -> Result<(Vec<Case>, Vec<Skipped>)> {
    let mut skipped = discovered.skipped;
    let mut kept = Vec::new();
    for entry in discovered.entries {
        let scenario = entry.scenario;
        let skip = |reason: String| Skipped {
            path: entry.path.display().to_string(),
            reason,
        };
        if !(2..=3).contains(&scenario.n_parties()) {
            skipped.push(skip(format!("{} parties", scenario.n_parties())));
            continue;
        }
        let additive = scenario.utilities().iter().all(|u| u.is_additive());
        let small = scenario
            .space()
            .outcome_count()
            .as_u64()
            .is_some_and(|c| c <= 2_000_000);
        if !additive && !small {
            skipped.push(skip("too large to analyse exactly".into()));
            continue;
        }
        let analysis = analyze(&scenario, &AnalysisConfig::default())?;
        if analysis.nash.is_none() {
            skipped.push(skip("no rational outcome".into()));
            continue;
        }
        let bids = Arc::new(BidCache::new(scenario.n_parties()));
        kept.push(Case {
            label: entry.label,
            scenario,
            analysis,
            bids,
        });
    }
    Ok((kept, skipped))
}

/// The score of one session.
#[derive(Clone, Debug, PartialEq)]
pub struct Score {
    /// Whether it ended in a deal.
    pub agreed: bool,
    /// Distance from the deal's undiscounted utilities (or the reservation point) to
    /// the Nash point.
    pub nash_distance: f64,
    /// A text carried to every party before the end that Pareto-dominates the deal.
    pub dominated_by: Option<Vec<u32>>,
    /// Rounds used.
    pub rounds: u32,
    /// The first party's utility: of the deal (discounted), else its reservation value.
    pub first_utility: f64,
}

/// Whether `a` Pareto-dominates `b` under `utilities` (exactly: at least as good for
/// everyone, better for someone).
pub fn dominates(scenario: &Scenario, a: &[u32], b: &[u32]) -> bool {
    let mut better = false;
    for u in scenario.utilities() {
        let (ua, ub): (Utility, Utility) = (u.eval(a), u.eval(b));
        match ua.cmp(&ub) {
            std::cmp::Ordering::Less => return false,
            std::cmp::Ordering::Greater => better = true,
            std::cmp::Ordering::Equal => {}
        }
    }
    better
}

/// Scores a finished session.
pub fn score(
    scenario: &Scenario,
    analysis: &Analysis,
    result: &parley_engine::SessionResult,
) -> Score {
    let reached: Vec<f64> = match &result.agreement {
        Some(a) => scenario.utilities().iter().map(|u| u.value(a)).collect(),
        None => scenario.reservations(),
    };
    let dominated_by = result.agreement.as_ref().and_then(|deal| {
        texts_shown_to_all(&result.trace.events, scenario.n_parties())
            .into_iter()
            .find(|text| dominates(scenario, text, deal))
    });
    Score {
        first_utility: result.utilities.first().copied().unwrap_or(0.0),
        agreed: result.agreement.is_some(),
        nash_distance: analysis.nash_distance(&reached).unwrap_or(0.0),
        dominated_by,
        rounds: result.rounds,
    }
}

/// The totals of one cell of the table (a setting and a line-up, over scenarios and
/// seeds).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Cell {
    /// Sessions run.
    pub sessions: u64,
    /// Sessions that ended in a deal.
    pub agreements: u64,
    /// Sum of the Nash distances.
    pub nash_sum: f64,
    /// Deals dominated by a text carried to every party.
    pub dominated: u64,
    /// Sum of the rounds used.
    pub rounds_sum: u64,
    /// Sessions that ended because a negotiator or mediator broke a rule.
    pub invalid: u64,
    /// Sum of the first party's utilities.
    pub first_utility_sum: f64,
}

impl Cell {
    /// The share of sessions that ended in a deal.
    pub fn agreement_rate(&self) -> f64 {
        self.agreements as f64 / self.sessions.max(1) as f64
    }

    /// The mean distance to the Nash point.
    pub fn mean_nash(&self) -> f64 {
        self.nash_sum / self.sessions.max(1) as f64
    }

    /// The mean number of rounds.
    pub fn mean_rounds(&self) -> f64 {
        self.rounds_sum as f64 / self.sessions.max(1) as f64
    }

    fn add(&mut self, score: &Score, invalid: bool) {
        self.sessions += 1;
        self.agreements += u64::from(score.agreed);
        self.nash_sum += score.nash_distance;
        self.dominated += u64::from(score.dominated_by.is_some());
        self.rounds_sum += u64::from(score.rounds);
        self.invalid += u64::from(invalid);
        self.first_utility_sum += score.first_utility;
    }

    /// The first party's mean utility (what confiding alone earns it, say).
    pub fn mean_first_utility(&self) -> f64 {
        self.first_utility_sum / self.sessions.max(1) as f64
    }
}

/// The benchmark's results for one group of scenarios (bilateral, or three parties).
#[derive(Clone, Debug)]
pub struct Table {
    /// What the group is.
    pub group: String,
    /// Scenarios in the group.
    pub scenarios: usize,
    /// Seeds per scenario.
    pub seeds: u64,
    /// Round deadline.
    pub rounds: u32,
    /// The settings, in order.
    pub settings: Vec<String>,
    /// The line-ups, in order.
    pub pairs: Vec<String>,
    /// `cells[setting][pair]`.
    pub cells: Vec<Vec<Cell>>,
    /// Per setting, over all line-ups.
    pub totals: Vec<Cell>,
    /// Examples of dominated deals: (setting, pair, scenario, seed).
    pub dominated_examples: Vec<(String, String, String, u64)>,
    /// Per setting, the ten sessions farthest from the Nash point, farthest first.
    pub farthest: Vec<Vec<Far>>,
}

/// A session far from the Nash point.
#[derive(Clone, Debug)]
pub struct Far {
    /// Its distance to the Nash point.
    pub distance: f64,
    /// Whether it ended in a deal.
    pub agreed: bool,
    /// The line-up.
    pub pair: String,
    /// The scenario's label.
    pub scenario: String,
    /// The seed.
    pub seed: u64,
}

/// Runs every setting × line-up × case × seed `1..=seeds` (in parallel; the result does
/// not depend on the number of threads).
pub fn run(
    group: &str,
    cases: &[Case],
    settings: &[Setting],
    pairs: &[&str],
    seeds: u64,
    rounds: u32,
) -> Result<Table> {
    let jobs: Vec<(usize, usize, usize, u64)> = (0..settings.len())
        .flat_map(|s| {
            (0..pairs.len()).flat_map(move |p| {
                (0..cases.len()).flat_map(move |c| (1..=seeds).map(move |seed| (s, p, c, seed)))
            })
        })
        .collect();
    let scores: Vec<(Score, bool)> = jobs
        .par_iter()
        .map(|&(s, p, c, seed)| {
            let setting = &settings[s];
            let case = &cases[c];
            let n = case.scenario.n_parties();
            let config = SessionConfig {
                confide: setting.confide.flags(n),
                post_settlement: setting.post_settlement,
                bids: Some(Arc::clone(&case.bids)),
                seed,
                ..SessionConfig::new(setting.protocol, rounds)
            };
            let negotiators = lineup(pairs[p], n)
                .iter()
                .enumerate()
                .map(|(i, spec)| negotiator(spec, role_seed(seed, i as u64)))
                .collect::<parley_engine::Result<Vec<_>>>()?;
            let mediator = setting
                .protocol
                .default_mediator()
                .map(|spec| mediator(spec, role_seed(seed, u64::MAX)))
                .transpose()?;
            let result = run_session(&case.scenario, &config, negotiators, mediator)?;
            let invalid = result.ended_by == parley_engine::EndReason::InvalidAction;
            Ok((score(&case.scenario, &case.analysis, &result), invalid))
        })
        .collect::<Result<Vec<_>>>()?;
    let mut cells = vec![vec![Cell::default(); pairs.len()]; settings.len()];
    let mut totals = vec![Cell::default(); settings.len()];
    let mut dominated_examples = Vec::new();
    let mut farthest: Vec<Vec<Far>> = vec![Vec::new(); settings.len()];
    for (&(s, p, c, seed), (score, invalid)) in jobs.iter().zip(&scores) {
        farthest[s].push(Far {
            distance: score.nash_distance,
            agreed: score.agreed,
            pair: pairs[p].to_owned(),
            scenario: cases[c].label.clone(),
            seed,
        });
        cells[s][p].add(score, *invalid);
        totals[s].add(score, *invalid);
        if score.dominated_by.is_some() && dominated_examples.len() < 20 {
            dominated_examples.push((
                settings[s].name.clone(),
                pairs[p].to_owned(),
                cases[c].label.clone(),
                seed,
            ));
        }
    }
    for list in &mut farthest {
        list.sort_by(|a, b| b.distance.total_cmp(&a.distance));
        list.truncate(10);
    }
    Ok(Table {
        farthest,
        group: group.to_owned(),
        scenarios: cases.len(),
        seeds,
        rounds,
        settings: settings.iter().map(|s| s.name.clone()).collect(),
        pairs: pairs.iter().map(|p| p.to_string()).collect(),
        cells,
        totals,
        dominated_examples,
    })
}

impl Table {
    fn index(&self, setting: &str) -> Option<usize> {
        self.settings.iter().position(|s| s == setting)
    }

    /// The table as Markdown: per setting, agreement rate, mean Nash distance,
    /// dominated deals and mean rounds, over all line-ups and per line-up.
    pub fn markdown(&self) -> String {
        let mut out = format!(
            "{}: {} scenarios × {} seeds × {} line-ups per setting, {} rounds\n\n",
            self.group,
            self.scenarios,
            self.seeds,
            self.pairs.len(),
            self.rounds
        );
        out.push_str(
            "| setting | agreements | mean Nash distance | dominated deals | mean rounds | first party's mean utility |\n",
        );
        out.push_str("|---|---|---|---|---|---|\n");
        for (name, cell) in self.settings.iter().zip(&self.totals) {
            out.push_str(&format!(
                "| {name} | {:.1}% | {:.4} | {} | {:.1} | {:.4} |\n",
                100.0 * cell.agreement_rate(),
                cell.mean_nash(),
                cell.dominated,
                cell.mean_rounds(),
                cell.mean_first_utility()
            ));
        }
        out.push_str("\nMean Nash distance (agreement rate) per line-up:\n\n| line-up |");
        for name in &self.settings {
            out.push_str(&format!(" {name} |"));
        }
        out.push_str("\n|---|");
        out.push_str(&"---|".repeat(self.settings.len()));
        out.push('\n');
        for (p, pair) in self.pairs.iter().enumerate() {
            out.push_str(&format!("| {pair} |"));
            for s in 0..self.settings.len() {
                let cell = &self.cells[s][p];
                out.push_str(&format!(
                    " {:.4} ({:.0}%) |",
                    cell.mean_nash(),
                    100.0 * cell.agreement_rate()
                ));
            }
            out.push('\n');
        }
        out
    }

    /// The floors mediation must meet on this table, as the list of those it misses:
    /// - no mediated or staged deal is dominated by a text carried to every party;
    /// - per line-up, staged talks with everyone confiding end no farther from Nash than
    ///   shuttle alone (+0.01) and at most half as far as `saop`;
    /// - per line-up, shuttle with everyone confiding is no farther from Nash than `saop`;
    /// - per line-up, staged talks with nobody confiding agree at least as often as
    ///   `saop` (−5 points) and end no farther from Nash;
    /// - single-text sessions use at most half the rounds on average;
    /// - no session ends with a broken rule.
    pub fn violations(&self) -> Vec<String> {
        let mut out = Vec::new();
        let get = |name: &str| self.index(name);
        let (Some(saop), Some(shuttle), Some(staged), Some(staged_none), Some(single)) = (
            get("saop"),
            get("shuttle --confide all"),
            get("staged --confide all"),
            get("staged --confide none"),
            get("single-text --confide all"),
        ) else {
            return vec!["the table lacks one of the five settings".into()];
        };
        for (s, name) in self.settings.iter().enumerate() {
            if s != saop && self.totals[s].dominated > 0 {
                out.push(format!(
                    "{}: {name}: {} deals dominated by a text carried to every party",
                    self.group, self.totals[s].dominated
                ));
            }
            if self.totals[s].invalid > 0 {
                out.push(format!(
                    "{}: {name}: {} sessions ended with a broken rule",
                    self.group, self.totals[s].invalid
                ));
            }
        }
        for (p, pair) in self.pairs.iter().enumerate() {
            let nash = |s: usize| self.cells[s][p].mean_nash();
            let rate = |s: usize| self.cells[s][p].agreement_rate();
            let g = &self.group;
            if nash(staged) > nash(shuttle) + 0.01 {
                out.push(format!(
                    "{g}: {pair}: staged (all confide) {:.4} from Nash, shuttle {:.4}",
                    nash(staged),
                    nash(shuttle)
                ));
            }
            if nash(staged) > 0.5 * nash(saop) {
                out.push(format!(
                    "{g}: {pair}: staged (all confide) {:.4} from Nash, more than half of saop's {:.4}",
                    nash(staged),
                    nash(saop)
                ));
            }
            if nash(shuttle) > nash(saop) {
                out.push(format!(
                    "{g}: {pair}: shuttle (all confide) {:.4} from Nash, saop {:.4}",
                    nash(shuttle),
                    nash(saop)
                ));
            }
            if rate(staged_none) < rate(saop) - 0.05 {
                out.push(format!(
                    "{g}: {pair}: staged (none confide) agrees in {:.1}%, saop in {:.1}%",
                    100.0 * rate(staged_none),
                    100.0 * rate(saop)
                ));
            }
            if nash(staged_none) > nash(saop) {
                out.push(format!(
                    "{g}: {pair}: staged (none confide) {:.4} from Nash, saop {:.4}",
                    nash(staged_none),
                    nash(saop)
                ));
            }
        }
        if self.totals[single].mean_rounds() > f64::from(self.rounds) / 2.0 {
            out.push(format!(
                "{}: single-text sessions last {:.1} rounds on average, more than half of {}",
                self.group,
                self.totals[single].mean_rounds(),
                self.rounds
            ));
        }
        out
    }
}
