//! Benchmark floor: the time to deflate the bytes a bundle holds, and nothing else.
//!
//! Reads a bundle zip (made with the embedded KUMail provider and the default formats),
//! decompresses every entry into memory (untimed), then times compressing each entry's bytes
//! separately, as the bundle does, in parallel with rayon over all cores, two ways:
//!
//! - *libdeflate*: every entry deflated from scratch by `mailconf::zipstream::deflate`
//!   (libdeflate, one compressor per thread) at the given level: the floor of earlier runs, and
//!   what any tool deflating these bytes would pay.
//! - *own*: the bundle's own encoder: a per-user file that fits its format's pattern is deflated
//!   from the pattern's skeleton (`mailconf::pattern`, learned here, untimed, as the bundle
//!   learns it before its users), any other entry by libdeflate as above.
//!
//! Repeats and prints one JSON line with the median, best and worst pass of each.
//!
//! The bundle deflates its two files that grow with the roster (`index.html`, `manifest.csv`)
//! as a stream with zlib-rs, since libdeflate cannot stream; the floor deflates every entry,
//! those two included, in one libdeflate call each.
//!
//! Usage: cargo run --release --example deflate_floor -- BUNDLE.zip [REPEATS] [LEVEL]

use std::io::Read;
use std::time::Instant;

use mailconf::account::{Account, Address};
use mailconf::pattern::Patterns;
use mailconf::provider::Provider;
use mailconf::render::{Context, Format};
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
    // Each entry with the format of its file, for a per-user file.
    let mut entries: Vec<(Option<Format>, Vec<u8>)> = Vec::with_capacity(archive.len());
    for i in 0..archive.len() {
        let mut file = archive.by_index(i)?;
        if file.is_dir() {
            continue;
        }
        let format = format_of(&file.name()?);
        let mut bytes = Vec::with_capacity(file.size() as usize);
        file.read_to_end(&mut bytes)?;
        entries.push((format, bytes));
    }
    let input: u64 = entries.iter().map(|e| e.1.len() as u64).sum();
    let provider = Provider::kumail();
    // The default formats, as the benchmark's bundles have (the guide lists the files there are).
    let ctx = Context::new(&provider, None);
    let patterns = Patterns::learn(&ctx, level, &[]);

    // Stored entries count at their own size, as in the zip.
    let size =
        |bytes: &[u8], deflated: Option<Vec<u8>>| deflated.map_or(bytes.len(), |d| d.len()) as u64;
    let plain = time_passes(repeats, || {
        entries
            .par_iter()
            .map(|(_, bytes)| size(bytes, mailconf::zipstream::deflate(bytes, level)))
            .sum()
    });
    let own = time_passes(repeats, || {
        entries
            .par_iter()
            .map(|(format, bytes)| {
                let skeletons = format.map_or(&[][..], |f| patterns.of(f).skeletons());
                size(
                    bytes,
                    mailconf::zipstream::deflate_from(bytes, level, skeletons),
                )
            })
            .sum()
    });
    println!(
        "{{\"entries\":{},\"input_bytes\":{input},\"deflated_bytes\":{},\"threads\":{},\
         \"level\":{level},\"compressor\":\"libdeflate\",\"repeats\":{},\"median_s\":{},\
         \"min_s\":{},\"max_s\":{},\"own_deflated_bytes\":{},\"own_median_s\":{},\
         \"own_min_s\":{},\"own_max_s\":{}}}",
        entries.len(),
        plain.output,
        rayon::current_num_threads(),
        plain.times.len(),
        plain.median(),
        plain.times[0],
        plain.times[plain.times.len() - 1],
        own.output,
        own.median(),
        own.times[0],
        own.times[own.times.len() - 1],
    );
    Ok(())
}

/// The format of a per-user file `STEM/users/ADDRESS/FILE`, by its file name.
fn format_of(entry: &str) -> Option<Format> {
    let mut parts = entry.rsplitn(3, '/');
    let (file, address, rest) = (parts.next()?, parts.next()?, parts.next()?);
    if !rest.ends_with("/users") {
        return None;
    }
    let account = Account {
        address: Address::parse(address).ok()?,
        name: None,
    };
    Format::ALL
        .iter()
        .copied()
        .find(|f| f.file_name(&account) == file)
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
