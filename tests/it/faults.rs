//! Faults (issue 6), through the command line: an output that cannot be written (missing
//! folder, a parent that is a file, /proc and /sys, a device, a full disk), an interrupted run,
//! rosters that cannot be read or are huge, and provider files with bad values.
//!
//! CI runs as root, so nothing here relies on file permissions: a full disk is an
//! `RLIMIT_FSIZE` limit (with SIGXFSZ ignored, so writes fail with EFBIG) or, where `mount` is
//! allowed, a 64 KiB tmpfs; a folder that cannot be written is under /proc or /sys, or a path
//! through a regular file.

#![cfg(unix)]

use crate::common;

use std::ffi::OsStr;
use std::os::unix::fs::FileTypeExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use common::measure::run_measured;
use common::{mailconf, names_in, tempdir};
use predicates::prelude::*;

fn write(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, bytes).unwrap();
    path
}

/// A valid roster of `n` people.
fn roster(dir: &Path, n: usize) -> PathBuf {
    let mut text = String::from("email,name\n");
    for i in 0..n {
        text.push_str(&format!("user{i}@kyoto-u.ac.jp,利用者 {i}\n"));
    }
    write(dir, "dept.csv", text.as_bytes())
}

fn bin() -> &'static Path {
    assert_cmd::cargo::cargo_bin!("mailconf")
}

/// No temporary or partial file is left in `dir`.
fn assert_no_partial(dir: &Path) {
    let names = names_in(dir);
    assert!(
        !names
            .iter()
            .any(|n| n.ends_with(".partial") || n.starts_with('.')),
        "left behind: {names:?}"
    );
}

// ---------------------------------------------------------------------------------------------
// Output that cannot be written.

#[test]
fn output_through_a_regular_file_is_a_clear_error() {
    let dir = tempdir();
    let roster = roster(dir.path(), 3);
    let file = write(dir.path(), "notes.txt", b"keep me");
    mailconf()
        .arg("bundle")
        .arg(&roster)
        .arg("-o")
        .arg(file.join("dept.zip"))
        .assert()
        .code(1)
        .stderr(predicate::str::contains("notes.txt/dept.zip"))
        .stderr(predicate::str::contains(
            "the folder to write into does not exist",
        ));
    assert_eq!(std::fs::read(&file).unwrap(), b"keep me");
    assert_eq!(names_in(dir.path()), ["dept.csv", "notes.txt"]);
}

#[test]
fn output_under_proc_and_sys_is_a_clear_error_even_for_root() {
    let dir = tempdir();
    let roster = roster(dir.path(), 3);
    for target in ["/proc/mailconf-test.zip", "/sys/mailconf-test.zip"] {
        if !Path::new(target).parent().unwrap().is_dir() {
            eprintln!("note: {target}: no such folder here; skipped");
            continue;
        }
        mailconf()
            .arg("bundle")
            .arg(&roster)
            .args(["-o", target])
            .assert()
            .code(1)
            .stderr(predicate::str::contains(format!(
                "{target}: cannot create a temporary file beside it"
            )));
        assert!(!Path::new(target).exists());
    }
}

#[test]
fn an_existing_device_is_never_replaced() {
    let dir = tempdir();
    let roster = roster(dir.path(), 3);
    // Without --force: it exists. A bundle's name must end in .zip besides.
    mailconf()
        .args(["profile", "a@kyoto-u.ac.jp", "--format=thunderbird"])
        .args(["-o", "/dev/full"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("/dev/full: already exists"));
    mailconf()
        .arg("bundle")
        .arg(&roster)
        .args(["-o", "/dev/full", "--force"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains(
            "/dev/full: a bundle is a zip file",
        ));
    assert!(
        std::fs::metadata("/dev/full")
            .unwrap()
            .file_type()
            .is_char_device()
    );

    // With --force, a pipe, a symbolic link or a folder is not replaced either: renaming the
    // zip over it would destroy it (as root, /dev/null or /dev/full). A FIFO in a temporary
    // folder stands in for the device, so that a regression cannot break the machine.
    let fifo = dir.path().join("pipe.zip");
    let c = std::ffi::CString::new(fifo.as_os_str().as_encoded_bytes()).unwrap();
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o644) }, 0, "mkfifo");
    let link = dir.path().join("link.zip");
    std::os::unix::fs::symlink("/dev/null", &link).unwrap();
    let folder = dir.path().join("folder.zip");
    std::fs::create_dir(&folder).unwrap();
    for (target, why) in [
        (&fifo, "is not a regular file"),
        (&link, "is not a regular file"),
        (&folder, "is a folder: name the file to write in it"),
    ] {
        mailconf()
            .arg("bundle")
            .arg(&roster)
            .arg("-o")
            .arg(target)
            .arg("--force")
            .assert()
            .code(1)
            .stderr(predicate::str::contains(why));
    }
    for (target, what) in [
        ("profile", "--format=thunderbird"),
        ("profile", "--format=apple"),
    ] {
        mailconf()
            .args([target, "a@kyoto-u.ac.jp", what, "--force", "-o"])
            .arg(&fifo)
            .assert()
            .code(1)
            .stderr(predicate::str::contains("is not a regular file"));
    }
    mailconf()
        .args(["publish", "--force", "-o"])
        .arg(&link)
        .assert()
        .code(1)
        .stderr(predicate::str::contains("is not a regular file"));
    assert!(
        std::fs::symlink_metadata(&fifo)
            .unwrap()
            .file_type()
            .is_fifo()
    );
    assert!(std::fs::symlink_metadata(&link).unwrap().is_symlink());
    assert!(folder.is_dir());
    assert_no_partial(dir.path());
}

/// `mailconf bundle` with the file size limited to `limit` bytes and SIGXFSZ ignored, so that a
/// write past the limit fails with EFBIG, as on a full disk, whoever runs the test.
fn bundle_with_file_size_limit(
    roster: &Path,
    out: &Path,
    limit: u64,
    force: bool,
) -> assert_cmd::assert::Assert {
    let mut cmd = std::process::Command::new(bin());
    cmd.arg("bundle")
        .arg(roster)
        .arg("-o")
        .arg(out)
        .arg("--quiet");
    if force {
        cmd.arg("--force");
    }
    unsafe {
        cmd.pre_exec(move || {
            let rlimit = libc::rlimit {
                rlim_cur: limit as libc::rlim_t,
                rlim_max: limit as libc::rlim_t,
            };
            if libc::setrlimit(libc::RLIMIT_FSIZE, &rlimit) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            libc::signal(libc::SIGXFSZ, libc::SIG_IGN);
            Ok(())
        });
    }
    assert_cmd::Command::from_std(cmd).assert()
}

#[test]
fn a_full_disk_fails_cleanly_and_keeps_the_old_zip() {
    let dir = tempdir();
    let roster = roster(dir.path(), 300);
    let out = dir.path().join("dept.zip");
    bundle_with_file_size_limit(&roster, &out, 64 * 1024, false)
        .code(1)
        .stderr(predicate::str::contains(format!(
            "{}: writing the zip failed",
            out.display()
        )))
        .stderr(predicate::str::contains("File too large"));
    assert_eq!(names_in(dir.path()), ["dept.csv"], "no partial zip");

    // A zip from an earlier run, replaced with --force: the failed run leaves it as it was.
    let old = b"PK\x05\x06 an earlier bundle".repeat(10);
    std::fs::write(&out, &old).unwrap();
    bundle_with_file_size_limit(&roster, &out, 64 * 1024, true)
        .code(1)
        .stderr(predicate::str::contains("writing the zip failed"));
    assert_eq!(std::fs::read(&out).unwrap(), old, "the old zip is intact");
    assert_eq!(names_in(dir.path()), ["dept.csv", "dept.zip"]);

    // The same run without the limit succeeds: the limit was the only problem.
    mailconf()
        .arg("bundle")
        .arg(&roster)
        .arg("-o")
        .arg(&out)
        .args(["--force", "--quiet"])
        .assert()
        .success();
    assert!(std::fs::metadata(&out).unwrap().len() > 64 * 1024);
}

/// A 64 KiB tmpfs, mounted for the test and unmounted when dropped.
struct SmallDisk(PathBuf);

impl SmallDisk {
    fn mount(at: &Path) -> Option<SmallDisk> {
        std::fs::create_dir(at).unwrap();
        let status = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", "size=64k", "mailconf-test"])
            .arg(at)
            .stderr(std::process::Stdio::null())
            .status();
        match status {
            Ok(s) if s.success() => Some(SmallDisk(at.to_path_buf())),
            _ => None,
        }
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount").arg(&self.0).status();
    }
}

#[test]
fn a_full_tmpfs_fails_cleanly_where_mount_is_allowed() {
    let dir = tempdir();
    let roster = roster(dir.path(), 300);
    let Some(disk) = SmallDisk::mount(&dir.path().join("disk")) else {
        eprintln!("note: cannot mount a tmpfs here (not root, or no CAP_SYS_ADMIN); skipped");
        return;
    };
    let out = disk.0.join("dept.zip");
    let old = b"an earlier bundle".to_vec();
    std::fs::write(&out, &old).unwrap();
    mailconf()
        .arg("bundle")
        .arg(&roster)
        .arg("-o")
        .arg(&out)
        .args(["--force", "--quiet"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains(format!("{}:", out.display())))
        .stderr(predicate::str::contains("No space left on device"));
    assert_eq!(std::fs::read(&out).unwrap(), old, "the old zip is intact");
    assert_eq!(names_in(&disk.0), ["dept.zip"], "no partial zip");
}

// ---------------------------------------------------------------------------------------------
// Interrupted.

/// Starts a bundle of 60,000 people, sends `signal` once its temporary zip exists, and checks
/// that it exits with 130 leaving nothing but what was there before (an old zip with `--force`).
fn interrupt_mid_bundle(signal: libc::c_int, over_an_old_zip: bool) {
    let dir = tempdir();
    let roster = roster(dir.path(), 60_000);
    let out = dir.path().join("dept.zip");
    let old = b"an earlier bundle".to_vec();
    if over_an_old_zip {
        std::fs::write(&out, &old).unwrap();
    }
    let mut child = std::process::Command::new(bin())
        .arg("bundle")
        .arg(&roster)
        .arg("-o")
        .arg(&out)
        .arg("--quiet")
        .args(over_an_old_zip.then_some("--force"))
        .spawn()
        .unwrap();
    let started = Instant::now();
    while !names_in(dir.path()).iter().any(|n| n.ends_with(".partial")) {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "no temporary file"
        );
        assert!(
            child.try_wait().unwrap().is_none(),
            "bundle finished before it could be stopped"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    assert_eq!(unsafe { libc::kill(child.id() as libc::pid_t, signal) }, 0);
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(130));
    if over_an_old_zip {
        assert_eq!(names_in(dir.path()), ["dept.csv", "dept.zip"]);
        assert_eq!(std::fs::read(&out).unwrap(), old, "the old zip is intact");
    } else {
        assert_eq!(
            names_in(dir.path()),
            ["dept.csv"],
            "nothing but the roster is left"
        );
    }
}

#[test]
fn sigint_mid_bundle_leaves_no_partial_zip() {
    interrupt_mid_bundle(libc::SIGINT, false);
}

#[test]
fn sigterm_mid_bundle_leaves_no_partial_zip_and_keeps_the_old_one() {
    interrupt_mid_bundle(libc::SIGTERM, true);
}

// ---------------------------------------------------------------------------------------------
// Rosters that cannot be read, or should not be.

#[test]
fn unreadable_rosters_are_clear_errors() {
    let dir = tempdir();
    let dangling = dir.path().join("gone.csv");
    std::os::unix::fs::symlink(dir.path().join("nowhere.csv"), &dangling).unwrap();
    let empty = write(dir.path(), "empty.csv", b"");
    let header = write(dir.path(), "header.csv", b"\xEF\xBB\xBFemail,name\r\n,\r\n");
    let cases: Vec<(PathBuf, &str)> = vec![
        (dangling.clone(), "cannot read the roster"),
        (dir.path().to_path_buf(), "it is a directory"),
        // Reading /proc/self/mem at offset 0 fails (EIO), for root too.
        (PathBuf::from("/proc/self/mem"), "cannot read the roster"),
        (empty, "the roster is empty"),
        (header, "no valid person"),
    ];
    for (path, message) in cases {
        for command in ["check", "bundle"] {
            let m = run_measured([OsStr::new(command), path.as_os_str()]);
            assert_eq!(m.code, 1, "{}: {}", path.display(), m.stderr);
            assert!(
                m.stderr.contains(&format!("{}", path.display())) && m.stderr.contains(message),
                "{}: {}",
                path.display(),
                m.stderr
            );
            assert!(m.stderr.lines().count() <= 3, "short: {}", m.stderr);
        }
    }
    assert_no_partial(dir.path());
}

// ---------------------------------------------------------------------------------------------
// Provider files with bad values.

#[test]
fn bad_provider_values_name_the_file_line_and_key() {
    let dir = tempdir();
    let roster = roster(dir.path(), 2);
    let kumail = mailconf::input::provider::KUMAIL_TOML;
    // (what the line becomes, the key named, words of the message)
    let cases = [
        ("port = 995", "port = 0", "port", "out of range"),
        ("port = 587", "port = 70000", "port", ""),
        (
            "security = \"tls\"",
            "security = \"ssl3\"",
            "security",
            "ssl3",
        ),
        ("host = \"smtp.gmail.com\"", "host = \"\"", "host", ""),
        (
            "domains = [\"kyoto-u.ac.jp\"]",
            "domains = []",
            "domains",
            "at least one",
        ),
        (
            "domains = [\"kyoto-u.ac.jp\"]",
            "domains = [\"kyoto-u.ac.jp\", \"KYOTO-U.AC.JP\"]",
            "domains",
            "",
        ),
        (
            "host = \"pop.gmail.com\"",
            "host = \"pop gmail <com>\"",
            "host",
            "",
        ),
    ];
    for (i, (from, to, key, words)) in cases.into_iter().enumerate() {
        assert!(kumail.contains(from), "{from}");
        let text = kumail.replacen(from, to, 1);
        let line = text.lines().position(|l| l == to).unwrap() + 1;
        let path = write(dir.path(), &format!("bad{i}.toml"), text.as_bytes());
        for command in ["check", "bundle"] {
            let assert = mailconf()
                .arg(command)
                .arg(&roster)
                .arg("--provider")
                .arg(&path)
                .assert()
                .code(1)
                .stderr(predicate::str::contains(format!(
                    "{}:{line}: {key}",
                    path.display()
                )))
                .stderr(predicate::str::contains(words));
            let stderr = String::from_utf8_lossy(&assert.get_output().stderr).into_owned();
            assert!(stderr.lines().count() <= 3, "{to}: {stderr}");
        }
    }
    // A domain list missing altogether.
    let text = kumail.replacen("domains = [\"kyoto-u.ac.jp\"]\n", "", 1);
    let path = write(dir.path(), "nodomain.toml", text.as_bytes());
    mailconf()
        .arg("check")
        .arg(&roster)
        .arg("--provider")
        .arg(&path)
        .assert()
        .code(1)
        .stderr(predicate::str::contains(path.display().to_string()))
        .stderr(predicate::str::contains("domains"));
    assert_eq!(
        names_in(dir.path())
            .iter()
            .filter(|n| n.ends_with(".zip"))
            .count(),
        0
    );
}
