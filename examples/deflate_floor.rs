//! Benchmark floor: the time to deflate the bytes a bundle holds, and nothing else.
//!
//! Reads a bundle zip, decompresses every entry into memory (untimed), then times compressing
//! each entry's bytes separately, as the bundle does, with the bundle's own compressor
//! (`mailconf::zipstream::deflate`: libdeflate, one compressor per thread) at the bundle's level,
//! in parallel with rayon over all cores. Repeats and prints one JSON line with the median, best
//! and worst pass.
//!
//! The bundle deflates its two files that grow with the roster (`index.html`, `manifest.csv`)
//! as a stream with zlib-rs, since libdeflate cannot stream; the floor deflates every entry,
//! those two included, in one libdeflate call each.
//!
//! Usage: cargo run --release --example deflate_floor -- BUNDLE.zip [REPEATS] [LEVEL]

use std::io::Read;
use std::time::Instant;

use rayon::prelude::*;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let path = args
        .next()
        .ok_or("usage: deflate_floor BUNDLE.zip [REPEATS] [LEVEL]")?;
    let repeats: usize = args.next().map_or(Ok(5), |s| s.parse())?;
    let level: u32 = args
        .next()
        .map_or(Ok(mailconf::bundle::DEFAULT_LEVEL), |s| s.parse())?;

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

    let passes = time_passes(repeats, || {
        entries
            .par_iter()
            .map(|bytes| {
                // Stored entries count at their own size, as in the zip.
                mailconf::zipstream::deflate(bytes, level).map_or(bytes.len(), |d| d.len()) as u64
            })
            .sum()
    });
    println!(
        "{{\"entries\":{},\"input_bytes\":{input},\"deflated_bytes\":{},\"threads\":{},\
         \"level\":{level},\"compressor\":\"libdeflate\",\"repeats\":{},\"median_s\":{},\
         \"min_s\":{},\"max_s\":{}}}",
        entries.len(),
        passes.output,
        rayon::current_num_threads(),
        passes.times.len(),
        passes.median(),
        passes.times[0],
        passes.times[passes.times.len() - 1],
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
