//! Outlook files: the PRF parsed back as Windows' INI reader would, the .reg parsed back as
//! regedit would, the .cmd launcher, hostile names, the CP932 refusal, and the CLI.

use std::io::Read;
use std::path::Path;

use crate::common;
use assert_cmd::Command;

use common::outlook::{RegValue, Section, assert_crlf, get, keys, parse_prf, parse_reg, section};
use mailconf::input::account::{Account, Address, DisplayName};
use mailconf::input::provider::{KUMAIL_TOML, Protocol, Provider, WindowsDir};
use mailconf::render::outlook::PrfEncoding;
use mailconf::render::{Context, Format, RenderError};

const ADDRESS: &str = "taro.yamada@kyoto-u.ac.jp";

fn account(name: Option<&str>) -> Account {
    Account {
        address: Address::parse(ADDRESS).unwrap(),
        name: name.map(|n| DisplayName::parse(n).unwrap().unwrap()),
    }
}

fn provider_with(edit: impl FnOnce(String) -> String) -> Provider {
    Provider::from_toml(&edit(KUMAIL_TOML.to_string()), Path::new("test.toml")).unwrap()
}

fn render(
    provider: &Provider,
    protocol: Protocol,
    encoding: PrfEncoding,
    format: Format,
    account: &Account,
) -> Result<Vec<u8>, RenderError> {
    let mut ctx = Context::new(provider, Some(protocol));
    ctx.prf_encoding = encoding;
    format.render(&ctx, account)
}

// ---------------------------------------------------------------------------------------------
// The PRF.

fn assert_pop_account(ini: &[(String, Section)], display_name: &str) {
    let general = section(ini, "General");
    assert_eq!(get(general, "Custom"), "1");
    assert_eq!(get(general, "ProfileName"), "KUMail");
    assert_eq!(get(general, "DefaultProfile"), "Yes");
    assert_eq!(get(general, "OverwriteProfile"), "Append");
    assert_eq!(get(general, "ModifyDefaultProfileIfPresent"), "TRUE");
    assert_eq!(get(general, "BackupProfile"), "No");
    assert!(section(ini, "Service List").is_empty());
    assert_eq!(
        section(ini, "Internet Account List"),
        &vec![("Account1".to_string(), "I_Mail".to_string())]
    );
    let account = section(ini, "Account1");
    let expect = [
        ("AccountName", ADDRESS),
        ("DisplayName", display_name),
        ("EmailAddress", ADDRESS),
        ("POP3Server", "pop.gmail.com"),
        ("POP3UserName", ADDRESS),
        ("POP3Port", "995"),
        ("POP3UseSSL", "1"),
        ("POP3UseSPA", "0"),
        ("LeaveOnServer", "0x00000001"),
        ("SMTPServer", "smtp.gmail.com"),
        ("SMTPUserName", ADDRESS),
        ("SMTPPort", "587"),
        ("SMTPSecureConnection", "2"),
        ("SMTPUseAuth", "1"),
        ("SMTPAuthMethod", "0"),
        ("SMTPUseSPA", "0"),
    ];
    for (key, value) in expect {
        assert_eq!(get(account, key), value, "{key}");
    }
    assert_eq!(
        account.len(),
        expect.len(),
        "no other keys: {:?}",
        keys(account)
    );
    assert!(!ini.iter().any(|(n, _)| n == "IMAP_I_Mail"));
}

/// Every key of `[Account1]` has a mapping line of the 2010+ generation in the section named
/// by `[Internet Account List]`; no key anywhere is about a password.
fn assert_mapped_and_passwordless(ini: &[(String, Section)]) {
    let kind = get(section(ini, "Internet Account List"), "Account1");
    let mapping = section(ini, kind);
    assert_eq!(get(mapping, "SMTPSecureConnection"), "PT_LONG,0x020A");
    for (key, _) in section(ini, "Account1") {
        let line = get(mapping, key);
        assert!(
            line.starts_with("PT_UNICODE,0x") || line.starts_with("PT_LONG,0x"),
            "{key}={line}"
        );
    }
    for (name, entries) in ini {
        for (key, value) in entries {
            assert!(!key.to_lowercase().contains("pass"), "[{name}] {key}");
            assert!(!key.to_lowercase().contains("pwd"), "[{name}] {key}");
            assert!(
                !value.to_lowercase().contains("pass"),
                "[{name}] {key}={value}"
            );
        }
    }
}

#[test]
fn pop_prf_in_utf16_parses_back_to_the_model() {
    let p = Provider::kumail();
    let bytes = render(
        &p,
        Protocol::Pop3,
        PrfEncoding::Utf16le,
        Format::OutlookPrf,
        &account(Some("山田 太郎")),
    )
    .unwrap();
    let ini = parse_prf(&bytes, PrfEncoding::Utf16le);
    assert_pop_account(&ini, "山田 太郎");
    assert_mapped_and_passwordless(&ini);
    assert_eq!(
        get(section(&ini, "I_Mail"), "LeaveOnServer"),
        "PT_LONG,0x1000"
    );
}

#[test]
fn pop_prf_in_cp932_parses_back_to_the_model() {
    let p = Provider::kumail();
    let name = "髙﨑 ①～";
    let bytes = render(
        &p,
        Protocol::Pop3,
        PrfEncoding::Cp932,
        Format::OutlookPrf,
        &account(Some(name)),
    )
    .unwrap();
    assert!(!bytes.contains(&0), "CP932 text has no NUL bytes");
    let ini = parse_prf(&bytes, PrfEncoding::Cp932);
    assert_pop_account(&ini, name);
    assert_mapped_and_passwordless(&ini);
}

#[test]
fn imap_prf_uses_the_imap_section_and_keys() {
    let p = Provider::kumail();
    for encoding in [PrfEncoding::Utf16le, PrfEncoding::Cp932] {
        let bytes = render(
            &p,
            Protocol::Imap,
            encoding,
            Format::OutlookPrf,
            &account(None),
        )
        .unwrap();
        let ini = parse_prf(&bytes, encoding);
        assert_eq!(
            get(section(&ini, "Internet Account List"), "Account1"),
            "IMAP_I_Mail"
        );
        assert!(!ini.iter().any(|(n, _)| n == "I_Mail"));
        let a = section(&ini, "Account1");
        assert_eq!(
            get(a, "DisplayName"),
            ADDRESS,
            "the address stands in for no name"
        );
        assert_eq!(get(a, "IMAPServer"), "imap.gmail.com");
        assert_eq!(get(a, "IMAPUserName"), ADDRESS);
        assert_eq!(get(a, "IMAPPort"), "993");
        assert_eq!(get(a, "IMAPUseSSL"), "1");
        assert_eq!(get(a, "SMTPSecureConnection"), "2");
        assert!(
            keys(a)
                .iter()
                .all(|k| !k.starts_with("POP3") && *k != "LeaveOnServer")
        );
        assert_mapped_and_passwordless(&ini);
    }
}

#[test]
fn prf_follows_the_provider() {
    let p = provider_with(|t| {
        t.replace("# days_on_server = 14", "days_on_server = 14")
            .replace(
                "port = 587\nsecurity = \"starttls\"",
                "port = 465\nsecurity = \"tls\"",
            )
            .replace("profile_name = \"KUMail\"\n", "")
            .replace("short = \"KUMail\"", "short = \"Lab \\\"mail\\\"\"")
    });
    let bytes = render(
        &p,
        Protocol::Pop3,
        PrfEncoding::Utf16le,
        Format::OutlookPrf,
        &account(None),
    )
    .unwrap();
    let ini = parse_prf(&bytes, PrfEncoding::Utf16le);
    let a = section(&ini, "Account1");
    assert_eq!(get(a, "LeaveOnServer"), "0x000E0003");
    assert_eq!(get(a, "SMTPPort"), "465");
    assert_eq!(get(a, "SMTPSecureConnection"), "1");
    assert_eq!(
        get(section(&ini, "General"), "ProfileName"),
        "Lab \"mail\"",
        "names.short when profile_name is left out"
    );

    let no_leave =
        provider_with(|t| t.replace("leave_on_server = true", "leave_on_server = false"));
    let bytes = render(
        &no_leave,
        Protocol::Pop3,
        PrfEncoding::Utf16le,
        Format::OutlookPrf,
        &account(None),
    )
    .unwrap();
    let ini = parse_prf(&bytes, PrfEncoding::Utf16le);
    assert_eq!(
        get(section(&ini, "Account1"), "LeaveOnServer"),
        "0x00000000"
    );
}

#[test]
fn providers_the_prf_cannot_express_are_refused() {
    let starttls_pop = provider_with(|t| {
        t.replacen(
            "port = 995\nsecurity = \"tls\"",
            "port = 995\nsecurity = \"starttls\"",
            1,
        )
    });
    let e = render(
        &starttls_pop,
        Protocol::Pop3,
        PrfEncoding::Utf16le,
        Format::OutlookPrf,
        &account(None),
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("pop3") && e.contains("STARTTLS"), "{e}");
    // The IMAP account is still fine with that provider.
    assert!(
        render(
            &starttls_pop,
            Protocol::Imap,
            PrfEncoding::Utf16le,
            Format::OutlookPrf,
            &account(None),
        )
        .is_ok()
    );
    let oauth_only = provider_with(|t| {
        t.replace(
            "port = 587\nsecurity = \"starttls\"\nauth = [\"oauth2\", \"password\"]",
            "port = 587\nsecurity = \"starttls\"\nauth = [\"oauth2\"]",
        )
    });
    let e = render(
        &oauth_only,
        Protocol::Pop3,
        PrfEncoding::Utf16le,
        Format::OutlookPrf,
        &account(None),
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("smtp") && e.contains("password"), "{e}");
}

const HOSTILE: &[&str] = &[
    "[Account2]",
    "x]\r",
    "]]>",
    "a=b",
    "POP3Server=evil.example",
    "; comment",
    "\"quoted\"",
    "'single'",
    "\"",
    "a\\b\\",
    "\\\"",
    "50% off",
    "山田 [太郎] = ; \" \\ %",
    "Account1=IMAP_I_Mail",
    "=",
];

#[test]
fn hostile_names_cannot_add_or_change_a_key() {
    let p = Provider::kumail();
    let plain = account(Some("Plain Name"));
    for encoding in [PrfEncoding::Utf16le, PrfEncoding::Cp932] {
        for protocol in [Protocol::Pop3, Protocol::Imap] {
            let base_prf = parse_prf(
                &render(&p, protocol, encoding, Format::OutlookPrf, &plain).unwrap(),
                encoding,
            );
            let base_reg = render(&p, protocol, encoding, Format::OutlookReg, &plain).unwrap();
            let base_cmd = render(&p, protocol, encoding, Format::OutlookCmd, &plain).unwrap();
            for raw in HOSTILE {
                let Ok(Some(name)) = DisplayName::parse(raw) else {
                    continue; // refused at the roster (a control character): nothing to render
                };
                let hostile = Account {
                    address: plain.address.clone(),
                    name: Some(name.clone()),
                };
                let prf = parse_prf(
                    &render(&p, protocol, encoding, Format::OutlookPrf, &hostile).unwrap(),
                    encoding,
                );
                // Same sections, same keys in the same order, same values but the name.
                assert_eq!(prf.len(), base_prf.len(), "{raw:?}");
                for ((name_a, a), (name_b, b)) in prf.iter().zip(&base_prf) {
                    assert_eq!(name_a, name_b, "{raw:?}");
                    assert_eq!(keys(a), keys(b), "{raw:?} in [{name_a}]");
                    for ((key, va), (_, vb)) in a.iter().zip(b) {
                        if name_a == "Account1" && key == "DisplayName" {
                            assert_eq!(va, name.as_str(), "the name reads back unchanged");
                        } else {
                            assert_eq!(va, vb, "{raw:?}: [{name_a}] {key}");
                        }
                    }
                }
                // The .reg and the .cmd do not carry the name at all.
                assert_eq!(
                    render(&p, protocol, encoding, Format::OutlookReg, &hostile).unwrap(),
                    base_reg
                );
                assert_eq!(
                    render(&p, protocol, encoding, Format::OutlookCmd, &hostile).unwrap(),
                    base_cmd
                );
            }
        }
    }
}

#[test]
fn percent_variables_and_unencodable_names_are_refused_before_rendering() {
    let p = Provider::kumail();
    let ctx_for = |encoding| {
        let mut ctx = Context::new(&p, None);
        ctx.prf_encoding = encoding;
        ctx
    };
    let utf16 = ctx_for(PrfEncoding::Utf16le);
    let cp932 = ctx_for(PrfEncoding::Cp932);

    let percent = account(Some("%USERNAME%"));
    let e = utf16.check(&percent).unwrap_err().to_string();
    assert!(
        e.contains(ADDRESS) && e.contains("environment variable"),
        "{e}"
    );
    assert!(Format::OutlookPrf.render(&utf16, &percent).is_err());

    for (name, ch) in [
        ("山田〜太郎", "U+301C"),
        ("Taro 😀", "U+1F600"),
        ("José", "U+00E9"),
    ] {
        let a = account(Some(name));
        assert!(utf16.check(&a).is_ok(), "UTF-16 carries {name}");
        let e = cp932.check(&a).unwrap_err().to_string();
        assert!(
            e.contains(ADDRESS) && e.contains(ch) && e.contains("CP932"),
            "{e}"
        );
        let e = Format::OutlookPrf
            .render(&cp932, &a)
            .unwrap_err()
            .to_string();
        assert!(e.contains(ch), "rendering refuses too: {e}");
        // Files without the name are unaffected.
        assert!(Format::OutlookReg.render(&cp932, &a).is_ok());
    }
}

// ---------------------------------------------------------------------------------------------
// The .reg and the .cmd.

#[test]
fn reg_sets_import_prf_and_deletes_the_first_run_values() {
    let p = Provider::kumail();
    let bytes = render(
        &p,
        Protocol::Pop3,
        PrfEncoding::Utf16le,
        Format::OutlookReg,
        &account(None),
    )
    .unwrap();
    let keys = parse_reg(&bytes);
    assert_eq!(keys.len(), 1);
    let (key, values) = &keys[0];
    assert_eq!(
        key,
        r"HKEY_CURRENT_USER\Software\Microsoft\Office\16.0\Outlook\Setup"
    );
    assert_eq!(
        values,
        &vec![
            (
                "ImportPRF".to_string(),
                RegValue::String(format!(r"C:\Users\Public\Documents\KUMail\{ADDRESS}.prf"))
            ),
            ("First-Run".to_string(), RegValue::Delete),
            ("FirstRun".to_string(), RegValue::Delete),
        ]
    );
}

#[test]
fn reg_path_escapes_round_trip() {
    let p = Provider::kumail();
    for (dir, expect) in [
        (
            r"\\fs01\share\京大 メール\50% [x]",
            r"\\fs01\share\京大 メール\50% [x]",
        ),
        (r"D:\", r"D:"),
        (r"d:\mail\prf\", r"d:\mail\prf"),
        (r"\\server\share", r"\\server\share"),
    ] {
        let mut ctx = Context::new(&p, None);
        ctx.prf_dir = Some(WindowsDir::parse(dir).unwrap());
        let bytes = Format::OutlookReg.render(&ctx, &account(None)).unwrap();
        let keys = parse_reg(&bytes);
        let expected = if expect == "D:" {
            format!(r"D:\{ADDRESS}.prf")
        } else {
            format!(r"{expect}\{ADDRESS}.prf")
        };
        assert_eq!(
            keys[0].1[0],
            ("ImportPRF".to_string(), RegValue::String(expected)),
            "{dir}"
        );
    }
}

#[test]
fn windows_dirs_are_validated() {
    for good in [
        r"C:\Users\Public\Documents\KUMail",
        r"z:\a b\c",
        r"\\server\share\dir",
        r"C:\",
    ] {
        assert!(WindowsDir::parse(good).is_ok(), "{good}");
    }
    for bad in [
        "",
        "relative\\dir",
        r"\rooted\no\drive",
        "C:relative",
        r"C:\a\b:c",
        "C:\\a\"b",
        "C:\\a\nb",
        "C:\\a\tb",
        r"C:\a\..\b",
        r"C:\a\\b",
        r"\\server",
        r"\\server\",
        "C:/Users/x",
        r"C:\a<b",
        r"C:\dir.",
        r"C:\dir ",
        "%USERPROFILE%\\x",
    ] {
        assert!(WindowsDir::parse(bad).is_err(), "{bad:?} was accepted");
    }
}

#[test]
fn bad_prf_dir_in_the_provider_names_its_line() {
    let text = KUMAIL_TOML.replace(
        r#"prf_dir = "C:\\Users\\Public\\Documents\\KUMail""#,
        r#"prf_dir = "Documents\\KUMail""#,
    );
    assert_ne!(text, KUMAIL_TOML);
    let line = text.lines().position(|l| l.starts_with("prf_dir")).unwrap() + 1;
    let e = Provider::from_toml(&text, Path::new("p.toml"))
        .unwrap_err()
        .to_string();
    assert!(e.starts_with(&format!("p.toml:{line}: prf_dir")), "{e}");
    assert!(e.contains("absolute Windows folder"), "{e}");
}

#[test]
fn cmd_starts_outlook_on_the_prf_beside_it() {
    let p = Provider::kumail();
    let bytes = render(
        &p,
        Protocol::Pop3,
        PrfEncoding::Utf16le,
        Format::OutlookCmd,
        &account(Some("山田 太郎")),
    )
    .unwrap();
    let text = cmd_text(&bytes);
    assert_crlf(&text);
    assert!(text.starts_with("@echo off\r\nrem "), "{text}");
    assert!(text.contains(&format!("set \"PRF=%~dp0{ADDRESS}.prf\"\r\n")));
    assert!(text.contains("start \"\" OUTLOOK.EXE /importprf \"%PRF%\"\r\n"));
    assert!(text.contains("setlocal DisableDelayedExpansion"));
    assert!(!text.contains("山田"), "the name never reaches the .cmd");
}

/// The launcher decoded as cmd.exe reads it on Japanese Windows: code page 932.
fn cmd_text(bytes: &[u8]) -> String {
    let (text, _, malformed) = encoding_rs::SHIFT_JIS.decode(bytes);
    assert!(!malformed, "the .cmd is not valid CP932");
    let (back, _, unmappable) = encoding_rs::SHIFT_JIS.encode(&text);
    assert!(!unmappable && back == bytes, "CP932 does not round-trip");
    text.into_owned()
}

/// Every message the launcher can show, in the code page cmd.exe reads it in: Japanese on code
/// page 932 (jumped over, never parsed, on any other), English always. Each situation the guide
/// warns of is detected: opened inside a zip or a temporary folder, the PRF missing, Outlook
/// running, classic Outlook missing.
#[test]
fn cmd_explains_each_problem_in_japanese_and_english() {
    let p = Provider::kumail();
    let bytes = render(
        &p,
        Protocol::Pop3,
        PrfEncoding::Utf16le,
        Format::OutlookCmd,
        &account(None),
    )
    .unwrap();
    let text = cmd_text(&bytes);
    let lines: Vec<&str> = text.lines().collect();
    // Labels and what each shows: `:NAME_ja` blocks hold the Japanese lines and go on to the
    // English block `:NAME_en`.
    let block = |label: &str| -> Vec<String> {
        let start = lines
            .iter()
            .position(|l| *l == format!(":{label}"))
            .unwrap_or_else(|| panic!("no label :{label}"));
        lines[start + 1..]
            .iter()
            .take_while(|l| !l.starts_with("goto "))
            .filter_map(|l| l.strip_prefix("echo "))
            .map(str::to_string)
            .collect()
    };
    for (problem, ja, en) in [
        ("inzip", "すべて展開", "Extract All"),
        (
            "noprf",
            &*format!("{ADDRESS}.prf がありません"),
            "was not found next to this file",
        ),
        ("running", "Outlook を閉じてから", "Close Outlook"),
        (
            "nooutlook",
            "クラシック版 Outlook が見つかりません",
            "Classic Outlook was not found",
        ),
    ] {
        let japanese = block(&format!("{problem}_ja")).join("\n");
        let english = block(&format!("{problem}_en")).join("\n");
        assert!(japanese.contains(ja), "{problem}: {japanese}");
        assert!(english.contains(en), "{problem}: {english}");
        assert!(english.is_ascii(), "{problem}: English lines are ASCII");
        // Each Japanese block goes on to the English one.
        let ja_start = lines
            .iter()
            .position(|l| *l == format!(":{problem}_ja"))
            .unwrap();
        let next_goto = lines[ja_start..]
            .iter()
            .find(|l| l.starts_with("goto "))
            .unwrap();
        assert_eq!(*next_goto, format!("goto {problem}_en"));
        // Reached only on code page 932.
        assert!(text.contains(&format!("if defined JA goto {problem}_ja\r\n")));
    }
    // Non-ASCII text stands only in the Japanese blocks (never in a `rem` or a command that every
    // code page parses), and no message holds a character cmd.exe would treat as syntax.
    let mut in_japanese = false;
    for line in &lines {
        if line.starts_with(':') {
            in_japanese = line.ends_with("_ja");
        }
        if !line.is_ascii() {
            assert!(in_japanese, "non-ASCII outside a Japanese block: {line}");
        }
        if let Some(message) = line.strip_prefix("echo ") {
            assert!(
                !message.contains(['&', '|', '<', '>', '^', '%']),
                "a message with cmd syntax: {message}"
            );
        }
    }
    // Japanese is switched on from the console's code page.
    assert!(text.contains("for /f \"tokens=2 delims=:\" %%c in ('chcp') do set \"CODEPAGE=%%c\""));
    assert!(text.contains("if \"%CODEPAGE%\"==\"932\" set \"JA=1\""));
    // Inside a zip (Explorer's Temp1_NAME.zip folder) or under %TEMP% without the PRF.
    assert!(text.contains("if /I not \"%HERE:.zip\\=%\"==\"%HERE%\" goto inzip"));
    assert!(text.contains("call set \"REST=%%HERE:*%TEMP%\\=%%\""));
    assert!(text.contains("if exist \"%PRF%\" goto found"));
}

// ---------------------------------------------------------------------------------------------
// The command line.

fn mailconf() -> Command {
    Command::cargo_bin("mailconf").unwrap()
}

#[test]
fn cli_profile_writes_each_outlook_format() {
    let dir = tempfile::tempdir().unwrap();
    for (format, file) in [
        ("outlook-prf", "a.prf"),
        ("outlook-reg", "a.reg"),
        ("outlook-cmd", "a.cmd"),
    ] {
        let out = dir.path().join(file);
        mailconf()
            .args([
                "profile",
                ADDRESS,
                "--name",
                "山田 太郎",
                "--format",
                format,
            ])
            .args(["--prf-dir", r"\\fs\mail", "-o"])
            .arg(&out)
            .assert()
            .success();
        let bytes = std::fs::read(&out).unwrap();
        match format {
            "outlook-prf" => {
                let ini = parse_prf(&bytes, PrfEncoding::Utf16le);
                assert_pop_account(&ini, "山田 太郎");
            }
            "outlook-reg" => {
                let keys = parse_reg(&bytes);
                assert_eq!(
                    keys[0].1[0].1,
                    RegValue::String(format!(r"\\fs\mail\{ADDRESS}.prf"))
                );
            }
            _ => assert!(bytes.starts_with(b"@echo off\r\n")),
        }
    }
    let out = dir.path().join("cp.prf");
    mailconf()
        .args([
            "profile",
            ADDRESS,
            "--name",
            "山田 太郎",
            "--format",
            "outlook-prf",
        ])
        .args(["--prf-encoding", "cp932", "--protocol", "imap", "-o"])
        .arg(&out)
        .assert()
        .success();
    let ini = parse_prf(&std::fs::read(&out).unwrap(), PrfEncoding::Cp932);
    assert_eq!(get(section(&ini, "Account1"), "DisplayName"), "山田 太郎");
    assert_eq!(
        get(section(&ini, "Account1"), "IMAPServer"),
        "imap.gmail.com"
    );
}

#[test]
fn cli_profile_refuses_an_unencodable_name_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    for name in ["山田〜太郎", "Taro 😀"] {
        let out = dir.path().join("out.prf");
        let assert = mailconf()
            .args([
                "profile",
                ADDRESS,
                "--name",
                name,
                "--format",
                "outlook-prf",
            ])
            .args(["--prf-encoding", "cp932", "-o"])
            .arg(&out)
            .assert()
            .code(1);
        let stderr = String::from_utf8(assert.get_output().stderr.clone()).unwrap();
        assert!(
            stderr.contains(ADDRESS) && stderr.contains("CP932"),
            "{stderr}"
        );
        assert!(!out.exists(), "no output file");
        assert!(assert.get_output().stdout.is_empty());
    }
}

#[test]
fn cli_rejects_a_relative_prf_dir() {
    mailconf()
        .args(["profile", ADDRESS, "--format", "outlook-reg"])
        .args(["--prf-dir", "Documents\\KUMail"])
        .assert()
        .code(2)
        .stderr(predicates::str::contains("absolute Windows folder"));
}

fn write_roster(dir: &Path, rows: &str) -> std::path::PathBuf {
    let path = dir.join("dept.csv");
    std::fs::write(&path, format!("email,name\n{rows}")).unwrap();
    path
}

#[test]
fn cli_bundle_holds_the_outlook_files_and_lists_them() {
    let dir = tempfile::tempdir().unwrap();
    let roster = write_roster(
        dir.path(),
        "taro.yamada@kyoto-u.ac.jp,山田 太郎\nhanako@kyoto-u.ac.jp,\"[x] = \"\"y\"\"\"\n",
    );
    let zip_path = dir.path().join("dept.zip");
    mailconf()
        .arg("bundle")
        .arg(&roster)
        .args(["-q", "--prf-encoding", "cp932", "-o"])
        .arg(&zip_path)
        .assert()
        .success();
    let mut zip = zip::ZipArchive::new(std::fs::File::open(&zip_path).unwrap()).unwrap();
    let mut manifest = String::new();
    zip.by_name("dept/manifest.csv")
        .unwrap()
        .read_to_string(&mut manifest)
        .unwrap();
    for address in ["taro.yamada@kyoto-u.ac.jp", "hanako@kyoto-u.ac.jp"] {
        for file in [
            format!("{address}.prf"),
            format!("{address}.reg"),
            format!("{address}-outlook.cmd"),
        ] {
            let path = format!("users/{address}/{file}");
            assert!(
                manifest.contains(&format!(",{path},")),
                "{path} in {manifest}"
            );
            assert!(zip.by_name(&format!("dept/{path}")).is_ok(), "{path}");
        }
    }
    let mut prf = Vec::new();
    zip.by_name("dept/users/hanako@kyoto-u.ac.jp/hanako@kyoto-u.ac.jp.prf")
        .unwrap()
        .read_to_end(&mut prf)
        .unwrap();
    let ini = parse_prf(&prf, PrfEncoding::Cp932);
    assert_eq!(get(section(&ini, "Account1"), "DisplayName"), "[x] = \"y\"");
}

#[test]
fn cli_bundle_refuses_an_unencodable_name_before_writing_the_zip() {
    let dir = tempfile::tempdir().unwrap();
    let roster = write_roster(
        dir.path(),
        "taro.yamada@kyoto-u.ac.jp,山田 太郎\nhanako@kyoto-u.ac.jp,はな〜こ\njiro@kyoto-u.ac.jp,次郎 😀\n",
    );
    let zip_path = dir.path().join("dept.zip");
    let assert = mailconf()
        .arg("bundle")
        .arg(&roster)
        .args(["-q", "--prf-encoding", "cp932", "-o"])
        .arg(&zip_path)
        .assert()
        .code(1);
    let stderr = String::from_utf8(assert.get_output().stderr.clone()).unwrap();
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(lines.len(), 3, "{stderr}");
    // The roster's line 3 and 4 (line 1 is the header).
    assert!(
        lines[0].contains("dept.csv:3: hanako@kyoto-u.ac.jp: the name")
            && lines[0].contains("U+301C"),
        "{stderr}"
    );
    assert!(
        lines[1].contains("dept.csv:4: jiro@kyoto-u.ac.jp: the name")
            && lines[1].contains("U+1F600"),
        "{stderr}"
    );
    assert!(stderr.contains("nothing was written"), "{stderr}");
    assert!(!stderr.contains("taro.yamada"), "{stderr}");
    assert!(!zip_path.exists(), "no zip");
    let leftovers: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .filter(|n| n != "dept.csv")
        .collect();
    assert!(leftovers.is_empty(), "no temporary files: {leftovers:?}");

    // The same roster is fine in UTF-16LE, the default.
    mailconf()
        .arg("bundle")
        .arg(&roster)
        .args(["-q", "-o"])
        .arg(&zip_path)
        .assert()
        .success();
    assert!(zip_path.exists());
}

#[test]
fn without_an_outlook_section_the_defaults_apply() {
    let start = KUMAIL_TOML.find("[outlook]").unwrap();
    let end = start + KUMAIL_TOML[start..].find("\n\n").unwrap();
    let p = provider_with(|t| {
        format!("{}{}", &t[..start], &t[end..]).replace("short = \"KUMail\"", "short = \"KU\"")
    });
    assert!(!p.source().contains("prf_dir"));
    let reg = render(
        &p,
        Protocol::Pop3,
        PrfEncoding::Utf16le,
        Format::OutlookReg,
        &account(None),
    )
    .unwrap();
    assert_eq!(
        parse_reg(&reg)[0].1[0].1,
        RegValue::String(format!(r"C:\Users\Public\Documents\mailconf\{ADDRESS}.prf"))
    );
    let prf = render(
        &p,
        Protocol::Pop3,
        PrfEncoding::Utf16le,
        Format::OutlookPrf,
        &account(None),
    )
    .unwrap();
    let ini = parse_prf(&prf, PrfEncoding::Utf16le);
    assert_eq!(get(section(&ini, "General"), "ProfileName"), "KU");
}

#[test]
fn cli_bundle_reports_a_provider_problem_once() {
    let dir = tempfile::tempdir().unwrap();
    let roster = write_roster(
        dir.path(),
        "taro.yamada@kyoto-u.ac.jp,山田 太郎\nhanako@kyoto-u.ac.jp,花子\n",
    );
    let provider = dir.path().join("p.toml");
    std::fs::write(
        &provider,
        KUMAIL_TOML.replacen(
            "port = 995\nsecurity = \"tls\"",
            "port = 995\nsecurity = \"starttls\"",
            1,
        ),
    )
    .unwrap();
    let zip_path = dir.path().join("dept.zip");
    let assert = mailconf()
        .arg("bundle")
        .arg(&roster)
        .arg("--provider")
        .arg(&provider)
        .args(["-q", "-o"])
        .arg(&zip_path)
        .assert()
        .code(1);
    let stderr = String::from_utf8(assert.get_output().stderr.clone()).unwrap();
    assert_eq!(stderr.matches("STARTTLS").count(), 1, "{stderr}");
    assert!(stderr.contains("1 problem with"), "{stderr}");
    assert!(!zip_path.exists());
}
