//! What each command does: load and validate the inputs, render, write.

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::bundle::{self, BundleError, BundleOptions, Plan, PlanError};
use crate::cli::{
    BundleArgs, CheckArgs, Cli, Command, DoctorArgs, OutlookArgs, ProfileArgs, ProtocolArgs,
    PublishArgs, RosterArgs, ServeArgs, SignArgs,
};
use crate::diagnostic::{self, Diagnostic};
use crate::input::account::{Account, Address, AddressError, DisplayName, NameError};
use crate::input::provider::{Provider, ProviderError};
use crate::input::roster::{self, ReadOptions, RosterError};
use crate::output::{self, OutputError};
use crate::render::index::DateSource;
use crate::render::{Context, Format, RenderError, publish};
use crate::sign::{SignError, Signer, SignerSource};

/// Everything that can stop a command, each worded for the person at the keyboard.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Provider(#[from] ProviderError),
    #[error("{}", roster_message(source, *writing))]
    Roster {
        source: RosterError,
        /// The command was to write files (the message says none was).
        writing: bool,
    },
    #[error(
        "{}: a bundle is a zip file: give a name that ends in .zip, such as department.zip",
        path.display()
    )]
    NotZip { path: PathBuf },
    #[error("{address:?}: {source}")]
    Address {
        address: String,
        source: AddressError,
    },
    #[error("{0}")]
    Domain(String),
    #[error("--name: {0}")]
    Name(#[from] NameError),
    #[error(transparent)]
    Output(#[from] OutputError),
    #[error(transparent)]
    Bundle(#[from] BundleError),
    #[error(transparent)]
    Plan(#[from] PlanError),
    #[error(transparent)]
    Render(#[from] RenderError),
    #[error("cannot write to standard output: {0}")]
    Stdout(std::io::Error),
    #[error(
        "{}mailconf: {count} problem{s} with the files to make; nothing was written",
        problems.iter().map(|p| format!("{p}\n")).collect::<String>(),
        count = problems.len(),
        s = if problems.len() == 1 { "" } else { "s" }
    )]
    Unrenderable { problems: Vec<Diagnostic> },
    #[error("no person is left once the rows that cannot be made are skipped; nothing was written")]
    NothingLeft,
    #[error("{0}; nothing was written")]
    Sign(#[from] SignError),
    #[error(transparent)]
    Serve(#[from] crate::serve::ServeError),
    #[error("--sign-chain needs a signer: add --sign-cert and --sign-key, or --sign-p12")]
    ChainWithoutSigner,
    #[error("{flag} applies to Apple profiles only: use it with --format apple or apple-google")]
    NotApple { flag: &'static str },
    /// `mailconf doctor` could not run as asked (exit status 2).
    #[error("mailconf doctor: {0}")]
    Doctor(String),
    /// `mailconf doctor` ran and found problems (exit status 1); the report says which.
    #[error(
        "mailconf doctor: {count} problem{s} found",
        s = if *count == 1 { "" } else { "s" }
    )]
    DoctorProblems { count: usize },
}

/// A roster's problems, and what to do about them; a file that cannot be read is one error.
fn roster_message(e: &RosterError, writing: bool) -> String {
    match e {
        RosterError::Read { .. } => e.to_string(),
        RosterError::Invalid { problems, .. } => {
            let count = problems.len();
            let fix = if problems.iter().all(|p| p.skippable) {
                if writing {
                    "Correct the rows above and run again, or add --skip-invalid to leave them out."
                } else {
                    "Correct the rows above, or leave them out with bundle --skip-invalid."
                }
            } else {
                "Correct the roster and run again."
            };
            format!(
                "{e}\nmailconf: {count} problem{} in the roster{}. {fix}",
                if count == 1 { "" } else { "s" },
                if writing { "; nothing was written" } else { "" },
            )
        }
    }
}

impl Error {
    /// The process exit status for this error: 1 (bad input, or a file that cannot be written;
    /// for `doctor`, problems found), 2 when `doctor` could not run as asked.
    pub fn exit_code(&self) -> i32 {
        match self {
            Error::Doctor(_) => 2,
            _ => 1,
        }
    }
}

/// Runs one parsed command line.
pub fn run(cli: Cli) -> Result<(), Error> {
    match cli.command {
        Command::Bundle(args) => bundle(args),
        Command::Profile(args) => profile(args),
        Command::Publish(args) => publish(args),
        Command::Check(args) => check(args),
        Command::Provider(args) => {
            let provider = Provider::load(args.provider.as_deref())?;
            print(provider.source().as_bytes())
        }
        Command::Serve(args) => serve(args),
        Command::Doctor(args) => doctor(args),
    }
}

/// Checks the deployment for one address; the report goes to stdout, and problems make the exit
/// status 1.
fn doctor(args: DoctorArgs) -> Result<(), Error> {
    let provider = Provider::load(args.provider.provider.as_deref())
        .map_err(|e| Error::Doctor(e.to_string()))?;
    let address = Address::parse(&args.address)
        .map_err(|e| Error::Doctor(format!("{:?}: {e}", args.address)))?;
    if let Some(outside) = provider.outside_domains(&address) {
        return Err(Error::Doctor(format!(
            "{outside}, or give the provider file of its domain with --provider"
        )));
    }
    let options = crate::doctor::Options {
        protocol: protocol(&args.protocol).unwrap_or(provider.preferred),
        address,
        provider,
        timeout: args.timeout,
        dns_server: args.dns_server,
        ca_file: args.ca_file,
        connect_to: args.connect_to,
        ispdb_url: args.ispdb_url,
    };
    let report = crate::doctor::run(options).map_err(Error::Doctor)?;
    let text = if args.json {
        let mut json = serde_json::to_string_pretty(&report)
            .map_err(|e| Error::Doctor(format!("cannot write the report as JSON: {e}")))?;
        json.push('\n');
        json
    } else {
        crate::doctor::report::text(&report)
    };
    print(text.as_bytes())?;
    match report.problems.len() {
        0 => Ok(()),
        count => Err(Error::DoctorProblems { count }),
    }
}

fn serve(args: ServeArgs) -> Result<(), Error> {
    let provider = Provider::load(args.provider.provider.as_deref())?;
    let signer = signer(&args.sign)?;
    let public_url = args
        .public_url
        .clone()
        .or_else(|| provider.serve.public_url.clone());
    let config = crate::serve::Config {
        listen: args.listen,
        protocol: protocol(&args.protocol),
        public_url,
        tls: match (args.tls_cert, args.tls_key) {
            (Some(cert), Some(key)) => Some(crate::serve::TlsFiles { cert, key }),
            _ => None,
        },
        signer,
        prf_encoding: args.outlook.prf_encoding,
        prf_dir: args.outlook.prf_dir,
        timestamp: bundle::timestamp_now(),
        quiet: args.quiet,
        admin_htpasswd: args.admin_htpasswd,
        provider,
    };
    Ok(crate::serve::run(config)?)
}

fn protocol(args: &ProtocolArgs) -> Option<crate::input::provider::Protocol> {
    args.protocol.map(Into::into)
}

fn set_outlook(ctx: &mut Context<'_>, args: &OutlookArgs) {
    ctx.prf_encoding = args.prf_encoding;
    ctx.prf_dir = args.prf_dir.clone();
}

/// Loads and checks the signing identity once, when asked to sign.
fn signer(args: &SignArgs) -> Result<Option<Arc<Signer>>, Error> {
    let source = match (&args.sign_cert, &args.sign_key, &args.sign_p12) {
        (Some(cert), Some(key), _) => SignerSource::Pem {
            cert: cert.clone(),
            key: key.clone(),
            chain: args.sign_chain.clone(),
        },
        (_, _, Some(file)) => SignerSource::P12 {
            file: file.clone(),
            chain: args.sign_chain.clone(),
        },
        _ if args.sign_chain.is_some() => return Err(Error::ChainWithoutSigner),
        _ => return Ok(None),
    };
    Ok(Some(Arc::new(Signer::load(&source)?)))
}

/// Reads the roster, saying what it warns of; `writing`: the command then writes files.
fn read_roster(
    args: &RosterArgs,
    provider: &Provider,
    skip_invalid: bool,
    writing: bool,
) -> Result<roster::Roster, Error> {
    let options = ReadOptions {
        encoding: args.encoding,
        skip_invalid,
    };
    let roster = roster::read(&args.roster, provider, options)
        .map_err(|source| Error::Roster { source, writing })?;
    for warning in &roster.warnings {
        diagnostic::say(warning.tagged("warning"));
    }
    Ok(roster)
}

fn bundle(args: BundleArgs) -> Result<(), Error> {
    let provider = Provider::load(args.provider.provider.as_deref())?;
    let target = args
        .output
        .clone()
        .unwrap_or_else(|| PathBuf::from(format!("{}.zip", roster_stem(&args.roster.roster))));
    // Refuse a bad or existing target or a bad signing identity before doing any work.
    if target.is_dir() {
        return Err(OutputError::IsFolder {
            example: format!("{}.zip", roster_stem(&args.roster.roster)),
            path: target,
        }
        .into());
    }
    if !target
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("zip"))
    {
        return Err(Error::NotZip { path: target });
    }
    output::check_target(&target, args.force)?;
    if let Some(dir) = &args.per_person {
        output::check_dir_target(dir, args.force)?;
    }
    let signer = signer(&args.sign)?;
    let roster = read_roster(&args.roster, &provider, args.skip_invalid, true)?;
    for skipped in &roster.skipped {
        diagnostic::say(skipped.tagged("skipped"));
    }
    let plan = Plan {
        protocol: protocol(&args.protocol),
        apple_google: match (args.apple_google_account, args.no_apple_google_account) {
            (true, _) => Some(true),
            (_, true) => Some(false),
            _ => None,
        },
        // clap gives no empty list: without --formats, the provider's.
        formats: (!args.formats.is_empty()).then(|| args.formats.clone()),
        prf_encoding: args.outlook.prf_encoding,
        prf_dir: args.outlook.prf_dir.clone(),
        signer,
    };
    let ctx = plan.context(&provider)?;
    // Every account must render before the zip is started: report them all, write nothing
    // (or, with --skip-invalid, leave out the people whose files cannot be made).
    let checked = bundle::check_accounts(
        &ctx,
        &args.roster.roster,
        roster.accounts,
        &roster.lines,
        args.skip_invalid,
    )
    .map_err(|problems| Error::Unrenderable { problems })?;
    for p in &checked.skipped {
        diagnostic::say(p.tagged("skipped"));
    }
    let skipped = roster.skipped.len() + checked.skipped.len();
    let accounts = checked.accounts;
    if accounts.is_empty() {
        return Err(Error::NothingLeft);
    }
    let options = BundleOptions {
        force: args.force,
        progress: !args.quiet && std::io::stderr().is_terminal(),
        timestamp: bundle::timestamp(&args.roster.roster),
        level: args.compression_level,
        per_person: args.per_person.clone(),
        in_memory: false,
        batch: bundle::CHUNK,
        dated: bundle::date_source(DateSource::RosterFile),
    };
    let summary = bundle::write(&ctx, &accounts, &target, &options)?;
    if !args.quiet {
        diagnostic::note(format_args!(
            "wrote {}: {}{}, {} files, {} in {:.2} s",
            target.display(),
            plural(summary.users, "user", "users"),
            if skipped == 0 {
                String::new()
            } else {
                format!(" ({} skipped)", plural(skipped, "row", "rows"))
            },
            summary.files,
            human_size(summary.bytes),
            summary.elapsed.as_secs_f64()
        ));
        if let Some(dir) = &args.per_person {
            diagnostic::note(format_args!(
                "wrote {} into {}, one per person, to hand out by mail",
                plural(summary.users, "zip", "zips"),
                dir.display()
            ));
        }
    }
    Ok(())
}

fn profile(args: ProfileArgs) -> Result<(), Error> {
    let provider = Provider::load(args.provider.provider.as_deref())?;
    let address = Address::parse(&args.email).map_err(|source| Error::Address {
        address: args.email.clone(),
        source,
    })?;
    if let Some(outside) = provider.outside_domains(&address) {
        return Err(Error::Domain(outside));
    }
    let name = match &args.name {
        Some(raw) => DisplayName::parse(raw)?,
        None => None,
    };
    let account = Account { address, name };
    let is_apple = matches!(args.format, Format::Apple | Format::AppleGoogle);
    let signing = args.sign.sign_cert.is_some() || args.sign.sign_p12.is_some();
    if signing && !is_apple {
        return Err(Error::NotApple { flag: "signing" });
    }
    if args.apple_google_account && args.format != Format::Apple {
        return Err(Error::NotApple {
            flag: "--apple-google-account",
        });
    }
    // With --apple-google-account: the Google profile beside the mail profile.
    let google_target = match (&args.output, args.apple_google_account) {
        (Some(path), true) => {
            let stem = path.file_stem().unwrap_or_default().to_string_lossy();
            let google =
                path.with_file_name(format!("{stem}-google.{}", crate::render::apple::EXTENSION));
            output::check_target(&google, args.force)?;
            Some(google)
        }
        _ => None,
    };
    if let Some(path) = &args.output {
        output::check_target(path, args.force)?;
    }
    let mut ctx = Context::new(&provider, protocol(&args.protocol));
    ctx.signer = signer(&args.sign)?;
    set_outlook(&mut ctx, &args.outlook);
    args.format.check(&ctx, &account)?;
    let bytes = args.format.render(&ctx, &account)?;
    let google = match &google_target {
        Some(path) => Some((path, Format::AppleGoogle.render(&ctx, &account)?)),
        None => None,
    };
    match &args.output {
        Some(path) => {
            output::write_file(path, &bytes, args.force)?;
            if let Some((path, bytes)) = google {
                output::write_file(path, &bytes, args.force)?;
            }
            Ok(())
        }
        None => print(&bytes),
    }
}

fn publish(args: PublishArgs) -> Result<(), Error> {
    let provider = Provider::load(args.provider.provider.as_deref())?;
    let protocol = protocol(&args.protocol).unwrap_or(provider.preferred);
    let files = publish::files(&provider, protocol)?;
    output::write_dir(
        &args.output,
        files.iter().map(|f| (f.path.as_str(), f.bytes.as_slice())),
        args.force,
    )?;
    diagnostic::note(format_args!(
        "wrote {} files into {}",
        files.len(),
        args.output.display()
    ));
    Ok(())
}

fn check(args: CheckArgs) -> Result<(), Error> {
    let provider = Provider::load(args.provider.provider.as_deref())?;
    let roster = read_roster(&args.roster, &provider, false, false)?;
    let message = format!(
        "{}: {} OK ({})\n",
        display(&args.roster.roster),
        plural(roster.accounts.len(), "person", "people"),
        roster.encoding.name()
    );
    print(message.as_bytes())
}

/// The roster's file name without its extension, which names the bundle by default.
fn roster_stem(roster: &Path) -> String {
    roster
        .file_stem()
        .map_or("bundle".into(), |s| s.to_string_lossy().into_owned())
}

fn display(path: &Path) -> String {
    path.display().to_string()
}

fn print(bytes: &[u8]) -> Result<(), Error> {
    let mut stdout = std::io::stdout().lock();
    stdout
        .write_all(bytes)
        .and_then(|()| stdout.flush())
        .map_err(Error::Stdout)
}

fn plural(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

fn human_size(bytes: u64) -> String {
    match bytes {
        b if b >= 1_000_000 => format!("{:.1} MB", b as f64 / 1e6),
        b if b >= 1_000 => format!("{:.1} kB", b as f64 / 1e3),
        b => format!("{b} bytes"),
    }
}
