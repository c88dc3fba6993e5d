//! A client of Marionette, the remote-control protocol built into Thunderbird (Firefox's, of
//! which WebDriver is the standard form): length-prefixed JSON over TCP. Thunderbird is started
//! with `-marionette -remote-allow-system-access` and `marionette.port` 0, and writes the port it
//! chose into the profile's `MarionetteActivePort`.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

pub struct Marionette {
    stream: BufReader<TcpStream>,
    next_id: u64,
}

impl Marionette {
    /// Connects to the Thunderbird whose profile is `profile`, waiting up to `timeout` for it to
    /// start listening.
    pub fn connect(profile: &Path, timeout: Duration) -> Result<Marionette, String> {
        let deadline = Instant::now() + timeout;
        let port_file = profile.join("MarionetteActivePort");
        let port: u16 = loop {
            if let Some(port) = std::fs::read_to_string(&port_file)
                .ok()
                .and_then(|s| s.trim().parse().ok())
            {
                break port;
            }
            if Instant::now() > deadline {
                return Err(format!("{} never appeared", port_file.display()));
            }
            std::thread::sleep(Duration::from_millis(100));
        };
        let stream = TcpStream::connect(("127.0.0.1", port)).map_err(|e| e.to_string())?;
        stream
            .set_read_timeout(Some(Duration::from_secs(120)))
            .map_err(|e| e.to_string())?;
        let mut client = Marionette {
            stream: BufReader::new(stream),
            next_id: 0,
        };
        let hello = client.read_packet()?;
        if hello["marionetteProtocol"] != 3 {
            return Err(format!("unexpected hello {hello}"));
        }
        client.command("WebDriver:NewSession", json!({"capabilities": {}}))?;
        client.command("Marionette:SetContext", json!({"value": "chrome"}))?;
        Ok(client)
    }

    fn read_packet(&mut self) -> Result<Value, String> {
        let mut len = Vec::new();
        self.stream
            .read_until(b':', &mut len)
            .map_err(|e| format!("reading from Marionette: {e}"))?;
        len.pop();
        let len: usize = std::str::from_utf8(&len)
            .ok()
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| format!("bad packet length {len:?}"))?;
        let mut body = vec![0; len];
        self.stream
            .read_exact(&mut body)
            .map_err(|e| format!("reading from Marionette: {e}"))?;
        serde_json::from_slice(&body).map_err(|e| e.to_string())
    }

    /// Sends a command and returns its result, or the error Marionette gave.
    pub fn command(&mut self, name: &str, params: Value) -> Result<Value, String> {
        self.next_id += 1;
        let id = self.next_id;
        let message = json!([0, id, name, params]).to_string();
        let packet = format!("{}:{}", message.len(), message);
        self.stream
            .get_mut()
            .write_all(packet.as_bytes())
            .map_err(|e| format!("writing to Marionette: {e}"))?;
        loop {
            let reply = self.read_packet()?;
            if reply[0] == 1 && reply[1] == id {
                if !reply[2].is_null() {
                    return Err(format!("{name}: {}", reply[2]));
                }
                return Ok(reply[3].clone());
            }
        }
    }

    /// Runs `script` (a function body) in the window's chrome scope with `args`; returns its value.
    pub fn script(&mut self, script: &str, args: Vec<Value>) -> Result<Value, String> {
        let reply = self.command(
            "WebDriver:ExecuteScript",
            json!({"script": script, "args": args}),
        )?;
        Ok(reply["value"].clone())
    }

    /// The window as PNG.
    pub fn screenshot(&mut self) -> Result<Vec<u8>, String> {
        use base64::Engine;
        let reply = self.command("WebDriver:TakeScreenshot", json!({"full": false}))?;
        let data = reply["value"].as_str().ok_or("no screenshot")?;
        base64::engine::general_purpose::STANDARD
            .decode(data)
            .map_err(|e| e.to_string())
    }

    /// The element that `script` (a function body) returns, as PNG.
    pub fn element_screenshot(&mut self, script: &str) -> Result<Vec<u8>, String> {
        use base64::Engine;
        let element = self.script(script, vec![])?;
        let id = element
            .as_object()
            .and_then(|o| o.values().next())
            .and_then(|v| v.as_str())
            .ok_or_else(|| format!("not an element: {element}"))?
            .to_string();
        let reply = self.command("WebDriver:TakeScreenshot", json!({"id": id, "full": false}))?;
        let data = reply["value"].as_str().ok_or("no screenshot")?;
        base64::engine::general_purpose::STANDARD
            .decode(data)
            .map_err(|e| e.to_string())
    }

    /// Asks Thunderbird to quit (it writes its preferences on the way).
    pub fn quit(mut self) -> Result<(), String> {
        self.command("Marionette:Quit", json!({"flags": ["eAttemptQuit"]}))
            .map(|_| ())
    }
}
