//! The real `mailconf serve`, started on an ephemeral port for a test, and stopped with a signal.
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// A running server and what it has written to stderr.
pub struct Server {
    child: Option<Child>,
    /// `http://127.0.0.1:PORT` (or https).
    pub base: String,
    pub port: u16,
    log: Arc<Mutex<Vec<String>>>,
    /// Reads stderr into `log` until the server closes it.
    reader: Option<std::thread::JoinHandle<()>>,
}

impl Server {
    /// Starts `mailconf serve --listen 127.0.0.1:0 ARGS…` and waits until it listens.
    pub fn start(args: &[&str]) -> Server {
        Server::start_with(args, &[])
    }

    /// [`Server::start`] with environment variables.
    pub fn start_with(args: &[&str], env: &[(&str, &str)]) -> Server {
        Server::start_on("127.0.0.1:0", args, env)
    }

    /// [`Server::start_with`] listening on `listen` (its URLs still go to 127.0.0.1).
    pub fn start_on(listen: &str, args: &[&str], env: &[(&str, &str)]) -> Server {
        let mut command = Command::new(assert_cmd::cargo::cargo_bin!("mailconf"));
        command
            .args(["serve", "--listen", listen])
            .args(args)
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        for (k, v) in env {
            command.env(k, v);
        }
        let mut child = command.spawn().expect("start mailconf serve");
        let stderr = child.stderr.take().unwrap();
        let log = Arc::new(Mutex::new(Vec::new()));
        let (tx, rx) = std::sync::mpsc::channel();
        let shared = log.clone();
        let reader = std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                if let Some(rest) = line.strip_prefix("mailconf: serving on ") {
                    let url = rest.split_whitespace().next().unwrap_or("").to_string();
                    let _ = tx.send(url);
                }
                shared.lock().unwrap().push(line);
            }
        });
        let url = match rx.recv_timeout(Duration::from_secs(30)) {
            Ok(url) => url,
            Err(_) => {
                let _ = child.kill();
                let status = child.wait().unwrap();
                panic!(
                    "mailconf serve did not start ({status}):\n{}",
                    log.lock().unwrap().join("\n")
                );
            }
        };
        let port = url.rsplit(':').next().unwrap().parse().unwrap();
        // A wildcard address is reached on the loopback one.
        let url = url
            .replace("://0.0.0.0:", "://127.0.0.1:")
            .replace("://[::]:", "://[::1]:");
        Server {
            child: Some(child),
            base: url,
            port,
            log,
            reader: Some(reader),
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// The status of `GET path`.
    pub fn status_of(&self, path: &str) -> u16 {
        client()
            .get(self.url(path))
            .send()
            .unwrap()
            .status()
            .as_u16()
    }

    /// The lines written to stderr so far.
    pub fn log(&self) -> Vec<String> {
        self.log.lock().unwrap().clone()
    }

    /// Waits (up to 5 s) for a stderr line containing `part`; all lines so far.
    pub fn log_with(&self, part: &str) -> Vec<String> {
        let started = Instant::now();
        loop {
            let lines = self.log();
            if lines.iter().any(|l| l.contains(part)) || started.elapsed() > Duration::from_secs(5)
            {
                return lines;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The access-log lines written so far, waiting a little for `at_least` of them.
    pub fn access_log(&self, at_least: usize) -> Vec<String> {
        let started = Instant::now();
        loop {
            let lines: Vec<String> = self
                .log()
                .into_iter()
                .filter(|l| !l.starts_with("mailconf:"))
                .collect();
            if lines.len() >= at_least || started.elapsed() > Duration::from_secs(5) {
                return lines;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn pid(&self) -> i32 {
        self.child.as_ref().unwrap().id() as i32
    }

    /// Sends `signal` and waits (up to 60 s) for the server to exit.
    pub fn stop_with(mut self, signal: i32) -> (ExitStatus, Vec<String>) {
        let mut child = self.child.take().unwrap();
        unsafe { libc::kill(child.id() as i32, signal) };
        let started = Instant::now();
        loop {
            if let Some(status) = child.try_wait().unwrap() {
                // Every line it wrote, up to its end.
                if let Some(reader) = self.reader.take() {
                    let _ = reader.join();
                }
                return (status, self.log());
            }
            if started.elapsed() > Duration::from_secs(60) {
                let _ = child.kill();
                panic!("the server did not stop within a minute");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// The IT-staff page's form fields as a browser sends them by default: every kind of file, the
/// Google profile, POP, a UTF-16LE PRF, the default PRF folder.
pub const PAGE_FIELDS: [(&str, &str); 8] = [
    ("formats", "thunderbird"),
    ("formats", "apple"),
    ("formats", "outlook"),
    ("formats", "guides"),
    ("google", "on"),
    ("protocol", "pop"),
    ("prf_encoding", "utf16le"),
    ("prf_dir", ""),
];

/// A blocking HTTP client that follows no redirects and keeps no cookies.
pub fn client() -> reqwest::blocking::Client {
    reqwest::blocking::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap()
}
