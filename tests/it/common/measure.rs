//! Running mailconf and measuring it: exit code, standard error, peak memory, time.
#![allow(dead_code)]

use std::ffi::OsStr;
use std::path::Path;
use std::time::{Duration, Instant};

fn bin() -> &'static Path {
    Path::new(assert_cmd::cargo::cargo_bin!("mailconf"))
}

/// A finished run: exit code, standard error, peak memory of the process and time taken.
pub struct Measured {
    pub code: i32,
    pub stderr: String,
    pub max_rss_kib: i64,
    pub elapsed: Duration,
}

/// Runs mailconf with `args`, measuring the child's peak resident memory with `wait4`. Fails
/// the test if the run takes over a minute.
///
/// Linux counts in a child's peak the peak of the process that started it: `exec` keeps the
/// larger of the two high-water marks, whether the child was made by `vfork` or `fork`. A test
/// that asserts on `max_rss_kib` must run in a test binary that allocates little itself
/// (`tests/memory.rs`), or a sibling test's buffers show up in its measurement.
pub fn run_measured<I, S>(args: I) -> Measured
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    let err = tempfile::tempfile().unwrap();
    let started = Instant::now();
    // Reaped below with wait4 (which also gives its resource usage), not Child::wait.
    #[allow(clippy::zombie_processes)]
    let child = std::process::Command::new(bin())
        .args(args)
        .stdout(std::process::Stdio::null())
        .stderr(err.try_clone().unwrap())
        .spawn()
        .unwrap();
    let pid = child.id() as libc::pid_t;
    let mut status = 0;
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    loop {
        let r = unsafe { libc::wait4(pid, &mut status, libc::WNOHANG, &mut usage) };
        assert!(r >= 0, "wait4: {}", std::io::Error::last_os_error());
        if r == pid {
            break;
        }
        if started.elapsed() > Duration::from_secs(60) {
            unsafe { libc::kill(pid, libc::SIGKILL) };
            panic!("mailconf did not finish within a minute");
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    let elapsed = started.elapsed();
    let code = if libc::WIFEXITED(status) {
        libc::WEXITSTATUS(status)
    } else {
        -libc::WTERMSIG(status)
    };
    let mut stderr = String::new();
    use std::io::{Read, Seek};
    let mut err = err;
    err.rewind().unwrap();
    err.read_to_string(&mut stderr).unwrap();
    Measured {
        code,
        stderr,
        max_rss_kib: usage.ru_maxrss,
        elapsed,
    }
}
