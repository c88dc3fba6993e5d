//! Mozilla autoconfig (`config-v1.1.xml`) for Thunderbird.
//!
//! Rules (see `docs/formats.md`): UTF-8 without BOM; the preferred incoming server first
//! (order is preference); `OAuth2` before `password-cleartext`; exact lower-case server types
//! and `SSL`/`STARTTLS`/`plain` socket types; never a password.

use askama::Template;

use super::{Context, RenderError, SizeHint, render_template};
use crate::input::account::Account;
use crate::input::provider::{AuthMethod, Protocol, Provider, Security, Server};

/// The file name Thunderbird looks for.
pub const FILE_NAME: &str = "config-v1.1.xml";

/// Thunderbird's placeholder for the address the user typed.
pub const EMAIL_PLACEHOLDER: &str = "%EMAILADDRESS%";

#[derive(Template)]
#[template(path = "thunderbird/config-v1.1.xml")]
struct ConfigXml<'a> {
    id: &'a str,
    domains: Vec<&'a str>,
    display_name: &'a str,
    short_name: &'a str,
    incoming: Vec<ServerXml<'a>>,
    outgoing: ServerXml<'a>,
}

struct ServerXml<'a> {
    kind: &'static str,
    host: &'a str,
    port: u16,
    socket_type: &'static str,
    username: &'a str,
    authentication: Vec<&'static str>,
    pop: Option<PopXml>,
}

struct PopXml {
    leave_on_server: bool,
    days_on_server: Option<u16>,
}

/// Thunderbird's `socketType` for a security mode.
pub fn socket_type(security: Security) -> &'static str {
    match security {
        Security::Tls => "SSL",
        Security::Starttls => "STARTTLS",
        Security::Plain => "plain",
    }
}

/// Thunderbird's `authentication` value for a method.
pub fn authentication(method: AuthMethod) -> &'static str {
    match method {
        AuthMethod::Oauth2 => "OAuth2",
        AuthMethod::Password => "password-cleartext",
    }
}

/// Thunderbird's `incomingServer type` for a protocol.
pub fn server_type(protocol: Protocol) -> &'static str {
    match protocol {
        Protocol::Pop3 => "pop3",
        Protocol::Imap => "imap",
    }
}

fn server<'a>(
    kind: &'static str,
    server: &'a Server,
    username: &'a str,
    pop: Option<PopXml>,
) -> ServerXml<'a> {
    ServerXml {
        kind,
        host: server.host.as_str(),
        port: server.port.get(),
        socket_type: socket_type(server.security),
        username,
        authentication: server.auth.iter().map(authentication).collect(),
        pop,
    }
}

/// Renders the config with `username` as every server's username: an address for a per-user
/// file, [`EMAIL_PLACEHOLDER`] for the domain-wide one.
pub fn render(
    provider: &Provider,
    protocol: Protocol,
    username: &str,
) -> Result<Vec<u8>, RenderError> {
    let incoming_for = |p: Protocol| {
        let pop = (p == Protocol::Pop3).then(|| PopXml {
            leave_on_server: provider.pop.leave_on_server,
            days_on_server: provider.pop.days_on_server.map(|d| d.get()),
        });
        server(server_type(p), provider.incoming(p), username, pop)
    };
    let template = ConfigXml {
        id: provider.domains.primary().as_str(),
        domains: provider.domains.iter().map(|d| d.as_str()).collect(),
        display_name: provider.names.display_en.as_str(),
        short_name: provider.names.short.as_str(),
        incoming: vec![incoming_for(protocol), incoming_for(protocol.other())],
        outgoing: server("smtp", &provider.smtp, username, None),
    };
    static SIZE: SizeHint = SizeHint::new();
    render_template(&template, "the Thunderbird autoconfig file", &SIZE)
}

/// The per-user file: the account's address as username.
pub fn render_for(ctx: &Context<'_>, account: &Account) -> Result<Vec<u8>, RenderError> {
    render(ctx.provider, ctx.protocol, account.address.as_str())
}

/// The domain-wide file: `%EMAILADDRESS%` as username.
pub fn render_domain_wide(provider: &Provider, protocol: Protocol) -> Result<Vec<u8>, RenderError> {
    render(provider, protocol, EMAIL_PLACEHOLDER)
}
