//! Judging what a lookup gave: whether the client moves past it (a 404 is normal), what is a
//! problem and its fix, and how an answer's settings differ from the provider's.

use std::time::{Duration, SystemTime};

use url::Url;

use super::dns::DnsError;
use super::http::{CertProblem, FetchError, Hop, Response};
use super::read::{Auth, Offer, Seen};
use super::report::{Problem, Server, Settings, Step};
use crate::input::account::Address;
use crate::input::provider::{Protocol, Provider};
use crate::render::thunderbird::{authentication, socket_type};

/// How a step the client did not need begins.
pub const NOT_NEEDED: &str = "not used (the client stopped at an earlier lookup): ";

/// A certificate that ends within this many days is a problem.
pub const EXPIRY_DAYS: u64 = 30;

/// The settings the provider says every client should get.
pub struct Want<'a> {
    pub provider: &'a Provider,
    pub protocol: Protocol,
    pub address: &'a Address,
}

impl Want<'_> {
    pub fn settings(&self) -> Settings {
        let server = |kind: &str, s: &crate::input::provider::Server| Server {
            protocol: kind.to_string(),
            host: s.host.to_string(),
            port: s.port.get(),
            socket_type: socket_type(s.security).to_string(),
            auth: s.auth.iter().next().map(|a| authentication(a).to_string()),
        };
        Settings {
            incoming: server(
                self.protocol.as_str(),
                self.provider.incoming(self.protocol),
            ),
            outgoing: server("smtp", &self.provider.smtp),
        }
    }

    /// How `offer` differs from the provider's settings; `strict_auth`: the first
    /// authentication must be the provider's first (an autoconfig file can say OAuth2, POX
    /// cannot, so there a password is enough when the provider allows one).
    pub fn differences(&self, offer: &Offer, strict_auth: bool) -> Vec<String> {
        let mut out = Vec::new();
        let want = self.settings();
        let first = offer.first_incoming();
        let incoming = self.provider.incoming(self.protocol);
        if first.kind != self.protocol.as_str() {
            out.push(format!(
                "offers {} first, where the provider says {}",
                shown(first),
                want.incoming
            ));
        } else if !same(first, incoming, strict_auth, self.address) {
            out.push(format!(
                "incoming server {}, where the provider says {}",
                shown(first),
                want.incoming
            ));
        }
        if !same(
            &offer.outgoing,
            &self.provider.smtp,
            strict_auth,
            self.address,
        ) {
            out.push(format!(
                "outgoing server {}, where the provider says {}",
                shown(&offer.outgoing),
                want.outgoing
            ));
        }
        out
    }
}

/// Whether `seen` is the provider's `server`: host, port, socket type, authentication, and a
/// username that is the address.
fn same(
    seen: &Seen,
    server: &crate::input::provider::Server,
    strict_auth: bool,
    address: &Address,
) -> bool {
    let auth = match &seen.auth {
        Auth::Method(m) if strict_auth => server.auth.iter().next() == Some(*m),
        Auth::Method(m) => server.auth.contains(*m),
        Auth::Other(_) => false,
    };
    let username = match seen.username.as_deref() {
        None => true,
        Some(u) => {
            u == crate::render::thunderbird::EMAIL_PLACEHOLDER
                || u.eq_ignore_ascii_case(address.as_str())
        }
    };
    seen.host.eq_ignore_ascii_case(server.host.as_str())
        && seen.port == server.port.get()
        && seen.security == server.security
        && auth
        && username
}

/// A server as the report shows it.
pub fn server_of(seen: &Seen) -> Server {
    Server {
        protocol: seen.kind.clone(),
        host: seen.host.clone(),
        port: seen.port,
        socket_type: socket_type(seen.security).to_string(),
        auth: Some(match &seen.auth {
            Auth::Method(m) => authentication(*m).to_string(),
            Auth::Other(other) => other.clone(),
        }),
    }
}

fn shown(seen: &Seen) -> String {
    let mut text = server_of(seen).to_string();
    if let Some(u) = seen.username.as_deref()
        && u != crate::render::thunderbird::EMAIL_PLACEHOLDER
        && u.contains('%')
    {
        text.push_str(&format!(", username {u}"));
    }
    text
}

pub fn settings_of(offer: &Offer) -> Settings {
    Settings {
        incoming: server_of(offer.first_incoming()),
        outgoing: server_of(&offer.outgoing),
    }
}

/// Who answers at a lookup: the domain's own servers (whose faults are problems to fix), or
/// someone else's (Mozilla's ISPDB, the MX host's domain), which are only described.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Owner {
    Domain,
    ThirdParty,
}

/// What a client makes of one lookup.
#[derive(Debug, Clone)]
pub enum Outcome {
    /// Settings, from this URL or record, reached `via` another lookup when not directly.
    Settings {
        offer: Offer,
        source: String,
        via: Option<String>,
    },
    /// An answer the client takes (a 2xx) without settings in it: Thunderbird goes no further
    /// down this list.
    Blocked,
    /// Nothing here: the client moves on.
    Nothing,
}

/// One lookup: its steps, what the client makes of it, and its problems.
#[derive(Debug, Clone)]
pub struct Attempt {
    pub steps: Vec<Step>,
    pub outcome: Outcome,
    pub problems: Vec<Problem>,
}

impl Attempt {
    /// Settings at `source`, from the lookup of `step`.
    pub fn settings(
        mut step: Step,
        offer: Offer,
        source: String,
        via: Option<String>,
        problems: Vec<Problem>,
    ) -> Attempt {
        step.result.push_str(": settings");
        Attempt {
            steps: vec![step],
            outcome: Outcome::Settings { offer, source, via },
            problems,
        }
    }

    /// An answer the client takes without settings in it; `note` says what it was.
    pub fn blocked(mut step: Step, problems: Vec<Problem>, note: &str) -> Attempt {
        step.result.push_str(note);
        Attempt {
            steps: vec![step],
            outcome: Outcome::Blocked,
            problems,
        }
    }

    pub fn nothing(step: Step, problems: Vec<Problem>) -> Attempt {
        Attempt {
            steps: vec![step],
            outcome: Outcome::Nothing,
            problems,
        }
    }

    /// The steps, marked as not needed: an earlier lookup already gave the settings.
    pub fn not_needed(&self) -> Vec<Step> {
        self.steps
            .iter()
            .map(|s| Step {
                lookup: s.lookup.clone(),
                result: format!("{NOT_NEEDED}{}", s.result),
                used: false,
            })
            .collect()
    }
}

/// Problems on the way through `hops`, whatever the answer: certificates, sign-in, server
/// errors, a redirect to plain http or nowhere, a redirect target that does not resolve.
pub fn hop_problems(hops: &[Hop], owner: Owner, what_for: &str) -> Vec<Problem> {
    let mut problems = Vec::new();
    if owner == Owner::ThirdParty {
        return problems;
    }
    for (i, hop) in hops.iter().enumerate() {
        let host = hop.url.host_str().unwrap_or("").to_string();
        let place = hop.url.to_string();
        // A certificate is the server's, whatever the path: one problem per server.
        let origin = hop.url.origin().ascii_serialization();
        match &hop.answer {
            Err(FetchError::Certificate { problem, cert }) => {
                problems.push(cert_problem(&origin, &host, problem, cert.as_ref()));
            }
            Err(FetchError::Dns(DnsError::NoSuchName | DnsError::NoRecords)) if i > 0 => {
                problems.push(Problem {
                    place: host.clone(),
                    what: format!(
                        "{} redirects to {place}, but {host} does not resolve",
                        hops[i - 1].url
                    ),
                    fix: format!("add {host} to DNS, or redirect to a name that is in DNS"),
                });
            }
            Err(_) => {}
            Ok(response) => {
                if let Some(cert) = &response.cert
                    && let Some(days) = expires_within(cert.not_after, EXPIRY_DAYS)
                {
                    problems.push(Problem {
                        place: origin.clone(),
                        what: format!(
                            "the certificate of {host} expires {} ({}): clients refuse it from then on",
                            in_days(days),
                            date(cert.not_after)
                        ),
                        fix: format!(
                            "renew the certificate of {host} now, and have it renewed automatically (ACME)"
                        ),
                    });
                }
                if response.status == 401 {
                    problems.push(Problem {
                        place: place.clone(),
                        what: format!(
                            "answers 401 (sign-in required) to the {what_for} lookup: Outlook asks the person for a password here"
                        ),
                        fix: format!(
                            "serve {} without sign-in (mailconf serve does), or answer 404",
                            hop.url.path()
                        ),
                    });
                } else if response.status >= 500 {
                    problems.push(Problem {
                        place: place.clone(),
                        what: format!(
                            "answers {} (server error) to the {what_for} lookup",
                            response.status
                        ),
                        fix: "look at the web server's (or proxy's) error log: is mailconf serve running and reachable from the proxy?".into(),
                    });
                } else if response.is_redirect() {
                    match hops.get(i + 1) {
                        None => problems.push(Problem {
                            place: place.clone(),
                            what: format!(
                                "redirects ({}) {}",
                                response.status,
                                match &response.location {
                                    Some(_) if i + 1 > super::http::MAX_REDIRECTS =>
                                        "again and again".to_string(),
                                    Some(l) => format!("to {l:?}, which is not an http(s) URL"),
                                    None => "without a Location".to_string(),
                                }
                            ),
                            fix: format!("answer the {what_for} lookup at this URL, or redirect once to where it is answered"),
                        }),
                        Some(next)
                            if hop.url.scheme() == "https" && next.url.scheme() == "http" =>
                        {
                            problems.push(Problem {
                                place: place.clone(),
                                what: format!(
                                    "redirects from https to plain http ({}), where anyone on the network can change the answer",
                                    next.url
                                ),
                                fix: "redirect to https only, or answer here".into(),
                            });
                        }
                        Some(_) => {}
                    }
                }
            }
        }
    }
    problems
}

/// A certificate that failed the handshake, as a problem.
fn cert_problem(
    place: &str,
    host: &str,
    problem: &CertProblem,
    cert: Option<&super::http::Cert>,
) -> Problem {
    let names = cert.map(|c| c.names.join(", ")).unwrap_or_default();
    let issuer = cert.map(|c| c.issuer.clone()).unwrap_or_default();
    let (what, fix) = match problem {
        CertProblem::Untrusted => (
            format!(
                "the certificate of {host} is not trusted (issued by {:?}): clients refuse the connection or warn the person",
                issuer
            ),
            format!(
                "serve a certificate for {host} from a public CA (Let's Encrypt, the university's CA provider) with its intermediate certificates (the full chain)"
            ),
        ),
        CertProblem::WrongName => (
            format!("the certificate of {host} is for {names}, not {host}"),
            format!(
                "add {host} to the certificate's names (subject alternative names), or point {host} at a server whose certificate has it"
            ),
        ),
        CertProblem::Expired => (
            format!(
                "the certificate of {host} has expired{}",
                cert.map(|c| format!(" ({})", date(c.not_after)))
                    .unwrap_or_default()
            ),
            format!("renew the certificate of {host}, and have it renewed automatically (ACME)"),
        ),
        CertProblem::NotYetValid => (
            format!("the certificate of {host} is not valid yet"),
            "check the server's clock and the certificate's dates".into(),
        ),
        CertProblem::Other(why) => (
            format!("the certificate of {host} is refused: {why}"),
            format!("serve a valid certificate for {host}"),
        ),
    };
    Problem {
        place: place.to_string(),
        what,
        fix,
    }
}

/// Whole days until `end`, when fewer than `days` are left (0 if already past).
pub fn expires_within(end: SystemTime, days: u64) -> Option<u64> {
    let left = end
        .duration_since(SystemTime::now())
        .unwrap_or(Duration::ZERO);
    (left < Duration::from_secs(days * 86_400)).then_some(left.as_secs() / 86_400)
}

fn in_days(days: u64) -> String {
    match days {
        0 => "within a day".into(),
        1 => "in 1 day".into(),
        n => format!("in {n} days"),
    }
}

/// `YYYY-MM-DD` (UTC).
pub fn date(t: SystemTime) -> String {
    let secs = t
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let (y, m, d) = crate::bundle::zipstream::civil_from_days((secs / 86_400) as i64);
    format!("{y:04}-{m:02}-{d:02}")
}

/// What a chain of hops gave, in a few words: "404", "301 → https://… → 200 text/xml"…
pub fn describe(hops: &[Hop]) -> String {
    let mut parts = Vec::new();
    for (i, hop) in hops.iter().enumerate() {
        if i > 0 {
            parts.push(format!("→ {}", hop.url));
        }
        parts.push(match &hop.answer {
            Ok(r) => status_text(r),
            Err(e) => fetch_error_text(e),
        });
    }
    parts.join(" ")
}

fn status_text(r: &Response) -> String {
    if r.is_redirect() {
        return r.status.to_string();
    }
    match r.content_type.as_deref() {
        Some(_) if (200..300).contains(&r.status) => format!("{} {}", r.status, r.media_type()),
        _ => r.status.to_string(),
    }
}

pub fn fetch_error_text(e: &FetchError) -> String {
    match e {
        FetchError::Dns(DnsError::NoSuchName | DnsError::NoRecords) => {
            "does not resolve (no such name in DNS)".into()
        }
        FetchError::Dns(e) => e.describe("address"),
        FetchError::Refused(why) => format!("no connection ({why})"),
        FetchError::Timeout => "no answer in time".into(),
        FetchError::Certificate { problem, .. } => match problem {
            CertProblem::Untrusted => "certificate not trusted".into(),
            CertProblem::WrongName => "certificate for another name".into(),
            CertProblem::Expired => "certificate expired".into(),
            CertProblem::NotYetValid => "certificate not valid yet".into(),
            CertProblem::Other(why) => format!("certificate refused: {why}"),
        },
        FetchError::Failed(why) => why.clone(),
    }
}

/// What a 2xx answer is, when it is not what was asked: "a web page (text/html)"…
pub fn kind_of_answer(r: &Response) -> String {
    let media = r.media_type();
    match media.as_str() {
        "" => "an answer without a Content-Type".into(),
        "text/html" | "application/xhtml+xml" => format!("a web page ({media})"),
        other => other.to_string(),
    }
}

/// `METHOD URL` for a step's lookup ("POST https://…"; GET is left unsaid).
pub fn lookup_text(method: &hyper::Method, url: &Url) -> String {
    if method == hyper::Method::GET {
        url.to_string()
    } else {
        format!("{method} {url}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_are_civil() {
        assert_eq!(date(SystemTime::UNIX_EPOCH), "1970-01-01");
        let t = SystemTime::UNIX_EPOCH + Duration::from_secs(1_709_251_200); // 2024-03-01
        assert_eq!(date(t), "2024-03-01");
        let t = SystemTime::UNIX_EPOCH + Duration::from_secs(951_782_400); // 2000-02-29
        assert_eq!(date(t), "2000-02-29");
    }

    #[test]
    fn expiry_is_counted_in_whole_days() {
        let now = SystemTime::now();
        let day = Duration::from_secs(86_400);
        assert_eq!(expires_within(now + 10 * day + day / 2, 30), Some(10));
        assert_eq!(expires_within(now + 31 * day, 30), None);
        assert_eq!(expires_within(now - day, 30), Some(0));
    }
}
