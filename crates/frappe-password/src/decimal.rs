//! The arithmetic Python zxcvbn's search does its sums in: `decimal.Decimal` with the
//! default context, 28 significant digits, half-even rounding after every operation.
//! Which sequence the search keeps depends on `<=` between such sums, so floats would
//! choose differently on near ties; this reproduces the rounding, not just the magnitude.

use std::cmp::Ordering;
use std::sync::OnceLock;

use num_bigint::BigUint;
use num_integer::Integer;
use num_traits::{One, ToPrimitive, Zero};

const PRECISION: usize = 28;

/// A non-negative decimal `coeff × 10^exp`; every value here is a guess count (≥ 1).
#[derive(Clone, Debug)]
pub struct Dec {
    coeff: BigUint,
    exp: i64,
}

/// Powers of ten up to what a 128-character password's sums need (about 10^700: a
/// factorial times a bruteforce count times an exact float), made once.
const POW10_CACHED: usize = 1024;

fn pow10(n: usize) -> std::borrow::Cow<'static, BigUint> {
    static TABLE: OnceLock<Vec<BigUint>> = OnceLock::new();
    let table = TABLE.get_or_init(|| {
        let mut t = Vec::with_capacity(POW10_CACHED);
        let mut p = BigUint::one();
        for _ in 0..POW10_CACHED {
            t.push(p.clone());
            p *= 10u32;
        }
        t
    });
    match table.get(n) {
        Some(p) => std::borrow::Cow::Borrowed(p),
        None => std::borrow::Cow::Owned(BigUint::from(10u32).pow(n as u32)),
    }
}

fn digits(n: &BigUint) -> usize {
    if n.is_zero() {
        return 1;
    }
    // bits·log10(2) is at most one short of the digit count.
    let guess = ((n.bits() - 1) as f64 * std::f64::consts::LOG10_2) as usize + 1;
    if *n >= *pow10(guess) {
        guess + 1
    } else {
        guess
    }
}

impl Dec {
    pub fn from_u64(v: u64) -> Self {
        Dec {
            coeff: BigUint::from(v),
            exp: 0,
        }
    }

    pub fn from_biguint(v: BigUint) -> Self {
        Dec { coeff: v, exp: 0 }
    }

    /// `10^n` as Python's `Decimal(10 ** n)` holds it: all digits, exponent 0, so sums
    /// and their printed form come out as Python's do.
    pub fn pow10(n: usize) -> Self {
        Dec::from_biguint(pow10(n).into_owned())
    }

    /// Python's `Decimal(float)`: the float's exact binary value, no rounding.
    pub fn from_f64(v: f64) -> Self {
        assert!(
            v.is_finite() && v >= 0.0,
            "guess counts are finite and positive"
        );
        if v == 0.0 {
            return Dec::from_u64(0);
        }
        let bits = v.to_bits();
        let raw_exp = ((bits >> 52) & 0x7ff) as i64;
        let frac = bits & ((1u64 << 52) - 1);
        let (mant, e2) = if raw_exp == 0 {
            (frac, -1074)
        } else {
            (frac | (1u64 << 52), raw_exp - 1075)
        };
        let shift = mant.trailing_zeros() as i64;
        let (mant, e2) = (mant >> shift, e2 + shift);
        if e2 >= 0 {
            Dec {
                coeff: BigUint::from(mant) << (e2 as usize),
                exp: 0,
            }
        } else {
            // m·2^-k = m·5^k·10^-k
            Dec {
                coeff: BigUint::from(mant) * BigUint::from(5u32).pow((-e2) as u32),
                exp: e2,
            }
        }
    }

    fn rounded(coeff: BigUint, exp: i64) -> Self {
        let d = digits(&coeff);
        if d <= PRECISION {
            return Dec { coeff, exp };
        }
        let drop = d - PRECISION;
        let divisor = pow10(drop);
        let (mut q, r) = coeff.div_rem(divisor.as_ref());
        let twice = r << 1usize;
        match twice.cmp(divisor.as_ref()) {
            Ordering::Greater => q += 1u32,
            Ordering::Equal if q.is_odd() => q += 1u32,
            _ => {}
        }
        let mut exp = exp + drop as i64;
        if q == *pow10(PRECISION) {
            q = pow10(PRECISION - 1).into_owned();
            exp += 1;
        }
        Dec { coeff: q, exp }
    }

    pub fn mul(&self, other: &Dec) -> Dec {
        Dec::rounded(&self.coeff * &other.coeff, self.exp + other.exp)
    }

    pub fn add(&self, other: &Dec) -> Dec {
        let e = self.exp.min(other.exp);
        let a = &self.coeff * pow10((self.exp - e) as usize).as_ref();
        let b = &other.coeff * pow10((other.exp - e) as usize).as_ref();
        Dec::rounded(a + b, e)
    }

    /// The value as a float, for display and logs only.
    pub fn to_f64(&self) -> f64 {
        self.coeff.to_f64().unwrap_or(f64::INFINITY) * 10f64.powi(self.exp as i32)
    }

    /// log2 of the value to about 1e-15 relative, for the search's cheap pre-comparison.
    pub fn log2(&self) -> f64 {
        let bits = self.coeff.bits();
        let top = if bits > 64 {
            (&self.coeff >> (bits - 64) as usize)
                .to_u64()
                .unwrap_or(u64::MAX) as f64
        } else {
            self.coeff.to_u64().unwrap_or(0) as f64
        };
        top.log2() + bits.saturating_sub(64) as f64 + self.exp as f64 * std::f64::consts::LOG2_10
    }

    /// Position of the leading digit: value in [10^(a-1), 10^a).
    fn adjusted(&self) -> i64 {
        digits(&self.coeff) as i64 + self.exp
    }
}

impl PartialEq for Dec {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}
impl Eq for Dec {}
impl PartialOrd for Dec {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Dec {
    fn cmp(&self, other: &Self) -> Ordering {
        match (self.coeff.is_zero(), other.coeff.is_zero()) {
            (true, true) => return Ordering::Equal,
            (true, false) => return Ordering::Less,
            (false, true) => return Ordering::Greater,
            _ => {}
        }
        let by_size = self.adjusted().cmp(&other.adjusted());
        if by_size != Ordering::Equal {
            return by_size;
        }
        let e = self.exp.min(other.exp);
        let a = &self.coeff * pow10((self.exp - e) as usize).as_ref();
        let b = &other.coeff * pow10((other.exp - e) as usize).as_ref();
        a.cmp(&b)
    }
}

impl std::fmt::Display for Dec {
    /// Python's `str(Decimal)` for the values that occur here (no exponent notation
    /// below 10^28, which is all a caller compares by eye).
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let s = self.coeff.to_string();
        let adjusted = s.len() as i64 - 1 + self.exp;
        if self.exp <= 0 && adjusted >= -6 {
            let point = s.len() as i64 + self.exp;
            if point <= 0 {
                write!(f, "0.{}{s}", "0".repeat((-point) as usize))
            } else if self.exp == 0 {
                f.write_str(&s)
            } else {
                let (int, frac) = s.split_at(point as usize);
                write!(f, "{int}.{frac}")
            }
        } else {
            let (first, rest) = s.split_at(1);
            let dot = if rest.is_empty() { "" } else { "." };
            write!(f, "{first}{dot}{rest}E+{adjusted}")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn products_round_half_even_at_28_digits() {
        // Decimal(10**27 + 5) * 10 keeps 28 digits; * Decimal(1.5) rounds.
        let a = Dec::from_biguint(pow10(28).into_owned() + 5u32);
        assert_eq!(
            a.mul(&Dec::from_u64(1)).to_string(),
            "1.000000000000000000000000000E+28"
        );
        let b = Dec::from_biguint(pow10(28).into_owned() + 15u32);
        assert_eq!(
            b.mul(&Dec::from_u64(1)).to_string(),
            "1.000000000000000000000000002E+28"
        );
        assert_eq!(
            Dec::from_f64(0.1).mul(&Dec::from_u64(3)).to_string(),
            "0.3000000000000000166533453694"
        );
    }

    #[test]
    fn floats_convert_exactly_and_compare_by_value() {
        assert_eq!(Dec::from_f64(2.5).to_string(), "2.5");
        assert_eq!(Dec::from_f64(1e20).to_string(), "100000000000000000000");
        assert!(Dec::from_f64(1005.0) == Dec::from_u64(1005));
        assert!(Dec::from_f64(1004.9999999) < Dec::from_u64(1005));
        assert!(Dec::pow10(40) > Dec::from_f64(9.9e39));
        assert_eq!(
            Dec::from_u64(1).add(&Dec::pow10(30)).to_string(),
            "1.000000000000000000000000000E+30"
        );
    }
}
