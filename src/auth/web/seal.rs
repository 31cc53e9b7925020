//! Tokens at rest: AES-256-GCM with a key derived from `SECRET_KEY` (HKDF-SHA256), each value
//! bound to its row and column by the associated data, so a sealed refresh token copied into
//! another row (or column) does not open. Also the web session's CSRF form token, an HMAC of the
//! session, so it needs no storage.

use actix_web::cookie::Key;
use aws_lc_rs::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use aws_lc_rs::{hkdf, hmac};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

/// The first byte of every sealed value: the format, so a later key rotation can tell them apart.
const VERSION: u8 = 1;

pub struct Sealer {
    aead: LessSafeKey,
    csrf: hmac::Key,
}

/// A sealed value did not open: another key (SECRET_KEY changed), or tampered with.
#[derive(Debug, thiserror::Error)]
#[error("a sealed value did not open (SECRET_KEY changed, or the value was altered)")]
pub struct Unsealable;

impl Sealer {
    pub fn new(secret_key: &Key) -> Self {
        let prk = hkdf::Salt::new(hkdf::HKDF_SHA256, b"gatehouse web sessions")
            .extract(secret_key.master());
        // Expanding 32 or 64 bytes from a valid PRK cannot fail; the lengths are fixed here.
        let aead = UnboundKey::from(
            prk.expand(&[b"token sealing v1"], &AES_256_GCM)
                .expect("HKDF output of AES-256 key length"),
        );
        let csrf = hmac::Key::from(
            prk.expand(&[b"csrf v1"], hmac::HMAC_SHA256)
                .expect("HKDF output of HMAC key length"),
        );
        Sealer {
            aead: LessSafeKey::new(aead),
            csrf,
        }
    }

    /// `VERSION || nonce || ciphertext || tag`; `context` names the row and column.
    pub fn seal(&self, context: &[u8], plaintext: &[u8]) -> Vec<u8> {
        let nonce: [u8; NONCE_LEN] = rand::random();
        let mut out = Vec::with_capacity(1 + NONCE_LEN + plaintext.len() + 16);
        out.push(VERSION);
        out.extend_from_slice(&nonce);
        let mut body = plaintext.to_vec();
        // Sealing fails only for inputs beyond GCM's 64 GiB limit.
        self.aead
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(context),
                &mut body,
            )
            .expect("AES-GCM seals any token-sized input");
        out.extend_from_slice(&body);
        out
    }

    pub fn open(&self, context: &[u8], sealed: &[u8]) -> Result<Vec<u8>, Unsealable> {
        let (&version, rest) = sealed.split_first().ok_or(Unsealable)?;
        if version != VERSION || rest.len() < NONCE_LEN {
            return Err(Unsealable);
        }
        let (nonce, body) = rest.split_at(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(nonce).map_err(|_| Unsealable)?;
        let mut body = body.to_vec();
        let plain = self
            .aead
            .open_in_place(nonce, Aad::from(context), &mut body)
            .map_err(|_| Unsealable)?;
        let len = plain.len();
        body.truncate(len);
        Ok(body)
    }

    pub fn open_string(&self, context: &[u8], sealed: &[u8]) -> Result<String, Unsealable> {
        String::from_utf8(self.open(context, sealed)?).map_err(|_| Unsealable)
    }

    /// The CSRF token of the forms of one web session: HMAC of its id hash, base64url.
    pub fn csrf_token(&self, session_id_hash: &[u8]) -> String {
        URL_SAFE_NO_PAD.encode(hmac::sign(&self.csrf, session_id_hash))
    }

    /// Constant-time check of a form's CSRF token.
    pub fn csrf_matches(&self, session_id_hash: &[u8], given: &str) -> bool {
        URL_SAFE_NO_PAD
            .decode(given)
            .is_ok_and(|tag| hmac::verify(&self.csrf, session_id_hash, &tag).is_ok())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sealer(secret: &str) -> Sealer {
        Sealer::new(&Key::derive_from(secret.as_bytes()))
    }

    #[test]
    fn sealed_values_open_only_with_the_same_key_and_context() {
        let a = sealer("a-secret-key-that-is-long-enough-0123456789");
        let sealed = a.seal(b"row-1/refresh", b"eyJ-token");
        assert!(
            !sealed.windows(9).any(|w| w == b"eyJ-token"),
            "not in clear"
        );
        assert_eq!(a.open(b"row-1/refresh", &sealed).unwrap(), b"eyJ-token");
        assert!(
            a.open(b"row-2/refresh", &sealed).is_err(),
            "bound to its row"
        );
        assert!(
            a.open(b"row-1/access", &sealed).is_err(),
            "bound to its column"
        );
        let b = sealer("another-secret-key-long-enough-0123456789");
        assert!(b.open(b"row-1/refresh", &sealed).is_err(), "another key");
        let mut tampered = sealed.clone();
        let last = tampered.len() - 1;
        tampered[last] ^= 1;
        assert!(a.open(b"row-1/refresh", &tampered).is_err());
        assert!(a.open(b"row-1/refresh", &[]).is_err());
        assert!(a.open(b"row-1/refresh", &[2; 40]).is_err());
        assert_ne!(
            sealed,
            a.seal(b"row-1/refresh", b"eyJ-token"),
            "fresh nonce"
        );
    }

    #[test]
    fn csrf_tokens_belong_to_one_session() {
        let a = sealer("a-secret-key-that-is-long-enough-0123456789");
        let token = a.csrf_token(b"session-1");
        assert!(a.csrf_matches(b"session-1", &token));
        assert!(!a.csrf_matches(b"session-2", &token));
        assert!(!a.csrf_matches(b"session-1", ""));
        assert!(!a.csrf_matches(b"session-1", "not base64!"));
    }
}
