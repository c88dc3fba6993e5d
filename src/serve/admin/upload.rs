//! The upload and its zip: the roster and the choices as `multipart/form-data`, read as the
//! CLI reads a roster ([`roster::parse`], the checks of [`bundle::check_accounts`]); problems
//! come back as the page's table, else the department's zip comes back as a download, made by
//! the bundle's own writer as it is sent: the zip is never whole in memory, and a client that
//! reads slowly holds back its own zip only. Nothing of an upload is written to disk or to the
//! log.

use std::io::{self, Write};
use std::path::Path;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context as TaskContext, Poll, ready};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyDataStream, BodyExt};
use hyper::body::Frame;
use hyper::header::{self, HeaderValue};
use hyper::{Request, StatusCode};
use tokio::sync::mpsc::error::TrySendError;
use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc};

use super::super::reply::{Reply, text, with_body};
use super::super::request::RequestBody;
use super::page::{Choices, MAX_PEOPLE, MAX_ROSTER, Outcome, Say, page, say};
use crate::bundle::{self, BundleOptions, Failure, Plan, PlanError};
use crate::diagnostic::{self, Diagnostic};
use crate::input::account::{Account, for_message, is_invisible_format};
use crate::input::provider::{Protocol, WindowsDir};
use crate::input::roster::{self, ReadOptions};
use crate::render::guide::{Lang, percent_encode};
use crate::render::index::DateSource;
use crate::render::outlook::PrfEncoding;
use crate::render::{Context, FormatGroup};

/// The largest request body: the roster and the form's other fields.
const MAX_BODY: u64 = MAX_ROSTER + 64 * 1024;
/// A larger body is still read (and dropped) up to this size before the 413, so that the
/// browser, still sending, sees the page that says why rather than a broken connection.
const DRAIN_UP_TO: u64 = 64 * 1024 * 1024;
/// How long a client may take to send its upload.
const UPLOAD_TIMEOUT: Duration = Duration::from_secs(120);
/// Zips being made at once: one, as making one uses every core. A zip whose client is not
/// reading stops being made, and lets the next one be made meanwhile.
const MAKING_AT_ONCE: usize = 1;
/// Zips being sent at once, made or waiting for their clients; each holds its people and the
/// parts of the zip that grow with them (its index, manifest and directory: a few MB for
/// [`MAX_PEOPLE`]). One more upload is asked to come back in a minute.
const SENDING_AT_ONCE: usize = 4;
/// The zip goes out in pieces of about this size, at most [`PIECES_WAITING`] of them made ahead
/// of the client.
const PIECE: usize = 64 * 1024;
const PIECES_WAITING: usize = 4;
/// People rendered per batch of a zip being sent (the CLI's 64 would hold 4 MB ahead of a
/// client that is not reading, for each such zip).
const BATCH: usize = 16;
/// How long a zip waits for its client to take the next piece before it is given up.
const CLIENT_STALL: Duration = Duration::from_secs(60);

/// What an upload is made with, for the server's life.
pub struct Uploads {
    ctx: Context<'static>,
    /// The public URL's path (`""` at the root).
    base: String,
    making: Arc<Semaphore>,
    sending: Arc<Semaphore>,
}

impl Uploads {
    pub fn new(ctx: Context<'static>, base: String) -> Uploads {
        Uploads {
            ctx,
            base,
            making: Arc::new(Semaphore::new(MAKING_AT_ONCE)),
            sending: Arc::new(Semaphore::new(SENDING_AT_ONCE)),
        }
    }

    /// `POST /admin/`: the roster and the choices, as `multipart/form-data`.
    pub async fn upload(&self, req: Request<RequestBody>, lang: Lang) -> Reply {
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
                drain(req.into_body(), UPLOAD_TIMEOUT).await;
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
        let Ok(sending) = self.sending.clone().try_acquire_owned() else {
            let mut r = page(
                &self.ctx,
                &self.base,
                lang,
                &choices,
                Outcome::Refused(StatusCode::SERVICE_UNAVAILABLE, say(lang, Say::Busy)),
            );
            r.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("60"));
            return r;
        };
        let Ok(making) = self.making.clone().acquire_owned().await else {
            return text(StatusCode::SERVICE_UNAVAILABLE, "the server is stopping\n");
        };
        let read_ctx = ctx.clone();
        let read_name = file_name.clone();
        // The roster's bytes are dropped once read: the people are what is kept.
        let prepared = tokio::task::spawn_blocking(move || {
            prepare(&read_ctx, &roster, &read_name, skip_invalid)
        })
        .await;
        let accounts = match prepared {
            Ok(Prepared::Ready(accounts)) => accounts,
            Ok(Prepared::Problems(problems)) => {
                let skippable = problems.iter().all(|p| p.skippable);
                // The name as sent, shown short and with any invisible character made visible.
                let shown = for_message(&file_name);
                return page(
                    &self.ctx,
                    &self.base,
                    lang,
                    &choices,
                    Outcome::Problems {
                        problems: &problems,
                        skippable,
                        file_name: &shown,
                    },
                );
            }
            Ok(Prepared::TooMany(count)) => return refuse(say(lang, Say::TooMany(count))),
            Ok(Prepared::NothingLeft) => return refuse(say(lang, Say::NothingLeft)),
            Err(_) => {
                diagnostic::error("reading a roster for the IT-staff page failed");
                return text(StatusCode::INTERNAL_SERVER_ERROR, "internal error\n");
            }
        };
        let (pieces, received) = mpsc::channel(PIECES_WAITING);
        let pipe = Pipe {
            pieces,
            piece: Vec::with_capacity(PIECE),
            making: Some(making),
            gate: self.making.clone(),
            runtime: tokio::runtime::Handle::current(),
        };
        let zip_stem = stem.clone();
        tokio::task::spawn_blocking(move || {
            let _sending = sending;
            if let Err(failure) = send_zip(&ctx, &accounts, &zip_stem, per_person, pipe) {
                // The failure's details may hold a person's data: the log gets its kind only. A
                // client that went away is no failure of ours.
                let kind = match failure {
                    Failure::Io(e) if e.kind() == io::ErrorKind::BrokenPipe => return,
                    Failure::Io(e) => e.kind().to_string(),
                    Failure::Render(_) => "rendering".into(),
                    Failure::Output(_) => "output".into(),
                };
                diagnostic::error(format_args!(
                    "making a bundle for the IT-staff page failed ({kind}); its download was cut \
                     off"
                ));
            }
        });
        let name = if per_person {
            format!("{stem}-per-person")
        } else {
            stem
        };
        let body = ZipBody {
            received,
            ended: false,
        };
        let mut r = with_body(StatusCode::OK, "application/zip", body.boxed());
        let headers = r.headers_mut();
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        headers.insert(header::CONTENT_DISPOSITION, attachment(&name));
        r
    }

    /// The context of the choices: `None` without any format, the reason for a bad PRF folder.
    /// The server's signing identity signs the profiles; the rest is the form's.
    fn context(&self, choices: &Choices) -> Option<Result<Context<'static>, String>> {
        let dir = choices.prf_dir.trim();
        let prf_dir = if dir.is_empty() {
            None
        } else {
            match WindowsDir::parse(dir) {
                Ok(dir) => Some(dir),
                Err(why) => return Some(Err(why)),
            }
        };
        let formats = [
            (choices.thunderbird, FormatGroup::Thunderbird),
            (choices.apple, FormatGroup::Apple),
            (choices.outlook, FormatGroup::Outlook),
            (choices.guides, FormatGroup::Guides),
        ]
        .into_iter()
        .filter_map(|(on, group)| on.then_some(group))
        .collect();
        let plan = Plan {
            protocol: Some(if choices.imap {
                Protocol::Imap
            } else {
                Protocol::Pop3
            }),
            apple_google: Some(choices.google),
            formats: Some(formats),
            prf_encoding: if choices.cp932 {
                PrfEncoding::Cp932
            } else {
                PrfEncoding::Utf16le
            },
            prf_dir,
            signer: self.ctx.signer.clone(),
        };
        match plan.context(self.ctx.provider) {
            Ok(ctx) => Some(Ok(ctx)),
            Err(PlanError::NoFormats) => None,
        }
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

/// Reads a request's body to its end and drops it, for at most `limit`: a browser still sending
/// its form then sees the answer instead of a broken connection.
pub async fn drain(mut body: RequestBody, limit: Duration) {
    let _ = tokio::time::timeout(limit, async {
        while let Some(Ok(_)) = body.frame().await {}
    })
    .await;
}

/// What became of an upload's roster.
enum Prepared {
    Ready(Vec<Account>),
    Problems(Vec<Diagnostic>),
    TooMany(usize),
    NothingLeft,
}

/// Reads the roster as `mailconf bundle` does (the encoding detected) and checks every person
/// against the chosen formats.
fn prepare(ctx: &Context<'_>, bytes: &[u8], file_name: &str, skip_invalid: bool) -> Prepared {
    let options = ReadOptions {
        encoding: None,
        skip_invalid,
    };
    let file = Path::new(file_name);
    let roster = match roster::parse(bytes, file, ctx.provider, options) {
        Ok(roster) => roster,
        Err(problems) => return Prepared::Problems(problems),
    };
    if roster.accounts.len() > MAX_PEOPLE {
        return Prepared::TooMany(roster.accounts.len());
    }
    let checked =
        match bundle::check_accounts(ctx, file, roster.accounts, &roster.lines, skip_invalid) {
            Ok(checked) => checked,
            Err(problems) => return Prepared::Problems(problems),
        };
    if checked.accounts.is_empty() {
        return Prepared::NothingLeft;
    }
    Prepared::Ready(checked.accounts)
}

/// Makes the zip into `pipe`, as it is sent: the department's, or with `per_person`, one holding
/// each person's zip under `STEM-per-person/`.
fn send_zip(
    ctx: &Context<'_>,
    accounts: &[Account],
    stem: &str,
    per_person: bool,
    mut pipe: Pipe,
) -> Result<(), Failure> {
    let options = BundleOptions {
        timestamp: bundle::timestamp_now(),
        in_memory: true,
        // A zip waiting for its reader holds the batches made ahead: small ones.
        batch: BATCH,
        // An upload carries no file time: the zip is dated when the roster was sent.
        dated: bundle::date_source(DateSource::Sent),
        ..BundleOptions::default()
    };
    if per_person {
        bundle::write_people_zips(ctx, accounts, stem, &mut pipe, &options)?;
    } else {
        bundle::write_zip(ctx, accounts, stem, &mut pipe, &options)?;
    }
    pipe.finish()?;
    Ok(())
}

/// A piece of the zip on its way to the client.
enum Piece {
    Data(Bytes),
    /// The zip is whole.
    End,
}

/// Where the zip is written: pieces handed to the answer's body ([`ZipBody`]). While the client
/// is not taking them, the writer waits, and lets another zip be made meanwhile.
struct Pipe {
    pieces: mpsc::Sender<Piece>,
    piece: Vec<u8>,
    /// Leave to make a zip now: held while making, let go while waiting for the client.
    making: Option<OwnedSemaphorePermit>,
    gate: Arc<Semaphore>,
    runtime: tokio::runtime::Handle,
}

impl Pipe {
    fn send(&mut self, piece: Piece) -> io::Result<()> {
        let gone = || io::Error::new(io::ErrorKind::BrokenPipe, "the client went away");
        let piece = match self.pieces.try_send(piece) {
            Ok(()) => return Ok(()),
            Err(TrySendError::Closed(_)) => return Err(gone()),
            Err(TrySendError::Full(piece)) => piece,
        };
        // The client reads more slowly than the zip is made: another zip may be made meanwhile.
        self.making = None;
        match self
            .runtime
            .block_on(tokio::time::timeout(CLIENT_STALL, self.pieces.send(piece)))
        {
            Ok(Ok(())) => {}
            Ok(Err(_)) => return Err(gone()),
            Err(_) => {
                return Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    "the client took nothing for a minute",
                ));
            }
        }
        let making = self
            .runtime
            .block_on(self.gate.clone().acquire_owned())
            .map_err(|_| gone())?;
        self.making = Some(making);
        Ok(())
    }

    fn send_piece(&mut self) -> io::Result<()> {
        let piece = std::mem::replace(&mut self.piece, Vec::with_capacity(PIECE));
        self.send(Piece::Data(Bytes::from(piece)))
    }

    /// Sends what is left and says the zip is whole.
    fn finish(mut self) -> io::Result<()> {
        self.flush()?;
        self.making = None;
        self.send(Piece::End)
    }
}

impl Write for Pipe {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.piece.extend_from_slice(buf);
        if self.piece.len() >= PIECE {
            self.send_piece()?;
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        if !self.piece.is_empty() {
            self.send_piece()?;
        }
        Ok(())
    }
}

/// The answer's body: the zip's pieces as they are made. Should the zip not be finished (a
/// failure, or the server stopping), the body ends in an error, so that the client sees a cut
/// download rather than a zip that looks whole.
struct ZipBody {
    received: mpsc::Receiver<Piece>,
    ended: bool,
}

impl hyper::body::Body for ZipBody {
    type Data = Bytes;
    type Error = io::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut TaskContext<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, io::Error>>> {
        let this = self.get_mut();
        if this.ended {
            return Poll::Ready(None);
        }
        match ready!(this.received.poll_recv(cx)) {
            Some(Piece::Data(bytes)) => Poll::Ready(Some(Ok(Frame::data(bytes)))),
            Some(Piece::End) => {
                this.ended = true;
                Poll::Ready(None)
            }
            None => Poll::Ready(Some(Err(io::Error::other("the zip could not be finished")))),
        }
    }

    fn is_end_stream(&self) -> bool {
        self.ended
    }
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
            let invisible = is_invisible_format(c)
                || matches!(c, '\u{206A}'..='\u{206F}' | '\u{FFF0}'..='\u{FFFF}');
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
