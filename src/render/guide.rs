//! The personal guide (`README.html`): which way to set the account up on which device, what
//! to do in Gmail first for POP, the password to type, the settings for any other client and the
//! provider's notices, in Japanese then English.
//!
//! Everything institution-specific comes from the provider (`[guide]`, `[[notices]]`, servers,
//! `[autoconfig]`); the generic steps for each device are in `templates/guide/`. Values reach the
//! page only through askama's HTML escaper: the person's own as the page is rendered, the
//! provider's texts once per run ([`Shared`], as [`HtmlText`]). The page is self-contained: no
//! scripts, no external resources; links go to the person's files (beside it, or on the server
//! that serves the page, [`Links`]) and to the provider's own https URLs.

use askama::Template;

use super::escape::HtmlText;
use super::labels;
use super::qr::QrImage;
use super::{Context, Format, RenderError, SizeHint, render_template};
use crate::input::account::Account;
use crate::input::provider::{
    AuthMethod, Guide, Notice, Protocol, Provider, Security, Server, Steps,
};

/// The guide's file name, in each user's folder.
pub const FILE_NAME: &str = "README.html";

/// The outgoing server of Thunderbird's own Gmail settings, which it offers to a domain without
/// autoconfig whose mail is at Google (its ISPDB entry `googlemail.com`, found through the
/// domain's MX: smtp.gmail.com, port 465, SSL/TLS, as Thunderbird 153 showed it;
/// `tests/it/thunderbird_app.rs` serves the same to the real Thunderbird).
pub const ISPDB_GMAIL_SMTP: (u16, Security) = (465, Security::Tls);

/// Pictures of other programs' screens that the guides served by `mailconf serve` show beside a
/// step (`GET /guide/img/NAME`): taken by `tests/it/thunderbird_app.rs` from the real program (with
/// `MAILCONF_UPDATE_DIST`), and cropped to what holds no address or server, so that they fit any
/// provider. A bundle's guides leave them out: every person's folder would carry them.
pub const PICTURES: [(&str, &[u8]); 2] = [
    (
        "thunderbird-choose-pop3-ja.png",
        include_bytes!("../../templates/guide/img/thunderbird-choose-pop3-ja.png"),
    ),
    (
        "thunderbird-choose-pop3-en.png",
        include_bytes!("../../templates/guide/img/thunderbird-choose-pop3-en.png"),
    ),
];

/// The picture `name` of [`PICTURES`], if there is one.
pub fn picture(name: &str) -> Option<&'static [u8]> {
    PICTURES
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, bytes)| *bytes)
}

/// The tool's version, shown in the guides and the index.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

#[derive(Template)]
#[template(path = "guide/README.html")]
struct GuideHtml<'a> {
    address: &'a str,
    name: Option<&'a str>,
    provider: &'a ProviderTexts,
    guide: &'a GuideTexts,
    notices: &'a [NoticeTexts],
    preferred: &'static str,
    alternative: &'static str,
    /// The setup files (Apple profile, Outlook PRF) configure POP: every POP way starts in Gmail.
    pop: bool,
    settings: Vec<SettingRow<'a>>,
    /// The provider's servers as Thunderbird's manual setup asks for them.
    thunderbird: [SettingRow<'a>; 2],
    devices: Devices,
    /// The languages of the page, in order.
    langs: &'a [Lang],
    /// The device sections, in order.
    sections: Vec<Device>,
    links: &'a Links,
    /// Apple profiles are signed (else the device shows them as unsigned).
    signed: bool,
    /// The domain's autoconfig is published: Thunderbird finds the provider's settings itself.
    autoconfig_published: bool,
    /// The mail is at Google: without autoconfig, Thunderbird offers its own Gmail settings.
    google_workspace: bool,
    /// Thunderbird signs in with OAuth2 (its first usable method is OAuth2): no password.
    thunderbird_oauth: bool,
    /// The person's own page on the self-service server, and its QR code (in a folder's guide,
    /// when the provider names the server).
    self_service: Option<SelfService>,
    /// The same page in the other language (a served page shows one language).
    switch: Option<(Lang, &'a str)>,
    /// What a Thunderbird POP account must be set to so that it follows the provider's `[pop]`.
    leave_on_server: bool,
    days_on_server: Option<u16>,
    version: &'static str,
}

impl GuideHtml<'_> {
    fn has_apple_google(&self) -> bool {
        self.devices.apple_google.is_some()
    }

    /// Outlook needs the PRF and one way to import it: the `.cmd` or the `.reg`.
    fn has_outlook(&self) -> bool {
        self.devices.outlook_prf.is_some()
            && (self.devices.outlook_cmd.is_some() || self.devices.outlook_reg.is_some())
    }

    fn has_thunderbird(&self) -> bool {
        self.devices.thunderbird.is_some()
    }

    /// Files come in a folder (the bundle or a person's zip): it must be extracted first.
    fn in_folder(&self) -> bool {
        matches!(self.links, Links::Folder)
    }

    /// Whether POP must be switched on before this page's POP ways work.
    fn pop_first(&self) -> bool {
        self.pop && self.guide.pop.is_some()
    }

    /// The link to one of the person's files.
    fn href(&self, file: &str) -> String {
        self.links.href(self.address, self.name, file)
    }

    /// The address of the picture `name` in `lang` ([`PICTURES`]) on the server that serves this
    /// page; `None` in a folder's guide.
    fn picture(&self, name: &str, lang: &Lang) -> Option<String> {
        match self.links {
            Links::Web { base } => Some(format!("{base}/guide/img/{name}-{}.png", lang.code())),
            Links::Folder => None,
        }
    }

    /// The key of the preferred protocol's label in Thunderbird ([`labels`]).
    fn tb_protocol_key(&self) -> &'static str {
        if self.pop { "tb.pop3" } else { "tb.imap" }
    }

    /// The port of the outgoing server in Thunderbird's own Gmail settings ([`ISPDB_GMAIL_SMTP`]).
    fn gmail_smtp_port(&self) -> u16 {
        ISPDB_GMAIL_SMTP.0
    }

    /// The provider's outgoing server is not the one of Thunderbird's Gmail settings: the guide
    /// says how to change it, for those who want the provider's.
    fn smtp_differs_from_gmail(&self) -> bool {
        let smtp = &self.thunderbird[1];
        (smtp.port, smtp.security) != ISPDB_GMAIL_SMTP
    }

    /// The number of Thunderbird's step "Continue" after the settings found (the guide's way to
    /// the provider's outgoing port replaces it): after open, address and found, and switching
    /// POP on.
    fn tb_continue_step(&self) -> u8 {
        if self.pop_first() { 5 } else { 4 }
    }

    /// A label of another program's screen, quoted ([`labels`]).
    fn ui(&self, key: &str, lang: &Lang) -> askama::Result<&'static HtmlText> {
        labels::quoted(key, *lang)
    }

    /// A label of another program's screen, as it is (a table's header).
    fn bare(&self, key: &str, lang: &Lang) -> askama::Result<&'static HtmlText> {
        labels::bare(key, *lang)
    }
}

/// A language of the guide.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Lang {
    Ja,
    En,
}

impl Lang {
    pub fn code(self) -> &'static str {
        match self {
            Lang::Ja => "ja",
            Lang::En => "en",
        }
    }
}

/// A device with a section of its own in the guide (any other mail app gets the settings).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Device {
    /// iPhone and iPad.
    Ios,
    Android,
    Mac,
    /// Windows, with classic Outlook.
    Windows,
    /// Thunderbird, on any computer.
    Thunderbird,
}

impl Device {
    /// The sections in the order a printed guide shows them: phones first, where Gmail's POP
    /// splits mail, then computers.
    pub const ORDER: [Device; 5] = [
        Device::Ios,
        Device::Android,
        Device::Mac,
        Device::Windows,
        Device::Thunderbird,
    ];
}

/// Where the guide's links to the person's files point.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Links {
    /// The files lie beside the guide, in the person's folder (the bundle, a person's zip).
    #[default]
    Folder,
    /// The files are downloaded one by one from a server: `{base}/files/ADDRESS/FILE`, with the
    /// person's name as a query (a profile carries it). `base` is the server's public URL, or
    /// empty for links from the server's root.
    Web { base: String },
}

impl Links {
    fn href(&self, address: &str, name: Option<&str>, file: &str) -> String {
        match self {
            Links::Folder => file.to_string(),
            Links::Web { base } => {
                let mut url = format!("{base}/files/{address}/{file}");
                if let Some(name) = name {
                    url.push_str("?name=");
                    url.push_str(&percent_encode(name));
                }
                url
            }
        }
    }
}

/// `text` percent-encoded for a URL's query: everything but unreserved ASCII (RFC 3986).
pub fn percent_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len() * 3);
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// How a run's guides are laid out: languages, which device comes first, where links point.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct View {
    pub langs: Vec<Lang>,
    /// This device's section comes first (the page knows the visitor's device).
    pub first: Option<Device>,
    pub links: Links,
    /// A link to the same page in another language, for a page in one language.
    pub switch: Option<(Lang, String)>,
}

impl Default for View {
    /// Japanese then English, sections in [`Device::ORDER`], files beside the guide.
    fn default() -> Self {
        View {
            langs: vec![Lang::Ja, Lang::En],
            first: None,
            links: Links::Folder,
            switch: None,
        }
    }
}

/// A person's page on the self-service server, for their folder's guide.
#[derive(Debug, Clone)]
struct SelfService {
    url: String,
    qr: Option<QrImage>,
}

/// The address of `account`'s page on the server at `base` (no trailing `/`): the form filled in.
pub fn self_service_url(base: &str, account: &Account) -> String {
    let mut url = format!(
        "{base}/?emailaddress={}",
        percent_encode(account.address.as_str())
    );
    if let Some(name) = &account.name {
        url.push_str("&name=");
        url.push_str(&percent_encode(name.as_str()));
    }
    url
}

/// The provider's texts every guide of a run shows, HTML-escaped once ([`Context::guide`]) instead
/// of on every page: the notices and password steps are most of what a page escapes. Field names
/// follow the provider's, so the template reads as if it had the provider.
#[derive(Debug, Clone)]
pub(crate) struct Shared {
    provider: ProviderTexts,
    guide: GuideTexts,
    notices: Vec<NoticeTexts>,
}

#[derive(Debug, Clone)]
struct ProviderTexts {
    names: NameTexts,
    /// The provider's primary domain.
    domain: HtmlText,
}

#[derive(Debug, Clone)]
struct NameTexts {
    display_ja: HtmlText,
    display_en: HtmlText,
    short: HtmlText,
}

#[derive(Debug, Clone)]
struct GuideTexts {
    help_ja: HtmlText,
    help_en: HtmlText,
    help_url: Option<HtmlText>,
    webmail_url: Option<HtmlText>,
    sign_in_ja: HtmlText,
    sign_in_en: HtmlText,
    password: Option<PasswordTexts>,
    pop: Option<PopTexts>,
    android: Option<AndroidTexts>,
}

#[derive(Debug, Clone)]
struct PasswordTexts {
    name_ja: HtmlText,
    name_en: HtmlText,
    url: HtmlText,
    steps_ja: Vec<HtmlText>,
    steps_en: Vec<HtmlText>,
}

#[derive(Debug, Clone)]
struct PopTexts {
    enable_steps_ja: Vec<HtmlText>,
    enable_steps_en: Vec<HtmlText>,
    enable_url: Option<HtmlText>,
    several_devices_ja: HtmlText,
    several_devices_en: HtmlText,
}

#[derive(Debug, Clone)]
struct AndroidTexts {
    app_ja: HtmlText,
    app_en: HtmlText,
    steps_ja: Vec<HtmlText>,
    steps_en: Vec<HtmlText>,
}

#[derive(Debug, Clone)]
struct NoticeTexts {
    id: HtmlText,
    ja: HtmlText,
    en: HtmlText,
}

impl Shared {
    pub(crate) fn new(provider: &Provider) -> Shared {
        let html = |text: &str| HtmlText::new(text);
        let steps = |steps: &Steps| steps.iter().map(|s| html(s.as_str())).collect();
        let guide: &Guide = &provider.guide;
        Shared {
            provider: ProviderTexts {
                names: NameTexts {
                    display_ja: html(provider.names.display_ja.as_str()),
                    display_en: html(provider.names.display_en.as_str()),
                    short: html(provider.names.short.as_str()),
                },
                domain: html(provider.domains.primary().as_str()),
            },
            guide: GuideTexts {
                help_ja: html(guide.help_ja.as_str()),
                help_en: html(guide.help_en.as_str()),
                help_url: guide.help_url.as_ref().map(|u| html(u.as_str())),
                webmail_url: guide.webmail_url.as_ref().map(|u| html(u.as_str())),
                sign_in_ja: html(guide.sign_in_ja.as_str()),
                sign_in_en: html(guide.sign_in_en.as_str()),
                password: guide.password.as_ref().map(|pw| PasswordTexts {
                    name_ja: html(pw.name_ja.as_str()),
                    name_en: html(pw.name_en.as_str()),
                    url: html(pw.url.as_str()),
                    steps_ja: steps(&pw.steps_ja),
                    steps_en: steps(&pw.steps_en),
                }),
                pop: guide.pop.as_ref().map(|pop| PopTexts {
                    enable_steps_ja: steps(&pop.enable_steps_ja),
                    enable_steps_en: steps(&pop.enable_steps_en),
                    enable_url: pop.enable_url.as_ref().map(|u| html(u.as_str())),
                    several_devices_ja: html(pop.several_devices_ja.as_str()),
                    several_devices_en: html(pop.several_devices_en.as_str()),
                }),
                android: guide.android.as_ref().map(|a| AndroidTexts {
                    app_ja: html(a.app_ja.as_str()),
                    app_en: html(a.app_en.as_str()),
                    steps_ja: steps(&a.steps_ja),
                    steps_en: steps(&a.steps_en),
                }),
            },
            notices: provider
                .notices
                .iter()
                .map(|n: &Notice| NoticeTexts {
                    id: html(n.id.as_str()),
                    ja: html(n.ja.as_str()),
                    en: html(n.en.as_str()),
                })
                .collect(),
        }
    }
}

/// The per-user files a guide can point to, by device: `Some(file name)` when the run produces
/// that format.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Devices {
    pub thunderbird: Option<String>,
    pub apple: Option<String>,
    pub apple_google: Option<String>,
    pub outlook_prf: Option<String>,
    pub outlook_reg: Option<String>,
    pub outlook_cmd: Option<String>,
    /// The absolute folder the `.reg` expects the PRF in (known once the Outlook formats exist).
    pub outlook_import_dir: Option<String>,
}

impl Devices {
    /// The files of `account` for the formats in `ctx`.
    pub fn for_account(ctx: &Context<'_>, account: &Account) -> Devices {
        let mut devices = Devices::default();
        for &format in &ctx.formats {
            let file = Some(format.file_name(account));
            match format {
                Format::Thunderbird => devices.thunderbird = file,
                Format::Apple => devices.apple = file,
                Format::AppleGoogle => devices.apple_google = file,
                Format::OutlookPrf => devices.outlook_prf = file,
                Format::OutlookReg => devices.outlook_reg = file,
                Format::OutlookCmd => devices.outlook_cmd = file,
                Format::Guide => {}
            }
        }
        if devices.outlook_reg.is_some() {
            devices.outlook_import_dir = Some(super::outlook::import_dir(ctx).to_string());
        }
        devices
    }
}

/// What a row of the settings table is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Preferred,
    Alternative,
    Outgoing,
}

/// One server of the settings tables.
struct SettingRow<'a> {
    role: Role,
    protocol: &'static str,
    host: &'a str,
    port: u16,
    security: Security,
    oauth: bool,
    password: bool,
    /// The provider's first method: the one Thunderbird uses.
    first_auth: AuthMethod,
}

impl<'a> SettingRow<'a> {
    fn security_label(&self) -> Option<&'static str> {
        security_label(self.security)
    }

    fn new(role: Role, protocol: &'static str, server: &'a Server) -> Self {
        SettingRow {
            role,
            protocol,
            host: server.host.as_str(),
            port: server.port.get(),
            security: server.security,
            oauth: server.auth.contains(AuthMethod::Oauth2),
            password: server.auth.contains(AuthMethod::Password),
            first_auth: server.auth.iter().next().unwrap_or(AuthMethod::Password),
        }
    }

    /// The key of this server's connection security label in Thunderbird ([`labels`]).
    fn tb_security_key(&self) -> &'static str {
        match self.security {
            Security::Tls => "tb.ssl-tls",
            Security::Starttls => "tb.starttls",
            Security::Plain => "tb.no-encryption",
        }
    }

    fn role_id(&self) -> &'static str {
        match self.role {
            Role::Preferred => "preferred",
            Role::Alternative => "alternative",
            Role::Outgoing => "outgoing",
        }
    }

    /// Thunderbird signs in to this server with OAuth2: the first method of the provider's
    /// list, as Thunderbird keeps the first one it supports.
    fn first_is_oauth(&self) -> bool {
        self.first_auth == AuthMethod::Oauth2
    }
}

/// The protocol as users see it named.
pub fn protocol_label(protocol: Protocol) -> &'static str {
    match protocol {
        Protocol::Pop3 => "POP3",
        Protocol::Imap => "IMAP",
    }
}

/// The security as mail clients name it; `None` for no encryption (each language names it).
pub fn security_label(security: Security) -> Option<&'static str> {
    match security {
        Security::Tls => Some("SSL/TLS"),
        Security::Starttls => Some("STARTTLS"),
        Security::Plain => None,
    }
}

/// Renders `account`'s guide, pointing to the files of the formats in `ctx`, laid out as
/// `ctx.view` says.
pub fn render_for(ctx: &Context<'_>, account: &Account) -> Result<Vec<u8>, RenderError> {
    render_with(ctx, account, Devices::for_account(ctx, account))
}

/// The device sections for these files, in order, `first` moved to the front.
fn sections(ctx: &Context<'_>, devices: &Devices, first: Option<Device>) -> Vec<Device> {
    let has_outlook = devices.outlook_prf.is_some()
        && (devices.outlook_cmd.is_some() || devices.outlook_reg.is_some());
    let shown = |d: Device| match d {
        Device::Ios => devices.apple.is_some() || devices.apple_google.is_some(),
        Device::Android => ctx.provider.guide.android.is_some(),
        Device::Mac => devices.apple.is_some(),
        Device::Windows => has_outlook,
        Device::Thunderbird => devices.thunderbird.is_some(),
    };
    let mut order: Vec<Device> = Device::ORDER.into_iter().filter(|&d| shown(d)).collect();
    if let Some(pos) = first.and_then(|f| order.iter().position(|&d| d == f)) {
        let device = order.remove(pos);
        order.insert(0, device);
    }
    order
}

/// Renders `account`'s guide for the given device files.
fn render_with(
    ctx: &Context<'_>,
    account: &Account,
    devices: Devices,
) -> Result<Vec<u8>, RenderError> {
    let provider = ctx.provider;
    let preferred = ctx.protocol;
    let alternative = preferred.other();
    let incoming = provider.incoming(preferred);
    let texts = ctx.guide();
    let view = &ctx.view;
    let template = GuideHtml {
        address: account.address.as_str(),
        name: account.name.as_ref().map(|n| n.as_str()),
        provider: &texts.provider,
        guide: &texts.guide,
        notices: &texts.notices,
        preferred: protocol_label(preferred),
        alternative: protocol_label(alternative),
        pop: preferred == Protocol::Pop3,
        settings: vec![
            SettingRow::new(Role::Preferred, protocol_label(preferred), incoming),
            SettingRow::new(
                Role::Alternative,
                protocol_label(alternative),
                provider.incoming(alternative),
            ),
            SettingRow::new(Role::Outgoing, "SMTP", &provider.smtp),
        ],
        thunderbird: [
            SettingRow::new(Role::Preferred, protocol_label(preferred), incoming),
            SettingRow::new(Role::Outgoing, "SMTP", &provider.smtp),
        ],
        sections: sections(ctx, &devices, view.first),
        devices,
        langs: &view.langs,
        links: &view.links,
        signed: ctx.signer.is_some(),
        self_service: match (&view.links, &provider.serve.public_url) {
            (Links::Folder, Some(public)) => {
                let url = self_service_url(public.base(), account);
                Some(SelfService {
                    qr: QrImage::of(&url),
                    url,
                })
            }
            _ => None,
        },
        switch: view
            .switch
            .as_ref()
            .map(|(lang, href)| (*lang, href.as_str())),
        autoconfig_published: provider.autoconfig.published,
        google_workspace: provider.google_workspace,
        thunderbird_oauth: incoming.auth.iter().next() == Some(AuthMethod::Oauth2)
            && provider.smtp.auth.iter().next() == Some(AuthMethod::Oauth2),
        leave_on_server: provider.pop.leave_on_server,
        days_on_server: provider.pop.days_on_server.map(|d| d.get()),
        version: VERSION,
    };
    static SIZE: SizeHint = SizeHint::new();
    render_template(&template, "the personal guide (README.html)", &SIZE)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::input::account::Address;
    use scraper::{Html, Selector};

    fn account() -> Account {
        Account {
            address: Address::parse("taro@kyoto-u.ac.jp").unwrap(),
            name: None,
        }
    }

    fn page(devices: Devices) -> Html {
        let provider = Provider::kumail();
        let ctx = Context::new(&provider, None);
        let bytes = render_with(&ctx, &account(), devices).unwrap();
        let html = Html::parse_document(std::str::from_utf8(&bytes).unwrap());
        assert!(html.errors.is_empty(), "{:?}", html.errors);
        html
    }

    fn ids(html: &Html) -> Vec<String> {
        html.select(&Selector::parse("h2[id]").unwrap())
            .map(|h| h.value().id().unwrap().to_string())
            .collect()
    }

    fn hrefs(html: &Html) -> Vec<String> {
        html.select(&Selector::parse("a[href]").unwrap())
            .map(|a| a.value().attr("href").unwrap().to_string())
            .collect()
    }

    fn all_devices() -> Devices {
        Devices {
            thunderbird: Some("config-v1.1.xml".into()),
            apple: Some("taro@kyoto-u.ac.jp.mobileconfig".into()),
            apple_google: Some("taro@kyoto-u.ac.jp-google.mobileconfig".into()),
            outlook_prf: Some("taro@kyoto-u.ac.jp.prf".into()),
            outlook_reg: Some("taro@kyoto-u.ac.jp.reg".into()),
            outlook_cmd: Some("taro@kyoto-u.ac.jp-outlook.cmd".into()),
            outlook_import_dir: Some(r"C:\Users\Public\Documents\KUMail".into()),
        }
    }

    #[test]
    fn the_formats_of_the_run_decide_the_devices() {
        let provider = Provider::kumail();
        let mut ctx = Context::new(&provider, None);
        let d = Devices::for_account(&ctx, &account());
        assert_eq!(d.thunderbird.as_deref(), Some("config-v1.1.xml"));
        assert_eq!(d.apple.as_deref(), Some("taro@kyoto-u.ac.jp.mobileconfig"));
        assert_eq!(
            d.apple_google.as_deref(),
            Some("taro@kyoto-u.ac.jp-google.mobileconfig"),
            "KUMail is Google Workspace: the Google profile is in by default"
        );
        assert_eq!(d.outlook_prf.as_deref(), Some("taro@kyoto-u.ac.jp.prf"));
        assert_eq!(d.outlook_reg.as_deref(), Some("taro@kyoto-u.ac.jp.reg"));
        assert_eq!(
            d.outlook_cmd.as_deref(),
            Some("taro@kyoto-u.ac.jp-outlook.cmd")
        );
        assert_eq!(
            d.outlook_import_dir.as_deref(),
            Some(r"C:\Users\Public\Documents\KUMail")
        );
        ctx.formats.retain(|&f| f != Format::AppleGoogle);
        assert_eq!(Devices::for_account(&ctx, &account()).apple_google, None);
        ctx.formats = vec![Format::Guide];
        assert_eq!(Devices::for_account(&ctx, &account()), Devices::default());
    }

    #[test]
    fn every_device_section_appears_when_its_files_exist() {
        let html = page(all_devices());
        let ids = ids(&html);
        for lang in ["ja", "en"] {
            for device in ["files", "password", "mac", "ios", "outlook", "thunderbird"] {
                let id = format!("{lang}-{device}");
                assert!(ids.contains(&id), "{id} missing from {ids:?}");
            }
        }
        let hrefs = hrefs(&html);
        for file in [
            "taro@kyoto-u.ac.jp.mobileconfig",
            "taro@kyoto-u.ac.jp-google.mobileconfig",
            "taro@kyoto-u.ac.jp.prf",
            "taro@kyoto-u.ac.jp.reg",
            "taro@kyoto-u.ac.jp-outlook.cmd",
            "config-v1.1.xml",
        ] {
            assert!(hrefs.iter().any(|h| h == file), "no link to {file}");
        }
        let text: String = html.root_element().text().collect();
        for words in [
            "「プライバシーとセキュリティ」>「プロファイル」",
            "Privacy & Security > Profiles",
            "「設定」>「一般」>「VPNとデバイス管理」",
            "Settings > General > VPN & Device Management",
            r"C:\Users\Public\Documents\KUMail",
            "Mac では何もしません",
            "does nothing on a Mac",
            "classic Outlook",
        ] {
            assert!(text.contains(words), "{words:?} missing");
        }
    }

    #[test]
    fn missing_devices_leave_no_section() {
        let html = page(Devices::default());
        let ids = ids(&html);
        for gone in ["ja-mac", "ja-ios", "ja-outlook", "ja-thunderbird", "en-mac"] {
            assert!(!ids.iter().any(|i| i == gone), "{gone} without its file");
        }
        assert!(ids.iter().any(|i| i == "ja-settings"));
        // The Google profile alone gets the iPhone section, without the Mac.
        let html = page(Devices {
            apple_google: Some("g.mobileconfig".into()),
            ..Devices::default()
        });
        let ids = self::ids(&html);
        assert!(ids.iter().any(|i| i == "en-ios") && !ids.iter().any(|i| i == "en-mac"));
        // Outlook needs the PRF and a way to import it.
        let html = page(Devices {
            outlook_prf: Some("a.prf".into()),
            ..Devices::default()
        });
        assert!(!self::ids(&html).iter().any(|i| i == "ja-outlook"));
    }
}
