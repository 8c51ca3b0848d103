//! `Secret`: a string that never shows itself in `Debug`, logs or error chains.

use std::fmt;

use rand::distr::{Alphanumeric, SampleString};

/// A password, API secret or DB credential. `Debug` and `Display` print `(redacted)`,
/// so whole configs and requests can be logged; only `expose` gives the value.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// A fresh random alphanumeric secret from the OS-seeded CSPRNG.
    pub fn random(len: usize) -> Self {
        Self(Alphanumeric.sample_string(&mut rand::rng(), len))
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("(redacted)")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("(redacted)")
    }
}

/// Replaces every occurrence of each non-trivial secret in `text` with `(redacted)`.
/// Used on child output before it goes into a log line or an error message.
pub fn redact(text: &str, secrets: &[&Secret]) -> String {
    let mut out = text.to_owned();
    for secret in secrets {
        // Very short values would redact innocent words; none of ours are that short.
        if secret.0.len() >= 4 {
            out = out.replace(&secret.0, "(redacted)");
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_and_display_hide_the_value() {
        let s = Secret::new("hunter2-Secret");
        assert_eq!(format!("{s:?}"), "(redacted)");
        assert_eq!(format!("{s}"), "(redacted)");
        assert_eq!(s.expose(), "hunter2-Secret");
    }

    #[test]
    fn random_secrets_differ_and_have_the_asked_length() {
        let a = Secret::random(32);
        let b = Secret::random(32);
        assert_eq!(a.expose().len(), 32);
        assert_ne!(a, b);
    }

    #[test]
    fn redact_replaces_every_occurrence() {
        let s = Secret::new("Pa55word!");
        let out = redact("pwd=Pa55word! again Pa55word!", &[&s]);
        assert_eq!(out, "pwd=(redacted) again (redacted)");
    }
}
