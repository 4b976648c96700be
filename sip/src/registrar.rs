//! Location service for agents' desk phones: bindings of a user to contacts with expiry
//! (RFC 3261 §10.3), and the per-source rate limit on failed authentication.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

/// One registered contact.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Binding {
    /// The Contact URI to send INVITEs to.
    pub uri: String,
    /// When the binding lapses.
    pub expires_at: Instant,
    /// Where the REGISTER came from (used for NAT-friendly routing, RFC 3581).
    pub source: SocketAddr,
    /// Whether it arrived over TCP.
    pub tcp: bool,
}

/// Bindings by user.
#[derive(Debug, Default)]
pub struct Registrar {
    bindings: HashMap<String, Vec<Binding>>,
}

impl Registrar {
    /// Add or refresh (expires > 0) or remove (expires = 0) one contact. Returns true when the
    /// set of contacts changed (not on a mere refresh).
    pub fn update(
        &mut self,
        user: &str,
        binding: Binding,
        expires: Duration,
        now: Instant,
    ) -> bool {
        let list = self.bindings.entry(user.to_owned()).or_default();
        let before = list.len();
        list.retain(|b| b.expires_at > now);
        let mut changed = before != list.len();
        let pos = list.iter().position(|b| b.uri == binding.uri);
        match (pos, expires.is_zero()) {
            (Some(i), true) => {
                list.remove(i);
                changed = true;
            }
            (Some(i), false) => {
                list[i] = Binding {
                    expires_at: now + expires,
                    ..binding
                };
            }
            (None, true) => {}
            (None, false) => {
                list.push(Binding {
                    expires_at: now + expires,
                    ..binding
                });
                changed = true;
            }
        }
        if list.is_empty() {
            self.bindings.remove(user);
        }
        changed
    }

    /// Remove every contact of `user` (`Contact: *`). Returns true if any existed.
    pub fn remove_all(&mut self, user: &str) -> bool {
        self.bindings.remove(user).is_some()
    }

    /// Forget lapsed bindings; returns each user whose contacts changed, with what is left.
    pub fn expire(&mut self, now: Instant) -> Vec<(String, Vec<Binding>)> {
        let mut changed = Vec::new();
        for (user, list) in &mut self.bindings {
            let before = list.len();
            list.retain(|b| b.expires_at > now);
            if list.len() != before {
                changed.push((user.clone(), list.clone()));
            }
        }
        self.bindings.retain(|_, l| !l.is_empty());
        changed
    }

    /// Live contacts of `user`, most recently refreshed last.
    pub fn contacts_of(&self, user: &str, now: Instant) -> Vec<Binding> {
        self.bindings
            .get(user)
            .map(|l| l.iter().filter(|b| b.expires_at > now).cloned().collect())
            .unwrap_or_default()
    }
}

/// Counts failed authentications per source address in a sliding window.
#[derive(Debug)]
pub struct FailureLimiter {
    window: Duration,
    max_failures: u32,
    failures: HashMap<IpAddr, (Instant, u32)>,
}

impl FailureLimiter {
    /// Allow `max_failures` per `window` per source address.
    pub fn new(max_failures: u32, window: Duration) -> Self {
        FailureLimiter {
            window,
            max_failures,
            failures: HashMap::new(),
        }
    }

    /// True when this source must be refused without checking credentials.
    pub fn is_blocked(&mut self, ip: IpAddr, now: Instant) -> bool {
        match self.failures.get(&ip) {
            Some((start, n)) if now.duration_since(*start) < self.window => *n >= self.max_failures,
            Some(_) => {
                self.failures.remove(&ip);
                false
            }
            None => false,
        }
    }

    /// Record one failure.
    pub fn record_failure(&mut self, ip: IpAddr, now: Instant) {
        if self.failures.len() > 50_000 {
            let w = self.window;
            self.failures.retain(|_, (s, _)| now.duration_since(*s) < w);
        }
        let e = self.failures.entry(ip).or_insert((now, 0));
        if now.duration_since(e.0) >= self.window {
            *e = (now, 0);
        }
        e.1 += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b(uri: &str) -> Binding {
        Binding {
            uri: uri.into(),
            expires_at: Instant::now(),
            source: "127.0.0.1:5060".parse().unwrap(),
            tcp: false,
        }
    }

    #[test]
    fn bindings_expire_refresh_and_unregister() {
        let t = Instant::now();
        let mut r = Registrar::default();
        let h = Duration::from_secs(60);
        assert!(r.update("1001", b("sip:a@x"), h, t));
        assert!(r.update("1001", b("sip:b@x"), h, t));
        assert!(!r.update("1001", b("sip:a@x"), h, t + Duration::from_secs(10)));
        assert_eq!(r.contacts_of("1001", t + Duration::from_secs(65)).len(), 1);
        assert!(r.update(
            "1001",
            b("sip:a@x"),
            Duration::ZERO,
            t + Duration::from_secs(20)
        ));
        assert_eq!(r.contacts_of("1001", t).len(), 1);
        let lapsed = r.expire(t + Duration::from_secs(61));
        assert_eq!(lapsed.len(), 1);
        assert!(lapsed[0].1.is_empty());
        assert!(!r.remove_all("1001"));
        assert!(r.contacts_of("1001", t).is_empty());
    }

    #[test]
    fn limiter_blocks_then_forgets() {
        let t = Instant::now();
        let ip: IpAddr = "10.0.0.1".parse().unwrap();
        let mut l = FailureLimiter::new(3, Duration::from_secs(60));
        for _ in 0..3 {
            assert!(!l.is_blocked(ip, t));
            l.record_failure(ip, t);
        }
        assert!(l.is_blocked(ip, t));
        assert!(!l.is_blocked(ip, t + Duration::from_secs(61)));
    }
}
