//! Reading a request: its query string's parameters, the `%XX` escapes of its path, and the
//! path as the access log may write it (no address).

/// A query string's parameters, decoded; names compared without case (`Email`, `emailaddress`).
pub struct Query(Vec<(String, String)>);

impl Query {
    pub fn parse(query: Option<&str>) -> Query {
        Query(
            form_urlencoded::parse(query.unwrap_or("").as_bytes())
                .take(32)
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect(),
        )
    }

    /// The first value of `name`.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// `%XX` sequences of a path decoded (as UTF-8, lossily: a bad one then fails validation).
pub fn percent_decode(path: &str) -> String {
    let bytes = path.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        if bytes[i] == b'%'
            && i + 2 < bytes.len()
            && let (Some(h), Some(l)) = (hex(bytes[i + 1]), hex(bytes[i + 2]))
        {
            out.push((h * 16 + l) as u8);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The path as the access log writes it: a segment holding an address (`@`, or `%40`) becomes
/// `ADDRESS`, keeping a file's suffix after the address (`ADDRESS.prf`, `ADDRESS-outlook.cmd`).
pub fn logged_path(path: &str) -> String {
    path.split('/')
        .map(|segment| {
            let decoded = percent_decode(segment);
            match decoded.find('@') {
                None => segment.to_string(),
                Some(at) => {
                    // The address ends where its domain does: at the first character that a
                    // domain cannot hold, or before a known file suffix.
                    let after = &decoded[at + 1..];
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
        ] {
            assert_eq!(logged_path(path), logged, "{path}");
        }
    }

    #[test]
    fn percent_decoding_keeps_what_is_not_an_escape() {
        assert_eq!(percent_decode("a%40b"), "a@b");
        assert_eq!(percent_decode("%4"), "%4");
        assert_eq!(percent_decode("%zz%"), "%zz%");
        assert_eq!(percent_decode("%E5%B1%B1"), "山");
    }
}
