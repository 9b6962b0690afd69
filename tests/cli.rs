//! Commands that need no server: resolve, byteorder, usage errors.

use crate::util::*;

#[test]
fn resolve_localhost_matches_python_getaddrinfo() {
    let ours = netlab_out(&["resolve", "localhost", "--json"]);
    assert_eq!(code(&ours), 0, "{}", text(&ours.stderr));
    let mut got: Vec<String> = text(&ours.stdout)
        .lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).expect("json");
            format!(
                "{} {} {} {}",
                v["family"].as_str().unwrap_or(""),
                v["socktype"].as_str().unwrap_or(""),
                v["proto"],
                v["address"].as_str().unwrap_or("")
            )
        })
        .collect();
    let py = python(
        "import socket\nfor f,t,p,_,a in socket.getaddrinfo('localhost', None):\n    print(f.name, t.name, p, a[0])",
        &[],
        b"",
    );
    let mut want: Vec<String> = text(&py.stdout).lines().map(str::to_string).collect();
    got.sort();
    want.sort();
    assert!(!want.is_empty());
    assert_eq!(got, want);
}

#[test]
fn resolve_numeric_gives_three_lines() {
    let out = netlab_out(&["resolve", "127.0.0.1"]);
    let stdout = text(&out.stdout);
    let types: Vec<&str> = stdout.lines().filter_map(|l| l.split_whitespace().nth(1)).collect();
    assert_eq!(types, ["SOCK_STREAM", "SOCK_DGRAM", "SOCK_RAW"], "{stdout}");
}

#[test]
fn resolve_unknown_host_exits_68() {
    let out = netlab_out(&["resolve", "nonexistent.invalid"]);
    assert_eq!(code(&out), 68);
    assert!(text(&out.stderr).contains("this host does not seem to exist"));
    let client = netlab_out(&["udp-client", "nonexistent.invalid", "hi"]);
    assert_eq!(code(&client), 68);
}

#[test]
fn resolve_without_name_and_reverse() {
    let out = netlab_out(&["resolve"]);
    assert!(text(&out.stdout).starts_with("hostname: "), "{}", text(&out.stdout));
    let rev = netlab_out(&["resolve", "--reverse", "127.0.0.1"]);
    assert_eq!(code(&rev), 0, "{}", text(&rev.stderr));
    assert!(text(&rev.stdout).contains("addresses: 127.0.0.1"));
}

#[test]
fn byteorder_demo_and_unpack() {
    let out = netlab_out(&["byteorder", "1234"]);
    let stdout = text(&out.stdout);
    assert!(stdout.contains("little-endian  d2 04 00 00"), "{stdout}");
    assert!(stdout.contains("big-endian     00 00 04 d2"), "{stdout}");
    assert!(stdout.contains("network        00 00 04 d2"), "{stdout}");
    assert_eq!(
        text(&netlab_out(&["byteorder", "--unpack", "00 00 04 d2"]).stdout),
        "1234\n"
    );
    let bad = netlab_out(&["byteorder", "4294967296"]);
    assert_eq!(code(&bad), 2);
    assert!(text(&bad.stderr).starts_with("netlab: error:"));
}

#[test]
fn usage_errors_exit_2_with_one_line() {
    for args in [
        vec!["udp-server", "-p", "70000"],
        vec!["udp-client", "--timeout", "soon", "x"],
        vec!["udp-server", "--bogus"],
    ] {
        let out = netlab_out(&args);
        assert_eq!(code(&out), 2, "{args:?}");
        let stderr = text(&out.stderr);
        assert_eq!(stderr.lines().count(), 1, "{stderr}");
        assert!(stderr.starts_with("netlab: error:"), "{stderr}");
    }
    let help = netlab_out(&["udp-client", "--help"]);
    assert_eq!(code(&help), 0);
    assert!(text(&help.stdout).contains("--max-wait"));
}

#[test]
fn closed_stdout_exits_quietly() {
    use std::process::Stdio;
    let mut child = netlab(&["resolve", "127.0.0.1"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    drop(child.stdout.take());
    let out = child.wait_with_output().expect("wait");
    assert_eq!(code(&out), 0, "{}", text(&out.stderr));
    assert_eq!(text(&out.stderr), "");
}

#[test]
fn netlab_alone_shows_where_to_start() {
    let out = netlab_out(&[]);
    assert_eq!(code(&out), 0, "{}", text(&out.stderr));
    let overview = text(&out.stdout);
    assert!(overview.lines().count() < 15, "a short overview: {overview}");
    let tries = overview.lines().filter(|l| l.starts_with("  netlab ")).count();
    assert_eq!(tries, 3, "three commands to try first: {overview}");
    let version = netlab_out(&["--version"]);
    assert!(text(&version.stdout).starts_with(&format!("netlab {}", env!("CARGO_PKG_VERSION"))));
    assert!(text(&version.stdout).contains("netlab tcp-client 127.0.0.1 hello"));
}

#[test]
fn completions_for_every_shell() {
    for shell in ["bash", "zsh", "fish", "powershell"] {
        let out = netlab_out(&["completions", shell]);
        assert_eq!(code(&out), 0, "{shell}: {}", text(&out.stderr));
        let script = text(&out.stdout);
        assert!(script.contains("tcp-server") && script.contains("max-frame"), "{shell}");
    }
    assert_eq!(code(&netlab_out(&["completions", "tcsh"])), 2);
}

/// Every command's help has examples, and every server command shows the
/// shared server flags' examples too.
#[test]
fn every_help_has_examples() {
    let commands: &[&[&str]] = &[
        &["tcp-server"],
        &["tcp-client"],
        &["framed", "server"],
        &["framed", "client"],
        &["rpc", "server"],
        &["rpc", "call"],
        &["udp-server"],
        &["udp-client"],
        &["bench"],
        &["resolve"],
        &["byteorder"],
        &["completions"],
    ];
    for cmd in commands {
        let mut args = cmd.to_vec();
        args.push("--help");
        let help = text(&netlab_out(&args).stdout);
        assert!(help.contains("Examples:"), "{cmd:?} has no examples");
        let server = cmd.last() == Some(&"server") || cmd == &["tcp-server"];
        assert_eq!(help.contains("Server options (tcp-server"), server, "{cmd:?}");
    }
}
