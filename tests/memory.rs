//! Memory bounds on bad rosters, measured on the mailconf process. These tests live apart from
//! `tests/it` and allocate nothing large themselves: Linux counts the test process's own peak
//! memory in a child's (see `common::measure`), so a sibling test holding big buffers would
//! make these fail at random.

// The helpers of tests/it; this file stays a binary of its own (above).
#[path = "it/common/mod.rs"]
mod common;

use std::ffi::OsStr;
use std::io::Write;
use std::path::Path;
use std::time::Duration;

use common::measure::run_measured;
use common::tempdir;

/// Writes `head`, `repeat` `count` times, then `tail`, without holding it all in memory.
fn write_long(path: &Path, head: &str, repeat: &str, count: usize, tail: &str) {
    let mut f = std::io::BufWriter::new(std::fs::File::create(path).unwrap());
    f.write_all(head.as_bytes()).unwrap();
    let chunk = repeat.repeat(4096);
    for _ in 0..count / 4096 {
        f.write_all(chunk.as_bytes()).unwrap();
    }
    for _ in 0..count % 4096 {
        f.write_all(repeat.as_bytes()).unwrap();
    }
    f.write_all(tail.as_bytes()).unwrap();
}

#[test]
fn a_200_mb_roster_is_refused_before_it_is_read() {
    let dir = tempdir();
    let path = dir.path().join("garbage.csv");
    {
        use std::io::Write;
        let mut f = std::io::BufWriter::new(std::fs::File::create(&path).unwrap());
        let mut x = 0x9E37_79B9_7F4A_7C15_u64;
        let block: Vec<u8> = (0..1 << 20)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x as u8
            })
            .collect();
        for _ in 0..200 {
            f.write_all(&block).unwrap();
        }
    }
    let m = run_measured([OsStr::new("check"), path.as_os_str()]);
    assert_eq!(m.code, 1, "{}", m.stderr);
    assert!(
        m.stderr
            .contains("it is 209 MB; a roster may be at most 64 MB"),
        "{}",
        m.stderr
    );
    // Not read: far less memory than the file (or than the 64 MB limit).
    assert!(
        m.max_rss_kib < 48 * 1024,
        "peak memory {} KiB",
        m.max_rss_kib
    );
    assert!(m.elapsed < Duration::from_secs(10), "{:?}", m.elapsed);
}

#[test]
fn an_endless_roster_is_cut_at_the_limit() {
    // /dev/zero says it is 0 bytes long and never ends: the size check alone would read it
    // forever. A regression shows here as a test killed after a minute.
    let m = run_measured(["check", "/dev/zero"]);
    assert_eq!(m.code, 1, "{}", m.stderr);
    assert!(
        m.stderr
            .contains("/dev/zero: cannot read the roster: it is larger than 64 MB"),
        "{}",
        m.stderr
    );
    assert!(
        m.max_rss_kib < 256 * 1024,
        "peak memory {} KiB",
        m.max_rss_kib
    );
}

#[test]
fn a_10_mb_line_gives_a_short_error_quickly() {
    let dir = tempdir();
    const MB10: usize = 10 * 1024 * 1024;
    let cases = [
        // One 10 MB address cell on line 2.
        (
            "cell.csv",
            ("email,name\n", "x", MB10, "@kyoto-u.ac.jp,Name\n"),
            ":2: '",
        ),
        // A 20 MB header of 10 million columns, without a line break.
        (
            "header.csv",
            ("", "x,", MB10, ""),
            ":1: this line has more than 16384 cells",
        ),
        // A 10 MB row of empty cells after the address column.
        (
            "row.csv",
            ("name,email\nName,", ",", MB10, "\n"),
            ":2: this line has more than 16384 cells",
        ),
        // A 10 MB name.
        (
            "name.csv",
            ("email,name\na@kyoto-u.ac.jp,", "x", MB10, "\n"),
            ":2: a@kyoto-u.ac.jp: the name is longer than 256 characters",
        ),
    ];
    for (name, (head, repeat, count, tail), message) in cases {
        let path = dir.path().join(name);
        write_long(&path, head, repeat, count, tail);
        let m = run_measured([OsStr::new("check"), path.as_os_str()]);
        assert_eq!(m.code, 1, "{name}");
        assert!(m.stderr.contains(message), "{name}: {:.300}", m.stderr);
        assert!(
            m.stderr.len() < 1000,
            "{name}: a {}-byte message",
            m.stderr.len()
        );
        assert!(
            m.elapsed < Duration::from_secs(20),
            "{name}: {:?}",
            m.elapsed
        );
        assert!(
            m.max_rss_kib < 512 * 1024,
            "{name}: peak memory {} KiB",
            m.max_rss_kib
        );
    }
}
