//! `mailconf serve` over real HTTP: the real binary on an ephemeral port, a real client
//! (reqwest). Every endpoint, every file type, both languages, signed and unsigned, HTTPS with a
//! certificate the test makes; served bytes compared with `mailconf profile`; hostile requests;
//! a stop on SIGTERM that lets a request in flight finish.

use crate::common;

use std::collections::BTreeMap;
use std::io::{Cursor, Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use common::server::{Server, client};
use common::{mailconf, parse_autoconfig, tempdir};
use quick_xml::Reader;
use quick_xml::events::Event;
use reqwest::blocking::Response;
use reqwest::header;

const ADDRESS: &str = "taro.yamada@kyoto-u.ac.jp";
const NAME: &str = "山田 太郎";
const PUBLIC: &str = "https://mail-setup.example.org";

/// What `mailconf profile ADDRESS --format FORMAT [ARGS]` prints.
fn profile(format: &str, args: &[&str]) -> Vec<u8> {
    let out = mailconf()
        .args(["profile", ADDRESS, "--format", format])
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

fn get(url: &str) -> Response {
    client().get(url).send().unwrap()
}

fn header_of(r: &Response, name: header::HeaderName) -> String {
    r.headers()
        .get(name)
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default()
}

fn enc(s: &str) -> String {
    mailconf::render::guide::percent_encode(s)
}

#[test]
fn thunderbird_gets_the_files_profile_writes() {
    let server = Server::start(&["--public-url", PUBLIC]);
    for path in [
        "/mail/config-v1.1.xml",
        "/.well-known/autoconfig/mail/config-v1.1.xml",
    ] {
        let r = get(&server.url(&format!(
            "{path}?emailaddress={}",
            enc("Taro.Yamada@kyoto-u.ac.jp")
        )));
        assert_eq!(r.status(), 200, "{path}");
        // Thunderbird parses text/xml, application/xml or text/rdf only.
        assert_eq!(
            header_of(&r, header::CONTENT_TYPE),
            "text/xml; charset=utf-8"
        );
        assert_eq!(
            r.bytes().unwrap().to_vec(),
            profile("thunderbird", &[]),
            "{path}"
        );
        // Without the address: the domain-wide file, as published.
        let r = get(&server.url(path));
        assert_eq!(r.status(), 200);
        let body = r.bytes().unwrap().to_vec();
        let published = parse_autoconfig(&body);
        assert_eq!(published.incoming[0].username, "%EMAILADDRESS%");
        assert_eq!(published.incoming[0].kind, "pop3");
    }
    // --protocol imap puts IMAP first, as profile --protocol imap does.
    let imap = Server::start(&["--protocol", "imap"]);
    let r = get(&imap.url(&format!("/mail/config-v1.1.xml?emailaddress={ADDRESS}")));
    assert_eq!(
        r.bytes().unwrap().to_vec(),
        profile("thunderbird", &["--protocol", "imap"])
    );
}

/// The `Protocol` blocks (element → text) and the error code of a POX response, read with
/// quick-xml.
fn read_pox(body: &[u8]) -> (Vec<BTreeMap<String, String>>, Option<String>) {
    let mut reader = Reader::from_reader(body);
    let mut path: Vec<String> = Vec::new();
    let mut protocols = Vec::new();
    let mut error = None;
    let mut buf = Vec::new();
    loop {
        match reader.read_event_into(&mut buf).unwrap() {
            Event::Start(e) => {
                let name = e.local_name().as_ref().to_string();
                if name == "Protocol" {
                    protocols.push(BTreeMap::new());
                }
                path.push(name);
            }
            Event::End(_) => {
                path.pop();
            }
            Event::Text(t) => {
                let text = t.xml10_content().into_owned();
                match path.as_slice() {
                    [.., p, leaf] if p == "Protocol" => {
                        protocols.last_mut().unwrap().insert(leaf.clone(), text);
                    }
                    [.., leaf] if leaf == "ErrorCode" => error = Some(text),
                    _ => {}
                }
            }
            Event::Eof => break,
            _ => {}
        }
        buf.clear();
    }
    (protocols, error)
}

/// The socket type Thunderbird derives from a POX protocol block (its ExchangeAutoDiscover
/// reading, `docs/formats.md`): Encryption counts only when it is None; SSL off is plain;
/// otherwise port 587 means STARTTLS and anything else SSL.
fn thunderbird_socket(p: &BTreeMap<String, String>) -> &'static str {
    if p.get("Encryption").is_some_and(|e| e == "None") || p.get("SSL").is_some_and(|s| s == "off")
    {
        "plain"
    } else if p["Port"] == "587" {
        "STARTTLS"
    } else {
        "SSL"
    }
}

/// The security Outlook derives: Encryption overrides SSL (TLS is STARTTLS).
fn outlook_security(p: &BTreeMap<String, String>) -> &'static str {
    match p.get("Encryption").map(String::as_str) {
        Some("TLS") => "STARTTLS",
        Some("SSL") => "SSL",
        Some("None") => "plain",
        _ if p["SSL"] == "off" => "plain",
        _ => "SSL",
    }
}

#[test]
fn outlook_gets_pox_autodiscover_that_both_clients_read_right() {
    let server = Server::start(&[]);
    for path in [
        "/autodiscover/autodiscover.xml",
        "/Autodiscover/Autodiscover.xml",
        "/AutoDiscover/AutoDiscover.xml",
    ] {
        let r = client()
            .post(server.url(path))
            .header(header::CONTENT_TYPE, "text/xml")
            .body(common::pox_request("Taro.Yamada@Kyoto-U.ac.jp"))
            .send()
            .unwrap();
        assert_eq!(r.status(), 200, "{path}");
        assert_eq!(
            header_of(&r, header::CONTENT_TYPE),
            "text/xml; charset=utf-8"
        );
        let (protocols, error) = read_pox(&r.bytes().unwrap());
        assert_eq!(error, None);
        let kinds: Vec<&str> = protocols.iter().map(|p| p["Type"].as_str()).collect();
        assert_eq!(
            kinds,
            ["POP3", "IMAP", "SMTP"],
            "the preferred incoming server first"
        );
        for p in &protocols {
            assert_eq!(p["LoginName"], ADDRESS);
            assert_eq!(p["SPA"], "off", "SPA on means NTLM");
            assert_eq!(p["AuthRequired"], "on");
        }
        let pop = &protocols[0];
        assert_eq!(
            (pop["Server"].as_str(), pop["Port"].as_str()),
            ("pop.gmail.com", "995")
        );
        assert_eq!(
            (thunderbird_socket(pop), outlook_security(pop)),
            ("SSL", "SSL")
        );
        let smtp = &protocols[2];
        assert_eq!(
            (smtp["Server"].as_str(), smtp["Port"].as_str()),
            ("smtp.gmail.com", "587")
        );
        // STARTTLS on 587 comes out as STARTTLS in both clients, never as plain text.
        assert_eq!(
            (thunderbird_socket(smtp), outlook_security(smtp)),
            ("STARTTLS", "STARTTLS")
        );
        assert_eq!(smtp["UsePOPAuth"], "on");
    }
    // What it cannot answer: the schema's Error response, not an HTTP error.
    for (body, code) in [
        (common::pox_request("someone@example.com"), "500"),
        (common::pox_request("not an address"), "600"),
        ("not xml at all".to_string(), "600"),
        (String::new(), "600"),
        (
            "<!DOCTYPE a [<!ENTITY e SYSTEM \"file:///etc/passwd\">]><Autodiscover><Request><EMailAddress>&e;</EMailAddress></Request></Autodiscover>".to_string(),
            "600",
        ),
        (
            common::pox_request(ADDRESS).replace("outlook/responseschema/2006a", "mobilesync/responseschema/2006"),
            "601",
        ),
    ] {
        let r = client()
            .post(server.url("/autodiscover/autodiscover.xml"))
            .body(body.clone())
            .send()
            .unwrap();
        assert_eq!(r.status(), 200, "{body:.60}");
        let (protocols, error) = read_pox(&r.bytes().unwrap());
        assert!(protocols.is_empty());
        assert_eq!(error.as_deref(), Some(code), "{body:.60}");
    }
    // GET is not how Autodiscover asks.
    assert_eq!(
        get(&server.url("/autodiscover/autodiscover.xml")).status(),
        405
    );
}

#[test]
fn newer_outlook_is_sent_to_the_public_url() {
    let with = Server::start(&["--public-url", PUBLIC]);
    let url = format!("/autodiscover/autodiscover.json?Email={ADDRESS}&Protocol=AutodiscoverV1");
    let r = get(&with.url(&url));
    assert_eq!(r.status(), 200);
    assert_eq!(header_of(&r, header::CONTENT_TYPE), "application/json");
    let value: serde_json::Value = serde_json::from_slice(&r.bytes().unwrap()).unwrap();
    assert_eq!(
        value,
        serde_json::json!({
            "Protocol": "AutodiscoverV1",
            "Url": format!("{PUBLIC}/autodiscover/autodiscover.xml"),
        })
    );
    // The case of the path does not matter; the Host header never makes a URL.
    let r = client()
        .get(with.url(&url.replace("autodiscover/autodiscover", "AutoDiscover/AutoDiscover")))
        .header(header::HOST, "evil.example")
        .send()
        .unwrap();
    assert!(r.text().unwrap().contains(PUBLIC));
    assert_eq!(
        get(&with
            .url("/autodiscover/autodiscover.json?Email=a@example.com&Protocol=AutodiscoverV1"))
        .status(),
        404
    );
    assert_eq!(
        get(&with.url(&format!(
            "/autodiscover/autodiscover.json?Email={ADDRESS}&Protocol=Ews"
        )))
        .status(),
        400
    );
    // Without --public-url there is no URL to give: 404, and Outlook tries its next way.
    let without = Server::start(&[]);
    assert_eq!(get(&without.url(&url)).status(), 404);
}

#[test]
fn apple_devices_get_the_profile_by_automx2s_route() {
    let server = Server::start(&[]);
    let r = get(&server.url(&format!(
        "/mobileconfig/?emailaddress={ADDRESS}&name={}",
        enc(NAME)
    )));
    assert_eq!(r.status(), 200);
    assert_eq!(
        header_of(&r, header::CONTENT_TYPE),
        "application/x-apple-aspen-config"
    );
    assert_eq!(
        header_of(&r, header::CONTENT_DISPOSITION),
        format!("attachment; filename=\"{ADDRESS}.mobileconfig\"")
    );
    assert_eq!(
        r.bytes().unwrap().to_vec(),
        profile("apple", &["--name", NAME])
    );
    // Without a name, the profile has none; kind=google is the Google sign-in profile.
    let r = get(&server.url(&format!("/mobileconfig?emailaddress={ADDRESS}")));
    assert_eq!(r.bytes().unwrap().to_vec(), profile("apple", &[]));
    let r = get(&server.url(&format!(
        "/mobileconfig/?emailaddress={ADDRESS}&kind=google"
    )));
    assert_eq!(
        header_of(&r, header::CONTENT_DISPOSITION),
        format!("attachment; filename=\"{ADDRESS}-google.mobileconfig\"")
    );
    assert_eq!(r.bytes().unwrap().to_vec(), profile("apple-google", &[]));
    // A name is validated as a roster's.
    let r = get(&server.url(&format!("/mobileconfig/?emailaddress={ADDRESS}&name=a%0Ab")));
    assert_eq!(r.status(), 400);
    assert!(r.text().unwrap().contains("control character"));
}

#[test]
fn every_file_of_the_folder_is_served_by_its_bundle_name() {
    let server = Server::start(&[]);
    let files = [
        (
            "config-v1.1.xml",
            "thunderbird",
            "text/xml; charset=utf-8",
            false,
        ),
        ("README.html", "guide", "text/html; charset=utf-8", false),
        (
            &*format!("{ADDRESS}.mobileconfig"),
            "apple",
            "application/x-apple-aspen-config",
            true,
        ),
        (
            &*format!("{ADDRESS}-google.mobileconfig"),
            "apple-google",
            "application/x-apple-aspen-config",
            true,
        ),
        (
            &*format!("{ADDRESS}.prf"),
            "outlook-prf",
            "application/octet-stream",
            true,
        ),
        (
            &*format!("{ADDRESS}.reg"),
            "outlook-reg",
            "application/octet-stream",
            true,
        ),
        (
            &*format!("{ADDRESS}-outlook.cmd"),
            "outlook-cmd",
            "application/octet-stream",
            true,
        ),
    ];
    for (file, format, kind, attachment) in files {
        let r = get(&server.url(&format!("/files/{ADDRESS}/{file}?name={}", enc(NAME))));
        assert_eq!(r.status(), 200, "{file}");
        assert_eq!(header_of(&r, header::CONTENT_TYPE), kind, "{file}");
        let disposition = header_of(&r, header::CONTENT_DISPOSITION);
        if attachment {
            assert_eq!(disposition, format!("attachment; filename=\"{file}\""));
        } else {
            assert_eq!(disposition, "");
        }
        assert_eq!(
            r.bytes().unwrap().to_vec(),
            profile(format, &["--name", NAME]),
            "{file}"
        );
    }
    // The person's folder alone, as in the bundle.
    let dir = tempdir();
    let roster = dir.path().join("one.csv");
    std::fs::write(&roster, format!("name,email\n{NAME},{ADDRESS}\n")).unwrap();
    let bundle = common::bundle_entries(&roster, &dir.path().join("one.zip"));
    let r = get(&server.url(&format!("/files/{ADDRESS}.zip?name={}", enc(NAME))));
    assert_eq!(r.status(), 200);
    assert_eq!(header_of(&r, header::CONTENT_TYPE), "application/zip");
    assert_eq!(
        header_of(&r, header::CONTENT_DISPOSITION),
        format!("attachment; filename=\"{ADDRESS}.zip\"")
    );
    let served = entries_of(&r.bytes().unwrap());
    let folder: BTreeMap<String, Vec<u8>> = bundle
        .into_iter()
        .filter_map(|(n, b)| Some((n.strip_prefix("one/users/")?.to_string(), b)))
        .collect();
    assert_eq!(served, folder);
    // Anything else under /files/: 404; a bad address: 4xx.
    for (path, status) in [
        (format!("/files/{ADDRESS}/other.txt"), 404),
        (format!("/files/{ADDRESS}/a/b"), 404),
        (format!("/files/{ADDRESS}"), 404),
        ("/files/someone@example.com/README.html".to_string(), 404),
        ("/files/not-an-address/README.html".to_string(), 400),
    ] {
        assert_eq!(get(&server.url(&path)).status(), status, "{path}");
    }
}

#[test]
fn signed_profiles_when_started_with_a_key() {
    let files = common::pki::SignFiles::new();
    let cert = files.path("cert.pem");
    let key = files.path("key.pem");
    let server = Server::start(&[
        "--sign-cert",
        cert.to_str().unwrap(),
        "--sign-key",
        key.to_str().unwrap(),
    ]);
    for (query, format) in [("", "apple"), ("&kind=google", "apple-google")] {
        let r = get(&server.url(&format!(
            "/mobileconfig/?emailaddress={ADDRESS}&name={}{query}",
            enc(NAME)
        )));
        assert_eq!(r.status(), 200);
        let signed = r.bytes().unwrap().to_vec();
        // The same profile, embedded byte for byte in a CMS SignedData; only the signature's
        // time differs from one signing to the next.
        use der::Decode;
        let info = cms::content_info::ContentInfo::from_der(&signed).expect("DER CMS");
        let sd: cms::signed_data::SignedData = info.content.decode_as().unwrap();
        let content = sd
            .encap_content_info
            .econtent
            .unwrap()
            .decode_as::<der::asn1::OctetString>()
            .unwrap()
            .into_bytes();
        assert_eq!(content.to_vec(), profile(format, &["--name", NAME]));
        assert_eq!(sd.signer_infos.0.len(), 1);
    }
}

#[test]
fn https_with_the_servers_own_certificate() {
    let dir = tempdir();
    let anchor = common::pki::tls_files_now(dir.path());
    let cert = dir.path().join("tls-cert.pem");
    let key = dir.path().join("tls-key.pem");
    let server = Server::start(&[
        "--tls-cert",
        cert.to_str().unwrap(),
        "--tls-key",
        key.to_str().unwrap(),
    ]);
    assert!(server.base.starts_with("https://"), "{}", server.base);
    let https = reqwest::blocking::Client::builder()
        .tls_certs_only([reqwest::Certificate::from_pem(anchor.as_bytes()).unwrap()])
        .build()
        .unwrap();
    let base = format!("https://localhost:{}", server.port);
    let r = https
        .get(format!(
            "{base}/mail/config-v1.1.xml?emailaddress={ADDRESS}"
        ))
        .send()
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.bytes().unwrap().to_vec(), profile("thunderbird", &[]));
    let r = https
        .post(format!("{base}/autodiscover/autodiscover.xml"))
        .body(common::pox_request(ADDRESS))
        .send()
        .unwrap();
    assert_eq!(read_pox(&r.bytes().unwrap()).0.len(), 3);
    // Plain HTTP on the TLS port gets nothing.
    assert!(
        client()
            .get(format!("http://127.0.0.1:{}/healthz", server.port))
            .send()
            .is_err()
    );
}

#[test]
fn mistakes_are_reported_before_listening() {
    let dir = tempdir();
    let now = std::time::SystemTime::now();
    let day = Duration::from_secs(86_400);
    common::pki::tls_files(dir.path(), now - 60 * day, now - 30 * day);
    let expired = dir.path().join("tls-cert.pem");
    let expired_key = dir.path().join("tls-key.pem");
    let other = tempdir();
    common::pki::tls_files_now(other.path());
    let good_cert = other.path().join("tls-cert.pem");
    let bad_provider = dir.path().join("p.toml");
    std::fs::write(
        &bad_provider,
        mailconf::input::provider::KUMAIL_TOML.replace("port = 995", "port = 0"),
    )
    .unwrap();
    let garbage = dir.path().join("garbage.pem");
    std::fs::write(&garbage, "not a certificate\n").unwrap();
    let s = |p: &std::path::Path| p.to_str().unwrap().to_string();
    let cases: Vec<(Vec<String>, String)> = vec![
        (
            vec!["--provider".into(), s(&bad_provider)],
            format!("{}:", bad_provider.display()),
        ),
        (
            vec![
                "--tls-cert".into(),
                s(&expired),
                "--tls-key".into(),
                s(&expired_key),
            ],
            "not now: renew it".into(),
        ),
        (
            vec![
                "--tls-cert".into(),
                s(&good_cert),
                "--tls-key".into(),
                s(&expired_key),
            ],
            "does not go with the certificate".into(),
        ),
        (
            vec![
                "--tls-cert".into(),
                s(&garbage),
                "--tls-key".into(),
                s(&expired_key),
            ],
            format!("{}: holds no certificate", garbage.display()),
        ),
        (
            vec![
                "--tls-cert".into(),
                s(&dir.path().join("missing.pem")),
                "--tls-key".into(),
                s(&expired_key),
            ],
            "cannot read the TLS certificate".into(),
        ),
        (
            vec![
                "--sign-cert".into(),
                s(&good_cert),
                "--sign-key".into(),
                s(&garbage),
            ],
            garbage.display().to_string(),
        ),
    ];
    for (args, message) in cases {
        let out = mailconf()
            .args(["serve", "--listen", "127.0.0.1:0"])
            .args(&args)
            .timeout(Duration::from_secs(30))
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {stderr}");
        assert!(stderr.contains(&message), "{args:?}: {stderr}");
        assert!(!stderr.contains("serving on"), "{args:?}: it listened");
    }
    // A port in use.
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    let out = mailconf()
        .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
        .timeout(Duration::from_secs(30))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("choose another with --listen"));
}

#[test]
fn the_self_service_page_speaks_the_persons_language_and_device() {
    let server = Server::start(&[]);
    let page = |path: &str, lang: &str, agent: &str| -> (u16, String) {
        let r = client()
            .get(server.url(path))
            .header(header::ACCEPT_LANGUAGE, lang)
            .header(header::USER_AGENT, agent)
            .send()
            .unwrap();
        let status = r.status().as_u16();
        assert!(
            header_of(&r, header::CONTENT_SECURITY_POLICY).contains("default-src 'none'"),
            "{path}"
        );
        (status, r.text().unwrap())
    };
    let iphone =
        "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) Mobile/15E148 Safari/604.1";
    let windows = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) Chrome/130.0";
    // The form, in the browser's language.
    let (status, ja) = page("/", "ja,en;q=0.5", windows);
    assert_eq!(status, 200);
    let html = common::html::parse(ja.as_bytes());
    assert_eq!(html.root_element().value().attr("lang"), Some("ja"));
    assert!(ja.contains("メールアドレス") && ja.contains("name=\"emailaddress\""));
    let (_, en) = page("/", "en-US,en;q=0.9", windows);
    assert!(en.contains("lang=\"en\"") && en.contains("Mail address"));
    let (_, switched) = page("/?lang=en", "ja", windows);
    assert!(switched.contains("Mail address"));

    // The person's guide: one language, the device's section first, links to this server.
    let (status, guide) = page(
        &format!("/?emailaddress={ADDRESS}&name={}", enc(NAME)),
        "en",
        iphone,
    );
    assert_eq!(status, 200);
    let html = common::html::parse(guide.as_bytes());
    let sections: Vec<&str> = html
        .select(&common::html::sel("section[lang]"))
        .map(|s| s.value().attr("lang").unwrap())
        .collect();
    assert_eq!(sections, ["en"]);
    let devices: Vec<&str> = html
        .select(&common::html::sel("h2[id]"))
        .map(|h| h.value().id().unwrap())
        .filter(|id| {
            [
                "en-ios",
                "en-android",
                "en-mac",
                "en-outlook",
                "en-thunderbird",
            ]
            .contains(id)
        })
        .collect();
    assert_eq!(devices[0], "en-ios");
    assert!(
        !guide.contains("Extract"),
        "nothing to extract on a web page"
    );
    let google = format!(
        "/files/{ADDRESS}/{ADDRESS}-google.mobileconfig?name={}",
        enc(NAME)
    );
    assert!(
        guide.contains(&format!("href=\"{}\"", google.replace('&', "&amp;"))),
        "{google}"
    );
    // One tap on it is the profile, as Safari wants it.
    let r = get(&server.url(&google));
    assert_eq!(
        header_of(&r, header::CONTENT_TYPE),
        "application/x-apple-aspen-config"
    );
    // Every link to a file of this server answers 200.
    for a in html.select(&common::html::sel("a[href^='/files/']")) {
        let href = a.value().attr("href").unwrap();
        assert_eq!(get(&server.url(href)).status(), 200, "{href}");
    }
    // Japanese on Windows: Outlook first; the switch leads to the other language.
    let (_, guide) = page(&format!("/?emailaddress={ADDRESS}"), "ja", windows);
    let html = common::html::parse(guide.as_bytes());
    let first = html
        .select(&common::html::sel("h2[id]"))
        .map(|h| h.value().id().unwrap())
        .find(|id| {
            [
                "ja-ios",
                "ja-android",
                "ja-mac",
                "ja-outlook",
                "ja-thunderbird",
            ]
            .contains(id)
        });
    assert_eq!(first, Some("ja-outlook"));
    let switch: Vec<&str> = html
        .select(&common::html::sel("nav a[href]"))
        .map(|a| a.value().attr("href").unwrap())
        .collect();
    assert_eq!(switch, [format!("/?emailaddress={}&lang=en", enc(ADDRESS))]);
    // Nothing about other people: the page names this address only.
    assert!(!guide.contains("hanako"));

    // Refusals in the page's language, the typed values kept (as text).
    let (status, refused) = page("/?emailaddress=someone%40example.com", "ja", windows);
    assert_eq!(status, 404);
    assert!(
        refused.contains("kyoto-u.ac.jp のアドレスだけです"),
        "{refused}"
    );
    let (status, refused) = page("/?emailaddress=%3Cb%3Ex&lang=en", "ja", windows);
    assert_eq!(status, 400);
    assert!(refused.contains("Check the address"));
    let form = common::html::parse(refused.as_bytes());
    let typed: Vec<&str> = form
        .select(&common::html::sel("input#emailaddress"))
        .map(|i| i.value().attr("value").unwrap())
        .collect();
    assert_eq!(typed, ["<b>x"], "kept, as text");
    assert_eq!(form.select(&common::html::sel("b")).count(), 0);
    let (status, refused) = page(
        &format!("/?emailaddress={ADDRESS}&name=a%0Ab"),
        "en",
        windows,
    );
    assert_eq!(status, 400);
    assert!(refused.contains("Check the name"));
}

#[test]
fn hostile_requests_get_a_4xx_quickly_and_leave_the_server_healthy() {
    let server = Server::start(&[]);
    let started = Instant::now();
    // A body over the limit: 413.
    let huge = "x".repeat(1024 * 1024);
    let r = client()
        .post(server.url("/autodiscover/autodiscover.xml"))
        .body(huge)
        .send()
        .unwrap();
    assert_eq!(r.status(), 413);
    // Odd paths and encodings, markup and newlines in every parameter.
    let long = "a".repeat(8000);
    let cases: Vec<String> = vec![
        "/../../etc/passwd".into(),
        "/files/..%2F..%2Fetc%2Fpasswd".into(),
        "/files/%00/README.html".into(),
        "/files/%ff%fe@kyoto-u.ac.jp/README.html".into(),
        format!("/files/{long}@kyoto-u.ac.jp/README.html"),
        format!("/{long}"),
        "/mail/config-v1.1.xml?emailaddress=%3Cscript%3E%40kyoto-u.ac.jp".into(),
        "/mail/config-v1.1.xml?emailaddress=a%0D%0AX-Injected:%201%40kyoto-u.ac.jp".into(),
        format!(
            "/mobileconfig/?emailaddress={ADDRESS}&name=%3C%2Fstring%3E%0A%3Ckey%3EIncomingPassword"
        ),
        format!("/mobileconfig/?emailaddress={ADDRESS}&kind=%3Cx%3E"),
        "/autodiscover/autodiscover.json?Email=%22%7D%2C%7B&Protocol=AutodiscoverV1".into(),
        "/?emailaddress=a%40kyoto-u.ac.jp&name=%E2%80%AEa%0Ab".into(),
        "/?emailaddress=%C0%AF%40kyoto-u.ac.jp".into(),
    ];
    for path in &cases {
        let r = get(&server.url(path));
        let status = r.status().as_u16();
        assert!((400..500).contains(&status), "{path:.80}: {status}");
        assert!(r.headers().get("x-injected").is_none());
        let kind = header_of(&r, header::CONTENT_TYPE);
        assert!(
            kind.starts_with("text/plain")
                || kind.starts_with("text/html")
                || kind.starts_with("application/json"),
            "{path:.80}: {kind}"
        );
    }
    // Markup in a name is data: the profile carries it as text, and gains no key.
    let r = get(&server.url(&format!(
        "/mobileconfig/?emailaddress={ADDRESS}&name=%3C%2Fstring%3E%3Ckey%3EIncomingPassword%3C%2Fkey%3E"
    )));
    assert_eq!(r.status(), 200);
    let plist = plist::Value::from_reader_xml(Cursor::new(r.bytes().unwrap())).unwrap();
    let payload = plist.as_dictionary().unwrap()["PayloadContent"]
        .as_array()
        .unwrap()[0]
        .as_dictionary()
        .unwrap()
        .clone();
    assert_eq!(
        payload["EmailAccountName"].as_string(),
        Some("</string><key>IncomingPassword</key>")
    );
    assert!(!payload.contains_key("IncomingPassword"));
    // Methods that are not served.
    assert_eq!(
        client().delete(server.url("/")).send().unwrap().status(),
        405
    );
    assert_eq!(
        client()
            .put(server.url("/mail/config-v1.1.xml"))
            .send()
            .unwrap()
            .status(),
        405
    );
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "{:?}",
        started.elapsed()
    );

    // Slow clients that never finish their headers: the server keeps answering others, and
    // closes them after its header timeout.
    let slow: Vec<TcpStream> = (0..50)
        .map(|_| {
            let mut s = TcpStream::connect(("127.0.0.1", server.port)).unwrap();
            s.write_all(b"GET / HTTP/1.1\r\nHost: x\r\nX-Slow: ")
                .unwrap();
            s
        })
        .collect();
    assert_eq!(get(&server.url("/healthz")).status(), 200);
    // Answered while they hang: every one of them is still open.
    for s in &slow {
        s.set_nonblocking(true).unwrap();
        let mut byte = [0u8; 1];
        let open =
            matches!((&*s).read(&mut byte), Err(e) if e.kind() == std::io::ErrorKind::WouldBlock);
        assert!(
            open,
            "a slow client was answered or closed before /healthz was answered"
        );
        s.set_nonblocking(false).unwrap();
    }
    let mut first = slow.into_iter().next().unwrap();
    first
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    let t = Instant::now();
    let mut buf = [0u8; 512];
    let _ = first.read(&mut buf);
    assert!(
        t.elapsed() < Duration::from_secs(15),
        "the slow client was not dropped"
    );
    assert_eq!(get(&server.url("/healthz")).status(), 200);
    let log = server.access_log(cases.len());
    assert!(
        log.iter().all(|l| !l.contains('@') && !l.contains('?')),
        "{log:?}"
    );
}

#[test]
fn one_log_line_per_request_without_addresses() {
    let server = Server::start(&[]);
    get(&server.url(&format!(
        "/files/{ADDRESS}/{ADDRESS}.prf?name={}",
        enc(NAME)
    )));
    get(&server.url(&format!("/?emailaddress={ADDRESS}")));
    get(&server.url("/healthz"));
    let log = server.access_log(3);
    assert_eq!(log.len(), 3, "{log:?}");
    let fields: Vec<Vec<&str>> = log.iter().map(|l| l.split(' ').collect()).collect();
    assert_eq!(
        fields[0][..4],
        ["GET", "/files/ADDRESS/ADDRESS.prf", "200", fields[0][3]]
    );
    assert!(fields[0][3].parse::<u64>().unwrap() > 1000, "bytes");
    assert!(fields[0][4].ends_with("ms"), "time");
    assert_eq!(fields[1][..3], ["GET", "/", "200"]);
    assert_eq!(fields[2][..3], ["GET", "/healthz", "200"]);
    for line in &log {
        assert!(!line.contains("taro") && !line.contains('@') && !line.contains("yamada"));
    }
    // --quiet writes none.
    let quiet = Server::start(&["--quiet"]);
    get(&quiet.url("/healthz"));
    assert!(quiet.access_log(1).is_empty());
}

#[test]
fn a_stop_signal_lets_requests_in_flight_finish() {
    for signal in [libc::SIGTERM, libc::SIGINT] {
        let server = Server::start(&[]);
        let port = server.port;
        // A request whose body arrives slowly, in flight when the signal comes.
        let (sent_half, half_sent) = std::sync::mpsc::channel();
        let in_flight = common::raw::slow_pox(port, Duration::from_millis(1500), sent_half);
        half_sent.recv().unwrap();
        let (status, log) = server.stop_with(signal);
        let (answer, _) = in_flight.join().unwrap();
        assert!(answer.starts_with("HTTP/1.1 200"), "{answer:.200}");
        assert!(answer.contains("<Type>SMTP</Type>"));
        assert_eq!(status.code(), Some(0), "{log:?}");
        assert!(log.iter().any(|l| l == "mailconf: stopped"));
        // And it no longer listens.
        assert!(TcpStream::connect(("127.0.0.1", port)).is_err());
    }
}

#[test]
fn a_body_that_never_comes_gets_408() {
    let server = Server::start(&[]);
    let mut s = TcpStream::connect(("127.0.0.1", server.port)).unwrap();
    s.write_all(
        b"POST /autodiscover/autodiscover.xml HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n<Auto",
    )
    .unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let t = Instant::now();
    let mut answer = [0u8; 64];
    let n = s.read(&mut answer).unwrap();
    assert!(
        answer[..n].starts_with(b"HTTP/1.1 408"),
        "{}",
        String::from_utf8_lossy(&answer[..n])
    );
    assert!(t.elapsed() < Duration::from_secs(15));
    assert_eq!(get(&server.url("/healthz")).status(), 200);
}

/// Every entry of a zip: name → bytes.
fn entries_of(bytes: &[u8]) -> BTreeMap<String, Vec<u8>> {
    common::zip_entries(bytes).into_iter().collect()
}

/// Sends `request` (whole, raw) on a connection of its own; the answer, read to its end.
fn raw(server: &Server, request: &str) -> String {
    let mut s = TcpStream::connect(("127.0.0.1", server.port)).unwrap();
    s.write_all(request.as_bytes()).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let mut answer = Vec::new();
    let _ = s.read_to_end(&mut answer);
    String::from_utf8_lossy(&answer).into_owned()
}

#[test]
fn requests_http_does_not_allow_get_400() {
    let server = Server::start(&[]);
    // HTTP/1.1 names its host once.
    let status = |answer: &str| answer.get(9..12).unwrap_or("").to_string();
    for request in [
        "GET /healthz HTTP/1.1\r\nConnection: close\r\n\r\n",
        "GET /healthz HTTP/1.1\r\nHost: a\r\nHost: b\r\nConnection: close\r\n\r\n",
        "GET /healthz HTTP/1.0\r\nHost: a\r\nHost: b\r\n\r\n",
    ] {
        let answer = raw(&server, request);
        assert_eq!(status(&answer), "400", "{request:?}: {answer}");
        assert!(answer.contains("Host header"), "{answer}");
    }
    // HTTP/1.0 may leave it out.
    let answer = raw(&server, "GET /healthz HTTP/1.0\r\n\r\n");
    assert_eq!(status(&answer), "200", "{answer}");
    // %XX escapes that are not UTF-8, in any parameter: 400, not U+FFFD.
    for path in [
        "/mail/config-v1.1.xml?emailaddress=taro%FF%40kyoto-u.ac.jp".to_string(),
        format!("/mobileconfig/?emailaddress={ADDRESS}&name=%FF"),
        format!("/mobileconfig/?emailaddress={ADDRESS}&name=a%C0%AFb"),
        format!("/?emailaddress={ADDRESS}&name=%E5%B1"),
        format!("/files/{ADDRESS}/README.html?name=%FE"),
        "/files/taro%FF@kyoto-u.ac.jp/README.html".to_string(),
        format!("/autodiscover/autodiscover.json?Email={ADDRESS}&Protocol=%FF"),
        "/autodiscover/autodiscover.json/v1.0/taro%C3@kyoto-u.ac.jp?Protocol=AutodiscoverV1"
            .to_string(),
        "/healthz?x=%FF".to_string(),
    ] {
        let r = get(&server.url(&path));
        assert_eq!(r.status(), 400, "{path}");
        assert!(r.text().unwrap().contains("not UTF-8"), "{path}");
    }
    // The same names, well encoded, are fine.
    let r = get(&server.url(&format!(
        "/mobileconfig/?emailaddress={ADDRESS}&name={}",
        enc(NAME)
    )));
    assert_eq!(r.status(), 200);
}

#[test]
fn names_with_bidirectional_overrides_are_refused() {
    let server = Server::start(&[]);
    for c in ["%E2%80%AE", "%E2%80%AA", "%E2%81%A6", "%E2%81%A9"] {
        for path in [
            format!("/mobileconfig/?emailaddress={ADDRESS}&name=abc{c}def"),
            format!("/files/{ADDRESS}/README.html?name=abc{c}def"),
        ] {
            let r = get(&server.url(&path));
            assert_eq!(r.status(), 400, "{path}");
            assert!(r.text().unwrap().contains("bidirectional"), "{path}");
        }
        let r = client()
            .get(server.url(&format!("/?emailaddress={ADDRESS}&name=abc{c}def&lang=en")))
            .send()
            .unwrap();
        assert_eq!(r.status(), 400);
        assert!(r.text().unwrap().contains("Check the name"));
    }
}

#[test]
fn head_gives_gets_header_fields_and_length() {
    let server = Server::start(&["--public-url", PUBLIC]);
    let name = enc(NAME);
    for path in [
        "/healthz".to_string(),
        "/".to_string(),
        format!("/?emailaddress={ADDRESS}&name={name}"),
        format!("/mail/config-v1.1.xml?emailaddress={ADDRESS}"),
        format!("/mobileconfig/?emailaddress={ADDRESS}&name={name}"),
        format!("/files/{ADDRESS}/README.html?name={name}"),
        format!("/files/{ADDRESS}/{ADDRESS}.prf?name={name}"),
        format!("/files/{ADDRESS}.zip?name={name}"),
        format!("/autodiscover/autodiscover.json?Email={ADDRESS}&Protocol=AutodiscoverV1"),
        "/files/nobody@example.com/README.html".to_string(),
    ] {
        let got = get(&server.url(&path));
        let head = client().head(server.url(&path)).send().unwrap();
        assert_eq!(head.status(), got.status(), "{path}");
        let fields = |r: &Response| -> BTreeMap<String, String> {
            r.headers()
                .iter()
                .filter(|(k, _)| *k != header::DATE)
                .map(|(k, v)| (k.to_string(), v.to_str().unwrap().to_string()))
                .collect()
        };
        let (get_fields, head_fields) = (fields(&got), fields(&head));
        let body = got.bytes().unwrap();
        assert_eq!(head_fields, get_fields, "{path}");
        assert_eq!(
            head_fields.get("content-length"),
            Some(&body.len().to_string()),
            "{path}"
        );
        assert!(head.bytes().unwrap().is_empty(), "{path}");
    }
}

#[test]
fn pox_addresses_are_read_as_xml_writes_them() {
    let server = Server::start(&[]);
    let ask = |address: &str| {
        let r = client()
            .post(server.url("/autodiscover/autodiscover.xml"))
            .body(common::pox_request(address))
            .send()
            .unwrap();
        assert_eq!(r.status(), 200);
        read_pox(&r.bytes().unwrap())
    };
    for written in [
        "taro.yamada&#64;kyoto-u.ac.jp",
        "taro.yamada&#x40;Kyoto-U.ac.jp",
        "<![CDATA[taro.yamada@kyoto-u.ac.jp]]>",
        "taro.yamada<![CDATA[@]]>kyoto-u.ac.jp",
    ] {
        let (protocols, error) = ask(written);
        assert_eq!(error, None, "{written}");
        assert_eq!(protocols.len(), 3, "{written}");
        assert!(
            protocols.iter().all(|p| p["LoginName"] == ADDRESS),
            "{written}"
        );
    }
    // An entity of its own is still refused.
    assert_eq!(
        ask("taro.yamada&at;kyoto-u.ac.jp").1.as_deref(),
        Some("600")
    );
}

#[test]
fn an_address_escaped_twice_never_reaches_the_log() {
    let server = Server::start(&[]);
    for path in [
        "/files/taro.yamada%2540kyoto-u.ac.jp/README.html",
        "/files/taro.yamada%252540kyoto-u.ac.jp.zip",
        "/taro.yamada%2540kyoto-u.ac.jp",
        "/autodiscover/autodiscover.json/v1.0/taro.yamada%2540kyoto-u.ac.jp?Protocol=AutodiscoverV1",
    ] {
        let status = get(&server.url(path)).status().as_u16();
        assert!((400..500).contains(&status), "{path}: {status}");
    }
    let log = server.access_log(4);
    assert_eq!(log.len(), 4, "{log:?}");
    for line in &log {
        assert!(line.contains("ADDRESS"), "{line}");
        assert!(
            !line.contains("yamada") && !line.contains("kyoto-u"),
            "{line}"
        );
    }
}

#[test]
fn outlook_s_json_path_form_is_answered_as_the_query_form() {
    let server = Server::start(&["--public-url", PUBLIC]);
    let want = serde_json::json!({
        "Protocol": "AutodiscoverV1",
        "Url": format!("{PUBLIC}/autodiscover/autodiscover.xml"),
    });
    for path in [
        format!("/autodiscover/autodiscover.json/v1.0/{ADDRESS}?Protocol=AutodiscoverV1"),
        "/autodiscover/autodiscover.json/v1.0/Taro.Yamada%40Kyoto-U.ac.jp?protocol=autodiscoverv1"
            .to_string(),
        format!("/AutoDiscover/AutoDiscover.json/V1.0/{ADDRESS}?Protocol=AutodiscoverV1"),
        format!("/autodiscover/autodiscover.json?Email={ADDRESS}&Protocol=AutodiscoverV1"),
    ] {
        let r = get(&server.url(&path));
        assert_eq!(r.status(), 200, "{path}");
        assert_eq!(header_of(&r, header::CONTENT_TYPE), "application/json");
        let value: serde_json::Value = serde_json::from_slice(&r.bytes().unwrap()).unwrap();
        assert_eq!(value, want, "{path}");
    }
    // Refusals as the query form's, in JSON; a longer path is no route.
    let json_type = "application/json";
    for (path, status, kind) in [
        (
            "/autodiscover/autodiscover.json/v1.0/a@example.com?Protocol=AutodiscoverV1"
                .to_string(),
            404,
            json_type,
        ),
        (
            format!("/autodiscover/autodiscover.json/v1.0/{ADDRESS}?Protocol=Ews"),
            400,
            json_type,
        ),
        (
            format!("/autodiscover/autodiscover.json/v1.0/{ADDRESS}"),
            400,
            json_type,
        ),
        (
            "/autodiscover/autodiscover.json/v1.0/not-an-address?Protocol=AutodiscoverV1"
                .to_string(),
            400,
            json_type,
        ),
        (
            format!("/autodiscover/autodiscover.json/v1.0/{ADDRESS}/x?Protocol=AutodiscoverV1"),
            404,
            "text/plain; charset=utf-8",
        ),
    ] {
        let r = get(&server.url(&path));
        assert_eq!(r.status(), status, "{path}");
        assert_eq!(header_of(&r, header::CONTENT_TYPE), kind, "{path}");
    }
    let r = client()
        .post(server.url(&format!(
            "/autodiscover/autodiscover.json/v1.0/{ADDRESS}?Protocol=AutodiscoverV1"
        )))
        .send()
        .unwrap();
    assert_eq!(r.status(), 405);
    let log = server.access_log(11);
    assert!(
        log.iter()
            .any(|l| l.starts_with("GET /autodiscover/autodiscover.json/v1.0/ADDRESS 200")),
        "{log:?}"
    );
    assert!(log.iter().all(|l| !l.contains("yamada")), "{log:?}");
    // Without --public-url there is no URL to give, as for the query form.
    let without = Server::start(&[]);
    let path = format!("/autodiscover/autodiscover.json/v1.0/{ADDRESS}?Protocol=AutodiscoverV1");
    assert_eq!(get(&without.url(&path)).status(), 404);
}

#[test]
fn the_public_url_option_puts_the_page_in_the_served_guides() {
    // --public-url alone, no [serve] public_url in the provider: the guides link each person's
    // page and show its QR code, as a bundle's with the provider's public_url do.
    let server = Server::start(&["--public-url", PUBLIC]);
    let page = format!("{PUBLIC}/?emailaddress={}&name={}", enc(ADDRESS), enc(NAME));
    let links = |html: &str| -> Vec<String> {
        common::html::parse(html.as_bytes())
            .select(&common::html::sel("a[href]"))
            .map(|a| a.value().attr("href").unwrap().to_string())
            .collect()
    };
    let r = get(&server.url(&format!("/files/{ADDRESS}/README.html?name={}", enc(NAME))));
    assert_eq!(r.status(), 200);
    let guide = r.text().unwrap();
    assert!(links(&guide).contains(&page), "the person's page is linked");
    let codes = common::html::parse(guide.as_bytes())
        .select(&common::html::sel(".qr img"))
        .count();
    assert!(codes > 0, "with its QR code");
    let zip = get(&server.url(&format!("/files/{ADDRESS}.zip?name={}", enc(NAME))))
        .bytes()
        .unwrap();
    let readme = entries_of(&zip)
        .into_iter()
        .find(|(n, _)| n.ends_with("README.html"))
        .unwrap()
        .1;
    assert!(links(&String::from_utf8(readme).unwrap()).contains(&page));
    // Without it, none.
    let plain = Server::start(&[]);
    let guide = get(&plain.url(&format!("/files/{ADDRESS}/README.html")))
        .text()
        .unwrap();
    assert!(
        !guide.contains("/?emailaddress="),
        "no page without a public URL"
    );
}
