//! `--plot`: the outcome space drawn as SVG.
//!
//! Bilateral scenarios: the utility plane with the frontier, Nash, Kalai–Smorodinsky,
//! maximum welfare and the reservation lines. Multilateral: one panel per pair of
//! parties, each a projection of the frontier.

use std::path::Path;

use parley_core::analysis::Analysis;
use parley_core::Scenario;
use plotters::prelude::*;

const PANEL: u32 = 420;

/// Draws the analysis to an SVG file.
pub fn draw(scenario: &Scenario, analysis: &Analysis, path: &Path) -> anyhow::Result<()> {
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
        draw_pair(panel, scenario, analysis, a, b)?;
    }
    root.present()?;
    Ok(())
}

fn draw_pair(
    area: &DrawingArea<SVGBackend, plotters::coord::Shift>,
    scenario: &Scenario,
    analysis: &Analysis,
    a: usize,
    b: usize,
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
