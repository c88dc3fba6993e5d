//! QR codes of the self-service page's address, as inline SVG for the bundle's pages: a person
//! scans the one on their guide with the phone they want to set up.

use std::fmt;

use qrcode::QrCode;
use qrcode::render::svg;

/// An SVG drawing of a QR code: squares only, no text, so it goes into a page as it is
/// ([`askama::filters::HtmlSafe`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QrSvg(String);

impl QrSvg {
    /// The QR code of `text` (a URL), or `None` if it is too long for one.
    pub fn of(text: &str) -> Option<QrSvg> {
        let code = QrCode::new(text.as_bytes()).ok()?;
        let drawing = code
            .render::<svg::Color<'_>>()
            .min_dimensions(160, 160)
            .quiet_zone(true)
            .build();
        // The renderer starts with an XML declaration, which has no place inside HTML.
        let start = drawing.find("<svg")?;
        Some(QrSvg(drawing[start..].to_string()))
    }
}

impl fmt::Display for QrSvg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl askama::filters::HtmlSafe for QrSvg {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_url_becomes_an_svg_of_squares() {
        let svg = QrSvg::of("https://mail-setup.example.org/?emailaddress=taro%40kyoto-u.ac.jp")
            .unwrap()
            .to_string();
        assert!(svg.starts_with("<svg") && svg.ends_with("</svg>"), "{svg}");
        assert!(!svg.contains("<text") && !svg.contains("<script"));
        assert!(
            QrSvg::of(&"x".repeat(5000)).is_none(),
            "too long for a QR code"
        );
    }
}
