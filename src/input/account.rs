//! The two values a roster row contributes, and the rules for what is accepted.
//!
//! A value of these types has passed validation: renderers take them as they are and
//! cannot fail on them. Every output format relies on the guarantees written here.

use std::fmt;

/// Longest accepted display name, in characters.
pub const MAX_NAME_CHARS: usize = 256;

/// A validated, lower-cased mail address in the safe set.
///
/// Local part: ASCII letters, digits, `.`, `_`, `-`, `+`; not starting or ending with `.`,
/// no `..`; at most 64 bytes. Domain: lower-case DNS labels. The address is also a file and
/// folder name in every output, so nothing else is allowed.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Address(String);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AddressError {
    #[error("the address is empty: write the person's address in the cell, or delete the row")]
    Empty,
    #[error("'{0}' is not a mail address (it needs exactly one '@'): correct it")]
    NoAt(String),
    #[error(
        "'{0}' has characters outside the safe set (only letters, digits, '.', '_', '-' and '+' may stand before '@'): correct it"
    )]
    UnsafeLocal(String),
    #[error("'{0}' has a part before '@' that starts or ends with '.', or has '..': correct it")]
    Dots(String),
    #[error("'{0}' is too long (at most 64 characters before '@' and 254 in all): correct it")]
    TooLong(String),
    #[error("'{0}' has an invalid domain after '@': correct it")]
    BadDomain(String),
}

impl Address {
    /// Trims, lower-cases and checks `raw`.
    pub fn parse(raw: &str) -> Result<Address, AddressError> {
        let trimmed = trim(raw);
        if trimmed.is_empty() {
            return Err(AddressError::Empty);
        }
        let lowered = trimmed.to_lowercase();
        // A refused cell is echoed in the message: bounded and with invisible characters shown.
        let shown = || for_message(trimmed);
        let mut parts = lowered.split('@');
        let (Some(local), Some(domain), None) = (parts.next(), parts.next(), parts.next()) else {
            return Err(AddressError::NoAt(shown()));
        };
        if local.is_empty()
            || !local
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-' | b'+'))
        {
            return Err(AddressError::UnsafeLocal(shown()));
        }
        if local.starts_with('.') || local.ends_with('.') || local.contains("..") {
            return Err(AddressError::Dots(shown()));
        }
        if local.len() > 64 || lowered.len() > 254 {
            return Err(AddressError::TooLong(shown()));
        }
        if !is_domain_name(domain) {
            return Err(AddressError::BadDomain(shown()));
        }
        Ok(Address(lowered))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn local_part(&self) -> &str {
        self.0.split_once('@').map_or("", |(local, _)| local)
    }

    pub fn domain(&self) -> &str {
        self.0.split_once('@').map_or("", |(_, domain)| domain)
    }
}

impl fmt::Display for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// True for a lower-case DNS name with at least two labels: labels of 1 to 63 letters, digits
/// and inner hyphens, 253 characters at most, and a last label that is not all digits.
pub fn is_domain_name(name: &str) -> bool {
    if name.is_empty() || name.len() > 253 {
        return false;
    }
    let labels: Vec<&str> = name.split('.').collect();
    labels.len() >= 2
        && labels.iter().all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        })
        && !labels
            .last()
            .is_some_and(|tld| tld.bytes().all(|b| b.is_ascii_digit()))
}

/// A person's display name: trimmed, non-empty, one line, no control characters and no
/// bidirectional overrides or isolates (which can make a guide or a profile show a name other
/// than the one stored).
///
/// Any other Unicode text is data (`&`, `<`, `"`, `]]>`, `=`, `[`, Japanese, emoji…): each
/// output format escapes or encodes it, and refuses only what its syntax cannot carry.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct DisplayName(String);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NameError {
    #[error(
        "the name has a control character ({0}); a name must be one line of text: remove it (a line break in the cell, for example)"
    )]
    Control(String),
    #[error(
        "the name has a bidirectional control character ({0}), which can make it show as another name: remove it"
    )]
    Bidi(String),
    #[error("the name has a character that no output format can carry ({0}): remove it")]
    NonCharacter(String),
    #[error("the name is longer than {MAX_NAME_CHARS} characters: shorten it")]
    TooLong,
}

impl DisplayName {
    /// Trims `raw` (ASCII and full-width spaces); `Ok(None)` when nothing is left.
    pub fn parse(raw: &str) -> Result<Option<DisplayName>, NameError> {
        let trimmed = trim(raw);
        if trimmed.is_empty() {
            return Ok(None);
        }
        if let Some(c) = trimmed.chars().find(|c| c.is_control()) {
            return Err(NameError::Control(format!("U+{:04X}", c as u32)));
        }
        if let Some(c) = trimmed.chars().find(|&c| is_bidi_control(c)) {
            return Err(NameError::Bidi(format!("U+{:04X}", c as u32)));
        }
        // XML 1.0 cannot carry U+FFFE and U+FFFF at all.
        if let Some(c) = trimmed
            .chars()
            .find(|c| matches!(c, '\u{FFFE}' | '\u{FFFF}'))
        {
            return Err(NameError::NonCharacter(format!("U+{:04X}", c as u32)));
        }
        if trimmed.chars().count() > MAX_NAME_CHARS {
            return Err(NameError::TooLong);
        }
        Ok(Some(DisplayName(trimmed.to_string())))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for DisplayName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// One person to configure.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    pub address: Address,
    pub name: Option<DisplayName>,
}

impl Account {
    /// The name to show: the person's name, or the address when the roster had none.
    pub fn display_name(&self) -> &str {
        self.name
            .as_ref()
            .map_or(self.address.as_str(), DisplayName::as_str)
    }
}

/// Longest piece of an input echoed in an error message, in characters.
pub const MAX_SHOWN_CHARS: usize = 80;

/// `text` as it may be echoed in an error message: control, bidirectional and invisible
/// formatting characters written as `\u{…}` (so a cell cannot rewrite the terminal or reorder
/// the message), and cut after [`MAX_SHOWN_CHARS`] characters (so a 10 MB cell gives a one-line
/// message).
pub fn for_message(text: &str) -> String {
    let mut out = String::new();
    for (i, c) in text.chars().enumerate() {
        if i == MAX_SHOWN_CHARS {
            out.push_str(&format!("… ({} characters)", text.chars().count()));
            break;
        }
        if c.is_control() || is_invisible_format(c) {
            out.push_str(&format!("\\u{{{:04X}}}", c as u32));
        } else {
            out.push(c);
        }
    }
    out
}

/// The bidirectional embeddings, overrides and isolates (U+202A–U+202E, U+2066–U+2069): they
/// reorder the text around them, so a name holding one can show as another. Refused in names.
pub fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
}

/// Characters that do not show, or change how the text around them shows: bidirectional
/// controls and marks, zero-width characters, line and paragraph separators, BOM.
pub fn is_invisible_format(c: char) -> bool {
    is_bidi_control(c)
        || matches!(c,
            '\u{061C}' | '\u{200B}'..='\u{200F}' | '\u{2028}'..='\u{2029}'
            | '\u{2060}'..='\u{2065}' | '\u{FEFF}' | '\u{FFF9}'..='\u{FFFB}')
}

/// Trims white space, full-width spaces (U+3000) included.
pub fn trim(raw: &str) -> &str {
    raw.trim_matches(|c: char| c.is_whitespace() || c == '\u{3000}' || c == '\u{FEFF}')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_are_trimmed_and_lowered() {
        let a = Address::parse("  Taro.Yamada@Kyoto-U.ac.jp\u{3000}").unwrap();
        assert_eq!(a.as_str(), "taro.yamada@kyoto-u.ac.jp");
        assert_eq!(a.local_part(), "taro.yamada");
        assert_eq!(a.domain(), "kyoto-u.ac.jp");
    }

    #[test]
    fn unsafe_addresses_are_refused() {
        for bad in [
            "a/b@kyoto-u.ac.jp",
            "a b@kyoto-u.ac.jp",
            "\"x\"@kyoto-u.ac.jp",
            "a<b@kyoto-u.ac.jp",
            "山田@kyoto-u.ac.jp",
            "a%b@kyoto-u.ac.jp",
            "..@kyoto-u.ac.jp",
            ".a@kyoto-u.ac.jp",
            "a.@kyoto-u.ac.jp",
            "a..b@kyoto-u.ac.jp",
            "@kyoto-u.ac.jp",
            "a@b@kyoto-u.ac.jp",
            "a@kyoto_u.ac.jp",
            "a@localhost",
            "a@-x.jp",
            "a@1.2.3.4",
            "plain",
        ] {
            assert!(Address::parse(bad).is_err(), "{bad} was accepted");
        }
        assert!(Address::parse(&format!("{}@kyoto-u.ac.jp", "a".repeat(65))).is_err());
        assert!(Address::parse(&format!("{}@kyoto-u.ac.jp", "a".repeat(64))).is_ok());
    }

    #[test]
    fn refused_addresses_are_echoed_short_and_visible() {
        let long = format!("{}@kyoto-u.ac.jp", "x/".repeat(5_000_000));
        let message = Address::parse(&long).unwrap_err().to_string();
        assert!(message.len() < 300, "{} bytes", message.len());
        assert!(message.contains("(10000014 characters)"), "{message}");
        let message = Address::parse("a\u{1b}[2J\u{202E}b@kyoto-u.ac.jp")
            .unwrap_err()
            .to_string();
        assert!(message.contains(r"a\u{001B}[2J\u{202E}b@"), "{message}");
        assert!(!message.contains('\u{1b}') && !message.contains('\u{202E}'));
    }

    #[test]
    fn names_keep_markup_as_data_and_refuse_controls() {
        let n = DisplayName::parse("\u{3000}山田 & <太郎> \"]]>\" = [x]  ")
            .unwrap()
            .unwrap();
        assert_eq!(n.as_str(), "山田 & <太郎> \"]]>\" = [x]");
        assert_eq!(DisplayName::parse(" \u{3000} ").unwrap(), None);
        assert!(DisplayName::parse("a\nb").is_err());
        assert!(DisplayName::parse("a\u{0}b").is_err());
        assert!(DisplayName::parse("a\u{85}b").is_err());
        assert!(DisplayName::parse("a\u{FFFF}b").is_err());
        assert!(DisplayName::parse(&"x".repeat(MAX_NAME_CHARS + 1)).is_err());
    }

    #[test]
    fn names_refuse_bidirectional_overrides_and_isolates() {
        for c in ('\u{202A}'..='\u{202E}').chain('\u{2066}'..='\u{2069}') {
            let e = DisplayName::parse(&format!("山田{c}太郎")).unwrap_err();
            assert_eq!(e, NameError::Bidi(format!("U+{:04X}", c as u32)));
            assert!(e.to_string().contains("bidirectional"), "{e}");
            assert!(
                !e.to_string().contains(c),
                "the character itself is not echoed"
            );
        }
        // Marks that only nudge neutral characters (LRM, RLM, ALM) stay data, as before.
        for c in ['\u{200E}', '\u{200F}', '\u{061C}'] {
            assert!(DisplayName::parse(&format!("a{c}b")).is_ok(), "{c:?}");
        }
    }
}
