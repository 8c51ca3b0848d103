//! Fernet as Frappe's `encrypt`/`decrypt` (frappe/utils/password.py) use it, for the fake
//! Frappe: it stores API secrets encrypted with the site's `encryption_key` and decrypts
//! them to check an `Authorization: token key:secret`, as Frappe's
//! `validate_api_key_secret` does. Written from the Fernet spec, apart from the tool's own.

use aes::cipher::{BlockDecryptMut, BlockEncryptMut, KeyIvInit};
use base64::engine::general_purpose::URL_SAFE;
use base64::Engine;
use hmac::{Hmac, Mac};
use sha2::Sha256;

/// A new key, as `Fernet.generate_key().decode()` makes one.
pub fn generate_key() -> String {
    URL_SAFE.encode(rand::random::<[u8; 32]>())
}

fn split(key: &str) -> Option<([u8; 16], [u8; 16])> {
    let raw = URL_SAFE.decode(key.trim()).ok()?;
    (raw.len() == 32).then(|| (raw[..16].try_into().unwrap(), raw[16..].try_into().unwrap()))
}

pub fn encrypt(key: &str, plaintext: &str) -> String {
    let (signing, enc) = split(key).expect("a Fernet key");
    let iv: [u8; 16] = rand::random();
    let mut token = vec![0x80];
    token.extend_from_slice(&0u64.to_be_bytes());
    token.extend_from_slice(&iv);
    token.extend(
        cbc::Encryptor::<aes::Aes128>::new(&enc.into(), &iv.into())
            .encrypt_padded_vec_mut::<aes::cipher::block_padding::Pkcs7>(plaintext.as_bytes()),
    );
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&signing).unwrap();
    mac.update(&token);
    token.extend_from_slice(&mac.finalize().into_bytes());
    URL_SAFE.encode(token)
}

/// The plaintext, or `None` for a token this key did not make (Frappe: InvalidToken).
pub fn decrypt(key: &str, token: &str) -> Option<String> {
    let (signing, enc) = split(key)?;
    let raw = URL_SAFE.decode(token.trim()).ok()?;
    if raw.len() < 1 + 8 + 16 + 16 + 32 || raw[0] != 0x80 {
        return None;
    }
    let (body, tag) = raw.split_at(raw.len() - 32);
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&signing).unwrap();
    mac.update(body);
    mac.verify_slice(tag).ok()?;
    let iv: [u8; 16] = body[9..25].try_into().unwrap();
    let plain = cbc::Decryptor::<aes::Aes128>::new(&enc.into(), &iv.into())
        .decrypt_padded_vec_mut::<aes::cipher::block_padding::Pkcs7>(&body[25..])
        .ok()?;
    String::from_utf8(plain).ok()
}
