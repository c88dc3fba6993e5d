//! Independent readers for the Outlook files: a PRF read as Windows' INI reader would, a
//! `.reg` read as regedit would.

use encoding_rs::SHIFT_JIS;
use mailconf::render::outlook::PrfEncoding;

/// Decodes a UTF-16LE file, requiring its byte-order mark.
pub fn decode_utf16le(bytes: &[u8]) -> String {
    assert_eq!(&bytes[..2], &[0xFF, 0xFE], "UTF-16LE byte-order mark");
    assert_eq!(bytes.len() % 2, 0, "whole UTF-16 code units");
    let units: Vec<u16> = bytes[2..]
        .chunks_exact(2)
        .map(|c| u16::from_le_bytes([c[0], c[1]]))
        .collect();
    String::from_utf16(&units).expect("valid UTF-16")
}

pub fn decode_cp932(bytes: &[u8]) -> String {
    assert_ne!(&bytes[..2], &[0xFF, 0xFE], "no UTF-16 BOM in a CP932 file");
    assert_ne!(
        &bytes[..3],
        &[0xEF, 0xBB, 0xBF],
        "no UTF-8 BOM in a CP932 file"
    );
    let (text, malformed) = SHIFT_JIS.decode_without_bom_handling(bytes);
    assert!(!malformed, "valid CP932");
    text.into_owned()
}

pub fn decode_prf(bytes: &[u8], encoding: PrfEncoding) -> String {
    match encoding {
        PrfEncoding::Utf16le => decode_utf16le(bytes),
        PrfEncoding::Cp932 => decode_cp932(bytes),
    }
}

/// Every line ends with CRLF, the last one included, and no CR or LF stands alone.
pub fn assert_crlf(text: &str) {
    assert!(text.ends_with("\r\n"), "ends with CRLF");
    let bytes = text.as_bytes();
    for (i, &b) in bytes.iter().enumerate() {
        match b {
            b'\n' => assert!(i > 0 && bytes[i - 1] == b'\r', "bare LF at byte {i}"),
            b'\r' => assert_eq!(bytes.get(i + 1), Some(&b'\n'), "bare CR at byte {i}"),
            _ => {}
        }
    }
}

pub type Section = Vec<(String, String)>;

/// An INI reader following `GetPrivateProfileString`: `;` lines are comments, `[name]` starts
/// a section, `key=value` splits at the first `=`, both sides are trimmed, and one pair of
/// matching quotes around a value is stripped. Any other line fails the test.
pub fn parse_ini(text: &str) -> Vec<(String, Section)> {
    let mut sections: Vec<(String, Section)> = Vec::new();
    for line in text.split("\r\n") {
        let line = line.trim();
        if line.is_empty() || line.starts_with(';') {
            continue;
        }
        if let Some(rest) = line.strip_prefix('[') {
            let name = rest.split(']').next().unwrap();
            assert!(rest.ends_with(']'), "section line {line:?}");
            sections.push((name.to_string(), Vec::new()));
            continue;
        }
        let (key, value) = line
            .split_once('=')
            .unwrap_or_else(|| panic!("line {line:?}"));
        let value = value.trim();
        let value = match value.chars().next() {
            Some(q @ ('"' | '\'')) if value.len() > 1 && value.ends_with(q) => {
                &value[1..value.len() - 1]
            }
            _ => value,
        };
        sections
            .last_mut()
            .unwrap_or_else(|| panic!("key before any section: {line:?}"))
            .1
            .push((key.trim().to_string(), value.to_string()));
    }
    sections
}

pub fn section<'a>(ini: &'a [(String, Section)], name: &str) -> &'a Section {
    let found: Vec<_> = ini.iter().filter(|(n, _)| n == name).collect();
    assert_eq!(found.len(), 1, "one [{name}] section");
    &found[0].1
}

pub fn get<'a>(section: &'a Section, key: &str) -> &'a str {
    let found: Vec<_> = section.iter().filter(|(k, _)| k == key).collect();
    assert_eq!(found.len(), 1, "one {key}= in the section");
    &found[0].1
}

pub fn keys(section: &Section) -> Vec<&str> {
    section.iter().map(|(k, _)| k.as_str()).collect()
}

pub fn parse_prf(bytes: &[u8], encoding: PrfEncoding) -> Vec<(String, Section)> {
    let text = decode_prf(bytes, encoding);
    assert_crlf(&text);
    parse_ini(&text)
}

/// A `.reg` file read as regedit does: header, blank line, `[key]` lines, `"name"="string"`
/// (with `\\` and `\"` escapes) or `"name"=-` (delete). Comments (`;`) are skipped.
#[derive(Debug, PartialEq)]
pub enum RegValue {
    String(String),
    Delete,
}

pub fn parse_reg(bytes: &[u8]) -> Vec<(String, Vec<(String, RegValue)>)> {
    let text = decode_utf16le(bytes);
    assert_crlf(&text);
    let mut lines = text.split("\r\n");
    assert_eq!(lines.next(), Some("Windows Registry Editor Version 5.00"));
    assert_eq!(lines.next(), Some(""), "a blank line after the header");
    let mut keys: Vec<(String, Vec<(String, RegValue)>)> = Vec::new();
    for line in lines {
        if line.is_empty() || line.starts_with(';') {
            continue;
        }
        if let Some(key) = line.strip_prefix('[') {
            keys.push((key.strip_suffix(']').unwrap().to_string(), Vec::new()));
            continue;
        }
        let (name, rest) = reg_string(line);
        let value = match rest.strip_prefix('=') {
            Some("-") => RegValue::Delete,
            Some(quoted) => {
                let (value, after) = reg_string(quoted);
                assert_eq!(after, "", "nothing after the value in {line:?}");
                RegValue::String(value)
            }
            None => panic!("line {line:?}"),
        };
        keys.last_mut().unwrap().1.push((name, value));
    }
    keys
}

/// Reads one quoted .reg string at the start of `s`; returns it unescaped and what follows.
pub fn reg_string(s: &str) -> (String, &str) {
    let mut chars = s.char_indices();
    assert_eq!(chars.next().map(|(_, c)| c), Some('"'), "string in {s:?}");
    let mut out = String::new();
    while let Some((i, c)) = chars.next() {
        match c {
            '\\' => {
                let (_, next) = chars.next().expect("escape at the end");
                assert!(matches!(next, '\\' | '"'), "unknown escape \\{next}");
                out.push(next);
            }
            '"' => return (out, &s[i + 1..]),
            c => {
                assert!(!c.is_control(), "control character in a .reg string");
                out.push(c)
            }
        }
    }
    panic!("unterminated string in {s:?}")
}
