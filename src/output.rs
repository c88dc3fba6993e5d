//! Atomic output: files and folders are built under a temporary name beside the target and
//! renamed into place at the end. An error, or Ctrl-C / SIGTERM (see [`install_interrupt_handler`]),
//! leaves nothing half-written, and an existing target is replaced only when asked (`--force`).

use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::mpsc::{SyncSender, sync_channel};
use std::thread::JoinHandle;

use tempfile::{NamedTempFile, TempDir};

#[derive(Debug, thiserror::Error)]
pub enum OutputError {
    #[error("{}: already exists; use --force to replace it", path.display())]
    Exists { path: PathBuf },
    #[error("{}: the folder to write into does not exist", path.display())]
    NoParent { path: PathBuf },
    #[error("{}: is a folder: name the file to write in it, such as {}", path.display(), path.join(example).display())]
    IsFolder { path: PathBuf, example: String },
    #[error(
        "{}: is not a regular file (a device, pipe, link or folder); mailconf replaces only \
         regular files, even with --force",
        path.display()
    )]
    NotAFile { path: PathBuf },
    #[error("{}: {what}: {source}", path.display())]
    Io {
        path: PathBuf,
        what: &'static str,
        source: io::Error,
    },
}

impl OutputError {
    pub fn io(path: &Path, what: &'static str) -> impl FnOnce(io::Error) -> OutputError + use<> {
        let path = path.to_path_buf();
        move |source| OutputError::Io { path, what, source }
    }
}

/// A temporary file or folder named `PREFIX….partial`, created with the permissions of an
/// ordinary new file (`0o666`) or folder (`0o777`), which the system narrows by the user's
/// umask, as for any file a program creates. A temporary file
/// would otherwise stay `0600` once renamed into place, and a colleague on the same share could
/// not read the bundle. None of the files holds a secret.
fn temp_builder(prefix: &str, mode: u32) -> tempfile::Builder<'_, 'static> {
    let mut builder = tempfile::Builder::new();
    builder.prefix(prefix).suffix(".partial");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        builder.permissions(fs::Permissions::from_mode(mode));
    }
    #[cfg(not(unix))]
    let _ = mode;
    builder
}

/// Temporary paths to remove if the process is interrupted.
static PENDING: Mutex<Vec<PathBuf>> = Mutex::new(Vec::new());

/// Creates a temporary file or folder with `create` and registers its path, holding the list's
/// lock throughout: a signal arriving meanwhile waits for the registration, so it can never find
/// a temporary file on disk that it does not know about.
fn create_registered<T>(
    create: impl FnOnce() -> io::Result<T>,
    path_of: impl Fn(&T) -> &Path,
) -> io::Result<(T, Registered)> {
    let mut pending = PENDING
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    let made = create()?;
    let path = path_of(&made).to_path_buf();
    pending.push(path.clone());
    Ok((made, Registered(path)))
}

fn unregister(path: &Path) {
    if let Ok(mut pending) = PENDING.lock() {
        pending.retain(|p| p != path);
    }
}

/// On SIGINT or SIGTERM: remove every temporary file or folder still being written, then exit
/// with status 130. Call once, from `main`.
pub fn install_interrupt_handler() {
    let result = ctrlc::set_handler(|| {
        let pending = match PENDING.lock() {
            Ok(p) => p.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        };
        for path in pending {
            let _ = fs::remove_file(&path).or_else(|_| fs::remove_dir_all(&path));
        }
        crate::diagnostic::note("interrupted; nothing was written");
        std::process::exit(130);
    });
    if let Err(e) = result {
        crate::diagnostic::warning(format_args!(
            "cannot watch for Ctrl-C ({e}); an interrupted run may leave a temporary file"
        ));
    }
}

fn parent_of(target: &Path) -> Result<PathBuf, OutputError> {
    let parent = match target.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    if parent.is_dir() {
        Ok(parent)
    } else {
        Err(OutputError::NoParent {
            path: target.to_path_buf(),
        })
    }
}

/// Fails unless `target` may be written: its folder exists, and it does not exist or `force`.
///
/// Even with `force`, only a regular file is replaced: renaming over `/dev/null`, a pipe or a
/// symbolic link would destroy it (as root, a device node) rather than write through it.
pub fn check_target(target: &Path, force: bool) -> Result<(), OutputError> {
    parent_of(target)?;
    if target.is_dir() {
        return Err(OutputError::IsFolder {
            path: target.to_path_buf(),
            example: "NAME".into(),
        });
    }
    if let Ok(meta) = fs::symlink_metadata(target) {
        if !force {
            return Err(OutputError::Exists {
                path: target.to_path_buf(),
            });
        }
        if !meta.file_type().is_file() {
            return Err(OutputError::NotAFile {
                path: target.to_path_buf(),
            });
        }
    }
    Ok(())
}

/// A file being written under a temporary name beside its target.
pub struct PendingFile {
    file: NamedTempFile,
    target: PathBuf,
    force: bool,
    _registered: Registered,
}

/// Keeps a temporary path on the interrupt handler's list while it lives.
struct Registered(PathBuf);

impl Drop for Registered {
    fn drop(&mut self) {
        unregister(&self.0);
    }
}

impl PendingFile {
    /// Starts writing `target`; fails at once if it exists and `force` is false.
    pub fn create(target: &Path, force: bool) -> Result<PendingFile, OutputError> {
        check_target(target, force)?;
        let parent = parent_of(target)?;
        let stem = target
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let (file, registered) = create_registered(
            || temp_builder(&format!(".{stem}."), 0o666).tempfile_in(&parent),
            |file| file.path(),
        )
        .map_err(OutputError::io(
            target,
            "cannot create a temporary file beside it",
        ))?;
        Ok(PendingFile {
            _registered: registered,
            file,
            target: target.to_path_buf(),
            force,
        })
    }

    pub fn file(&mut self) -> &mut fs::File {
        self.file.as_file_mut()
    }

    pub fn target(&self) -> &Path {
        &self.target
    }

    /// Flushes to disk and renames into place.
    pub fn commit(self) -> Result<(), OutputError> {
        let target = self.target;
        self.file
            .as_file()
            .sync_all()
            .map_err(OutputError::io(&target, "cannot write"))?;
        let persisted = if self.force {
            self.file.persist(&target)
        } else {
            self.file.persist_noclobber(&target)
        };
        persisted.map(drop).map_err(|e| {
            if e.error.kind() == io::ErrorKind::AlreadyExists {
                OutputError::Exists {
                    path: target.clone(),
                }
            } else {
                OutputError::io(&target, "cannot rename into place")(e.error)
            }
        })
    }
}

/// Bytes written between two background flushes of a [`SyncingWriter`].
const SYNC_STEP: u64 = 32 << 20;

/// Writes to a file while a thread of its own flushes what is written to disk every
/// [`SYNC_STEP`] bytes, so that the `fsync` of [`PendingFile::commit`] has only the last stretch
/// left. At 100,000 users that fsync took 0.85 s for the 1.4 GB zip, at the end of the run with
/// every core idle. An error a background flush meets is returned by [`SyncingWriter::finish`]:
/// the flushing handle shares the file's open description, so the final `fsync` may not see it.
pub struct SyncingWriter<'a> {
    file: &'a fs::File,
    step: u64,
    unsynced: u64,
    requests: Option<SyncSender<()>>,
    syncer: Option<JoinHandle<io::Result<()>>>,
}

impl<'a> SyncingWriter<'a> {
    pub fn new(file: &'a fs::File) -> SyncingWriter<'a> {
        SyncingWriter::with_step(file, SYNC_STEP)
    }

    fn with_step(file: &'a fs::File, step: u64) -> SyncingWriter<'a> {
        // One request waits at most: a flush asked for while one runs covers both.
        let (requests, received) = sync_channel::<()>(1);
        // Without a second handle the writer only writes; commit's fsync does it all.
        let syncer = file.try_clone().ok().map(|handle| {
            std::thread::spawn(move || {
                for () in received {
                    handle.sync_data()?;
                }
                Ok(())
            })
        });
        SyncingWriter {
            file,
            step,
            unsynced: 0,
            requests: syncer.is_some().then_some(requests),
            syncer,
        }
    }

    /// Waits for the background flushing to stop; the error it met, if any.
    pub fn finish(mut self) -> io::Result<()> {
        self.stop()
    }

    fn stop(&mut self) -> io::Result<()> {
        self.requests = None;
        match self.syncer.take().map(JoinHandle::join) {
            None => Ok(()),
            Some(Ok(result)) => result,
            Some(Err(panic)) => std::panic::resume_unwind(panic),
        }
    }
}

impl Write for SyncingWriter<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.file.write(buf)?;
        self.unsynced += n as u64;
        if self.unsynced >= self.step {
            self.unsynced = 0;
            if let Some(requests) = &self.requests {
                // Full: a flush is queued already. Disconnected: the flusher failed, and
                // `finish` reports why.
                let _ = requests.try_send(());
            }
        }
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.file.flush()
    }
}

impl Drop for SyncingWriter<'_> {
    fn drop(&mut self) {
        // Dropped without `finish` when writing failed: that error is the one reported.
        let _ = self.stop();
    }
}

/// Writes `bytes` to `target` atomically.
pub fn write_file(target: &Path, bytes: &[u8], force: bool) -> Result<(), OutputError> {
    let mut pending = PendingFile::create(target, force)?;
    pending
        .file()
        .write_all(bytes)
        .map_err(OutputError::io(target, "cannot write"))?;
    pending.commit()
}

/// Writes a folder of files (`/`-separated relative paths) atomically: built beside `target`
/// and renamed into place. An existing empty folder is replaced; a non-empty one only with `force`.
pub fn write_dir<'a>(
    target: &Path,
    files: impl IntoIterator<Item = (&'a str, &'a [u8])>,
    force: bool,
) -> Result<(), OutputError> {
    let pending = PendingDir::create(target, force)?;
    for (relative, bytes) in files {
        pending.write(relative, bytes)?;
    }
    pending.commit()
}

/// Fails unless a folder may be written at `target`: its parent exists, and it is an empty
/// folder or nothing, or `force` and a folder or a regular file (never a device, pipe or link).
pub fn check_dir_target(target: &Path, force: bool) -> Result<(), OutputError> {
    parent_of(target)?;
    let existing = fs::symlink_metadata(target).ok();
    let exists_nonempty = match fs::read_dir(target) {
        Ok(mut entries) => entries.next().is_some(),
        Err(_) => existing.is_some(),
    };
    if exists_nonempty && !force {
        return Err(OutputError::Exists {
            path: target.to_path_buf(),
        });
    }
    if existing.is_some_and(|m| !m.file_type().is_dir() && !m.file_type().is_file()) {
        return Err(OutputError::NotAFile {
            path: target.to_path_buf(),
        });
    }
    Ok(())
}

/// A folder being filled under a temporary name beside its target, renamed into place by
/// [`PendingDir::commit`]; removed if dropped (or interrupted) before.
pub struct PendingDir {
    temp: TempDir,
    target: PathBuf,
    _registered: Registered,
}

impl PendingDir {
    /// Starts a folder for `target` (see [`check_dir_target`]).
    pub fn create(target: &Path, force: bool) -> Result<PendingDir, OutputError> {
        check_dir_target(target, force)?;
        let parent = parent_of(target)?;
        let (temp, registered) = create_registered(
            || temp_builder(".mailconf.", 0o777).tempdir_in(&parent),
            |temp| temp.path(),
        )
        .map_err(OutputError::io(
            target,
            "cannot create a temporary folder beside it",
        ))?;
        Ok(PendingDir {
            temp,
            target: target.to_path_buf(),
            _registered: registered,
        })
    }

    /// Writes one file at `relative` (`/`-separated) in the folder.
    pub fn write(&self, relative: &str, bytes: &[u8]) -> Result<(), OutputError> {
        let path = self.temp.path().join(relative);
        if let Some(dir) = path.parent() {
            fs::create_dir_all(dir)
                .map_err(OutputError::io(&self.target, "cannot create a folder"))?;
        }
        fs::write(&path, bytes).map_err(OutputError::io(&self.target, "cannot write"))
    }

    /// Puts the folder in place: an existing target is moved aside, replaced, then removed.
    pub fn commit(self) -> Result<(), OutputError> {
        let (temp, target) = (&self.temp, self.target.as_path());
        let old = match fs::symlink_metadata(target) {
            Ok(meta) => {
                let aside = temp.path().with_extension("old");
                if meta.is_dir() {
                    fs::rename(target, &aside)
                        .map_err(OutputError::io(target, "cannot move the old folder aside"))?;
                    Some(aside)
                } else {
                    fs::remove_file(target)
                        .map_err(OutputError::io(target, "cannot remove the old file"))?;
                    None
                }
            }
            Err(_) => None,
        };
        if let Err(e) = fs::rename(temp.path(), target) {
            if let Some(aside) = &old {
                let _ = fs::rename(aside, target);
            }
            return Err(OutputError::io(target, "cannot rename into place")(e));
        }
        if let Some(aside) = old {
            let _ = fs::remove_dir_all(aside);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    #[test]
    fn a_syncing_writer_writes_everything_while_flushing() {
        let mut file = tempfile::tempfile().unwrap();
        let data: Vec<u8> = (0..100_000u32).flat_map(|i| i.to_le_bytes()).collect();
        let mut writer = SyncingWriter::with_step(&file, 4096);
        for chunk in data.chunks(1000) {
            writer.write_all(chunk).unwrap();
        }
        writer.flush().unwrap();
        writer.finish().unwrap();
        let mut back = Vec::new();
        use std::io::Seek;
        file.rewind().unwrap();
        file.read_to_end(&mut back).unwrap();
        assert_eq!(back, data);
    }
}
