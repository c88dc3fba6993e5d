//! `mailconf serve`: the bundle's files over HTTP, rendered per request by the same renderers
//! from the same provider file, for mail clients that look their settings up (Thunderbird's
//! autoconfig, Outlook's Autodiscover) and for people, who get a page of their own.
//!
//! A request is an edge like a roster row: its address and name are validated into the same
//! types ([`crate::input::account`]), then rendered as in a bundle. The server holds no state but
//! the provider and the signer, so it can run as replicas behind any load balancer.
//!
//! - [`net`]: the listener (HTTP, or HTTPS with rustls), limits against slow and greedy clients,
//!   the access log, and the graceful stop on SIGINT/SIGTERM;
//! - [`app`]: the routes and their answers;
//! - [`page`]: the self-service pages (the form, and the person's guide);
//! - [`pox`]: reading Outlook's Autodiscover request;
//! - [`admin`]: the IT-staff page (`--admin-htpasswd`): a roster in, the department's zip out,
//!   behind a sign-in against an htpasswd file ([`htpasswd`]).

mod admin;
mod app;
mod htpasswd;
mod net;
mod page;
mod pox;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

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
    fn tls(path: &Path, message: impl Into<String>) -> ServeError {
        ServeError::Tls {
            path: path.to_path_buf(),
            message: message.into(),
        }
    }
}

/// Checks the TLS files, listens, and serves until SIGINT or SIGTERM; then stops accepting,
/// lets the requests in flight finish, and returns.
pub fn run(config: Config) -> Result<(), ServeError> {
    let tls = match &config.tls {
        Some(files) => Some(net::tls_acceptor(files)?),
        None => None,
    };
    let admin_users = match &config.admin_htpasswd {
        Some(path) => {
            // Basic credentials are in clear but for TLS: ours, a proxy's (a public URL is always
            // https://), or a hop that never leaves the machine.
            let safe = config.tls.is_some()
                || config.listen.ip().is_loopback()
                || config.public_url.is_some();
            if !safe {
                return Err(ServeError::AdminInClear {
                    listen: config.listen,
                });
            }
            Some(htpasswd::Watched::open(path)?)
        }
        None => None,
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(ServeError::Runtime)?;
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind(config.listen)
            .await
            .map_err(|source| ServeError::Bind {
                addr: config.listen,
                source,
            })?;
        let local = listener.local_addr().map_err(ServeError::Runtime)?;
        let scheme = if tls.is_some() { "https" } else { "http" };
        eprintln!("mailconf: serving on {scheme}://{local} (Ctrl-C stops)");
        let quiet = config.quiet;
        let app = Arc::new(app::App::new(config, admin_users));
        net::serve(app, listener, tls, quiet).await;
        eprintln!("mailconf: stopped");
        Ok(())
    })
}
