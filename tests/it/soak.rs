//! A bounded soak of `mailconf serve` (issue 20): for a minute (`MAILCONF_SOAK_SECONDS` for
//! longer), ordinary requests at a steady rate beside clients that misbehave all the time:
//! connections that send nothing, requests that trickle in a byte at a time, downloads read a
//! little at a time, and clients that shut their sending side after their request. Ordinary
//! requests keep a p99 under 10 ms, every half-closed request is answered, and the server's
//! memory stays flat.

use crate::common;

use std::io::{Read, Write};
use std::net::{Shutdown, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use common::raw::{self, connect, exchange};
use common::server::Server;

const ADDRESS: &str = "taro.yamada@kyoto-u.ac.jp";

fn soak_seconds() -> u64 {
    std::env::var("MAILCONF_SOAK_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(60)
}

/// Runs `work` on `threads` threads until `stop` is set; each gets its index.
fn spawn_until(
    stop: &Arc<AtomicBool>,
    threads: usize,
    work: impl Fn(usize, &AtomicBool) + Send + Sync + 'static,
) -> Vec<std::thread::JoinHandle<()>> {
    let work = Arc::new(work);
    (0..threads)
        .map(|i| {
            let (stop, work) = (stop.clone(), work.clone());
            std::thread::spawn(move || work(i, &stop))
        })
        .collect()
}

/// Sleeps until `next`, then moves it on by `every`: a steady rate whatever each round took.
fn pace(next: &mut Instant, every: Duration) {
    let now = Instant::now();
    if *next > now {
        std::thread::sleep(*next - now);
    }
    *next += every;
}

#[test]
fn misbehaving_clients_do_not_slow_ordinary_requests_or_grow_memory() {
    raw::raise_file_limit(4_096);
    let seconds = soak_seconds();
    let server = Server::start(&["--quiet"]);
    let port = server.port;
    let pid = server.pid();
    let stop = Arc::new(AtomicBool::new(false));
    let mut handles = Vec::new();

    // 200 connections that send nothing, opened again as the server closes them.
    handles.extend(spawn_until(&stop, 4, move |_, stop| {
        let mut open: Vec<TcpStream> = Vec::new();
        while !stop.load(Ordering::Relaxed) {
            while open.len() < 50 {
                open.push(connect(port));
            }
            // Drop the ones the server has closed (a read of 0 bytes, without waiting).
            open.retain(|s| {
                s.set_nonblocking(true).unwrap();
                let mut byte = [0u8; 1];
                // Still open while there is nothing to read; closed (0 bytes) or reset: gone.
                matches!(s.peek(&mut byte), Err(ref e) if e.kind() == std::io::ErrorKind::WouldBlock)
            });
            std::thread::sleep(Duration::from_millis(200));
        }
    }));

    // Requests trickling in, a byte every 300 ms: each is cut off by the server.
    handles.extend(spawn_until(&stop, 8, move |_, stop| {
        while !stop.load(Ordering::Relaxed) {
            let mut s = connect(port);
            for b in b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa" {
                if stop.load(Ordering::Relaxed) || s.write_all(&[*b]).is_err() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(300));
            }
        }
    }));

    // Downloads read 4 KB at a time, a read every 200 ms.
    handles.extend(spawn_until(&stop, 4, move |_, stop| {
        while !stop.load(Ordering::Relaxed) {
            let mut s = connect(port);
            let request = format!(
                "GET /files/{ADDRESS}.zip HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
            );
            s.write_all(request.as_bytes()).unwrap();
            s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
            let mut buf = [0u8; 4096];
            while !stop.load(Ordering::Relaxed) {
                match s.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(_) => std::thread::sleep(Duration::from_millis(200)),
                }
            }
        }
    }));

    // Half-closing clients: every one must get its answer.
    let half_closed = Arc::new(AtomicUsize::new(0));
    let unanswered = Arc::new(AtomicUsize::new(0));
    {
        let (half_closed, unanswered) = (half_closed.clone(), unanswered.clone());
        handles.extend(spawn_until(&stop, 2, move |_, stop| {
            let mut next = Instant::now();
            while !stop.load(Ordering::Relaxed) {
                pace(&mut next, Duration::from_millis(20));
                let mut s = connect(port);
                let request = format!(
                    "GET /mail/config-v1.1.xml?emailaddress={ADDRESS} HTTP/1.1\r\nHost: x\r\n\r\n"
                );
                s.write_all(request.as_bytes()).unwrap();
                s.shutdown(Shutdown::Write).unwrap();
                s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
                let mut answer = Vec::new();
                let _ = s.read_to_end(&mut answer);
                half_closed.fetch_add(1, Ordering::Relaxed);
                if !answer.starts_with(b"HTTP/1.1 200") {
                    unanswered.fetch_add(1, Ordering::Relaxed);
                }
            }
        }));
    }

    // Memory, once a second.
    let samples = Arc::new(std::sync::Mutex::new(Vec::<(Instant, f64)>::new()));
    {
        let samples = samples.clone();
        handles.extend(spawn_until(&stop, 1, move |_, stop| {
            let mut next = Instant::now();
            while !stop.load(Ordering::Relaxed) {
                pace(&mut next, Duration::from_secs(1));
                samples
                    .lock()
                    .unwrap()
                    .push((Instant::now(), raw::rss_mib(pid)));
            }
        }));
    }

    // Ordinary requests: four keep-alive clients, 50 requests a second each, timed.
    let started = Instant::now();
    let latencies: Vec<Duration> = std::thread::scope(|scope| {
        let timed: Vec<_> = (0..4)
            .map(|i| {
                scope.spawn(move || {
                    let mut times = Vec::new();
                    let mut s = connect(port);
                    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
                    let mut next = Instant::now();
                    let mut n = 0u64;
                    while started.elapsed() < Duration::from_secs(seconds) {
                        pace(&mut next, Duration::from_millis(20));
                        n += 1;
                        let request = if n.is_multiple_of(2) {
                            "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n".to_string()
                        } else {
                            format!(
                                "GET /mail/config-v1.1.xml?emailaddress=u{i}x{n}%40kyoto-u.ac.jp HTTP/1.1\r\nHost: x\r\n\r\n"
                            )
                        };
                        let t = Instant::now();
                        let (head, _) = exchange(&mut s, &request);
                        times.push(t.elapsed());
                        assert!(head.starts_with("HTTP/1.1 200"), "{head}");
                    }
                    times
                })
            })
            .collect();
        timed.into_iter().flat_map(|h| h.join().unwrap()).collect()
    });
    stop.store(true, Ordering::Relaxed);
    for h in handles {
        h.join().unwrap();
    }

    let mut sorted = latencies.clone();
    sorted.sort();
    let p = |q: f64| sorted[((sorted.len() as f64 * q) as usize).min(sorted.len() - 1)];
    let samples = samples.lock().unwrap().clone();
    let rss: Vec<f64> = samples.iter().map(|(_, r)| *r).collect();
    // Flat: after the first fifth (warming up), the last fifth is no higher than the second.
    let fifth = (rss.len() / 5).max(1);
    let mean = |s: &[f64]| s.iter().sum::<f64>() / s.len().max(1) as f64;
    let early = mean(&rss[fifth..(2 * fifth).min(rss.len())]);
    let late = mean(&rss[rss.len().saturating_sub(fifth)..]);
    eprintln!(
        "soak {seconds} s: {} ordinary requests, p50 {:?}, p99 {:?}, max {:?}; {} half-closed, {} unanswered; RSS {:.1} MiB early, {:.1} MiB late, peak {:.1} MiB",
        sorted.len(),
        p(0.5),
        p(0.99),
        sorted.last().unwrap(),
        half_closed.load(Ordering::Relaxed),
        unanswered.load(Ordering::Relaxed),
        early,
        late,
        raw::peak_rss_mib(pid)
    );
    assert!(
        sorted.len() as u64 >= seconds * 150,
        "{} requests",
        sorted.len()
    );
    assert!(p(0.99) < Duration::from_millis(10), "p99 {:?}", p(0.99));
    assert!(half_closed.load(Ordering::Relaxed) > 0);
    assert_eq!(
        unanswered.load(Ordering::Relaxed),
        0,
        "half-closed requests without an answer"
    );
    assert!(
        late <= early + 8.0 && late <= early * 1.25,
        "memory grew from {early:.1} to {late:.1} MiB: {rss:?}"
    );
    assert_eq!(server.status_of("/healthz"), 200);
}
