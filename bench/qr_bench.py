#!/usr/bin/env python3
"""What the self-service page's QR codes cost a bundle (issue 22).

With `[serve] public_url` in the provider file, every guide shows the person's page address and a
QR code of it. This times `mailconf bundle` on the same roster with and without it, alternating,
and compares medians of wall time, CPU time (user + system, from wait4) and zip size against the
issue's targets: at most 1.3x the time and 1.15x the size.

    python3 bench/qr_bench.py [--people 10000] [--rounds 5] [--binary target/release/mailconf]

Builds nothing: run `cargo build --release` first (bench/run.sh does). Writes
`bench/qr-results.md` and prints it. Files live in target/bench/qr/ (ignored by git).
"""

import argparse
import datetime
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PUBLIC_URL = "https://mail-setup.kyoto-u.ac.jp"


def run(cmd: list[str]) -> tuple[float, float, int]:
    """Runs cmd; returns wall seconds, CPU seconds and peak RSS in KiB."""
    started = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - started
    err = proc.stderr.read().decode() if proc.stderr else ""
    if os.waitstatus_to_exitcode(status) != 0:
        sys.exit(f"{' '.join(cmd)} failed:\n{err}")
    return wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--people", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--binary", default=str(ROOT / "target/release/mailconf"))
    args = parser.parse_args()

    work = ROOT / "target/bench/qr"
    work.mkdir(parents=True, exist_ok=True)
    roster = work / f"roster-{args.people}.csv"
    subprocess.run(
        [sys.executable, str(ROOT / "bench/gen_roster.py"), str(args.people), str(roster)],
        check=True,
    )
    provider = subprocess.run(
        [args.binary, "provider"], check=True, capture_output=True, text=True
    ).stdout
    commented = f'# public_url = "{PUBLIC_URL}"'
    if commented not in provider:
        sys.exit(f"`mailconf provider` no longer has the line {commented!r}")
    providers = {
        "without": work / "without.toml",
        "with": work / "with.toml",
    }
    providers["without"].write_text(provider)
    providers["with"].write_text(provider.replace(commented, f'public_url = "{PUBLIC_URL}"'))

    results: dict[str, dict[str, list[float]]] = {
        k: {"wall": [], "cpu": [], "rss": []} for k in providers
    }
    sizes: dict[str, int] = {}
    for round_ in range(args.rounds):
        for kind, toml in providers.items():
            out = work / f"{kind}.zip"
            wall, cpu, rss = run(
                [args.binary, "bundle", str(roster), "-o", str(out), "--force", "--quiet",
                 "--provider", str(toml)]
            )
            results[kind]["wall"].append(wall)
            results[kind]["cpu"].append(cpu)
            results[kind]["rss"].append(rss / 1024)
            sizes[kind] = out.stat().st_size
            print(f"round {round_ + 1} {kind:7}: {wall:.2f} s wall, {cpu:.2f} s CPU, "
                  f"{sizes[kind] / 1e6:.1f} MB", file=sys.stderr)

    med = {k: {m: statistics.median(v) for m, v in r.items()} for k, r in results.items()}
    wall_ratio = med["with"]["wall"] / med["without"]["wall"]
    cpu_ratio = med["with"]["cpu"] / med["without"]["cpu"]
    size_ratio = sizes["with"] / sizes["without"]
    commit = subprocess.run(
        ["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"], capture_output=True, text=True
    ).stdout.strip()
    now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    verdict = lambda ok: "met" if ok else "NOT met"  # noqa: E731
    lines = [
        f"`bench/qr_bench.py --people {args.people} --rounds {args.rounds}`, {now}, mailconf "
        f"`{commit}`, {os.cpu_count()} cores; medians of {args.rounds} alternating rounds; "
        "every kind of file (`mailconf bundle` defaults).",
        "",
        "| provider | wall | CPU | zip | peak RSS |",
        "|---|---|---|---|---|",
    ]
    for kind, label in [("without", "without `public_url`"), ("with", f"`public_url = \"{PUBLIC_URL}\"` (a QR code per guide)")]:
        m = med[kind]
        lines.append(
            f"| {label} | {m['wall']:.2f} s | {m['cpu']:.2f} s | {sizes[kind] / 1e6:.1f} MB | "
            f"{m['rss']:.0f} MB |"
        )
    lines += [
        "",
        f"With the QR codes: {wall_ratio:.2f}x the wall time (target 1.3x: "
        f"{verdict(wall_ratio <= 1.3)}), {cpu_ratio:.2f}x the CPU time, {size_ratio:.3f}x the "
        f"size (target 1.15x: {verdict(size_ratio <= 1.15)}).",
        "",
    ]
    text = "\n".join(lines)
    (ROOT / "bench/qr-results.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
