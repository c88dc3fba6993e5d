//! Signing cost per profile against a bare RSA-2048 signature, with the same key.
//!
//! Loads a 2048-bit test identity through `Signer::load` (made with `openssl req -x509` when
//! openssl exists, else generated here with the `rsa` crate and x509-cert's builder, or given as
//! `CERT.pem KEY.pem`), then times N `Signer::sign` calls on a realistic Apple profile (one
//! rendered by mailconf, about 5 KB) and N bare RSA PKCS#1 v1.5 SHA-256 signatures of a 32-byte
//! message with the same key and the same library as `Signer` (aws-lc-rs), single-threaded.
//! Prints per-operation times, the ratio, one JSON line (`sign_cost {...}`) for scripts, and
//! `openssl speed -seconds 2 rsa2048`'s signatures per second for reference when openssl exists.
//!
//! Usage: cargo run --release --example sign_cost -- [N] [CERT.pem KEY.pem]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::str::FromStr;
use std::time::{Duration, Instant, SystemTime};

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{RSA_PKCS1_SHA256, RsaKeyPair};
use der::Decode;
use mailconf::input::account::{Account, Address, DisplayName};
use mailconf::input::provider::Provider;
use mailconf::render::{Context, Format};
use mailconf::sign::{Signer, SignerSource};
use rsa::Generate;
use rsa::pkcs1v15::{Signature, SigningKey};
use rsa::pkcs8::{EncodePrivateKey, EncodePublicKey, LineEnding};
use sha2::Sha256;
use x509_cert::builder::profile::BuilderProfile;
use x509_cert::builder::{Builder, CertificateBuilder};
use x509_cert::ext::Extension;
use x509_cert::name::Name;
use x509_cert::serial_number::SerialNumber;
use x509_cert::spki::{SubjectPublicKeyInfoOwned, SubjectPublicKeyInfoRef};
use x509_cert::time::{Time, Validity};

type Error = Box<dyn std::error::Error>;

fn main() -> Result<(), Error> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let n: usize = args.first().map_or(Ok(2000), |s| s.parse())?;
    let dir = tempfile::tempdir()?;
    let (cert, key, origin) = match &args[..] {
        [_, cert, key] => (PathBuf::from(cert), PathBuf::from(key), "given"),
        _ => test_identity(dir.path())?,
    };
    let signer = Signer::load(&SignerSource::Pem {
        cert,
        key: key.clone(),
        chain: None,
    })?;
    // The same key, for the bare signatures: PKCS#8 DER from the PEM file.
    let (_, der) = der::pem::decode_vec(std::fs::read_to_string(&key)?.trim().as_bytes())?;
    let pair = RsaKeyPair::from_pkcs8(&der).map_err(|e| format!("aws-lc-rs: {e}"))?;

    let profile = realistic_profile()?;
    let message = [0x5au8; 32];
    let rng = SystemRandom::new();
    let mut sig = vec![0; pair.public_modulus_len()];
    let bare = || {
        pair.sign(&RSA_PKCS1_SHA256, &rng, &message, &mut sig)
            .expect("bare signature");
    };
    let mut bare = bare;

    // Warm up both, then interleave blocks so background load hits both alike.
    for _ in 0..20 {
        signer.sign(&profile)?;
        bare();
    }
    let (mut t_sign, mut t_bare) = (Duration::ZERO, Duration::ZERO);
    let mut out_len = 0;
    let block = 100.min(n.max(1));
    let mut done = 0;
    while done < n {
        let k = block.min(n - done);
        let t = Instant::now();
        for _ in 0..k {
            out_len = std::hint::black_box(signer.sign(std::hint::black_box(&profile))?).len();
        }
        t_sign += t.elapsed();
        let t = Instant::now();
        for _ in 0..k {
            bare();
        }
        t_bare += t.elapsed();
        done += k;
    }
    let per_sign = t_sign.as_secs_f64() / n as f64;
    let per_bare = t_bare.as_secs_f64() / n as f64;
    println!(
        "identity: {origin}, {} bits; profile {} bytes, signed {out_len} bytes; N={n}",
        pair.public_modulus_len() * 8,
        profile.len()
    );
    println!(
        "Signer::sign per profile:           {:.3} ms",
        per_sign * 1e3
    );
    println!(
        "bare RSA-2048 sign (32 bytes):      {:.3} ms",
        per_bare * 1e3
    );
    println!(
        "ratio sign / bare:                  {:.2}x",
        per_sign / per_bare
    );
    let openssl = openssl_speed();
    match &openssl {
        Some((per_s, line)) => println!(
            "openssl speed -seconds 2 rsa2048:   {:.3} ms ({per_s:.1} sign/s); ratio sign / openssl {:.2}x\n  {line}",
            1e3 / per_s,
            per_sign * per_s
        ),
        None => println!("openssl speed: not measured (no openssl command)"),
    }
    println!(
        "sign_cost {{\"n\": {n}, \"profile_bytes\": {}, \"sign_s\": {per_sign:.9}, \"bare_s\": {per_bare:.9}, \"ratio\": {:.4}, \"openssl_sign_s\": {}}}",
        profile.len(),
        per_sign / per_bare,
        openssl.map_or("null".to_string(), |(per_s, _)| format!(
            "{:.9}",
            1.0 / per_s
        ))
    );
    Ok(())
}

/// An Apple mail profile as mailconf renders it (about 5 KB).
fn realistic_profile() -> Result<Vec<u8>, Error> {
    let provider = Provider::kumail();
    let account = Account {
        address: Address::parse("taro.yamada@kyoto-u.ac.jp")?,
        name: DisplayName::parse("山田 太郎")?,
    };
    Ok(Format::Apple.render(&Context::new(&provider, None), &account)?)
}

/// A throw-away RSA-2048 certificate and PKCS#8 key in `dir`.
fn test_identity(dir: &Path) -> Result<(PathBuf, PathBuf, &'static str), Error> {
    let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
    let made = Command::new("openssl")
        .args([
            "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-sha256", "-days", "2",
        ])
        .args(["-subj", "/CN=mailconf sign_cost/O=bench", "-keyout"])
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .output()
        .is_ok_and(|o| o.status.success());
    if made {
        return Ok((cert, key, "openssl req -x509 -newkey rsa:2048"));
    }
    let private = rsa::PrivateKey::generate();
    let spki = SubjectPublicKeyInfoOwned::from_der(
        private.to_public_key().to_public_key_der()?.as_bytes(),
    )?;
    let name = Name::from_str("CN=mailconf sign_cost,O=bench")?;
    let now = SystemTime::now();
    let day = Duration::from_secs(86_400);
    let validity = Validity::new(Time::try_from(now - day)?, Time::try_from(now + day)?);
    let profile = SelfSigned(name);
    let issuer = SigningKey::<Sha256>::new(private.clone());
    let c = CertificateBuilder::new(profile, SerialNumber::from(1u32), validity, spki)?
        .build::<_, Signature>(&issuer)?;
    std::fs::write(&cert, der::EncodePem::to_pem(&c, LineEnding::LF)?)?;
    std::fs::write(&key, private.to_pkcs8_pem(LineEnding::LF)?.as_bytes())?;
    Ok((cert, key, "generated with the rsa crate"))
}

struct SelfSigned(Name);

impl BuilderProfile for SelfSigned {
    fn get_issuer(&self, _subject: &Name) -> Name {
        self.0.clone()
    }
    fn get_subject(&self) -> Name {
        self.0.clone()
    }
    fn build_extensions(
        &self,
        _spk: SubjectPublicKeyInfoRef<'_>,
        _issuer_spk: SubjectPublicKeyInfoRef<'_>,
        _tbs: &x509_cert::TbsCertificate,
    ) -> x509_cert::builder::Result<Vec<Extension>> {
        Ok(Vec::new())
    }
}

/// `openssl speed -seconds 2 rsa2048`: signatures per second and the result line.
fn openssl_speed() -> Option<(f64, String)> {
    let out = Command::new("openssl")
        .args(["speed", "-seconds", "2", "rsa2048"])
        .output()
        .ok()?;
    let text = String::from_utf8_lossy(&out.stdout);
    // "rsa 2048 bits 0.000677s 0.000020s   1477.0  49668.3" (sign/s is the first rate)
    let line = text
        .lines()
        .find(|l| l.trim_start().starts_with("rsa 2048 bits"))?;
    let per_s: f64 = line.split_whitespace().nth(5)?.parse().ok()?;
    Some((per_s, line.trim().to_string()))
}
