//! CMS signing of Apple configuration profiles.
//!
//! A signed profile is DER CMS `SignedData` (RFC 5652) with the profile embedded byte for byte
//! (attached content, type id-data), SHA-256, an RSA PKCS#1 v1.5 signature over the signed
//! attributes (content type and message digest), and the signer's certificate plus its chain
//! (self-signed roots left out). No signing time is added, so signing is deterministic: the same
//! profile and key give the same bytes, and the bundle stays reproducible.
//!
//! [`Signer::load`] reads and checks everything once per run (key parses, key belongs to the
//! certificate, every certificate valid now); [`Signer::sign`] then does only the per-profile
//! work: one SHA-256, one RSA signature, one DER encoding.
//!
//! The `rsa` crate parses and checks the key; the per-profile signature is made by `aws-lc-rs`
//! (AWS-LC, with OpenSSL's assembly RSA code, AVX-512 IFMA where the CPU has it), whose key is
//! built once in [`Signer::load`]. PKCS#1 v1.5 is deterministic, so the bytes are the same
//! whichever library computes the signature.

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{RSA_PKCS1_SHA256, RsaKeyPair};
use cms::cert::{CertificateChoices, IssuerAndSerialNumber};
use cms::content_info::{CmsVersion, ContentInfo};
use cms::signed_data::{
    CertificateSet, EncapsulatedContentInfo, SignedData, SignerIdentifier, SignerInfo, SignerInfos,
};
use der::asn1::{ObjectIdentifier, OctetString, SetOfVec};
use der::oid::db::{rfc5911, rfc5912};
use der::{Any, Decode, Encode, Tag};
use rsa::pkcs1::{DecodeRsaPrivateKey, EncodeRsaPrivateKey};
use rsa::pkcs8::{DecodePrivateKey, DecodePublicKey};
use rsa::traits::PublicKeyParts;
use rsa::{PrivateKey, PublicKey};
use sha2::{Digest, Sha256};
use x509_cert::Certificate;
use x509_cert::attr::Attribute;
use x509_cert::spki::AlgorithmIdentifierOwned;

/// The environment variable that holds the password of a `--sign-p12` file.
pub const P12_PASSWORD_ENV: &str = "MAILCONF_P12_PASSWORD";

/// Smallest RSA key accepted, in bits.
pub const MIN_RSA_BITS: usize = 2048;

/// Largest RSA key accepted, in bits: AWS-LC's limit, and the `rsa` crate's for public keys.
pub const MAX_RSA_BITS: usize = 8192;

/// Where the signing identity comes from.
#[derive(Debug, Clone)]
pub enum SignerSource {
    /// A PEM certificate (optionally followed by its chain) and a PEM private key.
    Pem {
        cert: PathBuf,
        key: PathBuf,
        chain: Option<PathBuf>,
    },
    /// A PKCS#12 file; its password is read from [`P12_PASSWORD_ENV`].
    P12 {
        file: PathBuf,
        chain: Option<PathBuf>,
    },
}

#[derive(Debug, thiserror::Error)]
pub enum SignError {
    #[error("{}: cannot read: {source}", path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "{}: no certificate found; give a PEM file with -----BEGIN CERTIFICATE----- ({detail})",
        path.display()
    )]
    Certificate { path: PathBuf, detail: String },
    #[error(
        "{}: not an RSA private key; give an unencrypted PEM key (\"PRIVATE KEY\" or \"RSA PRIVATE KEY\") ({detail})",
        path.display()
    )]
    Key { path: PathBuf, detail: String },
    #[error(
        "{}: the private key is encrypted; decrypt it first (openssl pkey -in KEY.pem -out plain.pem) or use --sign-p12",
        path.display()
    )]
    EncryptedKey { path: PathBuf },
    #[error("{}: the key has {bits} bits; use an RSA key of at least {MIN_RSA_BITS} bits", path.display())]
    WeakKey { path: PathBuf, bits: usize },
    #[error(
        "{}: this RSA key ({bits} bits) cannot be used for signing: {reason}; use an RSA key of {MIN_RSA_BITS} to {MAX_RSA_BITS} bits (the usual public exponent is 65537)",
        path.display()
    )]
    UnsupportedKey {
        path: PathBuf,
        bits: usize,
        reason: String,
    },
    #[error(
        "{}: the certificate's key is not an RSA key ({detail}); mailconf signs with RSA only",
        path.display()
    )]
    NotRsa { path: PathBuf, detail: String },
    #[error(
        "{}: this private key does not belong to the certificate \"{subject}\" in {}; give the key that was issued with it",
        key.display(),
        cert.display()
    )]
    KeyMismatch {
        key: PathBuf,
        cert: PathBuf,
        subject: String,
    },
    #[error(
        "{}: the certificate \"{subject}\" expired on {until} (UTC); renew it before signing",
        path.display()
    )]
    Expired {
        path: PathBuf,
        subject: String,
        until: String,
    },
    #[error(
        "{}: the certificate \"{subject}\" is not valid before {from} (UTC); check the computer's clock or wait",
        path.display()
    )]
    NotYetValid {
        path: PathBuf,
        subject: String,
        from: String,
    },
    #[error(
        "--sign-p12 needs its password in the environment variable {P12_PASSWORD_ENV} (it is never taken from the command line)"
    )]
    P12Password,
    #[error("{}: cannot open the PKCS#12 file (wrong password in {P12_PASSWORD_ENV}, or not a PKCS#12 file): {detail}", path.display())]
    P12 { path: PathBuf, detail: String },
    #[error("{}: the PKCS#12 file holds no private key with its certificate", path.display())]
    P12NoKey { path: PathBuf },
    #[error("signing a profile failed: {0}")]
    Signature(String),
}

/// A loaded and checked signing identity, shared by every worker thread.
pub struct Signer {
    /// The private key in AWS-LC's form, built once; every profile's signature uses it.
    key: RsaKeyPair,
    /// The ring-compatible `sign` takes one; aws-lc-rs ignores it (AWS-LC blinds with its own).
    rng: SystemRandom,
    subject: String,
    /// DER certificates to embed: the signer's first, then its chain without self-signed roots.
    certificates: CertificateSet,
    sid: SignerIdentifier,
    digest_algorithm: AlgorithmIdentifierOwned,
    signature_algorithm: AlgorithmIdentifierOwned,
}

impl fmt::Debug for Signer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Signer")
            .field("subject", &self.subject)
            .field("certificates", &self.certificates.0.len())
            .finish_non_exhaustive()
    }
}

impl Signer {
    /// Loads the identity from `source` and checks it at the current time.
    pub fn load(source: &SignerSource) -> Result<Signer, SignError> {
        Signer::load_at(source, SystemTime::now())
    }

    /// Loads the identity from `source` and checks it at `now`.
    pub fn load_at(source: &SignerSource, now: SystemTime) -> Result<Signer, SignError> {
        match source {
            SignerSource::Pem { cert, key, chain } => {
                let mut certs = read_certificates(cert)?;
                let signer_cert = certs.remove(0);
                let key_bytes = read(key)?;
                let private = parse_private_key(key, &key_bytes)?;
                let extra = chain_certificates(cert, certs, chain.as_deref())?;
                Signer::new(private, key, cert, signer_cert, extra, now)
            }
            SignerSource::P12 { file, chain } => {
                let password =
                    std::env::var(P12_PASSWORD_ENV).map_err(|_| SignError::P12Password)?;
                let bytes = read(file)?;
                let p12_err = |detail: String| SignError::P12 {
                    path: file.clone(),
                    detail,
                };
                let store = p12_keystore::KeyStore::from_pkcs12(
                    &bytes,
                    &password,
                    p12_keystore::Pkcs12ImportPolicy::Relaxed,
                )
                .map_err(|e| p12_err(e.to_string()))?;
                let (_, key_chain) = store
                    .private_key_chain()
                    .ok_or_else(|| SignError::P12NoKey { path: file.clone() })?;
                let private =
                    PrivateKey::from_pkcs8_der(key_chain.key().as_der()).map_err(|e| {
                        SignError::Key {
                            path: file.clone(),
                            detail: e.to_string(),
                        }
                    })?;
                let mut certs = key_chain
                    .certs()
                    .iter()
                    .map(|c| Certificate::from_der(c.as_der()).map_err(|e| p12_err(e.to_string())))
                    .collect::<Result<Vec<_>, _>>()?;
                if certs.is_empty() {
                    return Err(SignError::P12NoKey { path: file.clone() });
                }
                let signer_cert = certs.remove(0);
                let extra = chain_certificates(file, certs, chain.as_deref())?;
                Signer::new(private, file, file, signer_cert, extra, now)
            }
        }
    }

    /// Checks the key against the certificate and every certificate's validity at `now`, and
    /// prepares everything a signature needs except the content.
    fn new(
        private: PrivateKey,
        key_path: &Path,
        cert_path: &Path,
        cert: Certificate,
        chain: Vec<(PathBuf, Certificate)>,
        now: SystemTime,
    ) -> Result<Signer, SignError> {
        let subject = cert.tbs_certificate().subject().to_string();
        let bits = private.size() * 8;
        if bits > MAX_RSA_BITS {
            // Before reading the certificate's key, which the `rsa` crate refuses as malformed.
            return Err(SignError::UnsupportedKey {
                path: key_path.to_path_buf(),
                bits,
                reason: format!("more than {MAX_RSA_BITS} bits"),
            });
        }
        let cert_key = cert
            .tbs_certificate()
            .subject_public_key_info()
            .to_der()
            .map_err(|e| e.to_string())
            .and_then(|der| PublicKey::from_public_key_der(&der).map_err(|e| e.to_string()))
            .map_err(|detail| SignError::NotRsa {
                path: cert_path.to_path_buf(),
                detail,
            })?;
        if cert_key != private.to_public_key() {
            return Err(SignError::KeyMismatch {
                key: key_path.to_path_buf(),
                cert: cert_path.to_path_buf(),
                subject,
            });
        }
        if bits < MIN_RSA_BITS {
            return Err(SignError::WeakKey {
                path: key_path.to_path_buf(),
                bits,
            });
        }
        check_validity(cert_path, &cert, now)?;
        for (path, c) in &chain {
            check_validity(path, c, now)?;
        }
        let key = signing_key(&private, key_path, bits)?;
        let sid = SignerIdentifier::IssuerAndSerialNumber(IssuerAndSerialNumber {
            issuer: cert.tbs_certificate().issuer().clone(),
            serial_number: cert.tbs_certificate().serial_number().clone(),
        });
        let mut certificates = CertificateSet(SetOfVec::new());
        for c in std::iter::once(cert).chain(chain.into_iter().map(|(_, c)| c)) {
            let choice = CertificateChoices::Certificate(c);
            if !certificates.0.iter().any(|c| *c == choice) {
                certificates
                    .0
                    .insert(choice)
                    .map_err(|e| SignError::Signature(e.to_string()))?;
            }
        }
        Ok(Signer {
            key,
            rng: SystemRandom::new(),
            subject,
            certificates,
            sid,
            digest_algorithm: AlgorithmIdentifierOwned {
                oid: rfc5912::ID_SHA_256,
                parameters: None,
            },
            signature_algorithm: AlgorithmIdentifierOwned {
                oid: rfc5912::RSA_ENCRYPTION,
                parameters: Some(Any::null()),
            },
        })
    }

    /// The signer certificate's subject, for messages.
    pub fn subject(&self) -> &str {
        &self.subject
    }

    /// Wraps `content` in DER CMS SignedData, signed with this identity.
    pub fn sign(&self, content: &[u8]) -> Result<Vec<u8>, SignError> {
        let fail = |e: &dyn fmt::Display| SignError::Signature(e.to_string());
        let digest = Sha256::digest(content);
        let signed_attrs: SetOfVec<Attribute> = SetOfVec::try_from(vec![
            attribute(
                rfc5911::ID_CONTENT_TYPE,
                Any::encode_from(&rfc5911::ID_DATA),
            )
            .map_err(|e| fail(&e))?,
            attribute(
                rfc5911::ID_MESSAGE_DIGEST,
                Any::new(Tag::OctetString, digest.as_slice()),
            )
            .map_err(|e| fail(&e))?,
        ])
        .map_err(|e| fail(&e))?;
        // The signature covers the DER of the attributes as a SET OF (RFC 5652, 5.4).
        let to_sign = signed_attrs.to_der().map_err(|e| fail(&e))?;
        let mut signature = vec![0; self.key.public_modulus_len()];
        self.key
            .sign(&RSA_PKCS1_SHA256, &self.rng, &to_sign, &mut signature)
            .map_err(|_| fail(&"the RSA private-key operation failed"))?;
        let signer_info = SignerInfo {
            version: CmsVersion::V1,
            sid: self.sid.clone(),
            digest_alg: self.digest_algorithm.clone(),
            signed_attrs: Some(signed_attrs),
            signature_algorithm: self.signature_algorithm.clone(),
            signature: OctetString::new(signature).map_err(|e| fail(&e))?,
            unsigned_attrs: None,
        };
        let signed_data = SignedData {
            version: CmsVersion::V1,
            digest_algorithms: SetOfVec::try_from(vec![self.digest_algorithm.clone()])
                .map_err(|e| fail(&e))?,
            encap_content_info: EncapsulatedContentInfo {
                econtent_type: rfc5911::ID_DATA,
                econtent: Some(Any::new(Tag::OctetString, content).map_err(|e| fail(&e))?),
            },
            certificates: Some(self.certificates.clone()),
            crls: None,
            signer_infos: SignerInfos(SetOfVec::try_from(vec![signer_info]).map_err(|e| fail(&e))?),
        };
        ContentInfo {
            content_type: rfc5911::ID_SIGNED_DATA,
            content: Any::encode_from(&signed_data).map_err(|e| fail(&e))?,
        }
        .to_der()
        .map_err(|e| fail(&e))
    }
}

/// The private key as aws-lc-rs's `RsaKeyPair` (from its PKCS#1 DER). AWS-LC checks the key
/// again (2048 to 8192 bits, consistent components): a key it refuses is a clear
/// [`SignError::UnsupportedKey`] at load time, before anything is written.
fn signing_key(private: &PrivateKey, path: &Path, bits: usize) -> Result<RsaKeyPair, SignError> {
    let unsupported = |reason: String| SignError::UnsupportedKey {
        path: path.to_path_buf(),
        bits,
        reason,
    };
    let der = private
        .to_pkcs1_der()
        .map_err(|e| unsupported(e.to_string()))?;
    let key = RsaKeyPair::from_der(der.as_bytes())
        .map_err(|e| unsupported(format!("rejected by AWS-LC ({e})")))?;
    if key.public_modulus_len() != private.size() {
        return Err(unsupported(format!(
            "AWS-LC reads a {}-byte modulus, not {}",
            key.public_modulus_len(),
            private.size()
        )));
    }
    Ok(key)
}

fn attribute(oid: ObjectIdentifier, value: der::Result<Any>) -> der::Result<Attribute> {
    Ok(Attribute {
        oid,
        values: SetOfVec::try_from(vec![value?])?,
    })
}

fn read(path: &Path) -> Result<Vec<u8>, SignError> {
    std::fs::read(path).map_err(|source| SignError::Read {
        path: path.to_path_buf(),
        source,
    })
}

/// Reads one or more certificates: PEM (a chain is fine) or a single DER certificate.
fn read_certificates(path: &Path) -> Result<Vec<Certificate>, SignError> {
    let bytes = read(path)?;
    let err = |detail: String| SignError::Certificate {
        path: path.to_path_buf(),
        detail,
    };
    let certs = if bytes.trim_ascii_start().starts_with(b"-----") {
        Certificate::load_pem_chain(&bytes).map_err(|e| err(e.to_string()))?
    } else {
        vec![Certificate::from_der(&bytes).map_err(|e| err(e.to_string()))?]
    };
    if certs.is_empty() {
        return Err(err("the file is empty".into()));
    }
    Ok(certs)
}

/// The chain to embed: certificates after the signer's in its own file, then those of `chain`,
/// without self-signed roots (the device has them, or they would not help).
fn chain_certificates(
    signer_file: &Path,
    after_signer: Vec<Certificate>,
    chain: Option<&Path>,
) -> Result<Vec<(PathBuf, Certificate)>, SignError> {
    let mut all: Vec<(PathBuf, Certificate)> = after_signer
        .into_iter()
        .map(|c| (signer_file.to_path_buf(), c))
        .collect();
    if let Some(path) = chain {
        all.extend(
            read_certificates(path)?
                .into_iter()
                .map(|c| (path.to_path_buf(), c)),
        );
    }
    all.retain(|(_, c)| c.tbs_certificate().subject() != c.tbs_certificate().issuer());
    Ok(all)
}

fn parse_private_key(path: &Path, bytes: &[u8]) -> Result<PrivateKey, SignError> {
    let err = |detail: String| SignError::Key {
        path: path.to_path_buf(),
        detail,
    };
    if bytes.trim_ascii_start().starts_with(b"-----") {
        let text = std::str::from_utf8(bytes).map_err(|e| err(e.to_string()))?;
        let (label, der) =
            der::pem::decode_vec(text.trim().as_bytes()).map_err(|e| err(e.to_string()))?;
        match label {
            "PRIVATE KEY" => PrivateKey::from_pkcs8_der(&der).map_err(|e| err(e.to_string())),
            "RSA PRIVATE KEY" => PrivateKey::from_pkcs1_der(&der).map_err(|e| err(e.to_string())),
            "ENCRYPTED PRIVATE KEY" => Err(SignError::EncryptedKey {
                path: path.to_path_buf(),
            }),
            other => Err(err(format!("the file holds a PEM \"{other}\""))),
        }
    } else {
        PrivateKey::from_pkcs8_der(bytes)
            .or_else(|_| PrivateKey::from_pkcs1_der(bytes))
            .map_err(|e| err(e.to_string()))
    }
}

fn check_validity(path: &Path, cert: &Certificate, now: SystemTime) -> Result<(), SignError> {
    let validity = cert.tbs_certificate().validity();
    let subject = || cert.tbs_certificate().subject().to_string();
    if now < validity.not_before.to_system_time() {
        return Err(SignError::NotYetValid {
            path: path.to_path_buf(),
            subject: subject(),
            from: validity.not_before.to_date_time().to_string(),
        });
    }
    if now > validity.not_after.to_system_time() {
        return Err(SignError::Expired {
            path: path.to_path_buf(),
            subject: subject(),
            until: validity.not_after.to_date_time().to_string(),
        });
    }
    Ok(())
}
