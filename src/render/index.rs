//! The bundle's `index.html`: the page IT staff work from. Every user (sorted by address) with
//! links to their guide and files, how the bundle is laid out, where the `publish/` files go, and
//! what generated it. Japanese and English; self-contained; light rows so that a department of
//! thousands stays a fast page that the browser's find searches.

use askama::Template;

use super::qr::QrImage;
use super::{Context, Format, RenderError, guide, publish};
use crate::input::account::Account;
use crate::input::provider::Provider;

/// The index's path inside the bundle's top folder.
pub const FILE_NAME: &str = "index.html";

#[derive(Template)]
#[template(path = "bundle/index.html")]
struct IndexHtml<'a> {
    provider: &'a Provider,
    /// Every user, sorted by address; each row is built as it is written ([`IndexHtml::row`]),
    /// so the page streams out without a copy of the department in memory.
    accounts: &'a [&'a Account],
    /// The per-user formats other than the guide, in link order.
    others: Vec<Format>,
    /// The guide's file name, when the run makes guides.
    guide: Option<String>,
    publish: Vec<PublishRow>,
    /// "YYYY-MM-DD HH:MM UTC" when the bundle has a date, and where it came from.
    generated: Option<String>,
    dated_by: DateSource,
    version: &'static str,
    preferred: &'static str,
    /// People using the preferred protocol must first switch POP on (the provider's
    /// `[guide.pop]`, with POP preferred).
    pop_guide: bool,
    /// The self-service server's address and its QR code (a poster's), when the provider names it.
    self_service: Option<(String, Option<QrImage>)>,
}

struct IndexUser<'a> {
    name: &'a str,
    address: &'a str,
    /// The files other than the guide: (file name, short label).
    files: Vec<(String, String)>,
}

/// A file's link text in the users table: its name without the address it starts with
/// (`.mobileconfig`, `.prf`…), so a row of 5,000 stays short.
fn label(file: &str, address: &str) -> String {
    file.strip_prefix(address).unwrap_or(file).to_string()
}

/// One file of `publish/` and where it goes.
struct PublishRow {
    path: String,
    kind: PublishKind,
}

/// Where a publish file goes (the same facts as `publish/README.txt`).
enum PublishKind {
    Readme,
    /// `https://autoconfig.DOMAIN/mail/config-v1.1.xml`, one URL per domain.
    Autoconfig(Vec<String>),
    /// `https://DOMAIN/.well-known/autoconfig/mail/config-v1.1.xml`, one URL per domain.
    WellKnown(Vec<String>),
    /// Thunderbird's `isp` folder on lab PCs, as `DOMAIN.xml`.
    Isp(String),
    /// SRV records for a domain's zone.
    Dns(String),
    /// A file this page has no words for: see README.txt.
    Other,
}

fn classify(provider: &Provider, path: &str) -> PublishKind {
    let urls =
        |f: &dyn Fn(&str) -> String| provider.domains.iter().map(|d| f(d.as_str())).collect();
    if path == publish::README_PATH {
        PublishKind::Readme
    } else if path == publish::AUTOCONFIG_PATH {
        PublishKind::Autoconfig(urls(&|d| {
            format!("https://autoconfig.{d}/{}", publish::AUTOCONFIG_PATH)
        }))
    } else if path == publish::WELL_KNOWN_PATH {
        PublishKind::WellKnown(urls(&|d| {
            format!("https://{d}/{}", publish::WELL_KNOWN_PATH)
        }))
    } else if let Some(file) = path.strip_prefix("isp/") {
        PublishKind::Isp(file.to_string())
    } else if let Some(domain) = path
        .strip_prefix("dns/")
        .and_then(|f| f.strip_suffix(".zone"))
    {
        PublishKind::Dns(domain.to_string())
    } else {
        PublishKind::Other
    }
}

/// The bundle's date (UTC, to the minute), and where it came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Generated {
    pub year: u16,
    pub month: u8,
    pub day: u8,
    pub hour: u8,
    pub minute: u8,
    pub source: DateSource,
}

/// Where a bundle's date comes from, said beside it on the index.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DateSource {
    /// The roster file's modification time (`mailconf bundle`).
    #[default]
    RosterFile,
    /// The time the roster was sent to the IT-staff page (`mailconf serve`: an upload carries no
    /// file time).
    Sent,
    /// `SOURCE_DATE_EPOCH`, set for reproducible builds.
    SourceDateEpoch,
}

/// Renders the index for `sorted` (already sorted by address). `publish_paths` are the files of
/// `publish/`, relative to it; `generated` is the bundle's date when it was given
/// (`SOURCE_DATE_EPOCH`), so that the same inputs always give the same page.
pub fn render(
    ctx: &Context<'_>,
    sorted: &[&Account],
    publish_paths: &[&str],
    generated: Option<Generated>,
) -> Result<Vec<u8>, RenderError> {
    let mut out = Vec::new();
    write(ctx, sorted, publish_paths, generated, &mut out)?;
    Ok(out)
}

/// Writes the index (see [`render`]) into `out` as it renders.
pub fn write(
    ctx: &Context<'_>,
    sorted: &[&Account],
    publish_paths: &[&str],
    generated: Option<Generated>,
    out: &mut dyn std::io::Write,
) -> Result<(), RenderError> {
    let guide = ctx
        .formats
        .contains(&Format::Guide)
        .then(|| guide::FILE_NAME.to_string());
    let others: Vec<Format> = ctx
        .formats
        .iter()
        .copied()
        .filter(|f| *f != Format::Guide)
        .collect();
    let template = IndexHtml {
        provider: ctx.provider,
        accounts: sorted,
        others,
        guide,
        publish: publish_paths
            .iter()
            .map(|p| PublishRow {
                path: p.to_string(),
                kind: classify(ctx.provider, p),
            })
            .collect(),
        generated: generated.map(|t| {
            format!(
                "{:04}-{:02}-{:02} {:02}:{:02} UTC",
                t.year, t.month, t.day, t.hour, t.minute
            )
        }),
        dated_by: generated.map_or(DateSource::RosterFile, |t| t.source),
        version: guide::VERSION,
        preferred: guide::protocol_label(ctx.protocol),
        pop_guide: ctx.protocol == crate::input::provider::Protocol::Pop3
            && ctx.provider.guide.pop.is_some(),
        self_service: ctx.provider.serve.public_url.as_ref().map(|url| {
            let root = format!("{}/", url.base());
            let qr = QrImage::of(&root);
            (root, qr)
        }),
    };
    template
        .write_into(out)
        .map_err(|source| RenderError::Write {
            what: "the bundle's index.html",
            source,
        })
}

impl<'a> IndexHtml<'a> {
    /// One row of the users table.
    fn row(&self, a: &'a Account) -> IndexUser<'a> {
        IndexUser {
            name: a.name.as_ref().map_or("", |n| n.as_str()),
            address: a.address.as_str(),
            files: self
                .others
                .iter()
                .map(|f| {
                    let file = f.file_name(a);
                    let label = label(&file, a.address.as_str());
                    (file, label)
                })
                .collect(),
        }
    }
}
