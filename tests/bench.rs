//! bench against the netlab servers: replies checked, errors counted, exit codes.

use crate::util::tcp::*;
use crate::util::*;

#[test]
fn bench_checks_every_reply() {
    let server = start("poll", &[]);
    let out = netlab_out(&[
        "bench",
        "-p",
        &server.port(),
        "--conns",
        "4",
        "--requests",
        "200",
        "--size",
        "100",
        "--json",
    ]);
    assert_eq!(code(&out), 0, "{}", text(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(v["requests"], 200);
    assert_eq!(v["errors"], 0);
    for key in ["rps", "mbps", "p50_us", "p99_us", "max_us"] {
        assert!(v[key].is_number(), "{key} in {v}");
    }
    // An upper server does not echo: every reply is wrong.
    let wrong = netlab_out(&["bench", "-p", &server.port(), "--requests", "10", "--reply", "echo"]);
    assert_eq!(code(&wrong), 1);
    assert!(text(&wrong.stdout).contains("errors"), "{}", text(&wrong.stdout));
    let gone = netlab_out(&["bench", "-p", "1", "--requests", "1"]);
    assert_eq!(code(&gone), 69, "{}", text(&gone.stderr));
}
