//! Building answers: the body every route answers with, and the header fields each kind of
//! answer carries (its type, caching, the pages' content security policy). The routes
//! ([`super::app`]) and the IT-staff page ([`super::admin`]) both build on it; it imports
//! neither.

use std::convert::Infallible;

use bytes::Bytes;
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full};
use hyper::body::Body as _;
use hyper::header::{self, HeaderValue};
use hyper::{Response, StatusCode};

/// The body of an answer: whole (a page, a file), or made as it is sent (the IT-staff page's
/// zip), in which case an error cuts the answer off.
pub type Body = BoxBody<Bytes, std::io::Error>;

/// An answer.
pub type Reply = Response<Body>;

/// A body of `bytes`, whole.
pub fn full(bytes: impl Into<Bytes>) -> Body {
    Full::new(bytes.into())
        .map_err(|never: Infallible| match never {})
        .boxed()
}

/// An answer of `status`, `kind` and `body`, with the header fields every answer carries.
pub fn response(status: StatusCode, kind: &str, body: impl Into<Bytes>) -> Reply {
    with_body(status, kind, full(body))
}

/// [`response`] with any body, a streamed one included.
pub fn with_body(status: StatusCode, kind: &str, body: Body) -> Reply {
    let mut response = Response::new(body);
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_str(kind).expect("a content type"),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    // Page and file addresses hold a person's address: never sent on to another site.
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    response
}

/// Plain text, never stored.
pub fn text(status: StatusCode, message: &str) -> Reply {
    let mut r = response(
        status,
        "text/plain; charset=utf-8",
        message.as_bytes().to_vec(),
    );
    r.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r
}

/// JSON, never stored.
pub fn json(status: StatusCode, value: &serde_json::Value) -> Reply {
    let mut r = response(status, "application/json", value.to_string().into_bytes());
    r.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r
}

/// A page: it runs nothing and loads nothing but itself and its pictures (`/guide/img/`), and is
/// never stored.
pub fn html(status: StatusCode, body: Vec<u8>) -> Reply {
    let mut r = response(status, "text/html; charset=utf-8", body);
    let headers = r.headers_mut();
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:; form-action 'self'; \
             base-uri 'none'; frame-ancestors 'none'",
        ),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r
}

/// A file, with its type, as an attachment named `attachment` when given.
pub fn file(bytes: Vec<u8>, kind: &str, attachment: Option<&str>, cache: &'static str) -> Reply {
    let mut r = response(StatusCode::OK, kind, bytes);
    let headers = r.headers_mut();
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
    if let Some(name) = attachment {
        // The name is an address and a suffix: ASCII of the safe set, no quote.
        if let Ok(value) = HeaderValue::from_str(&format!("attachment; filename=\"{name}\"")) {
            headers.insert(header::CONTENT_DISPOSITION, value);
        }
    }
    r
}

/// 405, with the methods that are served.
pub fn method_not_allowed(allow: &'static str) -> Reply {
    let mut r = text(StatusCode::METHOD_NOT_ALLOWED, "method not allowed\n");
    r.headers_mut()
        .insert(header::ALLOW, HeaderValue::from_static(allow));
    r
}

/// A renderer failed on validated data: a fault of ours, said without details to the client.
pub fn server_error(e: &dyn std::fmt::Display) -> Reply {
    crate::diagnostic::error(e);
    text(StatusCode::INTERNAL_SERVER_ERROR, "internal error\n")
}

/// The answer to a `HEAD` request: the header fields `GET` would have, its `Content-Length`
/// included when the body's length is known, and no body.
pub fn for_head(response: Reply) -> Reply {
    let (mut parts, body) = response.into_parts();
    if let Some(len) = body.size_hint().exact() {
        parts
            .headers
            .insert(header::CONTENT_LENGTH, HeaderValue::from(len));
    }
    Response::from_parts(parts, full(Bytes::new()))
}
