//! What matching finds and scoring prices: a match (Python zxcvbn's match dict as a
//! type) and the two bits of Python's own semantics both sides need.

use super::data::data;
use super::decimal::Dec;

#[derive(Clone, Debug)]
pub enum Pattern {
    Dictionary {
        dictionary: &'static str,
        matched_word: String,
        rank: u32,
        reversed: bool,
        /// l33t character → letter, for the substitutions the token actually uses.
        sub: Option<Vec<(char, char)>>,
    },
    Spatial {
        graph: &'static str,
        turns: usize,
        shifted_count: usize,
    },
    Repeat {
        base_guesses: Dec,
        repeat_count: f64,
    },
    Sequence {
        ascending: bool,
    },
    RecentYear,
    Date {
        year: i64,
        separator: bool,
    },
    Bruteforce,
}

#[derive(Clone, Debug)]
pub struct Match {
    pub i: usize,
    pub j: usize,
    pub token: Vec<char>,
    pub pattern: Pattern,
    /// `estimate_guesses` caches its answer in the match, as Python's dict does.
    pub guesses: Option<Dec>,
}

impl Match {
    pub(crate) fn new(i: usize, j: usize, token: &[char], pattern: Pattern) -> Self {
        Match {
            i,
            j,
            token: token.to_vec(),
            pattern,
            guesses: None,
        }
    }
}

/// Python's `str.lower()`: full Unicode case mapping with the final-sigma rule, which
/// Rust's `str::to_lowercase` shares. It may lengthen the text ('İ' → 'i̇').
pub fn lower(s: &[char]) -> Vec<char> {
    s.iter()
        .collect::<String>()
        .to_lowercase()
        .chars()
        .collect()
}

/// Python's `int()` of a run of decimal digits.
pub fn int_of(digits: &[char]) -> i64 {
    let d = data();
    digits.iter().fold(0, |acc, &c| {
        acc * 10 + i64::from(d.digit(c).expect("only called on \\d runs"))
    })
}
