//! Domain-wide files to publish: autoconfig on the web and on lab PCs, and DNS SRV records.

use askama::Template;

use super::{Artifact, RenderError, SizeHint, render_template, thunderbird};
use crate::input::provider::{Protocol, Provider, Security, Server};

/// Where the autoconfig file goes on `autoconfig.DOMAIN`.
pub const AUTOCONFIG_PATH: &str = "mail/config-v1.1.xml";
/// Where the autoconfig file goes on the domain's own web server.
pub const WELL_KNOWN_PATH: &str = ".well-known/autoconfig/mail/config-v1.1.xml";
/// The README that says where each file goes.
pub const README_PATH: &str = "README.txt";

#[derive(Template)]
#[template(path = "publish/README.txt", escape = "none")]
struct Readme<'a> {
    short_name: &'a str,
    domains: Vec<&'a str>,
    protocol: &'static str,
    /// The mail is at Google: unpublished, Thunderbird offers its Gmail entry.
    google: bool,
}

#[derive(Template)]
#[template(path = "publish/domain.zone", escape = "none")]
struct Zone<'a> {
    domain: &'a str,
    records: Vec<SrvRecord<'a>>,
    /// The records include Outlook's `_autodiscover` (a comment says what it is).
    autodiscover: bool,
}

/// One RFC 6186 SRV record; `target` "." with port 0 says "not offered".
struct SrvRecord<'a> {
    service: &'static str,
    priority: u16,
    weight: u16,
    port: u16,
    target: &'a str,
}

/// The publish files, with paths relative to the publish folder.
pub fn files(provider: &Provider, protocol: Protocol) -> Result<Vec<Artifact>, RenderError> {
    let config = thunderbird::render_domain_wide(provider, protocol)?;
    let mut files = vec![
        Artifact {
            path: README_PATH.into(),
            // With a byte-order mark: Notepad on older Windows reads a file without one in
            // the ANSI code page, and the README is Japanese and English.
            bytes: [
                &b"\xEF\xBB\xBF"[..],
                &render_template(
                    &Readme {
                        short_name: provider.names.short.as_str(),
                        domains: provider.domains.iter().map(|d| d.as_str()).collect(),
                        protocol: thunderbird::server_type(protocol),
                        google: provider.google_workspace,
                    },
                    "the publish README",
                    &SizeHint::new(),
                )?,
            ]
            .concat(),
        },
        Artifact {
            path: AUTOCONFIG_PATH.into(),
            bytes: config.clone(),
        },
        Artifact {
            path: WELL_KNOWN_PATH.into(),
            bytes: config.clone(),
        },
    ];
    for domain in provider.domains.iter() {
        files.push(Artifact {
            path: format!("isp/{domain}.xml"),
            bytes: config.clone(),
        });
    }
    for domain in provider.domains.iter() {
        let records = srv_records(provider, protocol);
        let zone = Zone {
            domain: domain.as_str(),
            autodiscover: records.iter().any(|r| r.service == "_autodiscover"),
            records,
        };
        files.push(Artifact {
            path: format!("dns/{domain}.zone"),
            bytes: render_template(&zone, "the DNS zone fragment", &SizeHint::new())?,
        });
    }
    Ok(files)
}

/// SRV records per RFC 6186 (and RFC 8314 for implicit TLS): the preferred protocol gets the
/// lower priority value; the service names a server does not offer point at ".".
fn srv_records(provider: &Provider, protocol: Protocol) -> Vec<SrvRecord<'_>> {
    let mut records = vec![];
    let smtp = &provider.smtp;
    records.push(offered(
        if smtp.security == Security::Tls {
            "_submissions"
        } else {
            "_submission"
        },
        0,
        smtp,
    ));
    for (p, tls_name, plain_name) in [
        (Protocol::Imap, "_imaps", "_imap"),
        (Protocol::Pop3, "_pop3s", "_pop3"),
    ] {
        let server = provider.incoming(p);
        let priority = if p == protocol { 0 } else { 10 };
        let (used, unused) = if server.security == Security::Tls {
            (tls_name, plain_name)
        } else {
            (plain_name, tls_name)
        };
        records.push(offered(used, priority, server));
        records.push(SrvRecord {
            service: unused,
            priority: 0,
            weight: 0,
            port: 0,
            target: ".",
        });
    }
    // Outlook's last resort (Microsoft's SRV lookup): the server that answers Autodiscover, when
    // the provider file names mailconf serve's address.
    if let Some(url) = &provider.serve.public_url {
        let (host, port) = host_and_port(url.as_str());
        records.push(SrvRecord {
            service: "_autodiscover",
            priority: 0,
            weight: 0,
            port,
            target: host,
        });
    }
    records
}

/// The host and port (443 unless given) of an `https://` URL.
fn host_and_port(url: &str) -> (&str, u16) {
    let rest = url.strip_prefix("https://").unwrap_or(url);
    let authority = rest.split(['/', '?', '#']).next().unwrap_or(rest);
    match authority.split_once(':') {
        Some((host, port)) => (host, port.parse().unwrap_or(443)),
        None => (authority, 443),
    }
}

fn offered<'a>(service: &'static str, priority: u16, server: &'a Server) -> SrvRecord<'a> {
    SrvRecord {
        service,
        priority,
        weight: 1,
        port: server.port.get(),
        target: server.host.as_str(),
    }
}
