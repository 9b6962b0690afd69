//! What every lesson is made of: a [`Run`] that narrates (text, `--json`,
//! `--step`) and holds the verdict, and [`Child`]ren — this same program
//! started as a server or client — that are stopped when dropped, on a
//! failure, and on Ctrl-C (a signal thread stops every one still running).

use anyhow::Context;
use serde_json::{Value, json};
use std::io::{BufRead, BufReader, IsTerminal, Read, Write};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, Instant};

/// How much of a child's output is kept.
const KEEP: usize = 8 << 20;

/// How long a server may take to print its ready line (a loaded machine).
const READY_WITHIN: Duration = Duration::from_secs(10);

/// Children still running (each the leader of its own process group), for
/// the Ctrl-C path; the temporary directory; whether events are JSON.
static LIVE: Mutex<Vec<u32>> = Mutex::new(Vec::new());
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
            for pid in LIVE.lock().map(|l| l.clone()).unwrap_or_default() {
                kill_group(pid, nix::sys::signal::Signal::SIGKILL);
            }
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

fn kill(pid: u32, sig: nix::sys::signal::Signal) {
    if let Ok(raw) = i32::try_from(pid) {
        let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(raw), sig);
    }
}

/// `sig` to the process group `pid` leads.
fn kill_group(pid: u32, sig: nix::sys::signal::Signal) {
    if let Ok(raw) = i32::try_from(pid) {
        let _ = nix::sys::signal::killpg(nix::unistd::Pid::from_raw(raw), sig);
    }
}

/// Starts `cmd` as the leader of a process group of its own, remembered so
/// that Ctrl-C stops it and everything it starts; [`forget`] it once it is
/// stopped.
pub fn spawn_watched(cmd: &mut Command) -> std::io::Result<std::process::Child> {
    use std::os::unix::process::CommandExt as _;
    let child = cmd.process_group(0).spawn()?;
    if let Ok(mut live) = LIVE.lock() {
        live.push(child.id());
    }
    Ok(child)
}

/// Stops what is left of `child`'s process group (SIGKILL) and forgets it.
pub fn forget(child: &mut std::process::Child) {
    let pid = child.id();
    kill_group(pid, nix::sys::signal::Signal::SIGKILL);
    let _ = child.wait();
    if let Ok(mut live) = LIVE.lock() {
        live.retain(|p| *p != pid);
    }
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

    /// Starts `netlab ARGS` as a server (on `-p 0` unless ARGS say `--unix`
    /// or a port) and waits for its ready line.
    pub fn server(&self, args: &[&str]) -> anyhow::Result<Child> {
        let mut all: Vec<String> = args.iter().map(|a| a.to_string()).collect();
        if !args.iter().any(|a| matches!(*a, "--unix" | "-p" | "--port")) {
            all.extend(["-p".into(), "0".into()]);
        }
        self.say(&format!("start: netlab {}", all.join(" ")));
        let mut child = Child::spawn(&all, self.telling.verbose, Stdio::null())?;
        let line = child.ready.recv_timeout(READY_WITHIN).unwrap_or_default();
        let addr = netlab::ready::parse(&line).map(str::to_string);
        let Some(addr) = addr else {
            anyhow::bail!("no ready line from netlab {}: {}", all.join(" "), child.log());
        };
        self.say(&format!("server ready on {addr} (pid {})", child.pid()));
        child.addr = addr.parse().ok();
        Ok(child)
    }

    /// Runs `netlab ARGS` to its end (stdin from `input`), killed after `limit`.
    pub fn netlab(&self, args: &[&str], input: &[u8], limit: Duration) -> anyhow::Result<Finished> {
        let all: Vec<String> = args.iter().map(|a| a.to_string()).collect();
        let mut child = Child::spawn(&all, self.telling.verbose, Stdio::piped())?;
        child.finish(input, limit)
    }

    /// Starts `netlab ARGS` without waiting (a client that runs alongside others).
    pub fn start(&self, args: &[&str]) -> anyhow::Result<Child> {
        let all: Vec<String> = args.iter().map(|a| a.to_string()).collect();
        Child::spawn(&all, self.telling.verbose, Stdio::null())
    }
}

/// What a finished child printed.
pub struct Finished {
    pub status: Option<ExitStatus>,
    pub stdout: String,
    pub stderr: String,
    /// How long it ran.
    pub took: Duration,
}

impl Finished {
    /// Its exit code (-1 when killed).
    pub fn code(&self) -> i32 {
        self.status.and_then(|s| s.code()).unwrap_or(-1)
    }
}

/// This program, started by a lesson; stopped when dropped.
pub struct Child {
    child: std::process::Child,
    /// The server's address (from its ready line).
    pub addr: Option<SocketAddr>,
    ready: mpsc::Receiver<String>,
    out: Arc<Mutex<String>>,
    err: Arc<Mutex<String>>,
    started: Instant,
    ended: Option<Instant>,
}

impl Child {
    fn spawn(args: &[String], relay: bool, stdin: Stdio) -> anyhow::Result<Child> {
        let exe = std::env::current_exe().context("cannot find this program")?;
        // `lesson -v`: every child tells its socket calls (-vv), relayed to our stderr.
        let calls: &[&str] = if relay { &["-vv"] } else { &[] };
        let mut child = spawn_watched(
            Command::new(exe)
                .args(calls)
                .args(args)
                .stdin(stdin)
                .stdout(Stdio::piped())
                .stderr(Stdio::piped()),
        )
        .with_context(|| format!("cannot start netlab {}", args.join(" ")))?;
        let (tx, ready) = mpsc::channel();
        let out = Arc::new(Mutex::new(String::new()));
        let err = Arc::new(Mutex::new(String::new()));
        let who = args.iter().take(2).cloned().collect::<Vec<_>>().join(" ");
        if let Some(stdout) = child.stdout.take() {
            collect(stdout, Arc::clone(&out), Some(tx), None);
        }
        if let Some(stderr) = child.stderr.take() {
            collect(stderr, Arc::clone(&err), None, relay.then_some(who));
        }
        Ok(Child {
            child,
            addr: None,
            ready,
            out,
            err,
            started: Instant::now(),
            ended: None,
        })
    }

    /// Seconds from `began` until it exited (as seen by [`Child::finish`]).
    pub fn finished_after(&self, began: Instant) -> f64 {
        self.ended.map_or(f64::NAN, |e| e.duration_since(began).as_secs_f64())
    }

    /// Its process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The port it listens on.
    pub fn port(&self) -> u16 {
        self.addr.map_or(0, |a| a.port())
    }

    /// `-p PORT` for a client of this server.
    pub fn port_arg(&self) -> String {
        self.port().to_string()
    }

    /// Its stderr so far.
    pub fn log(&self) -> String {
        self.err.lock().map(|s| s.clone()).unwrap_or_default()
    }

    /// Its stdout so far.
    pub fn stdout(&self) -> String {
        self.out.lock().map(|s| s.clone()).unwrap_or_default()
    }

    /// Waits until its stderr holds `needle` (at most `limit`).
    pub fn wait_log(&self, needle: &str, limit: Duration) -> bool {
        wait_until(limit, || self.log().contains(needle))
    }

    /// Writes `input` to its stdin, closes it, and waits for the end (killed after `limit`).
    pub fn finish(&mut self, input: &[u8], limit: Duration) -> anyhow::Result<Finished> {
        if let Some(mut stdin) = self.child.stdin.take() {
            let input = input.to_vec();
            std::thread::spawn(move || {
                let _ = stdin.write_all(&input);
            });
        }
        let status = self.wait(limit);
        // The readers end with the pipes: give them a moment to copy the last bytes.
        wait_until(Duration::from_secs(2), || {
            Arc::strong_count(&self.err) == 1 && Arc::strong_count(&self.out) == 1
        });
        Ok(Finished {
            status,
            stdout: self.stdout(),
            stderr: self.log(),
            took: self.started.elapsed(),
        })
    }

    /// Whether it has exited (noting when, the first time it is seen).
    pub fn exited(&mut self) -> bool {
        match self.child.try_wait() {
            Ok(Some(_)) => {
                self.ended.get_or_insert_with(Instant::now);
                true
            }
            Ok(None) => false,
            Err(_) => true,
        }
    }

    /// Waits for it to exit, killing it after `limit`.
    pub fn wait(&mut self, limit: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + limit;
        loop {
            match self.child.try_wait() {
                Ok(Some(status)) => {
                    self.ended.get_or_insert_with(Instant::now);
                    return Some(status);
                }
                Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(5)),
                _ => {
                    let _ = self.child.kill();
                    let _ = self.child.wait();
                    return None;
                }
            }
        }
    }

    /// Sends `sig` (SIGTERM to stop, SIGINT as Ctrl-C, SIGSTOP/SIGCONT).
    pub fn signal(&self, sig: nix::sys::signal::Signal) {
        kill(self.child.id(), sig);
    }

    /// SIGTERM, then its stderr once it has exited.
    pub fn stop(mut self) -> String {
        self.signal(nix::sys::signal::Signal::SIGTERM);
        self.wait(Duration::from_secs(5));
        wait_until(Duration::from_secs(2), || Arc::strong_count(&self.err) == 1);
        self.log()
    }
}

impl Drop for Child {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            self.signal(nix::sys::signal::Signal::SIGTERM);
            self.wait(Duration::from_secs(5));
        }
        // Whatever it started and left behind (a fork server's children) goes too.
        forget(&mut self.child);
    }
}

/// Copies a child's output into `into`, the first line to `ready`, each line
/// to our stderr when `relay` names the child (`-v`).
fn collect(
    from: impl Read + Send + 'static,
    into: Arc<Mutex<String>>,
    mut ready: Option<mpsc::Sender<String>>,
    relay: Option<String>,
) {
    std::thread::spawn(move || {
        let mut lines = BufReader::new(from);
        let mut raw = Vec::new();
        // Bytes, not text: a child may print any byte (shown lossily).
        while matches!(lines.read_until(b'\n', &mut raw), Ok(n) if n > 0) {
            let line = String::from_utf8_lossy(&raw).into_owned();
            raw.clear();
            // Only the first line can be the ready line.
            if let Some(tx) = ready.take() {
                let _ = tx.send(line.clone());
            }
            if let Some(who) = &relay {
                eprint!("         | {who}: {line}");
            }
            if let Ok(mut all) = into.lock() {
                // Kept up to a bound; past it the child's words are dropped, not its pipe.
                if all.len() < KEEP {
                    all.push_str(&line);
                }
            }
        }
    });
}

/// Waits until every child has exited (each exit timed as it happens), at most `limit`.
pub fn wait_all(children: &mut [Child], limit: Duration) -> bool {
    wait_until(limit, || {
        let mut all = true;
        for c in children.iter_mut() {
            all &= c.exited();
        }
        all
    })
}

/// Polls `done` every 5 ms until it holds or `limit` passes.
pub fn wait_until(limit: Duration, mut done: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + limit;
    loop {
        if done() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(5));
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
