//! The server's routes. Each answer comes from the renderers the bundle uses, for an address and
//! name validated exactly as a roster's; a request that cannot be answered gets a clear 4xx (in
//! the page's language on the pages), never a 5xx and never a file.
//!
//! [`ROUTES`] is the one list of them: a request's path finds its route there, the route's
//! methods decide 405 (with `Allow`), and `HEAD` is answered as `GET` without the body (its
//! header fields, `Content-Length` included). The access log hides addresses in any path
//! ([`logged_path`]), routed or not.
//!
//! | request | answer |
//! |---|---|
//! | `GET /mail/config-v1.1.xml`, `GET /.well-known/autoconfig/mail/config-v1.1.xml` | Thunderbird's file for `emailaddress`, or the domain-wide one |
//! | `POST /autodiscover/autodiscover.xml` | Outlook's POX Autodiscover |
//! | `GET /autodiscover/autodiscover.json?Email=ADDRESS`, `GET /autodiscover/autodiscover.json/v1.0/ADDRESS` | the redirect newer Outlook asks for first |
//! | `GET /mobileconfig/?emailaddress=&name=[&kind=google]` | the Apple profile (automx2's route) |
//! | `GET /files/ADDRESS/FILE`, `GET /files/ADDRESS.zip` | a file of the person's folder, or all of it |
//! | `GET /` | the self-service form, or with `emailaddress`, the person's guide |
//! | `GET /guide/img/NAME` | a picture the served guides show ([`crate::render::guide::PICTURES`]) |
//! | `GET /healthz` | `ok` |
//! | `/admin`, `/admin/` | the IT-staff page, with `--admin-htpasswd` ([`super::admin`]); 404 without |

use std::borrow::Cow;
use std::net::SocketAddr;
use std::time::Duration;

use http_body_util::{BodyExt, Limited};
use hyper::header;
use hyper::{Method, Request, StatusCode};

use super::admin::Admin;
use super::config::Config;
use super::htpasswd::Watched;
use super::page::{self, Refusal};
use super::pox;
use super::reply::{Reply, file, for_head, html, json, method_not_allowed, server_error, text};
use super::request::{NotUtf8, Query, RequestBody, decode, host_problem, logged_path};
use crate::bundle::{self, zipstream::DosTime};
use crate::input::account::{Account, Address, DisplayName};
use crate::input::provider::Provider;
use crate::render::guide::{self, Links, View};
use crate::render::{Context, Format, autodiscover, thunderbird};

/// What answers a route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Handler {
    Page,
    Healthz,
    Autoconfig,
    Pox,
    Json,
    /// Outlook's JSON Autodiscover in its path form, `…/v1.0/ADDRESS?Protocol=AutodiscoverV1`.
    JsonPath,
    Mobileconfig,
    Files,
    Picture,
    /// `/admin`: the way to `/admin/`.
    AdminRedirect,
    Admin,
}

/// A route's path: all of it, or a start followed by data (an address, a file's name).
#[derive(Debug, Clone, Copy)]
pub enum RoutePath {
    Is(&'static str),
    Then(&'static str),
}

/// A path, the methods it answers (as `Allow` says them; `HEAD` wherever `GET` is) and what
/// answers it.
#[derive(Debug)]
pub struct Route {
    pub path: RoutePath,
    pub allow: &'static str,
    pub handler: Handler,
}

const GET: &str = "GET, HEAD";

/// Every route. The rule for letter case: the path a route names matches in any case (Outlook
/// asks for `/AutoDiscover/AutoDiscover.xml`, a person may type `/Mail/…`); what follows a
/// [`RoutePath::Then`] start is data and goes on as it was sent.
pub const ROUTES: &[Route] = {
    use Handler::*;
    use RoutePath::{Is, Then};
    &[
        Route::new(Is("/"), GET, Page),
        Route::new(Is("/healthz"), GET, Healthz),
        Route::new(Is("/mail/config-v1.1.xml"), GET, Autoconfig),
        Route::new(
            Is("/.well-known/autoconfig/mail/config-v1.1.xml"),
            GET,
            Autoconfig,
        ),
        Route::new(Is("/autodiscover/autodiscover.xml"), "POST", Pox),
        Route::new(Is("/autodiscover/autodiscover.json"), GET, Json),
        Route::new(Then("/autodiscover/autodiscover.json/v1.0/"), GET, JsonPath),
        Route::new(Is("/mobileconfig"), GET, Mobileconfig),
        Route::new(Is("/mobileconfig/"), GET, Mobileconfig),
        Route::new(Then("/files/"), GET, Files),
        Route::new(Then("/guide/img/"), GET, Picture),
        Route::new(Is("/admin"), "GET, HEAD, POST", AdminRedirect),
        Route::new(Then("/admin/"), "GET, HEAD, POST", Admin),
    ]
};

impl Route {
    const fn new(path: RoutePath, allow: &'static str, handler: Handler) -> Route {
        Route {
            path,
            allow,
            handler,
        }
    }

    /// What follows the route's start in `path`, if `path` is this route's.
    pub fn matches<'p>(&self, path: &'p str) -> Option<&'p str> {
        let (start, whole) = match self.path {
            RoutePath::Is(p) => (p, true),
            RoutePath::Then(p) => (p, false),
        };
        let head = path.as_bytes().get(..start.len())?;
        if !head.eq_ignore_ascii_case(start.as_bytes()) || (whole && path.len() != start.len()) {
            return None;
        }
        // The start is ASCII, so its end is a character boundary of `path`.
        Some(&path[start.len()..])
    }

    /// Whether the route answers `method`.
    pub fn allows(&self, method: &Method) -> bool {
        self.allow.split(", ").any(|m| m == method.as_str())
    }
}

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
    pub async fn handle(&self, req: Request<RequestBody>, peer: SocketAddr) -> Answer {
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

    /// The route of `path` in [`ROUTES`], and what follows its start; the IT-staff page's only
    /// when it is served.
    fn find<'p>(&self, path: &'p str) -> Option<(&'static Route, &'p str)> {
        ROUTES
            .iter()
            .filter(|r| {
                self.admin.is_some()
                    || !matches!(r.handler, Handler::Admin | Handler::AdminRedirect)
            })
            .find_map(|r| r.matches(path).map(|rest| (r, rest)))
    }

    async fn route(
        &self,
        req: Request<RequestBody>,
        peer: SocketAddr,
        path: &str,
        query: &Query,
    ) -> Reply {
        let Some((route, rest)) = self.find(path) else {
            return text(StatusCode::NOT_FOUND, "not found\n");
        };
        if !route.allows(req.method()) {
            return method_not_allowed(route.allow);
        }
        match (route.handler, &self.admin) {
            (Handler::Page, _) => self.page(&req, query),
            (Handler::Healthz, _) => text(StatusCode::OK, "ok\n"),
            (Handler::Autoconfig, _) => self.autoconfig(query),
            (Handler::Pox, _) => self.pox(req).await,
            (Handler::Json, _) => self.autodiscover_json(query.get("email"), query),
            // The address is the path's last segment.
            (Handler::JsonPath, _) => match decode(rest) {
                Ok(address) if !address.contains('/') => {
                    self.autodiscover_json(Some(&address), query)
                }
                Ok(_) => text(StatusCode::NOT_FOUND, "not found\n"),
                Err(NotUtf8) => not_utf8(),
            },
            (Handler::Mobileconfig, _) => self.mobileconfig(query),
            (Handler::Files, _) => self.files(rest, query),
            (Handler::Picture, _) => picture(rest),
            (Handler::AdminRedirect, Some(admin)) => admin.redirect(),
            (Handler::Admin, Some(admin)) => admin.handle(req, peer, rest).await,
            // Not found without the page ([`App::find`]).
            (Handler::AdminRedirect | Handler::Admin, None) => {
                text(StatusCode::NOT_FOUND, "not found\n")
            }
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

    async fn pox(&self, req: Request<RequestBody>) -> Reply {
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

    /// `/files/ADDRESS/FILE` or `/files/ADDRESS.zip`: `rest` is what follows `/files/`.
    fn files(&self, rest: &str, query: &Query) -> Reply {
        let Ok(rest) = decode(rest) else {
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
    fn page(&self, req: &Request<RequestBody>, query: &Query) -> Reply {
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

/// `/guide/img/NAME`: a picture of [`guide::PICTURES`], which stay the same for a version.
fn picture(name: &str) -> Reply {
    match guide::picture(name) {
        Some(bytes) => file(bytes.to_vec(), "image/png", None, "public, max-age=86400"),
        None => text(StatusCode::NOT_FOUND, "not found\n"),
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

#[cfg(test)]
mod tests {
    use std::io::Write;

    use bytes::Bytes;
    use http_body_util::{BodyExt, Full};
    use hyper::HeaderMap;

    use super::*;
    use crate::input::provider::Url;
    use crate::render::outlook::PrfEncoding;
    use crate::serve::htpasswd::Watched;

    const ADDRESS: &str = "taro.yamada@kyoto-u.ac.jp";

    /// The server's routes with the IT-staff page (whose htpasswd file must outlive it).
    fn app() -> (App, tempfile::NamedTempFile) {
        let mut users = tempfile::NamedTempFile::new().unwrap();
        let hash = bcrypt::hash("secret", 4).unwrap();
        writeln!(users, "it-staff:{hash}").unwrap();
        let config = Config {
            listen: "127.0.0.1:0".parse().unwrap(),
            provider: Provider::kumail(),
            protocol: None,
            public_url: Some(Url::try_from("https://mail.example.ac.jp/".to_string()).unwrap()),
            tls: None,
            signer: None,
            prf_encoding: PrfEncoding::default(),
            prf_dir: None,
            timestamp: DosTime::default(),
            quiet: true,
            admin_htpasswd: Some(users.path().to_path_buf()),
        };
        let watched = Watched::open(users.path()).unwrap();
        (App::new(config, Some(watched)), users)
    }

    /// A path of `route` and a query that its handler answers with success.
    fn example(route: &Route) -> String {
        let start = match route.path {
            RoutePath::Is(p) | RoutePath::Then(p) => p,
        };
        let (rest, query) = match route.handler {
            Handler::Autoconfig => ("", format!("emailaddress={ADDRESS}")),
            Handler::Json => ("", format!("Email={ADDRESS}&Protocol=AutodiscoverV1")),
            Handler::JsonPath => (ADDRESS, "Protocol=AutodiscoverV1".into()),
            Handler::Mobileconfig => ("", format!("emailaddress={ADDRESS}&name=Taro")),
            Handler::Files => ("taro.yamada@kyoto-u.ac.jp/README.html", String::new()),
            Handler::Picture => ("thunderbird-choose-pop3-en.png", String::new()),
            _ => ("", String::new()),
        };
        format!("{start}{rest}?{query}")
    }

    /// Calls the routes in-process; the answer's status, header fields and body.
    fn call(app: &App, method: &Method, uri: &str) -> (StatusCode, HeaderMap, Bytes) {
        let body = Full::new(Bytes::new())
            .map_err(|never: std::convert::Infallible| match never {})
            .boxed();
        let req = Request::builder()
            .method(method)
            .uri(uri)
            .header(header::HOST, "localhost")
            .body(body)
            .unwrap();
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async {
            let (reply, _) = app.handle(req, "127.0.0.1:50000".parse().unwrap()).await;
            let (parts, body) = reply.into_parts();
            let bytes = body.collect().await.unwrap().to_bytes();
            (parts.status, parts.headers, bytes)
        })
    }

    #[test]
    fn every_route_answers_its_methods_405_otherwise_and_head_as_get() {
        let (app, _users) = app();
        let methods = [
            Method::GET,
            Method::HEAD,
            Method::POST,
            Method::PUT,
            Method::DELETE,
            Method::OPTIONS,
            Method::PATCH,
        ];
        for route in ROUTES {
            let uri = example(route);
            for method in &methods {
                let (status, headers, _) = call(&app, method, &uri);
                if route.allows(method) {
                    assert!(
                        status != StatusCode::METHOD_NOT_ALLOWED && status != StatusCode::NOT_FOUND,
                        "{method} {uri}: {status}"
                    );
                } else {
                    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED, "{method} {uri}");
                    assert_eq!(headers[header::ALLOW], route.allow, "{method} {uri}");
                }
            }
            if route.allows(&Method::GET) {
                // HEAD: GET's header fields, its length included, and no body.
                assert!(route.allows(&Method::HEAD), "{uri}");
                let (get_status, mut get_headers, get_body) = call(&app, &Method::GET, &uri);
                let (head_status, head_headers, head_body) = call(&app, &Method::HEAD, &uri);
                assert_eq!(head_status, get_status, "{uri}");
                assert!(head_body.is_empty(), "{uri}");
                get_headers.insert(header::CONTENT_LENGTH, get_body.len().into());
                assert_eq!(head_headers, get_headers, "{uri}");
            }
            // The route's path in other letter case is the same route.
            let method = if route.allows(&Method::GET) {
                Method::GET
            } else {
                Method::POST
            };
            let (status, _, _) = call(&app, &method, &uri);
            let upper = match route.path {
                RoutePath::Is(p) | RoutePath::Then(p) => {
                    format!("{}{}", p.to_ascii_uppercase(), &uri[p.len()..])
                }
            };
            let (upper_status, _, _) = call(&app, &method, &upper);
            assert_eq!(upper_status, status, "{upper}");
        }
        // What follows a route's start is data, kept as sent: a file's name is not found in
        // capitals that no format writes, an address is found in any case.
        let (status, _, _) = call(
            &app,
            &Method::GET,
            "/guide/img/THUNDERBIRD-choose-pop3-en.png",
        );
        assert_eq!(status, StatusCode::NOT_FOUND);
        // A path of no route: 404 whatever the method.
        for path in ["/nothing", "/files", "/admin/x/..", "/autodiscover"] {
            for method in &methods {
                let (status, headers, _) = call(&app, method, path);
                if path.starts_with("/admin/") {
                    // The page's own paths are looked up after signing in.
                    assert!(
                        status == StatusCode::UNAUTHORIZED
                            || status == StatusCode::METHOD_NOT_ALLOWED,
                        "{method} {path}: {status}"
                    );
                    continue;
                }
                assert_eq!(status, StatusCode::NOT_FOUND, "{method} {path}");
                assert!(headers.get(header::ALLOW).is_none());
            }
        }
    }

    #[test]
    fn the_served_guides_pictures_are_png() {
        let (app, _users) = app();
        for (name, bytes) in guide::PICTURES {
            let (status, headers, body) = call(&app, &Method::GET, &format!("/guide/img/{name}"));
            assert_eq!(status, StatusCode::OK, "{name}");
            assert_eq!(headers[header::CONTENT_TYPE], "image/png");
            assert_eq!(&body[..], bytes);
            assert!(body.starts_with(b"\x89PNG\r\n\x1a\n"), "{name}");
        }
    }
}
