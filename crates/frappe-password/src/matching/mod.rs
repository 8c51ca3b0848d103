//! Finding every pattern in a password the way Python zxcvbn 4.4.28's `matching.py`
//! does, down to the order matches come out in: the search keeps the first of equally
//! good sequences, so order is part of the result. Text is handled as Python sees it, a
//! sequence of code points; `\d` and `\s` are Python's Unicode classes, `[A-Z]` and
//! `[a-z]` stay ASCII as in the Python regexes.

use std::collections::HashSet;

use super::data::{data, Ranked, GRAPH_NAMES};
use super::pattern::{int_of, lower, Match, Pattern};
use super::scoring::most_guessable_match_sequence;

mod date;

use date::date_match;

/// Python's `\s` on str: `str.isspace()`, which adds the four information separators
/// U+001C..U+001F to Unicode White_Space.
fn is_py_space(c: char) -> bool {
    c.is_whitespace() || ('\u{1c}'..='\u{1f}').contains(&c)
}

fn by_position(m: &mut [Match]) {
    // Python's sorted() is stable; so is sort_by_key.
    m.sort_by_key(|m| (m.i, m.j));
}

pub fn omnimatch(password: &[char], dictionaries: &[&Ranked]) -> Vec<Match> {
    let mut matches = dictionary_match(password, dictionaries);
    matches.extend(reverse_dictionary_match(password, dictionaries));
    matches.extend(l33t_match(password, dictionaries));
    matches.extend(spatial_match(password));
    matches.extend(repeat_match(password, dictionaries));
    matches.extend(sequence_match(password));
    matches.extend(regex_match(password));
    matches.extend(date_match(password));
    by_position(&mut matches);
    matches
}

fn dictionary_match(password: &[char], dictionaries: &[&Ranked]) -> Vec<Match> {
    dictionary_match_touching(password, dictionaries, None)
}

/// `dictionary_match`, optionally looking up only substrings that contain a position
/// marked in `touching`: the l33t matcher drops every other one anyway.
fn dictionary_match_touching(
    password: &[char],
    dictionaries: &[&Ranked],
    touching: Option<&[bool]>,
) -> Vec<Match> {
    let mut matches = Vec::new();
    let n = password.len();
    // Indexed by the password's positions even where lower-casing lengthened it, as
    // Python slices `password_lower[i:j + 1]`.
    let low = lower(password);
    // next_touch[i]: the first marked position at or after i.
    let mut next_touch = vec![0; n + 1];
    if let Some(t) = touching {
        next_touch[n] = n;
        for i in (0..n).rev() {
            next_touch[i] = if t[i] { i } else { next_touch[i + 1] };
        }
    }
    for dict in dictionaries {
        for i in 0..n {
            let mut word = String::new();
            for j in i..n {
                if j - i + 1 > dict.max_chars || (j > i && !dict.may_follow(low[j - 1], low[j])) {
                    break;
                }
                word.push(low[j]);
                if j < next_touch[i] {
                    continue;
                }
                if let Some(&rank) = dict.words.get(word.as_str()) {
                    matches.push(Match::new(
                        i,
                        j,
                        &password[i..=j],
                        Pattern::Dictionary {
                            dictionary: dict.name,
                            matched_word: word.clone(),
                            rank,
                            reversed: false,
                            sub: None,
                        },
                    ));
                }
            }
        }
    }
    by_position(&mut matches);
    matches
}

fn reverse_dictionary_match(password: &[char], dictionaries: &[&Ranked]) -> Vec<Match> {
    let reversed: Vec<char> = password.iter().rev().copied().collect();
    let n = password.len();
    let mut matches = dictionary_match(&reversed, dictionaries);
    for m in &mut matches {
        m.token.reverse();
        if let Pattern::Dictionary { reversed, .. } = &mut m.pattern {
            *reversed = true;
        }
        (m.i, m.j) = (n - 1 - m.j, n - 1 - m.i);
    }
    by_position(&mut matches);
    matches
}

const L33T_TABLE: [(char, &[char]); 12] = [
    ('a', &['4', '@']),
    ('b', &['8']),
    ('c', &['(', '{', '[', '<']),
    ('e', &['3']),
    ('g', &['6', '9']),
    ('i', &['1', '!', '|']),
    ('l', &['1', '|', '7']),
    ('o', &['0']),
    ('s', &['$', '5']),
    ('t', &['+', '7']),
    ('x', &['%']),
    ('z', &['2']),
];

/// `enumerate_l33t_subs(relevant_l33t_subtable(...))`: every consistent way to read the
/// password's l33t characters back as letters, each as (l33t char, letter) pairs in
/// Python's insertion order, after its de-duplication.
fn l33t_subs(password: &[char]) -> Vec<Vec<(char, char)>> {
    let present: HashSet<char> = password.iter().copied().collect();
    let table: Vec<(char, Vec<char>)> = L33T_TABLE
        .iter()
        .map(|(letter, subs)| {
            (
                *letter,
                subs.iter()
                    .copied()
                    .filter(|s| present.contains(s))
                    .collect(),
            )
        })
        .filter(|(_, subs): &(char, Vec<char>)| !subs.is_empty())
        .collect();
    let mut subs: Vec<Vec<(char, char)>> = vec![Vec::new()];
    for (letter, l33ts) in &table {
        let mut next = Vec::new();
        for &l33t in l33ts {
            for sub in &subs {
                match sub.iter().position(|&(c, _)| c == l33t) {
                    None => {
                        let mut ext = sub.clone();
                        ext.push((l33t, *letter));
                        next.push(ext);
                    }
                    Some(dup) => {
                        let mut alt = sub.clone();
                        alt.remove(dup);
                        alt.push((l33t, *letter));
                        next.push(sub.clone());
                        next.push(alt);
                    }
                }
            }
        }
        let mut seen = HashSet::new();
        subs = next
            .into_iter()
            .filter(|sub| {
                let mut label: Vec<(char, char)> = sub.iter().map(|&(l, c)| (c, l)).collect();
                label.sort();
                seen.insert(label)
            })
            .collect();
    }
    subs
}

fn l33t_match(password: &[char], dictionaries: &[&Ranked]) -> Vec<Match> {
    let mut matches = Vec::new();
    // Where lower-casing maps each character to one, without context (no capital sigma),
    // a substring without a substitution lower-cases to its dictionary word and is
    // dropped below; such substrings need no look-up.
    let aligned = lower(password).len() == password.len() && !password.contains(&'Σ');
    for sub in l33t_subs(password) {
        if sub.is_empty() {
            break;
        }
        let subbed: Vec<char> = password
            .iter()
            .map(|c| {
                sub.iter()
                    .find(|(l, _)| l == c)
                    .map_or(*c, |&(_, letter)| letter)
            })
            .collect();
        let touched: Vec<bool> = password
            .iter()
            .map(|c| sub.iter().any(|(l, _)| l == c))
            .collect();
        let touching = aligned.then_some(touched.as_slice());
        for mut m in dictionary_match_touching(&subbed, dictionaries, touching) {
            let token = &password[m.i..=m.j];
            let Pattern::Dictionary {
                matched_word,
                sub: msub,
                ..
            } = &mut m.pattern
            else {
                unreachable!("dictionary_match makes dictionary matches")
            };
            if lower(token).iter().collect::<String>() == *matched_word {
                continue;
            }
            *msub = Some(
                sub.iter()
                    .copied()
                    .filter(|(l, _)| token.contains(l))
                    .collect(),
            );
            m.token = token.to_vec();
            matches.push(m);
        }
    }
    matches.retain(|m| m.token.len() > 1);
    by_position(&mut matches);
    matches
}

const SHIFTED: &str = "~!@#$%^&*()_+QWERTYUIOP{}|ASDFGHJKL:\"ZXCVBNM<>?";

fn spatial_match(password: &[char]) -> Vec<Match> {
    let d = data();
    let mut matches = Vec::new();
    for (g, name) in d.graphs.iter().zip(GRAPH_NAMES) {
        let typewriter = name == "qwerty" || name == "dvorak";
        let n = password.len();
        let mut i = 0;
        while i + 1 < n {
            let mut j = i + 1;
            let mut last_direction: Option<usize> = None;
            let mut turns = 0;
            let mut shifted_count = usize::from(typewriter && SHIFTED.contains(password[i]));
            loop {
                let prev = password[j - 1];
                let mut found = false;
                if j < n {
                    let cur = password[j];
                    let adjacents = g.get(&prev).map_or(&[][..], |a| a.as_slice());
                    for (direction, adj) in adjacents.iter().enumerate() {
                        let Some(adj) = adj.as_ref().filter(|a| !a.is_empty()) else {
                            continue;
                        };
                        if let Some(pos) = adj.iter().position(|&c| c == cur) {
                            found = true;
                            if pos == 1 {
                                shifted_count += 1;
                            }
                            if last_direction != Some(direction) {
                                turns += 1;
                                last_direction = Some(direction);
                            }
                            break;
                        }
                    }
                }
                if found {
                    j += 1;
                } else {
                    if j - i > 2 {
                        matches.push(Match::new(
                            i,
                            j - 1,
                            &password[i..j],
                            Pattern::Spatial {
                                graph: name,
                                turns,
                                shifted_count,
                            },
                        ));
                    }
                    i = j;
                    break;
                }
            }
        }
    }
    by_position(&mut matches);
    matches
}

/// The first place at or after `from` where `(.+)\1+` matches, with the shortest and the
/// longest base that repeat there. `.` stops at '\n', as in Python.
fn first_square(p: &[char], from: usize) -> Option<(usize, usize, usize)> {
    let n = p.len();
    for s in from..n {
        let line = p[s..].iter().take_while(|&&c| c != '\n').count();
        let repeats = |l: usize| s + 2 * l <= n && p[s..s + l] == p[s + l..s + 2 * l];
        let max_base = line.min((n - s) / 2);
        let shortest = (1..=max_base).find(|&l| repeats(l));
        if let Some(shortest) = shortest {
            let longest = (1..=max_base)
                .rev()
                .find(|&l| repeats(l))
                .unwrap_or(shortest);
            return Some((s, shortest, longest));
        }
    }
    None
}

/// How far `base` repeats from `s`, in characters (`\1+` taken greedily).
fn repeated_len(p: &[char], s: usize, base: usize) -> usize {
    let mut end = s + base;
    while end + base <= p.len() && p[end..end + base] == p[s..s + base] {
        end += base;
    }
    end - s
}

fn repeat_match(password: &[char], dictionaries: &[&Ranked]) -> Vec<Match> {
    let mut matches = Vec::new();
    let mut last = 0;
    while last < password.len() {
        let Some((s, lazy_base, greedy_base)) = first_square(password, last) else {
            break;
        };
        let greedy_len = repeated_len(password, s, greedy_base);
        let lazy_len = repeated_len(password, s, lazy_base);
        let (len, base) = if greedy_len > lazy_len {
            // `^(.+?)\1+$` on the greedy match: its shortest period.
            let run = &password[s..s + greedy_len];
            let period = (1..=greedy_len / 2)
                .find(|&l| greedy_len % l == 0 && run.chunks(l).all(|c| c == &run[..l]))
                .unwrap_or(greedy_base);
            (greedy_len, period)
        } else {
            (lazy_len, lazy_base)
        };
        let base_token = &password[s..s + base];
        let base_matches = omnimatch(base_token, dictionaries);
        let base_guesses = most_guessable_match_sequence(base_token, base_matches).guesses;
        let (i, j) = (s, s + len - 1);
        matches.push(Match::new(
            i,
            j,
            &password[i..=j],
            Pattern::Repeat {
                base_guesses,
                repeat_count: len as f64 / base as f64,
            },
        ));
        last = j + 1;
    }
    matches
}

const MAX_DELTA: i64 = 5;

fn sequence_match(password: &[char]) -> Vec<Match> {
    let n = password.len();
    let mut result = Vec::new();
    if n <= 1 {
        return result;
    }
    let mut update = |i: usize, j: usize, delta: i64| {
        if (j - i > 1 || delta.abs() == 1) && 0 < delta.abs() && delta.abs() <= MAX_DELTA {
            result.push(Match::new(
                i,
                j,
                &password[i..=j],
                Pattern::Sequence {
                    ascending: delta > 0,
                },
            ));
        }
    };
    let mut i = 0;
    let mut last_delta: Option<i64> = None;
    for k in 1..n {
        let delta = password[k] as i64 - password[k - 1] as i64;
        let last = *last_delta.get_or_insert(delta);
        if delta == last {
            continue;
        }
        let j = k - 1;
        update(i, j, last);
        i = j;
        last_delta = Some(delta);
    }
    update(i, n - 1, last_delta.expect("set for n > 1"));
    result
}

/// `19\d\d|200\d|201\d`, found left to right without overlaps.
fn regex_match(password: &[char]) -> Vec<Match> {
    let d = data();
    let is_d = |c: char| d.digit(c).is_some();
    let mut matches = Vec::new();
    let mut p = 0;
    while p + 4 <= password.len() {
        let w = &password[p..p + 4];
        let hit = (w[0] == '1' && w[1] == '9' && is_d(w[2]) && is_d(w[3]))
            || (w[0] == '2' && w[1] == '0' && (w[2] == '0' || w[2] == '1') && is_d(w[3]));
        if hit {
            matches.push(Match::new(p, p + 3, w, Pattern::RecentYear));
            p += 4;
        } else {
            p += 1;
        }
    }
    matches
}
