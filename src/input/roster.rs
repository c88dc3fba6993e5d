//! Reading a department roster: encoding detection, CSV/TSV, header aliases, and row checks
//! reported all at once with their line numbers.

use std::fmt;
use std::io::Read;
use std::path::{Path, PathBuf};

use encoding_rs::{Encoding, SHIFT_JIS, UTF_8, UTF_16BE, UTF_16LE};

use crate::diagnostic::Diagnostic;
use crate::input::account::{Account, Address, DisplayName, for_message, trim};
use crate::input::provider::Provider;

/// Header names accepted for the address column, as [`header_key`] writes them (case, spaces,
/// `-`, `_` and full-width forms do not matter).
pub const ADDRESS_HEADERS: &[&str] = &[
    "email",
    "mail",
    "emailaddress",
    "mailaddress",
    "eメール",
    "eメールアドレス",
    "メール",
    "メールアドレス",
];
/// Header names accepted for the person's whole name, as [`header_key`] writes them.
pub const NAME_HEADERS: &[&str] = &[
    "name",
    "fullname",
    "displayname",
    "名前",
    "お名前",
    "氏名",
    "姓名",
    "表示名",
    "氏名(漢字)",
    "名前(漢字)",
];
/// A family name and a given name in two columns, Japanese headers: joined family first.
const FAMILY_HEADERS_JA: &[&str] = &["姓", "氏", "苗字", "名字", "姓(漢字)"];
const GIVEN_HEADERS_JA: &[&str] = &["名", "名(漢字)"];
/// The same, English headers: joined given name first.
const FAMILY_HEADERS_EN: &[&str] = &["lastname", "familyname", "surname"];
const GIVEN_HEADERS_EN: &[&str] = &["firstname", "givenname"];

/// A header cell as compared with the aliases: trimmed, lower case, full-width letters and
/// parentheses made ASCII, and spaces (full-width too), `-` and `_` removed.
pub fn header_key(cell: &str) -> String {
    trim(cell)
        .chars()
        .map(|c| match c {
            // Full-width ASCII (Ａ, （, ＿ …) to ASCII.
            '\u{FF01}'..='\u{FF5E}' => char::from_u32(c as u32 - 0xFEE0).unwrap_or(c),
            c => c,
        })
        .filter(|c| !matches!(c, ' ' | '\u{3000}' | '-' | '_' | '\t'))
        .flat_map(char::to_lowercase)
        .collect()
}
/// Header words that mark a password column, which is refused.
const PASSWORD_WORDS: &[&str] = &[
    "password",
    "passwd",
    "passcode",
    "pwd",
    "パスワード",
    "暗証",
];

/// Most columns a header row may have: Excel's limit (XFD). Each column name is kept in
/// memory, so without a limit a 64 MB header of commas would take gigabytes.
pub const MAX_COLUMNS: usize = 16_384;

/// Largest roster accepted, in bytes. A department roster is far smaller; this bounds memory.
pub const MAX_ROSTER_BYTES: u64 = 64 * 1024 * 1024;

/// A text encoding a roster can be in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RosterEncoding {
    Utf8,
    Utf16Le,
    Utf16Be,
    /// Shift_JIS as Windows writes it (CP932, Windows-31J).
    ShiftJis,
}

impl RosterEncoding {
    fn encoding(self) -> &'static Encoding {
        match self {
            RosterEncoding::Utf8 => UTF_8,
            RosterEncoding::Utf16Le => UTF_16LE,
            RosterEncoding::Utf16Be => UTF_16BE,
            RosterEncoding::ShiftJis => SHIFT_JIS,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            RosterEncoding::Utf8 => "UTF-8",
            RosterEncoding::Utf16Le => "UTF-16LE",
            RosterEncoding::Utf16Be => "UTF-16BE",
            RosterEncoding::ShiftJis => "Shift_JIS (CP932)",
        }
    }
}

impl std::str::FromStr for RosterEncoding {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.to_ascii_lowercase().replace('_', "-").as_str() {
            "utf-8" | "utf8" => Ok(RosterEncoding::Utf8),
            "utf-16le" | "utf16le" | "utf-16" | "utf16" => Ok(RosterEncoding::Utf16Le),
            "utf-16be" | "utf16be" => Ok(RosterEncoding::Utf16Be),
            "shift-jis" | "shiftjis" | "sjis" | "cp932" | "windows-31j" | "ms932" => {
                Ok(RosterEncoding::ShiftJis)
            }
            _ => Err(format!(
                "unknown encoding {s:?}: use utf-8, utf-16le, utf-16be or shift_jis"
            )),
        }
    }
}

/// Everything wrong with a roster, or why it could not be read.
#[derive(Debug, thiserror::Error)]
pub enum RosterError {
    #[error("{path}: cannot read the roster: {reason}", path = path.display(), reason = reason(source))]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{}", Problems(problems))]
    Invalid { problems: Vec<Diagnostic> },
}

/// Why a file cannot be read, in words for the person at the keyboard.
fn reason(e: &std::io::Error) -> String {
    match e.kind() {
        std::io::ErrorKind::NotFound => "there is no such file (check the name and folder)".into(),
        std::io::ErrorKind::PermissionDenied => {
            "permission denied (check who may read the file)".into()
        }
        _ => e.to_string(),
    }
}

/// Every problem, a line each.
struct Problems<'a>(&'a [Diagnostic]);

impl fmt::Display for Problems<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, p) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            write!(f, "{p}")?;
        }
        Ok(())
    }
}

/// A validated roster: accounts in roster order, plus the rows that were skipped.
#[derive(Debug)]
pub struct Roster {
    pub accounts: Vec<Account>,
    /// The line each account is on (1-based), in the order of `accounts`.
    pub lines: Vec<u64>,
    /// Problems of rows left out under `skip_invalid`; empty otherwise.
    pub skipped: Vec<Diagnostic>,
    /// What was read but may not be what was meant (no name column): said, not refused.
    pub warnings: Vec<Diagnostic>,
    pub encoding: RosterEncoding,
}

/// How to read a roster.
#[derive(Debug, Clone, Copy, Default)]
pub struct ReadOptions {
    /// Decode as this encoding instead of detecting it.
    pub encoding: Option<RosterEncoding>,
    /// Keep the valid rows and report the invalid ones instead of refusing the roster.
    pub skip_invalid: bool,
}

/// Reads and validates the roster at `path` against `provider`.
pub fn read(path: &Path, provider: &Provider, options: ReadOptions) -> Result<Roster, RosterError> {
    let read_err = |source| RosterError::Read {
        path: path.to_path_buf(),
        source,
    };
    let meta = std::fs::metadata(path).map_err(read_err)?;
    if meta.is_dir() {
        return Err(read_err(std::io::Error::other("it is a directory")));
    }
    if meta.len() > MAX_ROSTER_BYTES {
        return Err(read_err(std::io::Error::other(format!(
            "it is {} MB; a roster may be at most {} MB",
            meta.len() / 1_000_000,
            MAX_ROSTER_BYTES / 1024 / 1024
        ))));
    }
    // The size above can lie (a device such as /dev/zero, a pipe, a file still growing): read
    // at most one byte past the limit, whatever it said.
    let mut bytes = Vec::new();
    std::fs::File::open(path)
        .and_then(|f| f.take(MAX_ROSTER_BYTES + 1).read_to_end(&mut bytes))
        .map_err(read_err)?;
    if bytes.len() as u64 > MAX_ROSTER_BYTES {
        return Err(read_err(std::io::Error::other(format!(
            "it is larger than {} MB, the most a roster may be",
            MAX_ROSTER_BYTES / 1024 / 1024
        ))));
    }
    parse(&bytes, path, provider, options).map_err(|problems| RosterError::Invalid { problems })
}

/// Validates roster bytes, read from `file` (the name its problems give); on failure returns
/// every problem found.
pub fn parse(
    bytes: &[u8],
    file: &Path,
    provider: &Provider,
    options: ReadOptions,
) -> Result<Roster, Vec<Diagnostic>> {
    let whole = |message: String| vec![Diagnostic::whole(file, message)];
    let (text, encoding) = decode(bytes, options.encoding).map_err(whole)?;
    if text.trim().is_empty() {
        return Err(whole(
            "the roster is empty: it needs a header row and at least one person".into(),
        ));
    }
    let first_line = text.lines().next().unwrap_or("");
    let delimiter = if first_line.matches('\t').count() > first_line.matches(',').count() {
        b'\t'
    } else {
        b','
    };
    // The CSV reader keeps 8 bytes per cell of a row: refuse absurdly wide lines before it
    // reads them (a 10 MB line of commas took over half a gigabyte).
    if let Some(line) = too_wide_line(&text, delimiter) {
        return Err(vec![Diagnostic::at(
            file,
            line,
            format!(
                "this line has more than {MAX_COLUMNS} cells; a roster may have at most {MAX_COLUMNS} columns (as in Excel)"
            ),
        )]);
    }
    let mut reader = csv::ReaderBuilder::new()
        .delimiter(delimiter)
        .flexible(true)
        .has_headers(false)
        .from_reader(text.as_bytes());

    let mut records = reader.byte_records();
    let header = match records.next() {
        Some(Ok(h)) => h,
        Some(Err(e)) => return Err(whole(format!("the header row cannot be read: {e}"))),
        None => return Err(whole("the roster is empty".into())),
    };
    // csv's own line numbers count LF only and are taken before the LF of a CRLF is read, so
    // they drift in CRLF and mixed files: count lines from each record's byte offset instead.
    let mut lines_at = LineCounter::new(&text);
    let header_line = header.position().map_or(1, |p| lines_at.line(p.byte()));
    let columns = Columns::find(&header)
        .map_err(|message| vec![Diagnostic::at(file, header_line, message)])?;

    let mut problems = Vec::new();
    let mut skipped = Vec::new();
    let mut accounts: Vec<Account> = Vec::new();
    let mut lines: Vec<u64> = Vec::new();
    // Addresses are the roster's own (a department's staff), not an attacker's: a fast hash.
    let mut seen: foldhash::HashMap<Address, u64> = foldhash::HashMap::default();
    for record in records {
        let record = match record {
            Ok(r) => r,
            Err(e) => {
                let line = e.position().map(|p| lines_at.line(p.byte()));
                problems.push(Diagnostic::row(
                    file,
                    line,
                    format!(
                        "this row cannot be read ({e}): check its quotes (a cell that starts \
                         with \" must end with \")"
                    ),
                ));
                continue;
            }
        };
        let position = record.position().map(|p| lines_at.line(p.byte()));
        let line = position.unwrap_or(0);
        // The text was decoded to UTF-8 above, so every field is UTF-8.
        let field = |i: usize| -> &str {
            record
                .get(i)
                .map_or("", |b| std::str::from_utf8(b).unwrap_or(""))
        };
        if record
            .iter()
            .all(|f| trim(std::str::from_utf8(f).unwrap_or("")).is_empty())
        {
            continue; // blank line, or a row of empty cells as Excel leaves them
        }
        match check_row(field(columns.address), columns.name.of(&field), provider) {
            Ok(account) => {
                if let Some(first) = seen.get(&account.address) {
                    let problem = Diagnostic::row(
                        file,
                        position,
                        format!(
                            "{} is listed twice (first on line {first}; addresses are compared without case): delete one of the two rows",
                            account.address
                        ),
                    );
                    if options.skip_invalid {
                        skipped.push(problem);
                    } else {
                        problems.push(problem);
                    }
                    continue;
                }
                seen.insert(account.address.clone(), line);
                accounts.push(account);
                lines.push(line);
            }
            Err(message) => {
                let problem = Diagnostic::row(file, position, message);
                if options.skip_invalid {
                    skipped.push(problem);
                } else {
                    problems.push(problem);
                }
            }
        }
    }
    if !problems.is_empty() {
        return Err(problems);
    }
    if accounts.is_empty() {
        let mut all = skipped;
        all.push(Diagnostic::whole(
            file,
            "the roster has no valid person in it",
        ));
        return Err(all);
    }
    let warnings = match &columns.name {
        Names::None { header } => vec![Diagnostic::at(
            file,
            header_line,
            format!(
                "no name column, so every account shows its address as the name (the header row \
                 has: {}); to give names, head a column with one of 名前, 氏名, 表示名, name, \
                 full name, display name, or two with 姓 and 名, or Last name and First name",
                for_message(header)
            ),
        )],
        _ => Vec::new(),
    };
    Ok(Roster {
        accounts,
        lines,
        skipped,
        warnings,
        encoding,
    })
}

/// The first line (1-based; lines end at CRLF, LF or CR) holding `MAX_COLUMNS` delimiters or
/// more, counting those inside quotes too.
fn too_wide_line(text: &str, delimiter: u8) -> Option<u64> {
    let bytes = text.as_bytes();
    let (mut line, mut count) = (1u64, 0usize);
    for i in memchr::memchr3_iter(delimiter, b'\n', b'\r', bytes) {
        let b = bytes[i];
        if b == b'\n' || (b == b'\r' && bytes.get(i + 1) != Some(&b'\n')) {
            line += 1;
            count = 0;
        } else if b == delimiter {
            count += 1;
            if count >= MAX_COLUMNS {
                return Some(line);
            }
        }
    }
    None
}

/// Line numbers (1-based) of byte offsets in a text, asked for in increasing order.
///
/// A line ends at CRLF, LF or a lone CR, as the CSV reader sees it. The offset csv gives for a
/// record can point at the line break that ended the record before it (the LF of a CRLF) or at
/// blank lines it skips: the record's line is the one of its first byte after those.
struct LineCounter<'a> {
    text: &'a [u8],
    /// Bytes counted so far, and the line at that offset.
    at: usize,
    line: u64,
}

impl<'a> LineCounter<'a> {
    fn new(text: &'a str) -> LineCounter<'a> {
        LineCounter {
            text: text.as_bytes(),
            at: 0,
            line: 1,
        }
    }

    fn line(&mut self, offset: u64) -> u64 {
        let mut end = usize::try_from(offset)
            .unwrap_or(usize::MAX)
            .min(self.text.len());
        while end < self.text.len() && matches!(self.text[end], b'\r' | b'\n') {
            end += 1;
        }
        if self.at < end {
            for i in memchr::memchr2_iter(b'\n', b'\r', &self.text[self.at..end]) {
                let i = self.at + i;
                match self.text[i] {
                    b'\n' => self.line += 1,
                    // A lone CR ends a line; the CR of a CRLF does not count on its own.
                    _ if self.text.get(i + 1) != Some(&b'\n') => self.line += 1,
                    _ => {}
                }
            }
            self.at = end;
        }
        self.line
    }
}

fn check_row(address: &str, name: Option<String>, provider: &Provider) -> Result<Account, String> {
    let address = Address::parse(address).map_err(|e| e.to_string())?;
    if let Some(outside) = provider.outside_domains(&address) {
        return Err(outside);
    }
    let name = match name {
        Some(raw) => DisplayName::parse(&raw).map_err(|e| format!("{address}: {e}"))?,
        None => None,
    };
    Ok(Account { address, name })
}

struct Columns {
    address: usize,
    name: Names,
}

/// Where a row's name is.
enum Names {
    /// One column with the whole name.
    Whole(usize),
    /// Family and given name in two columns, joined in the order `family_first` says.
    Split {
        family: usize,
        given: usize,
        family_first: bool,
    },
    /// No name column; the header row as seen, for the warning.
    None { header: String },
}

impl Names {
    /// The row's name, from its cells (`field(column)`); `None` without a name column.
    fn of<'r>(&self, field: &impl Fn(usize) -> &'r str) -> Option<String> {
        match *self {
            Names::Whole(column) => Some(field(column).to_string()),
            Names::Split {
                family,
                given,
                family_first,
            } => {
                let (family, given) = (trim(field(family)), trim(field(given)));
                let (first, second) = if family_first {
                    (family, given)
                } else {
                    (given, family)
                };
                Some(match (first.is_empty(), second.is_empty()) {
                    (false, false) => format!("{first} {second}"),
                    _ => format!("{first}{second}"),
                })
            }
            Names::None { .. } => None,
        }
    }
}

impl Columns {
    fn find(header: &csv::ByteRecord) -> Result<Columns, String> {
        if header.len() > MAX_COLUMNS {
            return Err(format!(
                "the header row has {} columns; a roster may have at most {MAX_COLUMNS} (as in Excel)",
                header.len()
            ));
        }
        let cells: Vec<String> = header
            .iter()
            .map(|b| trim(&String::from_utf8_lossy(b)).to_string())
            .collect();
        let names: Vec<String> = cells.iter().map(|c| header_key(c)).collect();
        if let Some(at) = names
            .iter()
            .position(|n| PASSWORD_WORDS.iter().any(|w| n.contains(w)))
        {
            let col = &cells[at];
            return Err(format!(
                "column {} looks like a password; mailconf never stores passwords: remove the column and try again",
                for_message(col)
            ));
        }
        let position = |aliases: &[&str]| names.iter().position(|n| aliases.contains(&n.as_str()));
        let address = position(ADDRESS_HEADERS).ok_or_else(|| {
            format!(
                "no address column: head the column of addresses with one of email, e-mail, \
                 mail, email address, メールアドレス, メール (the header row has: {})",
                for_message(&cells.join(", "))
            )
        })?;
        let split = |family: &[&str], given: &[&str], family_first| {
            Some(Names::Split {
                family: position(family)?,
                given: position(given)?,
                family_first,
            })
        };
        let name = position(NAME_HEADERS)
            .map(Names::Whole)
            .or_else(|| split(FAMILY_HEADERS_JA, GIVEN_HEADERS_JA, true))
            .or_else(|| split(FAMILY_HEADERS_EN, GIVEN_HEADERS_EN, false))
            .unwrap_or_else(|| Names::None {
                header: cells.join(", "),
            });
        Ok(Columns { address, name })
    }
}

/// Decodes roster bytes to text, detecting the encoding unless one is forced.
fn decode(
    bytes: &[u8],
    forced: Option<RosterEncoding>,
) -> Result<(String, RosterEncoding), String> {
    let (encoding, body) = match forced {
        Some(enc) => (enc, strip_bom(bytes, enc)),
        None => detect(bytes),
    };
    let (text, had_errors) = encoding.encoding().decode_without_bom_handling(body);
    if had_errors {
        let hint = if forced.is_some() {
            "check --encoding"
        } else {
            "save it as UTF-8, UTF-16 or Shift_JIS, or name the encoding with --encoding"
        };
        return Err(format!(
            "the roster is not valid {} text ({hint})",
            encoding.name()
        ));
    }
    Ok((text.into_owned(), encoding))
}

fn strip_bom(bytes: &[u8], encoding: RosterEncoding) -> &[u8] {
    let bom: &[u8] = match encoding {
        RosterEncoding::Utf8 => b"\xEF\xBB\xBF",
        RosterEncoding::Utf16Le => b"\xFF\xFE",
        RosterEncoding::Utf16Be => b"\xFE\xFF",
        RosterEncoding::ShiftJis => b"",
    };
    bytes.strip_prefix(bom).unwrap_or(bytes)
}

fn detect(bytes: &[u8]) -> (RosterEncoding, &[u8]) {
    if let Some(rest) = bytes.strip_prefix(b"\xEF\xBB\xBF") {
        return (RosterEncoding::Utf8, rest);
    }
    if let Some(rest) = bytes.strip_prefix(b"\xFF\xFE") {
        return (RosterEncoding::Utf16Le, rest);
    }
    if let Some(rest) = bytes.strip_prefix(b"\xFE\xFF") {
        return (RosterEncoding::Utf16Be, rest);
    }
    // UTF-16 without a BOM: ASCII text has a NUL in every other byte.
    let sample = &bytes[..bytes.len().min(4096)];
    let zeros_at = |parity: usize| {
        sample
            .iter()
            .skip(parity)
            .step_by(2)
            .filter(|&&b| b == 0)
            .count()
    };
    let half = sample.len() / 2;
    if half >= 2 && zeros_at(1) * 10 >= half * 3 && zeros_at(0) == 0 {
        return (RosterEncoding::Utf16Le, bytes);
    }
    if half >= 2 && zeros_at(0) * 10 >= half * 3 && zeros_at(1) == 0 {
        return (RosterEncoding::Utf16Be, bytes);
    }
    if std::str::from_utf8(bytes).is_ok() {
        (RosterEncoding::Utf8, bytes)
    } else {
        (RosterEncoding::ShiftJis, bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(text: &[u8]) -> Roster {
        parse(
            text,
            Path::new("t.csv"),
            &Provider::kumail(),
            ReadOptions::default(),
        )
        .unwrap()
    }

    fn problems(text: &[u8]) -> Vec<Diagnostic> {
        parse(
            text,
            Path::new("t.csv"),
            &Provider::kumail(),
            ReadOptions::default(),
        )
        .unwrap_err()
    }

    #[test]
    fn reads_aliases_and_ignores_other_columns() {
        let r = ok(
            "所属,氏名,メールアドレス\r\n情報学,山田 太郎,Taro.Yamada@kyoto-u.ac.jp\r\n".as_bytes(),
        );
        assert_eq!(r.accounts.len(), 1);
        assert_eq!(r.accounts[0].address.as_str(), "taro.yamada@kyoto-u.ac.jp");
        assert_eq!(r.accounts[0].name.as_ref().unwrap().as_str(), "山田 太郎");
    }

    #[test]
    fn detects_tsv_and_utf16() {
        let text = "Name\tE-mail\n\"A, B\"\ta@kyoto-u.ac.jp\n";
        let mut utf16 = vec![0xFF, 0xFE];
        utf16.extend(text.encode_utf16().flat_map(u16::to_le_bytes));
        let r = ok(&utf16);
        assert_eq!(r.encoding, RosterEncoding::Utf16Le);
        assert_eq!(r.accounts[0].name.as_ref().unwrap().as_str(), "A, B");
    }

    #[test]
    fn detects_shift_jis() {
        let (bytes, _, _) =
            SHIFT_JIS.encode("氏名,メールアドレス\r\n京大 花子,hanako@kyoto-u.ac.jp\r\n");
        let r = ok(&bytes);
        assert_eq!(r.encoding, RosterEncoding::ShiftJis);
        assert_eq!(r.accounts[0].name.as_ref().unwrap().as_str(), "京大 花子");
    }

    #[test]
    fn every_problem_is_reported_with_its_line() {
        let p = problems(
            b"name,email\n\
              ok,a@kyoto-u.ac.jp\n\
              bad,not-an-address\n\
              other,b@example.com\n\
              dup,A@KYOTO-U.AC.JP\n\
              \"multi\nline\",c@kyoto-u.ac.jp\n\
              slash,d/e@kyoto-u.ac.jp\n",
        );
        let lines: Vec<u64> = p.iter().map(|p| p.line.unwrap()).collect();
        assert_eq!(lines, vec![3, 4, 5, 6, 8], "{p:?}");
        assert!(p[1].message.contains("not in the provider's mail domains"));
        assert!(p[2].message.contains("first on line 2"));
        assert!(p[3].message.contains("control character"));
        assert!(p[4].message.contains("safe set"));
    }

    #[test]
    fn line_numbers_hold_in_crlf_cr_and_mixed_files() {
        // Found by the fuzzer: csv's own numbers drifted after CRLF line ends.
        for eol in ["\n", "\r\n", "\r"] {
            let text = format!(
                "name,email{eol}ok,a@kyoto-u.ac.jp{eol}{eol}\"two{eol}lines\",bad{eol}x,b@kyoto-u.ac.jp{eol}y,bad2{eol}"
            );
            let p = problems(text.as_bytes());
            let lines: Vec<u64> = p.iter().map(|p| p.line.unwrap()).collect();
            assert_eq!(lines, vec![4, 7], "{eol:?}: {p:?}");
        }
        let mixed = b"name,email\nok,a@kyoto-u.ac.jp\r\nx\"y,bad\r\nz,bad2\n\r\nw,bad3\r";
        let lines: Vec<u64> = problems(mixed).iter().map(|p| p.line.unwrap()).collect();
        assert_eq!(lines, vec![3, 4, 6]);
        let r = ok(b"\r\n\r\nemail\r\na@kyoto-u.ac.jp\r\n\r\nb@kyoto-u.ac.jp\r\n");
        assert_eq!(r.lines, vec![4, 6]);
    }

    #[test]
    fn refuses_lines_with_too_many_cells() {
        // Found by the fault tests: a 10 MB header of "x," took over a gigabyte.
        let commas = ",".repeat(MAX_COLUMNS - 1);
        let text = format!("{commas}email\r\n{commas}a@kyoto-u.ac.jp\r\n");
        assert_eq!(ok(text.as_bytes()).accounts.len(), 1);
        let p = problems(format!(",{text}").as_bytes());
        assert_eq!((p.len(), p[0].line), (1, Some(1)), "{p:?}");
        assert!(p[0].message.contains("more than 16384 cells"), "{p:?}");
        let wide_row = format!(
            "email\r\n\r\na@kyoto-u.ac.jp{}\r\n",
            ",".repeat(MAX_COLUMNS)
        );
        assert_eq!(problems(wide_row.as_bytes())[0].line, Some(3));
        // A quoted header name holding commas still counts toward the limit of its line only.
        let tall = format!("email\r{}", "a@kyoto-u.ac.jp,\r".repeat(2 * MAX_COLUMNS));
        assert!(
            problems(tall.as_bytes())[0]
                .message
                .contains("listed twice")
        );
    }

    #[test]
    fn refuses_password_columns_and_empty_rosters() {
        let p = problems(b"email,Password\na@kyoto-u.ac.jp,x\n");
        assert_eq!(p[0].line, Some(1));
        assert!(p[0].message.contains("password"));
        assert!(problems(b"").last().unwrap().message.contains("empty"));
        assert!(
            problems(b"email\n")
                .last()
                .unwrap()
                .message
                .contains("no valid person")
        );
        assert!(
            problems(b"foo,bar\n1,2\n")[0]
                .message
                .contains("no address column")
        );
    }

    #[test]
    fn skip_invalid_keeps_the_good_rows() {
        let r = parse(
            b"email\na@kyoto-u.ac.jp\nbad\nb@kyoto-u.ac.jp\n",
            Path::new("t.csv"),
            &Provider::kumail(),
            ReadOptions {
                skip_invalid: true,
                ..Default::default()
            },
        )
        .unwrap();
        assert_eq!(r.accounts.len(), 2);
        assert_eq!(r.skipped.len(), 1);
        assert_eq!(r.skipped[0].line, Some(3));
    }
}
