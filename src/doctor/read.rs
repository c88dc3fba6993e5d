//! Reading what a lookup answered, as the client reads it, into the provider's terms (host,
//! port, [`Security`], [`AuthMethod`]): Mozilla autoconfig (Thunderbird's `readFromXML`), Outlook's
//! POX Autodiscover (as Outlook and as Thunderbird read it) and the `autodiscover.json` redirect.
//!
//! XML is read with quick-xml, elements by local name; a document type declaration or an entity
//! reference is refused, so nothing is ever expanded.

use quick_xml::Reader;
use quick_xml::events::{BytesStart, Event};

use crate::input::provider::{AuthMethod, Security};

/// A server as a client takes it from an answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Seen {
    /// "pop3", "imap", "smtp" (or another type an answer gave).
    pub kind: String,
    pub host: String,
    pub port: u16,
    pub security: Security,
    pub auth: Auth,
    /// The username as written (`%EMAILADDRESS%`, an address…), when the answer has one.
    pub username: Option<String>,
}

/// How a client will sign in to a server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Auth {
    Method(AuthMethod),
    /// Another way, named as the answer names it ("password-encrypted", "NTLM (SPA on)"…).
    Other(String),
}

/// What a client takes from an answer: the incoming server it offers first, then the others,
/// and the outgoing server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Offer {
    pub incoming: Vec<Seen>,
    pub outgoing: Seen,
}

impl Offer {
    /// The first incoming server: the one the client offers (Thunderbird preselects it).
    pub fn first_incoming(&self) -> &Seen {
        &self.incoming[0]
    }
}

/// An XML element, kept small: its local name, `type` attribute, text and children.
#[derive(Debug, Default)]
struct Element {
    name: String,
    kind: Option<String>,
    text: String,
    children: Vec<Element>,
}

impl Element {
    fn child(&self, name: &str) -> Option<&Element> {
        self.children.iter().find(|c| c.name == name)
    }

    fn all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a Element> + 'a {
        self.children.iter().filter(move |c| c.name == name)
    }

    fn text_of(&self, name: &str) -> Option<&str> {
        self.child(name).map(|c| c.text.trim())
    }
}

/// Parses `bytes` into its root element; an error says why it is not XML a client reads.
fn parse_xml(bytes: &[u8]) -> Result<Element, String> {
    let text = std::str::from_utf8(bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes))
        .map_err(|_| "it is not UTF-8 text".to_string())?;
    let mut reader = Reader::from_str(text);
    let mut stack: Vec<Element> = vec![Element::default()];
    let open = |e: &BytesStart<'_>| Element {
        name: e.local_name().as_ref().to_string(),
        kind: e.try_get_attribute("type").ok().flatten().and_then(|a| {
            a.normalized_value(quick_xml::XmlVersion::Implicit1_0)
                .ok()
                .map(|v| v.into_owned())
        }),
        ..Element::default()
    };
    loop {
        match reader.read_event() {
            Ok(Event::Start(e)) => {
                if stack.len() > 32 {
                    return Err("its elements are nested too deeply".into());
                }
                stack.push(open(&e));
            }
            Ok(Event::Empty(e)) => {
                let element = open(&e);
                if let Some(parent) = stack.last_mut() {
                    parent.children.push(element);
                }
            }
            Ok(Event::End(_)) => {
                let Some(done) = stack.pop() else {
                    return Err("it is not well-formed XML".into());
                };
                match stack.last_mut() {
                    Some(parent) => parent.children.push(done),
                    None => return Err("it is not well-formed XML".into()),
                }
            }
            Ok(Event::Text(t)) => {
                if let Some(current) = stack.last_mut() {
                    current.text.push_str(&t.xml10_content());
                }
            }
            Ok(Event::CData(t)) => {
                if let Some(current) = stack.last_mut() {
                    current.text.push_str(&t);
                }
            }
            Ok(Event::GeneralRef(r)) => {
                // The five predefined entities and character references only.
                let name = r.to_string();
                let resolved = match name.as_str() {
                    "lt" => Some('<'),
                    "gt" => Some('>'),
                    "amp" => Some('&'),
                    "apos" => Some('\''),
                    "quot" => Some('"'),
                    _ => r.resolve_char_ref().ok().flatten(),
                };
                match (resolved, stack.last_mut()) {
                    (Some(c), Some(current)) => current.text.push(c),
                    _ => return Err(format!("it refers to an unknown entity &{name};")),
                }
            }
            Ok(Event::DocType(_)) => {
                return Err("it has a document type declaration (<!DOCTYPE …>)".into());
            }
            Ok(Event::Eof) => break,
            Ok(_) => {}
            Err(e) => return Err(format!("it is not well-formed XML ({e})")),
        }
    }
    if stack.len() != 1 {
        return Err("it is not well-formed XML (an element is not closed)".into());
    }
    let mut document = stack.pop().unwrap_or_default();
    match document.children.len() {
        1 => Ok(document.children.remove(0)),
        0 => Err("it is empty".into()),
        _ => Err("it has more than one root element".into()),
    }
}

/// Reads a Mozilla autoconfig file as Thunderbird 153's `readFromXML` does: the first usable
/// `incomingServer` is offered first, the first usable `outgoingServer` is used; a server
/// whose type, host, port, socket type or authentication Thunderbird cannot use is skipped.
pub fn autoconfig(bytes: &[u8]) -> Result<Offer, String> {
    let root = parse_xml(bytes)?;
    if root.name != "clientConfig" {
        return Err(format!(
            "its root element is <{}>, not <clientConfig>",
            root.name
        ));
    }
    let provider = root
        .child("emailProvider")
        .ok_or("it has no <emailProvider>")?;
    if !provider
        .all("domain")
        .any(|d| crate::input::account::is_domain_name(&d.text.trim().to_ascii_lowercase()))
    {
        return Err("its <emailProvider> names no <domain>".into());
    }
    let incoming: Vec<Seen> = provider
        .all("incomingServer")
        .filter_map(|s| autoconfig_server(s, &["pop3", "imap", "nntp", "exchange", "ews", "owa"]))
        .collect();
    if incoming.is_empty() {
        return Err("it has no <incomingServer> Thunderbird can use".into());
    }
    let outgoing = provider
        .all("outgoingServer")
        .filter_map(|s| autoconfig_server(s, &["smtp"]))
        .next()
        .ok_or("it has no <outgoingServer type=\"smtp\"> Thunderbird can use")?;
    Ok(Offer { incoming, outgoing })
}

fn autoconfig_server(server: &Element, types: &[&str]) -> Option<Seen> {
    let kind = server
        .kind
        .clone()
        .filter(|k| types.contains(&k.as_str()))?;
    let host = server.text_of("hostname")?.to_ascii_lowercase();
    if host.is_empty() {
        return None;
    }
    let port = server
        .text_of("port")?
        .parse::<u16>()
        .ok()
        .filter(|p| *p > 0)?;
    // The first socket type it knows.
    let security = server.all("socketType").find_map(|s| match s.text.trim() {
        "SSL" => Some(Security::Tls),
        "STARTTLS" => Some(Security::Starttls),
        "plain" => Some(Security::Plain),
        _ => None,
    })?;
    // The first authentication it knows (outgoing servers know three more).
    let auth = server.all("authentication").find_map(|a| {
        let value = a.text.trim();
        match value {
            "OAuth2" => Some(Auth::Method(AuthMethod::Oauth2)),
            "password-cleartext" | "plain" => Some(Auth::Method(AuthMethod::Password)),
            "password-encrypted" | "secure" | "GSSAPI" | "NTLM" => {
                Some(Auth::Other(value.to_string()))
            }
            "none" | "client-IP-address" | "smtp-after-pop" if kind == "smtp" => {
                Some(Auth::Other(value.to_string()))
            }
            _ => None,
        }
    })?;
    Some(Seen {
        kind,
        host,
        port,
        security,
        auth,
        username: server.text_of("username").map(str::to_string),
    })
}

/// An Autodiscover (POX) answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Pox {
    /// `Account` with `Protocol` elements.
    Settings(Vec<PoxProtocol>),
    /// The schema's `Error` response.
    Error { code: String, message: String },
    /// `Action` redirectAddr / redirectUrl: ask again elsewhere.
    Redirect(String),
}

/// One `Protocol` element, as written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PoxProtocol {
    pub kind: String,
    pub server: String,
    pub port: Option<u16>,
    pub ssl: Option<String>,
    pub encryption: Option<String>,
    pub spa: Option<String>,
    pub login: Option<String>,
}

/// Reads an Autodiscover response (MS-OXDSCLI).
pub fn pox(bytes: &[u8]) -> Result<Pox, String> {
    let root = parse_xml(bytes)?;
    if root.name != "Autodiscover" {
        return Err(format!(
            "its root element is <{}>, not <Autodiscover>",
            root.name
        ));
    }
    let response = root.child("Response").ok_or("it has no <Response>")?;
    if let Some(error) = response.child("Error").or_else(|| root.child("Error")) {
        return Ok(Pox::Error {
            code: error.text_of("ErrorCode").unwrap_or("").to_string(),
            message: error.text_of("Message").unwrap_or("").to_string(),
        });
    }
    let account = response.child("Account").ok_or("it has no <Account>")?;
    let action = account.text_of("Action").unwrap_or("");
    if action.eq_ignore_ascii_case("redirectAddr") || action.eq_ignore_ascii_case("redirectUrl") {
        let to = account
            .text_of("RedirectAddr")
            .or_else(|| account.text_of("RedirectUrl"))
            .unwrap_or("");
        return Ok(Pox::Redirect(to.to_string()));
    }
    let protocols: Vec<PoxProtocol> = account
        .all("Protocol")
        .map(|p| PoxProtocol {
            kind: p.text_of("Type").unwrap_or("").to_ascii_uppercase(),
            server: p.text_of("Server").unwrap_or("").to_ascii_lowercase(),
            port: p.text_of("Port").and_then(|v| v.parse().ok()),
            ssl: p.text_of("SSL").map(str::to_ascii_lowercase),
            encryption: p.text_of("Encryption").map(str::to_ascii_lowercase),
            spa: p.text_of("SPA").map(str::to_ascii_lowercase),
            login: p.text_of("LoginName").map(str::to_string),
        })
        .collect();
    if protocols.is_empty() {
        return Err("its <Account> has no <Protocol>".into());
    }
    Ok(Pox::Settings(protocols))
}

/// Which client reads a POX answer: they disagree on security.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PoxReader {
    /// `Encryption` (None, SSL, TLS = STARTTLS, Auto) overrides `SSL` (default on).
    Outlook,
    /// `SSL` off or `Encryption` None is plain; otherwise STARTTLS on 25, 110, 143 and 587,
    /// implicit TLS on any other port (`ExchangeAutoDiscover.sys.mjs`).
    Thunderbird,
}

/// The servers a client takes from POX `protocols`: POP3/IMAP ones in order, the first SMTP.
pub fn pox_offer(protocols: &[PoxProtocol], reader: PoxReader) -> Result<Offer, String> {
    let seen = |p: &PoxProtocol| -> Option<Seen> {
        let kind = match p.kind.as_str() {
            "POP3" => "pop3",
            "IMAP" => "imap",
            "SMTP" => "smtp",
            _ => return None,
        };
        if p.server.is_empty() {
            return None;
        }
        let port = p.port.filter(|p| *p > 0)?;
        let off = p.ssl.as_deref() == Some("off");
        let security = match reader {
            PoxReader::Outlook => match p.encryption.as_deref() {
                Some("none") => Security::Plain,
                Some("ssl") => Security::Tls,
                Some("tls") => Security::Starttls,
                Some("auto") => return None,
                _ if off => Security::Plain,
                _ => Security::Tls,
            },
            PoxReader::Thunderbird => {
                if off || p.encryption.as_deref() == Some("none") {
                    Security::Plain
                } else if matches!(port, 25 | 110 | 143 | 587) {
                    Security::Starttls
                } else {
                    Security::Tls
                }
            }
        };
        let auth = if p.spa.as_deref() == Some("on") {
            Auth::Other("NTLM (SPA on)".into())
        } else {
            Auth::Method(AuthMethod::Password)
        };
        Some(Seen {
            kind: kind.to_string(),
            host: p.server.clone(),
            port,
            security,
            auth,
            username: p.login.clone(),
        })
    };
    let all: Vec<Seen> = protocols.iter().filter_map(seen).collect();
    let incoming: Vec<Seen> = all.iter().filter(|s| s.kind != "smtp").cloned().collect();
    let outgoing = all.iter().find(|s| s.kind == "smtp").cloned();
    match (incoming.is_empty(), outgoing) {
        (false, Some(outgoing)) => Ok(Offer { incoming, outgoing }),
        (true, _) => Err("it has no POP3 or IMAP <Protocol> with a server and port".into()),
        (false, None) => Err("it has no SMTP <Protocol> with a server and port".into()),
    }
}

/// The URL an `autodiscover.json` answer sends Outlook to.
pub fn autodiscover_json(bytes: &[u8]) -> Result<String, String> {
    let value: serde_json::Value =
        serde_json::from_slice(bytes).map_err(|e| format!("it is not JSON ({e})"))?;
    let protocol = value.get("Protocol").and_then(|v| v.as_str()).unwrap_or("");
    if !protocol.eq_ignore_ascii_case("AutodiscoverV1") {
        return Err(format!(
            "its \"Protocol\" is {protocol:?}, not \"AutodiscoverV1\""
        ));
    }
    value
        .get("Url")
        .and_then(|v| v.as_str())
        .map(str::to_string)
        .ok_or_else(|| "it has no \"Url\"".into())
}

/// Whether `bytes` is well-formed XML: Thunderbird moves past an XML answer that is not (its
/// `responseXML` is null), but stops at one that is and holds no usable settings.
pub fn well_formed(bytes: &[u8]) -> bool {
    parse_xml(bytes).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::input::account::Address;
    use crate::input::provider::{Protocol, Provider};

    #[test]
    fn reads_what_mailconf_writes() {
        let provider = Provider::kumail();
        let file = crate::render::thunderbird::render_domain_wide(&provider, Protocol::Pop3)
            .expect("renders");
        let offer = autoconfig(&file).expect("reads");
        let first = offer.first_incoming();
        assert_eq!(
            (first.kind.as_str(), first.host.as_str(), first.port),
            ("pop3", "pop.gmail.com", 995)
        );
        assert_eq!(first.security, Security::Tls);
        assert_eq!(first.auth, Auth::Method(AuthMethod::Oauth2));
        assert_eq!(offer.outgoing.port, 587);
        assert_eq!(offer.outgoing.security, Security::Starttls);

        let address = Address::parse("taro@kyoto-u.ac.jp").expect("valid");
        let answer = crate::render::autodiscover::render(&provider, Protocol::Imap, &address)
            .expect("renders");
        let Ok(Pox::Settings(protocols)) = pox(&answer) else {
            panic!("not settings");
        };
        for reader in [PoxReader::Outlook, PoxReader::Thunderbird] {
            let offer = pox_offer(&protocols, reader).expect("reads");
            assert_eq!(offer.first_incoming().kind, "imap");
            assert_eq!(offer.outgoing.security, Security::Starttls, "{reader:?}");
        }
    }

    #[test]
    fn thunderbird_skips_what_it_cannot_use() {
        let file = br#"<?xml version="1.0"?>
<clientConfig version="1.1"><emailProvider id="example.org"><domain>example.org</domain>
<incomingServer type="POP3"><hostname>wrong.case</hostname><port>995</port><socketType>SSL</socketType><authentication>OAuth2</authentication></incomingServer>
<incomingServer type="imap"><hostname>imap.example.org</hostname><port>993</port><socketType>TLS</socketType><socketType>SSL</socketType><authentication>kerberos</authentication><authentication>password-cleartext</authentication></incomingServer>
<outgoingServer type="smtp"><hostname>smtp.example.org</hostname><port>465</port><socketType>SSL</socketType><authentication>password-cleartext</authentication></outgoingServer>
</emailProvider></clientConfig>"#;
        let offer = autoconfig(file).expect("reads");
        assert_eq!(offer.incoming.len(), 1);
        assert_eq!(offer.first_incoming().host, "imap.example.org");
        assert_eq!(offer.first_incoming().security, Security::Tls);
        assert_eq!(
            offer.first_incoming().auth,
            Auth::Method(AuthMethod::Password)
        );
    }

    #[test]
    fn what_is_not_a_file_says_why() {
        for (bytes, why) in [
            (&b"<html><body>Sign in</body></html>"[..], "<html>"),
            (b"", "empty"),
            (b"not xml", "empty"),
            (b"<clientConfig><emailProvider>", "not closed"),
            (
                b"<!DOCTYPE x [<!ENTITY a \"b\">]><clientConfig/>",
                "document type",
            ),
            (b"<clientConfig>&a;</clientConfig>", "unknown entity"),
            (b"<clientConfig/>", "<emailProvider>"),
        ] {
            let e = autoconfig(bytes).expect_err("refused");
            assert!(e.contains(why), "{e}");
        }
    }

    #[test]
    fn autodiscover_errors_and_security_readings() {
        let error = crate::render::autodiscover::render_error(
            crate::render::autodiscover::ErrorCode::NotFound,
        )
        .expect("renders");
        assert_eq!(
            pox(&error),
            Ok(Pox::Error {
                code: "500".into(),
                message: "The email address cannot be found.".into()
            })
        );
        // automx2's "SSL off + Encryption TLS": STARTTLS to Outlook, plain text to Thunderbird.
        let p = |ssl: &str, encryption: &str, port: u16| PoxProtocol {
            kind: "SMTP".into(),
            server: "smtp.example.org".into(),
            port: Some(port),
            ssl: Some(ssl.into()),
            encryption: Some(encryption.into()),
            spa: Some("off".into()),
            login: None,
        };
        let pop = PoxProtocol {
            kind: "POP3".into(),
            ..p("on", "ssl", 995)
        };
        let read = |smtp: PoxProtocol, reader| {
            pox_offer(&[pop.clone(), smtp], reader)
                .expect("reads")
                .outgoing
                .security
        };
        assert_eq!(
            read(p("off", "tls", 587), PoxReader::Outlook),
            Security::Starttls
        );
        assert_eq!(
            read(p("off", "tls", 587), PoxReader::Thunderbird),
            Security::Plain
        );
        assert_eq!(
            read(p("on", "ssl", 465), PoxReader::Thunderbird),
            Security::Tls
        );
        assert_eq!(
            read(p("on", "tls", 465), PoxReader::Outlook),
            Security::Starttls
        );
        assert_eq!(
            autodiscover_json(br#"{"Protocol":"AutodiscoverV1","Url":"https://a.example/x"}"#),
            Ok("https://a.example/x".into())
        );
        assert!(autodiscover_json(b"<html>").is_err());
    }
}
