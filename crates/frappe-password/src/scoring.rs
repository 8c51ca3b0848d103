//! Python zxcvbn 4.4.28's `scoring.py`: guesses per match and the search for the
//! sequence of matches that is cheapest to guess. Python mixes ints, floats and
//! `Decimal`s here and the mix decides the rounding, so each estimate is computed in
//! the type Python computes it in (`Num`), and the search in `Dec`.

use num_bigint::BigUint;

use super::data::data;
use super::decimal::Dec;
use super::pattern::{int_of, lower, Match, Pattern};

/// The year dates and recent years are measured from (`scoring.REFERENCE_YEAR`).
pub const REFERENCE_YEAR: i64 = 2017;
const MIN_GUESSES_BEFORE_GROWING_SEQUENCE: usize = 4; // 10000 = 10^4
const MIN_SUBMATCH_GUESSES_SINGLE_CHAR: i128 = 10;
const MIN_SUBMATCH_GUESSES_MULTI_CHAR: i128 = 50;
const MIN_YEAR_SPACE: i64 = 20;

/// A Python number before it becomes a `Decimal`: an int, or a float once any float
/// took part.
#[derive(Clone, Copy, Debug)]
enum Num {
    I(i128),
    F(f64),
}

impl Num {
    fn mul(self, o: Num) -> Num {
        match (self, o) {
            (Num::I(a), Num::I(b)) => Num::I(a * b),
            (Num::I(a), Num::F(b)) => Num::F(a as f64 * b),
            (Num::F(a), Num::I(b)) => Num::F(a * b as f64),
            (Num::F(a), Num::F(b)) => Num::F(a * b),
        }
    }
    fn add(self, o: Num) -> Num {
        match (self, o) {
            (Num::I(a), Num::I(b)) => Num::I(a + b),
            (Num::I(a), Num::F(b)) => Num::F(a as f64 + b),
            (Num::F(a), Num::I(b)) => Num::F(a + b as f64),
            (Num::F(a), Num::F(b)) => Num::F(a + b),
        }
    }
    fn as_f64(self) -> f64 {
        match self {
            Num::I(a) => a as f64,
            Num::F(a) => a,
        }
    }
    /// `Decimal(max(self, min))`.
    fn at_least(self, min: i128) -> Dec {
        match self {
            Num::I(a) => Dec::from_u64(a.max(min) as u64),
            Num::F(a) if (min as f64) > a => Dec::from_u64(min as u64),
            Num::F(a) => Dec::from_f64(a),
        }
    }
}

/// `nCk` as Python computes it: true division makes it a float after the first step.
fn n_ck(n: usize, k: usize) -> Num {
    if k > n {
        return Num::I(0);
    }
    if k == 0 {
        return Num::I(1);
    }
    let mut n = n;
    let mut r = n as f64;
    n -= 1;
    for d in 2..=k {
        r *= n as f64;
        r /= d as f64;
        n -= 1;
    }
    Num::F(r)
}

fn factorial(l: usize) -> Dec {
    Dec::from_biguint((1..=l as u64).map(BigUint::from).product())
}

/// The search's answer: total guesses and the chosen sequence (bruteforce included).
pub struct Guessed {
    pub guesses: Dec,
    pub sequence: Vec<Match>,
}

#[derive(Clone, Copy)]
enum Last {
    Found(usize),
    /// A bruteforce match from `i` to the entry's position.
    Brute(usize),
}

struct Entry {
    l: usize,
    m: Last,
    pi: Dec,
    g: Dec,
    /// log2 of pi and g, to rule most candidates out without exact arithmetic.
    pi_lg: f64,
    g_lg: f64,
}

/// Far above the error of the log2 estimates (about 1e-12 over a 128-character search):
/// candidates closer than this to a competitor are compared exactly.
const CLOSE: f64 = 1e-6;

/// log2(2^a + 2^b)
fn lg_add(a: f64, b: f64) -> f64 {
    let (hi, lo) = if a > b { (a, b) } else { (b, a) };
    hi + (lo - hi).exp2().ln_1p() / std::f64::consts::LN_2
}

pub fn most_guessable_match_sequence(password: &[char], mut matches: Vec<Match>) -> Guessed {
    let n = password.len();
    if n == 0 {
        return Guessed {
            guesses: Dec::from_u64(1),
            sequence: Vec::new(),
        };
    }
    let mut by_j: Vec<Vec<usize>> = vec![Vec::new(); n];
    for (idx, m) in matches.iter().enumerate() {
        by_j[m.j].push(idx);
    }
    for list in &mut by_j {
        list.sort_by_key(|&idx| matches[idx].i);
    }
    // optimal[k]: the best sequence of each length l over the prefix up to k, in the
    // order Python's dict first saw each l.
    let mut optimal: Vec<Vec<Entry>> = (0..n).map(|_| Vec::new()).collect();
    // A bruteforce match's estimate by length: max(10^len, 11 or 51), which is already
    // above the submatch minimum.
    let brute: Vec<Dec> = (0..=n)
        .map(|len| match len {
            0 | 1 => Dec::from_u64(11),
            _ => Dec::pow10(len),
        })
        .collect();
    let brute_lg: Vec<f64> = brute.iter().map(Dec::log2).collect();
    let facts: Vec<Dec> = (0..=n + 1).map(factorial).collect();
    let facts_lg: Vec<f64> = facts.iter().map(Dec::log2).collect();
    let growth: Vec<Dec> = (0..=n + 1)
        .map(|l| Dec::pow10(MIN_GUESSES_BEFORE_GROWING_SEQUENCE * l))
        .collect();
    let growth_lg: Vec<f64> = growth.iter().map(Dec::log2).collect();

    // Python's `update(m, l)`. Most candidates lose to a competitor by orders of
    // magnitude; the exact Decimal sums are only made for those that win or come close.
    let update = |optimal: &mut Vec<Vec<Entry>>,
                  i: usize,
                  k: usize,
                  m: Last,
                  (est, est_lg): (&Dec, f64),
                  l: usize| {
        let prev = (l > 1).then(|| {
            optimal[i - 1]
                .iter()
                .find(|e| e.l == l - 1)
                .expect("l - 1 was iterated from this prefix")
        });
        let pi_lg = est_lg + prev.map_or(0.0, |p| p.pi_lg);
        let g_lg = lg_add(facts_lg[l] + pi_lg, growth_lg[l - 1]);
        let rivals = || optimal[k].iter().filter(|e| e.l <= l);
        if rivals().any(|e| e.g_lg < g_lg - CLOSE) {
            return;
        }
        let pi = match prev {
            Some(p) => est.mul(&p.pi),
            None => est.clone(),
        };
        let g = facts[l].mul(&pi).add(&growth[l - 1]);
        if rivals().any(|e| e.g <= g) {
            return;
        }
        let (pi_lg, g_lg) = (pi.log2(), g.log2());
        match optimal[k].iter_mut().find(|e| e.l == l) {
            Some(e) => {
                *e = Entry {
                    l,
                    m,
                    pi,
                    g,
                    pi_lg,
                    g_lg,
                }
            }
            None => optimal[k].push(Entry {
                l,
                m,
                pi,
                g,
                pi_lg,
                g_lg,
            }),
        }
    };

    for k in 0..n {
        for &idx in &by_j[k] {
            let est = estimate_guesses(&mut matches[idx], n);
            let est = (&est, est.log2());
            let i = matches[idx].i;
            if i > 0 {
                let ls: Vec<usize> = optimal[i - 1].iter().map(|e| e.l).collect();
                for l in ls {
                    update(&mut optimal, i, k, Last::Found(idx), est, l + 1);
                }
            } else {
                update(&mut optimal, i, k, Last::Found(idx), est, 1);
            }
        }
        // Bruteforce from 0, then from each i after a sequence that did not itself end
        // in bruteforce (two adjacent bruteforce matches are never better than one).
        let whole = (&brute[k + 1], brute_lg[k + 1]);
        update(&mut optimal, 0, k, Last::Brute(0), whole, 1);
        for i in 1..=k {
            let est = (&brute[k - i + 1], brute_lg[k - i + 1]);
            let ls: Vec<usize> = optimal[i - 1]
                .iter()
                .filter(|e| !matches!(e.m, Last::Brute(_)))
                .map(|e| e.l)
                .collect();
            for l in ls {
                update(&mut optimal, i, k, Last::Brute(i), est, l + 1);
            }
        }
    }

    // Unwind from the end: the first length (in insertion order) with the least g.
    let mut best = &optimal[n - 1][0];
    for e in &optimal[n - 1][1..] {
        if e.g < best.g {
            best = e;
        }
    }
    let guesses = best.g.clone();
    let mut sequence = Vec::new();
    let (mut k, mut l) = (n as isize - 1, best.l);
    while k >= 0 {
        let e = optimal[k as usize]
            .iter()
            .find(|e| e.l == l)
            .expect("each entry was built on one of length l - 1");
        let m = match e.m {
            Last::Found(idx) => matches[idx].clone(),
            Last::Brute(i) => Match {
                i,
                j: k as usize,
                token: password[i..=k as usize].to_vec(),
                pattern: Pattern::Bruteforce,
                guesses: None,
            },
        };
        k = m.i as isize - 1;
        l -= 1;
        sequence.push(m);
    }
    sequence.reverse();
    Guessed { guesses, sequence }
}

fn estimate_guesses(m: &mut Match, password_len: usize) -> Dec {
    if let Some(g) = &m.guesses {
        return g.clone();
    }
    let min_guesses = if m.token.len() < password_len {
        if m.token.len() == 1 {
            MIN_SUBMATCH_GUESSES_SINGLE_CHAR
        } else {
            MIN_SUBMATCH_GUESSES_MULTI_CHAR
        }
    } else {
        1
    };
    let d = data();
    let g = match &m.pattern {
        Pattern::Bruteforce => unreachable!("bruteforce estimates are made in the search"),
        Pattern::Dictionary {
            rank,
            reversed,
            sub,
            ..
        } => Num::I(i128::from(*rank))
            .mul(uppercase_variations(&m.token))
            .mul(l33t_variations(&m.token, sub.as_deref()))
            .mul(Num::I(if *reversed { 2 } else { 1 }))
            .at_least(min_guesses),
        Pattern::Spatial {
            graph,
            turns,
            shifted_count,
        } => {
            let (s, deg) = if *graph == "qwerty" || *graph == "dvorak" {
                (d.keyboard_starting_positions, d.keyboard_average_degree)
            } else {
                (d.keypad_starting_positions, d.keypad_average_degree)
            };
            let len = m.token.len();
            let mut guesses = 0.0f64;
            for i in 2..=len {
                let possible_turns = (*turns).min(i - 1) + 1;
                for j in 1..possible_turns {
                    let term = n_ck(i - 1, j - 1).mul(Num::I(i128::from(s as u32)));
                    guesses += term.as_f64() * deg.powf(j as f64);
                }
            }
            if *shifted_count > 0 {
                let (sh, un) = (*shifted_count, len - *shifted_count);
                if un == 0 {
                    guesses *= 2.0;
                } else {
                    let mut variations = Num::I(0);
                    for i in 1..=sh.min(un) {
                        variations = variations.add(n_ck(sh + un, i));
                    }
                    guesses *= variations.as_f64();
                }
            }
            Num::F(guesses).at_least(min_guesses)
        }
        Pattern::Repeat {
            base_guesses,
            repeat_count,
        } => {
            let g = base_guesses.mul(&Dec::from_f64(*repeat_count));
            let min = Dec::from_u64(min_guesses as u64);
            if min > g {
                min
            } else {
                g
            }
        }
        Pattern::Sequence { ascending } => {
            let first = m.token[0];
            let mut base: i128 = if "aAzZ019".contains(first) {
                4
            } else if d.digit(first).is_some() {
                10
            } else {
                26
            };
            if !ascending {
                base *= 2;
            }
            Num::I(base * m.token.len() as i128).at_least(min_guesses)
        }
        Pattern::RecentYear => {
            let space = (int_of(&m.token) - REFERENCE_YEAR)
                .abs()
                .max(MIN_YEAR_SPACE);
            Num::I(i128::from(space)).at_least(min_guesses)
        }
        Pattern::Date { year, separator } => {
            let space = (year - REFERENCE_YEAR).abs().max(MIN_YEAR_SPACE);
            let mut g = i128::from(space) * 365;
            if *separator {
                g *= 4;
            }
            Num::I(g).at_least(min_guesses)
        }
    };
    m.guesses = Some(g.clone());
    g
}

fn has_ascii_upper(w: &[char]) -> bool {
    w.iter().any(char::is_ascii_uppercase)
}

/// `START_UPPER` `^[A-Z][^A-Z]+$` and `ALL_UPPER` `^[^a-z]+$`, ASCII classes as in Python.
pub fn starts_upper(w: &[char]) -> bool {
    w.len() >= 2 && w[0].is_ascii_uppercase() && !has_ascii_upper(&w[1..])
}
pub fn all_upper(w: &[char]) -> bool {
    !w.is_empty() && !w.iter().any(char::is_ascii_lowercase)
}

fn uppercase_variations(w: &[char]) -> Num {
    if !has_ascii_upper(w) || lower(w) == w {
        return Num::I(1);
    }
    let ends_upper =
        w.len() >= 2 && w[w.len() - 1].is_ascii_uppercase() && !has_ascii_upper(&w[..w.len() - 1]);
    if starts_upper(w) || ends_upper || all_upper(w) {
        return Num::I(2);
    }
    let u = w.iter().filter(|c| c.is_uppercase()).count();
    let l = w.iter().filter(|c| c.is_lowercase()).count();
    let mut variations = Num::I(0);
    for i in 1..=u.min(l) {
        variations = variations.add(n_ck(u + l, i));
    }
    variations
}

fn l33t_variations(token: &[char], sub: Option<&[(char, char)]>) -> Num {
    let Some(sub) = sub else {
        return Num::I(1);
    };
    let mut variations = Num::I(1);
    let chrs = lower(token);
    for &(subbed, unsubbed) in sub {
        let s = chrs.iter().filter(|&&c| c == subbed).count();
        let u = chrs.iter().filter(|&&c| c == unsubbed).count();
        if s == 0 || u == 0 {
            variations = variations.mul(Num::I(2));
        } else {
            let mut possibilities = Num::I(0);
            for i in 1..=u.min(s) {
                possibilities = possibilities.add(n_ck(u + s, i));
            }
            variations = variations.mul(possibilities);
        }
    }
    variations
}
