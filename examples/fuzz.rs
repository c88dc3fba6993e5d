//! A mutational fuzzer for the roster reader and the renderers that runs on the stable
//! toolchain (cargo-fuzz needs nightly).
//!
//! ```text
//! cargo run --release --example fuzz -- all --seconds 900
//! cargo run --release --example fuzz -- roster --seconds 900 [--seed N]
//! cargo run --release --example fuzz -- render --seconds 900
//! ```
//!
//! It starts from the seed corpus in `fuzz/corpus/` (rosters as Excel exports them), mutates
//! inputs (bit flips, inserted CSV, encoding and markup tokens, splices, line swaps, re-encoding
//! into UTF-16 or CP932) and keeps a mutant when it reaches an outcome not seen before (which
//! problems were reported, how many people were accepted, which encoding): a coarse, honest
//! substitute for coverage feedback. Each input is checked, not only run:
//!
//! - `roster`: `roster::parse` under every option set never panics or hangs; an accepted roster
//!   holds only valid, unique, in-domain accounts with increasing line numbers; every problem
//!   message is one bounded line with no control character.
//! - `render`: every accepted person goes through every format, both protocols and both PRF
//!   encodings. `Format::check` passing means rendering succeeds, and each file is read back
//!   with an independent parser (quick-xml, plist, an INI reader, a `.reg` reader, scraper, the
//!   csv and zip crates) giving back the person's address and name and the provider's servers.
//!
//! Inputs that fail are written to `fuzz/findings/` and the run exits with status 1.

use std::collections::{BTreeSet, HashSet};
use std::io::{Cursor, Read};
use std::panic::{self, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use mailconf::bundle::{self, BundleOptions};
use mailconf::input::account::{Account, Address, DisplayName};
use mailconf::input::provider::{Protocol, Provider};
use mailconf::input::roster::{self, ReadOptions, RosterEncoding};
use mailconf::render::escape::from_spreadsheet;
use mailconf::render::outlook::{self, PrfEncoding};
use mailconf::render::{Context, Format};

/// Largest input the mutator makes.
const MAX_INPUT: usize = 64 * 1024;
/// An input that takes longer than this is a finding (a hang, or something quadratic).
const SLOW: Duration = Duration::from_secs(3);
/// Longest problem message accepted.
const MAX_MESSAGE: usize = 1000;

/// Bytes worth inserting: CSV syntax, encodings, markup of every output format.
const TOKENS: &[&[u8]] = &[
    b",",
    b"\t",
    b"\"",
    b"\"\"",
    b"\r\n",
    b"\n",
    b"\r",
    b"\0",
    b"=\"0123\"",
    b"\xEF\xBB\xBF",
    b"\xFF\xFE",
    b"\xFE\xFF",
    b"\x81\x60",
    b"\x82\xA0",
    b"\x81",
    b"\xFF",
    b"@kyoto-u.ac.jp",
    b"@KYOTO-U.AC.JP",
    b"@example.com",
    b"email",
    b"name",
    b"e-mail",
    b"password",
    b"\xE6\xB0\x8F\xE5\x90\x8D",
    b"]]>",
    b"<",
    b">",
    b"&",
    b"&amp;",
    b"'",
    b"[",
    b"]",
    b"[General]",
    b"=",
    b";",
    b"\\",
    b"%",
    b"%PATH%",
    b"\xE2\x80\xAE",
    b"\xE2\x80\xA8",
    b"\xEF\xBB\xBF",
    b"\xCC\x81",
    b"\xF0\x9F\x98\x80",
    b"\xE3\x80\x9C",
    b"\xE3\x80\x80",
    b"\xEF\xBF\xBF",
    b"\xC2\x85",
    b"\x1B[2J",
    b" ",
    b"+",
    b"..",
    b"-",
];

fn main() {
    let mut args = std::env::args().skip(1);
    let mut target = String::from("all");
    let mut seconds = 60u64;
    let mut seed = 0x5EED_u64;
    let mut corpus_dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus");
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--seconds" => seconds = parse_next(&mut args, "--seconds"),
            "--seed" => seed = parse_next(&mut args, "--seed"),
            "--corpus" => corpus_dir = PathBuf::from(next(&mut args, "--corpus")),
            "roster" | "render" | "all" => target = arg,
            other => usage(&format!("unknown argument {other:?}")),
        }
    }
    let corpus = load_corpus(&corpus_dir);
    install_quiet_panic_hook();
    let targets: Vec<&str> = match target.as_str() {
        "all" => vec!["roster", "render"],
        t => vec![t],
    };
    let mut failed = false;
    for (i, name) in targets.iter().enumerate() {
        let stats = run(
            name,
            &corpus,
            Duration::from_secs(seconds),
            seed.wrapping_add(i as u64),
        );
        println!(
            "fuzz {name}: {} executions in {:.0} s ({:.0}/s), {} distinct outcomes, corpus {} \
             (seeds {}), slowest input {:.1} ms, {} finding(s)",
            stats.executions,
            stats.elapsed.as_secs_f64(),
            stats.executions as f64 / stats.elapsed.as_secs_f64().max(0.001),
            stats.outcomes,
            stats.corpus,
            corpus.len(),
            stats.slowest.as_secs_f64() * 1000.0,
            stats.findings
        );
        failed |= stats.findings > 0;
    }
    if failed {
        std::process::exit(1);
    }
}

fn next(args: &mut impl Iterator<Item = String>, flag: &str) -> String {
    args.next()
        .unwrap_or_else(|| usage(&format!("{flag} needs a value")))
}

fn parse_next(args: &mut impl Iterator<Item = String>, flag: &str) -> u64 {
    next(args, flag)
        .parse()
        .unwrap_or_else(|_| usage(&format!("{flag} needs a number")))
}

fn usage(problem: &str) -> ! {
    eprintln!(
        "fuzz: {problem}\nusage: cargo run --release --example fuzz -- [roster|render|all] \
         [--seconds N] [--seed N] [--corpus DIR]"
    );
    std::process::exit(2);
}

fn load_corpus(dir: &Path) -> Vec<Vec<u8>> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| usage(&format!("cannot read the corpus {}: {e}", dir.display())))
        .map(|e| e.expect("corpus entry").path())
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    let corpus: Vec<Vec<u8>> = files
        .iter()
        .map(|p| std::fs::read(p).expect("corpus file"))
        .collect();
    if corpus.is_empty() {
        usage(&format!("the corpus {} is empty", dir.display()));
    }
    corpus
}

static PANIC_MESSAGE: Mutex<String> = Mutex::new(String::new());

/// Panics are findings: keep the message and location for the report instead of printing.
fn install_quiet_panic_hook() {
    panic::set_hook(Box::new(|info| {
        if let Ok(mut m) = PANIC_MESSAGE.lock() {
            *m = info.to_string();
        }
    }));
}

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        // xorshift64*
        let mut x = self.0.max(1);
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            (self.next() % n as u64) as usize
        }
    }
}

fn mutate(rng: &mut Rng, input: &[u8], corpus: &[Vec<u8>]) -> Vec<u8> {
    let mut data = input.to_vec();
    for _ in 0..1 + rng.below(6) {
        let len = data.len();
        match rng.below(11) {
            0 if len > 0 => {
                let i = rng.below(len);
                data[i] ^= 1 << rng.below(8);
            }
            1 if len > 0 => {
                let i = rng.below(len);
                data[i] = rng.next() as u8;
            }
            2 => {
                let i = rng.below(len + 1);
                data.insert(i, rng.next() as u8);
            }
            3 if len > 0 => {
                let i = rng.below(len);
                let n = 1 + rng.below(16.min(len - i));
                data.drain(i..i + n);
            }
            4 | 5 => {
                let token = TOKENS[rng.below(TOKENS.len())];
                let i = rng.below(len + 1);
                data.splice(i..i, token.iter().copied());
            }
            6 if len > 0 => {
                let i = rng.below(len);
                let n = 1 + rng.below(64.min(len - i));
                let chunk = data[i..i + n].to_vec();
                let at = rng.below(len + 1);
                let times = 1 + rng.below(4);
                for _ in 0..times {
                    data.splice(at..at, chunk.iter().copied());
                }
            }
            7 => {
                let other = &corpus[rng.below(corpus.len())];
                let cut = rng.below(len + 1);
                let from = rng.below(other.len() + 1);
                data.truncate(cut);
                data.extend_from_slice(&other[from..]);
            }
            8 => data = reencode(rng, &data),
            9 => data = shuffle_lines(rng, &data),
            _ if len > 0 => {
                let i = rng.below(len);
                data[i] = *[b',', b'"', b'\t', b'\n', b'\r', 0, 0xFF, 0x81, b'@', b' ']
                    .get(rng.below(10))
                    .unwrap_or(&b',');
            }
            _ => {}
        }
    }
    data.truncate(MAX_INPUT);
    data
}

/// Reads `data` as text (whatever it is in) and writes it out in another encoding.
fn reencode(rng: &mut Rng, data: &[u8]) -> Vec<u8> {
    let text = String::from_utf8_lossy(data).into_owned();
    let text = text.trim_start_matches('\u{FEFF}');
    match rng.below(5) {
        0 => [&[0xFF, 0xFE][..], &utf16(text, u16::to_le_bytes)].concat(),
        1 => [&[0xFE, 0xFF][..], &utf16(text, u16::to_be_bytes)].concat(),
        2 => utf16(text, u16::to_le_bytes),
        3 => encoding_rs::SHIFT_JIS.encode(text).0.into_owned(),
        _ => [&b"\xEF\xBB\xBF"[..], text.as_bytes()].concat(),
    }
}

fn utf16(text: &str, bytes: fn(u16) -> [u8; 2]) -> Vec<u8> {
    text.encode_utf16().flat_map(bytes).collect()
}

fn shuffle_lines(rng: &mut Rng, data: &[u8]) -> Vec<u8> {
    let mut lines: Vec<&[u8]> = data.split_inclusive(|&b| b == b'\n').collect();
    if lines.len() > 1 {
        let (a, b) = (rng.below(lines.len()), rng.below(lines.len()));
        if rng.below(2) == 0 {
            lines.swap(a, b);
        } else {
            lines.insert(a, lines[b]);
        }
    }
    lines.concat()
}

struct Stats {
    executions: u64,
    elapsed: Duration,
    outcomes: usize,
    corpus: usize,
    slowest: Duration,
    findings: usize,
}

fn run(target: &str, seeds: &[Vec<u8>], budget: Duration, seed: u64) -> Stats {
    let provider = Provider::kumail();
    let mut rng = Rng(seed);
    let mut corpus: Vec<Vec<u8>> = seeds.to_vec();
    let mut outcomes: HashSet<String> = HashSet::new();
    let mut findings = 0usize;
    let mut seen_findings: HashSet<String> = HashSet::new();
    let mut executions = 0u64;
    let mut slowest = Duration::ZERO;
    let started = Instant::now();
    let mut last_report = Instant::now();
    let mut pending: Vec<Vec<u8>> = seeds.to_vec(); // seeds run first, unmutated
    while started.elapsed() < budget {
        let input = pending.pop().unwrap_or_else(|| {
            let base = &corpus[rng.below(corpus.len())];
            mutate(&mut rng, base, &corpus)
        });
        let t = Instant::now();
        let result = panic::catch_unwind(AssertUnwindSafe(|| match target {
            "roster" => check_roster(&input, &provider),
            _ => check_render(&input, &provider),
        }));
        let took = t.elapsed();
        slowest = slowest.max(took);
        executions += 1;
        let failure = match result {
            Ok(Ok(outcome)) => {
                if outcomes.insert(outcome) && corpus.len() < 20_000 {
                    corpus.push(input.clone());
                }
                (took > SLOW).then(|| format!("slow: {took:?}"))
            }
            Ok(Err(message)) => Some(message),
            Err(_) => Some(format!(
                "panic: {}",
                PANIC_MESSAGE.lock().map(|m| m.clone()).unwrap_or_default()
            )),
        };
        if let Some(message) = failure {
            // One file per distinct failure message (ignoring digits), so one bug is one file.
            let key: String = message.chars().filter(|c| !c.is_ascii_digit()).collect();
            if seen_findings.insert(key) {
                findings += 1;
                let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fuzz/findings");
                let _ = std::fs::create_dir_all(&dir);
                let file = dir.join(format!("{target}-{findings}.bin"));
                let _ = std::fs::write(&file, &input);
                eprintln!(
                    "fuzz {target}: FINDING {findings}: {message}\n  input saved to {}",
                    file.display()
                );
            }
        }
        if last_report.elapsed() > Duration::from_secs(60) {
            last_report = Instant::now();
            eprintln!(
                "fuzz {target}: {executions} executions, {:.0} s, {} outcomes, corpus {}, {findings} finding(s)",
                started.elapsed().as_secs_f64(),
                outcomes.len(),
                corpus.len()
            );
        }
    }
    Stats {
        executions,
        elapsed: started.elapsed(),
        outcomes: outcomes.len(),
        corpus: corpus.len(),
        slowest,
        findings,
    }
}

/// The kinds of problem a message reports, for the outcome signature.
fn kind(message: &str) -> &'static str {
    const KINDS: &[&str] = &[
        "needs exactly one",
        "safe set",
        "starts or ends",
        "too long",
        "invalid domain",
        "address is empty",
        "not in the provider",
        "listed twice",
        "control character",
        "no output format",
        "longer than",
        "cannot be read",
        "password",
        "no address column",
        "not valid",
        "no valid person",
        "empty",
    ];
    KINDS
        .iter()
        .find(|k| message.contains(*k))
        .copied()
        .unwrap_or("other")
}

fn check_message(message: &str) -> Result<(), String> {
    if message.len() > MAX_MESSAGE {
        return Err(format!(
            "a problem message of {} bytes: {}…",
            message.len(),
            message.chars().take(80).collect::<String>()
        ));
    }
    if let Some(c) = message.chars().find(|c| c.is_control()) {
        return Err(format!(
            "control character U+{:04X} in a problem message: {message:?}",
            c as u32
        ));
    }
    Ok(())
}

fn check_roster(data: &[u8], provider: &Provider) -> Result<String, String> {
    let mut signature = BTreeSet::new();
    let forced = [
        None,
        Some(RosterEncoding::Utf8),
        Some(RosterEncoding::Utf16Le),
        Some(RosterEncoding::Utf16Be),
        Some(RosterEncoding::ShiftJis),
    ];
    for encoding in forced {
        for skip_invalid in [false, true] {
            let options = ReadOptions {
                encoding,
                skip_invalid,
            };
            match roster::parse(data, std::path::Path::new("fuzz.csv"), provider, options) {
                Ok(r) => {
                    check_accepted(&r, provider, skip_invalid)?;
                    for p in &r.skipped {
                        check_message(&p.message)?;
                        signature.insert(format!("skip:{}", kind(&p.message)));
                    }
                    if encoding.is_none() {
                        signature.insert(format!(
                            "ok:{}:{}",
                            r.accounts.len().min(4),
                            r.encoding.name()
                        ));
                    }
                }
                Err(problems) => {
                    if problems.is_empty() {
                        return Err("an empty problem list".into());
                    }
                    for p in &problems {
                        check_message(&p.message)?;
                        if let Some(line) = p.line.filter(|&l| l > data.len() as u64 + 1) {
                            return Err(format!("line {line} past the end of the input"));
                        }
                        if encoding.is_none() {
                            signature.insert(format!("err:{}", kind(&p.message)));
                        }
                    }
                }
            }
        }
    }
    Ok(signature.into_iter().collect::<Vec<_>>().join(" "))
}

fn check_accepted(
    r: &roster::Roster,
    provider: &Provider,
    skip_invalid: bool,
) -> Result<(), String> {
    if r.accounts.is_empty() {
        return Err("an accepted roster with nobody in it".into());
    }
    if r.lines.len() != r.accounts.len() {
        return Err("lines and accounts differ in length".into());
    }
    if r.lines.windows(2).any(|w| w[0] >= w[1]) || r.lines.first() == Some(&0) {
        return Err(format!("line numbers not increasing: {:?}", r.lines));
    }
    if !skip_invalid && !r.skipped.is_empty() {
        return Err("rows skipped without --skip-invalid".into());
    }
    let mut seen = HashSet::new();
    for a in &r.accounts {
        if Address::parse(a.address.as_str()).as_ref() != Ok(&a.address) {
            return Err(format!("{} does not parse back to itself", a.address));
        }
        if !provider.domains.contains(a.address.domain()) {
            return Err(format!("{} is outside the provider's domains", a.address));
        }
        if !seen.insert(a.address.clone()) {
            return Err(format!("{} accepted twice", a.address));
        }
        if let Some(n) = &a.name
            && DisplayName::parse(n.as_str()) != Ok(Some(n.clone()))
        {
            return Err(format!(
                "name {:?} does not parse back to itself",
                n.as_str()
            ));
        }
    }
    Ok(())
}

fn check_render(data: &[u8], provider: &Provider) -> Result<String, String> {
    let options = ReadOptions {
        encoding: None,
        skip_invalid: true,
    };
    let Ok(r) = roster::parse(data, std::path::Path::new("fuzz.csv"), provider, options) else {
        return Ok("no roster".into());
    };
    let accounts: Vec<Account> = r.accounts.into_iter().take(6).collect();
    let mut signature = BTreeSet::new();
    for (protocol, prf_encoding) in [
        (Protocol::Pop3, PrfEncoding::Utf16le),
        (Protocol::Imap, PrfEncoding::Cp932),
    ] {
        let mut ctx = Context::new(provider, Some(protocol));
        ctx.formats = Format::ALL.to_vec();
        ctx.prf_encoding = prf_encoding;
        let mut renderable = Vec::new();
        for account in &accounts {
            for &format in Format::ALL {
                let checked = format.check(&ctx, account);
                let rendered = format.render(&ctx, account);
                match (checked, rendered) {
                    (Ok(()), Ok(bytes)) => check_file(format, &ctx, account, &bytes)
                        .map_err(|e| format!("{format:?} for {}: {e}", account.address))?,
                    (Err(e), Err(_)) => {
                        check_message(&e.to_string())?;
                        signature.insert(format!("refused:{format:?}"));
                    }
                    (Ok(()), Err(e)) => {
                        return Err(format!("{format:?}: checked, then rendering failed: {e}"));
                    }
                    (Err(e), Ok(_)) => {
                        return Err(format!("{format:?}: refused by check ({e}) but rendered"));
                    }
                }
            }
            if ctx.check(account).is_ok() {
                renderable.push(account.clone());
            }
        }
        if !renderable.is_empty() {
            check_bundle(&ctx, &renderable)?;
            signature.insert(format!("bundle:{}", renderable.len().min(4)));
        }
    }
    Ok(signature.into_iter().collect::<Vec<_>>().join(" "))
}

fn expect_eq(what: &str, got: &str, want: &str) -> Result<(), String> {
    if got == want {
        Ok(())
    } else {
        Err(format!("{what}: got {got:?}, want {want:?}"))
    }
}

fn check_file(
    format: Format,
    ctx: &Context<'_>,
    account: &Account,
    bytes: &[u8],
) -> Result<(), String> {
    let address = account.address.as_str();
    let incoming = ctx.provider.incoming(ctx.protocol);
    match format {
        Format::Thunderbird => {
            let leaves = xml_leaves(bytes)?;
            let usernames: Vec<&String> = leaves
                .iter()
                .filter(|(n, _)| n == "username")
                .map(|(_, v)| v)
                .collect();
            if usernames.len() != 3 || usernames.iter().any(|u| *u != address) {
                return Err(format!("usernames {usernames:?}"));
            }
            let first_host = leaves.iter().find(|(n, _)| n == "hostname").map(|(_, v)| v);
            expect_eq(
                "first hostname",
                first_host.map_or("", |s| s.as_str()),
                incoming.host.as_str(),
            )?;
        }
        Format::Apple | Format::AppleGoogle => {
            let value = plist::Value::from_reader_xml(Cursor::new(bytes))
                .map_err(|e| format!("plist: {e}"))?;
            let payload = value
                .as_dictionary()
                .and_then(|d| d.get("PayloadContent"))
                .and_then(|c| c.as_array())
                .and_then(|a| a.first())
                .and_then(|p| p.as_dictionary())
                .ok_or("no payload")?;
            let s = |k: &str| payload.get(k).and_then(|v| v.as_string()).unwrap_or("");
            expect_eq("EmailAddress", s("EmailAddress"), address)?;
            let name_key = if format == Format::Apple {
                expect_eq(
                    "IncomingMailServerHostName",
                    s("IncomingMailServerHostName"),
                    incoming.host.as_str(),
                )?;
                expect_eq(
                    "IncomingMailServerUsername",
                    s("IncomingMailServerUsername"),
                    address,
                )?;
                let port = payload
                    .get("IncomingMailServerPortNumber")
                    .and_then(|v| v.as_signed_integer());
                if port != Some(i64::from(incoming.port.get())) {
                    return Err(format!("incoming port {port:?}"));
                }
                "EmailAccountName"
            } else {
                "AccountName"
            };
            if let Some(name) = &account.name {
                expect_eq(name_key, s(name_key), name.as_str())?;
            }
        }
        Format::OutlookPrf => {
            let text = match ctx.prf_encoding {
                PrfEncoding::Utf16le => utf16le(bytes)?,
                PrfEncoding::Cp932 => {
                    let (t, bad) = encoding_rs::SHIFT_JIS.decode_without_bom_handling(bytes);
                    if bad {
                        return Err("invalid CP932".into());
                    }
                    t.into_owned()
                }
            };
            let ini = ini(&text)?;
            let account1: Vec<&(String, String, String)> =
                ini.iter().filter(|(s, _, _)| s == "Account1").collect();
            let get = |k: &str| {
                let found: Vec<&str> = account1
                    .iter()
                    .filter(|(_, key, _)| key == k)
                    .map(|(_, _, v)| v.as_str())
                    .collect();
                if found.len() == 1 {
                    Ok(found[0])
                } else {
                    Err(format!("{k} appears {} times in [Account1]", found.len()))
                }
            };
            expect_eq("DisplayName", get("DisplayName")?, account.display_name())?;
            expect_eq("EmailAddress", get("EmailAddress")?, address)?;
            let (server, port) = match ctx.protocol {
                Protocol::Pop3 => ("POP3Server", "POP3Port"),
                Protocol::Imap => ("IMAPServer", "IMAPPort"),
            };
            expect_eq(server, get(server)?, incoming.host.as_str())?;
            expect_eq(port, get(port)?, &incoming.port.get().to_string())?;
            expect_eq(
                "SMTPServer",
                get("SMTPServer")?,
                ctx.provider.smtp.host.as_str(),
            )?;
            let sections: BTreeSet<&str> = ini.iter().map(|(s, _, _)| s.as_str()).collect();
            if sections
                .iter()
                .any(|s| s.contains(address) || s.contains('='))
            {
                return Err(format!("sections {sections:?}"));
            }
        }
        Format::OutlookReg => {
            let text = utf16le(bytes)?;
            let want = format!(
                "\"ImportPRF\"=\"{}\"",
                outlook::import_path(ctx, account)
                    .replace('\\', "\\\\")
                    .replace('"', "\\\"")
            );
            if !text.split("\r\n").any(|l| l == want) {
                return Err(format!("no line {want:?}"));
            }
            if text
                .chars()
                .any(|c| c.is_control() && c != '\r' && c != '\n')
            {
                return Err("a control character".into());
            }
        }
        Format::OutlookCmd => {
            if !bytes.is_ascii() {
                return Err("not ASCII".into());
            }
            let text = String::from_utf8_lossy(bytes);
            let want = format!("set \"PRF=%~dp0{}\"", outlook::prf_file_name(account));
            if !text.lines().any(|l| l.trim_end() == want) {
                return Err(format!("no line {want:?}"));
            }
        }
        Format::Guide => {
            let html = html(bytes)?;
            let texts = |css: &str| -> Vec<String> {
                let selector = scraper::Selector::parse(css).expect("selector");
                html.select(&selector).map(|e| e.text().collect()).collect()
            };
            let names = texts(".name");
            let want: Vec<String> = account
                .name
                .iter()
                .flat_map(|n| [n.to_string(), n.to_string()])
                .collect();
            if names != want {
                return Err(format!("names {names:?}, want {want:?}"));
            }
            let addresses = texts(".address");
            if addresses.is_empty() || addresses.iter().any(|a| a != address) {
                return Err(format!("addresses {addresses:?}"));
            }
        }
    }
    Ok(())
}

fn check_bundle(ctx: &Context<'_>, accounts: &[Account]) -> Result<(), String> {
    let mut zip_bytes = Vec::new();
    bundle::write_zip(
        ctx,
        accounts,
        "dept",
        &mut zip_bytes,
        &BundleOptions::default(),
    )
    .map_err(|e| format!("bundle: {e:?}"))?;
    let mut zip = zip::ZipArchive::new(Cursor::new(&zip_bytes)).map_err(|e| format!("zip: {e}"))?;
    let mut entry = |name: &str| -> Result<Vec<u8>, String> {
        let mut f = zip.by_name(name).map_err(|e| format!("{name}: {e}"))?;
        let mut out = Vec::new();
        f.read_to_end(&mut out).map_err(|e| e.to_string())?;
        Ok(out)
    };
    let manifest = entry("dept/manifest.csv")?;
    let index = entry("dept/index.html")?;
    let mut sorted: Vec<&Account> = accounts.iter().collect();
    sorted.sort_by(|a, b| a.address.cmp(&b.address));
    let mut reader = csv::Reader::from_reader(manifest.as_slice());
    let mut people: Vec<(String, String)> = Vec::new();
    for record in reader.records() {
        let record = record.map_err(|e| format!("manifest: {e}"))?;
        let row = (
            from_spreadsheet(&record[0]).to_string(),
            from_spreadsheet(&record[1]).to_string(),
        );
        if people.last() != Some(&row) {
            people.push(row);
        }
    }
    let want: Vec<(String, String)> = sorted
        .iter()
        .map(|a| {
            (
                a.address.to_string(),
                a.name.as_ref().map(|n| n.to_string()).unwrap_or_default(),
            )
        })
        .collect();
    if people != want {
        return Err(format!("manifest people {people:?}, want {want:?}"));
    }
    let html = html(&index)?;
    let selector = scraper::Selector::parse("table.users td.name").expect("selector");
    let names: Vec<String> = html.select(&selector).map(|e| e.text().collect()).collect();
    let want: Vec<String> = sorted
        .iter()
        .map(|a| a.name.as_ref().map_or("", |n| n.as_str()).to_string())
        .collect();
    if names != want {
        return Err(format!("index names {names:?}, want {want:?}"));
    }
    Ok(())
}

fn utf16le(bytes: &[u8]) -> Result<String, String> {
    let body = bytes.strip_prefix(&[0xFF, 0xFE]).ok_or("no UTF-16LE BOM")?;
    if body.len() % 2 != 0 {
        return Err("odd UTF-16 length".into());
    }
    let units: Vec<u16> = body
        .chunks_exact(2)
        .map(|c| u16::from_le_bytes([c[0], c[1]]))
        .collect();
    String::from_utf16(&units).map_err(|e| e.to_string())
}

/// (section, key, value) as `GetPrivateProfileString` reads them; any other line is an error.
fn ini(text: &str) -> Result<Vec<(String, String, String)>, String> {
    if text.split("\r\n").any(|l| l.contains(['\r', '\n'])) {
        return Err("a line break other than CRLF".into());
    }
    let mut section = String::new();
    let mut out = Vec::new();
    for line in text.split("\r\n") {
        let line = line.trim();
        if line.is_empty() || line.starts_with(';') {
            continue;
        }
        if let Some(rest) = line.strip_prefix('[') {
            section = rest
                .strip_suffix(']')
                .ok_or_else(|| format!("bad section line {line:?}"))?
                .to_string();
            continue;
        }
        let (key, value) = line
            .split_once('=')
            .ok_or_else(|| format!("bad line {line:?}"))?;
        let value = value.trim();
        let value = match value.chars().next() {
            Some(q @ ('"' | '\'')) if value.len() > 1 && value.ends_with(q) => {
                &value[1..value.len() - 1]
            }
            _ => value,
        };
        out.push((section.clone(), key.trim().to_string(), value.to_string()));
    }
    Ok(out)
}

/// Every element's (name, text) as it closes, entities resolved.
fn xml_leaves(bytes: &[u8]) -> Result<Vec<(String, String)>, String> {
    use quick_xml::events::Event;
    let text = std::str::from_utf8(bytes).map_err(|e| e.to_string())?;
    let mut reader = quick_xml::Reader::from_str(text);
    let mut stack: Vec<(String, String)> = Vec::new();
    let mut out = Vec::new();
    loop {
        match reader.read_event().map_err(|e| format!("XML: {e}"))? {
            Event::Start(e) => stack.push((e.name().as_ref().to_string(), String::new())),
            Event::End(_) => {
                let (name, text) = stack.pop().ok_or("unbalanced end tag")?;
                out.push((name, text.trim().to_string()));
            }
            Event::Text(t) => {
                if let Some((_, buf)) = stack.last_mut() {
                    buf.push_str(&t.xml10_content());
                }
            }
            Event::GeneralRef(r) => {
                let resolved = quick_xml::escape::unescape(&format!("&{};", r.as_ref()))
                    .map_err(|e| format!("entity: {e}"))?
                    .into_owned();
                if let Some((_, buf)) = stack.last_mut() {
                    buf.push_str(&resolved);
                }
            }
            Event::Eof => break,
            Event::Empty(e) => out.push((e.name().as_ref().to_string(), String::new())),
            _ => {}
        }
    }
    if !stack.is_empty() {
        return Err("unclosed elements".into());
    }
    Ok(out)
}

fn html(bytes: &[u8]) -> Result<scraper::Html, String> {
    let source = std::str::from_utf8(bytes).map_err(|e| e.to_string())?;
    let html = scraper::Html::parse_document(source);
    if !html.errors.is_empty() {
        return Err(format!("HTML parse errors: {:?}", html.errors));
    }
    Ok(html)
}
