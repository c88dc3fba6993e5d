//! The IT-staff page's users: an Apache htpasswd file of bcrypt entries, as `htpasswd -B`
//! writes them (`NAME:$2y$05$…`), checked before the server listens and read again whenever it
//! changes, so that central IT adds a colleague without a restart.
//!
//! Only bcrypt is accepted: the other kinds htpasswd knows (MD5 `$apr1$`, SHA-1 `{SHA}`, crypt,
//! plain text) are fast to guess from a stolen file, and are refused at start with the line and
//! what to do. Messages name the file and the line, never a user name.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use crate::diagnostic::{self, Diagnostic};

/// A mistake in the htpasswd file: where, and what to do.
pub type HtpasswdError = Diagnostic;

/// The users of a valid file: each one's name and bcrypt hash.
#[derive(Debug, Default)]
pub struct Users {
    entries: Vec<(String, String)>,
}

impl Users {
    /// The bcrypt hash of `user`, if the file has them.
    pub fn hash_of(&self, user: &str) -> Option<&str> {
        self.entries
            .iter()
            .find(|(name, _)| name == user)
            .map(|(_, hash)| hash.as_str())
    }

    /// The bcrypt cost most entries have (the lowest of the most common): the work done to refuse
    /// a name the file does not have, as long as a wrong password takes.
    pub fn usual_cost(&self) -> u32 {
        let mut counts: HashMap<u32, usize> = HashMap::new();
        for (_, hash) in &self.entries {
            if let Some(cost) = hash.get(4..6).and_then(|c| c.parse().ok()) {
                *counts.entry(cost).or_default() += 1;
            }
        }
        counts
            .into_iter()
            .max_by_key(|&(cost, n)| (n, std::cmp::Reverse(cost)))
            .map_or(bcrypt::DEFAULT_COST, |(cost, _)| cost)
    }
}

/// The file's text, parsed: lines `NAME:HASH`, `#` comments and blank lines.
/// A mistake is given with its line, `None` when it is about the whole file.
pub fn parse(text: &str) -> Result<Users, (Option<u64>, String)> {
    let mut entries: Vec<(String, String)> = Vec::new();
    let mut lines_of: Vec<u64> = Vec::new();
    for (i, raw) in text.split('\n').enumerate() {
        let line = i as u64 + 1;
        let content = raw.strip_suffix('\r').unwrap_or(raw);
        if content.trim().is_empty() || content.trim_start().starts_with('#') {
            continue;
        }
        let Some((user, hash)) = content.split_once(':') else {
            return Err((
                Some(line),
                "a line is NAME:HASH, as htpasswd writes it; make the file with \
                 htpasswd -B -c FILE NAME"
                    .into(),
            ));
        };
        if user.is_empty() {
            return Err((
                Some(line),
                "the user name before ':' is empty: make the entry again with htpasswd -B FILE NAME"
                    .into(),
            ));
        }
        // htpasswd writes nothing after the hash; tolerate spaces an editor left.
        let hash = hash.trim();
        check_hash(hash).map_err(|message| (Some(line), message))?;
        if let Some(at) = entries.iter().position(|(name, _)| name == user) {
            return Err((
                Some(line),
                format!(
                    "this user is already on line {}: delete one of the two lines",
                    lines_of[at]
                ),
            ));
        }
        entries.push((user.to_string(), hash.to_string()));
        lines_of.push(line);
    }
    if entries.is_empty() {
        return Err((
            None,
            "holds no user: add one with htpasswd -B FILE NAME (-c to make the file)".into(),
        ));
    }
    Ok(Users { entries })
}

/// Accepts a bcrypt hash (`$2y$`, `$2b$`, `$2a$`) that bcrypt can check; says what else it is.
fn check_hash(hash: &str) -> Result<(), String> {
    let redo = "make the entry again with htpasswd -B FILE NAME (bcrypt)";
    let kind = if hash.starts_with("$2y$") || hash.starts_with("$2b$") || hash.starts_with("$2a$") {
        let cost = hash.get(4..6).and_then(|c| c.parse::<u32>().ok());
        return match hash.parse::<bcrypt::HashParts>() {
            Ok(_) if cost.is_some_and(|c| (4..=31).contains(&c)) => Ok(()),
            Ok(_) => Err(format!("the bcrypt cost is outside 4 to 31: {redo}")),
            Err(e) => Err(format!("the bcrypt hash is damaged ({e}): {redo}")),
        };
    } else if hash.starts_with("$apr1$") {
        "an MD5 ($apr1$) entry"
    } else if hash.starts_with("{SHA}") {
        "a SHA-1 ({SHA}) entry"
    } else if hash.starts_with("$5$") || hash.starts_with("$6$") {
        "a SHA-2 crypt ($5$ or $6$) entry"
    } else if hash.starts_with("$2x$") {
        "a bcrypt entry of the flawed $2x$ kind"
    } else if hash.len() == 13 {
        "a crypt (DES) entry, or a plain-text password"
    } else {
        "not a bcrypt entry (a plain-text password?)"
    };
    Err(format!(
        "{kind}: only bcrypt entries are accepted, which are slow to guess from a stolen file; {redo}"
    ))
}

/// Reads and parses the file at `path`.
pub fn load(path: &Path) -> Result<Users, HtpasswdError> {
    let bytes = std::fs::read(path).map_err(|e| {
        Diagnostic::whole(
            path,
            format!(
                "cannot read the password file of --admin-htpasswd ({}); make it with \
                 htpasswd -B -c FILE NAME",
                match e.kind() {
                    std::io::ErrorKind::NotFound => "there is no such file".to_string(),
                    std::io::ErrorKind::PermissionDenied => "permission denied".to_string(),
                    _ => e.to_string(),
                }
            ),
        )
    })?;
    let text = String::from_utf8(bytes).map_err(|_| {
        Diagnostic::whole(path, "is not UTF-8 text: user names must be saved in UTF-8")
    })?;
    parse(&text).map_err(|(line, message)| Diagnostic {
        line,
        ..Diagnostic::whole(path, message)
    })
}

/// What identifies a version of the file: it is read again when this changes.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Stamp {
    modified: Option<SystemTime>,
    len: u64,
    inode: u64,
}

fn stamp(path: &Path) -> std::io::Result<Stamp> {
    use std::os::unix::fs::MetadataExt;
    let meta = std::fs::metadata(path)?;
    Ok(Stamp {
        modified: meta.modified().ok(),
        len: meta.len(),
        inode: meta.ino(),
    })
}

/// The file, watched: [`Watched::users`] reads it again when its modification time, size or
/// inode (a file replaced by a rename) changed since it was last read.
pub struct Watched {
    path: PathBuf,
    state: Mutex<State>,
}

struct State {
    stamp: Option<Stamp>,
    /// The users of the last version read, or `None` while that version has a mistake.
    users: Option<Arc<Users>>,
}

impl Watched {
    /// Reads the file; a mistake refuses to start the server.
    pub fn open(path: &Path) -> Result<Watched, HtpasswdError> {
        let before = stamp(path).ok();
        let users = load(path)?;
        Ok(Watched {
            path: path.to_path_buf(),
            state: Mutex::new(State {
                stamp: before,
                users: Some(Arc::new(users)),
            }),
        })
    }

    /// The users of the file as it is now. A version with a mistake (or no file) lets nobody in
    /// until it is fixed: the mistake is written to stderr once, with the file and line.
    pub fn users(&self) -> Option<Arc<Users>> {
        let now = stamp(&self.path).ok();
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        if now.is_some() && now == state.stamp {
            return state.users.clone();
        }
        let changed = now != state.stamp;
        state.stamp = now.clone();
        state.users = match now.map(|_| load(&self.path)) {
            Some(Ok(users)) => {
                if changed {
                    diagnostic::note(format_args!(
                        "read {} again: it changed",
                        self.path.display()
                    ));
                }
                Some(Arc::new(users))
            }
            Some(Err(e)) => {
                diagnostic::error(format_args!(
                    "{e}; nobody can sign in to /admin/ until it is fixed"
                ));
                None
            }
            None => {
                if changed {
                    diagnostic::error(format_args!(
                        "{} is gone; nobody can sign in to /admin/ until it is back",
                        self.path.display()
                    ));
                }
                None
            }
        };
        state.users.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A bcrypt hash as `htpasswd -B -C 5` writes it.
    fn hash() -> String {
        bcrypt::hash("secret", 5)
            .unwrap()
            .replacen("$2b$", "$2y$", 1)
    }

    #[test]
    fn reads_bcrypt_entries_comments_and_blank_lines() {
        let hash = hash();
        let text = format!(
            "# staff\r\n\r\nalice:{hash}\r\nbob:{}\n",
            hash.replacen("$2y$", "$2b$", 1)
        );
        let users = parse(&text).unwrap();
        assert_eq!(users.hash_of("alice"), Some(hash.as_str()));
        assert!(bcrypt::verify("secret", users.hash_of("alice").unwrap()).unwrap());
        assert!(users.hash_of("bob").unwrap().starts_with("$2b$"));
        assert_eq!(users.hash_of("carol"), None);
        assert_eq!(users.usual_cost(), 5);
        let mixed = format!(
            "a:{hash}\nb:{}\nc:{}\n",
            hash.replacen("$05$", "$04$", 1),
            hash.replacen("$05$", "$04$", 1)
        );
        assert_eq!(parse(&mixed).unwrap().usual_cost(), 4);
    }

    #[test]
    fn refuses_other_kinds_with_the_line() {
        let hash = hash();
        let costly = format!("carol:{}", hash.replacen("$05$", "$99$", 1));
        let (no_name, twice) = (format!(":{hash}"), format!("alice:{hash}"));
        for (entry, kind) in [
            ("carol:$apr1$abc$defghijklmnopqrstuvwx.", "MD5"),
            ("carol:{SHA}qUqP5cyxm6YcTAhz05Hph5gvu9M=", "SHA-1"),
            ("carol:abJnggxhB/yWI", "crypt"),
            ("carol:$6$salt$hash", "SHA-2"),
            ("carol:secret", "plain-text"),
            ("carol:$2y$05$short", "damaged"),
            (costly.as_str(), "cost"),
            ("no colon here", "NAME:HASH"),
            (no_name.as_str(), "empty"),
            (twice.as_str(), "already on line 2"),
        ] {
            let text = format!("# staff\nalice:{hash}\n{entry}\n");
            let (line, message) = parse(&text).unwrap_err();
            assert_eq!(line, Some(3), "{entry}: {message}");
            assert!(message.contains(kind), "{entry}: {message}");
            assert!(!message.contains("carol"), "no user name: {message}");
        }
        assert_eq!(parse("# nobody\n").unwrap_err().0, None);
    }

    #[test]
    fn a_changed_file_is_read_again_and_a_broken_one_lets_nobody_in() {
        let hash = hash();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("htpasswd");
        std::fs::write(&path, format!("alice:{hash}\n")).unwrap();
        let watched = Watched::open(&path).unwrap();
        assert!(watched.users().unwrap().hash_of("alice").is_some());
        std::fs::write(&path, format!("alice:{hash}\nbob:{hash}\n")).unwrap();
        assert!(watched.users().unwrap().hash_of("bob").is_some());
        std::fs::write(&path, format!("alice:{hash}\nbob:{{SHA}}x\n")).unwrap();
        assert!(watched.users().is_none());
        std::fs::remove_file(&path).unwrap();
        assert!(watched.users().is_none());
        std::fs::write(&path, format!("bob:{hash}\n")).unwrap();
        let users = watched.users().unwrap();
        assert!(users.hash_of("alice").is_none());
        assert!(users.hash_of("bob").is_some());
    }
}
