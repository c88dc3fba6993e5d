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
        let mut last = 0;
        for (i, b) in string.bytes().enumerate() {
            let entity = match b {
                b'&' => "&amp;",
                b'<' => "&lt;",
                b'>' => "&gt;",
                b'"' => "&quot;",
                b'\'' => "&apos;",
                _ => continue,
            };
            dest.write_str(&string[last..i])?;
            dest.write_str(entity)?;
            last = i + 1;
        }
        dest.write_str(&string[last..])
    }
}

/// Escapes `s` for XML text or an attribute value (for code that builds XML outside a template).
pub fn xml(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    askama::filters::Escaper::write_escaped_str(&Xml, &mut out, s).expect("writing to a String");
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn xml_escapes_markup() {
        assert_eq!(
            super::xml("a&b<c>d\"e'f]]>g 山田"),
            "a&amp;b&lt;c&gt;d&quot;e&apos;f]]&gt;g 山田"
        );
    }
}
