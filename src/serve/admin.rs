//! The IT-staff page, `/admin/` (only with `--admin-htpasswd`): department IT staff sign in,
//! send a roster as Excel saved it, and get their department's bundle back, with no terminal.
//!
//! - Sign-in: HTTP Basic against the htpasswd file's bcrypt entries ([`super::htpasswd`]).
//!   bcrypt runs off the async workers, a few at a time; a success is remembered for a few
//!   minutes (keyed by a keyed SHA-256 of the name, the password and the entry) so that a page
//!   does not run bcrypt for every request. Five failures in a minute from one address lock it
//!   out for a minute (429).
//! - A POST from another origin (`Origin`, `Sec-Fetch-Site`) is refused (403) before anything.
//! - The roster goes through [`roster::parse`] as the CLI reads it and the checks of
//!   [`bundle::check_accounts`]; problems come back as a table, else the zip comes back as a
//!   download, built in memory with the bundle's own writer. Nothing of an upload is written to
//!   disk or to the log.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use askama::Template;
use base64::Engine;
use bytes::Bytes;
use http_body_util::{BodyDataStream, BodyExt, Full};
use hyper::body::Incoming;
use hyper::header::{self, HeaderMap, HeaderValue};
use hyper::{Method, Request, Response, StatusCode};
use sha2::{Digest, Sha256};
use tokio::sync::Semaphore;

use super::app::{html, method_not_allowed, response, text};
use super::htpasswd::{Users, Watched};
use super::page;
use crate::bundle::zipstream::{Compressed, ZipStream};
use crate::bundle::{self, BundleOptions, Failure};
use crate::input::account::for_message;
use crate::input::provider::{Names, Protocol, Url, WindowsDir};
use crate::input::roster::{self, Problem, ReadOptions};
use crate::render::guide::{Lang, VERSION, percent_encode};
use crate::render::outlook::PrfEncoding;
use crate::render::{Context, Format, FormatGroup, SizeHint, render_template};

/// The largest roster the page takes, in bytes (said on the page).
pub const MAX_ROSTER: u64 = 8 * 1024 * 1024;
/// The largest request body: the roster and the form's other fields.
const MAX_BODY: u64 = MAX_ROSTER + 64 * 1024;
/// A larger body is still read (and dropped) up to this size before the 413, so that the
/// browser, still sending, sees the page that says why rather than a broken connection.
const DRAIN_UP_TO: u64 = 64 * 1024 * 1024;
/// The most people in one upload: the zip is made in memory (10,000 people with every kind of
/// file: a 204 MB zip, the server's peak memory 227 MB). The page says it as `10,000`, which a
/// unit test keeps true.
pub const MAX_PEOPLE: usize = 10_000;
/// How long a client may take to send its upload.
const UPLOAD_TIMEOUT: Duration = Duration::from_secs(120);
/// Failed sign-ins from one address within [`FAILURE_WINDOW`] that lock it out.
const MAX_FAILURES: u32 = 5;
const FAILURE_WINDOW: Duration = Duration::from_secs(60);
/// How long a locked-out address gets 429.
const LOCKOUT: Duration = Duration::from_secs(60);
/// Addresses with failures remembered at most (the oldest goes first).
const MAX_CLIENTS: usize = 4096;
/// How long a successful sign-in is remembered, and how many at most.
const REMEMBER: Duration = Duration::from_secs(300);
const MAX_REMEMBERED: usize = 1024;
/// bcrypt checks run at once (each takes a core).
const CHECKS_AT_ONCE: usize = 2;
/// Bundles made at once: one, as a bundle uses every core already and its zip is held in memory
/// (about 200 MB for [`MAX_PEOPLE`]); the next upload waits its turn.
const BUILDS_AT_ONCE: usize = 1;
/// The realm of the Basic challenge.
const REALM: &str = "mailconf IT staff";

type Reply = Response<Full<Bytes>>;

/// The page's state for the server's life.
pub struct Admin {
    users: Watched,
    ctx: Context<'static>,
    /// The public URL's path (`""` at the root).
    base: String,
    /// `https://HOST[:PORT]` of the public URL, which a form must come from when given.
    public_origin: Option<String>,
    /// The server speaks TLS itself.
    tls: bool,
    /// A random key for [`Admin::remembered`]'s entries, new for every start.
    key: [u8; 32],
    remembered: Mutex<HashMap<[u8; 32], Instant>>,
    failures: Mutex<HashMap<IpAddr, Failures>>,
    checks: Semaphore,
    builds: Semaphore,
}

/// Failed sign-ins of one address.
struct Failures {
    count: u32,
    since: Instant,
    locked_until: Option<Instant>,
}

impl Admin {
    pub fn new(
        users: Watched,
        ctx: Context<'static>,
        base: String,
        public_url: Option<&Url>,
        tls: bool,
    ) -> Admin {
        let mut key = [0u8; 32];
        aws_lc_rs::rand::fill(&mut key).expect("the system's random numbers");
        Admin {
            users,
            ctx,
            base,
            public_origin: public_url.map(origin_of),
            tls,
            key,
            remembered: Mutex::new(HashMap::new()),
            failures: Mutex::new(HashMap::new()),
            checks: Semaphore::new(CHECKS_AT_ONCE),
            builds: Semaphore::new(BUILDS_AT_ONCE),
        }
    }

    /// Answers a request whose path is `/admin` or starts with `/admin/`.
    pub async fn handle(&self, req: Request<Incoming>, peer: SocketAddr) -> Reply {
        let path = req.uri().path().to_string();
        if path == "/admin" {
            let mut r = text(StatusCode::PERMANENT_REDIRECT, "see /admin/\n");
            if let Ok(to) = HeaderValue::from_str(&format!("{}/admin/", self.base)) {
                r.headers_mut().insert(header::LOCATION, to);
            }
            return r;
        }
        let method = req.method().clone();
        if method == Method::POST && !self.same_origin(req.headers(), req.uri()) {
            return text(
                StatusCode::FORBIDDEN,
                "a form sent from another site is refused: open the IT-staff page itself and send it from there\n",
            );
        }
        let client = client_of(peer, req.headers());
        if let Some(wait) = self.locked(client) {
            let mut r = text(
                StatusCode::TOO_MANY_REQUESTS,
                "too many failed sign-ins from your address: wait a minute and try again\n",
            );
            r.headers_mut().insert(
                header::RETRY_AFTER,
                HeaderValue::from(wait.as_secs().max(1)),
            );
            return r;
        }
        if let Err(refused) = self.sign_in(req.headers(), client).await {
            return refused;
        }
        let lang = language(&req);
        match (path.as_str(), &method) {
            ("/admin/", &Method::GET | &Method::HEAD) => {
                self.page(lang, &Choices::of(&self.ctx), Outcome::Blank)
            }
            ("/admin/", &Method::POST) => self.upload(req, lang).await,
            ("/admin/", _) => method_not_allowed("GET, HEAD, POST"),
            _ => text(StatusCode::NOT_FOUND, "not found\n"),
        }
    }

    /// Whether a POST comes from the page itself: `Sec-Fetch-Site`, when sent, says
    /// `same-origin` (or `none`, typed by the user), and `Origin`, when sent, is the public URL's
    /// origin, or without one, this request's own host (compared, never used to build a URL).
    fn same_origin(&self, headers: &HeaderMap, uri: &hyper::Uri) -> bool {
        let value = |name| {
            headers
                .get(name)
                .and_then(|v: &HeaderValue| v.to_str().ok())
        };
        if let Some(site) = value("sec-fetch-site")
            && !matches!(site, "same-origin" | "none")
        {
            return false;
        }
        let Some(origin) = value(header::ORIGIN.as_str()) else {
            return true;
        };
        match &self.public_origin {
            Some(expected) => origin.eq_ignore_ascii_case(expected),
            None => {
                // HTTP/2 carries the host as the URI's authority.
                let host = value(header::HOST.as_str())
                    .or_else(|| uri.authority().map(|a| a.as_str()))
                    .unwrap_or("");
                // Behind a TLS proxy the browser's origin is https even on a plain listener.
                let schemes: &[&str] = if self.tls {
                    &["https"]
                } else {
                    &["http", "https"]
                };
                !host.is_empty()
                    && schemes
                        .iter()
                        .any(|s| origin.eq_ignore_ascii_case(&format!("{s}://{host}")))
            }
        }
    }

    /// How long `client` is still locked out for, if it is.
    fn locked(&self, client: IpAddr) -> Option<Duration> {
        let mut failures = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        let now = Instant::now();
        let until = failures.get(&client)?.locked_until?;
        if until > now {
            Some(until - now)
        } else {
            failures.remove(&client);
            None
        }
    }

    fn failed(&self, client: IpAddr) {
        let mut failures = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        let now = Instant::now();
        if failures.len() >= MAX_CLIENTS && !failures.contains_key(&client) {
            failures.retain(|_, f| {
                now.duration_since(f.since) < FAILURE_WINDOW
                    || f.locked_until.is_some_and(|u| u > now)
            });
            if failures.len() >= MAX_CLIENTS
                && let Some(oldest) = failures
                    .iter()
                    .min_by_key(|(_, f)| f.since)
                    .map(|(k, _)| *k)
            {
                failures.remove(&oldest);
            }
        }
        let f = failures.entry(client).or_insert(Failures {
            count: 0,
            since: now,
            locked_until: None,
        });
        if now.duration_since(f.since) >= FAILURE_WINDOW {
            f.count = 0;
            f.since = now;
        }
        f.count += 1;
        if f.count >= MAX_FAILURES {
            f.locked_until = Some(now + LOCKOUT);
        }
    }

    /// Checks the request's Basic credentials; the answer to send when they do not pass.
    async fn sign_in(&self, headers: &HeaderMap, client: IpAddr) -> Result<(), Reply> {
        let Some(users) = self.users.users() else {
            return Err(text(
                StatusCode::SERVICE_UNAVAILABLE,
                "the IT-staff page cannot sign anyone in now: central IT must fix its password file\n",
            ));
        };
        // A browser asks first without credentials: that is no failure.
        let Some((user, password)) = basic_credentials(headers) else {
            return Err(challenge());
        };
        if self.check(&users, &user, &password).await {
            let mut failures = self.failures.lock().unwrap_or_else(|e| e.into_inner());
            failures.remove(&client);
            Ok(())
        } else {
            self.failed(client);
            Err(challenge())
        }
    }

    /// Whether `password` is `user`'s: remembered, or checked by bcrypt off the async workers.
    async fn check(&self, users: &Users, user: &str, password: &str) -> bool {
        let hash = users.hash_of(user).map(str::to_string);
        let mut digest = Sha256::new();
        digest.update(self.key);
        for part in [user, password, hash.as_deref().unwrap_or("")] {
            digest.update((part.len() as u64).to_le_bytes());
            digest.update(part.as_bytes());
        }
        let token: [u8; 32] = digest.finalize().into();
        let now = Instant::now();
        if hash.is_some() {
            let remembered = self.remembered.lock().unwrap_or_else(|e| e.into_inner());
            if remembered.get(&token).is_some_and(|&until| until > now) {
                return true;
            }
        }
        let Ok(_permit) = self.checks.acquire().await else {
            return false;
        };
        let known = hash.is_some();
        // A name the file does not have is refused after as much work as a wrong password (at
        // the cost most entries have), so that the time does not tell which names exist.
        let stand_in_cost = users.usual_cost();
        let salt = [self.key[0]; 16];
        let password = password.to_string();
        let matches = tokio::task::spawn_blocking(move || match hash {
            Some(hash) => bcrypt::verify(password.as_bytes(), &hash).unwrap_or(false),
            None => {
                let _ = bcrypt::hash_with_salt(password.as_bytes(), stand_in_cost, salt);
                false
            }
        })
        .await
        .unwrap_or(false);
        if matches && known {
            let mut remembered = self.remembered.lock().unwrap_or_else(|e| e.into_inner());
            if remembered.len() >= MAX_REMEMBERED {
                remembered.retain(|_, &mut until| until > now);
                if remembered.len() >= MAX_REMEMBERED {
                    remembered.clear();
                }
            }
            remembered.insert(token, now + REMEMBER);
        }
        matches && known
    }

    /// The page: the form with the choices made, and what came of the last upload.
    fn page(&self, lang: Lang, choices: &Choices, outcome: Outcome<'_>) -> Reply {
        let (status, error, problems, skippable, file_name) = match outcome {
            Outcome::Blank => (StatusCode::OK, None, &[][..], false, ""),
            Outcome::Refused(status, message) => (status, Some(message), &[][..], false, ""),
            Outcome::Problems {
                problems,
                skippable,
                file_name,
            } => (
                StatusCode::UNPROCESSABLE_ENTITY,
                None,
                problems,
                skippable,
                file_name,
            ),
        };
        let default_dir = self.ctx.provider.outlook.prf_dir.as_str();
        let template = AdminHtml {
            lang,
            switch_href: format!("{}/admin/?lang={}", self.base, page::other(lang).code()),
            action: format!("{}/admin/?lang={}", self.base, lang.code()),
            names: &self.ctx.provider.names,
            choices,
            prf_dir_default: default_dir,
            signed: self.ctx.signer.is_some(),
            error: error.as_deref(),
            problems,
            skippable: skippable || choices.skip_invalid,
            file_name,
            max_mb: MAX_ROSTER / 1024 / 1024,
            max_people: "10,000",
            version: VERSION,
        };
        static SIZE: SizeHint = SizeHint::new();
        match render_template(&template, "the IT-staff page", &SIZE) {
            Ok(bytes) => {
                let mut r = html(status, bytes);
                // With no-referrer (the other pages' policy) a browser sends the form with
                // `Origin: null`, which the cross-origin check refuses. This page's address
                // holds no one's data, and it links nowhere else.
                r.headers_mut().insert(
                    header::REFERRER_POLICY,
                    HeaderValue::from_static("same-origin"),
                );
                r
            }
            Err(e) => {
                eprintln!("mailconf: error: {e}");
                text(StatusCode::INTERNAL_SERVER_ERROR, "internal error\n")
            }
        }
    }

    /// `POST /admin/`: the roster and the choices, as `multipart/form-data`.
    async fn upload(&self, req: Request<Incoming>, lang: Lang) -> Reply {
        let too_large = |this: &Admin| {
            this.page(
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
            self.page(
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
                self.page(
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

/// What the page shows under its heading.
enum Outcome<'a> {
    Blank,
    Refused(StatusCode, String),
    Problems {
        problems: &'a [Problem],
        skippable: bool,
        file_name: &'a str,
    },
}

/// The form's choices, as the page shows them.
#[derive(Debug, Clone)]
struct Choices {
    thunderbird: bool,
    apple: bool,
    outlook: bool,
    guides: bool,
    google: bool,
    imap: bool,
    cp932: bool,
    prf_dir: String,
    per_person: bool,
    skip_invalid: bool,
}

impl Choices {
    /// The server's own choices, as the CLI's defaults with the server's options.
    fn of(ctx: &Context<'_>) -> Choices {
        Choices {
            thunderbird: true,
            apple: true,
            outlook: true,
            guides: true,
            google: ctx.formats.contains(&Format::AppleGoogle),
            imap: ctx.protocol == Protocol::Imap,
            cp932: ctx.prf_encoding == PrfEncoding::Cp932,
            prf_dir: ctx
                .prf_dir
                .as_ref()
                .map_or(String::new(), |d| d.as_str().to_string()),
            per_person: false,
            skip_invalid: false,
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

#[derive(Template)]
#[template(path = "serve/admin.html")]
struct AdminHtml<'a> {
    lang: Lang,
    switch_href: String,
    action: String,
    names: &'a Names,
    choices: &'a Choices,
    prf_dir_default: &'a str,
    signed: bool,
    error: Option<&'a str>,
    problems: &'a [Problem],
    skippable: bool,
    file_name: &'a str,
    max_mb: u64,
    /// [`MAX_PEOPLE`], written for people.
    max_people: &'static str,
    version: &'static str,
}

/// What the page says, in its language.
enum Say<'a> {
    TooLarge,
    NoFile,
    NoFormats,
    PrfDir(&'a str),
    TooMany(usize),
    NothingLeft,
}

fn say(lang: Lang, what: Say<'_>) -> String {
    let mb = MAX_ROSTER / 1024 / 1024;
    match (lang, what) {
        (Lang::Ja, Say::TooLarge) => format!(
            "名簿が大きすぎます ({mb} MB まで)。部署ごとに分けるか、mailconf コマンドを使ってください。"
        ),
        (Lang::En, Say::TooLarge) => format!(
            "The roster is too large (at most {mb} MB): split it by department, or use the mailconf command."
        ),
        (Lang::Ja, Say::NoFile) => {
            "名簿のファイルを選んでください (空のファイルは送れません)。".into()
        }
        (Lang::En, Say::NoFile) => "Choose the roster file (an empty file cannot be used).".into(),
        (Lang::Ja, Say::NoFormats) => "作るファイルを一つ以上選んでください。".into(),
        (Lang::En, Say::NoFormats) => "Choose at least one kind of file to make.".into(),
        (Lang::Ja, Say::PrfDir(why)) => format!(".prf を置くフォルダーを確かめてください: {why}"),
        (Lang::En, Say::PrfDir(why)) => format!("Check the folder for the .prf: {why}"),
        (Lang::Ja, Say::TooMany(n)) => format!(
            "名簿に {n} 人います。このページで作れるのは {MAX_PEOPLE} 人までです。名簿を分けるか、mailconf コマンドを使ってください。"
        ),
        (Lang::En, Say::TooMany(n)) => format!(
            "The roster has {n} people; this page makes bundles of at most {MAX_PEOPLE}: split the roster, or use the mailconf command."
        ),
        (Lang::Ja, Say::NothingLeft) => {
            "問題のある行を除くと、誰も残りません。名簿を直してください。".into()
        }
        (Lang::En, Say::NothingLeft) => {
            "No person is left once the rows with problems are left out: fix the roster.".into()
        }
    }
}

/// The page's language: `lang=` in the query, else the browser's.
fn language(req: &Request<Incoming>) -> Lang {
    let lang = req.uri().query().and_then(|q| {
        form_urlencoded::parse(q.as_bytes())
            .find(|(k, _)| k == "lang")
            .map(|(_, v)| v.into_owned())
    });
    let accept = req
        .headers()
        .get(header::ACCEPT_LANGUAGE)
        .and_then(|v| v.to_str().ok());
    page::language(lang.as_deref(), accept)
}

/// 401 with the Basic challenge, in both languages.
fn challenge() -> Reply {
    let mut r = text(
        StatusCode::UNAUTHORIZED,
        "IT 担当者のページです。central IT から受け取った名前とパスワードでサインインしてください。\n\
         This page is for IT staff: sign in with the name and password central IT gave you.\n",
    );
    r.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        HeaderValue::from_str(&format!("Basic realm=\"{REALM}\", charset=\"UTF-8\""))
            .expect("a header value"),
    );
    r
}

/// The name and password of `Authorization: Basic …` (UTF-8), if it is well formed.
fn basic_credentials(headers: &HeaderMap) -> Option<(String, String)> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.trim().split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(token.trim())
        .ok()?;
    let decoded = String::from_utf8(decoded).ok()?;
    let (user, password) = decoded.split_once(':')?;
    Some((user.to_string(), password.to_string()))
}

/// The address failures are counted for: the peer's, or behind a proxy on this machine, the
/// last address of `X-Forwarded-For` (the one the proxy added). IPv6 addresses count by /64.
fn client_of(peer: SocketAddr, headers: &HeaderMap) -> IpAddr {
    let mut ip = peer.ip();
    if ip.is_loopback()
        && let Some(forwarded) = headers
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .next_back()
            .and_then(|last| last.trim().parse::<IpAddr>().ok())
    {
        ip = forwarded;
    }
    match ip {
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let s = v6.segments();
                IpAddr::V6(std::net::Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0))
            }
        },
        v4 => v4,
    }
}

/// `https://HOST[:PORT]` of a URL, as a browser writes it in `Origin` (no default port).
fn origin_of(url: &Url) -> String {
    let rest = &url.as_str()["https://".len()..];
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    let authority = authority.strip_suffix(":443").unwrap_or(authority);
    format!("https://{authority}")
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
    fn the_page_states_the_limits() {
        assert_eq!(MAX_PEOPLE, 10_000, "the page says 10,000");
        assert_eq!(MAX_ROSTER, 8 * 1024 * 1024, "the page says 8 MB");
    }

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

    #[test]
    fn basic_credentials_are_read_and_odd_ones_refused() {
        let mut headers = HeaderMap::new();
        let token = base64::engine::general_purpose::STANDARD.encode("山田:pa:ss");
        headers.insert(
            header::AUTHORIZATION,
            HeaderValue::from_str(&format!("Basic {token}")).unwrap(),
        );
        assert_eq!(
            basic_credentials(&headers),
            Some(("山田".to_string(), "pa:ss".to_string()))
        );
        for bad in ["Bearer abc", "Basic !!!", "Basic", "Basic bm9jb2xvbg=="] {
            headers.insert(header::AUTHORIZATION, HeaderValue::from_static(bad));
            assert_eq!(basic_credentials(&headers), None, "{bad}");
        }
    }

    #[test]
    fn failures_count_by_address_and_proxied_addresses_by_the_proxy_s_last() {
        let peer: SocketAddr = "127.0.0.1:5000".parse().unwrap();
        let mut headers = HeaderMap::new();
        assert_eq!(client_of(peer, &headers), peer.ip());
        headers.insert(
            "x-forwarded-for",
            HeaderValue::from_static("10.9.9.9, 192.0.2.7"),
        );
        assert_eq!(
            client_of(peer, &headers),
            "192.0.2.7".parse::<IpAddr>().unwrap()
        );
        // Not from a proxy on this machine: the header is anyone's to write.
        let outside: SocketAddr = "198.51.100.1:5000".parse().unwrap();
        assert_eq!(client_of(outside, &headers), outside.ip());
        let v6: SocketAddr = "[2001:db8:1:2:3:4:5:6]:443".parse().unwrap();
        assert_eq!(
            client_of(v6, &HeaderMap::new()),
            "2001:db8:1:2::".parse::<IpAddr>().unwrap()
        );
    }
}
