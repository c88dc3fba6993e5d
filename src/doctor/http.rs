//! HTTP(S) as a mail client meets it: one connection per request, to the address DNS gives (or
//! `--connect-to`'s), TLS by rustls with the usual roots (or `--ca-file`'s), the server's
//! certificate kept for the report, redirects followed one hop at a time so that each is seen.

use std::net::{IpAddr, SocketAddr};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::header::{self, HeaderValue};
use hyper::{Method, Request};
use hyper_util::rt::TokioIo;
use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{CertificateError, DigitallySignedStruct, RootCertStore, SignatureScheme};
use tokio::net::TcpStream;
use url::Url;

use super::dns::{Dns, DnsError};
use super::{ConnectTo, Deadline};

/// The largest body read; an autoconfig file or an Autodiscover answer is a few kB.
const MAX_BODY: usize = 1024 * 1024;
/// Redirects followed before giving up (Thunderbird's XMLHttpRequest follows 20; a lookup that
/// needs more than a few is broken anyway).
pub const MAX_REDIRECTS: usize = 5;

/// An answer.
#[derive(Debug, Clone)]
pub struct Response {
    pub status: u16,
    /// `Content-Type`, as sent.
    pub content_type: Option<String>,
    pub location: Option<String>,
    pub body: Bytes,
    /// The server's certificate, over https.
    pub cert: Option<Cert>,
}

impl Response {
    /// The media type without parameters, lower-case ("text/xml").
    pub fn media_type(&self) -> String {
        self.content_type
            .as_deref()
            .unwrap_or("")
            .split(';')
            .next()
            .unwrap_or("")
            .trim()
            .to_ascii_lowercase()
    }

    pub fn is_redirect(&self) -> bool {
        matches!(self.status, 301 | 302 | 303 | 307 | 308)
    }
}

/// What a server's certificate says, for the report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cert {
    /// The DNS names it is for (subject alternative names, or the subject's CN without them).
    pub names: Vec<String>,
    pub issuer: String,
    pub not_after: SystemTime,
}

/// Why a request got no HTTP answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FetchError {
    /// The host's name gave no address.
    Dns(DnsError),
    /// Nothing listens (every address refused the connection).
    Refused(String),
    /// No answer in time.
    Timeout,
    /// The TLS handshake failed on the certificate.
    Certificate {
        problem: CertProblem,
        cert: Option<Cert>,
    },
    /// Another failure (TLS without a certificate problem, HTTP, I/O).
    Failed(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CertProblem {
    /// Not signed by a trusted root (or the chain is incomplete).
    Untrusted,
    /// For other names than the host.
    WrongName,
    Expired,
    NotYetValid,
    Other(String),
}

/// One request.
#[derive(Debug, Clone)]
pub struct Ask {
    pub method: Method,
    pub url: Url,
    /// A POST's body, sent as `text/xml`.
    pub body: Option<String>,
}

impl Ask {
    pub fn get(url: Url) -> Ask {
        Ask {
            method: Method::GET,
            url,
            body: None,
        }
    }

    pub fn post_xml(url: Url, body: String) -> Ask {
        Ask {
            method: Method::POST,
            url,
            body: Some(body),
        }
    }
}

/// One hop of a request and its redirects.
#[derive(Debug, Clone)]
pub struct Hop {
    pub url: Url,
    pub answer: Result<Response, FetchError>,
}

/// The HTTP client of one run.
pub struct Http {
    dns: Arc<Dns>,
    verifier: Arc<WebPkiServerVerifier>,
    provider: Arc<rustls::crypto::CryptoProvider>,
    connect_to: Vec<ConnectTo>,
    deadline: Deadline,
}

impl Http {
    /// A client trusting `ca_file`'s certificates, or Mozilla's roots without it.
    pub fn new(
        dns: Arc<Dns>,
        ca_file: Option<&Path>,
        connect_to: Vec<ConnectTo>,
        deadline: Deadline,
    ) -> Result<Http, String> {
        let mut roots = RootCertStore::empty();
        match ca_file {
            None => roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned()),
            Some(path) => {
                let shown = path.display();
                let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(path)
                    .and_then(|certs| certs.collect())
                    .map_err(|e| format!("--ca-file {shown}: cannot read PEM certificates: {e}"))?;
                if certs.is_empty() {
                    return Err(format!(
                        "--ca-file {shown}: no certificate in it: give a PEM file of CA certificates (-----BEGIN CERTIFICATE-----)"
                    ));
                }
                for cert in certs {
                    roots.add(cert).map_err(|e| {
                        format!("--ca-file {shown}: a certificate cannot be used as a root: {e}")
                    })?;
                }
            }
        }
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let verifier =
            WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider.clone())
                .build()
                .map_err(|e| format!("cannot set up certificate checks: {e}"))?;
        Ok(Http {
            dns,
            verifier,
            provider,
            connect_to,
            deadline,
        })
    }

    /// Sends `ask` and follows redirects (a POST stays a POST to the new URL, as Outlook does;
    /// only http and https); every hop, the last one's answer last.
    pub async fn follow(&self, ask: Ask) -> Vec<Hop> {
        let mut hops = Vec::new();
        let mut ask = ask;
        loop {
            let answer = self.send(&ask).await;
            let next = match &answer {
                Ok(r) if r.is_redirect() && hops.len() < MAX_REDIRECTS => r
                    .location
                    .as_deref()
                    .and_then(|l| ask.url.join(l).ok())
                    .filter(|u| matches!(u.scheme(), "http" | "https")),
                _ => None,
            };
            hops.push(Hop {
                url: ask.url.clone(),
                answer,
            });
            match next {
                Some(url) => ask.url = url,
                None => return hops,
            }
        }
    }

    /// One request, no redirect followed.
    pub async fn send(&self, ask: &Ask) -> Result<Response, FetchError> {
        match self.deadline.run(self.exchange(ask)).await {
            Some(result) => result,
            None => Err(FetchError::Timeout),
        }
    }

    async fn exchange(&self, ask: &Ask) -> Result<Response, FetchError> {
        let url = &ask.url;
        let host = url
            .host_str()
            .ok_or_else(|| FetchError::Failed(format!("{url} has no host")))?
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_string();
        let https = url.scheme() == "https";
        let port = url.port_or_known_default().unwrap_or(443);
        let tcp = self.connect(&host, port).await?;
        let (status, content_type, location, body, cert) = if https {
            let seen = Arc::new(Mutex::new(None));
            let verifier = Recording {
                inner: self.verifier.clone(),
                seen: seen.clone(),
            };
            let config = rustls::ClientConfig::builder_with_provider(self.provider.clone())
                .with_safe_default_protocol_versions()
                .map_err(|e| FetchError::Failed(e.to_string()))?
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(verifier))
                .with_no_client_auth();
            let name = ServerName::try_from(host.clone())
                .map_err(|_| FetchError::Failed(format!("{host} is not a server name")))?;
            let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
            let stream = connector.connect(name, tcp).await;
            let cert = seen
                .lock()
                .ok()
                .and_then(|s| s.clone())
                .and_then(|der: CertificateDer<'static>| read_cert(&der));
            let stream = stream.map_err(|e| tls_error(e, cert.clone()))?;
            let (status, content_type, location, body) = request(stream, ask, &host, url).await?;
            (status, content_type, location, body, cert)
        } else {
            let (status, content_type, location, body) = request(tcp, ask, &host, url).await?;
            (status, content_type, location, body, None)
        };
        Ok(Response {
            status,
            content_type,
            location,
            body,
            cert,
        })
    }

    /// A connection to `host:port`, or where `--connect-to` sends it.
    async fn connect(&self, host: &str, port: u16) -> Result<TcpStream, FetchError> {
        let (host, port) = match self.connect_to.iter().find(|c| c.matches(host, port)) {
            Some(c) => c.target(host, port),
            None => (host.to_string(), port),
        };
        let addresses = match host.parse::<IpAddr>() {
            Ok(ip) => vec![ip],
            Err(_) => self.dns.addresses(&host).await.map_err(FetchError::Dns)?,
        };
        let mut last = String::new();
        for ip in addresses {
            let address = SocketAddr::new(ip, port);
            match TcpStream::connect(address).await {
                Ok(stream) => return Ok(stream),
                Err(e) => last = format!("{address}: {e}"),
            }
        }
        Err(FetchError::Refused(last))
    }
}

type Answer = (u16, Option<String>, Option<String>, Bytes);

/// Sends `ask` over `io` (HTTP/1.1, `Connection: close`) and reads the answer.
async fn request<S>(io: S, ask: &Ask, host: &str, url: &Url) -> Result<Answer, FetchError>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let failed = |what: &str, e: &dyn std::fmt::Display| FetchError::Failed(format!("{what}: {e}"));
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(io))
        .await
        .map_err(|e| failed("HTTP", &e))?;
    tokio::spawn(async move {
        let _ = connection.await;
    });
    let host_header = match url.port() {
        Some(port) => format!("{host}:{port}"),
        None => host.to_string(),
    };
    let target = match url.query() {
        Some(query) => format!("{}?{query}", url.path()),
        None => url.path().to_string(),
    };
    let mut builder = Request::builder()
        .method(ask.method.clone())
        .uri(target)
        .header(header::HOST, host_header)
        .header(
            header::USER_AGENT,
            concat!("mailconf-doctor/", env!("CARGO_PKG_VERSION")),
        )
        .header(
            header::ACCEPT,
            "application/xml,text/xml,application/json,*/*",
        )
        .header(header::CONNECTION, "close");
    if ask.body.is_some() {
        builder = builder.header(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/xml; charset=utf-8"),
        );
    }
    let body = Full::new(Bytes::from(ask.body.clone().unwrap_or_default()));
    let request = builder.body(body).map_err(|e| failed("request", &e))?;
    let response = sender
        .send_request(request)
        .await
        .map_err(|e| failed("HTTP", &e))?;
    let header_text = |name: header::HeaderName| {
        response
            .headers()
            .get(name)
            .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
    };
    let status = response.status().as_u16();
    let content_type = header_text(header::CONTENT_TYPE);
    let location = header_text(header::LOCATION);
    let body = Limited::new(response.into_body(), MAX_BODY)
        .collect()
        .await
        .map_err(|e| failed("reading the answer", &e))?
        .to_bytes();
    Ok((status, content_type, location, body))
}

/// A TLS failure, told by what was wrong with the certificate when it was that.
fn tls_error(e: std::io::Error, cert: Option<Cert>) -> FetchError {
    let tls = e
        .get_ref()
        .and_then(|inner| inner.downcast_ref::<rustls::Error>());
    let problem = match tls {
        Some(rustls::Error::InvalidCertificate(c)) => match c {
            CertificateError::UnknownIssuer
            | CertificateError::BadSignature
            | CertificateError::UnhandledCriticalExtension
            | CertificateError::InvalidPurpose => CertProblem::Untrusted,
            CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. } => {
                CertProblem::WrongName
            }
            CertificateError::Expired | CertificateError::ExpiredContext { .. } => {
                CertProblem::Expired
            }
            CertificateError::NotValidYet | CertificateError::NotValidYetContext { .. } => {
                CertProblem::NotYetValid
            }
            other => CertProblem::Other(format!("{other:?}")),
        },
        Some(other) => return FetchError::Failed(format!("TLS: {other}")),
        None => return FetchError::Failed(format!("TLS: {e}")),
    };
    FetchError::Certificate { problem, cert }
}

/// The verifier of the usual checks, keeping the server's certificate for the report.
#[derive(Debug)]
struct Recording {
    inner: Arc<WebPkiServerVerifier>,
    seen: Arc<Mutex<Option<CertificateDer<'static>>>>,
}

impl ServerCertVerifier for Recording {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        if let Ok(mut seen) = self.seen.lock() {
            *seen = Some(end_entity.clone().into_owned());
        }
        self.inner
            .verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now)
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}

/// The names, issuer and end of a certificate; `None` if it cannot be read.
fn read_cert(der: &CertificateDer<'_>) -> Option<Cert> {
    use der::Decode;
    use x509_cert::ext::pkix::SubjectAltName;
    use x509_cert::ext::pkix::name::GeneralName;
    let cert = x509_cert::Certificate::from_der(der.as_ref()).ok()?;
    let tbs = cert.tbs_certificate();
    let mut names: Vec<String> = match tbs.get_extension::<SubjectAltName>() {
        Ok(Some((_, san))) => san
            .0
            .iter()
            .filter_map(|name| match name {
                GeneralName::DnsName(dns) => Some(dns.to_string()),
                GeneralName::IpAddress(ip) => match ip.as_bytes().len() {
                    4 => <[u8; 4]>::try_from(ip.as_bytes())
                        .ok()
                        .map(|b| IpAddr::from(b).to_string()),
                    16 => <[u8; 16]>::try_from(ip.as_bytes())
                        .ok()
                        .map(|b| IpAddr::from(b).to_string()),
                    _ => None,
                },
                _ => None,
            })
            .collect(),
        _ => Vec::new(),
    };
    if names.is_empty() {
        names.push(common_name(tbs.subject()).unwrap_or_else(|| tbs.subject().to_string()));
    }
    let issuer = common_name(tbs.issuer()).unwrap_or_else(|| tbs.issuer().to_string());
    Some(Cert {
        names,
        issuer,
        not_after: tbs.validity().not_after.to_system_time(),
    })
}

/// The CN of a distinguished name.
fn common_name(name: &x509_cert::name::Name) -> Option<String> {
    name.to_string()
        .split(',')
        .find_map(|part| part.trim().strip_prefix("CN=").map(str::to_string))
}
