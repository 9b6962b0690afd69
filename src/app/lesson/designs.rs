//! The server designs: the same four clients against a server whose every
//! reply takes a while (`--delay`), so the design shows in when the replies
//! come; the kernel's listen queue (Recv-Q of the listener in
//! `/proc/net/tcp`) shows who waits where. What each design costs is in
//! `costs`.

use super::kit::{Child, Run, secs};
use serde_json::json;
use std::time::{Duration, Instant};

/// Each reply's delay in these lessons.
const DELAY: Duration = Duration::from_millis(500);
/// How many clients connect at once.
const CLIENTS: usize = 4;

/// Starts `CLIENTS` clients at once and returns when each got its reply
/// (seconds since they started, in order of arrival); narrates the listen
/// queue while they wait.
fn four_clients(run: &Run, server: &Child) -> anyhow::Result<Vec<f64>> {
    let port = server.port_arg();
    let began = Instant::now();
    let mut clients = Vec::new();
    for i in 1..=CLIENTS {
        let msg = format!("hi{i}");
        clients.push(run.start(&["tcp-client", "127.0.0.1", &msg, "-p", &port, "--timeout", "30s"])?);
    }
    // Until every client is connected (well before the first reply is due).
    super::kit::wait_until(DELAY * 4 / 5, || server_side(server.port()).len() >= CLIENTS);
    listen_queue(run, server.port());
    // Every client watched at once, so each exit is timed when it happens.
    super::kit::wait_all(&mut clients, Duration::from_secs(30));
    let mut times = Vec::new();
    for mut c in clients {
        let done = c.finish(b"", Duration::from_secs(30))?;
        let reply = done.stdout.trim().to_string();
        times.push((c.finished_after(began), reply));
    }
    times.sort_by(|a, b| a.0.total_cmp(&b.0));
    for (t, reply) in &times {
        run.observe(
            &format!("{reply} arrived after {t:.2} s"),
            json!({"reply": reply, "after_s": t}),
        );
    }
    Ok(times.into_iter().map(|(t, _)| t).collect())
}

/// The states of the server's side of each connection to `port`.
fn server_side(port: u16) -> Vec<&'static str> {
    netlab::kernel::sockets_on(port)
        .unwrap_or_default()
        .iter()
        .filter(|r| r.state != "LISTEN" && r.local.port() == port)
        .map(|r| r.state)
        .collect()
}

/// The listener's Recv-Q: connections the kernel accepted that wait for `accept()`.
fn listen_queue(run: &Run, port: u16) {
    let Ok(rows) = netlab::kernel::sockets_on(port) else {
        run.say("(no /proc/net/tcp here: the listen queue cannot be shown)");
        return;
    };
    let queued = rows
        .iter()
        .filter(|r| r.state == "LISTEN" && r.local.port() == port)
        .map(|r| r.rx_queue)
        .sum::<u64>();
    let server_side: Vec<&str> = rows
        .iter()
        .filter(|r| r.state != "LISTEN" && r.local.port() == port)
        .map(|r| r.state)
        .collect();
    let waiting = server_side.iter().filter(|s| **s == "CLOSE-WAIT").count();
    run.observe(
        &format!(
            "/proc/net/tcp: {} connections to port {port}, {queued} of them in the listen queue (the listener's Recv-Q: \
             the kernel completed their handshake, the server has not called accept() yet); {waiting} in CLOSE-WAIT \
             (each client sent its line and half-closed, and waits for the reply)",
            server_side.len()
        ),
        json!({"source": "/proc/net/tcp", "connections": server_side.len(), "listen_queue": queued, "close_wait": waiting}),
    );
}

/// The gaps between consecutive replies.
fn gaps(times: &[f64]) -> Vec<f64> {
    times.windows(2).filter_map(|w| Some(w.get(1)? - w.first()?)).collect()
}

pub(super) fn design(run: &mut Run, mode: &str, extra: &[&str], question: &str) -> anyhow::Result<Vec<f64>> {
    let delay = format!("{}ms", DELAY.as_millis());
    let mut args = vec!["tcp-server", "--mode", mode, "--delay", &delay];
    args.extend_from_slice(extra);
    run.step(
        &format!("a {mode} server whose every reply takes {}", secs(DELAY)),
        "how will it cope with four clients at once?",
    );
    let server = run.server(&args)?;
    run.step(
        &format!("{CLIENTS} clients connect at the same moment and each sends one line"),
        question,
    );
    let times = four_clients(run, &server)?;
    drop(server);
    Ok(times)
}

/// A control runs the lesson with another design, where the effect should vanish.
pub(super) fn mode_or<'a>(run: &Run, mode: &'a str, control: &'a str) -> &'a str {
    if run.control() { control } else { mode }
}

pub fn sequential(run: &mut Run) -> anyhow::Result<bool> {
    let mode = mode_or(run, "sequential", "thread");
    let times = design(
        run,
        mode,
        &[],
        "will the second client get its reply before the first is done?",
    )?;
    let d = DELAY.as_secs_f64();
    let apart = gaps(&times).iter().all(|g| *g >= 0.7 * d);
    let seen = format!(
        "replies came {} s apart",
        gaps(&times)
            .iter()
            .map(|g| format!("{g:.2}"))
            .collect::<Vec<_>>()
            .join(", ")
    );
    Ok(run.judge(
        apart && times.len() == CLIENTS,
        &seen,
        "one client at a time, the others waiting in the listen backlog",
        &format!("one reply every {}", secs(DELAY)),
    ))
}

/// Every reply within about one delay of the start, none a delay behind another.
fn together(run: &Run, times: &[f64], how: &str) -> bool {
    let d = DELAY.as_secs_f64();
    let spread = times.last().unwrap_or(&0.0) - times.first().unwrap_or(&0.0);
    let ok = times.len() == CLIENTS && spread < 0.6 * d;
    let seen = format!("{} replies within {spread:.2} s of each other", times.len());
    run.judge(ok, &seen, how, "all four together, about one delay after the start")
}

pub fn thread(run: &mut Run) -> anyhow::Result<bool> {
    let mode = mode_or(run, "thread", "sequential");
    let times = design(run, mode, &[], "will the four replies come one by one, or together?")?;
    Ok(together(run, &times, "a thread per client, each waiting on its own"))
}

pub fn poll(run: &mut Run) -> anyhow::Result<bool> {
    let mode = mode_or(run, "poll", "sequential");
    let times = design(run, mode, &[], "one thread: will the clients wait for each other?")?;
    Ok(together(
        run,
        &times,
        "one thread, and the delay is a timer the event loop waits on, not a sleep",
    ))
}

pub fn fork(run: &mut Run) -> anyhow::Result<bool> {
    let mode = mode_or(run, "fork", "sequential");
    let times = design(run, mode, &["-v"], "how many processes will serve the four clients?")?;
    Ok(together(
        run,
        &times,
        "a child process per client, reaped when it ended",
    ))
}

pub fn pool(run: &mut Run) -> anyhow::Result<bool> {
    let workers = if run.control() { "4" } else { "2" };
    let times = design(
        run,
        "pool",
        &["--workers", workers],
        "two workers, four clients: when does each reply come?",
    )?;
    let d = DELAY.as_secs_f64();
    let (first, second): (Vec<f64>, Vec<f64>) = times.iter().partition(|t| **t < 1.5 * d);
    let ok = first.len() == 2 && second.len() == 2;
    let seen = format!(
        "{} replies after about {} and {} after about twice that",
        first.len(),
        secs(DELAY),
        second.len()
    );
    Ok(run.judge(
        ok,
        &seen,
        "two workers serve two clients at a time, the others wait in the backlog",
        "two and two",
    ))
}
