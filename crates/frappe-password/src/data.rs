//! Python zxcvbn 4.4.28's word lists and keyboard graphs, generated into `data/` by
//! `scripts/zxcvbn-data.py`, built into hash maps on first use (a few ms, once per
//! process) so commands that never judge a password never pay for them.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::OnceLock;

/// A multiply-rotate hash (the Fx hash of rustc) for the word maps: SipHash's DoS
/// resistance buys nothing for fixed lists, and it halves the cost of building them on
/// the first call and of the thousands of look-ups per password.
#[derive(Default)]
pub struct WordHasher(u64);

impl Hasher for WordHasher {
    fn write(&mut self, bytes: &[u8]) {
        const K: u64 = 0x517c_c1b7_2722_0a95;
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            let v = u64::from_le_bytes(c.try_into().expect("8 bytes"));
            self.0 = (self.0.rotate_left(5) ^ v).wrapping_mul(K);
        }
        for &b in chunks.remainder() {
            self.0 = (self.0.rotate_left(5) ^ u64::from(b)).wrapping_mul(K);
        }
    }
    fn finish(&self) -> u64 {
        self.0
    }
}

type WordMap<'w> = HashMap<&'w str, u32, BuildHasherDefault<WordHasher>>;

/// In the order of the package's `FREQUENCY_LISTS` (`data/ORDER`): Python matches the
/// dictionaries in that order, and the order decides between equally good sequences.
const LISTS: [(&str, &str); 6] = [
    ("passwords", include_str!("data/passwords.txt")),
    (
        "english_wikipedia",
        include_str!("data/english_wikipedia.txt"),
    ),
    ("female_names", include_str!("data/female_names.txt")),
    ("surnames", include_str!("data/surnames.txt")),
    ("us_tv_and_film", include_str!("data/us_tv_and_film.txt")),
    ("male_names", include_str!("data/male_names.txt")),
];

/// Python's dict iteration order of `matching.GRAPHS`.
pub const GRAPH_NAMES: [&str; 4] = ["qwerty", "dvorak", "keypad", "mac_keypad"];

/// A ranked word list: word → 1-based rank; a later duplicate overwrites, as
/// `build_ranked_dict` does.
pub struct Ranked<'w> {
    pub name: &'static str,
    /// Borrowed from the built-in lists (no copy of ~94k words) or the call's inputs.
    pub words: WordMap<'w>,
    /// The longest word in characters: no longer substring can match.
    pub max_chars: usize,
    /// Which ASCII character pairs occur next to each other in some word: a substring
    /// with any other pair is no word's prefix, so the scan stops there.
    pairs: Box<[u64; 256]>,
}

impl<'w> Ranked<'w> {
    pub fn build(name: &'static str, words: impl IntoIterator<Item = &'w str>) -> Self {
        let words = words.into_iter();
        let mut map = WordMap::with_capacity_and_hasher(words.size_hint().0, Default::default());
        let mut max_chars = 0;
        let mut pairs = Box::new([0u64; 256]);
        for (rank, w) in words.enumerate() {
            max_chars = max_chars.max(w.chars().count());
            for p in w.as_bytes().windows(2) {
                if p[0] < 128 && p[1] < 128 {
                    let bit = usize::from(p[0]) * 128 + usize::from(p[1]);
                    pairs[bit / 64] |= 1 << (bit % 64);
                }
            }
            map.insert(w, rank as u32 + 1);
        }
        Ranked {
            name,
            words: map,
            max_chars,
            pairs,
        }
    }

    /// Whether `b` may follow `a` inside a word; pairs outside ASCII are not tracked.
    pub fn may_follow(&self, a: char, b: char) -> bool {
        if !a.is_ascii() || !b.is_ascii() {
            return true;
        }
        let bit = a as usize * 128 + b as usize;
        self.pairs[bit / 64] & (1 << (bit % 64)) != 0
    }
}

/// A keyboard: key → its neighbours by direction, each the unshifted and shifted
/// character ("2@"), `None` at an edge.
pub type Graph = HashMap<char, Vec<Option<Vec<char>>>>;

pub struct Data {
    pub dictionaries: Vec<Ranked<'static>>,
    pub graphs: Vec<Graph>,
    /// Unicode decimal digits (Python's `\d`), inclusive ranges; a digit's value is its
    /// distance from the range start mod 10 (Nd digits come in runs of ten from zero).
    digits: Vec<(u32, u32)>,
    pub keyboard_average_degree: f64,
    pub keypad_average_degree: f64,
    pub keyboard_starting_positions: u64,
    pub keypad_starting_positions: u64,
}

/// `calc_average_degree`: neighbours that exist, summed as an int, over float(len).
fn average_degree(g: &Graph) -> f64 {
    let total: usize = g
        .values()
        .map(|adj| {
            adj.iter()
                .filter(|a| a.as_ref().is_some_and(|a| !a.is_empty()))
                .count()
        })
        .sum();
    total as f64 / g.len() as f64
}

pub fn data() -> &'static Data {
    static DATA: OnceLock<Data> = OnceLock::new();
    DATA.get_or_init(|| {
        let dictionaries = LISTS
            .iter()
            .map(|(name, text)| Ranked::build(name, text.lines()))
            .collect();
        let raw: HashMap<String, HashMap<String, Vec<Option<String>>>> =
            serde_json::from_str(include_str!("data/adjacency_graphs.json"))
                .expect("adjacency_graphs.json is generated JSON");
        let graphs: Vec<Graph> = GRAPH_NAMES
            .iter()
            .map(|name| {
                raw[*name]
                    .iter()
                    .map(|(k, adj)| {
                        let key = k.chars().next().expect("graph keys are one character");
                        let adj = adj
                            .iter()
                            .map(|a| a.as_ref().map(|s| s.chars().collect()))
                            .collect();
                        (key, adj)
                    })
                    .collect()
            })
            .collect();
        let digits = include_str!("data/decimal_digits.txt")
            .lines()
            .map(|l| {
                let (a, b) = l.split_once(' ').expect("'start end' hex");
                (
                    u32::from_str_radix(a, 16).expect("hex"),
                    u32::from_str_radix(b, 16).expect("hex"),
                )
            })
            .collect();
        Data {
            keyboard_average_degree: average_degree(&graphs[0]),
            keypad_average_degree: average_degree(&graphs[2]),
            keyboard_starting_positions: graphs[0].len() as u64,
            keypad_starting_positions: graphs[2].len() as u64,
            dictionaries,
            graphs,
            digits,
        }
    })
}

impl Data {
    /// The value of a character Python's `\d` matches, `None` for anything else.
    pub fn digit(&self, c: char) -> Option<u32> {
        if c.is_ascii_digit() {
            return Some(c as u32 - '0' as u32);
        }
        let cp = c as u32;
        let i = self.digits.partition_point(|&(_, end)| end < cp);
        match self.digits.get(i) {
            Some(&(start, end)) if start <= cp && cp <= end => Some((cp - start) % 10),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_are_in_the_packages_order_and_complete() {
        let order: Vec<&str> = include_str!("data/ORDER").lines().collect();
        let ours: Vec<&str> = LISTS.iter().map(|(n, _)| *n).collect();
        assert_eq!(ours, order);
        let d = data();
        assert_eq!(d.dictionaries[0].words["123456"], 1);
        assert_eq!(d.dictionaries[0].words["password"], 2);
        assert_eq!(d.dictionaries[0].words.len(), 30_000);
        assert!(d.dictionaries[0].may_follow('s', 's'));
        assert!(
            !d.dictionaries[5].may_follow('q', 'x'),
            "no male name has 'qx'"
        );
    }

    #[test]
    fn graphs_and_digits() {
        let d = data();
        assert_eq!(d.keyboard_starting_positions, 94);
        assert_eq!(d.keypad_starting_positions, 15);
        assert!((d.keyboard_average_degree - 4.595744680851064).abs() < 1e-15);
        assert_eq!(d.digit('7'), Some(7));
        assert_eq!(d.digit('\u{663}'), Some(3)); // ARABIC-INDIC DIGIT THREE
        assert_eq!(d.digit('\u{2163}'), None); // ROMAN NUMERAL FOUR is not Nd
        assert_eq!(d.digit('x'), None);
    }
}
