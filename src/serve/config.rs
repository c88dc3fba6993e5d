//! What `mailconf serve` was asked to do, and what can stop it before it listens.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::htpasswd;
use crate::bundle::zipstream::DosTime;
use crate::input::provider::{Protocol, Provider, Url, WindowsDir};
use crate::render::outlook::PrfEncoding;
use crate::sign::Signer;

/// What `mailconf serve` was asked to do, checked before it listens.
pub struct Config {
    pub listen: SocketAddr,
    pub provider: Provider,
    pub protocol: Option<Protocol>,
    /// Where people and clients reach the server (`--public-url`, else the provider's
    /// `[serve] public_url`): the base of absolute URLs, and of links (its path).
    pub public_url: Option<Url>,
    /// Serve HTTPS with this certificate chain and key (PEM).
    pub tls: Option<TlsFiles>,
    pub signer: Option<Arc<Signer>>,
    pub prf_encoding: PrfEncoding,
    pub prf_dir: Option<WindowsDir>,
    /// The date of the files in a person's zip.
    pub timestamp: DosTime,
    /// No access log.
    pub quiet: bool,
    /// Serve the IT-staff page at `/admin/`, signing in against this htpasswd file.
    pub admin_htpasswd: Option<PathBuf>,
}

/// The TLS certificate (chain) and private key, PEM files.
pub struct TlsFiles {
    pub cert: PathBuf,
    pub key: PathBuf,
}

#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error("{}: {message}", path.display())]
    Tls { path: PathBuf, message: String },
    #[error(
        "cannot listen on {addr}: {source}; if another program uses the port, choose another \
         with --listen ADDRESS:PORT"
    )]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("cannot start the server: {0}")]
    Runtime(std::io::Error),
    #[error(transparent)]
    Htpasswd(#[from] htpasswd::HtpasswdError),
    #[error(
        "--admin-htpasswd: the IT-staff page carries passwords, so it is served only where they \
         cannot travel in clear, and {listen} without TLS is not such a place. Do one of: serve \
         HTTPS with --tls-cert and --tls-key; listen on a loopback address (--listen \
         127.0.0.1:PORT) behind a TLS proxy; or, if a TLS proxy already stands in front of this \
         address, say so with --public-url https://…"
    )]
    AdminInClear { listen: SocketAddr },
}

impl ServeError {
    pub(super) fn tls(path: &Path, message: impl Into<String>) -> ServeError {
        ServeError::Tls {
            path: path.to_path_buf(),
            message: message.into(),
        }
    }
}
