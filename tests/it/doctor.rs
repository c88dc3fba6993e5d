//! `mailconf doctor` against a deployment built on loopback for each test: a DNS server of the
//! test's own (UDP, hickory's message types), HTTPS by the real `mailconf serve` with a
//! certificate from the test CA for every name, small HTTP(S) sites of the test's own for the
//! broken states and Mozilla's ISPDB, and `--connect-to` sending every name there. Nothing leaves
//! 127.0.0.1; every port is chosen by the system.

use crate::common;

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Ipv4Addr, TcpListener, UdpSocket};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use hickory_resolver::proto::op::{Message, ResponseCode};
use hickory_resolver::proto::rr::rdata::{A, MX, SRV};
use hickory_resolver::proto::rr::{Name, RData, Record};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use serde_json::Value;

use common::pki;
use common::server::Server;

const DOMAIN: &str = "kyoto-u.ac.jp";
const ADDRESS: &str = "taro@kyoto-u.ac.jp";
/// The names a deployment answers on (`mail-setup` is serve's --public-url).
const NAMES: [&str; 4] = [
    "kyoto-u.ac.jp",
    "autoconfig.kyoto-u.ac.jp",
    "autodiscover.kyoto-u.ac.jp",
    "mail-setup.kyoto-u.ac.jp",
];
const AUTOCONFIG_URL: &str =
    "https://autoconfig.kyoto-u.ac.jp/mail/config-v1.1.xml?emailaddress=taro%40kyoto-u.ac.jp";

// ---------------------------------------------------------------------------------------------
// A DNS server: answers from a list of records, NXDOMAIN for names it does not have.

struct Dns {
    port: u16,
}

impl Dns {
    fn start(records: Vec<(String, RData)>) -> Dns {
        let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
        let port = socket.local_addr().unwrap().port();
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            loop {
                let Ok((n, peer)) = socket.recv_from(&mut buf) else {
                    return;
                };
                let Ok(query) = Message::from_vec(&buf[..n]) else {
                    continue;
                };
                let mut answer = Message::response(query.metadata.id, query.metadata.op_code);
                answer.metadata.recursion_desired = query.metadata.recursion_desired;
                answer.metadata.recursion_available = true;
                answer.metadata.authoritative = true;
                let mut known = false;
                for q in &query.queries {
                    answer.add_query(q.clone());
                    let name = q
                        .name()
                        .to_ascii()
                        .trim_end_matches('.')
                        .to_ascii_lowercase();
                    for (owner, data) in &records {
                        if *owner == name {
                            known = true;
                            if data.record_type() == q.query_type() {
                                answer.add_answer(Record::from_rdata(
                                    q.name().clone(),
                                    60,
                                    data.clone(),
                                ));
                            }
                        }
                    }
                }
                if !known {
                    answer.metadata.response_code = ResponseCode::NXDomain;
                }
                if let Ok(bytes) = answer.to_vec() {
                    let _ = socket.send_to(&bytes, peer);
                }
            }
        });
        Dns { port }
    }
}

fn name(text: &str) -> Name {
    Name::from_ascii(format!("{text}.")).unwrap()
}

fn a(host: &str) -> (String, RData) {
    (host.into(), RData::A(A(Ipv4Addr::LOCALHOST)))
}

fn srv(service: &str, port: u16, target: &str) -> (String, RData) {
    (
        format!("{service}.{DOMAIN}"),
        RData::SRV(SRV::new(0, 1, port, name(target))),
    )
}

// ---------------------------------------------------------------------------------------------
// Small HTTP(S) sites: one thread per connection, HTTP/1.1, one request, then closed.

/// A request as a site sees it.
struct Req {
    method: String,
    host: String,
    path: String,
    body: String,
}

/// An answer: status, content type, body, extra headers.
struct Resp {
    status: u16,
    kind: &'static str,
    body: String,
    headers: Vec<(&'static str, String)>,
}

fn resp(status: u16, kind: &'static str, body: impl Into<String>) -> Resp {
    Resp {
        status,
        kind,
        body: body.into(),
        headers: Vec::new(),
    }
}

fn redirect(status: u16, to: String) -> Resp {
    Resp {
        headers: vec![("Location", to)],
        ..resp(status, "text/plain", "moved\n")
    }
}

type Handler = Arc<dyn Fn(&Req) -> Resp + Send + Sync>;

/// A site on 127.0.0.1:PORT; HTTPS with `tls` (certificate PEM, key PEM).
fn site(tls: Option<(String, String)>, handler: Handler) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let config = tls.map(|(cert, key)| {
        let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(cert.as_bytes())
            .collect::<Result<_, _>>()
            .unwrap();
        let key = PrivateKeyDer::from_pem_slice(key.as_bytes()).unwrap();
        Arc::new(
            rustls::ServerConfig::builder_with_provider(Arc::new(
                rustls::crypto::aws_lc_rs::default_provider(),
            ))
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(certs, key)
            .unwrap(),
        )
    });
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(stream) = stream else { return };
            let handler = handler.clone();
            let config = config.clone();
            std::thread::spawn(move || {
                let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
                match config {
                    Some(config) => {
                        let Ok(conn) = rustls::ServerConnection::new(config) else {
                            return;
                        };
                        let mut tls = rustls::StreamOwned::new(conn, stream);
                        serve_one(&mut tls, &handler);
                        tls.conn.send_close_notify();
                        let _ = tls.flush();
                    }
                    None => {
                        let mut stream = stream;
                        serve_one(&mut stream, &handler);
                    }
                }
            });
        }
    });
    port
}

fn serve_one<S: Read + Write>(stream: &mut S, handler: &Handler) {
    let mut reader = BufReader::new(&mut *stream);
    let mut line = String::new();
    if reader.read_line(&mut line).is_err() || line.is_empty() {
        return;
    }
    let mut parts = line.split_whitespace();
    let method = parts.next().unwrap_or("").to_string();
    let path = parts.next().unwrap_or("").to_string();
    let mut headers = HashMap::new();
    loop {
        let mut header = String::new();
        if reader.read_line(&mut header).is_err() || header.trim().is_empty() {
            break;
        }
        if let Some((k, v)) = header.split_once(':') {
            headers.insert(k.trim().to_ascii_lowercase(), v.trim().to_string());
        }
    }
    let length: usize = headers
        .get("content-length")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let mut body = vec![0; length.min(1 << 20)];
    if reader.read_exact(&mut body).is_err() {
        return;
    }
    let host = headers.get("host").cloned().unwrap_or_default();
    let request = Req {
        method,
        host: host.split(':').next().unwrap_or("").to_string(),
        path,
        body: String::from_utf8_lossy(&body).into_owned(),
    };
    let answer = handler(&request);
    let mut head = format!(
        "HTTP/1.1 {} X\r\nContent-Type: {}\r\nContent-Length: {}\r\nConnection: close\r\n",
        answer.status,
        answer.kind,
        answer.body.len()
    );
    for (k, v) in &answer.headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    let _ = stream.write_all(head.as_bytes());
    let _ = stream.write_all(answer.body.as_bytes());
    let _ = stream.flush();
}

/// Mozilla's ISPDB as Thunderbird meets it: Gmail's entry for google.com (IMAP first, SMTP 465).
fn ispdb() -> u16 {
    site(
        None,
        Arc::new(|req: &Req| match req.path.as_str() {
            "/v1.1/google.com" => resp(200, "text/xml", GMAIL_ENTRY),
            _ => resp(404, "text/plain", "not found\n"),
        }),
    )
}

const GMAIL_ENTRY: &str = r#"<?xml version="1.0"?>
<clientConfig version="1.1">
  <emailProvider id="googlemail.com">
    <domain>gmail.com</domain>
    <domain>googlemail.com</domain>
    <domain>google.com</domain>
    <displayName>Google Mail</displayName>
    <incomingServer type="imap">
      <hostname>imap.gmail.com</hostname><port>993</port><socketType>SSL</socketType>
      <username>%EMAILADDRESS%</username>
      <authentication>OAuth2</authentication><authentication>password-cleartext</authentication>
    </incomingServer>
    <incomingServer type="pop3">
      <hostname>pop.gmail.com</hostname><port>995</port><socketType>SSL</socketType>
      <username>%EMAILADDRESS%</username>
      <authentication>OAuth2</authentication><authentication>password-cleartext</authentication>
    </incomingServer>
    <outgoingServer type="smtp">
      <hostname>smtp.gmail.com</hostname><port>465</port><socketType>SSL</socketType>
      <username>%EMAILADDRESS%</username>
      <authentication>OAuth2</authentication><authentication>password-cleartext</authentication>
    </outgoingServer>
  </emailProvider>
</clientConfig>
"#;

/// The http site of every name: a redirect to the same URL over https, as a web server in
/// front of mailconf serve does.
fn to_https() -> u16 {
    site(
        None,
        Arc::new(|req: &Req| redirect(301, format!("https://{}{}", req.host, req.path))),
    )
}

// ---------------------------------------------------------------------------------------------
// A deployment and a doctor run against it.

struct Deployment {
    dir: tempfile::TempDir,
    records: Vec<(String, RData)>,
    /// name → port for https (443) and http (80).
    https: Vec<(String, u16)>,
    http: Vec<(String, u16)>,
    ispdb: u16,
    /// Keeps `mailconf serve` running.
    servers: Vec<Server>,
}

fn day() -> Duration {
    Duration::from_secs(86_400)
}

/// A certificate from the test CA for every name, valid from yesterday for a year.
fn good_cert() -> (String, String) {
    let now = SystemTime::now();
    pki::server_cert(&NAMES, now - day(), now + 365 * day(), true)
}

impl Deployment {
    /// Nothing published: only the domain's MX (at Google) and the mail servers' names.
    fn bare() -> Deployment {
        let dir = common::tempdir();
        std::fs::write(dir.path().join("ca.pem"), pki::pem(&[&pki::pki().root])).unwrap();
        Deployment {
            dir,
            records: vec![
                (
                    DOMAIN.into(),
                    RData::MX(MX::new(10, name("aspmx.l.google.com"))),
                ),
                a("aspmx.l.google.com"),
                a("pop.gmail.com"),
                a("imap.gmail.com"),
                a("smtp.gmail.com"),
            ],
            https: Vec::new(),
            http: Vec::new(),
            ispdb: ispdb(),
            servers: Vec::new(),
        }
    }

    /// `mailconf serve` over TLS with `cert` on every name, its RFC 6186 records, http
    /// redirected to https.
    fn served_with(cert: (String, String), public: &str) -> Deployment {
        let mut d = Deployment::bare();
        let cert_path = d.dir.path().join("cert.pem");
        let key_path = d.dir.path().join("key.pem");
        std::fs::write(&cert_path, &cert.0).unwrap();
        std::fs::write(&key_path, &cert.1).unwrap();
        let server = Server::start(&[
            "--tls-cert",
            cert_path.to_str().unwrap(),
            "--tls-key",
            key_path.to_str().unwrap(),
            "--public-url",
            public,
            "--quiet",
        ]);
        let http = to_https();
        for n in NAMES {
            d.records.push(a(n));
            d.https.push((n.into(), server.port));
            d.http.push((n.into(), http));
        }
        d.records.push(srv("_pop3s._tcp", 995, "pop.gmail.com"));
        d.records
            .push(srv("_submission._tcp", 587, "smtp.gmail.com"));
        d.records
            .push(srv("_autodiscover._tcp", 443, "mail-setup.kyoto-u.ac.jp"));
        d.servers.push(server);
        d
    }

    fn served() -> Deployment {
        Deployment::served_with(good_cert(), "https://mail-setup.kyoto-u.ac.jp")
    }

    /// `name`'s https goes to `port` instead.
    fn https_to(mut self, name: &str, port: u16) -> Deployment {
        self.https.retain(|(n, _)| n != name);
        self.https.push((name.into(), port));
        if !self.records.iter().any(|(n, _)| n == name) {
            self.records.push(a(name));
        }
        self
    }

    /// Runs `mailconf doctor ADDRESS --json ARGS…` against the deployment: exit status, report.
    fn doctor_json(&self, args: &[&str]) -> (i32, Value) {
        let (code, stdout, stderr, _) = self.doctor(&[&["--json"], args].concat());
        let report: Value = serde_json::from_str(&stdout)
            .unwrap_or_else(|e| panic!("not JSON ({e}):\n{stdout}\n{stderr}"));
        (code, report)
    }

    /// Runs `mailconf doctor ADDRESS ARGS…`: exit status, stdout, stderr, time taken.
    fn doctor(&self, args: &[&str]) -> (i32, String, String, Duration) {
        let dns = Dns::start(self.records.clone());
        let mut command = common::mailconf();
        command
            .args(["doctor", ADDRESS, "--timeout", "3"])
            .arg("--dns-server")
            .arg(format!("127.0.0.1:{}", dns.port))
            .arg("--ca-file")
            .arg(self.dir.path().join("ca.pem"))
            .arg("--ispdb-url")
            .arg(format!("http://127.0.0.1:{}/v1.1/", self.ispdb));
        for (name, port) in &self.https {
            command.arg(format!("--connect-to={name}:443:127.0.0.1:{port}"));
        }
        for (name, port) in &self.http {
            command.arg(format!("--connect-to={name}:80:127.0.0.1:{port}"));
        }
        command.args(args);
        let started = Instant::now();
        let output = command.output().unwrap();
        let took = started.elapsed();
        (
            output.status.code().unwrap_or(-1),
            String::from_utf8(output.stdout).unwrap(),
            String::from_utf8(output.stderr).unwrap(),
            took,
        )
    }
}

fn client<'a>(report: &'a Value, name: &str) -> &'a Value {
    report["clients"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["client"] == name)
        .unwrap_or_else(|| panic!("no client {name} in {report:#}"))
}

fn problems(report: &Value) -> &Vec<Value> {
    report["problems"].as_array().unwrap()
}

/// The one problem whose `what` holds `part`.
fn problem_with<'a>(report: &'a Value, part: &str) -> &'a Value {
    let found: Vec<&Value> = problems(report)
        .iter()
        .filter(|p| p["what"].as_str().unwrap().contains(part))
        .collect();
    assert!(
        !found.is_empty(),
        "no problem says {part:?}: {:#}",
        report["problems"]
    );
    found[0]
}

// ---------------------------------------------------------------------------------------------

#[test]
fn mailconf_serve_with_tls_on_every_name_has_no_problem() {
    let d = Deployment::served();
    let (code, stdout, stderr, took) = d.doctor(&[]);
    eprintln!("{stdout}");
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    assert!(stdout.contains("No problem found"), "{stdout}");
    assert!(took < Duration::from_secs(20), "took {took:?}");

    let (code, report) = d.doctor_json(&[]);
    assert_eq!(code, 0);
    // The shape scripts rely on.
    assert_eq!(report["address"], ADDRESS);
    assert_eq!(report["ok"], true);
    assert_eq!(problems(&report).len(), 0, "{report:#}");
    for c in report["clients"].as_array().unwrap() {
        assert!(c["client"].is_string() && c["ok"].is_boolean(), "{c}");
        assert!(c["source"].is_string() || c["source"].is_null(), "{c}");
    }

    let thunderbird = client(&report, "thunderbird");
    assert_eq!(thunderbird["ok"], true, "{thunderbird:#}");
    assert_eq!(thunderbird["source"], AUTOCONFIG_URL);
    let incoming = &thunderbird["settings"]["incoming"];
    assert_eq!(
        (&incoming["protocol"], &incoming["host"], &incoming["port"]),
        (&"pop3".into(), &"pop.gmail.com".into(), &995.into())
    );
    assert_eq!(
        thunderbird["settings"]["outgoing"]["socket_type"],
        "STARTTLS"
    );
    // The lower-ranked URLs were not needed, and say so.
    let steps = thunderbird["steps"].as_array().unwrap();
    assert_eq!(steps[0]["used"], true);
    assert!(
        steps[1]["result"].as_str().unwrap().starts_with("not used"),
        "{steps:#?}"
    );

    // Newer Outlook: autodiscover.json sends it to serve's --public-url.
    let outlook = client(&report, "outlook");
    assert_eq!(outlook["ok"], true, "{outlook:#}");
    assert_eq!(
        outlook["source"],
        "https://mail-setup.kyoto-u.ac.jp/autodiscover/autodiscover.xml"
    );
    assert!(
        outlook["via"]
            .as_str()
            .unwrap()
            .contains("autodiscover.json"),
        "{outlook:#}"
    );
    assert_eq!(outlook["settings"]["outgoing"]["port"], 587);

    let rfc6186 = client(&report, "rfc6186");
    assert_eq!(rfc6186["ok"], true, "{rfc6186:#}");
}

#[test]
fn nothing_published_leaves_thunderbird_with_gmails_entry() {
    let d = Deployment::bare();
    let (code, stdout, _, _) = d.doctor(&[]);
    eprintln!("{stdout}");
    assert_eq!(code, 1);
    let (code, report) = d.doctor_json(&[]);
    assert_eq!(code, 1);
    assert_eq!(report["ok"], false);
    let thunderbird = client(&report, "thunderbird");
    assert_eq!(thunderbird["ok"], false);
    assert_eq!(
        thunderbird["source"],
        format!("http://127.0.0.1:{}/v1.1/google.com", d.ispdb)
    );
    assert_eq!(thunderbird["settings"]["incoming"]["protocol"], "imap");
    assert_eq!(thunderbird["settings"]["outgoing"]["port"], 465);
    // One problem: Thunderbird's. Outlook and RFC 6186 clients find nothing, which is no
    // problem (the person types the settings).
    assert_eq!(problems(&report).len(), 1, "{report:#}");
    let problem = &problems(&report)[0];
    assert!(
        problem["fix"]
            .as_str()
            .unwrap()
            .contains("publish autoconfig")
    );
    assert!(
        problem["what"].as_str().unwrap().contains("465"),
        "{problem}"
    );
    assert_eq!(client(&report, "outlook")["source"], Value::Null);
    assert_eq!(client(&report, "rfc6186")["ok"], false);
}

#[test]
fn a_sign_in_page_at_the_autoconfig_url_stops_thunderbird() {
    let page = site(
        Some(good_cert()),
        Arc::new(|_: &Req| resp(200, "text/html; charset=utf-8", "<html>Sign in</html>")),
    );
    let d = Deployment::served().https_to("autoconfig.kyoto-u.ac.jp", page);
    let (code, report) = d.doctor_json(&[]);
    assert_eq!(code, 1);
    let problem = problem_with(&report, "a web page (text/html)");
    assert_eq!(problem["where"], AUTOCONFIG_URL);
    assert!(
        problem["fix"].as_str().unwrap().contains("404"),
        "{problem}"
    );
    // Thunderbird looks no further down its list (.well-known would have answered), and
    // ends with Gmail's entry.
    let thunderbird = client(&report, "thunderbird");
    assert_eq!(thunderbird["ok"], false);
    assert!(
        thunderbird["source"]
            .as_str()
            .unwrap()
            .ends_with("/v1.1/google.com")
    );
    problem_with(
        &report,
        "Thunderbird finds no autoconfig of the domain's own",
    );
    assert_eq!(client(&report, "outlook")["ok"], true);
}

#[test]
fn a_redirect_to_a_web_page_is_named_with_where_it_came_from() {
    let cert = {
        let now = SystemTime::now();
        let mut names = NAMES.to_vec();
        names.push("www.kyoto-u.ac.jp");
        pki::server_cert(&names, now - day(), now + 365 * day(), true)
    };
    let page = site(
        Some(cert),
        Arc::new(|req: &Req| match req.host.as_str() {
            "www.kyoto-u.ac.jp" => resp(200, "text/html", "<html>Welcome</html>"),
            _ => redirect(302, "https://www.kyoto-u.ac.jp/".into()),
        }),
    );
    let d = Deployment::served()
        .https_to("autoconfig.kyoto-u.ac.jp", page)
        .https_to("www.kyoto-u.ac.jp", page);
    let (code, report) = d.doctor_json(&[]);
    assert_eq!(code, 1, "{report:#}");
    let problem = problem_with(&report, "redirected from https://autoconfig.kyoto-u.ac.jp/");
    assert_eq!(problem["where"], "https://www.kyoto-u.ac.jp/");
    assert_eq!(client(&report, "thunderbird")["ok"], false);
}

#[test]
fn an_untrusted_certificate_is_a_problem_at_each_server() {
    let now = SystemTime::now();
    let d = Deployment::served_with(
        pki::server_cert(&NAMES, now - day(), now + 365 * day(), false),
        "https://mail-setup.kyoto-u.ac.jp",
    );
    let (code, report) = d.doctor_json(&[]);
    assert_eq!(code, 1);
    let problem = problem_with(&report, "is not trusted");
    assert_eq!(problem["where"], "https://autoconfig.kyoto-u.ac.jp");
    assert!(problem["fix"].as_str().unwrap().contains("full chain"));
    assert_eq!(client(&report, "thunderbird")["ok"], false);
    assert_eq!(client(&report, "outlook")["source"], Value::Null);
}

#[test]
fn a_certificate_for_another_name_names_both() {
    let now = SystemTime::now();
    let d = Deployment::served_with(
        pki::server_cert(&["www.example.org"], now - day(), now + 365 * day(), true),
        "https://mail-setup.kyoto-u.ac.jp",
    );
    let (code, report) = d.doctor_json(&[]);
    assert_eq!(code, 1);
    let problem = problem_with(
        &report,
        "the certificate of autoconfig.kyoto-u.ac.jp is for www.example.org, not autoconfig.kyoto-u.ac.jp",
    );
    assert_eq!(problem["where"], "https://autoconfig.kyoto-u.ac.jp");
}

#[test]
fn a_certificate_that_expires_within_30_days_is_a_problem_though_clients_get_their_settings() {
    let now = SystemTime::now();
    let d = Deployment::served_with(
        pki::server_cert(&NAMES, now - day(), now + 10 * day(), true),
        "https://mail-setup.kyoto-u.ac.jp",
    );
    let (code, report) = d.doctor_json(&[]);
    assert_eq!(code, 1);
    let problem = problem_with(&report, "expires in 9 days");
    assert_eq!(problem["where"], "https://autoconfig.kyoto-u.ac.jp");
    assert!(problem["fix"].as_str().unwrap().contains("renew"));
    assert_eq!(client(&report, "thunderbird")["ok"], true);
    assert_eq!(client(&report, "outlook")["ok"], true);
}

#[test]
fn a_published_file_with_other_values_is_named_with_the_difference() {
    let old = mailconf_file().replace(
        "<port>587</port>\n      <socketType>STARTTLS</socketType>",
        "<port>465</port>\n      <socketType>SSL</socketType>",
    );
    assert!(old.contains("465"));
    let file = site(
        Some(good_cert()),
        Arc::new(move |_: &Req| resp(200, "text/xml", old.clone())),
    );
    let d = Deployment::served().https_to("autoconfig.kyoto-u.ac.jp", file);
    let (code, report) = d.doctor_json(&[]);
    assert_eq!(code, 1);
    let thunderbird = client(&report, "thunderbird");
    assert_eq!(thunderbird["ok"], false);
    assert_eq!(thunderbird["source"], AUTOCONFIG_URL);
    assert_eq!(problems(&report).len(), 1, "{report:#}");
    let problem = &problems(&report)[0];
    assert_eq!(problem["where"], AUTOCONFIG_URL);
    let what = problem["what"].as_str().unwrap();
    assert!(
        what.contains("outgoing server SMTP smtp.gmail.com:465 SSL")
            && what.contains("where the provider says SMTP smtp.gmail.com:587 STARTTLS"),
        "{what}"
    );
}

/// The domain-wide file mailconf writes.
fn mailconf_file() -> String {
    let out = common::mailconf()
        .args(["profile", ADDRESS, "--format", "thunderbird"])
        .output()
        .unwrap();
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn a_name_the_client_is_sent_to_that_does_not_resolve_is_a_problem() {
    // autodiscover.json sends Outlook to setup.kyoto-u.ac.jp, which is not in DNS.
    let d = Deployment::served_with(good_cert(), "https://setup.kyoto-u.ac.jp");
    let (code, report) = d.doctor_json(&[]);
    assert_eq!(code, 1, "{report:#}");
    let problem = problem_with(&report, "but setup.kyoto-u.ac.jp does not resolve");
    assert_eq!(problem["where"], "setup.kyoto-u.ac.jp");
    assert!(
        problem["what"]
            .as_str()
            .unwrap()
            .contains("autodiscover.json")
    );
    // Outlook goes on down its list and finds https://DOMAIN/autodiscover/.
    let outlook = client(&report, "outlook");
    assert_eq!(outlook["ok"], true);
    assert_eq!(
        outlook["source"],
        "https://kyoto-u.ac.jp/autodiscover/autodiscover.xml"
    );
}

#[test]
fn an_autodiscover_error_response_is_a_problem() {
    let error = site(
        Some(good_cert()),
        Arc::new(|req: &Req| {
            if req.method == "POST" && req.body.contains("<EMailAddress>taro@kyoto-u.ac.jp") {
                resp(
                    200,
                    "text/xml",
                    "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<Autodiscover xmlns=\"http://schemas.microsoft.com/exchange/autodiscover/responseschema/2006\"><Response><Error Time=\"00:00:00\" Id=\"0\"><ErrorCode>500</ErrorCode><Message>The email address cannot be found.</Message><DebugData /></Error></Response></Autodiscover>",
                )
            } else {
                resp(404, "text/plain", "not found\n")
            }
        }),
    );
    // No autodiscover.json, and the error at both POX URLs: Outlook reaches them, and goes on
    // to the SRV record's host, which mailconf serve answers.
    let d = Deployment::served()
        .https_to("kyoto-u.ac.jp", error)
        .https_to("autodiscover.kyoto-u.ac.jp", error);
    let (code, report) = d.doctor_json(&[]);
    assert_eq!(code, 1);
    let problem = problem_with(
        &report,
        "with error 500: The email address cannot be found.",
    );
    assert_eq!(
        problem["where"],
        "https://kyoto-u.ac.jp/autodiscover/autodiscover.xml"
    );
    assert!(
        problem["fix"]
            .as_str()
            .unwrap()
            .contains("provider's domains")
    );
    let outlook = client(&report, "outlook");
    assert_eq!(outlook["ok"], true);
    assert_eq!(
        outlook["source"],
        "https://mail-setup.kyoto-u.ac.jp/autodiscover/autodiscover.xml"
    );
    assert!(
        outlook["via"].as_str().unwrap().contains("SRV"),
        "{outlook:#}"
    );
}

#[test]
fn a_404_the_client_moves_past_is_no_problem() {
    // autoconfig.DOMAIN answers 404 (nothing behind the proxy there): Thunderbird moves on to
    // the domain's .well-known, which mailconf serve answers.
    let missing = site(
        Some(good_cert()),
        Arc::new(|_: &Req| resp(404, "text/html", "<html>Not Found</html>")),
    );
    let d = Deployment::served().https_to("autoconfig.kyoto-u.ac.jp", missing);
    let (code, report) = d.doctor_json(&[]);
    assert_eq!(code, 0, "{report:#}");
    let thunderbird = client(&report, "thunderbird");
    assert_eq!(thunderbird["ok"], true);
    assert_eq!(
        thunderbird["source"],
        "https://kyoto-u.ac.jp/.well-known/autoconfig/mail/config-v1.1.xml?emailaddress=taro%40kyoto-u.ac.jp"
    );
    assert_eq!(thunderbird["steps"][0]["result"], "404");
}

#[test]
fn usage_errors_exit_2() {
    for args in [
        vec![
            "doctor",
            ADDRESS,
            "--connect-to",
            "autoconfig.kyoto-u.ac.jp:443",
        ],
        vec!["doctor", ADDRESS, "--timeout", "0"],
        vec!["doctor", "not-an-address"],
        vec!["doctor", "taro@example.org"],
        vec!["doctor", ADDRESS, "--ca-file", "/nonexistent/ca.pem"],
        vec!["doctor"],
    ] {
        let out = common::mailconf().args(&args).output().unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!stderr.trim().is_empty(), "{args:?}");
        assert!(out.stdout.is_empty(), "{args:?}");
    }
}
