//! The pages people read, in a real browser (headless chromium, see `common::browser`): at phone
//! width (390 px) and desktop width, nothing runs off the side, file names in the "which way"
//! list take at most two lines, and no heading or table header breaks a word. The self-service
//! page and the IT-staff page are used as people use them (typed in, files chosen, downloads
//! compared). Screenshots go to `target/screenshots/`, and into `dist/screenshots/` with
//! `MAILCONF_UPDATE_DIST=1`.

use crate::common;

use std::path::{Path, PathBuf};

use common::browser::{self, Browser, DESKTOP, Device, PHONE};
use mailconf::input::account::{Account, Address, DisplayName};
use mailconf::input::provider::Provider;
use mailconf::render::{Context, Format};
use serde_json::Value;

/// What the layout check measures, as JSON.
const LAYOUT: &str = r#"
const out = { overflow: document.documentElement.scrollWidth - document.documentElement.clientWidth, files: [], broken: [], tall: [] };
for (const a of document.querySelectorAll('ul.ways a.file')) {
  const lines = new Set(Array.from(a.getClientRects()).map(r => Math.round(r.top)));
  out.files.push([a.textContent, lines.size]);
}
const lineCount = (node, start, end) => {
  const r = document.createRange();
  r.setStart(node, start);
  r.setEnd(node, end);
  return new Set(Array.from(r.getClientRects()).filter(x => x.width > 0).map(x => Math.round(x.top))).size;
};
for (const el of document.querySelectorAll('th, h1, h2, h3, caption')) {
  const walker = document.createTreeWalker(el, NodeFilter.SHOW_TEXT);
  let node;
  while ((node = walker.nextNode())) {
    const ja = node.parentElement.closest('[lang]').getAttribute('lang') === 'ja';
    if (ja && el.tagName === 'TH' && lineCount(node, 0, node.data.length) > 1) {
      out.tall.push(node.data);
    }
    const words = /[A-Za-z0-9@._\-\/]+/g;
    let m;
    while ((m = words.exec(node.data))) {
      if (lineCount(node, m.index, m.index + m[0].length) > 1) out.broken.push(m[0]);
    }
  }
}
return out;
"#;

/// The elements that reach past the window's right edge, innermost first, for the message.
const WIDE: &str = r#"
const w = document.documentElement.clientWidth;
return Array.from(document.querySelectorAll('body *'))
  .filter(e => e.getBoundingClientRect().right > w + 0.5)
  .reverse()
  .slice(0, 5)
  .map(e => e.tagName + '.' + e.className + ': ' + (e.textContent || '').slice(0, 60));
"#;

fn account() -> Account {
    Account {
        address: Address::parse("taro.yamada@kyoto-u.ac.jp").unwrap(),
        name: DisplayName::parse("山田 太郎").unwrap(),
    }
}

/// Writes the example person's guide into a folder with their files, as in the bundle.
fn guide_folder(dir: &Path) -> PathBuf {
    let provider = Provider::kumail();
    let ctx = Context::new(&provider, None);
    for file in ctx.user_files(&account()).unwrap() {
        std::fs::write(dir.join(&file.path), &file.bytes).unwrap();
    }
    dir.join(Format::Guide.file_name(&account()))
}

fn check_layout(browser: &Browser, what: &str) {
    check_layout_of(browser, what, true);
}

/// [`check_layout`]; `with_files`: the page has a list of ways with files.
fn check_layout_of(browser: &Browser, what: &str, with_files: bool) {
    let out = browser.run(LAYOUT, vec![]);
    assert!(
        out["overflow"].as_i64().unwrap() <= 0,
        "{what}: the page is {} px wider than the window: {}",
        out["overflow"],
        browser.run(WIDE, vec![])
    );
    let files = out["files"].as_array().unwrap();
    assert_eq!(!files.is_empty(), with_files, "{what}: the list of ways");
    for file in files {
        assert!(
            file[1].as_u64().unwrap() <= 2,
            "{what}: {} takes {} lines",
            file[0],
            file[1]
        );
    }
    let broken: Vec<&Value> = out["broken"].as_array().unwrap().iter().collect();
    assert!(
        broken.is_empty(),
        "{what}: words broken over lines: {broken:?}"
    );
    let tall: Vec<&Value> = out["tall"].as_array().unwrap().iter().collect();
    assert!(
        tall.is_empty(),
        "{what}: table headers over two lines: {tall:?}"
    );
}

/// Saves a shot of the window, scrolled to `anchor`, under target/ and (when asked) dist/.
fn shot(browser: &Browser, anchor: &str, name: &str) {
    browser.run(
        "document.getElementById(arguments[0]).scrollIntoView(); return 0;",
        vec![Value::from(anchor)],
    );
    save(&browser.window_screenshot(), name);
}

fn guide_at(device: Device, label: &str) {
    let Some(browser) = browser::start(device) else {
        return;
    };
    let dir = common::tempdir();
    let guide = guide_folder(dir.path());
    browser.goto(&format!("file://{}", guide.display()));
    check_layout(&browser, &format!("guide at {label} width"));
    shot(&browser, "ja", &format!("guide-{label}-ja.png"));
    shot(&browser, "en-files", &format!("guide-{label}-en.png"));
}

#[test]
fn the_guide_reads_well_on_a_phone() {
    guide_at(PHONE, "phone");
}

#[test]
fn the_guide_reads_well_on_a_desktop() {
    guide_at(DESKTOP, "desktop");
}

/// With the server's address in the provider file, the guide shows a QR code of the person's page
/// in each language: chromium decodes the inline PNG, shows it 10rem wide without pushing
/// anything off a phone's screen, and its pixels, as chromium reads them, decode (rqrr) to the
/// person's page address.
#[test]
fn the_guides_qr_code_reads_back_in_a_browser() {
    let Some(browser) = browser::start(PHONE) else {
        return;
    };
    let toml = mailconf::input::provider::KUMAIL_TOML.replace(
        "# public_url = \"https://mail-setup.kyoto-u.ac.jp\"",
        "public_url = \"https://mail-setup.kyoto-u.ac.jp\"",
    );
    let provider = Provider::from_toml(&toml, Path::new("p.toml")).unwrap();
    let ctx = Context::new(&provider, None);
    let dir = common::tempdir();
    for file in ctx.user_files(&account()).unwrap() {
        std::fs::write(dir.path().join(&file.path), &file.bytes).unwrap();
    }
    let guide = dir.path().join(Format::Guide.file_name(&account()));
    browser.goto(&format!("file://{}", guide.display()));
    check_layout(&browser, "guide with a QR code at phone width");
    let codes = browser.run(
        r#"
return Array.from(document.querySelectorAll('.qr img')).map(img => {
  const c = document.createElement('canvas');
  c.width = img.naturalWidth;
  c.height = img.naturalHeight;
  const g = c.getContext('2d');
  g.drawImage(img, 0, 0);
  const px = g.getImageData(0, 0, c.width, c.height).data;
  const dark = [];
  for (let i = 0; i < px.length; i += 4) dark.push(px[i] < 128 ? 1 : 0);
  return { complete: img.complete, size: c.width, shown: img.getBoundingClientRect().width, dark };
});
"#,
        vec![],
    );
    let codes = codes.as_array().unwrap();
    assert_eq!(codes.len(), 2, "one code in each language");
    let want = "https://mail-setup.kyoto-u.ac.jp/?emailaddress=taro.yamada%40kyoto-u.ac.jp&name=%E5%B1%B1%E7%94%B0%20%E5%A4%AA%E9%83%8E";
    for code in codes {
        assert_eq!(code["complete"], true);
        let size = code["size"].as_u64().unwrap() as usize;
        assert!(size > 21, "decoded by the browser: {size} pixels");
        assert_eq!(code["shown"].as_f64().unwrap().round(), 160.0, "10rem");
        let dark: Vec<bool> = code["dark"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| d == 1)
            .collect();
        assert_eq!(dark.len(), size * size);
        let mut image = rqrr::PreparedImage::prepare_from_greyscale(size * 4, size * 4, |x, y| {
            if dark[(y / 4) * size + x / 4] { 0 } else { 255 }
        });
        let grids = image.detect_grids();
        assert_eq!(grids.len(), 1, "one QR code");
        assert_eq!(grids[0].decode().unwrap().1, want);
    }
}

#[test]
fn the_layout_check_sees_a_broken_page() {
    // The check itself: a page whose file names run on and whose headers break words fails it.
    let Some(browser) = browser::start(PHONE) else {
        return;
    };
    let dir = common::tempdir();
    let page = dir.path().join("bad.html");
    std::fs::write(
        &page,
        "<!DOCTYPE html><html lang=en><meta name=viewport content='width=device-width'>\
         <table><tr><th style='width:3em;word-break:break-all'>Authentication</th></tr></table>\
         <ul class=ways><li><a class=file style='word-break:break-all' href=x>\
         a-very-long-file-name-that-goes-on-and-on-and-on-and-on-and-on-and-on-and-on-and-on-\
         and-on-and-on-and-on-and-on.mobileconfig</a></li></ul>\
         <pre>a line far wider than any phone's screen, which does not wrap at all, ever, ever</pre>",
    )
    .unwrap();
    browser.goto(&format!("file://{}", page.display()));
    let out = browser.run(LAYOUT, vec![]);
    assert!(out["overflow"].as_i64().unwrap() > 0, "{out}");
    assert!(out["files"][0][1].as_u64().unwrap() > 2, "{out}");
    assert!(!out["broken"].as_array().unwrap().is_empty(), "{out}");
}

/// The self-service page in a real browser: the form at phone width, typed and sent, the
/// person's guide with the iPhone's way first, and the Google profile one tap away (a download
/// of the right bytes); the same at desktop width.
#[test]
fn the_self_service_page_works_in_a_browser() {
    use common::server::Server;
    let server = Server::start(&["--quiet"]);
    for (device, label) in [(PHONE, "phone"), (DESKTOP, "desktop")] {
        let Some(browser) = browser::start(device) else {
            return;
        };
        browser.goto(&server.url("/?lang=en"));
        check_layout_of(&browser, &format!("form at {label} width"), false);
        save(
            &browser.window_screenshot(),
            &format!("serve-form-{label}.png"),
        );
        browser.fill("#emailaddress", "Taro.Yamada@kyoto-u.ac.jp");
        browser.fill("#name", "山田 太郎");
        browser.click("button[type=submit]");
        let url = browser.wait_for_url("emailaddress=");
        assert!(
            url.contains("emailaddress=Taro.Yamada%40kyoto-u.ac.jp"),
            "{url}"
        );
        check_layout(&browser, &format!("person's page at {label} width"));
        // Thunderbird's picture beside its step comes from this server (GET /guide/img/…),
        // which the page's content security policy lets it load.
        let widths: Value = browser.run(
            "return Promise.all(Array.from(document.querySelectorAll('img.screen'))
               .map(i => i.decode().then(() => i.naturalWidth, () => 0)));",
            vec![],
        );
        let widths = widths.as_array().unwrap();
        assert!(!widths.is_empty(), "no picture on the person's page");
        assert!(
            widths.iter().all(|w| w.as_u64().unwrap_or(0) > 100),
            "a picture did not load: {widths:?}"
        );
        let order: Value = browser.run(
            "return Array.from(document.querySelectorAll('h2[id]')).map(h => h.id);",
            vec![],
        );
        let ids: Vec<&str> = order
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap())
            .filter(|id| id.ends_with("-ios") || id.ends_with("-mac") || id.ends_with("-outlook"))
            .collect();
        if label == "phone" {
            assert_eq!(ids[0], "en-ios", "the iPhone's way first: {ids:?}");
        }
        save(
            &browser.window_screenshot(),
            &format!("serve-guide-{label}.png"),
        );
        if label == "phone" {
            // One tap on the Google profile: the file comes down, as the server sends it.
            browser.click("ul.ways a.file[href*='google.mobileconfig']");
            let files = browser.downloaded(1);
            assert_eq!(files.len(), 1, "no download");
            let got = std::fs::read(&files[0]).unwrap();
            let want = common::mailconf()
                .args([
                    "profile",
                    "taro.yamada@kyoto-u.ac.jp",
                    "--name",
                    "山田 太郎",
                    "--format",
                    "apple-google",
                ])
                .output()
                .unwrap()
                .stdout;
            assert_eq!(got, want);
            let name = files[0].file_name().unwrap().to_string_lossy().into_owned();
            assert_eq!(name, "taro.yamada@kyoto-u.ac.jp-google.mobileconfig");
        }
    }
}

/// Saves a screenshot under target/screenshots/ and, with MAILCONF_UPDATE_DIST, dist/screenshots/.
fn save(png: &[u8], name: &str) {
    let target = common::root().join("target/screenshots").join(name);
    std::fs::create_dir_all(target.parent().unwrap()).unwrap();
    std::fs::write(&target, png).unwrap();
    if std::env::var_os("MAILCONF_UPDATE_DIST").is_some() {
        let dist = common::root().join("dist/screenshots").join(name);
        std::fs::create_dir_all(dist.parent().unwrap()).unwrap();
        std::fs::write(dist, png).unwrap();
    }
}

/// The IT-staff page in a real browser at desktop width: signed in with Basic credentials, a
/// roster with a mistake sent (the file chosen as a person does), the problem table read, the
/// fixed roster sent, and the zip that comes down compared with `mailconf bundle`'s.
#[test]
fn the_it_staff_page_works_in_a_browser() {
    use common::server::Server;
    const EPOCH: &str = "1775035800";
    let dir = common::tempdir();
    let htpasswd = dir.path().join("it-staff.htpasswd");
    let hash = bcrypt::hash("pass-for-the-test", 4)
        .unwrap()
        .replacen("$2b$", "$2y$", 1);
    std::fs::write(&htpasswd, format!("it-staff:{hash}\n")).unwrap();
    let server = Server::start_with(
        &["--quiet", "--admin-htpasswd", htpasswd.to_str().unwrap()],
        &[("SOURCE_DATE_EPOCH", EPOCH)],
    );
    let Some(browser) = browser::start(DESKTOP) else {
        return;
    };
    // Basic credentials in the address: a top-level navigation may carry them, and the browser
    // then sends them with the form as well.
    browser.goto(&format!(
        "http://it-staff:pass-for-the-test@127.0.0.1:{}/admin/?lang=en",
        server.port
    ));
    assert!(browser.wait_for("input#roster"), "{}", browser.source());
    check_layout_of(&browser, "the IT-staff page", false);
    save(&browser.screenshot(), "admin-form-desktop.png");

    // Excel's CSV on Japanese Windows: CP932, CRLF; line 4 has a typing mistake.
    let good = "氏名,メールアドレス,所属\r\n\
        山田 太郎,taro.yamada@kyoto-u.ac.jp,情報学研究科\r\n\
        京大 花子,hanako.kyodai@kyoto-u.ac.jp,情報学研究科\r\n\
        鈴木 一郎,suzuki.ichiro@kyoto-u.ac.jp,工学研究科\r\n\
        佐藤 美咲,sato.misaki@kyoto-u.ac.jp,工学研究科\r\n";
    let bad = good
        .replace("suzuki.ichiro@kyoto-u.ac.jp", "suzuki.ichiro@kyoto-u,ac.jp")
        .replace("sato.misaki@kyoto-u.ac.jp", "sato.misaki@gmail.com");
    let cp932 = |text: &str| encoding_rs::SHIFT_JIS.encode(text).0.into_owned();
    let folder = common::tempdir();
    let roster = folder.path().join("情報学研究科.csv");
    std::fs::write(&roster, cp932(&bad)).unwrap();
    browser.choose_file("#roster", &roster);
    browser.click("button[type=submit]");
    assert!(
        browser.wait_for("table.problems"),
        "{}\n{}",
        browser.source(),
        server.log().join("\n")
    );
    let rows = browser.run(
        "return Array.from(document.querySelectorAll('table.problems tbody tr'))\
         .map(tr => [tr.cells[0].textContent, tr.cells[1].textContent]);",
        vec![],
    );
    let rows: Vec<(String, String)> = rows
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r[0].as_str().unwrap().to_string(),
                r[1].as_str().unwrap().to_string(),
            )
        })
        .collect();
    // The same findings as `mailconf check`.
    let want = common::check_findings(&roster);
    assert_eq!(rows, want);
    assert_eq!(
        rows.iter().map(|(l, _)| l.as_str()).collect::<Vec<_>>(),
        ["4", "5"]
    );
    check_layout_of(&browser, "the problem table", false);
    save(&browser.screenshot(), "admin-problems-desktop.png");

    // Fixed in Excel and chosen again: the department's zip comes down.
    std::fs::write(&roster, cp932(good)).unwrap();
    browser.choose_file("#roster", &roster);
    browser.click("button[type=submit]");
    let files = browser.downloaded(1);
    assert_eq!(files.len(), 1, "no download");
    assert_eq!(
        files[0].file_name().unwrap().to_string_lossy(),
        "情報学研究科.zip"
    );
    let out = common::tempdir();
    let cli_zip = out.path().join("情報学研究科.zip");
    let made = common::mailconf()
        .env("SOURCE_DATE_EPOCH", EPOCH)
        .arg("bundle")
        .arg(&roster)
        .arg("-o")
        .arg(&cli_zip)
        .arg("--quiet")
        .output()
        .unwrap();
    assert!(made.status.success());
    let got = std::fs::read(&files[0]).unwrap();
    let want = std::fs::read(&cli_zip).unwrap();
    let names = |z: &[u8]| {
        common::zip_entries(z)
            .into_iter()
            .map(|(n, _)| n)
            .collect::<Vec<_>>()
    };
    assert_eq!(names(&got), names(&want));
    assert!(
        got == want,
        "the downloaded zip differs from mailconf bundle's"
    );

    // The page in Japanese, as most department staff will read it.
    browser.goto(&server.url("/admin/?lang=ja"));
    assert!(browser.wait_for("input#roster"), "{}", browser.source());
    check_layout_of(&browser, "the IT-staff page in Japanese", false);
    save(&browser.screenshot(), "admin-form-desktop-ja.png");
}
