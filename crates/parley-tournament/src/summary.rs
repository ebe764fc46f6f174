//! The ranking of a tournament, from its rows alone.
//!
//! Sums are kept in fixed point (10⁻¹² units, in 128-bit integers), so that the
//! summary does not depend on the order the rows arrive in: a sharded run merges into
//! exactly the summary of an unsharded one.

use std::collections::BTreeSet;
use std::fmt::Write as _;

use serde::{Deserialize, Serialize};

use crate::row::Row;

const SCALE: f64 = 1e12;

/// An order-independent running mean and variance.
#[derive(Clone, Copy, Debug, Default)]
struct Acc {
    n: u64,
    sum: i128,
    sum_sq: i128,
}

impl Acc {
    fn add(&mut self, x: f64) {
        if !x.is_finite() {
            return;
        }
        let q = (x * SCALE).round() as i128;
        self.n += 1;
        self.sum += q;
        self.sum_sq += q * q;
    }

    fn mean(&self) -> Option<f64> {
        (self.n > 0).then(|| self.sum as f64 / SCALE / self.n as f64)
    }

    /// The half-width of the 95% confidence interval of the mean (Student's t).
    fn half_width(&self) -> Option<f64> {
        if self.n < 2 {
            return None;
        }
        let n = self.n as f64;
        let sum = self.sum as f64;
        let var = ((self.sum_sq as f64 - sum * sum / n) / (n - 1.0)).max(0.0) / (SCALE * SCALE);
        Some(t975(self.n - 1) * (var / n).sqrt())
    }
}

/// The 0.975 quantile of Student's t with `df` degrees of freedom: exact table values
/// for small `df`, the Cornish–Fisher expansion beyond (error below 10⁻⁴).
fn t975(df: u64) -> f64 {
    const TABLE: [f64; 10] = [
        12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228,
    ];
    if df == 0 {
        return f64::INFINITY;
    }
    if let Some(&t) = TABLE.get(df as usize - 1) {
        return t;
    }
    let z: f64 = 1.959_963_984_540_054;
    let v = df as f64;
    let (z3, z5, z7) = (z.powi(3), z.powi(5), z.powi(7));
    z + (z3 + z) / (4.0 * v)
        + (5.0 * z5 + 16.0 * z3 + 3.0 * z) / (96.0 * v * v)
        + (3.0 * z7 + 19.0 * z5 + 17.0 * z3 - 15.0 * z) / (384.0 * v * v * v)
}

#[derive(Clone, Debug, Default)]
struct Competitor {
    advantage: Acc,
    utility: Acc,
    agreed: Acc,
    pareto: Acc,
    nash: Acc,
    welfare: Acc,
}

/// Collects rows into a [`Summary`].
#[derive(Debug)]
pub struct Accumulator {
    names: Vec<String>,
    competitors: Vec<Competitor>,
    wins: Vec<Vec<u64>>,
    meetings: Vec<Vec<u64>>,
    sessions: u64,
    agreements: u64,
    scenarios: BTreeSet<String>,
    pareto: Acc,
    nash: Acc,
    welfare: Acc,
}

impl Accumulator {
    /// An empty accumulator for these competitors.
    pub fn new(names: &[String]) -> Accumulator {
        let k = names.len();
        Accumulator {
            names: names.to_vec(),
            competitors: vec![Competitor::default(); k],
            wins: vec![vec![0; k]; k],
            meetings: vec![vec![0; k]; k],
            sessions: 0,
            agreements: 0,
            scenarios: BTreeSet::new(),
            pareto: Acc::default(),
            nash: Acc::default(),
            welfare: Acc::default(),
        }
    }

    /// Adds one session.
    pub fn add(&mut self, row: &Row) {
        self.sessions += 1;
        self.agreements += u64::from(row.agreement.is_some());
        if !self.scenarios.contains(&row.scenario) {
            self.scenarios.insert(row.scenario.clone());
        }
        self.pareto.add(row.pareto_distance);
        if let Some(d) = row.nash_distance {
            self.nash.add(d);
        }
        self.welfare.add(row.welfare);
        let index: Vec<Option<usize>> = row
            .negotiators
            .iter()
            .map(|n| self.names.iter().position(|m| m == n))
            .collect();
        for (role, c) in index.iter().enumerate() {
            let Some(c) = *c else { continue };
            let stats = &mut self.competitors[c];
            stats.advantage.add(row.advantages[role]);
            stats.utility.add(row.utilities[role]);
            stats
                .agreed
                .add(if row.agreement.is_some() { 1.0 } else { 0.0 });
            stats.pareto.add(row.pareto_distance);
            if let Some(d) = row.nash_distance {
                stats.nash.add(d);
            }
            stats.welfare.add(row.welfare);
            // Head to head: every other role played by another competitor.
            for (other, d) in index.iter().enumerate() {
                let Some(d) = *d else { continue };
                if d == c {
                    continue;
                }
                self.meetings[c][d] += 1;
                if row.advantages[role] > row.advantages[other] + 1e-12 {
                    self.wins[c][d] += 1;
                }
            }
        }
    }

    /// The summary.
    pub fn finish(self) -> Summary {
        let mut ranking: Vec<Standing> = self
            .names
            .iter()
            .zip(&self.competitors)
            .enumerate()
            .map(|(c, (name, s))| {
                let mean = s.advantage.mean();
                let half = s.advantage.half_width();
                let wins: u64 = self.wins[c].iter().sum();
                let meetings: u64 = self.meetings[c].iter().sum();
                Standing {
                    rank: 0,
                    negotiator: name.clone(),
                    roles_played: s.advantage.n,
                    mean_advantage: mean,
                    ci95: mean.zip(half).map(|(m, h)| [m - h, m + h]),
                    mean_utility: s.utility.mean(),
                    agreement_rate: s.agreed.mean(),
                    mean_pareto_distance: s.pareto.mean(),
                    mean_nash_distance: s.nash.mean(),
                    mean_welfare: s.welfare.mean(),
                    head_to_head_win_rate: (meetings > 0).then(|| wins as f64 / meetings as f64),
                }
            })
            .collect();
        ranking.sort_by(|a, b| {
            b.mean_advantage
                .unwrap_or(f64::NEG_INFINITY)
                .total_cmp(&a.mean_advantage.unwrap_or(f64::NEG_INFINITY))
                .then_with(|| a.negotiator.cmp(&b.negotiator))
        });
        for (i, s) in ranking.iter_mut().enumerate() {
            s.rank = i + 1;
        }
        Summary {
            sessions: self.sessions,
            scenarios: self.scenarios.len() as u64,
            agreements: self.agreements,
            agreement_rate: (self.sessions > 0)
                .then(|| self.agreements as f64 / self.sessions as f64),
            mean_pareto_distance: self.pareto.mean(),
            mean_nash_distance: self.nash.mean(),
            mean_welfare: self.welfare.mean(),
            ranking,
            win_matrix: WinMatrix {
                negotiators: self.names,
                wins: self.wins,
                meetings: self.meetings,
            },
        }
    }
}

/// One competitor's line of the ranking.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Standing {
    /// 1 for the best.
    pub rank: usize,
    /// The competitor.
    pub negotiator: String,
    /// How many roles it played (a session counts once per role it played).
    pub roles_played: u64,
    /// Mean utility above its reservation value: the ranking criterion.
    pub mean_advantage: Option<f64>,
    /// 95% confidence interval of the mean advantage (Student's t).
    pub ci95: Option<[f64; 2]>,
    /// Mean utility received.
    pub mean_utility: Option<f64>,
    /// Share of its sessions that ended in an agreement.
    pub agreement_rate: Option<f64>,
    /// Mean distance of its sessions' results to the Pareto frontier.
    pub mean_pareto_distance: Option<f64>,
    /// Mean distance of its sessions' results to the Nash point.
    pub mean_nash_distance: Option<f64>,
    /// Mean welfare of its sessions.
    pub mean_welfare: Option<f64>,
    /// Share of its meetings with other competitors in which it gained more.
    pub head_to_head_win_rate: Option<f64>,
}

/// Head-to-head results: `wins[a][b]` of `meetings[a][b]` sessions in which competitor
/// `a` gained more over its reservation value than `b` did.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct WinMatrix {
    /// The competitors, in the order given.
    pub negotiators: Vec<String>,
    /// Wins of row over column.
    pub wins: Vec<Vec<u64>>,
    /// Meetings of row and column.
    pub meetings: Vec<Vec<u64>>,
}

/// The summary of a tournament.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    /// Sessions played.
    pub sessions: u64,
    /// Scenarios played.
    pub scenarios: u64,
    /// Sessions that ended in an agreement.
    pub agreements: u64,
    /// Their share.
    pub agreement_rate: Option<f64>,
    /// Mean distance to the Pareto frontier over all sessions.
    pub mean_pareto_distance: Option<f64>,
    /// Mean distance to the Nash point over all sessions with one.
    pub mean_nash_distance: Option<f64>,
    /// Mean welfare over all sessions.
    pub mean_welfare: Option<f64>,
    /// Competitors, best first.
    pub ranking: Vec<Standing>,
    /// Head-to-head results.
    pub win_matrix: WinMatrix,
}

fn num(x: Option<f64>, digits: usize) -> String {
    x.map_or_else(|| "–".into(), |x| format!("{x:.digits$}"))
}

fn pct(x: Option<f64>) -> String {
    x.map_or_else(|| "–".into(), |x| format!("{:.0}%", 100.0 * x))
}

impl Summary {
    /// One sentence on who won and by how much.
    pub fn verdict(&self) -> String {
        let Some(first) = self.ranking.first() else {
            return "no competitor played".into();
        };
        let mut out = format!(
            "{} ranks first with a mean advantage of {} (95% CI {}), agreeing in {} of its sessions",
            first.negotiator,
            num(first.mean_advantage, 3),
            first
                .ci95
                .map_or_else(|| "–".into(), |[lo, hi]| format!("{lo:.3}–{hi:.3}")),
            pct(first.agreement_rate),
        );
        if let Some(second) = self.ranking.get(1) {
            let gap = first
                .mean_advantage
                .zip(second.mean_advantage)
                .map(|(a, b)| a - b);
            let separated = match (first.ci95, second.ci95) {
                (Some([lo, _]), Some([_, hi])) => lo > hi,
                _ => false,
            };
            let _ = write!(
                out,
                "; {} ahead of {} ({})",
                num(gap, 3),
                second.negotiator,
                if separated {
                    "the confidence intervals do not overlap"
                } else {
                    "the confidence intervals overlap: not a clear win"
                }
            );
        }
        out.push('.');
        out
    }

    /// The ranking as a table (Markdown; also readable as plain text).
    pub fn ranking_table(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "| rank | negotiator | roles | mean advantage | 95% CI | utility | agreements | head-to-head | Pareto dist. | Nash dist. | welfare |"
        );
        let _ = writeln!(
            out,
            "|---:|---|---:|---:|---|---:|---:|---:|---:|---:|---:|"
        );
        for s in &self.ranking {
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
                s.rank,
                s.negotiator,
                s.roles_played,
                num(s.mean_advantage, 4),
                s.ci95
                    .map_or_else(|| "–".into(), |[lo, hi]| format!("{lo:.4} – {hi:.4}")),
                num(s.mean_utility, 4),
                pct(s.agreement_rate),
                pct(s.head_to_head_win_rate),
                num(s.mean_pareto_distance, 4),
                num(s.mean_nash_distance, 4),
                num(s.mean_welfare, 4),
            );
        }
        out
    }

    /// The win matrix as a table: the share of meetings the row's competitor won.
    pub fn win_table(&self) -> String {
        let m = &self.win_matrix;
        let mut out = String::new();
        let _ = writeln!(
            out,
            "| wins of row over column | {} |",
            m.negotiators.join(" | ")
        );
        let _ = writeln!(out, "|---|{}", "---:|".repeat(m.negotiators.len()));
        for (a, name) in m.negotiators.iter().enumerate() {
            let cells: Vec<String> = (0..m.negotiators.len())
                .map(|b| {
                    if m.meetings[a][b] == 0 {
                        "–".into()
                    } else {
                        format!(
                            "{:.0}%",
                            100.0 * m.wins[a][b] as f64 / m.meetings[a][b] as f64
                        )
                    }
                })
                .collect();
            let _ = writeln!(out, "| {name} | {} |", cells.join(" | "));
        }
        out
    }

    /// The totals line.
    pub fn totals(&self) -> String {
        format!(
            "{} sessions on {} scenarios: {} agreements ({}), mean distance to the Pareto frontier {}, to Nash {}, mean welfare {}",
            self.sessions,
            self.scenarios,
            self.agreements,
            pct(self.agreement_rate),
            num(self.mean_pareto_distance, 4),
            num(self.mean_nash_distance, 4),
            num(self.mean_welfare, 4),
        )
    }

    /// The summary as a Markdown document.
    pub fn markdown(&self) -> String {
        format!(
            "# Tournament summary\n\n{}.\n\n{}\n\n## Ranking\n\nBy mean advantage: utility above the negotiator's own reservation value, over every role it played.\n\n{}\n## Head to head\n\nThe share of meetings in which the row's negotiator gained more over its reservation value than the column's.\n\n{}",
            self.totals(),
            self.verdict(),
            self.ranking_table(),
            self.win_table()
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn t_quantiles_are_close_to_the_tables() {
        // Published values of t(0.975).
        for (df, t) in [
            (11, 2.201),
            (20, 2.086),
            (30, 2.042),
            (60, 2.000),
            (120, 1.980),
        ] {
            assert!((t975(df) - t).abs() < 2e-3, "df {df}: {} vs {t}", t975(df));
        }
    }

    #[test]
    fn the_accumulator_does_not_depend_on_order() {
        let xs: Vec<f64> = (0..1000)
            .map(|i| ((i * 7919) % 1000) as f64 / 997.0)
            .collect();
        let mut a = Acc::default();
        let mut b = Acc::default();
        xs.iter().for_each(|&x| a.add(x));
        xs.iter().rev().for_each(|&x| b.add(x));
        assert_eq!(a.mean(), b.mean());
        assert_eq!(a.half_width(), b.half_width());
        let mean = xs.iter().sum::<f64>() / 1000.0;
        assert!((a.mean().unwrap_or(f64::NAN) - mean).abs() < 1e-9);
    }
}
