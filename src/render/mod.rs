//! Rendering: one module per output format, each knowing its template, its escaper and its
//! file name. Renderers take validated models only.

pub mod apple;
pub mod autodiscover;
pub mod escape;
pub mod guide;
pub mod index;
pub mod labels;
pub mod outlook;
pub mod publish;
pub mod qr;
pub mod thunderbird;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};

use crate::input::account::Account;
use crate::input::provider::{Protocol, Provider, WindowsDir};
use crate::sign::{SignError, Signer};
use outlook::PrfEncoding;

/// One rendered file: its path (relative, `/`-separated) and its bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Artifact {
    pub path: String,
    pub bytes: Vec<u8>,
}

#[derive(Debug, thiserror::Error)]
pub enum RenderError {
    #[error("rendering {what} failed: {source}")]
    Template {
        what: &'static str,
        source: askama::Error,
    },
    #[error("writing {what} failed: {source}")]
    Write {
        what: &'static str,
        source: std::io::Error,
    },
    #[error(transparent)]
    Outlook(#[from] outlook::OutlookError),
    #[error(transparent)]
    Sign(#[from] SignError),
}

impl RenderError {
    /// The account the error is about; `None` when it is about the provider, a template or signing.
    pub fn address(&self) -> Option<&crate::input::account::Address> {
        match self {
            RenderError::Outlook(e) => e.address(),
            RenderError::Template { .. } | RenderError::Write { .. } | RenderError::Sign(_) => None,
        }
    }
}

/// A per-user file format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, clap::ValueEnum)]
pub enum Format {
    /// Mozilla autoconfig for Thunderbird (`config-v1.1.xml`).
    Thunderbird,
    /// Apple configuration profile for Mail on Mac, iPhone and iPad (`ADDRESS.mobileconfig`).
    Apple,
    /// Apple profile adding a Google account, iPhone/iPad only (`ADDRESS-google.mobileconfig`).
    AppleGoogle,
    /// Classic Outlook profile file (`ADDRESS.prf`).
    OutlookPrf,
    /// Registry file making Outlook import the PRF at its next start (`ADDRESS.reg`).
    OutlookReg,
    /// Launcher starting Outlook with `/importprf` on the PRF beside it (`ADDRESS-outlook.cmd`).
    OutlookCmd,
    /// The person's guide, Japanese and English (`README.html`): which file to open where.
    Guide,
}

impl Format {
    /// Every per-user format, in the order their files are listed.
    pub const ALL: &'static [Format] = &[
        Format::Thunderbird,
        Format::Apple,
        Format::AppleGoogle,
        Format::OutlookPrf,
        Format::OutlookReg,
        Format::OutlookCmd,
        Format::Guide,
    ];

    /// Whether a run for `provider` produces this format unless asked otherwise: all but the
    /// Google sign-in profile, which only a Google Workspace provider gets by default.
    pub fn on_by_default(self, provider: &Provider) -> bool {
        match self {
            Format::AppleGoogle => provider.google_workspace,
            _ => true,
        }
    }

    /// The extension of this format's file name.
    pub fn extension(self) -> &'static str {
        match self {
            Format::Thunderbird => "xml",
            Format::Apple | Format::AppleGoogle => apple::EXTENSION,
            Format::OutlookPrf => "prf",
            Format::OutlookReg => "reg",
            Format::OutlookCmd => "cmd",
            Format::Guide => "html",
        }
    }

    /// Whether a file of this format can be sent by mail: Gmail refuses mail carrying a file
    /// whose type it blocks, even inside a zip ([`MAIL_BLOCKED_EXTENSIONS`]).
    pub fn mail_safe(self) -> bool {
        !MAIL_BLOCKED_EXTENSIONS.contains(&self.extension())
    }

    /// The file name of this format's file for `account`, inside the user's folder.
    pub fn file_name(self, account: &Account) -> String {
        match self {
            Format::Thunderbird => thunderbird::FILE_NAME.to_string(),
            Format::Apple => apple::mail_file_name(account),
            Format::AppleGoogle => apple::google_file_name(account),
            Format::OutlookPrf => outlook::prf_file_name(account),
            Format::OutlookReg => outlook::reg_file_name(account),
            Format::OutlookCmd => outlook::cmd_file_name(account),
            Format::Guide => guide::FILE_NAME.to_string(),
        }
    }

    /// Checks that this format can carry `account` with `ctx`'s choices: rendering fails on a
    /// validated account only where this does. Run it on every account before writing anything.
    pub fn check(self, ctx: &Context<'_>, account: &Account) -> Result<(), RenderError> {
        match self {
            Format::OutlookPrf => Ok(outlook::check(ctx, account)?),
            Format::Thunderbird
            | Format::Apple
            | Format::AppleGoogle
            | Format::OutlookReg
            | Format::OutlookCmd
            | Format::Guide => Ok(()),
        }
    }

    /// Renders this format's file for `account`.
    pub fn render(self, ctx: &Context<'_>, account: &Account) -> Result<Vec<u8>, RenderError> {
        match self {
            Format::Thunderbird => thunderbird::render_for(ctx, account),
            Format::Apple => apple::render_mail(ctx, account),
            Format::AppleGoogle => apple::render_google(ctx, account),
            Format::OutlookPrf => outlook::render_prf(ctx, account),
            Format::OutlookReg => outlook::render_reg(ctx, account),
            Format::OutlookCmd => outlook::render_cmd(ctx, account),
            Format::Guide => guide::render_for(ctx, account),
        }
    }
}

/// The file types Gmail refuses in mail, also inside a zip or another archive (Google's Gmail
/// Help, "File types blocked in Gmail", as of 2026). Mail that carries one is bounced.
pub const MAIL_BLOCKED_EXTENSIONS: &[&str] = &[
    "ade",
    "adp",
    "apk",
    "appx",
    "appxbundle",
    "bat",
    "cab",
    "chm",
    "cmd",
    "com",
    "cpl",
    "diagcab",
    "diagcfg",
    "diagpkg",
    "dll",
    "dmg",
    "ex",
    "ex_",
    "exe",
    "hta",
    "img",
    "ins",
    "iso",
    "isp",
    "jar",
    "jnlp",
    "js",
    "jse",
    "lib",
    "lnk",
    "mde",
    "mjs",
    "msc",
    "msi",
    "msix",
    "msixbundle",
    "msp",
    "mst",
    "nsh",
    "pif",
    "ps1",
    "scr",
    "sct",
    "shb",
    "sys",
    "vb",
    "vbe",
    "vbs",
    "vhd",
    "vxd",
    "wsc",
    "wsf",
    "wsh",
    "xll",
];

/// A family of per-user files, as chosen with `bundle --formats`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, clap::ValueEnum)]
pub enum FormatGroup {
    /// Thunderbird autoconfig.
    Thunderbird,
    /// Apple configuration profiles (and the Google-account one, when asked).
    Apple,
    /// Outlook's .prf, with the .reg and .cmd that import it.
    Outlook,
    /// The personal guide, README.html.
    Guides,
}

impl FormatGroup {
    /// Every group: the default selection.
    pub const ALL: &'static [FormatGroup] = &[
        FormatGroup::Thunderbird,
        FormatGroup::Apple,
        FormatGroup::Outlook,
        FormatGroup::Guides,
    ];

    /// The group `format` belongs to.
    pub fn of(format: Format) -> FormatGroup {
        match format {
            Format::Thunderbird => FormatGroup::Thunderbird,
            Format::Apple | Format::AppleGoogle => FormatGroup::Apple,
            Format::OutlookPrf | Format::OutlookReg | Format::OutlookCmd => FormatGroup::Outlook,
            Format::Guide => FormatGroup::Guides,
        }
    }

    /// Whether `format` belongs to this group.
    pub fn contains(self, format: Format) -> bool {
        FormatGroup::of(format) == self
    }
}

/// What every renderer needs besides the account: the provider and the choices made for this run.
#[derive(Debug, Clone)]
pub struct Context<'a> {
    pub provider: &'a Provider,
    /// The incoming protocol offered first.
    pub protocol: Protocol,
    /// The per-user formats to produce.
    pub formats: Vec<Format>,
    /// Encoding of Outlook `.prf` files.
    pub prf_encoding: PrfEncoding,
    /// Where the Outlook `.reg` file says the PRF is; `None`: the provider's `[outlook] prf_dir`.
    pub prf_dir: Option<WindowsDir>,
    /// Signs Apple profiles when set.
    pub signer: Option<Arc<Signer>>,
    /// How the guides are laid out and where their links point.
    pub view: guide::View,
    /// What every Apple profile shares, worked out on first use from `provider` (which a
    /// context keeps for its whole life).
    apple: OnceLock<apple::Shared>,
    /// The same for the provider's texts in every guide.
    guide: OnceLock<guide::Shared>,
}

impl<'a> Context<'a> {
    /// The provider's default formats, with its preferred protocol unless `protocol` overrides
    /// it, no signer and the guides laid out for a folder.
    pub fn new(provider: &'a Provider, protocol: Option<Protocol>) -> Context<'a> {
        Context {
            provider,
            protocol: protocol.unwrap_or(provider.preferred),
            formats: Format::ALL
                .iter()
                .copied()
                .filter(|f| f.on_by_default(provider))
                .collect(),
            signer: None,
            view: guide::View::default(),
            prf_encoding: PrfEncoding::default(),
            prf_dir: None,
            apple: OnceLock::new(),
            guide: OnceLock::new(),
        }
    }

    /// The provider's values every Apple profile shares, worked out once per run.
    pub(crate) fn apple(&self) -> &apple::Shared {
        self.apple.get_or_init(|| apple::Shared::new(self.provider))
    }

    /// The provider's texts every guide shows, escaped once per run.
    pub(crate) fn guide(&self) -> &guide::Shared {
        self.guide.get_or_init(|| guide::Shared::new(self.provider))
    }

    /// The same run for files sent by mail: the formats Gmail would refuse left out, so that
    /// the guides point only to files that arrive.
    pub fn mail_safe(&self) -> Context<'a> {
        let mut ctx = self.clone();
        ctx.formats.retain(|f| f.mail_safe());
        ctx
    }

    /// Keeps only the formats of the chosen groups.
    pub fn select(&mut self, groups: &[FormatGroup]) {
        self.formats
            .retain(|&f| groups.iter().any(|g| g.contains(f)));
    }

    /// Checks every chosen format for `account` (see [`Format::check`]).
    pub fn check(&self, account: &Account) -> Result<(), RenderError> {
        self.formats.iter().try_for_each(|f| f.check(self, account))
    }

    /// Every file of `account`, in format order, with paths relative to the user's folder.
    pub fn user_files(&self, account: &Account) -> Result<Vec<Artifact>, RenderError> {
        self.formats
            .iter()
            .map(|f| {
                Ok(Artifact {
                    path: f.file_name(account),
                    bytes: f.render(self, account)?,
                })
            })
            .collect()
    }
}

/// The size of the largest file of one kind rendered so far, to size the next one's buffer.
///
/// askama's own hint counts a template's text without its values and loops, so a guide's buffer
/// grew twice for every person (`bench/PROFILE.md`, "Measured choices in the code"). Only buffer
/// sizes depend on it, never bytes.
#[derive(Debug)]
pub(crate) struct SizeHint(AtomicUsize);

impl SizeHint {
    pub(crate) const fn new() -> SizeHint {
        SizeHint(AtomicUsize::new(0))
    }

    fn get(&self) -> usize {
        self.0.load(Ordering::Relaxed)
    }

    fn saw(&self, len: usize) {
        if len > self.get() {
            self.0.fetch_max(len, Ordering::Relaxed);
        }
    }
}

/// Renders an askama template to bytes, naming `what` on failure, in a buffer as large as the
/// largest file `size` has seen.
///
/// askama drops one final newline of a template file, so every template ends with a blank line
/// and every rendered file ends with a newline.
pub(crate) fn render_template<T: askama::Template>(
    template: &T,
    what: &'static str,
    size: &SizeHint,
) -> Result<Vec<u8>, RenderError> {
    let mut text = String::with_capacity(size.get().max(T::SIZE_HINT));
    template
        .render_into(&mut text)
        .map_err(|source| RenderError::Template { what, source })?;
    size.saw(text.len());
    Ok(text.into_bytes())
}
