//! Rendering: one module per output format, each knowing its template, its escaper and its
//! file name. Renderers take validated models only.

pub mod escape;
pub mod guide;
pub mod index;
pub mod publish;
pub mod thunderbird;

use crate::account::Account;
use crate::provider::{Protocol, Provider};

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
}

/// A per-user file format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, clap::ValueEnum)]
pub enum Format {
    /// Mozilla autoconfig for Thunderbird (`config-v1.1.xml`).
    Thunderbird,
    /// The person's guide, Japanese and English (`README.html`): which file to open where.
    Guide,
}

impl Format {
    /// Every per-user format, in the order their files are listed.
    pub const ALL: &'static [Format] = &[Format::Guide, Format::Thunderbird];

    /// The file name of this format's file for `account`, inside the user's folder.
    pub fn file_name(self, _account: &Account) -> String {
        match self {
            Format::Thunderbird => thunderbird::FILE_NAME.to_string(),
            Format::Guide => guide::FILE_NAME.to_string(),
        }
    }

    /// Renders this format's file for `account`.
    pub fn render(self, ctx: &Context<'_>, account: &Account) -> Result<Vec<u8>, RenderError> {
        match self {
            Format::Thunderbird => thunderbird::render_for(ctx, account),
            Format::Guide => guide::render_for(ctx, account),
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
}

impl<'a> Context<'a> {
    /// All formats, with the provider's preferred protocol unless `protocol` overrides it.
    pub fn new(provider: &'a Provider, protocol: Option<Protocol>) -> Context<'a> {
        Context {
            provider,
            protocol: protocol.unwrap_or(provider.preferred),
            formats: Format::ALL.to_vec(),
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
