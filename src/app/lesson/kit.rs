//! What every lesson is made of: a [`Run`] that narrates (text, `--json`,
//! `--step`) and holds the verdict, and [`Child`]ren (`app::child`) — this
//! same program started as a server or client — stopped when dropped, on a
//! failure, and on Ctrl-C (a signal thread here stops every one still running).

use crate::app::child;
pub use crate::app::child::{Child, Finished, forget, spawn_watched, wait_all, wait_until};
use anyhow::Context;
use serde_json::{Value, json};
use std::io::{IsTerminal, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// The temporary directory and whether events are JSON, for the Ctrl-C path.
static TMP: Mutex<Option<PathBuf>> = Mutex::new(None);
static JSON: AtomicBool = AtomicBool::new(false);

/// On SIGINT/SIGTERM/SIGHUP/SIGQUIT: kill every child's whole process group (a bench's
/// servers, a fork server's workers, strace, Python), remove the directory,
/// say so as the last event, and exit 128 + the signal (130 for Ctrl-C).
pub fn stop_all_on_signals() -> anyhow::Result<()> {
    use signal_hook::consts::{SIGHUP, SIGINT, SIGQUIT, SIGTERM};
    // SIGHUP too: the children lead groups of their own, so a closed terminal reaches only us.
    let mut signals = signal_hook::iterator::Signals::new([SIGINT, SIGTERM, SIGHUP, SIGQUIT])
        .context("cannot install signal handlers")?;
    std::thread::Builder::new().name("signals".into()).spawn(move || {
        if let Some(sig) = signals.forever().next() {
            child::kill_all();
            if let Some(dir) = TMP.lock().ok().and_then(|t| t.clone()) {
                let _ = std::fs::remove_dir_all(dir);
            }
            let text = "verdict: unexpected — interrupted; everything the lesson started was stopped";
            // The lock is held to the exit: no other event can follow this one.
            let mut out = std::io::stdout().lock();
            let _ = if JSON.load(Ordering::Relaxed) {
                writeln!(
                    out,
                    "{}",
                    json!({"step": 0, "t_ms": 0, "kind": "verdict", "text": text, "data": {"ok": false}})
                )
            } else {
                writeln!(out, "{text}")
            };
            let _ = out.flush();
            std::process::exit(128 + sig);
        }
    })?;
    Ok(())
}

/// How a lesson is told.
#[derive(Debug, Clone, Copy, Default)]
pub struct Telling {
    /// One JSON object per event.
    pub json: bool,
    /// Ask before each step and wait for Enter (only on a terminal).
    pub step: bool,
    /// `-v`: the children's socket calls (their `-vv` log) too.
    pub verbose: bool,
    /// The control experiment: the cause removed, so the effect must not appear.
    pub control: bool,
}

/// One lesson being run: its clock, its steps, its directory.
pub struct Run {
    telling: Telling,
    started: Instant,
    step: u32,
    tmp: tempfile::TempDir,
}

impl Run {
    pub fn new(telling: Telling) -> anyhow::Result<Run> {
        let tmp = tempfile::Builder::new()
            .prefix("netlab-lesson-")
            .tempdir()
            .context("cannot make a temporary directory")?;
        if let Ok(mut t) = TMP.lock() {
            *t = Some(tmp.path().to_path_buf());
        }
        JSON.store(telling.json, Ordering::Relaxed);
        Ok(Run {
            telling,
            started: Instant::now(),
            step: 0,
            tmp,
        })
    }

    /// The control experiment is running (the cause removed).
    pub fn control(&self) -> bool {
        self.telling.control
    }

    /// The lesson's temporary directory.
    pub fn dir(&self) -> &Path {
        self.tmp.path()
    }

    /// A path in the temporary directory.
    pub fn path(&self, name: &str) -> String {
        self.tmp.path().join(name).to_string_lossy().into_owned()
    }

    /// Milliseconds since the lesson began.
    pub fn ms(&self) -> u128 {
        self.started.elapsed().as_millis()
    }

    fn event(&self, kind: &str, text: &str, data: Value) {
        let mut out = std::io::stdout().lock();
        let line = if self.telling.json {
            json!({"step": self.step, "t_ms": self.ms(), "kind": kind, "text": text, "data": data}).to_string()
        } else {
            match kind {
                "start" => format!("\nstep {} [{:>6} ms] {text}", self.step, self.ms()),
                "verdict" => text.to_string(),
                _ => format!("       [{:>6} ms] {text}", self.ms()),
            }
        };
        let _ = writeln!(out, "{line}");
        let _ = out.flush();
    }

    /// A new step: what is about to happen; with `--step`, `question` is put
    /// to the learner first and Enter awaited.
    pub fn step(&mut self, text: &str, question: &str) {
        self.step += 1;
        self.event("start", text, Value::Null);
        if self.telling.step && std::io::stdin().is_terminal() && !self.telling.json {
            print!("       ? {question} (think, then press Enter) ");
            let _ = std::io::stdout().flush();
            let mut answer = String::new();
            let _ = std::io::stdin().read_line(&mut answer);
        }
    }

    /// Something seen, with its figures.
    pub fn observe(&self, text: &str, data: Value) {
        self.event("observe", text, data);
    }

    /// Something seen, no figures.
    pub fn say(&self, text: &str) {
        self.event("observe", text, Value::Null);
    }

    /// The last line; true when the effect happened.
    pub fn verdict(&self, ok: bool, text: &str) -> bool {
        let word = if ok { "ok" } else { "unexpected" };
        self.event("verdict", &format!("verdict: {word} — {text}"), json!({"ok": ok}));
        ok
    }

    /// The verdict told both ways: `seen: meaning` when ok, `seen, where the
    /// lesson expects expected` when not.
    pub fn judge(&self, ok: bool, seen: &str, meaning: &str, expected: &str) -> bool {
        if ok {
            self.verdict(true, &format!("{seen}: {meaning}"))
        } else {
            self.verdict(false, &format!("{seen}, where the lesson expects {expected}"))
        }
    }

    /// A child's arguments: under `lesson -v` it tells its socket calls too (-vv).
    fn argv(&self, args: &[&str]) -> Vec<String> {
        let calls = self.telling.verbose.then(|| "-vv".to_string());
        calls.into_iter().chain(args.iter().map(|a| a.to_string())).collect()
    }

    /// Starts `netlab ARGS` as a server (on `-p 0` unless ARGS say `--unix`
    /// or a port) and waits for its ready line.
    pub fn server(&self, args: &[&str]) -> anyhow::Result<Child> {
        let mut all = self.argv(args);
        if !args.iter().any(|a| matches!(*a, "--unix" | "-p" | "--port")) {
            all.extend(["-p".into(), "0".into()]);
        }
        self.say(&format!("start: netlab {}", all.join(" ")));
        let child = Child::server(&all, self.telling.verbose)?;
        let addr = child.addr.map(|a| a.to_string()).unwrap_or_default();
        self.say(&format!("server ready on {addr} (pid {})", child.pid()));
        Ok(child)
    }

    /// Runs `netlab ARGS` to its end (stdin from `input`), killed after `limit`.
    pub fn netlab(&self, args: &[&str], input: &[u8], limit: Duration) -> anyhow::Result<Finished> {
        let all = self.argv(args);
        let mut child = Child::spawn(&all, self.telling.verbose, Stdio::piped())?;
        child.finish(input, limit)
    }

    /// Starts `netlab ARGS` without waiting (a client that runs alongside others).
    pub fn start(&self, args: &[&str]) -> anyhow::Result<Child> {
        let all = self.argv(args);
        Child::spawn(&all, self.telling.verbose, Stdio::null())
    }
}

/// Seconds with two decimals, as the narration prints times.
pub fn secs(d: Duration) -> String {
    format!("{:.2} s", d.as_secs_f64())
}

/// `python3 -c CODE ARGS...`'s stdout: the independent reference (killed after 5 s).
pub fn python(code: &str, args: &[&str]) -> anyhow::Result<String> {
    let mut child = spawn_watched(
        Command::new("python3")
            .arg("-c")
            .arg(code)
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped()),
    )
    .context("python3 is the reference this lesson compares with")?;
    let (mut stdout, mut stderr) = (child.stdout.take(), child.stderr.take());
    // Its output is small: read to the end (the pipes close when it exits), with a time limit.
    let read = std::thread::spawn(move || {
        let (mut out, mut err) = (Vec::new(), Vec::new());
        if let Some(o) = stdout.as_mut() {
            let _ = o.take(1 << 20).read_to_end(&mut out);
        }
        if let Some(e) = stderr.as_mut() {
            let _ = e.take(1 << 20).read_to_end(&mut err);
        }
        (out, err)
    });
    let finished = wait_until(Duration::from_secs(5), || !matches!(child.try_wait(), Ok(None)));
    let status = child.try_wait().ok().flatten();
    forget(&mut child);
    anyhow::ensure!(finished, "python3 did not finish within 5 s");
    let (stdout, stderr) = read.join().unwrap_or_default();
    let out = std::process::Output {
        status: status.unwrap_or_default(),
        stdout,
        stderr,
    };
    let err = String::from_utf8_lossy(&out.stderr);
    anyhow::ensure!(out.status.success(), "python3 failed ({}): {}", out.status, err.trim());
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}
