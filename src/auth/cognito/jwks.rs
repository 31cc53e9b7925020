//! The user pool's signing keys: fetched, filtered, cached, refreshed.
//!
//! Reads are lock-free (`ArcSwap`): a request with a known `kid` never waits. A request with an
//! unknown `kid` may cause one refetch, shared by every request that asks at the same time
//! (single-flight behind a mutex) and at most one per `min_refetch` (a flood of random kids cannot
//! turn into a flood of fetches). A failed fetch keeps the keys already held. A request waits at
//! most [`KID_WAIT`] for that refetch: a slow JWKS costs new kids a prompt 503, not a hang, while
//! the fetch itself runs on to completion for the requests that come after.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use arc_swap::ArcSwap;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::DecodingKey;
use serde::Deserialize;
use url::Url;

/// A JWKS is a few kilobytes; anything bigger is a mistake or an attack.
pub const MAX_JWKS_BYTES: usize = 64 * 1024;
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
const TOTAL_TIMEOUT: Duration = Duration::from_secs(5);
/// How long a request with an unknown kid waits for the refetch before answering 503.
pub const KID_WAIT: Duration = Duration::from_secs(1);
const MIN_RSA_BITS: usize = 2048;
/// aws-lc verifies RSA PKCS#1 signatures for 2048–8192-bit moduli only.
const MAX_RSA_BITS: usize = 8192;

/// The keys held now. Replaced whole on every successful fetch, so a key dropped from the JWKS
/// is dropped here too.
#[derive(Default)]
struct KeySet {
    keys: HashMap<String, Arc<DecodingKey>>,
    /// Bumped on each successful fetch; lets a waiter see that someone else already fetched.
    generation: u64,
    loaded_at: Option<Instant>,
}

#[derive(Default)]
struct FetchState {
    /// The last fetch caused by an unknown kid; routine refreshes do not count against the limit.
    last_refetch: Option<Instant>,
    last_refetch_failed: bool,
}

pub enum Lookup {
    Found(Arc<DecodingKey>),
    /// The keys are loaded and this `kid` is not among them (after a refetch, or refetch limited).
    Unknown,
    /// No keys could be obtained: the JWKS has never loaded, or the refetch for this kid failed.
    Unavailable,
}

/// What `/readyz` reports.
pub struct Status {
    pub keys: usize,
    pub loaded: bool,
    pub last_error: Option<String>,
}

pub struct JwksCache {
    url: Url,
    client: reqwest::Client,
    min_refetch: Duration,
    keys: ArcSwap<KeySet>,
    /// Held for the whole of a fetch; owned guards let a fetch outlive the request that began it.
    fetch: Arc<tokio::sync::Mutex<FetchState>>,
    /// Kept apart from `fetch` so `/readyz` can read it while a fetch is under way.
    last_error: std::sync::Mutex<Option<String>>,
}

#[derive(Deserialize)]
struct JwkSet {
    keys: Vec<serde_json::Value>,
}

/// The JWK fields we look at; wrongly typed entries are skipped, not fatal to the whole set.
#[derive(Deserialize)]
struct RawJwk {
    kty: String,
    kid: String,
    #[serde(rename = "use")]
    use_: Option<String>,
    alg: Option<String>,
    key_ops: Option<Vec<String>>,
    n: String,
    e: String,
}

impl JwksCache {
    pub fn new(url: Url, min_refetch: Duration) -> Result<Self, reqwest::Error> {
        let client = crate::auth::outbound::client(CONNECT_TIMEOUT, TOTAL_TIMEOUT)?;
        Ok(Self {
            url,
            client,
            min_refetch,
            keys: ArcSwap::from_pointee(KeySet::default()),
            fetch: Arc::new(tokio::sync::Mutex::new(FetchState::default())),
            last_error: std::sync::Mutex::new(None),
        })
    }

    pub fn status(&self) -> Status {
        let keys = self.keys.load();
        Status {
            keys: keys.keys.len(),
            loaded: keys.loaded_at.is_some(),
            last_error: self.last_error.lock().map(|e| e.clone()).unwrap_or(None),
        }
    }

    /// The key for `kid`, refetching the JWKS once if it is unknown (see the module docs).
    pub async fn key(self: &Arc<Self>, kid: &str) -> Lookup {
        let current = self.keys.load();
        if let Some(key) = current.keys.get(kid) {
            return Lookup::Found(key.clone());
        }
        if current.loaded_at.is_none() {
            // The refresher retries on its own schedule; a request must not wait on a JWKS that
            // is down.
            return Lookup::Unavailable;
        }
        let seen = current.generation;
        drop(current);
        // Only waiters are dropped on timeout, never the fetch: a waiter holds no task, so a
        // flood of unknown kids during a slow fetch costs no more than the requests themselves.
        tokio::time::timeout(KID_WAIT, self.refetch_for(kid, seen))
            .await
            .unwrap_or(Lookup::Unavailable)
    }

    async fn refetch_for(self: &Arc<Self>, kid: &str, seen: u64) -> Lookup {
        let mut state = self.fetch.clone().lock_owned().await;
        let current = self.keys.load();
        if current.generation != seen {
            // Fetched while we waited for the lock.
            return lookup(&current, kid);
        }
        if let Some(at) = state.last_refetch
            && at.elapsed() < self.min_refetch
        {
            return if state.last_refetch_failed {
                Lookup::Unavailable
            } else {
                Lookup::Unknown
            };
        }
        drop(current);
        state.last_refetch = Some(Instant::now());
        let cache = Arc::clone(self);
        let fetch = tokio::spawn(async move {
            let ok = cache.refresh_locked().await.is_ok();
            state.last_refetch_failed = !ok;
            ok
        });
        match fetch.await {
            Ok(true) => lookup(&self.keys.load(), kid),
            _ => Lookup::Unavailable,
        }
    }

    /// Installs keys from a JWKS document held in memory (benchmarks, fuzzing, offline setups).
    pub fn load_from_bytes(&self, body: &[u8]) -> Result<usize, String> {
        let keys = parse_jwks(body)?;
        let count = keys.len();
        self.install(keys);
        Ok(count)
    }

    fn install(&self, keys: HashMap<String, Arc<DecodingKey>>) {
        let generation = self.keys.load().generation + 1;
        self.keys.store(Arc::new(KeySet {
            keys,
            generation,
            loaded_at: Some(Instant::now()),
        }));
    }

    /// Fetches the JWKS now (the periodic refresh). Returns the number of usable keys.
    pub async fn refresh(&self) -> Result<usize, String> {
        let _state = self.fetch.lock().await;
        self.refresh_locked().await
    }

    /// Fetches and swaps the key set; the caller holds the `fetch` lock.
    async fn refresh_locked(&self) -> Result<usize, String> {
        let outcome = match self.fetch_keys().await {
            Ok(keys) => {
                let count = keys.len();
                self.install(keys);
                tracing::info!(keys = count, url = %self.url, "JWKS loaded");
                Ok(count)
            }
            Err(e) => {
                tracing::warn!(error = %e, url = %self.url, "JWKS fetch failed; keeping the keys held");
                Err(e)
            }
        };
        if let Ok(mut last) = self.last_error.lock() {
            *last = outcome.as_ref().err().cloned();
        }
        outcome
    }

    async fn fetch_keys(&self) -> Result<HashMap<String, Arc<DecodingKey>>, String> {
        let mut response = self
            .client
            .get(self.url.clone())
            .header(reqwest::header::ACCEPT, "application/json")
            .send()
            .await
            .map_err(|e| format!("cannot reach the JWKS: {}", describe(&e)))?;
        if response.status() != reqwest::StatusCode::OK {
            return Err(format!(
                "the JWKS answered HTTP {}",
                response.status().as_u16()
            ));
        }
        if response
            .content_length()
            .is_some_and(|len| len > MAX_JWKS_BYTES as u64)
        {
            return Err(format!("the JWKS is larger than {MAX_JWKS_BYTES} bytes"));
        }
        let mut body = Vec::new();
        while let Some(chunk) = response
            .chunk()
            .await
            .map_err(|e| format!("reading the JWKS failed: {}", describe(&e)))?
        {
            if body.len() + chunk.len() > MAX_JWKS_BYTES {
                return Err(format!("the JWKS is larger than {MAX_JWKS_BYTES} bytes"));
            }
            body.extend_from_slice(&chunk);
        }
        parse_jwks(&body)
    }

    /// Keeps the keys fresh: every `every` while healthy, retrying with backoff (1 s doubling to
    /// 30 s) while the JWKS cannot be fetched, so the API recovers on its own.
    pub fn spawn_refresher(self: &Arc<Self>, every: Duration) {
        let cache = Arc::downgrade(self);
        actix_web::rt::spawn(async move {
            let mut backoff = Duration::from_secs(1);
            loop {
                let Some(cache) = cache.upgrade() else { return };
                let delay = match cache.refresh().await {
                    Ok(_) => {
                        backoff = Duration::from_secs(1);
                        every
                    }
                    Err(_) => {
                        let delay = backoff;
                        backoff = (backoff * 2).min(Duration::from_secs(30));
                        delay
                    }
                };
                drop(cache);
                tokio::time::sleep(delay).await;
            }
        });
    }
}

fn lookup(keys: &KeySet, kid: &str) -> Lookup {
    match keys.keys.get(kid) {
        Some(key) => Lookup::Found(key.clone()),
        None => Lookup::Unknown,
    }
}

fn describe(e: &reqwest::Error) -> String {
    if e.is_timeout() {
        "timed out".into()
    } else if e.is_connect() {
        "connection failed".into()
    } else {
        e.to_string()
    }
}

/// Keeps only RSA signature keys usable with RS256 and at least 2048 bits; never an `oct` (HMAC)
/// key, whatever the JWKS says.
pub fn parse_jwks(body: &[u8]) -> Result<HashMap<String, Arc<DecodingKey>>, String> {
    let set: JwkSet =
        serde_json::from_slice(body).map_err(|e| format!("the JWKS is not valid JSON: {e}"))?;
    let mut keys = HashMap::new();
    for value in set.keys {
        let Ok(jwk) = serde_json::from_value::<RawJwk>(value) else {
            tracing::debug!("JWKS entry skipped: not an RSA key with kid, n and e");
            continue;
        };
        match usable_key(&jwk) {
            Ok(key) => {
                // The first key with a given kid wins, as in `JwkSet::find`.
                keys.entry(jwk.kid).or_insert_with(|| Arc::new(key));
            }
            Err(reason) => tracing::info!(kid = %jwk.kid, reason, "JWKS entry skipped"),
        }
    }
    Ok(keys)
}

fn usable_key(jwk: &RawJwk) -> Result<DecodingKey, &'static str> {
    if jwk.kty != "RSA" {
        return Err("not an RSA key");
    }
    if jwk.kid.is_empty() {
        return Err("empty kid");
    }
    if jwk.use_.as_deref().is_some_and(|u| u != "sig") {
        return Err("not a signature key");
    }
    if jwk.alg.as_deref().is_some_and(|a| a != "RS256") {
        return Err("not an RS256 key");
    }
    if jwk
        .key_ops
        .as_ref()
        .is_some_and(|ops| !ops.iter().any(|op| op == "verify"))
    {
        return Err("key_ops excludes verify");
    }
    let n = decode_b64url(&jwk.n).ok_or("modulus is not base64url")?;
    let e = decode_b64url(&jwk.e).ok_or("exponent is not base64url")?;
    let n = strip_leading_zeros(&n);
    let e = strip_leading_zeros(&e);
    let bits = bit_len(n);
    if bits < MIN_RSA_BITS {
        return Err("modulus shorter than 2048 bits");
    }
    if bits > MAX_RSA_BITS {
        return Err("modulus longer than 8192 bits");
    }
    // A public exponent must be odd and greater than 1 (RFC 8017 §3.1).
    if e.is_empty() || e.len() > 8 || e.last().is_none_or(|b| b & 1 == 0) || e == [1] {
        return Err("unusable public exponent");
    }
    Ok(DecodingKey::from_rsa_raw_components(n, e))
}

fn decode_b64url(s: &str) -> Option<Vec<u8>> {
    URL_SAFE_NO_PAD.decode(s.trim_end_matches('=')).ok()
}

fn strip_leading_zeros(bytes: &[u8]) -> &[u8] {
    let start = bytes.iter().position(|b| *b != 0).unwrap_or(bytes.len());
    &bytes[start..]
}

fn bit_len(n: &[u8]) -> usize {
    match n.first() {
        None => 0,
        Some(first) => (n.len() - 1) * 8 + (8 - first.leading_zeros() as usize),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn modulus(bits: usize) -> String {
        let mut n = vec![0xffu8; bits / 8];
        n[0] = 0x80 | 0x01;
        URL_SAFE_NO_PAD.encode(n)
    }

    fn jwks(entries: &[serde_json::Value]) -> Vec<u8> {
        serde_json::to_vec(&serde_json::json!({ "keys": entries })).unwrap()
    }

    #[test]
    fn keeps_only_rsa_signature_keys_of_2048_bits_or_more() {
        let good = serde_json::json!({"kty":"RSA","kid":"a+b/c=","alg":"RS256","use":"sig","n":modulus(2048),"e":"AQAB"});
        let no_alg_or_use =
            serde_json::json!({"kty":"RSA","kid":"plain","n":modulus(2048),"e":"AQAB"});
        let rejected = [
            serde_json::json!({"kty":"oct","kid":"hmac","k":"c2VjcmV0"}),
            serde_json::json!({"kty":"RSA","kid":"weak","n":modulus(1024),"e":"AQAB"}),
            serde_json::json!({"kty":"RSA","kid":"enc","use":"enc","n":modulus(2048),"e":"AQAB"}),
            serde_json::json!({"kty":"RSA","kid":"rs512","alg":"RS512","n":modulus(2048),"e":"AQAB"}),
            serde_json::json!({"kty":"RSA","kid":"ops","key_ops":["encrypt"],"n":modulus(2048),"e":"AQAB"}),
            serde_json::json!({"kty":"RSA","kid":"e-even","n":modulus(2048),"e":"AQAA"}),
            serde_json::json!({"kty":"RSA","kid":"e-one","n":modulus(2048),"e":"AQ"}),
            serde_json::json!({"kty":"RSA","kid":"nokid-type","n":5,"e":"AQAB"}),
            serde_json::json!({"kty":"RSA","n":modulus(2048),"e":"AQAB"}),
            serde_json::json!({"kty":"EC","kid":"ec","crv":"P-256","x":"AA","y":"AA"}),
        ];
        let mut entries = vec![good, no_alg_or_use];
        entries.extend(rejected);

        let keys = parse_jwks(&jwks(&entries)).unwrap();

        let mut kids: Vec<_> = keys.keys().cloned().collect();
        kids.sort();
        assert_eq!(kids, ["a+b/c=", "plain"]);
    }

    #[test]
    fn refuses_what_is_not_a_jwks() {
        assert!(parse_jwks(b"<html>").is_err());
        assert!(parse_jwks(b"{\"keys\": {}}").is_err());
        assert!(parse_jwks(b"{}").is_err());
        assert!(parse_jwks(b"{\"keys\": []}").unwrap().is_empty());
    }

    #[test]
    fn bit_lengths() {
        assert_eq!(bit_len(&[0x80, 0]), 16);
        assert_eq!(bit_len(&[0x01, 0]), 9);
        assert_eq!(bit_len(strip_leading_zeros(&[0, 0, 0x80])), 8);
    }
}
