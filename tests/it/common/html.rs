//! Reading back generated HTML with scraper (html5ever), which must find no parse error.

use scraper::{ElementRef, Html, Selector};

pub fn sel(s: &str) -> Selector {
    Selector::parse(s).unwrap()
}

pub fn text(e: ElementRef<'_>) -> String {
    e.text().collect()
}

/// Parses `bytes` as an HTML document and insists html5ever found nothing to complain about.
pub fn parse(bytes: &[u8]) -> Html {
    let source = std::str::from_utf8(bytes).expect("UTF-8");
    assert!(!source.starts_with('\u{FEFF}'), "no byte-order mark");
    assert!(
        source.starts_with("<!DOCTYPE html>\n"),
        "HTML5 doctype first"
    );
    assert!(source.ends_with("</html>\n"), "ends with a newline");
    let html = Html::parse_document(source);
    assert!(
        html.errors.is_empty(),
        "HTML parse errors: {:?}",
        html.errors
    );
    html
}

/// How many elements the document has: a value that adds markup changes it.
pub fn element_count(html: &Html) -> usize {
    html.root_element()
        .descendants()
        .filter(|n| n.value().is_element())
        .count()
}
