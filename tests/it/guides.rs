//! The personal guides (`users/ADDRESS/README.html`) and the bundle's `index.html`, parsed with
//! an HTML5 parser (html5ever, through scraper) and checked against the provider and the zip.

use std::collections::BTreeSet;
use std::io::{Cursor, Read};
use std::path::Path;

use crate::common;
use assert_cmd::Command;

use common::html::{element_count, parse, sel, text};
use mailconf::bundle::{self, BundleOptions};
use mailconf::input::account::{Account, Address, DisplayName};
use mailconf::input::provider::{KUMAIL_TOML, Protocol, Provider, Security};
use mailconf::render::{Context, Format};
use predicates::prelude::PredicateBooleanExt;
use scraper::{ElementRef, Html};

const HOSTILE: &str = "<script>alert(1)</script> & \"]]>";

fn account(address: &str, name: Option<&str>) -> Account {
    Account {
        address: Address::parse(address).unwrap(),
        name: name.map(|n| DisplayName::parse(n).unwrap().unwrap()),
    }
}

fn guide(provider: &Provider, protocol: Option<Protocol>, account: &Account) -> Vec<u8> {
    let ctx = Context::new(provider, protocol);
    Format::Guide.render(&ctx, account).unwrap()
}

fn security_label(s: Security) -> [&'static str; 2] {
    match s {
        Security::Tls => ["SSL/TLS", "SSL/TLS"],
        Security::Starttls => ["STARTTLS", "STARTTLS"],
        Security::Plain => ["なし", "none"],
    }
}

/// Every URL the provider allows the pages to link to.
fn provider_links(p: &Provider) -> BTreeSet<String> {
    let g = &p.guide;
    [
        g.help_url.as_ref().map(|u| u.to_string()),
        g.webmail_url.as_ref().map(|u| u.to_string()),
        g.password.as_ref().map(|pw| pw.url.to_string()),
        g.pop
            .as_ref()
            .and_then(|pop| pop.enable_url.as_ref())
            .map(|u| u.to_string()),
    ]
    .into_iter()
    .flatten()
    .collect()
}

/// The page loads nothing from outside and runs nothing: no scripts, no `src`, no `<link>`,
/// no CSS `url()` or `@import`, no event handlers; `http(s)` links only to `allowed`; `#` links
/// point to ids of the page.
fn assert_self_contained(html: &Html, allowed: &BTreeSet<String>) {
    assert_eq!(html.select(&sel("script")).count(), 0, "a <script>");
    assert_eq!(html.select(&sel("[src]")).count(), 0, "an element with src");
    assert_eq!(
        html.select(&sel("link, iframe, object, embed, img, base"))
            .count(),
        0
    );
    for style in html.select(&sel("style")) {
        let css = text(style);
        assert!(!css.contains("url(") && !css.contains("@import"), "{css}");
    }
    let ids: BTreeSet<&str> = html
        .select(&sel("[id]"))
        .filter_map(|e| e.value().id())
        .collect();
    for e in html
        .root_element()
        .descendants()
        .filter_map(ElementRef::wrap)
    {
        for (name, _) in e.value().attrs() {
            assert!(!name.starts_with("on"), "event handler {name}");
        }
    }
    for a in html.select(&sel("[href]")) {
        let href = a.value().attr("href").unwrap();
        if let Some(id) = href.strip_prefix('#') {
            assert!(ids.contains(id), "link to a missing id: {href}");
        } else if href.contains(':') {
            assert!(
                allowed.contains(href),
                "external link {href} is not one of the provider's URLs"
            );
            assert!(href.starts_with("https://"), "{href}");
        }
    }
}

fn section<'a>(html: &'a Html, id: &str) -> ElementRef<'a> {
    html.select(&sel(&format!("section#{id}")))
        .next()
        .unwrap_or_else(|| panic!("no section#{id}"))
}

#[test]
fn guide_names_the_address_settings_notices_in_both_languages() {
    let provider = Provider::kumail();
    let user = account("Taro.Yamada@kyoto-u.ac.jp", Some("山田 太郎"));
    let bytes = guide(&provider, None, &user);
    let html = parse(&bytes);

    let root = html.root_element();
    assert_eq!(root.value().attr("lang"), Some("ja"));
    assert!(html.select(&sel("meta[name=viewport]")).next().is_some());
    assert!(html.select(&sel("meta[charset=utf-8]")).next().is_some());
    let css: String = html.select(&sel("style")).map(text).collect();
    assert!(
        css.contains("@media print") && css.contains("size: A4"),
        "{css}"
    );
    assert_self_contained(&html, &provider_links(&provider));

    let ja = section(&html, "ja");
    let en = section(&html, "en");
    assert_eq!(ja.value().attr("lang"), Some("ja"));
    assert_eq!(en.value().attr("lang"), Some("en"));
    // Japanese first.
    let order: Vec<&str> = html
        .select(&sel("section[lang]"))
        .map(|s| s.value().attr("lang").unwrap())
        .collect();
    assert_eq!(order, ["ja", "en"]);

    for (lang, sec) in [(0, ja), (1, en)] {
        let all = text(sec);
        assert!(all.contains("taro.yamada@kyoto-u.ac.jp"), "{all}");
        assert!(all.contains("山田 太郎"));

        // The settings tables: exactly the provider's servers, preferred first.
        let rows: Vec<(String, String, String, String, String)> = sec
            .select(&sel("table.settings"))
            .map(|table| {
                let cell = |class: &str| {
                    let cells: Vec<String> = table
                        .select(&sel(&format!("td.{class}")))
                        .map(text)
                        .collect();
                    assert_eq!(cells.len(), 1, "{class}");
                    cells[0].clone()
                };
                (
                    table.value().attr("data-role").unwrap().to_string(),
                    cell("host"),
                    cell("port"),
                    cell("security"),
                    cell("file"),
                )
            })
            .collect();
        let expect = |role: &str, s: &mailconf::input::provider::Server| {
            (
                role.to_string(),
                s.host.to_string(),
                s.port.to_string(),
                security_label(s.security)[lang].to_string(),
                "taro.yamada@kyoto-u.ac.jp".to_string(),
            )
        };
        assert_eq!(
            rows,
            [
                expect("preferred", provider.incoming(Protocol::Pop3)),
                expect("alternative", provider.incoming(Protocol::Imap)),
                expect("outgoing", &provider.smtp),
            ]
        );
        // And those are KUMail's documented values.
        assert_eq!(rows[0].1, "pop.gmail.com");
        assert_eq!(
            (rows[2].2.as_str(), rows[2].3.as_str()),
            ("587", "STARTTLS")
        );

        // Every notice, in this section's language, in the provider's order.
        let notices: Vec<(String, String)> = sec
            .select(&sel("li[data-notice]"))
            .map(|li| {
                (
                    li.value().attr("data-notice").unwrap().to_string(),
                    text(li),
                )
            })
            .collect();
        let expected: Vec<(String, String)> = provider
            .notices
            .iter()
            .map(|n| {
                let t = if lang == 0 {
                    n.ja.as_str()
                } else {
                    n.en.as_str()
                };
                (n.id.to_string(), t.to_string())
            })
            .collect();
        assert_eq!(notices, expected);
    }
    let ja_text = text(ja);
    assert!(ja_text.contains("1,250 MB") && ja_text.contains("迷惑メール"));
    let en_text = text(en);
    assert!(en_text.contains("1,250 MB") && en_text.contains("IMAP instead"));
}

#[test]
fn guide_says_which_password_and_how_to_get_it() {
    let provider = Provider::kumail();
    let html = parse(&guide(&provider, None, &account("a@kyoto-u.ac.jp", None)));
    let pw = provider.guide.password.as_ref().unwrap();
    for (id, name, steps, sign_in) in [
        (
            "ja",
            pw.name_ja.as_str(),
            &pw.steps_ja,
            provider.guide.sign_in_ja.as_str(),
        ),
        (
            "en",
            pw.name_en.as_str(),
            &pw.steps_en,
            provider.guide.sign_in_en.as_str(),
        ),
    ] {
        let sec = section(&html, id);
        let all = text(sec);
        assert!(all.contains(name), "{id}: {name}");
        assert!(
            all.contains(sign_in),
            "{id}: Thunderbird signs in without a password"
        );
        let listed: Vec<String> = sec
            .select(&sel(&format!("h2#{id}-password ~ ol li")))
            .take(steps.iter().count())
            .map(text)
            .collect();
        let expected: Vec<String> = steps.iter().map(|s| s.to_string()).collect();
        assert_eq!(listed, expected);
        let links: Vec<&str> = sec
            .select(&sel("a[href^='https:']"))
            .map(|a| a.value().attr("href").unwrap())
            .collect();
        assert!(
            links.contains(&"https://myaccount.google.com/apppasswords"),
            "{links:?}"
        );
    }
    // The KUMail texts name Google's own buttons.
    assert!(text(section(&html, "ja")).contains("2 段階認証プロセス"));
    assert!(text(section(&html, "en")).contains("2-Step Verification"));
    // Thunderbird's steps name its buttons.
    let tb_ja = text(section(&html, "ja"));
    assert!(tb_ja.contains("「続ける」") && tb_ja.contains("「完了」"));
    let tb_en = text(section(&html, "en"));
    assert!(tb_en.contains("“Continue”") && tb_en.contains("“Finish”"));
}

#[test]
fn guide_follows_the_chosen_protocol() {
    let provider = Provider::kumail();
    let html = parse(&guide(
        &provider,
        Some(Protocol::Imap),
        &account("a@kyoto-u.ac.jp", None),
    ));
    let hosts = |role: &str| -> Vec<String> {
        html.select(&sel(&format!("table[data-role={role}] td.host")))
            .map(text)
            .collect()
    };
    assert_eq!(hosts("preferred"), ["imap.gmail.com"; 2]);
    assert_eq!(hosts("alternative"), ["pop.gmail.com"; 2]);
    // Thunderbird keeps the IMAP it chose by itself, in both languages: the step names IMAP
    // and no other protocol to click.
    for lang in ["ja", "en"] {
        let found = html
            .select(&sel(&format!("section#{lang} li[data-tb=found]")))
            .next()
            .unwrap();
        let protocols: Vec<&str> = found
            .select(&sel("span.ui"))
            .filter_map(|s| s.value().attr("data-label"))
            .filter(|k| *k == "tb.imap" || *k == "tb.pop3")
            .collect();
        assert_eq!(protocols, ["tb.imap"], "{lang}");
    }
}

#[test]
fn a_hostile_name_stays_text_and_creates_no_element() {
    let provider = Provider::kumail();
    let plain = parse(&guide(
        &provider,
        None,
        &account("a@kyoto-u.ac.jp", Some("X")),
    ));
    let bytes = guide(&provider, None, &account("a@kyoto-u.ac.jp", Some(HOSTILE)));
    let source = String::from_utf8(bytes.clone()).unwrap();
    assert!(!source.contains("<script>"), "raw markup in the page");
    let hostile = parse(&bytes);
    let names: Vec<String> = hostile.select(&sel(".name")).map(text).collect();
    assert_eq!(
        names,
        [HOSTILE, HOSTILE],
        "the name, as text, in both languages"
    );
    assert_eq!(
        element_count(&hostile),
        element_count(&plain),
        "the name added elements"
    );
    assert_eq!(hostile.select(&sel("script")).count(), 0);
}

#[test]
fn guide_texts_come_from_the_provider_file() {
    let toml = KUMAIL_TOML
        .replace(
            "help_ja = \"設定がうまくいかないときは、このページを持って所属部局の情報担当者に相談してください。\"",
            "help_ja = \"内線 1234 へ。\"\nhelp_url = \"https://help.example.org/mail?lang=ja&x=1\"",
        )
        .replace(
            "help_en = \"If something does not work, take this page to your department's IT staff.\"",
            "help_en = \"Call extension 1234 <now> & then.\"",
        );
    assert_ne!(toml, KUMAIL_TOML);
    let provider = Provider::from_toml(&toml, Path::new("other.toml")).unwrap();
    let bytes = guide(&provider, None, &account("a@kyoto-u.ac.jp", None));
    let html = parse(&bytes);
    assert_self_contained(&html, &provider_links(&provider));
    assert!(text(section(&html, "ja")).contains("内線 1234 へ。"));
    assert!(text(section(&html, "en")).contains("Call extension 1234 <now> & then."));
    let help: Vec<&str> = html
        .select(&sel("a[href^='https://help.']"))
        .map(|a| a.value().attr("href").unwrap())
        .collect();
    assert_eq!(help, ["https://help.example.org/mail?lang=ja&x=1"; 2]);

    // Without a [guide] section, generic texts and no app-password steps.
    let start = KUMAIL_TOML
        .find("\n# Texts of the personal guides")
        .unwrap();
    let plain = Provider::from_toml(&KUMAIL_TOML[..start], Path::new("plain.toml")).unwrap();
    assert!(plain.guide.password.is_none());
    let html = parse(&guide(&plain, None, &account("a@kyoto-u.ac.jp", None)));
    assert_self_contained(&html, &BTreeSet::new());
    assert!(!text(html.root_element()).contains("myaccount.google.com"));
    assert!(text(section(&html, "en")).contains("your account's password"));
}

#[test]
fn bad_guide_urls_are_refused_with_their_line() {
    for bad in [
        "http://mail.google.com/",
        "https://mail.google.com/a b",
        "https://mail.google.com/\\\"x",
        "https://mail.google.com/<x>",
        "https://user@mail.google.com/",
        "https:///path",
        "javascript:alert(1)",
    ] {
        let toml = KUMAIL_TOML.replace(
            "webmail_url = \"https://mail.google.com/\"",
            &format!("webmail_url = \"{bad}\""),
        );
        assert_ne!(toml, KUMAIL_TOML);
        let line = toml
            .lines()
            .position(|l| l.starts_with("webmail_url"))
            .unwrap()
            + 1;
        let e = Provider::from_toml(&toml, Path::new("p.toml"))
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with(&format!("p.toml:{line}: webmail_url")),
            "{bad}: {e}"
        );
    }
    let toml = KUMAIL_TOML.replace(
        "url = \"https://myaccount.google.com/apppasswords\"",
        "url = \"https://myaccount.google.com/app passwords\"",
    );
    let e = Provider::from_toml(&toml, Path::new("p.toml"))
        .unwrap_err()
        .to_string();
    assert!(e.contains("url") && e.contains("no spaces"), "{e}");
}

fn write_bundle(accounts: &[Account], options: &BundleOptions) -> Vec<u8> {
    let provider = Provider::kumail();
    let ctx = Context::new(&provider, None);
    let mut out = Cursor::new(Vec::new());
    bundle::write_zip(&ctx, accounts, "dept", &mut out, options).unwrap();
    out.into_inner()
}

fn read_zip(bytes: &[u8]) -> (BTreeSet<String>, zip::ZipArchive<Cursor<&[u8]>>) {
    let zip = zip::ZipArchive::new(Cursor::new(bytes)).unwrap();
    let names = zip.file_names().map(|n| n.unwrap().into_owned()).collect();
    (names, zip)
}

fn entry(zip: &mut zip::ZipArchive<Cursor<&[u8]>>, name: &str) -> Vec<u8> {
    let mut bytes = Vec::new();
    zip.by_name(name).unwrap().read_to_end(&mut bytes).unwrap();
    bytes
}

/// Resolves a relative link from the folder `base` (inside the zip), `..` included.
fn resolve(base: &str, href: &str) -> String {
    let mut parts: Vec<&str> = base.split('/').filter(|p| !p.is_empty()).collect();
    for p in href.split('/') {
        match p {
            ".." => {
                parts.pop();
            }
            "." | "" => {}
            p => parts.push(p),
        }
    }
    parts.join("/")
}

#[test]
fn index_lists_every_user_with_links_that_resolve_in_the_zip() {
    let accounts = vec![
        account("zed@kyoto-u.ac.jp", Some("Zed")),
        account("taro.yamada@kyoto-u.ac.jp", Some(HOSTILE)),
        account("hanako+lab@kyoto-u.ac.jp", None),
    ];
    let bytes = write_bundle(&accounts, &BundleOptions::default());
    let (names, mut zip) = read_zip(&bytes);
    let index = parse(&entry(&mut zip, "dept/index.html"));
    let provider = Provider::kumail();
    assert_self_contained(&index, &provider_links(&provider));
    assert_eq!(index.root_element().value().attr("lang"), Some("ja"));
    assert!(index.select(&sel("section[lang=ja]")).next().is_some());
    assert!(index.select(&sel("section[lang=en]")).next().is_some());

    // Every user, sorted by address, named as text.
    let rows: Vec<(String, String)> = index
        .select(&sel("table.users tbody tr"))
        .map(|tr| {
            let cells: Vec<String> = tr.select(&sel("td")).map(text).collect();
            (cells[0].clone(), cells[1].clone())
        })
        .collect();
    assert_eq!(
        rows,
        [
            (String::new(), "hanako+lab@kyoto-u.ac.jp".to_string()),
            (HOSTILE.to_string(), "taro.yamada@kyoto-u.ac.jp".to_string()),
            ("Zed".to_string(), "zed@kyoto-u.ac.jp".to_string()),
        ]
    );
    assert_eq!(index.select(&sel("script")).count(), 0);

    // Each row links to the user's guide and each of their files; every link of the page
    // that is not a fragment resolves to an entry of the zip.
    for tr in index.select(&sel("table.users tbody tr")) {
        let address = text(tr.select(&sel("td")).nth(1).unwrap());
        let links: BTreeSet<String> = tr
            .select(&sel("a"))
            .map(|a| resolve("dept", a.value().attr("href").unwrap()))
            .collect();
        let in_folder: BTreeSet<String> = names
            .iter()
            .filter(|n| n.starts_with(&format!("dept/users/{address}/")))
            .cloned()
            .collect();
        assert_eq!(links, in_folder, "{address}");
        assert!(in_folder.contains(&format!("dept/users/{address}/README.html")));
    }
    let mut local = 0;
    for a in index.select(&sel("a[href]")) {
        let href = a.value().attr("href").unwrap();
        if href.starts_with('#') || href.contains(':') {
            continue;
        }
        local += 1;
        assert!(
            names.contains(&resolve("dept", href)),
            "{href} is not in the zip"
        );
    }
    // 3 users × 2 files, plus the publish files (twice: ja and en) and README links.
    assert!(local >= 6 + names.iter().filter(|n| n.contains("/publish/")).count());

    // Where the publish files go: every publish file is in both languages' tables.
    for lang in ["ja", "en"] {
        let listed: BTreeSet<String> = index
            .select(&sel(&format!("section[lang={lang}] table.publish a")))
            .map(|a| resolve("dept", a.value().attr("href").unwrap()))
            .collect();
        let publish: BTreeSet<String> = names
            .iter()
            .filter(|n| n.starts_with("dept/publish/"))
            .cloned()
            .collect();
        assert_eq!(listed, publish, "{lang}");
    }
    let all = text(index.root_element());
    assert!(all.contains("https://autoconfig.kyoto-u.ac.jp/mail/config-v1.1.xml"));
    assert!(all.contains(&format!("mailconf {}", env!("CARGO_PKG_VERSION"))));
    assert!(all.contains(provider.names.display_en.as_str()));
    assert!(!all.contains("UTC"), "no date without SOURCE_DATE_EPOCH");

    // Each guide's own links resolve beside it, and the manifest lists it.
    let manifest = String::from_utf8(entry(&mut zip, "dept/manifest.csv")).unwrap();
    for a in &accounts {
        let folder = format!("dept/users/{}", a.address);
        let guide = parse(&entry(&mut zip, &format!("{folder}/README.html")));
        assert_self_contained(&guide, &provider_links(&provider));
        for link in guide.select(&sel("a[href]")) {
            let href = link.value().attr("href").unwrap();
            if !href.starts_with('#') && !href.contains(':') {
                assert!(names.contains(&resolve(&folder, href)), "{href}");
            }
        }
        assert!(manifest.contains(&format!("users/{}/README.html", a.address)));
    }
}

#[test]
fn index_states_the_bundle_date_and_the_zip_is_deterministic() {
    let accounts = vec![
        account("a@kyoto-u.ac.jp", Some("A")),
        account("b@kyoto-u.ac.jp", None),
    ];
    let options = BundleOptions {
        timestamp: mailconf::bundle::zipstream::DosTime::from_unix(1_775_035_800).unwrap(), // 2026-04-01 09:30 UTC
        ..BundleOptions::default()
    };
    let first = write_bundle(&accounts, &options);
    let reversed: Vec<Account> = accounts.iter().rev().cloned().collect();
    assert_eq!(
        first,
        write_bundle(&reversed, &options),
        "same inputs, same bytes"
    );
    let (_, mut zip) = read_zip(&first);
    let index = parse(&entry(&mut zip, "dept/index.html"));
    let meta = text(index.select(&sel(".meta")).next().unwrap());
    assert!(meta.contains("2026-04-01 09:30 UTC"), "{meta}");
}

#[test]
fn index_stays_light_with_5000_users() {
    let accounts: Vec<Account> = (0..5000)
        .rev()
        .map(|i| {
            account(
                &format!("user{i:05}@kyoto-u.ac.jp"),
                Some(&format!("利用者 {i}")),
            )
        })
        .collect();
    let mut sorted: Vec<&Account> = accounts.iter().collect();
    sorted.sort_by(|a, b| a.address.cmp(&b.address));
    let provider = Provider::kumail();
    let ctx = Context::new(&provider, None);
    let started = std::time::Instant::now();
    let index = mailconf::render::index::render(&ctx, &sorted, &["README.txt"], None).unwrap();
    eprintln!(
        "index.html for 5,000 users: {} bytes in {:?}",
        index.len(),
        started.elapsed()
    );
    // A row is its name, address and one link per file (about 100 bytes each: the href
    // repeats the address): no per-row scripts, forms or heavy markup.
    let per_row = 150 + 100 * ctx.formats.len();
    assert!(
        index.len() < 5000 * per_row + 20_000,
        "index.html is {} bytes",
        index.len()
    );
    let html = parse(&index);
    let rows: Vec<String> = html
        .select(&sel("table.users tbody tr td:nth-child(2)"))
        .map(text)
        .collect();
    assert_eq!(rows.len(), 5000);
    assert_eq!(rows[0], "user00000@kyoto-u.ac.jp");
    assert!(rows.windows(2).all(|w| w[0] < w[1]), "sorted by address");
    let row_elements = html.select(&sel("table.users tbody *")).count();
    assert!(
        // tr, four cells, one link per file
        row_elements <= 5000 * (5 + ctx.formats.len()),
        "{row_elements} elements for 5,000 rows"
    );
}

#[test]
fn html_parser_reports_errors() {
    // The check that every page parses without errors can fail.
    let html = Html::parse_document("<!DOCTYPE html><html><body><p></div></td>");
    assert!(!html.errors.is_empty());
}

fn mailconf() -> Command {
    Command::cargo_bin("mailconf").unwrap()
}

#[test]
fn cli_prints_a_guide() {
    let out = mailconf()
        .args([
            "profile",
            "Taro@kyoto-u.ac.jp",
            "--format",
            "guide",
            "--name",
            HOSTILE,
        ])
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let html = parse(&out);
    assert!(text(section(&html, "ja")).contains("taro@kyoto-u.ac.jp"));
    assert_eq!(
        html.select(&sel(".name")).map(text).next().as_deref(),
        Some(HOSTILE)
    );
    assert_eq!(html.select(&sel("script")).count(), 0);

    let imap = mailconf()
        .args([
            "profile",
            "taro@kyoto-u.ac.jp",
            "--format",
            "guide",
            "--protocol",
            "imap",
        ])
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let html = parse(&imap);
    let host = html
        .select(&sel("table[data-role=preferred] td.host"))
        .next()
        .map(text);
    assert_eq!(host.as_deref(), Some("imap.gmail.com"));
}

#[test]
fn cli_refuses_a_provider_with_a_bad_guide_url() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.toml");
    std::fs::write(
        &path,
        KUMAIL_TOML.replace(
            "webmail_url = \"https://mail.google.com/\"",
            "webmail_url = \"http://mail.google.com/\"",
        ),
    )
    .unwrap();
    mailconf()
        .args([
            "profile",
            "taro@kyoto-u.ac.jp",
            "--format",
            "guide",
            "--provider",
        ])
        .arg(&path)
        .assert()
        .failure()
        .code(1)
        .stderr(
            predicates::str::contains("webmail_url").and(predicates::str::contains("https://")),
        );
}

#[test]
fn cli_bundle_has_a_guide_per_user_and_the_index() {
    let dir = tempfile::tempdir().unwrap();
    let roster = dir.path().join("dept.csv");
    std::fs::write(
        &roster,
        "email,name\nb@kyoto-u.ac.jp,\"<b>B</b> & co\"\na@kyoto-u.ac.jp,A\n",
    )
    .unwrap();
    let zip_path = dir.path().join("dept.zip");
    mailconf()
        .arg("bundle")
        .arg(&roster)
        .arg("-o")
        .arg(&zip_path)
        .arg("--quiet")
        .env("SOURCE_DATE_EPOCH", "1700000000")
        .assert()
        .success();
    let bytes = std::fs::read(&zip_path).unwrap();
    let (names, mut zip) = read_zip(&bytes);
    for a in ["a@kyoto-u.ac.jp", "b@kyoto-u.ac.jp"] {
        assert!(
            names.contains(&format!("dept/users/{a}/README.html")),
            "{names:?}"
        );
    }
    let index = parse(&entry(&mut zip, "dept/index.html"));
    let names_col: Vec<String> = index
        .select(&sel("table.users tbody td.name"))
        .map(text)
        .collect();
    assert_eq!(names_col, ["A", "<b>B</b> & co"]);
    assert_eq!(index.select(&sel("table.users b")).count(), 0);
    let meta = text(index.select(&sel(".meta")).next().unwrap());
    assert!(meta.contains("2023-11-14 22:13 UTC"), "{meta}");
}

#[test]
fn hostile_provider_texts_stay_text_in_the_guide() {
    // Every provider text the guide shows, with markup and entities appended. The guide escapes
    // them once per run (`render::guide::Shared`): once, not twice, and not never.
    const MARK: &str = " <b>&amp;\"'</b> & <";
    fn mark(v: &mut toml::Value) {
        match v {
            toml::Value::String(s) => s.push_str(MARK),
            toml::Value::Array(a) => a.iter_mut().for_each(mark),
            _ => panic!("not a text: {v:?}"),
        }
    }
    let mut doc: toml::Table = KUMAIL_TOML.parse().unwrap();
    for key in ["display_ja", "display_en", "short"] {
        mark(&mut doc["names"][key]);
    }
    for key in ["help_ja", "help_en", "sign_in_ja", "sign_in_en"] {
        mark(&mut doc["guide"][key]);
    }
    for key in ["name_ja", "name_en", "steps_ja", "steps_en"] {
        mark(&mut doc["guide"]["password"][key]);
    }
    for notice in doc["notices"].as_array_mut().unwrap() {
        mark(&mut notice["ja"]);
        mark(&mut notice["en"]);
    }
    let toml = toml::to_string(&doc).unwrap();
    let hostile = Provider::from_toml(&toml, Path::new("hostile.toml")).unwrap();
    let user = account("a@kyoto-u.ac.jp", None);
    let page = parse(&guide(&hostile, None, &user));
    let plain = parse(&guide(&Provider::kumail(), None, &user));

    assert_eq!(
        element_count(&page),
        element_count(&plain),
        "a text added elements"
    );
    assert_eq!(page.select(&sel("b")).count(), 0);
    let all = text(page.root_element());
    let title: String = page.select(&sel("title")).map(text).collect();
    assert!(title.starts_with(&format!("KUMail{MARK} ")), "{title}");
    let names = &hostile.names;
    let guide_texts = &hostile.guide;
    let pw = guide_texts.password.as_ref().unwrap();
    let mut expected = vec![
        names.display_ja.as_str(),
        names.display_en.as_str(),
        guide_texts.help_ja.as_str(),
        guide_texts.help_en.as_str(),
        guide_texts.sign_in_ja.as_str(),
        guide_texts.sign_in_en.as_str(),
        pw.name_ja.as_str(),
        pw.name_en.as_str(),
    ];
    expected.extend(
        pw.steps_ja
            .iter()
            .chain(pw.steps_en.iter())
            .map(|s| s.as_str()),
    );
    for n in &hostile.notices {
        expected.extend([n.ja.as_str(), n.en.as_str()]);
    }
    for value in expected {
        assert!(value.ends_with(MARK), "{value}");
        assert!(all.contains(value), "{value:?} is not on the page as text");
    }
    // The notices' items hold exactly their texts, in the provider's order.
    let items: Vec<String> = page.select(&sel("li[data-notice]")).map(text).collect();
    let notices: Vec<String> = hostile
        .notices
        .iter()
        .map(|n| n.ja.to_string())
        .chain(hostile.notices.iter().map(|n| n.en.to_string()))
        .collect();
    assert_eq!(items, notices);
}
