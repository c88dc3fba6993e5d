//! A real browser for the tests: Debian's `chromium`, headless, driven through `chromedriver`
//! (WebDriver) with fantoccini.
//!
//! Without chromium and chromedriver a browser test says so on stderr and returns: the README's
//! `cargo test` runs on a machine with only the Rust toolchain. CI installs both (`.ci/run`) and
//! sets `MAILCONF_BROWSER_TESTS=1`, which turns a missing browser into a failure.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{Value, json};

pub const CHROMIUM: &str = "/usr/bin/chromium";
pub const CHROMEDRIVER: &str = "/usr/bin/chromedriver";

/// An iPhone's viewport (CSS pixels) and user agent.
pub const PHONE: Device = Device {
    width: 390,
    height: 844,
    user_agent: Some(
        "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 \
         (KHTML, like Gecko) Version/18.1 Mobile/15E148 Safari/604.1",
    ),
};

/// A desktop browser window.
pub const DESKTOP: Device = Device {
    width: 1280,
    height: 900,
    user_agent: None,
};

#[derive(Debug, Clone, Copy)]
pub struct Device {
    pub width: u32,
    pub height: u32,
    pub user_agent: Option<&'static str>,
}

/// A headless chromium session, with its own chromedriver, closed on drop.
pub struct Browser {
    runtime: tokio::runtime::Runtime,
    client: Option<Client>,
    driver: Child,
    _profile: tempfile::TempDir,
    pub downloads: tempfile::TempDir,
    /// The device is a phone (mobile emulation kept for full-page shots).
    mobile: bool,
}

/// Starts a browser emulating `device`, or `None` (with a note on stderr) when chromium or
/// chromedriver is missing and `MAILCONF_BROWSER_TESTS` does not require them.
pub fn start(device: Device) -> Option<Browser> {
    let present = Path::new(CHROMIUM).exists() && Path::new(CHROMEDRIVER).exists();
    if !present {
        if std::env::var_os("MAILCONF_BROWSER_TESTS").is_some() {
            panic!(
                "MAILCONF_BROWSER_TESTS is set but {CHROMIUM} or {CHROMEDRIVER} is missing: \
                 apt-get install chromium chromium-driver"
            );
        }
        eprintln!(
            "SKIPPED: a browser test needs {CHROMIUM} and {CHROMEDRIVER} (Debian's chromium and \
             chromium-driver); .ci/run installs them"
        );
        return None;
    }
    Some(Browser::start(device))
}

/// Starts chromedriver on a port it chooses (`--port=0`) and returns it with the port, read from
/// what chromedriver prints once it listens; the rest of its output is read and dropped.
fn start_driver() -> (Child, u16) {
    let mut driver = Command::new(CHROMEDRIVER)
        .arg("--port=0")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start chromedriver");
    let stdout = driver.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        use std::io::BufRead;
        for line in std::io::BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if let Some(port) = line
                .split("started successfully on port ")
                .nth(1)
                .and_then(|p| p.trim_end_matches('.').trim().parse::<u16>().ok())
            {
                let _ = tx.send(port);
            }
        }
    });
    let port = rx
        .recv_timeout(Duration::from_secs(30))
        .expect("chromedriver said on which port it listens");
    (driver, port)
}

impl Browser {
    fn start(device: Device) -> Browser {
        let (driver, port) = start_driver();
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let profile = tempfile::tempdir().unwrap();
        let downloads = tempfile::tempdir().unwrap();
        let mut emulation = json!({
            "deviceMetrics": { "width": device.width, "height": device.height, "pixelRatio": 1 }
        });
        if let Some(agent) = device.user_agent {
            emulation["userAgent"] = json!(agent);
        }
        let capabilities = json!({
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": CHROMIUM,
                "args": [
                    "--headless=new",
                    "--no-sandbox",
                    "--disable-gpu",
                    "--disable-dev-shm-usage",
                    "--disable-quic",
                    "--no-first-run",
                    "--disable-background-networking",
                    "--disable-component-update",
                    "--disable-sync",
                    "--hide-scrollbars",
                    format!("--user-data-dir={}", profile.path().display()),
                    format!("--window-size={},{}", device.width.max(500), device.height),
                ],
                "mobileEmulation": emulation,
                "prefs": {
                    "download.default_directory": downloads.path().display().to_string(),
                    "download.prompt_for_download": false,
                },
            }
        });
        let Value::Object(capabilities) = capabilities else {
            unreachable!()
        };
        let url = format!("http://127.0.0.1:{port}");
        let started = Instant::now();
        let client = runtime.block_on(async {
            loop {
                let connector = hyper_util::client::legacy::connect::HttpConnector::new();
                match ClientBuilder::new(connector)
                    .capabilities(capabilities.clone())
                    .connect(&url)
                    .await
                {
                    Ok(client) => break client,
                    Err(e) if started.elapsed() > Duration::from_secs(30) => {
                        panic!("chromedriver did not start a session: {e}")
                    }
                    Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
                }
            }
        });
        Browser {
            runtime,
            client: Some(client),
            driver,
            _profile: profile,
            downloads,
            mobile: device.user_agent.is_some_and(|a| a.contains("Mobile")),
        }
    }

    fn client(&self) -> &Client {
        self.client.as_ref().expect("an open session")
    }

    pub fn goto(&self, url: &str) {
        self.runtime
            .block_on(self.client().goto(url))
            .unwrap_or_else(|e| panic!("{url}: {e}"));
    }

    /// Runs `script` (a function body; `arguments` holds `args`) and returns its value.
    pub fn run(&self, script: &str, args: Vec<Value>) -> Value {
        self.runtime
            .block_on(self.client().execute(script, args))
            .unwrap_or_else(|e| panic!("script failed: {e}\n{script}"))
    }

    /// Waits up to 10 s for the page's address to contain `part`; the address it has then.
    pub fn wait_for_url(&self, part: &str) -> String {
        let started = Instant::now();
        loop {
            let url = self.url();
            let ready = self.run("return document.readyState;", vec![]);
            if (url.contains(part) && ready == "complete")
                || started.elapsed() > Duration::from_secs(10)
            {
                return url;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub fn url(&self) -> String {
        self.runtime
            .block_on(self.client().current_url())
            .unwrap()
            .to_string()
    }

    /// What the window shows, as a PNG.
    pub fn window_screenshot(&self) -> Vec<u8> {
        self.runtime.block_on(self.client().screenshot()).unwrap()
    }

    /// The whole page as a PNG (full height, as the window's width).
    pub fn screenshot(&self) -> Vec<u8> {
        // Make the window as tall as the page, so that the shot holds all of it.
        let height = self
            .run("return document.documentElement.scrollHeight;", vec![])
            .as_u64()
            .unwrap_or(900)
            .min(16_000);
        let width = self
            .run("return window.innerWidth;", vec![])
            .as_u64()
            .unwrap_or(1280);
        let client = self.client();
        self.runtime.block_on(async {
            let _ = client
                .issue_cmd(ExecuteCdp::metrics(width, height, self.mobile))
                .await;
            client.screenshot().await.unwrap()
        })
    }

    /// Saves a screenshot to `path` (creating its folder).
    pub fn save_screenshot(&self, path: &Path) {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, self.screenshot()).unwrap();
    }

    pub fn fill(&self, css: &str, value: &str) {
        self.runtime.block_on(async {
            let field = self.client().find(Locator::Css(css)).await.unwrap();
            field.clear().await.unwrap();
            field.send_keys(value).await.unwrap();
        });
    }

    pub fn click(&self, css: &str) {
        self.runtime.block_on(async {
            self.client()
                .find(Locator::Css(css))
                .await
                .unwrap_or_else(|e| panic!("{css}: {e}"))
                .click()
                .await
                .unwrap();
        });
    }

    /// Chooses `path` in the file input `css` (as a person picking the file would).
    pub fn choose_file(&self, css: &str, path: &Path) {
        self.runtime.block_on(async {
            let input = self
                .client()
                .find(Locator::Css(css))
                .await
                .unwrap_or_else(|e| panic!("{css}: {e}"));
            input
                .send_keys(path.to_str().expect("a UTF-8 path"))
                .await
                .unwrap();
        });
    }

    /// Waits up to 10 s for an element `css` to be on a loaded page; whether it came.
    pub fn wait_for(&self, css: &str) -> bool {
        let started = Instant::now();
        loop {
            let found = self.run(
                "return document.readyState === 'complete' && document.querySelector(arguments[0]) !== null;",
                vec![Value::from(css)],
            );
            if found == Value::Bool(true) {
                return true;
            }
            if started.elapsed() > Duration::from_secs(10) {
                return false;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub fn source(&self) -> String {
        self.runtime.block_on(self.client().source()).unwrap()
    }

    /// Files that finished downloading, waiting up to 10 s for `count` of them.
    pub fn downloaded(&self, count: usize) -> Vec<PathBuf> {
        let started = Instant::now();
        loop {
            let mut done: Vec<PathBuf> = std::fs::read_dir(self.downloads.path())
                .unwrap()
                .map(|e| e.unwrap().path())
                .filter(|p| {
                    // Chrome writes a download under a temporary name, then renames it.
                    let name = p.file_name().unwrap_or_default().to_string_lossy();
                    !name.starts_with('.')
                        && !name.starts_with("Unconfirmed")
                        && !p
                            .extension()
                            .is_some_and(|e| e == "crdownload" || e == "tmp")
                })
                .collect();
            if done.len() >= count || started.elapsed() > Duration::from_secs(10) {
                done.sort();
                return done;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        if let Some(client) = self.client.take() {
            let _ = self.runtime.block_on(client.close());
        }
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

/// Chrome's DevTools command that sets the page's size, for a full-page screenshot.
#[derive(Debug)]
struct ExecuteCdp {
    body: Value,
}

impl ExecuteCdp {
    fn metrics(width: u64, height: u64, mobile: bool) -> ExecuteCdp {
        ExecuteCdp {
            body: json!({
                "cmd": "Emulation.setDeviceMetricsOverride",
                "params": { "width": width, "height": height, "deviceScaleFactor": 1, "mobile": mobile }
            }),
        }
    }
}

impl fantoccini::wd::WebDriverCompatibleCommand for ExecuteCdp {
    fn endpoint(
        &self,
        base_url: &url::Url,
        session_id: Option<&str>,
    ) -> Result<url::Url, url::ParseError> {
        base_url.join(&format!(
            "session/{}/goog/cdp/execute",
            session_id.unwrap_or_default()
        ))
    }

    fn method_and_body(&self, _request_url: &url::Url) -> (http::Method, Option<String>) {
        (http::Method::POST, Some(self.body.to_string()))
    }
}
