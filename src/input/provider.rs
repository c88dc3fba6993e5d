//! The mail provider: servers, names and notices, loaded from TOML and validated.
//!
//! Every value is checked while the file is deserialised (through `try_from` newtypes), so a
//! mistake is reported by the TOML parser with the file's line and column.

use std::fmt;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::diagnostic::Diagnostic;
use crate::input::account::is_domain_name;

/// The embedded default: KUMail, Kyoto University staff mail.
pub const KUMAIL_TOML: &str = include_str!("../../providers/kumail.toml");

#[derive(Debug, thiserror::Error)]
pub enum ProviderError {
    #[error("{path}: cannot read the provider file: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(transparent)]
    Invalid(#[from] Diagnostic),
}

/// A validated provider, with the TOML text it came from.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Provider {
    pub domains: Domains,
    pub identifier_prefix: Identifier,
    pub preferred: Protocol,
    /// The mail is hosted on Google Workspace: bundles carry the Google sign-in profile for
    /// iPhone/iPad by default, and the guides offer it (and the Gmail app on Android) first.
    #[serde(default)]
    pub google_workspace: bool,
    pub names: Names,
    pub incoming: Incoming,
    pub smtp: Server,
    #[serde(default)]
    pub pop: PopOptions,
    #[serde(default)]
    pub notices: Vec<Notice>,
    #[serde(default)]
    pub outlook: OutlookOptions,
    /// Whether (and where) the domain's Thunderbird autoconfig is published.
    #[serde(default)]
    pub autoconfig: AutoconfigOptions,
    /// The self-service server (`mailconf serve`), when central IT runs one.
    #[serde(default)]
    pub serve: ServeOptions,
    /// The institution's texts for the personal guides and the bundle's index.
    #[serde(default)]
    pub guide: Guide,
    #[serde(skip)]
    source: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Names {
    pub organization_ja: Text,
    pub organization_en: Text,
    pub display_ja: Text,
    pub display_en: Text,
    pub short: Text,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Incoming {
    pub pop3: Server,
    pub imap: Server,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Server {
    pub host: Hostname,
    pub port: Port,
    pub security: Security,
    pub auth: AuthMethods,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PopOptions {
    #[serde(default)]
    pub leave_on_server: bool,
    /// Delete from the server after this many days; `None` never deletes by age.
    pub days_on_server: Option<Days>,
}

/// Settings for classic Outlook's profile (`.prf`) files.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OutlookOptions {
    /// The Outlook profile the account is added to; `None`: `names.short`.
    pub profile_name: Option<Text>,
    /// The folder on the users' PCs where `ADDRESS.prf` is put for the `.reg` file to import.
    #[serde(default)]
    pub prf_dir: WindowsDir,
}

/// Whether the domain's autoconfig is published: what Thunderbird users see depends on it.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AutoconfigOptions {
    /// Thunderbird finds this provider's settings by itself (the files of `mailconf publish`, or
    /// `mailconf serve`, answer at `autoconfig.DOMAIN` or `DOMAIN/.well-known`).
    #[serde(default)]
    pub published: bool,
    /// Where it is published, for IT staff.
    pub url: Option<Url>,
}

/// Where `mailconf serve` answers people: the bundle's pages then carry the address of each
/// person's page, and a QR code of it.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServeOptions {
    /// The server's public address (`https://…`), as people and mail clients reach it.
    pub public_url: Option<Url>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Notice {
    pub id: Identifier,
    pub ja: Paragraph,
    pub en: Paragraph,
}

impl Notice {
    /// Whether the notice concerns an account using `protocol`: notices whose id starts with
    /// `pop-` concern POP only, `imap-` IMAP only; any other notice concerns both.
    pub fn applies_to(&self, protocol: Protocol) -> bool {
        let id = self.id.as_str();
        match protocol {
            Protocol::Pop3 => !id.starts_with("imap-"),
            Protocol::Imap => !id.starts_with("pop-"),
        }
    }
}

/// The institution-specific texts of the personal guides (`README.html`) and the bundle's
/// `index.html`. The generic steps for each device live in the templates.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Guide {
    /// Where users get help.
    pub help_ja: Paragraph,
    pub help_en: Paragraph,
    /// A page with more help.
    pub help_url: Option<Url>,
    /// The webmail, where users check Spam.
    pub webmail_url: Option<Url>,
    /// What the OAuth2 sign-in is called ("Sign in with Google").
    pub sign_in_ja: Text,
    pub sign_in_en: Text,
    /// The password clients without OAuth2 ask for; `None`: the account's own password.
    pub password: Option<PasswordGuide>,
    /// What POP users must do and know; `None`: nothing beyond the settings.
    pub pop: Option<PopGuide>,
    /// How Android users add the account (for Google Workspace: the Gmail app); `None`: the
    /// guide leads them to the settings.
    pub android: Option<AndroidGuide>,
}

impl Default for Guide {
    /// Generic texts, for a provider file without a `[guide]` section.
    fn default() -> Self {
        Guide {
            help_ja: Paragraph("設定がうまくいかないときは、情報担当者に相談してください。".into()),
            help_en: Paragraph("If something does not work, ask your IT staff.".into()),
            help_url: None,
            webmail_url: None,
            sign_in_ja: Text("ブラウザのログイン画面".into()),
            sign_in_en: Text("the sign-in window".into()),
            password: None,
            pop: None,
            android: None,
        }
    }
}

/// What a POP user must do before any client receives mail, and what POP on several devices does.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PopGuide {
    /// Steps that switch POP on for the account (Gmail: POP is off until the person enables it);
    /// every POP path of the guide starts with them.
    pub enable_steps_ja: Steps,
    pub enable_steps_en: Steps,
    /// The page where POP is switched on.
    pub enable_url: Option<Url>,
    /// Said where the person chooses a device, whenever POP is offered: what happens when more
    /// than one device fetches the mail by POP.
    pub several_devices_ja: Paragraph,
    pub several_devices_en: Paragraph,
}

/// How an Android user adds the account without a setup file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AndroidGuide {
    /// What is used ("the Gmail app").
    pub app_ja: Text,
    pub app_en: Text,
    pub steps_ja: Steps,
    pub steps_en: Steps,
}

/// How to get the password to type (for Google Workspace: an app password).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PasswordGuide {
    /// What the password is called ("app password").
    pub name_ja: Text,
    pub name_en: Text,
    /// The page where it is made.
    pub url: Url,
    /// How to get one, step by step.
    pub steps_ja: Steps,
    pub steps_en: Steps,
}

/// One or more steps of user-visible text.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(try_from = "Vec<Paragraph>")]
pub struct Steps(Vec<Paragraph>);

impl TryFrom<Vec<Paragraph>> for Steps {
    type Error = String;
    fn try_from(steps: Vec<Paragraph>) -> Result<Self, String> {
        if steps.is_empty() {
            return Err("steps is empty: write at least one step".into());
        }
        Ok(Steps(steps))
    }
}

impl Steps {
    pub fn iter(&self) -> impl Iterator<Item = &Paragraph> {
        self.0.iter()
    }
}

/// An `https://` URL for a link in a page: printable ASCII, no spaces, quotes, `<`, `>`,
/// backslashes or user info, and a host that is a DNS name.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(try_from = "String")]
pub struct Url(String);

impl TryFrom<String> for Url {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        let Some(rest) = s.strip_prefix("https://") else {
            return Err(format!("URL {s:?} must start with https://"));
        };
        if let Some(c) = s
            .chars()
            .find(|&c| !c.is_ascii_graphic() || matches!(c, '"' | '\'' | '<' | '>' | '\\' | '`'))
        {
            return Err(format!(
                "URL {s:?} has {c:?}: no spaces, quotes, '<', '>', '\\', '`', controls or non-ASCII (percent-encode them)"
            ));
        }
        let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
        if authority.contains('@') {
            return Err(format!("URL {s:?} must not carry a user name"));
        }
        let (host, port) = match authority.split_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (authority, None),
        };
        if !is_domain_name(host) {
            return Err(format!(
                "URL {s:?} needs a lower-case host name after https://"
            ));
        }
        if port.is_some_and(|p| p.parse::<u16>().map_or(true, |p| p == 0)) {
            return Err(format!("URL {s:?} has a bad port"));
        }
        Ok(Url(s))
    }
}

impl Url {
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The URL without a trailing `/`, to put a path after.
    pub fn base(&self) -> &str {
        self.0.trim_end_matches('/')
    }

    /// The URL's path without a trailing `/` (`""` for the root): root-relative links under it.
    pub fn path(&self) -> &str {
        let rest = &self.0["https://".len()..];
        let path = rest
            .find('/')
            .map_or("", |at| rest[at..].split(['?', '#']).next().unwrap_or(""));
        path.trim_end_matches('/')
    }
}

impl fmt::Display for Url {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Incoming mail protocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Protocol {
    Pop3,
    Imap,
}

impl Protocol {
    /// The other protocol: the alternative to the preferred one.
    pub fn other(self) -> Protocol {
        match self {
            Protocol::Pop3 => Protocol::Imap,
            Protocol::Imap => Protocol::Pop3,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Protocol::Pop3 => "pop3",
            Protocol::Imap => "imap",
        }
    }
}

/// Transport security of a server connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Security {
    /// Implicit TLS from the first byte ("SSL").
    Tls,
    /// Plain connection upgraded with STARTTLS.
    Starttls,
    /// No encryption.
    Plain,
}

/// How a client proves who it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AuthMethod {
    /// OAuth2 ("Sign in with Google").
    Oauth2,
    /// A password (for Google Workspace: an app password), sent over the encrypted connection.
    Password,
}

/// One or more authentication methods, in order of preference, without repeats.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(try_from = "Vec<AuthMethod>")]
pub struct AuthMethods(Vec<AuthMethod>);

impl TryFrom<Vec<AuthMethod>> for AuthMethods {
    type Error = String;
    fn try_from(methods: Vec<AuthMethod>) -> Result<Self, String> {
        if methods.is_empty() {
            return Err("auth needs at least one method: \"oauth2\" or \"password\"".into());
        }
        for (i, m) in methods.iter().enumerate() {
            if methods[..i].contains(m) {
                return Err(format!("auth lists {m:?} twice"));
            }
        }
        Ok(AuthMethods(methods))
    }
}

impl AuthMethods {
    pub fn iter(&self) -> impl Iterator<Item = AuthMethod> + '_ {
        self.0.iter().copied()
    }

    pub fn contains(&self, method: AuthMethod) -> bool {
        self.0.contains(&method)
    }
}

/// A TCP port, 1 to 65535.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(try_from = "i64")]
pub struct Port(u16);

impl TryFrom<i64> for Port {
    type Error = String;
    fn try_from(n: i64) -> Result<Self, String> {
        match u16::try_from(n) {
            Ok(p) if p > 0 => Ok(Port(p)),
            _ => Err(format!("port {n} is out of range: a port is 1 to 65535")),
        }
    }
}

impl Port {
    pub fn get(self) -> u16 {
        self.0
    }
}

impl fmt::Display for Port {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// Days to keep mail on a POP server, 1 to 65535 (Outlook keeps it in 16 bits).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(try_from = "i64")]
pub struct Days(u16);

impl TryFrom<i64> for Days {
    type Error = String;
    fn try_from(n: i64) -> Result<Self, String> {
        match u16::try_from(n) {
            Ok(d) if d > 0 => Ok(Days(d)),
            _ => Err(format!("days_on_server {n} is out of range: 1 to 65535")),
        }
    }
}

impl Days {
    pub fn get(self) -> u16 {
        self.0
    }
}

/// A server host name: a lower-case DNS name.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(try_from = "String")]
pub struct Hostname(String);

impl TryFrom<String> for Hostname {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        if s.is_empty() {
            return Err("host is empty".into());
        }
        if is_domain_name(&s) {
            Ok(Hostname(s))
        } else {
            Err(format!(
                "host {s:?} is not a host name (lower-case letters, digits, '-' and '.')"
            ))
        }
    }
}

impl Hostname {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Hostname {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A mail domain served by the provider.
pub type Domain = Hostname;

/// The provider's mail domains: at least one, no repeats.
#[derive(Debug, Clone, Deserialize)]
#[serde(try_from = "Vec<Domain>")]
pub struct Domains(Vec<Domain>);

impl TryFrom<Vec<Domain>> for Domains {
    type Error = String;
    fn try_from(domains: Vec<Domain>) -> Result<Self, String> {
        if domains.is_empty() {
            return Err("domains is empty: name at least one mail domain".into());
        }
        for (i, d) in domains.iter().enumerate() {
            if domains[..i].contains(d) {
                return Err(format!("domain {:?} is listed twice", d.as_str()));
            }
        }
        Ok(Domains(domains))
    }
}

impl Domains {
    pub fn iter(&self) -> impl Iterator<Item = &Domain> {
        self.0.iter()
    }

    /// The first domain: the provider's id.
    pub fn primary(&self) -> &Domain {
        &self.0[0]
    }

    pub fn contains(&self, domain: &str) -> bool {
        self.0.iter().any(|d| d.as_str() == domain)
    }
}

/// A dotted identifier (reverse DNS, or a notice id): ASCII letters, digits, `.`, `-`, `_`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(try_from = "String")]
pub struct Identifier(String);

impl TryFrom<String> for Identifier {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        let ok = !s.is_empty()
            && !s.starts_with('.')
            && !s.ends_with('.')
            && !s.contains("..")
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_'));
        if ok {
            Ok(Identifier(s))
        } else {
            Err(format!(
                "identifier {s:?} may only have ASCII letters, digits, '.', '-' and '_'"
            ))
        }
    }
}

impl Identifier {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Identifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// One line of user-visible text: non-empty, no control characters.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(try_from = "String")]
pub struct Text(String);

impl TryFrom<String> for Text {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        check_text(&s, false)?;
        Ok(Text(s))
    }
}

impl Text {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Text {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// User-visible text that may span lines (`\n` only): non-empty, no other control characters.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(try_from = "String")]
pub struct Paragraph(String);

impl TryFrom<String> for Paragraph {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        check_text(&s, true)?;
        Ok(Paragraph(s))
    }
}

impl Paragraph {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Paragraph {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// An absolute Windows folder: `C:\…` or UNC `\\server\share\…`, without a trailing `\`.
///
/// No control characters, no `"`, none of `< > | ? * /`, no `:` but the drive's, no empty, `.`
/// or `..` component and none ending in a space or `.` (Windows would silently drop it).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(try_from = "String")]
pub struct WindowsDir(String);

/// Where PRF files go when the provider does not say: a folder every user can read and write.
pub const DEFAULT_PRF_DIR: &str = r"C:\Users\Public\Documents\mailconf";

impl Default for WindowsDir {
    fn default() -> Self {
        WindowsDir(DEFAULT_PRF_DIR.to_string())
    }
}

impl TryFrom<String> for WindowsDir {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        WindowsDir::parse(&s)
    }
}

impl WindowsDir {
    /// Checks `s`, dropping one trailing `\` (but not the root's, as in `C:\`).
    pub fn parse(s: &str) -> Result<WindowsDir, String> {
        let bad = |why: &str| {
            Err(format!(
                "{s:?} is not an absolute Windows folder ({why}); write it as C:\\Folder or \\\\server\\share\\folder"
            ))
        };
        if let Some(c) = s.chars().find(|c| c.is_control()) {
            return bad(&format!("it has the control character U+{:04X}", c as u32));
        }
        if let Some(c) = s
            .chars()
            .find(|c| matches!(c, '"' | '<' | '>' | '|' | '?' | '*' | '/'))
        {
            return bad(&format!("Windows paths cannot hold '{c}'"));
        }
        let (root, rest) = if let Some(unc) = s.strip_prefix(r"\\") {
            let mut parts = unc.splitn(3, '\\');
            let (Some(server), Some(share)) = (parts.next(), parts.next()) else {
                return bad("a UNC path needs a server and a share");
            };
            if server.is_empty() || share.is_empty() {
                return bad("a UNC path needs a server and a share");
            }
            (format!(r"\\{server}\{share}"), parts.next().unwrap_or(""))
        } else {
            let b = s.as_bytes();
            if b.len() < 3 || !b[0].is_ascii_alphabetic() || b[1] != b':' || b[2] != b'\\' {
                return bad("it must start with a drive such as C:\\ or with \\\\server\\share");
            }
            (s[..2].to_string(), &s[3..])
        };
        if rest.contains(':') || (root.starts_with(r"\\") && root.contains(':')) {
            return bad("':' may only follow the drive letter");
        }
        let rest = rest.strip_suffix('\\').unwrap_or(rest);
        let mut out = root;
        if rest.is_empty() && !out.starts_with(r"\\") {
            out.push('\\');
        }
        for part in rest.split('\\').filter(|_| !rest.is_empty()) {
            if part.is_empty() || part == "." || part == ".." {
                return bad("it has an empty, '.' or '..' folder name");
            }
            if part.ends_with(' ') || part.ends_with('.') || part.starts_with(' ') {
                return bad("a folder name starts or ends with a space, or ends with '.'");
            }
            out.push('\\');
            out.push_str(part);
        }
        Ok(WindowsDir(out))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The path of `file_name` in this folder.
    pub fn join(&self, file_name: &str) -> String {
        if self.0.ends_with('\\') {
            format!("{}{file_name}", self.0)
        } else {
            format!("{}\\{file_name}", self.0)
        }
    }
}

impl fmt::Display for WindowsDir {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

fn check_text(s: &str, newlines: bool) -> Result<(), String> {
    if s.trim().is_empty() {
        return Err("text is empty".into());
    }
    let bad = s.chars().find(|&c| {
        (c.is_control() && !(newlines && c == '\n')) || matches!(c, '\u{FFFE}' | '\u{FFFF}')
    });
    match bad {
        Some(c) => Err(format!(
            "text has a control character U+{:04X}{}",
            c as u32,
            if newlines {
                ""
            } else {
                " (it must be one line)"
            }
        )),
        None => Ok(()),
    }
}

impl Provider {
    /// The embedded KUMail provider.
    pub fn kumail() -> Provider {
        Provider::from_toml(KUMAIL_TOML, Path::new("<embedded KUMail provider>"))
            .expect("the embedded KUMail provider is valid")
    }

    /// Loads `path`, or the embedded KUMail provider when `path` is `None`.
    pub fn load(path: Option<&Path>) -> Result<Provider, ProviderError> {
        match path {
            None => Ok(Provider::kumail()),
            Some(path) => {
                let text = std::fs::read_to_string(path).map_err(|source| ProviderError::Read {
                    path: path.to_path_buf(),
                    source,
                })?;
                Provider::from_toml(&text, path)
            }
        }
    }

    /// Parses and validates provider TOML; `path` names it in errors.
    pub fn from_toml(text: &str, path: &Path) -> Result<Provider, ProviderError> {
        let mut provider: Provider = toml::from_str(text).map_err(|e| {
            let message = e.message().trim().to_string();
            match e.span() {
                Some(span) => ProviderError::Invalid(Diagnostic::at(
                    path,
                    line_of(text, span.start) as u64,
                    with_key(&message, text, span),
                )),
                None => ProviderError::Invalid(Diagnostic::whole(path, message)),
            }
        })?;
        provider.source = text.to_string();
        provider.check_consistency(path)?;
        Ok(provider)
    }

    fn check_consistency(&self, path: &Path) -> Result<(), ProviderError> {
        let invalid = |key: &str, message: String| {
            ProviderError::Invalid(Diagnostic::at(
                path,
                key_line(&self.source, key) as u64,
                message,
            ))
        };
        if let Some(dup) = duplicate(self.notices.iter().map(|n| n.id.as_str())) {
            return Err(invalid(
                "notices",
                format!("notices: id {dup:?} is used twice"),
            ));
        }
        if self.autoconfig.url.is_some() && !self.autoconfig.published {
            return Err(invalid(
                "autoconfig",
                "autoconfig: url is set but published is false; set published = true, or remove url".into(),
            ));
        }
        if self.incoming.pop3.port == self.smtp.port && self.incoming.pop3.host == self.smtp.host {
            return Err(invalid(
                "smtp",
                "smtp: the SMTP server is the same host and port as the POP3 server".into(),
            ));
        }
        Ok(())
    }

    /// The TOML text this provider was loaded from.
    pub fn source(&self) -> &str {
        &self.source
    }

    /// The incoming server for `protocol`.
    pub fn incoming(&self, protocol: Protocol) -> &Server {
        match protocol {
            Protocol::Pop3 => &self.incoming.pop3,
            Protocol::Imap => &self.incoming.imap,
        }
    }

    /// Why `address` cannot be one of this provider's people, when its domain is not one of
    /// the provider's: the one wording every command uses.
    pub fn outside_domains(&self, address: &crate::input::account::Address) -> Option<String> {
        if self.domains.contains(address.domain()) {
            return None;
        }
        let domains: Vec<&str> = self.domains.iter().map(|d| d.as_str()).collect();
        Some(format!(
            "{address} is not in the provider's mail domains ({}): correct the address",
            domains.join(", ")
        ))
    }

    pub fn notice(&self, id: &str) -> Option<&Notice> {
        self.notices.iter().find(|n| n.id.as_str() == id)
    }
}

fn duplicate<'a>(mut items: impl Iterator<Item = &'a str>) -> Option<&'a str> {
    let mut seen = std::collections::BTreeSet::new();
    items.find(|item| !seen.insert(*item))
}

/// 1-based line of byte offset `at` in `text`.
fn line_of(text: &str, at: usize) -> usize {
    text[..at.min(text.len())].matches('\n').count() + 1
}

/// Prefixes the TOML parser's message with the key it is about, when the span shows one.
fn with_key(message: &str, text: &str, span: std::ops::Range<usize>) -> String {
    let line_start = text[..span.start.min(text.len())]
        .rfind('\n')
        .map_or(0, |i| i + 1);
    let line = text[line_start..].lines().next().unwrap_or("");
    match line.split_once('=') {
        Some((key, _)) if !key.trim().is_empty() && !key.trim_start().starts_with('[') => {
            format!("{}: {message}", key.trim())
        }
        _ => message.to_string(),
    }
}

/// Line of the first line that starts with `[key` or `[[key`, or 1.
fn key_line(text: &str, key: &str) -> usize {
    text.lines()
        .position(|l| {
            let l = l.trim_start().trim_start_matches('[');
            l.starts_with(key)
        })
        .map_or(1, |i| i + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kumail_has_the_documented_servers() {
        let p = Provider::kumail();
        assert_eq!(p.domains.primary().as_str(), "kyoto-u.ac.jp");
        assert_eq!(p.preferred, Protocol::Pop3);
        let pop = p.incoming(Protocol::Pop3);
        assert_eq!(
            (pop.host.as_str(), pop.port.get(), pop.security),
            ("pop.gmail.com", 995, Security::Tls)
        );
        let imap = p.incoming(Protocol::Imap);
        assert_eq!(
            (imap.host.as_str(), imap.port.get(), imap.security),
            ("imap.gmail.com", 993, Security::Tls)
        );
        assert_eq!(
            (p.smtp.host.as_str(), p.smtp.port.get(), p.smtp.security),
            ("smtp.gmail.com", 587, Security::Starttls)
        );
        assert!(p.pop.leave_on_server);
        assert_eq!(p.pop.days_on_server, None);
        assert!(p.notice("app-password").is_some());
    }

    #[test]
    fn kumail_has_guide_texts() {
        let g = Provider::kumail().guide;
        assert_eq!(
            g.password.as_ref().map(|p| p.url.as_str()),
            Some("https://myaccount.google.com/apppasswords")
        );
        assert_eq!(
            g.webmail_url.as_ref().map(Url::as_str),
            Some("https://mail.google.com/")
        );
        assert_eq!(g.sign_in_en.as_str(), "Sign in with Google");
    }

    #[test]
    fn urls_are_https_and_plain() {
        for good in [
            "https://mail.google.com/",
            "https://myaccount.google.com/apppasswords",
            "https://help.example.org:8443/a/b?x=1&y=%E3%81%82#top",
            "https://example.org",
        ] {
            assert!(Url::try_from(good.to_string()).is_ok(), "{good}");
        }
        for bad in [
            "",
            "http://example.org/",
            "HTTPS://example.org/",
            "javascript:alert(1)",
            "https://",
            "https://Example.org/",
            "https://example.org/a b",
            "https://example.org/\"onmouseover=x",
            "https://example.org/'",
            "https://example.org/<script>",
            "https://example.org/\\x",
            "https://example.org/\u{7f}",
            "https://example.org/\tx",
            "https://example.org/あ",
            "https://user:pw@example.org/",
            "https://example.org:0/",
            "https://example.org:99999/",
            "https://localhost/",
        ] {
            assert!(
                Url::try_from(bad.to_string()).is_err(),
                "{bad:?} was accepted"
            );
        }
    }

    #[test]
    fn guide_needs_both_languages_and_steps() {
        let e = err(&KUMAIL_TOML.replace("help_en = ", "# help_en = "));
        assert!(e.contains("help_en"), "{e}");
        let start = KUMAIL_TOML.find("steps_en = [").unwrap();
        let end = start + KUMAIL_TOML[start..].find("]\n").unwrap() + 2;
        let e = err(&format!(
            "{}steps_en = []\n{}",
            &KUMAIL_TOML[..start],
            &KUMAIL_TOML[end..]
        ));
        assert!(e.contains("steps is empty"), "{e}");
        let e = err(&KUMAIL_TOML.replace(
            "sign_in_ja = \"Google でログイン\"",
            "sign_in_ja = \"a\\nb\"",
        ));
        assert!(e.contains("control character"), "{e}");
    }

    fn err(text: &str) -> String {
        Provider::from_toml(text, Path::new("p.toml"))
            .unwrap_err()
            .to_string()
    }

    #[test]
    fn bad_values_name_the_line_and_key() {
        let bad_port = KUMAIL_TOML.replace("port = 995", "port = 70000");
        let line = bad_port.lines().position(|l| l == "port = 70000").unwrap() + 1;
        let e = err(&bad_port);
        assert!(e.starts_with(&format!("p.toml:{line}: port")), "{e}");
        assert!(e.contains("70000"), "{e}");

        let e = err(&KUMAIL_TOML.replace("port = 993", "port = 0"));
        assert!(e.contains("port 0 is out of range"), "{e}");

        let e = err(&KUMAIL_TOML.replace("security = \"starttls\"", "security = \"ssl\""));
        assert!(e.contains("security") && e.contains("ssl"), "{e}");

        let e = err(&KUMAIL_TOML.replace("host = \"smtp.gmail.com\"", "host = \"\""));
        assert!(e.contains("host is empty"), "{e}");

        let e = err(&KUMAIL_TOML.replace("domains = [\"kyoto-u.ac.jp\"]", "domains = []"));
        assert!(e.starts_with("p.toml:8: domains"), "{e}");

        let e = err(&KUMAIL_TOML.replace("domains = [\"kyoto-u.ac.jp\"]\n", ""));
        assert!(e.contains("domains"), "{e}");

        let e = err(&KUMAIL_TOML.replace("auth = [\"oauth2\", \"password\"]", "auth = []"));
        assert!(e.contains("auth needs at least one method"), "{e}");

        let e = err(&format!("{KUMAIL_TOML}\nunknown_key = 1\n"));
        assert!(e.contains("unknown_key"), "{e}");
    }
}
