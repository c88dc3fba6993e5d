//! The deployment kit as central IT installs it (issue 22): Debian's nginx running
//! `dist/serve/nginx.conf` and `dist/serve/nginx-main-site.conf`, with only the values their
//! comments mark `EDIT` replaced (ports, certificate paths, the upstream, log and ACME paths), in
//! front of the real `mailconf serve`; and `dist/serve/mailconf.service` read by
//! systemd-analyze.
//!
//! nginx runs unprivileged where the test is (its own prefix, pid file, logs and temporary
//! folders in a temporary folder, ports above 1024; as root, as CI runs, its workers are
//! `nobody`). nginx cannot be given port 0, so the test picks free ports (bound on port 0, then
//! let go) and starts again with others if nginx finds one taken in between. It waits for
//! readiness by polling, never by sleeping a fixed time.
//!
//! Needs `nginx` and `systemd-analyze` (Debian's nginx and systemd): without them the tests say
//! SKIPPED, unless `MAILCONF_DEPLOY_TESTS` is set (`.ci/run` sets it after installing them), and
//! then they fail.

use crate::common;

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpListener};
use std::os::fd::AsRawFd;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use reqwest::blocking::multipart::{Form, Part};
use reqwest::blocking::{Client, Response};
use reqwest::{StatusCode, Version, header};

use common::server::Server;

const NGINX: &str = "/usr/sbin/nginx";
const SYSTEMD_ANALYZE: &str = "/usr/bin/systemd-analyze";

const MAIL_SETUP: &str = "mail-setup.example.ac.jp";
const AUTOCONFIG: &str = "autoconfig.example.ac.jp";
const AUTODISCOVER: &str = "autodiscover.example.ac.jp";
/// The domain's own web site, which includes `nginx-main-site.conf`.
const MAIN_SITE: &str = "example.ac.jp";
const NAMES: [&str; 4] = [MAIL_SETUP, AUTOCONFIG, AUTODISCOVER, MAIN_SITE];

const ADDRESS: &str = "taro.yamada@kyoto-u.ac.jp";
const ADDRESS_IN_URL: &str = "taro.yamada%40kyoto-u.ac.jp";
const NAME_IN_URL: &str = "%E5%B1%B1%E7%94%B0%20%E5%A4%AA%E9%83%8E";
const USER: &str = "tanaka";
const PASSWORD: &str = "correct horse";

/// Whether `path` is there; if not, SKIPPED, or a failure when CI said the tools are installed.
fn have(path: &str, package: &str) -> bool {
    if Path::new(path).exists() {
        return true;
    }
    if std::env::var_os("MAILCONF_DEPLOY_TESTS").is_some() {
        panic!("MAILCONF_DEPLOY_TESTS is set but {path} is missing: apt-get install {package}");
    }
    eprintln!("SKIPPED: this test needs {path} (Debian's {package}); .ci/run installs it");
    false
}

/// `text` with `from` replaced by `to`; the test fails if `from` is not there, so the shipped
/// file must still hold each value its comments tell an admin to change.
fn edit(text: &str, from: &str, to: &str) -> String {
    assert!(
        text.contains(from),
        "the shipped file no longer holds {from:?}"
    );
    text.replace(from, to)
}

/// Checks that `edited` differs from `shipped` only on lines marked `# EDIT`.
fn only_marked_lines_changed(shipped: &str, edited: &str, file: &str) {
    let (a, b): (Vec<&str>, Vec<&str>) = (shipped.lines().collect(), edited.lines().collect());
    assert_eq!(a.len(), b.len(), "{file}");
    for (before, after) in a.iter().zip(&b) {
        if before != after {
            assert!(
                before.contains("# EDIT"),
                "{file}: the test changed a line the file does not mark EDIT: {before}"
            );
        }
    }
}

fn dist(name: &str) -> String {
    std::fs::read_to_string(common::root().join("dist/serve").join(name)).unwrap()
}

/// The test CA, and a server certificate with every name as a SAN: (CA, cert, key) PEMs, made
/// once per run.
fn pki() -> &'static (String, String, String) {
    static PKI: OnceLock<(String, String, String)> = OnceLock::new();
    PKI.get_or_init(|| {
        let dir = common::tempdir();
        let ca = common::pki::server_files(dir.path(), &NAMES);
        let read = |name: &str| std::fs::read_to_string(dir.path().join(name)).unwrap();
        (ca, read("server-cert.pem"), read("server-key.pem"))
    })
}

/// A listening socket on 127.0.0.1 and one on [::1], on a port the kernel chose for the first.
fn listen_pair() -> [TcpListener; 2] {
    for _ in 0..100 {
        let v4 = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
        let port = v4.local_addr().unwrap().port();
        // Taken on [::1] by someone else: another port.
        if let Ok(v6) = TcpListener::bind((std::net::Ipv6Addr::LOCALHOST, port)) {
            return [v4, v6];
        }
    }
    panic!("no port free on both 127.0.0.1 and [::1]");
}

/// nginx with the shipped configuration, in front of the server listening on `upstream`.
struct Proxy {
    child: Option<Child>,
    dir: tempfile::TempDir,
    https: u16,
    http: u16,
}

impl Proxy {
    /// nginx on ports the kernel chose: the test binds the listening sockets (port 0) and nginx
    /// takes them over, as in its binary upgrade (the `NGINX` environment variable names them),
    /// so no port is picked beforehand for another program to take first.
    fn start(upstream: u16) -> Proxy {
        let https = listen_pair();
        let http = listen_pair();
        Proxy::try_start(upstream, https, http)
            .unwrap_or_else(|log| panic!("nginx did not start:\n{log}"))
    }

    fn try_start(
        upstream: u16,
        https_sockets: [TcpListener; 2],
        http_sockets: [TcpListener; 2],
    ) -> Result<Proxy, String> {
        let https = https_sockets[0].local_addr().unwrap().port();
        let http = http_sockets[0].local_addr().unwrap().port();
        let dir = common::tempdir();
        let d = dir.path().display().to_string();
        let (ca, cert, key) = pki();
        for (name, text) in [
            ("ca.pem", ca),
            ("server-cert.pem", cert),
            ("server-key.pem", key),
        ] {
            std::fs::write(dir.path().join(name), text).unwrap();
        }
        for sub in ["logs", "temp", "acme/.well-known/acme-challenge"] {
            std::fs::create_dir_all(dir.path().join(sub)).unwrap();
        }
        std::fs::write(
            dir.path().join("acme/.well-known/acme-challenge/tok3n"),
            "tok3n.thumbprint",
        )
        .unwrap();
        // As root, nginx's workers are `nobody`: they must reach the ACME folder.
        for sub in [
            "",
            "acme",
            "acme/.well-known",
            "acme/.well-known/acme-challenge",
        ] {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(dir.path().join(sub), std::fs::Permissions::from_mode(0o755))
                .unwrap();
        }

        let shipped = dist("nginx.conf");
        let mut conf = edit(
            &shipped,
            "server 127.0.0.1:8080;",
            &format!("server 127.0.0.1:{upstream};"),
        );
        conf = edit(&conf, "listen 443 ", &format!("listen 127.0.0.1:{https} "));
        conf = edit(&conf, "listen [::]:443 ", &format!("listen [::1]:{https} "));
        conf = edit(&conf, "listen 80;", &format!("listen 127.0.0.1:{http};"));
        conf = edit(&conf, "listen [::]:80;", &format!("listen [::1]:{http};"));
        conf = edit(
            &conf,
            "/etc/letsencrypt/live/mail-setup.example.ac.jp/fullchain.pem",
            &format!("{d}/server-cert.pem"),
        );
        conf = edit(
            &conf,
            "/etc/letsencrypt/live/mail-setup.example.ac.jp/privkey.pem",
            &format!("{d}/server-key.pem"),
        );
        conf = edit(&conf, "/var/log/nginx/", &format!("{d}/logs/"));
        conf = edit(&conf, "root /var/www/acme;", &format!("root {d}/acme;"));
        only_marked_lines_changed(&shipped, &conf, "nginx.conf");
        std::fs::write(dir.path().join("mailconf.conf"), conf).unwrap();

        let shipped = dist("nginx-main-site.conf");
        let mut site = edit(
            &shipped,
            "proxy_pass https://mail-setup.example.ac.jp;",
            &format!("proxy_pass https://127.0.0.1:{https};"),
        );
        site = edit(
            &site,
            "/etc/ssl/certs/ca-certificates.crt",
            &format!("{d}/ca.pem"),
        );
        site = edit(&site, "/var/log/nginx/", &format!("{d}/logs/"));
        only_marked_lines_changed(&shipped, &site, "nginx-main-site.conf");
        std::fs::write(dir.path().join("main-site.conf"), site).unwrap();

        // The rest of the machine, as Debian's /etc/nginx/nginx.conf has it: an access log of
        // every request (the combined format, query strings included) for the sites that set
        // none, and the domain's own site, which includes the snippet. Names nobody configured
        // get nothing: the proxy must name the mail-setup host to be answered.
        let main = format!(
            "daemon off;\n\
             pid {d}/nginx.pid;\n\
             error_log {d}/logs/error.log info;\n\
             events {{ worker_connections 256; }}\n\
             http {{\n\
             access_log {d}/logs/access.log;\n\
             client_body_temp_path {d}/temp/body;\n\
             proxy_temp_path {d}/temp/proxy;\n\
             fastcgi_temp_path {d}/temp/fastcgi;\n\
             uwsgi_temp_path {d}/temp/uwsgi;\n\
             scgi_temp_path {d}/temp/scgi;\n\
             server {{ listen 127.0.0.1:{https} ssl default_server; ssl_reject_handshake on; }}\n\
             server {{ listen 127.0.0.1:{http} default_server; return 444; }}\n\
             include {d}/mailconf.conf;\n\
             server {{\n\
             listen 127.0.0.1:{https} ssl;\n\
             server_name {MAIN_SITE};\n\
             ssl_certificate {d}/server-cert.pem;\n\
             ssl_certificate_key {d}/server-key.pem;\n\
             include {d}/main-site.conf;\n\
             location / {{ return 404; }}\n\
             }}\n\
             }}\n"
        );
        let main_path = dir.path().join("nginx.conf");
        std::fs::write(&main_path, main).unwrap();
        let fds: Vec<i32> = https_sockets
            .iter()
            .chain(&http_sockets)
            .map(|s| s.as_raw_fd())
            .collect();
        let inherited: String = fds.iter().map(|fd| format!("{fd};")).collect();
        let mut command = Command::new(NGINX);
        // SAFETY: only fcntl, which is async-signal-safe, between fork and exec.
        unsafe {
            command.pre_exec(move || {
                for &fd in &fds {
                    if libc::fcntl(fd, libc::F_SETFD, 0) != 0 {
                        return Err(std::io::Error::last_os_error());
                    }
                }
                Ok(())
            });
        }
        let mut child = command
            .env("NGINX", &inherited)
            .arg("-p")
            .arg(dir.path())
            .arg("-c")
            .arg(&main_path)
            .arg("-e")
            .arg(dir.path().join("logs/error.log"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start nginx");
        let started = Instant::now();
        loop {
            if let Some(status) = child.try_wait().unwrap() {
                let mut err = String::new();
                use std::io::Read;
                child
                    .stderr
                    .take()
                    .unwrap()
                    .read_to_string(&mut err)
                    .unwrap();
                let log =
                    std::fs::read_to_string(dir.path().join("logs/error.log")).unwrap_or_default();
                return Err(format!("{status}\n{err}\n{log}"));
            }
            // Connections would queue on the sockets before nginx takes them: it is up once it
            // has written its pid file, after reading its configuration.
            if dir.path().join("nginx.pid").exists() {
                break;
            }
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "nginx did not listen within 30 s"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        drop((https_sockets, http_sockets));
        let log = std::fs::read_to_string(dir.path().join("logs/error.log")).unwrap_or_default();
        assert!(log.contains("using inherited sockets"), "{log}");
        let proxy = Proxy {
            child: Some(child),
            dir,
            https,
            http,
        };
        // It is ours: its plain-HTTP server sends the names to https.
        let r = proxy
            .client(Via::Http1)
            .get(proxy.http_url(MAIL_SETUP, "/"))
            .send()
            .unwrap();
        assert_eq!(r.status(), StatusCode::MOVED_PERMANENTLY);
        Ok(proxy)
    }

    /// `https://NAME:PORT/PATH`.
    fn url(&self, name: &str, path: &str) -> String {
        format!("https://{name}:{}{path}", self.https)
    }

    fn http_url(&self, name: &str, path: &str) -> String {
        format!("http://{name}:{}{path}", self.http)
    }

    /// A client that reaches every name at this proxy and trusts only the test CA.
    fn client(&self, via: Via) -> Client {
        self.client_from(via, None)
    }

    /// [`Proxy::client`] connecting from `local` (another loopback address: another client).
    fn client_from(&self, via: Via, local: Option<IpAddr>) -> Client {
        let mut builder = Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(Duration::from_secs(300))
            .tls_certs_only([reqwest::Certificate::from_pem(pki().0.as_bytes()).unwrap()])
            .local_address(local);
        for name in NAMES {
            // The URL's port is used; the address is what counts.
            builder = builder.resolve(name, SocketAddr::from((Ipv4Addr::LOCALHOST, 0)));
        }
        if via == Via::Http1 {
            builder = builder.http1_only();
        }
        builder.build().unwrap()
    }

    fn log(&self, name: &str) -> String {
        std::fs::read_to_string(self.dir.path().join("logs").join(name)).unwrap_or_default()
    }

    /// Every log nginx wrote: file name → text.
    fn logs(&self) -> BTreeMap<String, String> {
        common::names_in(&self.dir.path().join("logs"))
            .into_iter()
            .map(|name| {
                let text = self.log(&name);
                (name, text)
            })
            .collect()
    }

    /// Makes nginx's temporary folders unusable: any request body or answer it would buffer
    /// to disk now fails (the folder is a file).
    fn forbid_temporary_files(&self) {
        for sub in ["body", "proxy"] {
            let path = self.dir.path().join("temp").join(sub);
            std::fs::remove_dir_all(&path).unwrap();
            std::fs::write(&path, "not a folder").unwrap();
        }
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            // SIGTERM: the master stops its workers, then itself.
            unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
            let started = Instant::now();
            while child.try_wait().unwrap().is_none() {
                if started.elapsed() > Duration::from_secs(20) {
                    let _ = child.kill();
                    let _ = child.wait();
                    break;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Via {
    /// What browsers speak to nginx.
    Http2,
    Http1,
}

/// An htpasswd file with `USER` (bcrypt, cost 4 keeps the test fast).
fn htpasswd(dir: &Path) -> PathBuf {
    let hash = bcrypt::hash(PASSWORD, 4)
        .unwrap()
        .replacen("$2b$", "$2y$", 1);
    let path = dir.join("it-staff.htpasswd");
    std::fs::write(&path, format!("{USER}:{hash}\nsuzuki:{hash}\n")).unwrap();
    path
}

/// `mailconf serve` as the unit runs it, with the IT-staff page.
fn mailconf(dir: &Path) -> Server {
    let htpasswd = htpasswd(dir);
    Server::start_with(
        &[
            "--public-url",
            "https://mail-setup.example.ac.jp",
            "--admin-htpasswd",
            htpasswd.to_str().unwrap(),
        ],
        &[("SOURCE_DATE_EPOCH", "1767225600")],
    )
}

/// What a request gets: status, content type and body.
#[derive(Debug, PartialEq, Eq)]
struct Answer {
    status: StatusCode,
    content_type: String,
    body: Vec<u8>,
}

fn answer(r: Response) -> Answer {
    Answer {
        status: r.status(),
        content_type: r
            .headers()
            .get(header::CONTENT_TYPE)
            .map(|v| v.to_str().unwrap().to_string())
            .unwrap_or_default(),
        body: r.bytes().unwrap().to_vec(),
    }
}

/// A request to a path, as a client sends it: GET, or POST with a body; signed in or not.
struct Ask {
    post: Option<String>,
    path: String,
    sign_in: bool,
}

fn get(path: &str) -> Ask {
    Ask {
        post: None,
        path: path.to_string(),
        sign_in: false,
    }
}

fn send(client: &Client, url: &str, ask: &Ask) -> Response {
    let mut request = match &ask.post {
        Some(body) => client
            .post(url)
            .header(header::CONTENT_TYPE, "text/xml")
            .body(body.clone()),
        None => client.get(url),
    };
    if ask.sign_in {
        request = request.basic_auth(USER, Some(PASSWORD));
    }
    request.send().unwrap()
}

/// Every route of the README's table, as clients ask them.
fn every_route() -> Vec<Ask> {
    let mut asks: Vec<Ask> = [
        "/healthz".to_string(),
        "/?lang=en".to_string(),
        format!("/?emailaddress={ADDRESS_IN_URL}&name={NAME_IN_URL}"),
        format!("/mail/config-v1.1.xml?emailaddress={ADDRESS_IN_URL}"),
        format!("/.well-known/autoconfig/mail/config-v1.1.xml?emailaddress={ADDRESS_IN_URL}"),
        format!("/autodiscover/autodiscover.json?Email={ADDRESS_IN_URL}&Protocol=AutodiscoverV1"),
        format!("/autodiscover/autodiscover.json/v1.0/{ADDRESS}?Protocol=AutodiscoverV1"),
        format!("/mobileconfig/?emailaddress={ADDRESS_IN_URL}&name={NAME_IN_URL}"),
        format!("/files/{ADDRESS}/README.html"),
        format!("/files/{ADDRESS}/{ADDRESS}.mobileconfig"),
        format!("/files/{ADDRESS}.zip"),
        "/guide/img/thunderbird-choose-pop3-ja.png".to_string(),
    ]
    .iter()
    .map(|p| get(p))
    .collect();
    for path in [
        "/autodiscover/autodiscover.xml",
        "/Autodiscover/Autodiscover.xml",
    ] {
        asks.push(Ask {
            post: Some(common::pox_request(ADDRESS)),
            path: path.to_string(),
            sign_in: false,
        });
    }
    // The page in any letter case, as the server matches its routes.
    for path in ["/admin/", "/Admin/"] {
        asks.push(Ask {
            post: None,
            path: path.into(),
            sign_in: true,
        });
    }
    asks
}

/// The routes the domain's own site passes on: Thunderbird's and Outlook's.
fn is_main_site_route(path: &str) -> bool {
    let path = path.to_ascii_lowercase();
    path.starts_with("/.well-known/autoconfig/") || path.starts_with("/autodiscover/autodiscover.")
}

/// The routes the mail clients' names pass on: the main site's, Thunderbird's own, automx2's
/// Apple profile, and /healthz for load balancers.
fn is_client_route(path: &str) -> bool {
    is_main_site_route(path)
        || path.starts_with("/mail/config-v1.1.xml")
        || path.starts_with("/mobileconfig/")
        || path == "/healthz"
}

#[test]
fn every_route_answers_through_the_proxy_by_name_as_the_server_itself_does() {
    if !have(NGINX, "nginx") {
        return;
    }
    let dir = common::tempdir();
    let server = mailconf(dir.path());
    let proxy = Proxy::start(server.port);
    let direct = common::server::client();
    // Requests the server has answered so far, direct or through the proxy (their log lines
    // may still be on their way).
    let mut answered = 0;
    for via in [Via::Http2, Via::Http1] {
        let client = proxy.client(via);
        for ask in every_route() {
            let want = answer(send(&direct, &server.url(&ask.path), &ask));
            answered += 1;
            assert!(want.status.is_success(), "{}: {:?}", ask.path, want.status);
            for name in [MAIL_SETUP, AUTOCONFIG, AUTODISCOVER, MAIN_SITE] {
                // The domain's own site is someone else's: only the snippet's routes, and the
                // IT-staff page, which it must not pass on.
                if name == MAIN_SITE && !is_main_site_route(&ask.path) && !ask.sign_in {
                    continue;
                }
                let before = server.access_log(answered).len();
                assert_eq!(before, answered, "{:?}", server.log());
                let r = send(&client, &proxy.url(name, &ask.path), &ask);
                let version = r.version();
                let got = answer(r);
                let passed = match name {
                    MAIL_SETUP => true,
                    AUTOCONFIG | AUTODISCOVER => is_client_route(&ask.path),
                    _ => is_main_site_route(&ask.path),
                };
                if passed {
                    answered += 1;
                    assert_eq!(
                        got, want,
                        "{via:?} {name}{}: not the server's own answer",
                        ask.path
                    );
                    if via == Via::Http2 {
                        assert_eq!(version, Version::HTTP_2, "{name}");
                    }
                } else {
                    assert_eq!(got.status, StatusCode::NOT_FOUND, "{name}{}", ask.path);
                    assert_eq!(
                        server.access_log(0).len(),
                        before,
                        "{name}{} reached the server",
                        ask.path
                    );
                }
            }
        }
    }

    // Plain HTTP: certificate requests are answered from the ACME folder for every name;
    // anything else goes to https, nothing reaches the server.
    let client = proxy.client(Via::Http1);
    let before = server.access_log(answered).len();
    assert_eq!(before, answered);
    for name in [MAIL_SETUP, AUTOCONFIG, AUTODISCOVER] {
        let r = client
            .get(proxy.http_url(name, "/.well-known/acme-challenge/tok3n"))
            .send()
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK, "{name}");
        assert_eq!(r.text().unwrap(), "tok3n.thumbprint");
        let path = format!("/mail/config-v1.1.xml?emailaddress={ADDRESS_IN_URL}");
        let r = client.get(proxy.http_url(name, &path)).send().unwrap();
        assert_eq!(r.status(), StatusCode::MOVED_PERMANENTLY, "{name}");
        assert_eq!(
            r.headers()[header::LOCATION],
            format!("https://{name}{path}").as_str()
        );
    }
    assert_eq!(server.access_log(0).len(), before);

    no_address_or_name_in_the_logs(&proxy);
    let access = proxy.log("mailconf-access.log");
    for line in [
        "GET /files/ADDRESS/README.html HTTP/2.0\" 200",
        "GET /files/ADDRESS.zip HTTP/1.1\" 200",
        "GET /autodiscover/autodiscover.json/v1.0/ADDRESS... HTTP/2.0\"",
        "POST /Autodiscover/Autodiscover.xml HTTP/1.1\" 200",
        "GET /.well-known/acme-challenge/tok3n HTTP/1.1\" 200",
    ] {
        assert!(access.contains(line), "{line:?} not in:\n{access}");
    }
}

/// No address, name or query string in any log nginx wrote (Debian's default access log
/// included), no client address in the kit's own, and no word of a temporary file.
fn no_address_or_name_in_the_logs(proxy: &Proxy) {
    let logs = proxy.logs();
    assert!(logs.contains_key("mailconf-access.log"), "{logs:?}");
    for (file, text) in &logs {
        let clients: &[&str] = if file.starts_with("mailconf-") {
            &["127.0.0.1", "127.0.0.2", "127.0.0.3"]
        } else {
            &[]
        };
        for secret in [
            "@",
            "%40",
            "taro",
            "yamada",
            "%E5%B1%B1",
            "山田",
            "emailaddress",
            "Email=",
        ]
        .iter()
        .chain(clients)
        {
            assert!(
                !text.to_lowercase().contains(&secret.to_lowercase()),
                "{file} holds {secret:?}:\n{text}"
            );
        }
        assert!(
            !text.contains("buffered to a temporary file"),
            "{file}:\n{text}"
        );
    }
    for line in logs["mailconf-access.log"].lines() {
        assert!(!line.contains('?'), "{line}");
    }
}

#[test]
fn the_sign_in_lockout_holds_through_every_server_block() {
    if !have(NGINX, "nginx") {
        return;
    }
    let dir = common::tempdir();
    let server = mailconf(dir.path());
    let proxy = Proxy::start(server.port);
    // A client at 127.0.0.2 guesses, telling nginx a new X-Forwarded-For each time.
    let guesser = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2));
    let mut guess = 0;
    let mut try_once = |client: &Client, name: &str, path: &str, password: &str| {
        guess += 1;
        client
            .get(proxy.url(name, path))
            .basic_auth(USER, Some(password))
            .header(
                "X-Forwarded-For",
                format!("198.51.100.{guess}, 203.0.113.{guess}"),
            )
            .header("X-Real-IP", format!("192.0.2.{guess}"))
            .header("Forwarded", format!("for=192.0.2.{guess}"))
            .send()
            .unwrap()
            .status()
    };
    let h2 = proxy.client_from(Via::Http2, Some(guesser));
    let h1 = proxy.client_from(Via::Http1, Some(guesser));
    for i in 0..5 {
        let client = if i % 2 == 0 { &h2 } else { &h1 };
        let path = if i < 3 { "/admin/" } else { "/admin/?lang=en" };
        assert_eq!(
            try_once(client, MAIL_SETUP, path, &format!("guess {i}")),
            StatusCode::UNAUTHORIZED,
            "guess {i}"
        );
    }
    // Locked out, whatever it says it is, over either protocol, even with the right password.
    for client in [&h2, &h1] {
        assert_eq!(
            try_once(client, MAIL_SETUP, "/admin/", PASSWORD),
            StatusCode::TOO_MANY_REQUESTS
        );
    }
    // The other names have no IT-staff page at all, however it is spelled: nginx answers, the
    // server never sees the request. (Seven requests reached it so far; their log lines may
    // still be on their way.)
    let before = server.access_log(7).len();
    assert_eq!(before, 7, "{:?}", server.log());
    for name in [AUTOCONFIG, AUTODISCOVER, MAIN_SITE] {
        for path in [
            "/admin/",
            "/admin",
            "/Admin/",
            "/%61dmin/",
            "//admin/",
            "/x/../admin/",
        ] {
            for client in [&h2, &h1] {
                assert_eq!(
                    try_once(client, name, path, PASSWORD),
                    StatusCode::NOT_FOUND,
                    "{name}{path}"
                );
            }
        }
    }
    // Plain HTTP only sends it to https.
    let r = h1
        .get(proxy.http_url(MAIL_SETUP, "/admin/"))
        .basic_auth(USER, Some(PASSWORD))
        .send()
        .unwrap();
    assert_eq!(r.status(), StatusCode::MOVED_PERMANENTLY);
    assert_eq!(server.access_log(0).len(), before);
    // Another client (127.0.0.3) is not locked out: what counts is the address nginx saw.
    let other = proxy.client_from(Via::Http2, Some(IpAddr::V4(Ipv4Addr::new(127, 0, 0, 3))));
    let r = other
        .get(proxy.url(MAIL_SETUP, "/admin/"))
        .basic_auth("suzuki", Some(PASSWORD))
        .send()
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    no_address_or_name_in_the_logs(&proxy);
}

/// A roster of `n` people with a memo column (ignored) that makes it about `n` KB.
fn big_roster(n: usize) -> String {
    let memo = "x".repeat(1000);
    let mut text = String::from("氏名,メールアドレス,メモ\r\n");
    for i in 0..n {
        text.push_str(&format!("山田 {i},user{i:05}@kyoto-u.ac.jp,{memo}\r\n"));
    }
    text
}

fn upload(client: &Client, url: &str, roster: &str) -> Response {
    let mut form = Form::new().part(
        "roster",
        Part::bytes(roster.as_bytes().to_vec())
            .file_name("dept.csv")
            .mime_str("text/csv")
            .unwrap(),
    );
    for format in ["thunderbird", "apple", "outlook", "guides"] {
        form = form.text("formats", format);
    }
    for (name, value) in [
        ("google", "on"),
        ("protocol", "pop"),
        ("prf_encoding", "utf16le"),
        ("prf_dir", ""),
    ] {
        form = form.text(name, value);
    }
    client
        .post(url)
        .basic_auth(USER, Some(PASSWORD))
        .header(header::ORIGIN, "https://mail-setup.example.ac.jp")
        .header("Sec-Fetch-Site", "same-origin")
        .multipart(form)
        .send()
        .unwrap()
}

#[test]
fn a_large_roster_and_its_zip_pass_without_touching_the_disk() {
    if !have(NGINX, "nginx") {
        return;
    }
    let dir = common::tempdir();
    let server = mailconf(dir.path());
    let proxy = Proxy::start(server.port);
    proxy.forbid_temporary_files();
    let roster = big_roster(1500);
    assert!(roster.len() > 1_000_000, "{}", roster.len());
    let want = upload(
        &common::server::client(),
        &server.url("/admin/?lang=en"),
        &roster,
    );
    assert_eq!(want.status(), StatusCode::OK);
    let want = want.bytes().unwrap();
    assert!(want.len() > 10_000_000, "a large zip: {}", want.len());
    for via in [Via::Http2, Via::Http1] {
        let r = upload(
            &proxy.client(via),
            &proxy.url(MAIL_SETUP, "/admin/?lang=en"),
            &roster,
        );
        assert_eq!(r.status(), StatusCode::OK, "{via:?}");
        let got = r.bytes().unwrap();
        assert!(got == want, "{via:?}: not the server's zip");
    }
    no_address_or_name_in_the_logs(&proxy);
    let access = proxy.log("mailconf-access.log");
    assert_eq!(access.matches("\"POST /admin/ ").count(), 2, "{access}");
}

#[test]
fn the_unit_verifies_and_is_rated_ok() {
    if !have(SYSTEMD_ANALYZE, "systemd") {
        return;
    }
    let unit = dist("mailconf.service");
    // verify checks that ExecStart's program exists: the unit as shipped, with only the
    // program's path changed to the binary under test.
    let dir = common::tempdir();
    let binary = assert_cmd::cargo::cargo_bin!("mailconf");
    let exec = "ExecStart=/usr/bin/mailconf ";
    assert_eq!(unit.matches(exec).count(), 1, "one ExecStart: {unit}");
    let copy = dir.path().join("mailconf.service");
    std::fs::write(
        &copy,
        unit.replace(exec, &format!("ExecStart={} ", binary.display())),
    )
    .unwrap();
    let out = Command::new(SYSTEMD_ANALYZE)
        .arg("verify")
        .arg(&copy)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(
        !err.contains("mailconf.service"),
        "systemd-analyze verify has something to say about the unit:\n{err}"
    );

    // The shipped file itself, rated as systemd would run it.
    let out = Command::new(SYSTEMD_ANALYZE)
        .args(["security", "--offline=yes", "--no-pager"])
        .arg(common::root().join("dist/serve/mailconf.service"))
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let overall = text
        .lines()
        .find_map(|l| {
            l.split("Overall exposure level for mailconf.service: ")
                .nth(1)
        })
        .unwrap_or_else(|| panic!("no overall rating:\n{text}"));
    let mut words = overall.split_whitespace();
    let exposure: f64 = words.next().unwrap().parse().unwrap();
    let level = words.next().unwrap();
    assert!(
        exposure <= 2.0 && ["OK", "SAFE"].contains(&level),
        "exposure {overall}:\n{text}"
    );
    // What the unit says of itself is what systemd says.
    assert!(
        unit.contains(&format!("rates this {exposure:.1} {level}")),
        "the unit's comment must give systemd's rating, {exposure:.1} {level}"
    );
}

/// The README's install, the Debian package and the unit put and look for the binary in the
/// same place, and the unit's memory cap is the one the README gives.
#[test]
fn the_readme_the_package_and_the_unit_agree() {
    let unit = dist("mailconf.service");
    let readme = std::fs::read_to_string(common::root().join("README.md")).unwrap();
    let cargo = std::fs::read_to_string(common::root().join("Cargo.toml")).unwrap();
    assert!(
        unit.contains("\nExecStart=/usr/bin/mailconf serve "),
        "{unit}"
    );
    assert!(
        readme.contains("install -m755 target/release/mailconf /usr/bin/mailconf"),
        "README: the manual install must put the binary where the unit runs it"
    );
    assert!(
        cargo.contains(r#"["target/release/mailconf", "usr/bin/", "755"]"#),
        "the package must install the binary where the unit runs it"
    );
    let cap = unit
        .lines()
        .find_map(|l| l.strip_prefix("MemoryMax="))
        .expect("the unit sets MemoryMax");
    assert!(
        readme.contains(&format!("MemoryMax={cap}")),
        "README and unit must give the same MemoryMax ({cap})"
    );
    // Every proxied location sets X-Forwarded-For itself, so no client's own reaches mailconf.
    for file in ["nginx.conf", "nginx-main-site.conf"] {
        let text = dist(file);
        let mut blocks = 0;
        for block in text.split("location ").skip(1) {
            let body = block.split('}').next().unwrap();
            if body.contains("proxy_pass") {
                blocks += 1;
                assert!(
                    body.contains("proxy_set_header X-Forwarded-For $remote_addr;"),
                    "{file}: location {body}"
                );
            }
        }
        assert!(blocks >= 1, "{file}");
    }
}
