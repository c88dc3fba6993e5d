//! The department bundle: one zip, streamed, parallel, deterministic and atomic.
//!
//! Layout, under one top folder named after the zip's file stem:
//! `index.html`, `publish/…`, `users/ADDRESS/…` (users sorted by address), `manifest.csv`.
//!
//! Workers (rayon) render and compress a chunk of users at a time; the writer appends the
//! compressed entries in order ([`crate::bundle::zipstream`]), so per-user compression never runs on the
//! writer and memory holds a few chunks, not the whole department. The two files that grow with
//! the roster are deflated into temporary files as they are written: `index.html` on a thread of
//! its own while the users are rendered (appended last, listed first), `manifest.csv` by the
//! writer as each user's rows arrive. The zip's central directory is spooled too.

pub mod pattern;
pub mod plan;
pub mod skeleton;
pub mod zipstream;

use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::mpsc::sync_channel;
use std::time::{Duration, Instant};

use rayon::prelude::*;

use crate::bundle::pattern::Patterns;
use crate::bundle::zipstream::{Compressed, DosTime, Listing, Spool, ZipStream};
use crate::diagnostic::Diagnostic;
use crate::input::account::Account;
use crate::output::{OutputError, PendingDir, PendingFile, SyncingWriter};
use crate::render::index::DateSource;
use crate::render::{Context, Format, RenderError, escape, index, publish};

pub use plan::{Plan, PlanError};

/// Users rendered per batch: bounds memory (a batch of 64 is about 3 MB of files) while keeping
/// every core busy.
pub const CHUNK: usize = 64;
/// The zip's write buffer: entries are a few KB each, so a large buffer saves most write calls.
const OUT_BUFFER: usize = 256 * 1024;
/// Rosters at least this long get a progress bar (on a terminal, without `--quiet`).
const PROGRESS_MIN_USERS: usize = 500;
/// Deflate level of every entry unless `--compression-level` says otherwise: per-user files are
/// deflated from their format's pattern up to [`crate::bundle::pattern::SKELETON_MAX_LEVEL`].
/// The fastest level, because IT staff regenerate bundles often; what the higher levels cost and
/// save is measured in `bench/PROFILE.md` ("Measured choices in the code").
pub const DEFAULT_LEVEL: u32 = 1;

#[derive(Debug, thiserror::Error)]
pub enum BundleError {
    #[error(transparent)]
    Output(#[from] OutputError),
    #[error(transparent)]
    Render(#[from] RenderError),
    #[error("{}: writing the zip failed: {source}", path.display())]
    Write { path: PathBuf, source: io::Error },
    #[error("{}: the zip needs a file name, such as department.zip", path.display())]
    NoStem { path: PathBuf },
}

/// Choices for one bundle run.
#[derive(Debug, Clone)]
pub struct BundleOptions {
    /// Replace an existing zip.
    pub force: bool,
    /// Show a progress bar (the caller decides: a terminal, not `--quiet`).
    pub progress: bool,
    /// Timestamp of every entry.
    pub timestamp: DosTime,
    /// Deflate level, 0 (store) to 12 (libdeflate's highest; `--compression-level`).
    pub level: u32,
    /// Also write one zip per person into this folder (`ADDRESS.zip`, the person's folder
    /// alone, without the files mail refuses).
    pub per_person: Option<PathBuf>,
    /// Keep the parts that grow with the roster (the index, the manifest, the zip's central
    /// directory) in memory instead of unnamed temporary files: for a bundle made from an
    /// upload, of which nothing may reach the disk.
    pub in_memory: bool,
    /// Users rendered per batch ([`CHUNK`]); up to three batches are made ahead of the writer.
    /// Smaller for a zip sent as it is made, which may wait long for its reader.
    pub batch: usize,
    /// Where [`BundleOptions::timestamp`] came from, said beside the date on the index.
    pub dated: DateSource,
}

impl Default for BundleOptions {
    fn default() -> Self {
        BundleOptions {
            force: false,
            progress: false,
            timestamp: DosTime::default(),
            level: DEFAULT_LEVEL,
            per_person: None,
            in_memory: false,
            batch: CHUNK,
            dated: DateSource::RosterFile,
        }
    }
}

/// What a bundle run wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Summary {
    pub users: usize,
    /// Files in the zip.
    pub files: u64,
    pub bytes: u64,
    pub elapsed: Duration,
}

/// Writes the bundle for `accounts` to `target` atomically.
pub fn write(
    ctx: &Context<'_>,
    accounts: &[Account],
    target: &Path,
    options: &BundleOptions,
) -> Result<Summary, BundleError> {
    let started = Instant::now();
    let stem = target
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .filter(|s| !s.is_empty() && !s.starts_with('.'))
        .ok_or_else(|| BundleError::NoStem {
            path: target.to_path_buf(),
        })?;
    let mut pending = PendingFile::create(target, options.force)?;
    let people = match &options.per_person {
        Some(dir) => Some(PendingDir::create(dir, options.force)?),
        None => None,
    };
    let write_error = |source| BundleError::Write {
        path: target.to_path_buf(),
        source,
    };
    let mut out = BufWriter::with_capacity(OUT_BUFFER, SyncingWriter::new(pending.file()));
    let mut into_folder;
    let to_people: Option<&mut People<'_>> = match &people {
        Some(dir) => {
            into_folder =
                |name: &str, bytes: &[u8]| dir.write(name, bytes).map_err(Failure::Output);
            Some(&mut into_folder)
        }
        None => None,
    };
    let files =
        write_zip_and_people(ctx, accounts, &stem, &mut out, options, to_people).map_err(|e| {
            match e {
                Failure::Io(source) => write_error(source),
                Failure::Render(r) => BundleError::Render(r),
                Failure::Output(o) => BundleError::Output(o),
            }
        })?;
    out.into_inner()
        .map_err(|e| write_error(e.into_error()))?
        .finish()
        .map_err(write_error)?;
    let bytes = pending
        .file()
        .metadata()
        .map_err(OutputError::io(target, "cannot read back"))?
        .len();
    pending.commit()?;
    if let Some(people) = people {
        people.commit()?;
    }
    Ok(Summary {
        users: accounts.len(),
        files,
        bytes,
        elapsed: started.elapsed(),
    })
}

/// The accounts a bundle can be made of, and the people left out (with `skip_invalid`).
#[derive(Debug)]
pub struct Checked {
    pub accounts: Vec<Account>,
    /// Each left-out person's line and why their files cannot be made.
    pub skipped: Vec<Diagnostic>,
}

/// Checks that every chosen format can carry every account (`lines`: each one's roster line), as
/// `mailconf bundle` does before it writes anything: a person a format refuses (a name the CP932
/// PRF cannot carry, say) is a problem at their line, or with `skip_invalid` is left out and
/// listed. A problem that is about no one person (the provider's) is said once, of the whole
/// `file`, and is never skipped. `mailconf serve`'s IT-staff page checks an upload the same way.
pub fn check_accounts(
    ctx: &Context<'_>,
    file: &Path,
    accounts: Vec<Account>,
    lines: &[u64],
    skip_invalid: bool,
) -> Result<Checked, Vec<Diagnostic>> {
    let mut problems: Vec<Diagnostic> = Vec::new();
    let mut said = std::collections::HashSet::new();
    let mut skipped = Vec::new();
    let mut keep = Vec::with_capacity(accounts.len());
    for (account, &line) in accounts.iter().zip(lines) {
        let Err(e) = ctx.check(account) else {
            keep.push(true);
            continue;
        };
        keep.push(false);
        let problem = match e.address() {
            Some(_) => Diagnostic::row(file, Some(line), e.to_string()),
            None => Diagnostic::whole(file, e.to_string()),
        };
        if problem.skippable && skip_invalid {
            skipped.push(problem);
        } else if said.insert((problem.line, problem.message.clone())) {
            problems.push(problem);
        }
    }
    if !problems.is_empty() {
        return Err(problems);
    }
    let accounts = if skipped.is_empty() {
        accounts
    } else {
        accounts
            .into_iter()
            .zip(keep)
            .filter_map(|(account, keep)| keep.then_some(account))
            .collect()
    };
    Ok(Checked { accounts, skipped })
}

/// Why writing the zip stopped.
#[derive(Debug)]
pub enum Failure {
    Io(io::Error),
    Render(RenderError),
    /// Writing a person's zip into the per-person folder.
    Output(OutputError),
}

impl From<io::Error> for Failure {
    fn from(e: io::Error) -> Self {
        Failure::Io(e)
    }
}

impl From<RenderError> for Failure {
    fn from(e: RenderError) -> Self {
        Failure::Render(e)
    }
}

/// Writes the whole bundle as a zip into `out`; returns the number of files written.
pub fn write_zip<W: Write>(
    ctx: &Context<'_>,
    accounts: &[Account],
    stem: &str,
    out: W,
    options: &BundleOptions,
) -> Result<u64, Failure> {
    write_zip_and_people(ctx, accounts, stem, out, options, None)
}

/// One zip holding each person's zip (`ADDRESS.zip`, stored: a zip is deflated already) under
/// `STEM-per-person/`: what the IT-staff page hands out for "one zip per person", as `--per-person
/// DIR` writes them into a folder. The department's zip is made too (each person's zip reuses its
/// entries), and dropped.
pub fn write_people_zips<W: Write>(
    ctx: &Context<'_>,
    accounts: &[Account],
    stem: &str,
    out: W,
    options: &BundleOptions,
) -> Result<W, Failure> {
    let folder = format!("{stem}-per-person");
    let mut outer = ZipStream::small(out, options.timestamp);
    let mut add = |name: &str, bytes: &[u8]| {
        outer
            .add(&Compressed::new(format!("{folder}/{name}"), bytes, 0))
            .map_err(Failure::Io)
    };
    write_zip_and_people(ctx, accounts, stem, io::sink(), options, Some(&mut add))?;
    Ok(outer.finish()?)
}

/// Where each person's zip goes, given its file name (`ADDRESS.zip`) and bytes, in address
/// order: a folder being written (`--per-person DIR`), or another zip (the IT-staff page).
pub type People<'p> = dyn FnMut(&str, &[u8]) -> Result<(), Failure> + 'p;

/// [`write_zip`], and with `people`, each person's zip (`ADDRESS.zip`) handed to it.
pub fn write_zip_and_people<W: Write>(
    ctx: &Context<'_>,
    accounts: &[Account],
    stem: &str,
    out: W,
    options: &BundleOptions,
    mut people: Option<&mut People<'_>>,
) -> Result<u64, Failure> {
    let mut zip = if options.in_memory {
        ZipStream::small(out, options.timestamp)
    } else {
        ZipStream::new(out, options.timestamp)?
    };
    let new_spool = || {
        if options.in_memory {
            Ok(Spool::in_memory(options.level))
        } else {
            Spool::new(options.level)
        }
    };
    // A person's zip goes by mail: without the files mail refuses, and a guide that says so.
    let mail = people.is_some().then(|| ctx.mail_safe());
    let (patterns, sorted) = rayon::join(
        || Patterns::learn(ctx, options.level, &Patterns::domains_of(accounts)),
        || {
            let mut sorted: Vec<&Account> = accounts.iter().collect();
            sorted.sort_by(|a, b| a.address.cmp(&b.address));
            sorted
        },
    );

    // publish/ first; index.html is listed first (both depend only on the provider and roster).
    let publish_files = publish::files(ctx.provider, ctx.protocol)?;
    let publish_paths: Vec<&str> = publish_files.iter().map(|f| f.path.as_str()).collect();
    // The index states a date only when one was given (SOURCE_DATE_EPOCH), not the zip epoch.
    let t = options.timestamp;
    let generated = (t != DosTime::default()).then(|| {
        let (year, month, day, hour, minute, _) = t.parts();
        index::Generated {
            year,
            month: month as u8,
            day: day as u8,
            hour: hour as u8,
            minute: minute as u8,
            source: options.dated,
        }
    });
    for file in &publish_files {
        let name = format!("{stem}/publish/{}", file.path);
        zip.add(&Compressed::new(name, &file.bytes, options.level))?;
    }

    // The manifest grows with the roster: deflated as it is written, into a temporary file.
    // IT staff open it in Excel: a byte-order mark, and cells that cannot run as formulas.
    let mut spool = new_spool()?;
    spool.write_all(escape::UTF8_BOM)?;
    let mut manifest = csv::WriterBuilder::new()
        .terminator(csv::Terminator::CRLF)
        .from_writer(spool);
    manifest
        .write_record(["email", "name", "path", "sha256"])
        .map_err(csv_error)?;
    let progress = (options.progress && sorted.len() >= PROGRESS_MIN_USERS)
        .then(|| progress_bar(sorted.len()));
    // Render and compress the next batch while this thread writes the previous one.
    let (batches, received) = sync_channel::<Result<Vec<UserEntries>, Failure>>(2);
    let page = std::thread::scope(|scope| -> Result<Spool, Failure> {
        let sorted = &sorted;
        let publish_paths = &publish_paths;
        let patterns = &patterns;
        let mail = mail.as_ref();
        // The index has a row per user: rendered and deflated on its own thread while the users
        // are, streamed through a temporary file, never whole in memory.
        let index = scope.spawn(move || -> Result<Spool, Failure> {
            let mut page = new_spool()?;
            index::write(ctx, sorted, publish_paths, generated, &mut page).map_err(
                |e| match e {
                    // Failing to write the spooled page is failing to write the bundle.
                    RenderError::Write { source, .. } => Failure::Io(source),
                    other => Failure::Render(other),
                },
            )?;
            Ok(page)
        });
        scope.spawn(move || {
            for chunk in sorted.chunks(options.batch.max(1)) {
                let batch: Result<Vec<UserEntries>, Failure> = chunk
                    .par_iter()
                    .map(|account| render_user(ctx, account, stem, options, patterns, mail))
                    .collect();
                let failed = batch.is_err();
                // The writer hung up (it failed): stop rendering.
                if batches.send(batch).is_err() || failed {
                    break;
                }
            }
        });
        for batch in received {
            for user in batch? {
                let email = user.account.address.as_str();
                let name = user.account.name.as_ref().map_or("", |n| n.as_str());
                for (entry, sha256) in &user.files {
                    zip.add(entry)?;
                    // The manifest's path is the entry's name inside the top folder.
                    let path = entry
                        .name()
                        .strip_prefix(stem)
                        .and_then(|p| p.strip_prefix('/'))
                        .expect("user entries are named STEM/users/…");
                    let cells = [email, name, path, sha256].map(escape::spreadsheet);
                    manifest
                        .write_record(cells.iter().map(|c| c.as_bytes()))
                        .map_err(csv_error)?;
                }
                if let (Some(people), Some(bytes)) = (people.as_mut(), &user.person_zip) {
                    people(&format!("{email}.zip"), bytes)?;
                }
                if let Some(bar) = &progress {
                    bar.inc(1);
                }
            }
        }
        index
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
    })?;
    if let Some(bar) = progress {
        bar.finish_and_clear();
    }
    // Listed first, as the page to open first; written last, when it is finished.
    zip.add_spool(
        &format!("{stem}/{}", index::FILE_NAME),
        page,
        Listing::First,
    )?;
    let manifest = manifest
        .into_inner()
        .map_err(|e| io::Error::other(e.to_string()))?;
    zip.add_spool(&format!("{stem}/manifest.csv"), manifest, Listing::InOrder)?;
    let files = zip.entries();
    zip.finish()?.flush()?;
    Ok(files)
}

fn csv_error(e: csv::Error) -> Failure {
    Failure::Io(io::Error::other(e.to_string()))
}

fn progress_bar(len: usize) -> indicatif::ProgressBar {
    let bar = indicatif::ProgressBar::with_draw_target(
        Some(len as u64),
        indicatif::ProgressDrawTarget::stderr(),
    );
    if let Ok(style) = indicatif::ProgressStyle::with_template(
        "{bar:40} {pos}/{len} users  {elapsed_precise} (eta {eta})",
    ) {
        bar.set_style(style);
    }
    bar
}

/// One user's compressed entries, each with the SHA-256 (hex) of its bytes for the manifest, and
/// the person's own zip when one is made.
struct UserEntries<'a> {
    account: &'a Account,
    files: Vec<(Compressed, String)>,
    person_zip: Option<Vec<u8>>,
}

fn render_user<'a>(
    ctx: &Context<'_>,
    account: &'a Account,
    stem: &str,
    options: &BundleOptions,
    patterns: &Patterns,
    mail: Option<&Context<'_>>,
) -> Result<UserEntries<'a>, Failure> {
    let level = options.level;
    // `user_files` gives one file per chosen format, in format order.
    let mut files: Vec<_> = ctx.formats.iter().zip(ctx.user_files(account)?).collect();
    files.sort_by(|a, b| a.1.path.cmp(&b.1.path));
    let files = files
        .into_iter()
        .map(|(&format, file)| {
            let name = format!("{stem}/users/{}/{}", account.address, file.path);
            let pattern = patterns.of(format);
            (
                Compressed::with_skeletons(name, &file.bytes, level, pattern.skeletons()),
                hex(&pattern.sha256(&file.bytes)),
            )
        })
        .collect::<Vec<_>>();
    let person_zip = match mail {
        Some(mail) => Some(person_zip_reusing(
            mail,
            account,
            level,
            options.timestamp,
            &files,
        )?),
        None => None,
    };
    Ok(UserEntries {
        account,
        files,
        person_zip,
    })
}

/// A person's folder alone as a zip (`ADDRESS/…`): the files of `ctx`'s formats, the guide
/// written for them. `mailconf serve` answers `/files/ADDRESS.zip` with it.
pub fn person_zip(
    ctx: &Context<'_>,
    account: &Account,
    level: u32,
    timestamp: DosTime,
) -> Result<Vec<u8>, RenderError> {
    person_zip_reusing(ctx, account, level, timestamp, &[])
}

/// [`person_zip`], reusing the entries of `bundled` (the person's bundle entries, compressed
/// already) for every file but the guide, which is made again for the zip's own files.
fn person_zip_reusing(
    ctx: &Context<'_>,
    account: &Account,
    level: u32,
    timestamp: DosTime,
    bundled: &[(Compressed, String)],
) -> Result<Vec<u8>, RenderError> {
    let mut entries: Vec<Compressed> = Vec::with_capacity(ctx.formats.len());
    for &format in &ctx.formats {
        let file = format.file_name(account);
        let name = format!("{}/{file}", account.address);
        let suffix = format!("/{}/{file}", account.address);
        let reused = (format != Format::Guide)
            .then(|| bundled.iter().find(|(e, _)| e.name().ends_with(&suffix)))
            .flatten();
        entries.push(match reused {
            Some((entry, _)) => entry.renamed(name),
            None => Compressed::new(name, &format.render(ctx, account)?, level),
        });
    }
    entries.sort_by(|a, b| a.name().cmp(b.name()));
    let zip_error = |source| RenderError::Write {
        what: "a person's zip",
        source,
    };
    let mut zip = ZipStream::small(Vec::new(), timestamp);
    for entry in &entries {
        zip.add(entry).map_err(zip_error)?;
    }
    zip.finish().map_err(zip_error)
}

fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for &b in bytes {
        out.push(DIGITS[usize::from(b >> 4)] as char);
        out.push(DIGITS[usize::from(b & 0xF)] as char);
    }
    out
}

/// Where a bundle's date comes from: `SOURCE_DATE_EPOCH` when it is set, else `otherwise` (how
/// [`timestamp`] or [`timestamp_now`] dates it).
pub fn date_source(otherwise: DateSource) -> DateSource {
    let pinned = std::env::var("SOURCE_DATE_EPOCH")
        .ok()
        .and_then(|s| s.trim().parse::<i64>().ok())
        .and_then(DosTime::from_unix)
        .is_some();
    if pinned {
        DateSource::SourceDateEpoch
    } else {
        otherwise
    }
}

/// Now (or `SOURCE_DATE_EPOCH` when set), for zips made on request.
pub fn timestamp_now() -> DosTime {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    std::env::var("SOURCE_DATE_EPOCH")
        .ok()
        .and_then(|s| s.trim().parse::<i64>().ok())
        .or(i64::try_from(now).ok())
        .and_then(DosTime::from_unix)
        .unwrap_or_default()
}

/// The entries' date: `SOURCE_DATE_EPOCH` when set, else the roster file's modification time
/// (the same roster gives the same zip), else 1980-01-01 00:00 (the zip epoch).
pub fn timestamp(roster: &Path) -> DosTime {
    let from_env = std::env::var("SOURCE_DATE_EPOCH")
        .ok()
        .and_then(|s| s.trim().parse::<i64>().ok());
    let from_roster = || {
        let modified = std::fs::metadata(roster).ok()?.modified().ok()?;
        let secs = modified
            .duration_since(std::time::UNIX_EPOCH)
            .ok()?
            .as_secs();
        i64::try_from(secs).ok()
    };
    from_env
        .or_else(from_roster)
        .and_then(DosTime::from_unix)
        .unwrap_or_default()
}
