//! Deflate for files cut from one pattern: learned once per run, replayed for every person.
//!
//! Every person's Thunderbird file, Apple profile or guide is one template around a few values of
//! their own (address, name, UUIDs): 93–99 % of each file's bytes are the same for everybody.
//! Deflating each file from scratch finds the same matches in the same text again for every
//! person, and was most of a bundle's CPU time (`bench/PROFILE.md`). A [`Skeleton`] does that
//! work once:
//!
//! - [`Skeleton::learn`] diffs a few sample files rendered for made-up people. The runs of bytes
//!   common to all of them, in order, are the *segments*; whatever lies between them is a *gap*
//!   (the per-person values).
//! - The segments are parsed once into LZ77 tokens (literals and back-references) that never
//!   reach into a gap, with a long search (hash chains, lazy matching), and one Huffman code is
//!   built for them and for any byte a gap may hold; its dynamic block header is encoded once.
//!   Literals and back-references inside one segment never change: they are packed into ready
//!   bits once.
//! - [`Skeleton::deflate`] finds the segments in a person's file and copies their ready bits. A
//!   gap shifts every byte after it, so a back-reference from one segment into an earlier one
//!   grows by the gaps between them: each is recomputed, and written as plain literals in the rare
//!   case it no longer fits deflate's 32 KB window. A gap is written as literals, or as one
//!   back-reference when it repeats an earlier gap as it did in every sample (the address,
//!   again). The result is one ordinary deflate block (RFC 1951): any inflater reads it. A file that does not fit the pattern (a gap
//!   longer than [`MAX_GAP`], a segment missing) gets `None`, and the caller deflates it
//!   normally.
//!
//! Correctness does not depend on the samples: a segment is used only where its bytes are found
//! in the file, gaps are the file's own bytes, and a back-reference points into a segment found
//! in the same file. Debug builds inflate every result and compare it with the input.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::ops::Range;

thread_local! {
    /// Each thread's output buffer, kept between files.
    static SCRATCH: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// The largest output buffer a thread keeps between files.
const SCRATCH_KEEP: usize = 1 << 20;

/// Deflate's window: the farthest a back-reference reaches.
const WINDOW: usize = 32_768;
const MIN_MATCH: usize = 3;
const MAX_MATCH: usize = 258;
/// A length-3 match farther than this costs more bits than three literals (zlib's `TOO_FAR`).
const TOO_FAR: usize = 4096;
/// Candidates tried per position when parsing the segments (once per run, so it can be long).
const MAX_CHAIN: usize = 512;
/// Common runs shorter than this are left in the gaps: short ones are found in wrong places.
const MIN_SEGMENT: usize = 12;
/// The longest gap looked through for the next segment, and the longest trailing gap.
pub const MAX_GAP: usize = 2048;
/// Samples larger than this are not learned from (the diff grows with their size).
const MAX_SAMPLE: usize = 1 << 20;
/// Literal/length symbols: 0–255 bytes, 256 end of block, 257–285 lengths.
const LIT_SYMBOLS: usize = 286;
const END_OF_BLOCK: usize = 256;
const DIST_SYMBOLS: usize = 30;
/// Code lengths: at most 15 bits for literals/lengths and distances, 7 for the code-length code.
const MAX_BITS: u8 = 15;
const MAX_CL_BITS: u8 = 7;
/// The order code-length code lengths are sent in (RFC 1951 3.2.7).
const CL_ORDER: [usize; 19] = [
    16, 17, 18, 0, 8, 7, 9, 6, 10, 5, 11, 4, 12, 3, 13, 2, 14, 1, 15,
];

/// A Huffman code, bits reversed for LSB-first output.
#[derive(Debug, Clone, Copy, Default)]
struct Code {
    bits: u16,
    len: u8,
}

/// One LZ77 token of a segment, with its literal or length code (and extra bits) ready to write.
#[derive(Debug, Clone, Copy, Default)]
struct Token {
    /// The literal's code, or the length code followed by its extra bits.
    bits: u32,
    count: u8,
    /// 0 for a literal.
    len: u16,
    /// The literal byte, or the distance inside the segments, before the gaps are counted.
    dist: u16,
    /// The segment the referenced bytes are in.
    from: u16,
}

#[derive(Debug)]
struct Segment {
    /// Where the segment starts in the concatenated segments.
    start: usize,
    bytes: Vec<u8>,
    items: Range<usize>,
}

/// A stretch of a segment's block: bits that are the same in every file, then at most one
/// back-reference into an earlier segment, whose distance depends on the gaps between.
#[derive(Debug, Clone, Copy)]
struct Item {
    /// The fixed bits: `bit_len` bits from `Skeleton::words[word..]`.
    word: u32,
    bit_len: u32,
    /// The back-reference after them (`len` 0: none), and where it starts in the segments.
    copy: Token,
    at: u32,
}

/// A learned pattern and its precomputed deflate block; see the module documentation.
#[derive(Debug)]
pub struct Skeleton {
    segments: Vec<Segment>,
    /// For each gap (before each segment, and the trailing one), an earlier gap it repeated in
    /// every sample.
    gap_ref: Vec<Option<u16>>,
    items: Vec<Item>,
    words: Vec<u32>,
    lit: [Code; LIT_SYMBOLS],
    dist: [Code; DIST_SYMBOLS],
    /// The block header (final block, dynamic codes) as whole bytes and its last bits.
    header: Vec<u8>,
    header_acc: u64,
    header_bits: u32,
}

impl Skeleton {
    /// Learns the pattern shared by `samples` (at least two files rendered from one template for
    /// different people; more make the segments' edges safer). `None` when they share nothing
    /// worth it, or are too large.
    pub fn learn(samples: &[&[u8]]) -> Option<Skeleton> {
        let [first, second, others @ ..] = samples else {
            return None;
        };
        if samples.iter().any(|s| s.len() > MAX_SAMPLE) {
            return None;
        }
        let mut segments = Vec::new();
        let mut bytes = Vec::new();
        for run in common_runs(first, second, others) {
            segments.push(Segment {
                start: bytes.len(),
                bytes: first[run.clone()].to_vec(),
                items: 0..0,
            });
            bytes.extend_from_slice(&first[run]);
        }
        if segments.is_empty() || segments.len() > usize::from(u16::MAX) {
            return None;
        }
        // Every sample must fit. A gap that repeats an earlier one in every sample (the address,
        // again) is written as a back-reference to it when it does in a file too; the samples'
        // gaps tell which bytes, lengths and distances the gaps need.
        let mut sample_gaps = Vec::with_capacity(samples.len());
        let mut shifts = Vec::new();
        for sample in samples {
            if !locate(&segments, sample, &mut shifts) {
                return None;
            }
            sample_gaps.push(gaps(&segments, &shifts, sample.len()));
        }
        let gap_ref: Vec<Option<u16>> = (0..=segments.len())
            .map(|i| {
                (0..i).rev().find_map(|j| {
                    samples
                        .iter()
                        .zip(&sample_gaps)
                        .all(|(s, g)| g[i].len() >= MIN_MATCH && s[g[i].clone()] == s[g[j].clone()])
                        .then_some(j as u16)
                })
            })
            .collect();
        let mut lit_freq = [0u32; LIT_SYMBOLS];
        let mut dist_freq = [0u32; DIST_SYMBOLS];
        for (sample, gaps) in samples.iter().zip(&sample_gaps) {
            for (gap, earlier) in gaps.iter().zip(&gap_ref) {
                match earlier {
                    Some(j) => {
                        let dist = gap.start - gaps[usize::from(*j)].start;
                        if dist <= WINDOW {
                            for len in copy_lengths(gap.len()) {
                                lit_freq[length_symbol(len).0] += 1;
                                dist_freq[distance_symbol(dist).0] += 1;
                            }
                        }
                    }
                    None => sample[gap.clone()]
                        .iter()
                        .for_each(|&b| lit_freq[usize::from(b)] += 1),
                }
            }
        }
        let tokens = parse(&bytes, &segments);
        for t in tokens.iter().flatten() {
            if t.len == 0 {
                lit_freq[usize::from(t.dist)] += 1;
            } else {
                lit_freq[length_symbol(usize::from(t.len)).0] += 1;
                dist_freq[distance_symbol(usize::from(t.dist)).0] += 1;
            }
        }
        // Any byte may stand in a gap, a gap may be as long as it likes, and may lengthen any
        // distance: every symbol gets a code.
        lit_freq.iter_mut().for_each(|f| *f += 1);
        dist_freq.iter_mut().for_each(|f| *f += 1);
        let lit_lengths = code_lengths(&lit_freq, MAX_BITS);
        let dist_lengths = code_lengths(&dist_freq, MAX_BITS);
        let lit: [Code; LIT_SYMBOLS] = canonical(&lit_lengths).try_into().ok()?;
        let dist: [Code; DIST_SYMBOLS] = canonical(&dist_lengths).try_into().ok()?;
        let (items, words) = encode_segments(&mut segments, &tokens, &lit, &dist);
        // At most 17 + 19 × 3 + 316 × 14 bits.
        let mut header = vec![0u8; 1024];
        let mut w = Bits::new(&mut header);
        write_header(&mut w, &lit_lengths, &dist_lengths);
        let (len, header_acc, header_bits) = w.into_parts();
        header.truncate(len);
        Some(Skeleton {
            segments,
            gap_ref,
            items,
            words,
            lit,
            dist,
            header,
            header_acc,
            header_bits,
        })
    }

    /// The share of `sample`'s bytes the segments cover, 0 when it does not fit (for tests and
    /// diagnostics).
    pub fn coverage(&self, sample: &[u8]) -> f64 {
        let mut shifts = Vec::new();
        if sample.is_empty() || !locate(&self.segments, sample, &mut shifts) {
            return 0.0;
        }
        let covered: usize = self.segments.iter().map(|s| s.bytes.len()).sum();
        covered as f64 / sample.len() as f64
    }

    /// Raw deflate of `data`, or `None` when it does not fit the pattern.
    pub fn deflate(&self, data: &[u8]) -> Option<Vec<u8>> {
        let mut shifts = Vec::with_capacity(self.segments.len());
        if !locate(&self.segments, data, &mut shifts) {
            return None;
        }
        // Every byte of `data` costs at most 2 bytes (a literal of up to 15 bits, or its share of
        // a copy), every fixed stretch its words, every stretched copy 6 bytes (48 bits); and
        // the writer's 8 spare bytes.
        let bound =
            self.header.len() + 4 * self.words.len() + 6 * self.items.len() + 2 * data.len() + 16;
        SCRATCH.with(|scratch| {
            let mut scratch = scratch.borrow_mut();
            if scratch.len() < bound {
                scratch.resize(bound, 0);
            }
            let len = self.write(&mut scratch, data, &shifts);
            let out = scratch[..len].to_vec();
            if scratch.len() > SCRATCH_KEEP {
                *scratch = Vec::new();
            }
            #[cfg(debug_assertions)]
            check_inflates(&out, data);
            Some(out)
        })
    }

    /// Writes the block for `data`, whose segments moved by `shifts`, into `out`; its length.
    fn write(&self, out: &mut [u8], data: &[u8], shifts: &[usize]) -> usize {
        out[..self.header.len()].copy_from_slice(&self.header);
        let mut w = Bits {
            out,
            pos: self.header.len(),
            acc: self.header_acc,
            n: self.header_bits,
        };
        let mut gaps = Vec::with_capacity(self.segments.len() + 1);
        let mut pos = 0;
        for (segment, &shift) in self.segments.iter().zip(shifts) {
            let start = segment.start + shift;
            self.gap(&mut w, data, pos..start, &mut gaps);
            for item in &self.items[segment.items.clone()] {
                w.put_words(&self.words[item.word as usize..], item.bit_len);
                let t = item.copy;
                if t.len == 0 {
                    continue;
                }
                // The gaps between the source segment and this one lie between them too.
                let dist = usize::from(t.dist) + shift - shifts[usize::from(t.from)];
                if dist > WINDOW {
                    let at = item.at as usize + shift;
                    self.literals(&mut w, &data[at..at + usize::from(t.len)]);
                } else {
                    // Length (at most 15 + 5 bits) and distance (15 + 13) in one put.
                    let (symbol, extra_bits, extra) = distance_symbol(dist);
                    let c = self.dist[symbol];
                    let dist_bits = u64::from(c.bits) | (u64::from(extra) << c.len);
                    w.put_long(
                        u64::from(t.bits) | (dist_bits << t.count),
                        u32::from(t.count + c.len + extra_bits),
                    );
                }
            }
            pos = start + segment.bytes.len();
        }
        self.gap(&mut w, data, pos..data.len(), &mut gaps);
        let eob = self.lit[END_OF_BLOCK];
        w.put(u32::from(eob.bits), u32::from(eob.len));
        w.finish()
    }

    /// Writes the next gap: a back-reference when it repeats the earlier gap it repeated in the
    /// samples, else its bytes. `gaps` holds the gaps written so far.
    fn gap(&self, w: &mut Bits<'_>, data: &[u8], gap: Range<usize>, gaps: &mut Vec<Range<usize>>) {
        if let Some(j) = self.gap_ref[gaps.len()] {
            let earlier = gaps[usize::from(j)].clone();
            let dist = gap.start - earlier.start;
            if gap.len() >= MIN_MATCH && dist <= WINDOW && data[gap.clone()] == data[earlier] {
                let (symbol, extra_bits, extra) = distance_symbol(dist);
                let c = self.dist[symbol];
                let (dist_bits, dist_count) =
                    (u32::from(c.bits) | (extra << c.len), c.len + extra_bits);
                for len in copy_lengths(gap.len()) {
                    let (symbol, extra_bits, extra) = length_symbol(len);
                    let c = self.lit[symbol];
                    w.put(
                        u32::from(c.bits) | (extra << c.len),
                        u32::from(c.len + extra_bits),
                    );
                    w.put(dist_bits, u32::from(dist_count));
                }
                gaps.push(gap);
                return;
            }
        }
        self.literals(w, &data[gap.clone()]);
        gaps.push(gap);
    }

    fn literals(&self, w: &mut Bits<'_>, bytes: &[u8]) {
        for &b in bytes {
            let c = self.lit[usize::from(b)];
            w.put(u32::from(c.bits), u32::from(c.len));
        }
    }
}

/// Writes each segment's tokens with the final codes: literals and back-references within the
/// segment never change, so they are packed into fixed bits (32-bit words, each item's starting
/// on a word); a back-reference into an earlier segment ends an item, to be finished per file.
fn encode_segments(
    segments: &mut [Segment],
    tokens: &[Vec<Token>],
    lit: &[Code; LIT_SYMBOLS],
    dist: &[Code; DIST_SYMBOLS],
) -> (Vec<Item>, Vec<u32>) {
    let mut items = Vec::new();
    let mut words = Vec::new();
    let mut scratch = Vec::new();
    for (k, (segment, tokens)) in segments.iter_mut().zip(tokens).enumerate() {
        let first = items.len();
        // A stretch is at most the whole segment: at most 2 bytes a byte of it, and the
        // writer's 8 spare bytes.
        scratch.resize(2 * segment.bytes.len() + 16, 0);
        let mut fixed = Bits::new(&mut scratch);
        let mut at = segment.start;
        for &t in tokens {
            if t.len == 0 {
                let c = lit[usize::from(t.dist)];
                fixed.put(u32::from(c.bits), u32::from(c.len));
                at += 1;
                continue;
            }
            let (symbol, extra_bits, extra) = length_symbol(usize::from(t.len));
            let c = lit[symbol];
            let copy = Token {
                bits: u32::from(c.bits) | (extra << c.len),
                count: c.len + extra_bits,
                ..t
            };
            if usize::from(t.from) == k {
                fixed.put(copy.bits, u32::from(copy.count));
                let (symbol, extra_bits, extra) = distance_symbol(usize::from(t.dist));
                let c = dist[symbol];
                fixed.put(
                    u32::from(c.bits) | (extra << c.len),
                    u32::from(c.len + extra_bits),
                );
            } else {
                let (len, acc, bits) = fixed.into_parts();
                let (word, bit_len) = append_words(&mut words, &scratch[..len], acc, bits);
                items.push(Item {
                    word: word as u32,
                    bit_len,
                    copy,
                    at: at as u32,
                });
                fixed = Bits::new(&mut scratch);
            }
            at += usize::from(t.len);
        }
        let (len, acc, bits) = fixed.into_parts();
        let (word, bit_len) = append_words(&mut words, &scratch[..len], acc, bits);
        items.push(Item {
            word: word as u32,
            bit_len,
            copy: Token::default(),
            at: at as u32,
        });
        segment.items = first..items.len();
    }
    (items, words)
}

/// Debug builds: the block must inflate, with an independent inflater, to exactly `data`.
#[cfg(debug_assertions)]
fn check_inflates(deflated: &[u8], data: &[u8]) {
    use std::io::Read;
    let mut back = Vec::with_capacity(data.len());
    flate2::read::DeflateDecoder::new(deflated)
        .read_to_end(&mut back)
        .expect("a skeleton's block inflates");
    assert!(back == data, "a skeleton's block inflates to its input");
}

/// The runs `first` and `second` have in common, in order, at least [`MIN_SEGMENT`] long, with
/// their ends trimmed until each is found in every one of `others` too (a run's edge may be a
/// byte two samples' values happen to share).
fn common_runs(first: &[u8], second: &[u8], others: &[&[u8]]) -> Vec<Range<usize>> {
    let ops = similar::capture_diff_slices(similar::Algorithm::Myers, first, second);
    let mut runs = Vec::new();
    for op in ops {
        let similar::DiffOp::Equal { old_index, len, .. } = op else {
            continue;
        };
        let mut run = old_index..old_index + len;
        while run.len() >= MIN_SEGMENT
            && !others
                .iter()
                .all(|o| memchr::memmem::find(o, &first[run.clone()]).is_some())
        {
            run = run.start + 1..run.end - 1;
        }
        if run.len() >= MIN_SEGMENT {
            runs.push(run);
        }
    }
    runs
}

/// Finds the segments in `data` in order, each within [`MAX_GAP`] of the previous one's end, and
/// the trailing gap no longer than that; fills `shifts` with how far each segment moved (the
/// total length of the gaps before it). `false` when `data` does not fit.
fn locate(segments: &[Segment], data: &[u8], shifts: &mut Vec<usize>) -> bool {
    shifts.clear();
    let mut pos = 0;
    for segment in segments {
        let end = data.len().min(pos + MAX_GAP + segment.bytes.len());
        let Some(i) = find(&segment.bytes, &data[pos..end]) else {
            return false;
        };
        shifts.push(pos + i - segment.start);
        pos += i + segment.bytes.len();
    }
    data.len() - pos <= MAX_GAP
}

/// The first position of `needle` in `haystack`. The segments sought are usually a few bytes
/// in, after a value: trying each place their first byte occurs costs less than setting up a
/// substring searcher for every segment of every file.
fn find(needle: &[u8], haystack: &[u8]) -> Option<usize> {
    let (&first, rest) = needle.split_first()?;
    let mut from = 0;
    while let Some(i) = memchr::memchr(first, &haystack[from..]) {
        let at = from + i;
        if haystack[at + 1..].starts_with(rest) {
            return Some(at);
        }
        from = at + 1;
    }
    None
}

/// The gaps of a file `len` bytes long whose segments were located (`shifts`): before each
/// segment, and the trailing one.
fn gaps(segments: &[Segment], shifts: &[usize], len: usize) -> Vec<Range<usize>> {
    let mut gaps = Vec::with_capacity(segments.len() + 1);
    let mut pos = 0;
    for (segment, &shift) in segments.iter().zip(shifts) {
        gaps.push(pos..segment.start + shift);
        pos = segment.start + shift + segment.bytes.len();
    }
    gaps.push(pos..len);
    gaps
}

/// Splits a copy of `len` bytes (at least 3) into deflate's match lengths, 3–258 each.
fn copy_lengths(mut len: usize) -> impl Iterator<Item = usize> {
    debug_assert!(len >= MIN_MATCH);
    std::iter::from_fn(move || {
        let n = match len {
            0 => return None,
            n if n <= MAX_MATCH => n,
            // Leave at least a minimal match for the rest.
            n if n - MAX_MATCH < MIN_MATCH => n - MIN_MATCH,
            _ => MAX_MATCH,
        };
        len -= n;
        Some(n)
    })
}

/// LZ77 tokens for the concatenated segments: no match crosses a segment's end, on either side,
/// so each stays valid whatever the gaps. One list of tokens per segment.
fn parse(bytes: &[u8], segments: &[Segment]) -> Vec<Vec<Token>> {
    let mut m = Matcher::new(bytes, segments);
    let literal = |b: u8| Token {
        bits: 0,
        count: 0,
        len: 0,
        dist: u16::from(b),
        from: 0,
    };
    let mut all = Vec::with_capacity(segments.len());
    for (k, segment) in segments.iter().enumerate() {
        let mut tokens = Vec::new();
        let end = m.ends[k];
        let mut p = segment.start;
        while p < end {
            let (len, dist) = m.longest(p, end);
            m.insert(p);
            // Lazy matching: a longer match one byte later is worth a literal now.
            if len == 0 || m.longest(p + 1, end).0 > len {
                tokens.push(literal(bytes[p]));
                p += 1;
                continue;
            }
            tokens.push(Token {
                bits: 0,
                count: 0,
                len: len as u16,
                dist: dist as u16,
                from: m.owner[p - dist],
            });
            for q in p + 1..p + len {
                m.insert(q);
            }
            p += len;
        }
        all.push(tokens);
    }
    all
}

/// Hash chains over the concatenated segments, for [`parse`].
struct Matcher<'a> {
    bytes: &'a [u8],
    /// The segment of every position.
    owner: Vec<u16>,
    /// Each segment's end.
    ends: Vec<usize>,
    head: Vec<usize>,
    prev: Vec<usize>,
}

impl<'a> Matcher<'a> {
    const HASH_BITS: u32 = 15;

    fn new(bytes: &'a [u8], segments: &[Segment]) -> Matcher<'a> {
        let mut owner = vec![0u16; bytes.len()];
        let ends: Vec<usize> = segments.iter().map(|s| s.start + s.bytes.len()).collect();
        for (k, s) in segments.iter().enumerate() {
            owner[s.start..ends[k]].fill(k as u16);
        }
        Matcher {
            bytes,
            owner,
            ends,
            head: vec![usize::MAX; 1 << Self::HASH_BITS],
            prev: vec![usize::MAX; bytes.len()],
        }
    }

    fn hash(&self, p: usize) -> usize {
        let b = self.bytes;
        let v = u32::from(b[p]) << 16 | u32::from(b[p + 1]) << 8 | u32::from(b[p + 2]);
        (v.wrapping_mul(0x9E37_79B1) >> (32 - Self::HASH_BITS)) as usize
    }

    fn insert(&mut self, p: usize) {
        if p + MIN_MATCH <= self.bytes.len() {
            let h = self.hash(p);
            self.prev[p] = self.head[h];
            self.head[h] = p;
        }
    }

    /// The longest match for `p` that ends by `end` and whose source ends by its own segment's
    /// end: (length, distance), or (0, 0).
    fn longest(&self, p: usize, end: usize) -> (usize, usize) {
        let limit = end.min(p + MAX_MATCH);
        if limit < p + MIN_MATCH {
            return (0, 0);
        }
        let b = self.bytes;
        let mut best = (0, 0);
        let mut candidate = self.head[self.hash(p)];
        let mut chain = 0;
        while candidate != usize::MAX && p - candidate <= WINDOW && chain < MAX_CHAIN {
            let source_end = self.ends[usize::from(self.owner[candidate])];
            let max = (limit - p).min(source_end - candidate);
            let len = common_prefix(&b[candidate..candidate + max], &b[p..p + max]);
            if len > best.0 {
                best = (len, p - candidate);
                if p + len == limit {
                    break;
                }
            }
            candidate = self.prev[candidate];
            chain += 1;
        }
        if best.0 < MIN_MATCH || (best.0 == MIN_MATCH && best.1 > TOO_FAR) {
            (0, 0)
        } else {
            best
        }
    }
}

/// How many leading bytes `a` and `b` share, compared eight at a time.
pub(crate) fn common_prefix(a: &[u8], b: &[u8]) -> usize {
    let max = a.len().min(b.len());
    let mut n = 0;
    while n + 8 <= max {
        let word = |s: &[u8]| u64::from_le_bytes(s[n..n + 8].try_into().expect("8 bytes"));
        let diff = word(a) ^ word(b);
        if diff != 0 {
            return n + (diff.trailing_zeros() / 8) as usize;
        }
        n += 8;
    }
    while n < max && a[n] == b[n] {
        n += 1;
    }
    n
}

/// The length symbol of a match length (3–258), its number of extra bits and their value.
fn length_symbol(len: usize) -> (usize, u8, u32) {
    debug_assert!((MIN_MATCH..=MAX_MATCH).contains(&len));
    let x = len - MIN_MATCH;
    if len == MAX_MATCH {
        (285, 0, 0)
    } else if x < 8 {
        (257 + x, 0, 0)
    } else {
        let nb = x.ilog2() as usize;
        let extra_bits = nb - 2;
        (
            257 + 4 * (nb - 1) + ((x >> extra_bits) & 3),
            extra_bits as u8,
            (x & ((1 << extra_bits) - 1)) as u32,
        )
    }
}

/// The distance symbol of a distance (1–32768), its number of extra bits and their value.
fn distance_symbol(dist: usize) -> (usize, u8, u32) {
    debug_assert!((1..=WINDOW).contains(&dist));
    let x = dist - 1;
    if x < 4 {
        (x, 0, 0)
    } else {
        let nb = x.ilog2() as usize;
        let extra_bits = nb - 1;
        (
            2 * nb + ((x >> extra_bits) & 1),
            extra_bits as u8,
            (x & ((1 << extra_bits) - 1)) as u32,
        )
    }
}

/// Huffman code lengths for `freq`, none longer than `limit`: frequencies are halved (keeping
/// every used symbol) until the tree is shallow enough. Every used symbol gets a code; when only
/// one is used a second is added, since inflaters refuse incomplete codes.
fn code_lengths(freq: &[u32], limit: u8) -> Vec<u8> {
    let mut freq = freq.to_vec();
    if freq.iter().filter(|&&f| f > 0).count() == 1 {
        let unused = freq.iter().position(|&f| f == 0).unwrap_or(0);
        freq[unused] = 1;
    }
    loop {
        let lengths = huffman_lengths(&freq);
        if lengths.iter().all(|&l| l <= limit) {
            return lengths;
        }
        for f in freq.iter_mut().filter(|f| **f > 0) {
            *f = (*f >> 1).max(1);
        }
    }
}

/// Plain Huffman code lengths (ties broken by node number, so the result is deterministic).
fn huffman_lengths(freq: &[u32]) -> Vec<u8> {
    let mut heap = BinaryHeap::new();
    // Nodes: the symbols, then the inner nodes; parent[i] links a node to its parent.
    let mut parent: Vec<usize> = vec![usize::MAX; freq.len()];
    for (symbol, &f) in freq.iter().enumerate() {
        if f > 0 {
            heap.push(Reverse((u64::from(f), symbol)));
        }
    }
    while heap.len() > 1 {
        let Reverse((fa, a)) = heap.pop().expect("two nodes left");
        let Reverse((fb, b)) = heap.pop().expect("two nodes left");
        let node = parent.len();
        parent.push(usize::MAX);
        parent[a] = node;
        parent[b] = node;
        heap.push(Reverse((fa + fb, node)));
    }
    // Depths, from the root down: a parent always has a larger number than its children.
    let mut depth = vec![0u8; parent.len()];
    for node in (0..parent.len()).rev() {
        if parent[node] != usize::MAX {
            depth[node] = depth[parent[node]] + 1;
        }
    }
    (0..freq.len())
        .map(|s| if freq[s] > 0 { depth[s] } else { 0 })
        .collect()
}

/// Canonical codes for `lengths` (RFC 1951 3.2.2), bits reversed for LSB-first output.
fn canonical(lengths: &[u8]) -> Vec<Code> {
    let mut count = [0u16; 16];
    for &l in lengths {
        count[usize::from(l)] += 1;
    }
    count[0] = 0;
    let mut next = [0u16; 16];
    let mut code = 0u16;
    for bits in 1..16 {
        code = (code + count[bits - 1]) << 1;
        next[bits] = code;
    }
    lengths
        .iter()
        .map(|&len| {
            if len == 0 {
                return Code::default();
            }
            let c = next[usize::from(len)];
            next[usize::from(len)] += 1;
            Code {
                bits: c.reverse_bits() >> (16 - u32::from(len)),
                len,
            }
        })
        .collect()
}

/// The header of a final block with dynamic codes (RFC 1951 3.2.7).
fn write_header(w: &mut Bits<'_>, lit_lengths: &[u8], dist_lengths: &[u8]) {
    let lit_count = 257.max(
        lit_lengths
            .iter()
            .rposition(|&l| l > 0)
            .map_or(0, |i| i + 1),
    );
    let dist_count = 1.max(
        dist_lengths
            .iter()
            .rposition(|&l| l > 0)
            .map_or(0, |i| i + 1),
    );
    let all: Vec<u8> = lit_lengths[..lit_count]
        .iter()
        .chain(&dist_lengths[..dist_count])
        .copied()
        .collect();
    // Run-length symbols: (symbol, extra bits, extra value).
    let mut runs: Vec<(usize, u8, u32)> = Vec::new();
    let mut i = 0;
    while i < all.len() {
        let value = all[i];
        let run = all[i..].iter().take_while(|&&l| l == value).count();
        if value == 0 && run >= 11 {
            let n = run.min(138);
            runs.push((18, 7, (n - 11) as u32));
            i += n;
        } else if value == 0 && run >= 3 {
            let n = run.min(10);
            runs.push((17, 3, (n - 3) as u32));
            i += n;
        } else if value != 0 && run >= 4 {
            // The value once, then repeats of it, 3–6 at a time.
            runs.push((usize::from(value), 0, 0));
            let n = (run - 1).min(6);
            runs.push((16, 2, (n - 3) as u32));
            i += 1 + n;
        } else {
            runs.push((usize::from(value), 0, 0));
            i += 1;
        }
    }
    let mut cl_freq = [0u32; 19];
    for &(symbol, _, _) in &runs {
        cl_freq[symbol] += 1;
    }
    let cl_lengths = code_lengths(&cl_freq, MAX_CL_BITS);
    let cl_codes = canonical(&cl_lengths);
    let cl_count = 4.max(
        CL_ORDER
            .iter()
            .rposition(|&s| cl_lengths[s] > 0)
            .map_or(0, |i| i + 1),
    );
    w.put(1, 1); // BFINAL: the only block
    w.put(2, 2); // BTYPE: dynamic Huffman codes
    w.put((lit_count - 257) as u32, 5);
    w.put((dist_count - 1) as u32, 5);
    w.put((cl_count - 4) as u32, 4);
    for &symbol in &CL_ORDER[..cl_count] {
        w.put(u32::from(cl_lengths[symbol]), 3);
    }
    for (symbol, extra_bits, extra) in runs {
        let c = cl_codes[symbol];
        w.put(u32::from(c.bits), u32::from(c.len));
        w.put(extra, u32::from(extra_bits));
    }
}

/// An LSB-first bit writer (deflate's bit order) into a buffer sized beforehand, with 8 bytes to
/// spare past the end of what it writes. Every put stores the whole accumulator (8 bytes) and
/// moves on by the whole bytes it holds, so no put branches on how full it is, and between puts
/// fewer than 8 bits wait in it.
struct Bits<'a> {
    out: &'a mut [u8],
    pos: usize,
    acc: u64,
    n: u32,
}

impl<'a> Bits<'a> {
    fn new(out: &'a mut [u8]) -> Bits<'a> {
        Bits {
            out,
            pos: 0,
            acc: 0,
            n: 0,
        }
    }

    /// Appends the low `count` bits of `value` (at most 32).
    #[inline]
    fn put(&mut self, value: u32, count: u32) {
        self.put_long(u64::from(value), count);
    }

    /// Appends the low `count` bits of `value` (at most [`Bits::MAX_PUT`]).
    #[inline]
    fn put_long(&mut self, value: u64, count: u32) {
        debug_assert!(count <= Self::MAX_PUT && (count == 64 || value >> count == 0));
        debug_assert!(self.n < 8);
        self.acc |= value << self.n;
        self.n += count;
        self.out[self.pos..self.pos + 8].copy_from_slice(&self.acc.to_le_bytes());
        let bytes = self.n / 8;
        self.pos += bytes as usize;
        // At most 7 bytes (56 bits) leave: fewer than 64, a valid shift.
        self.acc >>= bytes * 8;
        self.n -= bytes * 8;
    }

    /// The most bits one put takes: with up to 7 waiting, they fill at most 63 of the 64.
    const MAX_PUT: u32 = 56;

    /// Appends the first `bit_len` bits of `words`.
    #[inline]
    fn put_words(&mut self, words: &[u32], bit_len: u32) {
        let full = (bit_len / 32) as usize;
        for &word in &words[..full] {
            self.put(word, 32);
        }
        let rest = bit_len % 32;
        if rest > 0 {
            self.put(words[full], rest);
        }
    }

    /// How many whole bytes the buffer holds, and the bits not yet making a byte (fewer than 8).
    fn into_parts(self) -> (usize, u64, u32) {
        (self.pos, self.acc, self.n)
    }

    /// How many bytes the buffer holds, the last one padded with zero bits (the last put stored
    /// it, and the accumulator holds nothing above its bits).
    fn finish(self) -> usize {
        self.pos + usize::from(self.n > 0)
    }
}

/// Appends `bytes` followed by the `bits` low bits of `acc` to `words`, zero-padded to whole
/// words: (first word, bit length).
fn append_words(words: &mut Vec<u32>, bytes: &[u8], acc: u64, bits: u32) -> (usize, u32) {
    let first = words.len();
    let bit_len = (bytes.len() * 8) as u32 + bits;
    let mut all = bytes.to_vec();
    if bits > 0 {
        all.push(acc as u8);
    }
    all.resize(all.len().div_ceil(4) * 4, 0);
    words.extend(
        all.chunks_exact(4)
            .map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]])),
    );
    (first, bit_len)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    fn inflate(data: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        flate2::read::DeflateDecoder::new(data)
            .read_to_end(&mut out)
            .expect("inflates");
        out
    }

    /// A small template: a fixed text around three values, one of them repeated.
    fn render(name: &str, address: &str) -> Vec<u8> {
        format!(
            "<?xml version=\"1.0\"?>\n<config>\n  <name>{name}</name>\n  <address>{address}</address>\n  \
             <server>pop.example.org</server>\n  <port>995</port>\n  <username>{address}</username>\n  \
             <note>Set this up as a new account; do not edit an existing account.</note>\n</config>\n"
        )
        .into_bytes()
    }

    fn skeleton() -> Skeleton {
        let samples = [
            render("Alpha Probe", "alpha.1@example.org"),
            render("山田 花子", "zq-x7_w@example.org"),
            render("Mmm", "kk+yy.mm@example.org"),
        ];
        let refs: Vec<&[u8]> = samples.iter().map(Vec::as_slice).collect();
        Skeleton::learn(&refs).expect("the samples share a pattern")
    }

    #[test]
    fn common_prefix_counts_shared_bytes() {
        let a = b"0123456789abcdefghij";
        for n in 0..=a.len() {
            let mut b = a.to_vec();
            if n < b.len() {
                b[n] ^= 1;
            }
            assert_eq!(common_prefix(a, &b), n);
            assert_eq!(common_prefix(&a[..n], a), n);
        }
    }

    #[test]
    fn copies_split_into_deflate_lengths() {
        for len in 3..800 {
            let parts: Vec<usize> = copy_lengths(len).collect();
            assert_eq!(parts.iter().sum::<usize>(), len);
            assert!(
                parts.iter().all(|n| (MIN_MATCH..=MAX_MATCH).contains(n)),
                "{len}: {parts:?}"
            );
        }
    }

    #[test]
    fn symbols_match_rfc_1951_tables() {
        assert_eq!(length_symbol(3), (257, 0, 0));
        assert_eq!(length_symbol(10), (264, 0, 0));
        assert_eq!(length_symbol(11), (265, 1, 0));
        assert_eq!(length_symbol(12), (265, 1, 1));
        assert_eq!(length_symbol(13), (266, 1, 0));
        assert_eq!(length_symbol(227), (284, 5, 0));
        assert_eq!(length_symbol(257), (284, 5, 30));
        assert_eq!(length_symbol(258), (285, 0, 0));
        assert_eq!(distance_symbol(1), (0, 0, 0));
        assert_eq!(distance_symbol(4), (3, 0, 0));
        assert_eq!(distance_symbol(5), (4, 1, 0));
        assert_eq!(distance_symbol(7), (5, 1, 0));
        assert_eq!(distance_symbol(24_577), (29, 13, 0));
        assert_eq!(distance_symbol(32_768), (29, 13, 8191));
    }

    #[test]
    fn code_lengths_are_complete_and_limited() {
        // Fibonacci frequencies make the deepest plain Huffman tree.
        let mut freq = vec![1u32, 1];
        while freq.len() < 40 {
            let n = freq.len();
            freq.push(freq[n - 1] + freq[n - 2]);
        }
        freq.push(0);
        for limit in [7u8, 15] {
            let lengths = code_lengths(&freq, limit);
            assert!(lengths.iter().all(|&l| l <= limit), "{lengths:?}");
            assert_eq!(lengths[40], 0, "an unused symbol gets no code");
            let kraft: f64 = lengths
                .iter()
                .filter(|&&l| l > 0)
                .map(|&l| 0.5f64.powi(i32::from(l)))
                .sum();
            assert_eq!(kraft, 1.0, "complete code for limit {limit}: {lengths:?}");
        }
        // One used symbol gets a partner, so the code is complete.
        let lengths = code_lengths(&[0, 5, 0], 7);
        assert_eq!(
            lengths.iter().filter(|&&l| l == 1).count(),
            2,
            "{lengths:?}"
        );
    }

    #[test]
    fn files_of_the_pattern_inflate_to_themselves() {
        let s = skeleton();
        for (name, address) in [
            ("Smith, John", "john.smith@example.org"),
            ("", "x@example.org"),
            (
                "&amp; <b> ]]> \" = [ 名前",
                "a.very.long.local.part.with-many-pieces@example.org",
            ),
            ("Alpha Probe", "a1@example.org"),
        ] {
            let data = render(name, address);
            let out = s.deflate(&data).expect("fits the pattern");
            assert_eq!(inflate(&out), data, "{name}");
            assert!(out.len() < data.len(), "{} ≥ {}", out.len(), data.len());
            assert!(s.coverage(&data) > 0.7, "{}", s.coverage(&data));
        }
    }

    #[test]
    fn files_off_the_pattern_are_refused() {
        let s = skeleton();
        let data = render("x", "y@example.org");
        // A segment missing.
        let text = String::from_utf8(data.clone()).unwrap();
        let missing = text.replace("<server>pop.example.org</server>", "<server/>");
        assert!(s.deflate(missing.as_bytes()).is_none());
        // A gap longer than MAX_GAP.
        let long = render(&"n".repeat(MAX_GAP + 1), "y@example.org");
        assert!(s.deflate(&long).is_none());
        // A trailing gap longer than MAX_GAP.
        let mut trailing = data;
        trailing.extend(std::iter::repeat_n(b'z', MAX_GAP + 1));
        assert!(s.deflate(&trailing).is_none());
        assert_eq!(s.coverage(&trailing), 0.0);
    }

    #[test]
    fn distances_stretched_past_the_window_become_literals() {
        // Two copies of a 32 KB text with a per-person value between them: the second copy's
        // back-references reach over the value, and over 32 KB once the value is long enough.
        let text: String = (0..2950).map(|i| format!("line {i:05}\n")).collect();
        let render = |value: &str| format!("{text}<{value}>\n{text}").into_bytes();
        let samples = [render("a1"), render("zq-7"), render("kk_w")];
        let refs: Vec<&[u8]> = samples.iter().map(Vec::as_slice).collect();
        let s = Skeleton::learn(&refs).expect("learned");
        let mut sizes = Vec::new();
        for len in [1, 100, MAX_GAP - 2] {
            let data = render(&"v".repeat(len));
            let out = s.deflate(&data).expect("fits");
            assert_eq!(inflate(&out), data, "value of {len} bytes");
            sizes.push(out.len());
        }
        // Near, the second copy is a few back-references; stretched, it is 32 KB of literals.
        assert!(sizes[1] < 10_000, "{sizes:?}");
        assert!(sizes[2] > 15_000, "{sizes:?}");
    }

    #[test]
    fn a_repeated_value_is_a_back_reference() {
        let s = skeleton();
        let q = "q".repeat(200);
        let size = |name: &str, local: &str| {
            let data = render(name, &format!("{local}@example.org"));
            let out = s.deflate(&data).expect("fits");
            assert_eq!(inflate(&out), data);
            out.len()
        };
        let base = size("n", "abc");
        // The name appears once, the address twice: its second copy costs a few bytes.
        let once = size(&q, "abc") - base;
        let twice = size("n", &q) - base;
        assert!(
            twice < once + 10,
            "200 bytes once: +{once}; twice: +{twice}"
        );
    }

    proptest::proptest! {
        /// Whatever the template and the values, a file either does not fit or inflates back to
        /// itself.
        #[test]
        fn any_file_inflates_to_itself(
            pieces in proptest::collection::vec("[a-c<>/ \n]{0,60}", 2..10),
            values in proptest::collection::vec("\\PC{0,20}", 4 * 10),
            noise in proptest::collection::vec(proptest::num::u8::ANY, 0..300),
        ) {
            let render = |v: &[String]| -> Vec<u8> {
                let mut out = String::new();
                for (i, piece) in pieces.iter().enumerate() {
                    out.push_str(piece);
                    out.push_str(&v[i % v.len()]);
                }
                out.into_bytes()
            };
            let samples: Vec<Vec<u8>> = values.chunks(10).map(render).collect();
            let refs: Vec<&[u8]> = samples.iter().map(Vec::as_slice).collect();
            if let Some(s) = Skeleton::learn(&refs[..3]) {
                for file in [&samples[3], &noise] {
                    if let Some(out) = s.deflate(file) {
                        proptest::prop_assert_eq!(&inflate(&out), file);
                    }
                }
            }
        }
    }

    #[test]
    fn unrelated_samples_teach_nothing() {
        assert!(Skeleton::learn(&[&b"abc"[..], &b"xyz"[..], &b"123"[..]]).is_none());
        assert!(Skeleton::learn(&[&b"only two"[..], &b"samples"[..]]).is_none());
    }
}
