//! Reading Outlook's "POX" Autodiscover request (MS-OXDSCLI 2.2.4.1): the address, and the
//! response schema the client accepts.
//!
//! ```xml
//! <Autodiscover xmlns="http://schemas.microsoft.com/exchange/autodiscover/outlook/requestschema/2006">
//!   <Request>
//!     <EMailAddress>taro@kyoto-u.ac.jp</EMailAddress>
//!     <AcceptableResponseSchema>http://schemas.microsoft.com/exchange/autodiscover/outlook/responseschema/2006a</AcceptableResponseSchema>
//!   </Request>
//! </Autodiscover>
//! ```
//!
//! Elements are matched by local name (clients differ in prefixes). An element's text is what XML
//! says it is: character references (`&#64;`), XML's five predefined entities and CDATA sections
//! are resolved. A document type declaration is refused outright, so no other entity is ever
//! defined or expanded, and a reference to one is refused.

use quick_xml::Reader;
use quick_xml::escape::resolve_predefined_entity;
use quick_xml::events::Event;

use crate::render::autodiscover::{ErrorCode, RESPONSE_SCHEMA};

/// The largest request body read.
pub const MAX_BODY: usize = 64 * 1024;

/// What a request asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PoxRequest {
    /// The address as sent (validated by the caller).
    pub address: String,
}

/// Reads a request body; the error code of the `Error` response otherwise.
pub fn parse(body: &[u8]) -> Result<PoxRequest, ErrorCode> {
    let text = std::str::from_utf8(body).map_err(|_| ErrorCode::InvalidRequest)?;
    let mut reader = Reader::from_str(text);
    let mut path: Vec<String> = Vec::new();
    let mut address: Option<String> = None;
    let mut schemas: Vec<String> = Vec::new();
    // The text of the innermost element being read, from its text, references and CDATA.
    let mut content = String::new();
    loop {
        match reader.read_event() {
            Ok(Event::Start(e)) => {
                if path.len() >= 16 {
                    return Err(ErrorCode::InvalidRequest);
                }
                path.push(e.local_name().as_ref().to_string());
                content.clear();
            }
            Ok(Event::End(_)) => {
                let value = content.trim().to_string();
                match path.pop().as_deref() {
                    Some("EMailAddress") if address.is_none() => address = Some(value),
                    Some("AcceptableResponseSchema") => schemas.push(value),
                    _ => {}
                }
                content.clear();
            }
            Ok(Event::Text(t)) => content.push_str(&t.xml10_content()),
            Ok(Event::CData(c)) => content.push_str(&c.xml10_content()),
            Ok(Event::GeneralRef(r)) => {
                if let Some(c) = r
                    .resolve_char_ref()
                    .map_err(|_| ErrorCode::InvalidRequest)?
                {
                    content.push(c);
                } else {
                    let name = r.xml10_content();
                    let resolved =
                        resolve_predefined_entity(&name).ok_or(ErrorCode::InvalidRequest)?;
                    content.push_str(resolved);
                }
            }
            Ok(Event::DocType(_)) => return Err(ErrorCode::InvalidRequest),
            Ok(Event::Eof) => break,
            Ok(_) => {}
            Err(_) => return Err(ErrorCode::InvalidRequest),
        }
        if content.len() > MAX_BODY {
            return Err(ErrorCode::InvalidRequest);
        }
    }
    if !path.is_empty() {
        return Err(ErrorCode::InvalidRequest);
    }
    let address = address
        .filter(|a| !a.is_empty())
        .ok_or(ErrorCode::InvalidRequest)?;
    if !schemas.is_empty() && !schemas.iter().any(|s| s == RESPONSE_SCHEMA) {
        return Err(ErrorCode::UnsupportedSchema);
    }
    Ok(PoxRequest { address })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(inner: &str) -> String {
        format!(
            "<?xml version=\"1.0\" encoding=\"utf-8\"?>\
             <Autodiscover xmlns=\"http://schemas.microsoft.com/exchange/autodiscover/outlook/requestschema/2006\">\
             <Request>{inner}</Request></Autodiscover>"
        )
    }

    #[test]
    fn reads_the_address_and_the_schema() {
        let body = request(&format!(
            "<EMailAddress> Taro@kyoto-u.ac.jp </EMailAddress>\
             <AcceptableResponseSchema>{RESPONSE_SCHEMA}</AcceptableResponseSchema>"
        ));
        assert_eq!(
            parse(body.as_bytes()).unwrap().address,
            "Taro@kyoto-u.ac.jp"
        );
        // Prefixed elements, and no schema at all, are fine.
        let prefixed = "<a:Autodiscover xmlns:a=\"x\"><a:Request><a:EMailAddress>t@kyoto-u.ac.jp</a:EMailAddress></a:Request></a:Autodiscover>";
        assert_eq!(
            parse(prefixed.as_bytes()).unwrap().address,
            "t@kyoto-u.ac.jp"
        );
    }

    #[test]
    fn the_address_is_the_text_xml_says_it_is() {
        for written in [
            "taro&#64;kyoto-u.ac.jp",
            "taro&#x40;kyoto-u.ac.jp",
            "<![CDATA[taro@kyoto-u.ac.jp]]>",
            "taro<![CDATA[@]]>kyoto-u.ac.jp",
            " <![CDATA[ taro@kyoto-u.ac.jp ]]> ",
            "&#116;aro@kyoto-u.ac.jp",
        ] {
            let body = request(&format!("<EMailAddress>{written}</EMailAddress>"));
            assert_eq!(
                parse(body.as_bytes()).map(|r| r.address),
                Ok("taro@kyoto-u.ac.jp".to_string()),
                "{written}"
            );
        }
        // A predefined entity is text too (and then not an address, which the caller says).
        let body = request("<EMailAddress>a&amp;b@kyoto-u.ac.jp</EMailAddress>");
        assert_eq!(parse(body.as_bytes()).unwrap().address, "a&b@kyoto-u.ac.jp");
        // A comment inside the element is no text.
        let body = request("<EMailAddress>taro@<!-- x -->kyoto-u.ac.jp</EMailAddress>");
        assert_eq!(
            parse(body.as_bytes()).unwrap().address,
            "taro@kyoto-u.ac.jp"
        );
    }

    #[test]
    fn refuses_what_it_cannot_answer() {
        let other = request(
            "<EMailAddress>t@kyoto-u.ac.jp</EMailAddress>\
             <AcceptableResponseSchema>http://schemas.microsoft.com/exchange/autodiscover/mobilesync/responseschema/2006</AcceptableResponseSchema>",
        );
        assert_eq!(parse(other.as_bytes()), Err(ErrorCode::UnsupportedSchema));
        for bad in [
            String::new(),
            "not xml".to_string(),
            request(""),
            request("<EMailAddress></EMailAddress>"),
            "<Autodiscover><Request><EMailAddress>t@kyoto-u.ac.jp".to_string(),
            "<!DOCTYPE a [<!ENTITY x \"t@kyoto-u.ac.jp\">]><Autodiscover><Request><EMailAddress>&x;</EMailAddress></Request></Autodiscover>".to_string(),
            request("<EMailAddress>&x;</EMailAddress>"),
            request("<EMailAddress>&#0;</EMailAddress>"),
            request("<EMailAddress>&#xZZ;</EMailAddress>"),
            format!("{}{}", "<a>".repeat(100), "</a>".repeat(100)),
        ] {
            assert_eq!(
                parse(bad.as_bytes()),
                Err(ErrorCode::InvalidRequest),
                "{bad:.80}"
            );
        }
        assert_eq!(parse(&[0xFF, 0xFE]), Err(ErrorCode::InvalidRequest));
    }
}
