//! The internet as Thunderbird sees it during the test, all on 127.0.0.0/8 inside the test's own
//! network namespace: a DNS server (the domain's MX at Google, and `autoconfig.DOMAIN` when the
//! autoconfig is published), Mozilla's ISPDB with Thunderbird's Gmail entry, Google's sign-in and
//! token endpoints, and Gmail's POP and SMTP servers, far enough to let Thunderbird sign in and
//! check the account. Each fake records what it was asked, for the test's assertions.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::sync::{Arc, Mutex};

/// The addresses of the fakes (any of 127.0.0.0/8 is this namespace's loopback).
pub const DNS: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 1);
pub const AUTOCONFIG: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 2);
pub const GOOGLE: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 3);
pub const GMAIL: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 4);
pub const ISPDB: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 5);

/// What the fakes saw, in order.
#[derive(Clone, Default)]
pub struct Log(Arc<Mutex<Vec<String>>>);

impl Log {
    pub fn push(&self, line: String) {
        self.0.lock().unwrap().push(line);
    }
    pub fn lines(&self) -> Vec<String> {
        self.0.lock().unwrap().clone()
    }
    pub fn contains(&self, part: &str) -> bool {
        self.lines().iter().any(|l| l.contains(part))
    }
}

// ---- DNS ----------------------------------------------------------------------------------------

/// Names and their A records; `mx` answers MX queries for the mail domain.
#[derive(Clone, Default)]
pub struct Zone {
    pub a: Arc<Mutex<HashMap<String, Ipv4Addr>>>,
    pub mx: Arc<Mutex<HashMap<String, String>>>,
}

impl Zone {
    pub fn set_a(&self, name: &str, addr: Option<Ipv4Addr>) {
        let mut a = self.a.lock().unwrap();
        match addr {
            Some(addr) => a.insert(name.to_string(), addr),
            None => a.remove(name),
        };
    }
}

/// A DNS server on DNS:53 (UDP) answering from `zone`: A and MX records; NOERROR with no answer
/// for other types of a known name; NXDOMAIN for unknown names.
pub fn dns(zone: Zone, log: Log) -> std::io::Result<()> {
    let socket = UdpSocket::bind((DNS, 53))?;
    std::thread::spawn(move || {
        let mut buf = [0u8; 1500];
        loop {
            let Ok((n, from)) = socket.recv_from(&mut buf) else {
                return;
            };
            if let Some(reply) = answer(&buf[..n], &zone, &log) {
                let _ = socket.send_to(&reply, from);
            }
        }
    });
    Ok(())
}

fn answer(query: &[u8], zone: &Zone, log: &Log) -> Option<Vec<u8>> {
    if query.len() < 12 {
        return None;
    }
    let mut labels = Vec::new();
    let mut i = 12;
    loop {
        let len = *query.get(i)? as usize;
        i += 1;
        if len == 0 {
            break;
        }
        labels.push(String::from_utf8_lossy(query.get(i..i + len)?).to_lowercase());
        i += len;
    }
    let qtype = u16::from_be_bytes([*query.get(i)?, *query.get(i + 1)?]);
    let question = query.get(12..i + 4)?;
    let name = labels.join(".");
    let a = zone.a.lock().unwrap().get(&name).copied();
    let mx = zone.mx.lock().unwrap().get(&name).cloned();
    let mut answers: Vec<(u16, Vec<u8>)> = Vec::new();
    match (qtype, a, &mx) {
        (1, Some(addr), _) => answers.push((1, addr.octets().to_vec())),
        (15, _, Some(host)) => {
            let mut rdata = 10u16.to_be_bytes().to_vec();
            for label in host.split('.') {
                rdata.push(label.len() as u8);
                rdata.extend_from_slice(label.as_bytes());
            }
            rdata.push(0);
            answers.push((15, rdata));
        }
        _ => {}
    }
    log.push(format!(
        "dns {name} type {qtype}: {} answers",
        answers.len()
    ));
    let known = a.is_some() || mx.is_some();
    let rcode = if known { 0 } else { 3 };
    let mut reply = Vec::with_capacity(512);
    reply.extend_from_slice(&query[0..2]);
    reply.extend_from_slice(&(0x8180u16 | rcode).to_be_bytes());
    reply.extend_from_slice(&1u16.to_be_bytes());
    reply.extend_from_slice(&(answers.len() as u16).to_be_bytes());
    reply.extend_from_slice(&[0, 0, 0, 0]);
    reply.extend_from_slice(question);
    for (rtype, rdata) in answers {
        reply.extend_from_slice(&[0xc0, 0x0c]);
        reply.extend_from_slice(&rtype.to_be_bytes());
        reply.extend_from_slice(&1u16.to_be_bytes());
        reply.extend_from_slice(&60u32.to_be_bytes());
        reply.extend_from_slice(&(rdata.len() as u16).to_be_bytes());
        reply.extend_from_slice(&rdata);
    }
    Some(reply)
}

// ---- HTTP ---------------------------------------------------------------------------------------

/// One HTTP/1.1 request as the fakes need it.
pub struct Request {
    pub method: String,
    pub target: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Request {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The query parameter `name`, decoded.
    pub fn param(&self, name: &str) -> Option<String> {
        let query = self.target.split_once('?')?.1;
        url::form_urlencoded::parse(query.as_bytes())
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.into_owned())
    }
}

pub fn read_request(stream: &mut impl Read) -> Option<Request> {
    let mut reader = BufReader::new(stream);
    let mut line = String::new();
    reader.read_line(&mut line).ok()?;
    let mut parts = line.split_whitespace();
    let method = parts.next()?.to_string();
    let target = parts.next()?.to_string();
    let mut headers = Vec::new();
    loop {
        let mut h = String::new();
        reader.read_line(&mut h).ok()?;
        let h = h.trim_end();
        if h.is_empty() {
            break;
        }
        if let Some((k, v)) = h.split_once(':') {
            headers.push((k.trim().to_string(), v.trim().to_string()));
        }
    }
    let len = headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("content-length"))
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(0usize);
    let mut body = vec![0; len];
    reader.read_exact(&mut body).ok()?;
    Some(Request {
        method,
        target,
        headers,
        body,
    })
}

pub fn write_response(
    stream: &mut impl Write,
    status: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) {
    let mut head = format!(
        "HTTP/1.1 {status}\r\nContent-Length: {}\r\nConnection: close\r\n",
        body.len()
    );
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    let _ = stream.write_all(head.as_bytes());
    let _ = stream.write_all(body);
    let _ = stream.flush();
}

/// Mozilla's ISPDB on ISPDB:80: `/v1.1/google.com` is Thunderbird's Gmail entry, found through a
/// Google-hosted domain's MX; every other domain 404.
pub fn ispdb(gmail_entry: &'static str, log: Log) -> std::io::Result<()> {
    let listener = TcpListener::bind((ISPDB, 80))?;
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { return };
            let log = log.clone();
            std::thread::spawn(move || {
                let Some(req) = read_request(&mut stream) else {
                    return;
                };
                log.push(format!("ispdb {} {}", req.method, req.target));
                if req.target.split('?').next() == Some("/v1.1/google.com") {
                    write_response(
                        &mut stream,
                        "200 OK",
                        &[("Content-Type", "text/xml")],
                        gmail_entry.as_bytes(),
                    );
                } else {
                    write_response(&mut stream, "404 Not Found", &[], b"");
                }
            });
        }
    });
    Ok(())
}

/// A TLS server configuration for the fakes' certificate.
pub fn tls_config(cert_pem: &str, key_pem: &str) -> Arc<rustls::ServerConfig> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(cert_pem.as_bytes())
        .collect::<Result<_, _>>()
        .unwrap();
    let key = PrivateKeyDer::from_pem_slice(key_pem.as_bytes()).unwrap();
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    Arc::new(
        rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(certs, key)
            .unwrap(),
    )
}

/// The token Google's fake token endpoint hands out; the fake mail servers accept only it.
pub const TOKEN: &str = "mailconf-test-token";

/// Google's sign-in (`accounts.google.com/o/oauth2/auth`: the person signs in and is sent back to
/// Thunderbird's loopback address with a code) and token endpoint
/// (`www.googleapis.com/oauth2/v3/token`), on GOOGLE:443.
pub fn google(tls: Arc<rustls::ServerConfig>, log: Log) -> std::io::Result<()> {
    let listener = TcpListener::bind((GOOGLE, 443))?;
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(stream) = stream else { return };
            let (tls, log) = (tls.clone(), log.clone());
            std::thread::spawn(move || {
                let Ok(conn) = rustls::ServerConnection::new(tls) else {
                    return;
                };
                let mut stream = rustls::StreamOwned::new(conn, stream);
                let Some(req) = read_request(&mut stream) else {
                    return;
                };
                let host = req.header("host").unwrap_or("").to_string();
                let path = req.target.split('?').next().unwrap_or("").to_string();
                log.push(format!("google {} {host}{path}", req.method));
                match (req.method.as_str(), host.as_str(), path.as_str()) {
                    ("GET", "accounts.google.com", "/o/oauth2/auth") => {
                        let (Some(redirect), Some(state)) =
                            (req.param("redirect_uri"), req.param("state"))
                        else {
                            write_response(&mut stream, "400 Bad Request", &[], b"");
                            return;
                        };
                        log.push(format!(
                            "google sign-in for {}",
                            req.param("login_hint").unwrap_or_default()
                        ));
                        let location = format!(
                            "{redirect}?code=mailconf-test-code&state={}&iss={}",
                            encode(&state),
                            encode("https://accounts.google.com")
                        );
                        write_response(&mut stream, "302 Found", &[("Location", &location)], b"");
                    }
                    ("POST", "www.googleapis.com", "/oauth2/v3/token") => {
                        let body = String::from_utf8_lossy(&req.body);
                        let ok = body.contains("code=mailconf-test-code")
                            || body.contains("grant_type=refresh_token");
                        log.push(format!("google token request accepted: {ok}"));
                        let json = format!(
                            r#"{{"access_token":"{TOKEN}","expires_in":3600,"refresh_token":"mailconf-test-refresh","token_type":"Bearer","scope":"https://mail.google.com/"}}"#
                        );
                        if ok {
                            write_response(
                                &mut stream,
                                "200 OK",
                                &[("Content-Type", "application/json")],
                                json.as_bytes(),
                            );
                        } else {
                            write_response(&mut stream, "400 Bad Request", &[], b"");
                        }
                    }
                    _ => write_response(&mut stream, "404 Not Found", &[], b""),
                }
            });
        }
    });
    Ok(())
}

fn encode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

// ---- mail servers -------------------------------------------------------------------------------

/// Gmail's POP3 (995, TLS), SMTP (465, TLS) and submission (587, STARTTLS) servers on GMAIL, far
/// enough for Thunderbird's check of a new account: they accept XOAUTH2 with [`TOKEN`] only.
pub fn gmail(tls: Arc<rustls::ServerConfig>, log: Log) -> std::io::Result<()> {
    for (port, kind) in [
        (995, Kind::Pop3s),
        (465, Kind::Smtps),
        (587, Kind::Submission),
    ] {
        let listener = TcpListener::bind(SocketAddr::from((GMAIL, port)))?;
        let (tls, log) = (tls.clone(), log.clone());
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { return };
                let (tls, log) = (tls.clone(), log.clone());
                std::thread::spawn(move || {
                    let _ = mail_session(stream, kind, port, tls, &log);
                });
            }
        });
    }
    Ok(())
}

#[derive(Clone, Copy)]
enum Kind {
    Pop3s,
    Smtps,
    Submission,
}

/// A mail session's connection: plain until STARTTLS, or TLS from the start.
enum Conn {
    Plain(TcpStream),
    Tls(Box<rustls::StreamOwned<rustls::ServerConnection, TcpStream>>),
}

impl Conn {
    fn tls(tcp: TcpStream, tls: &Arc<rustls::ServerConfig>) -> std::io::Result<Conn> {
        let conn = rustls::ServerConnection::new(tls.clone()).map_err(std::io::Error::other)?;
        Ok(Conn::Tls(Box::new(rustls::StreamOwned::new(conn, tcp))))
    }
}

impl Read for Conn {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        match self {
            Conn::Plain(s) => s.read(buf),
            Conn::Tls(s) => s.read(buf),
        }
    }
}

impl Write for Conn {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match self {
            Conn::Plain(s) => s.write(buf),
            Conn::Tls(s) => s.write(buf),
        }
    }
    fn flush(&mut self) -> std::io::Result<()> {
        match self {
            Conn::Plain(s) => s.flush(),
            Conn::Tls(s) => s.flush(),
        }
    }
}

type Line = Conn;

fn read_line(stream: &mut Line) -> Option<String> {
    let mut line = Vec::new();
    let mut byte = [0u8; 1];
    loop {
        match stream.read(&mut byte) {
            Ok(1) => {
                if byte[0] == b'\n' {
                    break;
                }
                line.push(byte[0]);
            }
            _ => return None,
        }
    }
    Some(String::from_utf8_lossy(&line).trim_end().to_string())
}

fn say(stream: &mut Line, text: &str) -> std::io::Result<()> {
    stream.write_all(text.as_bytes())?;
    stream.write_all(b"\r\n")?;
    stream.flush()
}

/// A SASL XOAUTH2 exchange after `AUTH XOAUTH2` (`line`): the initial response on the line, or
/// asked for with `go_on`; whether it carries [`TOKEN`]. Logs the user it names.
fn xoauth2(
    stream: &mut Line,
    line: &str,
    go_on: &str,
    port: u16,
    log: &Log,
) -> std::io::Result<bool> {
    use base64::Engine;
    let encoded = match line.split_whitespace().nth(2) {
        Some(initial) => initial.to_string(),
        None => {
            say(stream, go_on)?;
            read_line(stream).unwrap_or_default()
        }
    };
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .unwrap_or_default();
    let text = String::from_utf8_lossy(&decoded).to_string();
    let user = text
        .split('\u{1}')
        .find_map(|p| p.strip_prefix("user="))
        .unwrap_or("")
        .to_string();
    let ok = text.contains(&format!("auth=Bearer {TOKEN}"));
    log.push(format!("{port} XOAUTH2 user={user} token ok={ok}"));
    Ok(ok)
}

fn mail_session(
    tcp: TcpStream,
    kind: Kind,
    port: u16,
    tls: Arc<rustls::ServerConfig>,
    log: &Log,
) -> std::io::Result<()> {
    let mut stream = match kind {
        Kind::Submission => Conn::Plain(tcp),
        _ => Conn::tls(tcp, &tls)?,
    };
    log.push(format!("{port} connected"));
    match kind {
        Kind::Pop3s => {
            say(&mut stream, "+OK Gpop ready")?;
            while let Some(line) = read_line(&mut stream) {
                let upper = line.to_ascii_uppercase();
                log.push(format!(
                    "{port} C: {}",
                    upper.split(' ').take(2).collect::<Vec<_>>().join(" ")
                ));
                if upper.starts_with("CAPA") {
                    say(
                        &mut stream,
                        "+OK\r\nUSER\r\nSASL PLAIN XOAUTH2\r\nUIDL\r\nTOP\r\n.",
                    )?;
                } else if upper.starts_with("AUTH XOAUTH2") {
                    let ok = xoauth2(&mut stream, &line, "+ ", port, log)?;
                    say(
                        &mut stream,
                        if ok {
                            "+OK Welcome."
                        } else {
                            "-ERR [AUTH] Invalid credentials"
                        },
                    )?;
                } else if upper.starts_with("STAT") {
                    say(&mut stream, "+OK 0 0")?;
                } else if upper.starts_with("LIST") || upper.starts_with("UIDL") {
                    say(&mut stream, "+OK\r\n.")?;
                } else if upper.starts_with("QUIT") {
                    say(&mut stream, "+OK Farewell.")?;
                    break;
                } else {
                    say(&mut stream, "-ERR not here")?;
                }
            }
        }
        Kind::Smtps | Kind::Submission => {
            say(&mut stream, "220 smtp.gmail.com ESMTP ready")?;
            let mut secure = matches!(kind, Kind::Smtps);
            while let Some(line) = read_line(&mut stream) {
                let upper = line.to_ascii_uppercase();
                log.push(format!(
                    "{port} C: {}",
                    upper.split(' ').take(2).collect::<Vec<_>>().join(" ")
                ));
                if upper.starts_with("EHLO") || upper.starts_with("HELO") {
                    if secure {
                        say(
                            &mut stream,
                            "250-smtp.gmail.com\r\n250-AUTH PLAIN XOAUTH2\r\n250 8BITMIME",
                        )?;
                    } else {
                        say(
                            &mut stream,
                            "250-smtp.gmail.com\r\n250-STARTTLS\r\n250 8BITMIME",
                        )?;
                    }
                } else if upper.starts_with("STARTTLS") && !secure {
                    say(&mut stream, "220 2.0.0 Ready to start TLS")?;
                    let Conn::Plain(tcp) = stream else {
                        break;
                    };
                    stream = Conn::tls(tcp, &tls)?;
                    secure = true;
                    log.push(format!("{port} STARTTLS"));
                } else if upper.starts_with("AUTH XOAUTH2") {
                    let ok = xoauth2(&mut stream, &line, "334 ", port, log)?;
                    say(
                        &mut stream,
                        if ok {
                            "235 2.7.0 Accepted"
                        } else {
                            "535 5.7.8 Username and Password not accepted"
                        },
                    )?;
                } else if upper.starts_with("QUIT") {
                    say(&mut stream, "221 2.0.0 closing connection")?;
                    break;
                } else {
                    say(&mut stream, "250 OK")?;
                }
            }
        }
    }
    Ok(())
}
