//! What a bundle holds, decided in one place from the choices of `mailconf bundle`'s options or
//! of the IT-staff page's form: which kinds of file, the preferred protocol, the Outlook file's
//! encoding and folder, and the signing identity. Both turn their choices into a [`Plan`] and
//! render from the context it makes.

use std::sync::Arc;

use crate::input::provider::{Protocol, Provider, WindowsDir};
use crate::render::outlook::PrfEncoding;
use crate::render::{Context, Format, FormatGroup};
use crate::sign::Signer;

/// The choices a bundle is made from, as given.
#[derive(Default)]
pub struct Plan {
    /// The preferred incoming protocol; `None`: the provider's.
    pub protocol: Option<Protocol>,
    /// The Apple profile of the Google account (`ADDRESS-google.mobileconfig`): added
    /// (`Some(true)`), left out (`Some(false)`), or as the provider has it (`None`).
    pub apple_google: Option<bool>,
    /// The kinds of file, applied after `apple_google`; `None`: every kind the provider's
    /// bundles carry.
    pub formats: Option<Vec<FormatGroup>>,
    pub prf_encoding: PrfEncoding,
    pub prf_dir: Option<WindowsDir>,
    pub signer: Option<Arc<Signer>>,
}

/// Choices that make no bundle.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum PlanError {
    #[error("no kind of file was chosen")]
    NoFormats,
}

impl Plan {
    /// The render context of these choices for `provider`.
    pub fn context(self, provider: &Provider) -> Result<Context<'_>, PlanError> {
        let mut ctx = Context::new(provider, self.protocol);
        match self.apple_google {
            Some(true) if !ctx.formats.contains(&Format::AppleGoogle) => {
                ctx.formats.push(Format::AppleGoogle);
                ctx.formats.sort();
            }
            Some(false) => ctx.formats.retain(|&f| f != Format::AppleGoogle),
            _ => {}
        }
        if let Some(groups) = &self.formats {
            if groups.is_empty() {
                return Err(PlanError::NoFormats);
            }
            ctx.select(groups);
        }
        ctx.signer = self.signer;
        ctx.prf_encoding = self.prf_encoding;
        ctx.prf_dir = self.prf_dir;
        Ok(ctx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_google_profile_is_added_or_left_out_before_the_kinds_are_chosen() {
        let provider = Provider::kumail();
        let default = Plan::default().context(&provider).unwrap();
        assert!(
            default.formats.contains(&Format::AppleGoogle),
            "KUMail is Google-hosted"
        );
        let without = Plan {
            apple_google: Some(false),
            ..Plan::default()
        };
        let without = without.context(&provider).unwrap();
        assert!(!without.formats.contains(&Format::AppleGoogle));
        assert!(without.formats.contains(&Format::Apple));
        // Thunderbird only: the Google profile goes with the other Apple files.
        let thunderbird = Plan {
            apple_google: Some(true),
            formats: Some(vec![FormatGroup::Thunderbird]),
            ..Plan::default()
        };
        assert_eq!(
            thunderbird.context(&provider).unwrap().formats,
            vec![Format::Thunderbird]
        );
        let none = Plan {
            formats: Some(vec![]),
            ..Plan::default()
        };
        assert_eq!(none.context(&provider).err(), Some(PlanError::NoFormats));
    }

    #[test]
    fn the_protocol_and_the_outlook_choices_reach_the_context() {
        let provider = Provider::kumail();
        let plan = Plan {
            protocol: Some(Protocol::Imap),
            prf_encoding: PrfEncoding::Cp932,
            prf_dir: Some(WindowsDir::parse(r"C:\Mail").unwrap()),
            ..Plan::default()
        };
        let ctx = plan.context(&provider).unwrap();
        assert_eq!(ctx.protocol, Protocol::Imap);
        assert_eq!(ctx.prf_encoding, PrfEncoding::Cp932);
        assert_eq!(ctx.prf_dir.as_ref().map(|d| d.as_str()), Some(r"C:\Mail"));
        assert_eq!(
            Plan::default().context(&provider).unwrap().protocol,
            provider.preferred
        );
    }
}
