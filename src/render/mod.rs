//! Rendering: one module per output format, each knowing its template, its escaper and its
//! file name. Renderers take validated models only.

pub mod apple;
pub mod escape;
pub mod publish;
pub mod thunderbird;

use std::sync::Arc;

use crate::account::Account;
use crate::provider::{Protocol, Provider};
use crate::sign::{SignError, Signer};

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
    #[error(transparent)]
    Sign(#[from] SignError),
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
}

impl Format {
    /// Every per-user format, in the order their files are listed.
    pub const ALL: &'static [Format] = &[Format::Thunderbird, Format::Apple, Format::AppleGoogle];

    /// Whether a run produces this format unless asked otherwise (`AppleGoogle` is opt-in).
    pub fn on_by_default(self) -> bool {
        !matches!(self, Format::AppleGoogle)
    }

    /// The file name of this format's file for `account`, inside the user's folder.
    pub fn file_name(self, account: &Account) -> String {
        match self {
            Format::Thunderbird => thunderbird::FILE_NAME.to_string(),
            Format::Apple => apple::mail_file_name(account),
            Format::AppleGoogle => apple::google_file_name(account),
        }
    }

    /// Renders this format's file for `account`.
    pub fn render(self, ctx: &Context<'_>, account: &Account) -> Result<Vec<u8>, RenderError> {
        match self {
            Format::Thunderbird => thunderbird::render_for(ctx, account),
            Format::Apple => apple::render_mail(ctx, account),
            Format::AppleGoogle => apple::render_google(ctx, account),
        }
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
    /// Signs Apple profiles when set.
    pub signer: Option<Arc<Signer>>,
}

impl<'a> Context<'a> {
    /// The default formats, with the provider's preferred protocol unless `protocol` overrides
    /// it, and no signer.
    pub fn new(provider: &'a Provider, protocol: Option<Protocol>) -> Context<'a> {
        Context {
            provider,
            protocol: protocol.unwrap_or(provider.preferred),
            formats: Format::ALL
                .iter()
                .copied()
                .filter(|f| f.on_by_default())
                .collect(),
            signer: None,
        }
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

/// Renders an askama template to bytes, naming `what` on failure.
///
/// askama drops one final newline of a template file, so every template ends with a blank line
/// and every rendered file ends with a newline.
pub(crate) fn render_template(
    template: &impl askama::Template,
    what: &'static str,
) -> Result<Vec<u8>, RenderError> {
    template
        .render()
        .map(String::into_bytes)
        .map_err(|source| RenderError::Template { what, source })
}
