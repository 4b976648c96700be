//! HTTP digest authentication for SIP (RFC 2617, RFC 7616, RFC 8760): server-side challenge
//! and verification with a nonce store, and client-side responses for trunks.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use md5::Digest as _;

/// Digest hash algorithm.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DigestAlgorithm {
    /// MD5, for older desk phones.
    Md5,
    /// SHA-256 (RFC 8760), preferred.
    Sha256,
}

impl DigestAlgorithm {
    /// Token used in headers.
    pub fn token(self) -> &'static str {
        match self {
            DigestAlgorithm::Md5 => "MD5",
            DigestAlgorithm::Sha256 => "SHA-256",
        }
    }

    fn from_token(t: &str) -> Option<Self> {
        if t.eq_ignore_ascii_case("MD5") {
            Some(DigestAlgorithm::Md5)
        } else if t.eq_ignore_ascii_case("SHA-256") {
            Some(DigestAlgorithm::Sha256)
        } else {
            None
        }
    }

    /// Hex digest of `data`.
    pub fn hash(self, data: &str) -> String {
        match self {
            DigestAlgorithm::Md5 => hex::encode(md5::Md5::digest(data.as_bytes())),
            DigestAlgorithm::Sha256 => hex::encode(sha2::Sha256::digest(data.as_bytes())),
        }
    }
}

/// Parsed `Digest` credentials or challenge parameters.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DigestParams {
    params: Vec<(String, String)>,
}

impl DigestParams {
    /// Parse `Digest k=v, k="v"` (returns `None` for another scheme).
    pub fn parse(value: &str) -> Option<Self> {
        let v = value.trim();
        let (scheme, rest) = v.split_once(char::is_whitespace)?;
        if !scheme.eq_ignore_ascii_case("Digest") {
            return None;
        }
        let mut params = Vec::new();
        for part in crate::message::split_list(rest) {
            let (k, val) = part.split_once('=')?;
            params.push((
                k.trim().to_ascii_lowercase(),
                crate::message::unquote(val.trim()),
            ));
        }
        Some(DigestParams { params })
    }

    /// A parameter's value.
    pub fn get(&self, k: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(n, _)| n == k)
            .map(|(_, v)| v.as_str())
    }
}

/// Compare two byte strings in time independent of where they differ.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// HA1 = H(user:realm:password), precomputed so passwords are not kept.
#[derive(Clone)]
pub struct StoredCredentials {
    md5: String,
    sha256: String,
    /// The algorithms this user is challenged with and may answer with, in preference order,
    /// when they differ from the server's (`None`: the server's).
    algorithms: Option<Vec<DigestAlgorithm>>,
}

impl std::fmt::Debug for StoredCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("StoredCredentials(..)")
    }
}

impl StoredCredentials {
    /// Derive both HA1 values for `user` in `realm`.
    pub fn new(user: &str, realm: &str, password: &str) -> Self {
        let a1 = format!("{user}:{realm}:{password}");
        StoredCredentials {
            md5: DigestAlgorithm::Md5.hash(&a1),
            sha256: DigestAlgorithm::Sha256.hash(&a1),
            algorithms: None,
        }
    }

    /// The same credentials, challenged and accepted with `algorithms` only (preference
    /// order) instead of the server's list: for a phone that gives up at a first challenge it
    /// cannot answer rather than taking the next one (RFC 8760 §2.4), such as baresip 1.0
    /// with SHA-256. An empty list keeps the server's.
    pub fn with_algorithms(mut self, algorithms: Vec<DigestAlgorithm>) -> Self {
        self.algorithms = (!algorithms.is_empty()).then_some(algorithms);
        self
    }

    fn ha1(&self, alg: DigestAlgorithm) -> &str {
        match alg {
            DigestAlgorithm::Md5 => &self.md5,
            DigestAlgorithm::Sha256 => &self.sha256,
        }
    }
}

/// The verdict on an `Authorization` header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthOutcome {
    /// Valid credentials for this user.
    Ok(String),
    /// No usable credentials: challenge (401).
    Challenge,
    /// The nonce expired: challenge with `stale=true`.
    Stale,
    /// Credentials were checked and are wrong (403).
    Denied(&'static str),
}

struct NonceState {
    created: Instant,
    last_nc: u32,
}

/// Server-side digest: issues nonces and verifies responses.
pub struct DigestServer {
    realm: String,
    algorithms: Vec<DigestAlgorithm>,
    nonces: HashMap<String, NonceState>,
    nonce_ttl: Duration,
    counter: u64,
    secret: u64,
}

impl DigestServer {
    /// A server for `realm` offering `algorithms` in preference order.
    pub fn new(
        realm: &str,
        algorithms: Vec<DigestAlgorithm>,
        nonce_ttl: Duration,
        seed: u64,
    ) -> Self {
        DigestServer {
            realm: realm.to_owned(),
            algorithms,
            nonces: HashMap::new(),
            nonce_ttl,
            counter: 0,
            secret: seed,
        }
    }

    /// The realm.
    pub fn realm(&self) -> &str {
        &self.realm
    }

    fn new_nonce(&mut self, now: Instant) -> String {
        self.counter += 1;
        let n = DigestAlgorithm::Sha256.hash(&format!("{}:{}", self.secret, self.counter));
        let n = n[..32].to_owned();
        // Bound the store: forget expired nonces whenever it grows.
        if self.nonces.len() > 10_000 {
            let ttl = self.nonce_ttl;
            self.nonces
                .retain(|_, s| now.duration_since(s.created) < ttl);
        }
        self.nonces.insert(
            n.clone(),
            NonceState {
                created: now,
                last_nc: 0,
            },
        );
        n
    }

    /// `WWW-Authenticate` values, one per algorithm, in preference order.
    pub fn challenge(&mut self, stale: bool, now: Instant) -> Vec<String> {
        self.challenge_for(None, stale, now)
    }

    /// Like [`DigestServer::challenge`], for the user of `credentials` (`None`: unknown):
    /// with that user's own algorithms when they have some.
    pub fn challenge_for(
        &mut self,
        credentials: Option<&StoredCredentials>,
        stale: bool,
        now: Instant,
    ) -> Vec<String> {
        let nonce = self.new_nonce(now);
        credentials
            .and_then(|c| c.algorithms.as_deref())
            .unwrap_or(&self.algorithms)
            .iter()
            .map(|a| {
                format!(
                    "Digest realm=\"{}\", nonce=\"{}\", algorithm={}, qop=\"auth\"{}",
                    self.realm,
                    nonce,
                    a.token(),
                    if stale { ", stale=true" } else { "" }
                )
            })
            .collect()
    }

    /// Check an `Authorization` value for `method` and `request_uri`.
    pub fn verify(
        &mut self,
        authorization: &str,
        method: &str,
        request_uri: &str,
        lookup: impl Fn(&str) -> Option<StoredCredentials>,
        now: Instant,
    ) -> AuthOutcome {
        let Some(p) = DigestParams::parse(authorization) else {
            return AuthOutcome::Challenge;
        };
        let (Some(user), Some(realm), Some(nonce), Some(uri), Some(response)) = (
            p.get("username"),
            p.get("realm"),
            p.get("nonce"),
            p.get("uri"),
            p.get("response"),
        ) else {
            return AuthOutcome::Challenge;
        };
        if realm != self.realm {
            return AuthOutcome::Challenge;
        }
        // No algorithm parameter means MD5 (RFC 2617 §3.2.1); whether the user may use it is
        // known once their credentials are found.
        let alg = match p.get("algorithm") {
            None => DigestAlgorithm::Md5,
            Some(t) => match DigestAlgorithm::from_token(t) {
                Some(a) => a,
                None => return AuthOutcome::Challenge,
            },
        };
        if uri != request_uri {
            return AuthOutcome::Denied("digest uri does not match Request-URI");
        }
        let ttl = self.nonce_ttl;
        let Some(state) = self.nonces.get_mut(nonce) else {
            // Unknown nonces come from a restart or a forgotten challenge: ask again.
            return AuthOutcome::Stale;
        };
        if now.duration_since(state.created) >= ttl {
            self.nonces.remove(nonce);
            return AuthOutcome::Stale;
        }
        let Some(creds) = lookup(user) else {
            return AuthOutcome::Denied("unknown user");
        };
        let offered = creds.algorithms.as_deref().unwrap_or(&self.algorithms);
        if !offered.contains(&alg) {
            return AuthOutcome::Challenge;
        }
        let ha2 = alg.hash(&format!("{method}:{uri}"));
        let expected = match p.get("qop") {
            Some("auth") => {
                let (Some(nc), Some(cnonce)) = (p.get("nc"), p.get("cnonce")) else {
                    return AuthOutcome::Denied("qop without nc or cnonce");
                };
                // nc is 8 hex digits (RFC 7616 §3.4); parse it ourselves as a u32.
                let Ok(n) = u32::from_str_radix(nc, 16) else {
                    return AuthOutcome::Denied("bad nc");
                };
                if nc.len() != 8 || n <= state.last_nc {
                    return AuthOutcome::Denied("replayed nc");
                }
                state.last_nc = n;
                alg.hash(&format!(
                    "{}:{nonce}:{nc}:{cnonce}:auth:{ha2}",
                    creds.ha1(alg)
                ))
            }
            Some(_) => return AuthOutcome::Denied("unsupported qop"),
            None => alg.hash(&format!("{}:{nonce}:{ha2}", creds.ha1(alg))),
        };
        if constant_time_eq(
            expected.as_bytes(),
            response.to_ascii_lowercase().as_bytes(),
        ) {
            AuthOutcome::Ok(user.to_owned())
        } else {
            AuthOutcome::Denied("wrong credentials")
        }
    }
}

/// Client side: build an `Authorization` value answering `challenge`.
pub fn client_authorization(
    challenge: &str,
    user: &str,
    password: &str,
    method: &str,
    uri: &str,
    cnonce: &str,
    nc: u32,
) -> Option<String> {
    let p = DigestParams::parse(challenge)?;
    let realm = p.get("realm")?;
    let nonce = p.get("nonce")?;
    let alg = DigestAlgorithm::from_token(p.get("algorithm").unwrap_or("MD5"))?;
    let ha1 = alg.hash(&format!("{user}:{realm}:{password}"));
    let ha2 = alg.hash(&format!("{method}:{uri}"));
    let qop_auth = p
        .get("qop")
        .is_some_and(|q| q.split(',').any(|x| x.trim() == "auth"));
    let mut out = format!(
        "Digest username=\"{user}\", realm=\"{realm}\", nonce=\"{nonce}\", uri=\"{uri}\", algorithm={}",
        alg.token()
    );
    let response = if qop_auth {
        let nc = format!("{nc:08x}");
        out.push_str(&format!(", qop=auth, nc={nc}, cnonce=\"{cnonce}\""));
        alg.hash(&format!("{ha1}:{nonce}:{nc}:{cnonce}:auth:{ha2}"))
    } else {
        alg.hash(&format!("{ha1}:{nonce}:{ha2}"))
    };
    out.push_str(&format!(", response=\"{response}\""));
    if let Some(o) = p.get("opaque") {
        out.push_str(&format!(", opaque=\"{o}\""));
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc2617_md5_vector() {
        // RFC 2617 §3.5 example (qop=auth).
        let ha1 = DigestAlgorithm::Md5.hash("Mufasa:testrealm@host.com:Circle Of Life");
        let ha2 = DigestAlgorithm::Md5.hash("GET:/dir/index.html");
        let r = DigestAlgorithm::Md5.hash(&format!(
            "{ha1}:dcd98b7102dd2f0e8b11d0f600bfb0c093:00000001:0a4f113b:auth:{ha2}"
        ));
        assert_eq!(r, "6629fae49393a05397450978507c4ef1");
    }

    #[test]
    fn server_accepts_client_and_rejects_replay_wrong_and_stale() {
        for alg in [DigestAlgorithm::Sha256, DigestAlgorithm::Md5] {
            let t0 = Instant::now();
            let mut s = DigestServer::new("guichet", vec![alg], Duration::from_secs(30), 7);
            let ch = s.challenge(false, t0).remove(0);
            let creds = |u: &str| {
                (u == "1001").then(|| StoredCredentials::new("1001", "guichet", "secret"))
            };
            let auth =
                client_authorization(&ch, "1001", "secret", "REGISTER", "sip:h", "abc", 1).unwrap();
            assert_eq!(
                s.verify(&auth, "REGISTER", "sip:h", creds, t0),
                AuthOutcome::Ok("1001".into())
            );
            assert_eq!(
                s.verify(&auth, "REGISTER", "sip:h", creds, t0),
                AuthOutcome::Denied("replayed nc")
            );
            let bad =
                client_authorization(&ch, "1001", "nope", "REGISTER", "sip:h", "abc", 2).unwrap();
            assert_eq!(
                s.verify(&bad, "REGISTER", "sip:h", creds, t0),
                AuthOutcome::Denied("wrong credentials")
            );
            let late =
                client_authorization(&ch, "1001", "secret", "REGISTER", "sip:h", "abc", 3).unwrap();
            assert_eq!(
                s.verify(
                    &late,
                    "REGISTER",
                    "sip:h",
                    creds,
                    t0 + Duration::from_secs(31)
                ),
                AuthOutcome::Stale
            );
        }
        assert!(constant_time_eq(b"ab", b"ab") && !constant_time_eq(b"ab", b"ac"));
    }
}
