//! Each client's own lookup, in its own order: Thunderbird 153 (`FindConfig.sys.mjs`,
//! `FetchConfig.sys.mjs`, `ExchangeAutoDiscover.sys.mjs`), Outlook (MS-OXDSCLI and newer
//! Outlook's `autodiscover.json`), and RFC 6186 SRV records. Every request is sent at once (as
//! Thunderbird does) and the answers are then ranked in the client's order, so the whole walk
//! takes about as long as its slowest chain of requests.

use url::Url;

use super::Net;
use super::dns::DnsError;
use super::http::{Ask, Hop};
use super::judge::{
    Attempt, NOT_NEEDED, Outcome, Owner, Want, describe, hop_problems, kind_of_answer, lookup_text,
    settings_of,
};
use super::read::{self, Pox, PoxReader};
use super::report::{Client, Problem, Server, Settings, Step};
use crate::input::provider::{Protocol, Security};
use crate::render::autodiscover::{REQUEST_NAMESPACE, RESPONSE_SCHEMA};
use crate::render::thunderbird::socket_type;

/// What the walk needs: the network, what to expect, and where to ask.
pub struct Walk<'a> {
    pub net: &'a Net,
    pub want: Want<'a>,
    pub domain: &'a str,
    pub ispdb_url: &'a str,
}

/// Attempts ranked in a client's order: the first that gives settings (or, with `blocking`,
/// the first answer the client takes at all) decides; the ones after it are not needed.
struct Ranked {
    steps: Vec<Step>,
    found: Option<Found>,
    problems: Vec<Problem>,
}

struct Found {
    offer: read::Offer,
    source: String,
    via: Option<String>,
}

fn rank(attempts: Vec<Attempt>, blocking: bool) -> Ranked {
    let mut ranked = Ranked {
        steps: Vec::new(),
        found: None,
        problems: Vec::new(),
    };
    let mut decided = false;
    for attempt in attempts {
        if decided {
            ranked.steps.extend(attempt.not_needed());
            continue;
        }
        ranked.problems.extend(attempt.problems.iter().cloned());
        let mut steps = attempt.steps.clone();
        match attempt.outcome {
            Outcome::Settings { offer, source, via } => {
                if let Some(last) = steps.last_mut() {
                    last.used = true;
                }
                ranked.found = Some(Found { offer, source, via });
                decided = true;
            }
            Outcome::Blocked if blocking => decided = true,
            Outcome::Blocked | Outcome::Nothing => {}
        }
        ranked.steps.extend(steps);
    }
    ranked
}

impl Walk<'_> {
    fn address(&self) -> &str {
        self.want.address.as_str()
    }

    fn url(&self, text: &str) -> Option<Url> {
        Url::parse(text).ok()
    }

    /// `https://autoconfig.DOMAIN/mail/config-v1.1.xml?emailaddress=…` and the others.
    fn autoconfig_url(&self, scheme: &str, host: &str, path: &str) -> Option<Url> {
        let mut url = self.url(&format!("{scheme}://{host}{path}"))?;
        url.query_pairs_mut()
            .append_pair("emailaddress", self.address());
        Some(url)
    }

    fn ispdb_for(&self, domain: &str) -> Option<Url> {
        let text = if self.ispdb_url.contains("{{domain}}") {
            self.ispdb_url.replace("{{domain}}", domain)
        } else {
            format!("{}{domain}", self.ispdb_url)
        };
        self.url(&text)
    }

    /// Thunderbird 153: its `isp/` folder (not checkable from here), the domain's own autoconfig
    /// URLs, Mozilla's ISPDB, the MX host's domain, in that priority; Outlook's Autodiscover only
    /// when all of them fail.
    pub async fn thunderbird(&self) -> (Client, Vec<Problem>) {
        let domain = self.domain;
        let (isp, db, mx, exchange) = tokio::join!(
            self.thunderbird_isp(),
            self.thunderbird_ispdb(domain),
            self.thunderbird_mx(),
            self.thunderbird_exchange()
        );
        let mut steps = Vec::new();
        let mut problems = Vec::new();
        let mut found = None;
        let mut from_domain = false;
        for (i, stage) in [isp, db, mx, exchange].into_iter().enumerate() {
            if found.is_some() {
                steps.extend(stage.steps.into_iter().map(|s| Step {
                    result: if s.result.starts_with(NOT_NEEDED) {
                        s.result
                    } else {
                        format!("{NOT_NEEDED}{}", s.result)
                    },
                    used: false,
                    ..s
                }));
                continue;
            }
            steps.extend(stage.steps);
            problems.extend(stage.problems);
            if let Some(f) = stage.found {
                from_domain = i == 0 || i == 3;
                found = Some(f);
            }
        }
        let client = self.client("thunderbird", found.as_ref(), steps, true);
        if !client.ok {
            problems.extend(self.thunderbird_problem(&client, from_domain));
        }
        (client, problems)
    }

    /// The problem when Thunderbird does not get the provider's settings.
    fn thunderbird_problem(&self, client: &Client, from_domain: bool) -> Option<Problem> {
        let source = client.source.clone()?;
        let differences = client.differences.join("; ");
        let autoconfig = format!("https://autoconfig.{}/mail/config-v1.1.xml", self.domain);
        Some(if from_domain {
            Problem {
                place: source,
                what: format!("Thunderbird gets other settings than the provider's: {differences}"),
                fix: "publish the provider's own file here: run mailconf serve with the provider file, or copy mail/config-v1.1.xml from `mailconf publish` (the file here is another or an old one)".into(),
            }
        } else {
            Problem {
                place: source,
                what: format!(
                    "Thunderbird finds no autoconfig of the domain's own and takes {}: {differences}",
                    client.via.as_deref().unwrap_or("another source")
                ),
                fix: format!(
                    "publish autoconfig: run mailconf serve (or put the files of `mailconf publish`) at {autoconfig} with a certificate for autoconfig.{}",
                    self.domain
                ),
            }
        })
    }

    async fn thunderbird_isp(&self) -> Ranked {
        let domain = self.domain;
        let auto = format!("autoconfig.{domain}");
        let path = "/mail/config-v1.1.xml";
        let wk = "/.well-known/autoconfig/mail/config-v1.1.xml";
        let urls = [
            self.autoconfig_url("https", &auto, path),
            self.autoconfig_url("https", domain, wk),
            self.autoconfig_url("http", &auto, path),
            self.autoconfig_url("http", domain, wk),
        ];
        let [a, b, c, d] = urls;
        let (a, b, c, d) = tokio::join!(
            self.autoconfig(a, Owner::Domain, None),
            self.autoconfig(b, Owner::Domain, None),
            self.autoconfig(c, Owner::Domain, None),
            self.autoconfig(d, Owner::Domain, None)
        );
        let mut ranked = rank(vec![a, b, c, d], true);
        if let Some(found) = &ranked.found
            && found.source.starts_with("http:")
        {
            ranked.problems.push(Problem {
                place: found.source.clone(),
                what: "Thunderbird gets its settings over plain http, which anyone on the network can change".into(),
                fix: format!(
                    "serve the file over https at https://autoconfig.{domain}/mail/config-v1.1.xml, with a certificate for autoconfig.{domain}"
                ),
            });
        }
        ranked
    }

    async fn thunderbird_ispdb(&self, domain: &str) -> Ranked {
        let attempt = self
            .autoconfig(
                self.ispdb_for(domain),
                Owner::ThirdParty,
                Some(format!("Mozilla's ISPDB entry for {domain}")),
            )
            .await;
        rank(vec![attempt], false)
    }

    /// The MX host's domain: its own autoconfig (https only) and its ISPDB entry, for the next
    /// subdomain of the MX host's base domain first (`l.google.com`), then the base domain.
    async fn thunderbird_mx(&self) -> Ranked {
        let lookup = format!("MX {}", self.domain);
        let nothing = |result: String| Ranked {
            steps: vec![Step {
                lookup: lookup.clone(),
                result,
                used: false,
            }],
            found: None,
            problems: Vec::new(),
        };
        let host = match self.net.dns.mx(self.domain).await {
            Ok(hosts) => match hosts.into_iter().next() {
                Some((_, host)) => host,
                None => return nothing(DnsError::NoRecords.describe("MX")),
            },
            Err(e) => return nothing(e.describe("MX")),
        };
        let base = base_domain(&host);
        if base == self.domain || host == self.domain {
            return nothing(format!(
                "{host}: in the domain itself, so Thunderbird looks no further"
            ));
        }
        let next = next_subdomain(&host, &base);
        let via = |d: &str, what: &str| Some(format!("{what} for {d} (the domain's MX is {host})"));
        let mx_isp = |d: &str| {
            self.autoconfig_url("https", &format!("autoconfig.{d}"), "/mail/config-v1.1.xml")
        };
        let first = async {
            match &next {
                Some(n) => Some(tokio::join!(
                    self.autoconfig(mx_isp(n), Owner::ThirdParty, via(n, "the autoconfig")),
                    self.autoconfig(
                        self.ispdb_for(n),
                        Owner::ThirdParty,
                        via(n, "Mozilla's ISPDB entry")
                    )
                )),
                None => None,
            }
        };
        let (first, isp, db) = tokio::join!(
            first,
            self.autoconfig(
                mx_isp(&base),
                Owner::ThirdParty,
                via(&base, "the autoconfig")
            ),
            self.autoconfig(
                self.ispdb_for(&base),
                Owner::ThirdParty,
                via(&base, "Mozilla's ISPDB entry")
            )
        );
        let mut attempts = Vec::new();
        if let Some((a, b)) = first {
            attempts.push(a);
            attempts.push(b);
        }
        attempts.push(isp);
        attempts.push(db);
        let mut ranked = rank(attempts, false);
        ranked.steps.insert(
            0,
            Step {
                lookup,
                result: format!(
                    "{host}: Thunderbird asks about {}",
                    match &next {
                        Some(n) => format!("{n} and {base}"),
                        None => base.clone(),
                    }
                ),
                used: false,
            },
        );
        ranked
    }

    /// Outlook's Autodiscover as Thunderbird reads it: `https://autodiscover.DOMAIN`,
    /// `https://DOMAIN`, `http://autodiscover.DOMAIN`, then the SRV record's host.
    async fn thunderbird_exchange(&self) -> Ranked {
        let domain = self.domain;
        let reader = PoxReader::Thunderbird;
        let srv = async {
            let name = format!("_autodiscover._tcp.{domain}");
            match self.net.dns.srv(&name).await {
                Ok(records) => {
                    // Thunderbird takes the lightest weight, whatever the priority, and port 443.
                    let target = records
                        .iter()
                        .min_by_key(|r| r.weight)
                        .map(|r| r.target.clone())
                        .unwrap_or_default();
                    if target.is_empty() {
                        return Attempt::nothing(
                            srv_step(&name, "says no Autodiscover (target \".\")"),
                            Vec::new(),
                        );
                    }
                    let url = self.url(&format!("https://{target}/autodiscover/autodiscover.xml"));
                    let first = srv_step(&name, &format!("{target} (port 443)"));
                    self.pox_after(first, url, reader, format!("the SRV record {name}"))
                        .await
                }
                Err(e) => Attempt::nothing(srv_step(&name, &e.describe("SRV")), Vec::new()),
            }
        };
        let (a, b, c, d) = tokio::join!(
            self.pox_at(format!("https://autodiscover.{domain}"), reader),
            self.pox_at(format!("https://{domain}"), reader),
            self.pox_at(format!("http://autodiscover.{domain}"), reader),
            srv
        );
        rank(vec![a, b, c, d], true)
    }

    /// Outlook: `autodiscover.json` first (newer Outlook), then the POX POST to
    /// `https://DOMAIN` and `https://autodiscover.DOMAIN`, the redirect at
    /// `http://autodiscover.DOMAIN`, and the `_autodiscover._tcp` SRV record.
    pub async fn outlook(&self) -> (Client, Vec<Problem>) {
        let domain = self.domain;
        let reader = PoxReader::Outlook;
        let (json, a, b, redirect, srv) = tokio::join!(
            self.outlook_json(),
            self.pox_at(format!("https://{domain}"), reader),
            self.pox_at(format!("https://autodiscover.{domain}"), reader),
            self.outlook_http_redirect(),
            self.outlook_srv()
        );
        let ranked = rank(vec![json, a, b, redirect, srv], false);
        let client = self.client("outlook", ranked.found.as_ref(), ranked.steps, false);
        let mut problems = ranked.problems;
        if !client.ok
            && let Some(source) = &client.source
        {
            problems.push(Problem {
                place: source.clone(),
                what: format!(
                    "Outlook gets other settings than the provider's: {}",
                    client.differences.join("; ")
                ),
                fix: "answer Autodiscover with mailconf serve and the provider file (its answer here is another or an old one)".into(),
            });
        }
        (client, problems)
    }

    async fn outlook_json(&self) -> Attempt {
        let Some(mut url) = self.url(&format!(
            "https://autodiscover.{}/autodiscover/autodiscover.json",
            self.domain
        )) else {
            return Attempt::nothing(srv_step("autodiscover.json", "no URL"), Vec::new());
        };
        url.query_pairs_mut()
            .append_pair("Email", self.address())
            .append_pair("Protocol", "AutodiscoverV1");
        let hops = self.net.fetch(Ask::get(url.clone())).await;
        let mut problems = hop_problems(&hops, Owner::Domain, "autodiscover.json");
        let step = Step {
            lookup: url.to_string(),
            result: describe(&hops),
            used: false,
        };
        let Some(Ok(response)) = hops.last().map(|h| &h.answer) else {
            return Attempt::nothing(step, problems);
        };
        if !(200..300).contains(&response.status) {
            return Attempt::nothing(step, problems);
        }
        let place = hops.last().map_or(url.to_string(), |h| h.url.to_string());
        let target = read::autodiscover_json(&response.body).and_then(|text| {
            Url::parse(&text)
                .ok()
                .filter(|u| u.scheme() == "https")
                .ok_or(format!("its \"Url\" {text:?} is not an https:// URL"))
        });
        match target {
            Err(why) => {
                problems.push(Problem {
                    place,
                    what: format!(
                        "answers {} with {}, not the autodiscover.json redirect newer Outlook asks for: {why}",
                        response.status,
                        kind_of_answer(response)
                    ),
                    fix: "answer /autodiscover/autodiscover.json with mailconf serve (started with --public-url), or answer 404 there".into(),
                });
                Attempt::nothing(step, problems)
            }
            Ok(target) => {
                let step = Step {
                    result: format!("{}: sends Outlook to {target}", step.result),
                    ..step
                };
                let mut attempt = self
                    .pox_after(
                        step,
                        Some(target),
                        PoxReader::Outlook,
                        format!("autodiscover.json at {url}"),
                    )
                    .await;
                problems.append(&mut attempt.problems);
                attempt.problems = problems;
                attempt
            }
        }
    }

    /// `GET http://autodiscover.DOMAIN/autodiscover/autodiscover.xml`, expecting a redirect to
    /// https, where the POX request then goes.
    async fn outlook_http_redirect(&self) -> Attempt {
        let Some(url) = self.url(&format!(
            "http://autodiscover.{}/autodiscover/autodiscover.xml",
            self.domain
        )) else {
            return Attempt::nothing(srv_step("http://autodiscover", "no URL"), Vec::new());
        };
        let hop = self.net.fetch_once(Ask::get(url.clone())).await;
        let step = Step {
            lookup: url.to_string(),
            result: describe(std::slice::from_ref(&hop)),
            used: false,
        };
        let location = match &hop.answer {
            Ok(r) if r.is_redirect() => r.location.as_deref().and_then(|l| url.join(l).ok()),
            _ => None,
        };
        match location {
            Some(target) if target.scheme() == "https" => {
                self.pox_after(
                    step,
                    Some(target),
                    PoxReader::Outlook,
                    format!("the redirect at {url}"),
                )
                .await
            }
            _ => Attempt::nothing(step, Vec::new()),
        }
    }

    async fn outlook_srv(&self) -> Attempt {
        let name = format!("_autodiscover._tcp.{}", self.domain);
        match self.net.dns.srv(&name).await {
            Ok(records) => {
                let Some(first) = records.first() else {
                    return Attempt::nothing(srv_step(&name, "has no SRV record"), Vec::new());
                };
                if first.target.is_empty() {
                    return Attempt::nothing(
                        srv_step(&name, "says no Autodiscover (target \".\")"),
                        Vec::new(),
                    );
                }
                let port = match first.port {
                    443 => String::new(),
                    port => format!(":{port}"),
                };
                let url = self.url(&format!(
                    "https://{}{port}/autodiscover/autodiscover.xml",
                    first.target
                ));
                let step = srv_step(
                    &name,
                    &format!(
                        "{} {} {} {}",
                        first.priority, first.weight, first.port, first.target
                    ),
                );
                self.pox_after(
                    step,
                    url,
                    PoxReader::Outlook,
                    format!("the SRV record {name}"),
                )
                .await
            }
            Err(e) => Attempt::nothing(srv_step(&name, &e.describe("SRV")), Vec::new()),
        }
    }

    /// One autoconfig URL as Thunderbird's `fetchHTTP` and `readFromXML` take it.
    async fn autoconfig(&self, url: Option<Url>, owner: Owner, via: Option<String>) -> Attempt {
        let Some(url) = url else {
            return Attempt::nothing(srv_step("autoconfig", "not a URL"), Vec::new());
        };
        let hops = self.net.fetch(Ask::get(url.clone())).await;
        let mut problems = hop_problems(&hops, owner, "autoconfig");
        let mut step = Step {
            lookup: url.to_string(),
            result: describe(&hops),
            used: false,
        };
        let Some((response, place, redirected)) = answered(&hops) else {
            return Attempt::nothing(step, problems);
        };
        let xml = ["text/xml", "application/xml", "text/rdf"]
            .iter()
            .any(|t| response.media_type().starts_with(t));
        let fix = "serve the autoconfig file here (mailconf serve, or the file of `mailconf publish` as text/xml), or answer 404 so that Thunderbird moves on";
        if !xml {
            if owner == Owner::Domain {
                problems.push(Problem {
                    place,
                    what: format!(
                        "answers {} with {}{redirected}, not the autoconfig file: Thunderbird takes this answer and looks no further down its list",
                        response.status,
                        kind_of_answer(response)
                    ),
                    fix: fix.into(),
                });
            }
            return Attempt::blocked(
                step,
                problems,
                ": not an autoconfig file; Thunderbird looks no further down this list",
            );
        }
        match read::autoconfig(&response.body) {
            Ok(offer) => Attempt::settings(step, offer, place, via, problems),
            Err(why) => {
                let moves_on = !read::well_formed(&response.body);
                step.result.push_str(&format!(": unreadable ({why})"));
                if owner == Owner::Domain {
                    problems.push(Problem {
                        place,
                        what: format!(
                            "answers {} {}{redirected}, but Thunderbird cannot read it: {why}{}",
                            response.status,
                            response.media_type(),
                            if moves_on {
                                ""
                            } else {
                                "; it looks no further down its list"
                            }
                        ),
                        fix: fix.into(),
                    });
                }
                Attempt {
                    steps: vec![step],
                    outcome: if moves_on {
                        Outcome::Nothing
                    } else {
                        Outcome::Blocked
                    },
                    problems,
                }
            }
        }
    }

    /// The POX request to `BASE/autodiscover/autodiscover.xml` ("https://autodiscover.DOMAIN").
    async fn pox_at(&self, base: String, reader: PoxReader) -> Attempt {
        let url = self.url(&format!("{base}/autodiscover/autodiscover.xml"));
        self.pox(url, reader, None, false).await
    }

    /// The POX request that the lookup of `first` (a record, a redirect, autodiscover.json)
    /// sends the client on to, `via` it.
    async fn pox_after(
        &self,
        first: Step,
        url: Option<Url>,
        reader: PoxReader,
        via: String,
    ) -> Attempt {
        let mut attempt = self.pox(url, reader, Some(via), true).await;
        attempt.steps.insert(0, first);
        attempt
    }

    /// One POX Autodiscover request; `directed`: a record or an answer sent the client here, so
    /// a name that does not resolve is a problem.
    async fn pox(
        &self,
        url: Option<Url>,
        reader: PoxReader,
        via: Option<String>,
        directed: bool,
    ) -> Attempt {
        let Some(url) = url else {
            return Attempt::nothing(srv_step("Autodiscover", "not a URL"), Vec::new());
        };
        let body = format!(
            "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<Autodiscover xmlns=\"{REQUEST_NAMESPACE}\">\n  <Request>\n    <EMailAddress>{}</EMailAddress>\n    <AcceptableResponseSchema>{RESPONSE_SCHEMA}</AcceptableResponseSchema>\n  </Request>\n</Autodiscover>\n",
            self.address()
        );
        let ask = Ask::post_xml(url.clone(), body);
        let hops = self.net.fetch(ask.clone()).await;
        let mut problems = hop_problems(&hops, Owner::Domain, "Autodiscover");
        let mut step = Step {
            lookup: lookup_text(&ask.method, &url),
            result: describe(&hops),
            used: false,
        };
        if directed
            && let Some(Hop {
                answer:
                    Err(super::http::FetchError::Dns(DnsError::NoSuchName | DnsError::NoRecords)),
                ..
            }) = hops.first()
        {
            let host = url.host_str().unwrap_or("").to_string();
            problems.push(Problem {
                place: host.clone(),
                what: format!(
                    "{} sends the client to {url}, but {host} does not resolve",
                    via.as_deref().unwrap_or("a lookup")
                ),
                fix: format!("add {host} to DNS, or send clients to a name that is in DNS"),
            });
        }
        let Some((response, place, redirected)) = answered(&hops) else {
            return Attempt::nothing(step, problems);
        };
        match read::pox(&response.body) {
            Ok(Pox::Settings(protocols)) => match read::pox_offer(&protocols, reader) {
                Ok(offer) => Attempt::settings(step, offer, place, via, problems),
                Err(why) => {
                    problems.push(Problem {
                        place,
                        what: format!(
                            "answers Autodiscover without settings a client can use: {why}"
                        ),
                        fix: "answer Autodiscover with mailconf serve and the provider file".into(),
                    });
                    Attempt::blocked(step, problems, &format!(": unusable ({why})"))
                }
            },
            Ok(Pox::Error { code, message }) => {
                problems.push(Problem {
                    place,
                    what: format!(
                        "answers Autodiscover for {} with error {code}: {message}",
                        self.address()
                    ),
                    fix: format!(
                        "check that {} is one of the provider's domains in the provider file the server was started with (mailconf serve --provider …)",
                        self.domain
                    ),
                });
                Attempt::blocked(step, problems, &format!(": Autodiscover error {code}"))
            }
            Ok(Pox::Redirect(to)) => {
                step.result.push_str(&format!(
                    ": redirects the client to {to:?} (not followed here)"
                ));
                Attempt::nothing(step, problems)
            }
            Err(why) => {
                problems.push(Problem {
                    place,
                    what: format!(
                        "answers {} with {}{redirected}, not an Autodiscover response: {why}",
                        response.status,
                        kind_of_answer(response)
                    ),
                    fix: "answer POST /autodiscover/autodiscover.xml with mailconf serve, or answer 404 there".into(),
                });
                Attempt::blocked(step, problems, ": not an Autodiscover response")
            }
        }
    }

    /// RFC 6186: the SRV records of the provider's incoming protocol and of submission.
    pub async fn rfc6186(&self) -> (Client, Vec<Problem>) {
        let protocol = self.want.protocol;
        let incoming = self.want.provider.incoming(protocol);
        let smtp = &self.want.provider.smtp;
        let incoming_service = match (protocol, incoming.security) {
            (Protocol::Pop3, Security::Tls) => "_pop3s",
            (Protocol::Pop3, _) => "_pop3",
            (Protocol::Imap, Security::Tls) => "_imaps",
            (Protocol::Imap, _) => "_imap",
        };
        let smtp_service = if smtp.security == Security::Tls {
            "_submissions"
        } else {
            "_submission"
        };
        let name_in = format!("{incoming_service}._tcp.{}", self.domain);
        let name_out = format!("{smtp_service}._tcp.{}", self.domain);
        let (got_in, got_out) = tokio::join!(
            self.srv_server(&name_in, protocol.as_str(), incoming.security),
            self.srv_server(&name_out, "smtp", smtp.security)
        );
        let want = self.want.settings();
        let mut problems = Vec::new();
        let mut differences = Vec::new();
        let mut steps = Vec::new();
        let mut missing = Vec::new();
        for (name, got, wanted) in [
            (&name_in, &got_in, &want.incoming),
            (&name_out, &got_out, &want.outgoing),
        ] {
            steps.push(srv_step(name, &got.result));
            problems.extend(got.problems.iter().cloned());
            match &got.server {
                None if got.missing => missing.push(name.clone()),
                None if got.failed => {}
                None => differences.push(format!("{name} {}", got.result)),
                Some(server) => {
                    if server.host != wanted.host || server.port != wanted.port {
                        differences.push(format!(
                            "{name} points to {}:{}, where the provider says {}:{}",
                            server.host, server.port, wanted.host, wanted.port
                        ));
                    }
                }
            }
        }
        let settings = match (&got_in.server, &got_out.server) {
            (Some(i), Some(o)) => Some(Settings {
                incoming: i.clone(),
                outgoing: o.clone(),
            }),
            _ => None,
        };
        let ok = settings.is_some() && differences.is_empty();
        let fix = format!(
            "publish the records of `mailconf publish` (dns/{}.zone)",
            self.domain
        );
        for difference in &differences {
            problems.push(Problem {
                place: difference.split(' ').next().unwrap_or("").to_string(),
                what: format!(
                    "clients that read RFC 6186 records get other settings: {difference}"
                ),
                fix: fix.clone(),
            });
        }
        if missing.len() == 1 && settings.is_none() && differences.is_empty() {
            let present = if missing[0] == name_in {
                &name_out
            } else {
                &name_in
            };
            problems.push(Problem {
                place: missing[0].clone(),
                what: format!("{present} is published but {} is not: clients that read RFC 6186 records get half the settings", missing[0]),
                fix: fix.clone(),
            });
        }
        let client = Client {
            client: "rfc6186",
            ok,
            source: settings
                .as_ref()
                .map(|_| format!("SRV {name_in}, SRV {name_out}")),
            via: None,
            settings,
            differences,
            steps,
        };
        (client, problems)
    }

    async fn srv_server(&self, name: &str, kind: &str, security: Security) -> SrvSeen {
        let records = match self.net.dns.srv(name).await {
            Ok(records) => records,
            Err(e) => {
                return SrvSeen {
                    server: None,
                    missing: e.is_missing(),
                    failed: !e.is_missing(),
                    result: e.describe("SRV"),
                    problems: Vec::new(),
                };
            }
        };
        let Some(first) = records.first() else {
            return SrvSeen {
                server: None,
                missing: true,
                failed: false,
                result: DnsError::NoRecords.describe("SRV"),
                problems: Vec::new(),
            };
        };
        let result = format!(
            "{} {} {} {}",
            first.priority,
            first.weight,
            first.port,
            if first.target.is_empty() {
                "."
            } else {
                &first.target
            }
        );
        if first.target.is_empty() {
            return SrvSeen {
                server: None,
                missing: false,
                failed: false,
                result: format!("{result}: says the service is not offered"),
                problems: Vec::new(),
            };
        }
        let mut problems = Vec::new();
        if let Err(e) = self.net.dns.addresses(&first.target).await
            && e.is_missing()
        {
            problems.push(Problem {
                place: first.target.clone(),
                what: format!(
                    "{name} points to {}, which {}",
                    first.target,
                    e.describe("address")
                ),
                fix: format!("correct the record {name}, or add {} to DNS", first.target),
            });
        }
        SrvSeen {
            server: Some(Server {
                protocol: kind.to_string(),
                host: first.target.clone(),
                port: first.port,
                socket_type: socket_type(security).to_string(),
                auth: None,
            }),
            missing: false,
            failed: false,
            result,
            problems,
        }
    }

    /// The provider's own servers must resolve: every client connects to them.
    pub async fn servers(&self) -> Vec<Problem> {
        let incoming = self.want.provider.incoming(self.want.protocol);
        let smtp = &self.want.provider.smtp;
        let section = format!("[incoming.{}]", self.want.protocol.as_str());
        let (a, b) = tokio::join!(
            self.net.dns.addresses(incoming.host.as_str()),
            self.net.dns.addresses(smtp.host.as_str())
        );
        let mut problems = Vec::new();
        for (host, got, section) in [
            (&incoming.host, a, section.as_str()),
            (&smtp.host, b, "[smtp]"),
        ] {
            let Err(e) = got else { continue };
            let found = e.describe("address");
            problems.push(if e.is_missing() {
                Problem {
                    place: host.to_string(),
                    what: format!(
                        "the provider's server {host} {found}: clients cannot connect to it"
                    ),
                    fix: format!(
                        "correct host under {section} in the provider file, or add {host} to DNS"
                    ),
                }
            } else {
                Problem {
                    place: host.to_string(),
                    what: format!(
                        "the provider's server {host} {found}, so the deployment could not be checked"
                    ),
                    fix: "check this machine's DNS (or --dns-server) and run again".into(),
                }
            });
        }
        problems
    }

    /// A client's result from what it found.
    fn client(
        &self,
        name: &'static str,
        found: Option<&Found>,
        steps: Vec<Step>,
        strict_auth: bool,
    ) -> Client {
        match found {
            None => Client {
                client: name,
                ok: false,
                source: None,
                via: None,
                settings: None,
                differences: Vec::new(),
                steps,
            },
            Some(found) => {
                let differences = self.want.differences(&found.offer, strict_auth);
                Client {
                    client: name,
                    ok: differences.is_empty(),
                    source: Some(found.source.clone()),
                    via: found.via.clone(),
                    settings: Some(settings_of(&found.offer)),
                    differences,
                    steps,
                }
            }
        }
    }
}

/// What an SRV lookup gave.
struct SrvSeen {
    server: Option<Server>,
    /// No such record (not published).
    missing: bool,
    /// The lookup failed: the records are not judged.
    failed: bool,
    result: String,
    problems: Vec<Problem>,
}

/// The answer a client takes from `hops` (a 2xx at the end), where it came from, and
/// " (redirected from URL)" when it went through a redirect.
fn answered(hops: &[Hop]) -> Option<(&super::http::Response, String, String)> {
    let last = hops.last()?;
    let response = match &last.answer {
        Ok(r) if (200..300).contains(&r.status) => r,
        _ => return None,
    };
    let redirected = match hops.first() {
        Some(first) if hops.len() > 1 => format!(" (redirected from {})", first.url),
        _ => String::new(),
    };
    Some((response, last.url.to_string(), redirected))
}

fn srv_step(name: &str, result: &str) -> Step {
    Step {
        lookup: format!("SRV {name}"),
        result: result.to_string(),
        used: false,
    }
}

/// Second-level labels under a country code that are public suffixes themselves (`ac.jp`,
/// `co.uk`, `com.au`…): an approximation of the Public Suffix List Thunderbird uses, enough to
/// find the domain of the usual MX hosts.
const SECOND_LEVEL: &[&str] = &[
    "ac", "ad", "co", "com", "ed", "edu", "go", "gov", "gr", "lg", "ltd", "mil", "ne", "net", "or",
    "org", "plc", "sch",
];

/// The registrable domain of `host` (`aspmx.l.google.com` → `google.com`, `mx.kyoto-u.ac.jp`
/// → `kyoto-u.ac.jp`).
pub fn base_domain(host: &str) -> String {
    let labels: Vec<&str> = host.split('.').filter(|l| !l.is_empty()).collect();
    let n = labels.len();
    let keep = if n >= 3 && labels[n - 1].len() == 2 && SECOND_LEVEL.contains(&labels[n - 2]) {
        3
    } else {
        2
    };
    labels[n.saturating_sub(keep)..].join(".")
}

/// `base` with one more label of `host` (`l.google.com`), when `host` has more.
fn next_subdomain(host: &str, base: &str) -> Option<String> {
    let rest = host.strip_suffix(base)?.strip_suffix('.')?;
    let label = rest.rsplit('.').next()?;
    (!label.is_empty()).then(|| format!("{label}.{base}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mx_domains_as_thunderbird_finds_them() {
        assert_eq!(base_domain("aspmx.l.google.com"), "google.com");
        assert_eq!(
            next_subdomain("aspmx.l.google.com", "google.com").as_deref(),
            Some("l.google.com")
        );
        assert_eq!(base_domain("mx.kyoto-u.ac.jp"), "kyoto-u.ac.jp");
        assert_eq!(base_domain("mail.example.co.uk"), "example.co.uk");
        assert_eq!(
            base_domain("kyoto-u-ac-jp.mail.protection.outlook.com"),
            "outlook.com"
        );
        assert_eq!(next_subdomain("google.com", "google.com"), None);
    }

    #[test]
    fn the_first_answer_in_order_decides() {
        let step = |n: &str| Step {
            lookup: n.into(),
            result: "r".into(),
            used: false,
        };
        let problem = |n: &str| Problem {
            place: n.into(),
            what: "w".into(),
            fix: "f".into(),
        };
        let attempt = |n: &str, outcome| Attempt {
            steps: vec![step(n)],
            outcome,
            problems: vec![problem(n)],
        };
        let offer = read::autoconfig(
            &crate::render::thunderbird::render_domain_wide(
                &crate::input::provider::Provider::kumail(),
                Protocol::Pop3,
            )
            .expect("renders"),
        )
        .expect("reads");
        let settings = || Outcome::Settings {
            offer: offer.clone(),
            source: "c".into(),
            via: None,
        };
        // A 404 first, then settings: the later ones are not needed, their problems dropped.
        let ranked = rank(
            vec![
                attempt("a", Outcome::Nothing),
                attempt("c", settings()),
                attempt("d", settings()),
            ],
            true,
        );
        assert_eq!(ranked.found.as_ref().map(|f| f.source.as_str()), Some("c"));
        assert_eq!(ranked.problems.len(), 2);
        assert!(ranked.steps[1].used && !ranked.steps[2].used);
        assert!(ranked.steps[2].result.starts_with("not used"));
        // A page that is not the file stops Thunderbird's list, not Outlook's.
        let blocked = rank(
            vec![attempt("a", Outcome::Blocked), attempt("c", settings())],
            true,
        );
        assert!(blocked.found.is_none());
        let moves_on = rank(
            vec![attempt("a", Outcome::Blocked), attempt("c", settings())],
            false,
        );
        assert!(moves_on.found.is_some());
    }
}
