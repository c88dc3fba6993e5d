#!/usr/bin/env python3
"""Summarises `perf report --stdio --sort symbol -g none` output for bench/profile.sh.

Usage: perf_summary.py SELF.txt CHILDREN.txt
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

LINE = re.compile(r"^\s+([0-9.]+)%\s+(?:\d+\s+)?\[([.k])\]\s+(.*)$")


def rows(path):
    for line in open(path, encoding="utf-8", errors="replace"):
        m = LINE.match(line)
        if m:
            yield float(m.group(1)), m.group(2), m.group(3).strip()


def main():
    self_path, children_path = sys.argv[1], sys.argv[2]
    totals = {name: 0.0 for name, _ in BUCKETS}
    totals["kernel (write, fsync, page faults, …)"] = 0.0
    totals["other"] = 0.0
    top = []
    for pct, space, sym in rows(self_path):
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

    print("\n== inclusive time of the bundle's steps (children) ==")
    wanted = [
        "mailconf::bundle::write_zip",
        "mailconf::bundle::render_user",
        "mailconf::render::Context::user_files",
        "mailconf::bundle::small_archive",
        "mailconf::bundle::flag_utf8_names",
        "mailconf::bundle::copy_entries",
        "raw_copy_file",
        "mailconf::bundle::ManifestWriter::row",
        "mailconf::bundle::ManifestWriter::finish",
        "mailconf::bundle::index_html",
        "mailconf::bundle::hex",
        "sha2::",
        "mailconf::roster::read",
        "PendingFile::commit",
        "sync_all",
        "ZipWriter<W>::finish",
        "ZipArchive<R>::new",
    ]
    children = list(rows(children_path))
    for name in wanted:
        best = max((c for c in children if name in c[2]), default=None)
        if best:
            print(f"{best[0]:6.1f}%  {name}   ({best[2][:90]})")
        else:
            print(f"   –     {name}   (no samples)")


if __name__ == "__main__":
    main()
