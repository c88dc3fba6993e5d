//! The department bundle: one zip, streamed, parallel, deterministic and atomic.
//!
//! Layout, under one top folder named after the zip's file stem:
//! `index.html`, `publish/…`, `users/ADDRESS/…` (users sorted by address), `manifest.csv`.
//!
//! Workers (rayon) render and compress a chunk of users at a time, each user's files into a
//! small in-memory archive; the writer raw-copies those entries in order, so compression never
//! runs on the writer and memory holds one chunk, not the whole department.

use std::io::{self, Cursor, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use rayon::prelude::*;
use sha2::{Digest, Sha256};
use zip::write::SimpleFileOptions;
use zip::{CompressionMethod, DateTime, ZipArchive, ZipWriter};

use crate::account::Account;
use crate::output::{OutputError, PendingFile};
use crate::render::{Context, RenderError, index, publish};

/// Users rendered per batch: bounds memory while keeping every core busy.
const CHUNK: usize = 256;
/// Rosters at least this long get a progress bar (on a terminal, without `--quiet`).
const PROGRESS_MIN_USERS: usize = 500;

#[derive(Debug, thiserror::Error)]
pub enum BundleError {
    #[error(transparent)]
    Output(#[from] OutputError),
    #[error(transparent)]
    Render(#[from] RenderError),
    #[error("{}: writing the zip failed: {source}", path.display())]
    Zip {
        path: PathBuf,
        source: zip::result::ZipError,
    },
    #[error("{}: the zip needs a file name, such as department.zip", path.display())]
    NoStem { path: PathBuf },
}

/// Choices for one bundle run.
#[derive(Debug, Clone, Default)]
pub struct BundleOptions {
    /// Replace an existing zip.
    pub force: bool,
    /// Show a progress bar (the caller decides: a terminal, not `--quiet`).
    pub progress: bool,
    /// Timestamp of every entry.
    pub timestamp: DateTime,
}

/// What a bundle run wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Summary {
    pub users: usize,
    /// Files in the zip (entries that are not folders).
    pub files: usize,
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
    let zip_err = |source| BundleError::Zip {
        path: target.to_path_buf(),
        source,
    };
    let files = write_zip(
        ctx,
        accounts,
        &stem,
        io::BufWriter::new(pending.file()),
        options,
    )
    .map_err(|e| match e {
        ZipOrRender::Zip(z) => zip_err(z),
        ZipOrRender::Render(r) => BundleError::Render(r),
    })?;
    let bytes = pending
        .file()
        .metadata()
        .map_err(OutputError::io(target, "cannot read back"))?
        .len();
    pending.commit()?;
    Ok(Summary {
        users: accounts.len(),
        files,
        bytes,
        elapsed: started.elapsed(),
    })
}

/// Why writing the zip stopped.
#[derive(Debug)]
pub enum ZipOrRender {
    Zip(zip::result::ZipError),
    Render(RenderError),
}

impl From<zip::result::ZipError> for ZipOrRender {
    fn from(e: zip::result::ZipError) -> Self {
        ZipOrRender::Zip(e)
    }
}

impl From<io::Error> for ZipOrRender {
    fn from(e: io::Error) -> Self {
        ZipOrRender::Zip(e.into())
    }
}

impl From<RenderError> for ZipOrRender {
    fn from(e: RenderError) -> Self {
        ZipOrRender::Render(e)
    }
}

/// Writes the whole bundle as a zip into `out`; returns the number of files written.
pub fn write_zip<W: Write + Seek>(
    ctx: &Context<'_>,
    accounts: &[Account],
    stem: &str,
    out: W,
    options: &BundleOptions,
) -> Result<usize, ZipOrRender> {
    let entry = EntryOptions::new(options.timestamp);
    let mut zip = ZipWriter::new(out);
    let mut files = 0;

    let mut sorted: Vec<&Account> = accounts.iter().collect();
    sorted.sort_by(|a, b| a.address.cmp(&b.address));

    // index.html and publish/ first: both depend only on the provider and the roster.
    let publish_files = publish::files(ctx.provider, ctx.protocol)?;
    let publish_paths: Vec<&str> = publish_files.iter().map(|f| f.path.as_str()).collect();
    // The index states a date only when one was given (SOURCE_DATE_EPOCH), not the zip epoch.
    let t = options.timestamp;
    let generated = (t != DateTime::default()).then(|| index::Generated {
        year: t.year(),
        month: t.month(),
        day: t.day(),
        hour: t.hour(),
        minute: t.minute(),
    });
    let index = index::render(ctx, &sorted, &publish_paths, generated)?;
    let mut top = vec![(format!("{stem}/{}", index::FILE_NAME), index)];
    for file in publish_files {
        top.push((format!("{stem}/publish/{}", file.path), file.bytes));
    }
    files += copy_entries(&mut zip, &small_archive(&top, &entry)?)?;

    // The manifest grows with the roster: spool it to a temporary archive on disk.
    let mut manifest = ManifestWriter::new(stem, &entry)?;
    let progress = (options.progress && sorted.len() >= PROGRESS_MIN_USERS)
        .then(|| progress_bar(sorted.len()));
    for chunk in sorted.chunks(CHUNK) {
        let rendered: Vec<UserEntries> = chunk
            .par_iter()
            .map(|account| render_user(ctx, account, stem, &entry))
            .collect::<Result<_, _>>()?;
        for user in rendered {
            files += copy_entries(&mut zip, &user.archive)?;
            for row in &user.rows {
                manifest.row(row)?;
            }
            if let Some(bar) = &progress {
                bar.inc(1);
            }
        }
    }
    if let Some(bar) = progress {
        bar.finish_and_clear();
    }
    files += copy_entries(&mut zip, manifest.finish()?)?;
    zip.finish()?.flush()?;
    Ok(files)
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

/// Entry options shared by every file: deflate, fixed timestamp and mode.
#[derive(Clone, Copy)]
struct EntryOptions(SimpleFileOptions);

impl EntryOptions {
    fn new(timestamp: DateTime) -> Self {
        EntryOptions(
            SimpleFileOptions::default()
                .compression_method(CompressionMethod::Deflated)
                .compression_level(Some(6))
                .last_modified_time(timestamp)
                .unix_permissions(0o644),
        )
    }
}

/// One user's compressed entries and manifest rows.
struct UserEntries {
    archive: Vec<u8>,
    rows: Vec<ManifestRow>,
}

struct ManifestRow {
    email: String,
    name: String,
    path: String,
    sha256: String,
}

fn render_user(
    ctx: &Context<'_>,
    account: &Account,
    stem: &str,
    entry: &EntryOptions,
) -> Result<UserEntries, ZipOrRender> {
    let folder = format!("users/{}", account.address);
    let mut named = Vec::new();
    let mut rows = Vec::new();
    for file in ctx.user_files(account)? {
        let path = format!("{folder}/{}", file.path);
        rows.push(ManifestRow {
            email: account.address.to_string(),
            name: account
                .name
                .as_ref()
                .map(|n| n.to_string())
                .unwrap_or_default(),
            path: path.clone(),
            sha256: hex(&Sha256::digest(&file.bytes)),
        });
        named.push((format!("{stem}/{path}"), file.bytes));
    }
    Ok(UserEntries {
        archive: small_archive(&named, entry)?,
        rows,
    })
}

/// Streams manifest rows into a one-entry zip in a temporary file.
struct ManifestWriter {
    zip: ZipWriter<io::BufWriter<std::fs::File>>,
}

impl ManifestWriter {
    fn new(stem: &str, entry: &EntryOptions) -> Result<Self, ZipOrRender> {
        let mut zip = ZipWriter::new(io::BufWriter::new(tempfile::tempfile()?));
        zip.start_file(format!("{stem}/manifest.csv"), entry.0)?;
        zip.write_all(b"email,name,path,sha256\r\n")?;
        Ok(ManifestWriter { zip })
    }

    fn row(&mut self, row: &ManifestRow) -> Result<(), ZipOrRender> {
        let mut line = csv::WriterBuilder::new()
            .terminator(csv::Terminator::CRLF)
            .from_writer(Vec::with_capacity(160));
        line.write_record([&row.email, &row.name, &row.path, &row.sha256])
            .map_err(|e| io::Error::other(e.to_string()))?;
        let line = line
            .into_inner()
            .map_err(|e| io::Error::other(e.to_string()))?;
        self.zip.write_all(&line)?;
        Ok(())
    }

    /// The finished one-entry archive, UTF-8 flagged, ready to raw-copy.
    fn finish(self) -> Result<std::fs::File, ZipOrRender> {
        let mut file = self
            .zip
            .finish()?
            .into_inner()
            .map_err(|e| e.into_error())?;
        flag_utf8_names(&mut file)?;
        file.seek(SeekFrom::Start(0))?;
        Ok(file)
    }
}

/// Compresses `files` into an in-memory archive with every name UTF-8 flagged.
fn small_archive(
    files: &[(String, Vec<u8>)],
    entry: &EntryOptions,
) -> Result<Vec<u8>, ZipOrRender> {
    let mut zip = ZipWriter::new(Cursor::new(Vec::new()));
    for (name, bytes) in files {
        zip.start_file(name.as_str(), entry.0)?;
        zip.write_all(bytes)?;
    }
    let mut cursor = zip.finish()?;
    flag_utf8_names(&mut cursor)?;
    Ok(cursor.into_inner())
}

/// Raw-copies every entry of a finished archive into `zip`; returns how many.
fn copy_entries<W: Write + Seek, R: AsArchive>(
    zip: &mut ZipWriter<W>,
    source: R,
) -> Result<usize, ZipOrRender> {
    let mut archive = ZipArchive::new(source.reader())?;
    for i in 0..archive.len() {
        zip.raw_copy_file(archive.by_index_raw(i)?)?;
    }
    Ok(archive.len())
}

/// Something a finished archive can be read from.
trait AsArchive {
    type Reader: Read + Seek;
    fn reader(self) -> Self::Reader;
}

impl<'a> AsArchive for &'a Vec<u8> {
    type Reader = Cursor<&'a [u8]>;
    fn reader(self) -> Self::Reader {
        Cursor::new(self.as_slice())
    }
}

impl AsArchive for std::fs::File {
    type Reader = io::BufReader<std::fs::File>;
    fn reader(self) -> Self::Reader {
        io::BufReader::new(self)
    }
}

/// Bit 11 of the general-purpose flags: the name is UTF-8 (APPNOTE 4.4.4).
const UTF8_FLAG: u16 = 1 << 11;

/// Sets the UTF-8 flag on every entry of a finished archive, in its local and central headers.
///
/// The zip crate flags only names that are not ASCII; ASCII names read the same either way,
/// but flagging them all tells every unzip tool, old ones included, what the names are.
fn flag_utf8_names<F: Read + Write + Seek>(archive_bytes: &mut F) -> Result<(), ZipOrRender> {
    let offsets: Vec<(u64, u64)> = {
        archive_bytes.seek(SeekFrom::Start(0))?;
        let mut archive = ZipArchive::new(&mut *archive_bytes)?;
        (0..archive.len())
            .map(|i| {
                let f = archive.by_index_raw(i)?;
                Ok((f.header_start(), f.central_header_start()))
            })
            .collect::<Result<_, zip::result::ZipError>>()?
    };
    for (local, central) in offsets {
        // Flags sit 6 bytes into a local header and 8 bytes into a central one.
        for at in [local + 6, central + 8] {
            let mut flags = [0u8; 2];
            archive_bytes.seek(SeekFrom::Start(at))?;
            archive_bytes.read_exact(&mut flags)?;
            let flags = u16::from_le_bytes(flags) | UTF8_FLAG;
            archive_bytes.seek(SeekFrom::Start(at))?;
            archive_bytes.write_all(&flags.to_le_bytes())?;
        }
    }
    Ok(())
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The entries' timestamp: `SOURCE_DATE_EPOCH` when set, else 1980-01-01 00:00 (the zip epoch).
pub fn timestamp_from_env() -> DateTime {
    std::env::var("SOURCE_DATE_EPOCH")
        .ok()
        .and_then(|s| s.trim().parse::<i64>().ok())
        .and_then(dos_datetime)
        .unwrap_or_default()
}

/// Converts Unix seconds (UTC) to a zip timestamp, if in zip's 1980..=2107 range.
fn dos_datetime(secs: i64) -> Option<DateTime> {
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    DateTime::from_date_and_time(
        u16::try_from(year).ok()?,
        month as u8,
        day as u8,
        (rem / 3600) as u8,
        (rem % 3600 / 60) as u8,
        (rem % 60) as u8,
    )
    .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dos_datetime_converts_known_dates() {
        let d = dos_datetime(1_700_000_000).unwrap(); // 2023-11-14 22:13:20 UTC
        assert_eq!(
            (
                d.year(),
                d.month(),
                d.day(),
                d.hour(),
                d.minute(),
                d.second()
            ),
            (2023, 11, 14, 22, 13, 20)
        );
        assert!(dos_datetime(0).is_none(), "1970 is before the zip epoch");
    }
}
