//! Talking to `mailconf serve` below the HTTP client: raw TCP, TLS and HTTP/2 connections that
//! misbehave on purpose (say nothing, stop halfway, shut their sending side), and the file limit
//! a test with thousands of them needs.
#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Raises this process's limit on open files to at least `want` (its children, the server
/// included, inherit it): the soft limit up to the hard one, and the hard one too where allowed
/// (as root). Panics, saying why, when that is not enough.
pub fn raise_file_limit(want: u64) {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    unsafe {
        assert_eq!(libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit), 0);
        if limit.rlim_cur >= want {
            return;
        }
        limit.rlim_cur = want;
        if limit.rlim_max < want {
            limit.rlim_max = want;
        }
        if libc::setrlimit(libc::RLIMIT_NOFILE, &limit) != 0 {
            libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit);
            limit.rlim_cur = limit.rlim_max;
            libc::setrlimit(libc::RLIMIT_NOFILE, &limit);
        }
        libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit);
    }
    assert!(
        limit.rlim_cur >= want,
        "this test needs {want} open files and the hard limit is {}: run it as root or raise \
         the limit (ulimit -n {want})",
        limit.rlim_max
    );
}

/// A plain connection to the server on 127.0.0.1.
pub fn connect(port: u16) -> TcpStream {
    let stream = TcpStream::connect(("127.0.0.1", port)).expect("connect to the server");
    stream.set_nodelay(true).unwrap();
    stream
}

/// Reads until the server closes the connection (end of stream or a reset), at most `limit`;
/// returns how long that took from `since`, and what was read. Panics when it stays open.
pub fn wait_closed(stream: &mut impl Read, since: Instant, limit: Duration) -> (Duration, Vec<u8>) {
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match stream.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(e)
                if e.kind() == std::io::ErrorKind::WouldBlock
                    || e.kind() == std::io::ErrorKind::TimedOut =>
            {
                panic!("the connection was still open after {:?}", since.elapsed());
            }
            // Reset by the server: closed too.
            Err(_) => break,
        }
        assert!(
            since.elapsed() < limit,
            "the connection was still open after {:?}",
            since.elapsed()
        );
    }
    (since.elapsed(), got)
}

/// Sends `request` (a whole HTTP/1.1 request) and reads one answer: its head and, by its
/// `Content-Length`, its body. The connection stays open.
pub fn exchange(stream: &mut TcpStream, request: &str) -> (String, Vec<u8>) {
    stream.write_all(request.as_bytes()).unwrap();
    read_answer(stream)
}

/// Reads one HTTP/1.1 answer with a `Content-Length`: (head, body).
pub fn read_answer(stream: &mut impl Read) -> (String, Vec<u8>) {
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    let head_end = loop {
        if let Some(at) = got.windows(4).position(|w| w == b"\r\n\r\n") {
            break at + 4;
        }
        let n = stream.read(&mut buf).expect("an answer");
        assert!(n > 0, "closed before the answer's head: {got:?}");
        got.extend_from_slice(&buf[..n]);
    };
    let head = String::from_utf8_lossy(&got[..head_end]).into_owned();
    let length: usize = head
        .lines()
        .find_map(|l| {
            let (name, value) = l.split_once(':')?;
            name.eq_ignore_ascii_case("content-length")
                .then(|| value.trim().parse().ok())?
        })
        .unwrap_or(0);
    let mut body = got[head_end..].to_vec();
    while body.len() < length {
        let n = stream.read(&mut buf).expect("the answer's body");
        assert!(n > 0, "closed in the answer's body");
        body.extend_from_slice(&buf[..n]);
    }
    (head, body)
}

/// A TLS client configuration that trusts `anchor` (PEM) alone, offering `alpn`.
pub fn tls_client(anchor: &str, alpn: &[&[u8]]) -> Arc<rustls::ClientConfig> {
    use rustls::pki_types::CertificateDer;
    use rustls::pki_types::pem::PemObject;
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(anchor.as_bytes()) {
        roots.add(cert.unwrap()).unwrap();
    }
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    Arc::new(config)
}

/// A TLS connection to `localhost:port`, its handshake done.
pub fn tls_connect(
    config: &Arc<rustls::ClientConfig>,
    port: u16,
) -> rustls::StreamOwned<rustls::ClientConnection, TcpStream> {
    let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
    let conn = rustls::ClientConnection::new(config.clone(), name).unwrap();
    let mut stream = rustls::StreamOwned::new(conn, connect(port));
    while stream.conn.is_handshaking() {
        stream
            .conn
            .complete_io(&mut stream.sock)
            .expect("TLS handshake");
    }
    stream
}

/// Peak resident memory of process `pid` so far (`VmHWM`), in MiB.
pub fn peak_rss_mib(pid: i32) -> f64 {
    status_kib(pid, "VmHWM:") as f64 / 1024.0
}

/// Resident memory of process `pid` now (`VmRSS`), in MiB.
pub fn rss_mib(pid: i32) -> f64 {
    status_kib(pid, "VmRSS:") as f64 / 1024.0
}

fn status_kib(pid: i32, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or_else(|| panic!("{field} in /proc/{pid}/status"))
}

/// A POX Autodiscover request whose body comes in two halves, `pause` apart: a request in flight
/// for that long. On a thread of its own. It asks with `Expect: 100-continue`, so that the
/// server's `100 Continue` says the request is in; then it sends the first half and tells
/// `half_sent`. Gives the answer after the `100 Continue` (the connection closes after it) and
/// when it ended.
pub fn slow_pox(
    port: u16,
    pause: Duration,
    half_sent: std::sync::mpsc::Sender<()>,
) -> std::thread::JoinHandle<(String, Instant)> {
    std::thread::spawn(move || {
        let mut s = connect(port);
        let body = super::pox_request("taro.yamada@kyoto-u.ac.jp");
        write!(
            s,
            "POST /autodiscover/autodiscover.xml HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\nExpect: 100-continue\r\nConnection: close\r\n\r\n",
            body.len()
        )
        .unwrap();
        let mut interim = Vec::new();
        let mut byte = [0u8; 1];
        while !interim.ends_with(b"\r\n\r\n") {
            assert_eq!(s.read(&mut byte).unwrap(), 1, "closed before 100 Continue");
            interim.push(byte[0]);
        }
        assert!(interim.starts_with(b"HTTP/1.1 100"), "{interim:?}");
        let (a, b) = body.split_at(body.len() / 2);
        s.write_all(a.as_bytes()).unwrap();
        half_sent.send(()).unwrap();
        std::thread::sleep(pause);
        s.write_all(b.as_bytes()).unwrap();
        let mut answer = String::new();
        s.read_to_string(&mut answer).unwrap();
        (answer, Instant::now())
    })
}

/// An HTTP/2 connection (prior knowledge) to the server on 127.0.0.1 that asks for `/healthz`
/// once, tells `answered` when the answer is in, then stays idle until the server closes it, at
/// most `limit`. On a thread of its own; gives when the connection ended.
pub fn idle_h2(
    port: u16,
    answered: std::sync::mpsc::Sender<Instant>,
    limit: Duration,
) -> std::thread::JoinHandle<Instant> {
    std::thread::spawn(move || {
        use http_body_util::{BodyExt, Empty};
        use hyper_util::rt::{TokioExecutor, TokioIo};
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async move {
            let tcp = tokio::net::TcpStream::connect(("127.0.0.1", port))
                .await
                .unwrap();
            let (mut send, conn) =
                hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(tcp))
                    .await
                    .expect("an HTTP/2 handshake");
            let conn = tokio::spawn(conn);
            let request = hyper::Request::get(format!("http://127.0.0.1:{port}/healthz"))
                .body(Empty::<bytes::Bytes>::new())
                .unwrap();
            let answer = send.send_request(request).await.unwrap();
            assert_eq!(answer.status(), 200);
            assert_eq!(answer.version(), hyper::Version::HTTP_2);
            let body = answer.into_body().collect().await.unwrap().to_bytes();
            assert_eq!(&body[..], b"ok\n");
            answered.send(Instant::now()).unwrap();
            tokio::time::timeout(limit, conn)
                .await
                .expect("the idle HTTP/2 connection was never closed")
                .unwrap()
                .ok();
            Instant::now()
        })
    })
}
