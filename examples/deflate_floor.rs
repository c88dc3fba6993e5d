//! Benchmark floor: the time to deflate the bytes a bundle holds, and nothing else.
//!
//! Reads a bundle zip (made with the embedded KUMail provider and the default formats),
//! decompresses every entry into memory (untimed), then times compressing each entry's bytes
//! separately, as the bundle does, in parallel with rayon over all cores, two ways:
//!
//! - *libdeflate*: every entry deflated from scratch by `mailconf::bundle::zipstream::deflate`
//!   (libdeflate, one compressor per thread) at the given level: the floor of earlier runs, and
//!   what any tool deflating these bytes would pay.
//! - *own*: the bundle's own encoder: a per-user file that fits its format's pattern is deflated
//!   from the pattern's skeleton (`mailconf::bundle::pattern`, learned here, untimed, as the bundle
//!   learns it before its users), any other entry by libdeflate as above.
//!
//! It also times, the same way, what the bundle must do besides deflating:
//!
//! - *checks*: the CRC-32 of every entry (the zip format's) and the SHA-256 of every per-user
//!   file (`manifest.csv`'s), hashed as the bundle hashes them (`Pattern::sha256`, which starts
//!   from the state after the prefix every file of a format shares);
//! - *render*: rendering every person's files (`Context::user_files`), for the people and names
//!   the bundle's `manifest.csv` lists. The rendered bytes must equal the zip's per-user entries,
//!   or the program stops: that checks the bundle was made the way this program renders.
//!
//! Rendering, deflating with the own encoder and the checksums are work no bundle of these files
//! can skip: their sum is a lower bound on the bundle's time (leaving out the index, the manifest
//! and writing the zip).
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

use mailconf::bundle::pattern::Patterns;
use mailconf::input::account::{Account, Address, DisplayName};
use mailconf::input::provider::Provider;
use mailconf::render::escape::from_spreadsheet;
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

    // Untimed: every file's uncompressed bytes, in memory, and the people of the manifest.
    let mut archive = zip::ZipArchive::new(std::io::BufReader::new(std::fs::File::open(&path)?))?;
    // Each entry with the format of its file, for a per-user file.
    let mut entries: Vec<(Option<Format>, Vec<u8>)> = Vec::with_capacity(archive.len());
    let mut accounts = Vec::new();
    for i in 0..archive.len() {
        let mut file = archive.by_index(i)?;
        if file.is_dir() {
            continue;
        }
        let name = file.name()?.to_string();
        let format = format_of(&name);
        let mut bytes = Vec::with_capacity(file.size() as usize);
        file.read_to_end(&mut bytes)?;
        if name.ends_with("/manifest.csv") {
            accounts = people(&bytes).map_err(|e| format!("{path}: {name}: {e}"))?;
        }
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
            .map(|(_, bytes)| size(bytes, mailconf::bundle::zipstream::deflate(bytes, level)))
            .sum()
    });
    let own = time_passes(repeats, || {
        entries
            .par_iter()
            .map(|(format, bytes)| {
                let skeletons = format.map_or(&[][..], |f| patterns.of(f).skeletons());
                size(
                    bytes,
                    mailconf::bundle::zipstream::deflate_from(bytes, level, skeletons),
                )
            })
            .sum()
    });
    let per_user: u64 = entries
        .iter()
        .filter(|e| e.0.is_some())
        .map(|e| e.1.len() as u64)
        .sum();
    let render = time_passes(repeats, || {
        accounts
            .par_iter()
            .map(|account| {
                let files = ctx
                    .user_files(account)
                    .expect("the bundle rendered these people");
                files.iter().map(|f| f.bytes.len() as u64).sum::<u64>()
            })
            .sum()
    });
    if render.output != per_user {
        return Err(format!(
            "{path}: rendering the manifest's people gives {} bytes, the zip's per-user files hold \
             {per_user}: make the bundle with the embedded provider and the default formats \
             (`mailconf bundle ROSTER -o ZIP`, without --provider, --formats, --protocol or signing)",
            render.output
        )
        .into());
    }
    // What the bundle computes besides deflating; the size is the bytes SHA-256 hashed.
    let checks = time_passes(repeats, || {
        entries
            .par_iter()
            .map(|(format, bytes)| {
                std::hint::black_box(crc32fast::hash(bytes));
                format.map_or(0, |f| {
                    std::hint::black_box(patterns.of(f).sha256(bytes));
                    bytes.len() as u64
                })
            })
            .sum()
    });
    println!(
        "{{\"entries\":{},\"input_bytes\":{input},\"deflated_bytes\":{},\"threads\":{},\
         \"level\":{level},\"compressor\":\"libdeflate\",\"repeats\":{},\"median_s\":{},\
         \"min_s\":{},\"max_s\":{},\"own_deflated_bytes\":{},\"own_median_s\":{},\
         \"own_min_s\":{},\"own_max_s\":{},\"sha256_bytes\":{},\"checks_median_s\":{},\
         \"checks_min_s\":{},\"checks_max_s\":{},\"people\":{},\"rendered_bytes\":{},\
         \"render_median_s\":{},\"render_min_s\":{},\"render_max_s\":{}}}",
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
        checks.output,
        checks.median(),
        checks.times[0],
        checks.times[checks.times.len() - 1],
        accounts.len(),
        render.output,
        render.median(),
        render.times[0],
        render.times[render.times.len() - 1],
    );
    Ok(())
}

/// The people of a bundle's `manifest.csv` (a row per file), each once, in order.
/// Errors name the manifest's line.
fn people(manifest: &[u8]) -> Result<Vec<Account>, String> {
    let mut reader = csv::Reader::from_reader(manifest);
    let mut accounts: Vec<Account> = Vec::new();
    for row in reader.records() {
        let row = row.map_err(|e| e.to_string())?;
        let line = row.position().map_or(0, |p| p.line());
        let (Some(email), Some(name)) = (row.get(0), row.get(1)) else {
            return Err(format!("line {line}: expected email and name first"));
        };
        let (email, name) = (from_spreadsheet(email), from_spreadsheet(name));
        if accounts.last().is_some_and(|a| a.address.as_str() == email) {
            continue;
        }
        let bad = |e: &dyn std::fmt::Display| format!("line {line}: {e}");
        accounts.push(Account {
            address: Address::parse(email).map_err(|e| bad(&e))?,
            name: DisplayName::parse(name).map_err(|e| bad(&e))?,
        });
    }
    Ok(accounts)
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

/// Sorted pass times and the size the last pass produced.
struct Passes {
    times: Vec<f64>,
    output: u64,
}

impl Passes {
    fn median(&self) -> f64 {
        self.times[self.times.len() / 2]
    }
}

/// Times `pass` `repeats` times (at least once); `pass` returns the size it produced.
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
