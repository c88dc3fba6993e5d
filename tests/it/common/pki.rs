//! Test certificates, generated once per test run: root CA -> intermediate -> signer (and an
//! expired, a not-yet-valid and a mismatching key), written as PEM files for `--sign-…`.
#![allow(dead_code)]

use std::path::PathBuf;
use std::str::FromStr;
use std::sync::OnceLock;
use std::time::{Duration, SystemTime};

use der::Decode;
use mailconf::sign::SignerSource;
use rsa::Generate;
use rsa::pkcs1v15::{Signature, SigningKey};
use rsa::pkcs8::{EncodePrivateKey, EncodePublicKey, LineEnding};
use sha2::Sha256;
use x509_cert::Certificate;
use x509_cert::builder::profile::BuilderProfile;
use x509_cert::builder::{Builder, CertificateBuilder};
use x509_cert::ext::Extension;
use x509_cert::name::Name;
use x509_cert::serial_number::SerialNumber;
use x509_cert::spki::{SubjectPublicKeyInfoOwned, SubjectPublicKeyInfoRef};
use x509_cert::time::{Time, Validity};

/// A certificate's names, and the subject alternative names of a TLS server's (none for the
/// others, which then carry no extension at all).
struct TestProfile {
    subject: Name,
    issuer: Name,
    names: Vec<x509_cert::ext::pkix::name::GeneralName>,
    /// A certification authority's (basic constraints and key usage, which OpenSSL requires of
    /// an authority it trusts).
    ca: bool,
}

impl BuilderProfile for TestProfile {
    fn get_issuer(&self, _subject: &Name) -> Name {
        self.issuer.clone()
    }
    fn get_subject(&self) -> Name {
        self.subject.clone()
    }
    fn build_extensions(
        &self,
        _spk: SubjectPublicKeyInfoRef<'_>,
        _issuer_spk: SubjectPublicKeyInfoRef<'_>,
        _tbs: &x509_cert::TbsCertificate,
    ) -> x509_cert::builder::Result<Vec<Extension>> {
        use der::Encode;
        use der::oid::AssociatedOid;
        if self.ca {
            use x509_cert::ext::pkix::{BasicConstraints, KeyUsage, KeyUsages};
            let constraints = BasicConstraints {
                ca: true,
                path_len_constraint: None,
            };
            let usage = KeyUsage(KeyUsages::KeyCertSign | KeyUsages::CRLSign);
            return Ok(vec![
                Extension {
                    extn_id: BasicConstraints::OID,
                    critical: true,
                    extn_value: der::asn1::OctetString::new(constraints.to_der()?)?,
                },
                Extension {
                    extn_id: KeyUsage::OID,
                    critical: true,
                    extn_value: der::asn1::OctetString::new(usage.to_der()?)?,
                },
            ]);
        }
        if self.names.is_empty() {
            return Ok(Vec::new());
        }
        let san = x509_cert::ext::pkix::SubjectAltName(self.names.clone());
        Ok(vec![Extension {
            extn_id: x509_cert::ext::pkix::SubjectAltName::OID,
            critical: false,
            extn_value: der::asn1::OctetString::new(san.to_der()?)?,
        }])
    }
}

pub struct Pki {
    pub root: Certificate,
    pub root_key: rsa::PrivateKey,
    pub intermediate: Certificate,
    pub signer: Certificate,
    pub signer_key: rsa::PrivateKey,
    pub expired: Certificate,
    pub future: Certificate,
    pub other_key: rsa::PrivateKey,
}

fn spki(key: &rsa::PrivateKey) -> SubjectPublicKeyInfoOwned {
    let der = key.to_public_key().to_public_key_der().unwrap();
    SubjectPublicKeyInfoOwned::from_der(der.as_bytes()).unwrap()
}

fn issue(
    subject: &str,
    issuer: &Name,
    issuer_key: &rsa::PrivateKey,
    key: &rsa::PrivateKey,
    serial: u32,
    from: SystemTime,
    until: SystemTime,
) -> Certificate {
    let profile = TestProfile {
        subject: Name::from_str(subject).unwrap(),
        issuer: issuer.clone(),
        names: Vec::new(),
        ca: false,
    };
    let validity = Validity::new(
        Time::try_from(from).unwrap(),
        Time::try_from(until).unwrap(),
    );
    let signer = SigningKey::<Sha256>::new(issuer_key.clone());
    CertificateBuilder::new(profile, SerialNumber::from(serial), validity, spki(key))
        .unwrap()
        .build::<_, Signature>(&signer)
        .unwrap()
}

pub fn pki() -> &'static Pki {
    static PKI: OnceLock<Pki> = OnceLock::new();
    PKI.get_or_init(|| {
        let now = SystemTime::now();
        let day = Duration::from_secs(86_400);
        let root_key = rsa::PrivateKey::generate();
        let inter_key = rsa::PrivateKey::generate();
        let signer_key = rsa::PrivateKey::generate();
        let root_name = Name::from_str("CN=mailconf test root,O=mailconf tests").unwrap();
        let inter_name = Name::from_str("CN=mailconf test intermediate,O=mailconf tests").unwrap();
        let root = issue(
            "CN=mailconf test root,O=mailconf tests",
            &root_name,
            &root_key,
            &root_key,
            1,
            now - day,
            now + 365 * day,
        );
        let intermediate = issue(
            "CN=mailconf test intermediate,O=mailconf tests",
            &root_name,
            &root_key,
            &inter_key,
            2,
            now - day,
            now + 365 * day,
        );
        let leaf = |cn: &str, serial, from, until| {
            issue(
                cn,
                &inter_name,
                &inter_key,
                &signer_key,
                serial,
                from,
                until,
            )
        };
        Pki {
            signer: leaf(
                "CN=KUMail profiles,O=mailconf tests",
                3,
                now - day,
                now + 30 * day,
            ),
            expired: leaf(
                "CN=expired,O=mailconf tests",
                4,
                now - 60 * day,
                now - 30 * day,
            ),
            future: leaf(
                "CN=future,O=mailconf tests",
                5,
                now + 30 * day,
                now + 60 * day,
            ),
            root,
            root_key,
            intermediate,
            signer_key,
            other_key: inter_key,
        }
    })
}

pub fn pem(certs: &[&Certificate]) -> String {
    use der::EncodePem;
    certs
        .iter()
        .map(|c| c.to_pem(LineEnding::LF).unwrap())
        .collect()
}

pub fn key_pem(key: &rsa::PrivateKey) -> String {
    key.to_pkcs8_pem(LineEnding::LF).unwrap().to_string()
}

/// Files for a signing run, in a fresh folder.
pub struct SignFiles {
    pub dir: tempfile::TempDir,
}

impl SignFiles {
    pub fn new() -> SignFiles {
        let pki = pki();
        let dir = tempfile::tempdir().unwrap();
        let write = |name: &str, text: String| std::fs::write(dir.path().join(name), text).unwrap();
        write("cert.pem", pem(&[&pki.signer]));
        write("key.pem", key_pem(&pki.signer_key));
        write("chain.pem", pem(&[&pki.intermediate, &pki.root]));
        write("other-key.pem", key_pem(&pki.other_key));
        write("expired.pem", pem(&[&pki.expired]));
        write("future.pem", pem(&[&pki.future]));
        write(
            "garbage.pem",
            "-----BEGIN PRIVATE KEY-----\nbm90IGEga2V5\n-----END PRIVATE KEY-----\n".into(),
        );
        SignFiles { dir }
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    pub fn source(&self, cert: &str, key: &str) -> SignerSource {
        SignerSource::Pem {
            cert: self.path(cert),
            key: self.path(key),
            chain: Some(self.path("chain.pem")),
        }
    }
}

/// A self-signed TLS certificate for `localhost` and 127.0.0.1, valid from `from` to `until`,
/// as PEM files `tls-cert.pem` and `tls-key.pem` in `dir`; returns the certificate's PEM (the
/// client's trust anchor).
pub fn tls_files(dir: &std::path::Path, from: SystemTime, until: SystemTime) -> String {
    use x509_cert::ext::pkix::name::GeneralName;
    let key = rsa::PrivateKey::generate();
    let subject = Name::from_str("CN=localhost,O=mailconf tests").unwrap();
    let profile = TestProfile {
        issuer: subject.clone(),
        subject,
        names: vec![
            GeneralName::DnsName(der::asn1::Ia5String::new("localhost").unwrap()),
            GeneralName::IpAddress(der::asn1::OctetString::new(vec![127, 0, 0, 1]).unwrap()),
        ],
        ca: false,
    };
    let validity = Validity::new(
        Time::try_from(from).unwrap(),
        Time::try_from(until).unwrap(),
    );
    let signer = SigningKey::<Sha256>::new(key.clone());
    let cert = CertificateBuilder::new(profile, SerialNumber::from(7u32), validity, spki(&key))
        .unwrap()
        .build::<_, Signature>(&signer)
        .unwrap();
    let cert_pem = pem(&[&cert]);
    std::fs::write(dir.join("tls-cert.pem"), &cert_pem).unwrap();
    std::fs::write(dir.join("tls-key.pem"), key_pem(&key)).unwrap();
    cert_pem
}

/// A TLS certificate valid from yesterday for a year.
pub fn tls_files_now(dir: &std::path::Path) -> String {
    let now = SystemTime::now();
    let day = Duration::from_secs(86_400);
    tls_files(dir, now - day, now + 365 * day)
}

/// A TLS server certificate for `names` (DNS names), valid from `from` to `until`, issued by the
/// test root (`trusted`) or by itself; returns its PEM and its key's PEM. Clients trust the
/// root with `pem(&[&pki().root])`.
pub fn server_cert(
    names: &[&str],
    from: SystemTime,
    until: SystemTime,
    trusted: bool,
) -> (String, String) {
    use x509_cert::ext::pkix::name::GeneralName;
    let pki = pki();
    let subject = Name::from_str(&format!("CN={},O=mailconf tests", names[0])).unwrap();
    let (issuer, issuer_key) = if trusted {
        (pki.root.tbs_certificate().subject().clone(), &pki.root_key)
    } else {
        (subject.clone(), &pki.signer_key)
    };
    let profile = TestProfile {
        subject,
        issuer,
        names: names
            .iter()
            .map(|n| GeneralName::DnsName(der::asn1::Ia5String::new(n).unwrap()))
            .collect(),
        ca: false,
    };
    let validity = Validity::new(
        Time::try_from(from).unwrap(),
        Time::try_from(until).unwrap(),
    );
    let signer = SigningKey::<Sha256>::new(issuer_key.clone());
    let serial = SerialNumber::from(u32::from(trusted) + 100);
    let cert = CertificateBuilder::new(profile, serial, validity, spki(&pki.signer_key))
        .unwrap()
        .build::<_, Signature>(&signer)
        .unwrap();
    (pem(&[&cert]), key_pem(&pki.signer_key))
}

/// A self-signed TLS certificate for the DNS `names` ([`server_cert`]), valid from yesterday for a
/// year, as PEM files `tls-cert.pem` and `tls-key.pem` in `dir`; returns the certificate's and the
/// key's PEM.
pub fn tls_files_for(dir: &std::path::Path, names: &[&str]) -> (String, String) {
    let now = SystemTime::now();
    let day = Duration::from_secs(86_400);
    let (cert_pem, key_pem) = server_cert(names, now - day, now + 365 * day, false);
    std::fs::write(dir.join("tls-cert.pem"), &cert_pem).unwrap();
    std::fs::write(dir.join("tls-key.pem"), &key_pem).unwrap();
    (cert_pem, key_pem)
}

/// A test certification authority and a TLS server certificate it issued for `names`, as a
/// proxy such as nginx is given them: `ca.pem` (the authority, for clients to trust),
/// `server-cert.pem` and `server-key.pem` in `dir`. Returns the authority's PEM.
pub fn server_files(dir: &std::path::Path, names: &[&str]) -> String {
    use x509_cert::ext::pkix::name::GeneralName;
    let now = SystemTime::now();
    let day = Duration::from_secs(86_400);
    let validity = || {
        Validity::new(
            Time::try_from(now - day).unwrap(),
            Time::try_from(now + 30 * day).unwrap(),
        )
    };
    let ca_key = rsa::PrivateKey::generate();
    let key = rsa::PrivateKey::generate();
    let ca_name = Name::from_str("CN=mailconf test CA,O=mailconf tests").unwrap();
    let signer = SigningKey::<Sha256>::new(ca_key.clone());
    let ca_profile = TestProfile {
        subject: ca_name.clone(),
        issuer: ca_name.clone(),
        names: Vec::new(),
        ca: true,
    };
    let ca = CertificateBuilder::new(
        ca_profile,
        SerialNumber::from(20u32),
        validity(),
        spki(&ca_key),
    )
    .unwrap()
    .build::<_, Signature>(&signer)
    .unwrap();
    let profile = TestProfile {
        subject: Name::from_str(&format!("CN={},O=mailconf tests", names[0])).unwrap(),
        issuer: ca_name,
        names: names
            .iter()
            .map(|n| GeneralName::DnsName(der::asn1::Ia5String::new(n).unwrap()))
            .collect(),
        ca: false,
    };
    let cert = CertificateBuilder::new(profile, SerialNumber::from(21u32), validity(), spki(&key))
        .unwrap()
        .build::<_, Signature>(&signer)
        .unwrap();
    let ca_pem = pem(&[&ca]);
    std::fs::write(dir.join("ca.pem"), &ca_pem).unwrap();
    std::fs::write(dir.join("server-cert.pem"), pem(&[&cert])).unwrap();
    std::fs::write(dir.join("server-key.pem"), key_pem(&key)).unwrap();
    ca_pem
}
