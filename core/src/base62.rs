//! Base62 (`0-9A-Za-z`), the alphabet of every token edgeauth mints.

use crate::Entropy;

/// The 62 symbols, in value order.
pub const ALPHABET: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/// True when every byte of `s` is a base62 symbol.
pub fn is_base62(s: &str) -> bool {
    s.bytes().all(|b| b.is_ascii_alphanumeric())
}

/// `n` symbols drawn uniformly from the alphabet.
///
/// Rejection sampling keeps the draw unbiased: a random byte is used only when it is below
/// 248 (= 4 × 62), so `byte % 62` is uniform. Each symbol carries log2(62) ≈ 5.95 bits.
pub fn random(n: usize, entropy: &mut dyn Entropy) -> String {
    let mut out = String::with_capacity(n);
    let mut pool = [0u8; 64];
    while out.len() < n {
        entropy.fill(&mut pool);
        for &b in pool.iter().filter(|&&b| b < 248) {
            if out.len() == n {
                break;
            }
            out.push(ALPHABET[(b % 62) as usize] as char);
        }
    }
    out
}

/// Encodes `value` as exactly `width` symbols, most significant first.
///
/// Panics in debug builds if `value` does not fit; callers choose widths that always fit
/// (6 symbols hold any `u32`, 22 any `u128`).
pub fn encode_fixed(mut value: u128, width: usize) -> String {
    let mut digits = vec![b'0'; width];
    for slot in digits.iter_mut().rev() {
        *slot = ALPHABET[(value % 62) as usize];
        value /= 62;
    }
    debug_assert_eq!(value, 0, "value does not fit in {width} base62 symbols");
    String::from_utf8(digits).expect("alphabet is ASCII")
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A deterministic generator for tests (xorshift); never used outside tests.
    pub struct TestEntropy(pub u64);

    impl Entropy for TestEntropy {
        fn fill(&mut self, buf: &mut [u8]) {
            for b in buf {
                self.0 ^= self.0 << 13;
                self.0 ^= self.0 >> 7;
                self.0 ^= self.0 << 17;
                *b = (self.0 >> 24) as u8;
            }
        }
    }

    #[test]
    fn fixed_width_encoding_pads_and_orders_digits() {
        assert_eq!(encode_fixed(0, 6), "000000");
        assert_eq!(encode_fixed(61, 2), "0z");
        assert_eq!(encode_fixed(62, 2), "10");
        assert_eq!(encode_fixed(u32::MAX as u128, 6), "4gfFC3");
        assert_eq!(encode_fixed(u128::MAX, 22).len(), 22);
    }

    #[test]
    fn random_strings_have_the_requested_length_and_alphabet() {
        let mut e = TestEntropy(7);
        let s = random(43, &mut e);
        assert_eq!(s.len(), 43);
        assert!(is_base62(&s));
        assert_ne!(s, random(43, &mut e));
    }

    #[test]
    fn random_symbols_are_roughly_uniform() {
        let mut e = TestEntropy(42);
        let s = random(62 * 2000, &mut e);
        let mut counts = [0u32; 62];
        for b in s.bytes() {
            counts[ALPHABET.iter().position(|&a| a == b).unwrap()] += 1;
        }
        // Each symbol expects 2000; a modulo bias on the first 8 symbols would show up as ~+25%.
        assert!(
            counts.iter().all(|&c| (1750..2250).contains(&c)),
            "{counts:?}"
        );
    }

    #[test]
    fn rejection_skips_bytes_at_or_above_248() {
        struct High(u8);
        impl Entropy for High {
            fn fill(&mut self, buf: &mut [u8]) {
                for b in buf {
                    self.0 = self.0.wrapping_add(1);
                    *b = if self.0.is_multiple_of(2) { 250 } else { 61 };
                }
            }
        }
        assert_eq!(random(4, &mut High(0)), "zzzz");
    }
}
