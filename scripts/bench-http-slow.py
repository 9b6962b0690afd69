#!/usr/bin/env python3
"""Many slow downloads at once: does the file server's memory stay bounded?

N clients (default 1000) each GET a large file (default 100 MiB) and read
it slowly (64 KiB per client per second), for SECONDS; the server's
resident memory (VmRSS, and its children's in fork mode) is sampled
throughout and its peak printed, with the bytes the clients received.
A file server that read whole files, or kept a socket's worth of unsent
pieces per client, would need gigabytes here.

Usage: scripts/bench-http-slow.py [SECONDS] [MODES...]  (default 10, poll uring thread)
       CLIENTS=N, SIZE_MIB=M
"""
import os, selectors, socket, subprocess, sys, tempfile, time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
secs = float(sys.argv[1]) if len(sys.argv) > 1 else 10
modes = sys.argv[2:] or ["poll", "uring", "thread"]
clients = int(os.environ.get("CLIENTS", "1000"))
size = int(os.environ.get("SIZE_MIB", "100")) << 20
subprocess.run(["cargo", "build", "--release", "--quiet"], cwd=ROOT, check=True)
netlab = os.path.join(ROOT, "target/release/netlab")
site = tempfile.mkdtemp(prefix="netlab-slow-")
with open(os.path.join(site, "big.bin"), "wb") as f:
    f.truncate(size)  # sparse: the page cache, not the disk, is what is read


def rss_kib(pid):
    total = 0
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/status") as f:
                fields = dict(line.split(":", 1) for line in f if ":" in line)
        except OSError:
            continue
        if int(entry) == pid or int(fields.get("PPid", "0").strip()) == pid:
            total += int(fields.get("VmRSS", "0 kB").split()[0])
    return total


print(f"{clients} clients reading a {size >> 20} MiB file at 64 KiB/s each, {secs:g} s")
print()
print("| mode | peak server RSS | received in all |")
print("|---|---|---|")
for mode in modes:
    server = subprocess.Popen([netlab, "http", "server", site, "-q", "-p", "0", "--mode", mode,
                               "--max-conns", str(clients + 10)], stdout=subprocess.PIPE, text=True)
    port = int(server.stdout.readline().rsplit(":", 1)[1])
    sel = selectors.DefaultSelector()
    socks = []
    for _ in range(clients):
        s = socket.create_connection(("127.0.0.1", port))
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 << 10)
        s.sendall(f"GET /big.bin HTTP/1.1\r\nHost: x\r\n\r\n".encode())
        s.setblocking(False)
        socks.append(s)
    got, peak = 0, 0
    end = time.monotonic() + secs
    while time.monotonic() < end:
        tick = time.monotonic()
        for s in socks:
            try:
                got += len(s.recv(64 << 10))
            except BlockingIOError:
                pass
        peak = max(peak, rss_kib(server.pid))
        time.sleep(max(0.0, 1.0 - (time.monotonic() - tick)))
    for s in socks:
        s.close()
    server.terminate()
    server.wait()
    print(f"| {mode} | {peak / 1024:.1f} MiB | {got >> 20} MiB |")
os.remove(os.path.join(site, "big.bin"))
os.rmdir(site)
