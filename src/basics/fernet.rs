//! Fernet, as Frappe encrypts a Password field (frappe/utils/password.py `encrypt`:
//! `Fernet(site_config.encryption_key).encrypt(txt)`): the token is url-safe base64 of
//! 0x80, the time (8 bytes, big-endian seconds), a random 16-byte IV, the AES-128-CBC
//! ciphertext (PKCS7), and an HMAC-SHA256 over all of that. The 32-byte key (url-safe
//! base64) is 16 bytes of signing key, then 16 of encryption key. Only what the tool
//! needs: encrypting a value Frappe then decrypts.

use base64::engine::general_purpose::URL_SAFE;
use base64::Engine;
use cipher::{BlockEncryptMut, KeyIvInit};
use hmac::{Hmac, Mac};
use sha2::Sha256;

use super::secret::Secret;

#[derive(Debug, thiserror::Error)]
#[error("the site's encryption_key is not a Fernet key (32 bytes of url-safe base64)")]
pub struct BadKey;

/// A new key, as `Fernet.generate_key()` makes one: 32 random bytes, url-safe base64.
pub fn generate_key() -> Secret {
    Secret::new(URL_SAFE.encode(rand::random::<[u8; 32]>()))
}

/// `plaintext` encrypted under `key`, as Frappe's `encrypt` would, for Frappe to decrypt.
pub fn encrypt(key: &Secret, plaintext: &[u8]) -> Result<Secret, BadKey> {
    let raw = URL_SAFE.decode(key.expose().trim()).map_err(|_| BadKey)?;
    if raw.len() != 32 {
        return Err(BadKey);
    }
    let (signing, encryption) = raw.split_at(16);
    let iv: [u8; 16] = rand::random();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or_default();
    let ciphertext = cbc::Encryptor::<aes::Aes128>::new_from_slices(encryption, &iv)
        .map_err(|_| BadKey)?
        .encrypt_padded_vec_mut::<cipher::block_padding::Pkcs7>(plaintext);
    let mut token = Vec::with_capacity(57 + ciphertext.len());
    token.push(0x80);
    token.extend_from_slice(&now.to_be_bytes());
    token.extend_from_slice(&iv);
    token.extend_from_slice(&ciphertext);
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(signing).map_err(|_| BadKey)?;
    mac.update(&token);
    token.extend_from_slice(&mac.finalize().into_bytes());
    Ok(Secret::new(URL_SAFE.encode(token)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_has_fernets_layout() {
        let key = Secret::new(URL_SAFE.encode([7u8; 32]));
        let t = encrypt(&key, b"secret").unwrap();
        let raw = URL_SAFE.decode(t.expose()).unwrap();
        assert_eq!(raw[0], 0x80);
        // version, time, iv, one AES block, HMAC.
        assert_eq!(raw.len(), 1 + 8 + 16 + 16 + 32);
        assert!(encrypt(&Secret::new("short"), b"x").is_err());
    }
}
