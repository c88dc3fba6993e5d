#!/usr/bin/env python3
"""The IT-staff page's memory: mailconf serve making department zips for uploads (issue 20).

Run through bench/serve.sh (or alone: python3 bench/serve_admin.py --mailconf target/release/mailconf).
For each roster size (bench/gen_roster.py, every kind of file, as the page's defaults), a fresh
server on 127.0.0.1 (port 0, read from its first line) gets:

  one     one upload, its zip read as fast as the client can;
  three   three uploads at once, each read as fast as its client can;
  held    three uploads whose clients read the answer's head and then nothing (a slow link that
          stalled), and meanwhile one more upload of 1,000 people, read whole.

Measured: the server's peak resident memory (VmHWM) for each case, the wall time of each
upload (from sending to the zip's last byte), and the zip's size. Every zip is checked to end
with a zip's end record. Bounded: every socket has a timeout, every server is stopped.
"""

import argparse
import base64
import json
import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
WORK = ROOT / "target" / "bench" / "serve-admin"
USER = "bench"
PASSWORD = "bench password"
BOUNDARY = "mailconf-bench-boundary"


def htpasswd_file() -> Path:
    """An htpasswd file with one bcrypt entry (cost 4), made by Apache's htpasswd."""
    WORK.mkdir(parents=True, exist_ok=True)
    path = WORK / "it-staff.htpasswd"
    out = subprocess.run(
        ["htpasswd", "-nbB", "-C", "4", USER, PASSWORD], check=True, capture_output=True, text=True
    ).stdout.strip()
    path.write_text(out + "\n")
    return path


def roster(n: int) -> bytes:
    path = WORK / f"roster-{n}.csv"
    if not path.exists():
        subprocess.run(
            [sys.executable, str(ROOT / "bench" / "gen_roster.py"), str(n), str(path)], check=True
        )
    return path.read_bytes()


def start_serve(mailconf: str, args: list[str]) -> tuple[subprocess.Popen, int]:
    """`mailconf serve --listen 127.0.0.1:0 ARGS`: the server and the port it says it got. Its
    stderr (the access log, after that line) goes to a file, so that reading it costs the
    benchmark nothing."""
    WORK.mkdir(parents=True, exist_ok=True)
    log = WORK / f"serve-{time.monotonic_ns()}.log"
    with open(log, "w") as err:
        server = subprocess.Popen(
            [mailconf, "serve", "--listen", "127.0.0.1:0", *args],
            stderr=err,
            stdout=subprocess.DEVNULL,
        )
    began = time.monotonic()
    while time.monotonic() - began < 30:
        first = log.read_text().split("\n", 1)[0] if log.exists() else ""
        if "serving on" in first:
            # The server keeps writing to the file, unnamed: nothing is left behind.
            log.unlink()
            return server, int(first.split("serving on ")[1].split()[0].rsplit(":", 1)[1])
        if server.poll() is not None:
            break
        time.sleep(0.02)
    server.kill()
    raise SystemExit(f"mailconf serve did not start: {log.read_text()[:500]}")


def start(mailconf: str, htpasswd: Path) -> tuple[subprocess.Popen, int]:
    return start_serve(mailconf, ["--admin-htpasswd", str(htpasswd), "--quiet"])


def stop(server: subprocess.Popen) -> None:
    server.terminate()
    try:
        server.wait(timeout=40)
    except subprocess.TimeoutExpired:
        server.kill()
        server.wait()


def vm_hwm_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


def vm_rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def request(name: str, data: bytes) -> bytes:
    fields = [
        ("formats", "thunderbird"), ("formats", "apple"), ("formats", "outlook"),
        ("formats", "guides"), ("google", "on"), ("protocol", "pop"),
        ("prf_encoding", "utf16le"), ("prf_dir", ""),
    ]
    body = b""
    for k, v in fields:
        body += f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n'.encode()
    body += (
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="roster"; filename="{name}"\r\n'
        "Content-Type: text/csv\r\n\r\n"
    ).encode() + data + f"\r\n--{BOUNDARY}--\r\n".encode()
    token = base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
    head = (
        f"POST /admin/ HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Basic {token}\r\n"
        f"Content-Type: multipart/form-data; boundary={BOUNDARY}\r\nContent-Length: {len(body)}\r\n"
        "Connection: close\r\n\r\n"
    )
    return head.encode() + body


def read_head(sock: socket.socket) -> tuple[str, bytes]:
    got = b""
    while b"\r\n\r\n" not in got:
        chunk = sock.recv(65536)
        if not chunk:
            raise RuntimeError(f"closed before the head: {got[:200]!r}")
        got += chunk
    head, rest = got.split(b"\r\n\r\n", 1)
    return head.decode("latin-1"), rest


def dechunked_tail(data: bytearray) -> bytes:
    """The last bytes of a chunked body's payload (enough to find the zip's end record)."""
    out = bytearray()
    i = 0
    while True:
        j = data.index(b"\r\n", i)
        size = int(data[i:j], 16)
        if size == 0:
            return bytes(out[-100:])
        out += data[j + 2 : j + 2 + size]
        if len(out) > 1 << 20:
            del out[: len(out) - 1000]
        i = j + 2 + size + 2


def upload(port: int, name: str, data: bytes, result: dict, hold: threading.Event | None = None) -> None:
    """One upload; its zip read to the end (or, with `hold`, its head only, until set)."""
    started = time.monotonic()
    sock = socket.create_connection(("127.0.0.1", port), timeout=600)
    if hold is not None:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 16384)
    sock.sendall(request(name, data))
    head, rest = read_head(sock)
    result["status"] = int(head.split()[1])
    if hold is not None:
        result["head_after_s"] = time.monotonic() - started
        hold.wait(timeout=600)
        sock.close()
        return
    body = bytearray(rest)
    while True:
        chunk = sock.recv(1 << 20)
        if not chunk:
            break
        body += chunk
    sock.close()
    result["seconds"] = time.monotonic() - started
    tail = dechunked_tail(body) if "chunked" in head.lower() else bytes(body[-100:])
    result["zip_end_record"] = b"PK\x05\x06" in tail
    result["bytes"] = len(body)


def settle(pid: int, seconds: float = 2.0, limit: float = 60.0) -> float:
    """Waits until the server's resident memory stops changing (for `seconds`); returns it."""
    last, since, began = vm_rss_mib(pid), time.monotonic(), time.monotonic()
    while time.monotonic() - began < limit:
        time.sleep(0.2)
        now = vm_rss_mib(pid)
        if abs(now - last) > 0.5:
            last, since = now, time.monotonic()
        elif time.monotonic() - since >= seconds:
            break
    return last


def case(mailconf: str, htpasswd: Path, n: int, at_once: int) -> dict:
    server, port = start(mailconf, htpasswd)
    try:
        data = roster(n)
        base = vm_hwm_mib(server.pid)
        results = [{} for _ in range(at_once)]
        threads = [
            threading.Thread(target=upload, args=(port, f"dept{i}.csv", data, results[i]))
            for i in range(at_once)
        ]
        began = time.monotonic()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        wall = time.monotonic() - began
        peak = vm_hwm_mib(server.pid)
        for r in results:
            if r.get("status") != 200 or not r.get("zip_end_record"):
                raise SystemExit(f"an upload of {n} failed: {r}")
        return {
            "people": n,
            "at_once": at_once,
            "idle_mib": round(base, 1),
            "peak_mib": round(peak, 1),
            "wall_s": round(wall, 2),
            "each_s": [round(r["seconds"], 2) for r in results],
            "zip_mb": round(results[0]["bytes"] / 1e6, 1),
        }
    finally:
        stop(server)


def held(mailconf: str, htpasswd: Path, n: int) -> dict:
    server, port = start(mailconf, htpasswd)
    try:
        data = roster(n)
        release = threading.Event()
        results = [{} for _ in range(3)]
        threads = [
            threading.Thread(target=upload, args=(port, f"held{i}.csv", data, results[i], release))
            for i in range(3)
        ]
        for t in threads:
            t.start()
        while any("status" not in r for r in results):
            time.sleep(0.05)
        other = {}
        upload(port, "other.csv", roster(1000), other)
        steady = settle(server.pid)
        peak = vm_hwm_mib(server.pid)
        release.set()
        for t in threads:
            t.join()
        if any(r["status"] != 200 for r in results) or other.get("status") != 200:
            raise SystemExit(f"held uploads failed: {results} {other}")
        return {
            "people": n,
            "held": 3,
            "peak_mib": round(peak, 1),
            "steady_mib": round(steady, 1),
            "other_1000_s": round(other["seconds"], 2),
        }
    finally:
        stop(server)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--mailconf", default=str(ROOT / "target" / "release" / "mailconf"))
    ap.add_argument("--sizes", default="1000,10000")
    ap.add_argument("--json", default=str(WORK / "results.json"))
    args = ap.parse_args()
    htpasswd = htpasswd_file()
    out = {"cases": [], "held": None}
    for n in [int(s) for s in args.sizes.split(",")]:
        for at_once in (1, 3):
            r = case(args.mailconf, htpasswd, n, at_once)
            print(f"[serve-admin] {json.dumps(r)}", file=sys.stderr)
            out["cases"].append(r)
    largest = max(int(s) for s in args.sizes.split(","))
    out["held"] = held(args.mailconf, htpasswd, largest)
    print(f"[serve-admin] {json.dumps(out['held'])}", file=sys.stderr)
    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    Path(args.json).write_text(json.dumps(out, indent=2))
    print(json.dumps(out))


if __name__ == "__main__":
    main()
