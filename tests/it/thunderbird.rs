//! Thunderbird autoconfig and publish files, parsed back with quick-xml and compared with the
//! provider model.

use crate::common;

use common::{ServerBlock, parse_autoconfig};
use mailconf::input::account::{Account, Address, DisplayName};
use mailconf::input::provider::{AuthMethod, Protocol, Provider, Security, Server};
use mailconf::render::{Context, Format, publish, thunderbird};

fn account(address: &str, name: Option<&str>) -> Account {
    Account {
        address: Address::parse(address).unwrap(),
        name: name.map(|n| DisplayName::parse(n).unwrap().unwrap()),
    }
}

/// The block the model says a server should produce, spelled as Thunderbird spells it.
fn expected_block(
    kind: &str,
    server: &Server,
    username: &str,
) -> (String, String, String, String, String, Vec<String>) {
    let socket = match server.security {
        Security::Tls => "SSL",
        Security::Starttls => "STARTTLS",
        Security::Plain => "plain",
    };
    let auth = server
        .auth
        .iter()
        .map(|m| match m {
            AuthMethod::Oauth2 => "OAuth2".to_string(),
            AuthMethod::Password => "password-cleartext".to_string(),
        })
        .collect();
    (
        kind.into(),
        server.host.to_string(),
        server.port.to_string(),
        socket.into(),
        username.into(),
        auth,
    )
}

fn block(b: &ServerBlock) -> (String, String, String, String, String, Vec<String>) {
    (
        b.kind.clone(),
        b.hostname.clone(),
        b.port.clone(),
        b.socket_type.clone(),
        b.username.clone(),
        b.authentication.clone(),
    )
}

#[test]
fn per_user_file_matches_the_model_pop_first() {
    let provider = Provider::kumail();
    let ctx = Context::new(&provider, None);
    let acct = account("Taro.Yamada@kyoto-u.ac.jp", Some("山田 太郎"));
    let bytes = Format::Thunderbird.render(&ctx, &acct).unwrap();
    let parsed = parse_autoconfig(&bytes);
    let user = "taro.yamada@kyoto-u.ac.jp";

    assert_eq!(parsed.version, "1.1");
    assert_eq!(parsed.provider_id, "kyoto-u.ac.jp");
    assert_eq!(parsed.domains, vec!["kyoto-u.ac.jp"]);
    assert_eq!(parsed.display_name, provider.names.display_en.as_str());
    assert_eq!(parsed.display_short_name, "KUMail");
    assert_eq!(parsed.incoming.len(), 2);
    assert_eq!(
        block(&parsed.incoming[0]),
        expected_block("pop3", &provider.incoming.pop3, user)
    );
    assert_eq!(
        block(&parsed.incoming[1]),
        expected_block("imap", &provider.incoming.imap, user)
    );
    assert_eq!(parsed.outgoing.len(), 1);
    assert_eq!(
        block(&parsed.outgoing[0]),
        expected_block("smtp", &provider.smtp, user)
    );
    assert_eq!(
        parsed.incoming[0].pop3,
        vec![
            ("leaveMessagesOnServer".to_string(), "true".to_string()),
            ("downloadOnBiff".to_string(), "true".to_string())
        ]
    );
    assert!(parsed.incoming[1].pop3.is_empty());
    assert!(!parsed.elements.iter().any(|e| e == "password"));
    assert!(bytes.ends_with(b"\n"));

    // The documented KUMail values, spelled out once, independently of the provider file.
    assert_eq!(
        block(&parsed.incoming[0]),
        (
            "pop3".into(),
            "pop.gmail.com".into(),
            "995".into(),
            "SSL".into(),
            user.into(),
            vec!["OAuth2".into(), "password-cleartext".into()]
        )
    );
    assert_eq!(
        (
            parsed.outgoing[0].hostname.as_str(),
            parsed.outgoing[0].port.as_str(),
            parsed.outgoing[0].socket_type.as_str()
        ),
        ("smtp.gmail.com", "587", "STARTTLS")
    );
}

#[test]
fn imap_first_when_asked() {
    let provider = Provider::kumail();
    let ctx = Context::new(&provider, Some(Protocol::Imap));
    let bytes = Format::Thunderbird
        .render(&ctx, &account("a@kyoto-u.ac.jp", None))
        .unwrap();
    let parsed = parse_autoconfig(&bytes);
    let kinds: Vec<&str> = parsed.incoming.iter().map(|b| b.kind.as_str()).collect();
    assert_eq!(kinds, ["imap", "pop3"]);
    assert_eq!(parsed.incoming[0].hostname, "imap.gmail.com");
}

#[test]
fn domain_wide_file_uses_the_placeholder_and_days_option() {
    let toml = mailconf::input::provider::KUMAIL_TOML
        .replace("# days_on_server = 14", "days_on_server = 14")
        .replace(
            "domains = [\"kyoto-u.ac.jp\"]",
            "domains = [\"kyoto-u.ac.jp\", \"st.kyoto-u.ac.jp\"]",
        );
    let provider = Provider::from_toml(&toml, std::path::Path::new("p.toml")).unwrap();
    let bytes = thunderbird::render_domain_wide(&provider, Protocol::Pop3).unwrap();
    let parsed = parse_autoconfig(&bytes);
    assert_eq!(parsed.domains, vec!["kyoto-u.ac.jp", "st.kyoto-u.ac.jp"]);
    for b in parsed.incoming.iter().chain(&parsed.outgoing) {
        assert_eq!(b.username, "%EMAILADDRESS%");
    }
    assert_eq!(
        parsed.incoming[0].pop3,
        vec![
            ("leaveMessagesOnServer".to_string(), "true".to_string()),
            ("daysToLeaveMessagesOnServer".to_string(), "14".to_string()),
            ("downloadOnBiff".to_string(), "true".to_string())
        ]
    );

    let files = publish::files(&provider, Protocol::Pop3).unwrap();
    let paths: Vec<&str> = files.iter().map(|f| f.path.as_str()).collect();
    assert_eq!(
        paths,
        [
            "README.txt",
            "mail/config-v1.1.xml",
            ".well-known/autoconfig/mail/config-v1.1.xml",
            "isp/kyoto-u.ac.jp.xml",
            "isp/st.kyoto-u.ac.jp.xml",
            "dns/kyoto-u.ac.jp.zone",
            "dns/st.kyoto-u.ac.jp.zone",
        ]
    );
    for f in files.iter().filter(|f| f.path.ends_with(".xml")) {
        assert_eq!(f.bytes, bytes, "{} is the domain-wide file", f.path);
    }
}

/// Parses the SRV lines of a zone fragment: (owner, priority, weight, port, target).
fn srv_lines(zone: &str) -> Vec<(String, u16, u16, u16, String)> {
    zone.lines()
        .filter(|l| !l.starts_with(';') && !l.trim().is_empty())
        .map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            assert_eq!(f.len(), 8, "{l}");
            assert_eq!((f[1], f[2], f[3]), ("3600", "IN", "SRV"), "{l}");
            (
                f[0].to_string(),
                f[4].parse().unwrap(),
                f[5].parse().unwrap(),
                f[6].parse().unwrap(),
                f[7].to_string(),
            )
        })
        .collect()
}

#[test]
fn zone_has_rfc6186_records_preferring_the_chosen_protocol() {
    let provider = Provider::kumail();
    for (protocol, pop_priority, imap_priority) in
        [(Protocol::Pop3, 0, 10), (Protocol::Imap, 10, 0)]
    {
        let files = publish::files(&provider, protocol).unwrap();
        let zone = files
            .iter()
            .find(|f| f.path == "dns/kyoto-u.ac.jp.zone")
            .unwrap();
        let mut lines = srv_lines(std::str::from_utf8(&zone.bytes).unwrap());
        lines.sort();
        assert_eq!(
            lines,
            vec![
                ("_imap._tcp.kyoto-u.ac.jp.".into(), 0, 0, 0, ".".into()),
                (
                    "_imaps._tcp.kyoto-u.ac.jp.".into(),
                    imap_priority,
                    1,
                    993,
                    "imap.gmail.com.".into()
                ),
                ("_pop3._tcp.kyoto-u.ac.jp.".into(), 0, 0, 0, ".".into()),
                (
                    "_pop3s._tcp.kyoto-u.ac.jp.".into(),
                    pop_priority,
                    1,
                    995,
                    "pop.gmail.com.".into()
                ),
                (
                    "_submission._tcp.kyoto-u.ac.jp.".into(),
                    0,
                    1,
                    587,
                    "smtp.gmail.com.".into()
                ),
            ]
        );
    }
}

/// With the server's public URL in the provider file, the zone also points Outlook's SRV lookup
/// (`_autodiscover._tcp`) at it, the port included when the URL has one; without, no such record.
#[test]
fn zone_points_outlook_at_the_public_server() {
    use mailconf::input::provider::KUMAIL_TOML;
    for (url, port) in [
        ("https://mail-setup.kyoto-u.ac.jp", 443),
        ("https://mail-setup.kyoto-u.ac.jp:8443/setup/", 8443),
    ] {
        let toml = KUMAIL_TOML.replace(
            "# public_url = \"https://mail-setup.kyoto-u.ac.jp\"",
            &format!("public_url = \"{url}\""),
        );
        assert_ne!(toml, KUMAIL_TOML);
        let provider = Provider::from_toml(&toml, std::path::Path::new("test.toml")).unwrap();
        let files = publish::files(&provider, Protocol::Pop3).unwrap();
        let zone = files
            .iter()
            .find(|f| f.path == "dns/kyoto-u.ac.jp.zone")
            .unwrap();
        let text = std::str::from_utf8(&zone.bytes).unwrap();
        let lines = srv_lines(text);
        let autodiscover: Vec<_> = lines
            .iter()
            .filter(|l| l.0.starts_with("_autodiscover."))
            .collect();
        assert_eq!(
            autodiscover,
            [&(
                "_autodiscover._tcp.kyoto-u.ac.jp.".to_string(),
                0,
                0,
                port,
                "mail-setup.kyoto-u.ac.jp.".to_string()
            )],
            "{text}"
        );
        // The other records are the ones without it.
        assert_eq!(lines.len(), 6, "{text}");
        assert!(text.contains("; _autodiscover: Outlook's"), "{text}");
    }
    let files = publish::files(&Provider::kumail(), Protocol::Pop3).unwrap();
    let zone = files
        .iter()
        .find(|f| f.path == "dns/kyoto-u.ac.jp.zone")
        .unwrap();
    assert!(
        !std::str::from_utf8(&zone.bytes)
            .unwrap()
            .contains("autodiscover")
    );
}

#[test]
fn every_format_renders_for_a_hostile_name_and_keeps_structure() {
    let provider = Provider::kumail();
    let ctx = Context::new(&provider, None);
    let hostile = account(
        "x@kyoto-u.ac.jp",
        Some("&<>\"' ]]> <password>p</password> 山田 😀 = [x]"),
    );
    let plain = account("x@kyoto-u.ac.jp", Some("plain"));
    for &format in Format::ALL {
        let a = format.render(&ctx, &hostile).unwrap();
        let b = format.render(&ctx, &plain).unwrap();
        if format == Format::Thunderbird {
            let (pa, pb) = (parse_autoconfig(&a), parse_autoconfig(&b));
            assert_eq!(pa, pb, "a name must not change the autoconfig structure");
        }
    }
}
