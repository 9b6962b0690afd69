#!/usr/bin/env python3
"""The file server side by side with nginx, lighttpd and Python's http.server.

Two loads, the figures that tell file servers apart on a 2-core machine:
- a 1 KiB file over 100 keep-alive connections: requests/s and the server's
  CPU time per request (from /proc, the server and its children), which is
  what separates two designs when the load generator shares the cores;
- a 10 MiB file over 4 connections: MB/s.
The servers run in interleaved rounds (A B C, A B C, ...) and each figure is
the median of its rounds. The load generator is wrk (-t2) when installed,
else `netlab bench --proto http`; nginx and lighttpd are measured where they
are installed (Debian: apt-get install nginx lighttpd wrk), never in CI.

Usage: scripts/bench-http.py [SECONDS] (default 5); ROUNDS=N (default 3);
       MODES=thread,poll,uring (netlab's modes to measure).
Prints a markdown table.
"""
import os, re, shutil, socket, statistics, subprocess, sys, tempfile, time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from benchlib import free_port, tree_cpu  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
secs = float(sys.argv[1]) if len(sys.argv) > 1 else 5
rounds = int(os.environ.get("ROUNDS", "3"))
modes = os.environ.get("MODES", "thread,poll,uring").split(",")
subprocess.run(["cargo", "build", "--release", "--quiet"], cwd=ROOT, check=True)
netlab = os.path.join(ROOT, "target/release/netlab")
site = tempfile.mkdtemp(prefix="netlab-http-")
os.chmod(site, 0o755)  # nginx's and lighttpd's workers run as another user
with open(os.path.join(site, "1k.bin"), "wb") as f:
    f.write(os.urandom(1024))
with open(os.path.join(site, "10m.bin"), "wb") as f:
    f.write(os.urandom(10 << 20))
for name in os.listdir(site):
    os.chmod(os.path.join(site, name), 0o644)
LOADS = [("1k.bin", 100, "1 KiB x 100 conns"), ("10m.bin", 4, "10 MiB x 4 conns")]


def wait_port(port, proc):
    for _ in range(200):
        if proc.poll() is not None:
            raise RuntimeError("server exited at start")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError("server never listened")


def nginx_cmd(port):
    conf = os.path.join(site, f"nginx-{port}.conf")
    with open(conf, "w") as f:
        f.write(f"""worker_processes 1; daemon off; pid {site}/nginx-{port}.pid; error_log stderr crit;
events {{ worker_connections 4096; }}
http {{ access_log off; sendfile on; tcp_nopush on; keepalive_requests 100000000;
  types {{ application/octet-stream bin; }}
  server {{ listen 127.0.0.1:{port}; root {site}; }} }}
""")
    return ["nginx", "-c", conf, "-p", site]


def lighttpd_cmd(port):
    conf = os.path.join(site, f"lighttpd-{port}.conf")
    with open(conf, "w") as f:
        f.write(f"""server.document-root = "{site}"
server.port = {port}
server.bind = "127.0.0.1"
server.max-keep-alive-requests = 100000000
server.max-keep-alive-idle = 60
""")
    return ["lighttpd", "-D", "-f", conf]


SERVERS = [(f"netlab --mode {m}", lambda p, m=m: [netlab, "http", "server", site, "-q", "-p", str(p), "--mode", m]) for m in modes]
if shutil.which("nginx"):
    SERVERS.append(("nginx (1 worker, sendfile)", nginx_cmd))
if shutil.which("lighttpd"):
    SERVERS.append(("lighttpd", lighttpd_cmd))
SERVERS.append(("python3 -m http.server", lambda p: [sys.executable, "-m", "http.server", str(p), "--bind", "127.0.0.1", "--directory", site]))


def load(port, path, conns):
    """Requests and bytes/s of one run: wrk when there is one, else netlab bench."""
    url = f"http://127.0.0.1:{port}/{path}"
    if shutil.which("wrk"):
        out = subprocess.run(["wrk", "-t2", f"-c{conns}", f"-d{secs:g}s", url], capture_output=True, text=True).stdout
        if "Non-2xx" in out:
            raise RuntimeError(f"{url}: wrong answers\n{out}")
        if "Socket errors" in out:
            print(f"note: {url}: {out.split('Socket errors:')[1].splitlines()[0].strip()}", file=sys.stderr)
        reqs = int(re.search(r"(\d+) requests in", out).group(1))
        rate = re.search(r"Transfer/sec:\s+([\d.]+)(\w+)", out)
        scale = {"B": 1, "KB": 1 << 10, "MB": 1 << 20, "GB": 1 << 30}[rate.group(2)]
        return reqs, float(rate.group(1)) * scale
    import json
    out = subprocess.run([netlab, "bench", "--proto", "http", "-p", str(port), "--path", "/" + path,
                          "--conns", str(conns), "--duration", f"{secs:g}s", "--json"], capture_output=True, text=True).stdout
    d = json.loads(out)
    return d["requests"], d["mbps"] * 1e6


def measure(cmd_for, path, conns):
    port = free_port()
    proc = subprocess.Popen(cmd_for(port), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_port(port, proc)
        before = tree_cpu(proc.pid)
        reqs, bps = load(port, path, conns)
        cpu = tree_cpu(proc.pid) - before
    finally:
        proc.terminate()
        proc.wait()
    return reqs / secs, cpu / max(reqs, 1) * 1e6, bps / 1e6


results = {}
for r in range(rounds):
    for name, cmd_for in SERVERS:
        for path, conns, label in LOADS:
            results.setdefault((name, label), []).append(measure(cmd_for, path, conns))
shutil.rmtree(site, ignore_errors=True)

gen = "wrk -t2" if shutil.which("wrk") else "netlab bench"
print(f"{gen}, {secs:g} s per cell, median of {rounds} interleaved rounds, {os.cpu_count()} cores")
print()
print("| server | 1 KiB x 100: req/s | server CPU µs/req | 10 MiB x 4: MB/s |")
print("|---|---|---|---|")
for name, _ in SERVERS:
    small = results[(name, LOADS[0][2])]
    big = results[(name, LOADS[1][2])]
    rps = statistics.median(x[0] for x in small)
    cpu = statistics.median(x[1] for x in small)
    mbs = statistics.median(x[2] for x in big)
    print(f"| {name} | {rps:,.0f} | {cpu:.1f} | {mbs:,.0f} |")
