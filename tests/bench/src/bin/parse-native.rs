//! The native side of the wasm-vs-native parse comparison: the same loop
//! as `bench.wasm parse`, printing nanoseconds per iteration.

fn main() {
    let iterations: u32 = std::env::args().nth(1).and_then(|n| n.parse().ok()).unwrap_or(200);
    print!("{}", wasimap_bench::timed_parse_report(iterations));
}
