#!/usr/bin/env python3
"""System calls and server CPU per request, for servers side by side in one run.

For each server and connection count: start the server on a free port, run
`netlab bench` (64-byte request/response) against it while
`perf stat -e raw_syscalls:sys_enter -p PID` counts the server's system
calls, and read the server's CPU time from /proc/PID/stat before and after.
The bench's own CPU per request (from getrusage of the finished child) is
printed beside it: a load generator must not be the bottleneck it measures.

The servers run in interleaved rounds (A B C, A B C, ...) and each figure is
the median of its rounds, so a noisy neighbour hurts every server alike.

Usage: scripts/bench-syscalls.py [SECONDS] [CONNS ...]   (default 5, 100 1000)
       ROUNDS=N (default 3), WORKERS2=1 adds --workers 2 rows
       BASE=path/to/an/older/netlab adds its uring and poll rows (an A/B run)
       PROTO=udp: netlab udp-server against tools/udp-echo (a minimal blocking
       recv_from/send_to loop) instead, CONNS being concurrent clients (default 1 4)
Needs: cargo, perf (Debian: linux-perf); builds netlab and tools/tokio-echo.
"""
import json, os, resource, statistics, subprocess, sys, time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
secs = float(sys.argv[1]) if len(sys.argv) > 1 else 5
conn_counts = [int(c) for c in sys.argv[2:]] or ([1, 4] if os.environ.get("PROTO") == "udp" else [100, 1000])
subprocess.run(["cargo", "build", "--release", "--quiet"], cwd=ROOT, check=True)
proto = os.environ.get("PROTO", "tcp")
yard_dir = "tools/udp-echo" if proto == "udp" else "tools/tokio-echo"
subprocess.run(["cargo", "build", "--release", "--quiet"], cwd=os.path.join(ROOT, yard_dir), check=True)
netlab = os.path.join(ROOT, "target/release/netlab")
tokio = os.path.join(ROOT, "tools/tokio-echo/target/release/tokio-echo")
tick = os.sysconf("SC_CLK_TCK")

SERVERS = [
    ("netlab --mode uring", [netlab, "tcp-server", "-q", "-p", "0", "--mode", "uring", "--handler", "echo"]),
    ("netlab --mode poll", [netlab, "tcp-server", "-q", "-p", "0", "--mode", "poll", "--handler", "echo"]),
    ("tokio echo (yardstick)", [tokio, "0"]),
]
YARDSTICK = "tokio echo (yardstick)"
if proto == "udp":
    YARDSTICK = "blocking UDP echo (yardstick)"
    SERVERS = [
        ("netlab udp-server", [netlab, "udp-server", "-q", "-p", "0", "--reply", "echo"]),
        (YARDSTICK, [os.path.join(ROOT, "tools/udp-echo/target/release/udp-echo"), "0"]),
    ]
if os.environ.get("BASE") and proto != "udp":
    # An older build beside this one, in the same interleaved rounds (an A/B run).
    base = os.environ["BASE"]
    SERVERS[2:2] = [
        ("BASE --mode uring", [base, "tcp-server", "-q", "-p", "0", "--mode", "uring", "--handler", "echo"]),
        ("BASE --mode poll", [base, "tcp-server", "-q", "-p", "0", "--mode", "poll", "--handler", "echo"]),
    ]
if os.environ.get("WORKERS2"):
    SERVERS[2:2] = [
        ("netlab --mode uring --workers 2", [netlab, "tcp-server", "-q", "-p", "0", "--mode", "uring", "--workers", "2", "--handler", "echo"]),
        ("netlab --mode poll --workers 2", [netlab, "tcp-server", "-q", "-p", "0", "--mode", "poll", "--workers", "2", "--handler", "echo"]),
    ]


def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / tick  # utime + stime


def measure(cmd, conns):
    server = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    line = server.stdout.readline()
    port = line.strip().rsplit(":", 1)[1]
    perf = subprocess.Popen(["perf", "stat", "-x,", "-e", "raw_syscalls:sys_enter", "-p", str(server.pid)],
                            stderr=subprocess.PIPE, text=True)
    time.sleep(0.2)
    cpu0 = cpu_seconds(server.pid)
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    out = subprocess.run([netlab, "bench", "--proto", proto, "-p", port, "--conns", str(conns), "--reply", "echo",
                          "--duration", f"{secs}s", "--json"], capture_output=True, text=True)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu1 = cpu_seconds(server.pid)
    perf.send_signal(2)
    counts = perf.communicate()[1]
    server.terminate()
    server.wait()
    report = json.loads(out.stdout)
    syscalls = next((int(l.split(",")[0]) for l in counts.splitlines() if "raw_syscalls" in l), 0)
    n = max(report["requests"], 1)
    bench_cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return report["rps"], report["p99_us"], syscalls / n, (cpu1 - cpu0) / n * 1e6, bench_cpu / n * 1e6, report["errors"]


rounds = int(os.environ.get("ROUNDS", "3"))
print(f"64-byte echo, {secs:g} s per cell, median of {rounds} interleaved rounds, {os.cpu_count()} cores;")
print("CPU in microseconds per request")
print()
print("| server | conns | requests/s | p99 | syscalls/request | server CPU/request | bench CPU/request |")
print("|---|---|---|---|---|---|---|")
rows = {}
for conns in conn_counts:
    samples = {name: [] for name, _ in SERVERS}
    for _ in range(rounds):
        for name, cmd in SERVERS:
            samples[name].append(measure(cmd, conns))
    for name, _ in SERVERS:
        med = [statistics.median(s[i] for s in samples[name]) for i in range(6)]
        rps, p99, sys_per, cpu_per, bench_per, errors = med
        rows[(name, conns)] = cpu_per
        rows[(name, conns, "rps")] = rps
        flag = "" if errors == 0 else f" ({errors:.0f} errors)"
        print(f"| {name} | {conns} | {rps:.0f}{flag} | {p99 / 1000:.2f} ms | {sys_per:.2f} | {cpu_per:.2f} | {bench_per:.2f} |")
print()
for conns in conn_counts:
    yard = rows[(YARDSTICK, conns)]
    for name, _ in SERVERS[:-1]:
        print(f"{name} at {conns} connections: {rows[(name, conns)] / yard:.2f}x the yardstick's CPU per request,"
              f" {rows[(name, conns, 'rps')] / rows[(YARDSTICK, conns, 'rps')]:.2f}x its requests/s")
