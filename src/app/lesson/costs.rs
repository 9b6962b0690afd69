//! What each server design costs: system calls per request (`strace -c`),
//! memory per idle client (`/proc/PID/status`), requests/s side by side, and
//! how a closed or an open loop sees a stalled server.

use super::designs::{design, mode_or};
use super::kit::{Child, Run, secs, wait_until};
use anyhow::Context;
use nix::sys::signal::Signal;
use serde_json::Value;
use serde_json::json;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// `strace -c -f -p PID -o FILE`, attached to a server. Not this program, so
/// not a [`Child`]: in a process group of its own, killed when dropped and on Ctrl-C.
struct Strace(std::process::Child);

impl Drop for Strace {
    fn drop(&mut self) {
        super::kit::forget(&mut self.0);
    }
}

impl Strace {
    /// Attaches to `pid`, to count into `out`; the error says why it could not.
    fn attach(pid: u32, out: &str) -> anyhow::Result<Strace> {
        let log = format!("{out}.err");
        let mut strace = super::kit::spawn_watched(
            Command::new("strace")
                .args(["-c", "-f", "-p", &pid.to_string(), "-o", out])
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(std::fs::File::create(&log)?),
        )
        .map(Strace)
        .map_err(|e| anyhow::anyhow!("strace cannot be started ({e}): install strace"))?;
        let said = || std::fs::read_to_string(&log).unwrap_or_default();
        let running = |s: &mut Strace| matches!(s.0.try_wait(), Ok(None));
        wait_until(Duration::from_secs(5), || {
            said().contains("attached") || !running(&mut strace)
        });
        if !said().contains("attached") || !running(&mut strace) {
            let why = said().lines().next().unwrap_or("no word from it").trim().to_string();
            anyhow::bail!("strace could not attach to pid {pid} ({why}): install strace, and allow ptrace");
        }
        Ok(strace)
    }

    /// Ctrl-C to strace: it detaches and writes its table; the total calls, and the three most made.
    fn counts(mut self, out: &str) -> (u64, String) {
        if let Ok(pid) = i32::try_from(self.0.id()) {
            let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), Signal::SIGINT);
        }
        wait_until(Duration::from_secs(5), || !matches!(self.0.try_wait(), Ok(None)));
        // % time  seconds  usecs/call  calls  [errors]  syscall
        let table = std::fs::read_to_string(out).unwrap_or_default();
        let row = |l: &str| {
            let f: Vec<&str> = l.split_whitespace().collect();
            Some((f.last()?.to_string(), f.get(3)?.parse().ok()?))
        };
        let (total, mut rows): (Vec<(String, u64)>, _) = table.lines().filter_map(row).partition(|r| r.0 == "total");
        rows.sort_by_key(|r| std::cmp::Reverse(r.1));
        let top: Vec<String> = rows
            .iter()
            .take(3)
            .map(|(name, calls)| format!("{name} {calls}"))
            .collect();
        (total.first().map_or(0, |t| t.1), top.join(", "))
    }
}

/// The JSON objects a child printed, one a line.
fn objects(text: &str) -> Vec<Value> {
    text.lines().filter_map(|l| serde_json::from_str(l).ok()).collect()
}

/// A number of a JSON object (0 when missing).
fn num(v: &Value, key: &str) -> f64 {
    v.get(key).and_then(Value::as_f64).unwrap_or(0.0)
}

/// System calls per request of a `mode` server under bench's load, as `strace -c` counts them.
fn per_request(run: &mut Run, mode: &str) -> anyhow::Result<f64> {
    run.step(
        &format!("a {mode} server under load (20 clients for 1 s), strace counting its system calls"),
        "how many system calls will each request cost it?",
    );
    // -q even under `lesson -v`: a log line is a write system call too.
    let server = run.server(&["tcp-server", "--mode", mode, "-q"])?;
    let (pid, port, out) = (server.pid(), server.port_arg(), run.path(&format!("strace-{mode}")));
    let strace = Strace::attach(pid, &out)?;
    run.say(&format!("strace -c -f -p {pid}: attached, counting"));
    let args = ["bench", "-p", &port, "--conns", "20", "--duration", "1s", "--json"];
    let bench = run.netlab(&args, b"", Duration::from_secs(20))?;
    let requests = objects(&bench.stdout).last().map_or(0.0, |v| num(v, "requests"));
    let (total, top) = strace.counts(&out);
    drop(server);
    let per = total as f64 / requests.max(1.0);
    run.observe(
        &format!("bench --json: {requests} requests; strace -c: {total} system calls ({top}), {per:.2} per request"),
        json!({"source": "strace -c -f -p", "mode": mode, "requests": requests, "syscalls": total,
               "per_request": per, "top": top}),
    );
    anyhow::ensure!(requests > 0.0 && total > 0, "nothing counted for {mode}");
    Ok(per)
}

pub fn uring(run: &mut Run) -> anyhow::Result<bool> {
    let mode = mode_or(run, "uring", "poll");
    let question = "one thread and a ring shared with the kernel: will the clients wait for each other?";
    let times = design(run, mode, &[], question)
        .with_context(|| format!("no {mode} server: does this kernel refuse io_uring (io_uring_disabled, seccomp)?"))?;
    let spread = times.last().unwrap_or(&0.0) - times.first().unwrap_or(&0.0);
    run.say(&format!(
        "all {} replies within {spread:.2} s of each other, as with poll",
        times.len()
    ));
    let poll = per_request(run, "poll")?;
    let ring = per_request(run, mode)?;
    Ok(run.judge(
        ring < 0.5 * poll && ring < 1.0,
        &format!("{ring:.2} system calls per request with {mode}, {poll:.2} with poll"),
        "epoll says a socket is ready and the server reads and writes it itself; io_uring takes whole \
         operations from a ring shared with the kernel and hands back a batch of completions per io_uring_enter",
        "well under one per request with uring, about two with poll",
    ))
}

/// Idle clients the C10k lesson holds (fewer when the open-file limit is lower).
const IDLE: usize = 2000;

/// A field of `/proc/PID/status` (`VmRSS` in KiB, `Threads`).
fn status(pid: u32, field: &str) -> f64 {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let value = text.lines().find_map(|l| l.strip_prefix(field)?.strip_prefix(':'));
    value
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0.0)
}

/// The descriptors a process holds (`/proc/PID/fd`).
fn descriptors(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd")).map_or(0, Iterator::count)
}

/// `n` connections that each send one line, read its reply, and then sit
/// idle; those not answered within 8 s in all are left out.
fn idle_clients(addr: SocketAddr, n: usize) -> Vec<TcpStream> {
    let deadline = Instant::now() + Duration::from_secs(8);
    let left = || {
        deadline
            .saturating_duration_since(Instant::now())
            .max(Duration::from_millis(1))
    };
    let mut all = Vec::new();
    for _ in 0..n {
        let Ok(mut s) = TcpStream::connect_timeout(&addr, left()) else {
            break;
        };
        if s.write_all(b"hi\n").is_ok() {
            all.push(s);
        }
    }
    all.retain_mut(|s| s.set_read_timeout(Some(left())).is_ok() && s.read_exact(&mut [0u8; 3]).is_ok());
    all
}

/// A `mode` server's memory per idle client, KiB (`/proc/PID/status` VmRSS before and after).
fn held(run: &mut Run, mode: &str, n: usize, question: &str) -> anyhow::Result<f64> {
    run.step(
        &format!("a {mode} server, and {n} clients that connect, send one line each and then sit idle"),
        question,
    );
    // Threads are capped at 1024 clients unless told otherwise.
    let server = run.server(&["tcp-server", "--mode", mode, "--max-conns", "20000"])?;
    let addr = server.addr.context("the server has no address")?;
    let pid = server.pid();
    let before = status(pid, "VmRSS");
    run.observe(
        &format!("/proc/{pid}/status VmRSS: {before} KiB with no client"),
        json!({"source": "/proc/PID/status", "mode": mode, "vmrss_kib": before}),
    );
    let began = Instant::now();
    let clients = idle_clients(addr, n);
    let count = clients.len();
    run.say(&format!(
        "{count} of {n} clients connected and answered in {}",
        secs(began.elapsed())
    ));
    anyhow::ensure!(
        count >= n * 9 / 10,
        "only {count} of {n} clients could connect to the {mode} server"
    );
    // Settled: a descriptor for each client, and the memory no longer growing.
    wait_until(Duration::from_secs(3), || descriptors(pid) >= count);
    wait_until(Duration::from_secs(1), || {
        let rss = status(pid, "VmRSS");
        std::thread::sleep(Duration::from_millis(50));
        status(pid, "VmRSS") == rss
    });
    let (after, threads, fds) = (status(pid, "VmRSS"), status(pid, "Threads"), descriptors(pid));
    let per = (after - before) / count as f64;
    run.observe(
        &format!(
            "/proc/{pid}/status VmRSS: {after} KiB with {count} idle clients ({:.1} MiB more: {per:.2} KiB each); \
             Threads: {threads}; /proc/{pid}/fd: {fds} descriptors",
            (after - before) / 1024.0
        ),
        json!({"source": "/proc/PID/status, /proc/PID/fd", "mode": mode, "clients": count, "vmrss_kib": after,
               "kib_per_client": per, "threads": threads, "fds": fds}),
    );
    Ok(per)
}

pub fn c10k(run: &mut Run) -> anyhow::Result<bool> {
    let limit = netlab::net::raise_fd_limit()?;
    let n = IDLE.min(usize::try_from(limit.now).unwrap_or(IDLE).saturating_sub(100));
    run.say(&format!(
        "setrlimit(RLIMIT_NOFILE): this lesson's open-file limit raised from {} to {} (the hard limit): \
         every client is a descriptor here, and one in the server",
        limit.before, limit.now
    ));
    let cheap = mode_or(run, "poll", "thread");
    let poll = held(
        run,
        cheap,
        n,
        "how much memory will each idle client cost an event loop?",
    )?;
    let thread = held(run, "thread", n, "and a thread for each client, blocked in read()?")?;
    Ok(run.judge(
        poll < 4.0 && thread > 4.0 * poll.max(1.0),
        &format!("{poll:.2} KiB per idle client with {cheap}, {thread:.2} KiB with a thread each"),
        "to an event loop an idle client is a descriptor and a little state; a thread is a stack and a buffer \
         of its own",
        "a few KiB at most with poll, and many times that with threads",
    ))
}

pub fn compare_modes(run: &mut Run) -> anyhow::Result<bool> {
    let conns = if run.control() { "1" } else { "10" };
    run.step(
        &format!("bench --compare-modes: each design in turn, {conns} clients for 0.8 s, replies 100 ms late"),
        "which designs answer every client, and how many requests a second will each manage?",
    );
    let line = format!("bench --compare-modes --conns {conns} --delay 100ms --duration 800ms --json");
    run.say(&format!("start: netlab {line}"));
    let args: Vec<&str> = line.split_whitespace().collect();
    let done = run.netlab(&args, b"", Duration::from_secs(30))?;
    let mut rps = Vec::new();
    for row in objects(&done.stdout) {
        let mode = row.get("mode").and_then(Value::as_str).unwrap_or("?").to_string();
        let (r, served) = (num(&row, "rps"), num(&row, "conns_served"));
        let p50 = num(&row, "p50_us") / 1e3;
        run.observe(
            &format!("{mode}: {r:.1} requests/s, {served} of {conns} clients answered at all, p50 {p50:.0} ms"),
            json!({"source": "netlab bench --compare-modes --json", "mode": mode, "rps": r, "conns_served": served}),
        );
        rps.push((mode, r));
    }
    for skipped in done.stderr.lines().filter(|l| l.contains("skipped")) {
        run.say(skipped.trim());
    }
    let of = |m: &str| rps.iter().find(|r| r.0 == m).map(|r| r.1);
    let (seq, pool) = (of("sequential").unwrap_or(0.0), of("pool").unwrap_or(0.0));
    // uring only where the kernel has it.
    let concurrent: Vec<(&str, f64)> = ["thread", "poll", "fork", "uring"]
        .into_iter()
        .filter_map(|m| Some((m, of(m).or((m != "uring").then_some(0.0))?)))
        .collect();
    let ok = seq > 0.0 && concurrent.iter().all(|(_, r)| *r >= 5.0 * seq && *r >= 2.0 * pool);
    let seen: Vec<String> = concurrent.iter().map(|(m, r)| format!("{m} {r:.0}")).collect();
    Ok(run.judge(
        ok,
        &format!("{} requests/s; pool {pool:.0}, sequential {seq:.0}", seen.join(", ")),
        "the designs that wait on every client at once answer them all; the pool only as many as its 4 workers, \
         sequential one client at a time",
        "the concurrent designs at least 5 times sequential and twice the pool",
    ))
}

/// One bench run of 3 s against `server`, stalled (SIGSTOP) for a second after one; its summary p99, seconds.
fn stalled(run: &mut Run, server: &Child, extra: &str, text: &str, question: &str) -> anyhow::Result<f64> {
    run.step(text, question);
    let (port, pid) = (server.port(), server.pid());
    let line = format!("bench -p {port} --conns 1 --duration 3s --interval 500ms --json{extra}");
    run.say(&format!("start: netlab {line}"));
    let mut bench = run.start(&line.split_whitespace().collect::<Vec<_>>())?;
    std::thread::sleep(Duration::from_secs(1));
    if run.control() {
        run.say("(control: the server is not stopped)");
    } else {
        server.signal(Signal::SIGSTOP);
        run.say(&format!("kill -STOP {pid}: the server is frozen for a second"));
        std::thread::sleep(Duration::from_secs(1));
        server.signal(Signal::SIGCONT);
        run.say(&format!("kill -CONT {pid}: it runs again"));
    }
    let done = bench.finish(b"", Duration::from_secs(15))?;
    let all = objects(&done.stdout);
    for v in &all {
        let when = v.get("t").and_then(Value::as_f64);
        let when = when.map_or("bench summary".into(), |t| format!("bench --interval, up to {t:.1} s"));
        let (n, [p50, p99, max]) = (
            num(v, "requests"),
            ["p50_us", "p99_us", "max_us"].map(|k| num(v, k) / 1e3),
        );
        let text = format!("{when}: {n} requests, p50 {p50:.2} ms, p99 {p99:.2} ms, longest {max:.2} ms");
        run.observe(&text, v.clone());
    }
    Ok(all.last().map_or(f64::NAN, |v| num(v, "p99_us") / 1e6))
}

/// The two loads of the open-loop lesson: bench's extra flags, what they are, the question.
const LOOPS: [[&str; 3]; 2] = [
    [
        "",
        "closed loop: one client sends its next request when the reply comes",
        "how many requests are late?",
    ],
    [
        " --rate 2000",
        "open loop: 2000 requests a second fall due, whatever the server does",
        "and now?",
    ],
];

pub fn open_loop(run: &mut Run) -> anyhow::Result<bool> {
    run.step(
        "a poll server",
        "if it freezes for a second, what will a benchmark see?",
    );
    let server = run.server(&["tcp-server", "--mode", "poll"])?;
    let [closed, open] = LOOPS.map(|[extra, text, question]| stalled(run, &server, extra, text, question));
    let (closed, open) = (closed?, open?);
    let (closed_ms, open_ms) = (closed * 1e3, open * 1e3);
    Ok(run.judge(
        closed < 0.1 && open >= 0.5,
        &format!("summary p99 {closed_ms:.1} ms closed loop, {open_ms:.1} ms open loop"),
        "a closed loop waits with the server, so the stall delays one request; an open loop keeps the schedule, \
         so every request due in the stall waited",
        "a closed-loop p99 of a few ms and an open-loop p99 of most of a second",
    ))
}
