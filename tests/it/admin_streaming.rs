//! The IT-staff page's zip is made as it is sent (issue 20): three 10,000-person downloads held
//! by clients that do not read keep the server under 100 MB, and do not keep another IT staff
//! member's download from starting and finishing. Its own test binary, so that its memory is
//! measured while no other test of this file loads the server.

use crate::common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use common::raw::{self, connect};
use common::server::{Server, client};

const USER: &str = "it-staff";
const PASSWORD: &str = "correct horse battery staple";
const BOUNDARY: &str = "mailconf-test-boundary-7f3a";

/// A roster of `n` people as Excel saves it, names with kanji and markup.
fn roster(n: usize) -> String {
    let mut text = String::from("氏名,メールアドレス\r\n");
    for i in 0..n {
        let name = match i % 4 {
            0 => format!("山田 太郎{i}"),
            1 => format!("\"Smith, <Jane> & Co {i}\""),
            2 => format!("京大　花子{i}"),
            _ => format!("Person {i}"),
        };
        text.push_str(&format!("{name},person{i}@kyoto-u.ac.jp\r\n"));
    }
    text
}

/// A `POST /admin/` with the roster and the page's default choices, signed in, as a browser
/// sends it.
fn upload_request(file_name: &str, roster: &[u8]) -> Vec<u8> {
    use base64::Engine;
    let mut body = Vec::new();
    for (name, value) in common::server::PAGE_FIELDS {
        write!(
            body,
            "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n"
        )
        .unwrap();
    }
    write!(
        body,
        "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"roster\"; filename=\"{file_name}\"\r\nContent-Type: text/csv\r\n\r\n"
    )
    .unwrap();
    body.extend_from_slice(roster);
    write!(body, "\r\n--{BOUNDARY}--\r\n").unwrap();
    let token = base64::engine::general_purpose::STANDARD.encode(format!("{USER}:{PASSWORD}"));
    let mut request = format!(
        "POST /admin/ HTTP/1.1\r\nHost: x\r\nAuthorization: Basic {token}\r\nConnection: close\r\n\
         Content-Type: multipart/form-data; boundary={BOUNDARY}\r\nContent-Length: {}\r\n\r\n",
        body.len()
    )
    .into_bytes();
    request.extend_from_slice(&body);
    request
}

/// Reads an answer's head (up to the blank line) and returns it; the body is left unread.
fn read_head(stream: &mut TcpStream) -> String {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        let n = stream.read(&mut byte).expect("the answer's head");
        assert!(
            n > 0,
            "closed before the head: {:?}",
            String::from_utf8_lossy(&head)
        );
        head.push(byte[0]);
    }
    String::from_utf8(head).unwrap()
}

/// A small receive buffer, so that a client that does not read holds little in the kernel.
fn small_receive_buffer(stream: &TcpStream) {
    use std::os::fd::AsRawFd;
    let size: libc::c_int = 16 * 1024;
    unsafe {
        libc::setsockopt(
            stream.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_RCVBUF,
            (&size as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        );
    }
}

#[test]
fn held_downloads_stay_small_and_keep_no_one_else_waiting() {
    let dir = common::tempdir();
    let htpasswd = dir.path().join("it-staff.htpasswd");
    let hash = bcrypt::hash(PASSWORD, 4).unwrap();
    std::fs::write(&htpasswd, format!("{USER}:{hash}\n")).unwrap();
    let server = Server::start_with(
        &["--admin-htpasswd", htpasswd.to_str().unwrap()],
        &[("SOURCE_DATE_EPOCH", "1775035800")],
    );
    let big = roster(10_000);
    // Three departments of 10,000 whose clients read the answer's head and then nothing more.
    let mut held: Vec<TcpStream> = Vec::new();
    for i in 0..3 {
        let mut s = connect(server.port);
        small_receive_buffer(&s);
        s.set_read_timeout(Some(Duration::from_secs(120))).unwrap();
        s.write_all(&upload_request(&format!("dept{i}.csv"), big.as_bytes()))
            .unwrap();
        let head = read_head(&mut s);
        assert!(head.starts_with("HTTP/1.1 200"), "{head}");
        assert!(head.contains("application/zip"), "{head}");
        held.push(s);
    }
    // Another IT staff member's upload starts and finishes meanwhile, whole.
    let small = roster(200);
    let started = Instant::now();
    let r = client()
        .post(server.url("/admin/"))
        .basic_auth(USER, Some(PASSWORD))
        .header(
            reqwest::header::CONTENT_TYPE,
            format!("multipart/form-data; boundary={BOUNDARY}"),
        )
        .body({
            let request = upload_request("small.csv", small.as_bytes());
            let at = request.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
            request[at..].to_vec()
        })
        .send()
        .unwrap();
    assert_eq!(r.status(), 200);
    let zip = r.bytes().unwrap();
    let entries = common::zip_entries(&zip);
    assert!(
        entries
            .iter()
            .any(|(n, _)| n == "small/users/person199@kyoto-u.ac.jp/README.html"),
        "a whole zip"
    );
    assert!(
        started.elapsed() < Duration::from_secs(60),
        "the other download took {:?}",
        started.elapsed()
    );
    // The held ones are still open, waiting for their clients.
    for s in &mut held {
        s.set_nonblocking(true).unwrap();
        let mut byte = [0u8; 1];
        match s.peek(&mut byte) {
            Ok(n) => assert!(n > 0, "a held download was closed"),
            Err(e) => assert_eq!(e.kind(), std::io::ErrorKind::WouldBlock, "{e}"),
        }
        s.set_nonblocking(false).unwrap();
    }
    let peak = raw::peak_rss_mib(server.pid());
    eprintln!(
        "peak RSS with three held 10,000-person downloads and one more: {peak:.1} MiB (now {:.1} MiB)",
        raw::rss_mib(server.pid())
    );
    assert!(peak < 100.0, "the server's peak memory was {peak:.1} MiB");
    // One held client reads its download to the end after all: the whole zip, as bundle makes it.
    let mut first = held.remove(0);
    let mut rest = Vec::new();
    first.read_to_end(&mut rest).unwrap();
    let body = dechunk(&rest);
    let entries = common::zip_entries(&body);
    assert_eq!(
        entries
            .iter()
            .filter(|(n, _)| n.ends_with("/README.html"))
            .count(),
        10_000
    );
    assert!(raw::peak_rss_mib(server.pid()) < 100.0);
    // The others go away: their zips are given up, and the server answers as before.
    drop(held);
    assert_eq!(server.status_of("/healthz"), 200);
}

/// The body of a chunked HTTP/1.1 answer.
fn dechunk(mut bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let line_end = bytes
            .windows(2)
            .position(|w| w == b"\r\n")
            .expect("a chunk size");
        let size =
            usize::from_str_radix(std::str::from_utf8(&bytes[..line_end]).unwrap().trim(), 16)
                .unwrap();
        bytes = &bytes[line_end + 2..];
        if size == 0 {
            return out;
        }
        out.extend_from_slice(&bytes[..size]);
        bytes = &bytes[size + 2..];
    }
}
