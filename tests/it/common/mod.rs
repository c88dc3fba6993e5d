//! Helpers shared by the integration tests: independent parsers for what mailconf writes.
#![allow(dead_code)]

pub mod browser;
pub mod html;
pub mod measure;
pub mod outlook;
pub mod pki;
pub mod raw;
pub mod server;

use std::io::Read;
use std::path::{Path, PathBuf};

use quick_xml::Reader;
use quick_xml::events::Event;

/// The mailconf binary under test.
pub fn mailconf() -> assert_cmd::Command {
    assert_cmd::Command::new(assert_cmd::cargo::cargo_bin!("mailconf"))
}

/// The repository root.
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A POX Autodiscover request for `address`, as Outlook sends it.
pub fn pox_request(address: &str) -> String {
    format!(
        "<?xml version=\"1.0\" encoding=\"utf-8\"?>\
         <Autodiscover xmlns=\"http://schemas.microsoft.com/exchange/autodiscover/outlook/requestschema/2006\">\
         <Request><EMailAddress>{address}</EMailAddress>\
         <AcceptableResponseSchema>http://schemas.microsoft.com/exchange/autodiscover/outlook/responseschema/2006a</AcceptableResponseSchema>\
         </Request></Autodiscover>"
    )
}

/// A fresh temporary folder.
pub fn tempdir() -> tempfile::TempDir {
    tempfile::tempdir().expect("temporary folder")
}

/// Every file name in `dir` (not recursive), sorted.
pub fn names_in(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// A server block of a Mozilla autoconfig file, as parsed back.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ServerBlock {
    pub kind: String,
    pub hostname: String,
    pub port: String,
    pub socket_type: String,
    pub username: String,
    pub authentication: Vec<String>,
    /// `<pop3>` children, in order: (element, text).
    pub pop3: Vec<(String, String)>,
}

/// A Mozilla autoconfig file, as parsed back.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Autoconfig {
    pub version: String,
    pub provider_id: String,
    pub domains: Vec<String>,
    pub display_name: String,
    pub display_short_name: String,
    pub incoming: Vec<ServerBlock>,
    pub outgoing: Vec<ServerBlock>,
    /// Every element name seen, for checks such as "no <password>".
    pub elements: Vec<String>,
}

/// Parses a `config-v1.1.xml` with quick-xml, independently of the renderer.
pub fn parse_autoconfig(bytes: &[u8]) -> Autoconfig {
    assert!(
        !bytes.starts_with(b"\xEF\xBB\xBF"),
        "autoconfig must have no BOM"
    );
    let text = std::str::from_utf8(bytes).expect("autoconfig is UTF-8");
    let mut out = Autoconfig::default();
    let mut current: Option<ServerBlock> = None;
    for (path, value) in xml_leaves(text, &mut |name, attrs| {
        out.elements.push(name.to_string());
        let attr = |key: &str| {
            attrs
                .iter()
                .find(|(k, _)| k == key)
                .map(|(_, v)| v.clone())
                .unwrap_or_default()
        };
        match name {
            "clientConfig" => out.version = attr("version"),
            "emailProvider" => out.provider_id = attr("id"),
            _ => {}
        }
    }) {
        let names: Vec<&str> = path.iter().map(String::as_str).collect();
        match names.as_slice() {
            [.., "emailProvider", "domain"] => out.domains.push(value),
            [.., "emailProvider", "displayName"] => out.display_name = value,
            [.., "emailProvider", "displayShortName"] => out.display_short_name = value,
            [
                ..,
                "emailProvider",
                kind @ ("incomingServer" | "outgoingServer"),
            ] => {
                // End of a server block: `value` holds its type attribute.
                let mut block = current.take().unwrap_or_default();
                block.kind = value;
                if *kind == "incomingServer" {
                    out.incoming.push(block);
                } else {
                    out.outgoing.push(block);
                }
            }
            [.., "pop3", leaf] => current
                .get_or_insert_with(Default::default)
                .pop3
                .push((leaf.to_string(), value)),
            [.., "pop3"] => {}
            [.., leaf] => {
                let block = current.get_or_insert_with(Default::default);
                match *leaf {
                    "hostname" => block.hostname = value,
                    "port" => block.port = value,
                    "socketType" => block.socket_type = value,
                    "username" => block.username = value,
                    "authentication" => block.authentication.push(value),
                    "emailProvider" | "clientConfig" => {}
                    other => panic!("unexpected element {other:?} with {value:?}"),
                }
            }
            [] => {}
        }
    }
    out
}

/// An attribute: (name, value).
pub type Attr = (String, String);

/// Reads XML and returns, for every element as it closes, its path and text (entity references
/// resolved). Elements named `incomingServer`/`outgoingServer` report their `type` attribute as
/// text. `on_start` sees each element's name and attributes as it opens.
pub fn xml_leaves(
    text: &str,
    on_start: &mut dyn FnMut(&str, &[Attr]),
) -> Vec<(Vec<String>, String)> {
    let mut reader = Reader::from_str(text);
    let mut path: Vec<String> = Vec::new();
    let mut texts: Vec<String> = Vec::new();
    let mut types: Vec<String> = Vec::new();
    let mut out = Vec::new();
    loop {
        match reader.read_event().expect("well-formed XML") {
            Event::Start(e) => {
                let name = e.name().as_ref().to_string();
                let attrs: Vec<(String, String)> = e
                    .attributes()
                    .map(|a| {
                        let a = a.expect("a well-formed attribute");
                        let value = a
                            .normalized_value(quick_xml::XmlVersion::Implicit1_0)
                            .expect("a valid attribute value");
                        (a.key.as_ref().to_string(), value.into_owned())
                    })
                    .collect();
                on_start(&name, &attrs);
                types.push(
                    attrs
                        .iter()
                        .find(|(k, _)| k == "type")
                        .map(|(_, v)| v.clone())
                        .unwrap_or_default(),
                );
                path.push(name);
                texts.push(String::new());
            }
            Event::End(e) => {
                let name = e.name().as_ref().to_string();
                assert_eq!(path.last(), Some(&name), "mismatched end tag");
                let text = texts.pop().unwrap();
                let kind = types.pop().unwrap();
                let value = if name == "incomingServer" || name == "outgoingServer" {
                    kind
                } else {
                    text.trim().to_string()
                };
                out.push((path.clone(), value));
                path.pop();
            }
            Event::Text(t) => {
                if let Some(buf) = texts.last_mut() {
                    buf.push_str(&t.xml10_content());
                } else {
                    assert!(t.xml10_content().trim().is_empty(), "text outside the root");
                }
            }
            Event::GeneralRef(r) => {
                let resolved = quick_xml::escape::unescape(&format!("&{};", r.as_ref()))
                    .expect("a predefined entity or character reference")
                    .into_owned();
                texts
                    .last_mut()
                    .expect("reference inside an element")
                    .push_str(&resolved);
            }
            Event::Eof => break,
            Event::Decl(_) | Event::Comment(_) => {}
            Event::Empty(e) => panic!("unexpected empty element {:?}", e.name().as_ref()),
            other => panic!("unexpected XML event {other:?}"),
        }
    }
    assert!(path.is_empty(), "unclosed elements");
    out
}

/// The entries of a zip: (name, bytes), in archive order.
pub fn zip_entries(bytes: &[u8]) -> Vec<(String, Vec<u8>)> {
    let mut archive = zip::ZipArchive::new(std::io::Cursor::new(bytes)).expect("a valid zip");
    (0..archive.len())
        .map(|i| {
            let mut f = archive.by_index(i).unwrap();
            let mut data = Vec::new();
            f.read_to_end(&mut data).unwrap();
            (f.name().unwrap().into_owned(), data)
        })
        .collect()
}

/// The general-purpose flags of every central-directory record of a zip, with its name.
pub fn zip_central_flags(bytes: &[u8]) -> Vec<(String, u16)> {
    let mut out = Vec::new();
    let mut i = 0;
    while i + 46 <= bytes.len() {
        if bytes[i..i + 4] == [0x50, 0x4b, 0x01, 0x02] {
            let flags = u16::from_le_bytes([bytes[i + 8], bytes[i + 9]]);
            let name_len = u16::from_le_bytes([bytes[i + 28], bytes[i + 29]]) as usize;
            let name = String::from_utf8_lossy(&bytes[i + 46..i + 46 + name_len]).into_owned();
            out.push((name, flags));
            i += 46 + name_len;
        } else {
            i += 1;
        }
    }
    out
}

/// What `mailconf check ROSTER` finds: (line, message) for each `ROSTER:LINE: message` it prints.
pub fn check_findings(roster: &Path) -> Vec<(String, String)> {
    let out = mailconf().arg("check").arg(roster).output().unwrap();
    let stderr = String::from_utf8(out.stderr).unwrap();
    let prefix = format!("{}:", roster.display());
    stderr
        .lines()
        .filter_map(|l| l.strip_prefix(&prefix))
        .map(|rest| {
            let (line, message) = rest.split_once(": ").unwrap();
            (line.to_string(), message.to_string())
        })
        .collect()
}

/// Every entry (name → bytes) of the zip `mailconf bundle ROSTER -o ZIP -q` writes.
pub fn bundle_entries(roster: &Path, zip: &Path) -> std::collections::BTreeMap<String, Vec<u8>> {
    mailconf()
        .arg("bundle")
        .arg(roster)
        .arg("-o")
        .arg(zip)
        .arg("-q")
        .assert()
        .success();
    zip_entries(&std::fs::read(zip).unwrap())
        .into_iter()
        .collect()
}
