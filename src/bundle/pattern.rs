//! What every person's file of a format shares, learned once per run from made-up people, so
//! that the work it saves is not repeated for every person:
//!
//! - deflate: [`Skeleton`]s, one learned from people with a name and one from people without
//!   (a missing name leaves an element out), for each of the roster's commonest domains;
//! - the manifest's SHA-256: the hash state after the bytes every file of the format starts
//!   with (an Apple profile's first 3 KB are the provider's consent texts).
//!
//! Nothing here decides what a file contains: a file that does not fit is deflated and hashed
//! from scratch, with the same result.

use rayon::prelude::*;
use sha2::{Digest, Sha256};

use crate::bundle::skeleton::{Skeleton, common_prefix};
use crate::input::account::{Account, Address, DisplayName};
use crate::render::{Context, Format};

/// The highest level at which per-user files are deflated from their format's pattern, which costs
/// less CPU than libdeflate's fastest level for a zip no larger (`bench/PROFILE.md`, "Measured
/// choices in the code"). Above it, each file is deflated on its own by libdeflate, for a smaller
/// zip at several times the time.
pub const SKELETON_MAX_LEVEL: u32 = 5;

/// Made-up people whose files teach each format its pattern: local parts and names of different
/// lengths and characters, Latin and kanji, so that no byte of a value is taken for part of the
/// pattern. Every local part is at least 3 bytes (a repeated value shorter than deflate's
/// shortest match is not learned as a repeat); every name is in CP932, which a PRF may require.
const PROBES: [(&str, &str); 4] = [
    ("alpha.1", "Alpha Probe"),
    ("zq-x7_w", "山田 花子"),
    ("kk+yy.mm", "Mmm, Kay"),
    ("b2.nnn", "李 明"),
];

/// Every chosen format's pattern.
pub struct Patterns(Vec<(Format, Pattern)>);

/// One format's pattern.
#[derive(Default)]
pub struct Pattern {
    skeletons: Vec<Skeleton>,
    prefix: Option<PrefixDigest>,
}

/// SHA-256 of the whole 64-byte blocks every file of a format starts with.
struct PrefixDigest {
    prefix: Vec<u8>,
    state: Sha256,
}

/// The most domains patterns are learned for, the commonest in the roster first: an address's
/// domain is part of the text around it, so a person in another domain fits no pattern of the
/// first (their files are deflated on their own, correctly but slower).
const MAX_PATTERN_DOMAINS: usize = 4;

impl Patterns {
    /// The domains to learn patterns for: the commonest of `accounts`' (ties by name), at most
    /// [`MAX_PATTERN_DOMAINS`].
    pub fn domains_of(accounts: &[Account]) -> Vec<&str> {
        let mut counts: std::collections::HashMap<&str, usize> = std::collections::HashMap::new();
        for account in accounts {
            *counts.entry(account.address.domain()).or_default() += 1;
        }
        let mut domains: Vec<(&str, usize)> = counts.into_iter().collect();
        domains.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
        domains
            .into_iter()
            .take(MAX_PATTERN_DOMAINS)
            .map(|(d, _)| d)
            .collect()
    }

    /// Renders every chosen format for the probes, in each of `domains` (the provider's primary
    /// domain when empty), and learns its pattern (about 10 ms of CPU a domain, in parallel).
    /// Skeletons are learned for levels 1 to [`SKELETON_MAX_LEVEL`] only.
    pub fn learn(ctx: &Context<'_>, level: u32, domains: &[&str]) -> Patterns {
        let primary = [ctx.provider.domains.primary().as_str()];
        let domains = if domains.is_empty() {
            &primary[..]
        } else {
            domains
        };
        let people = |domain: &str, named: bool| -> Vec<Account> {
            PROBES
                .iter()
                .filter_map(|&(local, name)| {
                    Some(Account {
                        address: Address::parse(&format!("{local}@{domain}")).ok()?,
                        name: if named {
                            DisplayName::parse(name).ok()?
                        } else {
                            None
                        },
                    })
                })
                .collect()
        };
        let groups: Vec<Vec<Account>> = domains
            .iter()
            .flat_map(|domain| [people(domain, true), people(domain, false)])
            .collect();
        let skeletons = (1..=SKELETON_MAX_LEVEL).contains(&level);
        Patterns(
            ctx.formats
                .par_iter()
                .map(|&format| {
                    // A probe the format cannot carry leaves its group out.
                    let samples: Vec<Vec<Vec<u8>>> = groups
                        .iter()
                        .filter_map(|group| {
                            group
                                .iter()
                                .enumerate()
                                .map(|(i, a)| {
                                    format.render(ctx, a).map(|mut file| {
                                        images_as_noise(&mut file, i);
                                        file
                                    })
                                })
                                .collect::<Result<_, _>>()
                                .ok()
                        })
                        .collect();
                    let all: Vec<&[u8]> = samples.iter().flat_map(|g| as_slices(g)).collect();
                    let pattern = Pattern {
                        skeletons: match skeletons {
                            true => samples
                                .par_iter()
                                .filter_map(|group| Skeleton::learn(&as_slices(group)))
                                .collect(),
                            false => Vec::new(),
                        },
                        prefix: PrefixDigest::of(&all),
                    };
                    (format, pattern)
                })
                .collect(),
        )
    }

    /// The pattern learned for `format` (an empty one when it was not chosen).
    pub fn of(&self, format: Format) -> &Pattern {
        static NONE: Pattern = Pattern {
            skeletons: Vec::new(),
            prefix: None,
        };
        self.0
            .iter()
            .find(|(f, _)| *f == format)
            .map_or(&NONE, |(_, p)| p)
    }
}

impl Pattern {
    /// The skeletons to deflate a file of this format from (none: deflate it on its own).
    pub fn skeletons(&self) -> &[Skeleton] {
        &self.skeletons
    }

    /// SHA-256 of `data`, a file of this format.
    pub fn sha256(&self, data: &[u8]) -> [u8; 32] {
        let rest = self
            .prefix
            .as_ref()
            .and_then(|p| data.strip_prefix(p.prefix.as_slice()).map(|rest| (p, rest)));
        let digest = match rest {
            Some((p, rest)) => p.state.clone().chain_update(rest).finalize(),
            None => Sha256::digest(data),
        };
        digest.into()
    }

    /// How many bytes of a file's hash are worked out once (for tests and diagnostics).
    pub fn hashed_prefix(&self) -> usize {
        self.prefix.as_ref().map_or(0, |p| p.prefix.len())
    }
}

/// Replaces every inline image (the base64 of a `data:` URL: a guide's QR code of the person's
/// page) in the sample file of the `probe`-th made-up person with noise, its own for each probe,
/// a quarter of the image's length (enough for the gaps' Huffman code to know the base64
/// alphabet; the diff of long noise costs time). A QR code differs from person to person through and through, but codes
/// share bytes (the PNG's header, the size of their version) that four probes may all have by
/// chance and a real person's code may not: learned as segments, those would make every other
/// person's guide miss the pattern. As noise, each image is one gap.
fn images_as_noise(file: &mut Vec<u8>, probe: usize) {
    const DATA: &[u8] = b";base64,";
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let seed = 0x9E37_79B9_7F4A_7C15u64 ^ (probe as u64 + 1).wrapping_mul(0xD1B5_4A32_D192_ED03);
    let mut from = 0;
    while let Some(start) = memchr::memmem::find(&file[from..], DATA).map(|i| from + i + DATA.len())
    {
        let end = memchr::memchr(b'"', &file[start..]).map_or(file.len(), |i| start + i);
        // The same noise for the same image (a guide shows its code in each language).
        let mut state = seed;
        let noise: Vec<u8> = (0..(end - start).div_ceil(4))
            .map(|_| {
                // xorshift64
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                ALPHABET[(state % ALPHABET.len() as u64) as usize]
            })
            .collect();
        from = start + noise.len();
        file.splice(start..end, noise);
    }
}

fn as_slices(files: &[Vec<u8>]) -> Vec<&[u8]> {
    files.iter().map(Vec::as_slice).collect()
}

impl PrefixDigest {
    /// The whole blocks all of `samples` start with; `None` when they share less than one.
    fn of(samples: &[&[u8]]) -> Option<PrefixDigest> {
        let (first, others) = samples.split_first()?;
        let common = others
            .iter()
            .map(|s| common_prefix(first, s))
            .min()
            .unwrap_or(first.len());
        let prefix = &first[..common / 64 * 64];
        (!prefix.is_empty()).then(|| PrefixDigest {
            prefix: prefix.to_vec(),
            state: Sha256::new_with_prefix(prefix),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::input::provider::Provider;

    fn person(address: &str, name: Option<&str>) -> Account {
        Account {
            address: Address::parse(address).unwrap(),
            name: name.and_then(|n| DisplayName::parse(n).unwrap()),
        }
    }

    fn people() -> [Account; 4] {
        [
            person("tanaka.yumiko.5m@kyoto-u.ac.jp", Some("田中 由美子")),
            person("john.smith.9a@kyoto-u.ac.jp", Some("Smith, John")),
            person("x@kyoto-u.ac.jp", None),
            person(
                "a-very-long.local_part+with.tags.2026@kyoto-u.ac.jp",
                Some("&amp; <b>\"]]> = [x] 100% O'Brien"),
            ),
        ]
    }

    fn context(provider: &Provider) -> Context<'_> {
        let mut ctx = Context::new(provider, None);
        ctx.formats = Format::ALL.to_vec();
        ctx
    }

    #[test]
    fn every_format_learns_skeletons_that_people_fit() {
        let provider = Provider::kumail();
        let ctx = context(&provider);
        let patterns = Patterns::learn(&ctx, crate::bundle::DEFAULT_LEVEL, &[]);
        for &format in Format::ALL {
            let skeletons = patterns.of(format).skeletons();
            assert_eq!(skeletons.len(), 2, "{format:?}: one named, one unnamed");
            for p in &people() {
                let bytes = format.render(&ctx, p).unwrap();
                let fits = skeletons.iter().find(|s| s.deflate(&bytes).is_some());
                let fits = fits.unwrap_or_else(|| panic!("{format:?} of {}", p.address));
                let coverage = fits.coverage(&bytes);
                assert!(coverage > 0.8, "{format:?} of {}: {coverage}", p.address);
            }
        }
        for level in [0, SKELETON_MAX_LEVEL + 1] {
            let patterns = Patterns::learn(&ctx, level, &[]);
            assert!(patterns.of(Format::Guide).skeletons().is_empty(), "{level}");
        }
    }

    /// With the server's address in the provider file, every guide carries a QR code of the
    /// person's own page, different through and through from anyone else's: the guides still
    /// fit, whatever the code's version, and the code in the second language is written as a
    /// back-reference to the first.
    #[test]
    fn guides_with_a_qr_code_fit() {
        let toml = crate::input::provider::KUMAIL_TOML.replace(
            "# public_url = \"https://mail-setup.kyoto-u.ac.jp\"",
            "public_url = \"https://mail-setup.kyoto-u.ac.jp\"",
        );
        assert_ne!(toml, crate::input::provider::KUMAIL_TOML);
        let provider = Provider::from_toml(&toml, std::path::Path::new("p.toml")).unwrap();
        let ctx = context(&provider);
        let patterns = Patterns::learn(&ctx, crate::bundle::DEFAULT_LEVEL, &[]);
        let skeletons = patterns.of(Format::Guide).skeletons();
        let mut people = people().to_vec();
        // Names of every length a code's version changes with (a kanji is 9 bytes of URL).
        for n in 1..=20 {
            people.push(person(
                &format!("p{n}@kyoto-u.ac.jp"),
                Some(&"京".repeat(n)),
            ));
        }
        let mut widths = std::collections::BTreeSet::new();
        for p in &people {
            let bytes = Format::Guide.render(&ctx, p).unwrap();
            let text = String::from_utf8(bytes.clone()).unwrap();
            let image = text
                .split(";base64,")
                .nth(1)
                .unwrap()
                .split('"')
                .next()
                .unwrap();
            assert_eq!(
                text.matches(image).count(),
                2,
                "one code, in both languages"
            );
            widths.insert(image.len());
            let deflated = skeletons
                .iter()
                .find_map(|s| s.deflate(&bytes))
                .unwrap_or_else(|| panic!("the guide of {}", p.address));
            // The second code is a back-reference to the first: with another picture in its
            // place (the same characters, reversed), the guide deflates to more.
            let second = text.rfind(image).unwrap();
            let mut other = bytes.clone();
            other[second..second + image.len()].reverse();
            let other = skeletons.iter().find_map(|s| s.deflate(&other)).unwrap();
            assert!(
                other.len() > deflated.len() + image.len() / 2,
                "{}: {} with the same code twice, {} with two",
                p.address,
                deflated.len(),
                other.len()
            );
        }
        assert!(widths.len() >= 5, "codes of several versions: {widths:?}");
    }

    #[test]
    fn each_domain_of_the_roster_gets_its_patterns() {
        let toml = crate::input::provider::KUMAIL_TOML.replace(
            "domains = [\"kyoto-u.ac.jp\"]",
            "domains = [\"kyoto-u.ac.jp\", \"st.kyoto-u.ac.jp\"]",
        );
        assert_ne!(toml, crate::input::provider::KUMAIL_TOML);
        let provider = Provider::from_toml(&toml, std::path::Path::new("p.toml")).unwrap();
        let ctx = context(&provider);
        let student = person("taro.st@st.kyoto-u.ac.jp", Some("京大 太郎"));
        let staff = person("taro@kyoto-u.ac.jp", None);
        let accounts = [
            student.clone(),
            staff.clone(),
            person("b@st.kyoto-u.ac.jp", None),
        ];
        let domains = Patterns::domains_of(&accounts);
        assert_eq!(
            domains,
            ["st.kyoto-u.ac.jp", "kyoto-u.ac.jp"],
            "commonest first"
        );
        let fits = |patterns: &Patterns, who: &Account| {
            let bytes = Format::Apple.render(&ctx, who).unwrap();
            let skeletons = patterns.of(Format::Apple).skeletons();
            skeletons.iter().any(|s| s.deflate(&bytes).is_some())
        };
        let both = Patterns::learn(&ctx, 1, &domains);
        assert!(fits(&both, &student) && fits(&both, &staff));
        // Learned for the primary domain only, the student's files fit no pattern.
        let primary = Patterns::learn(&ctx, 1, &[]);
        assert!(fits(&primary, &staff) && !fits(&primary, &student));
    }

    #[test]
    fn hashes_are_plain_sha256_with_or_without_the_prefix() {
        let provider = Provider::kumail();
        let ctx = context(&provider);
        for level in [0, 1, 9] {
            let patterns = Patterns::learn(&ctx, level, &[]);
            // An Apple profile starts with the provider's consent texts.
            assert!(patterns.of(Format::Apple).hashed_prefix() >= 2048);
            for &format in Format::ALL {
                let pattern = patterns.of(format);
                for p in &people() {
                    let bytes = format.render(&ctx, p).unwrap();
                    let expected: [u8; 32] = Sha256::digest(&bytes).into();
                    assert_eq!(pattern.sha256(&bytes), expected, "{format:?}");
                }
                // A file that does not start with the prefix.
                assert_eq!(
                    pattern.sha256(b"other"),
                    <[u8; 32]>::from(Sha256::digest(b"other"))
                );
            }
        }
    }
}
