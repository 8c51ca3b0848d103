//! Password strength exactly as a Frappe v15 site judges it: a port of Python zxcvbn
//! 4.4.28 (the version Frappe v15 pins) and of Frappe's rule around it, so the tool
//! refuses a sign-up password before any side effect iff the site would refuse it.
//!
//! - `matching` — every pattern in the password (dictionaries, l33t, keyboard, repeats,
//!   sequences, years, dates), in Python's order
//! - `pattern`  — a match (Python's match dict as a type), Python's `lower` and `int()`
//! - `scoring`  — guesses per match and the cheapest sequence of matches
//! - `decimal`  — Python's `Decimal` rounding, which that search compares in
//! - `data`     — the package's word lists and keyboard graphs (generated, MIT)
//! - `passlib`  — the password as a site stores it once accepted (pbkdf2_sha256)
//!
//! `tests/differential.rs` holds this against the Python package itself; `benches/`
//! measures it. It depends on nothing of the tool that uses it.

mod data;
mod decimal;
mod matching;
pub mod passlib;
mod pattern;
mod scoring;

use decimal::Dec;
use pattern::{Match, Pattern};

/// Frappe cuts passwords to this many characters before zxcvbn
/// (frappe/utils/password_strength.py `test_password_strength`).
pub const FRAPPE_MAX_SCORED_CHARS: usize = 128;

/// zxcvbn's verdict on one password.
#[derive(Debug, Clone)]
pub struct Strength {
    /// 0 (too guessable) to 4 (very unguessable).
    pub score: u8,
    guesses: Dec,
    sequence: Vec<Match>,
}

impl Strength {
    /// The estimated guesses as Python prints the `Decimal` (`str(result["guesses"])`).
    pub fn guesses(&self) -> String {
        self.guesses.to_string()
    }

    pub fn guesses_f64(&self) -> f64 {
        self.guesses.to_f64()
    }
}

/// `zxcvbn(password, user_inputs)`: user inputs are lower-cased and ranked by position,
/// a later duplicate taking the earlier's place, as Python's dict does.
pub fn zxcvbn(password: &str, user_inputs: &[&str]) -> Strength {
    let d = data::data();
    let lowered: Vec<String> = user_inputs.iter().map(|s| s.to_lowercase()).collect();
    let inputs = data::Ranked::build("user_inputs", lowered.iter().map(String::as_str));
    let mut dictionaries: Vec<&data::Ranked> = d.dictionaries.iter().collect();
    dictionaries.push(&inputs);
    let chars: Vec<char> = password.chars().collect();
    let matches = matching::omnimatch(&chars, &dictionaries);
    let found = scoring::most_guessable_match_sequence(&chars, matches);
    Strength {
        score: guesses_to_score(&found.guesses),
        guesses: found.guesses,
        sequence: found.sequence,
    }
}

/// `time_estimates.guesses_to_score`: thresholds 10^3, 10^6, 10^8, 10^10, each plus 5.
fn guesses_to_score(g: &Dec) -> u8 {
    let thresholds = [1_005u64, 1_000_005, 100_000_005, 10_000_000_005];
    thresholds
        .iter()
        .position(|&t| *g < Dec::from_u64(t))
        .map_or(4, |p| p as u8)
}

/// The password's strength as `User.password_strength_test` computes it for a user made
/// through REST: user inputs (first_name, middle_name, last_name, email, birth_date), the
/// two fields the tool never sends being `None`, which Python zxcvbn turns into the word
/// "none". `last_name` is what the tool sends, "" for a one-word name.
pub fn frappe_strength(password: &str, first_name: &str, last_name: &str, email: &str) -> Strength {
    let scored: String = password.chars().take(FRAPPE_MAX_SCORED_CHARS).collect();
    zxcvbn(&scored, &[first_name, "None", last_name, email, "None"])
}

/// A site's password policy: System Settings `enable_password_policy` and
/// `minimum_password_score`.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize, schemars::JsonSchema,
)]
#[serde(rename_all = "camelCase")]
pub struct PasswordPolicy {
    pub enabled: bool,
    /// `cint(minimum_password_score)`; Frappe offers 2, 3 and 4.
    pub minimum_score: u8,
}

impl Default for PasswordPolicy {
    /// A fresh Frappe v15 site (system_settings.json defaults): enabled, minimum 2.
    fn default() -> Self {
        PasswordPolicy {
            enabled: true,
            minimum_score: 2,
        }
    }
}

/// Why a site would refuse a password.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub score: u8,
    pub minimum_score: u8,
    /// Frappe's own message for it (`get_feedback`), e.g. "This is a top-10 common password."
    pub feedback: String,
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "is too easy to guess: zxcvbn scores it {} and the site's password policy needs at least {}",
            self.score,
            self.minimum_score.max(1)
        )?;
        if !self.feedback.is_empty() {
            write!(f, " ({})", self.feedback)?;
        }
        Ok(())
    }
}

impl PasswordPolicy {
    /// `test_password_strength` in frappe/core/doctype/user/user.py: no policy accepts
    /// everything; otherwise the score must be truthy and reach the minimum.
    pub fn verdict(&self, score: u8) -> bool {
        !self.enabled || (score > 0 && score >= self.minimum_score)
    }

    /// The whole check as a site runs it when the tool creates the user.
    pub fn check(
        &self,
        password: &str,
        first_name: &str,
        last_name: &str,
        email: &str,
    ) -> Result<(), Refusal> {
        if !self.enabled {
            return Ok(());
        }
        let s = frappe_strength(password, first_name, last_name, email);
        if self.verdict(s.score) {
            return Ok(());
        }
        Err(Refusal {
            score: s.score,
            minimum_score: self.minimum_score,
            feedback: feedback(&s.sequence),
        })
    }
}

/// Frappe's `get_feedback` for a refused password (frappe/utils/password_strength.py),
/// joined the way `handle_password_test_fail` shows it: the longest match's warning,
/// then its suggestions.
fn feedback(sequence: &[Match]) -> String {
    let Some(longest) = sequence.iter().reduce(|best, m| {
        if m.token.len() > best.token.len() {
            m
        } else {
            best
        }
    }) else {
        return String::new();
    };
    let sole = sequence.len() == 1;
    let (warning, suggestions): (&str, Vec<&str>) = match &longest.pattern {
        Pattern::Bruteforce => ("", vec!["Better add a few more letters or another word"]),
        Pattern::Dictionary {
            dictionary, rank, ..
        } => {
            // Frappe checks for "english" and "l33t_entropy", which zxcvbn 4.4.28 never
            // produces: English words get no warning, l33t no hint, as on the site.
            let warning = match *dictionary {
                "passwords" if sole && *rank <= 10 => "This is a top-10 common password.",
                "passwords" if sole && *rank <= 100 => "This is a top-100 common password.",
                "passwords" if sole => "This is a very common password.",
                "passwords" => "This is similar to a commonly used password.",
                "surnames" | "male_names" | "female_names" if sole => {
                    "Names and surnames by themselves are easy to guess."
                }
                "surnames" | "male_names" | "female_names" => {
                    "Common names and surnames are easy to guess."
                }
                _ => "",
            };
            let mut s = Vec::new();
            if scoring::starts_upper(&longest.token) {
                s.push("Capitalization doesn't help very much.");
            } else if scoring::all_upper(&longest.token) {
                s.push("All-uppercase is almost as easy to guess as all-lowercase.");
            }
            (warning, s)
        }
        Pattern::Spatial { turns: 1, .. } => (
            "Straight rows of keys are easy to guess",
            vec!["Try to use a longer keyboard pattern with more turns"],
        ),
        Pattern::Spatial { .. } => (
            "Short keyboard patterns are easy to guess",
            vec!["Make use of longer keyboard patterns"],
        ),
        Pattern::Repeat { .. } => (
            "Repeats like \"abcabcabc\" are only slightly harder to guess than \"abc\"",
            vec!["Try to avoid repeated words and characters"],
        ),
        Pattern::Sequence { .. } => (
            "",
            vec!["Avoid sequences like abc or 6543 as they are easy to guess"],
        ),
        Pattern::RecentYear => (
            "Recent years are easy to guess.",
            vec![
                "Avoid recent years.",
                "Avoid years that are associated with you.",
            ],
        ),
        Pattern::Date { .. } => (
            "Dates are often easy to guess.",
            vec!["Avoid dates and years that are associated with you."],
        ),
    };
    std::iter::once(warning)
        .chain(suggestions)
        .filter(|s| !s.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

/// Frappe's `cint`: `int(float(s))`, 0 for anything that is not a finite number.
fn cint(s: &str) -> i64 {
    s.trim()
        .parse::<f64>()
        .ok()
        .filter(|f| f.is_finite())
        .map_or(0, |f| f.trunc() as i64)
}

/// System Settings as `frappe.get_system_settings` sees them: a Single with no rows at
/// all loads as a new document with the DocType's defaults (`Document.load_from_db`),
/// otherwise a missing field is `None`, so `enable_password_policy` off and
/// `minimum_password_score` 0 (user.py `test_password_strength`: `or 0`, `cint(...) or 0`).
pub fn policy_from_system_settings(
    values: &std::collections::BTreeMap<String, String>,
) -> PasswordPolicy {
    if values.is_empty() {
        return PasswordPolicy::default();
    }
    let get = |k: &str| values.get(k).map_or(0, |v| cint(v));
    PasswordPolicy {
        enabled: get("enable_password_policy") != 0,
        minimum_score: get("minimum_password_score").clamp(0, 255) as u8,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn password_policy_reads_system_settings_like_frappe() {
        let of = |pairs: &[(&str, &str)]| {
            policy_from_system_settings(
                &pairs
                    .iter()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect(),
            )
        };
        assert_eq!(of(&[]), PasswordPolicy::default());
        let p = of(&[
            ("enable_password_policy", "1"),
            ("minimum_password_score", "3"),
        ]);
        assert_eq!((p.enabled, p.minimum_score), (true, 3));
        let p = of(&[
            ("enable_password_policy", "0"),
            ("minimum_password_score", "4"),
        ]);
        assert!(!p.enabled);
        let p = of(&[("country", "India")]);
        assert_eq!((p.enabled, p.minimum_score), (false, 0));
        assert_eq!(cint(" 2.9 "), 2);
        assert_eq!(cint("x"), 0);
    }

    #[test]
    fn frappe_rule_needs_a_truthy_score_that_reaches_the_minimum() {
        let on = |minimum_score| PasswordPolicy {
            enabled: true,
            minimum_score,
        };
        assert!(!on(0).verdict(0), "score 0 is refused whatever the minimum");
        assert!(on(0).verdict(1));
        assert!(!on(2).verdict(1));
        assert!(on(2).verdict(2));
        assert!(!on(4).verdict(3));
        let off = PasswordPolicy {
            enabled: false,
            minimum_score: 4,
        };
        assert!(off.verdict(0));
        assert_eq!(PasswordPolicy::default(), on(2));
    }

    #[test]
    fn known_python_results() {
        // Printed by Python zxcvbn 4.4.28 for these calls.
        let cases = [
            ("password", 0, "3"),
            ("Tr1cky-Lantern-42", 4, "14582426176000"),
            ("correcthorsebatterystaple", 4, "273500327700640"),
            ("qwerty12345", 1, "1256"),
        ];
        for (p, score, guesses) in cases {
            let s = zxcvbn(p, &[]);
            assert_eq!((s.score, s.guesses().as_str()), (score, guesses), "{p}");
        }
    }

    #[test]
    fn user_inputs_include_none_for_the_fields_the_tool_leaves_empty() {
        let with = frappe_strength("nonenone", "John", "Doe", "john@acme.com");
        let without = zxcvbn("nonenone", &["John", "Doe", "john@acme.com"]);
        assert!(with.guesses_f64() < without.guesses_f64());
    }

    #[test]
    fn refusals_say_why_in_frappes_words() {
        let r = PasswordPolicy::default()
            .check("password", "John", "Doe", "john@acme.com")
            .unwrap_err();
        assert_eq!(r.score, 0);
        assert_eq!(r.feedback, "This is a top-10 common password.");
        let r = PasswordPolicy::default()
            .check("Johndoe1", "John", "Doe", "john@acme.com")
            .unwrap_err();
        assert!(r.to_string().contains("needs at least 2"), "{r}");
    }
}
