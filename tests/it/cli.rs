//! The command line: every command, every input error (with its line), exit codes, and the
//! promises about output files (atomic, deterministic, never overwritten without --force).

use crate::common;

use std::path::Path;

use common::{mailconf, names_in, parse_autoconfig, root, tempdir, zip_central_flags, zip_entries};
use predicates::prelude::*;

fn example() -> std::path::PathBuf {
    root().join("examples/department.csv")
}

fn write(dir: &Path, name: &str, bytes: &[u8]) -> std::path::PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, bytes).unwrap();
    path
}

fn bundle_bytes(roster: &Path, out: &Path, extra: &[&str]) -> Vec<u8> {
    mailconf()
        .arg("bundle")
        .arg(roster)
        .arg("-o")
        .arg(out)
        .args(extra)
        .assert()
        .success();
    std::fs::read(out).unwrap()
}

#[test]
fn bundle_of_the_example_has_the_documented_layout() {
    let dir = tempdir();
    let out = dir.path().join("情報学研究科.zip");
    let bytes = bundle_bytes(&example(), &out, &["--quiet"]);
    let entries = zip_entries(&bytes);
    let names: Vec<&str> = entries.iter().map(|(n, _)| n.as_str()).collect();

    // One top folder, named after the zip's stem.
    assert!(
        names.iter().all(|n| n.starts_with("情報学研究科/")),
        "{names:?}"
    );
    for expected in [
        "情報学研究科/index.html",
        "情報学研究科/manifest.csv",
        "情報学研究科/publish/README.txt",
        "情報学研究科/publish/mail/config-v1.1.xml",
        "情報学研究科/publish/.well-known/autoconfig/mail/config-v1.1.xml",
        "情報学研究科/publish/isp/kyoto-u.ac.jp.xml",
        "情報学研究科/publish/dns/kyoto-u.ac.jp.zone",
        "情報学研究科/users/taro.yamada@kyoto-u.ac.jp/config-v1.1.xml",
        "情報学研究科/users/hanako.kyodai@kyoto-u.ac.jp/config-v1.1.xml",
    ] {
        assert!(names.contains(&expected), "missing {expected}");
    }
    // Users are sorted by address.
    let users: Vec<&str> = names
        .iter()
        .filter(|n| n.contains("/users/"))
        .copied()
        .collect();
    let mut sorted = users.clone();
    sorted.sort();
    assert_eq!(users, sorted);
    assert_eq!(users.len() % 10, 0, "10 people in the example");

    // Every name is flagged UTF-8 in the central directory.
    let flags = zip_central_flags(&bytes);
    assert_eq!(flags.len(), entries.len());
    for (name, f) in flags {
        assert_eq!(f & 0x0800, 0x0800, "{name} is not UTF-8 flagged");
    }

    // Each per-user autoconfig names its own user.
    for (name, data) in &entries {
        if let Some(rest) = name.strip_prefix("情報学研究科/users/") {
            let address = rest.split('/').next().unwrap();
            if name.ends_with("config-v1.1.xml") {
                let parsed = parse_autoconfig(data);
                assert_eq!(parsed.incoming[0].username, address);
            }
        }
    }
}

#[test]
fn manifest_lists_every_user_file_with_its_hash() {
    use sha2::{Digest, Sha256};
    let dir = tempdir();
    let out = dir.path().join("dept.zip");
    let bytes = bundle_bytes(&example(), &out, &["--quiet"]);
    let entries = zip_entries(&bytes);
    let manifest = &entries
        .iter()
        .find(|(n, _)| n == "dept/manifest.csv")
        .unwrap()
        .1;
    let mut reader = csv::Reader::from_reader(manifest.as_slice());
    assert_eq!(
        reader.headers().unwrap(),
        vec!["email", "name", "path", "sha256"]
    );
    let mut listed = 0;
    for row in reader.records() {
        let row = row.unwrap();
        let path = format!("dept/{}", &row[2]);
        let data = &entries.iter().find(|(n, _)| *n == path).unwrap().1;
        let digest: String = Sha256::digest(data)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        assert_eq!(&row[3], digest, "{path}");
        assert!(row[2].starts_with(&format!("users/{}/", &row[0])));
        listed += 1;
    }
    let user_files = entries
        .iter()
        .filter(|(n, _)| n.contains("/users/"))
        .count();
    assert_eq!(listed, user_files);
    // Names survive exactly, including the hostile-looking one in the example.
    assert!(String::from_utf8_lossy(manifest).contains("\"Smith, John\""));
    assert!(String::from_utf8_lossy(manifest).contains("中村 & 研究室 共用"));
}

#[test]
fn bundle_is_deterministic() {
    let dir = tempdir();
    let a = bundle_bytes(
        &example(),
        &dir.path().join("a/dept.zip").tap_mkdir(),
        &["--quiet"],
    );
    let b = bundle_bytes(
        &example(),
        &dir.path().join("b/dept.zip").tap_mkdir(),
        &["--quiet"],
    );
    assert_eq!(a, b, "two runs must give identical bytes");
    // Row order in the roster does not matter either.
    let text = "email,name\r\nb@kyoto-u.ac.jp,B\r\na@kyoto-u.ac.jp,A\r\n";
    let reversed = "email,name\r\na@kyoto-u.ac.jp,A\r\nb@kyoto-u.ac.jp,B\r\n";
    let r1 = write(dir.path(), "r1.csv", text.as_bytes());
    let r2 = write(dir.path(), "r2.csv", reversed.as_bytes());
    let x = bundle_bytes(&r1, &dir.path().join("x/d.zip").tap_mkdir(), &["--quiet"]);
    let y = bundle_bytes(&r2, &dir.path().join("y/d.zip").tap_mkdir(), &["--quiet"]);
    assert_eq!(x, y);
}

trait TapMkdir {
    fn tap_mkdir(self) -> Self;
}

impl TapMkdir for std::path::PathBuf {
    fn tap_mkdir(self) -> Self {
        std::fs::create_dir_all(self.parent().unwrap()).unwrap();
        self
    }
}

#[test]
fn existing_zip_is_kept_unless_forced() {
    let dir = tempdir();
    let out = write(dir.path(), "dept.zip", b"precious");
    mailconf()
        .arg("bundle")
        .arg(example())
        .arg("-o")
        .arg(&out)
        .assert()
        .code(1)
        .stderr(predicate::str::contains("already exists; use --force"));
    assert_eq!(std::fs::read(&out).unwrap(), b"precious");
    mailconf()
        .arg("bundle")
        .arg(example())
        .arg("-o")
        .arg(&out)
        .arg("--force")
        .assert()
        .success()
        .stderr(predicate::str::contains("10 users"));
    assert!(zip_entries(&std::fs::read(&out).unwrap()).len() > 10);
    assert_eq!(names_in(dir.path()), ["dept.zip"], "no temporary file left");
}

#[test]
fn bad_roster_reports_every_line_and_writes_nothing() {
    let dir = tempdir();
    let roster = write(
        dir.path(),
        "bad.csv",
        "氏名,メールアドレス\n\
         山田,taro@kyoto-u.ac.jp\n\
         誰か,not-an-address\n\
         外部,someone@gmail.com\n\
         重複,TARO@kyoto-u.ac.jp\n\
         \"改行\nあり\",kai@kyoto-u.ac.jp\n\
         記号,a/b@kyoto-u.ac.jp\n"
            .as_bytes(),
    );
    let out = dir.path().join("bad.zip");
    let assert = mailconf()
        .arg("bundle")
        .arg(&roster)
        .arg("-o")
        .arg(&out)
        .assert()
        .code(1);
    let stderr = String::from_utf8(assert.get_output().stderr.clone()).unwrap();
    let shown = roster.display().to_string();
    for (line, what) in [
        (3, "not a mail address"),
        (4, "not in the provider's mail domains"),
        (5, "listed twice (first on line 2;"),
        (6, "control character"),
        (8, "safe set"),
    ] {
        let prefix = format!("{shown}:{line}: ");
        assert!(
            stderr
                .lines()
                .any(|l| l.starts_with(&prefix) && l.contains(what)),
            "no {prefix}…{what} in:\n{stderr}"
        );
    }
    assert!(stderr.contains(
        "5 problems in the roster; nothing was written. Correct the rows above and run again, \
         or add --skip-invalid to leave them out."
    ));
    assert_eq!(names_in(dir.path()), ["bad.csv"]);

    // check reports the same, without saying it wrote nothing (it never writes), and --skip-invalid
    // writes the valid rows.
    let check = mailconf().arg("check").arg(&roster).assert().code(1);
    let check = String::from_utf8(check.get_output().stderr.clone()).unwrap();
    assert!(check.contains(&format!("{shown}:3: ")), "{check}");
    assert!(!check.contains("nothing was written"), "{check}");
    assert!(check.contains(
        "5 problems in the roster. Correct the rows above, or leave them out with bundle \
         --skip-invalid."
    ));
    mailconf()
        .arg("bundle")
        .arg(&roster)
        .arg("-o")
        .arg(&out)
        .arg("--skip-invalid")
        .assert()
        .success()
        .stderr(predicate::str::contains(format!("{shown}:4: skipped: ")))
        .stderr(predicate::str::contains("1 user (5 rows skipped)"));
}

#[test]
fn roster_file_problems_are_clear() {
    let dir = tempdir();
    let cases: Vec<(&str, &[u8], &str)> = vec![
        ("empty.csv", b"", "the roster is empty"),
        ("header.csv", b"email,name\r\n", "no valid person"),
        ("nocol.csv", b"foo,bar\r\nx,y\r\n", "no address column"),
        (
            "pw.csv",
            b"email,password\r\na@kyoto-u.ac.jp,secret\r\n",
            "looks like a password",
        ),
        ("binary.csv", b"\xff\xff\x00\x81\x00\x00", "not valid"),
    ];
    for (name, bytes, message) in cases {
        let roster = write(dir.path(), name, bytes);
        mailconf()
            .arg("check")
            .arg(&roster)
            .assert()
            .code(1)
            .stderr(predicate::str::contains(roster.display().to_string()))
            .stderr(predicate::str::contains(message));
    }
    mailconf()
        .args(["check", "/nonexistent/roster.csv"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains(
            "/nonexistent/roster.csv: cannot read the roster",
        ));
    mailconf()
        .arg("check")
        .arg(dir.path())
        .assert()
        .code(1)
        .stderr(predicate::str::contains("directory"));
}

#[test]
fn shift_jis_and_utf16_rosters_are_detected() {
    let dir = tempdir();
    let text = "氏名\tメールアドレス\r\n京大 花子\tHanako@kyoto-u.ac.jp\r\n山田　太郎\ttaro@kyoto-u.ac.jp\r\n";
    let (sjis, _, unmappable) = encoding_rs::SHIFT_JIS.encode(text);
    assert!(!unmappable);
    let mut utf16 = vec![0xFF, 0xFE];
    utf16.extend(text.encode_utf16().flat_map(u16::to_le_bytes));
    let mut utf8_bom = b"\xEF\xBB\xBF".to_vec();
    utf8_bom.extend(text.as_bytes());
    for (name, bytes, encoding) in [
        ("sjis.tsv", sjis.to_vec(), "Shift_JIS"),
        ("utf16.txt", utf16, "UTF-16LE"),
        ("bom.csv", utf8_bom, "UTF-8"),
    ] {
        let roster = write(dir.path(), name, &bytes);
        mailconf()
            .arg("check")
            .arg(&roster)
            .assert()
            .success()
            .stdout(predicate::str::contains(format!("2 people OK ({encoding}")));
        let out = dir.path().join(format!("{name}.zip"));
        let zip = bundle_bytes(&roster, &out, &["--quiet"]);
        let manifest = zip_entries(&zip)
            .into_iter()
            .find(|(n, _)| n.ends_with("manifest.csv"))
            .unwrap()
            .1;
        let manifest = String::from_utf8(manifest).unwrap();
        assert!(
            manifest.contains("hanako@kyoto-u.ac.jp,京大 花子,"),
            "{manifest}"
        );
        assert!(
            manifest.contains("taro@kyoto-u.ac.jp,山田　太郎,"),
            "{manifest}"
        );
    }
    // --encoding forces a reading: Shift_JIS bytes read as UTF-8 are refused.
    let roster = write(
        dir.path(),
        "forced.csv",
        &encoding_rs::SHIFT_JIS.encode(text).0,
    );
    mailconf()
        .args(["check", "--encoding", "utf-8"])
        .arg(&roster)
        .assert()
        .code(1)
        .stderr(predicate::str::contains("not valid UTF-8"));
}

#[test]
fn profile_prints_one_file_or_writes_it() {
    let assert = mailconf()
        .args([
            "profile",
            "Taro.Yamada@kyoto-u.ac.jp",
            "--name",
            "山田 & <太郎>",
            "--format",
            "thunderbird",
            "--protocol",
            "imap",
        ])
        .assert()
        .success();
    let parsed = parse_autoconfig(&assert.get_output().stdout);
    assert_eq!(parsed.incoming[0].kind, "imap");
    assert_eq!(parsed.incoming[0].username, "taro.yamada@kyoto-u.ac.jp");

    let dir = tempdir();
    let out = dir.path().join("config-v1.1.xml");
    mailconf()
        .args([
            "profile",
            "a@kyoto-u.ac.jp",
            "--format",
            "thunderbird",
            "-o",
        ])
        .arg(&out)
        .assert()
        .success()
        .stdout("");
    assert_eq!(
        parse_autoconfig(&std::fs::read(&out).unwrap()).incoming[0].kind,
        "pop3"
    );
    mailconf()
        .args([
            "profile",
            "a@kyoto-u.ac.jp",
            "--format",
            "thunderbird",
            "-o",
        ])
        .arg(&out)
        .assert()
        .code(1)
        .stderr(predicate::str::contains("already exists"));
}

#[test]
fn profile_refuses_bad_addresses_and_names() {
    for (args, message) in [
        (vec!["not-an-address"], "needs exactly one '@'"),
        (vec!["a@example.com"], "not in the provider's mail domains"),
        (vec!["a b@kyoto-u.ac.jp"], "safe set"),
        (
            vec!["a@kyoto-u.ac.jp", "--name", "a\nb"],
            "--name: the name has a control character",
        ),
    ] {
        mailconf()
            .arg("profile")
            .args(&args)
            .args(["--format", "thunderbird"])
            .assert()
            .code(1)
            .stderr(predicate::str::contains(message));
    }
}

#[test]
fn usage_errors_exit_2_and_help_has_examples() {
    mailconf().assert().code(2);
    mailconf().args(["bundle"]).assert().code(2);
    mailconf()
        .args(["profile", "a@kyoto-u.ac.jp", "--format", "nope"])
        .assert()
        .code(2);
    mailconf()
        .args(["bundle", "x.csv", "--protocol", "smtp"])
        .assert()
        .code(2);
    for cmd in ["bundle", "profile", "publish", "check", "provider"] {
        mailconf()
            .args([cmd, "--help"])
            .assert()
            .success()
            .stdout(predicate::str::contains("Example"))
            .stdout(predicate::str::contains(format!("mailconf {cmd}")));
    }
}

#[test]
fn publish_writes_the_folder_atomically() {
    let dir = tempdir();
    let out = dir.path().join("web");
    mailconf()
        .arg("publish")
        .arg("-o")
        .arg(&out)
        .assert()
        .success();
    for f in [
        "README.txt",
        "mail/config-v1.1.xml",
        ".well-known/autoconfig/mail/config-v1.1.xml",
        "isp/kyoto-u.ac.jp.xml",
        "dns/kyoto-u.ac.jp.zone",
    ] {
        assert!(out.join(f).is_file(), "{f}");
    }
    let config = parse_autoconfig(&std::fs::read(out.join("isp/kyoto-u.ac.jp.xml")).unwrap());
    assert_eq!(config.incoming[0].username, "%EMAILADDRESS%");
    let readme = std::fs::read_to_string(out.join("README.txt")).unwrap();
    assert!(readme.contains("Content-Type: text/xml"));

    // A non-empty folder is kept unless forced.
    std::fs::write(out.join("mine.txt"), "keep").unwrap();
    mailconf()
        .arg("publish")
        .arg("-o")
        .arg(&out)
        .assert()
        .code(1)
        .stderr(predicate::str::contains("already exists; use --force"));
    assert!(out.join("mine.txt").exists());
    mailconf()
        .arg("publish")
        .arg("-o")
        .arg(&out)
        .arg("--force")
        .arg("--protocol")
        .arg("imap")
        .assert()
        .success();
    assert!(!out.join("mine.txt").exists());
    let config = parse_autoconfig(&std::fs::read(out.join("mail/config-v1.1.xml")).unwrap());
    assert_eq!(config.incoming[0].kind, "imap");
    assert_eq!(names_in(dir.path()), ["web"], "no temporary folder left");
}

#[test]
fn provider_prints_and_validates() {
    let assert = mailconf().arg("provider").assert().success();
    let text = String::from_utf8(assert.get_output().stdout.clone()).unwrap();
    assert_eq!(text, mailconf::input::provider::KUMAIL_TOML);

    let dir = tempdir();
    let custom = text
        .replace("kyoto-u.ac.jp\"]", "example.ac.jp\"]")
        .replace("pop.gmail.com", "pop.example.ac.jp");
    let path = write(dir.path(), "example.toml", custom.as_bytes());
    mailconf()
        .arg("provider")
        .arg("--provider")
        .arg(&path)
        .assert()
        .success()
        .stdout(custom.clone());
    let out = mailconf()
        .args([
            "profile",
            "a@example.ac.jp",
            "--format",
            "thunderbird",
            "--provider",
        ])
        .arg(&path)
        .assert()
        .success();
    assert_eq!(
        parse_autoconfig(&out.get_output().stdout).incoming[0].hostname,
        "pop.example.ac.jp"
    );

    let bad = custom.replace("port = 587", "port = 0");
    let line = bad.lines().position(|l| l == "port = 0").unwrap() + 1;
    let path = write(dir.path(), "bad.toml", bad.as_bytes());
    mailconf()
        .arg("publish")
        .arg("-o")
        .arg(dir.path().join("out"))
        .arg("--provider")
        .arg(&path)
        .assert()
        .code(1)
        .stderr(predicate::str::contains(format!(
            "{}:{line}: port",
            path.display()
        )));
    assert!(!dir.path().join("out").exists());
    mailconf()
        .args(["provider", "--provider", "/nonexistent.toml"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains(
            "/nonexistent.toml: cannot read the provider file",
        ));
}

#[test]
fn missing_output_folder_is_a_clear_error() {
    let dir = tempdir();
    mailconf()
        .arg("bundle")
        .arg(example())
        .arg("-o")
        .arg(dir.path().join("no/such/dir/d.zip"))
        .assert()
        .code(1)
        .stderr(predicate::str::contains(
            "the folder to write into does not exist",
        ));
    assert_eq!(names_in(dir.path()), Vec::<String>::new());
}

#[test]
fn compression_level_is_chosen_and_checked() {
    let dir = tempdir();
    let zip_at = |stem: &str, level: Option<&str>| {
        let mut args = vec!["--quiet"];
        if let Some(level) = level {
            args.extend(["--compression-level", level]);
        }
        let bytes = bundle_bytes(&example(), &dir.path().join(format!("{stem}.zip")), &args);
        // Entries without the top folder (named after the zip), to compare zips.
        let entries: Vec<(String, Vec<u8>)> = zip_entries(&bytes)
            .into_iter()
            .map(|(n, b)| (n.replacen(&format!("{stem}/"), "", 1), b))
            .collect();
        (bytes.len(), entries)
    };
    let (stored, stored_files) = zip_at("stored", Some("0"));
    let (deflated, files) = zip_at("deflated", None);
    let (smallest, smallest_files) = zip_at("smallest", Some("12"));
    assert!(stored > deflated * 2, "level 0 stores");
    assert!(
        smallest < deflated,
        "level 12 ({smallest} bytes) is smaller than the default ({deflated} bytes)"
    );
    // Same files at every level.
    assert_eq!(stored_files, files);
    assert_eq!(smallest_files, files);
    mailconf()
        .arg("bundle")
        .arg(example())
        .args(["--compression-level", "13", "-o"])
        .arg(dir.path().join("x.zip"))
        .assert()
        .code(2);
    assert!(!dir.path().join("x.zip").exists());
}

#[test]
fn skip_invalid_also_leaves_out_names_a_format_cannot_carry() {
    let dir = tempdir();
    let roster = write(
        dir.path(),
        "dept.csv",
        "email,name\na@kyoto-u.ac.jp,山田\nb@kyoto-u.ac.jp,波〜線\nc@kyoto-u.ac.jp,😀\n".as_bytes(),
    );
    let out = dir.path().join("dept.zip");
    mailconf()
        .arg("bundle")
        .arg(&roster)
        .args(["--prf-encoding", "cp932", "--skip-invalid", "-o"])
        .arg(&out)
        .assert()
        .success()
        .stderr(predicate::str::contains(format!(
            "{}:3: skipped: ",
            roster.display()
        )))
        .stderr(predicate::str::contains(format!(
            "{}:4: skipped: ",
            roster.display()
        )))
        .stderr(predicate::str::contains("1 user (2 rows skipped)"));
    let names: Vec<String> = zip_entries(&std::fs::read(&out).unwrap())
        .into_iter()
        .map(|(n, _)| n)
        .filter(|n| n.starts_with("dept/users/"))
        .collect();
    assert!(
        names
            .iter()
            .all(|n| n.starts_with("dept/users/a@kyoto-u.ac.jp/")),
        "{names:?}"
    );
}
