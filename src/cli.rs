//! Command-line definitions (clap). No logic lives here.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::doctor::ConnectTo;
use crate::input::provider::{Protocol, Url, WindowsDir};
use crate::input::roster::RosterEncoding;
use crate::render::outlook::PrfEncoding;
use crate::render::{Format, FormatGroup};

#[derive(Debug, Parser)]
#[command(
    name = "mailconf",
    version,
    about = "Turns a roster of people into ready-to-use mail-client configuration",
    long_about = "Turns a roster of people into ready-to-use mail-client configuration: \
        Thunderbird autoconfig files and a personal guide for each person (README.html, Japanese \
        and English), bundled per department into one zip with an index for IT staff.\n\n\
        KUMail (Kyoto University staff mail, on Google Workspace) is the embedded default \
        provider; describe another institution's servers in a TOML file (see `mailconf provider`).",
    after_help = "Exit status: 0 success, 1 bad input or failure to write, 2 usage error, 130 interrupted.",
    propagate_version = true
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Build one zip for a department: every person's files, the index, the publish files
    #[command(after_help = "Example:\n  mailconf bundle examples/department.csv -o department.zip")]
    Bundle(BundleArgs),
    /// Print (or write) one person's file
    #[command(
        after_help = "Examples:\n  mailconf profile taro.yamada@kyoto-u.ac.jp --name '山田 太郎' --format thunderbird\n  mailconf profile taro.yamada@kyoto-u.ac.jp --format apple -o taro.mobileconfig\n  mailconf profile taro.yamada@kyoto-u.ac.jp --format outlook-prf -o taro.prf\n  mailconf profile taro.yamada@kyoto-u.ac.jp --name '山田 太郎' --format guide -o README.html"
    )]
    Profile(ProfileArgs),
    /// Write the domain-wide files to publish on the web, on lab PCs and in DNS
    #[command(after_help = "Example:\n  mailconf publish -o publish")]
    Publish(PublishArgs),
    /// Check a roster and report every problem, writing nothing
    #[command(after_help = "Example:\n  mailconf check examples/department.csv")]
    Check(CheckArgs),
    /// Print the effective provider file, to start a new one from
    #[command(after_help = "Example:\n  mailconf provider > myorg.toml")]
    Provider(ProviderArgs),
    /// Answer mail clients' setting lookups (Thunderbird autoconfig, Outlook Autodiscover) and
    /// give each person a page with their own guide and files, over HTTP(S)
    #[command(
        after_help = "Examples:\n  mailconf serve --listen 127.0.0.1:8080 --public-url https://mail-setup.example.org\n  mailconf serve --listen 0.0.0.0:443 --tls-cert cert.pem --tls-key key.pem --public-url https://mail-setup.example.org\n  mailconf serve --listen 127.0.0.1:8080 --public-url https://mail-setup.example.org --admin-htpasswd /etc/mailconf/it-staff.htpasswd"
    )]
    Serve(ServeArgs),
    /// Check a live deployment as each mail client looks it up: which settings Thunderbird,
    /// Outlook and RFC 6186 clients get for an address, from where, and what to fix
    #[command(
        after_help = "Exit status: 0 no problem, 1 a problem was found, 2 the check could not run (usage error, unreadable file).\n\nExamples:\n  mailconf doctor taro.yamada@kyoto-u.ac.jp\n  mailconf doctor taro.yamada@kyoto-u.ac.jp --json\n  mailconf doctor taro@example.ac.jp --provider myorg.toml --connect-to autoconfig.example.ac.jp:443:192.0.2.10:443"
    )]
    Doctor(DoctorArgs),
}

impl Command {
    /// Whether the command writes files (an interrupt then removes its temporary ones); `serve`
    /// stops on a signal by itself, letting its requests finish.
    pub fn writes_files(&self) -> bool {
        !matches!(self, Command::Serve(_) | Command::Doctor(_))
    }
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address and port to listen on
    #[arg(long, value_name = "ADDR:PORT", default_value = "127.0.0.1:8080")]
    pub listen: std::net::SocketAddr,
    #[command(flatten)]
    pub provider: ProviderArgs,
    #[command(flatten)]
    pub protocol: ProtocolArgs,
    /// The address people and mail clients reach the server at (https://HOST[/PATH]): the base of
    /// the URL Outlook is sent to, and of the pages' links; default: the provider's [serve]
    /// public_url. Never taken from a request's Host header
    #[arg(long, value_name = "https://HOST", value_parser = parse_url)]
    pub public_url: Option<Url>,
    /// Serve HTTPS with this certificate (PEM, followed by its chain); with --tls-key
    #[arg(long, value_name = "CERT.pem", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// The TLS certificate's private key (unencrypted PEM)
    #[arg(long, value_name = "KEY.pem", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    #[command(flatten)]
    pub sign: SignArgs,
    #[command(flatten)]
    pub outlook: OutlookArgs,
    /// Add the IT-staff page at /admin/: department IT staff upload a roster and get its bundle,
    /// no terminal needed. They sign in with the names and bcrypt passwords of this Apache
    /// htpasswd file (htpasswd -B -c FILE NAME), read again when it changes. Served only over
    /// HTTPS (--tls-cert), on a loopback address, or with --public-url https://… (a TLS proxy)
    #[arg(long, value_name = "FILE")]
    pub admin_htpasswd: Option<PathBuf>,
    /// No access log
    #[arg(short, long)]
    pub quiet: bool,
}

#[derive(Debug, Args)]
pub struct DoctorArgs {
    /// The address to check, as a person would type it into their mail client
    #[arg(value_name = "ADDRESS")]
    pub address: String,
    #[command(flatten)]
    pub provider: ProviderArgs,
    #[command(flatten)]
    pub protocol: ProtocolArgs,
    /// Print one JSON object instead of the text report
    #[arg(long)]
    pub json: bool,
    /// How long each request and DNS lookup may take, in seconds (the whole run stays within
    /// 25 s, or twice this if more)
    #[arg(long, value_name = "SECONDS", default_value = "5", value_parser = parse_timeout)]
    pub timeout: std::time::Duration,
    /// Ask this DNS server (UDP, then TCP) instead of the system's resolver
    #[arg(long, value_name = "IP:PORT")]
    pub dns_server: Option<std::net::SocketAddr>,
    /// Trust only the CA certificates of this PEM file, instead of the usual roots (Mozilla's,
    /// which Thunderbird trusts)
    #[arg(long, value_name = "PEM")]
    pub ca_file: Option<PathBuf>,
    /// Connect to ADDR:PORT whenever a request goes to HOST:PORT, keeping HOST for SNI, Host and
    /// the certificate check (curl's --connect-to; an empty HOST or first PORT matches any, an
    /// empty ADDR or second PORT keeps the original). May be given more than once
    #[arg(long, value_name = "HOST:PORT:ADDR:PORT", value_parser = parse_connect_to)]
    pub connect_to: Vec<ConnectTo>,
    /// Mozilla's ISPDB, as Thunderbird's mailnews.auto_config_url: the domain is appended, or
    /// replaces {{domain}}. For tests and mirrors
    #[arg(long, value_name = "URL", default_value = crate::doctor::ISPDB_URL, value_parser = parse_ispdb_url)]
    pub ispdb_url: String,
}

#[derive(Debug, Args)]
pub struct ProviderArgs {
    /// Provider file (TOML); default: the embedded KUMail provider
    #[arg(long, value_name = "FILE.toml")]
    pub provider: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct ProtocolArgs {
    /// Incoming protocol offered first; default: the provider's preferred one
    #[arg(long, value_enum)]
    pub protocol: Option<ProtocolArg>,
}

/// Signing Apple profiles (CMS, RSA, SHA-256).
#[derive(Debug, Args)]
pub struct SignArgs {
    /// Sign every Apple profile with this certificate (PEM; may be followed by its chain)
    #[arg(long, value_name = "CERT.pem", requires = "sign_key")]
    pub sign_cert: Option<PathBuf>,
    /// The certificate's private key (unencrypted PEM, RSA)
    #[arg(long, value_name = "KEY.pem", requires = "sign_cert")]
    pub sign_key: Option<PathBuf>,
    /// Intermediate certificates to embed (PEM); self-signed roots are left out
    #[arg(long, value_name = "CHAIN.pem")]
    pub sign_chain: Option<PathBuf>,
    /// Sign with the key and certificates of a PKCS#12 file; its password is read from the
    /// environment variable MAILCONF_P12_PASSWORD
    #[arg(long, value_name = "FILE.p12", conflicts_with_all = ["sign_cert", "sign_key"])]
    pub sign_p12: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct OutlookArgs {
    /// Encoding of Outlook .prf files (which one Outlook reads is not documented)
    #[arg(long, value_enum, value_name = "ENCODING", default_value_t = PrfEncoding::Utf16le)]
    pub prf_encoding: PrfEncoding,
    /// Folder on the users' PCs (C:\... or \\server\share\...) where the .reg file has Outlook
    /// look for ADDRESS.prf; default: the provider's [outlook] prf_dir
    #[arg(long, value_name = "DIR", value_parser = parse_windows_dir)]
    pub prf_dir: Option<WindowsDir>,
}

#[derive(Debug, Args)]
pub struct RosterArgs {
    /// Roster: CSV or TSV with a header row (UTF-8, UTF-16 or Shift_JIS, detected)
    #[arg(value_name = "ROSTER")]
    pub roster: PathBuf,
    /// Read the roster in this encoding instead of detecting it
    #[arg(long, value_name = "ENCODING", value_parser = parse_encoding)]
    pub encoding: Option<RosterEncoding>,
}

#[derive(Debug, Args)]
pub struct BundleArgs {
    #[command(flatten)]
    pub roster: RosterArgs,
    /// The zip to write; its top folder takes the file's stem [default: ROSTER's stem + .zip]
    #[arg(short, long, value_name = "OUT.zip")]
    pub output: Option<PathBuf>,
    #[command(flatten)]
    pub provider: ProviderArgs,
    #[command(flatten)]
    pub protocol: ProtocolArgs,
    #[command(flatten)]
    pub outlook: OutlookArgs,
    /// Also write one zip per person into DIR, DIR/ADDRESS.zip: that person's folder alone, to
    /// hand out by mail (without the Outlook .cmd, which Gmail refuses even inside a zip; the
    /// person's guide then shows the .reg way)
    #[arg(long, value_name = "DIR")]
    pub per_person: Option<PathBuf>,
    /// Replace OUT.zip (and DIR of --per-person) if it exists
    #[arg(long)]
    pub force: bool,
    /// Leave out invalid rows (listed on stderr) instead of refusing the roster; this includes
    /// names a chosen format cannot carry (e.g. in a CP932 PRF)
    #[arg(long)]
    pub skip_invalid: bool,
    /// No progress bar and no summary
    #[arg(short, long)]
    pub quiet: bool,
    /// Deflate level of the zip's entries: 0 (store), 1 (fastest, the default) to 12 (smallest,
    /// slowest). Up to 5, per-user files are deflated from a pattern learned once per run, and
    /// levels 1-5 make the same zip but for the index and manifest; from 6, every file is deflated
    /// on its own: 6 makes the zip about 6 % smaller for 2 to 3.5 times the time, 12 about 8 %
    /// for 60 times
    #[arg(long, value_name = "0-12", default_value_t = crate::bundle::DEFAULT_LEVEL,
          value_parser = clap::value_parser!(u32).range(0..=i64::from(crate::bundle::zipstream::MAX_LEVEL)))]
    pub compression_level: u32,
    /// Which files to produce per user, comma-separated [default: all]
    #[arg(long, value_enum, value_delimiter = ',', value_name = "FORMATS")]
    pub formats: Vec<FormatGroup>,
    #[command(flatten)]
    pub sign: SignArgs,
    /// Also write ADDRESS-google.mobileconfig, a Google account with sign-in by Google
    /// (iPhone/iPad only); on by default for a Google Workspace provider
    #[arg(long, conflicts_with = "no_apple_google_account")]
    pub apple_google_account: bool,
    /// Leave out ADDRESS-google.mobileconfig (which a Google Workspace provider's bundles carry)
    #[arg(long)]
    pub no_apple_google_account: bool,
}

#[derive(Debug, Args)]
pub struct ProfileArgs {
    /// The person's address
    #[arg(value_name = "EMAIL")]
    pub email: String,
    /// The person's name, as shown in sent mail
    #[arg(long)]
    pub name: Option<String>,
    /// Which file to produce
    #[arg(long, value_enum)]
    pub format: Format,
    #[command(flatten)]
    pub provider: ProviderArgs,
    #[command(flatten)]
    pub protocol: ProtocolArgs,
    #[command(flatten)]
    pub outlook: OutlookArgs,
    /// Write to this file instead of standard output
    #[arg(short, long, value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// Replace FILE if it exists
    #[arg(long)]
    pub force: bool,
    #[command(flatten)]
    pub sign: SignArgs,
    /// With --format apple and --output FILE: also write the Google account profile
    /// (iPhone/iPad only) beside FILE, as FILE's stem + "-google.mobileconfig"
    #[arg(long, requires = "output")]
    pub apple_google_account: bool,
}

#[derive(Debug, Args)]
pub struct PublishArgs {
    /// The folder to write
    #[arg(short, long, value_name = "DIR", default_value = "publish")]
    pub output: PathBuf,
    #[command(flatten)]
    pub provider: ProviderArgs,
    #[command(flatten)]
    pub protocol: ProtocolArgs,
    /// Replace DIR if it exists and is not empty
    #[arg(long)]
    pub force: bool,
}

#[derive(Debug, Args)]
pub struct CheckArgs {
    #[command(flatten)]
    pub roster: RosterArgs,
    #[command(flatten)]
    pub provider: ProviderArgs,
}

/// `--protocol` values.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum ProtocolArg {
    #[value(alias = "pop3")]
    Pop,
    Imap,
}

impl From<ProtocolArg> for Protocol {
    fn from(p: ProtocolArg) -> Protocol {
        match p {
            ProtocolArg::Pop => Protocol::Pop3,
            ProtocolArg::Imap => Protocol::Imap,
        }
    }
}

fn parse_encoding(s: &str) -> Result<RosterEncoding, String> {
    s.parse()
}

fn parse_url(s: &str) -> Result<Url, String> {
    Url::try_from(s.to_string())
}

fn parse_windows_dir(s: &str) -> Result<WindowsDir, String> {
    WindowsDir::parse(s)
}

fn parse_timeout(s: &str) -> Result<std::time::Duration, String> {
    match s.parse::<f64>() {
        Ok(seconds) if seconds > 0.0 && seconds <= 60.0 => {
            Ok(std::time::Duration::from_secs_f64(seconds))
        }
        _ => Err(format!(
            "{s:?} is not a number of seconds from 0 to 60, such as 5 or 2.5"
        )),
    }
}

fn parse_connect_to(s: &str) -> Result<ConnectTo, String> {
    ConnectTo::parse(s)
}

fn parse_ispdb_url(s: &str) -> Result<String, String> {
    match url::Url::parse(&s.replace("{{domain}}", "example.org")) {
        Ok(url) if matches!(url.scheme(), "http" | "https") && url.host_str().is_some() => {
            Ok(s.to_string())
        }
        _ => Err(format!(
            "{s:?} is not an http:// or https:// URL, such as {}",
            crate::doctor::ISPDB_URL
        )),
    }
}
