//! zxcvbn 4.4.28's date matcher (`matching.date_match`): day, month and year in any of
//! its orders, with or without separators, two- or four-digit years.

use super::super::data::data;
use super::super::scoring::REFERENCE_YEAR;
use super::{by_position, int_of, is_py_space, Match, Pattern};

const DATE_MAX_YEAR: i64 = 2050;
const DATE_MIN_YEAR: i64 = 1000;

fn date_splits(len: usize) -> &'static [(usize, usize)] {
    match len {
        4 => &[(1, 2), (2, 3)],
        5 => &[(1, 3), (2, 3)],
        6 => &[(1, 2), (2, 4), (4, 5)],
        7 => &[(1, 3), (2, 3), (4, 5), (4, 6)],
        8 => &[(2, 4), (4, 6)],
        _ => &[],
    }
}

#[derive(Clone, Copy)]
struct Dmy {
    year: i64,
}

fn map_ints_to_dm(a: i64, b: i64) -> bool {
    [(a, b), (b, a)]
        .iter()
        .any(|&(d, m)| (1..=31).contains(&d) && (1..=12).contains(&m))
}

fn two_to_four_digit_year(y: i64) -> i64 {
    if y > 99 {
        y
    } else if y > 50 {
        y + 1900
    } else {
        y + 2000
    }
}

fn map_ints_to_dmy(ints: [i64; 3]) -> Option<Dmy> {
    if ints[1] > 31 || ints[1] <= 0 {
        return None;
    }
    let (mut over_12, mut over_31, mut under_1) = (0, 0, 0);
    for &v in &ints {
        if (99 < v && v < DATE_MIN_YEAR) || v > DATE_MAX_YEAR {
            return None;
        }
        over_31 += usize::from(v > 31);
        over_12 += usize::from(v > 12);
        under_1 += usize::from(v <= 0);
    }
    if over_31 >= 2 || over_12 == 3 || under_1 >= 2 {
        return None;
    }
    let splits = [(ints[2], [ints[0], ints[1]]), (ints[0], [ints[1], ints[2]])];
    for (y, [a, b]) in splits {
        if (DATE_MIN_YEAR..=DATE_MAX_YEAR).contains(&y) {
            // A four-digit year whose rest is no day and month: not a date at all.
            return map_ints_to_dm(a, b).then_some(Dmy { year: y });
        }
    }
    for (y, [a, b]) in splits {
        if map_ints_to_dm(a, b) {
            return Some(Dmy {
                year: two_to_four_digit_year(y),
            });
        }
    }
    None
}

pub(super) fn date_match(password: &[char]) -> Vec<Match> {
    let d = data();
    let is_d = |c: &char| d.digit(*c).is_some();
    let n = password.len();
    let mut matches = Vec::new();
    for i in 0..n.saturating_sub(3) {
        for j in i + 3..i + 8 {
            if j >= n {
                break;
            }
            let token = &password[i..=j];
            if !token.iter().all(is_d) {
                continue;
            }
            let mut best: Option<(Dmy, i64)> = None;
            for &(k, l) in date_splits(token.len()) {
                let ints = [
                    int_of(&token[..k]),
                    int_of(&token[k..l]),
                    int_of(&token[l..]),
                ];
                if let Some(dmy) = map_ints_to_dmy(ints) {
                    let distance = (dmy.year - REFERENCE_YEAR).abs();
                    if best.map_or(true, |(_, min)| distance < min) {
                        best = Some((dmy, distance));
                    }
                }
            }
            if let Some((dmy, _)) = best {
                matches.push(Match::new(
                    i,
                    j,
                    token,
                    Pattern::Date {
                        year: dmy.year,
                        separator: false,
                    },
                ));
            }
        }
    }
    for i in 0..n.saturating_sub(5) {
        for j in i + 5..i + 10 {
            if j >= n {
                break;
            }
            let token = &password[i..=j];
            let Some(ints) = split_with_separator(token, is_d) else {
                continue;
            };
            if let Some(dmy) = map_ints_to_dmy(ints) {
                matches.push(Match::new(
                    i,
                    j,
                    token,
                    Pattern::Date {
                        year: dmy.year,
                        separator: true,
                    },
                ));
            }
        }
    }
    let spans: Vec<(usize, usize)> = matches.iter().map(|m| (m.i, m.j)).collect();
    let mut kept: Vec<Match> = matches
        .into_iter()
        .enumerate()
        .filter(|(me, m)| {
            !spans
                .iter()
                .enumerate()
                .any(|(other, &(i, j))| other != *me && i <= m.i && j >= m.j)
        })
        .map(|(_, m)| m)
        .collect();
    by_position(&mut kept);
    kept
}

/// `^(\d{1,4})([\s/\\_.-])(\d{1,2})\2(\d{1,4})$`. Digits and separators are disjoint,
/// so the only way to match is digit runs split by two equal separators.
fn split_with_separator(token: &[char], is_d: impl Fn(&char) -> bool) -> Option<[i64; 3]> {
    let run = |from: usize| token[from..].iter().take_while(|c| is_d(c)).count();
    let a = run(0);
    if !(1..=4).contains(&a) {
        return None;
    }
    let sep = *token.get(a)?;
    if !(is_py_space(sep) || "/\\_.-".contains(sep)) {
        return None;
    }
    let b = run(a + 1);
    if !(1..=2).contains(&b) || token.get(a + 1 + b) != Some(&sep) {
        return None;
    }
    let c_from = a + 2 + b;
    let c = run(c_from);
    if !(1..=4).contains(&c) || c_from + c != token.len() {
        return None;
    }
    Some([
        int_of(&token[..a]),
        int_of(&token[a + 1..a + 1 + b]),
        int_of(&token[c_from..]),
    ])
}
