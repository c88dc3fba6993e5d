//! What IT staff meet between an HR export and a file in each person's hands (issue 14): name
//! columns as HR exports write them, one zip per person that mail accepts, CSV that Excel opens
//! safely, ordinary file modes, errors that say what to do, and zip entries with a real date.

use crate::common;

use std::collections::BTreeMap;
use std::io::Cursor;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use common::html::{parse, sel};
use common::{mailconf, tempdir};
use mailconf::input::provider::Provider;
use mailconf::input::roster::{self, ReadOptions};

fn names_of(text: &str) -> Vec<Option<String>> {
    let file = std::path::Path::new("roster.csv");
    let roster = roster::parse(
        text.as_bytes(),
        file,
        &Provider::kumail(),
        ReadOptions::default(),
    )
    .unwrap_or_else(|p| panic!("{text}: {p:?}"));
    roster
        .accounts
        .iter()
        .map(|a| a.name.as_ref().map(|n| n.to_string()))
        .collect()
}

#[test]
fn name_columns_are_read_as_hr_exports_write_them() {
    for header in [
        "名前",
        "氏名",
        "姓名",
        "表示名",
        "お名前",
        "氏名（漢字）",
        "name",
        "Name",
        "Full Name",
        "full_name",
        "Display Name",
        "ＮＡＭＥ",
    ] {
        let text = format!("所属,{header},メールアドレス\n情報学,山田 太郎,taro@kyoto-u.ac.jp\n");
        assert_eq!(names_of(&text), [Some("山田 太郎".to_string())], "{header}");
    }
    // Split names, in the order each language expects.
    for (header, row, want) in [
        ("姓,名,email", "山田,太郎,taro@kyoto-u.ac.jp", "山田 太郎"),
        ("email,名,姓", "taro@kyoto-u.ac.jp,太郎,山田", "山田 太郎"),
        (
            "Last name,First name,E-mail",
            "Yamada,Taro,taro@kyoto-u.ac.jp",
            "Taro Yamada",
        ),
        (
            "First Name,Last Name,Email Address",
            "Taro,Yamada,taro@kyoto-u.ac.jp",
            "Taro Yamada",
        ),
        (
            "family_name,given_name,mail",
            "Yamada,Taro,taro@kyoto-u.ac.jp",
            "Taro Yamada",
        ),
        ("姓,名,email", "山田,,taro@kyoto-u.ac.jp", "山田"),
    ] {
        let text = format!("{header}\n{row}\n");
        assert_eq!(names_of(&text), [Some(want.to_string())], "{header}");
    }
    // A whole-name column wins over split ones.
    assert_eq!(
        names_of("姓,名,氏名,email\n山田,太郎,山田 太郎 (情報学),taro@kyoto-u.ac.jp\n"),
        [Some("山田 太郎 (情報学)".to_string())]
    );
    // An empty split name is no name.
    assert_eq!(names_of("姓,名,email\n,,taro@kyoto-u.ac.jp\n"), [None]);
}

fn write_roster(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

fn stderr_of(assert: &assert_cmd::assert::Assert) -> String {
    String::from_utf8(assert.get_output().stderr.clone()).unwrap()
}

#[test]
fn no_name_column_is_said_with_the_header_seen() {
    let dir = tempdir();
    let roster = write_roster(
        dir.path(),
        "r.csv",
        "所属,職員番号,メールアドレス\n情報学,0012,taro@kyoto-u.ac.jp\n",
    );
    let check = mailconf().arg("check").arg(&roster).assert().success();
    let said = stderr_of(&check);
    assert!(
        said.contains(&format!("{}:1: warning: no name column", roster.display()))
            && said.contains("(the header row has: 所属, 職員番号, メールアドレス)")
            && said.contains("名前"),
        "{said}"
    );
    let zip = dir.path().join("r.zip");
    let bundle = mailconf()
        .arg("bundle")
        .arg(&roster)
        .arg("-o")
        .arg(&zip)
        .arg("-q")
        .assert()
        .success();
    assert!(stderr_of(&bundle).contains("warning: no name column"));
    // With a name column, nothing is said.
    let named = write_roster(
        dir.path(),
        "n.csv",
        "名前,メールアドレス\n山田 太郎,taro@kyoto-u.ac.jp\n",
    );
    let check = mailconf().arg("check").arg(&named).assert().success();
    assert!(!stderr_of(&check).contains("warning"));
}

/// Google's list of file types Gmail blocks, also inside archives (Gmail Help, "File types
/// blocked in Gmail"), kept here apart from the code's own copy.
const GMAIL_BLOCKED: &str = ".ade, .adp, .apk, .appx, .appxbundle, .bat, .cab, .chm, .cmd, .com, \
    .cpl, .diagcab, .diagcfg, .diagpkg, .dll, .dmg, .ex, .ex_, .exe, .hta, .img, .ins, .iso, .isp, \
    .jar, .jnlp, .js, .jse, .lib, .lnk, .mde, .mjs, .msc, .msi, .msix, .msixbundle, .msp, .mst, \
    .nsh, .pif, .ps1, .scr, .sct, .shb, .sys, .vb, .vbe, .vbs, .vhd, .vxd, .wsc, .wsf, .wsh, .xll";

fn blocked_by_gmail(name: &str) -> bool {
    let lower = name.to_lowercase();
    GMAIL_BLOCKED
        .split(',')
        .map(str::trim)
        .any(|ext| lower.ends_with(ext))
}

#[test]
fn each_person_gets_a_zip_that_mail_accepts() {
    let dir = tempdir();
    let roster = common::root().join("examples/department.csv");
    let zip_path = dir.path().join("dept.zip");
    let people = dir.path().join("people");
    let run = |extra: &[&str]| {
        mailconf()
            .arg("bundle")
            .arg(&roster)
            .arg("-o")
            .arg(&zip_path)
            .arg("--per-person")
            .arg(&people)
            .args(["-q"])
            .args(extra)
            .env("SOURCE_DATE_EPOCH", "1775035800")
            .assert()
    };
    run(&[]).success();
    let bundle = entries_of(&std::fs::read(&zip_path).unwrap());
    let addresses: Vec<String> = bundle
        .keys()
        .filter_map(|n| n.strip_prefix("dept/users/"))
        .filter_map(|n| n.split('/').next())
        .map(str::to_string)
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    assert_eq!(addresses.len(), 10);
    let mut files: Vec<String> = common::names_in(&people);
    files.sort();
    let want: Vec<String> = addresses.iter().map(|a| format!("{a}.zip")).collect();
    assert_eq!(files, want, "one zip per person, named after the address");
    let first = std::fs::read(people.join(&want[0])).unwrap();

    for address in &addresses {
        let mine = entries_of(&std::fs::read(people.join(format!("{address}.zip"))).unwrap());
        // The person's folder alone.
        for name in mine.keys() {
            assert!(name.starts_with(&format!("{address}/")), "{name}");
            assert!(!blocked_by_gmail(name), "Gmail refuses {name}");
        }
        // The bundle's files for this person, but the .cmd, the same bytes; the guide made for
        // what the zip holds.
        let theirs: BTreeMap<&str, &Vec<u8>> = bundle
            .iter()
            .filter_map(|(n, b)| Some((n.strip_prefix(&format!("dept/users/{address}/"))?, b)))
            .collect();
        assert!(
            theirs.keys().any(|n| n.ends_with("-outlook.cmd")),
            "the bundle has it"
        );
        let mine_files: Vec<&str> = mine.keys().map(|n| &n[address.len() + 1..]).collect();
        let expected: Vec<&str> = theirs
            .keys()
            .copied()
            .filter(|n| !n.ends_with(".cmd"))
            .collect();
        assert_eq!(mine_files, expected);
        for (file, bytes) in &theirs {
            if file.ends_with(".cmd") || *file == "README.html" {
                continue;
            }
            assert_eq!(&mine[&format!("{address}/{file}")], *bytes, "{file}");
        }
        let guide = &mine[&format!("{address}/README.html")];
        let text = String::from_utf8(guide.clone()).unwrap();
        assert!(
            !text.contains("-outlook.cmd"),
            "the guide names no file the zip lacks"
        );
        assert!(text.contains(".reg"), "the Outlook way is the .reg");
        let html = parse(guide);
        for a in html.select(&sel("a[href]")) {
            let href = a.value().attr("href").unwrap();
            if !href.starts_with('#') && !href.starts_with("https://") {
                assert!(
                    mine.contains_key(&format!("{address}/{href}")),
                    "{href} is not in the zip"
                );
            }
        }
    }

    // Deterministic: the same inputs make the same zips. An existing folder with files is
    // refused without --force, before anything is written.
    std::fs::remove_file(&zip_path).unwrap();
    let refused = run(&[]).code(1);
    assert!(stderr_of(&refused).contains("already exists; use --force"));
    assert!(!zip_path.exists(), "nothing half-done");
    run(&["--force"]).success();
    assert_eq!(std::fs::read(people.join(&want[0])).unwrap(), first);
    // No temporary folder left beside it.
    let left: Vec<String> = common::names_in(dir.path());
    assert_eq!(left, ["dept.zip", "people"]);
}

#[test]
fn manifest_csv_opens_in_excel_and_runs_no_formula() {
    let dir = tempdir();
    let roster = write_roster(
        dir.path(),
        "r.csv",
        "name,email\n=HYPERLINK(\"http://x\"),a@kyoto-u.ac.jp\n+81 75 753,b@kyoto-u.ac.jp\n\
         @SUM(A1),c@kyoto-u.ac.jp\n'quoted',d@kyoto-u.ac.jp\n山田 太郎,-dash@kyoto-u.ac.jp\n",
    );
    let manifest =
        common::bundle_entries(&roster, &dir.path().join("r.zip"))["r/manifest.csv"].clone();
    // UTF-8 with a byte-order mark: Excel on Japanese Windows reads it as UTF-8.
    let body = manifest.strip_prefix(b"\xEF\xBB\xBF").expect("a BOM");
    let text = std::str::from_utf8(body).unwrap();
    assert!(text.contains("山田 太郎"));
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .from_reader(body);
    let mut people = BTreeMap::new();
    for record in reader.records() {
        let record = record.unwrap();
        for cell in record.iter() {
            assert!(
                !cell.starts_with(['=', '+', '-', '@']),
                "{cell:?} runs as a formula"
            );
        }
        // Every value comes back exactly once one leading ' is dropped.
        let value = |cell: &str| cell.strip_prefix('\'').unwrap_or(cell).to_string();
        people.insert(value(&record[0]), value(&record[1]));
    }
    assert_eq!(people["a@kyoto-u.ac.jp"], "=HYPERLINK(\"http://x\")");
    assert_eq!(people["b@kyoto-u.ac.jp"], "+81 75 753");
    assert_eq!(people["c@kyoto-u.ac.jp"], "@SUM(A1)");
    assert_eq!(people["d@kyoto-u.ac.jp"], "'quoted'");
    assert_eq!(people["-dash@kyoto-u.ac.jp"], "山田 太郎");
}

/// Runs mailconf with `umask` set, through the shell.
fn with_umask(umask: &str, args: &[&str], cwd: &Path) {
    let command = format!("umask {umask} && exec \"$0\" \"$@\"");
    let status = std::process::Command::new("sh")
        .arg("-c")
        .arg(command)
        .arg(assert_cmd::cargo::cargo_bin!("mailconf"))
        .args(args)
        .current_dir(cwd)
        .stderr(std::process::Stdio::null())
        .status()
        .unwrap();
    assert!(status.success(), "{args:?}");
}

fn mode(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

#[test]
fn files_get_the_ordinary_mode_for_the_umask() {
    let roster = common::root().join("examples/department.csv");
    let roster = roster.to_str().unwrap();
    for (umask, file, folder) in [
        ("022", 0o644, 0o755),
        ("027", 0o640, 0o750),
        ("077", 0o600, 0o700),
    ] {
        let dir = tempdir();
        let d = dir.path();
        with_umask(
            umask,
            &[
                "bundle",
                roster,
                "-o",
                "b.zip",
                "--per-person",
                "people",
                "-q",
            ],
            d,
        );
        with_umask(
            umask,
            &[
                "profile",
                "a@kyoto-u.ac.jp",
                "--format",
                "apple",
                "-o",
                "a.mobileconfig",
            ],
            d,
        );
        with_umask(umask, &["publish", "-o", "pub"], d);
        assert_eq!(mode(&d.join("b.zip")), file, "umask {umask}: the bundle");
        assert_eq!(
            mode(&d.join("a.mobileconfig")),
            file,
            "umask {umask}: profile -o"
        );
        assert_eq!(
            mode(&d.join("people")),
            folder,
            "umask {umask}: --per-person folder"
        );
        assert_eq!(mode(&d.join("people/taro.yamada@kyoto-u.ac.jp.zip")), file);
        assert_eq!(
            mode(&d.join("pub")),
            folder,
            "umask {umask}: publish folder"
        );
        assert_eq!(mode(&d.join("pub/mail/config-v1.1.xml")), file);
    }
}

#[test]
fn errors_say_what_to_do() {
    let dir = tempdir();
    // A missing roster is one clear error, not a count of problems.
    let missing = dir.path().join("nope.csv");
    for command in ["check", "bundle"] {
        let out = mailconf().arg(command).arg(&missing).assert().code(1);
        let said = stderr_of(&out);
        assert_eq!(
            said.trim_end(),
            format!(
                "{}: cannot read the roster: there is no such file (check the name and folder)",
                missing.display()
            ),
            "{command}"
        );
    }
    // Every row problem names its fix; check says nothing of writing; --skip-invalid is offered
    // for rows.
    let roster = write_roster(
        dir.path(),
        "r.csv",
        "name,email\nA,\nB,b@@kyoto-u.ac.jp\nC,c@gmail.com\nD,d@kyoto-u.ac.jp\nE,D@kyoto-u.ac.jp\n\
         \"F\nG\",f@kyoto-u.ac.jp\nH,h/i@kyoto-u.ac.jp\n",
    );
    let check = stderr_of(&mailconf().arg("check").arg(&roster).assert().code(1));
    let rows: Vec<&str> = check
        .lines()
        .filter(|l| l.starts_with(&*roster.to_string_lossy()))
        .collect();
    assert_eq!(rows.len(), 6, "{check}");
    for row in &rows {
        assert!(
            [
                "correct it",
                "delete the row",
                "delete one of the two rows",
                "remove it",
                "correct the address"
            ]
            .iter()
            .any(|fix| row.contains(fix)),
            "no fix named: {row}"
        );
    }
    assert!(!check.contains("nothing was written"));
    assert!(check.contains("--skip-invalid"));
    // One wording for the provider's domains, whichever command meets it.
    let from_check = rows.iter().find(|l| l.contains("gmail.com")).unwrap();
    let profile = stderr_of(
        &mailconf()
            .args(["profile", "c@gmail.com", "--format", "thunderbird"])
            .assert()
            .code(1),
    );
    let words = "c@gmail.com is not in the provider's mail domains (kyoto-u.ac.jp)";
    assert!(
        from_check.contains(words) && profile.contains(words),
        "{from_check}\n{profile}"
    );
    // The bundle's name must be a .zip; a folder is named as such, not answered with --force.
    let good = write_roster(dir.path(), "g.csv", "email\na@kyoto-u.ac.jp\n");
    let not_zip = stderr_of(
        &mailconf()
            .arg("bundle")
            .arg(&good)
            .args(["-o", "out.txt"])
            .current_dir(dir.path())
            .assert()
            .code(1),
    );
    assert!(
        not_zip.contains("out.txt: a bundle is a zip file: give a name that ends in .zip"),
        "{not_zip}"
    );
    let folder = dir.path().join("folder");
    std::fs::create_dir(&folder).unwrap();
    for extra in [&[][..], &["--force"][..]] {
        let said = stderr_of(
            &mailconf()
                .arg("bundle")
                .arg(&good)
                .arg("-o")
                .arg(&folder)
                .args(extra)
                .assert()
                .code(1),
        );
        assert!(
            said.contains("is a folder: name the file to write in it, such as"),
            "{said}"
        );
        assert!(said.contains("g.zip"), "{said}");
        assert!(!said.contains("--force"), "{said}");
    }
    assert!(!dir.path().join("out.txt").exists());
}

/// The DOS date and time of each local header, and the extended timestamp's seconds when there
/// is one, read from the zip's bytes.
fn local_times(bytes: &[u8]) -> Vec<(String, (u16, u16), Option<u32>)> {
    let mut out = Vec::new();
    let mut at = 0;
    let u16_at = |i: usize| u16::from_le_bytes([bytes[i], bytes[i + 1]]);
    let u32_at = |i: usize| u32::from_le_bytes(bytes[i..i + 4].try_into().unwrap());
    while at + 30 <= bytes.len() && u32_at(at) == 0x0403_4b50 {
        let (time, date) = (u16_at(at + 10), u16_at(at + 12));
        let size = u32_at(at + 18) as usize;
        let (name_len, extra_len) = (u16_at(at + 26) as usize, u16_at(at + 28) as usize);
        let name = String::from_utf8(bytes[at + 30..at + 30 + name_len].to_vec()).unwrap();
        let extra = &bytes[at + 30 + name_len..at + 30 + name_len + extra_len];
        let mut unix = None;
        let mut i = 0;
        while i + 4 <= extra.len() {
            let (tag, len) = (
                u16::from_le_bytes([extra[i], extra[i + 1]]),
                u16::from_le_bytes([extra[i + 2], extra[i + 3]]) as usize,
            );
            if tag == 0x5455 && extra[i + 4] & 1 == 1 {
                unix = Some(u32::from_le_bytes(extra[i + 5..i + 9].try_into().unwrap()));
            }
            i += 4 + len;
        }
        out.push((name, (date, time), unix));
        at += 30 + name_len + extra_len + size;
    }
    out
}

#[test]
fn zip_entries_carry_the_rosters_date() {
    let dir = tempdir();
    let roster = write_roster(dir.path(), "r.csv", "email\na@kyoto-u.ac.jp\n");
    // 2025-06-15 12:34:56 UTC.
    let when = SystemTime::UNIX_EPOCH + Duration::from_secs(1_749_990_896);
    std::fs::File::options()
        .write(true)
        .open(&roster)
        .unwrap()
        .set_modified(when)
        .unwrap();
    let zip = dir.path().join("r.zip");
    let make = |epoch: Option<&str>| {
        let mut cmd = mailconf();
        cmd.arg("bundle")
            .arg(&roster)
            .arg("-o")
            .arg(&zip)
            .args(["-q", "--force"]);
        cmd.env_remove("SOURCE_DATE_EPOCH");
        if let Some(epoch) = epoch {
            cmd.env("SOURCE_DATE_EPOCH", epoch);
        }
        cmd.assert().success();
        std::fs::read(&zip).unwrap()
    };
    let bytes = make(None);
    let times = local_times(&bytes);
    assert!(times.len() > 5);
    let dos_date = ((2025 - 1980) << 9) | (6 << 5) | 15;
    let dos_time = (12 << 11) | (34 << 5) | (56 / 2);
    for (name, dos, unix) in &times {
        assert_eq!(*dos, (dos_date, dos_time), "{name}");
        assert_eq!(*unix, Some(1_749_990_896), "{name}");
    }
    // The zip crate agrees on the date.
    let mut archive = zip::ZipArchive::new(Cursor::new(&bytes)).unwrap();
    let modified = archive.by_index(0).unwrap().last_modified().unwrap();
    assert_eq!(
        (modified.year(), modified.month(), modified.day()),
        (2025, 6, 15)
    );
    // The same roster, the same bytes; SOURCE_DATE_EPOCH overrides the roster's time.
    assert_eq!(make(None), bytes);
    let pinned = make(Some("1775035800"));
    assert!(
        local_times(&pinned)
            .iter()
            .all(|(_, _, unix)| *unix == Some(1_775_035_800))
    );
}

/// Every entry of a zip: name → bytes.
fn entries_of(bytes: &[u8]) -> BTreeMap<String, Vec<u8>> {
    common::zip_entries(bytes).into_iter().collect()
}
