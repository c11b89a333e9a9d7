//! Lines and literals must come out the same whatever the chunking of the
//! input: the first byte seeds the chunk sizes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use wasimap_protocol::framing::Framer;

/// Reads everything as alternating lines and (declared) literals.
fn frames(chunks: &[&[u8]]) -> Vec<Result<Vec<u8>, String>> {
    let mut f = Framer::new();
    let mut out = Vec::new();
    let mut pending: Option<u64> = None;
    let mut feed = chunks.iter();
    loop {
        let got = match pending {
            Some(n) => f.read(n).map(Ok),
            None => match f.readline() {
                Ok(l) => l.map(Ok),
                Err(e) => Some(Err(e.to_string())),
            },
        };
        match got {
            Some(Ok(frame)) => {
                pending = match pending {
                    Some(_) => None,
                    None => wasimap_protocol::session::literal_size(frame.strip_suffix(b"\r\n").unwrap_or(&frame)),
                };
                let done = frame.is_empty() && f.is_eof();
                out.push(Ok(frame));
                if done {
                    return out;
                }
            }
            Some(Err(e)) => {
                out.push(Err(e));
                return out;
            }
            None => match feed.next() {
                Some(c) => f.feed(c),
                None => f.feed_eof(),
            },
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&seed, input)) = data.split_first() else { return };
    let whole = frames(&[input]);
    let size = usize::from(seed % 17) + 1;
    let chunked: Vec<&[u8]> = input.chunks(size).collect();
    assert_eq!(whole, frames(&chunked));
});
