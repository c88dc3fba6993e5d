//! Apple profiles: schema, values, hostile names, stable identities, signing, CLI errors.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use assert_cmd::cargo::CommandCargoExt;
use cms::content_info::ContentInfo;
use cms::signed_data::{CertificateSet, SignedData, SignerIdentifier};
use der::asn1::SetOfVec;
use der::oid::db::{rfc5911, rfc5912};
use der::{Decode, Encode};
use mailconf::input::account::{Account, Address, DisplayName};
use mailconf::input::provider::{Protocol, Provider};
use mailconf::render::apple::{self, Purpose};
use mailconf::render::{Context, Format};
use mailconf::sign::{SignError, Signer};
use plist::Value;
use rsa::pkcs1v15::{Signature, SigningKey, VerifyingKey};
use rsa::pkcs8::EncodePrivateKey;
use rsa::signature::Verifier;
use sha2::{Digest, Sha256};
use x509_cert::Certificate;

use crate::common;
use common::pki::{SignFiles, pki};

// ---------------------------------------------------------------------------------------------
// Apple's schema (tests/apple-schema, copied from apple/device-management)

#[derive(Debug, Clone)]
struct KeySpec {
    ty: String,
    required: bool,
    rangelist: Option<Vec<serde_yaml_ng::Value>>,
}

type Schema = BTreeMap<String, KeySpec>;

fn schema(files: &[&str]) -> Schema {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/apple-schema");
    let mut out = Schema::new();
    for file in files {
        let text = std::fs::read_to_string(dir.join(file)).unwrap();
        let doc: serde_yaml_ng::Value = serde_yaml_ng::from_str(&text).unwrap();
        for key in doc["payloadkeys"].as_sequence().unwrap() {
            out.insert(
                key["key"].as_str().unwrap().to_string(),
                KeySpec {
                    ty: key["type"].as_str().unwrap().to_string(),
                    required: key["presence"].as_str() == Some("required"),
                    rangelist: key.get("rangelist").and_then(|r| r.as_sequence()).cloned(),
                },
            );
        }
    }
    out
}

fn plist_type(v: &Value) -> &'static str {
    match v {
        Value::String(_) => "<string>",
        Value::Integer(_) => "<integer>",
        Value::Boolean(_) => "<boolean>",
        Value::Dictionary(_) => "<dictionary>",
        Value::Array(_) => "<array>",
        Value::Data(_) => "<data>",
        Value::Date(_) => "<date>",
        Value::Real(_) => "<real>",
        _ => "<other>",
    }
}

/// Every key of `dict` is in `schema` with its type and range; every required key is present.
fn check_against(dict: &plist::Dictionary, schema: &Schema, what: &str) {
    for (key, value) in dict {
        let spec = schema
            .get(key)
            .unwrap_or_else(|| panic!("{what}: key {key} is not in Apple's schema"));
        assert_eq!(plist_type(value), spec.ty, "{what}: type of {key}");
        if let Some(range) = &spec.rangelist {
            let ok = range.iter().any(|r| match (r, value) {
                (serde_yaml_ng::Value::String(s), Value::String(v)) => s == v,
                (serde_yaml_ng::Value::Number(n), Value::Integer(v)) => n.as_i64() == v.as_signed(),
                _ => false,
            });
            assert!(ok, "{what}: {key} = {value:?} is not in {range:?}");
        }
    }
    for (key, spec) in schema {
        if spec.required {
            assert!(
                dict.contains_key(key),
                "{what}: required key {key} is missing"
            );
        }
    }
}

/// No empty string anywhere, and never a password key.
fn check_no_empty_strings_or_passwords(v: &Value) {
    match v {
        Value::String(s) => assert!(!s.trim().is_empty(), "an empty string"),
        Value::Array(a) => a.iter().for_each(check_no_empty_strings_or_passwords),
        Value::Dictionary(d) => {
            for (k, v) in d {
                assert!(
                    k != "IncomingPassword" && k != "OutgoingPassword",
                    "a password key: {k}"
                );
                check_no_empty_strings_or_passwords(v);
            }
        }
        _ => {}
    }
}

/// Parses a profile and checks its envelope, top level and every payload against the schema.
fn check_profile(bytes: &[u8]) -> plist::Dictionary {
    let text = std::str::from_utf8(bytes).expect("UTF-8");
    assert!(text.starts_with(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<!DOCTYPE plist PUBLIC \"-//Apple//DTD PLIST 1.0//EN\" \"http://www.apple.com/DTDs/PropertyList-1.0.dtd\">\n<plist version=\"1.0\">\n"
    ));
    assert!(text.ends_with("</plist>\n"));
    let value = Value::from_reader_xml(bytes).expect("a valid XML property list");
    check_no_empty_strings_or_passwords(&value);
    let top = value.into_dictionary().expect("a dictionary at the top");
    check_against(&top, &schema(&["TopLevel.yaml"]), "top level");
    if let Some(consent) = top.get("ConsentText").and_then(Value::as_dictionary) {
        for (lang, text) in consent {
            assert!(text.as_string().is_some(), "ConsentText {lang} is a string");
        }
    }
    let payloads = top["PayloadContent"].as_array().unwrap();
    assert!(!payloads.is_empty());
    for payload in payloads {
        let payload = payload.as_dictionary().unwrap();
        let kind = payload["PayloadType"].as_string().unwrap();
        let file = match kind {
            "com.apple.mail.managed" => "com.apple.mail.managed.yaml",
            "com.apple.google-oauth" => "com.apple.google-oauth.yaml",
            other => panic!("unexpected payload {other}"),
        };
        check_against(payload, &schema(&["CommonPayloadKeys.yaml", file]), kind);
    }
    top
}

fn s<'a>(d: &'a plist::Dictionary, key: &str) -> &'a str {
    d.get(key)
        .and_then(Value::as_string)
        .unwrap_or_else(|| panic!("{key} is not a string"))
}

fn int(d: &plist::Dictionary, key: &str) -> i64 {
    d.get(key).and_then(|v| v.as_signed_integer()).unwrap()
}

fn boolean(d: &plist::Dictionary, key: &str) -> bool {
    d.get(key).and_then(Value::as_boolean).unwrap()
}

fn payload(top: &plist::Dictionary) -> &plist::Dictionary {
    top["PayloadContent"].as_array().unwrap()[0]
        .as_dictionary()
        .unwrap()
}

fn account(address: &str, name: Option<&str>) -> Account {
    Account {
        address: Address::parse(address).unwrap(),
        name: name.map(|n| DisplayName::parse(n).unwrap().unwrap()),
    }
}

fn mail_profile(provider: &Provider, protocol: Option<Protocol>, account: &Account) -> Vec<u8> {
    let ctx = Context::new(provider, protocol);
    Format::Apple.render(&ctx, account).unwrap()
}

// ---------------------------------------------------------------------------------------------
// Values

#[test]
fn pop_profile_matches_the_model_and_the_schema() {
    let p = Provider::kumail();
    let a = account("taro.yamada@kyoto-u.ac.jp", Some("山田 太郎"));
    let top = check_profile(&mail_profile(&p, None, &a));
    assert_eq!(s(&top, "PayloadType"), "Configuration");
    assert_eq!(int(&top, "PayloadVersion"), 1);
    assert_eq!(s(&top, "PayloadScope"), "User");
    assert_eq!(
        s(&top, "PayloadOrganization"),
        "京都大学 (Kyoto University)"
    );
    assert!(s(&top, "PayloadDisplayName").contains("taro.yamada@kyoto-u.ac.jp"));
    assert!(s(&top, "PayloadDescription").contains("POP"));

    let consent = top["ConsentText"].as_dictionary().unwrap();
    assert_eq!(consent.len(), 3);
    assert_eq!(s(consent, "default"), s(consent, "en"));
    for id in ["app-password", "pop-daily-limit", "pop-spam-trash"] {
        let n = p.notice(id).unwrap();
        assert!(s(consent, "ja").contains(n.ja.as_str()), "{id} ja");
        assert!(s(consent, "en").contains(n.en.as_str()), "{id} en");
    }

    let mail = payload(&top);
    assert_eq!(top["PayloadContent"].as_array().unwrap().len(), 1);
    assert_eq!(s(mail, "PayloadType"), "com.apple.mail.managed");
    assert_eq!(s(mail, "EmailAccountType"), "EmailTypePOP");
    assert_eq!(s(mail, "EmailAddress"), "taro.yamada@kyoto-u.ac.jp");
    assert_eq!(s(mail, "EmailAccountName"), "山田 太郎");
    assert_eq!(
        s(mail, "EmailAccountDescription"),
        p.names.display_en.as_str()
    );
    assert_eq!(s(mail, "IncomingMailServerHostName"), "pop.gmail.com");
    assert_eq!(int(mail, "IncomingMailServerPortNumber"), 995);
    assert!(boolean(mail, "IncomingMailServerUseSSL"));
    assert_eq!(
        s(mail, "IncomingMailServerUsername"),
        "taro.yamada@kyoto-u.ac.jp"
    );
    assert_eq!(
        s(mail, "IncomingMailServerAuthentication"),
        "EmailAuthPassword"
    );
    assert_eq!(s(mail, "OutgoingMailServerHostName"), "smtp.gmail.com");
    assert_eq!(int(mail, "OutgoingMailServerPortNumber"), 587);
    assert!(
        boolean(mail, "OutgoingMailServerUseSSL"),
        "STARTTLS is UseSSL"
    );
    assert_eq!(
        s(mail, "OutgoingMailServerUsername"),
        "taro.yamada@kyoto-u.ac.jp"
    );
    assert_eq!(
        s(mail, "OutgoingMailServerAuthentication"),
        "EmailAuthPassword"
    );
    assert!(boolean(mail, "OutgoingPasswordSameAsIncomingPassword"));
    assert_eq!(int(mail, "PayloadVersion"), 1);
}

#[test]
fn imap_profile_uses_imap_and_drops_pop_notices() {
    let p = Provider::kumail();
    let a = account("hanako@kyoto-u.ac.jp", None);
    let top = check_profile(&mail_profile(&p, Some(Protocol::Imap), &a));
    let mail = payload(&top);
    assert_eq!(s(mail, "EmailAccountType"), "EmailTypeIMAP");
    assert_eq!(s(mail, "IncomingMailServerHostName"), "imap.gmail.com");
    assert_eq!(int(mail, "IncomingMailServerPortNumber"), 993);
    let en = s(top["ConsentText"].as_dictionary().unwrap(), "en");
    assert!(en.contains(p.notice("app-password").unwrap().en.as_str()));
    assert!(!en.contains(p.notice("pop-daily-limit").unwrap().en.as_str()));
}

#[test]
fn notices_with_markup_characters_stay_text() {
    // The consent texts are escaped once per run, not per profile: they must still be escaped.
    let text = r#"Tom & Jerry's <b>"notice"</b> ]]> &amp;"#;
    let toml = mailconf::input::provider::KUMAIL_TOML.replace(
        "Your university password itself does not work.",
        &text.replace('"', "\\\""),
    );
    assert_ne!(toml, mailconf::input::provider::KUMAIL_TOML);
    let p = Provider::from_toml(&toml, Path::new("p.toml")).unwrap();
    let a = account("hanako@kyoto-u.ac.jp", None);
    let top = check_profile(&mail_profile(&p, None, &a));
    let consent = top["ConsentText"].as_dictionary().unwrap();
    let en = s(consent, "en");
    assert!(en.contains(text), "{en}");
    assert_eq!(s(consent, "default"), en);
}

#[test]
fn no_name_means_no_name_key() {
    let p = Provider::kumail();
    let a = account("hanako@kyoto-u.ac.jp", None);
    let top = check_profile(&mail_profile(&p, None, &a));
    assert!(!payload(&top).contains_key("EmailAccountName"));
    let ctx = Context::new(&p, None);
    let google = check_profile(&Format::AppleGoogle.render(&ctx, &a).unwrap());
    assert!(!payload(&google).contains_key("AccountName"));
}

#[test]
fn google_profile_matches_the_model_and_the_schema() {
    let p = Provider::kumail();
    let a = account("taro.yamada@kyoto-u.ac.jp", Some("山田 太郎"));
    let ctx = Context::new(&p, None);
    let top = check_profile(&Format::AppleGoogle.render(&ctx, &a).unwrap());
    assert_eq!(int(&top, "TargetDeviceType"), 1, "iPhone/iPad only");
    assert!(s(&top, "PayloadDescription").contains("iPhone"));
    let g = payload(&top);
    assert_eq!(s(g, "PayloadType"), "com.apple.google-oauth");
    assert_eq!(s(g, "EmailAddress"), "taro.yamada@kyoto-u.ac.jp");
    assert_eq!(s(g, "AccountName"), "山田 太郎");
    assert_eq!(s(g, "AccountDescription"), p.names.display_en.as_str());
}

#[test]
fn hostile_names_stay_data() {
    let p = Provider::kumail();
    for name in [
        "A & B <c>",
        "]]> </string><key>IncomingPassword</key><string>x",
        "\"quoted\" 'single'",
        "山田 太郎",
        "😀 emoji 👩‍💻",
        "<!-- comment --> &amp; &#x41;",
    ] {
        let a = account("x@kyoto-u.ac.jp", Some(name));
        let top = check_profile(&mail_profile(&p, None, &a));
        let mail = payload(&top);
        assert_eq!(s(mail, "EmailAccountName"), name);
        assert_eq!(mail.len(), 22, "{name}: no key added or lost");
        let ctx = Context::new(&p, None);
        let google = check_profile(&Format::AppleGoogle.render(&ctx, &a).unwrap());
        assert_eq!(s(payload(&google), "AccountName"), name);
    }
}

// ---------------------------------------------------------------------------------------------
// Identities

fn ids(top: &plist::Dictionary) -> [String; 4] {
    let inner = payload(top);
    [
        s(top, "PayloadIdentifier").into(),
        s(top, "PayloadUUID").into(),
        s(inner, "PayloadIdentifier").into(),
        s(inner, "PayloadUUID").into(),
    ]
}

#[test]
fn identities_are_stable_per_user_and_distinct() {
    let p = Provider::kumail();
    let ctx = Context::new(&p, None);
    let taro = account("taro.yamada@kyoto-u.ac.jp", Some("山田 太郎"));
    let first = mail_profile(&p, None, &taro);
    assert_eq!(first, mail_profile(&p, None, &taro), "same bytes every run");
    let mail = ids(&check_profile(&first));
    let google = ids(&check_profile(
        &Format::AppleGoogle.render(&ctx, &taro).unwrap(),
    ));
    let hanako = ids(&check_profile(&mail_profile(
        &p,
        None,
        &account("hanako@kyoto-u.ac.jp", None),
    )));
    // The name and the protocol do not change the identity: re-issuing replaces.
    let renamed = ids(&check_profile(&mail_profile(
        &p,
        Some(Protocol::Imap),
        &account("taro.yamada@kyoto-u.ac.jp", None),
    )));
    assert_eq!(mail, renamed);
    assert_eq!(mail[0], "jp.ac.kyoto-u.kumail.taro.yamada_at_kyoto-u.ac.jp");
    let all: Vec<&String> = mail.iter().chain(&google).chain(&hanako).collect();
    for (i, a) in all.iter().enumerate() {
        for b in &all[..i] {
            assert_ne!(a, b, "identifiers and UUIDs are all distinct");
        }
    }
    for uuid in [&mail[1], &mail[3], &google[1], &google[3]] {
        let parsed = uuid::Uuid::parse_str(uuid).unwrap();
        assert_eq!(parsed.get_version_num(), 5);
        assert_eq!(*uuid, parsed.hyphenated().to_string().to_uppercase());
    }
    assert_eq!(
        mail[3],
        apple::identity(&p, &taro.address, Purpose::MailPayload).uuid
    );
}

/// Decodes a signed profile and checks everything the project promises about it; returns the
/// embedded content.
fn verify_cms(signed: &[u8]) -> Vec<u8> {
    let pki = pki();
    let info = ContentInfo::from_der(signed).expect("DER ContentInfo");
    assert_eq!(info.content_type, rfc5911::ID_SIGNED_DATA);
    let sd: SignedData = info.content.decode_as().unwrap();
    assert_eq!(sd.encap_content_info.econtent_type, rfc5911::ID_DATA);
    let digest_algs: Vec<_> = sd.digest_algorithms.iter().map(|a| a.oid).collect();
    assert_eq!(digest_algs, [rfc5912::ID_SHA_256]);

    // Signer and intermediate embedded; the self-signed root left out.
    let CertificateSet(certs) = sd.certificates.clone().expect("certificates");
    let certs: Vec<Certificate> = certs
        .iter()
        .map(|c| match c {
            cms::cert::CertificateChoices::Certificate(c) => c.clone(),
            other => panic!("unexpected {other:?}"),
        })
        .collect();
    assert_eq!(certs.len(), 2);
    assert!(certs.contains(&pki.signer));
    assert!(certs.contains(&pki.intermediate));
    assert!(!certs.contains(&pki.root));

    let content = sd
        .encap_content_info
        .econtent
        .as_ref()
        .expect("attached content")
        .decode_as::<der::asn1::OctetString>()
        .unwrap()
        .into_bytes()
        .to_vec();

    let signers: Vec<_> = sd.signer_infos.0.iter().collect();
    assert_eq!(signers.len(), 1);
    let si = signers[0];
    assert_eq!(si.digest_alg.oid, rfc5912::ID_SHA_256);
    assert_eq!(si.signature_algorithm.oid, rfc5912::RSA_ENCRYPTION);
    match &si.sid {
        SignerIdentifier::IssuerAndSerialNumber(isn) => {
            assert_eq!(&isn.issuer, pki.signer.tbs_certificate().issuer());
            assert_eq!(
                &isn.serial_number,
                pki.signer.tbs_certificate().serial_number()
            );
        }
        other => panic!("unexpected signer id {other:?}"),
    }
    let attrs = si.signed_attrs.as_ref().expect("signed attributes");
    let attr = |oid| {
        attrs
            .iter()
            .find(|a| a.oid == oid)
            .unwrap_or_else(|| panic!("attribute {oid}"))
            .values
            .iter()
            .next()
            .unwrap()
            .clone()
    };
    assert_eq!(
        attr(rfc5911::ID_CONTENT_TYPE)
            .decode_as::<der::asn1::ObjectIdentifier>()
            .unwrap(),
        rfc5911::ID_DATA
    );
    let digest = attr(rfc5911::ID_MESSAGE_DIGEST)
        .decode_as::<der::asn1::OctetString>()
        .unwrap();
    assert_eq!(digest.as_bytes(), Sha256::digest(&content).as_slice());

    // The RSA signature over the DER SET OF the signed attributes, with the signer's key.
    let set: SetOfVec<_> = attrs.clone();
    let to_verify = set.to_der().unwrap();
    let verifying = VerifyingKey::<Sha256>::new(pki.signer_key.to_public_key());
    let signature = Signature::try_from(si.signature.as_bytes()).unwrap();
    verifying
        .verify(&to_verify, &signature)
        .expect("the signature verifies");
    content
}

fn openssl_available() -> bool {
    Command::new("openssl")
        .arg("version")
        .output()
        .is_ok_and(|o| o.status.success())
}

/// `openssl cms -verify -noverify -binary -inform der`, when openssl exists; returns the content.
fn openssl_verify(signed: &Path) -> Option<Vec<u8>> {
    if !openssl_available() {
        println!("note: no openssl command; skipping the openssl verification");
        return None;
    }
    let out = signed.with_extension("out");
    let status = Command::new("openssl")
        .args([
            "cms",
            "-verify",
            "-noverify",
            "-binary",
            "-inform",
            "der",
            "-in",
        ])
        .arg(signed)
        .arg("-out")
        .arg(&out)
        .output()
        .unwrap();
    assert!(
        status.status.success(),
        "openssl: {}",
        String::from_utf8_lossy(&status.stderr)
    );
    Some(std::fs::read(out).unwrap())
}

#[test]
fn signed_profile_verifies_and_embeds_the_profile_byte_for_byte() {
    let files = SignFiles::new();
    let signer = Signer::load(&files.source("cert.pem", "key.pem")).unwrap();
    let p = Provider::kumail();
    let a = account("taro.yamada@kyoto-u.ac.jp", Some("山田 & <太郎>"));
    let unsigned = mail_profile(&p, None, &a);
    let mut ctx = Context::new(&p, None);
    ctx.signer = Some(std::sync::Arc::new(signer));
    let signed = Format::Apple.render(&ctx, &a).unwrap();
    assert_eq!(verify_cms(&signed), unsigned);
    assert_eq!(
        signed,
        Format::Apple.render(&ctx, &a).unwrap(),
        "deterministic"
    );

    let google = Format::AppleGoogle.render(&ctx, &a).unwrap();
    let google_unsigned = Format::AppleGoogle
        .render(&Context::new(&p, None), &a)
        .unwrap();
    assert_eq!(verify_cms(&google), google_unsigned);

    let path = files.path("signed.mobileconfig");
    std::fs::write(&path, &signed).unwrap();
    if let Some(content) = openssl_verify(&path) {
        assert_eq!(content, unsigned);
    }
}

#[test]
fn signature_is_byte_identical_to_the_rsa_crate() {
    // Signer::sign uses aws-lc-rs; PKCS#1 v1.5 is deterministic, so the rsa crate's signature over
    // the same signed attributes with the same key must be the very same bytes.
    use rsa::signature::{SignatureEncoding, Signer as _};
    let files = SignFiles::new();
    let signer = Signer::load(&files.source("cert.pem", "key.pem")).unwrap();
    let reference = SigningKey::<Sha256>::new(pki().signer_key.clone());
    for content in [&b""[..], b"x", &[0xa5; 5000][..]] {
        let signed = signer.sign(content).unwrap();
        let sd: SignedData = ContentInfo::from_der(&signed)
            .unwrap()
            .content
            .decode_as()
            .unwrap();
        let si = sd.signer_infos.0.iter().next().unwrap();
        let attrs = si.signed_attrs.as_ref().unwrap().to_der().unwrap();
        let expected = reference.try_sign(&attrs).unwrap().to_vec();
        assert_eq!(si.signature.as_bytes(), expected.as_slice());
        assert_eq!(verify_cms(&signed), content);
    }
}

#[test]
fn bad_signing_inputs_are_clear_errors() {
    let files = SignFiles::new();
    let err = |cert: &str, key: &str| Signer::load(&files.source(cert, key)).unwrap_err();
    assert!(matches!(
        err("cert.pem", "garbage.pem"),
        SignError::Key { .. }
    ));
    assert!(matches!(
        err("cert.pem", "other-key.pem"),
        SignError::KeyMismatch { .. }
    ));
    assert!(matches!(
        err("expired.pem", "key.pem"),
        SignError::Expired { .. }
    ));
    assert!(matches!(
        err("future.pem", "key.pem"),
        SignError::NotYetValid { .. }
    ));
    assert!(matches!(
        err("key.pem", "key.pem"),
        SignError::Certificate { .. }
    ));
    let e = err("expired.pem", "key.pem").to_string();
    assert!(e.contains("expired.pem") && e.contains("expired on"), "{e}");
    let e = err("cert.pem", "other-key.pem").to_string();
    assert!(
        e.contains("other-key.pem") && e.contains("does not belong"),
        "{e}"
    );
}

// ---------------------------------------------------------------------------------------------
// Command line

fn mailconf() -> Command {
    let mut cmd = Command::cargo_bin("mailconf").unwrap();
    cmd.env_remove(mailconf::sign::P12_PASSWORD_ENV);
    cmd
}

fn roster(dir: &Path) -> PathBuf {
    let path = dir.join("dept.csv");
    std::fs::write(
        &path,
        "email,name\ntaro.yamada@kyoto-u.ac.jp,山田 太郎\nhanako@kyoto-u.ac.jp,\n",
    )
    .unwrap();
    path
}

#[test]
fn cli_profile_prints_apple_and_google_profiles() {
    let out = mailconf()
        .args([
            "profile",
            "taro.yamada@kyoto-u.ac.jp",
            "--name",
            "山田 太郎",
        ])
        .args(["--format", "apple", "--protocol", "imap"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let top = check_profile(&out.stdout);
    assert_eq!(s(payload(&top), "EmailAccountType"), "EmailTypeIMAP");

    let out = mailconf()
        .args([
            "profile",
            "taro.yamada@kyoto-u.ac.jp",
            "--format",
            "apple-google",
        ])
        .output()
        .unwrap();
    assert!(out.status.success());
    let top = check_profile(&out.stdout);
    assert_eq!(s(payload(&top), "PayloadType"), "com.apple.google-oauth");
}

#[test]
fn cli_signed_profile_and_google_beside_it() {
    let files = SignFiles::new();
    let out_path = files.path("taro.mobileconfig");
    let out = mailconf()
        .args(["profile", "taro.yamada@kyoto-u.ac.jp", "--format", "apple"])
        .arg("--sign-cert")
        .arg(files.path("cert.pem"))
        .arg("--sign-key")
        .arg(files.path("key.pem"))
        .arg("--sign-chain")
        .arg(files.path("chain.pem"))
        .arg("--apple-google-account")
        .arg("-o")
        .arg(&out_path)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let content = verify_cms(&std::fs::read(&out_path).unwrap());
    check_profile(&content);
    let google = verify_cms(&std::fs::read(files.path("taro-google.mobileconfig")).unwrap());
    assert_eq!(
        s(payload(&check_profile(&google)), "PayloadType"),
        "com.apple.google-oauth"
    );
    if let Some(c) = openssl_verify(&out_path) {
        assert_eq!(c, content);
    }
}

#[test]
fn cli_bad_signing_inputs_exit_1_and_write_nothing() {
    let files = SignFiles::new();
    let roster = roster(files.dir.path());
    for (cert, key, expect) in [
        ("cert.pem", "garbage.pem", "not an RSA private key"),
        (
            "cert.pem",
            "other-key.pem",
            "does not belong to the certificate",
        ),
        ("expired.pem", "key.pem", "expired on"),
    ] {
        let zip = files.path("out.zip");
        let out = mailconf()
            .arg("bundle")
            .arg(&roster)
            .arg("-o")
            .arg(&zip)
            .arg("--sign-cert")
            .arg(files.path(cert))
            .arg("--sign-key")
            .arg(files.path(key))
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(1), "{cert} {key}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains(expect), "{stderr}");
        assert!(!zip.exists());
        let one = files.path("one.mobileconfig");
        let out = mailconf()
            .args(["profile", "hanako@kyoto-u.ac.jp", "--format", "apple", "-o"])
            .arg(&one)
            .arg("--sign-cert")
            .arg(files.path(cert))
            .arg("--sign-key")
            .arg(files.path(key))
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(1));
        assert!(!one.exists());
    }
    // Nothing partial left beside the targets either.
    let left: Vec<_> = std::fs::read_dir(files.dir.path())
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains("partial"))
        .collect();
    assert!(left.is_empty(), "{left:?}");
}

#[test]
fn cli_p12_needs_the_password_variable() {
    let files = SignFiles::new();
    std::fs::write(files.path("id.p12"), b"not read").unwrap();
    let out = mailconf()
        .args(["profile", "hanako@kyoto-u.ac.jp", "--format", "apple"])
        .arg("--sign-p12")
        .arg(files.path("id.p12"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("MAILCONF_P12_PASSWORD"));
}

#[test]
fn cli_bundle_has_signed_apple_profiles_listed_in_the_manifest() {
    let files = SignFiles::new();
    let roster = roster(files.dir.path());
    let zip_path = files.path("dept.zip");
    let out = mailconf()
        .arg("bundle")
        .arg(&roster)
        .arg("-o")
        .arg(&zip_path)
        .arg("--apple-google-account")
        .arg("--sign-cert")
        .arg(files.path("cert.pem"))
        .arg("--sign-key")
        .arg(files.path("key.pem"))
        .arg("--sign-chain")
        .arg(files.path("chain.pem"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut zip = zip::ZipArchive::new(std::fs::File::open(&zip_path).unwrap()).unwrap();
    let mut read = |name: &str| {
        use std::io::Read;
        let mut bytes = Vec::new();
        zip.by_name(name)
            .unwrap_or_else(|_| panic!("{name} in the zip"))
            .read_to_end(&mut bytes)
            .unwrap();
        bytes
    };
    let manifest = String::from_utf8(read("dept/manifest.csv")).unwrap();
    for who in ["taro.yamada@kyoto-u.ac.jp", "hanako@kyoto-u.ac.jp"] {
        for file in [
            format!("{who}.mobileconfig"),
            format!("{who}-google.mobileconfig"),
        ] {
            let path = format!("users/{who}/{file}");
            assert!(manifest.contains(&path), "{path} in the manifest");
            let content = verify_cms(&read(&format!("dept/{path}")));
            let top = check_profile(&content);
            assert_eq!(
                s(
                    top["PayloadContent"].as_array().unwrap()[0]
                        .as_dictionary()
                        .unwrap(),
                    "EmailAddress"
                ),
                who
            );
        }
    }
}

#[test]
fn cli_p12_signs_like_the_pem_files() {
    let pki = pki();
    let files = SignFiles::new();
    let key = p12_keystore::PrivateKey::from_der(pki.signer_key.to_pkcs8_der().unwrap().as_bytes())
        .unwrap();
    let certs = [&pki.signer, &pki.intermediate, &pki.root]
        .map(|c| p12_keystore::Certificate::from_der(&c.to_der().unwrap()).unwrap());
    let mut store = p12_keystore::KeyStore::new();
    store.add_entry(
        "profiles",
        p12_keystore::KeyStoreEntry::PrivateKeyChain(p12_keystore::PrivateKeyChain::new(
            vec![1u8],
            key,
            certs,
        )),
    );
    // Test-only password for a key generated a moment ago.
    let password = "test-only";
    std::fs::write(
        files.path("id.p12"),
        store.writer(password).write().unwrap(),
    )
    .unwrap();
    let run = |args: &[&str], password: Option<&str>| {
        let mut cmd = mailconf();
        cmd.args(["profile", "hanako@kyoto-u.ac.jp", "--format", "apple"])
            .args(args);
        if let Some(p) = password {
            cmd.env(mailconf::sign::P12_PASSWORD_ENV, p);
        }
        cmd.output().unwrap()
    };
    let p12 = files.path("id.p12");
    let p12 = p12.to_str().unwrap();
    let out = run(&["--sign-p12", p12], Some(password));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let (cert, key) = (files.path("cert.pem"), files.path("key.pem"));
    let pem = run(
        &[
            "--sign-cert",
            cert.to_str().unwrap(),
            "--sign-key",
            key.to_str().unwrap(),
            "--sign-chain",
            files.path("chain.pem").to_str().unwrap(),
        ],
        None,
    );
    assert!(pem.status.success());
    assert_eq!(out.stdout, pem.stdout, "same identity, same signed bytes");
    verify_cms(&out.stdout);

    let wrong = run(&["--sign-p12", p12], Some("not the password"));
    assert_eq!(wrong.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&wrong.stderr).contains("wrong password"));
}

/// Keys that ring refused and AWS-LC signs with: public exponent 3, and more than 4096 bits (both
/// made by openssl). The profile is signed, openssl verifies it, and the content is the unsigned
/// profile byte for byte.
#[test]
fn keys_ring_refused_exponent_3_and_over_4096_bits_sign_and_verify() {
    if !openssl_available() {
        println!("note: no openssl command; skipping the exponent-3 and 4608-bit key test");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let unsigned = dir.path().join("unsigned.mobileconfig");
    let status = mailconf()
        .args(["profile", "a@kyoto-u.ac.jp", "--format", "apple", "-o"])
        .arg(&unsigned)
        .status()
        .unwrap();
    assert!(status.success());
    let unsigned = std::fs::read(&unsigned).unwrap();
    for (name, bits, exponent) in [("e3", 2048, 3), ("big", 4608, 65537)] {
        let key = dir.path().join(format!("{name}.pem"));
        let cert = dir.path().join(format!("{name}.crt"));
        let ok = Command::new("openssl")
            .args(["genpkey", "-algorithm", "RSA", "-pkeyopt"])
            .arg(format!("rsa_keygen_bits:{bits}"))
            .arg("-pkeyopt")
            .arg(format!("rsa_keygen_pubexp:{exponent}"))
            .arg("-out")
            .arg(&key)
            .output()
            .unwrap()
            .status
            .success()
            && Command::new("openssl")
                .args([
                    "req",
                    "-x509",
                    "-subj",
                    "/CN=ring-refused",
                    "-days",
                    "2",
                    "-key",
                ])
                .arg(&key)
                .arg("-out")
                .arg(&cert)
                .output()
                .unwrap()
                .status
                .success();
        if !ok {
            println!("note: openssl could not make the {name} key; skipping it");
            continue;
        }
        let out = dir.path().join(format!("{name}.mobileconfig"));
        let output = mailconf()
            .args([
                "profile",
                "a@kyoto-u.ac.jp",
                "--format",
                "apple",
                "--sign-cert",
            ])
            .arg(&cert)
            .arg("--sign-key")
            .arg(&key)
            .arg("-o")
            .arg(&out)
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "{name}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        let signed = std::fs::read(&out).unwrap();
        let sd: SignedData = ContentInfo::from_der(&signed)
            .unwrap()
            .content
            .decode_as()
            .unwrap();
        let si = sd.signer_infos.0.iter().next().unwrap();
        assert_eq!(si.signature.as_bytes().len() * 8, bits, "{name}");
        let content = openssl_verify(&out).expect("openssl exists");
        assert_eq!(content, unsigned, "{name}");
    }
}
