//! `mailconf doctor`: checks a live deployment the way each mail client looks its settings up,
//! and says what each client gets, from where, and what to fix.
//!
//! - [`clients`]: each client's lookup in its own order (Thunderbird 153, Outlook, RFC 6186);
//! - [`judge`]: what a lookup's answer means to the client, and the problems with their fixes;
//! - [`read`]: autoconfig, POX and `autodiscover.json` answers read as the clients read them;
//! - [`dns`] and [`http`]: the network, with `--dns-server`, `--ca-file` and `--connect-to`;
//! - [`report`]: the report, as text or JSON.

mod clients;
mod dns;
mod http;
mod judge;
mod read;
pub mod report;

use std::collections::HashMap;
use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::OnceCell;
use tokio::time::Instant;

use crate::input::account::Address;
use crate::input::provider::{Protocol, Provider};
use http::{Ask, Hop, Http};

pub use report::Report;

/// Thunderbird's default `mailnews.auto_config_url`: Mozilla's ISPDB.
pub const ISPDB_URL: &str = "https://live.thunderbird.net/autoconfig/v1.1/";

/// The whole run ends by then (or twice the per-request timeout, if that is longer).
pub const RUN_LIMIT: Duration = Duration::from_secs(25);

/// What to check, and how to reach it.
pub struct Options {
    pub address: Address,
    pub provider: Provider,
    pub protocol: Protocol,
    pub timeout: Duration,
    pub dns_server: Option<SocketAddr>,
    pub ca_file: Option<PathBuf>,
    pub connect_to: Vec<ConnectTo>,
    pub ispdb_url: String,
}

/// Runs every client's lookup for `options.address` and reports; an error (a file that cannot
/// be read, no resolver) means the check could not run.
pub fn run(options: Options) -> Result<Report, String> {
    let started = std::time::Instant::now();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the network runtime: {e}"))?;
    runtime.block_on(async {
        let deadline = Deadline::new(options.timeout);
        let dns = Arc::new(dns::Dns::new(
            options.dns_server,
            options.timeout,
            deadline,
        )?);
        let http = Http::new(
            dns.clone(),
            options.ca_file.as_deref(),
            options.connect_to.clone(),
            deadline,
        )?;
        let net = Net {
            dns,
            http,
            fetched: Mutex::new(HashMap::new()),
        };
        let domain = options.address.domain().to_string();
        let walk = clients::Walk {
            net: &net,
            want: judge::Want {
                provider: &options.provider,
                protocol: options.protocol,
                address: &options.address,
            },
            domain: &domain,
            ispdb_url: &options.ispdb_url,
        };
        let (thunderbird, outlook, rfc6186, servers) = tokio::join!(
            walk.thunderbird(),
            walk.outlook(),
            walk.rfc6186(),
            walk.servers()
        );
        let mut problems: Vec<report::Problem> = Vec::new();
        for problem in thunderbird
            .1
            .into_iter()
            .chain(outlook.1)
            .chain(rfc6186.1)
            .chain(servers)
        {
            if !problems
                .iter()
                .any(|p| p.place == problem.place && p.what == problem.what)
            {
                problems.push(problem);
            }
        }
        Ok(Report {
            address: options.address.to_string(),
            ok: problems.is_empty(),
            provider: options.provider.names.short.to_string(),
            protocol: options.protocol.as_str().to_string(),
            expected: walk.want.settings(),
            clients: vec![thunderbird.0, outlook.0, rfc6186.0],
            problems,
            seconds: (started.elapsed().as_secs_f64() * 10.0).round() / 10.0,
        })
    })
}

/// The network of one run: DNS, HTTP, and each request's answer kept, so that a URL two clients
/// ask is asked once.
pub struct Net {
    dns: Arc<dns::Dns>,
    http: Http,
    fetched: Mutex<HashMap<String, Arc<OnceCell<Vec<Hop>>>>>,
}

impl Net {
    /// `ask`, following redirects.
    async fn fetch(&self, ask: Ask) -> Vec<Hop> {
        let cell = self.cell(format!("{} {}", ask.method, ask.url));
        cell.get_or_init(|| self.http.follow(ask)).await.clone()
    }

    /// `ask` alone, no redirect followed.
    async fn fetch_once(&self, ask: Ask) -> Hop {
        let cell = self.cell(format!("once {} {}", ask.method, ask.url));
        let hops = cell
            .get_or_init(|| async {
                let answer = self.http.send(&ask).await;
                vec![Hop {
                    url: ask.url.clone(),
                    answer,
                }]
            })
            .await;
        hops[0].clone()
    }

    fn cell(&self, key: String) -> Arc<OnceCell<Vec<Hop>>> {
        match self.fetched.lock() {
            Ok(mut map) => map.entry(key).or_default().clone(),
            // A poisoned map (a panic elsewhere): ask again rather than share.
            Err(_) => Arc::new(OnceCell::new()),
        }
    }
}

/// Each request's time limit, within the whole run's.
#[derive(Debug, Clone, Copy)]
pub struct Deadline {
    end: Instant,
    each: Duration,
}

impl Deadline {
    fn new(each: Duration) -> Deadline {
        Deadline {
            end: Instant::now() + RUN_LIMIT.max(each * 2),
            each,
        }
    }

    /// Runs `f` for at most the request's time limit; `None` if it ran out.
    pub async fn run<F: Future>(&self, f: F) -> Option<F::Output> {
        let left = self.end.saturating_duration_since(Instant::now());
        tokio::time::timeout(self.each.min(left), f).await.ok()
    }
}

/// `--connect-to HOST:PORT:ADDR:PORT` (curl's): connect to ADDR:PORT instead, keeping HOST for
/// SNI, `Host` and the certificate check. An empty HOST or first PORT matches any; an empty
/// ADDR or second PORT keeps the original.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectTo {
    host: Option<String>,
    port: Option<u16>,
    to_host: Option<String>,
    to_port: Option<u16>,
}

impl ConnectTo {
    pub fn parse(s: &str) -> Result<ConnectTo, String> {
        let bad = |why: &str| {
            Err(format!(
                "--connect-to {s:?}: {why}; write HOST:PORT:ADDR:PORT, such as autoconfig.example.ac.jp:443:127.0.0.1:8443"
            ))
        };
        let fields = match split_fields(s) {
            Some(fields) if fields.len() == 4 => fields,
            _ => return bad("it needs four fields separated by ':' (IPv6 addresses in [ ])"),
        };
        let port = |p: &str| -> Result<Option<u16>, ()> {
            match p {
                "" => Ok(None),
                p => p.parse::<u16>().ok().filter(|p| *p > 0).map(Some).ok_or(()),
            }
        };
        let host = |h: &str| -> Result<Option<String>, ()> {
            let h = h.trim_start_matches('[').trim_end_matches(']');
            if h.is_empty() {
                return Ok(None);
            }
            let ok = h.parse::<std::net::IpAddr>().is_ok()
                || h.split('.').all(|l| {
                    !l.is_empty() && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
                });
            if ok {
                Ok(Some(h.to_ascii_lowercase()))
            } else {
                Err(())
            }
        };
        let (Ok(from_host), Ok(from_port), Ok(to_host), Ok(to_port)) = (
            host(&fields[0]),
            port(&fields[1]),
            host(&fields[2]),
            port(&fields[3]),
        ) else {
            return bad("a host name, IP address or port (1 to 65535) is not valid");
        };
        Ok(ConnectTo {
            host: from_host,
            port: from_port,
            to_host,
            to_port,
        })
    }

    /// Whether a connection to `host:port` goes elsewhere.
    pub fn matches(&self, host: &str, port: u16) -> bool {
        self.host
            .as_deref()
            .is_none_or(|h| h.eq_ignore_ascii_case(host))
            && self.port.is_none_or(|p| p == port)
    }

    /// Where a connection to `host:port` goes.
    pub fn target(&self, host: &str, port: u16) -> (String, u16) {
        (
            self.to_host.clone().unwrap_or_else(|| host.to_string()),
            self.to_port.unwrap_or(port),
        )
    }
}

/// `a:b:[::1]:d` split at the colons outside brackets.
fn split_fields(s: &str) -> Option<Vec<String>> {
    let mut fields = vec![String::new()];
    let mut bracket = false;
    for c in s.chars() {
        match c {
            '[' if !bracket => bracket = true,
            ']' if bracket => bracket = false,
            ':' if !bracket => {
                fields.push(String::new());
                continue;
            }
            _ => {}
        }
        fields.last_mut()?.push(c);
    }
    (!bracket).then_some(fields)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connect_to_has_curls_meaning() {
        let c = ConnectTo::parse("autoconfig.example.org:443:127.0.0.1:8443").expect("valid");
        assert!(c.matches("autoconfig.example.org", 443));
        assert!(c.matches("AUTOCONFIG.example.org", 443));
        assert!(!c.matches("autoconfig.example.org", 80));
        assert!(!c.matches("example.org", 443));
        assert_eq!(
            c.target("autoconfig.example.org", 443),
            ("127.0.0.1".to_string(), 8443)
        );
        let any = ConnectTo::parse("::[::1]:").expect("valid");
        assert!(any.matches("example.org", 80));
        assert_eq!(any.target("example.org", 80), ("::1".to_string(), 80));
        for bad in [
            "",
            "a:443:b",
            "a:443:b:c:d",
            "a:99999:b:1",
            "a:0:b:1",
            "a:x:b:1",
            "a b:1:c:2",
            "[::1:1:a:2",
        ] {
            let e = ConnectTo::parse(bad).expect_err(bad);
            assert!(e.contains("HOST:PORT:ADDR:PORT"), "{e}");
        }
    }
}
