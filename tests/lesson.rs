//! `netlab lesson`: every lesson ends `verdict: ok` and its control
//! experiment `verdict: unexpected` (so each verdict is seen to fail); the
//! README table and the lesson list name the same lessons; `--json`,
//! `--step` without a terminal, Ctrl-C, and `--against` graded both ways.

use crate::util::*;
use std::io::{BufRead, BufReader};
use std::process::Stdio;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// One lesson at a time: their verdicts are about timing, so two lessons
/// must not share the two cores with each other.
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

/// Runs `netlab lesson ARGS` alone; returns its exit code and stdout.
fn lesson(args: &[&str]) -> (i32, String) {
    let _turn = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let mut all = vec!["lesson"];
    all.extend_from_slice(args);
    let out = run(netlab(&all), b"", Duration::from_secs(120));
    let stdout = text(&out.stdout);
    assert!(
        !stdout.contains("panicked") && !text(&out.stderr).contains("panicked"),
        "{stdout}"
    );
    (code(&out), stdout)
}

fn last_line(text: &str) -> &str {
    text.lines().last().unwrap_or_default()
}

/// The lesson ends ok; its control ends unexpected.
fn ok_and_control(name: &str) {
    let (code, out) = lesson(&[name]);
    assert!(last_line(&out).starts_with("verdict: ok — "), "{name}:\n{out}");
    assert_eq!(code, 0, "{name}:\n{out}");
    let (code, out) = lesson(&[name, "--control"]);
    assert!(
        last_line(&out).starts_with("verdict: unexpected — "),
        "{name} --control:\n{out}"
    );
    assert_eq!(code, 1, "{name} --control:\n{out}");
}

macro_rules! lessons {
    ($($name:ident),* $(,)?) => {
        $(
            #[test]
            fn $name() {
                let name = stringify!($name).replace('_', "-");
                if name == "uring" && (skip_mode("uring") || !strace_here()) {
                    return;
                }
                ok_and_control(&name);
            }
        )*
        /// Every lesson the binary lists has a test above.
        const TESTED: &[&str] = &[$(stringify!($name)),*];
    };
}

mod each {
    use super::*;
    lessons!(
        sequential,
        thread,
        pool,
        poll,
        fork,
        uring,
        c10k,
        half_close,
        greet,
        back_pressure,
        unix,
        reuseaddr,
        udp_echo,
        unicode,
        retry,
        give_up,
        silent_server,
        stale_replies,
        rtt,
        broadcast,
        resolve,
        byte_order,
        framing,
        one_recv,
        length_claim,
        nagle,
        zlib,
        rpc,
        rpc_wire,
        keep_alive,
        faults,
        web_server,
        browser_head,
        ranges,
        dotdot,
        http_nagle,
        tls_handshake,
        compare_modes,
        open_loop,
    );

    #[test]
    fn every_listed_lesson_is_tested() {
        let tested: Vec<String> = TESTED.iter().map(|n| n.replace('_', "-")).collect();
        assert_eq!(listed(), tested);
    }
}

/// The uring lesson counts system calls with strace: where it is missing,
/// the lesson must say so (checked here) rather than pass.
fn strace_here() -> bool {
    let found = std::process::Command::new("strace")
        .arg("-V")
        .output()
        .is_ok_and(|o| o.status.success());
    if !found {
        let (code, out) = lesson(&["uring"]);
        assert_eq!(code, 1, "{out}");
        assert!(last_line(&out).contains("strace"), "{out}");
    }
    found
}

/// The names `netlab lesson --json` lists, in order.
fn listed() -> Vec<String> {
    let out = netlab_out(&["lesson", "--json"]);
    assert_eq!(code(&out), 0);
    text(&out.stdout)
        .lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).expect("json");
            v["name"].as_str().expect("name").to_string()
        })
        .collect()
}

/// The README's Lessons table and the lesson list name the same lessons, in
/// the same order: a row without its lesson, or a lesson without its row, fails.
#[test]
fn readme_table_and_lesson_list_agree() {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).expect("README");
    let table = readme.split("## Lessons").nth(1).expect("a Lessons section");
    let table = table.split("\n## ").next().expect("section");
    let mut names = Vec::new();
    for row in table
        .lines()
        .filter(|l| l.starts_with("| ") && !l.starts_with("| lesson"))
    {
        let cell = row.split('|').nth(2).expect("a run-it column");
        let name = cell
            .trim()
            .strip_prefix("`netlab lesson ")
            .and_then(|c| c.strip_suffix('`'))
            .unwrap_or_else(|| panic!("row without `netlab lesson NAME` in its second column: {row}"));
        names.push(name.to_string());
    }
    assert_eq!(names, listed());
    let plain = netlab_out(&["lesson"]);
    for (line, name) in text(&plain.stdout).lines().zip(&names) {
        let fields: Vec<&str> = line.split_whitespace().collect();
        assert_eq!(fields[0], name);
        assert!(fields[1].parse::<u32>().is_ok(), "NAME  SECONDS  what: {line}");
    }
}

#[test]
fn unknown_lesson_is_a_usage_error_listing_the_names() {
    let out = netlab_out(&["lesson", "no-such-lesson"]);
    assert_eq!(code(&out), 2);
    assert!(
        text(&out.stderr).contains("sequential, thread"),
        "{}",
        text(&out.stderr)
    );
    let out = netlab_out(&["lesson", "byte-order", "--against", "127.0.0.1:1"]);
    assert_eq!(
        code(&out),
        2,
        "byte order has no server contract: {}",
        text(&out.stderr)
    );
}

/// `--json`: one object per line with the five keys; kinds start, observe, verdict.
/// `--step` without a terminal does not wait.
#[test]
fn json_events_and_step_without_a_terminal() {
    let (status, json) = lesson(&["thread", "--json"]);
    assert_eq!(status, 0, "{json}");
    let events: Vec<serde_json::Value> = json.lines().map(|l| serde_json::from_str(l).expect(l)).collect();
    for e in &events {
        for key in ["step", "t_ms", "kind", "text", "data"] {
            assert!(e.get(key).is_some(), "{key} in {e}");
        }
    }
    let kinds: Vec<&str> = events.iter().map(|e| e["kind"].as_str().unwrap()).collect();
    assert!(kinds.contains(&"start") && kinds.contains(&"observe"));
    assert_eq!(kinds.last(), Some(&"verdict"));
    assert_eq!(events.last().unwrap()["data"]["ok"], true);
    // stdin an open pipe that never sends a line: a prompt would wait forever.
    let _turn = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let mut child = netlab(&["lesson", "thread", "--step"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("lesson");
    let _open = child.stdin.take();
    let started = Instant::now();
    let finished = (0..6000).any(|_| {
        std::thread::sleep(Duration::from_millis(10));
        matches!(child.try_wait(), Ok(Some(_)))
    });
    if !finished {
        let _ = child.kill();
    }
    let out = child.wait_with_output().expect("output");
    assert!(finished, "--step waited without a terminal ({:?})", started.elapsed());
    assert_eq!(code(&out), 0, "{}", text(&out.stdout));
    assert!(
        !text(&out.stdout).contains("press Enter"),
        "no prompt without a terminal"
    );
}

/// Ctrl-C (SIGINT to the lesson) stops the server it started and exits 130.
#[test]
fn ctrl_c_stops_everything_the_lesson_started() {
    let _turn = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let mut child = netlab(&["lesson", "sequential"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("lesson");
    let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
    let pid = loop {
        let line = lines.next().expect("a server ready line").expect("text");
        if let Some(rest) = line.split("(pid ").nth(1) {
            break rest.trim_end_matches(')').parse::<i32>().expect("pid");
        }
    };
    assert!(
        std::path::Path::new(&format!("/proc/{pid}")).exists(),
        "the server runs"
    );
    let lesson_pid = nix::unistd::Pid::from_raw(child.id() as i32);
    nix::sys::signal::kill(lesson_pid, nix::sys::signal::Signal::SIGINT).expect("signal");
    let rest: Vec<String> = lines.map_while(Result::ok).collect();
    let status = child.wait().expect("exit");
    assert_eq!(status.code(), Some(130), "{rest:?}");
    assert!(
        rest.last()
            .is_some_and(|l| l.starts_with("verdict: unexpected — interrupted")),
        "{rest:?}"
    );
    let gone = (0..500).any(|_| {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        let zombie_or_gone = stat.is_empty() || stat.contains(") Z ");
        if !zombie_or_gone {
            std::thread::sleep(Duration::from_millis(10));
        }
        zombie_or_gone
    });
    assert!(gone, "the server (pid {pid}) was stopped");
}

/// `--against` passes against netlab's own servers.
#[test]
fn against_netlab_servers_every_check_passes() {
    let dir = tempfile::tempdir().expect("dir");
    std::fs::write(dir.path().join("index.html"), "<h1>hi</h1>").expect("file");
    let root = dir.path().to_str().expect("path");
    let cases: [(&[&str], &str); 5] = [
        (&["tcp-server", "--mode", "poll"], "half-close"),
        (&["udp-server"], "udp-echo"),
        (&["framed", "server"], "framing"),
        (&["rpc", "server"], "rpc"),
        (&["http", "server", root], "web-server"),
    ];
    for (server_args, name) in cases {
        let server = Server::start(server_args);
        let (code, out) = lesson(&[name, "--against", &server.addr]);
        assert_eq!(code, 0, "{name} against netlab {server_args:?}:\n{out}");
        assert!(!out.contains("FAILED"), "{out}");
    }
}

/// `--against` fails against the tutorial-style servers, naming the check.
#[test]
fn against_tutorial_servers_names_the_failed_check() {
    let fixtures = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/");
    let cases = [
        ("one_recv_upper.py", "half-close", "split-writes"),
        ("framed_no_recvall.py", "framing", "split-header"),
    ];
    for (script, name, check) in cases {
        let source = std::fs::read_to_string(format!("{fixtures}{script}")).expect("fixture");
        let server = PyServer::start(&source, &[]);
        let (code, out) = lesson(&[name, "--against", &format!("127.0.0.1:{}", server.port)]);
        assert_eq!(code, 1, "{script}:\n{out}");
        assert!(
            out.contains(&format!("{check}: FAILED — ")),
            "{script} fails {check}:\n{out}"
        );
        let verdict = last_line(&out);
        assert!(
            verdict.starts_with("verdict: unexpected") && verdict.contains(check),
            "{verdict}"
        );
    }
}

/// `netlab -v lesson`: the children's socket calls are relayed on stderr,
/// and the verdict is unchanged.
#[test]
fn verbose_lesson_shows_the_socket_calls() {
    let _turn = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let out = run(netlab(&["-v", "lesson", "half-close"]), b"", Duration::from_secs(60));
    assert_eq!(code(&out), 0, "{}", text(&out.stdout));
    let calls = text(&out.stderr);
    for call in [
        "bind + listen",
        "accept",
        "recv bytes=3",
        "send bytes=3",
        "recv 0 bytes (EOF)",
    ] {
        assert!(calls.contains(call), "{call} in:\n{calls}");
    }
}
