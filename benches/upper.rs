//! Throughput of the streaming uppercase transform on 1 MiB of ASCII and of
//! mixed-script text, fed in 64 KiB reads as a server would.
//! Run: `cargo bench --bench upper`.

use divan::counter::BytesCount;
use divan::{Bencher, black_box};
use netlab::proto::upper::Upper;

const MIB: usize = 1 << 20;
const READ: usize = 64 * 1024;

fn ascii() -> Vec<u8> {
    b"The quick brown fox jumps over the lazy dog. "
        .iter()
        .copied()
        .cycle()
        .take(MIB)
        .collect()
}

fn mixed() -> Vec<u8> {
    let sample = "Hello, straße! Привет, мир. Γειά σου κόσμε. こんにちは世界 😀 café naïve ";
    let mut text = String::new();
    while text.len() < MIB {
        text.push_str(sample);
    }
    text.into_bytes()
}

fn run(bencher: Bencher, input: Vec<u8>) {
    let mut out = Vec::with_capacity(input.len() * 2);
    bencher.counter(BytesCount::new(input.len())).bench_local(|| {
        out.clear();
        let mut t = Upper::new();
        for chunk in input.chunks(READ) {
            t.feed(black_box(chunk), &mut out);
        }
        t.finish(&mut out);
        black_box(out.len())
    });
}

#[divan::bench]
fn ascii_1mib(bencher: Bencher) {
    run(bencher, ascii());
}

#[divan::bench]
fn mixed_1mib(bencher: Bencher) {
    run(bencher, mixed());
}

fn main() {
    divan::main();
}
