//! The real Thunderbird follows the guide (issue 19).
//!
//! Debian's Thunderbird ESR runs under Xvfb, offline, in a network namespace of the test's own:
//! there it asks a DNS server of the test's (the domain's MX is Google's; `autoconfig.DOMAIN` is
//! `mailconf serve` over TLS when the autoconfig is published), Mozilla's ISPDB (a stand-in with
//! Thunderbird's Gmail entry), and signs in through Google's sign-in and token endpoints and Gmail's
//! POP and SMTP servers, stand-ins that accept only the token the sign-in gave. The test acts as the
//! person and as their web browser: it reads the personal guide (`README.html`) as `mailconf`
//! renders it, and does what each Thunderbird step says, finding every field and button by the
//! label the guide quotes, on the screen the step is about. Then it quits Thunderbird and reads
//! from the profile's `prefs.js` what Thunderbird saved, and compares it with what the guide
//! promised: the provider's servers when the autoconfig is published, Thunderbird's Gmail settings
//! (or the provider's outgoing port, on the guide's "port 587" way) when it is not; the POP
//! account's server settings as the provider's `[pop]` says.
//!
//! Every label of the guide's Thunderbird section must have been on the screen during the run
//! (the ≡ menu's items: in the menu), and every Thunderbird label of
//! `templates/guide/labels.toml` must equal its strings in the installed Thunderbird, in both
//! languages. When Debian moves to the next ESR, this is the test that says which label or step
//! moved.
//!
//! Runs when Thunderbird, Xvfb, `unshare` and `ip` are installed; with
//! `MAILCONF_THUNDERBIRD_TESTS` set (as `.ci/run` sets it), their absence is a failure. Screenshots
//! go to `target/screenshots/` (and `dist/screenshots/` with `MAILCONF_UPDATE_DIST`).

use crate::common;
#[path = "thunderbird_app/marionette.rs"]
mod marionette;
#[path = "thunderbird_app/world.rs"]
mod world;

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use mailconf::input::account::{Account, Address, DisplayName};
use mailconf::input::provider::{AuthMethod, Protocol, Provider, Security, Server};
use mailconf::render::Context;
use mailconf::render::guide::{ISPDB_GMAIL_SMTP, Lang, View, render_for};
use mailconf::render::labels;
use marionette::Marionette;
use serde_json::{Value, json};

const SCREEN_JS: &str = include_str!("thunderbird_app/screen.js");
const GMAIL_ISPDB: &str = include_str!("thunderbird_app/ispdb-gmail.xml");
const THUNDERBIRD: &str = "/usr/bin/thunderbird";
const OMNI_JA: &str = "/usr/lib/thunderbird/omni.ja";
const LANGPACK_JA: &str = "/usr/lib/thunderbird/extensions/langpack-ja@thunderbird.mozilla.org.xpi";
const REQUIRED: &str = "MAILCONF_THUNDERBIRD_TESTS";
const INSIDE: &str = "MAILCONF_THUNDERBIRD_INSIDE";

const ADDRESS: &str = "taro.yamada@kyoto-u.ac.jp";

/// The screenshots kept in `dist/screenshots/` (run, what).
const DIST_SHOTS: [(&str, &str); 8] = [
    ("default-ja", "found"),
    ("default-ja", "signin"),
    ("default-ja", "finish"),
    ("default-ja", "server-settings"),
    ("default-en-port", "found"),
    ("default-en-port", "outgoing-port"),
    ("published-ja", "found"),
    ("published-en", "found"),
];

/// What is missing to run Thunderbird here, if anything.
fn missing() -> Vec<&'static str> {
    let mut missing = Vec::new();
    for (what, path) in [
        ("thunderbird", THUNDERBIRD),
        ("thunderbird-l10n-ja", LANGPACK_JA),
        ("xvfb", "/usr/bin/Xvfb"),
        ("util-linux (unshare)", "/usr/bin/unshare"),
    ] {
        if !Path::new(path).exists() {
            missing.push(what);
        }
    }
    if which("ip").is_none() {
        missing.push("iproute2 (ip)");
    }
    missing
}

fn which(program: &str) -> Option<PathBuf> {
    std::env::var_os("PATH")
        .into_iter()
        .flat_map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .chain(["/usr/sbin".into(), "/sbin".into()])
        .map(|dir| dir.join(program))
        .find(|p| p.exists())
}

/// Whether to run: skips (saying why) when Thunderbird is not here, unless CI requires it.
fn runnable(test: &str) -> bool {
    let missing = missing();
    if missing.is_empty() {
        return true;
    }
    assert!(
        std::env::var_os(REQUIRED).is_none(),
        "{REQUIRED} is set but {} missing: .ci/run installs them",
        missing.join(", ")
    );
    eprintln!("{test}: skipped: {} not installed", missing.join(", "));
    false
}

/// Thunderbird's strings as installed: (language, file) → text of the file.
struct Strings {
    files: BTreeMap<(Lang, String), String>,
}

impl Strings {
    fn load() -> Strings {
        let mut files = BTreeMap::new();
        for (lang, archive, locale) in [(Lang::En, OMNI_JA, "en-US"), (Lang::Ja, LANGPACK_JA, "ja")]
        {
            let bytes = std::fs::read(archive).unwrap_or_else(|e| panic!("{archive}: {e}"));
            let mut zip = zip::ZipArchive::new(std::io::Cursor::new(bytes))
                .unwrap_or_else(|e| panic!("{archive}: {e}"));
            for i in 0..zip.len() {
                let mut entry = zip.by_index(i).unwrap();
                let Ok(name) = entry.name().map(|n| n.into_owned()) else {
                    continue;
                };
                let rel = name
                    .strip_prefix(&format!("localization/{locale}/"))
                    .or_else(|| name.strip_prefix(&format!("chrome/{locale}/locale/{locale}/")));
                let Some(rel) = rel else { continue };
                let mut text = String::new();
                if entry.read_to_string(&mut text).is_ok() {
                    files.insert((lang, rel.to_string()), text);
                }
            }
        }
        Strings { files }
    }

    /// The string `FILE#ID` in `lang`.
    fn get(&self, lang: Lang, reference: &str) -> Result<String, String> {
        let (file, id) = reference.split_once('#').ok_or("not FILE#ID")?;
        let text = self
            .files
            .get(&(lang, file.to_string()))
            .ok_or_else(|| format!("no file {file} in Thunderbird's {} strings", lang.code()))?;
        let found = if file.ends_with(".ftl") {
            ftl(text, id)
        } else if file.ends_with(".dtd") {
            text.split("<!ENTITY").find_map(|e| {
                let e = e.trim_start();
                let rest = e.strip_prefix(id)?.trim_start();
                let rest = rest.strip_prefix('"')?;
                Some(rest[..rest.find('"')?].to_string())
            })
        } else {
            text.lines().find_map(|l| {
                let (k, v) = l.split_once('=')?;
                (k.trim() == id).then(|| v.trim().to_string())
            })
        };
        found.ok_or_else(|| format!("no string {id} in {file} ({})", lang.code()))
    }
}

/// A Fluent message (`ID`) or attribute (`ID.attr`) of an `.ftl` file.
fn ftl(text: &str, id: &str) -> Option<String> {
    let (message, attribute) = match id.split_once('.') {
        Some((m, a)) => (m, Some(a)),
        None => (id, None),
    };
    let mut lines = text.lines();
    let value = loop {
        let line = lines.next()?;
        if let Some(rest) = line.strip_prefix(message)
            && let Some(v) = rest.trim_start().strip_prefix('=')
        {
            break v.trim().to_string();
        }
    };
    match attribute {
        None => Some(value),
        Some(attr) => lines
            .take_while(|l| l.starts_with(' ') || l.is_empty())
            .find_map(|l| {
                let l = l.trim();
                let rest = l.strip_prefix('.')?.strip_prefix(attr)?.trim_start();
                Some(rest.strip_prefix('=')?.trim().to_string())
            }),
    }
}

/// Every Thunderbird label the guides quote is the installed Thunderbird's own string, in both
/// languages (or its strings joined by the number Thunderbird shows between them).
#[test]
fn the_guides_thunderbird_labels_are_thunderbirds_strings() {
    if !runnable("the_guides_thunderbird_labels_are_thunderbirds_strings") {
        return;
    }
    let strings = Strings::load();
    let mut problems = Vec::new();
    let mut checked = 0;
    for (key, entry) in labels::entries().unwrap() {
        if !key.starts_with("tb.") {
            continue;
        }
        for (lang, label) in [(Lang::Ja, &entry.ja), (Lang::En, &entry.en)] {
            let Some(label) = label else { continue };
            let parts: Result<Vec<String>, String> =
                entry.strings.iter().map(|s| strings.get(lang, s)).collect();
            let parts = match parts {
                Ok(parts) => parts,
                Err(e) => {
                    problems.push(format!("{key} ({}): {e}", lang.code()));
                    continue;
                }
            };
            let shown = |s: &str| {
                if entry.capitals && lang == Lang::En {
                    s.to_uppercase()
                } else {
                    s.to_string()
                }
            };
            let ok = match parts.as_slice() {
                [] => true,
                [one] => shown(one) == *label,
                [first, .., last] => {
                    label.starts_with(&shown(first)) && label.ends_with(&shown(last))
                }
            };
            if !ok {
                problems.push(format!(
                    "{key} ({}): the guide says {label:?}, Thunderbird {} says {:?} ({})",
                    lang.code(),
                    thunderbird_version(),
                    parts.join(" … "),
                    entry.strings.join(", ")
                ));
            }
            checked += 1;
        }
    }
    assert!(checked > 60, "{checked} labels checked");
    assert!(
        problems.is_empty(),
        "labels of templates/guide/labels.toml that Thunderbird does not have:\n{}",
        problems.join("\n")
    );
}

fn thunderbird_version() -> String {
    Command::new(THUNDERBIRD)
        .arg("--version")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_default()
}

/// Runs [`in_namespaces`] in a mount and network namespace of its own: a loopback that is only
/// the test's, and a resolv.conf that points at the test's DNS server.
#[test]
fn thunderbird_follows_the_guide() {
    if !runnable("thunderbird_follows_the_guide") {
        return;
    }
    let mut unshare = Command::new("unshare");
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        unshare.args(["--user", "--map-root-user"]);
    }
    let status = unshare
        .args(["--mount", "--net", "--"])
        .arg(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "in_namespaces",
            "--ignored",
            "--nocapture",
            "--test-threads",
            "1",
        ])
        .env(INSIDE, "1")
        .status()
        .expect("run unshare");
    assert!(status.success(), "the run in Thunderbird failed: see above");
}

/// One way through the guide.
#[derive(Clone, Copy, Debug)]
struct Scenario {
    lang: Lang,
    /// The provider's autoconfig is published (and served by `mailconf serve`).
    published: bool,
    /// The guide's way to the provider's outgoing port, instead of Thunderbird's Gmail one.
    smtp_port: bool,
}

impl Scenario {
    fn name(&self) -> String {
        format!(
            "{}-{}{}",
            if self.published {
                "published"
            } else {
                "default"
            },
            self.lang.code(),
            if self.smtp_port { "-port" } else { "" }
        )
    }
}

const SCENARIOS: [Scenario; 4] = [
    Scenario {
        lang: Lang::Ja,
        published: false,
        smtp_port: false,
    },
    Scenario {
        lang: Lang::En,
        published: false,
        smtp_port: true,
    },
    Scenario {
        lang: Lang::Ja,
        published: true,
        smtp_port: false,
    },
    Scenario {
        lang: Lang::En,
        published: true,
        smtp_port: false,
    },
];

#[test]
#[ignore = "run inside its own namespaces by thunderbird_follows_the_guide"]
fn in_namespaces() {
    assert!(
        std::env::var_os(INSIDE).is_some(),
        "run by thunderbird_follows_the_guide"
    );
    let world = World::start();
    let mut failures = Vec::new();
    let mut summary = Vec::new();
    // MAILCONF_THUNDERBIRD_ONLY=NAME runs one scenario (when looking into one).
    let only = std::env::var("MAILCONF_THUNDERBIRD_ONLY").ok();
    for scenario in SCENARIOS {
        if only.as_ref().is_some_and(|o| *o != scenario.name()) {
            continue;
        }
        let started = Instant::now();
        match run(&world, scenario) {
            Ok(saved) => summary.push(format!(
                "{}: {} in {:.0?}",
                scenario.name(),
                saved,
                started.elapsed()
            )),
            Err(e) => {
                let log = world.log.lines();
                let tail = log[log.len().saturating_sub(40)..].join("\n    ");
                let tb_log = std::fs::read_to_string(
                    world
                        .dir
                        .path()
                        .join(scenario.name())
                        .join("thunderbird.log"),
                )
                .unwrap_or_default();
                let tb_tail: Vec<&str> = tb_log.lines().rev().take(15).collect();
                failures.push(format!(
                    "{}: {e}\n  the fakes saw, last:\n    {tail}\n  Thunderbird's stderr, last lines:\n    {}",
                    scenario.name(),
                    tb_tail.into_iter().rev().collect::<Vec<_>>().join("\n    ")
                ));
            }
        }
    }
    if !failures.is_empty() {
        // Kept for a look: profiles, Thunderbird's stderr.
        let kept = world.keep();
        eprintln!("the run's files are kept in {}", kept.display());
    }
    eprintln!("Thunderbird saved:\n{}", summary.join("\n"));
    assert!(failures.is_empty(), "\n{}", failures.join("\n\n"));
}

/// The test's network, DNS, fakes, `mailconf serve` and X server, for all scenarios.
struct World {
    dir: tempfile::TempDir,
    zone: world::Zone,
    log: world::Log,
    cert_pem: String,
    display: String,
    children: Vec<Child>,
}

impl Drop for World {
    fn drop(&mut self) {
        for child in &mut self.children {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl World {
    /// Keeps the run's folder (profiles, logs) after the test.
    fn keep(&self) -> PathBuf {
        let to = std::env::temp_dir().join(format!("mailconf-thunderbird-{}", std::process::id()));
        let _ = Command::new("cp")
            .arg("-a")
            .arg(self.dir.path())
            .arg(&to)
            .status();
        to
    }

    fn start() -> World {
        let run = |program: &str, args: &[&str]| {
            let status = Command::new(which(program).unwrap_or(program.into()))
                .args(args)
                .status()
                .unwrap_or_else(|e| panic!("{program}: {e}"));
            assert!(status.success(), "{program} {args:?}: {status}");
        };
        run("ip", &["link", "set", "lo", "up"]);
        let dir = common::tempdir();
        let resolv = dir.path().join("resolv.conf");
        std::fs::write(&resolv, format!("nameserver {}\n", world::DNS)).unwrap();
        run(
            "mount",
            &["--bind", resolv.to_str().unwrap(), "/etc/resolv.conf"],
        );

        let names = [
            "autoconfig.kyoto-u.ac.jp",
            "accounts.google.com",
            "www.googleapis.com",
            "pop.gmail.com",
            "imap.gmail.com",
            "smtp.gmail.com",
        ];
        let (cert_pem, key_pem) = common::pki::tls_files_for(dir.path(), &names);
        let tls = world::tls_config(&cert_pem, &key_pem);
        let zone = world::Zone::default();
        zone.mx
            .lock()
            .unwrap()
            .insert("kyoto-u.ac.jp".into(), "aspmx.l.google.com".into());
        for name in ["accounts.google.com", "www.googleapis.com"] {
            zone.set_a(name, Some(world::GOOGLE));
        }
        for name in ["pop.gmail.com", "imap.gmail.com", "smtp.gmail.com"] {
            zone.set_a(name, Some(world::GMAIL));
        }
        let log = world::Log::default();
        world::dns(zone.clone(), log.clone()).expect("DNS on 127.0.0.1:53");
        world::ispdb(GMAIL_ISPDB, log.clone()).expect("ISPDB on 127.0.0.5:80");
        world::google(tls.clone(), log.clone()).expect("Google on 127.0.0.3:443");
        world::gmail(tls, log.clone()).expect("Gmail on 127.0.0.4");

        let mut children = Vec::new();
        let serve = common::server::Server::start_on(
            &format!("{}:443", world::AUTOCONFIG),
            &[
                "--tls-cert",
                dir.path().join("tls-cert.pem").to_str().unwrap(),
                "--tls-key",
                dir.path().join("tls-key.pem").to_str().unwrap(),
            ],
            &[],
        );
        // Kept running for the whole test: leaked on purpose, stopped with the namespace.
        std::mem::forget(serve);

        let mut xvfb = Command::new("Xvfb")
            .args([
                "-displayfd",
                "1",
                "-screen",
                "0",
                "1280x900x24",
                "-nolisten",
                "tcp",
            ])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start Xvfb");
        let mut line = String::new();
        BufReader::new(xvfb.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let display = format!(":{}", line.trim());
        assert!(line.trim().parse::<u32>().is_ok(), "Xvfb said {line:?}");
        children.push(xvfb);
        World {
            dir,
            zone,
            log,
            cert_pem,
            display,
            children,
        }
    }
}

/// The guide's Thunderbird section, as the test reads it.
struct Section {
    /// The steps to set the account up, then the way to the provider's outgoing port, then the
    /// POP account's server settings.
    steps: Vec<Step>,
    port_way: Vec<Step>,
    pop_settings: Vec<Step>,
    /// Every label of the section outside those lists (key, text).
    other_labels: Vec<(String, String)>,
}

#[derive(Debug, Clone)]
struct Step {
    kind: String,
    /// The labels it quotes, in order: (key, text).
    labels: Vec<(String, String)>,
    /// Texts marked as hosts and ports.
    hosts: Vec<String>,
    ports: Vec<String>,
    text: String,
}

impl Step {
    fn label(&self, key: &str) -> Result<&str, String> {
        self.labels
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, t)| t.as_str())
            .ok_or_else(|| {
                format!(
                    "the guide's step {:?} does not quote {key}: {}",
                    self.kind, self.text
                )
            })
    }

    fn quotes(&self, key: &str) -> bool {
        self.labels.iter().any(|(k, _)| k == key)
    }
}

fn read_section(html: &str, lang: Lang) -> Section {
    use scraper::{ElementRef, Html, Selector};
    let doc = Html::parse_document(html);
    let sel = |s: &str| Selector::parse(s).unwrap();
    let section = doc
        .select(&sel(&format!("section#{}", lang.code())))
        .next()
        .expect("the language's section");
    let mut inside = false;
    let mut nodes: Vec<ElementRef> = Vec::new();
    for child in section.children().filter_map(ElementRef::wrap) {
        if child.value().name() == "h2" {
            inside = child.value().id() == Some(&format!("{}-thunderbird", lang.code()));
            continue;
        }
        if inside {
            nodes.push(child);
        }
    }
    assert!(!nodes.is_empty(), "no Thunderbird section in the guide");
    let labels_of = |e: ElementRef| -> Vec<(String, String)> {
        e.select(&sel("span.ui"))
            .map(|s| {
                (
                    s.value().attr("data-label").unwrap().to_string(),
                    s.text().collect::<String>(),
                )
            })
            .collect()
    };
    let steps_of = |e: ElementRef| -> Vec<Step> {
        e.select(&sel("li[data-tb]"))
            .map(|li| Step {
                kind: li.value().attr("data-tb").unwrap().to_string(),
                labels: labels_of(li),
                hosts: li
                    .select(&sel(".host"))
                    .map(|h| h.text().collect())
                    .collect(),
                ports: li
                    .select(&sel(".port"))
                    .map(|h| h.text().collect())
                    .collect(),
                text: li.text().collect::<String>(),
            })
            .collect()
    };
    let mut out = Section {
        steps: Vec::new(),
        port_way: Vec::new(),
        pop_settings: Vec::new(),
        other_labels: Vec::new(),
    };
    for node in nodes {
        let class = node.value().attr("class").unwrap_or("");
        match (node.value().name(), class) {
            ("ol", "tb-steps") => out.steps.extend(steps_of(node)),
            ("ol", "tb-smtp") => out.port_way = steps_of(node),
            ("ol", "tb-pop-settings") => out.pop_settings = steps_of(node),
            _ => out.other_labels.extend(labels_of(node)),
        }
    }
    out
}

/// Thunderbird, started on a fresh profile, driven through Marionette.
struct Thunderbird {
    child: Child,
    profile: PathBuf,
    mn: Option<Marionette>,
    /// Every text read on a screen, and where.
    seen: BTreeSet<String>,
    shots: String,
    shot: u32,
    lang: Lang,
}

impl Drop for Thunderbird {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Thunderbird {
    fn start(world: &World, scenario: Scenario) -> Result<Thunderbird, String> {
        let base = world.dir.path().join(scenario.name());
        let profile = base.join("profile");
        let home = base.join("home");
        std::fs::create_dir_all(&profile).unwrap();
        let locale = match scenario.lang {
            Lang::Ja => "ja",
            Lang::En => "en-US",
        };
        let prefs = [
            format!(r#"user_pref("intl.locale.requested", "{locale}");"#),
            r#"user_pref("intl.regional_prefs.use_os_locales", false);"#.into(),
            format!(
                r#"user_pref("mailnews.auto_config_url", "http://{}/v1.1/");"#,
                world::ISPDB
            ),
            r#"user_pref("marionette.port", 0);"#.into(),
            r#"user_pref("app.update.enabled", false);"#.into(),
            r#"user_pref("mailnews.start_page.enabled", false);"#.into(),
            r#"user_pref("mail.shell.checkDefaultClient", false);"#.into(),
            r#"user_pref("datareporting.policy.dataSubmissionEnabled", false);"#.into(),
            r#"user_pref("toolkit.telemetry.reportingpolicy.firstRun", false);"#.into(),
        ];
        std::fs::write(profile.join("user.js"), prefs.join("\n") + "\n").unwrap();
        // The person's web browser: Thunderbird opens the sign-in page with the desktop's
        // default browser; this one writes the address down for the test, which then browses.
        let apps = home.join(".local/share/applications");
        std::fs::create_dir_all(&apps).unwrap();
        std::fs::create_dir_all(home.join(".config")).unwrap();
        let opened = base.join("browser-opened");
        let script = base.join("browser.sh");
        std::fs::write(
            &script,
            format!(
                "#!/bin/sh\nprintf '%s\\n' \"$1\" >> '{}'\n",
                opened.display()
            ),
        )
        .unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
        std::fs::write(
            apps.join("test-browser.desktop"),
            format!(
                "[Desktop Entry]\nType=Application\nName=Test browser\nExec={} %u\n\
                 MimeType=x-scheme-handler/http;x-scheme-handler/https;text/html;\n",
                script.display()
            ),
        )
        .unwrap();
        std::fs::write(
            home.join(".config/mimeapps.list"),
            "[Default Applications]\nx-scheme-handler/http=test-browser.desktop\n\
             x-scheme-handler/https=test-browser.desktop\ntext/html=test-browser.desktop\n",
        )
        .unwrap();
        let log = std::fs::File::create(base.join("thunderbird.log")).unwrap();
        let child = Command::new(THUNDERBIRD)
            .args(["-no-remote", "-profile"])
            .arg(&profile)
            .args(["-marionette", "-remote-allow-system-access"])
            .env("DISPLAY", &world.display)
            .env("HOME", &home)
            .env("XDG_CONFIG_HOME", home.join(".config"))
            .env("XDG_DATA_HOME", home.join(".local/share"))
            .env("MOZ_CRASHREPORTER_DISABLE", "1")
            .env_remove("WAYLAND_DISPLAY")
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .map_err(|e| format!("start Thunderbird: {e}"))?;
        let mut tb = Thunderbird {
            child,
            profile: profile.clone(),
            mn: None,
            seen: BTreeSet::new(),
            shots: scenario.name(),
            shot: 0,
            lang: scenario.lang,
        };
        let mut mn = Marionette::connect(&profile, Duration::from_secs(90))?;
        // Trust the fakes' certificate (self-signed: as its own authority).
        use base64::Engine;
        let der = rustls::pki_types::CertificateDer::from_pem_slice(world.cert_pem.as_bytes())
            .map_err(|e| e.to_string())?;
        use rustls::pki_types::pem::PemObject;
        let b64 = base64::engine::general_purpose::STANDARD.encode(der.as_ref());
        mn.script(
            r#"const db = Cc["@mozilla.org/security/x509certdb;1"].getService(Ci.nsIX509CertDB);
               db.addCertFromBase64(arguments[0], "C,,"); return true;"#,
            vec![json!(b64)],
        )?;
        tb.mn = Some(mn);
        Ok(tb)
    }

    fn mn(&mut self) -> &mut Marionette {
        self.mn.as_mut().unwrap()
    }

    /// Calls a function of screen.js.
    fn call(&mut self, call: &str, args: Vec<Value>) -> Result<Value, String> {
        let script = format!("{SCREEN_JS}\nreturn {call};");
        let value = self.mn().script(&script, args)?;
        if let Some(error) = value.get("error") {
            let seen = value.get("seen").map(|s| s.to_string()).unwrap_or_default();
            return Err(format!("{} {seen}", error.as_str().unwrap_or("")));
        }
        Ok(value)
    }

    fn hub(&mut self) -> Result<Value, String> {
        self.call("hub()", vec![])
    }

    /// What `scope` shows now; remembered as seen.
    fn read(&mut self, scope: &str) -> Result<Vec<String>, String> {
        let texts: Vec<String> =
            serde_json::from_value(self.call("texts(arguments[0])", vec![json!(scope)])?)
                .map_err(|e| e.to_string())?;
        self.seen.extend(texts.iter().cloned());
        Ok(texts)
    }

    /// Waits until `scope` shows `text` (and remembers it seen).
    fn wait_for_text(&mut self, scope: &str, text: &str, what: &str) -> Result<(), String> {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let texts = self.read(scope)?;
            if texts.iter().any(|t| t == text) {
                return Ok(());
            }
            if Instant::now() > deadline {
                return Err(format!(
                    "{what}: {text:?} never appeared; the screen shows {texts:?}"
                ));
            }
            std::thread::sleep(Duration::from_millis(250));
        }
    }

    /// Waits until `scope` shows the same texts on two reads in a row (a step's texts are
    /// localised as it appears), and remembers them seen.
    fn settle(&mut self, scope: &str, what: &str) -> Result<(), String> {
        let deadline = Instant::now() + Duration::from_secs(30);
        let mut last = self.read(scope)?;
        loop {
            std::thread::sleep(Duration::from_millis(100));
            let now = self.read(scope)?;
            if now == last {
                return Ok(());
            }
            if Instant::now() > deadline {
                return Err(format!("{what}: the screen kept changing: {now:?}"));
            }
            last = now;
        }
    }

    /// Waits until the hub shows the step `id` (its subview).
    fn wait_for_step(&mut self, id: &str, what: &str) -> Result<Value, String> {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let hub = self.hub()?;
            if hub["steps"]
                .as_array()
                .is_some_and(|s| s.len() == 1 && s[0] == id)
            {
                self.settle("hub", what)?;
                return Ok(hub);
            }
            if Instant::now() > deadline {
                return Err(format!(
                    "{what}: Thunderbird never showed {id}; it shows {hub}"
                ));
            }
            std::thread::sleep(Duration::from_millis(250));
        }
    }

    /// The footer button `id` (forward, back, custom) once it is enabled.
    fn wait_enabled(&mut self, id: &str, what: &str) -> Result<(), String> {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let hub = self.hub()?;
            let button = hub["buttons"]
                .as_array()
                .and_then(|b| b.iter().find(|b| b["id"] == id).cloned());
            if button.as_ref().is_some_and(|b| b["disabled"] == false) {
                return Ok(());
            }
            if Instant::now() > deadline {
                return Err(format!("{what}: the button {id} stayed disabled: {hub}"));
            }
            std::thread::sleep(Duration::from_millis(250));
        }
    }

    fn click(&mut self, scope: &str, label: &str) -> Result<(), String> {
        self.read(scope)?;
        self.call(
            "click(arguments[0], arguments[1])",
            vec![json!(scope), json!(label)],
        )
        .map(|_| ())
        .map_err(|e| format!("clicking {label:?}: {e}"))
    }

    fn type_into(&mut self, label: &str, value: &str) -> Result<(), String> {
        self.read("hub")?;
        self.call(
            "type(\"hub\", arguments[0], arguments[1])",
            vec![json!(label), json!(value)],
        )
        .map(|_| ())
        .map_err(|e| format!("typing into {label:?}: {e}"))
    }

    fn value_of(&mut self, label: &str) -> Result<String, String> {
        let v = self.call("valueOf(\"hub\", arguments[0])", vec![json!(label)])?;
        Ok(v["value"].as_str().unwrap_or("").to_string())
    }

    fn screenshot(&mut self, what: &str) -> Result<(), String> {
        self.shot += 1;
        let png = self.mn().screenshot()?;
        let name = format!("thunderbird-{}-{:02}-{what}.png", self.shots, self.shot);
        let target = common::root().join("target/screenshots").join(&name);
        std::fs::create_dir_all(target.parent().unwrap()).unwrap();
        std::fs::write(&target, &png).unwrap();
        let for_dist = DIST_SHOTS.contains(&(self.shots.as_str(), what));
        if for_dist && std::env::var_os("MAILCONF_UPDATE_DIST").is_some() {
            let dist = common::root()
                .join("dist/screenshots")
                .join(format!("thunderbird-{}-{what}.png", self.shots));
            std::fs::write(dist, &png).unwrap();
        }
        Ok(())
    }

    /// The protocols Thunderbird offers, the one to click chosen: the picture the served guide
    /// shows beside that step (`templates/guide/img/`, with `MAILCONF_UPDATE_DIST`). It holds no
    /// address or server, so it fits any provider whose mail is at Google.
    fn picture_of_choice(&mut self) -> Result<(), String> {
        const FIELDSET: &str = r##"document.querySelector("account-hub-container").shadowRoot.querySelector("#protocolForm fieldset.form-options")"##;
        // The choice's highlight is a transition: the picture is taken once it has ended.
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let running = self.mn().script(
                &format!(
                    "return {FIELDSET}.getAnimations({{ subtree: true }})\
                     .filter(a => a.playState == 'running').length;"
                ),
                vec![],
            )?;
            if running == 0 {
                break;
            }
            if Instant::now() > deadline {
                return Err(format!(
                    "the choice's highlight never ended ({running} running)"
                ));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let png = self
            .mn()
            .element_screenshot(&format!("return {FIELDSET};"))?;
        let name = format!("thunderbird-choose-pop3-{}.png", self.lang.code());
        let target = common::root().join("target/screenshots").join(&name);
        std::fs::create_dir_all(target.parent().unwrap()).unwrap();
        std::fs::write(&target, &png).unwrap();
        if std::env::var_os("MAILCONF_UPDATE_DIST").is_some() {
            std::fs::write(common::root().join("templates/guide/img").join(&name), &png).unwrap();
        }
        Ok(())
    }

    /// Quits, and waits until Thunderbird has written its preferences and exited.
    fn quit(mut self) -> Result<PathBuf, String> {
        if let Some(mn) = self.mn.take() {
            mn.quit()?;
        }
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if self.child.try_wait().map_err(|e| e.to_string())?.is_some() {
                return Ok(self.profile.clone());
            }
            if Instant::now() > deadline {
                return Err("Thunderbird did not quit within 60 s".into());
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }
}

/// One scenario: Thunderbird follows the guide; returns what it saved, in a line.
fn run(world: &World, scenario: Scenario) -> Result<String, String> {
    let published = scenario.published;
    world.zone.set_a(
        "autoconfig.kyoto-u.ac.jp",
        published.then_some(world::AUTOCONFIG),
    );
    let mut provider = Provider::kumail();
    provider.autoconfig.published = published;
    let account = Account {
        address: Address::parse(ADDRESS).unwrap(),
        name: DisplayName::parse(match scenario.lang {
            Lang::Ja => "山田 太郎",
            Lang::En => "Taro Yamada",
        })
        .unwrap(),
    };
    let mut ctx = Context::new(&provider, None);
    ctx.view = View {
        langs: vec![scenario.lang],
        ..View::default()
    };
    let html = String::from_utf8(render_for(&ctx, &account).map_err(|e| e.to_string())?).unwrap();
    let section = read_section(&html, scenario.lang);
    let name = account.name.as_ref().unwrap().as_str().to_string();

    let mut tb = Thunderbird::start(world, scenario)?;
    let mut done_labels: Vec<(String, String)> = section.other_labels.clone();
    let mut steps: Vec<Step> = Vec::new();
    for step in &section.steps {
        if step.kind == "continue" && scenario.smtp_port {
            if section.port_way.is_empty() {
                return Err("the guide has no way to the provider's outgoing port".into());
            }
            steps.extend(section.port_way.iter().cloned());
        } else {
            steps.push(step.clone());
        }
    }
    let pop = provider.preferred == Protocol::Pop3;
    if pop {
        if section.pop_settings.is_empty() {
            return Err("the guide says nothing of the POP account's server settings".into());
        }
        steps.extend(section.pop_settings.iter().cloned());
    }
    let opened = world
        .dir
        .path()
        .join(scenario.name())
        .join("browser-opened");
    for (n, step) in steps.iter().enumerate() {
        let what = format!("step {} ({})", n + 1, step.kind);
        do_step(&mut tb, world, step, &what, &name, &opened)
            .map_err(|e| format!("{what}: {e}\n  the guide says: {}", step.text.trim()))?;
        done_labels.extend(step.labels.iter().cloned());
    }
    if pop {
        tb.screenshot("server-settings")?;
    }
    // Every label the followed steps quote was on the screen.
    let unseen: Vec<String> = done_labels
        .iter()
        .filter(|(key, text)| key.starts_with("tb.") && !tb.seen.contains(text))
        .map(|(key, text)| format!("{key} {text:?}"))
        .collect();
    if !unseen.is_empty() {
        return Err(format!(
            "labels the guide quotes that Thunderbird never showed: {}\n  seen: {:?}",
            unseen.join(", "),
            tb.seen
        ));
    }
    let profile = tb.quit()?;
    check_saved(&profile, &provider, scenario, &name, world)
}

fn do_step(
    tb: &mut Thunderbird,
    world: &World,
    step: &Step,
    what: &str,
    name: &str,
    opened: &Path,
) -> Result<(), String> {
    match step.kind.as_str() {
        // Done in Gmail, in a browser: nothing in Thunderbird.
        "gmail-pop" => Ok(()),
        "open" => {
            // A new profile: the hub opens by itself. The ≡ menu's way there: its items' labels.
            tb.wait_for_step("emailAutoConfigSubview", what)?;
            let items = tb.mn().script(
                r#"return ["appmenu_new", "appmenu_newMailAccountMenuItem"].map(id => document.getElementById(id).getAttribute("label"));"#,
                vec![],
            )?;
            for item in items.as_array().unwrap() {
                tb.seen.insert(item.as_str().unwrap_or("").to_string());
            }
            for key in ["tb.add-account", "tb.email"] {
                let label = step.label(key)?;
                if !tb.seen.contains(label) {
                    return Err(format!("the ≡ menu has no item {label:?}: {items}"));
                }
            }
            tb.screenshot("first")
        }
        "address" | "address-manual" => {
            tb.type_into(step.label("tb.full-name")?, name)?;
            tb.type_into(step.label("tb.email-address")?, ADDRESS)?;
            tb.wait_enabled("forward", what)?;
            tb.read("hub")?;
            tb.screenshot("address")?;
            if step.kind == "address" {
                tb.click("hub", step.label("tb.continue")?)
            } else {
                tb.click("hub", step.label("tb.manual-configuration")?)
            }
        }
        "found" => {
            tb.wait_for_step("emailConfigFoundSubview", what)?;
            tb.wait_for_text("hub", step.label("tb.found")?, what)?;
            tb.click("hub", step.label("tb.show-more")?)?;
            let source = if step.quotes("tb.found-provider") {
                "tb.found-provider"
            } else {
                "tb.found-ispdb"
            };
            tb.wait_for_text("hub", step.label(source)?, what)?;
            // The protocols the step names: the first is the one Thunderbird chose and marks
            // recommended; a second is the one to click instead.
            let protocols: Vec<&str> = step
                .labels
                .iter()
                .filter_map(|(k, _)| match k.as_str() {
                    "tb.pop3" => Some("pop3"),
                    "tb.imap" => Some("imap"),
                    _ => None,
                })
                .collect();
            let hub = tb.hub()?;
            let (chosen, badges) = (hub["chosen"].clone(), hub["badges"].clone());
            let first = *protocols.first().ok_or("the step names no protocol")?;
            if chosen != first || badges != json!([first]) {
                return Err(format!(
                    "the guide says {first} is chosen and recommended; Thunderbird chose {chosen}, recommends {badges}"
                ));
            }
            if let Some(&then) = protocols.get(1) {
                let key = if then == "pop3" { "tb.pop3" } else { "tb.imap" };
                tb.click("hub", step.label(key)?)?;
                let chosen = tb.hub()?["chosen"].clone();
                if chosen != then {
                    return Err(format!("clicked {then}, Thunderbird has {chosen} chosen"));
                }
                tb.picture_of_choice()?;
            }
            let texts = tb.read("hub")?;
            for shown in step.hosts.iter().chain(&step.ports) {
                if !texts.contains(shown) {
                    return Err(format!(
                        "the guide says {shown:?} is shown; the box shows {texts:?}"
                    ));
                }
            }
            tb.screenshot("found")
        }
        "continue" => {
            tb.wait_enabled("forward", what)?;
            tb.click("hub", step.label("tb.continue")?)
        }
        "edit" => tb.click("hub", step.label("tb.edit-configuration")?),
        "incoming-keep" => {
            tb.wait_for_step("emailIncomingConfigSubview", what)?;
            tb.wait_for_text("hub", step.label("tb.incoming-settings")?, what)?;
            tb.click("hub", step.label("tb.continue")?)
        }
        "outgoing-port" => {
            tb.wait_for_step("emailOutgoingConfigSubview", what)?;
            tb.wait_for_text("hub", step.label("tb.outgoing-settings")?, what)?;
            let port = step.ports.first().ok_or("no port in the step")?.clone();
            tb.type_into(step.label("tb.port")?, &port)?;
            let security = tb.value_of(step.label("tb.connection-security")?)?;
            if !step.text.contains(&security) || security.is_empty() {
                return Err(format!(
                    "after typing {port}, the connection security is {security:?}"
                ));
            }
            tb.read("hub")?;
            tb.screenshot("outgoing-port")?;
            tb.click("hub", step.label("tb.test")?)?;
            tb.wait_enabled("forward", what)?;
            tb.click("hub", step.label("tb.continue")?)
        }
        "signin" => {
            tb.wait_for_text("hub", step.label("tb.oauth-pending")?, what)?;
            tb.screenshot("signin")?;
            let url = wait_for_browser(opened)?;
            let page = browse(&url, &world.cert_pem)?;
            let done = step.label("tb.browser-done")?;
            if !page.contains(done) {
                return Err(format!("the browser's last page does not say {done:?}"));
            }
            tb.seen.insert(done.to_string());
            Ok(())
        }
        "password" => Err("the KUMail guide asks for no password in Thunderbird".into()),
        "finish" => {
            tb.wait_for_step("emailAddedSuccessSubview", what)?;
            tb.screenshot("finish")?;
            tb.click("hub", step.label("tb.finish")?)?;
            let deadline = Instant::now() + Duration::from_secs(30);
            while tb.hub()?["open"] == true {
                if Instant::now() > deadline {
                    return Err("the Account Hub did not close".into());
                }
                std::thread::sleep(Duration::from_millis(200));
            }
            Ok(())
        }
        "account-settings" => {
            tb.mn().script(
                r#"document.getElementById("button-appmenu").click(); return true;"#,
                vec![],
            )?;
            let label = step.label("tb.account-settings")?.to_string();
            tb.wait_for_text("menu", &label, what)?;
            tb.click("menu", &label)?;
            let server = step.label("tb.server-settings")?.to_string();
            tb.wait_for_text("settings", &server, what)?;
            tb.click("settings", &server)?;
            let deadline = Instant::now() + Duration::from_secs(30);
            loop {
                let found = tb.call("checkbox(arguments[0]) !== null", vec![json!(server)]);
                let page = tb.read("settings")?;
                if page.len() > 20 && found.is_ok() {
                    break;
                }
                if Instant::now() > deadline {
                    return Err(format!("the server settings never appeared: {page:?}"));
                }
                std::thread::sleep(Duration::from_millis(250));
            }
            Ok(())
        }
        "check-on" | "check-off" | "check-on-days" => {
            let on = step.kind != "check-off";
            let (_, label) = step.labels.first().ok_or("the step quotes no box")?;
            let label = label.clone();
            // The page's settle: the boxes exist once it is loaded.
            let deadline = Instant::now() + Duration::from_secs(30);
            let result = loop {
                match tb.call(
                    "setChecked(arguments[0], arguments[1])",
                    vec![json!(label), json!(on)],
                ) {
                    Ok(v) => break v,
                    Err(e) if Instant::now() > deadline => return Err(e),
                    Err(_) => std::thread::sleep(Duration::from_millis(250)),
                }
            };
            tb.seen.insert(label.clone());
            tb.read("settings")?;
            if result["after"] != on {
                return Err(format!("{label:?} is {} after the click", result["after"]));
            }
            if step.kind == "check-on-days" {
                return Err(
                    "a number of days to type: not a step of KUMail's guide, and this \
                            test does not type it yet"
                        .into(),
                );
            }
            Ok(())
        }
        other => Err(format!(
            "the test does not know the guide's step kind {other:?}"
        )),
    }
}

/// The address Thunderbird handed to the web browser.
fn wait_for_browser(opened: &Path) -> Result<String, String> {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Ok(text) = std::fs::read_to_string(opened)
            && let Some(line) = text.lines().last()
        {
            return Ok(line.to_string());
        }
        if Instant::now() > deadline {
            return Err("Thunderbird never opened the sign-in page in the web browser".into());
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// The person's browser: opens `url`, signs in (the fake Google does not ask), follows the
/// redirects back to Thunderbird, and returns the last page.
fn browse(url: &str, cert_pem: &str) -> Result<String, String> {
    if !url.starts_with("https://accounts.google.com/") {
        return Err(format!("Thunderbird opened {url}, not Google's sign-in"));
    }
    let client = reqwest::blocking::Client::builder()
        .add_root_certificate(
            reqwest::Certificate::from_pem(cert_pem.as_bytes()).map_err(|e| e.to_string())?,
        )
        .timeout(Duration::from_secs(30))
        .build()
        .map_err(|e| e.to_string())?;
    let response = client
        .get(url)
        .send()
        .map_err(|e| format!("browsing {url}: {e}"))?;
    let last = response.url().to_string();
    if !last.starts_with("http://localhost:") {
        return Err(format!("the sign-in ended at {last}, not at Thunderbird"));
    }
    response.text().map_err(|e| e.to_string())
}

/// Reads what Thunderbird saved and compares it with what the guide promised.
fn check_saved(
    profile: &Path,
    provider: &Provider,
    scenario: Scenario,
    name: &str,
    world: &World,
) -> Result<String, String> {
    let text = std::fs::read_to_string(profile.join("prefs.js")).map_err(|e| e.to_string())?;
    let prefs = parse_prefs(&text);
    // A value equal to Thunderbird's default is not written: the default is what it uses.
    let defaults = thunderbird_defaults();
    let get = |key: &str| {
        prefs.get(key).cloned().unwrap_or_else(|| {
            let mut parts: Vec<&str> = key.split('.').collect();
            if parts.len() == 4 {
                parts[2] = "default";
            }
            defaults.get(&parts.join(".")).cloned().unwrap_or_default()
        })
    };
    let account = (1..10)
        .map(|i| format!("mail.account.account{i}"))
        .find(|a| {
            let ids = get(&format!("{a}.identities"));
            !ids.is_empty() && get(&format!("mail.identity.{ids}.useremail")) == ADDRESS
        })
        .ok_or("prefs.js holds no account for the address")?;
    let identity = get(&format!("{account}.identities"));
    let server = format!("mail.server.{}", get(&format!("{account}.server")));
    let smtp = format!(
        "mail.smtpserver.{}",
        get(&format!("mail.identity.{identity}.smtpServer"))
    );

    let incoming = provider.incoming(Protocol::Pop3);
    let smtp_expected: (String, u16, Security, Option<AuthMethod>) =
        if scenario.published || scenario.smtp_port {
            server_tuple(&provider.smtp)
        } else {
            // Thunderbird's Gmail settings, as the guide says.
            (
                provider.smtp.host.as_str().to_string(),
                ISPDB_GMAIL_SMTP.0,
                ISPDB_GMAIL_SMTP.1,
                Some(AuthMethod::Oauth2),
            )
        };
    let (in_host, in_port, in_security, in_auth) = server_tuple(incoming);
    let mut expected: Vec<(String, String)> = vec![
        (
            format!("mail.identity.{identity}.fullName"),
            name.to_string(),
        ),
        (format!("{server}.type"), "pop3".into()),
        (format!("{server}.hostname"), in_host),
        (format!("{server}.port"), in_port.to_string()),
        (format!("{server}.socketType"), socket_type(in_security)),
        (format!("{server}.authMethod"), auth_method(in_auth)),
        (format!("{server}.userName"), ADDRESS.into()),
        (format!("{smtp}.hostname"), smtp_expected.0.clone()),
        (format!("{smtp}.port"), smtp_expected.1.to_string()),
        (format!("{smtp}.try_ssl"), socket_type(smtp_expected.2)),
        (format!("{smtp}.authMethod"), auth_method(smtp_expected.3)),
        (format!("{smtp}.username"), ADDRESS.into()),
        (
            format!("{server}.leave_on_server"),
            provider.pop.leave_on_server.to_string(),
        ),
        (
            format!("{server}.delete_by_age_from_server"),
            provider.pop.days_on_server.is_some().to_string(),
        ),
        (
            format!("{server}.delete_mail_left_on_server"),
            "false".into(),
        ),
    ];
    if let Some(days) = provider.pop.days_on_server {
        expected.push((
            format!("{server}.num_days_to_leave_on_server"),
            days.get().to_string(),
        ));
    }
    let wrong: Vec<String> = expected
        .iter()
        .filter(|(k, v)| get(k) != *v)
        .map(|(k, v)| format!("{k} = {:?}, the guide promised {v:?}", get(k)))
        .collect();
    if !wrong.is_empty() {
        return Err(format!(
            "Thunderbird saved otherwise:\n  {}",
            wrong.join("\n  ")
        ));
    }
    // The sign-in was real: the POP server was given the token of the sign-in, for the address.
    let signed_in = format!("995 XOAUTH2 user={ADDRESS} token ok=true");
    if !world.log.contains(&signed_in) {
        return Err(format!(
            "the POP server never saw a signed-in login: {:?}",
            world.log.lines()
        ));
    }
    Ok(format!(
        "{} {}:{} {} auth {} / smtp {}:{} {} auth {}; leave on server {}, delete by age {}, delete when deleted {}",
        get(&format!("{server}.type")),
        get(&format!("{server}.hostname")),
        get(&format!("{server}.port")),
        get(&format!("{server}.socketType")),
        get(&format!("{server}.authMethod")),
        get(&format!("{smtp}.hostname")),
        get(&format!("{smtp}.port")),
        get(&format!("{smtp}.try_ssl")),
        get(&format!("{smtp}.authMethod")),
        get(&format!("{server}.leave_on_server")),
        get(&format!("{server}.delete_by_age_from_server")),
        get(&format!("{server}.delete_mail_left_on_server")),
    ))
}

fn server_tuple(server: &Server) -> (String, u16, Security, Option<AuthMethod>) {
    (
        server.host.as_str().to_string(),
        server.port.get(),
        server.security,
        server.auth.iter().next(),
    )
}

/// Thunderbird's `socketType` / `try_ssl` values (nsMsgSocketType).
fn socket_type(security: Security) -> String {
    match security {
        Security::Plain => "0",
        Security::Starttls => "2",
        Security::Tls => "3",
    }
    .into()
}

/// Thunderbird's `authMethod` values (nsMsgAuthMethod).
fn auth_method(auth: Option<AuthMethod>) -> String {
    match auth {
        Some(AuthMethod::Oauth2) => "10",
        Some(AuthMethod::Password) | None => "3",
    }
    .into()
}

/// Thunderbird's default preferences for mail servers (`defaults/pref/mailnews.js` in omni.ja).
fn thunderbird_defaults() -> BTreeMap<String, String> {
    let bytes = std::fs::read(OMNI_JA).unwrap();
    let mut zip = zip::ZipArchive::new(std::io::Cursor::new(bytes)).unwrap();
    let mut text = String::new();
    zip.by_name("defaults/pref/mailnews.js")
        .unwrap()
        .read_to_string(&mut text)
        .unwrap();
    parse_prefs_with(&text, "pref(")
}

/// `user_pref("name", value);` lines: name → value (strings unquoted).
fn parse_prefs(text: &str) -> BTreeMap<String, String> {
    parse_prefs_with(text, "user_pref(")
}

fn parse_prefs_with(text: &str, call: &str) -> BTreeMap<String, String> {
    text.lines()
        .filter_map(|l| {
            let inner = l.strip_prefix(call)?.strip_suffix(");")?;
            let (name, value) = inner.split_once(", ")?;
            let name = serde_json::from_str::<String>(name).ok()?;
            let value = serde_json::from_str::<Value>(value).ok()?;
            let value = match value {
                Value::String(s) => s,
                other => other.to_string(),
            };
            Some((name, value))
        })
        .collect()
}
