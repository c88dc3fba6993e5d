//! The server's network side: accepting connections (TLS by rustls when configured), HTTP/1.1
//! and HTTP/2 by hyper, the limits that keep one client from holding the server, one access-log
//! line per request, and the stop on SIGINT/SIGTERM that lets requests in flight finish.

use std::convert::Infallible;
use std::io::Write;
use std::sync::Arc;
use std::time::{Duration, Instant};

use hyper::Request;
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio_rustls::TlsAcceptor;

use super::app::App;
use super::config::{ServeError, TlsFiles};
use super::reply::Reply;

/// Connections served at once; more wait in the kernel's queue.
const MAX_CONNECTIONS: usize = 4096;
/// A client must send its request's headers (and finish a TLS handshake) within this time: a
/// slow client that never finishes is dropped instead of holding a connection.
pub const HEADER_TIMEOUT: Duration = Duration::from_secs(10);
/// How long requests in flight may take to finish once a stop is asked for.
const STOP_GRACE: Duration = Duration::from_secs(30);

/// Loads and checks the certificate chain and key for HTTPS.
pub fn tls_acceptor(files: &TlsFiles) -> Result<TlsAcceptor, ServeError> {
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(&files.cert)
        .and_then(|certs| certs.collect())
        .map_err(|e| {
            ServeError::tls(
                &files.cert,
                format!("cannot read the TLS certificate (PEM): {e}"),
            )
        })?;
    if certs.is_empty() {
        return Err(ServeError::tls(
            &files.cert,
            "holds no certificate (-----BEGIN CERTIFICATE-----): give the server's certificate \
             in PEM, followed by its chain",
        ));
    }
    check_dates(&files.cert, &certs[0])?;
    let key = PrivateKeyDer::from_pem_file(&files.key).map_err(|e| {
        ServeError::tls(
            &files.key,
            format!("cannot read the TLS private key (unencrypted PEM): {e}"),
        )
    })?;
    let mut config = rustls::ServerConfig::builder()
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| {
            ServeError::tls(
                &files.key,
                format!(
                    "does not go with the certificate {}: {e}",
                    files.cert.display()
                ),
            )
        })?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(TlsAcceptor::from(Arc::new(config)))
}

/// Refuses a certificate that is expired or not yet valid: clients would refuse it anyway.
fn check_dates(path: &std::path::Path, cert: &CertificateDer<'_>) -> Result<(), ServeError> {
    use der::Decode;
    let parsed = x509_cert::Certificate::from_der(cert.as_ref())
        .map_err(|e| ServeError::tls(path, format!("the certificate cannot be read: {e}")))?;
    let validity = &parsed.tbs_certificate().validity();
    let now = std::time::SystemTime::now();
    let (from, until) = (
        validity.not_before.to_system_time(),
        validity.not_after.to_system_time(),
    );
    if now < from || now > until {
        return Err(ServeError::tls(
            path,
            format!(
                "the certificate is valid from {} to {}, not now: renew it",
                validity.not_before, validity.not_after
            ),
        ));
    }
    Ok(())
}

/// Serves `listener` until SIGINT or SIGTERM.
pub async fn serve(app: Arc<App>, listener: TcpListener, tls: Option<TlsAcceptor>, quiet: bool) {
    let graceful = GracefulShutdown::new();
    let permits = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(HEADER_TIMEOUT)
        .max_buf_size(64 * 1024);
    builder
        .http2()
        .timer(TokioTimer::new())
        .max_concurrent_streams(64)
        .max_header_list_size(64 * 1024);
    let builder = Arc::new(builder);
    let stop = stop_signal();
    tokio::pin!(stop);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                // Out of file descriptors and the like: wait a little rather than spin.
                Err(_) => {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut stop => break,
        };
        let Ok(permit) = permits.clone().acquire_owned().await else {
            break;
        };
        let _ = stream.set_nodelay(true);
        let app = app.clone();
        let builder = builder.clone();
        let watcher = graceful.watcher();
        let tls = tls.clone();
        tokio::spawn(async move {
            let service = service_fn(move |req: Request<Incoming>| {
                let app = app.clone();
                async move { Ok::<_, Infallible>(answer(&app, req, peer, quiet).await) }
            });
            match tls {
                Some(acceptor) => {
                    let Ok(Ok(stream)) =
                        tokio::time::timeout(HEADER_TIMEOUT, acceptor.accept(stream)).await
                    else {
                        return;
                    };
                    let conn = builder.serve_connection(TokioIo::new(stream), service);
                    let _ = watcher.watch(conn.into_owned()).await;
                }
                None => {
                    let conn = builder.serve_connection(TokioIo::new(stream), service);
                    let _ = watcher.watch(conn.into_owned()).await;
                }
            }
            drop(permit);
        });
    }
    drop(listener);
    tokio::select! {
        () = graceful.shutdown() => {}
        () = tokio::time::sleep(STOP_GRACE) => {}
    }
}

/// Answers one request and writes its access-log line: method, path (addresses replaced),
/// status, bytes, milliseconds. The query string, which holds addresses and names, and the
/// client's address are never written.
async fn answer(
    app: &App,
    req: Request<Incoming>,
    peer: std::net::SocketAddr,
    quiet: bool,
) -> Reply {
    let started = Instant::now();
    let method = req.method().clone();
    let (response, logged_path) = app.handle(req, peer).await;
    if !quiet {
        let line = format!(
            "{method} {logged_path} {} {} {:.1}ms\n",
            response.status().as_u16(),
            hyper::body::Body::size_hint(response.body())
                .exact()
                .unwrap_or(0),
            started.elapsed().as_secs_f64() * 1000.0
        );
        let _ = std::io::stderr().lock().write_all(line.as_bytes());
    }
    response
}

/// Resolves on SIGINT (Ctrl-C) or SIGTERM.
async fn stop_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate()).ok();
    let term = async {
        match term.as_mut() {
            Some(term) => {
                term.recv().await;
            }
            None => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        () = term => {}
    }
}
