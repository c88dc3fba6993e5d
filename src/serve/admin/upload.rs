//! The upload and its zip: the roster and the choices as `multipart/form-data`, read as the
//! CLI reads a roster ([`roster::parse`], the checks of [`bundle::check_accounts`]); problems
//! come back as the page's table, else the department's zip comes back as a download, built in
//! memory with the bundle's own writer. Nothing of an upload is written to disk or to the log.

use std::time::Duration;

use http_body_util::{BodyDataStream, BodyExt};
use hyper::body::Incoming;
use hyper::header::{self, HeaderValue};
use hyper::{Request, StatusCode};
use tokio::sync::Semaphore;

use super::super::reply::{Reply, response, text};
use super::page::{Choices, MAX_PEOPLE, MAX_ROSTER, Outcome, Say, page, say};
use crate::bundle::zipstream::{Compressed, ZipStream};
use crate::bundle::{self, BundleOptions, Failure};
use crate::input::account::for_message;
use crate::input::provider::{Protocol, WindowsDir};
use crate::input::roster::{self, Problem, ReadOptions};
use crate::render::guide::{Lang, percent_encode};
use crate::render::outlook::PrfEncoding;
use crate::render::{Context, Format, FormatGroup};

/// The largest request body: the roster and the form's other fields.
const MAX_BODY: u64 = MAX_ROSTER + 64 * 1024;
/// A larger body is still read (and dropped) up to this size before the 413, so that the
/// browser, still sending, sees the page that says why rather than a broken connection.
const DRAIN_UP_TO: u64 = 64 * 1024 * 1024;
/// How long a client may take to send its upload.
const UPLOAD_TIMEOUT: Duration = Duration::from_secs(120);
/// Bundles made at once: one, as a bundle uses every core already and its zip is held in memory
/// (about 200 MB for [`MAX_PEOPLE`]); the next upload waits its turn.
const BUILDS_AT_ONCE: usize = 1;

/// What an upload is made with, for the server's life.
pub struct Uploads {
    ctx: Context<'static>,
    /// The public URL's path (`""` at the root).
    base: String,
    builds: Semaphore,
}

impl Uploads {
    pub fn new(ctx: Context<'static>, base: String) -> Uploads {
        Uploads {
            ctx,
            base,
            builds: Semaphore::new(BUILDS_AT_ONCE),
        }
    }

    /// `POST /admin/`: the roster and the choices, as `multipart/form-data`.
    pub async fn upload(&self, req: Request<Incoming>, lang: Lang) -> Reply {
        let too_large = |this: &Uploads| {
            page(
                &this.ctx,
                &this.base,
                lang,
                &Choices::of(&this.ctx),
                Outcome::Refused(StatusCode::PAYLOAD_TOO_LARGE, say(lang, Say::TooLarge)),
            )
        };
        let boundary = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| multer::parse_boundary(v).ok());
        let Some(boundary) = boundary else {
            return text(
                StatusCode::BAD_REQUEST,
                "the form is sent as multipart/form-data\n",
            );
        };
        let declared = req
            .headers()
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        if let Some(declared) = declared.filter(|&n| n > MAX_BODY) {
            if declared <= DRAIN_UP_TO {
                let mut body = req.into_body();
                let _ = tokio::time::timeout(UPLOAD_TIMEOUT, async {
                    while let Some(Ok(_)) = body.frame().await {}
                })
                .await;
            }
            return too_large(self);
        }
        let constraints = multer::Constraints::new().size_limit(
            multer::SizeLimit::new()
                .whole_stream(MAX_BODY)
                .per_field(4096)
                .for_field("roster", MAX_ROSTER),
        );
        let body = BodyDataStream::new(req.into_body());
        let multipart = multer::Multipart::with_constraints(body, boundary, constraints);
        let form = match tokio::time::timeout(UPLOAD_TIMEOUT, read_form(multipart)).await {
            Err(_) => {
                return text(StatusCode::REQUEST_TIMEOUT, "the upload came too slowly\n");
            }
            Ok(Err(
                multer::Error::FieldSizeExceeded { .. } | multer::Error::StreamSizeExceeded { .. },
            )) => {
                return too_large(self);
            }
            Ok(Err(_)) => return text(StatusCode::BAD_REQUEST, "the form could not be read\n"),
            Ok(Ok(form)) => form,
        };
        let Form {
            choices,
            roster,
            file_name,
            unknown,
        } = form;
        let refuse = |message: String| {
            page(
                &self.ctx,
                &self.base,
                lang,
                &choices,
                Outcome::Refused(StatusCode::UNPROCESSABLE_ENTITY, message),
            )
        };
        if unknown {
            return text(
                StatusCode::BAD_REQUEST,
                "a choice of the form has an unknown value\n",
            );
        }
        let Some(roster) = roster.filter(|r| !r.is_empty()) else {
            return refuse(say(lang, Say::NoFile));
        };
        let Some(ctx) = self.context(&choices) else {
            return refuse(say(lang, Say::NoFormats));
        };
        let ctx = match ctx {
            Ok(ctx) => ctx,
            Err(why) => return refuse(say(lang, Say::PrfDir(&why))),
        };
        let stem = stem_of(&file_name);
        let skip_invalid = choices.skip_invalid;
        let per_person = choices.per_person;
        let Ok(_permit) = self.builds.acquire().await else {
            return text(StatusCode::SERVICE_UNAVAILABLE, "the server is stopping\n");
        };
        let build_stem = stem.clone();
        let built = tokio::task::spawn_blocking(move || {
            build(&ctx, &roster, &build_stem, skip_invalid, per_person)
        })
        .await;
        match built {
            Ok(Ok(Built::Zip(bytes))) => {
                let name = if per_person {
                    format!("{stem}-per-person")
                } else {
                    stem
                };
                let mut r = response(StatusCode::OK, "application/zip", bytes);
                let headers = r.headers_mut();
                headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
                headers.insert(header::CONTENT_DISPOSITION, attachment(&name));
                r
            }
            Ok(Ok(Built::Problems(problems))) => {
                let skippable = problems.iter().all(|p| p.row);
                // The name as sent, shown short and with any invisible character made visible.
                let shown = for_message(&file_name);
                page(
                    &self.ctx,
                    &self.base,
                    lang,
                    &choices,
                    Outcome::Problems {
                        problems: &problems,
                        skippable,
                        file_name: &shown,
                    },
                )
            }
            Ok(Ok(Built::TooMany(count))) => refuse(say(lang, Say::TooMany(count))),
            Ok(Ok(Built::NothingLeft)) => refuse(say(lang, Say::NothingLeft)),
            Ok(Err(failure)) => {
                // The failure's details may hold a person's data: the log gets its kind only.
                let kind = match failure {
                    Failure::Io(e) => e.kind().to_string(),
                    Failure::Render(_) => "rendering".into(),
                    Failure::Output(_) => "output".into(),
                };
                eprintln!("mailconf: error: making a bundle for the IT-staff page failed ({kind})");
                text(StatusCode::INTERNAL_SERVER_ERROR, "internal error\n")
            }
            Err(_) => {
                eprintln!("mailconf: error: making a bundle for the IT-staff page failed");
                text(StatusCode::INTERNAL_SERVER_ERROR, "internal error\n")
            }
        }
    }

    /// The context of the choices: `None` without any format, the reason for a bad PRF folder.
    fn context(&self, choices: &Choices) -> Option<Result<Context<'static>, String>> {
        let mut ctx = self.ctx.clone();
        ctx.protocol = if choices.imap {
            Protocol::Imap
        } else {
            Protocol::Pop3
        };
        // As `bundle --apple-google-account` or `--no-apple-google-account`, then `--formats`.
        if choices.google && !ctx.formats.contains(&Format::AppleGoogle) {
            ctx.formats.push(Format::AppleGoogle);
            ctx.formats.sort();
        }
        if !choices.google {
            ctx.formats.retain(|&f| f != Format::AppleGoogle);
        }
        let groups: Vec<FormatGroup> = [
            (choices.thunderbird, FormatGroup::Thunderbird),
            (choices.apple, FormatGroup::Apple),
            (choices.outlook, FormatGroup::Outlook),
            (choices.guides, FormatGroup::Guides),
        ]
        .into_iter()
        .filter_map(|(on, group)| on.then_some(group))
        .collect();
        if groups.is_empty() {
            return None;
        }
        ctx.select(&groups);
        ctx.prf_encoding = if choices.cp932 {
            PrfEncoding::Cp932
        } else {
            PrfEncoding::Utf16le
        };
        let dir = choices.prf_dir.trim();
        ctx.prf_dir = if dir.is_empty() {
            None
        } else {
            match WindowsDir::parse(dir) {
                Ok(dir) => Some(dir),
                Err(why) => return Some(Err(why)),
            }
        };
        Some(Ok(ctx))
    }
}

/// A form as sent.
struct Form {
    choices: Choices,
    roster: Option<Vec<u8>>,
    file_name: String,
    /// A choice had a value the form does not offer.
    unknown: bool,
}

/// Reads the form's fields; checkboxes not sent are off.
async fn read_form(mut multipart: multer::Multipart<'_>) -> Result<Form, multer::Error> {
    let mut form = Form {
        choices: Choices {
            thunderbird: false,
            apple: false,
            outlook: false,
            guides: false,
            google: false,
            imap: false,
            cp932: false,
            prf_dir: String::new(),
            per_person: false,
            skip_invalid: false,
        },
        roster: None,
        file_name: String::new(),
        unknown: false,
    };
    let mut fields = 0;
    while let Some(mut field) = multipart.next_field().await? {
        fields += 1;
        if fields > 32 {
            form.unknown = true;
            break;
        }
        let name = field.name().unwrap_or("").to_string();
        if name == "roster" {
            form.file_name = field.file_name().unwrap_or("").to_string();
            let mut bytes = Vec::new();
            while let Some(chunk) = field.chunk().await? {
                bytes.extend_from_slice(&chunk);
            }
            form.roster = Some(bytes);
            continue;
        }
        let value = field.text().await?;
        let c = &mut form.choices;
        match (name.as_str(), value.as_str()) {
            ("formats", "thunderbird") => c.thunderbird = true,
            ("formats", "apple") => c.apple = true,
            ("formats", "outlook") => c.outlook = true,
            ("formats", "guides") => c.guides = true,
            ("google", "on") => c.google = true,
            ("protocol", "pop") => c.imap = false,
            ("protocol", "imap") => c.imap = true,
            ("prf_encoding", "utf16le") => c.cp932 = false,
            ("prf_encoding", "cp932") => c.cp932 = true,
            ("prf_dir", dir) => c.prf_dir = dir.to_string(),
            ("per_person", "on") => c.per_person = true,
            ("skip_invalid", "on") => c.skip_invalid = true,
            (
                "formats" | "google" | "protocol" | "prf_encoding" | "per_person" | "skip_invalid",
                _,
            ) => {
                form.unknown = true;
            }
            _ => {}
        }
    }
    Ok(form)
}

/// What became of an upload.
enum Built {
    Zip(Vec<u8>),
    Problems(Vec<Problem>),
    TooMany(usize),
    NothingLeft,
}

/// Reads the roster as `mailconf bundle` does (the encoding detected), checks every person
/// against the chosen formats, and makes the zip in memory: the department's, or with
/// `per_person`, one holding each person's zip under `STEM-per-person/`.
fn build(
    ctx: &Context<'_>,
    bytes: &[u8],
    stem: &str,
    skip_invalid: bool,
    per_person: bool,
) -> Result<Built, Failure> {
    let options = ReadOptions {
        encoding: None,
        skip_invalid,
    };
    let roster = match roster::parse(bytes, ctx.provider, options) {
        Ok(roster) => roster,
        Err(problems) => return Ok(Built::Problems(problems)),
    };
    if roster.accounts.len() > MAX_PEOPLE {
        return Ok(Built::TooMany(roster.accounts.len()));
    }
    let checked = match bundle::check_accounts(ctx, roster.accounts, &roster.lines, skip_invalid) {
        Ok(checked) => checked,
        Err(problems) => return Ok(Built::Problems(problems)),
    };
    if checked.accounts.is_empty() {
        return Ok(Built::NothingLeft);
    }
    let options = BundleOptions {
        timestamp: bundle::timestamp_now(),
        in_memory: true,
        ..BundleOptions::default()
    };
    if !per_person {
        let mut zip = Vec::new();
        bundle::write_zip(ctx, &checked.accounts, stem, &mut zip, &options)?;
        return Ok(Built::Zip(zip));
    }
    // The department's zip is made too (each person's zip reuses its entries), and dropped.
    let folder = format!("{stem}-per-person");
    let mut outer = ZipStream::small(Vec::new(), options.timestamp);
    let mut add = |name: &str, bytes: &[u8]| {
        // A zip is deflated already: stored.
        outer
            .add(&Compressed::new(format!("{folder}/{name}"), bytes, 0))
            .map_err(Failure::Io)
    };
    bundle::write_zip_and_people(
        ctx,
        &checked.accounts,
        stem,
        std::io::sink(),
        &options,
        Some(&mut add),
    )?;
    Ok(Built::Zip(outer.finish()?))
}

/// The stem of an uploaded file's name, fit to name the zip's top folder and the download: the
/// name after any folder, before its last dot; control and invisible characters and those that
/// Windows refuses in file names become `_`; at most 100 characters; `roster` if nothing is
/// left.
pub fn stem_of(file_name: &str) -> String {
    let base = file_name.rsplit(['/', '\\']).next().unwrap_or("");
    let stem = match base.rfind('.') {
        Some(at) if at > 0 => &base[..at],
        _ => base,
    };
    let cleaned: String = stem
        .chars()
        .map(|c| {
            let invisible = matches!(c,
                '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2060}'..='\u{206F}'
                | '\u{FEFF}' | '\u{FFF0}'..='\u{FFFF}');
            if c.is_control()
                || invisible
                || matches!(c, '<' | '>' | ':' | '"' | '/' | '\\' | '|' | '?' | '*')
            {
                '_'
            } else {
                c
            }
        })
        .take(100)
        .collect();
    let mut cleaned = cleaned
        .trim_matches(|c: char| c == '.' || c.is_whitespace())
        .to_string();
    if cleaned.is_empty() {
        cleaned = "roster".into();
    }
    // Windows' reserved device names cannot name a folder.
    let upper = cleaned.to_ascii_uppercase();
    let device = matches!(upper.as_str(), "CON" | "PRN" | "AUX" | "NUL")
        || ((upper.starts_with("COM") || upper.starts_with("LPT"))
            && upper.len() == 4
            && upper.as_bytes()[3].is_ascii_digit());
    if device {
        cleaned.push('_');
    }
    cleaned
}

/// `Content-Disposition` of a zip named `STEM.zip`: an ASCII name for old clients, and the
/// name itself, percent-encoded UTF-8 (RFC 6266).
fn attachment(stem: &str) -> HeaderValue {
    let ascii: String = stem
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | ' ' | '(' | ')') {
                c
            } else {
                '_'
            }
        })
        .collect();
    let ascii = if ascii.chars().any(|c| c.is_ascii_alphanumeric()) {
        ascii
    } else {
        "roster".to_string()
    };
    let value = format!(
        "attachment; filename=\"{ascii}.zip\"; filename*=UTF-8''{}",
        percent_encode(&format!("{stem}.zip"))
    );
    HeaderValue::from_str(&value).unwrap_or_else(|_| HeaderValue::from_static("attachment"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stems_are_safe_to_name_a_folder_and_a_download() {
        for (name, stem) in [
            ("情報学研究科.csv", "情報学研究科"),
            ("C:\\Users\\me\\Desktop\\dept.2026.csv", "dept.2026"),
            ("../../etc/passwd", "passwd"),
            ("a\"b<c>|d?.csv", "a_b_c__d_"),
            ("evil\u{202E}vsc.exe", "evil_vsc"),
            ("line\nbreak.csv", "line_break"),
            (".csv", "csv"),
            ("", "roster"),
            ("...", "roster"),
            ("con.csv", "con_"),
            ("COM1.txt", "COM1_"),
        ] {
            assert_eq!(stem_of(name), stem, "{name:?}");
        }
        assert_eq!(stem_of(&"あ".repeat(300)).chars().count(), 100);
    }

    #[test]
    fn the_download_name_has_an_ascii_fallback_and_the_utf8_name() {
        assert_eq!(
            attachment("情報学研究科").to_str().unwrap(),
            "attachment; filename=\"roster.zip\"; filename*=UTF-8''%E6%83%85%E5%A0%B1%E5%AD%A6%E7%A0%94%E7%A9%B6%E7%A7%91.zip"
        );
        assert_eq!(
            attachment("dept 2026").to_str().unwrap(),
            "attachment; filename=\"dept 2026.zip\"; filename*=UTF-8''dept%202026.zip"
        );
    }
}
