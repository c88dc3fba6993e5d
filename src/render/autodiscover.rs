//! Outlook's "POX" Autodiscover response (MS-OXDSCLI, response schema 2006a), which Thunderbird
//! reads too: for one address, the preferred incoming server, the other one, then SMTP.
//!
//! Rules (see `docs/formats.md`, "Serving over HTTP"): `SPA` off (on means NTLM), the address as
//! `LoginName`. Security is said twice, as both clients read it: `SSL` on for implicit TLS and
//! for STARTTLS, and `Encryption` `SSL`, `TLS` (which is STARTTLS to Outlook) or `None`.
//! Thunderbird ignores `Encryption` unless it is `None`, takes `SSL` off as plain text and
//! otherwise infers STARTTLS from port 587: "SSL off + Encryption TLS", as automx2 writes for
//! STARTTLS, makes Thunderbird send in plain text. A request that cannot be answered gets the
//! schema's `Error` response.

use askama::Template;

use super::{RenderError, SizeHint, render_template};
use crate::input::account::Address;
use crate::input::provider::{Protocol, Provider, Security, Server};

/// The request namespace clients send, and the response schema they accept.
pub const REQUEST_NAMESPACE: &str =
    "http://schemas.microsoft.com/exchange/autodiscover/outlook/requestschema/2006";
pub const RESPONSE_SCHEMA: &str =
    "http://schemas.microsoft.com/exchange/autodiscover/outlook/responseschema/2006a";

#[derive(Template)]
#[template(path = "autodiscover/response.xml")]
struct ResponseXml<'a> {
    login: &'a str,
    protocols: Vec<ProtocolXml<'a>>,
}

struct ProtocolXml<'a> {
    kind: &'static str,
    host: &'a str,
    port: u16,
    ssl: bool,
    encryption: &'static str,
    smtp: bool,
}

/// `SSL` and `Encryption` for a security mode (see the module's notes).
pub fn ssl_and_encryption(security: Security) -> (bool, &'static str) {
    match security {
        Security::Tls => (true, "SSL"),
        Security::Starttls => (true, "TLS"),
        Security::Plain => (false, "None"),
    }
}

fn protocol<'a>(kind: &'static str, server: &'a Server, smtp: bool) -> ProtocolXml<'a> {
    let (ssl, encryption) = ssl_and_encryption(server.security);
    ProtocolXml {
        kind,
        host: server.host.as_str(),
        port: server.port.get(),
        ssl,
        encryption,
        smtp,
    }
}

fn kind(protocol: Protocol) -> &'static str {
    match protocol {
        Protocol::Pop3 => "POP3",
        Protocol::Imap => "IMAP",
    }
}

/// The settings for `address`, the incoming protocol `preferred` first.
pub fn render(
    provider: &Provider,
    preferred: Protocol,
    address: &Address,
) -> Result<Vec<u8>, RenderError> {
    let other = preferred.other();
    let template = ResponseXml {
        login: address.as_str(),
        protocols: vec![
            protocol(kind(preferred), provider.incoming(preferred), false),
            protocol(kind(other), provider.incoming(other), false),
            protocol("SMTP", &provider.smtp, true),
        ],
    };
    static SIZE: SizeHint = SizeHint::new();
    render_template(&template, "the Autodiscover response", &SIZE)
}

/// Why a request gets the schema's `Error` response (MS-OXDSCLI 2.2.4.1.1.3.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorCode {
    /// 500: the address is not one this server configures.
    NotFound,
    /// 600: the request is not a well-formed Autodiscover request.
    InvalidRequest,
    /// 601: the client accepts no response schema this server writes.
    UnsupportedSchema,
}

impl ErrorCode {
    pub fn code(self) -> u16 {
        match self {
            ErrorCode::NotFound => 500,
            ErrorCode::InvalidRequest => 600,
            ErrorCode::UnsupportedSchema => 601,
        }
    }

    pub fn message(self) -> &'static str {
        match self {
            ErrorCode::NotFound => "The email address cannot be found.",
            ErrorCode::InvalidRequest => "Invalid Request",
            ErrorCode::UnsupportedSchema => {
                "The Autodiscover server was unable to provide configuration information of the requested type."
            }
        }
    }
}

#[derive(Template)]
#[template(path = "autodiscover/error.xml")]
struct ErrorXml {
    code: u16,
    message: &'static str,
}

/// The `Error` response for `code`.
pub fn render_error(code: ErrorCode) -> Result<Vec<u8>, RenderError> {
    static SIZE: SizeHint = SizeHint::new();
    render_template(
        &ErrorXml {
            code: code.code(),
            message: code.message(),
        },
        "the Autodiscover error response",
        &SIZE,
    )
}
