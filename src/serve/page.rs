//! The self-service pages: the form where a person types their address (and name), and their own
//! guide, in one language (from `Accept-Language`, switchable) with the section for the device
//! they are on first (from the `User-Agent`). No scripts: a GET form, so the page works anywhere
//! and shows nothing but what the person typed.

use askama::Template;

use crate::input::provider::{Names, Provider};
use crate::render::guide::{Device, Lang, VERSION, percent_encode};
use crate::render::{RenderError, SizeHint, render_template};

/// The language a request asks for: `lang=ja|en` in the query, else the first of Japanese and
/// English in `Accept-Language` by its weight, else Japanese.
pub fn language(query_lang: Option<&str>, accept_language: Option<&str>) -> Lang {
    match query_lang {
        Some("en") => return Lang::En,
        Some("ja") => return Lang::Ja,
        _ => {}
    }
    let mut best: Option<(f32, Lang)> = None;
    for item in accept_language.unwrap_or("").split(',') {
        let mut parts = item.split(';');
        let tag = parts.next().unwrap_or("").trim().to_ascii_lowercase();
        let weight = parts
            .find_map(|p| p.trim().strip_prefix("q="))
            .and_then(|q| q.trim().parse::<f32>().ok())
            .unwrap_or(1.0);
        let lang = match tag.split('-').next() {
            Some("ja") => Lang::Ja,
            Some("en") => Lang::En,
            _ => continue,
        };
        if weight > 0.0 && best.is_none_or(|(w, _)| weight > w) {
            best = Some((weight, lang));
        }
    }
    best.map_or(Lang::Ja, |(_, lang)| lang)
}

/// The other language, for the switch.
pub fn other(lang: Lang) -> Lang {
    match lang {
        Lang::Ja => Lang::En,
        Lang::En => Lang::Ja,
    }
}

/// The device a `User-Agent` names. An iPad asking for desktop sites says "Macintosh"; its
/// section is on the page all the same.
pub fn device(user_agent: Option<&str>) -> Option<Device> {
    let ua = user_agent?;
    if ua.contains("iPhone") || ua.contains("iPad") || ua.contains("iPod") {
        Some(Device::Ios)
    } else if ua.contains("Android") {
        Some(Device::Android)
    } else if ua.contains("Windows") {
        Some(Device::Windows)
    } else if ua.contains("Macintosh") || ua.contains("Mac OS X") {
        Some(Device::Mac)
    } else {
        None
    }
}

/// A query string of the page for `address`, `name` and `lang` (values percent-encoded).
pub fn query(address: &str, name: &str, lang: Lang) -> String {
    let mut q = String::new();
    if !address.is_empty() {
        q.push_str("emailaddress=");
        q.push_str(&percent_encode(address));
        q.push('&');
    }
    if !name.is_empty() {
        q.push_str("name=");
        q.push_str(&percent_encode(name));
        q.push('&');
    }
    q.push_str("lang=");
    q.push_str(lang.code());
    q
}

#[derive(Template)]
#[template(path = "serve/form.html")]
struct FormHtml<'a> {
    lang: Lang,
    switch_href: String,
    action: String,
    names: &'a Names,
    domain: &'a str,
    help_ja: &'a str,
    help_en: &'a str,
    address: &'a str,
    name: &'a str,
    error: Option<&'a str>,
    version: &'static str,
}

/// The form, with what was typed and why it was refused, if it was.
pub fn form(
    provider: &Provider,
    base: &str,
    lang: Lang,
    address: &str,
    name: &str,
    error: Option<&str>,
) -> Result<Vec<u8>, RenderError> {
    let template = FormHtml {
        lang,
        switch_href: format!("{base}/?{}", query(address, name, other(lang))),
        action: format!("{base}/"),
        names: &provider.names,
        domain: provider.domains.primary().as_str(),
        help_ja: provider.guide.help_ja.as_str(),
        help_en: provider.guide.help_en.as_str(),
        address,
        name,
        error,
        version: VERSION,
    };
    static SIZE: SizeHint = SizeHint::new();
    render_template(&template, "the self-service form", &SIZE)
}

/// Why a typed address or name is refused, in the page's language.
pub fn refusal(lang: Lang, what: Refusal<'_>) -> String {
    match (lang, what) {
        (Lang::Ja, Refusal::Address(why)) => {
            format!("メールアドレスを確かめてください: {why}")
        }
        (Lang::En, Refusal::Address(why)) => format!("Check the address: {why}"),
        (Lang::Ja, Refusal::Domain(domains)) => format!(
            "このページで設定できるのは {domains} のアドレスだけです。アドレスを確かめてください。"
        ),
        (Lang::En, Refusal::Domain(domains)) => {
            format!("This page sets up addresses of {domains} only: check the address.")
        }
        (Lang::Ja, Refusal::Name(why)) => format!("名前を確かめてください: {why}"),
        (Lang::En, Refusal::Name(why)) => format!("Check the name: {why}"),
    }
}

/// What was wrong with the form's values.
pub enum Refusal<'a> {
    Address(&'a str),
    Domain(&'a str),
    Name(&'a str),
}

/// The provider's domains, for a refusal.
pub fn domains(provider: &Provider) -> String {
    provider
        .domains
        .iter()
        .map(|d| d.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_language_follows_the_query_then_the_browser() {
        assert_eq!(language(Some("en"), Some("ja")), Lang::En);
        assert_eq!(language(None, Some("en-US,en;q=0.9,ja;q=0.8")), Lang::En);
        assert_eq!(language(None, Some("ja-JP,ja;q=0.9,en;q=0.8")), Lang::Ja);
        assert_eq!(language(None, Some("fr-FR,en;q=0.5,ja;q=0.7")), Lang::Ja);
        assert_eq!(language(None, Some("en;q=0")), Lang::Ja);
        assert_eq!(language(None, None), Lang::Ja);
        assert_eq!(language(Some("xx"), Some("de")), Lang::Ja);
    }

    #[test]
    fn the_device_follows_the_user_agent() {
        let iphone = "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15";
        assert_eq!(device(Some(iphone)), Some(Device::Ios));
        assert_eq!(
            device(Some("Mozilla/5.0 (Linux; Android 14; Pixel 8)")),
            Some(Device::Android)
        );
        assert_eq!(
            device(Some("Mozilla/5.0 (Windows NT 10.0; Win64; x64)")),
            Some(Device::Windows)
        );
        assert_eq!(
            device(Some("Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5)")),
            Some(Device::Mac)
        );
        assert_eq!(device(Some("curl/8.5")), None);
        assert_eq!(device(None), None);
    }
}
