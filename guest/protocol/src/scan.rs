//! Byte scans eight bytes at a time (SWAR): wasm has no `memchr`, and these
//! scans run over every line and every quoted string a server sends (and,
//! in the shell plugin, every message byte it writes as JSON).

const LO: u64 = 0x0101_0101_0101_0101;
/// The high bit of each of the eight bytes of a word.
pub const HIGH_BITS: u64 = 0x8080_8080_8080_8080;

/// `b` in each of the eight bytes of a word.
pub const fn splat(b: u8) -> u64 {
    LO * b as u64
}

/// Marks (the high bit of) each zero byte of `word`: the classic
/// has-zero-byte test. Whether any byte is marked is exact, and so is the
/// lowest mark; a false mark can only lie above a true one.
pub const fn zero_bytes(word: u64) -> u64 {
    word.wrapping_sub(LO) & !word & HIGH_BITS
}

/// Marks each byte of `word` below `n` (for `n` at most 0x80), with the
/// same exactness as [`zero_bytes`].
pub const fn bytes_below(word: u64, n: u8) -> u64 {
    word.wrapping_sub(splat(n)) & !word & HIGH_BITS
}

/// The position of the first byte of `b` that is one of `needles`.
pub(crate) fn find_any<const N: usize>(b: &[u8], needles: [u8; N]) -> Option<usize> {
    let patterns = needles.map(splat);
    let mut chunks = b.chunks_exact(8);
    let mut offset = 0;
    for chunk in &mut chunks {
        let word = u64::from_le_bytes(chunk.try_into().expect("eight bytes"));
        // A zero byte in `word ^ pattern` is a needle in the chunk; the
        // lowest mark of each pattern is exact and false marks lie above a
        // true one, so the lowest mark of the union is exact too.
        let mut zero = 0;
        for p in patterns {
            zero |= zero_bytes(word ^ p);
        }
        if zero != 0 {
            return Some(offset + (zero.trailing_zeros() / 8) as usize);
        }
        offset += 8;
    }
    chunks
        .remainder()
        .iter()
        .position(|c| needles.contains(c))
        .map(|p| offset + p)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn byte_tests_say_exactly_whether_any_byte_matches() {
        for word in [
            0u64,
            u64::MAX,
            splat(0x1f),
            splat(0x20),
            0x7f20_2021_8000_ff41,
            0x2020_2020_2020_201f,
        ] {
            let bytes = word.to_le_bytes();
            assert_eq!(zero_bytes(word) != 0, bytes.contains(&0), "{word:x}");
            assert_eq!(
                bytes_below(word, 0x20) != 0,
                bytes.iter().any(|&c| c < 0x20),
                "{word:x}"
            );
        }
        for at in 0..8 {
            let word = splat(b'a') & !(0xff << (8 * at));
            assert_eq!(zero_bytes(word).trailing_zeros() / 8, at);
        }
    }

    #[test]
    fn find_any_agrees_with_a_plain_scan() {
        let fill = [b'a', 0x8a, 0x0b, 0xff, 0x21, 0x5b, 0x0c, 0x00];
        for len in 0..40 {
            for at in 0..=len {
                for second in [b'\n', b'"', b'\\'] {
                    let mut v: Vec<u8> = (0..len).map(|k| fill[k % fill.len()]).collect();
                    if at < len {
                        v[at] = b'\r';
                    }
                    if at + 1 < len {
                        v[at + 1] = second;
                    }
                    let needles = [b'"', b'\\', b'\r', b'\n'];
                    assert_eq!(
                        find_any(&v, needles),
                        v.iter().position(|c| needles.contains(c)),
                        "{v:?}"
                    );
                    assert_eq!(find_any(&v, [second]), v.iter().position(|&c| c == second), "{v:?}");
                }
            }
        }
    }
}
