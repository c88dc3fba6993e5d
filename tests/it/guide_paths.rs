//! Every device's way in the personal guide ends in mail arriving, with Gmail as it is (issue 13):
//! POP switched on first in every POP way and in no IMAP way, the several-devices warning where
//! the person chooses, the Google sign-in profile first on iPhone/iPad, Thunderbird right whether
//! the domain's autoconfig is published or not, the folder extracted first, the warnings a person
//! meets named with the words on screen, and texts that fit every device they appear on.

use crate::common;

use std::path::Path;
use std::sync::Arc;

use common::html::{parse, sel, text};
use common::pki::SignFiles;
use mailconf::input::account::{Account, Address, DisplayName};
use mailconf::input::provider::{KUMAIL_TOML, Protocol, Provider};
use mailconf::render::{Context, Format};
use mailconf::sign::Signer;
use scraper::{ElementRef, Html};

const ADDRESS: &str = "taro@kyoto-u.ac.jp";

fn account() -> Account {
    Account {
        address: Address::parse(ADDRESS).unwrap(),
        name: DisplayName::parse("山田 太郎").unwrap(),
    }
}

fn guide_with(ctx: &Context<'_>) -> Html {
    parse(&Format::Guide.render(ctx, &account()).unwrap())
}

fn guide(provider: &Provider, protocol: Protocol) -> Html {
    guide_with(&Context::new(provider, Some(protocol)))
}

fn provider(toml: &str) -> Provider {
    Provider::from_toml(toml, Path::new("test.toml")).unwrap()
}

fn section<'a>(html: &'a Html, lang: &str) -> ElementRef<'a> {
    html.select(&sel(&format!("section#{lang}")))
        .next()
        .unwrap_or_else(|| panic!("no section#{lang}"))
}

/// The part of a language's section from `<h2 id=ID>` to the next `<h2>`, as elements.
fn part<'a>(html: &'a Html, id: &str) -> Vec<ElementRef<'a>> {
    let heading = html
        .select(&sel(&format!("h2#{id}")))
        .next()
        .unwrap_or_else(|| panic!("no h2#{id}"));
    heading
        .next_siblings()
        .filter_map(ElementRef::wrap)
        .take_while(|e| e.value().name() != "h2")
        .collect()
}

fn part_text(html: &Html, id: &str) -> String {
    part(html, id)
        .into_iter()
        .map(text)
        .collect::<Vec<_>>()
        .join("\n")
}

fn part_has_link_to(html: &Html, id: &str, target: &str) -> bool {
    part(html, id).iter().any(|e| {
        e.select(&sel(&format!("a[href='{target}']")))
            .next()
            .is_some()
    })
}

/// The device sections whose way is POP (all but the Google sign-in and Android).
const POP_SECTIONS: [&str; 4] = ["mac", "outlook", "thunderbird", "ios"];

#[test]
fn pop_ways_start_by_switching_pop_on_and_imap_ways_do_not() {
    let p = Provider::kumail();
    let pop_guide = p.guide.pop.as_ref().unwrap();
    let html = guide(&p, Protocol::Pop3);
    for lang in ["ja", "en"] {
        // The steps: the provider's, in order, in this language.
        let steps: Vec<String> = part(&html, &format!("{lang}-pop"))
            .iter()
            .flat_map(|e| {
                e.select(&sel("ol.pop-steps > li"))
                    .map(text)
                    .collect::<Vec<_>>()
            })
            .collect();
        let want: Vec<&str> = if lang == "ja" {
            pop_guide
                .enable_steps_ja
                .iter()
                .map(|s| s.as_str())
                .collect()
        } else {
            pop_guide
                .enable_steps_en
                .iter()
                .map(|s| s.as_str())
                .collect()
        };
        assert_eq!(steps, want, "{lang}");
        // KUMail's steps name Gmail's own buttons.
        let all = steps.join("\n");
        if lang == "ja" {
            assert!(
                all.contains("「すべてのメールで POP を有効にする」")
                    && all.contains("「変更を保存」")
            );
            assert!(all.contains("メール転送と POP/IMAP") && all.contains("1,250 MB"));
        } else {
            assert!(
                all.contains(
                    "\"Enable POP for all mail (even mail that's already been downloaded)\""
                ) && all.contains("\"Save Changes\"")
            );
            assert!(all.contains("Forwarding and POP/IMAP") && all.contains("1,250 MB"));
        }
        // The POP section comes before the devices: the person meets it first.
        let ids: Vec<&str> = section(&html, lang)
            .select(&sel("h2[id]"))
            .map(|h| h.value().id().unwrap())
            .collect();
        let at = |id: &str| {
            ids.iter()
                .position(|i| *i == format!("{lang}-{id}"))
                .unwrap()
        };
        assert!(at("pop") < at("mac") && at("pop") < at("outlook") && at("pop") < at("ios"));
        // Every POP way's list starts with it.
        for device in POP_SECTIONS {
            let lists: Vec<ElementRef> = part(&html, &format!("{lang}-{device}"))
                .into_iter()
                .filter(|e| e.value().name() == "ol")
                .collect();
            let firsts: Vec<bool> = lists
                .iter()
                .map(|ol| {
                    ol.select(&sel("li"))
                        .next()
                        .and_then(|li| li.select(&sel(&format!("a[href='#{lang}-pop']"))).next())
                        .is_some()
                })
                .collect();
            match device {
                // The Google sign-in is not POP; the POP profile is the second way.
                "ios" => assert_eq!(firsts, [false, true], "{lang}-{device}"),
                // Way 2 (the .reg) comes after way 1, which switched POP on already.
                "outlook" => assert_eq!(firsts, [true, false], "{lang}-{device}"),
                "thunderbird" => assert_eq!(firsts[..2], [true, false], "{lang}-{device}"),
                _ => assert_eq!(firsts, [true], "{lang}-{device}"),
            }
        }
        assert!(!part_has_link_to(
            &html,
            &format!("{lang}-android"),
            &format!("#{lang}-pop")
        ));
    }

    // IMAP: no device way mentions switching POP on; the steps stay for the POP alternative of
    // the settings, after them.
    let html = guide(&p, Protocol::Imap);
    for lang in ["ja", "en"] {
        for device in ["mac", "outlook", "thunderbird", "ios", "android", "files"] {
            let id = format!("{lang}-{device}");
            assert!(
                !part_has_link_to(&html, &id, &format!("#{lang}-pop")),
                "{id}"
            );
            let words = part_text(&html, &id);
            assert!(
                !words.contains("POP を有効") && !words.contains("switch POP on"),
                "{id}: {words}"
            );
            assert!(
                !words.contains(pop_guide.several_devices_en.as_str()),
                "{id}"
            );
        }
        let ids: Vec<&str> = section(&html, lang)
            .select(&sel("h2[id]"))
            .map(|h| h.value().id().unwrap())
            .collect();
        let pop = ids
            .iter()
            .position(|i| *i == format!("{lang}-pop"))
            .unwrap();
        let settings = ids
            .iter()
            .position(|i| *i == format!("{lang}-settings"))
            .unwrap();
        assert!(pop > settings, "{ids:?}");
        assert!(part_has_link_to(
            &html,
            &format!("{lang}-settings"),
            &format!("#{lang}-pop")
        ));
    }

    // A provider without [guide.pop] asks nothing of POP users.
    let start = KUMAIL_TOML.find("[guide.pop]").unwrap();
    let end = KUMAIL_TOML.find("[guide.android]").unwrap();
    let toml = format!("{}{}", &KUMAIL_TOML[..start], &KUMAIL_TOML[end..]);
    let html = guide(&provider(&toml), Protocol::Pop3);
    assert!(
        html.select(&sel("h2#en-pop, h2#ja-pop, a[href$='-pop']"))
            .next()
            .is_none()
    );
}

#[test]
fn the_several_devices_warning_stands_where_the_person_chooses() {
    let p = Provider::kumail();
    let pop = p.guide.pop.as_ref().unwrap();
    let html = guide(&p, Protocol::Pop3);
    for (lang, warning) in [
        ("ja", pop.several_devices_ja.as_str()),
        ("en", pop.several_devices_en.as_str()),
    ] {
        let choose = part(&html, &format!("{lang}-files"));
        let warned = choose.iter().position(|e| text(*e) == warning);
        let ways = choose.iter().position(|e| e.value().name() == "ul");
        assert!(
            warned.is_some() && warned < ways,
            "{lang}: before the list of ways"
        );
        // Phones and tablets are led to what syncs: the Google sign-in on iPhone, first.
        let first: Vec<String> = choose[ways.unwrap()]
            .select(&sel("li"))
            .take(2)
            .map(text)
            .collect();
        assert!(
            first[0].contains("iPhone") && first[0].contains("google.mobileconfig"),
            "{first:?}"
        );
        assert!(
            first[1].contains("iPhone") && first[1].contains(&format!("{ADDRESS}.mobileconfig"))
        );
    }
    assert!(pop.several_devices_en.as_str().contains("one computer"));
    assert!(pop.several_devices_ja.as_str().contains("1 台のパソコン"));
}

#[test]
fn the_google_profile_is_in_a_default_bundle_and_first_on_iphone() {
    let p = Provider::kumail();
    assert!(p.google_workspace);
    let ctx = Context::new(&p, None);
    assert!(ctx.formats.contains(&Format::AppleGoogle));
    let html = guide_with(&ctx);
    for (lang, way1, way2) in [
        (
            "ja",
            "方法 1(おすすめ): Google でログイン",
            "方法 2: パスワードで POP3",
        ),
        (
            "en",
            "Way 1 (recommended): sign in with Google",
            "Way 2: POP3 with a password",
        ),
    ] {
        let headings: Vec<String> = part(&html, &format!("{lang}-ios"))
            .into_iter()
            .filter(|e| e.value().name() == "h3")
            .map(text)
            .collect();
        assert_eq!(headings, [way1, way2], "{lang}");
        let links: Vec<String> = part(&html, &format!("{lang}-ios"))
            .iter()
            .flat_map(|e| {
                e.select(&sel("a.file"))
                    .map(|a| a.value().attr("href").unwrap().to_string())
                    .collect::<Vec<_>>()
            })
            .collect();
        assert_eq!(
            links,
            [
                format!("{ADDRESS}-google.mobileconfig"),
                format!("{ADDRESS}.mobileconfig")
            ]
        );
        // The Mac's way is the POP profile, not the Google one (which does nothing there).
        let mac = part_text(&html, &format!("{lang}-mac"));
        assert!(mac.contains(&format!("{ADDRESS}.mobileconfig")) && !mac.contains("google"));
    }
    // The sections: phones first.
    let ids: Vec<&str> = section(&html, "en")
        .select(&sel("h2[id]"))
        .map(|h| h.value().id().unwrap())
        .collect();
    let devices: Vec<&str> = ids
        .iter()
        .copied()
        .filter(|i| {
            [
                "en-ios",
                "en-android",
                "en-mac",
                "en-outlook",
                "en-thunderbird",
            ]
            .contains(i)
        })
        .collect();
    assert_eq!(
        devices,
        [
            "en-ios",
            "en-android",
            "en-mac",
            "en-outlook",
            "en-thunderbird"
        ]
    );

    // A provider that is not Google Workspace gets no Google profile unless asked.
    let other =
        provider(&KUMAIL_TOML.replace("google_workspace = true", "google_workspace = false"));
    assert!(
        !Context::new(&other, None)
            .formats
            .contains(&Format::AppleGoogle)
    );
}

#[test]
fn the_bundle_carries_the_google_profile_unless_told_not_to() {
    let dir = common::tempdir();
    let roster = dir.path().join("r.csv");
    std::fs::write(&roster, "email\ntaro@kyoto-u.ac.jp\n").unwrap();
    let names = |extra: &[&str]| -> Vec<String> {
        let zip = dir.path().join("out.zip");
        common::mailconf()
            .arg("bundle")
            .arg(&roster)
            .arg("-o")
            .arg(&zip)
            .args(["--force", "--quiet"])
            .args(extra)
            .assert()
            .success();
        let bytes = std::fs::read(&zip).unwrap();
        let archive = zip::ZipArchive::new(std::io::Cursor::new(bytes)).unwrap();
        archive
            .file_names()
            .map(|n| n.unwrap().into_owned())
            .collect()
    };
    let google = format!("out/users/{ADDRESS}/{ADDRESS}-google.mobileconfig");
    assert!(names(&[]).contains(&google));
    assert!(
        names(&["--apple-google-account"]).contains(&google),
        "still accepted"
    );
    let without = names(&["--no-apple-google-account"]);
    assert!(!without.contains(&google));
    assert!(without.contains(&format!("out/users/{ADDRESS}/{ADDRESS}.mobileconfig")));
    common::mailconf()
        .arg("bundle")
        .arg(&roster)
        .args(["--apple-google-account", "--no-apple-google-account"])
        .assert()
        .code(2);
}

#[test]
fn thunderbird_is_right_whether_autoconfig_is_published_or_not() {
    // Thunderbird 153's Account Hub; tests/it/thunderbird_app.rs follows these steps in the real one.
    let p = Provider::kumail();
    assert!(!p.autoconfig.published);
    let html = guide(&p, Protocol::Pop3);
    let kinds = |html: &Html, lang: &str, class: &str| -> Vec<String> {
        part(html, &format!("{lang}-thunderbird"))
            .into_iter()
            .filter(|e| e.value().name() == "ol" && e.value().attr("class") == Some(class))
            .flat_map(|ol| {
                ol.select(&sel("li"))
                    .map(|li| li.value().attr("data-tb").unwrap_or("").to_string())
                    .collect::<Vec<_>>()
            })
            .collect()
    };
    for (lang, found, recommended, pop3, edit) in [
        (
            "ja",
            "「アカウント設定が Mozilla ISPDB から見つかりました。」",
            "「推奨」",
            "「POP3」をクリックして選び直します",
            "「設定を編集」",
        ),
        (
            "en",
            "“Configuration found in Mozilla ISPDB.”",
            "“RECOMMENDED”",
            "click “POP3” instead",
            "“EDIT CONFIGURATION”",
        ),
    ] {
        // Not published: Thunderbird offers its Gmail settings, IMAP first; the guide has POP3
        // chosen, and says what differs (465) and how to change it.
        let tb = part_text(&html, &format!("{lang}-thunderbird"));
        for words in [found, recommended, pop3, edit, "465", "587", "STARTTLS"] {
            assert!(tb.contains(words), "{lang}: {words:?} missing: {tb}");
        }
        assert_eq!(
            kinds(&html, lang, "tb-steps"),
            [
                "gmail-pop",
                "open",
                "address",
                "found",
                "continue",
                "signin",
                "finish"
            ]
        );
        assert_eq!(
            kinds(&html, lang, "tb-smtp"),
            ["edit", "incoming-keep", "outgoing-port"]
        );
        assert!(html.select(&sel("table.thunderbird")).next().is_none());
        // The way to port 587 stands where it is taken: between the settings found and step 5,
        // "Continue", which it replaces.
        let lists: Vec<(String, Option<String>)> = part(&html, &format!("{lang}-thunderbird"))
            .into_iter()
            .filter(|e| e.value().name() == "ol")
            .map(|e| {
                (
                    e.value().attr("class").unwrap_or("").to_string(),
                    e.value().attr("start").map(str::to_string),
                )
            })
            .collect();
        assert_eq!(
            lists[..3],
            [
                ("tb-steps".to_string(), None),
                ("tb-smtp".to_string(), None),
                ("tb-steps".to_string(), Some("5".to_string()))
            ]
        );
        let instead = if lang == "ja" {
            "手順 5 の代わりに次のようにしてから、手順 6 に進みます"
        } else {
            "instead of step 5, then go on with step 6"
        };
        assert!(tb.contains(instead), "{lang}: {tb}");
        // Nothing of the retired setup dialog.
        for gone in [
            "Configure manually",
            "Re-test",
            "Existing Email",
            "Available configurations",
            "あなたのお名前",
            "再テスト",
            "既存のメールアドレス",
            "利用可能な設定",
        ] {
            assert!(!tb.contains(gone), "{lang}: {gone:?}");
        }
    }

    // Not at Google and not published: the values are typed from the first screen's link.
    let other =
        provider(&KUMAIL_TOML.replace("google_workspace = true", "google_workspace = false"));
    let html = guide(&other, Protocol::Pop3);
    for (lang, manual, incoming, outgoing) in [
        (
            "ja",
            "「手動設定」",
            "「受信サーバー設定」",
            "「送信サーバー設定」",
        ),
        (
            "en",
            "“MANUAL CONFIGURATION”",
            "“Incoming server settings”",
            "“Outgoing server settings”",
        ),
    ] {
        let tb = part_text(&html, &format!("{lang}-thunderbird"));
        assert!(
            tb.contains(manual) && tb.contains(incoming) && tb.contains(outgoing),
            "{lang}: {tb}"
        );
        assert_eq!(
            kinds(&html, lang, "tb-steps"),
            [
                "gmail-pop",
                "open",
                "address-manual",
                "incoming",
                "outgoing",
                "signin",
                "finish"
            ]
        );
        let rows: Vec<(String, String)> = part(&html, &format!("{lang}-thunderbird"))
            .iter()
            .flat_map(|e| e.select(&sel("table.thunderbird tr")).collect::<Vec<_>>())
            .map(|tr| {
                let th: Vec<String> = tr.select(&sel("th")).map(text).collect();
                let td: Vec<String> = tr.select(&sel("td")).map(text).collect();
                (th.join(""), td.join(""))
            })
            .collect();
        let value = |label: &str, nth: usize| -> String {
            rows.iter()
                .filter(|(l, _)| l == label)
                .nth(nth)
                .map(|(_, v)| v.clone())
                .unwrap_or_else(|| panic!("{lang}: no {label} #{nth} in {rows:?}"))
        };
        let (protocol, host, port, security, auth, user) = if lang == "ja" {
            (
                "プロトコル",
                "ホスト名",
                "ポート番号",
                "接続の保護",
                "認証方式",
                "ユーザー名",
            )
        } else {
            (
                "Protocol",
                "Hostname",
                "Port",
                "Connection security",
                "Authentication method",
                "Username",
            )
        };
        assert_eq!(value(protocol, 0), "POP3");
        assert_eq!(value(host, 0), "pop.gmail.com");
        assert_eq!(value(port, 0), "995");
        assert_eq!(value(security, 0), "SSL/TLS");
        assert_eq!(value(auth, 0), "OAuth2");
        assert_eq!(value(user, 0), ADDRESS);
        assert_eq!(value(host, 1), "smtp.gmail.com");
        assert_eq!(value(port, 1), "587");
        assert_eq!(value(security, 1), "STARTTLS");
        assert_eq!(value(auth, 1), "OAuth2");
        assert_eq!(value(user, 1), ADDRESS);
    }

    // Published: Thunderbird finds the provider's settings, POP3 chosen; nothing to type.
    let published = provider(&KUMAIL_TOML.replace(
        "[autoconfig]\npublished = false",
        "[autoconfig]\npublished = true",
    ));
    let html = guide(&published, Protocol::Pop3);
    assert!(html.select(&sel("table.thunderbird")).next().is_none());
    let en = part_text(&html, "en-thunderbird");
    assert!(
        en.contains("“Configuration found at email provider.”")
            && en.contains("“POP3” is chosen and marked “RECOMMENDED”"),
        "{en}"
    );
    assert!(!en.contains("ISPDB") && !en.contains("465"));
    let ja = part_text(&html, "ja-thunderbird");
    assert!(ja.contains("「アカウント設定がメールプロバイダーから見つかりました。」"));
    assert_eq!(
        kinds(&html, "en", "tb-steps"),
        [
            "gmail-pop",
            "open",
            "address",
            "found",
            "continue",
            "signin",
            "finish"
        ]
    );
    assert!(kinds(&html, "en", "tb-smtp").is_empty());
    // The "which way" list says so too.
    assert!(part_text(&html, "en-files").contains("Thunderbird finds the settings itself"));
    assert!(part_text(&guide(&p, Protocol::Pop3), "en-files").contains("you type the settings"));
    // A url without published is a mistake in the provider file.
    let e = Provider::from_toml(
        &KUMAIL_TOML.replace("# url = \"https://autoconfig", "url = \"https://autoconfig"),
        Path::new("p.toml"),
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("published is false"), "{e}");
}

#[test]
fn thunderbird_pop_settings_follow_the_providers_pop_policy() {
    // KUMail: keep mail on the server, never delete by age; Thunderbird's defaults delete after
    // 14 days and when deleted locally, and autoconfig cannot say "never".
    let html = guide(&Provider::kumail(), Protocol::Pop3);
    let steps = |html: &Html, lang: &str| -> Vec<String> {
        part(html, &format!("{lang}-thunderbird"))
            .into_iter()
            .filter(|e| e.value().name() == "ol")
            .last()
            .unwrap()
            .select(&sel("li"))
            .map(text)
            .collect()
    };
    assert_eq!(
        steps(&html, "en")[1..],
        [
            "Check “Leave messages on server”.",
            "Uncheck “For at most 14 days”.",
            "Uncheck “Until I delete them”."
        ]
    );
    assert_eq!(
        steps(&html, "ja")[1..],
        [
            "「ダウンロード後もサーバーにメッセージを残す」をオンにします。",
            "「ダウンロードしてから 14 日以上経過したメッセージは削除する」をオフにします。",
            "「ダウンロードしたメッセージを削除したらサーバーからも削除する」をオフにします。"
        ]
    );
    assert!(
        steps(&html, "en")[0].contains("“Account Settings”")
            && steps(&html, "en")[0].contains("“Server Settings”")
    );
    // Thirty days: the autoconfig file says it, and the guide agrees.
    let days = provider(&KUMAIL_TOML.replace("# days_on_server = 14", "days_on_server = 30"));
    let html = guide(&days, Protocol::Pop3);
    assert_eq!(
        steps(&html, "en")[2],
        "Check “For at most” and type 30 in its box."
    );
    let config = Format::Thunderbird
        .render(&Context::new(&days, None), &account())
        .unwrap();
    let parsed = common::parse_autoconfig(&config);
    assert!(
        parsed.incoming[0]
            .pop3
            .contains(&("daysToLeaveMessagesOnServer".into(), "30".into()))
    );
    // Not kept: the guide says to uncheck "Leave messages on server".
    let gone = provider(&KUMAIL_TOML.replace("leave_on_server = true", "leave_on_server = false"));
    let html = guide(&gone, Protocol::Pop3);
    assert_eq!(
        steps(&html, "en")[1..],
        ["Uncheck “Leave messages on server”."]
    );
    // IMAP has no such settings.
    let html = guide(&Provider::kumail(), Protocol::Imap);
    assert!(!part_text(&html, "en-thunderbird").contains("Leave messages on server"));
}

#[test]
fn the_folder_is_extracted_before_anything_is_opened() {
    let html = guide(&Provider::kumail(), Protocol::Pop3);
    for lang in ["ja", "en"] {
        let note = html
            .select(&sel(&format!("#{lang}-extract")))
            .next()
            .unwrap_or_else(|| panic!("{lang}: no extract note"));
        let words = text(note);
        // Before the ways.
        let ids: Vec<String> = section(&html, lang)
            .select(&sel("[id]"))
            .map(|e| e.value().id().unwrap().to_string())
            .collect();
        let at = |id: &str| ids.iter().position(|i| i == id).unwrap();
        assert!(at(&format!("{lang}-extract")) < at(&format!("{lang}-files")));
        if lang == "ja" {
            assert!(words.contains("「すべて展開」") && words.contains("zip"));
        } else {
            assert!(words.contains("“Extract All…”") && words.contains("zip"));
        }
        // The Outlook way checks it again.
        assert!(part_text(&html, &format!("{lang}-outlook")).contains("zip"));
    }
}

fn signer() -> Arc<Signer> {
    let files = SignFiles::new();
    Arc::new(Signer::load(&files.source("cert.pem", "key.pem")).unwrap())
}

#[test]
fn the_warnings_on_the_way_are_named_as_they_appear() {
    let p = Provider::kumail();
    let unsigned = guide(&p, Protocol::Pop3);
    let mut ctx = Context::new(&p, Some(Protocol::Pop3));
    ctx.signer = Some(signer());
    let signed = guide_with(&ctx);
    for (lang, mac_word, ios_word) in [
        ("ja", "「未署名」", "署名がないことを示す赤い表示"),
        ("en", "“Unsigned”", "“Not Signed” in red"),
    ] {
        assert!(
            part_text(&unsigned, &format!("{lang}-mac")).contains(mac_word),
            "{lang}"
        );
        assert!(
            part_text(&unsigned, &format!("{lang}-ios")).contains(ios_word),
            "{lang}"
        );
        assert!(
            !part_text(&signed, &format!("{lang}-mac")).contains(mac_word),
            "{lang}"
        );
        assert!(
            !part_text(&signed, &format!("{lang}-ios")).contains(ios_word),
            "{lang}"
        );
    }
    // Windows' protection prompts, and which Outlook the person has.
    let outlook_en = part_text(&unsigned, "en-outlook");
    for words in [
        "“Windows protected your PC”: click “More info”, then “Run anyway”",
        "“Open File - Security Warning” (“The publisher could not be verified. Are you sure you want to run this software?”): click “Run”",
        "classic Outlook has a “File” tab",
        "“New Outlook” switch",
        "“Do you want to allow this app to make changes to your device?”",
    ] {
        assert!(
            outlook_en.contains(words),
            "{words:?} missing from {outlook_en}"
        );
    }
    let outlook_ja = part_text(&unsigned, "ja-outlook");
    for words in [
        "「Windows によって PC が保護されました」: 「詳細情報」をクリックし、「実行」をクリックします",
        "「開いているファイル - セキュリティの警告」(「発行元を確認できませんでした。このソフトウェアを実行しますか?」): 「実行」",
        "左上に「ファイル」タブ",
        "「新しい Outlook」の切り替えスイッチ",
        "「このアプリがデバイスに変更を加えることを許可しますか?」",
    ] {
        assert!(
            outlook_ja.contains(words),
            "{words:?} missing from {outlook_ja}"
        );
    }
    // What to do on the new Outlook.
    assert!(outlook_en.contains("Settings > Accounts > Email accounts > “Add account”"));
    assert!(
        outlook_ja.contains("「設定」>「アカウント」>「メール アカウント」>「アカウントの追加」")
    );
}

#[test]
fn texts_fit_every_device_they_appear_on() {
    // The notices are Apple's consent text on iPhones and Macs alike, and every guide's "Good to
    // know": no text may speak of one kind of device.
    let p = Provider::kumail();
    for notice in &p.notices {
        for text in [notice.ja.as_str(), notice.en.as_str()] {
            for word in ["computer", "コンピュータ", "パソコン", " PC", "Mac"] {
                assert!(
                    !text.contains(word),
                    "notice {} says {word:?}: {text}",
                    notice.id
                );
            }
        }
    }
    // And in the profiles as installed: the consent text of the mail profile.
    let ctx = Context::new(&p, None);
    let profile = Format::Apple.render(&ctx, &account()).unwrap();
    let value = plist::Value::from_reader_xml(&profile[..]).unwrap();
    let consent = value
        .as_dictionary()
        .unwrap()
        .get("ConsentText")
        .and_then(|c| c.as_dictionary())
        .unwrap();
    for (lang, text) in consent {
        let text = text.as_string().unwrap();
        assert!(
            !text.contains("computer") && !text.contains("コンピュータ"),
            "{lang}: {text}"
        );
    }
}

#[test]
fn the_index_speaks_to_it_staff_and_the_publish_readme_to_web_administrators() {
    let p = Provider::kumail();
    let ctx = Context::new(&p, None);
    let account = account();
    let page = mailconf::render::index::render(&ctx, &[&account], &["README.txt"], None).unwrap();
    let html = parse(&page);
    // The guides' help text ("take this page to your department's IT staff") is quoted as what
    // the guides say, never given to IT staff as their own advice.
    for help in [p.guide.help_ja.as_str(), p.guide.help_en.as_str()] {
        let holders: Vec<String> = html
            .select(&sel("body *"))
            .filter(|e| {
                e.children()
                    .any(|c| c.value().as_text().is_some_and(|t| t.contains(help)))
            })
            .map(|e| e.value().name().to_string())
            .collect();
        assert_eq!(holders, ["blockquote"], "{help}");
    }
    let all = text(html.root_element());
    assert!(all.contains("Extract the zip file before opening anything"));
    assert!(all.contains("開く前に展開してください"));
    assert!(all.contains("must first switch POP on themselves"));
    assert!(all.contains("autoconfig is not published"));

    let files = mailconf::render::publish::files(&p, Protocol::Pop3).unwrap();
    let readme = &files.iter().find(|f| f.path == "README.txt").unwrap().bytes;
    let text = std::str::from_utf8(
        readme
            .strip_prefix(b"\xEF\xBB\xBF")
            .expect("a BOM for Notepad"),
    )
    .unwrap();
    assert!(
        !text.contains("DOMAIN"),
        "the real domain, not a placeholder"
    );
    for words in [
        "https://autoconfig.kyoto-u.ac.jp/mail/config-v1.1.xml",
        "https://kyoto-u.ac.jp/.well-known/autoconfig/mail/config-v1.1.xml",
        "isp/kyoto-u.ac.jp.xml",
        // Hidden folder, certificate, and what changes for everyone, in both languages.
        ".well-known is a hidden folder",
        "隠しフォルダー",
        "needs a valid TLS certificate",
        "有効な TLS 証明書",
        "changes what Thunderbird offers every user of the domain",
        "すべての利用者に対して Thunderbird が提案する設定が変わります",
        "published = true",
    ] {
        assert!(text.contains(words), "{words:?} missing");
    }
}

/// The text of a QR code shown as an `<img>` of an inline PNG (one pixel a module, one bit a
/// pixel), read back with rqrr from the picture scaled up 4 times.
fn read_qr(img: scraper::ElementRef<'_>) -> String {
    use base64::Engine;
    use std::io::Read;
    const SCALE: usize = 4;
    let src = img.value().attr("src").expect("an image");
    let png = base64::engine::general_purpose::STANDARD
        .decode(
            src.strip_prefix("data:image/png;base64,")
                .expect("an inline PNG"),
        )
        .unwrap();
    assert!(png.starts_with(b"\x89PNG\r\n\x1a\n"));
    // The chunks: IHDR (size, one bit of grey a pixel), IDAT (zlib), IEND.
    let (mut size, mut idat, mut rest) = (0, Vec::new(), &png[8..]);
    while rest.len() >= 12 {
        let len = u32::from_be_bytes(rest[..4].try_into().unwrap()) as usize;
        let (kind, body) = (&rest[4..8], &rest[8..8 + len]);
        match kind {
            b"IHDR" => {
                size = u32::from_be_bytes(body[..4].try_into().unwrap()) as usize;
                assert_eq!(&body[8..10], &[1, 0], "one bit of grey a pixel");
            }
            b"IDAT" => idat.extend_from_slice(body),
            _ => {}
        }
        rest = &rest[12 + len..];
    }
    let mut raw = Vec::new();
    flate2::read::ZlibDecoder::new(&idat[..])
        .read_to_end(&mut raw)
        .unwrap();
    let stride = 1 + size.div_ceil(8);
    let dark = |x: usize, y: usize| {
        let line = &raw[y * stride..(y + 1) * stride];
        assert_eq!(line[0], 0, "rows without a filter");
        line[1 + x / 8] & (0x80 >> (x % 8)) == 0
    };
    let mut image =
        rqrr::PreparedImage::prepare_from_greyscale(size * SCALE, size * SCALE, |x, y| {
            if dark(x / SCALE, y / SCALE) { 0 } else { 255 }
        });
    let grids = image.detect_grids();
    assert_eq!(grids.len(), 1, "one QR code");
    grids[0].decode().expect("a readable QR code").1
}

#[test]
fn the_bundle_points_each_person_to_their_page_when_the_server_is_named() {
    let toml = KUMAIL_TOML.replace(
        "# public_url = \"https://mail-setup.kyoto-u.ac.jp\"",
        "public_url = \"https://mail-setup.kyoto-u.ac.jp/setup/\"",
    );
    let p = provider(&toml);
    let html = guide(&p, Protocol::Pop3);
    let want = "https://mail-setup.kyoto-u.ac.jp/setup/?emailaddress=taro%40kyoto-u.ac.jp&name=%E5%B1%B1%E7%94%B0%20%E5%A4%AA%E9%83%8E";
    for lang in ["ja", "en"] {
        let block = html
            .select(&sel(&format!("#{lang}-page")))
            .next()
            .unwrap_or_else(|| panic!("{lang}: no self-service block"));
        let links: Vec<&str> = block
            .select(&sel("a[href]"))
            .map(|a| a.value().attr("href").unwrap())
            .collect();
        assert_eq!(links, [want]);
        let img = block.select(&sel(".qr img")).next().expect("a QR code");
        assert_eq!(read_qr(img), want, "the QR code leads to the person's page");
    }
    // The index: the page's root, and its QR code.
    let ctx = Context::new(&p, None);
    let account = account();
    let index =
        parse(&mailconf::render::index::render(&ctx, &[&account], &["README.txt"], None).unwrap());
    let block = index
        .select(&sel(".self-service"))
        .next()
        .expect("the index names the page");
    let img = block.select(&sel(".qr img")).next().unwrap();
    assert_eq!(read_qr(img), "https://mail-setup.kyoto-u.ac.jp/setup/");
    // Without a server, neither says anything of one.
    let html = guide(&Provider::kumail(), Protocol::Pop3);
    assert!(
        html.select(&sel(".self-service, .qr, img"))
            .next()
            .is_none()
    );
}

#[test]
fn iphone_app_password_and_gmail_steps_say_what_apple_kumail_and_google_say() {
    let html = guide(&Provider::kumail(), Protocol::Pop3);
    for (lang, words) in [
        (
            "en",
            [
                "within 8 minutes",
                "only one profile waits at a time",
                "Stolen Device Protection",
            ],
        ),
        ("ja", ["8 分以内", "一度に 1 つだけ", "盗難デバイスの保護"]),
    ] {
        let ios = part_text(&html, &format!("{lang}-ios"));
        for w in words {
            // Said for both profiles (the Google one and the POP one).
            assert_eq!(ios.matches(w).count(), 2, "{lang}: {w:?} in {ios}");
        }
    }
    let en = part_text(&html, "en-password");
    for w in [
        "smartphone",
        "24 hours",
        "make a new app password",
        "at any time",
    ] {
        assert!(en.contains(w), "{w:?} in {en}");
    }
    let ja = part_text(&html, "ja-password");
    for w in ["スマートフォン", "24 時間", "作り直せます"] {
        assert!(ja.contains(w), "{w:?} in {ja}");
    }
    let pop = part_text(&html, "en-pop");
    assert!(
        pop.contains("\"Enable POP for all mail (even mail that's already been downloaded)\""),
        "{pop}"
    );
}

#[test]
fn every_quoted_label_is_marked_and_comes_from_the_labels_file() {
    // Each label a guide quotes is a span with its key, and its text is the file's.
    let entries = mailconf::render::labels::entries().unwrap();
    let published = provider(&KUMAIL_TOML.replace(
        "[autoconfig]\npublished = false",
        "[autoconfig]\npublished = true",
    ));
    let other =
        provider(&KUMAIL_TOML.replace("google_workspace = true", "google_workspace = false"));
    // Password sign-in, no encryption on one server, and a number of days to keep mail.
    let password = provider(
        &KUMAIL_TOML
            .replace("google_workspace = true", "google_workspace = false")
            .replace("auth = [\"oauth2\", \"password\"]", "auth = [\"password\"]")
            .replace(
                "port = 587\nsecurity = \"starttls\"",
                "port = 25\nsecurity = \"plain\"",
            )
            .replace("# days_on_server = 14", "days_on_server = 30"),
    );
    let mut keys = std::collections::BTreeSet::new();
    for p in [Provider::kumail(), published, other, password] {
        for protocol in [Protocol::Pop3, Protocol::Imap] {
            let html = guide(&p, protocol);
            for lang in ["ja", "en"] {
                for span in section(&html, lang).select(&sel("span.ui")) {
                    let key = span.value().attr("data-label").unwrap();
                    let entry = &entries[key];
                    let want = if lang == "ja" { &entry.ja } else { &entry.en };
                    assert_eq!(Some(text(span)), want.clone(), "{lang} {key}");
                    keys.insert(key.to_string());
                }
            }
        }
    }
    // Every label of the file is quoted by some guide.
    let unused: Vec<&String> = entries.keys().filter(|k| !keys.contains(*k)).collect();
    assert!(unused.is_empty(), "labels no guide quotes: {unused:?}");
}

#[test]
fn the_served_guide_shows_thunderbirds_protocol_choice_and_a_folders_guide_does_not() {
    use mailconf::render::guide::{Links, View, picture};
    let p = Provider::kumail();
    // A folder's guide: no picture (every person's folder would carry it).
    let folder = guide(&p, Protocol::Pop3);
    assert!(folder.select(&sel("img.screen")).next().is_none());
    // The server's: the step that switches to POP3 shows Thunderbird's choice, from the server.
    let mut ctx = Context::new(&p, Some(Protocol::Pop3));
    ctx.view = View {
        links: Links::Web {
            base: "https://mail-setup.example.org".into(),
        },
        ..View::default()
    };
    let served = guide_with(&ctx);
    for lang in ["ja", "en"] {
        let img = served
            .select(&sel(&format!(
                "section#{lang} li[data-tb=found] img.screen"
            )))
            .next()
            .unwrap_or_else(|| panic!("{lang}: no picture"));
        let src = img.value().attr("src").unwrap();
        assert_eq!(
            src,
            format!("https://mail-setup.example.org/guide/img/thunderbird-choose-pop3-{lang}.png")
        );
        assert!(!img.value().attr("alt").unwrap_or("").is_empty());
        let name = src.rsplit('/').next().unwrap();
        let png = picture(name).unwrap_or_else(|| panic!("{name} is not served"));
        assert!(png.starts_with(b"\x89PNG\r\n\x1a\n"), "{name}");
    }
    // Published, or IMAP: nothing to switch, no picture.
    let published = provider(&KUMAIL_TOML.replace(
        "[autoconfig]\npublished = false",
        "[autoconfig]\npublished = true",
    ));
    ctx = Context::new(&published, Some(Protocol::Pop3));
    ctx.view.links = Links::Web {
        base: String::new(),
    };
    assert!(guide_with(&ctx).select(&sel("img.screen")).next().is_none());
}
