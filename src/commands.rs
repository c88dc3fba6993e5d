//! What each command does: load and validate the inputs, render, write.

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};

use crate::account::{Account, Address, AddressError, DisplayName, NameError};
use crate::bundle::{self, BundleError, BundleOptions};
use crate::cli::{
    BundleArgs, CheckArgs, Cli, Command, OutlookArgs, ProfileArgs, ProtocolArgs, PublishArgs,
    RosterArgs,
};
use crate::output::{self, OutputError};
use crate::provider::{Provider, ProviderError};
use crate::render::{Context, RenderError, publish};
use crate::roster::{self, ReadOptions, RosterError};

/// Everything that can stop a command, each worded for the person at the keyboard.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Provider(#[from] ProviderError),
    #[error("{source}\nmailconf: {count} problem{s} in the roster; nothing was written", count = problem_count(source), s = if problem_count(source) == 1 { "" } else { "s" })]
    Roster {
        #[from]
        source: RosterError,
    },
    #[error("{address:?}: {source}")]
    Address {
        address: String,
        source: AddressError,
    },
    #[error("{address}: is not in the provider's domains ({domains})")]
    Domain { address: Address, domains: String },
    #[error("--name: {0}")]
    Name(#[from] NameError),
    #[error(transparent)]
    Output(#[from] OutputError),
    #[error(transparent)]
    Bundle(#[from] BundleError),
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
    Unrenderable { problems: Vec<String> },
}

fn problem_count(e: &RosterError) -> usize {
    match e {
        RosterError::Invalid { problems, .. } => problems.len(),
        RosterError::Read { .. } => 1,
    }
}

impl Error {
    /// The process exit status for this error: 1 (bad input, or a file that cannot be written).
    pub fn exit_code(&self) -> i32 {
        1
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
    }
}

fn protocol(args: &ProtocolArgs) -> Option<crate::provider::Protocol> {
    args.protocol.map(Into::into)
}

fn set_outlook(ctx: &mut Context<'_>, args: &OutlookArgs) {
    ctx.prf_encoding = args.prf_encoding;
    ctx.prf_dir = args.prf_dir.clone();
}

fn read_roster(
    args: &RosterArgs,
    provider: &Provider,
    skip_invalid: bool,
) -> Result<roster::Roster, Error> {
    let options = ReadOptions {
        encoding: args.encoding,
        skip_invalid,
    };
    Ok(roster::read(&args.roster, provider, options)?)
}

fn bundle(args: BundleArgs) -> Result<(), Error> {
    let provider = Provider::load(args.provider.provider.as_deref())?;
    let target = args.output.clone().unwrap_or_else(|| {
        let stem = args
            .roster
            .roster
            .file_stem()
            .map_or("bundle".into(), |s| s.to_string_lossy().into_owned());
        PathBuf::from(format!("{stem}.zip"))
    });
    // Refuse an existing target before doing any work.
    output::check_target(&target, args.force)?;
    let roster = read_roster(&args.roster, &provider, args.skip_invalid)?;
    for skipped in &roster.skipped {
        eprintln!(
            "{}:{}: skipped: {}",
            args.roster.roster.display(),
            skipped.line,
            skipped.message
        );
    }
    let mut ctx = Context::new(&provider, protocol(&args.protocol));
    if !args.formats.is_empty() {
        ctx.select(&args.formats);
    }
    set_outlook(&mut ctx, &args.outlook);
    // Every account must render before the zip is started: report them all, write nothing.
    let mut problems: Vec<String> = Vec::new();
    for (account, line) in roster.accounts.iter().zip(&roster.lines) {
        if let Err(e) = ctx.check(account) {
            let path = args.roster.roster.display();
            let message = match e.address() {
                Some(_) => format!("{path}:{line}: {e}"),
                None => format!("{path}: {e}"),
            };
            if !problems.contains(&message) {
                problems.push(message);
            }
        }
    }
    if !problems.is_empty() {
        return Err(Error::Unrenderable { problems });
    }
    let options = BundleOptions {
        force: args.force,
        progress: !args.quiet && std::io::stderr().is_terminal(),
        timestamp: bundle::timestamp_from_env(),
    };
    let summary = bundle::write(&ctx, &roster.accounts, &target, &options)?;
    if !args.quiet {
        eprintln!(
            "mailconf: wrote {}: {}{}, {} files, {} in {:.2} s",
            target.display(),
            plural(summary.users, "user", "users"),
            if roster.skipped.is_empty() {
                String::new()
            } else {
                format!(" ({} skipped)", plural(roster.skipped.len(), "row", "rows"))
            },
            summary.files,
            human_size(summary.bytes),
            summary.elapsed.as_secs_f64()
        );
    }
    Ok(())
}

fn profile(args: ProfileArgs) -> Result<(), Error> {
    let provider = Provider::load(args.provider.provider.as_deref())?;
    let address = Address::parse(&args.email).map_err(|source| Error::Address {
        address: args.email.clone(),
        source,
    })?;
    if !provider.domains.contains(address.domain()) {
        let domains = provider
            .domains
            .iter()
            .map(|d| d.as_str())
            .collect::<Vec<_>>()
            .join(", ");
        return Err(Error::Domain { address, domains });
    }
    let name = match &args.name {
        Some(raw) => DisplayName::parse(raw)?,
        None => None,
    };
    let account = Account { address, name };
    let mut ctx = Context::new(&provider, protocol(&args.protocol));
    set_outlook(&mut ctx, &args.outlook);
    args.format.check(&ctx, &account)?;
    let bytes = args.format.render(&ctx, &account)?;
    match &args.output {
        Some(path) => Ok(output::write_file(path, &bytes, args.force)?),
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
    eprintln!(
        "mailconf: wrote {} files into {}",
        files.len(),
        args.output.display()
    );
    Ok(())
}

fn check(args: CheckArgs) -> Result<(), Error> {
    let provider = Provider::load(args.provider.provider.as_deref())?;
    let roster = read_roster(&args.roster, &provider, false)?;
    let message = format!(
        "{}: {} OK ({})\n",
        display(&args.roster.roster),
        plural(roster.accounts.len(), "person", "people"),
        roster.encoding.name()
    );
    print(message.as_bytes())
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
