//! Clients that misbehave at the connection level, against the real `mailconf serve` over real
//! sockets (issue 20): connections that send nothing at any stage (plain TCP, after a TLS
//! handshake, between keep-alive requests, an idle HTTP/2 connection, a request trickling in)
//! are closed within 10–15 s; a stop closes idle connections at once; 4,500 silent connections
//! do not keep `/healthz` from answering for more than 30 s; a client that shuts its sending
//! side after its request always gets its answer.

use crate::common;

use std::io::{Read, Write};
use std::net::{Shutdown, TcpStream};
use std::time::{Duration, Instant};

use common::raw::{self, connect, exchange, read_answer, wait_closed};
use common::server::Server;

const ADDRESS: &str = "taro.yamada@kyoto-u.ac.jp";

/// The server's idle limit, and how far around it a close must come.
const IDLE: Duration = Duration::from_secs(10);
const EARLIEST: Duration = Duration::from_secs(9);
const LATEST: Duration = Duration::from_secs(15);

fn assert_closed_in_time(what: &str, took: Duration) {
    assert!(
        (EARLIEST..=LATEST).contains(&took),
        "{what}: closed after {took:?}, not within 10–15 s"
    );
}

#[test]
fn connections_that_send_nothing_are_closed_at_every_stage() {
    let dir = common::tempdir();
    let anchor = common::pki::tls_files_now(dir.path());
    let cert = dir.path().join("tls-cert.pem");
    let key = dir.path().join("tls-key.pem");
    let plain = Server::start(&[]);
    let tls = Server::start(&[
        "--tls-cert",
        cert.to_str().unwrap(),
        "--tls-key",
        key.to_str().unwrap(),
    ]);
    let limit = Duration::from_secs(40);
    let (port, tls_port) = (plain.port, tls.port);
    let mut checks: Vec<(&str, std::thread::JoinHandle<Duration>)> = Vec::new();
    // A plain connection that sends nothing at all.
    checks.push((
        "plain TCP, silent",
        std::thread::spawn(move || {
            let mut s = connect(port);
            s.set_read_timeout(Some(limit)).unwrap();
            let (took, got) = wait_closed(&mut s, Instant::now(), limit);
            assert!(got.is_empty(), "{got:?}");
            took
        }),
    ));
    // A request trickling in, a byte a second: bytes coming do not keep it open.
    checks.push((
        "a request trickling in",
        std::thread::spawn(move || {
            let mut s = connect(port);
            let started = Instant::now();
            for b in b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
            {
                if s.write_all(&[*b]).is_err() {
                    break;
                }
                std::thread::sleep(Duration::from_secs(1));
                if started.elapsed() > limit {
                    panic!("still open after {limit:?}");
                }
            }
            s.set_read_timeout(Some(limit)).unwrap();
            let (took, got) = wait_closed(&mut s, started, limit);
            assert!(!String::from_utf8_lossy(&got).contains(" 200 "), "answered");
            took
        }),
    ));
    // Kept alive after an answer, then silent.
    checks.push((
        "HTTP/1.1 keep-alive, idle",
        std::thread::spawn(move || {
            let mut s = connect(port);
            let (head, body) = exchange(&mut s, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n");
            assert!(head.starts_with("HTTP/1.1 200"), "{head}");
            assert_eq!(body, b"ok\n");
            let answered = Instant::now();
            s.set_read_timeout(Some(limit)).unwrap();
            wait_closed(&mut s, answered, limit).0
        }),
    ));
    // HTTP/2, idle after one request.
    let (answered, answered_at) = std::sync::mpsc::channel();
    let h2 = raw::idle_h2(port, answered, limit);
    checks.push((
        "HTTP/2, idle",
        std::thread::spawn(move || {
            let closed = h2.join().unwrap();
            closed.duration_since(answered_at.recv().unwrap())
        }),
    ));
    // TLS: the handshake done, then nothing.
    let config = raw::tls_client(&anchor, &[b"h2", b"http/1.1"]);
    checks.push((
        "TLS handshake done, then silent",
        std::thread::spawn(move || {
            let mut s = raw::tls_connect(&config, tls_port);
            let shaken = Instant::now();
            s.sock.set_read_timeout(Some(limit)).unwrap();
            let (took, got) = wait_closed(&mut s, shaken, limit);
            assert!(got.is_empty(), "{got:?}");
            took
        }),
    ));
    // Meanwhile, others are answered: before any of those connections is closed.
    assert_eq!(plain.status_of("/healthz"), 200);
    for (what, check) in &checks {
        assert!(
            !check.is_finished(),
            "{what}: over before /healthz was answered"
        );
    }
    for (what, check) in checks {
        let took = check.join().unwrap_or_else(|_| panic!("{what}"));
        assert_closed_in_time(what, took);
    }
    // A connection that keeps sending what it was asked for is not cut: a request every 4 s on
    // one keep-alive connection, for longer than the idle limit.
    let mut s = connect(port);
    let started = Instant::now();
    while started.elapsed() < IDLE + Duration::from_secs(4) {
        let (head, _) = exchange(&mut s, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n");
        assert!(head.starts_with("HTTP/1.1 200"), "{head}");
        std::thread::sleep(Duration::from_secs(4));
    }
}

#[test]
fn a_stop_closes_idle_connections_at_once_and_lets_answers_finish() {
    let server = Server::start(&[]);
    let port = server.port;
    let silent = connect(port);
    let mut kept_alive = connect(port);
    let (head, _) = exchange(&mut kept_alive, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n");
    assert!(head.starts_with("HTTP/1.1 200"));
    // HTTP/2, idle.
    let (answered, h2_answered) = std::sync::mpsc::channel();
    let h2 = raw::idle_h2(port, answered, Duration::from_secs(60));
    h2_answered.recv().unwrap();
    // An HTTP/2 client that sends its preface and settings, then neither reads nor answers
    // the server's ping.
    let mut deaf_h2 = connect(port);
    deaf_h2
        .write_all(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\0\0\0\x04\0\0\0\0\0")
        .unwrap();
    // A request in flight: its body comes in two halves, 3 s apart.
    let (sent_half, half_sent) = std::sync::mpsc::channel();
    let in_flight = raw::slow_pox(port, Duration::from_secs(3), sent_half);
    half_sent.recv().unwrap();
    let pid = server.pid();
    let signalled = Instant::now();
    unsafe { libc::kill(pid, libc::SIGTERM) };
    for (what, mut s) in [
        ("silent", silent),
        ("kept alive", kept_alive),
        ("HTTP/2 that never answers", deaf_h2),
    ] {
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let (took, _) = wait_closed(&mut s, signalled, Duration::from_secs(10));
        assert!(
            took < Duration::from_secs(1),
            "{what}: closed after {took:?}"
        );
    }
    let h2_closed = h2.join().unwrap();
    assert!(
        h2_closed.duration_since(signalled) < Duration::from_secs(2),
        "HTTP/2: closed after {:?}",
        h2_closed.duration_since(signalled)
    );
    // The request in flight got its whole answer, after the idle ones were gone.
    let (answer, answered) = in_flight.join().unwrap();
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer:.200}");
    assert!(answer.contains("<Type>SMTP</Type>"));
    let (status, log) = server.stop_with(libc::SIGTERM);
    assert_eq!(status.code(), Some(0), "{log:?}");
    assert!(
        answered.duration_since(signalled) >= Duration::from_secs(2),
        "the answer came before its body was sent"
    );
    assert!(
        signalled.elapsed() < Duration::from_secs(10),
        "the stop took {:?}",
        signalled.elapsed()
    );
}

#[test]
fn thousands_of_silent_connections_do_not_shut_others_out_for_long() {
    const SILENT: usize = 4_500;
    raw::raise_file_limit(SILENT as u64 + 1_024);
    let server = Server::start(&["--quiet"]);
    let started = Instant::now();
    let silent: Vec<TcpStream> = (0..SILENT).map(|_| connect(server.port)).collect();
    // Every slot of the server is taken now: /healthz waits behind the silent ones, and is
    // answered once they have been closed for idling.
    let mut s = connect(server.port);
    s.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
    s.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    let asked = Instant::now();
    let (head, body) = read_answer(&mut s);
    let waited = asked.elapsed();
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    assert_eq!(body, b"ok\n");
    assert!(
        waited < Duration::from_secs(30),
        "/healthz answered {waited:?} after it was asked ({SILENT} connections opened in {:?})",
        asked.duration_since(started)
    );
    // The silent ones are all closed by now or soon: the last of them within the idle limit.
    let check = Instant::now();
    for mut c in silent {
        c.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
        wait_closed(&mut c, check, Duration::from_secs(30));
    }
    assert!(check.elapsed() < LATEST, "{:?}", check.elapsed());
    assert_eq!(server.status_of("/healthz"), 200);
}

#[test]
fn every_half_closed_request_is_answered() {
    let server = Server::start(&[]);
    let body = format!(
        "<Autodiscover><Request><EMailAddress>{ADDRESS}</EMailAddress></Request></Autodiscover>"
    );
    let requests = [
        "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n".to_string(),
        format!("GET /mail/config-v1.1.xml?emailaddress={ADDRESS} HTTP/1.1\r\nHost: x\r\n\r\n"),
        format!(
            "POST /autodiscover/autodiscover.xml HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        ),
        "GET /healthz HTTP/1.0\r\n\r\n".to_string(),
    ];
    let mut unanswered = Vec::new();
    for round in 0..150 {
        for request in &requests {
            let mut s = connect(server.port);
            s.write_all(request.as_bytes()).unwrap();
            s.shutdown(Shutdown::Write).unwrap();
            s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
            let mut answer = Vec::new();
            let _ = s.read_to_end(&mut answer);
            if !answer.starts_with(b"HTTP/1.1 200") && !answer.starts_with(b"HTTP/1.0 200") {
                unanswered.push(format!(
                    "round {round}: {:.40}: {:?}",
                    request,
                    String::from_utf8_lossy(&answer)
                ));
            }
        }
    }
    assert!(
        unanswered.is_empty(),
        "{} of {} half-closed requests got no answer: {:?}",
        unanswered.len(),
        150 * requests.len(),
        &unanswered[..unanswered.len().min(5)]
    );
}
