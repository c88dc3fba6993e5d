//! The server's routes. Each answer comes from the renderers the bundle uses, for an address and
//! name validated exactly as a roster's; a request that cannot be answered gets a clear 4xx (in
//! the page's language on the pages), never a 5xx and never a file.
//!
//! | request | answer |
//! |---|---|
//! | `GET /mail/config-v1.1.xml`, `GET /.well-known/autoconfig/mail/config-v1.1.xml` | Thunderbird's file for `emailaddress`, or the domain-wide one |
//! | `POST /autodiscover/autodiscover.xml` (any case) | Outlook's POX Autodiscover |
//! | `GET /autodiscover/autodiscover.json?Email=ADDRESS`, `GET /autodiscover/autodiscover.json/v1.0/ADDRESS` (any case) | the redirect newer Outlook asks for first |
//! | `GET /mobileconfig/?emailaddress=&name=[&kind=google]` | the Apple profile (automx2's route) |
//! | `GET /files/ADDRESS/FILE`, `GET /files/ADDRESS.zip` | a file of the person's folder, or all of it |
//! | `GET /` | the self-service form, or with `emailaddress`, the person's guide |
//! | `GET /healthz` | `ok` |
//! | `/admin/` | the IT-staff page, with `--admin-htpasswd` ([`super::admin`]); 404 without |

use std::borrow::Cow;
use std::net::SocketAddr;
use std::time::Duration;

use http_body_util::{BodyExt, Limited};
use hyper::body::Incoming;
use hyper::header;
use hyper::{Method, Request, StatusCode};

use super::admin::Admin;
use super::config::Config;
use super::htpasswd::Watched;
use super::page::{self, Refusal};
use super::pox;
use super::reply::{Reply, file, for_head, html, json, method_not_allowed, server_error, text};
use super::request::{NotUtf8, Query, decode, host_problem, logged_path};
use crate::bundle::{self, zipstream::DosTime};
use crate::input::account::{Account, Address, DisplayName};
use crate::input::provider::Provider;
use crate::render::guide::{Links, View};
use crate::render::{Context, Format, autodiscover, thunderbird};

/// Outlook's JSON Autodiscover in its path form, `…/v1.0/ADDRESS?Protocol=AutodiscoverV1`
/// (lower case: the path is matched in any case, as the other routes).
const JSON_V1: &str = "/autodiscover/autodiscover.json/v1.0/";

/// How long a client may take to send a request's body.
const BODY_TIMEOUT: Duration = Duration::from_secs(10);

pub type Answer = (Reply, String);

/// What the server renders from, for its whole life.
pub struct App {
    ctx: Context<'static>,
    /// The public URL without a trailing `/`, for absolute URLs (`--public-url` only).
    public: Option<String>,
    /// The public URL's path (`""` at the root): links are root-relative under it.
    base: String,
    timestamp: DosTime,
    /// The IT-staff page, when the server was started with `--admin-htpasswd`.
    admin: Option<Admin>,
}

impl App {
    /// The server's routes; `admin_users`: the IT-staff page's users, checked already.
    pub fn new(config: Config, admin_users: Option<Watched>) -> App {
        // The provider lives as long as the process: every request's context borrows it.
        // `--public-url` means what `[serve] public_url` means: the guides and the IT-staff
        // page's zips show each person's page and its QR code.
        let mut provider = config.provider;
        provider.serve.public_url = config.public_url.clone();
        let provider: &'static Provider = Box::leak(Box::new(provider));
        let mut ctx = Context::new(provider, config.protocol);
        ctx.signer = config.signer;
        ctx.prf_encoding = config.prf_encoding;
        ctx.prf_dir = config.prf_dir;
        let base = config
            .public_url
            .as_ref()
            .map_or(String::new(), |u| u.path().to_string());
        let admin = admin_users.map(|users| {
            Admin::new(
                users,
                ctx.clone(),
                base.clone(),
                config.public_url.as_ref(),
                config.tls.is_some(),
            )
        });
        App {
            ctx,
            public: config.public_url.as_ref().map(|u| u.base().to_string()),
            base,
            timestamp: config.timestamp,
            admin,
        }
    }

    /// Answers `req` from `peer`; the second value is its path for the access log, addresses
    /// replaced.
    pub async fn handle(&self, req: Request<Incoming>, peer: SocketAddr) -> Answer {
        let path = req.uri().path().to_string();
        let logged = logged_path(&path);
        let method = req.method().clone();
        let response = match (host_problem(&req), Query::parse(req.uri().query())) {
            (Some(problem), _) => text(StatusCode::BAD_REQUEST, problem),
            (None, Err(NotUtf8)) => not_utf8(),
            (None, Ok(query)) => self.route(req, peer, &path, &query).await,
        };
        // HEAD: GET's header fields, its length included, and no body.
        let response = if method == Method::HEAD {
            for_head(response)
        } else {
            response
        };
        (response, logged)
    }

    async fn route(
        &self,
        req: Request<Incoming>,
        peer: SocketAddr,
        path: &str,
        query: &Query,
    ) -> Reply {
        let method = req.method().clone();
        let lower = path.to_ascii_lowercase();
        let get = method == Method::GET || method == Method::HEAD;
        let admin = path == "/admin" || path.starts_with("/admin/");
        match lower.as_str() {
            _ if admin => match &self.admin {
                Some(page) => page.handle(req, peer).await,
                None => text(StatusCode::NOT_FOUND, "not found\n"),
            },
            "/healthz" if get => text(StatusCode::OK, "ok\n"),
            "/" if get => self.page(&req, query),
            "/mail/config-v1.1.xml" | "/.well-known/autoconfig/mail/config-v1.1.xml" if get => {
                self.autoconfig(query)
            }
            "/autodiscover/autodiscover.xml" if method == Method::POST => self.pox(req).await,
            "/autodiscover/autodiscover.json" if get => {
                self.autodiscover_json(query.get("email"), query)
            }
            _ if get && lower.starts_with(JSON_V1) => {
                // Outlook's path form: the address is the path's last segment.
                match decode(&path[JSON_V1.len()..]) {
                    Ok(address) if !address.contains('/') => {
                        self.autodiscover_json(Some(&address), query)
                    }
                    Ok(_) => text(StatusCode::NOT_FOUND, "not found\n"),
                    Err(NotUtf8) => not_utf8(),
                }
            }
            "/mobileconfig" | "/mobileconfig/" if get => self.mobileconfig(query),
            _ if get && path.starts_with("/files/") => self.files(path, query),
            "/"
            | "/healthz"
            | "/mail/config-v1.1.xml"
            | "/autodiscover/autodiscover.json"
            | "/mobileconfig"
            | "/mobileconfig/" => method_not_allowed("GET, HEAD"),
            _ if lower.starts_with(JSON_V1) => method_not_allowed("GET, HEAD"),
            "/autodiscover/autodiscover.xml" => method_not_allowed("POST"),
            _ => text(StatusCode::NOT_FOUND, "not found\n"),
        }
    }

    /// The account of a request's address and name; a 4xx in plain text otherwise.
    fn account(&self, address: Option<&str>, name: Option<&str>) -> Result<Account, Refused> {
        let raw = address.ok_or(Refused::Missing)?;
        let address = Address::parse(raw).map_err(|e| Refused::Address(e.to_string()))?;
        if self.ctx.provider.outside_domains(&address).is_some() {
            return Err(Refused::Domain);
        }
        let name = match name {
            Some(raw) => DisplayName::parse(raw).map_err(|e| Refused::Name(e.to_string()))?,
            None => None,
        };
        Ok(Account { address, name })
    }

    fn autoconfig(&self, query: &Query) -> Reply {
        let provider = self.ctx.provider;
        let rendered = match query.get("emailaddress") {
            // Some clients ask without the address: the domain-wide file.
            None | Some("") => thunderbird::render_domain_wide(provider, self.ctx.protocol),
            Some(_) => match self.account(query.get("emailaddress"), None) {
                Ok(account) => thunderbird::render_for(&self.ctx, &account),
                Err(refused) => return refused.plain(),
            },
        };
        match rendered {
            Ok(bytes) => file(
                bytes,
                "text/xml; charset=utf-8",
                None,
                "private, max-age=3600",
            ),
            Err(e) => server_error(&e),
        }
    }

    async fn pox(&self, req: Request<Incoming>) -> Reply {
        let body = Limited::new(req.into_body(), pox::MAX_BODY);
        let body = match tokio::time::timeout(BODY_TIMEOUT, body.collect()).await {
            Err(_) => {
                return text(
                    StatusCode::REQUEST_TIMEOUT,
                    "the request body came too slowly\n",
                );
            }
            Ok(Err(e)) if e.is::<http_body_util::LengthLimitError>() => {
                return text(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "an Autodiscover request is at most 64 KB\n",
                );
            }
            Ok(Err(_)) => return text(StatusCode::BAD_REQUEST, "the request body was cut off\n"),
            Ok(Ok(body)) => body.to_bytes(),
        };
        let answered = pox::parse(&body).and_then(|request| {
            let address = Address::parse(&request.address)
                .map_err(|_| autodiscover::ErrorCode::InvalidRequest)?;
            if self.ctx.provider.outside_domains(&address).is_some() {
                return Err(autodiscover::ErrorCode::NotFound);
            }
            Ok(address)
        });
        let rendered = match answered {
            Ok(address) => autodiscover::render(self.ctx.provider, self.ctx.protocol, &address),
            Err(code) => autodiscover::render_error(code),
        };
        match rendered {
            Ok(bytes) => file(bytes, "text/xml; charset=utf-8", None, "no-store"),
            Err(e) => server_error(&e),
        }
    }

    /// Outlook's JSON Autodiscover for `address` (`?Email=`, or the path's last segment).
    fn autodiscover_json(&self, address: Option<&str>, query: &Query) -> Reply {
        let protocol = query.get("protocol").unwrap_or("");
        if !protocol.eq_ignore_ascii_case("AutodiscoverV1") {
            return json(
                StatusCode::BAD_REQUEST,
                &serde_json::json!({
                    "ErrorCode": "ProtocolNotSupported",
                    "ErrorMessage": "Only Protocol=AutodiscoverV1 is answered here",
                }),
            );
        }
        if let Err(refused) = self.account(address, None) {
            return json(
                refused.status(),
                &serde_json::json!({ "ErrorCode": "InvalidUser", "ErrorMessage": refused.message() }),
            );
        }
        match &self.public {
            Some(public) => json(
                StatusCode::OK,
                &serde_json::json!({
                    "Protocol": "AutodiscoverV1",
                    "Url": format!("{public}/autodiscover/autodiscover.xml"),
                }),
            ),
            None => json(
                StatusCode::NOT_FOUND,
                &serde_json::json!({
                    "ErrorCode": "NotConfigured",
                    "ErrorMessage": "the server was started without --public-url",
                }),
            ),
        }
    }

    fn mobileconfig(&self, query: &Query) -> Reply {
        let account = match self.account(query.get("emailaddress"), query.get("name")) {
            Ok(account) => account,
            Err(refused) => return refused.plain(),
        };
        let format = match query.get("kind") {
            None | Some("") | Some("mail") => Format::Apple,
            Some("google") => Format::AppleGoogle,
            Some(_) => return text(StatusCode::BAD_REQUEST, "kind is mail or google\n"),
        };
        self.one_file(&account, format)
    }

    /// `/files/ADDRESS/FILE` or `/files/ADDRESS.zip`.
    fn files(&self, path: &str, query: &Query) -> Reply {
        let Ok(rest) = decode(&path["/files/".len()..]) else {
            return not_utf8();
        };
        let (address, file) = match rest.split_once('/') {
            Some((address, file)) if !file.contains('/') => (address, Some(file)),
            Some(_) => return text(StatusCode::NOT_FOUND, "not found\n"),
            None => match rest.strip_suffix(".zip") {
                Some(address) => (address, None),
                None => return text(StatusCode::NOT_FOUND, "not found\n"),
            },
        };
        let account = match self.account(Some(address), query.get("name")) {
            Ok(account) => account,
            Err(refused) => return refused.plain(),
        };
        let Some(file) = file else {
            return self.person_zip(&account);
        };
        let format = self
            .ctx
            .formats
            .iter()
            .copied()
            .find(|f| f.file_name(&account).eq_ignore_ascii_case(file));
        match format {
            Some(format) => self.one_file(&account, format),
            None => text(
                StatusCode::NOT_FOUND,
                "no such file in this person's folder\n",
            ),
        }
    }

    fn one_file(&self, account: &Account, format: Format) -> Reply {
        if let Err(e) = format.check(&self.ctx, account) {
            // A name the chosen PRF encoding cannot carry, say: the person's data, not ours.
            return text(StatusCode::UNPROCESSABLE_ENTITY, &format!("{e}\n"));
        }
        let bytes = match format.render(&self.ctx, account) {
            Ok(bytes) => bytes,
            Err(e) => return server_error(&e),
        };
        let name = format.file_name(account);
        let (kind, attachment) = content_type(format);
        file(
            bytes,
            kind,
            attachment.then_some(name.as_str()),
            "private, no-cache",
        )
    }

    fn person_zip(&self, account: &Account) -> Reply {
        if let Err(e) = self.ctx.check(account) {
            return text(StatusCode::UNPROCESSABLE_ENTITY, &format!("{e}\n"));
        }
        match bundle::person_zip(&self.ctx, account, bundle::DEFAULT_LEVEL, self.timestamp) {
            Ok(bytes) => file(
                bytes,
                "application/zip",
                Some(&format!("{}.zip", account.address)),
                "private, no-cache",
            ),
            Err(e) => server_error(&e),
        }
    }

    /// `/`: the form, or with an address, the person's guide.
    fn page(&self, req: &Request<Incoming>, query: &Query) -> Reply {
        let header = |name: header::HeaderName| {
            req.headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string)
        };
        let lang = page::language(
            query.get("lang"),
            header(header::ACCEPT_LANGUAGE).as_deref(),
        );
        let address = query.get("emailaddress").unwrap_or("");
        let name = query.get("name").unwrap_or("");
        let provider = self.ctx.provider;
        let form = |status: StatusCode, error: Option<String>| match page::form(
            provider,
            &self.base,
            lang,
            address,
            name,
            error.as_deref(),
        ) {
            Ok(bytes) => html(status, bytes),
            Err(e) => server_error(&e),
        };
        if address.trim().is_empty() {
            return form(StatusCode::OK, None);
        }
        let account = match self.account(Some(address), Some(name)) {
            Ok(account) => account,
            Err(refused) => {
                let domains = page::domains(provider);
                let why = match &refused {
                    // The form was sent with an address, so Missing cannot come back; if it did,
                    // it would be said as any other refused address.
                    Refused::Missing => page::refusal(lang, Refusal::Address(&refused.message())),
                    Refused::Address(why) => page::refusal(lang, Refusal::Address(why)),
                    Refused::Domain => page::refusal(lang, Refusal::Domain(&domains)),
                    Refused::Name(why) => page::refusal(lang, Refusal::Name(why)),
                };
                return form(refused.status(), Some(why));
            }
        };
        let mut ctx = self.ctx.clone();
        ctx.view = View {
            langs: vec![lang],
            first: page::device(header(header::USER_AGENT).as_deref()),
            links: Links::Web {
                base: self.base.clone(),
            },
            switch: Some((
                page::other(lang),
                format!(
                    "{}/?{}",
                    self.base,
                    page::query(account.address.as_str(), name, page::other(lang))
                ),
            )),
        };
        match Format::Guide.render(&ctx, &account) {
            Ok(bytes) => html(StatusCode::OK, bytes),
            Err(e) => server_error(&e),
        }
    }
}

/// Why a request's address or name is refused.
enum Refused {
    Missing,
    Address(String),
    Domain,
    Name(String),
}

impl Refused {
    fn status(&self) -> StatusCode {
        match self {
            Refused::Domain => StatusCode::NOT_FOUND,
            _ => StatusCode::BAD_REQUEST,
        }
    }

    fn message(&self) -> Cow<'static, str> {
        match self {
            Refused::Missing => "no address was given (emailaddress=…)".into(),
            Refused::Address(why) => format!("the address is refused: {why}").into(),
            Refused::Domain => "this server configures only its provider's mail domains".into(),
            Refused::Name(why) => format!("the name is refused: {why}").into(),
        }
    }

    fn plain(&self) -> Reply {
        text(self.status(), &format!("{}\n", self.message()))
    }
}

/// 400 for `%XX` escapes that are not UTF-8: refused, rather than read with U+FFFD in them.
fn not_utf8() -> Reply {
    text(
        StatusCode::BAD_REQUEST,
        "a parameter of the request is not UTF-8 text once its %XX escapes are decoded\n",
    )
}

/// The type and disposition (attachment or not) of a format's file.
fn content_type(format: Format) -> (&'static str, bool) {
    match format {
        Format::Thunderbird => ("text/xml; charset=utf-8", false),
        Format::Apple | Format::AppleGoogle => ("application/x-apple-aspen-config", true),
        Format::OutlookPrf | Format::OutlookReg | Format::OutlookCmd => {
            ("application/octet-stream", true)
        }
        Format::Guide => ("text/html; charset=utf-8", false),
    }
}
