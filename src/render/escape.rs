//! Escapers, one per output syntax, plugged into askama by file extension (see `askama.toml`).

use std::fmt::{self, Write};

/// XML 1.0 text and attribute escaping: `&`, `<`, `>`, `"` and `'` become entity references.
///
/// The models never carry characters XML cannot hold (controls other than tab and newline,
/// U+FFFE, U+FFFF): `account` and `provider` refuse them at the edge.
#[derive(Debug, Clone, Copy, Default)]
pub struct Xml;

impl askama::filters::Escaper for Xml {
    fn write_escaped_str<W: Write>(&self, mut dest: W, string: &str) -> fmt::Result {
        let bytes = string.as_bytes();
        let mut last = 0;
        let mut at = 0;
        while let Some(i) = next_xml_special(bytes, at) {
            let entity = match bytes[i] {
                b'&' => "&amp;",
                b'<' => "&lt;",
                b'>' => "&gt;",
                b'"' => "&quot;",
                _ => "&apos;",
            };
            // `i` is an ASCII byte, so both slices end on character boundaries.
            dest.write_str(&string[last..i])?;
            dest.write_str(entity)?;
            last = i + 1;
            at = i + 1;
        }
        dest.write_str(&string[last..])
    }
}

/// Text escaped by [`Xml`] once, to be written as is (`|safe` in a template) where the same text
/// recurs in every file of a run: a provider's consent texts, a few KB in every Apple profile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct XmlText(String);

impl XmlText {
    pub fn new(text: &str) -> XmlText {
        XmlText(xml(text))
    }
}

impl fmt::Display for XmlText {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Text escaped once by askama's HTML escaper, for values every page of a run repeats (the
/// provider's texts in every personal guide: `bench/PROFILE.md`, "Measured choices in the code").
/// It is [`askama::filters::HtmlSafe`]: an HTML template writes it as it is, without `|safe`,
/// and no other type gets that.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HtmlText(String);

impl HtmlText {
    pub fn new(text: &str) -> HtmlText {
        HtmlText(escaped(askama::filters::Html, text))
    }

    /// A label quoted from another program's screen ([`super::labels`]), marked for tests:
    /// `open<span class="ui" data-label="KEY">TEXT</span>close`, key and text escaped; `open` and
    /// `close` are the language's quotation marks (constants).
    pub fn ui_label(key: &str, text: &str, open: &'static str, close: &'static str) -> HtmlText {
        let key = HtmlText::new(key);
        let text = HtmlText::new(text);
        HtmlText(format!(
            "{open}<span class=\"ui\" data-label=\"{key}\">{text}</span>{close}"
        ))
    }
}

impl fmt::Display for HtmlText {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl askama::filters::HtmlSafe for HtmlText {}

/// The first of `& < > " '` in `bytes` at or after `from`. Skips eight bytes at a time where
/// none is present (most text; why: `bench/PROFILE.md`, "Measured choices in the code"), then
/// looks at single bytes.
fn next_xml_special(bytes: &[u8], from: usize) -> Option<usize> {
    const fn splat(b: u8) -> u64 {
        u64::from_ne_bytes([b; 8])
    }
    const LOW: u64 = splat(0x01);
    const HIGH: u64 = splat(0x80);
    // True when some byte of `word` is zero (exact: no false positives or negatives).
    let has_zero = |word: u64| word.wrapping_sub(LOW) & !word & HIGH != 0;
    let is_special = |b: u8| matches!(b, b'&' | b'<' | b'>' | b'"' | b'\'');
    let mut i = from;
    while i + 8 <= bytes.len() {
        let word = u64::from_ne_bytes(bytes[i..i + 8].try_into().expect("eight bytes"));
        if [b'&', b'<', b'>', b'"', b'\'']
            .iter()
            .any(|&c| has_zero(word ^ splat(c)))
        {
            break;
        }
        i += 8;
    }
    bytes[i..]
        .iter()
        .position(|&b| is_special(b))
        .map(|p| i + p)
}

/// Escapes `s` for XML text or an attribute value (for code that builds XML outside a template).
pub fn xml(s: &str) -> String {
    escaped(Xml, s)
}

/// `s` escaped by `escaper`, as a string of its own.
fn escaped(escaper: impl askama::filters::Escaper, s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    escaper
        .write_escaped_str(&mut out, s)
        .expect("writing to a String cannot fail");
    out
}

/// Values of an Outlook PRF file (an INI file: `key=value`, one line each).
///
/// INI has no escape syntax, and needs none for what the models carry: a value cannot hold a
/// line break (`account` and `provider` refuse control characters), so it cannot start a key
/// or a section, and `[`, `]`, `=`, `;`, `\` and `%` are plain text after a key's `=`.
/// What the INI reader (`GetPrivateProfileString`) does change is a value's ends: it trims
/// white space, then strips one pair of matching quotes (`"…"` or `'…'`). Such a value is
/// wrapped in one more pair of `"`, which the reader strips, giving back the value unchanged.
/// Characters the file's encoding lacks, and `%…%` (which Outlook may expand), are refused
/// before rendering (`render::outlook::check`).
#[derive(Debug, Clone, Copy, Default)]
pub struct Prf;

impl askama::filters::Escaper for Prf {
    fn write_escaped_str<W: Write>(&self, mut dest: W, string: &str) -> fmt::Result {
        if prf_needs_quotes(string) {
            dest.write_char('"')?;
            dest.write_str(string)?;
            dest.write_char('"')
        } else {
            dest.write_str(string)
        }
    }
}

/// True when an INI reader would change `value`: white space at an end, or matching quotes
/// around it.
fn prf_needs_quotes(value: &str) -> bool {
    let (Some(first), Some(last)) = (value.chars().next(), value.chars().next_back()) else {
        return false;
    };
    first.is_whitespace()
        || last.is_whitespace()
        || (value.chars().nth(1).is_some() && matches!(first, '"' | '\'') && last == first)
}

/// Escapes `s` as a PRF value (see [`Prf`]).
pub fn prf(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    askama::filters::Escaper::write_escaped_str(&Prf, &mut out, s).expect("writing to a String");
    out
}

/// Text inside a quoted string of a `.reg` file (regedit's format 5.00): `\` and `"` get a
/// backslash. Control characters cannot appear in a quoted value; the models never carry them.
#[derive(Debug, Clone, Copy, Default)]
pub struct Reg;

impl askama::filters::Escaper for Reg {
    fn write_escaped_str<W: Write>(&self, mut dest: W, string: &str) -> fmt::Result {
        let mut last = 0;
        for (i, b) in string.bytes().enumerate() {
            let escaped = match b {
                b'\\' => "\\\\",
                b'"' => "\\\"",
                _ => continue,
            };
            dest.write_str(&string[last..i])?;
            dest.write_str(escaped)?;
            last = i + 1;
        }
        dest.write_str(&string[last..])
    }
}

/// Escapes `s` for a quoted `.reg` string (see [`Reg`]).
pub fn reg(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 8);
    askama::filters::Escaper::write_escaped_str(&Reg, &mut out, s).expect("writing to a String");
    out
}

/// Text inside a double-quoted argument of a batch file (`.cmd`) run without delayed expansion.
///
/// Inside quotes, `& | < > ^ ( )` are plain text; `%` still starts a variable, so it is doubled.
/// A `"` would end the quoting and cannot be escaped, and the file stays ASCII so that no code
/// page matters: the `.cmd` template is only given values of the address safe set (ASCII
/// letters, digits, `. _ - + @`), which `account::Address` guarantees.
#[derive(Debug, Clone, Copy, Default)]
pub struct Cmd;

impl askama::filters::Escaper for Cmd {
    fn write_escaped_str<W: Write>(&self, mut dest: W, string: &str) -> fmt::Result {
        debug_assert!(
            string.bytes().all(|b| b.is_ascii_graphic() && b != b'"'),
            "the .cmd template takes only address-safe text, not {string:?}"
        );
        for (i, part) in string.split('%').enumerate() {
            if i > 0 {
                dest.write_str("%%")?;
            }
            dest.write_str(part)?;
        }
        Ok(())
    }
}

/// A value as a cell of a CSV file that people open in a spreadsheet (`manifest.csv`): a value
/// a spreadsheet would run as a formula (one that starts with `=`, `+`, `-` or `@`, their
/// full-width forms, a tab or a line break) gets a `'` in front, as does a value that starts
/// with `'` itself, so that [`from_spreadsheet`] gives every value back exactly: drop one
/// leading `'`. Quoting for the CSV syntax is the CSV writer's.
pub fn spreadsheet(value: &str) -> std::borrow::Cow<'_, str> {
    let risky = value.starts_with([
        '=', '+', '-', '@', '\t', '\r', '\n', '\'', '\u{FF1D}', '\u{FF0B}', '\u{FF0D}', '\u{FF20}',
    ]);
    if risky {
        format!("'{value}").into()
    } else {
        value.into()
    }
}

/// The value a [`spreadsheet`] cell stands for.
pub fn from_spreadsheet(cell: &str) -> &str {
    cell.strip_prefix('\'').unwrap_or(cell)
}

/// The UTF-8 byte-order mark, with which Excel on Japanese Windows reads a CSV file as UTF-8
/// (without it, as the ANSI code page: every Japanese name garbled).
pub const UTF8_BOM: &[u8] = b"\xEF\xBB\xBF";

#[cfg(test)]
mod tests {
    #[test]
    fn spreadsheet_cells_never_start_a_formula_and_come_back_exactly() {
        for value in [
            "",
            "a",
            "=1+1",
            "+81",
            "-x@kyoto-u.ac.jp",
            "@SUM(A1)",
            "'quoted",
            "''",
            "\tx",
            "＝1",
            "山田 = 太郎",
            "users/a@b/c",
            "a'b",
        ] {
            let cell = super::spreadsheet(value);
            assert!(
                !cell.starts_with(['=', '+', '-', '@', '\t', '＝']),
                "{value:?} -> {cell:?}"
            );
            assert_eq!(super::from_spreadsheet(&cell), value);
        }
        assert_eq!(super::spreadsheet("plain"), "plain");
        assert_eq!(super::spreadsheet("=1"), "'=1");
    }

    #[test]
    fn prf_values_keep_their_text_and_ends() {
        assert_eq!(super::prf("山田 [x]=; \\ %"), "山田 [x]=; \\ %");
        assert_eq!(super::prf("\"quoted\""), "\"\"quoted\"\"");
        assert_eq!(super::prf("'a'"), "\"'a'\"");
        assert_eq!(super::prf("\"a'"), "\"a'");
        assert_eq!(super::prf("\""), "\"");
        assert_eq!(super::prf(" a"), "\" a\"");
        assert_eq!(super::prf(""), "");
    }

    #[test]
    fn reg_escapes_backslash_and_quote() {
        assert_eq!(super::reg(r#"C:\a "b"\山"#), r#"C:\\a \"b\"\\山"#);
    }

    #[test]
    fn cmd_doubles_percent() {
        let mut out = String::new();
        askama::filters::Escaper::write_escaped_str(&super::Cmd, &mut out, "a%b%%c").unwrap();
        assert_eq!(out, "a%%b%%%%c");
    }

    /// The word-at-a-time scan gives what a byte-by-byte escape gives, wherever the specials
    /// fall relative to eight-byte words, next to multi-byte characters.
    #[test]
    fn xml_matches_a_byte_by_byte_escape() {
        fn naive(s: &str) -> String {
            s.chars()
                .map(|c| match c {
                    '&' => "&amp;".to_string(),
                    '<' => "&lt;".to_string(),
                    '>' => "&gt;".to_string(),
                    '"' => "&quot;".to_string(),
                    '\'' => "&apos;".to_string(),
                    c => c.to_string(),
                })
                .collect()
        }
        let pieces = [
            "a",
            "山",
            "&",
            "<",
            ">",
            "\"",
            "'",
            "é",
            "%",
            "(",
            "\u{1F600}",
            "\n",
        ];
        // Strings of up to 40 pieces, drawn by a simple deterministic generator.
        let mut seed = 12345u64;
        for len in 0..=40 {
            for _ in 0..50 {
                let mut s = String::new();
                for _ in 0..len {
                    seed = seed
                        .wrapping_mul(6364136223846793005)
                        .wrapping_add(1442695040888963407);
                    s.push_str(pieces[(seed >> 33) as usize % pieces.len()]);
                }
                assert_eq!(super::xml(&s), naive(&s), "{s:?}");
            }
        }
        // A special at every position of a long plain run.
        for at in 0..24 {
            let mut s = "x".repeat(24);
            s.replace_range(at..=at, "<");
            assert_eq!(super::xml(&s), naive(&s), "{s:?}");
        }
    }

    #[test]
    fn xml_escapes_markup() {
        assert_eq!(
            super::xml("a&b<c>d\"e'f]]>g 山田"),
            "a&amp;b&lt;c&gt;d&quot;e&apos;f]]&gt;g 山田"
        );
    }
}
