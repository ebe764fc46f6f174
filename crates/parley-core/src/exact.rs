//! Exact fingerprints of utilities.
//!
//! Utilities are computed in `f64`, but two deals whose utilities are equal as exact
//! rationals can come out a few ulps apart depending on the order of the additions,
//! and two genuinely different utilities can be as close as 7e-13 (ANAC 2012 Energy).
//! No floating-point tolerance separates both cases safely, so every utility carries
//! beside its float an exact fingerprint: its rational value reduced modulo the
//! Mersenne prime 2^61 − 1. Sums and products of fingerprints are exact, so equal
//! rationals always have equal fingerprints, and different rationals collide with
//! probability about 2^-61 per comparison.
//!
//! Every input number is taken as the decimal it is written as; a float read from a
//! file is taken as the shortest decimal that reads back as the same float.

use std::cmp::Ordering;

/// The Mersenne prime 2^61 − 1.
const P: u64 = (1 << 61) - 1;

/// An exact rational number reduced modulo 2^61 − 1.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Residue(u64);

impl Residue {
    /// Zero.
    pub const ZERO: Residue = Residue(0);
    /// One.
    pub const ONE: Residue = Residue(1);

    fn reduce(x: u128) -> u64 {
        // x < 2^122: fold twice.
        let folded = (x & P as u128) + (x >> 61);
        let folded = (folded & P as u128) + (folded >> 61);
        let r = folded as u64;
        if r >= P {
            r - P
        } else {
            r
        }
    }

    /// The residue of a whole number.
    pub fn from_u64(n: u64) -> Residue {
        Residue(Self::reduce(n as u128))
    }

    /// The residue of a signed whole number.
    pub fn from_i64(n: i64) -> Residue {
        let r = Residue::from_u64(n.unsigned_abs());
        if n < 0 {
            r.neg()
        } else {
            r
        }
    }

    /// Exact sum.
    #[inline]
    #[allow(clippy::should_implement_trait)]
    pub fn add(self, other: Residue) -> Residue {
        let s = self.0 + other.0; // both < 2^61: no overflow
        Residue(if s >= P { s - P } else { s })
    }

    /// Exact negation.
    #[allow(clippy::should_implement_trait)]
    pub fn neg(self) -> Residue {
        Residue(if self.0 == 0 { 0 } else { P - self.0 })
    }

    /// Exact difference.
    #[allow(clippy::should_implement_trait)]
    pub fn sub(self, other: Residue) -> Residue {
        self.add(other.neg())
    }

    /// Exact product.
    #[inline]
    #[allow(clippy::should_implement_trait)]
    pub fn mul(self, other: Residue) -> Residue {
        Residue(Self::reduce(self.0 as u128 * other.0 as u128))
    }

    fn pow(self, mut exp: u64) -> Residue {
        let mut base = self;
        let mut acc = Residue::ONE;
        while exp > 0 {
            if exp & 1 == 1 {
                acc = acc.mul(base);
            }
            base = base.mul(base);
            exp >>= 1;
        }
        acc
    }

    /// Exact quotient; `None` when `other` is zero (modulo the prime).
    pub fn checked_div(self, other: Residue) -> Option<Residue> {
        if other.0 == 0 {
            None
        } else {
            Some(self.mul(other.pow(P - 2)))
        }
    }

    /// The exact value of a decimal written as text: `-12.5`, `0.333`, `1e-4`, `2.5E+3`.
    pub fn from_decimal(text: &str) -> Option<Residue> {
        let text = text.trim();
        let (negative, body) = match text.as_bytes().first()? {
            b'-' => (true, &text[1..]),
            b'+' => (false, &text[1..]),
            _ => (false, text),
        };
        let (mantissa, exponent) = match body.find(['e', 'E']) {
            Some(pos) => (&body[..pos], body[pos + 1..].parse::<i32>().ok()?),
            None => (body, 0),
        };
        let mut digits = Residue::ZERO;
        let ten = Residue::from_u64(10);
        let mut scale: i64 = exponent as i64;
        let mut seen_digit = false;
        let mut seen_point = false;
        for byte in mantissa.bytes() {
            match byte {
                b'0'..=b'9' => {
                    digits = digits.mul(ten).add(Residue::from_u64((byte - b'0') as u64));
                    seen_digit = true;
                    if seen_point {
                        scale -= 1;
                    }
                }
                b'.' if !seen_point => seen_point = true,
                _ => return None,
            }
        }
        if !seen_digit {
            return None;
        }
        let power = ten.pow(scale.unsigned_abs());
        let value = if scale >= 0 {
            digits.mul(power)
        } else {
            digits.checked_div(power)?
        };
        Some(if negative { value.neg() } else { value })
    }

    /// The exact value of the shortest decimal that reads back as `x`.
    pub fn from_f64(x: f64) -> Option<Residue> {
        if !x.is_finite() {
            return None;
        }
        // `Display` for f64 prints the shortest round-tripping digits, never an exponent.
        Residue::from_decimal(&x.to_string())
    }
}

/// A utility: its float value and its exact fingerprint.
#[derive(Clone, Copy, Debug, Default)]
pub struct Utility {
    /// The value, rounded to `f64`.
    pub value: f64,
    /// The exact value modulo 2^61 − 1.
    pub exact: Residue,
}

impl Utility {
    /// Zero.
    pub const ZERO: Utility = Utility {
        value: 0.0,
        exact: Residue::ZERO,
    };

    /// A utility from its float and exact parts.
    pub fn new(value: f64, exact: Residue) -> Utility {
        Utility { value, exact }
    }

    /// A utility equal to the shortest decimal of `value`.
    pub fn from_f64(value: f64) -> Utility {
        Utility {
            value,
            exact: Residue::from_f64(value).unwrap_or(Residue::ZERO),
        }
    }

    /// Exact sum.
    #[inline]
    #[allow(clippy::should_implement_trait)]
    pub fn add(self, other: Utility) -> Utility {
        Utility {
            value: self.value + other.value,
            exact: self.exact.add(other.exact),
        }
    }

    /// Exact comparison: equal fingerprints mean equal; otherwise the floats decide
    /// (float error is far below the smallest gap between different utilities).
    #[inline]
    pub fn exact_cmp(&self, other: &Utility) -> Ordering {
        if self.exact == other.exact {
            Ordering::Equal
        } else {
            self.value.total_cmp(&other.value)
        }
    }
}

impl PartialEq for Utility {
    fn eq(&self, other: &Self) -> bool {
        self.exact_cmp(other) == Ordering::Equal
    }
}

impl Eq for Utility {}

impl PartialOrd for Utility {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Utility {
    fn cmp(&self, other: &Self) -> Ordering {
        self.exact_cmp(other)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dec(text: &str) -> Residue {
        Residue::from_decimal(text).expect("valid decimal")
    }

    #[test]
    fn decimal_sums_are_exact_where_floats_are_not() {
        assert_ne!(0.1 + 0.2, 0.3);
        assert_eq!(dec("0.1").add(dec("0.2")), dec("0.3"));
        assert_eq!(dec("1e-1"), dec("0.1"));
        assert_eq!(dec("2.5E+3"), dec("2500"));
        assert_eq!(dec("-0.5").add(dec("0.5")), Residue::ZERO);
    }

    #[test]
    fn thirds_sum_to_one() {
        let third = Residue::ONE
            .checked_div(Residue::from_u64(3))
            .expect("3 is invertible");
        assert_eq!(third.add(third).add(third), Residue::ONE);
    }

    #[test]
    fn floats_use_their_shortest_decimal() {
        assert_eq!(Residue::from_f64(0.1), Some(dec("0.1")));
        assert_eq!(Residue::from_f64(1e-7), Some(dec("0.0000001")));
        assert_eq!(Residue::from_f64(f64::NAN), None);
    }

    #[test]
    fn rejects_garbage() {
        for bad in ["", "-", ".", "1.2.3", "abc", "1e", "0x10"] {
            assert_eq!(Residue::from_decimal(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn utility_order_is_exact_on_ties() {
        let a = Utility::new(0.1 + 0.2, dec("0.3"));
        let b = Utility::new(0.3, dec("0.3"));
        assert_eq!(a, b);
        let c = Utility::new(0.3 + 7e-13, dec("0.3000000000007"));
        assert!(c > b);
    }
}
