//! `mailconf serve`: the bundle's files over HTTP, rendered per request by the same renderers
//! from the same provider file, for mail clients that look their settings up (Thunderbird's
//! autoconfig, Outlook's Autodiscover) and for people, who get a page of their own.
//!
//! A request is an edge like a roster row: its address and name are validated into the same
//! types ([`crate::input::account`]), then rendered as in a bundle. The server holds no state but
//! the provider and the signer, so it can run as replicas behind any load balancer.
//!
//! - [`config`]: what the server was asked to do, and what stops it before it listens;
//! - [`net`]: the listener (HTTP, or HTTPS with rustls), limits against slow and greedy clients,
//!   the access log, and the graceful stop on SIGINT/SIGTERM; [`conn`]: how long a connection
//!   may stay without a request, and when it is closed;
//! - [`app`]: the routes and their answers;
//! - [`request`] and [`reply`]: reading a request's parameters, and the header fields of each
//!   kind of answer, shared by the routes and the IT-staff page;
//! - [`page`]: the self-service pages (the form, and the person's guide);
//! - [`pox`]: reading Outlook's Autodiscover request;
//! - [`admin`]: the IT-staff page (`--admin-htpasswd`): a roster in, the department's zip out,
//!   behind a sign-in against an htpasswd file ([`htpasswd`]).
//!
//! Imports go one way: `net` → `conn`, `app` → `admin` → `reply`, `request`, `page`, `htpasswd`; nothing
//! imports back up.

mod admin;
mod app;
mod config;
mod conn;
mod htpasswd;
mod net;
mod page;
mod pox;
mod reply;
mod request;

use std::sync::Arc;

use crate::diagnostic;

pub use config::{Config, ServeError, TlsFiles};

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
                || config.listen.ip().to_canonical().is_loopback()
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
    net::raise_file_limit();
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
        diagnostic::note(format_args!("serving on {scheme}://{local} (Ctrl-C stops)"));
        let quiet = config.quiet;
        let app = Arc::new(app::App::new(config, admin_users));
        net::serve(app, listener, tls, quiet).await;
        diagnostic::note("stopped");
        Ok(())
    })
}
