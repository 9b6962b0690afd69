//! `bench --hist`, `--hgrm FILE`, `--plot FILE.svg`: the files are created
//! before the load starts (a path that cannot be written is a usage error
//! then, never after a long run), and filled after it.

use crate::cli::BenchArgs;
use netlab::bench::picture::{self, IntervalPoint, Series};
use netlab::bench::stats::Summary;
use netlab::error::UsageError;
use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};

/// The pictures a run asked for, with their files already open.
pub struct Pictures {
    hist: bool,
    hgrm: Vec<(String, PathBuf, File)>,
    plot: Option<(PathBuf, File)>,
    /// Requests/s and p99 of each interval, for the plot's lower panels.
    pub intervals: Vec<IntervalPoint>,
}

fn create(path: &Path) -> Result<File, UsageError> {
    File::create(path).map_err(|e| UsageError(format!("cannot write '{}': {e}", path.display())))
}

/// `FILE.hgrm` for one run; `FILE.MODE.hgrm` for each mode of a comparison.
fn hgrm_path(path: &Path, mode: Option<&str>) -> PathBuf {
    match mode {
        None => path.to_path_buf(),
        Some(mode) => {
            let stem = path
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_default();
            let ext = path
                .extension()
                .map(|e| e.to_string_lossy().into_owned())
                .unwrap_or_else(|| "hgrm".into());
            path.with_file_name(format!("{stem}.{mode}.{ext}"))
        }
    }
}

impl Pictures {
    /// Opens the files `args` names; `modes` names the runs of a comparison.
    ///
    /// # Errors
    /// A [`UsageError`] for a path that cannot be written.
    pub fn open(args: &BenchArgs, modes: &[&str]) -> Result<Pictures, UsageError> {
        let mut hgrm = Vec::new();
        if let Some(path) = &args.hgrm {
            let names: Vec<Option<&str>> = if modes.is_empty() {
                vec![None]
            } else {
                modes.iter().map(|m| Some(*m)).collect()
            };
            for mode in names {
                let p = hgrm_path(path, mode);
                let file = create(&p)?;
                hgrm.push((mode.unwrap_or_default().to_string(), p, file));
            }
        }
        let plot = match &args.plot {
            Some(path) => Some((path.clone(), create(path)?)),
            None => None,
        };
        Ok(Pictures {
            hist: args.hist,
            hgrm,
            plot,
            intervals: Vec::new(),
        })
    }

    /// Whether anything is asked for at all.
    pub fn any(&self) -> bool {
        self.hist || !self.hgrm.is_empty() || self.plot.is_some()
    }

    /// Writes what was asked for from the runs (a mode's name and its summary,
    /// or one run with an empty name); the histogram goes to stdout, or to
    /// stderr when stdout carries JSON.
    pub fn finish(&mut self, runs: &[(String, &Summary)], args: &BenchArgs) -> anyhow::Result<()> {
        if self.hist {
            for (name, s) in runs {
                let mut text = String::new();
                if !name.is_empty() {
                    text.push_str(&format!("{name}:\n"));
                }
                text.push_str(&picture::histogram_text(&s.latencies));
                if args.json {
                    netlab::logging::stderr_line(text.trim_end());
                } else {
                    super::Out::new().line(text.trim_end().as_bytes())?;
                }
            }
        }
        for (mode, path, file) in &mut self.hgrm {
            if let Some((_, s)) = runs.iter().find(|(name, _)| name == mode) {
                file.write_all(picture::hgrm(&s.latencies).as_bytes())?;
                tracing::info!(path = %path.display(), "percentile distribution written");
            }
        }
        if let Some((path, file)) = &mut self.plot {
            let series: Vec<Series<'_>> = runs
                .iter()
                .map(|(name, s)| Series {
                    label: if name.is_empty() { s.proto.clone() } else { name.clone() },
                    latencies: &s.latencies,
                })
                .collect();
            let title = runs.first().map(|(_, s)| title(s, args)).unwrap_or_default();
            let svg = picture::plot_svg(&title, &series, &self.intervals).map_err(anyhow::Error::msg)?;
            file.write_all(svg.as_bytes())?;
            tracing::info!(path = %path.display(), "plot written");
        }
        Ok(())
    }
}

/// What the run was, for the plot's title.
fn title(s: &Summary, args: &BenchArgs) -> String {
    let load = match args.rate {
        Some(r) => format!("open loop at {r:.0}/s"),
        None => "closed loop".to_string(),
    };
    let what = match s.proto.as_str() {
        "http" => format!("GET {}", args.path),
        "rpc" => "addtogether(1..5)".to_string(),
        _ => format!("{} B requests", s.size),
    };
    format!(
        "netlab bench: {}, {} conns, {load}, {what}, {:.1} s{}",
        s.proto,
        s.conns,
        s.duration_s,
        if args.compare_modes { ", every mode" } else { "" }
    )
}
