#!/usr/bin/env python3
"""Peak memory of `mailconf serve` with the IT-staff page, for the unit's MemoryMax (issue 22).

Starts the release binary on 127.0.0.1 with `--admin-htpasswd`, then, while wrk loads the
Thunderbird route (2 threads, 32 connections), sends the IT-staff page a 10,000-person roster
(`bench/gen_roster.py`, every kind of file) three times at once, then once with "one zip per
person", and reports the server's peak resident memory (VmHWM) and its resident memory sampled
every 50 ms. Every request goes to 127.0.0.1 only; the load is bounded in time.

    python3 bench/serve_memory.py [--people 10000] [--binary target/release/mailconf]

Needs wrk and htpasswd (apt-get install wrk apache2-utils; installed when missing and root).
Run `cargo build --release` first.
"""

import argparse
import base64
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
USER, PASSWORD = "bench", "bench-password"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def status_kib(pid: int, key: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1])
    raise SystemExit(f"no {key} in /proc/{pid}/status")


def multipart(roster: bytes, fields: list[tuple[str, str]]) -> tuple[bytes, str]:
    boundary = uuid.uuid4().hex
    parts = []
    for name, value in fields:
        parts.append(
            f"--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n".encode()
        )
    parts.append(
        f"--{boundary}\r\nContent-Disposition: form-data; name=\"roster\"; filename=\"dept.csv\"\r\n"
        "Content-Type: text/csv\r\n\r\n".encode() + roster + b"\r\n"
    )
    parts.append(f"--{boundary}--\r\n".encode())
    return b"".join(parts), f"multipart/form-data; boundary={boundary}"


def upload(base: str, roster: bytes, per_person: bool, out: list) -> None:
    fields = [("formats", f) for f in ("thunderbird", "apple", "outlook", "guides")]
    fields += [("google", "on"), ("protocol", "pop"), ("prf_encoding", "utf16le"), ("prf_dir", "")]
    if per_person:
        fields.append(("per_person", "on"))
    body, kind = multipart(roster, fields)
    request = urllib.request.Request(base + "/admin/", data=body, method="POST")
    request.add_header("Content-Type", kind)
    token = base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
    request.add_header("Authorization", f"Basic {token}")
    started = time.perf_counter()
    with urllib.request.urlopen(request, timeout=600) as r:
        size = len(r.read())
        out.append((r.status, size, time.perf_counter() - started, per_person))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--people", type=int, default=10_000)
    parser.add_argument("--binary", default=str(ROOT / "target/release/mailconf"))
    args = parser.parse_args()
    for tool, package in [("wrk", "wrk"), ("htpasswd", "apache2-utils")]:
        if shutil.which(tool) is None:
            subprocess.run(["apt-get", "install", "-y", "-qq", package], check=True)

    work = ROOT / "target/bench/serve-memory"
    work.mkdir(parents=True, exist_ok=True)
    roster = work / f"roster-{args.people}.csv"
    subprocess.run(
        [sys.executable, str(ROOT / "bench/gen_roster.py"), str(args.people), str(roster)],
        check=True,
    )
    htpasswd = work / "it-staff.htpasswd"
    subprocess.run(["htpasswd", "-B", "-b", "-c", str(htpasswd), USER, PASSWORD], check=True,
                   capture_output=True)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    server = subprocess.Popen(
        [args.binary, "serve", "--listen", f"127.0.0.1:{port}", "--quiet",
         "--public-url", "https://mail-setup.example.ac.jp", "--admin-htpasswd", str(htpasswd)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    try:
        for _ in range(600):
            try:
                urllib.request.urlopen(base + "/healthz", timeout=1).read()
                break
            except OSError:
                time.sleep(0.05)
        samples = []
        stop = threading.Event()

        def sample() -> None:
            while not stop.is_set():
                samples.append(status_kib(server.pid, "VmRSS"))
                time.sleep(0.05)

        sampler = threading.Thread(target=sample)
        sampler.start()
        load = subprocess.Popen(
            ["wrk", "-t2", "-c32", "-d60s",
             base + "/mail/config-v1.1.xml?emailaddress=taro%40kyoto-u.ac.jp"],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
        )
        data = roster.read_bytes()
        results: list = []
        threads = [threading.Thread(target=upload, args=(base, data, False, results)) for _ in range(3)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        upload(base, data, True, results)
        load.send_signal(signal.SIGINT)  # wrk prints its summary
        wrk_out, _ = load.communicate()
        stop.set()
        sampler.join()
        peak = status_kib(server.pid, "VmHWM")
    finally:
        server.terminate()
        server.wait()
    rate = next((l for l in wrk_out.splitlines() if "Requests/sec" in l), "").split()
    print(f"{args.people} people, roster {len(data) / 1e6:.1f} MB; under wrk load "
          f"({rate[-1] if rate else '?'} req/s):")
    for status, size, seconds, per_person in results:
        kind = "one zip per person" if per_person else "every kind of file"
        print(f"  upload ({kind}): {status}, {size / 1e6:.0f} MB zip in {seconds:.1f} s")
    print(f"peak RSS (VmHWM): {peak / 1024:.0f} MiB; largest 50 ms sample {max(samples) / 1024:.0f} MiB")


if __name__ == "__main__":
    main()
