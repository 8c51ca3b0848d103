//! A password as Frappe v15 stores it (frappe/utils/password.py `update_password`:
//! `passlibctx.hash(pwd)`): passlib 1.7.4's pbkdf2_sha256,
//! `$pbkdf2-sha256$<rounds>$<salt>$<checksum>` in passlib's "ab64" base64 (`.` for `+`,
//! no padding), 16-byte salt, 32-byte checksum.

use base64::Engine;
use sha2::Sha256;

/// passlib's default rounds for pbkdf2_sha256 (1.7.4), which Frappe's `passlibctx` uses.
pub const PBKDF2_ROUNDS: u32 = 29_000;

/// PBKDF2-HMAC-SHA256 with a 32-byte output. Not generic, so it is compiled here, in a
/// crate built optimised even in debug builds: 29000 rounds cost milliseconds, not a
/// tenth of a second.
pub fn pbkdf2_sha256(password: &[u8], salt: &[u8], rounds: u32) -> [u8; 32] {
    let mut out = [0u8; 32];
    pbkdf2::pbkdf2_hmac::<Sha256>(password, salt, rounds, &mut out);
    out
}

/// `passlibctx.hash(password)` with the given salt.
pub fn stored_hash(password: &str, salt: [u8; 16]) -> String {
    let checksum = pbkdf2_sha256(password.as_bytes(), &salt, PBKDF2_ROUNDS);
    let ab64 = |b: &[u8]| {
        base64::engine::general_purpose::STANDARD_NO_PAD
            .encode(b)
            .replace('+', ".")
    };
    format!(
        "$pbkdf2-sha256${PBKDF2_ROUNDS}${}${}",
        ab64(&salt),
        ab64(&checksum)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stored_hash_matches_passlib() {
        // passlib 1.7.4 (the bench's own), salt bytes 0..16:
        // pbkdf2_sha256.using(salt=bytes(range(16)), rounds=29000).hash('Tr1cky-Lantern-42')
        let salt: [u8; 16] = std::array::from_fn(|i| i as u8);
        assert_eq!(
            stored_hash("Tr1cky-Lantern-42", salt),
            "$pbkdf2-sha256$29000$AAECAwQFBgcICQoLDA0ODw$y163lc5wNEkgtmfrMUGtY5tvJ2i3kBD5TgvVEpUIHzM"
        );
    }
}
