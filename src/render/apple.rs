//! Apple configuration profiles (`.mobileconfig`): the mail account, and optionally a Google
//! account (sign in with Google, iPhone/iPad only).
//!
//! Rules (see `docs/formats.md`, Apple's schema in `tests/apple-schema/`): an XML property
//! list with Apple's DOCTYPE; exact key types and enum spellings; no empty strings (a key with
//! nothing to say is left out); never a password. Identifiers and UUIDs are stable per user and
//! provider, so installing a re-issued profile replaces the account instead of adding one.
//! When the run has a signer, every profile is signed (CMS, see [`crate::sign`]).

use askama::Template;
use uuid::Uuid;

use super::escape::XmlText;
use super::{Context, RenderError, SizeHint, render_template};
use crate::input::account::{Account, Address};
use crate::input::provider::{Protocol, Provider, Security, Server};

/// The suffix of every Apple profile file.
pub const EXTENSION: &str = "mobileconfig";

/// The mail profile's file name: `ADDRESS.mobileconfig`.
pub fn mail_file_name(account: &Account) -> String {
    format!("{}.{EXTENSION}", account.address)
}

/// The Google account profile's file name: `ADDRESS-google.mobileconfig`.
pub fn google_file_name(account: &Account) -> String {
    format!("{}-google.{EXTENSION}", account.address)
}

/// What a `PayloadIdentifier`/`PayloadUUID` pair identifies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    /// The mail profile as a whole (top level).
    MailProfile,
    /// The `com.apple.mail.managed` payload.
    MailPayload,
    /// The Google profile as a whole (top level).
    GoogleProfile,
    /// The `com.apple.google-oauth` payload.
    GooglePayload,
}

impl Purpose {
    /// Appended to `{prefix}.{address}` for the identifier; also names the UUID.
    fn suffix(self) -> &'static str {
        match self {
            Purpose::MailProfile => "",
            Purpose::MailPayload => ".mail",
            Purpose::GoogleProfile => ".google",
            Purpose::GooglePayload => ".google.account",
        }
    }

    fn uuid_name(self) -> &'static str {
        match self {
            Purpose::MailProfile => "mail-profile",
            Purpose::MailPayload => "mail-payload",
            Purpose::GoogleProfile => "google-profile",
            Purpose::GooglePayload => "google-payload",
        }
    }
}

/// A payload's identity: reverse-DNS identifier and UUID (hyphenated, upper case).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    pub identifier: String,
    pub uuid: String,
}

/// The stable identity of `purpose` for `address` under `provider`.
///
/// Identifier: `{identifier_prefix}.{address made safe}{suffix}`. UUID: version 5, in the
/// namespace `UUIDv5(DNS namespace, identifier_prefix)`, of the name `{address}/{purpose}`.
pub fn identity(provider: &Provider, address: &Address, purpose: Purpose) -> Identity {
    identity_in(provider, &namespace(provider), address, purpose)
}

/// The UUID namespace of `provider`'s identities: `UUIDv5(DNS namespace, identifier_prefix)`.
fn namespace(provider: &Provider) -> Uuid {
    uuid_v5(
        &Uuid::NAMESPACE_DNS,
        &[provider.identifier_prefix.as_str().as_bytes()],
    )
}

/// The version-5 UUID (RFC 9562, 5.5) of the name `parts` joined, in `namespace`: the SHA-1 of the
/// namespace and the name, with the version and variant bits set. The same as `uuid`'s
/// `Uuid::new_v5` (a test compares them), with the `sha1` crate, which uses the CPU's SHA
/// instructions where `uuid` hashes in plain Rust (`bench/PROFILE.md`, "Measured choices in the
/// code"), and with no name string to allocate.
fn uuid_v5(namespace: &Uuid, parts: &[&[u8]]) -> Uuid {
    use sha1::{Digest, Sha1};
    let mut sha1 = Sha1::new_with_prefix(namespace.as_bytes());
    for part in parts {
        sha1.update(part);
    }
    let digest = sha1.finalize();
    let bytes: [u8; 16] = digest[..16].try_into().expect("SHA-1 is 20 bytes");
    uuid::Builder::from_sha1_bytes(bytes).into_uuid()
}

/// [`identity`] with the provider's namespace already worked out.
fn identity_in(
    provider: &Provider,
    namespace: &Uuid,
    address: &Address,
    purpose: Purpose,
) -> Identity {
    let prefix = provider.identifier_prefix.as_str();
    // The name is `{address}/{purpose}`.
    let name = [
        address.as_str().as_bytes(),
        b"/",
        purpose.uuid_name().as_bytes(),
    ];
    Identity {
        identifier: format!("{prefix}.{}{}", safe_address(address), purpose.suffix()),
        uuid: format!("{:X}", uuid_v5(namespace, &name).hyphenated()),
    }
}

/// What every Apple profile of a run shares, worked out once ([`Context::apple`]) instead of for
/// every person: the UUID namespace, the organization line and the consent texts.
#[derive(Debug, Clone)]
pub(crate) struct Shared {
    namespace: Uuid,
    organization: String,
    /// The notices that concern POP and IMAP, joined per language.
    consent_pop: Option<Consent>,
    consent_imap: Option<Consent>,
}

impl Shared {
    pub(crate) fn new(provider: &Provider) -> Shared {
        Shared {
            namespace: namespace(provider),
            organization: organization(provider),
            consent_pop: consent(provider, Protocol::Pop3),
            consent_imap: consent(provider, Protocol::Imap),
        }
    }

    fn consent(&self, protocol: Protocol) -> Option<&Consent> {
        match protocol {
            Protocol::Pop3 => self.consent_pop.as_ref(),
            Protocol::Imap => self.consent_imap.as_ref(),
        }
    }
}

/// The address as identifier characters, one to one: letters, digits, `.` and `-` stay; `@`
/// becomes `_at_`; any other character (`_`, `+`) becomes `_XX_` (its code in hex). Each `_`
/// opens an escape, so two addresses never give the same identifier.
pub fn safe_address(address: &Address) -> String {
    let mut out = String::with_capacity(address.as_str().len() + 4);
    for c in address.as_str().chars() {
        match c {
            'a'..='z' | '0'..='9' | '.' | '-' => out.push(c),
            '@' => out.push_str("_at_"),
            other => out.push_str(&format!("_{:02x}_", other as u32)),
        }
    }
    out
}

/// Apple's `EmailAccountType` for a protocol.
pub fn account_type(protocol: Protocol) -> &'static str {
    match protocol {
        Protocol::Pop3 => "EmailTypePOP",
        Protocol::Imap => "EmailTypeIMAP",
    }
}

/// Apple's `…UseSSL`: true for implicit TLS and for STARTTLS (Apple has no STARTTLS key; it
/// negotiates STARTTLS on 587 when SSL is on).
pub fn use_ssl(security: Security) -> bool {
    match security {
        Security::Tls | Security::Starttls => true,
        Security::Plain => false,
    }
}

/// Apple's managed mail payload has no OAuth: the device asks for a password (for Google
/// Workspace, an app password) at install.
const AUTH_PASSWORD: &str = "EmailAuthPassword";

#[derive(Template)]
#[template(path = "apple/mail.xml")]
struct MailProfile<'a> {
    top: TopLevel<'a>,
    mail: MailPayload<'a>,
}

#[derive(Template)]
#[template(path = "apple/google.xml")]
struct GoogleProfile<'a> {
    top: TopLevel<'a>,
    google: GooglePayload<'a>,
}

struct TopLevel<'a> {
    payload: PayloadText,
    organization: &'a str,
    consent: Option<&'a Consent>,
}

struct PayloadText {
    id: Identity,
    display_name: String,
    description: String,
}

/// Escaped once per run ([`XmlText`]): the same few KB in every profile.
#[derive(Debug, Clone)]
struct Consent {
    ja: XmlText,
    en: XmlText,
}

struct MailPayload<'a> {
    payload: PayloadText,
    description: &'a str,
    name: Option<&'a str>,
    address: &'a str,
    account_type: &'static str,
    incoming: ServerPlist<'a>,
    outgoing: ServerPlist<'a>,
}

struct ServerPlist<'a> {
    host: &'a str,
    port: u16,
    use_ssl: bool,
    authentication: &'static str,
}

struct GooglePayload<'a> {
    payload: PayloadText,
    description: &'a str,
    name: Option<&'a str>,
    address: &'a str,
}

fn server(server: &Server) -> ServerPlist<'_> {
    ServerPlist {
        host: server.host.as_str(),
        port: server.port.get(),
        use_ssl: use_ssl(server.security),
        authentication: AUTH_PASSWORD,
    }
}

fn organization(provider: &Provider) -> String {
    let (ja, en) = (
        provider.names.organization_ja.as_str(),
        provider.names.organization_en.as_str(),
    );
    if ja == en {
        ja.to_string()
    } else {
        format!("{ja} ({en})")
    }
}

/// The provider's notices that concern `protocol`, joined into one text per language.
fn consent(provider: &Provider, protocol: Protocol) -> Option<Consent> {
    let notices: Vec<_> = provider
        .notices
        .iter()
        .filter(|n| n.applies_to(protocol))
        .collect();
    (!notices.is_empty()).then(|| Consent {
        ja: XmlText::new(&join(notices.iter().map(|n| n.ja.as_str()))),
        en: XmlText::new(&join(notices.iter().map(|n| n.en.as_str()))),
    })
}

fn join<'a>(texts: impl Iterator<Item = &'a str>) -> String {
    texts.collect::<Vec<_>>().join("\n\n")
}

fn protocol_label(protocol: Protocol) -> &'static str {
    match protocol {
        Protocol::Pop3 => "POP",
        Protocol::Imap => "IMAP",
    }
}

/// Renders the unsigned mail profile.
pub fn render_mail_unsigned(ctx: &Context<'_>, account: &Account) -> Result<Vec<u8>, RenderError> {
    let provider = ctx.provider;
    let shared = ctx.apple();
    let id = |purpose| identity_in(provider, &shared.namespace, &account.address, purpose);
    let names = &provider.names;
    let address = account.address.as_str();
    let proto = protocol_label(ctx.protocol);
    let template = MailProfile {
        top: TopLevel {
            payload: PayloadText {
                id: id(Purpose::MailProfile),
                display_name: format!("{} ({proto}): {address}", names.short),
                description: format!(
                    "{} のメールアカウント {address} を {proto} で設定します。パスワードはインストール中に入力します。\n\
                     Sets up the {} mail account {address} ({proto}). You type the password while installing.",
                    names.display_ja, names.display_en
                ),
            },
            organization: &shared.organization,
            consent: shared.consent(ctx.protocol),
        },
        mail: MailPayload {
            payload: PayloadText {
                id: id(Purpose::MailPayload),
                display_name: format!("{} ({proto})", names.short),
                description: format!("{address} ({proto}, SMTP)"),
            },
            description: names.display_en.as_str(),
            name: account.name.as_ref().map(|n| n.as_str()),
            address,
            account_type: account_type(ctx.protocol),
            incoming: server(provider.incoming(ctx.protocol)),
            outgoing: server(&provider.smtp),
        },
    };
    static SIZE: SizeHint = SizeHint::new();
    render_template(&template, "the Apple mail profile", &SIZE)
}

/// Renders the unsigned Google account profile (iPhone/iPad only).
pub fn render_google_unsigned(
    ctx: &Context<'_>,
    account: &Account,
) -> Result<Vec<u8>, RenderError> {
    let provider = ctx.provider;
    let shared = ctx.apple();
    let id = |purpose| identity_in(provider, &shared.namespace, &account.address, purpose);
    let names = &provider.names;
    let address = account.address.as_str();
    let template = GoogleProfile {
        top: TopLevel {
            payload: PayloadText {
                id: id(Purpose::GoogleProfile),
                display_name: format!("{} (Google): {address}", names.short),
                description: format!(
                    "iPhone・iPad 専用: {} のアカウント {address} を Google アカウントとして設定します(Google でログイン、アプリ パスワード不要)。Mac では使えません。\n\
                     iPhone and iPad only: sets up {address} ({}) as a Google account (sign in with Google, no app password). Does nothing on a Mac.",
                    names.display_ja, names.display_en
                ),
            },
            organization: &shared.organization,
            consent: None,
        },
        google: GooglePayload {
            payload: PayloadText {
                id: id(Purpose::GooglePayload),
                display_name: format!("{} (Google)", names.short),
                description: format!("{address} (Google, iPhone/iPad)"),
            },
            description: names.display_en.as_str(),
            name: account.name.as_ref().map(|n| n.as_str()),
            address,
        },
    };
    static SIZE: SizeHint = SizeHint::new();
    render_template(&template, "the Apple Google-account profile", &SIZE)
}

/// Signs `profile` when the run has a signer.
fn maybe_sign(ctx: &Context<'_>, profile: Vec<u8>) -> Result<Vec<u8>, RenderError> {
    match &ctx.signer {
        Some(signer) => Ok(signer.sign(&profile)?),
        None => Ok(profile),
    }
}

/// The mail profile, signed when the run has a signer.
pub fn render_mail(ctx: &Context<'_>, account: &Account) -> Result<Vec<u8>, RenderError> {
    maybe_sign(ctx, render_mail_unsigned(ctx, account)?)
}

/// The Google account profile, signed when the run has a signer.
pub fn render_google(ctx: &Context<'_>, account: &Account) -> Result<Vec<u8>, RenderError> {
    maybe_sign(ctx, render_google_unsigned(ctx, account)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(s: &str) -> Address {
        Address::parse(s).unwrap()
    }

    #[test]
    fn safe_address_is_one_to_one() {
        assert_eq!(
            safe_address(&addr("taro.yamada@kyoto-u.ac.jp")),
            "taro.yamada_at_kyoto-u.ac.jp"
        );
        assert_eq!(
            safe_address(&addr("a_b+c@kyoto-u.ac.jp")),
            "a_5f_b_2b_c_at_kyoto-u.ac.jp"
        );
        // Same characters, split differently by '@': different identifiers.
        assert_ne!(
            safe_address(&addr("a.b@c.jp")),
            safe_address(&addr("a@b.c.jp"))
        );
    }

    #[test]
    fn identities_are_stable_distinct_and_canonical() {
        let p = Provider::kumail();
        let a = addr("taro.yamada@kyoto-u.ac.jp");
        let purposes = [
            Purpose::MailProfile,
            Purpose::MailPayload,
            Purpose::GoogleProfile,
            Purpose::GooglePayload,
        ];
        let ids: Vec<Identity> = purposes.iter().map(|&u| identity(&p, &a, u)).collect();
        for (i, id) in ids.iter().enumerate() {
            assert_eq!(*id, identity(&p, &a, purposes[i]));
            let parsed = Uuid::parse_str(&id.uuid).unwrap();
            assert_eq!(parsed.get_version_num(), 5);
            assert_eq!(id.uuid, parsed.hyphenated().to_string().to_uppercase());
            for other in &ids[..i] {
                assert_ne!(id.uuid, other.uuid);
                assert_ne!(id.identifier, other.identifier);
            }
        }
        assert_eq!(
            ids[0].identifier,
            "jp.ac.kyoto-u.kumail.taro.yamada_at_kyoto-u.ac.jp"
        );
        let other = identity(&p, &addr("hanako@kyoto-u.ac.jp"), Purpose::MailProfile);
        assert_ne!(other, ids[0]);
    }

    #[test]
    fn uuid_v5_is_uuids_own() {
        let namespaces = [Uuid::NAMESPACE_DNS, Uuid::NAMESPACE_URL, Uuid::from_u128(7)];
        let names: [&[u8]; 4] = [
            b"",
            b"jp.ac.kyoto-u.kumail",
            "名前/mail-profile".as_bytes(),
            &[0xFF; 200],
        ];
        for namespace in &namespaces {
            for name in names {
                assert_eq!(uuid_v5(namespace, &[name]), Uuid::new_v5(namespace, name));
                // In parts, split anywhere.
                for at in 0..name.len() {
                    let (a, b) = name.split_at(at);
                    assert_eq!(uuid_v5(namespace, &[a, b]), Uuid::new_v5(namespace, name));
                }
            }
        }
    }

    #[test]
    fn apple_spellings() {
        assert_eq!(account_type(Protocol::Pop3), "EmailTypePOP");
        assert_eq!(account_type(Protocol::Imap), "EmailTypeIMAP");
        assert!(use_ssl(Security::Tls) && use_ssl(Security::Starttls));
        assert!(!use_ssl(Security::Plain));
    }
}
