//! The server's network side: accepting connections (TLS by rustls when configured), HTTP/1.1
//! and HTTP/2 by hyper, the limits that keep one client from holding the server (each
//! connection watched by [`super::conn`]), one access-log line per request, and the stop on
//! SIGINT/SIGTERM that closes idle connections at once and lets requests in flight finish.

use std::convert::Infallible;
use std::io::Write;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::BodyExt;
use hyper::body::{Body as _, Frame, Incoming, SizeHint};
use hyper::service::service_fn;
use hyper::{Method, Request, Response};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio::net::TcpListener;
use tokio::sync::{Semaphore, watch};
use tokio_rustls::TlsAcceptor;

use super::app::App;
use super::config::{ServeError, TlsFiles};
use super::conn::{self, Activity, InFlight, Watched};
use super::reply::Body;

/// Connections served at once; more wait in the kernel's queue.
const MAX_CONNECTIONS: usize = 4096;
/// A client must send its request's headers, and finish a TLS handshake, within this time once
/// it has begun: a slow client that never finishes is dropped instead of holding a connection.
pub const HEADER_TIMEOUT: Duration = Duration::from_secs(10);
/// How long requests in flight may take to finish once a stop is asked for.
const STOP_GRACE: Duration = Duration::from_secs(30);
/// File descriptors the server wants: one per connection, and some for itself.
const WANTED_FILES: u64 = MAX_CONNECTIONS as u64 + 256;

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

/// Raises the soft limit on open files towards [`WANTED_FILES`], as far as the hard limit
/// allows: systemd starts services with a soft limit of 1,024 (and a far higher hard one),
/// expecting a server that needs more to raise it itself.
pub fn raise_file_limit() {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit and setrlimit only read and write the struct given.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) != 0 || limit.rlim_cur >= WANTED_FILES {
            return;
        }
        limit.rlim_cur = WANTED_FILES.min(limit.rlim_max);
        libc::setrlimit(libc::RLIMIT_NOFILE, &limit);
    }
}

/// Serves `listener` until SIGINT or SIGTERM.
pub async fn serve(app: Arc<App>, listener: TcpListener, tls: Option<TlsAcceptor>, quiet: bool) {
    let permits = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(HEADER_TIMEOUT)
        // A client may shut its sending side once its request is sent: it still gets the answer.
        .half_close(true)
        .max_buf_size(64 * 1024);
    builder
        .http2()
        .timer(TokioTimer::new())
        .max_concurrent_streams(64)
        .max_header_list_size(64 * 1024);
    let builder = Arc::new(builder);
    let (stopped, stop) = watch::channel(false);
    let signal = stop_signal();
    tokio::pin!(signal);
    loop {
        // A free slot first: while every slot is taken, connections wait in the kernel's queue.
        let permit = tokio::select! {
            permit = permits.clone().acquire_owned() => match permit {
                Ok(permit) => permit,
                Err(_) => break,
            },
            () = &mut signal => break,
        };
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                // Out of file descriptors and the like: wait a little rather than spin.
                Err(_) => {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut signal => break,
        };
        let _ = stream.set_nodelay(true);
        let app = app.clone();
        let builder = builder.clone();
        let tls = tls.clone();
        let stop = stop.clone();
        tokio::spawn(async move {
            let activity = Activity::new();
            let service = {
                let activity = activity.clone();
                service_fn(move |req: Request<Incoming>| {
                    let app = app.clone();
                    let in_flight = activity.begin();
                    async move { Ok::<_, Infallible>(answer(&app, req, peer, quiet, in_flight).await) }
                })
            };
            let stream = Watched::new(stream, activity.clone());
            match tls {
                Some(acceptor) => {
                    let mut stop_now = stop.clone();
                    let handshake = tokio::time::timeout(HEADER_TIMEOUT, acceptor.accept(stream));
                    let stream = tokio::select! {
                        done = handshake => match done {
                            Ok(Ok(stream)) => stream,
                            _ => return,
                        },
                        _ = stop_now.wait_for(|stopped| *stopped) => return,
                    };
                    let conn = builder.serve_connection(TokioIo::new(stream), service);
                    conn::drive(conn, &activity, stop).await;
                }
                None => {
                    let conn = builder.serve_connection(TokioIo::new(stream), service);
                    conn::drive(conn, &activity, stop).await;
                }
            }
            drop(permit);
        });
    }
    drop(listener);
    let _ = stopped.send(true);
    // Every connection gives its slot back when it ends.
    let _ = tokio::time::timeout(STOP_GRACE, permits.acquire_many(MAX_CONNECTIONS as u32)).await;
}

/// Answers one request. Its access-log line (method, path with addresses replaced, status,
/// bytes, milliseconds) is written at once when the answer's length is known, else when its
/// body ends. The query string, which holds addresses and names, and the client's address are
/// never written.
async fn answer(
    app: &App,
    req: Request<Incoming>,
    peer: std::net::SocketAddr,
    quiet: bool,
    in_flight: InFlight,
) -> Response<Tracked> {
    let started = Instant::now();
    let method = req.method().clone();
    let (response, logged_path) = app.handle(req.map(BodyExt::boxed), peer).await;
    let line = (!quiet).then(|| LogLine {
        method,
        path: logged_path,
        status: response.status().as_u16(),
        started,
    });
    let (parts, body) = response.into_parts();
    let mut tracked = Tracked {
        body,
        sent: 0,
        line,
        _in_flight: in_flight,
    };
    if let Some(len) = tracked.body.size_hint().exact() {
        tracked.sent = len;
        tracked.log();
    }
    Response::from_parts(parts, tracked)
}

/// An access-log line waiting for its answer's end.
struct LogLine {
    method: Method,
    path: String,
    status: u16,
    started: Instant,
}

/// An answer's body as sent: it counts the bytes, writes the access-log line at its end (or
/// when it is dropped, cut off), and keeps its request in flight until then.
struct Tracked {
    body: Body,
    sent: u64,
    line: Option<LogLine>,
    _in_flight: InFlight,
}

impl Tracked {
    fn log(&mut self) {
        if let Some(line) = self.line.take() {
            let text = format!(
                "{} {} {} {} {:.1}ms\n",
                line.method,
                line.path,
                line.status,
                self.sent,
                line.started.elapsed().as_secs_f64() * 1000.0
            );
            let _ = std::io::stderr().lock().write_all(text.as_bytes());
        }
    }
}

impl hyper::body::Body for Tracked {
    type Data = Bytes;
    type Error = std::io::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, std::io::Error>>> {
        let this = self.get_mut();
        let polled = Pin::new(&mut this.body).poll_frame(cx);
        match &polled {
            Poll::Ready(Some(Ok(frame))) => {
                if this.line.is_some()
                    && let Some(data) = frame.data_ref()
                {
                    this.sent += data.len() as u64;
                }
            }
            Poll::Ready(_) => this.log(),
            Poll::Pending => {}
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}

impl Drop for Tracked {
    fn drop(&mut self) {
        self.log();
    }
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
