//! Native parse benchmarks on the same bytes: wasimap's session against
//! imap-proto and imap-codec. Run with `just bench` (or `cargo bench -p
//! wasimap-bench`); ratios are printed against imap-proto.

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use wasimap_bench::{inputs, wasimap_parse, wasimap_parse_typed};

fn imap_proto_parse(mut input: &[u8]) -> usize {
    let mut n = 0;
    while !input.is_empty() {
        match imap_proto::parser::parse_response(input) {
            Ok((rest, _)) => {
                input = rest;
                n += 1;
            }
            Err(_) => break,
        }
    }
    n
}

fn imap_codec_parse(mut input: &[u8]) -> usize {
    use imap_codec::decode::Decoder;
    let codec = imap_codec::ResponseCodec::default();
    let mut n = 0;
    while !input.is_empty() {
        match codec.decode(input) {
            Ok((rest, _)) => {
                input = rest;
                n += 1;
            }
            Err(_) => break,
        }
    }
    n
}

fn parse(c: &mut Criterion) {
    for (name, input) in inputs() {
        let expected = wasimap_parse(&input);
        assert_eq!(imap_proto_parse(&input), expected, "imap-proto parses {name}");
        assert_eq!(imap_codec_parse(&input), expected, "imap-codec parses {name}");
        assert_eq!(wasimap_parse_typed(&input), expected, "typed parse of {name}");
        let mut g = c.benchmark_group(name);
        g.throughput(Throughput::Bytes(input.len() as u64));
        g.bench_function("wasimap", |b| b.iter(|| wasimap_parse(std::hint::black_box(&input))));
        g.bench_function("wasimap-typed", |b| {
            b.iter(|| wasimap_parse_typed(std::hint::black_box(&input)))
        });
        g.bench_function("imap-proto", |b| {
            b.iter(|| imap_proto_parse(std::hint::black_box(&input)))
        });
        g.bench_function("imap-codec", |b| {
            b.iter(|| imap_codec_parse(std::hint::black_box(&input)))
        });
        g.finish();
    }
}

criterion_group!(benches, parse);
criterion_main!(benches);
