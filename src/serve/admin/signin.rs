//! Signing in to the IT-staff page: HTTP Basic against the htpasswd file's bcrypt entries
//! ([`super::super::htpasswd`]), and the lockout of an address that keeps guessing.
//!
//! bcrypt runs off the async workers, a few at a time; a success is remembered for a few minutes
//! (keyed by a keyed SHA-256 of the name, the password and the entry) so that a page does not run
//! bcrypt for every request. Five failures in a minute from one address lock it out for a minute
//! (429).

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

/// Failed sign-ins from one address within [`FAILURE_WINDOW`] that lock it out.
const MAX_FAILURES: u32 = 5;
const FAILURE_WINDOW: Duration = Duration::from_secs(60);
/// How long a locked-out address gets 429.
const LOCKOUT: Duration = Duration::from_secs(60);
/// Addresses with failures remembered at most (the oldest goes first).
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
    failures: Mutex<HashMap<IpAddr, Failures>>,
    checks: Semaphore,
}

/// Failed sign-ins of one address.
struct Failures {
    count: u32,
    since: Instant,
    locked_until: Option<Instant>,
}

impl SignIn {
    pub fn new(users: Watched) -> SignIn {
        let mut key = [0u8; 32];
        aws_lc_rs::rand::fill(&mut key).expect("the system's random numbers");
        SignIn {
            users,
            key,
            remembered: Mutex::new(HashMap::new()),
            failures: Mutex::new(HashMap::new()),
            checks: Semaphore::new(CHECKS_AT_ONCE),
        }
    }

    /// Lets the request in, or gives the answer to send instead: 429 for a locked-out `client`,
    /// 401 (the challenge) without credentials or with wrong ones, 503 while the password file
    /// is broken.
    pub async fn admit(&self, headers: &HeaderMap, client: IpAddr) -> Result<(), Reply> {
        if let Some(wait) = self.locked(client) {
            return Err(too_many(wait));
        }
        self.sign_in(headers, client).await
    }

    /// How long `client` is still locked out for, if it is.
    fn locked(&self, client: IpAddr) -> Option<Duration> {
        let mut failures = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        let now = Instant::now();
        let until = failures.get(&client)?.locked_until?;
        if until > now {
            Some(until - now)
        } else {
            failures.remove(&client);
            None
        }
    }

    fn failed(&self, client: IpAddr) {
        let mut failures = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        let now = Instant::now();
        if failures.len() >= MAX_CLIENTS && !failures.contains_key(&client) {
            failures.retain(|_, f| {
                now.duration_since(f.since) < FAILURE_WINDOW
                    || f.locked_until.is_some_and(|u| u > now)
            });
            if failures.len() >= MAX_CLIENTS
                && let Some(oldest) = failures
                    .iter()
                    .min_by_key(|(_, f)| f.since)
                    .map(|(k, _)| *k)
            {
                failures.remove(&oldest);
            }
        }
        let f = failures.entry(client).or_insert(Failures {
            count: 0,
            since: now,
            locked_until: None,
        });
        if now.duration_since(f.since) >= FAILURE_WINDOW {
            f.count = 0;
            f.since = now;
        }
        f.count += 1;
        if f.count >= MAX_FAILURES {
            f.locked_until = Some(now + LOCKOUT);
        }
    }

    /// Checks the request's Basic credentials; the answer to send when they do not pass.
    async fn sign_in(&self, headers: &HeaderMap, client: IpAddr) -> Result<(), Reply> {
        let Some(users) = self.users.users() else {
            return Err(text(
                StatusCode::SERVICE_UNAVAILABLE,
                "the IT-staff page cannot sign anyone in now: central IT must fix its password file\n",
            ));
        };
        // A browser asks first without credentials: that is no failure.
        let Some((user, password)) = basic_credentials(headers) else {
            return Err(challenge());
        };
        if self.check(&users, &user, &password).await {
            let mut failures = self.failures.lock().unwrap_or_else(|e| e.into_inner());
            failures.remove(&client);
            Ok(())
        } else {
            self.failed(client);
            Err(challenge())
        }
    }

    /// Whether `password` is `user`'s: remembered, or checked by bcrypt off the async workers.
    async fn check(&self, users: &Users, user: &str, password: &str) -> bool {
        let hash = users.hash_of(user).map(str::to_string);
        let mut digest = Sha256::new();
        digest.update(self.key);
        for part in [user, password, hash.as_deref().unwrap_or("")] {
            digest.update((part.len() as u64).to_le_bytes());
            digest.update(part.as_bytes());
        }
        let token: [u8; 32] = digest.finalize().into();
        let now = Instant::now();
        if hash.is_some() {
            let remembered = self.remembered.lock().unwrap_or_else(|e| e.into_inner());
            if remembered.get(&token).is_some_and(|&until| until > now) {
                return true;
            }
        }
        let Ok(_permit) = self.checks.acquire().await else {
            return false;
        };
        let known = hash.is_some();
        // A name the file does not have is refused after as much work as a wrong password (at
        // the cost most entries have), so that the time does not tell which names exist.
        let stand_in_cost = users.usual_cost();
        let salt = [self.key[0]; 16];
        let password = password.to_string();
        let matches = tokio::task::spawn_blocking(move || match hash {
            Some(hash) => bcrypt::verify(password.as_bytes(), &hash).unwrap_or(false),
            None => {
                let _ = bcrypt::hash_with_salt(password.as_bytes(), stand_in_cost, salt);
                false
            }
        })
        .await
        .unwrap_or(false);
        if matches && known {
            let mut remembered = self.remembered.lock().unwrap_or_else(|e| e.into_inner());
            if remembered.len() >= MAX_REMEMBERED {
                remembered.retain(|_, &mut until| until > now);
                if remembered.len() >= MAX_REMEMBERED {
                    remembered.clear();
                }
            }
            remembered.insert(token, now + REMEMBER);
        }
        matches && known
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
    let mut ip = peer.ip();
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
        let v6: SocketAddr = "[2001:db8:1:2:3:4:5:6]:443".parse().unwrap();
        assert_eq!(
            client_of(v6, &HeaderMap::new()),
            "2001:db8:1:2::".parse::<IpAddr>().unwrap()
        );
    }
}
