//! DNS as a mail client meets it: addresses (A/AAAA), MX and SRV records, through the system's
//! resolver or one given server (`--dns-server`), each lookup within the run's time limits.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use hickory_resolver::TokioResolver;
use hickory_resolver::config::{
    ConnectionConfig, NameServerConfig, ResolveHosts, ResolverConfig, ResolverOpts,
};
use hickory_resolver::net::NetError;
use hickory_resolver::net::runtime::TokioRuntimeProvider;
use hickory_resolver::proto::rr::{RData, RecordType};

use super::Deadline;

/// Why a name gave no answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DnsError {
    /// NXDOMAIN: the name does not exist.
    NoSuchName,
    /// The name exists, without records of the type asked.
    NoRecords,
    /// No answer in time.
    Timeout,
    /// The resolver failed (a network error, a refused query…).
    Failed(String),
}

impl DnsError {
    /// What happened, said after the name: "does not exist in DNS (NXDOMAIN)"…
    pub fn describe(&self, kind: &str) -> String {
        match self {
            DnsError::NoSuchName => "does not exist in DNS (NXDOMAIN)".into(),
            DnsError::NoRecords => format!("has no {kind} record"),
            DnsError::Timeout => "got no DNS answer in time".into(),
            DnsError::Failed(why) => format!("could not be looked up ({why})"),
        }
    }

    /// The name is not in DNS (as opposed to a lookup that failed).
    pub fn is_missing(&self) -> bool {
        matches!(self, DnsError::NoSuchName | DnsError::NoRecords)
    }
}

/// One SRV record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Srv {
    pub priority: u16,
    pub weight: u16,
    pub port: u16,
    /// The target without its final dot; "." (empty) says "not offered".
    pub target: String,
}

/// The resolver of one run.
pub struct Dns {
    resolver: TokioResolver,
    deadline: Deadline,
}

impl Dns {
    /// The system's resolver, or `server` alone; every lookup waits at most `timeout`.
    pub fn new(
        server: Option<SocketAddr>,
        timeout: Duration,
        deadline: Deadline,
    ) -> Result<Dns, String> {
        let provider = TokioRuntimeProvider::default();
        let mut builder = match server {
            Some(server) => {
                let mut udp = ConnectionConfig::udp();
                udp.port = server.port();
                let mut tcp = ConnectionConfig::tcp();
                tcp.port = server.port();
                let config = ResolverConfig::from_name_servers(vec![NameServerConfig::new(
                    server.ip(),
                    true,
                    vec![udp, tcp],
                )]);
                let mut builder = TokioResolver::builder_with_config(config, provider);
                builder.options_mut().use_hosts_file = ResolveHosts::Never;
                builder
            }
            None => TokioResolver::builder(provider).map_err(|e| {
                format!(
                    "cannot read the system's DNS settings (/etc/resolv.conf): {e}; give a server with --dns-server IP:PORT"
                )
            })?,
        };
        let options: &mut ResolverOpts = builder.options_mut();
        options.timeout = timeout;
        options.attempts = 1;
        options.preserve_intermediates = false;
        let resolver = builder
            .build()
            .map_err(|e| format!("cannot set up the DNS resolver: {e}"))?;
        Ok(Dns { resolver, deadline })
    }

    /// The addresses of `host` (A and AAAA).
    pub async fn addresses(&self, host: &str) -> Result<Vec<IpAddr>, DnsError> {
        let name = fqdn(host);
        let lookup = self
            .deadline
            .run(self.resolver.lookup_ip(name.as_str()))
            .await
            .ok_or(DnsError::Timeout)?
            .map_err(dns_error)?;
        let addresses: Vec<IpAddr> = lookup.iter().collect();
        if addresses.is_empty() {
            return Err(DnsError::NoRecords);
        }
        Ok(addresses)
    }

    /// The MX hosts of `domain`, most preferred first (without the final dot).
    pub async fn mx(&self, domain: &str) -> Result<Vec<(u16, String)>, DnsError> {
        let records = self.records(domain, RecordType::MX).await?;
        let mut hosts: Vec<(u16, String)> = records
            .into_iter()
            .filter_map(|data| match data {
                RData::MX(mx) => Some((mx.preference, name_text(&mx.exchange.to_ascii()))),
                _ => None,
            })
            .filter(|(_, host)| !host.is_empty())
            .collect();
        if hosts.is_empty() {
            return Err(DnsError::NoRecords);
        }
        hosts.sort();
        Ok(hosts)
    }

    /// The SRV records of `name`, in the order a client tries them (priority, then the heavier
    /// weight first).
    pub async fn srv(&self, name: &str) -> Result<Vec<Srv>, DnsError> {
        let records = self.records(name, RecordType::SRV).await?;
        let mut srv: Vec<Srv> = records
            .into_iter()
            .filter_map(|data| match data {
                RData::SRV(srv) => Some(Srv {
                    priority: srv.priority,
                    weight: srv.weight,
                    port: srv.port,
                    target: name_text(&srv.target.to_ascii()),
                }),
                _ => None,
            })
            .collect();
        if srv.is_empty() {
            return Err(DnsError::NoRecords);
        }
        srv.sort_by_key(|s| (s.priority, std::cmp::Reverse(s.weight)));
        Ok(srv)
    }

    async fn records(&self, name: &str, kind: RecordType) -> Result<Vec<RData>, DnsError> {
        let name = fqdn(name);
        let lookup = self
            .deadline
            .run(self.resolver.lookup(name.as_str(), kind))
            .await
            .ok_or(DnsError::Timeout)?
            .map_err(dns_error)?;
        Ok(lookup
            .answers()
            .iter()
            .filter(|r| r.record_type() == kind)
            .map(|r| r.data.clone())
            .collect())
    }
}

/// `name.`: asked as it is, never with the resolver's search domains.
fn fqdn(name: &str) -> String {
    format!("{}.", name.trim_end_matches('.'))
}

/// A name from a record, lower-case and without its final dot ("" for the root).
fn name_text(name: &str) -> String {
    name.trim_end_matches('.').to_ascii_lowercase()
}

fn dns_error(e: NetError) -> DnsError {
    if e.is_nx_domain() {
        DnsError::NoSuchName
    } else if e.is_no_records_found() {
        DnsError::NoRecords
    } else if matches!(e, NetError::Timeout) {
        DnsError::Timeout
    } else {
        DnsError::Failed(e.to_string())
    }
}
