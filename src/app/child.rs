//! This program (or a helper such as python3 or strace) started as a child:
//! each leads a process group of its own, is remembered until it is stopped,
//! and is stopped when dropped (SIGTERM, then the whole group killed). Its
//! output is collected, bounded; a server's first line is its ready line.
//! `bench --compare-modes` and the lessons start their servers through here.

use anyhow::Context;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::SocketAddr;
use std::process::{Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, Instant};

/// Children still running (each the leader of its own process group).
static LIVE: Mutex<Vec<u32>> = Mutex::new(Vec::new());

/// Kills every remembered child's process group (the Ctrl-C path).
pub fn kill_all() {
    for pid in LIVE.lock().map(|l| l.clone()).unwrap_or_default() {
        kill_group(pid, nix::sys::signal::Signal::SIGKILL);
    }
}

/// How much of a child's output is kept.
const KEEP: usize = 8 << 20;

/// How long a server may take to print its ready line (a loaded machine).
const READY_WITHIN: Duration = Duration::from_secs(10);

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
    /// Starts `netlab ARGS` as a server and waits for its ready line; `relay`
    /// runs it with `-vv` and copies its log to our stderr.
    pub fn server(args: &[String], relay: bool) -> anyhow::Result<Child> {
        let mut child = Child::spawn(args, relay, Stdio::null())?;
        let line = child.ready.recv_timeout(READY_WITHIN).unwrap_or_default();
        let Some(addr) = netlab::ready::parse(&line) else {
            anyhow::bail!("no ready line from netlab {}: {}", args.join(" "), child.log());
        };
        child.addr = addr.parse().ok();
        Ok(child)
    }

    pub(crate) fn spawn(args: &[String], relay: bool, stdin: Stdio) -> anyhow::Result<Child> {
        let exe = std::env::current_exe().context("cannot find this program")?;
        let mut child = spawn_watched(
            Command::new(exe)
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
