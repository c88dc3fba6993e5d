#!/usr/bin/env python3
"""mailconf serve against automx2 under gunicorn, same machine, same load generator, same run.

Run through bench/serve.sh, which installs what this needs. Three request kinds, each with a new
address per request (so that nothing can be answered from a cache):

  tb     GET  /mail/config-v1.1.xml?emailaddress=ADDR            (Thunderbird autoconfig)
  pox    POST /autodiscover/autodiscover.xml  (an Outlook request) (POX Autodiscover)
  apple  GET  /mobileconfig/?emailaddress=ADDR&name=NAME          (Apple profile)

automx2 runs under gunicorn with one sync worker per core, configured the documented way
(automx2.conf + SQLite, seeded through its /initdb/ view with the KUMail servers). mailconf serve
runs with its defaults, access log on (written to /dev/null). Rounds alternate ours -> peer for
each kind, so background load hits both alike; medians are reported.

Then, for mailconf only: p99 latency at a fixed 1,000 requests per second (oha, with latency
correction), peak RSS of the server process under all that load (VmHWM), signed Apple
profiles per second against the bare RSA-2048 signing rate of all cores (openssl speed -multi),
and the IT-staff page's memory making department zips (bench/serve_admin.py: 1,000 and 10,000
people, one and three at once, and three held by clients that do not read).

mailconf serve listens on port 0 and says which port it got; automx2 (gunicorn) on a free port
picked here. Writes bench/serve-results.md and target/bench/serve-results.json.
"""

import argparse
import json
import os
import re
import signal
import socket
import statistics
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
WORK = ROOT / "target" / "bench" / "serve"
MAILCONF = ROOT / "target" / "release" / "mailconf"
CORES = os.cpu_count() or 1

POX_TEMPLATE = (
    '<?xml version="1.0" encoding="utf-8"?>'
    '<Autodiscover xmlns="http://schemas.microsoft.com/exchange/autodiscover/outlook/requestschema/2006">'
    "<Request><EMailAddress>{}</EMailAddress>"
    "<AcceptableResponseSchema>http://schemas.microsoft.com/exchange/autodiscover/outlook/responseschema/2006a"
    "</AcceptableResponseSchema></Request></Autodiscover>"
)

# wrk scripts: a new address for every request (thread id and counter), as Lua.
LUA = {
    "tb": """
local n = 0
function setup(thread) thread:set("id", math.random(1, 1000000)) end
function request()
  n = n + 1
  return wrk.format("GET", "/mail/config-v1.1.xml?emailaddress=u" .. id .. "x" .. n .. "%40kyoto-u.ac.jp")
end
""",
    "apple": """
local n = 0
function setup(thread) thread:set("id", math.random(1, 1000000)) end
function request()
  n = n + 1
  return wrk.format("GET", "/mobileconfig/?emailaddress=u" .. id .. "x" .. n .. "%40kyoto-u.ac.jp&name=%E5%B1%B1%E7%94%B0%20%E5%A4%AA%E9%83%8E")
end
""",
    "pox": """
local n = 0
function setup(thread) thread:set("id", math.random(1, 1000000)) end
function request()
  n = n + 1
  local body = '%s'
  body = string.gsub(body, "ADDRESS", "u" .. id .. "x" .. n .. "@kyoto-u.ac.jp")
  return wrk.format("POST", "/autodiscover/autodiscover.xml", {["Content-Type"] = "text/xml"}, body)
end
""" % POX_TEMPLATE.format("ADDRESS"),
}

# The KUMail servers, as automx2_peer.py seeds them for the bundle benchmark.
sys.path.insert(0, str(Path(__file__).resolve().parent))
from automx2_peer import SEED  # noqa: E402
import serve_admin  # noqa: E402  (the IT-staff page's cases, and starting mailconf serve)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until_up(url: str, seconds: float = 30) -> None:
    deadline = time.time() + seconds
    while time.time() < deadline:
        try:
            urllib.request.urlopen(url, timeout=2).read()
            return
        except Exception:
            time.sleep(0.1)
    sys.exit(f"{url} did not come up")


def fetch(url: str, body: bytes | None = None) -> tuple[int, bytes]:
    req = urllib.request.Request(url, data=body, headers={"Content-Type": "text/xml"})
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def start_mailconf(extra: list[str]) -> tuple[subprocess.Popen, int]:
    """mailconf serve on 127.0.0.1, port 0 (the port it says it got), its access log read and
    dropped."""
    p, port = serve_admin.start_serve(str(MAILCONF), extra)
    wait_until_up(f"http://127.0.0.1:{port}/healthz")
    return p, port


def start_automx2(port: int, venv: Path) -> subprocess.Popen:
    WORK.mkdir(parents=True, exist_ok=True)
    db = WORK / "automx2.db"
    if db.exists():
        db.unlink()
    conf = WORK / "automx2.conf"
    conf.write_text(
        "[automx2]\nloglevel = WARNING\ndb_echo = no\n" f"db_uri = sqlite:///{db}\n"
    )
    env = dict(os.environ, AUTOMX2_CONF=str(conf))
    p = subprocess.Popen(
        [
            str(venv / "bin" / "gunicorn"),
            "--workers", str(CORES),
            "--bind", f"127.0.0.1:{port}",
            "--log-level", "warning",
            "automx2.server:app",
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.time() + 60
    while time.time() < deadline:
        try:
            req = urllib.request.Request(
                f"{base}/initdb/", data=json.dumps(SEED).encode(),
                headers={"Content-Type": "application/json"},
            )
            urllib.request.urlopen(req, timeout=5).read()
            break
        except Exception:
            time.sleep(0.2)
    else:
        sys.exit("automx2 did not come up")
    return p


def check_answers(base: str, peer: bool) -> None:
    """Both sides answer every kind correctly before they are timed."""
    status, body = fetch(f"{base}/mail/config-v1.1.xml?emailaddress=taro%40kyoto-u.ac.jp")
    assert status == 200 and b"pop.gmail.com" in body, (base, status, body[:200])
    status, body = fetch(
        f"{base}/autodiscover/autodiscover.xml",
        POX_TEMPLATE.format("taro@kyoto-u.ac.jp").encode(),
    )
    assert status == 200 and b"smtp.gmail.com" in body, (base, status, body[:300])
    status, body = fetch(f"{base}/mobileconfig/?emailaddress=taro%40kyoto-u.ac.jp&name=Taro")
    assert status == 200 and b"smtp.gmail.com" in body, (base, status, body[:200])


def wrk(base: str, kind: str, seconds: int, connections: int) -> dict:
    script = WORK / f"{kind}.lua"
    script.write_text(LUA[kind])
    out = subprocess.run(
        ["wrk", "-t", str(CORES), "-c", str(connections), "-d", f"{seconds}s",
         "--latency", "-s", str(script), base],
        capture_output=True, text=True, timeout=seconds + 60,
    ).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    socket_errors = re.search(r"Socket errors: (.*)", out)
    if errors or socket_errors:
        print(f"[serve-bench] {base} {kind}: {errors and errors.group(0)} {socket_errors and socket_errors.group(0)}",
              file=sys.stderr)
    p99 = re.search(r"99%\s+([\d.]+)(us|ms|s)", out)
    return {"rps": rps, "p99_ms": to_ms(p99.group(1), p99.group(2)) if p99 else None,
            "non_2xx": int(errors.group(1)) if errors else 0}


def to_ms(value: str, unit: str) -> float:
    return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]


def vm_hwm_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return 0


def fixed_rate(oha: str, url: str, rate: int, seconds: int) -> dict:
    out = subprocess.run(
        [oha, "-z", f"{seconds}s", "-q", str(rate), "-c", "32", "--latency-correction",
         "--no-tui", "--output-format", "json", url],
        capture_output=True, text=True, timeout=seconds + 60,
    )
    data = json.loads(out.stdout)
    pct = data["latencyPercentiles"]
    return {
        "rate": rate,
        "rps": data["summary"]["requestsPerSec"],
        "p50_ms": pct["p50"] * 1000,
        "p99_ms": pct["p99"] * 1000,
        "success": data["summary"]["successRate"],
    }


def bare_rsa_rate() -> float:
    out = subprocess.run(
        ["openssl", "speed", "-seconds", "3", "-multi", str(CORES), "rsa2048"],
        capture_output=True, text=True, timeout=120,
    ).stdout
    # The summary line: "rsa 2048 bits 0.000237s 0.000007s 4219.4 141843.2"
    m = re.search(r"rsa\s+2048 bits\s+[\d.]+s\s+[\d.]+s\s+([\d.]+)", out)
    return float(m.group(1))


def throwaway_signer() -> list[str]:
    key, cert = WORK / "sign-key.pem", WORK / "sign-cert.pem"
    if not cert.exists():
        subprocess.run(
            ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "30",
             "-subj", "/CN=mailconf serve bench", "-keyout", str(key), "-out", str(cert)],
            check=True, capture_output=True,
        )
    return ["--sign-cert", str(cert), "--sign-key", str(key)]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--oha", required=True)
    ap.add_argument("--venv", required=True)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--seconds", type=int, default=10)
    ap.add_argument("--connections", type=int, default=32)
    ap.add_argument("--quick", action="store_true")
    args = ap.parse_args()
    if args.quick:
        args.rounds, args.seconds = 1, 4
    WORK.mkdir(parents=True, exist_ok=True)
    venv = Path(args.venv)

    peer_port = free_port()
    ours, ours_port = start_mailconf([])
    peer = start_automx2(peer_port, venv)
    results: dict = {"cores": CORES, "rounds": args.rounds, "seconds": args.seconds,
                     "connections": args.connections, "kinds": {}}
    try:
        base_ours, base_peer = f"http://127.0.0.1:{ours_port}", f"http://127.0.0.1:{peer_port}"
        check_answers(base_ours, False)
        check_answers(base_peer, True)
        runs = {k: {"ours": [], "peer": []} for k in LUA}
        for r in range(args.rounds):
            for kind in LUA:
                for side, base in (("ours", base_ours), ("peer", base_peer)):
                    res = wrk(base, kind, args.seconds, args.connections)
                    runs[kind][side].append(res)
                    print(f"[serve-bench] round {r + 1} {kind:5} {side}: {res['rps']:.0f} req/s, "
                          f"p99 {res['p99_ms']} ms", file=sys.stderr)
        for kind, sides in runs.items():
            o = statistics.median(x["rps"] for x in sides["ours"])
            p = statistics.median(x["rps"] for x in sides["peer"])
            results["kinds"][kind] = {"ours_rps": o, "peer_rps": p, "ratio": o / p, "runs": sides}

        # Latency at a fixed 1,000 requests per second, each kind (ours).
        latency = {}
        for kind, path in (
            ("tb", "/mail/config-v1.1.xml?emailaddress=taro%40kyoto-u.ac.jp"),
            ("apple", "/mobileconfig/?emailaddress=taro%40kyoto-u.ac.jp&name=Taro"),
        ):
            latency[kind] = fixed_rate(args.oha, base_ours + path, 1000, 15 if not args.quick else 5)
            print(f"[serve-bench] 1000 req/s {kind}: p99 {latency[kind]['p99_ms']:.2f} ms", file=sys.stderr)
        results["latency_at_1000"] = latency
        results["ours_peak_rss_kib"] = vm_hwm_kib(ours.pid)
    finally:
        for p in (ours, peer):
            p.send_signal(signal.SIGTERM)
            try:
                p.wait(timeout=40)
            except subprocess.TimeoutExpired:
                p.kill()

    # Signed profiles against the bare signing rate of all cores, measured in this run.
    signed, signed_port = start_mailconf(throwaway_signer())
    try:
        bare = bare_rsa_rate()
        res = wrk(f"http://127.0.0.1:{signed_port}", "apple", args.seconds, args.connections)
        bare_after = bare_rsa_rate()
        results["signed"] = {"rps": res["rps"], "bare_sign_per_s": [bare, bare_after],
                             "ratio": res["rps"] / statistics.mean([bare, bare_after]),
                             "peak_rss_kib": vm_hwm_kib(signed.pid)}
        print(f"[serve-bench] signed: {res['rps']:.0f}/s, bare RSA {bare:.0f}/{bare_after:.0f}/s",
              file=sys.stderr)
    finally:
        signed.send_signal(signal.SIGTERM)
        signed.wait(timeout=40)

    # The IT-staff page: department zips for uploads, made as they are sent.
    htpasswd = serve_admin.htpasswd_file()
    sizes = [1000] if args.quick else [1000, 10000]
    admin = {"cases": [], "held": None}
    for n in sizes:
        for at_once in (1, 3):
            case = serve_admin.case(str(MAILCONF), htpasswd, n, at_once)
            print(f"[serve-bench] IT-staff page: {json.dumps(case)}", file=sys.stderr)
            admin["cases"].append(case)
    admin["held"] = serve_admin.held(str(MAILCONF), htpasswd, max(sizes))
    print(f"[serve-bench] IT-staff page: {json.dumps(admin['held'])}", file=sys.stderr)
    results["admin"] = admin

    out = ROOT / "target" / "bench" / "serve-results.json"
    out.write_text(json.dumps(results, indent=2))
    write_markdown(results)


def write_markdown(r: dict) -> None:
    names = {"tb": "Thunderbird autoconfig", "pox": "POX Autodiscover", "apple": "Apple profile"}
    lines = [
        "# mailconf serve vs automx2 (gunicorn): results",
        "",
        f"`bench/serve.sh`, {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, {r['cores']} cores, "
        f"wrk -t{r['cores']} -c{r['connections']} -d{r['seconds']}s, {r['rounds']} rounds alternating, medians. "
        "A new address on every request. automx2 2026.2 under gunicorn, one sync worker per core; "
        "mailconf serve with its access log on.",
        "",
        "| request | mailconf serve (req/s) | automx2 (req/s) | ratio | target |",
        "|---|---|---|---|---|",
    ]
    for kind, k in r["kinds"].items():
        verdict = "met" if k["ratio"] >= 50 else "NOT met"
        lines.append(f"| {names[kind]} | {k['ours_rps']:.0f} | {k['peer_rps']:.0f} | {k['ratio']:.0f}x | 50x: {verdict} |")
    lines += ["", "| at a fixed 1,000 req/s (oha, latency-corrected) | p50 | p99 | target |", "|---|---|---|---|"]
    for kind, l in r["latency_at_1000"].items():
        verdict = "met" if l["p99_ms"] < 10 else "NOT met"
        lines.append(f"| {names[kind]} | {l['p50_ms']:.2f} ms | {l['p99_ms']:.2f} ms | under 10 ms: {verdict} |")
    rss = r["ours_peak_rss_kib"] / 1024
    s = r["signed"]
    lines += [
        "",
        f"Peak RSS of mailconf serve under all the load above (VmHWM): {rss:.1f} MB "
        f"(target under 50 MB: {'met' if rss < 50 else 'NOT met'}); with signing: {s['peak_rss_kib'] / 1024:.1f} MB.",
        "",
        f"Signed Apple profiles: {s['rps']:.0f} per second, against the bare RSA-2048 signing rate of all "
        f"{r['cores']} cores in the same run (`openssl speed -multi {r['cores']} rsa2048`, before and after: "
        f"{s['bare_sign_per_s'][0]:.0f} and {s['bare_sign_per_s'][1]:.0f} per second): {s['ratio'] * 100:.0f} % "
        f"(target 80 %: {'met' if s['ratio'] >= 0.8 else 'NOT met'}). The load generator runs on the same cores.",
        "",
    ]
    a = r.get("admin")
    if a:
        lines += [
            "The IT-staff page (`bench/serve_admin.py`): rosters of `bench/gen_roster.py`, every kind of "
            "file, uploaded and their zips read as fast as the client can; a fresh server for each line, "
            "its peak RSS (VmHWM). The zip is made as it is sent.",
            "",
            "| people | uploads at once | zip | time to the zip's last byte, each | server's peak RSS |",
            "|---|---|---|---|---|",
        ]
        for c in a["cases"]:
            each = " / ".join(f"{t:.2f} s" for t in c["each_s"])
            lines.append(f"| {c['people']:,} | {c['at_once']} | {c['zip_mb']:.0f} MB | {each} | {c['peak_mib']:.1f} MB |")
        h = a["held"]
        verdict = "met" if h["peak_mib"] < 100 else "NOT met"
        lines += [
            "",
            f"Three uploads of {h['people']:,} people whose clients read the answer's head and then nothing: "
            f"peak RSS {h['peak_mib']:.1f} MB, {h['steady_mib']:.1f} MB while they wait (target under 100 MB: "
            f"{verdict}); meanwhile another upload of 1,000 people came back whole in {h['other_1000_s']:.2f} s.",
            "",
        ]
    (ROOT / "bench" / "serve-results.md").write_text("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
