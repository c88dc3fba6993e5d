//! The IT-staff page, `mailconf serve --admin-htpasswd FILE`, over real HTTP: the real binary,
//! a real client (reqwest). Sign-in and each way it fails, the htpasswd file read again without a
//! restart, failures slowed down, uploads in UTF-8, CP932 and UTF-16 giving the zip `mailconf
//! bundle` makes (every entry's name and bytes), the problem table against `mailconf check`,
//! skip-and-go-on, per-person zips, the size limit, cross-origin refusals, the TLS/loopback rule,
//! and nothing of an upload left on disk or in the log.

use crate::common;

use std::path::{Path, PathBuf};
use std::time::Duration;

use common::server::{Server, client};
use common::{mailconf, tempdir, zip_entries};
use reqwest::blocking::Response;
use reqwest::blocking::multipart::{Form, Part};
use reqwest::header;

/// Both the CLI and the server date the zip's entries from this.
const EPOCH: &str = "1775035800";
const USER: &str = "it-staff";
const PASSWORD: &str = "correct horse battery staple";

/// A roster as Excel saves it, with names that are data (`,`, `<`, `&`, `"`).
const ROSTER: &str = "氏名,メールアドレス,所属\r\n\
    山田 太郎,taro.yamada@kyoto-u.ac.jp,情報学\r\n\
    \"Smith, <Jane> & \"\"Co\"\"\",Jane.Smith@kyoto-u.ac.jp,理学\r\n\
    京大　花子,hanako@kyoto-u.ac.jp,工学\r\n";

/// A roster with three bad rows (lines 3, 4 and 5).
const BAD_ROSTER: &str = "氏名,メールアドレス\r\n\
    山田 太郎,taro.yamada@kyoto-u.ac.jp\r\n\
    誤り,not-an-address\r\n\
    他所,someone@example.com\r\n\
    重複,TARO.YAMADA@kyoto-u.ac.jp\r\n\
    京大 花子,hanako@kyoto-u.ac.jp\r\n";

/// An htpasswd line as `htpasswd -B` writes it (cost 4 keeps the tests fast).
fn entry(user: &str, password: &str) -> String {
    let hash = bcrypt::hash(password, 4)
        .unwrap()
        .replacen("$2b$", "$2y$", 1);
    format!("{user}:{hash}\n")
}

/// A folder with an htpasswd file holding `USER`.
fn users() -> (tempfile::TempDir, PathBuf) {
    let dir = tempdir();
    let path = dir.path().join("it-staff.htpasswd");
    std::fs::write(&path, format!("# IT staff\n{}", entry(USER, PASSWORD))).unwrap();
    (dir, path)
}

/// The server with the IT-staff page, `SOURCE_DATE_EPOCH` set, and `extra` arguments.
fn start(htpasswd: &Path, extra: &[&str], env: &[(&str, &str)]) -> Server {
    let mut args = vec!["--admin-htpasswd", htpasswd.to_str().unwrap()];
    args.extend_from_slice(extra);
    let mut all_env = vec![("SOURCE_DATE_EPOCH", EPOCH)];
    all_env.extend_from_slice(env);
    Server::start_with(&args, &all_env)
}

fn header_of(r: &Response, name: header::HeaderName) -> String {
    r.headers()
        .get(name)
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default()
}

fn get_as(server: &Server, path: &str, user: &str, password: &str) -> Response {
    client()
        .get(server.url(path))
        .basic_auth(user, Some(password))
        .send()
        .unwrap()
}

/// The form's fields as the page sends them by default (every kind of file, the Google profile,
/// POP, a UTF-16LE PRF), with `changes` applied: a value replaces the default of its name, and
/// `formats` may repeat; `("google", "")` and the like leave a field out.
fn fields(changes: &[(&str, &str)]) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = Vec::new();
    let changed = |name: &str| changes.iter().any(|(n, _)| *n == name);
    for (name, value) in common::server::PAGE_FIELDS {
        if !changed(name) {
            out.push((name.into(), value.into()));
        }
    }
    for (name, value) in changes {
        if !value.is_empty() {
            out.push((name.to_string(), value.to_string()));
        }
    }
    out
}

/// Sends `bytes` as the roster named `file_name` with the form's `fields`, signed in, as a
/// browser does (the file name in UTF-8, same origin).
fn upload_with(
    server: &Server,
    file_name: &str,
    bytes: &[u8],
    fields: &[(String, String)],
) -> Response {
    let mut form = Form::new().percent_encode_noop().part(
        "roster",
        Part::bytes(bytes.to_vec())
            .file_name(file_name.to_string())
            .mime_str("text/csv")
            .unwrap(),
    );
    for (name, value) in fields {
        form = form.text(name.clone(), value.clone());
    }
    client()
        .post(server.url("/admin/?lang=en"))
        .basic_auth(USER, Some(PASSWORD))
        .header(header::ORIGIN, server.base.clone())
        .header("Sec-Fetch-Site", "same-origin")
        .multipart(form)
        .send()
        .unwrap()
}

fn upload(server: &Server, file_name: &str, bytes: &[u8]) -> Response {
    upload_with(server, file_name, bytes, &fields(&[]))
}

/// What `mailconf bundle ROSTER -o DIR/STEM.zip ARGS` writes (with `SOURCE_DATE_EPOCH`), and the
/// per-person folder when `--per-person` is among `args` (as `PER_PERSON`).
fn bundle(roster: &Path, stem: &str, args: &[&str]) -> (Vec<u8>, tempfile::TempDir) {
    let out = tempdir();
    let zip = out.path().join(format!("{stem}.zip"));
    let args: Vec<String> = args
        .iter()
        .map(|a| a.replace("PER_PERSON", out.path().join("people").to_str().unwrap()))
        .collect();
    let result = mailconf()
        .env("SOURCE_DATE_EPOCH", EPOCH)
        .arg("bundle")
        .arg(roster)
        .arg("-o")
        .arg(&zip)
        .args(&args)
        .arg("--quiet")
        .output()
        .unwrap();
    assert!(
        result.status.success(),
        "{}",
        String::from_utf8_lossy(&result.stderr)
    );
    (std::fs::read(&zip).unwrap(), out)
}

/// Asserts two zips have the same entries, in the same order, with the same bytes.
fn same_entries(got: &[u8], want: &[u8], what: &str) {
    let (got, want) = (zip_entries(got), zip_entries(want));
    let names = |z: &[(String, Vec<u8>)]| z.iter().map(|(n, _)| n.clone()).collect::<Vec<_>>();
    assert_eq!(names(&got), names(&want), "{what}: entry names");
    for ((name, got), (_, want)) in got.iter().zip(&want) {
        assert!(got == want, "{what}: {name} differs");
    }
}

fn cp932(text: &str) -> Vec<u8> {
    let (bytes, _, unmappable) = encoding_rs::SHIFT_JIS.encode(text);
    assert!(!unmappable);
    bytes.into_owned()
}

fn utf16le_with_bom(text: &str) -> Vec<u8> {
    let mut bytes = vec![0xFF, 0xFE];
    bytes.extend(text.encode_utf16().flat_map(u16::to_le_bytes));
    bytes
}

#[test]
fn without_the_option_there_is_no_page() {
    let server = Server::start(&[]);
    for path in ["/admin/", "/admin", "/admin/x"] {
        let r = get_as(&server, path, USER, PASSWORD);
        assert_eq!(r.status(), 404, "{path}");
        assert!(r.headers().get(header::WWW_AUTHENTICATE).is_none());
    }
    let r = client()
        .post(server.url("/admin/"))
        .body("x")
        .send()
        .unwrap();
    assert_eq!(r.status(), 404);
}

#[test]
fn sign_in_and_each_way_it_fails() {
    let (_dir, htpasswd) = users();
    let server = start(&htpasswd, &[], &[]);
    // No credentials: the challenge, which a browser answers with its sign-in box.
    let r = client().get(server.url("/admin/")).send().unwrap();
    assert_eq!(r.status(), 401);
    let challenge = header_of(&r, header::WWW_AUTHENTICATE);
    assert!(
        challenge.starts_with("Basic realm=\"mailconf IT staff\""),
        "{challenge}"
    );
    for (user, password) in [
        (USER, "wrong"),
        ("nobody", PASSWORD),
        (USER, ""),
        ("", PASSWORD),
    ] {
        let r = get_as(&server, "/admin/", user, password);
        assert_eq!(r.status(), 401, "{user:?} {password:?}");
        assert!(header_of(&r, header::WWW_AUTHENTICATE).starts_with("Basic realm="));
    }
    for bad in ["Bearer x", "Basic !!!", "Basic bm9jb2xvbg=="] {
        let r = client()
            .get(server.url("/admin/"))
            .header(header::AUTHORIZATION, bad)
            .send()
            .unwrap();
        assert_eq!(r.status(), 401, "{bad}");
    }
    // Signed in: the page, in the browser's language, with the other pages' protections.
    let r = client()
        .get(server.url("/admin/"))
        .basic_auth(USER, Some(PASSWORD))
        .header(header::ACCEPT_LANGUAGE, "ja")
        .send()
        .unwrap();
    assert_eq!(r.status(), 200);
    let csp = header_of(&r, header::CONTENT_SECURITY_POLICY);
    assert!(csp.contains("form-action 'self'"), "{csp}");
    assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
    assert_eq!(header_of(&r, header::CACHE_CONTROL), "no-store");
    let page = r.text().unwrap();
    assert!(page.contains("<html lang=\"ja\">"), "{page}");
    assert!(page.contains("enctype=\"multipart/form-data\""));
    assert!(page.contains("8 MB"), "the limit is on the page");
    let en = get_as(&server, "/admin/?lang=en", USER, PASSWORD)
        .text()
        .unwrap();
    assert!(en.contains("<html lang=\"en\">") && en.contains("up to 8 MB"));
    // The page's own address, and nothing else under it.
    let r = get_as(&server, "/admin", USER, PASSWORD);
    assert_eq!(r.status(), 308);
    assert_eq!(header_of(&r, header::LOCATION), "/admin/");
    assert_eq!(
        get_as(&server, "/admin/other", USER, PASSWORD).status(),
        404
    );
    assert_eq!(
        client()
            .head(server.url("/admin/"))
            .basic_auth(USER, Some(PASSWORD))
            .send()
            .unwrap()
            .status(),
        200
    );
    // Neither the name nor the password reaches the log (once the last request's line is in).
    let log = server.log_with("HEAD /admin/").join("\n");
    assert!(log.contains("HEAD /admin/ 200"), "{log}");
    assert!(!log.contains(USER) && !log.contains("nobody") && !log.contains("horse"));
}

#[test]
fn entries_other_than_bcrypt_refuse_to_start() {
    let dir = tempdir();
    let path = dir.path().join("staff.htpasswd");
    let good = entry("alice", "x");
    for (bad, says) in [
        ("bob:{SHA}qUqP5cyxm6YcTAhz05Hph5gvu9M=", "SHA-1"),
        ("bob:$apr1$q0T6aQ3G$2xbUvQbPWGsYqsPWdVZEq/", "MD5"),
        ("bob:abJnggxhB/yWI", "crypt"),
        ("bob:plaintext-password", "not a bcrypt entry"),
        ("bob", "NAME:HASH"),
    ] {
        std::fs::write(&path, format!("# staff\n{good}{bad}\n")).unwrap();
        let out = mailconf()
            .args(["serve", "--listen", "127.0.0.1:0", "--admin-htpasswd"])
            .arg(&path)
            .timeout(Duration::from_secs(30))
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{bad}: {stderr}");
        assert!(
            stderr.contains(&format!("{}:3: ", path.display())),
            "{bad}: file and line: {stderr}"
        );
        assert!(stderr.contains(says), "{bad}: {stderr}");
        assert!(
            stderr.contains("htpasswd -B"),
            "{bad}: what to do: {stderr}"
        );
        assert!(!stderr.contains("serving on"), "{bad}: it listened");
        assert!(
            !stderr.contains("bob"),
            "no user name in messages: {stderr}"
        );
    }
    for (text, says) in [
        (None, "no such file"),
        (Some("# nobody yet\n"), "holds no user"),
    ] {
        let target = match text {
            Some(text) => {
                std::fs::write(&path, text).unwrap();
                path.clone()
            }
            None => dir.path().join("missing"),
        };
        let out = mailconf()
            .args(["serve", "--listen", "127.0.0.1:0", "--admin-htpasswd"])
            .arg(&target)
            .timeout(Duration::from_secs(30))
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{stderr}");
        assert!(stderr.contains(&target.display().to_string()), "{stderr}");
        assert!(stderr.contains(says), "{stderr}");
    }
}

#[test]
fn the_page_is_served_only_where_passwords_cannot_travel_in_clear() {
    let (dir, htpasswd) = users();
    let file = htpasswd.to_str().unwrap();
    let refused = mailconf()
        .args(["serve", "--listen", "0.0.0.0:0", "--admin-htpasswd", file])
        .timeout(Duration::from_secs(30))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert_eq!(refused.status.code(), Some(1), "{stderr}");
    assert!(!stderr.contains("serving on"), "{stderr}");
    for says in [
        "--admin-htpasswd",
        "0.0.0.0:0",
        "--tls-cert",
        "127.0.0.1",
        "--public-url https://",
    ] {
        assert!(stderr.contains(says), "{says}: {stderr}");
    }
    // Behind a TLS proxy, said with the public URL.
    let proxied = Server::start_on(
        "0.0.0.0:0",
        &[
            "--admin-htpasswd",
            file,
            "--public-url",
            "https://mail-setup.example.org",
        ],
        &[],
    );
    assert_eq!(get_as(&proxied, "/admin/", USER, PASSWORD).status(), 200);
    drop(proxied);
    // The server's own TLS.
    common::pki::tls_files_now(dir.path());
    let cert = dir.path().join("tls-cert.pem");
    let key = dir.path().join("tls-key.pem");
    let tls = Server::start_on(
        "0.0.0.0:0",
        &[
            "--admin-htpasswd",
            file,
            "--tls-cert",
            cert.to_str().unwrap(),
            "--tls-key",
            key.to_str().unwrap(),
        ],
        &[],
    );
    assert!(tls.base.starts_with("https://"), "{}", tls.base);
    drop(tls);
    // A loopback address (the other tests' servers listen on 127.0.0.1).
}

#[test]
fn a_colleague_added_to_the_file_signs_in_without_a_restart() {
    let (_dir, htpasswd) = users();
    let server = start(&htpasswd, &[], &[]);
    assert_eq!(get_as(&server, "/admin/", USER, PASSWORD).status(), 200);
    assert_eq!(get_as(&server, "/admin/", "colleague", "pw2").status(), 401);
    std::fs::write(
        &htpasswd,
        format!("{}{}", entry(USER, PASSWORD), entry("colleague", "pw2")),
    )
    .unwrap();
    assert_eq!(get_as(&server, "/admin/", "colleague", "pw2").status(), 200);
    // Taken off the file: out at once, though the last sign-in was remembered.
    std::fs::write(&htpasswd, entry("colleague", "pw2")).unwrap();
    assert_eq!(get_as(&server, "/admin/", USER, PASSWORD).status(), 401);
    assert_eq!(get_as(&server, "/admin/", "colleague", "pw2").status(), 200);
    // A mistake in the file lets nobody in until it is fixed, and says where it is.
    std::fs::write(&htpasswd, "colleague:{SHA}qUqP5cyxm6YcTAhz05Hph5gvu9M=\n").unwrap();
    assert_eq!(get_as(&server, "/admin/", "colleague", "pw2").status(), 503);
    let said = format!("{}:1: ", htpasswd.display());
    let log = server.log_with(&said).join("\n");
    assert!(log.contains(&said), "{log}");
    std::fs::write(&htpasswd, entry("colleague", "pw2")).unwrap();
    assert_eq!(get_as(&server, "/admin/", "colleague", "pw2").status(), 200);
}

#[test]
fn repeated_failures_from_one_address_are_slowed_down() {
    let (_dir, htpasswd) = users();
    let server = start(&htpasswd, &[], &[]);
    for i in 0..5 {
        let r = get_as(&server, "/admin/", USER, &format!("guess {i}"));
        assert_eq!(r.status(), 401, "guess {i}");
    }
    // Locked out for a while: even the right password gets 429, without a bcrypt run.
    for password in ["guess 5", PASSWORD] {
        let r = get_as(&server, "/admin/", USER, password);
        assert_eq!(r.status(), 429, "{password}");
        let wait: u64 = header_of(&r, header::RETRY_AFTER).parse().unwrap();
        assert!((1..=60).contains(&wait), "{wait}");
    }
    // Another address (behind a proxy on this machine: the last X-Forwarded-For) is not.
    let r = client()
        .get(server.url("/admin/"))
        .basic_auth(USER, Some(PASSWORD))
        .header("X-Forwarded-For", "203.0.113.9, 192.0.2.7")
        .send()
        .unwrap();
    assert_eq!(r.status(), 200);
    // The log says which requests failed, never from where.
    let log = server.access_log(8).join("\n");
    assert!(log.contains("GET /admin/ 429"), "{log}");
    assert!(
        !log.contains("127.0.0.1") && !log.contains("192.0.2.7"),
        "{log}"
    );
}

/// `GET /admin/` signed in as `user:password`, written whole on a connection of its own, with
/// `extra` header lines.
fn raw_get(user: &str, password: &str, extra: &str) -> String {
    use base64::Engine;
    let token = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
    format!(
        "GET /admin/ HTTP/1.1\r\nHost: x\r\nAuthorization: Basic {token}\r\n{extra}Connection: close\r\n\r\n"
    )
}

/// The status of the answer read from `stream`, and its `Retry-After`.
fn status_of(stream: &mut std::net::TcpStream) -> (u16, Option<u64>) {
    let (head, _) = common::raw::read_answer(stream);
    let status = head[9..12].parse().unwrap();
    let retry = head.lines().find_map(|l| {
        let (name, value) = l.split_once(':')?;
        name.eq_ignore_ascii_case("retry-after")
            .then(|| value.trim().parse().ok())?
    });
    (status, retry)
}

#[test]
fn a_burst_of_guesses_is_checked_five_at_a_time() {
    // An entry at cost 8: each check takes longer than the burst takes to arrive.
    let dir = tempdir();
    let htpasswd = dir.path().join("it-staff.htpasswd");
    let hash = bcrypt::hash(PASSWORD, 8).unwrap();
    std::fs::write(&htpasswd, format!("{USER}:{hash}\n")).unwrap();
    let server = start(&htpasswd, &[], &[]);
    // Twenty wrong passwords and the right one, each on its own connection, written at once.
    let mut requests: Vec<String> = (0..20)
        .map(|i| raw_get(USER, &format!("guess {i}"), ""))
        .collect();
    requests.insert(13, raw_get(USER, PASSWORD, ""));
    let mut streams: Vec<std::net::TcpStream> = requests
        .iter()
        .map(|_| common::raw::connect(server.port))
        .collect();
    let barrier = std::sync::Arc::new(std::sync::Barrier::new(streams.len()));
    let answers: Vec<(u16, Option<u64>)> = std::thread::scope(|scope| {
        let handles: Vec<_> = streams
            .iter_mut()
            .zip(&requests)
            .map(|(stream, request)| {
                let barrier = barrier.clone();
                scope.spawn(move || {
                    barrier.wait();
                    use std::io::Write;
                    stream.write_all(request.as_bytes()).unwrap();
                    status_of(stream)
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let checked = answers
        .iter()
        .filter(|(s, _)| *s == 401 || *s == 200)
        .count();
    let refused = answers.iter().filter(|(s, _)| *s == 429).count();
    assert!(checked <= 5, "{checked} checked: {answers:?}");
    assert_eq!(checked + refused, 21, "{answers:?}");
    for (_, retry) in answers.iter().filter(|(s, _)| *s == 429) {
        assert!(retry.is_some_and(|r| (1..=60).contains(&r)), "{retry:?}");
    }
    let mut wrong_checked = answers.iter().filter(|(s, _)| *s == 401).count();
    // More guesses: together with the burst's, at most five wrong ones are ever checked, and
    // then the address is locked out, the right password too.
    for i in 0..10 {
        let mut s = common::raw::connect(server.port);
        use std::io::Write;
        s.write_all(raw_get(USER, &format!("later {i}"), "").as_bytes())
            .unwrap();
        let (status, _) = status_of(&mut s);
        assert!(status == 401 || status == 429, "{status}");
        wrong_checked += usize::from(status == 401);
    }
    assert!(
        wrong_checked <= 5,
        "{wrong_checked} wrong passwords checked"
    );
    let r = get_as(&server, "/admin/", USER, PASSWORD);
    assert_eq!(r.status(), 429, "locked out");
    // The log says so, and never from where.
    let log = server.access_log(32).join("\n");
    assert!(log.contains("GET /admin/ 429"), "{log}");
    assert!(!log.contains("127.0.0.1"), "{log}");
}

#[test]
fn a_proxy_on_ipv4_loopback_is_told_apart_on_an_ipv6_listener() {
    // A listener on [::] sees the proxy on 127.0.0.1 as ::ffff:127.0.0.1.
    if std::net::TcpListener::bind("[::]:0").is_err() {
        eprintln!("SKIPPED: this machine cannot listen on [::]");
        return;
    }
    let (_dir, htpasswd) = users();
    let file = htpasswd.to_str().unwrap();
    let server = Server::start_on(
        "[::]:0",
        &[
            "--admin-htpasswd",
            file,
            "--public-url",
            "https://mail-setup.example.org",
        ],
        &[],
    );
    let ask = |password: &str, forwarded: &str| {
        let mut s = common::raw::connect(server.port);
        use std::io::Write;
        let extra = format!("X-Forwarded-For: {forwarded}\r\n");
        s.write_all(raw_get(USER, password, &extra).as_bytes())
            .unwrap();
        status_of(&mut s).0
    };
    for i in 0..5 {
        assert_eq!(ask(&format!("guess {i}"), "198.51.100.7"), 401);
    }
    assert_eq!(
        ask(PASSWORD, "198.51.100.7"),
        429,
        "the guesser is locked out"
    );
    assert_eq!(ask(PASSWORD, "203.0.113.20"), 200, "another client is not");
}

#[test]
fn uploads_in_utf8_cp932_and_utf16_give_the_zip_bundle_makes() {
    let (_dir, htpasswd) = users();
    let server = start(&htpasswd, &[], &[]);
    let rosters = tempdir();
    let tsv = ROSTER.replace(',', "\t").replace("\"Smith\t", "\"Smith,");
    for (file_name, bytes) in [
        ("department.csv", ROSTER.as_bytes().to_vec()),
        ("情報学研究科.csv", cp932(ROSTER)),
        ("Excel Unicode text.txt", utf16le_with_bom(&tsv)),
    ] {
        let path = rosters.path().join(file_name);
        std::fs::write(&path, &bytes).unwrap();
        let stem = file_name.rsplit_once('.').unwrap().0;
        let r = upload(&server, file_name, &bytes);
        assert_eq!(r.status(), 200, "{file_name}");
        assert_eq!(header_of(&r, header::CONTENT_TYPE), "application/zip");
        assert_eq!(header_of(&r, header::CACHE_CONTROL), "no-store");
        let disposition = header_of(&r, header::CONTENT_DISPOSITION);
        assert!(
            disposition.starts_with("attachment; filename=\"")
                && disposition.ends_with(&format!(
                    "; filename*=UTF-8''{}",
                    mailconf::render::guide::percent_encode(&format!("{stem}.zip"))
                )),
            "{disposition}"
        );
        let got = r.bytes().unwrap().to_vec();
        let (want, _out) = bundle(&path, stem, &[]);
        same_entries(&got, &want, file_name);
        assert!(
            zip_entries(&got)
                .iter()
                .all(|(name, _)| name.starts_with(&format!("{stem}/"))),
            "the top folder is the file's stem"
        );
        // Made the same way, so the same bytes, down to the zip's own records.
        assert!(got == want, "{file_name}: the zips differ");
    }
    // The ASCII name for old clients, beside the UTF-8 one.
    let r = upload(&server, "情報学研究科.csv", &cp932(ROSTER));
    assert!(header_of(&r, header::CONTENT_DISPOSITION).contains("filename=\"roster.zip\""));
}

#[test]
fn the_choices_are_the_commands_options() {
    let (_dir, htpasswd) = users();
    let server = start(&htpasswd, &[], &[]);
    let rosters = tempdir();
    let path = rosters.path().join("dept.csv");
    std::fs::write(&path, ROSTER).unwrap();
    for (changes, args) in [
        (
            vec![
                ("protocol", "imap"),
                ("prf_encoding", "cp932"),
                ("prf_dir", r"D:\Mail Setup"),
                ("google", ""),
                ("formats", "outlook"),
                ("formats", "guides"),
            ],
            vec![
                "--protocol",
                "imap",
                "--prf-encoding",
                "cp932",
                "--prf-dir",
                r"D:\Mail Setup",
                "--no-apple-google-account",
                "--formats",
                "outlook,guides",
            ],
        ),
        (vec![("formats", "apple")], vec!["--formats", "apple"]),
    ] {
        let r = upload_with(&server, "dept.csv", ROSTER.as_bytes(), &fields(&changes));
        assert_eq!(r.status(), 200, "{changes:?}");
        let (want, _out) = bundle(&path, "dept", &args);
        same_entries(&r.bytes().unwrap(), &want, &format!("{args:?}"));
    }
    // A folder Windows cannot have, and no kind of file at all: said on the page.
    let r = upload_with(
        &server,
        "dept.csv",
        ROSTER.as_bytes(),
        &fields(&[("prf_dir", "relative\\folder")]),
    );
    assert_eq!(r.status(), 422);
    let page = r.text().unwrap();
    assert!(page.contains("Check the folder for the .prf"), "{page}");
    assert!(
        page.contains("value=\"relative\\folder\""),
        "the choice is kept"
    );
    let none: Vec<(String, String)> = fields(&[])
        .into_iter()
        .filter(|(n, _)| n != "formats")
        .collect();
    let r = upload_with(&server, "dept.csv", ROSTER.as_bytes(), &none);
    assert_eq!(r.status(), 422);
    assert!(r.text().unwrap().contains("at least one kind of file"));
    let r = upload_with(
        &server,
        "dept.csv",
        ROSTER.as_bytes(),
        &fields(&[("protocol", "smtp")]),
    );
    assert_eq!(r.status(), 400);
}

/// The table's rows: (line, message).
fn problem_rows(page: &str) -> Vec<(String, String)> {
    let html = scraper::Html::parse_document(page);
    let row = scraper::Selector::parse("table.problems tbody tr").unwrap();
    let cell = scraper::Selector::parse("td").unwrap();
    html.select(&row)
        .map(|tr| {
            let cells: Vec<String> = tr
                .select(&cell)
                .map(|td| td.text().collect::<String>())
                .collect();
            (cells[0].clone(), cells[1].clone())
        })
        .collect()
}

#[test]
fn problems_come_back_as_the_table_check_prints_and_can_be_skipped() {
    let (_dir, htpasswd) = users();
    let server = start(&htpasswd, &[], &[]);
    let rosters = tempdir();
    let path = rosters.path().join("名簿.csv");
    std::fs::write(&path, cp932(BAD_ROSTER)).unwrap();
    let r = upload(&server, "名簿.csv", &cp932(BAD_ROSTER));
    assert_eq!(r.status(), 422);
    let page = r.text().unwrap();
    let rows = problem_rows(&page);
    // `mailconf check` on the same file: FILE:LINE: message, one line each.
    let want = common::check_findings(&path);
    assert_eq!(want.len(), 3, "{want:?}");
    assert_eq!(rows, want);
    assert_eq!(
        rows.iter().map(|(l, _)| l.as_str()).collect::<Vec<_>>(),
        ["3", "4", "5"]
    );
    assert!(page.contains("名簿.csv: 3 problems"), "the file is named");
    assert!(
        page.contains("name=\"skip_invalid\""),
        "the way on is offered"
    );
    assert!(page.contains("choose and send the same roster again"));
    // Skip and go on: the zip without the bad rows, as bundle --skip-invalid makes it.
    let r = upload_with(
        &server,
        "名簿.csv",
        &cp932(BAD_ROSTER),
        &fields(&[("skip_invalid", "on")]),
    );
    assert_eq!(r.status(), 200);
    let got = r.bytes().unwrap().to_vec();
    let (want, _out) = bundle(&path, "名簿", &["--skip-invalid"]);
    same_entries(&got, &want, "skipped");
    let names: Vec<String> = zip_entries(&got).into_iter().map(|(n, _)| n).collect();
    assert!(names.iter().any(|n| n.contains("hanako@kyoto-u.ac.jp")));
    assert!(!names.iter().any(|n| n.contains("example.com")));

    // A person a chosen format cannot carry (a name CP932 lacks, in a CP932 PRF) is a problem
    // at their line, as bundle says it.
    let roster = "氏名,メールアドレス\r\n山田 太郎,taro.yamada@kyoto-u.ac.jp\r\n絵文字 😀,emoji@kyoto-u.ac.jp\r\n";
    let path = rosters.path().join("emoji.csv");
    std::fs::write(&path, roster).unwrap();
    let cp932_prf = fields(&[("prf_encoding", "cp932")]);
    let r = upload_with(&server, "emoji.csv", roster.as_bytes(), &cp932_prf);
    assert_eq!(r.status(), 422);
    let rows = problem_rows(&r.text().unwrap());
    let out = mailconf()
        .arg("bundle")
        .arg(&path)
        .args(["--prf-encoding", "cp932", "-o"])
        .arg(rosters.path().join("never.zip"))
        .output()
        .unwrap();
    let stderr = String::from_utf8(out.stderr).unwrap();
    let first = stderr.lines().next().unwrap();
    assert_eq!(
        first,
        format!("{}:{}: {}", path.display(), rows[0].0, rows[0].1),
        "{stderr}"
    );
    assert_eq!(rows.len(), 1);
    let mut skip = cp932_prf.clone();
    skip.push(("skip_invalid".into(), "on".into()));
    let r = upload_with(&server, "emoji.csv", roster.as_bytes(), &skip);
    assert_eq!(r.status(), 200);
    let (want, _out) = bundle(
        &path,
        "emoji",
        &["--prf-encoding", "cp932", "--skip-invalid"],
    );
    same_entries(&r.bytes().unwrap(), &want, "skipped at render");

    // A roster that cannot go on (no address column) offers no skipping.
    let r = upload(&server, "x.csv", b"name,phone\r\nA,1\r\n");
    assert_eq!(r.status(), 422);
    let page = r.text().unwrap();
    assert!(page.contains("no address column"), "{page}");
    assert!(!page.contains("name=\"skip_invalid\""));
    // Nothing left once the bad rows are skipped.
    let r = upload_with(
        &server,
        "x.csv",
        b"email\r\nbad\r\n",
        &fields(&[("skip_invalid", "on")]),
    );
    assert_eq!(r.status(), 422);
    assert!(r.text().unwrap().contains("no valid person"));
}

#[test]
fn a_roster_of_many_bad_rows_gives_a_short_table() {
    let (_dir, htpasswd) = users();
    let server = start(&htpasswd, &[], &[]);
    let mut roster = String::from("email\r\n");
    for i in 0..200_000 {
        roster.push_str(&format!("bad{i}\r\n"));
    }
    let r = upload(&server, "bad.csv", roster.as_bytes());
    assert_eq!(r.status(), 422);
    let page = r.text().unwrap();
    assert!(page.len() < 200_000, "a {}-byte page", page.len());
    let rows = problem_rows(&page);
    assert_eq!(rows.len(), 300);
    assert_eq!(rows[0].0, "2");
    assert_eq!(rows[299].0, "301");
    assert!(
        page.contains("bad.csv: 200,000 problems"),
        "the total is said"
    );
    assert!(
        page.contains("199,700 more are not shown"),
        "and how many are not shown"
    );
    assert!(page.contains("mailconf check"));
    // Fewer than that: every row, and no such note.
    let r = upload(&server, "bad.csv", b"email\r\nbad\r\n");
    assert!(!r.text().unwrap().contains("not shown"));
}

#[test]
fn a_name_with_a_bidirectional_override_is_a_problem_at_its_line() {
    let (_dir, htpasswd) = users();
    let server = start(&htpasswd, &[], &[]);
    let roster = "氏名,メールアドレス\r\n山田 太郎,taro.yamada@kyoto-u.ac.jp\r\nevil\u{202E}gnp.exe,evil@kyoto-u.ac.jp\r\nok\u{2066}x\u{2069},iso@kyoto-u.ac.jp\r\n";
    let rosters = tempdir();
    let path = rosters.path().join("bidi.csv");
    std::fs::write(&path, roster).unwrap();
    let r = upload(&server, "bidi.csv", roster.as_bytes());
    assert_eq!(r.status(), 422);
    let rows = problem_rows(&r.text().unwrap());
    assert_eq!(
        rows,
        common::check_findings(&path),
        "as mailconf check says it"
    );
    assert_eq!(
        rows.iter().map(|(l, _)| l.as_str()).collect::<Vec<_>>(),
        ["3", "4"]
    );
    assert!(
        rows.iter().all(|(_, m)| m.contains("bidirectional")),
        "{rows:?}"
    );
    assert!(
        rows.iter()
            .all(|(_, m)| !m.contains('\u{202E}') && !m.contains('\u{2066}')),
        "the character itself is not shown: {rows:?}"
    );
}

/// The index's line that says what made the bundle and when.
fn index_meta(zip: &[u8]) -> String {
    let (_, index) = zip_entries(zip)
        .into_iter()
        .find(|(n, _)| n.ends_with("/index.html"))
        .expect("an index");
    let html = scraper::Html::parse_document(&String::from_utf8(index).unwrap());
    let meta = scraper::Selector::parse(".meta").unwrap();
    html.select(&meta).next().unwrap().text().collect()
}

#[test]
fn the_zip_is_dated_when_the_roster_was_sent_and_links_the_page() {
    let (_dir, htpasswd) = users();
    let file = htpasswd.to_str().unwrap();
    let public = "https://mail-setup.example.org";
    // No SOURCE_DATE_EPOCH: the zip is dated when the roster is sent, and says so.
    let server = Server::start_with(
        &["--admin-htpasswd", file, "--public-url", public],
        &[("SOURCE_DATE_EPOCH", "")],
    );
    let minute = |secs: u64| {
        let (y, mo, d, h, mi, _) = mailconf::bundle::zipstream::DosTime::from_unix(secs as i64)
            .unwrap()
            .parts();
        format!("{y:04}-{mo:02}-{d:02} {h:02}:{mi:02} UTC")
    };
    let now = || {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs()
    };
    let before = now();
    let r = client()
        .post(server.url("/admin/?lang=en"))
        .basic_auth(USER, Some(PASSWORD))
        .multipart({
            let mut form = Form::new().part(
                "roster",
                Part::bytes(ROSTER.as_bytes().to_vec()).file_name("dept.csv"),
            );
            for (name, value) in fields(&[]) {
                form = form.text(name, value);
            }
            form
        })
        .send()
        .unwrap();
    assert_eq!(r.status(), 200);
    let zip = r.bytes().unwrap().to_vec();
    let after = now();
    let meta = index_meta(&zip);
    assert!(
        meta.contains("when the roster was sent to the IT-staff page")
            && meta.contains("名簿が IT 担当者のページに送られた日時"),
        "{meta}"
    );
    assert!(
        meta.contains(&minute(before)) || meta.contains(&minute(after)),
        "{meta}"
    );
    assert!(!meta.contains("the roster file's time"), "{meta}");
    // --public-url alone puts the page in the zip: its address on the index, each person's in
    // their guide.
    let entries = zip_entries(&zip);
    let text_of = |suffix: &str| {
        String::from_utf8(
            entries
                .iter()
                .find(|(n, _)| n.ends_with(suffix))
                .unwrap()
                .1
                .clone(),
        )
        .unwrap()
    };
    assert!(text_of("/index.html").contains(&format!("{public}/")));
    assert!(
        text_of("/users/hanako@kyoto-u.ac.jp/README.html")
            .contains(&format!("{public}/?emailaddress=hanako%40kyoto-u.ac.jp"))
    );
    // With SOURCE_DATE_EPOCH, that date, said as such (the CLI says the same).
    let pinned = start(&htpasswd, &[], &[]);
    let meta = index_meta(
        &upload(&pinned, "dept.csv", ROSTER.as_bytes())
            .bytes()
            .unwrap(),
    );
    assert!(meta.contains("(SOURCE_DATE_EPOCH)"), "{meta}");
}

#[test]
fn per_person_zips_come_as_one_zip_of_them() {
    let (_dir, htpasswd) = users();
    let server = start(&htpasswd, &[], &[]);
    let rosters = tempdir();
    let path = rosters.path().join("dept.csv");
    std::fs::write(&path, ROSTER).unwrap();
    let r = upload_with(
        &server,
        "dept.csv",
        ROSTER.as_bytes(),
        &fields(&[("per_person", "on")]),
    );
    assert_eq!(r.status(), 200);
    assert!(
        header_of(&r, header::CONTENT_DISPOSITION).contains("filename=\"dept-per-person.zip\"")
    );
    let got = zip_entries(&r.bytes().unwrap());
    let (_, out) = bundle(&path, "dept", &["--per-person", "PER_PERSON"]);
    let people = out.path().join("people");
    let want = common::names_in(&people);
    assert_eq!(
        got.iter().map(|(n, _)| n.clone()).collect::<Vec<_>>(),
        want.iter()
            .map(|n| format!("dept-per-person/{n}"))
            .collect::<Vec<_>>()
    );
    assert_eq!(want.len(), 3);
    for ((name, bytes), file) in got.iter().zip(&want) {
        assert!(
            *bytes == std::fs::read(people.join(file)).unwrap(),
            "{name} differs from bundle --per-person's"
        );
    }
}

#[test]
fn an_upload_over_the_limit_gets_413() {
    let (_dir, htpasswd) = users();
    let server = start(&htpasswd, &[], &[]);
    let mut big = ROSTER.as_bytes().to_vec();
    big.resize(8 * 1024 * 1024 + 1, b'x');
    let r = upload(&server, "big.csv", &big);
    assert_eq!(r.status(), 413);
    assert!(r.text().unwrap().contains("at most 8 MB"));
    // Just under it is read (and refused for what it is).
    big.truncate(8 * 1024 * 1024);
    let r = upload(&server, "big.csv", &big);
    assert_eq!(r.status(), 422);
    // Far over it: refused from its declared length, before it is read.
    let huge = vec![b'x'; 40 * 1024 * 1024];
    let r = upload(&server, "huge.csv", &huge);
    assert_eq!(r.status(), 413);
    // The server is still there.
    assert_eq!(get_as(&server, "/admin/", USER, PASSWORD).status(), 200);
}

#[test]
fn a_post_from_another_origin_is_refused() {
    let (_dir, htpasswd) = users();
    let server = start(&htpasswd, &[], &[]);
    let form = || {
        let mut form =
            Form::new().part("roster", Part::bytes(ROSTER.as_bytes()).file_name("d.csv"));
        for (name, value) in fields(&[]) {
            form = form.text(name, value);
        }
        form
    };
    let post = |headers: &[(&str, &str)]| {
        let form = form();
        let mut request = client()
            .post(server.url("/admin/"))
            .basic_auth(USER, Some(PASSWORD))
            .multipart(form);
        for (k, v) in headers {
            request = request.header(*k, *v);
        }
        request.send().unwrap()
    };
    let lookalike = format!("{}.evil.example", server.base);
    for headers in [
        vec![("Origin", "https://evil.example")],
        vec![("Sec-Fetch-Site", "cross-site")],
        vec![("Sec-Fetch-Site", "same-site")],
        vec![("Origin", "null")],
        vec![
            ("Origin", "https://evil.example"),
            ("Sec-Fetch-Site", "cross-site"),
        ],
        vec![("Origin", lookalike.as_str())],
    ] {
        assert_eq!(post(&headers).status(), 403, "{headers:?}");
    }
    // From the page itself (or a client that sends neither header): taken.
    let own = server.base.clone();
    assert_eq!(post(&[("Origin", &own)]).status(), 200);
    assert_eq!(post(&[]).status(), 200);
    // With a public URL, the origin must be its own.
    let public = start(
        &htpasswd,
        &["--public-url", "https://mail-setup.example.org"],
        &[],
    );
    let post = |origin: &str| {
        let form = form();
        client()
            .post(public.url("/admin/"))
            .basic_auth(USER, Some(PASSWORD))
            .header("Origin", origin)
            .multipart(form)
            .send()
            .unwrap()
            .status()
    };
    assert_eq!(post("https://mail-setup.example.org"), 200);
    assert_eq!(post(&public.base), 403);
}

#[test]
fn nothing_of_an_upload_reaches_the_disk_or_the_log() {
    let (_dir, htpasswd) = users();
    // A temporary folder that does not exist: any temporary file would fail the upload.
    let gone = tempdir();
    let tmp = gone.path().join("no-such-folder");
    let server = start(&htpasswd, &[], &[("TMPDIR", tmp.to_str().unwrap())]);
    // The zips come whole: made as they are sent, a temporary file would cut them off.
    let r = upload(&server, "secret-dept.csv", ROSTER.as_bytes());
    assert_eq!(r.status(), 200, "{}", server.log().join("\n"));
    let zip = r.bytes().expect("the whole zip");
    assert_eq!(
        zip_entries(&zip).len(),
        3 * 7 + 7,
        "every person's files, publish/, index, manifest"
    );
    let r = upload_with(
        &server,
        "secret-dept.csv",
        ROSTER.as_bytes(),
        &fields(&[("per_person", "on")]),
    );
    assert_eq!(r.status(), 200);
    assert_eq!(zip_entries(&r.bytes().expect("the whole zip")).len(), 3);
    let r = upload(&server, "secret-dept.csv", BAD_ROSTER.as_bytes());
    assert_eq!(r.status(), 422);
    assert!(!tmp.exists());
    let log = server.access_log(3);
    assert_eq!(log.len(), 3, "{log:?}");
    for line in &log {
        assert!(line.starts_with("POST /admin/ "), "{line}");
    }
    // All of stderr but the line that says where the server listens.
    let all = server.log()[1..].join("\n");
    for secret in [
        "secret-dept",
        "taro",
        "yamada",
        "Smith",
        "山田",
        "hanako",
        "kyoto-u",
        "127.0.0.1",
        USER,
    ] {
        assert!(!all.contains(secret), "{secret} in the log:\n{all}");
    }
}
