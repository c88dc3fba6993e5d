//! Classic Outlook for Windows: the profile file (`ADDRESS.prf`) and the two files that make
//! Outlook import it, `ADDRESS.reg` (the `ImportPRF` registry value) and `ADDRESS-outlook.cmd`
//! (`outlook.exe /importprf` on the PRF beside it).
//!
//! Rules (see `docs/formats.md`, "Outlook"): CRLF line ends; in the PRF every account key has
//! its mapping line (2010+ generation, with `SMTPSecureConnection`); never a password key. The
//! PRF is UTF-16LE with BOM or CP932 ([`PrfEncoding`]; which one Outlook reads is not
//! documented), the `.reg` UTF-16LE with BOM, the `.cmd` CP932 (what `cmd.exe` reads on Japanese
//! Windows; only ASCII addresses are inserted).
//!
//! What a syntax cannot carry is refused by [`check`] before rendering: a name the chosen
//! encoding lacks, or one with `%…%`, which Outlook may expand as an environment variable.
//! Rendering runs the same check, so a file is never written with a substituted character.

use std::fmt;

use askama::Template;
use encoding_rs::SHIFT_JIS;

use super::{Context, RenderError, SizeHint, render_template};
use crate::input::account::{Account, Address, for_message};
use crate::input::provider::{AuthMethod, Protocol, Provider, Security, Server, WindowsDir};

/// Which encoding a PRF file is written in.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, clap::ValueEnum)]
pub enum PrfEncoding {
    /// UTF-16LE with a byte-order mark: every character, whatever the Windows locale.
    #[default]
    Utf16le,
    /// CP932 (Windows-31J), the ANSI code page of Japanese Windows.
    Cp932,
}

impl PrfEncoding {
    pub fn name(self) -> &'static str {
        match self {
            PrfEncoding::Utf16le => "UTF-16LE",
            PrfEncoding::Cp932 => "CP932",
        }
    }
}

impl fmt::Display for PrfEncoding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Why an Outlook file cannot be made for an account or a provider.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OutlookError {
    #[error(
        "{address}: {what} \"{shown}\" has '{shown_ch}' (U+{code:04X}), which a {encoding} file \
         cannot hold without turning it into another character; change that character, or \
         write the PRF in UTF-16LE (--prf-encoding utf16le)",
        code = *ch as u32,
        shown = for_message(text),
        shown_ch = for_message(&ch.to_string())
    )]
    Unencodable {
        address: Address,
        what: &'static str,
        text: String,
        ch: char,
        encoding: PrfEncoding,
    },
    #[error(
        "{address}: {what} \"{shown}\" has text between two '%' signs, which Outlook may \
         replace with an environment variable's value; remove a '%' sign",
        shown = for_message(text)
    )]
    Percent {
        address: Address,
        what: &'static str,
        text: String,
    },
    #[error(
        "the provider's {role} server uses STARTTLS, which an Outlook PRF cannot say for \
         incoming mail (only SSL on or off); use security = \"tls\" or \"plain\" in the provider"
    )]
    IncomingStarttls { role: &'static str },
    #[error(
        "the provider's {role} server does not accept passwords (auth lists no \"password\"), \
         and accounts from an Outlook PRF sign in with a password"
    )]
    NoPassword { role: &'static str },
}

impl OutlookError {
    /// The account the error is about; `None` when it is about the provider.
    pub fn address(&self) -> Option<&Address> {
        match self {
            OutlookError::Unencodable { address, .. } | OutlookError::Percent { address, .. } => {
                Some(address)
            }
            OutlookError::IncomingStarttls { .. } | OutlookError::NoPassword { .. } => None,
        }
    }
}

/// The PRF's file name for `account`.
pub fn prf_file_name(account: &Account) -> String {
    format!("{}.prf", account.address)
}

/// The `.reg` file's name for `account`.
pub fn reg_file_name(account: &Account) -> String {
    format!("{}.reg", account.address)
}

/// The launcher's file name for `account`.
pub fn cmd_file_name(account: &Account) -> String {
    format!("{}-outlook.cmd", account.address)
}

/// The Outlook profile the account is added to: the provider's `[outlook] profile_name`, or
/// its short name.
pub fn profile_name(provider: &Provider) -> &str {
    provider
        .outlook
        .profile_name
        .as_ref()
        .unwrap_or(&provider.names.short)
        .as_str()
}

/// The folder where the `.reg` file tells Outlook to find the PRF: `--prf-dir`, else the
/// provider's `[outlook] prf_dir`.
pub fn import_dir<'a>(ctx: &'a Context<'_>) -> &'a WindowsDir {
    ctx.prf_dir
        .as_ref()
        .unwrap_or(&ctx.provider.outlook.prf_dir)
}

/// The absolute Windows path the `.reg` file gives Outlook for `account`'s PRF.
pub fn import_path(ctx: &Context<'_>, account: &Account) -> String {
    import_dir(ctx).join(&prf_file_name(account))
}

/// Checks that the PRF can carry `account` with these choices and this provider.
///
/// Rendering the PRF fails exactly when this does; call it first to report every problem
/// before writing anything.
pub fn check(ctx: &Context<'_>, account: &Account) -> Result<(), OutlookError> {
    check_provider(ctx.provider, ctx.protocol)?;
    let values = [
        ("the name", account.display_name()),
        (
            "the provider's Outlook profile name",
            profile_name(ctx.provider),
        ),
    ];
    for (what, text) in values {
        if has_percent_pair(text) {
            return Err(OutlookError::Percent {
                address: account.address.clone(),
                what,
                text: text.to_string(),
            });
        }
        if let Some(ch) = unencodable(text, ctx.prf_encoding) {
            return Err(OutlookError::Unencodable {
                address: account.address.clone(),
                what,
                text: text.to_string(),
                ch,
                encoding: ctx.prf_encoding,
            });
        }
    }
    Ok(())
}

/// Checks what the PRF needs of the provider's servers.
pub fn check_provider(provider: &Provider, protocol: Protocol) -> Result<(), OutlookError> {
    let incoming = provider.incoming(protocol);
    let role = protocol.as_str();
    if incoming.security == Security::Starttls {
        return Err(OutlookError::IncomingStarttls { role });
    }
    for (role, server) in [(role, incoming), ("smtp", &provider.smtp)] {
        if !server.auth.contains(AuthMethod::Password) {
            return Err(OutlookError::NoPassword { role });
        }
    }
    Ok(())
}

/// True when `text` has two `%` signs with something between them (`%NAME%`); a lone `%`, or
/// `%%`, names no variable.
fn has_percent_pair(text: &str) -> bool {
    let pieces: Vec<&str> = text.split('%').collect();
    pieces.len() > 2 && pieces[1..pieces.len() - 1].iter().any(|p| !p.is_empty())
}

/// The first character of `text` that `encoding` cannot carry unchanged, if any.
///
/// For CP932 a character must encode without error and decode back to itself: this catches
/// characters CP932 lacks (emoji, U+301C WAVE DASH, U+2014 EM DASH) and look-alike
/// substitutions (U+00A5 YEN SIGN to `\`, U+2212 MINUS SIGN to U+FF0D).
pub fn unencodable(text: &str, encoding: PrfEncoding) -> Option<char> {
    match encoding {
        PrfEncoding::Utf16le => None,
        // ASCII is ASCII in CP932 (WHATWG's Shift_JIS): only the rest needs the round trip.
        PrfEncoding::Cp932 => text.chars().filter(|c| !c.is_ascii()).find(|&c| {
            let mut buf = [0u8; 4];
            let one = c.encode_utf8(&mut buf);
            let (bytes, _, had_errors) = SHIFT_JIS.encode(one);
            if had_errors {
                return true;
            }
            let (back, malformed) = SHIFT_JIS.decode_without_bom_handling(&bytes);
            malformed || back != *one
        }),
    }
}

/// Converts LF line ends to CRLF (the templates are written with LF), into a string of the
/// exact size.
pub fn crlf(text: &str) -> String {
    debug_assert!(!text.contains('\r'), "templates are written with LF");
    let ends = memchr::memchr_iter(b'\n', text.as_bytes());
    let mut out = String::with_capacity(text.len() + ends.count());
    let mut last = 0;
    for end in memchr::memchr_iter(b'\n', text.as_bytes()) {
        out.push_str(&text[last..end]);
        out.push_str("\r\n");
        last = end + 1;
    }
    out.push_str(&text[last..]);
    out
}

/// UTF-16LE with a byte-order mark. Runs of ASCII (most of a PRF or .reg file) are widened eight
/// bytes at a time (why: `bench/PROFILE.md`, "Measured choices in the code").
pub fn utf16le_with_bom(text: &str) -> Vec<u8> {
    const HIGH_BITS: u64 = 0x8080_8080_8080_8080;
    // Four bytes to four little-endian units: 0xDDCCBBAA -> 0x00DD00CC00BB00AA.
    let widen = |v: u64| {
        let v = (v | (v << 16)) & 0x0000_FFFF_0000_FFFF;
        (v | (v << 8)) & 0x00FF_00FF_00FF_00FF
    };
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(2 + bytes.len() * 2);
    out.extend_from_slice(&[0xFF, 0xFE]);
    let mut i = 0;
    while i < bytes.len() {
        if let Some(chunk) = bytes.get(i..i + 8) {
            let word = u64::from_le_bytes(chunk.try_into().expect("eight bytes"));
            if word & HIGH_BITS == 0 {
                out.extend_from_slice(&widen(word & 0xFFFF_FFFF).to_le_bytes());
                out.extend_from_slice(&widen(word >> 32).to_le_bytes());
                i += 8;
                continue;
            }
        }
        // `i` is always on a character boundary: it only moves by whole ASCII bytes or characters.
        let c = text[i..].chars().next().expect("a character at a boundary");
        let mut units = [0u16; 2];
        for unit in c.encode_utf16(&mut units) {
            out.extend_from_slice(&unit.to_le_bytes());
        }
        i += c.len_utf8();
    }
    out
}

/// Encodes `text` in `encoding`; `Err` with the first character it cannot carry.
pub fn encode(text: &str, encoding: PrfEncoding) -> Result<Vec<u8>, char> {
    match encoding {
        PrfEncoding::Utf16le => Ok(utf16le_with_bom(text)),
        PrfEncoding::Cp932 => {
            if let Some(c) = unencodable(text, encoding) {
                return Err(c);
            }
            let (bytes, _, had_errors) = SHIFT_JIS.encode(text);
            debug_assert!(!had_errors, "every character was checked");
            Ok(bytes.into_owned())
        }
    }
}

#[derive(Template)]
#[template(path = "outlook/profile.prf")]
struct PrfFile<'a> {
    address: &'a str,
    reg_file: String,
    cmd_file: String,
    account_kind: &'static str,
    profile_name: &'a str,
    mapping_section: &'static str,
    display_name: &'a str,
    imap: bool,
    incoming_host: &'a str,
    incoming_port: u16,
    incoming_ssl: u8,
    leave_on_server: String,
    smtp_host: &'a str,
    smtp_port: u16,
    smtp_secure_connection: u8,
}

/// The mapping section a protocol's account is declared against in `[Internet Account List]`.
pub fn mapping_section(protocol: Protocol) -> &'static str {
    match protocol {
        Protocol::Pop3 => "I_Mail",
        Protocol::Imap => "IMAP_I_Mail",
    }
}

/// `SMTPSecureConnection` (PROP_SMTP_SECURE_CONNECTION): 0 none, 1 SSL, 2 TLS (STARTTLS).
pub fn smtp_secure_connection(security: Security) -> u8 {
    match security {
        Security::Plain => 0,
        Security::Tls => 1,
        Security::Starttls => 2,
    }
}

/// `POP3UseSSL` / `IMAPUseSSL` (PROP_INET_SSL): implicit TLS on or off.
fn incoming_ssl(server: &Server) -> u8 {
    u8::from(server.security == Security::Tls)
}

/// `LeaveOnServer` (PROP_POP_LEAVE_ON_SERVER): 0x1 leave a copy, 0x2 remove after N days, with
/// N in the high 16 bits.
pub fn leave_on_server(provider: &Provider) -> u32 {
    let pop = &provider.pop;
    if !pop.leave_on_server {
        return 0;
    }
    match pop.days_on_server {
        Some(days) => 0x1 | 0x2 | (u32::from(days.get()) << 16),
        None => 0x1,
    }
}

/// `ADDRESS.prf`: the account, for `ctx.protocol`, in `ctx.prf_encoding`, CRLF.
pub fn render_prf(ctx: &Context<'_>, account: &Account) -> Result<Vec<u8>, RenderError> {
    check(ctx, account)?;
    let provider = ctx.provider;
    let incoming = provider.incoming(ctx.protocol);
    let template = PrfFile {
        address: account.address.as_str(),
        reg_file: reg_file_name(account),
        cmd_file: cmd_file_name(account),
        account_kind: match ctx.protocol {
            Protocol::Pop3 => "POP3",
            Protocol::Imap => "IMAP",
        },
        profile_name: profile_name(provider),
        mapping_section: mapping_section(ctx.protocol),
        display_name: account.display_name(),
        imap: ctx.protocol == Protocol::Imap,
        incoming_host: incoming.host.as_str(),
        incoming_port: incoming.port.get(),
        incoming_ssl: incoming_ssl(incoming),
        leave_on_server: format!("0x{:08X}", leave_on_server(provider)),
        smtp_host: provider.smtp.host.as_str(),
        smtp_port: provider.smtp.port.get(),
        smtp_secure_connection: smtp_secure_connection(provider.smtp.security),
    };
    static SIZE: SizeHint = SizeHint::new();
    let text = render_text(&template, "the Outlook profile file (.prf)", &SIZE)?;
    encode(&crlf(&text), ctx.prf_encoding).map_err(|ch| {
        // `check` passed on every value that is not ASCII, so this is the template's own text.
        RenderError::Outlook(OutlookError::Unencodable {
            address: account.address.clone(),
            what: "the PRF template",
            text: "templates/outlook/profile.prf".to_string(),
            ch,
            encoding: ctx.prf_encoding,
        })
    })
}

#[derive(Template)]
#[template(path = "outlook/import.reg")]
struct RegFile<'a> {
    address: &'a str,
    prf_file: String,
    import_path: String,
}

/// `ADDRESS.reg`: sets `ImportPRF` to the PRF's path and deletes the first-run markers.
/// UTF-16LE with BOM, CRLF, as regedit writes it.
pub fn render_reg(ctx: &Context<'_>, account: &Account) -> Result<Vec<u8>, RenderError> {
    let template = RegFile {
        address: account.address.as_str(),
        prf_file: prf_file_name(account),
        import_path: import_path(ctx, account),
    };
    static SIZE: SizeHint = SizeHint::new();
    let text = render_text(&template, "the Outlook registry file (.reg)", &SIZE)?;
    Ok(utf16le_with_bom(&crlf(&text)))
}

#[derive(Template)]
#[template(path = "outlook/import.cmd")]
struct CmdFile<'a> {
    address: &'a str,
    prf_file: String,
}

/// `ADDRESS-outlook.cmd`: starts Outlook with `/importprf` on the PRF beside it, or says in
/// Japanese and English why it cannot (opened inside a zip, PRF missing, Outlook running or not
/// classic). CRLF, in CP932: `cmd.exe` reads a batch file in the console's code page, 932 on
/// Japanese Windows. The file shows its Japanese lines only on code page 932 (elsewhere they are
/// jumped over, never parsed); only addresses, which are ASCII, are inserted.
pub fn render_cmd(_ctx: &Context<'_>, account: &Account) -> Result<Vec<u8>, RenderError> {
    let template = CmdFile {
        address: account.address.as_str(),
        prf_file: prf_file_name(account),
    };
    static SIZE: SizeHint = SizeHint::new();
    let text = render_text(&template, "the Outlook launcher (.cmd)", &SIZE)?;
    // Only the template's own text is not ASCII, and a test checks that it comes back from CP932
    // unchanged: one encoding pass, without the per-character check names need.
    let text = crlf(&text);
    let (bytes, _, had_errors) = SHIFT_JIS.encode(&text);
    if had_errors {
        let ch = unencodable(&text, PrfEncoding::Cp932).unwrap_or('\u{FFFD}');
        return Err(RenderError::Outlook(OutlookError::Unencodable {
            address: account.address.clone(),
            what: "the launcher template",
            text: "templates/outlook/import.cmd".to_string(),
            ch,
            encoding: PrfEncoding::Cp932,
        }));
    }
    Ok(bytes.into_owned())
}

fn render_text(
    template: &impl Template,
    what: &'static str,
    size: &SizeHint,
) -> Result<String, RenderError> {
    let bytes = render_template(template, what, size)?;
    Ok(String::from_utf8(bytes).expect("askama renders UTF-8"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crlf_ends_every_line_with_cr_lf() {
        for text in ["", "\n", "a", "a\n", "\n\na", "[x]\nk=v\n\n山田\nend"] {
            let out = crlf(text);
            assert_eq!(out, text.replace('\n', "\r\n"), "{text:?}");
            assert_eq!(out.capacity(), out.len(), "{text:?}");
        }
    }

    #[test]
    fn utf16_matches_the_standard_library() {
        let pieces = [
            "a",
            "ascii text ",
            "山田",
            "😀",
            "é",
            "\r\n",
            "\0",
            "~\x7f",
            "ｶ",
        ];
        // Every mix of pieces up to four long, so non-ASCII lands at every offset of a chunk.
        let mut texts = vec![String::new()];
        for _ in 0..4 {
            let longer: Vec<String> = texts
                .iter()
                .flat_map(|t| pieces.iter().map(move |p| format!("{t}{p}")))
                .collect();
            texts.extend(longer);
        }
        for text in texts {
            let expected: Vec<u8> = [0xFF, 0xFE]
                .into_iter()
                .chain(text.encode_utf16().flat_map(u16::to_le_bytes))
                .collect();
            assert_eq!(utf16le_with_bom(&text), expected, "{text:?}");
        }
    }

    #[test]
    fn cp932_refuses_missing_and_look_alike_characters() {
        for c in ['\u{301C}', '\u{2014}', '\u{A5}', '\u{2212}', '😀', 'é'] {
            assert_eq!(
                unencodable(&format!("山田{c}"), PrfEncoding::Cp932),
                Some(c),
                "U+{:04X}",
                c as u32
            );
        }
        for ok in ["山田 太郎", "髙﨑 ①", "～[]=;\"\\%", "ｶﾀｶﾅ"] {
            assert_eq!(unencodable(ok, PrfEncoding::Cp932), None, "{ok}");
        }
        assert_eq!(unencodable("😀〜", PrfEncoding::Utf16le), None);
    }

    /// The launcher's Japanese messages come back from CP932 exactly: no character is missing
    /// or turned into a look-alike (render_cmd relies on it).
    #[test]
    fn the_launcher_template_round_trips_in_cp932() {
        let template = include_str!("../../templates/outlook/import.cmd");
        assert!(!template.is_ascii(), "it has its Japanese messages");
        assert_eq!(unencodable(template, PrfEncoding::Cp932), None);
    }

    #[test]
    fn percent_pairs_are_found() {
        assert!(has_percent_pair("%USERNAME%"));
        assert!(has_percent_pair("a %x% b %"));
        assert!(!has_percent_pair("50%"));
        assert!(!has_percent_pair("%%"));
        assert!(!has_percent_pair("100% sure"));
    }

    #[test]
    fn encodings_write_bom_and_bytes() {
        assert_eq!(
            encode("a\r\n", PrfEncoding::Utf16le).unwrap(),
            [0xFF, 0xFE, b'a', 0, b'\r', 0, b'\n', 0]
        );
        assert_eq!(encode("山", PrfEncoding::Cp932).unwrap(), [0x8E, 0x52]);
        assert_eq!(encode("a〜", PrfEncoding::Cp932), Err('〜'));
    }

    #[test]
    fn leave_on_server_bits() {
        let mut p = Provider::kumail();
        assert_eq!(leave_on_server(&p), 0x1);
        p.pop.days_on_server = Some(crate::input::provider::Days::try_from(14).unwrap());
        assert_eq!(leave_on_server(&p), 0x000E_0003);
        p.pop.leave_on_server = false;
        assert_eq!(leave_on_server(&p), 0);
    }
}
