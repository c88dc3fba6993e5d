#!/usr/bin/env python3
"""Summarises `perf report --stdio --sort symbol -g none` output for bench/profile.sh.

Usage: perf_summary.py SELF.txt CHILDREN.txt PID.txt
Self time is put into buckets by symbol name; inclusive (children) time is shown for the
bundle's own functions, so "where the time goes" reads in mailconf's terms.
"""

import re
import sys

# First matching pattern wins; order matters (e.g. zip's deflate before zip).
BUCKETS = [
    ("deflate (zlib-rs/flate2)", r"zlib_rs|flate2|deflate|longest_match|compress_block|fill_window"),
    ("crc32", r"crc32"),
    ("sha256", r"sha2|sha256|compress256"),
    ("rendering (askama, escaping, fmt)", r"askama|mailconf::render|escape|core::fmt|alloc::fmt|Display"),
    ("zip writer/reader", r"zip::"),
    ("manifest CSV", r"csv::|ManifestWriter"),
    ("roster parsing", r"roster::|encoding_rs|account::"),
    ("malloc/free/memcpy", r"malloc|free|memcpy|memmove|memset|realloc|cfree|alloc::raw_vec|__libc_calloc"),
    ("rayon/scheduling", r"rayon|crossbeam|sched_yield|futex|pthread"),
]

# "  12.34%  [.] sym" (self), "  12.34%  0.12%  [.] sym" (children), "  1.2%  446:comm  [.] sym" (pid).
LINE = re.compile(r"^\s+([0-9.]+)%\s+(?:[0-9.]+%\s+)?(?:(\d+):\S+\s+)?\[([.k])\]\s+(.*)$")


def rows(path):
    for line in open(path, encoding="utf-8", errors="replace"):
        m = LINE.match(line)
        if m:
            yield float(m.group(1)), m.group(3), m.group(4).strip(), m.group(2)


def bucket(space, sym):
    if space == "k":
        return "kernel (write, fsync, page faults, …)"
    for name, pattern in BUCKETS:
        if re.search(pattern, sym):
            return name
    return "other"


def main():
    self_path, children_path, pid_path = sys.argv[1], sys.argv[2], sys.argv[3]
    totals = {name: 0.0 for name, _ in BUCKETS}
    totals["kernel (write, fsync, page faults, …)"] = 0.0
    totals["other"] = 0.0
    top = []
    for pct, space, sym, _ in rows(self_path):
        top.append((pct, space, sym))
        if space == "k":
            totals["kernel (write, fsync, page faults, …)"] += pct
            continue
        for name, pattern in BUCKETS:
            if re.search(pattern, sym):
                totals[name] += pct
                break
        else:
            totals["other"] += pct
    print("== CPU self time by bucket (perf, cpu-clock samples) ==")
    for name, pct in sorted(totals.items(), key=lambda kv: -kv[1]):
        print(f"{pct:6.1f}%  {name}")
    print("\n== top 25 symbols by self time ==")
    for pct, space, sym in sorted(top, reverse=True)[:25]:
        print(f"{pct:6.2f}%  [{space}] {sym[:130]}")

    # Per thread: the first thread to appear is main (the zip writer), the others rayon workers.
    per_thread = {}
    first_seen = []
    for pct, space, sym, tid in rows(pid_path):
        if tid not in per_thread:
            per_thread[tid] = {}
        b = bucket(space, sym)
        per_thread[tid][b] = per_thread[tid].get(b, 0.0) + pct
    main_tid = min(per_thread, key=int) if per_thread else None
    print("\n== CPU by thread (share of all samples; main = the serial zip writer) ==")
    for tid, buckets in sorted(per_thread.items(), key=lambda kv: -sum(kv[1].values())):
        role = "main/writer" if tid == main_tid else "rayon worker"
        parts = ", ".join(f"{name.split(' (')[0]} {pct:.1f}%" for name, pct in
                          sorted(buckets.items(), key=lambda kv: -kv[1]) if pct >= 0.5)
        print(f"{sum(buckets.values()):6.1f}%  tid {tid} ({role}): {parts}")

    print("\n== inclusive time of the bundle's steps (children; DWARF unwinding loses some stacks, so these are lower bounds) ==")
    wanted = [
        "mailconf::bundle::render_user",
        "user_files",
        "render_into_with_values",
        "mailconf::bundle::small_archive",
        "GenericZipWriter<W>::switch_to",
        "flag_utf8_names",
        "mailconf::bundle::copy_entries",
        "raw_copy_file",
        "mailconf::bundle::ManifestWriter::row",
        "mailconf::bundle::index_html",
        "mailconf::bundle::hex",
        "Sha256",
        "mailconf::roster::read",
        "ZipArchive<R>::new",
    ]
    children = list(rows(children_path))
    for name in wanted:
        best = max((c for c in children if name in c[2]), default=None, key=lambda c: c[0])
        if best:
            print(f"{best[0]:6.1f}%  {name}   ({best[2][:90]})")
        else:
            print(f"   –     {name}   (no samples)")


if __name__ == "__main__":
    main()
