//! The native side of the wasm-vs-native parse comparison: the same loop
//! as `bench.wasm parse`, printing nanoseconds per iteration.
use std::time::Instant;

fn main() {
    let iterations: u32 = std::env::args().nth(1).and_then(|n| n.parse().ok()).unwrap_or(200);
    for (name, input) in wasimap_bench::inputs() {
        let start = Instant::now();
        let mut n = 0;
        for _ in 0..iterations {
            n += wasimap_bench::wasimap_parse(std::hint::black_box(&input));
        }
        println!("{name} {} {n}", start.elapsed().as_nanos() / u128::from(iterations));
    }
}
