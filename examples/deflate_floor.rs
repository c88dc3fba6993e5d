//! Benchmark floor: the time to deflate the bytes a bundle holds, and nothing else.
//!
//! Reads a bundle zip, decompresses every entry into memory (untimed), then times compressing
//! each entry's bytes separately, as the bundle does, with the same compressor (flate2 on
//! zlib-rs) and level (6), in parallel with rayon over all cores. Repeats and prints one JSON
//! line with the median, best and worst pass (`median_s`: one encoder per thread, reset between
//! entries; `fresh_median_s`: a new encoder per entry).
//!
//! Usage: cargo run --release --example deflate_floor -- BUNDLE.zip [REPEATS]

use std::io::{Read, Write};
use std::time::Instant;

use flate2::Compression;
use flate2::write::DeflateEncoder;
use rayon::prelude::*;

/// The level mailconf's bundle uses (bundle.rs, `EntryOptions`).
const LEVEL: u32 = 6;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let path = args
        .next()
        .ok_or("usage: deflate_floor BUNDLE.zip [REPEATS]")?;
    let repeats: usize = args.next().map_or(Ok(5), |s| s.parse())?;

    // Untimed: every file's uncompressed bytes, in memory.
    let mut archive = zip::ZipArchive::new(std::io::BufReader::new(std::fs::File::open(&path)?))?;
    let mut entries: Vec<Vec<u8>> = Vec::with_capacity(archive.len());
    for i in 0..archive.len() {
        let mut file = archive.by_index(i)?;
        if file.is_dir() {
            continue;
        }
        let mut bytes = Vec::with_capacity(file.size() as usize);
        file.read_to_end(&mut bytes)?;
        entries.push(bytes);
    }
    let input: u64 = entries.iter().map(|e| e.len() as u64).sum();

    // Two ways to compress each entry separately: a fresh encoder per entry (what a new
    // ZipWriter per user pays), and one encoder per thread, reset between entries (what the zip
    // crate's encoder cache does inside one ZipWriter). The second is the floor.
    let fresh = time_passes(repeats, || {
        entries
            .par_iter()
            .map(|bytes| {
                let mut encoder = DeflateEncoder::new(
                    Vec::with_capacity(bytes.len() / 2),
                    Compression::new(LEVEL),
                );
                encoder.write_all(bytes).expect("writing to a Vec");
                encoder.finish().expect("writing to a Vec").len() as u64
            })
            .sum()
    });
    let reused = time_passes(repeats, || {
        entries
            .par_iter()
            .map_init(
                || DeflateEncoder::new(Vec::new(), Compression::new(LEVEL)),
                |encoder, bytes| {
                    encoder.write_all(bytes).expect("writing to a Vec");
                    encoder.try_finish().expect("writing to a Vec");
                    encoder.reset(Vec::new()).expect("writing to a Vec").len() as u64
                },
            )
            .sum()
    });
    println!(
        "{{\"entries\":{},\"input_bytes\":{input},\"deflated_bytes\":{},\"threads\":{},\
         \"repeats\":{},\"median_s\":{},\"min_s\":{},\"max_s\":{},\
         \"fresh_median_s\":{},\"fresh_min_s\":{}}}",
        entries.len(),
        reused.output,
        rayon::current_num_threads(),
        reused.times.len(),
        reused.median(),
        reused.times[0],
        reused.times[reused.times.len() - 1],
        fresh.median(),
        fresh.times[0],
    );
    Ok(())
}

/// Sorted pass times and the compressed size of the last pass.
struct Passes {
    times: Vec<f64>,
    output: u64,
}

impl Passes {
    fn median(&self) -> f64 {
        self.times[self.times.len() / 2]
    }
}

/// Times `pass` `repeats` times (at least once); `pass` returns the compressed size.
fn time_passes(repeats: usize, pass: impl Fn() -> u64) -> Passes {
    let mut times = Vec::with_capacity(repeats.max(1));
    let mut output = 0;
    for _ in 0..repeats.max(1) {
        let started = Instant::now();
        output = pass();
        times.push(started.elapsed().as_secs_f64());
    }
    times.sort_by(f64::total_cmp);
    Passes { times, output }
}
