//! Where in which file, and what is wrong: one type for a problem found in an input (the roster,
//! the provider file, the htpasswd file), and the one place that writes messages to standard
//! error.
//!
//! A diagnostic reads as compilers write theirs, `FILE:LINE: MESSAGE`, or `FILE: MESSAGE` when it
//! concerns the whole file; the IT-staff page shows the same line and message in its table.

use std::fmt;
use std::io::Write;
use std::path::{Path, PathBuf};

/// A problem in an input file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    /// The file, as the person named it (a path given on the command line, an upload's name).
    pub file: PathBuf,
    /// The line (1-based) at fault; `None` when it is the whole file.
    pub line: Option<u64>,
    pub message: String,
    /// A person's row, which `--skip-invalid` may leave out (not the file, not its header).
    pub skippable: bool,
}

impl Diagnostic {
    /// A problem of the whole file.
    pub fn whole(file: &Path, message: impl Into<String>) -> Diagnostic {
        Diagnostic {
            file: file.to_path_buf(),
            line: None,
            message: message.into(),
            skippable: false,
        }
    }

    /// A problem at `line` that leaving the line out would not mend (a header, a setting).
    pub fn at(file: &Path, line: u64, message: impl Into<String>) -> Diagnostic {
        Diagnostic {
            line: Some(line),
            ..Diagnostic::whole(file, message)
        }
    }

    /// A problem of a person's row, which `--skip-invalid` may leave out; `line`, when known.
    pub fn row(file: &Path, line: Option<u64>, message: impl Into<String>) -> Diagnostic {
        Diagnostic {
            line,
            skippable: true,
            ..Diagnostic::whole(file, message)
        }
    }

    /// `FILE:LINE: KIND: MESSAGE`, as a warning or a skipped row is said.
    pub fn tagged<'a>(&'a self, kind: &'a str) -> impl fmt::Display + 'a {
        Tagged(self, kind)
    }

    fn place(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line {
            Some(line) => write!(f, "{}:{line}: ", self.file.display()),
            None => write!(f, "{}: ", self.file.display()),
        }
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.place(f)?;
        f.write_str(&self.message)
    }
}

impl std::error::Error for Diagnostic {}

struct Tagged<'a>(&'a Diagnostic, &'a str);

impl fmt::Display for Tagged<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.place(f)?;
        write!(f, "{}: {}", self.1, self.0.message)
    }
}

/// Writes `message` and a line end to standard error, in one write: every message the program
/// says there goes through here. A standard error that cannot be written is not reported.
pub fn say(message: impl fmt::Display) {
    let mut line = message.to_string();
    line.push('\n');
    let _ = std::io::stderr().lock().write_all(line.as_bytes());
}

/// `mailconf: MESSAGE`: what the program did or is doing.
pub fn note(message: impl fmt::Display) {
    say(format_args!("mailconf: {message}"));
}

/// `mailconf: warning: MESSAGE`: something went wrong that does not stop the run.
pub fn warning(message: impl fmt::Display) {
    say(format_args!("mailconf: warning: {message}"));
}

/// `mailconf: error: MESSAGE`: something failed (in the server: one request, not the server).
pub fn error(message: impl fmt::Display) {
    say(format_args!("mailconf: error: {message}"));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_diagnostic_names_the_file_and_the_line_when_there_is_one() {
        let file = Path::new("dept.csv");
        assert_eq!(
            Diagnostic::whole(file, "empty").to_string(),
            "dept.csv: empty"
        );
        let at = Diagnostic::at(file, 3, "bad header");
        assert_eq!(at.to_string(), "dept.csv:3: bad header");
        assert!(!at.skippable);
        let row = Diagnostic::row(file, Some(7), "bad address");
        assert!(row.skippable);
        assert_eq!(
            row.tagged("skipped").to_string(),
            "dept.csv:7: skipped: bad address"
        );
        assert_eq!(
            Diagnostic::row(file, None, "cut off")
                .tagged("warning")
                .to_string(),
            "dept.csv: warning: cut off"
        );
    }
}
