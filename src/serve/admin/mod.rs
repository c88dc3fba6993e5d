//! The IT-staff page, `/admin/` (only with `--admin-htpasswd`): department IT staff sign in,
//! send a roster as Excel saved it, and get their department's bundle back, with no terminal.
//!
//! This module is the door: the page's address, and the refusal (403) of a POST from another
//! origin (`Origin`, `Sec-Fetch-Site`) before anything else. Behind it, one room each:
//!
//! - [`signin`]: HTTP Basic against the htpasswd file, and the lockout of an address that keeps
//!   guessing;
//! - [`upload`]: the roster and the choices in, the department's zip out;
//! - [`page`]: the page itself, with the table of a roster's problems.

mod page;
mod signin;
mod upload;

use std::net::SocketAddr;
use std::time::Duration;

use hyper::header::{self, HeaderMap, HeaderValue};
use hyper::{Method, Request, StatusCode};

use super::htpasswd::Watched;
use super::reply::{Reply, text};
use super::request::RequestBody;
use crate::input::provider::Url;
use crate::render::Context;
use page::{Choices, Outcome};
use signin::SignIn;
use upload::Uploads;

/// A form refused for its origin is still read, if it is this small and comes this fast.
const REFUSED_DRAINED: u64 = 64 * 1024;
const REFUSED_DRAIN_TIME: Duration = Duration::from_secs(5);

/// The page's state for the server's life.
pub struct Admin {
    signin: SignIn,
    uploads: Uploads,
    ctx: Context<'static>,
    /// The public URL's path (`""` at the root).
    base: String,
    /// `https://HOST[:PORT]` of the public URL, which a form must come from when given.
    public_origin: Option<String>,
    /// The server speaks TLS itself.
    tls: bool,
}

impl Admin {
    pub fn new(
        users: Watched,
        ctx: Context<'static>,
        base: String,
        public_url: Option<&Url>,
        tls: bool,
    ) -> Admin {
        Admin {
            signin: SignIn::new(users),
            uploads: Uploads::new(ctx.clone(), base.clone()),
            ctx,
            base,
            public_origin: public_url.map(origin_of),
            tls,
        }
    }

    /// `/admin`, which is only the way to the page.
    pub fn redirect(&self) -> Reply {
        let mut r = text(StatusCode::PERMANENT_REDIRECT, "see /admin/\n");
        if let Ok(to) = HeaderValue::from_str(&format!("{}/admin/", self.base)) {
            r.headers_mut().insert(header::LOCATION, to);
        }
        r
    }

    /// Answers a request to `/admin/` followed by `rest` (the page itself when empty) whose
    /// method the route table allows (GET, HEAD, POST).
    pub async fn handle(&self, req: Request<RequestBody>, peer: SocketAddr, rest: &str) -> Reply {
        let method = req.method().clone();
        if method == Method::POST && !self.same_origin(req.headers(), req.uri()) {
            // A small form is read and dropped first, so that the browser sees the answer.
            let declared = req
                .headers()
                .get(header::CONTENT_LENGTH)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.parse::<u64>().ok());
            if declared.is_some_and(|n| n <= REFUSED_DRAINED) {
                upload::drain(req.into_body(), REFUSED_DRAIN_TIME).await;
            }
            return text(
                StatusCode::FORBIDDEN,
                "a form sent from another site is refused: open the IT-staff page itself and send it from there\n",
            );
        }
        let client = signin::client_of(peer, req.headers());
        if let Err(refused) = self.signin.admit(req.headers(), client).await {
            return refused;
        }
        if !rest.is_empty() {
            return text(StatusCode::NOT_FOUND, "not found\n");
        }
        let lang = page::language(&req);
        if method == Method::POST {
            self.uploads.upload(req, lang).await
        } else {
            page::page(
                &self.ctx,
                &self.base,
                lang,
                &Choices::of(&self.ctx),
                Outcome::Blank,
            )
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
}

/// `https://HOST[:PORT]` of a URL, as a browser writes it in `Origin` (no default port).
fn origin_of(url: &Url) -> String {
    let rest = &url.as_str()["https://".len()..];
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    let authority = authority.strip_suffix(":443").unwrap_or(authority);
    format!("https://{authority}")
}
