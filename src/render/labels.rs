//! What the guides quote from other programs' screens (buttons, menu items, fields, messages),
//! kept in one place with where each comes from: `templates/guide/labels.toml`. The guide
//! templates take a label by key; each comes out marked `<span class="ui" data-label="KEY">`, so
//! a test can find what the guide tells a person to look for, and check it against the program
//! (`tests/it/thunderbird_app.rs` runs the real Thunderbird).

use std::collections::BTreeMap;
use std::sync::LazyLock;

use serde::Deserialize;

use super::escape::HtmlText;
use super::guide::Lang;

/// The file, compiled in.
pub const LABELS_TOML: &str = include_str!("../../templates/guide/labels.toml");

/// One entry of the file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Entry {
    /// As the person sees it in Japanese; `None` where the Japanese guide does not quote it.
    pub ja: Option<String>,
    /// As the person sees it in English.
    pub en: Option<String>,
    /// The product and version, and where the text comes from.
    pub source: String,
    /// The program's own strings (`FILE#ID`), for programs whose strings can be read.
    #[serde(default)]
    pub strings: Vec<String>,
    /// The program shows the string in capitals; the English label is written so.
    #[serde(default)]
    pub capitals: bool,
}

/// Every label, by key (`group.name`).
pub fn entries() -> Result<BTreeMap<String, Entry>, String> {
    let groups: BTreeMap<String, BTreeMap<String, Entry>> =
        toml::from_str(LABELS_TOML).map_err(|e| format!("templates/guide/labels.toml: {e}"))?;
    Ok(groups
        .into_iter()
        .flat_map(|(group, names)| {
            names
                .into_iter()
                .map(move |(name, entry)| (format!("{group}.{name}"), entry))
        })
        .collect())
}

/// A label ready for a page, escaped once: quoted as each language quotes what is on a screen,
/// and as it is (a table's header).
struct Rendered {
    quoted: HtmlText,
    bare: HtmlText,
}

type Table = BTreeMap<(String, Lang), Rendered>;

static LABELS: LazyLock<Result<Table, String>> = LazyLock::new(|| {
    let mut table = Table::new();
    for (key, entry) in entries()? {
        for (lang, text, open, close) in [
            (Lang::Ja, &entry.ja, "「", "」"),
            (Lang::En, &entry.en, "“", "”"),
        ] {
            if let Some(text) = text {
                let rendered = Rendered {
                    quoted: HtmlText::ui_label(&key, text, open, close),
                    bare: HtmlText::ui_label(&key, text, "", ""),
                };
                table.insert((key.clone(), lang), rendered);
            }
        }
    }
    Ok(table)
});

fn rendered(key: &str, lang: Lang) -> askama::Result<&'static Rendered> {
    let table = LABELS
        .as_ref()
        .map_err(|e| askama::Error::custom(e.clone()))?;
    table.get(&(key.to_string(), lang)).ok_or_else(|| {
        askama::Error::custom(format!(
            "templates/guide/labels.toml has no {} label {key:?}",
            lang.code()
        ))
    })
}

/// The label `key` in `lang`, in the language's quotation marks.
pub fn quoted(key: &str, lang: Lang) -> askama::Result<&'static HtmlText> {
    rendered(key, lang).map(|r| &r.quoted)
}

/// The label `key` in `lang`, without quotation marks.
pub fn bare(key: &str, lang: Lang) -> askama::Result<&'static HtmlText> {
    rendered(key, lang).map(|r| &r.bare)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_file_parses_and_every_label_says_where_it_comes_from() {
        let entries = entries().unwrap();
        assert!(entries.len() > 40, "{} labels", entries.len());
        for (key, entry) in &entries {
            assert!(
                entry.ja.is_some() || entry.en.is_some(),
                "{key}: no language"
            );
            assert!(entry.source.len() > 10, "{key}: no source");
            for string in &entry.strings {
                let (file, id) = string.split_once('#').expect("FILE#ID");
                assert!(
                    [".ftl", ".dtd", ".properties"]
                        .iter()
                        .any(|ext| file.ends_with(ext))
                        && !id.is_empty(),
                    "{key}: {string}"
                );
            }
            if entry.capitals {
                let en = entry.en.as_deref().unwrap();
                assert_eq!(en, en.to_uppercase(), "{key}: shown in capitals");
            }
        }
    }

    #[test]
    fn every_key_the_templates_use_is_in_the_file() {
        let entries = entries().unwrap();
        let macros = include_str!("../../templates/guide/macros.html");
        for (name, template, lang) in [
            (
                "ja.html",
                include_str!("../../templates/guide/ja.html"),
                "ja",
            ),
            (
                "en.html",
                include_str!("../../templates/guide/en.html"),
                "en",
            ),
            ("macros.html (ja)", macros, "ja"),
            ("macros.html (en)", macros, "en"),
        ] {
            let mut used = 0;
            for call in ["self.ui(\"", "self.bare(\""] {
                for (at, _) in template.match_indices(call) {
                    let rest = &template[at + call.len()..];
                    let key = &rest[..rest.find('"').unwrap()];
                    let entry = entries
                        .get(key)
                        .unwrap_or_else(|| panic!("{name} uses {key:?}, not in labels.toml"));
                    let text = if lang == "ja" { &entry.ja } else { &entry.en };
                    assert!(text.is_some(), "{name} quotes {key:?}, which has no {lang}");
                    used += 1;
                }
            }
            assert!(used > 5, "{name}: {used} labels");
        }
    }

    #[test]
    fn a_label_is_marked_and_escaped() {
        let ja = quoted("tb.continue", Lang::Ja).unwrap().to_string();
        assert_eq!(
            ja,
            "「<span class=\"ui\" data-label=\"tb.continue\">続ける</span>」"
        );
        let en = bare("win.security-warning", Lang::En).unwrap().to_string();
        assert_eq!(
            en,
            "<span class=\"ui\" data-label=\"win.security-warning\">Open File - Security Warning</span>"
        );
        assert!(quoted("tb.no-such-label", Lang::En).is_err());
        assert!(quoted("ios.not-signed", Lang::Ja).is_err(), "no Japanese");
    }
}
