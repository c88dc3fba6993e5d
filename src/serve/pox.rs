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
//! Elements are matched by local name (clients differ in prefixes). A document type declaration
//! is refused outright, so no entity is ever defined or expanded; quick-xml knows only XML's
//! five predefined entities and character references.

use quick_xml::Reader;
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
    loop {
        match reader.read_event() {
            Ok(Event::Start(e)) => {
                if path.len() >= 16 {
                    return Err(ErrorCode::InvalidRequest);
                }
                path.push(e.local_name().as_ref().to_string());
            }
            Ok(Event::End(_)) => {
                path.pop();
            }
            Ok(Event::Text(t)) => {
                let value = t.xml10_content().trim().to_string();
                match path.last().map(String::as_str) {
                    Some("EMailAddress") if address.is_none() => address = Some(value),
                    Some("AcceptableResponseSchema") => schemas.push(value),
                    _ => {}
                }
            }
            Ok(Event::GeneralRef(_)) => return Err(ErrorCode::InvalidRequest),
            Ok(Event::DocType(_)) => return Err(ErrorCode::InvalidRequest),
            Ok(Event::Eof) => break,
            Ok(_) => {}
            Err(_) => return Err(ErrorCode::InvalidRequest),
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
