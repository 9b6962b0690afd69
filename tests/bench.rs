//! bench against the netlab servers and against Python stubs: every reply
//! checked, errors counted, open-loop latency, the mode table, exit codes.

use crate::util::*;
use std::time::{Duration, Instant};

fn bench_json(args: &[&str]) -> (i32, serde_json::Value, String) {
    let mut all = vec!["bench", "--json"];
    all.extend_from_slice(args);
    let out = netlab_out(&all);
    // The summary is the last line (interval objects come before it).
    let last = text(&out.stdout).lines().last().unwrap_or_default().to_string();
    let v = serde_json::from_str(&last).unwrap_or(serde_json::Value::Null);
    (code(&out), v, text(&out.stderr))
}

/// Every protocol against its server, at 1 and 50 connections.
#[test]
fn every_proto_against_its_server() {
    let tcp = Server::start(&["tcp-server", "--mode", "poll"]);
    let framed = Server::start(&["framed", "server", "--mode", "poll"]);
    let udp = Server::start(&["udp-server"]);
    let rpc = Server::start(&["rpc", "server", "--mode", "poll"]);
    for (proto, server) in [("tcp", &tcp), ("framed", &framed), ("udp", &udp), ("rpc", &rpc)] {
        for conns in ["1", "50"] {
            let (status, v, stderr) = bench_json(&[
                "--proto",
                proto,
                "-p",
                &server.port(),
                "--conns",
                conns,
                "--requests",
                "500",
            ]);
            assert_eq!(status, 0, "{proto} x{conns}: {stderr}");
            assert_eq!(v["requests"], 500, "{proto} x{conns}: {v}");
            assert_eq!(v["errors"], 0, "{proto} x{conns}: {v}");
            for key in ["rps", "mbps", "p50_us", "p90_us", "p99_us", "p999_us", "max_us"] {
                assert!(v[key].is_number(), "{key} in {v}");
            }
            assert_eq!(v.get("loss").is_some(), proto == "udp", "{v}");
        }
    }
}

/// Requests far larger than the socket buffers (40 MB: loopback buffers take
/// a few MB): the bench waits for room to write while it reads the replies
/// already coming back, in both server designs.
#[test]
fn requests_larger_than_the_socket_buffers() {
    for mode in ["thread", "poll"] {
        let server = Server::start(&["tcp-server", "--mode", mode]);
        let (status, v, stderr) = bench_json(&[
            "-p",
            &server.port(),
            "--conns",
            "2",
            "--size",
            "40000000",
            "--requests",
            "4",
        ]);
        assert_eq!(status, 0, "{mode}: {stderr}");
        assert_eq!(v["requests"], 4, "{mode}: {v}");
        assert_eq!(v["errors"], 0, "{mode}: {v}");
    }
}

#[test]
fn wrong_replies_are_errors_and_exit_1() {
    let server = Server::start(&["tcp-server", "--mode", "poll"]);
    // An upper server does not echo: every reply is wrong.
    let out = netlab_out(&["bench", "-p", &server.port(), "--requests", "10", "--reply", "echo"]);
    assert_eq!(code(&out), 1);
    assert!(text(&out.stdout).contains("Errors"), "{}", text(&out.stdout));
    // A Python stub that answers with something else.
    let py = PyServer::start(PY_WRONG, &[]);
    let (status, v, _) = bench_json(&["-p", &py.port, "--conns", "1", "--requests", "5"]);
    assert_eq!(status, 1);
    assert!(v["errors"].as_u64().is_some_and(|e| e > 0), "{v}");
}

const PY_WRONG: &str = concat!(
    py_accept_one!(),
    r#"
while True:
    data = sock.recv(65536)
    if not data:
        break
    sock.sendall(data)  # echo, where upper was expected
"#
);

/// A one-thread server that stalls once for 200 ms: in an open loop every
/// request due during the stall waits, and the latency shows it.
const PY_STALL: &str = concat!(
    py_accept_one!(),
    r#"
sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
seen = 0
while True:
    data = sock.recv(65536)
    if not data:
        break
    seen += len(data)
    if seen >= 64 * 100 and seen - len(data) < 64 * 100:
        time.sleep(0.2)
    sock.sendall(data.upper())
"#
);

#[test]
fn a_stall_under_rate_shows_in_the_p99() {
    let py = PyServer::start(PY_STALL, &[]);
    let (status, v, stderr) = bench_json(&["-p", &py.port, "--conns", "1", "--rate", "500", "--duration", "2s"]);
    assert_eq!(status, 0, "{stderr}");
    assert_eq!(v["load"], "open");
    let p99 = v["p99_us"].as_u64().unwrap_or(0);
    assert!(p99 >= 100_000, "the 200 ms stall hid: p99 {p99} us in {v}");
    let requests = v["requests"].as_u64().unwrap_or(0);
    assert!(requests > 700, "the asked rate was not kept: {v}");
}

/// Processes still running whose command line is a compare-modes child.
fn compare_children_of(command: &[u8]) -> Vec<String> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let cmdline = std::fs::read(entry.path().join("cmdline")).unwrap_or_default();
        let args: Vec<&[u8]> = cmdline.split(|b| *b == 0).collect();
        // Only `command`'s children: tests comparing other servers run at the same time.
        let is_child = args
            .windows(5)
            .any(|w| w[1] == b"--mode" && w[3] == b"-p" && w[4] == b"0")
            && args.iter().any(|a| *a == b"-q")
            && args.get(1).is_some_and(|a| *a == command);
        if is_child && args.first().is_some_and(|a| a.ends_with(b"netlab")) {
            found.push(String::from_utf8_lossy(&cmdline).replace('\0', " "));
        }
    }
    found
}

/// The tcp-server children of `bench --compare-modes` still running.
fn compare_children() -> Vec<String> {
    compare_children_of(b"tcp-server")
}

#[test]
fn compare_modes_lists_every_mode_and_leaves_no_child() {
    let out = run(
        netlab(&["bench", "--compare-modes", "--duration", "1s", "--conns", "4"]),
        b"",
        Duration::from_secs(60),
    );
    assert_eq!(code(&out), 0, "{}", text(&out.stderr));
    let table = text(&out.stdout);
    for mode in ["sequential", "thread", "pool", "poll", "fork"] {
        assert!(
            table.lines().any(|l| l.trim_start().starts_with(mode)),
            "{mode} missing:\n{table}"
        );
    }
    assert!(
        table.contains("served 1 of 4"),
        "sequential serves one client:\n{table}"
    );
    assert!(compare_children().is_empty(), "left behind: {:?}", compare_children());

    // Ctrl-C in the middle: the run stops and its server is stopped too.
    let mut child = KillOnDrop(
        netlab(&["bench", "--compare-modes", "--duration", "20s", "--conns", "2"])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("spawn"),
    );
    let started = Instant::now();
    while compare_children().is_empty() && started.elapsed() < Duration::from_secs(20) {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(!compare_children().is_empty(), "no server was started");
    let pid = nix::unistd::Pid::from_raw(child.0.id() as i32);
    let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGINT);
    let mut status = None;
    while status.is_none() && started.elapsed() < Duration::from_secs(30) {
        status = child.0.try_wait().ok().flatten();
        std::thread::sleep(Duration::from_millis(20));
    }
    drop(child);
    assert!(status.is_some(), "bench did not stop on SIGINT");
    assert!(compare_children().is_empty(), "left behind: {:?}", compare_children());
}

#[test]
fn refused_and_unknown_exit_69_and_68() {
    let gone = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = gone.local_addr().expect("addr").port().to_string();
    drop(gone);
    for proto in ["tcp", "framed", "udp", "rpc"] {
        let out = netlab_out(&["bench", "--proto", proto, "-p", &port, "--requests", "3"]);
        assert_eq!(code(&out), 69, "{proto}: {}", text(&out.stderr));
        assert!(text(&out.stdout).is_empty(), "{proto}: {}", text(&out.stdout));
    }
    let out = netlab_out(&["bench", "nonexistent.invalid", "--requests", "1"]);
    assert_eq!(code(&out), 68, "{}", text(&out.stderr));
}

#[test]
fn intervals_and_the_text_report() {
    let server = Server::start(&["tcp-server", "--mode", "poll"]);
    let out = netlab_out(&["bench", "-p", &server.port(), "--duration", "1s", "--interval", "250ms"]);
    assert_eq!(code(&out), 0, "{}", text(&out.stderr));
    let report = text(&out.stdout);
    assert!(report.contains("closed loop"), "{report}");
    assert!(report.lines().filter(|l| l.contains("req/s")).count() >= 3, "{report}");
    for label in ["Latency", "Requests/sec", "Transfer/sec", "Errors"] {
        assert!(report.contains(label), "{label}: {report}");
    }
    let json = netlab_out(&[
        "bench",
        "-p",
        &server.port(),
        "--duration",
        "1s",
        "--interval",
        "500ms",
        "--json",
    ]);
    let objects: Vec<serde_json::Value> = text(&json.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).expect("one JSON object per line"))
        .collect();
    assert!(objects.len() >= 2, "{objects:?}");
    assert!(
        objects
            .last()
            .is_some_and(|o| o["rps"].is_number() && o.get("p999_us").is_some())
    );
}

/// Python's own XML-RPC server closes after every call: bench reconnects.
const PY_RPC: &str = r#"
import functools, operator
from xmlrpc.server import SimpleXMLRPCServer
def addtogether(*things):
    return functools.reduce(operator.add, things)
server = SimpleXMLRPCServer(('127.0.0.1', 0), logRequests=False)
server.register_function(addtogether)
print(server.server_address[1], flush=True)
server.serve_forever()
"#;

#[test]
fn rpc_bench_reconnects_when_the_server_closes() {
    let py = PyServer::start(PY_RPC, &[]);
    let (status, v, stderr) = bench_json(&["--proto", "rpc", "-p", &py.port, "--conns", "2", "--requests", "50"]);
    assert_eq!(status, 0, "{stderr}");
    assert_eq!(
        (v["requests"].as_u64(), v["errors"].as_u64()),
        (Some(50), Some(0)),
        "{v}"
    );
}

/// `--proto http`: keep-alive GETs checked for 200 and their body's length;
/// a 404 is an error and exit 1; `--compare-modes` serves a file of `--size`.
#[test]
fn http_bench_checks_status_and_body_and_compares_modes() {
    let dir = tempfile::tempdir().expect("dir");
    std::fs::write(dir.path().join("f.bin"), vec![b'x'; 100_000]).expect("file");
    let root = dir.path().to_string_lossy().into_owned();
    let server = Server::start(&["http", "server", &root, "--mode", "poll"]);
    for conns in ["1", "20"] {
        let (status, v, stderr) = bench_json(&[
            "--proto",
            "http",
            "-p",
            &server.port(),
            "--path",
            "/f.bin",
            "--conns",
            conns,
            "--requests",
            "300",
        ]);
        assert_eq!(status, 0, "x{conns}: {stderr}");
        assert_eq!(
            (v["requests"].as_u64(), v["errors"].as_u64()),
            (Some(300), Some(0)),
            "{v}"
        );
        assert!(v["mbps"].as_f64().is_some_and(|m| m > 0.0), "{v}");
    }
    let (status, v, stderr) = bench_json(&[
        "--proto",
        "http",
        "-p",
        &server.port(),
        "--path",
        "/nope",
        "--requests",
        "5",
    ]);
    assert_eq!(status, 1, "{v}");
    assert!(stderr.contains("HTTP 404 Not Found"), "{stderr}");

    let out = run(
        netlab(&[
            "bench",
            "--compare-modes",
            "--proto",
            "http",
            "--size",
            "1024",
            "--duration",
            "500ms",
            "--conns",
            "2",
            "--modes",
            "thread,poll",
        ]),
        b"",
        Duration::from_secs(60),
    );
    assert_eq!(code(&out), 0, "{}", text(&out.stderr));
    let table = text(&out.stdout);
    assert!(table.contains("thread") && table.contains("poll"), "{table}");
    // Only this test's servers: another test may be comparing tcp-server modes now.
    let left = compare_children_of(b"http");
    assert!(left.is_empty(), "left behind: {left:?}");
}

/// The polylines of an SVG with more than two points: the plotted lines
/// (a legend's sample line has two).
fn plotted_lines(svg: &str) -> usize {
    svg.split("<polyline")
        .skip(1)
        .filter(|p| {
            let points = p
                .split("points=\"")
                .nth(1)
                .and_then(|r| r.split('"').next())
                .unwrap_or("");
            points.split_whitespace().count() > 2
        })
        .count()
}

/// `--hist`, `--hgrm` and `--plot` with `--json`: the histogram on stderr,
/// the `.hgrm` percentiles agree with the JSON's, the SVG is well-formed.
#[test]
fn hist_hgrm_and_plot_after_the_run() {
    let server = Server::start(&["tcp-server", "--mode", "poll"]);
    let dir = tempfile::tempdir().expect("dir");
    let (hgrm, svg) = (dir.path().join("run.hgrm"), dir.path().join("run.svg"));
    let (status, v, stderr) = bench_json(&[
        "-p",
        &server.port(),
        "--conns",
        "2",
        "--duration",
        "1s",
        "--interval",
        "200ms",
        "--hist",
        "--hgrm",
        hgrm.to_str().expect("path"),
        "--plot",
        svg.to_str().expect("path"),
    ]);
    assert_eq!(status, 0, "{stderr}");
    assert!(
        stderr.contains("p50") && stderr.contains("Latency histogram"),
        "{stderr}"
    );
    // The .hgrm, read back: the value at each percentile matches --json's (µs vs ms, 3 digits).
    let text = std::fs::read_to_string(&hgrm).expect("hgrm");
    let rows: Vec<(f64, f64)> = text
        .lines()
        .skip(2)
        .take_while(|l| !l.starts_with('#'))
        .map(|l| {
            let f: Vec<f64> = l.split_whitespace().filter_map(|w| w.parse().ok()).collect();
            (f[0], f[1])
        })
        .collect();
    // The JSON's percentile lies between the row before the first at or
    // past it and that row (µs against ms with three decimals).
    for (q, key) in [(0.5, "p50_us"), (0.99, "p99_us")] {
        let want = v[key].as_f64().expect("number");
        let i = rows.iter().position(|(_, p)| *p >= q).expect("row");
        let (low, high) = (rows[i.saturating_sub(1)].0 * 1000.0, rows[i].0 * 1000.0);
        assert!(
            low - 1.0 <= want && want <= high + 1.0,
            "{key}: json {want} outside the hgrm rows {low}..{high}"
        );
    }
    let total = format!("Total count    = {:>12}]", v["requests"].as_u64().expect("requests"));
    assert!(text.contains(&total), "{total} in {text}");
    let svg = std::fs::read_to_string(&svg).expect("svg");
    let check = python(
        "import sys, xml.etree.ElementTree as E; E.parse(sys.argv[1]); print('ok')",
        &[dir.path().join("run.svg").to_str().expect("path")],
        b"",
    );
    assert_eq!(text_of(&check.stdout), "ok\n", "{}", text_of(&check.stderr));
    assert_eq!(
        plotted_lines(&svg),
        3,
        "the percentile line, requests/s and p99 over time"
    );
}

fn text_of(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// With `--compare-modes`, one line per mode in one picture; a path that
/// cannot be written is a usage error before any load (no server is even
/// started: the error comes at once).
#[test]
fn compare_modes_plot_has_a_line_per_mode_and_bad_paths_fail_first() {
    let dir = tempfile::tempdir().expect("dir");
    let svg = dir.path().join("modes.svg");
    let out = run(
        netlab(&[
            "bench",
            "--compare-modes",
            "--modes",
            "thread,poll",
            "--duration",
            "300ms",
            "--conns",
            "2",
            "--plot",
            svg.to_str().expect("path"),
            "--hgrm",
            dir.path().join("m.hgrm").to_str().expect("path"),
        ]),
        b"",
        Duration::from_secs(60),
    );
    assert_eq!(code(&out), 0, "{}", text(&out.stderr));
    let svg = std::fs::read_to_string(&svg).expect("svg");
    assert_eq!(plotted_lines(&svg), 2, "one line per mode");
    let texts: Vec<&str> = svg
        .split("<text")
        .skip(1)
        .filter_map(|t| t.split('>').nth(1)?.split('<').next())
        .map(str::trim)
        .collect();
    assert!(
        texts.contains(&"thread") && texts.contains(&"poll"),
        "legend names the modes: {texts:?}"
    );
    for mode in ["thread", "poll"] {
        let hgrm = std::fs::read_to_string(dir.path().join(format!("m.{mode}.hgrm"))).expect("per-mode hgrm");
        assert!(hgrm.contains("#[Max"), "{hgrm}");
    }
    let started = Instant::now();
    for flag in ["--plot", "--hgrm"] {
        let out = netlab_out(&["bench", "-p", "9", "--duration", "30s", flag, "/nonexistent/dir/x"]);
        assert_eq!(code(&out), 2, "{flag}: {}", text(&out.stderr));
        assert!(
            text(&out.stderr).contains("cannot write '/nonexistent/dir/x'"),
            "{}",
            text(&out.stderr)
        );
    }
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "failed before the 30 s load"
    );
}
