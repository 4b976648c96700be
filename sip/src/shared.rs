//! State shared between the signalling task and the handle (read synchronously).

use std::collections::{HashMap, HashSet};
use std::sync::{Mutex, MutexGuard, RwLock};

use crate::digest::{DigestAlgorithm, StoredCredentials};
use crate::metrics::SipCounters;
use crate::registrar::Registrar;

/// Shared between [`crate::SipHandle`] and the core.
#[derive(Debug)]
pub struct Shared {
    pub(crate) counters: SipCounters,
    pub(crate) realm: String,
    registrar: Mutex<Registrar>,
    credentials: Mutex<HashMap<String, StoredCredentials>>,
    /// Users challenged with other digest algorithms than the server's.
    digest_algorithms: Mutex<HashMap<String, Vec<DigestAlgorithm>>>,
    lines: RwLock<HashSet<String>>,
}

impl Shared {
    pub(crate) fn new(realm: &str, lines: &[String]) -> Self {
        Shared {
            counters: SipCounters::default(),
            realm: realm.to_owned(),
            registrar: Mutex::new(Registrar::default()),
            credentials: Mutex::new(HashMap::new()),
            digest_algorithms: Mutex::new(HashMap::new()),
            lines: RwLock::new(lines.iter().cloned().collect()),
        }
    }

    pub(crate) fn registrar(&self) -> MutexGuard<'_, Registrar> {
        // A panic elsewhere must not take registrations down with it.
        self.registrar.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(crate) fn credentials_of(&self, user: &str) -> Option<StoredCredentials> {
        let credentials = self
            .credentials
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(user)
            .cloned()?;
        let algorithms = self
            .digest_algorithms
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(user)
            .cloned()
            .unwrap_or_default();
        Some(credentials.with_algorithms(algorithms))
    }

    pub(crate) fn set_digest_algorithms(&self, user: &str, algorithms: Vec<DigestAlgorithm>) {
        let mut overrides = self
            .digest_algorithms
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        if algorithms.is_empty() {
            overrides.remove(user);
        } else {
            overrides.insert(user.to_owned(), algorithms);
        }
    }

    pub(crate) fn set_credentials(&self, user: &str, password: &str) {
        let c = StoredCredentials::new(user, &self.realm, password);
        self.credentials
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(user.to_owned(), c);
    }

    pub(crate) fn remove_credentials(&self, user: &str) {
        self.credentials
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(user);
    }

    pub(crate) fn is_line(&self, number: &str) -> bool {
        self.lines
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .contains(number)
    }

    pub(crate) fn set_lines(&self, lines: Vec<String>) {
        *self.lines.write().unwrap_or_else(|e| e.into_inner()) = lines.into_iter().collect();
    }
}
