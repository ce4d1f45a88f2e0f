//! The precision–recall curve of a threshold sweep, as an SVG.

use super::EvalError;
use super::sweep::SweepPoint;
use plotters::prelude::*;
use std::fmt::Display;
use std::path::Path;

const SIZE: (u32, u32) = (800, 600);

/// Draws precision (y) against recall (x), one marker per threshold,
/// labelled with the threshold and joined in threshold order. Points with a
/// non-finite value are left out. The y axis starts just below the lowest
/// precision, since useful thresholds live near the top.
pub fn plot_precision_recall(points: &[SweepPoint], path: &Path) -> Result<(), EvalError> {
    let fail = |e: &dyn Display| EvalError::Plot {
        path: path.to_path_buf(),
        message: e.to_string(),
    };
    let points = drawable(points);
    let root = SVGBackend::new(path, SIZE).into_drawing_area();
    root.fill(&WHITE).map_err(|e| fail(&e))?;
    let mut chart = ChartBuilder::on(&root)
        .caption(
            "AI merge precision vs recall by threshold",
            ("sans-serif", 20),
        )
        .margin(20)
        .x_label_area_size(40)
        .y_label_area_size(60)
        .build_cartesian_2d(0f64..1f64, y_floor(&points)..1f64)
        .map_err(|e| fail(&e))?;
    chart
        .configure_mesh()
        .x_desc("recall")
        .y_desc("precision")
        .draw()
        .map_err(|e| fail(&e))?;
    let coords: Vec<(f64, f64)> = points.iter().map(|p| (p.recall, p.precision)).collect();
    chart
        .draw_series(LineSeries::new(coords.iter().copied(), &BLUE))
        .map_err(|e| fail(&e))?;
    chart
        .draw_series(coords.iter().map(|&xy| Circle::new(xy, 3, BLUE.filled())))
        .map_err(|e| fail(&e))?;
    chart
        .draw_series(points.iter().map(|p| {
            let label = format!("{:.3}", p.threshold);
            Text::new(label, (p.recall, p.precision), ("sans-serif", 11))
        }))
        .map_err(|e| fail(&e))?;
    root.present().map_err(|e| fail(&e))
}

/// Finite points, sorted by threshold so the line follows the sweep.
fn drawable(points: &[SweepPoint]) -> Vec<&SweepPoint> {
    let mut kept: Vec<&SweepPoint> = points
        .iter()
        .filter(|p| p.threshold.is_finite() && p.precision.is_finite() && p.recall.is_finite())
        .collect();
    kept.sort_by(|a, b| a.threshold.total_cmp(&b.threshold));
    kept
}

/// The lowest precision rounded down to a 0.05 step, a little below it.
fn y_floor(points: &[&SweepPoint]) -> f64 {
    let lowest = points
        .iter()
        .map(|p| p.precision)
        .fold(1.0f64, f64::min)
        .clamp(0.0, 1.0);
    (((lowest - 0.02) * 20.0).floor() / 20.0).clamp(0.0, 0.95)
}
