//! Latency you can see: a histogram in the terminal, the percentile
//! distribution in wrk2's and HdrHistogram's `.hgrm` text, and an SVG plot
//! of latency by percentile (HdrHistogram's picture: a log axis of
//! 1/(1-p), so 50%, 90%, 99%, 99.9% and 99.99% are evenly spaced), one line
//! per run, with requests/s and p99 over time beneath it when intervals were
//! measured. All of it is made after the load, from the run's histogram.

use super::stats::{Latencies, human_us};
use plotters::prelude::*;
use std::fmt::Write as _;

/// Rows of the terminal histogram.
const ROWS: usize = 16;
/// The widest bar, so a row fits 80 columns with its label, count and marks.
const BAR: usize = 36;

/// A latency histogram for the terminal: log-spaced buckets from the fastest
/// to the slowest reply, bars scaled to the largest, the p50, p99 and p99.9
/// rows marked. At most 80 columns wide.
pub fn histogram_text(lat: &Latencies) -> String {
    let (min, max) = (lat.min_us(), lat.max_us());
    if lat.count() == 0 {
        return "  Latency histogram: no replies\n".to_string();
    }
    // Bucket i holds [min·r^i, min·r^(i+1)); r spans min..=max in ROWS steps.
    let ratio = ((max as f64 + 1.0) / min as f64).powf(1.0 / ROWS as f64).max(1.000_001);
    let bucket = |v: u64| (((v as f64 / min as f64).ln() / ratio.ln()) as usize).min(ROWS - 1);
    let mut counts = [0u64; ROWS];
    for (value, count) in lat.recorded() {
        if let Some(c) = counts.get_mut(bucket(value)) {
            *c += count;
        }
    }
    let marks = [("p50", 0.50), ("p99", 0.99), ("p99.9", 0.999)].map(|(name, q)| (name, bucket(lat.percentile_us(q))));
    let largest = counts.iter().copied().max().unwrap_or(1).max(1);
    let mut text = String::from("  Latency histogram (log-spaced buckets)\n");
    for (i, &count) in counts.iter().enumerate() {
        let low = (min as f64 * ratio.powi(i as i32)) as u64;
        let bar = "#".repeat(((count as f64 / largest as f64) * BAR as f64).ceil() as usize);
        let marked: Vec<&str> = marks.iter().filter(|(_, b)| *b == i).map(|(n, _)| *n).collect();
        let row = format!(
            "  {:>9} {:>9} |{:<BAR$} {}",
            format!("≥{}", human_us(low)),
            count,
            bar,
            marked.join(" ")
        );
        let _ = writeln!(text, "{}", row.trim_end());
    }
    text
}

/// The full percentile distribution in wrk2's and HdrHistogram's text
/// format (values in milliseconds), which HdrHistogram's plotter loads.
pub fn hgrm(lat: &Latencies) -> String {
    let mut text = format!(
        "{:>12} {:>14} {:>10} {:>14}\n\n",
        "Value", "Percentile", "TotalCount", "1/(1-Percentile)"
    );
    let mut total = 0u64;
    for (value_us, quantile, count) in lat.quantile_steps() {
        total += count;
        let ms = value_us as f64 / 1000.0;
        if quantile < 1.0 {
            let _ = writeln!(
                text,
                "{ms:12.3} {quantile:2.12} {total:10} {:14.2}",
                1.0 / (1.0 - quantile)
            );
        } else {
            let _ = writeln!(text, "{ms:12.3} {quantile:2.12} {total:10}");
        }
    }
    let _ = writeln!(
        text,
        "#[Mean    = {:12.3}, StdDeviation   = {:12.3}]",
        lat.mean_us() / 1000.0,
        lat.stdev_us() / 1000.0
    );
    let _ = writeln!(
        text,
        "#[Max     = {:12.3}, Total count    = {:12}]",
        lat.max_us() as f64 / 1000.0,
        lat.count()
    );
    let (buckets, sub_buckets) = lat.layout();
    let _ = writeln!(text, "#[Buckets = {buckets:12}, SubBuckets     = {sub_buckets:12}]");
    text
}

/// One line of the plot: a run's name and its latencies.
pub struct Series<'a> {
    /// The legend's text (a mode's name, or the protocol).
    pub label: String,
    /// The run's histogram.
    pub latencies: &'a Latencies,
}

/// One interval of a run, for the panels beneath the percentile plot.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct IntervalPoint {
    /// Seconds since the run began, at the interval's end.
    pub at_s: f64,
    /// Requests per second in the interval.
    pub rps: f64,
    /// The interval's p99, µs.
    pub p99_us: u64,
}

/// The percentiles plotted: from the median to 99.999%.
const QUANTILE_AXIS: (f64, f64) = (1.0, 100_000.0);

/// Latency by percentile as an SVG, one line per series, titled `title`;
/// with `intervals`, requests/s and p99 over time in two panels beneath.
///
/// # Errors
/// When plotters cannot lay the picture out (its message).
pub fn plot_svg(title: &str, series: &[Series<'_>], intervals: &[IntervalPoint]) -> Result<String, String> {
    let height = if intervals.is_empty() { 480 } else { 880 };
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (900, height)).into_drawing_area();
        root.fill(&WHITE).map_err(|e| e.to_string())?;
        let (top, bottom) = if intervals.is_empty() {
            (root.clone(), None)
        } else {
            let (t, b) = root.split_vertically(480);
            (t, Some(b))
        };
        percentile_chart(&top, title, series)?;
        if let Some(bottom) = bottom {
            let (rps, p99) = bottom.split_vertically(200);
            over_time(&rps, "requests/s per interval", intervals, |p| p.rps)?;
            over_time(&p99, "p99 per interval (ms)", intervals, |p| p.p99_us as f64 / 1000.0)?;
        }
        root.present().map_err(|e| e.to_string())?;
    }
    Ok(svg)
}

fn percentile_chart(
    area: &DrawingArea<SVGBackend<'_>, plotters::coord::Shift>,
    title: &str,
    series: &[Series<'_>],
) -> Result<(), String> {
    let top_ms = series.iter().map(|s| s.latencies.max_us()).max().unwrap_or(1).max(1) as f64 / 1000.0;
    let mut chart = ChartBuilder::on(area)
        .caption(title, ("sans-serif", 18))
        .margin(12)
        .margin_right(36)
        .x_label_area_size(40)
        .y_label_area_size(64)
        .build_cartesian_2d((QUANTILE_AXIS.0..QUANTILE_AXIS.1).log_scale(), 0.0..top_ms * 1.05)
        .map_err(|e| e.to_string())?;
    chart
        .configure_mesh()
        .x_desc("percentile")
        .y_desc("latency (ms)")
        .max_light_lines(2)
        .x_label_formatter(&|x| percent_label(*x))
        .draw()
        .map_err(|e| e.to_string())?;
    for (i, s) in series.iter().enumerate() {
        let color = Palette99::pick(i).to_rgba();
        let points: Vec<(f64, f64)> = s
            .latencies
            .quantile_steps()
            .into_iter()
            .filter(|(_, q, _)| *q < 1.0)
            .map(|(v, q, _)| {
                (
                    (1.0 / (1.0 - q)).clamp(QUANTILE_AXIS.0, QUANTILE_AXIS.1),
                    v as f64 / 1000.0,
                )
            })
            .collect();
        chart
            .draw_series(LineSeries::new(points, color.stroke_width(2)))
            .map_err(|e| e.to_string())?
            .label(s.label.clone())
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], color.stroke_width(2)));
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperLeft)
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .draw()
        .map_err(|e| e.to_string())
}

fn over_time(
    area: &DrawingArea<SVGBackend<'_>, plotters::coord::Shift>,
    what: &str,
    points: &[IntervalPoint],
    value: impl Fn(&IntervalPoint) -> f64,
) -> Result<(), String> {
    let end = points.iter().map(|p| p.at_s).fold(0.0, f64::max).max(0.001);
    let top = points.iter().map(&value).fold(0.0, f64::max).max(1e-9) * 1.1;
    let mut chart = ChartBuilder::on(area)
        .caption(what, ("sans-serif", 14))
        .margin(12)
        .x_label_area_size(30)
        .y_label_area_size(64)
        .build_cartesian_2d(0.0..end, 0.0..top)
        .map_err(|e| e.to_string())?;
    chart
        .configure_mesh()
        .x_desc("seconds")
        .max_light_lines(2)
        .draw()
        .map_err(|e| e.to_string())?;
    let line: Vec<(f64, f64)> = points.iter().map(|p| (p.at_s, value(p))).collect();
    chart
        .draw_series(LineSeries::new(line, BLUE.stroke_width(2)))
        .map_err(|e| e.to_string())?;
    Ok(())
}

/// An x position on the 1/(1-p) axis as the percentile it stands for.
fn percent_label(x: f64) -> String {
    let p = 100.0 * (1.0 - 1.0 / x.max(1.0));
    let text = format!("{p:.5}");
    let text = text.trim_end_matches('0').trim_end_matches('.');
    format!("{text}%")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn sample() -> Latencies {
        let mut lat = Latencies::new();
        for i in 1..=10_000u64 {
            lat.record(Duration::from_micros(
                50 + i % 200 + if i % 1000 == 0 { 20_000 } else { 0 },
            ));
        }
        lat
    }

    #[test]
    fn the_terminal_histogram_fits_80_columns_and_marks_the_percentiles() {
        let text = histogram_text(&sample());
        assert!(text.lines().all(|l| l.chars().count() <= 80), "{text}");
        for mark in ["p50", "p99", "p99.9"] {
            assert!(text.contains(mark), "{mark} in\n{text}");
        }
        let counted: u64 = text
            .lines()
            .skip(1)
            .filter_map(|l| l.split_whitespace().nth(1)?.parse::<u64>().ok())
            .sum();
        assert_eq!(counted, 10_000);
        assert!(histogram_text(&Latencies::new()).contains("no replies"));
    }

    #[test]
    fn hgrm_rows_rise_to_the_total() {
        let text = hgrm(&sample());
        let rows: Vec<Vec<f64>> = text
            .lines()
            .skip(2)
            .take_while(|l| !l.starts_with('#'))
            .map(|l| l.split_whitespace().filter_map(|w| w.parse().ok()).collect())
            .collect();
        assert!(rows.len() > 20);
        assert!(rows.windows(2).all(|w| w[0][0] <= w[1][0] && w[0][1] <= w[1][1]));
        assert_eq!(rows.last().map(|r| r[2]), Some(10_000.0));
        assert!(text.contains("#[Max     =") && text.contains("Total count    =        10000]"));
    }

    #[test]
    fn percent_labels() {
        assert_eq!(percent_label(2.0), "50%");
        assert_eq!(percent_label(1000.0), "99.9%");
        assert_eq!(percent_label(1.0), "0%");
    }

    #[test]
    fn the_svg_has_one_line_per_series() {
        let (a, b) = (sample(), Latencies::new());
        let series = [
            Series {
                label: "poll".into(),
                latencies: &a,
            },
            Series {
                label: "thread".into(),
                latencies: &b,
            },
        ];
        let points = [
            IntervalPoint {
                at_s: 1.0,
                rps: 10.0,
                p99_us: 100,
            },
            IntervalPoint {
                at_s: 2.0,
                rps: 12.0,
                p99_us: 90,
            },
        ];
        let svg = plot_svg("a title", &series, &points).expect("plot");
        assert!(svg.starts_with("<svg") && svg.trim_end().ends_with("</svg>"));
        assert!(svg.contains("a title") && svg.contains("poll") && svg.contains("99.9%"));
    }
}
