#!/usr/bin/env python3
"""What TLS costs: the file server over TLS 1.3 beside its plain self, and beside nginx.

Loads (wrk -t2 on the same 2 cores, a 1 KiB file):
- 64-byte uppercase echo requests over 100 kept connections (`netlab bench`, closed loop),
  `tcp-server` plain and `--tls`: the server's CPU per request, and the ratio;
- kept-alive at 100 connections, plain http and https: requests/s and the server's CPU
  per request (from /proc), so the ratio is the cost of the record layer;
- a new connection per request at 4 connections (`Connection: close`): handshakes/s
  and the server's CPU per handshake.
One certificate for everyone: ECDSA P-256 made with openssl. nginx runs one worker
with TLS 1.3 where installed (never in CI). Interleaved rounds, medians.

Usage: scripts/bench-tls.py [SECONDS] (default 4); ROUNDS=N (default 3); MODES=poll,uring
Needs: wrk, openssl; nginx for its rows.
"""
import json, os, re, shutil, socket, statistics, subprocess, sys, tempfile, time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from benchlib import free_port, tree_cpu  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
secs = float(sys.argv[1]) if len(sys.argv) > 1 else 4
rounds = int(os.environ.get("ROUNDS", "3"))
modes = os.environ.get("MODES", "poll,uring").split(",")
subprocess.run(["cargo", "build", "--release", "--quiet"], cwd=ROOT, check=True)
netlab = os.path.join(ROOT, "target/release/netlab")
site = tempfile.mkdtemp(prefix="netlab-tls-")
os.chmod(site, 0o755)
with open(os.path.join(site, "1k.bin"), "wb") as f:
    f.write(os.urandom(1024))
cert, key = os.path.join(site, "c.pem"), os.path.join(site, "k.pem")
subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                "-keyout", key, "-out", cert, "-days", "2", "-subj", "/CN=localhost",
                "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"], check=True, capture_output=True)
for p in (cert, key, os.path.join(site, "1k.bin")):
    os.chmod(p, 0o644)


def nginx_cmd(port, tls):
    conf = os.path.join(site, f"nginx-{port}.conf")
    listen = f"listen 127.0.0.1:{port} ssl; ssl_certificate {cert}; ssl_certificate_key {key}; ssl_protocols TLSv1.3;" if tls else f"listen 127.0.0.1:{port};"
    with open(conf, "w") as f:
        f.write(f"""worker_processes 1; daemon off; pid {site}/nginx-{port}.pid; error_log stderr crit;
events {{ worker_connections 4096; }}
http {{ access_log off; sendfile on; keepalive_requests 100000000; types {{ application/octet-stream bin; }}
  server {{ {listen} root {site}; }} }}
""")
    return ["nginx", "-c", conf, "-p", site]


SERVERS = []
for m in modes:
    SERVERS.append((f"netlab --mode {m}", lambda p, tls, m=m: [netlab, "http", "server", site, "-q", "-p", str(p), "--mode", m]
                    + (["--tls", "--cert", cert, "--key", key] if tls else [])))
if shutil.which("nginx"):
    SERVERS.append(("nginx (1 worker)", nginx_cmd))


def wait_port(port):
    """Until the server accepts (at most 10 s)."""
    for _ in range(200):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.05)


def measure(cmd, tls, conns, close):
    port = free_port()
    proc = subprocess.Popen(cmd(port, tls), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_port(port)
        before = tree_cpu(proc.pid)
        url = f"{'https' if tls else 'http'}://127.0.0.1:{port}/1k.bin"
        args = ["wrk", "-t2", f"-c{conns}", f"-d{secs:g}s"] + (["-H", "Connection: close"] if close else []) + [url]
        out = subprocess.run(args, capture_output=True, text=True).stdout
        if "Non-2xx" in out:
            raise RuntimeError(out)
        reqs = int(re.search(r"(\d+) requests in", out).group(1))
        cpu = tree_cpu(proc.pid) - before
    finally:
        proc.terminate()
        proc.wait()
    return reqs / secs, cpu / max(reqs, 1) * 1e6


LOADS = [("plain", False, 100, False), ("tls", True, 100, False), ("handshakes", True, 4, True)]
results = {}
for _ in range(rounds):
    for name, cmd in SERVERS:
        for label, tls, conns, close in LOADS:
            results.setdefault((name, label), []).append(measure(cmd, tls, conns, close))


def echo(mode, tls):
    """64-byte requests over 100 kept connections to tcp-server: (requests/s, server µs/request)."""
    port = free_port()
    cmd = [netlab, "tcp-server", "-q", "-p", str(port), "--mode", mode] + (["--tls", "--cert", cert, "--key", key] if tls else [])
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_port(port)
        before = tree_cpu(proc.pid)
        load = [netlab, "bench", "localhost", "-p", str(port), "--conns", "100", "--size", "64", "--duration", f"{secs:g}s", "--json"]
        out = subprocess.run(load + (["--tls", "--cacert", cert] if tls else []), capture_output=True, text=True).stdout
        summary = json.loads(out.strip().splitlines()[-1])
        cpu = tree_cpu(proc.pid) - before
    finally:
        proc.terminate()
        proc.wait()
    return summary["rps"], cpu / max(summary["requests"], 1) * 1e6


echoes = {}
for _ in range(rounds):
    for m in modes:
        for tls in (False, True):
            echoes.setdefault((m, tls), []).append(echo(m, tls))
shutil.rmtree(site, ignore_errors=True)

med = lambda name, label, i: statistics.median(x[i] for x in results[(name, label)])
print(f"wrk -t2, {secs:g} s per cell, median of {rounds} interleaved rounds, a 1 KiB file, TLS 1.3 with ECDSA P-256")
print()
print("| server | plain: µs/req | TLS kept-alive x100: req/s | µs/req | TLS/plain | new conn x4: handshakes/s | µs each |")
print("|---|---|---|---|---|---|---|")
for name, _ in SERVERS:
    p, t = med(name, "plain", 1), med(name, "tls", 1)
    print(f"| {name} | {p:.1f} | {med(name, 'tls', 0):,.0f} | {t:.1f} | {t / p:.2f}x | {med(name, 'handshakes', 0):,.0f} | {med(name, 'handshakes', 1):.0f} |")

print()
print(f"netlab bench --conns 100 --size 64 (closed loop, {secs:g} s per cell), tcp-server uppercase echo, median of {rounds}")
print()
print("| mode | plain: req/s | µs/req | TLS: req/s | µs/req | TLS/plain |")
print("|---|---|---|---|---|---|")
for m in modes:
    em = lambda tls, i: statistics.median(x[i] for x in echoes[(m, tls)])
    print(f"| {m} | {em(False, 0):,.0f} | {em(False, 1):.1f} | {em(True, 0):,.0f} | {em(True, 1):.1f} | {em(True, 1) / em(False, 1):.2f}x |")
