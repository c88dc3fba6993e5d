//! The doctor's report: what each client gets and from where, and the problems with their fixes,
//! as text for a person or as one JSON object for scripts and monitoring.

use std::fmt::Write as _;

use serde::Serialize;

/// The whole report (`--json` prints it as it is).
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub address: String,
    /// No problem was found (exit status 0).
    pub ok: bool,
    /// The provider's short name.
    pub provider: String,
    /// The incoming protocol the provider's settings offer first: "pop3" or "imap".
    pub protocol: String,
    /// The settings every client should end up with.
    pub expected: Settings,
    pub clients: Vec<Client>,
    pub problems: Vec<Problem>,
    /// How long the run took.
    pub seconds: f64,
}

/// What one client ends up with.
#[derive(Debug, Clone, Serialize)]
pub struct Client {
    /// "thunderbird", "outlook" or "rfc6186".
    pub client: &'static str,
    /// The client gets the provider's settings.
    pub ok: bool,
    /// The URL or DNS record the settings came from; `null` when the client finds none.
    pub source: Option<String>,
    /// How the source was reached, when not directly ("Mozilla ISPDB, for the MX host's domain").
    pub via: Option<String>,
    /// The settings it gets, when it gets any.
    pub settings: Option<Settings>,
    /// How they differ from the provider's.
    pub differences: Vec<String>,
    /// Every lookup in the client's order, with what it gave.
    pub steps: Vec<Step>,
}

/// An incoming server and the outgoing one.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Settings {
    pub incoming: Server,
    pub outgoing: Server,
}

/// One server, in Thunderbird's words.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Server {
    /// "pop3", "imap" or "smtp".
    pub protocol: String,
    pub host: String,
    pub port: u16,
    /// "SSL", "STARTTLS" or "plain".
    pub socket_type: String,
    /// "OAuth2", "password-cleartext" or what the answer said; `null` where the source cannot
    /// say (an SRV record).
    pub auth: Option<String>,
}

impl std::fmt::Display for Server {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let protocol = match self.protocol.as_str() {
            "pop3" => "POP3".to_string(),
            other => other.to_ascii_uppercase(),
        };
        write!(
            f,
            "{protocol} {}:{} {}",
            self.host, self.port, self.socket_type
        )?;
        if let Some(auth) = &self.auth {
            write!(f, ", {auth}")?;
        }
        Ok(())
    }
}

/// One lookup and what it gave.
#[derive(Debug, Clone, Serialize)]
pub struct Step {
    /// The URL (with its method when not GET) or DNS name asked.
    pub lookup: String,
    pub result: String,
    /// The client's settings came from here.
    pub used: bool,
}

/// Something that breaks a lookup or changes what a client gets.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Problem {
    /// The URL, DNS name or client concerned.
    #[serde(rename = "where")]
    pub place: String,
    pub what: String,
    pub fix: String,
}

/// The report for a person.
pub fn text(report: &Report) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "mailconf doctor: {} ({}, {} first)",
        report.address,
        report.provider,
        if report.protocol == "pop3" {
            "POP3"
        } else {
            "IMAP"
        }
    );
    let _ = writeln!(
        out,
        "The provider's settings: {}; {}",
        report.expected.incoming, report.expected.outgoing
    );
    for client in &report.clients {
        out.push('\n');
        let name = match client.client {
            "thunderbird" => "Thunderbird",
            "outlook" => "Outlook",
            _ => "RFC 6186 SRV records",
        };
        let verdict = match (&client.settings, client.ok) {
            (_, true) => "the provider's settings",
            (Some(_), false) => "NOT the provider's settings",
            (None, false) => "finds no settings (the person types them)",
        };
        let _ = writeln!(out, "{name}: {verdict}");
        if let Some(source) = &client.source {
            let _ = writeln!(out, "  from      {source}");
        }
        if let Some(via) = &client.via {
            let _ = writeln!(out, "  via       {via}");
        }
        if let Some(settings) = &client.settings {
            let _ = writeln!(out, "  incoming  {}", settings.incoming);
            let _ = writeln!(out, "  outgoing  {}", settings.outgoing);
        }
        for difference in &client.differences {
            let _ = writeln!(out, "  differs   {difference}");
        }
        // The lookups up to the one used; the later ones (in the JSON) are only counted.
        let needed: Vec<&Step> = client
            .steps
            .iter()
            .filter(|s| !s.result.starts_with(super::judge::NOT_NEEDED))
            .collect();
        if !needed.is_empty() {
            let _ = writeln!(out, "  lookups, in the client's order (* used):");
            for step in &needed {
                let mark = if step.used { "*" } else { "-" };
                let _ = writeln!(out, "    {mark} {}", step.lookup);
                let _ = writeln!(out, "        {}", step.result);
            }
        }
        let later = client.steps.len() - needed.len();
        if later > 0 {
            let _ = writeln!(
                out,
                "    ({later} later lookup{} not used: see --json)",
                if later == 1 { "" } else { "s" }
            );
        }
    }
    out.push('\n');
    match report.problems.len() {
        0 => {
            let _ = writeln!(out, "No problem found ({:.1} s).", report.seconds);
        }
        n => {
            let _ = writeln!(
                out,
                "{n} problem{} ({:.1} s):",
                if n == 1 { "" } else { "s" },
                report.seconds
            );
            for (i, problem) in report.problems.iter().enumerate() {
                let _ = writeln!(out, "{}. {}", i + 1, problem.place);
                let _ = writeln!(out, "   {}", problem.what);
                let _ = writeln!(out, "   fix: {}", problem.fix);
            }
        }
    }
    out
}
