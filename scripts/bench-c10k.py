#!/usr/bin/env python3
"""The C10k lesson as numbers: how many idle clients a server holds, how
fast they are set up, and what each costs in memory.

For each server: start it, then `netlab bench --conns N --hold` (one request
per connection, then every connection held open and idle). While they are
held, read the server's open descriptors and resident memory from /proc.

Usage: scripts/bench-c10k.py [N] [MODE ...]   (default 10000, poll uring thread)
The shell's `ulimit -n` must allow N descriptors for both sides.
"""
import os, subprocess, sys, time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
n = int(sys.argv[1]) if len(sys.argv) > 1 else 10000
modes = sys.argv[2:] or ["poll", "uring", "thread"]
subprocess.run(["cargo", "build", "--release", "--quiet"], cwd=ROOT, check=True)
netlab = os.path.join(ROOT, "target/release/netlab")


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        return next(int(l.split()[1]) for l in f if l.startswith("VmRSS:"))


def sockets(pid):
    return sum(1 for fd in os.listdir(f"/proc/{pid}/fd") if os.readlink(f"/proc/{pid}/fd/{fd}").startswith("socket:"))


print(f"{n} idle connections after one exchange each")
print()
print("| server | held | set up in | RSS before | RSS held | per connection |")
print("|---|---|---|---|---|---|")
for mode in modes:
    extra = ["--max-conns", str(n + 100)] if mode == "thread" else []
    server = subprocess.Popen([netlab, "tcp-server", "-q", "-p", "0", "--mode", mode, *extra],
                              stdout=subprocess.PIPE, text=True)
    port = server.stdout.readline().strip().rsplit(":", 1)[1]
    before = rss_kib(server.pid)
    base = sockets(server.pid)
    started = time.monotonic()
    bench = subprocess.Popen([netlab, "bench", "-q", "-p", port, "--conns", str(n), "--hold", "--duration", "30s", "--json"],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    held, setup = 0, None
    while time.monotonic() - started < 25:
        held = sockets(server.pid) - base
        if held >= n:
            setup = time.monotonic() - started
            break
        time.sleep(0.01)
    time.sleep(0.5)
    after = rss_kib(server.pid)
    bench.kill()
    bench.wait()
    server.terminate()
    server.wait()
    per = (after - before) / max(held, 1)
    shown = f"{setup:.2f} s" if setup else "not all in 25 s"
    print(f"| {mode} | {held} | {shown} | {before / 1024:.1f} MiB | {after / 1024:.1f} MiB | {per:.2f} KiB |")
