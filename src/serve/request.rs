//! Reading a request: whether its `Host` is as HTTP wants it, its query string's parameters and
//! the `%XX` escapes of its path (UTF-8, or refused), and the path as the access log may write it
//! (no address).

use std::borrow::Cow;

use bytes::Bytes;
use http_body_util::combinators::BoxBody;
use hyper::header;
use hyper::{Request, Version};
use percent_encoding::percent_decode;

/// A request's body: hyper's, boxed, so that a test can call the routes in-process with a body
/// of its own.
pub type RequestBody = BoxBody<Bytes, hyper::Error>;

/// Parameters read from a query string at most; more are ignored.
const MAX_PARAMETERS: usize = 32;

/// A request's `%XX` escapes that do not decode to UTF-8 text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NotUtf8;

/// A query string's parameters, decoded; names compared without case (`Email`, `emailaddress`).
#[derive(Debug, Default)]
pub struct Query(Vec<(String, String)>);

impl Query {
    /// The parameters of `query` (`application/x-www-form-urlencoded`: `+` is a space); refused
    /// when a name or value is not UTF-8 once decoded, rather than read with U+FFFD in it.
    pub fn parse(query: Option<&str>) -> Result<Query, NotUtf8> {
        let mut pairs = Vec::new();
        for pair in query
            .unwrap_or("")
            .split('&')
            .filter(|p| !p.is_empty())
            .take(MAX_PARAMETERS)
        {
            let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
            pairs.push((form_decode(name)?, form_decode(value)?));
        }
        Ok(Query(pairs))
    }

    /// The first value of `name`.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// A form-encoded name or value: `+` is a space, then `%XX` escapes, as UTF-8.
fn form_decode(text: &str) -> Result<String, NotUtf8> {
    let spaced: Cow<'_, str> = if text.contains('+') {
        text.replace('+', " ").into()
    } else {
        text.into()
    };
    decode(&spaced).map(Cow::into_owned)
}

/// `%XX` escapes decoded, as UTF-8; a `%` not followed by two hex digits is kept as it is.
pub fn decode(text: &str) -> Result<Cow<'_, str>, NotUtf8> {
    percent_decode(text.as_bytes())
        .decode_utf8()
        .map_err(|_| NotUtf8)
}

/// Why a request's `Host` is not as HTTP wants it (RFC 9112, 3.2): an HTTP/1.1 request names
/// its host in one `Host` header, and no request has two. HTTP/2 names it in `:authority`.
pub fn host_problem<B>(req: &Request<B>) -> Option<&'static str> {
    let hosts = req.headers().get_all(header::HOST).iter().count();
    if hosts > 1 {
        Some("a request has one Host header, not several\n")
    } else if hosts == 0 && req.version() == Version::HTTP_11 {
        Some("an HTTP/1.1 request names its host in a Host header\n")
    } else {
        None
    }
}

/// How many times the log's reading of a path undoes `%XX` escapes: `%2540` is `%40` once, `@`
/// twice.
const DECODINGS: usize = 4;

/// The path as the access log writes it: a segment holding an address (`@`, or its full-width
/// or small forms, escaped once or several times: `%40`, `%2540`) becomes `ADDRESS`, keeping a
/// file's suffix after the address (`ADDRESS.prf`, `ADDRESS-outlook.cmd`).
pub fn logged_path(path: &str) -> String {
    // Most paths hold neither an escape nor an @: as they are.
    if !path.contains(['%', '@', '\u{FF20}', '\u{FE6B}']) {
        return path.to_string();
    }
    path.split('/')
        .map(|segment| {
            // Each reading of the segment, from as written to fully decoded.
            let mut readings = vec![segment.to_string()];
            for _ in 0..DECODINGS {
                let last = readings.last().map_or("", String::as_str);
                let next = percent_decode(last.as_bytes())
                    .decode_utf8_lossy()
                    .into_owned();
                if next == last {
                    break;
                }
                readings.push(next);
            }
            let at = readings.iter().find_map(|r| {
                r.find(['@', '\u{FF20}', '\u{FE6B}'])
                    .map(|at| (r, at + r[at..].chars().next().map_or(1, char::len_utf8)))
            });
            match at {
                None => segment.to_string(),
                Some((reading, after)) => {
                    // The address ends where its domain does: before a known file suffix.
                    let after = &reading[after..];
                    let suffix = [
                        "-google.mobileconfig",
                        ".mobileconfig",
                        "-outlook.cmd",
                        ".prf",
                        ".reg",
                        ".zip",
                    ]
                    .into_iter()
                    .find(|s| after.ends_with(s))
                    .unwrap_or("");
                    format!("ADDRESS{suffix}")
                }
            }
        })
        .collect::<Vec<_>>()
        .join("/")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_log_never_shows_an_address() {
        for (path, logged) in [
            (
                "/files/taro@kyoto-u.ac.jp/taro@kyoto-u.ac.jp.prf",
                "/files/ADDRESS/ADDRESS.prf",
            ),
            (
                "/files/taro%40kyoto-u.ac.jp/README.html",
                "/files/ADDRESS/README.html",
            ),
            (
                "/files/a@kyoto-u.ac.jp/a@kyoto-u.ac.jp-google.mobileconfig",
                "/files/ADDRESS/ADDRESS-google.mobileconfig",
            ),
            ("/files/a@kyoto-u.ac.jp.zip", "/files/ADDRESS.zip"),
            ("/x/%3Cscript%3E@evil", "/x/ADDRESS"),
            ("/healthz", "/healthz"),
            // Escaped twice or more, and look-alikes of @.
            (
                "/files/taro%2540kyoto-u.ac.jp/taro%252540kyoto-u.ac.jp.prf",
                "/files/ADDRESS/ADDRESS.prf",
            ),
            (
                "/files/taro%25252540kyoto-u.ac.jp.zip",
                "/files/ADDRESS.zip",
            ),
            ("/x/taro%EF%BC%A0kyoto-u.ac.jp", "/x/ADDRESS"),
            ("/x/taro\u{FE6B}kyoto-u.ac.jp", "/x/ADDRESS"),
            (
                "/autodiscover/autodiscover.json/v1.0/taro%40kyoto-u.ac.jp",
                "/autodiscover/autodiscover.json/v1.0/ADDRESS",
            ),
            ("/a%2Fb/%zz", "/a%2Fb/%zz"),
        ] {
            assert_eq!(logged_path(path), logged, "{path}");
        }
    }

    #[test]
    fn decoding_keeps_what_is_not_an_escape_and_refuses_what_is_not_utf8() {
        assert_eq!(decode("a%40b").unwrap(), "a@b");
        assert_eq!(decode("%4").unwrap(), "%4");
        assert_eq!(decode("%zz%").unwrap(), "%zz%");
        assert_eq!(decode("%E5%B1%B1").unwrap(), "山");
        for bad in ["%FF", "a%C0%AF", "%E5%B1", "%ED%A0%80"] {
            assert_eq!(decode(bad), Err(NotUtf8), "{bad}");
        }
    }

    #[test]
    fn query_parameters_are_utf8_or_refused() {
        let q = Query::parse(Some("Email=a%40b&name=%E5%B1%B1+%E7%94%B0&x&=v&&lang=en")).unwrap();
        assert_eq!(q.get("email"), Some("a@b"));
        assert_eq!(q.get("NAME"), Some("山 田"));
        assert_eq!(q.get("x"), Some(""));
        assert_eq!(q.get("lang"), Some("en"));
        assert_eq!(q.get("missing"), None);
        assert!(Query::parse(None).unwrap().get("a").is_none());
        for bad in ["name=%FF", "emailaddress=a%C0%AF%40b", "%FE=x"] {
            assert_eq!(Query::parse(Some(bad)).unwrap_err(), NotUtf8, "{bad}");
        }
    }

    #[test]
    fn an_http11_request_names_one_host() {
        let with = |version: Version, hosts: &[&str]| {
            let mut req = Request::builder().uri("/").version(version);
            for h in hosts {
                req = req.header(header::HOST, *h);
            }
            host_problem(&req.body(()).unwrap())
        };
        assert_eq!(with(Version::HTTP_11, &["x"]), None);
        assert!(with(Version::HTTP_11, &[]).is_some());
        assert!(with(Version::HTTP_11, &["a", "b"]).is_some());
        assert!(with(Version::HTTP_10, &["a", "b"]).is_some());
        assert_eq!(with(Version::HTTP_10, &[]), None);
        assert_eq!(with(Version::HTTP_2, &[]), None);
    }
}
