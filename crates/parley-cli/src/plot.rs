//! `--plot`: the outcome space drawn as SVG.
//!
//! Bilateral scenarios: the utility plane with the frontier, Nash, Kalai–Smorodinsky,
//! maximum welfare and the reservation lines; when what walking away is worth changes
//! over time, the walk-away lines of every moment of the zone of agreement and of the
//! time it closes, light to dark. Multilateral: one panel per pair of parties, each a
//! projection of the frontier.

use std::path::Path;

use parley_core::analysis::Analysis;
use parley_core::Scenario;
use plotters::coord::types::RangedCoordf64;
use plotters::prelude::*;

const PANEL: u32 = 420;

/// Agreements of many sessions, to draw over the analysis.
pub struct Agreements {
    /// Each agreement's utilities and the index of the series it belongs to.
    pub points: Vec<(Vec<f64>, usize)>,
    /// The series' names.
    pub series: Vec<String>,
}

/// Draws the analysis to an SVG file.
pub fn draw(scenario: &Scenario, analysis: &Analysis, path: &Path) -> anyhow::Result<()> {
    draw_with(scenario, analysis, None, path)
}

/// Draws the analysis and, if given, agreements over it.
pub fn draw_with(
    scenario: &Scenario,
    analysis: &Analysis,
    agreements: Option<&Agreements>,
    path: &Path,
) -> anyhow::Result<()> {
    let n = scenario.n_parties();
    let pairs: Vec<(usize, usize)> = (0..n)
        .flat_map(|i| (i + 1..n).map(move |j| (i, j)))
        .collect();
    if pairs.is_empty() {
        anyhow::bail!("a plot needs at least two parties");
    }
    let pairs: Vec<(usize, usize)> = pairs.into_iter().take(36).collect();
    let cols = (pairs.len() as f64).sqrt().ceil() as u32;
    let rows = (pairs.len() as u32).div_ceil(cols);
    let root = SVGBackend::new(path, (PANEL * cols, PANEL * rows + 30)).into_drawing_area();
    root.fill(&WHITE)?;
    let (title, body) = root.split_vertically(30);
    title.titled(
        &format!(
            "{} — {} frontier points",
            scenario.name(),
            analysis.pareto.len()
        ),
        ("sans-serif", 18),
    )?;
    let panels = body.split_evenly((rows as usize, cols as usize));
    for (panel, &(a, b)) in panels.iter().zip(&pairs) {
        draw_pair(panel, scenario, analysis, agreements, (a, b))?;
    }
    root.present()?;
    Ok(())
}

fn draw_pair(
    area: &DrawingArea<SVGBackend, plotters::coord::Shift>,
    scenario: &Scenario,
    analysis: &Analysis,
    agreements: Option<&Agreements>,
    (a, b): (usize, usize),
) -> anyhow::Result<()> {
    let parties = scenario.parties();
    let mut chart = ChartBuilder::on(area)
        .margin(12)
        .x_label_area_size(36)
        .y_label_area_size(44)
        .build_cartesian_2d(0f64..1.02f64, 0f64..1.02f64)?;
    chart
        .configure_mesh()
        .x_desc(format!("utility of {}", parties[a].name))
        .y_desc(format!("utility of {}", parties[b].name))
        .light_line_style(RGBColor(235, 235, 235))
        .draw()?;

    let mut front: Vec<(f64, f64)> = analysis
        .pareto
        .iter()
        .map(|p| (p.utilities[a], p.utilities[b]))
        .collect();
    front.sort_by(|x, y| x.0.total_cmp(&y.0));
    let blue = RGBColor(31, 119, 180);
    if scenario.n_parties() == 2 {
        chart.draw_series(LineSeries::new(front.iter().copied(), blue.stroke_width(1)))?;
    }
    chart
        .draw_series(
            front
                .iter()
                .map(|&(x, y)| Circle::new((x, y), 3, blue.filled())),
        )?
        .label("Pareto frontier")
        .legend(move |(x, y)| Circle::new((x, y), 3, blue.filled()));

    if scenario.n_parties() == 2 && crate::commands::analyze::walk_away_varies(scenario) {
        draw_moving_walk_away(&mut chart, scenario, analysis, (a, b))?;
    } else {
        let (ra, rb) = (analysis.reserved[a], analysis.reserved[b]);
        let grey = RGBColor(120, 120, 120);
        chart
            .draw_series(LineSeries::new(
                vec![(ra, 0.0), (ra, 1.02)],
                grey.stroke_width(1),
            ))?
            .label("reservation values")
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 16, y)], grey));
        chart.draw_series(LineSeries::new(
            vec![(0.0, rb), (1.02, rb)],
            grey.stroke_width(1),
        ))?;
    }

    if let Some(agreements) = agreements {
        for (k, name) in agreements.series.iter().enumerate() {
            let color = Palette99::pick(k).to_rgba();
            chart
                .draw_series(
                    agreements
                        .points
                        .iter()
                        .filter(|(_, s)| *s == k)
                        .map(|(u, _)| Circle::new((u[a], u[b]), 4, color.mix(0.6).filled())),
                )?
                .label(name.clone())
                .legend(move |(x, y)| Circle::new((x, y), 4, color.filled()));
        }
    }

    // Distinct shapes, so that points that coincide (Nash and KS often do) stay visible.
    let red = RGBColor(214, 39, 40);
    let green = RGBColor(44, 160, 44);
    let purple = RGBColor(148, 103, 189);
    if let Some(p) = &analysis.max_welfare {
        let at = (p.utilities[a], p.utilities[b]);
        chart
            .draw_series(std::iter::once(Cross::new(at, 8, purple.stroke_width(3))))?
            .label("max welfare")
            .legend(move |(x, y)| Cross::new((x, y), 5, purple.stroke_width(2)));
    }
    if let Some(p) = &analysis.kalai_smorodinsky {
        let at = (p.utilities[a], p.utilities[b]);
        chart
            .draw_series(std::iter::once(TriangleMarker::new(at, 7, green.filled())))?
            .label("Kalai–Smorodinsky")
            .legend(move |(x, y)| TriangleMarker::new((x, y), 5, green.filled()));
    }
    if let Some(p) = &analysis.nash {
        let at = (p.utilities[a], p.utilities[b]);
        chart
            .draw_series(std::iter::once(Circle::new(at, 10, red.stroke_width(2))))?
            .label("Nash")
            .legend(move |(x, y)| Circle::new((x, y), 5, red.stroke_width(2)));
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::LowerLeft)
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK.mix(0.3))
        .draw()?;
    Ok(())
}

/// At most this many moments get a legend entry (the first, the last, and evenly
/// spaced ones between).
const MAX_MOMENT_LABELS: usize = 6;

/// One set of walk-away lines to draw: a moment of the zone, or the time it closes.
struct Stop {
    t: f64,
    reserved: (f64, f64),
    state: &'static str,
    closed: bool,
}

/// The walk-away lines of every moment of the zone of agreement and of the time it
/// closes (where they touch the frontier), coloured from light (t = 0) to dark
/// (t = 1); dashed at moments when the zone is closed. Consecutive moments with the
/// same lines are drawn once ("t=0–0.5"), and a party whose walk-away value never
/// changes gets one grey line, as in a static plot.
fn draw_moving_walk_away(
    chart: &mut ChartContext<SVGBackend, Cartesian2d<RangedCoordf64, RangedCoordf64>>,
    scenario: &Scenario,
    analysis: &Analysis,
    (a, b): (usize, usize),
) -> anyhow::Result<()> {
    let zone = &analysis.zone;
    let mut stops: Vec<Stop> = zone
        .moments
        .iter()
        .map(|m| Stop {
            t: m.t,
            reserved: (m.reserved[a], m.reserved[b]),
            state: if m.nash.is_none() {
                " (zone closed)"
            } else {
                ""
            },
            closed: m.nash.is_none(),
        })
        .collect();
    if let Some(t) = zone.closes_at.filter(|&t| t > 0.0) {
        if !stops.iter().any(|s| (s.t - t).abs() <= 1e-9) {
            let parties = scenario.parties();
            let at = stops.partition_point(|s| s.t < t);
            stops.insert(
                at,
                Stop {
                    t,
                    reserved: (parties[a].reservation_at(t), parties[b].reservation_at(t)),
                    state: " (zone closes)",
                    closed: false,
                },
            );
        }
    }
    let same = |x: f64, y: f64| (x - y).abs() <= 1e-12;
    let a_constant = stops
        .iter()
        .all(|s| same(s.reserved.0, stops[0].reserved.0));
    let b_constant = stops
        .iter()
        .all(|s| same(s.reserved.1, stops[0].reserved.1));
    let vertical = |x: f64| vec![(x, 0.0), (x, 1.02)];
    let horizontal = |y: f64| vec![(0.0, y), (1.02, y)];

    let grey = RGBColor(120, 120, 120);
    let mut fixed = Vec::new();
    if a_constant {
        fixed.push(vertical(stops[0].reserved.0));
    }
    if b_constant {
        fixed.push(horizontal(stops[0].reserved.1));
    }
    for (idx, line) in fixed.into_iter().enumerate() {
        let series = chart.draw_series(LineSeries::new(line, grey.stroke_width(1)))?;
        if idx == 0 {
            series
                .label("reservation value (constant)")
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 16, y)], grey));
        }
    }

    // Runs of consecutive stops whose lines coincide: (first, last) indices.
    let mut runs: Vec<(usize, usize)> = Vec::new();
    for (k, stop) in stops.iter().enumerate() {
        match runs.last_mut() {
            Some((first, last))
                if same(stop.reserved.0, stops[*first].reserved.0)
                    && same(stop.reserved.1, stops[*first].reserved.1)
                    && stop.state == stops[*first].state =>
            {
                *last = k;
            }
            _ => runs.push((k, k)),
        }
    }
    let label_every = runs.len().div_ceil(MAX_MOMENT_LABELS).max(1);
    for (run_idx, &(first, last)) in runs.iter().enumerate() {
        let stop = &stops[first];
        let color = ramp(stop.t);
        let mut lines = Vec::new();
        if !a_constant {
            lines.push(vertical(stop.reserved.0));
        }
        if !b_constant {
            lines.push(horizontal(stop.reserved.1));
        }
        let labelled =
            run_idx % label_every == 0 || run_idx + 1 == runs.len() || !stop.state.is_empty();
        for (idx, line) in lines.into_iter().enumerate() {
            let series = if stop.closed {
                chart.draw_series(DashedLineSeries::new(line, 6, 4, color.stroke_width(2)))?
            } else {
                chart.draw_series(LineSeries::new(line, color.stroke_width(2)))?
            };
            if idx == 0 && labelled {
                let when = if first == last {
                    short(stop.t)
                } else {
                    format!("{}–{}", short(stop.t), short(stops[last].t))
                };
                series
                    .label(format!("walk-away at t={when}{}", stop.state))
                    .legend(move |(x, y)| {
                        PathElement::new(vec![(x, y), (x + 16, y)], color.stroke_width(2))
                    });
            }
        }
    }
    Ok(())
}

/// Light orange at 0 to dark brown at 1.
fn ramp(x: f64) -> RGBColor {
    let (light, dark) = ((253.0, 190.0, 133.0), (127.0, 39.0, 4.0));
    let mix = |l: f64, d: f64| (l + (d - l) * x.clamp(0.0, 1.0)).round() as u8;
    RGBColor(
        mix(light.0, dark.0),
        mix(light.1, dark.1),
        mix(light.2, dark.2),
    )
}

/// A time with at most three decimals and no trailing zeros: 0, 0.5, 0.714.
fn short(t: f64) -> String {
    let text = format!("{t:.3}");
    text.trim_end_matches('0').trim_end_matches('.').to_string()
}

/// Draws a tournament's ranking: each competitor's mean advantage with its 95%
/// confidence interval, best at the top.
pub fn draw_ranking(summary: &parley_tournament::Summary, path: &Path) -> anyhow::Result<()> {
    let rows: Vec<(String, f64, Option<[f64; 2]>)> = summary
        .ranking
        .iter()
        .filter_map(|s| s.mean_advantage.map(|m| (s.negotiator.clone(), m, s.ci95)))
        .collect();
    if rows.is_empty() {
        anyhow::bail!("nothing to plot: no competitor played");
    }
    let lo = rows
        .iter()
        .map(|(_, m, ci)| ci.map_or(*m, |c| c[0]))
        .fold(0.0f64, f64::min);
    let hi = rows
        .iter()
        .map(|(_, m, ci)| ci.map_or(*m, |c| c[1]))
        .fold(0.0f64, f64::max);
    let pad = ((hi - lo) * 0.05).max(0.01);
    let height = 80 + 34 * rows.len() as u32;
    let root = SVGBackend::new(path, (720, height)).into_drawing_area();
    root.fill(&WHITE)?;
    let n = rows.len();
    let mut chart = ChartBuilder::on(&root)
        .caption(
            format!(
                "Ranking by mean advantage over reservation ({} sessions)",
                summary.sessions
            ),
            ("sans-serif", 18),
        )
        .margin(12)
        .x_label_area_size(36)
        .y_label_area_size(10)
        .build_cartesian_2d((lo - pad)..(hi + pad), 0f64..n as f64)?;
    chart
        .configure_mesh()
        .disable_y_mesh()
        .disable_y_axis()
        .x_desc("mean utility above reservation value, with its 95% confidence interval")
        .light_line_style(RGBColor(235, 235, 235))
        .draw()?;
    let blue = RGBColor(31, 119, 180);
    for (k, (name, mean, ci)) in rows.iter().enumerate() {
        // Best at the top.
        let y = (n - 1 - k) as f64;
        let bar = Rectangle::new([(0.0, y + 0.2), (*mean, y + 0.8)], blue.mix(0.45).filled());
        chart.draw_series(std::iter::once(bar))?;
        if let Some([l, h]) = ci {
            chart.draw_series(LineSeries::new(
                vec![(*l, y + 0.5), (*h, y + 0.5)],
                BLACK.stroke_width(2),
            ))?;
            for x in [*l, *h] {
                chart.draw_series(LineSeries::new(
                    vec![(x, y + 0.35), (x, y + 0.65)],
                    BLACK.stroke_width(2),
                ))?;
            }
        }
        let label = format!("{}. {name}  {mean:.3}", k + 1);
        chart.draw_series(std::iter::once(Text::new(
            label,
            (lo - pad * 0.9, y + 0.62),
            ("sans-serif", 14).into_font(),
        )))?;
    }
    root.present()?;
    Ok(())
}
