#!/usr/bin/env bash
# Profiles `mailconf bundle` (all formats) on a synthetic roster, where the time and memory go.
#
#   bench/profile.sh [N]        (default N=100000; run bench/run.sh once first, for the build)
#
# CPU: `perf record` on the cpu-clock software event (hardware counters are often missing in
#      VMs), DWARF call graphs (the release profile keeps line tables), summarised into buckets
#      by bench/perf_summary.py.
# Heap: valgrind massif on N=10,000 (or N if smaller), peak heap and its biggest allocation sites.
# RSS: peak RSS by N, with glibc's default malloc and with its mmap threshold pinned.
# Output: target/bench/profile-N.txt (printed too).
set -euo pipefail

cd "$(dirname "$0")/.."
N="${1:-100000}"
WORK=target/bench
BIN=target/release/mailconf
mkdir -p "$WORK"
ROSTER="$WORK/roster-$N.csv"
[[ -f "$ROSTER" ]] || python3 bench/gen_roster.py "$N" "$ROSTER"
OUT="$WORK/profile-$N.txt"
: > "$OUT"

if command -v perf >/dev/null && perf record -o /dev/null -e cpu-clock true 2>/dev/null; then
    perf record -q -o "$WORK/perf.data" -e cpu-clock -F 499 --call-graph dwarf,32768 \
        "$BIN" bundle "$ROSTER" -o "$WORK/profile.zip" --force --quiet 2>/dev/null
    perf report -i "$WORK/perf.data" --no-children --sort symbol -g none --stdio 2>/dev/null \
        > "$WORK/perf-self.txt"
    perf report -i "$WORK/perf.data" --children --sort symbol -g none --stdio 2>/dev/null \
        > "$WORK/perf-children.txt"
    perf report -i "$WORK/perf.data" --no-children --sort pid,symbol -g none --stdio 2>/dev/null \
        > "$WORK/perf-pid.txt"
    python3 bench/perf_summary.py "$WORK/perf-self.txt" "$WORK/perf-children.txt" \
        "$WORK/perf-pid.txt" | tee -a "$OUT"
else
    echo "perf is not usable here (apt-get install linux-perf); CPU profile skipped" | tee -a "$OUT"
fi

# Peak RSS against N, with glibc's default malloc and with its dynamic mmap threshold pinned
# (MALLOC_MMAP_THRESHOLD_ fixes it at 128 KiB): tells data growth from allocator retention.
{
    echo
    echo "== peak RSS (os.wait4) by N: default glibc malloc vs MALLOC_MMAP_THRESHOLD_=131072 =="
    python3 - "$BIN" "$WORK" "$N" <<'PY'
import os, subprocess, sys
bin_, work, n_max = sys.argv[1], sys.argv[2], int(sys.argv[3])
def rss(roster, env):
    p = subprocess.Popen([bin_, "bundle", roster, "-o", f"{work}/rss.zip", "--force", "--quiet"],
                         env={**os.environ, **env}, stdout=subprocess.DEVNULL)
    _, _, ru = os.wait4(p.pid, 0)
    return ru.ru_maxrss / 1024
for n in [s for s in (1_000, 10_000, 100_000) if s <= n_max]:
    roster = f"{work}/roster-{n}.csv"
    if not os.path.exists(roster):
        subprocess.run([sys.executable, "bench/gen_roster.py", str(n), roster], check=True)
    default = [rss(roster, {}) for _ in range(3)]
    pinned = [rss(roster, {"MALLOC_MMAP_THRESHOLD_": "131072"}) for _ in range(3)]
    print(f"N={n:>7,}: default {' / '.join(f'{x:5.1f}' for x in default)} MB;"
          f"  pinned {' / '.join(f'{x:5.1f}' for x in pinned)} MB")
PY
} | tee -a "$OUT"

if command -v valgrind >/dev/null; then
    M=$(( N < 10000 ? N : 10000 ))
    MROSTER="$WORK/roster-$M.csv"
    [[ -f "$MROSTER" ]] || python3 bench/gen_roster.py "$M" "$MROSTER"
    valgrind -q --tool=massif --massif-out-file="$WORK/massif.out" \
        "$BIN" bundle "$MROSTER" -o "$WORK/massif.zip" --force --quiet
    {
        echo
        echo "== heap (valgrind massif, N=$M): peak snapshot =="
        # The peak snapshot's total, then its biggest allocation sites in mailconf's and zip's code.
        ms_print "$WORK/massif.out" 2>/dev/null > "$WORK/massif.txt"
        peak=$(grep -o '[0-9]* (peak)' "$WORK/massif.txt" | grep -o '^[0-9]*')
        awk -v p="$peak" '$1 == p && $2 ~ /^[0-9,]+$/ {print "peak snapshot " p ": total " $3 " B"}' "$WORK/massif.txt"
        awk -v p="$peak" '$1 == p && $2 ~ /^[0-9,]+$/ {f=1; next} f && /^ +[0-9]+ +[0-9,]+ +[0-9,]+/ {f=0} f' "$WORK/massif.txt" \
            | grep -E -- '->[0-9.]+% \([0-9,]+B\) 0x[0-9A-F]+: (mailconf::(bundle|roster|account)|zip::write::<impl zip::write::zip_writer::ZipWriter<W>>::(raw_copy_file|start_file)|indexmap::map)' \
            | sed -E 's/^[| ]*->//' | cut -c1-140 | sort -u | sort -rn | head -20 || true
    } | tee -a "$OUT"
else
    echo "valgrind missing: heap profile skipped" | tee -a "$OUT"
fi
echo "wrote $OUT" >&2
