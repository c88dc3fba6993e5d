//! Signing in to the IT-staff page: HTTP Basic against the htpasswd file's bcrypt entries
//! ([`super::super::htpasswd`]), and the lockout of an address that keeps guessing.
//!
//! bcrypt runs off the async workers, a few at a time; a success is remembered for a few minutes
//! (keyed by a keyed SHA-256 of the name, the password and the entry) so that a page does not run
//! bcrypt for every request. A password is counted as tried when its check begins, not when it
//! ends: at most five are checked per address and minute, and more get 429 at once, so that
//! guesses sent all together are no faster than one after another. A right password takes its
//! own try back when its check ends, and forgives no failure, ended or still being checked: at
//! most five wrong passwords are checked per address and minute. Five failures lock the address
//! out for a minute from the fifth (429, the right password too).

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use base64::Engine;
use hyper::StatusCode;
use hyper::header::{self, HeaderMap, HeaderValue};
use sha2::{Digest, Sha256};
use tokio::sync::Semaphore;

use super::super::htpasswd::{Users, Watched};
use super::super::reply::{Reply, text};

/// Passwords checked per address within [`WINDOW`]; failures among them that lock it out.
const MAX_ATTEMPTS: u32 = 5;
const WINDOW: Duration = Duration::from_secs(60);
/// How long a locked-out address gets 429, from its last failure.
const LOCKOUT: Duration = Duration::from_secs(60);
/// Addresses counted at most (the oldest goes first).
const MAX_CLIENTS: usize = 4096;
/// How long a successful sign-in is remembered, and how many at most.
const REMEMBER: Duration = Duration::from_secs(300);
const MAX_REMEMBERED: usize = 1024;
/// bcrypt checks run at once (each takes a core).
const CHECKS_AT_ONCE: usize = 2;
/// The realm of the Basic challenge.
const REALM: &str = "mailconf IT staff";

/// The page's users, the sign-ins remembered, and the failures counted, for the server's life.
pub struct SignIn {
    users: Watched,
    /// A random key for [`SignIn::remembered`]'s entries, new for every start.
    key: [u8; 32],
    remembered: Mutex<HashMap<[u8; 32], Instant>>,
    lockouts: Mutex<Lockouts>,
    checks: Semaphore,
}

impl SignIn {
    pub fn new(users: Watched) -> SignIn {
        let mut key = [0u8; 32];
        aws_lc_rs::rand::fill(&mut key).expect("the system's random numbers");
        SignIn {
            users,
            key,
            remembered: Mutex::new(HashMap::new()),
            lockouts: Mutex::new(Lockouts::default()),
            checks: Semaphore::new(CHECKS_AT_ONCE),
        }
    }

    /// Lets the request in, or gives the answer to send instead: 429 for a locked-out `client`
    /// or one that has had its five tries this minute, 401 (the challenge) without credentials
    /// or with wrong ones, 503 while the password file is broken.
    pub async fn admit(&self, headers: &HeaderMap, client: IpAddr) -> Result<(), Reply> {
        if let Some(wait) = self.lockouts().locked(client, Instant::now()) {
            return Err(too_many(wait));
        }
        let Some(users) = self.users.users() else {
            return Err(text(
                StatusCode::SERVICE_UNAVAILABLE,
                "the IT-staff page cannot sign anyone in now: central IT must fix its password file\n",
            ));
        };
        // A browser asks first without credentials: that is no try.
        let Some((user, password)) = basic_credentials(headers) else {
            return Err(challenge());
        };
        let hash = users.hash_of(&user).map(str::to_string);
        let token = self.token(&user, &password, hash.as_deref());
        if hash.is_some() && self.remembered(&token, Instant::now()) {
            return Ok(());
        }
        // Counted now, before the check: a burst of guesses gets 429 past the fifth.
        if let Err(wait) = self.lockouts().begin(client, Instant::now()) {
            return Err(too_many(wait));
        }
        if self.check(&users, hash, &password).await {
            self.remember(token, Instant::now());
            self.lockouts().succeeded(client);
            Ok(())
        } else {
            self.lockouts().failed(client, Instant::now());
            Err(challenge())
        }
    }

    fn lockouts(&self) -> std::sync::MutexGuard<'_, Lockouts> {
        self.lockouts.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The key a successful sign-in is remembered by: a keyed SHA-256 of the name, the password
    /// and the entry (so that changing the entry forgets it).
    fn token(&self, user: &str, password: &str, hash: Option<&str>) -> [u8; 32] {
        let mut digest = Sha256::new();
        digest.update(self.key);
        for part in [user, password, hash.unwrap_or("")] {
            digest.update((part.len() as u64).to_le_bytes());
            digest.update(part.as_bytes());
        }
        digest.finalize().into()
    }

    fn remembered(&self, token: &[u8; 32], now: Instant) -> bool {
        let remembered = self.remembered.lock().unwrap_or_else(|e| e.into_inner());
        remembered.get(token).is_some_and(|&until| until > now)
    }

    fn remember(&self, token: [u8; 32], now: Instant) {
        let mut remembered = self.remembered.lock().unwrap_or_else(|e| e.into_inner());
        if remembered.len() >= MAX_REMEMBERED {
            remembered.retain(|_, &mut until| until > now);
            if remembered.len() >= MAX_REMEMBERED {
                remembered.clear();
            }
        }
        remembered.insert(token, now + REMEMBER);
    }

    /// Whether `password` matches `hash` (the user's entry; `None` for a name the file does not
    /// have), checked by bcrypt off the async workers.
    async fn check(&self, users: &Users, hash: Option<String>, password: &str) -> bool {
        let Ok(_permit) = self.checks.acquire().await else {
            return false;
        };
        // A name the file does not have is refused after as much work as a wrong password (at
        // the cost most entries have), so that the time does not tell which names exist.
        let stand_in_cost = users.usual_cost();
        let salt = [self.key[0]; 16];
        let password = password.to_string();
        tokio::task::spawn_blocking(move || match hash {
            Some(hash) => bcrypt::verify(password.as_bytes(), &hash).unwrap_or(false),
            None => {
                let _ = bcrypt::hash_with_salt(password.as_bytes(), stand_in_cost, salt);
                false
            }
        })
        .await
        .unwrap_or(false)
    }
}

/// Passwords tried by each address: at most [`MAX_ATTEMPTS`] checks begun per [`WINDOW`], and a
/// lockout after as many failures; a right password takes its own try back. Every method that
/// needs the time takes it, so that tests can move it.
#[derive(Default)]
struct Lockouts {
    clients: HashMap<IpAddr, Tries>,
}

/// One address's tries in its current window.
struct Tries {
    /// When the window began: its first try.
    since: Instant,
    /// Checks begun in the window, ended or not, but those that found the right password.
    begun: u32,
    /// Checks begun and not ended yet.
    checking: u32,
    /// Checks that failed.
    failed: u32,
    locked_until: Option<Instant>,
}

impl Lockouts {
    /// How long `client` is still locked out for, if it is.
    fn locked(&mut self, client: IpAddr, now: Instant) -> Option<Duration> {
        let tries = self.clients.get(&client)?;
        match tries.locked_until {
            Some(until) if until > now => Some(until - now),
            Some(_) => {
                self.clients.remove(&client);
                None
            }
            None => None,
        }
    }

    /// Counts a check of `client`'s password, about to begin; how long to wait instead when it
    /// is locked out or has had its tries for this window.
    fn begin(&mut self, client: IpAddr, now: Instant) -> Result<(), Duration> {
        if let Some(wait) = self.locked(client, now) {
            return Err(wait);
        }
        self.make_room(client, now);
        let tries = self.clients.entry(client).or_insert(Tries {
            since: now,
            begun: 0,
            checking: 0,
            failed: 0,
            locked_until: None,
        });
        if now.duration_since(tries.since) >= WINDOW {
            // A new window: the checks still running count in it.
            tries.since = now;
            tries.begun = tries.checking;
            tries.failed = 0;
        }
        if tries.begun >= MAX_ATTEMPTS {
            return Err((tries.since + WINDOW).saturating_duration_since(now));
        }
        tries.begun += 1;
        tries.checking += 1;
        Ok(())
    }

    /// A check of `client`'s password found it right: its try is taken back (it was no
    /// guess); every failure, ended or still being checked, stays counted.
    fn succeeded(&mut self, client: IpAddr) {
        if let Some(tries) = self.clients.get_mut(&client) {
            tries.checking = tries.checking.saturating_sub(1);
            tries.begun = tries.begun.saturating_sub(1);
        }
    }

    /// A check of `client`'s password failed.
    fn failed(&mut self, client: IpAddr, now: Instant) {
        // Forgotten meanwhile (to make room): counted again from this failure.
        let tries = self.clients.entry(client).or_insert(Tries {
            since: now,
            begun: 1,
            checking: 1,
            failed: 0,
            locked_until: None,
        });
        tries.checking = tries.checking.saturating_sub(1);
        tries.failed += 1;
        if tries.failed >= MAX_ATTEMPTS {
            tries.locked_until = Some(now + LOCKOUT);
        }
    }

    /// Keeps at most [`MAX_CLIENTS`] addresses: those whose window is over and who are not
    /// locked out go first, then the oldest.
    fn make_room(&mut self, client: IpAddr, now: Instant) {
        if self.clients.len() < MAX_CLIENTS || self.clients.contains_key(&client) {
            return;
        }
        self.clients.retain(|_, t| {
            now.duration_since(t.since) < WINDOW || t.locked_until.is_some_and(|u| u > now)
        });
        if self.clients.len() >= MAX_CLIENTS
            && let Some(oldest) = self
                .clients
                .iter()
                .min_by_key(|(_, t)| t.since)
                .map(|(k, _)| *k)
        {
            self.clients.remove(&oldest);
        }
    }
}

/// 429, saying how long to wait.
fn too_many(wait: Duration) -> Reply {
    let mut r = text(
        StatusCode::TOO_MANY_REQUESTS,
        "too many failed sign-ins from your address: wait a minute and try again\n",
    );
    r.headers_mut().insert(
        header::RETRY_AFTER,
        HeaderValue::from(wait.as_secs().max(1)),
    );
    r
}

/// 401 with the Basic challenge, in both languages.
fn challenge() -> Reply {
    let mut r = text(
        StatusCode::UNAUTHORIZED,
        "IT 担当者のページです。central IT から受け取った名前とパスワードでサインインしてください。\n\
         This page is for IT staff: sign in with the name and password central IT gave you.\n",
    );
    r.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        HeaderValue::from_str(&format!("Basic realm=\"{REALM}\", charset=\"UTF-8\""))
            .expect("a header value"),
    );
    r
}

/// The name and password of `Authorization: Basic …` (UTF-8), if it is well formed.
fn basic_credentials(headers: &HeaderMap) -> Option<(String, String)> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.trim().split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(token.trim())
        .ok()?;
    let decoded = String::from_utf8(decoded).ok()?;
    let (user, password) = decoded.split_once(':')?;
    Some((user.to_string(), password.to_string()))
}

/// The address failures are counted for: the peer's, or behind a proxy on this machine, the
/// last address of `X-Forwarded-For` (the one the proxy added). IPv6 addresses count by /64.
pub fn client_of(peer: SocketAddr, headers: &HeaderMap) -> IpAddr {
    // A listener on `[::]` sees an IPv4 proxy on 127.0.0.1 as `::ffff:127.0.0.1`: loopback too.
    let mut ip = peer.ip().to_canonical();
    if ip.is_loopback()
        && let Some(forwarded) = headers
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .next_back()
            .and_then(|last| last.trim().parse::<IpAddr>().ok())
    {
        ip = forwarded;
    }
    match ip {
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let s = v6.segments();
                IpAddr::V6(std::net::Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0))
            }
        },
        v4 => v4,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn five_checks_a_minute_then_429_and_five_failures_lock_out_for_a_minute() {
        let t0 = Instant::now();
        let at = |s: u64| t0 + Duration::from_secs(s);
        let me: IpAddr = "192.0.2.1".parse().unwrap();
        let other: IpAddr = "192.0.2.2".parse().unwrap();
        let mut l = Lockouts::default();
        // Five begin at once; the sixth waits for the window's end, before any has failed.
        for _ in 0..5 {
            assert_eq!(l.begin(me, at(0)), Ok(()));
        }
        assert_eq!(l.begin(me, at(10)), Err(Duration::from_secs(50)));
        assert_eq!(l.locked(me, at(10)), None, "not locked: out of tries");
        assert_eq!(l.begin(other, at(10)), Ok(()), "another address is not");
        // Four fail: still not locked out. After the window, five more tries, less the one
        // still being checked.
        for _ in 0..4 {
            l.failed(me, at(1));
        }
        assert_eq!(l.locked(me, at(59)), None);
        assert_eq!(l.begin(me, at(59)), Err(Duration::from_secs(1)));
        for _ in 0..4 {
            assert_eq!(l.begin(me, at(60)), Ok(()));
        }
        assert!(l.begin(me, at(60)).is_err());
        l.failed(me, at(60));
        // Five failures lock out for a minute from the fifth.
        for s in 61..65 {
            l.failed(me, at(s));
        }
        assert_eq!(l.locked(me, at(66)), Some(Duration::from_secs(58)));
        assert_eq!(l.begin(me, at(123)), Err(Duration::from_secs(1)));
        assert_eq!(l.locked(me, at(124)), None);
        assert_eq!(l.begin(me, at(124)), Ok(()), "and then free again");
    }

    #[test]
    fn a_burst_is_checked_five_at_a_time_and_a_success_in_it_wipes_nothing_out() {
        let t0 = Instant::now();
        let me: IpAddr = "192.0.2.1".parse().unwrap();
        // Twenty wrong passwords and the right one, at once: five checks begin, sixteen wait.
        let mut l = Lockouts::default();
        let begun = (0..21).filter(|_| l.begin(me, t0).is_ok()).count();
        assert_eq!(begun, 5);
        // Five wrong ones among them: locked out for a minute past the window, the right
        // password too.
        for _ in 0..5 {
            l.failed(me, t0 + Duration::from_secs(2));
        }
        assert_eq!(
            l.begin(me, t0 + Duration::from_secs(61)),
            Err(Duration::from_secs(1))
        );
        // The right one among the five, ending at any point: it takes its own try back and
        // nothing else, so one more wrong guess locks the address out: five wrong guesses in
        // all, whatever the order.
        for right_after in 0..5 {
            let mut l = Lockouts::default();
            for _ in 0..5 {
                assert_eq!(l.begin(me, t0), Ok(()));
            }
            for i in 0..4 {
                if i == right_after {
                    l.succeeded(me);
                }
                l.failed(me, t0);
            }
            if right_after == 4 {
                l.succeeded(me);
            }
            assert_eq!(l.locked(me, t0), None);
            assert_eq!(l.begin(me, t0), Ok(()));
            assert!(
                l.begin(me, t0).is_err(),
                "five begun: four failures and this one"
            );
            l.failed(me, t0);
            assert!(l.locked(me, t0 + Duration::from_secs(59)).is_some());
        }
        // Someone who mistyped the password and then typed it right signs in; the right
        // password again does not count.
        let mut l = Lockouts::default();
        for _ in 0..4 {
            assert_eq!(l.begin(me, t0), Ok(()));
            l.failed(me, t0);
        }
        for _ in 0..3 {
            assert_eq!(l.begin(me, t0), Ok(()));
            l.succeeded(me);
        }
        assert_eq!(l.locked(me, t0), None);
    }

    #[test]
    fn the_count_keeps_at_most_its_limit_of_addresses() {
        let t0 = Instant::now();
        let mut l = Lockouts::default();
        for i in 0..(MAX_CLIENTS as u32 + 10) {
            let ip = IpAddr::V4(std::net::Ipv4Addr::from(0x0A00_0000 + i));
            assert_eq!(
                l.begin(ip, t0 + Duration::from_millis(u64::from(i))),
                Ok(())
            );
        }
        assert!(l.clients.len() <= MAX_CLIENTS);
    }

    #[test]
    fn basic_credentials_are_read_and_odd_ones_refused() {
        let mut headers = HeaderMap::new();
        let token = base64::engine::general_purpose::STANDARD.encode("山田:pa:ss");
        headers.insert(
            header::AUTHORIZATION,
            HeaderValue::from_str(&format!("Basic {token}")).unwrap(),
        );
        assert_eq!(
            basic_credentials(&headers),
            Some(("山田".to_string(), "pa:ss".to_string()))
        );
        for bad in ["Bearer abc", "Basic !!!", "Basic", "Basic bm9jb2xvbg=="] {
            headers.insert(header::AUTHORIZATION, HeaderValue::from_static(bad));
            assert_eq!(basic_credentials(&headers), None, "{bad}");
        }
    }

    #[test]
    fn failures_count_by_address_and_proxied_addresses_by_the_proxy_s_last() {
        let peer: SocketAddr = "127.0.0.1:5000".parse().unwrap();
        let mut headers = HeaderMap::new();
        assert_eq!(client_of(peer, &headers), peer.ip());
        headers.insert(
            "x-forwarded-for",
            HeaderValue::from_static("10.9.9.9, 192.0.2.7"),
        );
        assert_eq!(
            client_of(peer, &headers),
            "192.0.2.7".parse::<IpAddr>().unwrap()
        );
        // Not from a proxy on this machine: the header is anyone's to write.
        let outside: SocketAddr = "198.51.100.1:5000".parse().unwrap();
        assert_eq!(client_of(outside, &headers), outside.ip());
        // A proxy on 127.0.0.1 seen by a listener on [::].
        let mapped: SocketAddr = "[::ffff:127.0.0.1]:5000".parse().unwrap();
        assert_eq!(
            client_of(mapped, &headers),
            "192.0.2.7".parse::<IpAddr>().unwrap()
        );
        let v6: SocketAddr = "[2001:db8:1:2:3:4:5:6]:443".parse().unwrap();
        assert_eq!(
            client_of(v6, &HeaderMap::new()),
            "2001:db8:1:2::".parse::<IpAddr>().unwrap()
        );
    }
}
