//! API keys and secrets. A key names its secret; tokens carry the key as `iss`.

use std::collections::HashMap;
use std::fmt;

/// One API key and the secret that signs its tokens.
#[derive(Clone, PartialEq, Eq)]
pub struct ApiKey {
    /// Public identifier, carried in tokens as `iss`.
    pub key: String,
    /// HMAC secret. Never logged: `Debug` redacts it.
    pub secret: String,
}

impl fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ApiKey")
            .field("key", &self.key)
            .field("secret", &"<redacted>")
            .finish()
    }
}

impl ApiKey {
    /// A key pair from its two parts.
    pub fn new(key: impl Into<String>, secret: impl Into<String>) -> Self {
        Self {
            key: key.into(),
            secret: secret.into(),
        }
    }

    /// A fresh random key pair (`API` + 12 chars, 40-char secret) from the
    /// given random bytes; the caller supplies randomness so this crate stays pure.
    pub fn from_random(bytes: &[u8; 32]) -> Self {
        const ALPHABET: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789";
        let pick = |b: &u8| ALPHABET[*b as usize % ALPHABET.len()] as char;
        let key: String = "API".chars().chain(bytes[..12].iter().map(pick)).collect();
        // 20 bytes → 40 hex chars of secret.
        let secret: String = bytes[12..].iter().map(|b| format!("{b:02x}")).collect();
        Self { key, secret }
    }
}

/// The set of API keys a server accepts.
#[derive(Clone, Debug, Default)]
pub struct KeySet {
    keys: HashMap<String, ApiKey>,
    primary: Option<String>,
}

impl KeySet {
    /// A key set from keys; the first one is the primary (used to mint join tokens).
    pub fn new(keys: impl IntoIterator<Item = ApiKey>) -> Self {
        let mut set = Self::default();
        for k in keys {
            set.insert(k);
        }
        set
    }

    /// Adds a key; the first key added becomes the primary.
    pub fn insert(&mut self, key: ApiKey) {
        if self.primary.is_none() {
            self.primary = Some(key.key.clone());
        }
        self.keys.insert(key.key.clone(), key);
    }

    /// The key named `key`, if known.
    pub fn get(&self, key: &str) -> Option<&ApiKey> {
        self.keys.get(key)
    }

    /// The primary key, used by the server to sign the tokens it mints.
    pub fn primary(&self) -> Option<&ApiKey> {
        self.primary.as_deref().and_then(|k| self.keys.get(k))
    }

    /// True when no key is configured.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }
}
