//! Byte scans eight bytes at a time (SWAR): wasm has no `memchr`, and these
//! scans run over every line and every quoted string a server sends.

const LO: u64 = 0x0101_0101_0101_0101;
const HI: u64 = 0x8080_8080_8080_8080;

/// The position of the first byte of `b` that is one of `needles`.
pub(crate) fn find_any<const N: usize>(b: &[u8], needles: [u8; N]) -> Option<usize> {
    let patterns = needles.map(|n| LO * u64::from(n));
    let mut chunks = b.chunks_exact(8);
    let mut offset = 0;
    for chunk in &mut chunks {
        let word = u64::from_le_bytes(chunk.try_into().expect("eight bytes"));
        // A zero byte in `word ^ pattern` is a needle in the chunk (the
        // classic has-zero-byte test: its lowest set bit is exact, the
        // false positives it can give lie above a true match, so the lowest
        // bit of the union is exact too).
        let mut zero = 0;
        for p in patterns {
            let w = word ^ p;
            zero |= w.wrapping_sub(LO) & !w & HI;
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
