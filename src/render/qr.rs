//! QR codes of the self-service page's address, for the bundle's pages: a person scans the one
//! on their guide with the phone they want to set up.
//!
//! Every guide of a bundle has one (issue 22), so a code must cost microseconds and a few hundred
//! bytes, not the millisecond and 15 KB (an SVG rectangle per module) it cost with the `qrcode`
//! crate's own mask choice and renderer:
//!
//! - **A one-bit PNG, inline.** One pixel per module, its 4-module margin included, deflated and
//!   written as a `data:` URL in an `<img>` that the page's style scales up without smoothing:
//!   about 500 bytes of base64 for a guide's code (which deflate cannot shrink further, and which
//!   the bundle's pattern encoder writes as one gap). An SVG path with a stroke per run of dark
//!   modules was tried first: 3.2 KB of path a code, 1.2 KB or more once deflated, which made
//!   a 10,000-person bundle 1.17× the size of one without codes (`bench/qr_bench.py`).
//! - **The mask chosen on bits.** The modules are exactly those of the crate's `QrCode::new`
//!   (error correction M, the data encoded by the crate, the mask of lowest penalty by the crate's
//!   own rules), but the crate scores its eight candidate masks module by module, about 1 ms a
//!   code. Here the same rules are counted on rows of bits with shifts and popcounts (one `u64`
//!   a row up to version 11, 61 modules: the codes of URLs up to about 200 bytes), and what every
//!   code of one version shares (its function patterns, each mask applied to empty data) is
//!   worked out once per version ([`Layout`]). The tests check the result against
//!   `QrCode::new` module for module.

use std::fmt;
use std::ops::{BitAnd, BitOr, BitXor, Not};
use std::sync::OnceLock;

use base64::Engine;
use qrcode::canvas::{Canvas, MaskPattern, Module};
use qrcode::types::Color;
use qrcode::{EcLevel, Version, bits, ec};

/// A QR code as an HTML `<img>` of an inline PNG: no text, no script, so it goes into a page as
/// it is ([`askama::filters::HtmlSafe`]). The page's style gives its size.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QrImage(String);

/// Error correction level M (15 % of the code may be lost), the crate's default.
const EC_LEVEL: EcLevel = EcLevel::M;

/// The masks in the order the crate tries them (on equal penalties, the first wins).
const MASKS: [MaskPattern; 8] = [
    MaskPattern::Checkerboard,
    MaskPattern::HorizontalLines,
    MaskPattern::VerticalLines,
    MaskPattern::DiagonalLines,
    MaskPattern::LargeCheckerboard,
    MaskPattern::Fields,
    MaskPattern::Diamonds,
    MaskPattern::Meadow,
];

/// The light margin around the code, in modules (the standard's quiet zone).
const QUIET_ZONE: usize = 4;

/// What precedes the PNG's base64 in the page.
/// Its size is the one the guide's style gives drawings in `.qr`, and it is scaled without
/// smoothing.
pub const IMG_PREFIX: &str = "<img alt=\"QR\" style=\"width:10rem;height:10rem;\
                              image-rendering:pixelated\" src=\"data:image/png;base64,";

impl QrImage {
    /// The QR code of `text` (a URL), or `None` if it is too long for one.
    pub fn of(text: &str) -> Option<QrImage> {
        let png = match Code::of(text)? {
            Code::Narrow(grid) => png(&grid),
            Code::Wide(grid) => png(&grid),
        };
        let mut html = String::with_capacity(IMG_PREFIX.len() + png.len() * 4 / 3 + 8);
        html.push_str(IMG_PREFIX);
        base64::engine::general_purpose::STANDARD.encode_string(&png, &mut html);
        html.push_str("\">");
        Some(QrImage(html))
    }
}

impl fmt::Display for QrImage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl askama::filters::HtmlSafe for QrImage {}

/// A row (or column) of modules as bits: bit `x` for module `x`, set when dark.
trait Line:
    Copy
    + Default
    + PartialEq
    + fmt::Debug
    + BitAnd<Output = Self>
    + BitOr<Output = Self>
    + BitXor<Output = Self>
    + Not<Output = Self>
{
    /// The most modules a line holds.
    const CAPACITY: usize;
    fn set(&mut self, x: usize);
    #[cfg(test)]
    fn get(&self, x: usize) -> bool;
    /// The first `n` bits set.
    fn ones(n: usize) -> Self;
    /// Bit `x` of the result is bit `x + k` of `self` (`0 < k < 64`).
    fn down(self, k: u32) -> Self;
    /// Bit `x` of the result is bit `x - k` of `self`, 0 below `k` (`0 < k < 64`).
    fn up(self, k: u32) -> Self;
    fn count(self) -> u32;
    /// Bits `start` to `start + 7` (bit 0 of the result is `start`), 0 outside the line.
    fn byte_at(&self, start: isize) -> u8;
}

impl Line for u64 {
    const CAPACITY: usize = 64;
    fn set(&mut self, x: usize) {
        *self |= 1 << x;
    }
    #[cfg(test)]
    fn get(&self, x: usize) -> bool {
        self >> x & 1 == 1
    }
    fn ones(n: usize) -> u64 {
        if n >= 64 { !0 } else { (1 << n) - 1 }
    }
    fn down(self, k: u32) -> u64 {
        self >> k
    }
    fn up(self, k: u32) -> u64 {
        self << k
    }
    fn count(self) -> u32 {
        self.count_ones()
    }
    fn byte_at(&self, start: isize) -> u8 {
        match start {
            ..=-8 | 64.. => 0,
            ..0 => (self << -start) as u8,
            _ => (self >> start) as u8,
        }
    }
}

/// The widest code (version 40) is 177 modules: three words a line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
struct Wide([u64; 3]);

impl Line for Wide {
    const CAPACITY: usize = 192;
    fn set(&mut self, x: usize) {
        self.0[x / 64] |= 1 << (x % 64);
    }
    #[cfg(test)]
    fn get(&self, x: usize) -> bool {
        self.0[x / 64] >> (x % 64) & 1 == 1
    }
    fn ones(n: usize) -> Wide {
        Wide(std::array::from_fn(|i| {
            u64::ones(n.saturating_sub(i * 64).min(64))
        }))
    }
    fn down(self, k: u32) -> Wide {
        let w = self.0;
        Wide(std::array::from_fn(|i| {
            let high = if i + 1 < 3 { w[i + 1] << (64 - k) } else { 0 };
            (w[i] >> k) | high
        }))
    }
    fn up(self, k: u32) -> Wide {
        let w = self.0;
        Wide(std::array::from_fn(|i| {
            let low = if i > 0 { w[i - 1] >> (64 - k) } else { 0 };
            (w[i] << k) | low
        }))
    }
    fn count(self) -> u32 {
        self.0.iter().map(|w| w.count_ones()).sum()
    }
    fn byte_at(&self, start: isize) -> u8 {
        let word = start.div_euclid(64);
        let low = |i: isize| usize::try_from(i).ok().and_then(|i| self.0.get(i)).copied();
        let from = start.rem_euclid(64);
        let here = low(word).unwrap_or(0) >> from;
        let next = match from {
            0 => 0,
            _ => low(word + 1).unwrap_or(0) << (64 - from),
        };
        (here | next) as u8
    }
}

impl BitAnd for Wide {
    type Output = Wide;
    fn bitand(self, o: Wide) -> Wide {
        Wide(std::array::from_fn(|i| self.0[i] & o.0[i]))
    }
}

impl BitOr for Wide {
    type Output = Wide;
    fn bitor(self, o: Wide) -> Wide {
        Wide(std::array::from_fn(|i| self.0[i] | o.0[i]))
    }
}

impl BitXor for Wide {
    type Output = Wide;
    fn bitxor(self, o: Wide) -> Wide {
        Wide(std::array::from_fn(|i| self.0[i] ^ o.0[i]))
    }
}

impl Not for Wide {
    type Output = Wide;
    fn not(self) -> Wide {
        Wide(self.0.map(|w| !w))
    }
}

/// A square of modules, as rows and as columns.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Grid<L> {
    width: usize,
    rows: Vec<L>,
    columns: Vec<L>,
}

impl<L: Line> Grid<L> {
    /// The grid of `dark(x, y)`.
    fn from_fn(width: usize, dark: impl Fn(usize, usize) -> bool) -> Grid<L> {
        let mut grid = Grid {
            width,
            rows: vec![L::default(); width],
            columns: vec![L::default(); width],
        };
        for y in 0..width {
            for x in 0..width {
                if dark(x, y) {
                    grid.rows[y].set(x);
                    grid.columns[x].set(y);
                }
            }
        }
        grid
    }

    /// The dark modules of `canvas` that `keep` selects.
    fn of(canvas: &Canvas, width: usize, keep: impl Fn(Module) -> bool) -> Grid<L> {
        Grid::from_fn(width, |x, y| keep(canvas.get(x as i16, y as i16)))
    }

    fn xor(&self, other: &Grid<L>) -> Grid<L> {
        let both = |a: &[L], b: &[L]| a.iter().zip(b).map(|(a, b)| *a ^ *b).collect();
        Grid {
            width: self.width,
            rows: both(&self.rows, &other.rows),
            columns: both(&self.columns, &other.columns),
        }
    }

    /// The crate's penalty (`Canvas::compute_total_penalty_scores`, the standard's four rules
    /// as the crate counts them) of the code `self ^ other`, counted on bits.
    fn penalty_of_xor(&self, other: &Grid<L>) -> u32 {
        let w = self.width;
        let pairs = L::ones(w - 1);
        // Bit x: modules x and x + 1 have the same colour.
        let same = |r: L| !(r ^ r.down(1)) & pairs;
        // Rule 1: a run of n ≥ 5 modules of one colour costs n - 2. A run of n has n - 4 bits
        // in `five` (five alike from there), and one where it starts.
        let runs = |s: L| {
            let five = s & s.down(1) & s.down(2) & s.down(3);
            let starts = five & !five.up(1);
            five.count() + 2 * starts.count()
        };
        // Rule 3: 1011101 with four light modules on at least one side (outside the code is
        // light) costs 40; the finder patterns' own nine rows and nine columns are taken off.
        let starts7 = L::ones(w - 6);
        let finders = |r: L| {
            let pattern = r
                & !r.down(1)
                & r.down(2)
                & r.down(3)
                & r.down(4)
                & !r.down(5)
                & r.down(6)
                & starts7;
            let before = r.up(1) | r.up(2) | r.up(3) | r.up(4);
            let after = r.down(7) | r.down(8) | r.down(9) | r.down(10);
            40 * (pattern & !(before & after)).count()
        };
        let mut score = 0;
        let mut dark = 0;
        let mut above: Option<(L, L)> = None;
        for (a, b) in self.rows.iter().zip(&other.rows) {
            let r = *a ^ *b;
            let s = same(r);
            score += runs(s) + finders(r);
            dark += r.count();
            // Rule 2: every 2×2 block of one colour costs 3.
            if let Some((up, up_same)) = above {
                score += 3 * (s & up_same & !(r ^ up)).count();
            }
            above = Some((r, s));
        }
        for (a, b) in self.columns.iter().zip(&other.columns) {
            let c = *a ^ *b;
            score += runs(same(c)) + finders(c);
        }
        // Rule 4: the share of dark modules away from half.
        let ratio = dark as usize * 200 / (w * w);
        score + ratio.abs_diff(100) as u32 - 2 * 360
    }
}

/// What every code of one version shares.
struct Layout<L> {
    width: usize,
    /// Where each bit of the data and error correction codewords goes, in order: the crate's
    /// placement, read off its canvas once.
    places: Vec<(u8, u8)>,
    /// For each mask, the code of all-light data: function patterns, format information, and
    /// the mask itself over the data. A code with dark data D and mask m is `masked[m] ^ D`.
    masked: Vec<Grid<L>>,
}

impl<L: Line> Layout<L> {
    /// The layout of `version`'s codes, whose data and error correction take `data` and `ec`
    /// codewords.
    fn new(version: i16, data: usize, ec: usize) -> Layout<L> {
        let v = Version::Normal(version);
        let width = v.width() as usize;
        let mut blank = Canvas::new(v, EC_LEVEL);
        blank.draw_all_functional_patterns();
        let masked = MASKS
            .iter()
            .map(|&mask| {
                let mut canvas = blank.clone();
                canvas.draw_data(&vec![0; data], &vec![0; ec]);
                canvas.apply_mask(mask);
                Grid::of(&canvas, width, Module::is_dark)
            })
            .collect();
        // Where bit k of the codewords goes: drawn with bit k set to bit b of k, for every b,
        // the module's bits spell k.
        let total = 8 * (data + ec);
        let mut index = vec![0usize; width * width];
        let mut written = vec![false; width * width];
        for b in 0..usize::BITS - total.leading_zeros() {
            let stream: Vec<u8> = (0..data + ec)
                .map(|byte| (0..8).fold(0u8, |acc, j| acc << 1 | ((byte * 8 + j) >> b & 1) as u8))
                .collect();
            let mut canvas = blank.clone();
            canvas.draw_data(&stream[..data], &stream[data..]);
            for y in 0..width {
                for x in 0..width {
                    match canvas.get(x as i16, y as i16) {
                        Module::Unmasked(color) => {
                            written[y * width + x] = true;
                            if color == Color::Dark {
                                index[y * width + x] |= 1 << b;
                            }
                        }
                        Module::Empty | Module::Masked(_) => {}
                    }
                }
            }
        }
        let mut places = vec![(u8::MAX, u8::MAX); total];
        for (i, k) in index.iter().enumerate() {
            if written[i] {
                places[*k] = ((i % width) as u8, (i / width) as u8);
            }
        }
        debug_assert!(places.iter().all(|p| p.0 != u8::MAX), "every bit placed");
        Layout {
            width,
            places,
            masked,
        }
    }

    /// The code of `data` and `ec` in this layout, with the mask of least penalty: the mask's
    /// place in [`MASKS`] and the modules.
    fn code(&self, data: &[u8], ec: &[u8]) -> Option<(usize, Grid<L>)> {
        let mut dark_data = Grid {
            width: self.width,
            rows: vec![L::default(); self.width],
            columns: vec![L::default(); self.width],
        };
        let mut places = self.places.iter();
        for &byte in data.iter().chain(ec) {
            for j in 0..8 {
                let &(x, y) = places.next()?;
                if byte & (0x80 >> j) != 0 {
                    dark_data.rows[usize::from(y)].set(usize::from(x));
                    dark_data.columns[usize::from(x)].set(usize::from(y));
                }
            }
        }
        let (mask, best) = self
            .masked
            .iter()
            .enumerate()
            .min_by_key(|(_, masked)| masked.penalty_of_xor(&dark_data))?;
        Some((mask, best.xor(&dark_data)))
    }
}

/// A code's modules, in lines of one word or of three.
enum Code {
    Narrow(Grid<u64>),
    Wide(Grid<Wide>),
}

impl Code {
    /// The modules `qrcode::QrCode::new(text)` makes, or `None` if `text` is too long.
    fn of(text: &str) -> Option<Code> {
        static NARROW: [OnceLock<Layout<u64>>; 40] = [const { OnceLock::new() }; 40];
        static WIDE: [OnceLock<Layout<Wide>>; 40] = [const { OnceLock::new() }; 40];
        let bits = bits::encode_auto(text.as_bytes(), EC_LEVEL).ok()?;
        let version = bits.version();
        let Version::Normal(number) = version else {
            return None;
        };
        let (data, ec) = ec::construct_codewords(&bits.into_bytes(), version, EC_LEVEL).ok()?;
        let slot = usize::try_from(number).ok()?.checked_sub(1)?;
        if version.width() as usize <= u64::CAPACITY {
            let layout = NARROW[slot].get_or_init(|| Layout::new(number, data.len(), ec.len()));
            layout.code(&data, &ec).map(|(_, grid)| Code::Narrow(grid))
        } else {
            let layout = WIDE[slot].get_or_init(|| Layout::new(number, data.len(), ec.len()));
            layout.code(&data, &ec).map(|(_, grid)| Code::Wide(grid))
        }
    }

    /// Whether module (x, y) is dark.
    #[cfg(test)]
    fn dark(&self, x: usize, y: usize) -> bool {
        match self {
            Code::Narrow(g) => g.rows[y].get(x),
            Code::Wide(g) => g.rows[y].get(x),
        }
    }

    #[cfg(test)]
    fn width(&self) -> usize {
        match self {
            Code::Narrow(g) => g.width,
            Code::Wide(g) => g.width,
        }
    }
}

/// A greyscale PNG of one bit a pixel (0 black), one pixel a module, with the quiet zone.
fn png<L: Line>(grid: &Grid<L>) -> Vec<u8> {
    let size = grid.width + 2 * QUIET_ZONE;
    let stride = size.div_ceil(8);
    // Each row: filter type 0 (none), then the pixels, most significant bit first (the last
    // byte's spare bits are ignored).
    let mut raw = vec![0xFF; size * (1 + stride)];
    for (y, line) in raw.chunks_mut(1 + stride).enumerate() {
        line[0] = 0;
        if !(QUIET_ZONE..QUIET_ZONE + grid.width).contains(&y) {
            continue;
        }
        let row = grid.rows[y - QUIET_ZONE];
        for (i, byte) in line[1..].iter_mut().enumerate() {
            *byte = !row
                .byte_at(8 * i as isize - QUIET_ZONE as isize)
                .reverse_bits();
        }
    }
    // libdeflate, one compressor a thread: zlib's set-up costs more than a code this small.
    thread_local! {
        static ZLIB: std::cell::RefCell<libdeflater::Compressor> =
            std::cell::RefCell::new(libdeflater::Compressor::new(libdeflater::CompressionLvl::fastest()));
    }
    let idat = ZLIB.with(|z| {
        let mut z = z.borrow_mut();
        let mut out = vec![0; z.zlib_compress_bound(raw.len())];
        let n = z
            .zlib_compress(&raw, &mut out)
            .expect("the bound is enough");
        out.truncate(n);
        out
    });
    let mut ihdr = Vec::with_capacity(13);
    ihdr.extend_from_slice(&(size as u32).to_be_bytes());
    ihdr.extend_from_slice(&(size as u32).to_be_bytes());
    // Bit depth 1, colour type 0 (greyscale), deflate, adaptive filtering, no interlace.
    ihdr.extend_from_slice(&[1, 0, 0, 0, 0]);
    let mut out = Vec::with_capacity(idat.len() + 64);
    out.extend_from_slice(b"\x89PNG\r\n\x1a\n");
    for (kind, body) in [
        (b"IHDR", &ihdr[..]),
        (b"IDAT", &idat[..]),
        (b"IEND", &[][..]),
    ] {
        out.extend_from_slice(&(body.len() as u32).to_be_bytes());
        let start = out.len();
        out.extend_from_slice(kind);
        out.extend_from_slice(body);
        let crc = crc32fast::hash(&out[start..]);
        out.extend_from_slice(&crc.to_be_bytes());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    /// The pixels of one of our PNGs, read back: (size, dark pixels by row).
    fn pixels(png: &[u8]) -> (usize, Vec<Vec<bool>>) {
        assert!(png.starts_with(b"\x89PNG\r\n\x1a\n"));
        let mut rest = &png[8..];
        let (mut size, mut idat) = (0, Vec::new());
        while !rest.is_empty() {
            let len = u32::from_be_bytes(rest[..4].try_into().unwrap()) as usize;
            let (kind, body) = (&rest[4..8], &rest[8..8 + len]);
            let crc = u32::from_be_bytes(rest[8 + len..12 + len].try_into().unwrap());
            assert_eq!(crc, crc32fast::hash(&rest[4..8 + len]));
            match kind {
                b"IHDR" => {
                    size = u32::from_be_bytes(body[..4].try_into().unwrap()) as usize;
                    assert_eq!(&body[8..], &[1, 0, 0, 0, 0]);
                }
                b"IDAT" => idat.extend_from_slice(body),
                _ => {}
            }
            rest = &rest[12 + len..];
        }
        let mut raw = Vec::new();
        flate2::read::ZlibDecoder::new(&idat[..])
            .read_to_end(&mut raw)
            .unwrap();
        let stride = size.div_ceil(8);
        assert_eq!(raw.len(), size * (1 + stride));
        let rows = raw
            .chunks(1 + stride)
            .map(|line| {
                assert_eq!(line[0], 0, "no filter");
                (0..size)
                    .map(|x| line[1 + x / 8] & (0x80 >> (x % 8)) == 0)
                    .collect()
            })
            .collect();
        (size, rows)
    }

    fn urls() -> Vec<String> {
        let mut urls = vec![
            "https://mail-setup.example.org/".to_string(),
            "https://mail-setup.kyoto-u.ac.jp/?emailaddress=taro%40kyoto-u.ac.jp".to_string(),
            "https://mail-setup.kyoto-u.ac.jp/?emailaddress=taro%40kyoto-u.ac.jp&name=%E5%B1%B1%E7%94%B0%20%E5%A4%AA%E9%83%8E".to_string(),
            "HTTPS://EXAMPLE.ORG/0123456789".to_string(),
            "0123456789".repeat(30),
        ];
        // Lengths up to 600 bytes (versions 1 to 20, narrow and wide lines), letters from a
        // pseudo-random sequence.
        let mut state = 0x2545_F491_4F6C_DD1Du64;
        for n in (1..560).step_by(3) {
            let local: String = (0..n)
                .map(|_| {
                    state ^= state << 13;
                    state ^= state >> 7;
                    state ^= state << 17;
                    (b'a' + (state % 26) as u8) as char
                })
                .collect();
            urls.push(format!(
                "https://mail-setup.example.org/?emailaddress={local}%40example.org&name=%E5%B1%B1{n}"
            ));
        }
        urls
    }

    #[test]
    fn the_modules_are_the_qrcode_crates_own() {
        let mut versions = std::collections::BTreeSet::new();
        for url in urls() {
            let ours = Code::of(&url).unwrap();
            let theirs = qrcode::QrCode::new(url.as_bytes()).unwrap();
            let width = theirs.width();
            assert_eq!(ours.width(), width, "{url}");
            let colors = theirs.to_colors();
            for y in 0..width {
                for x in 0..width {
                    assert_eq!(
                        ours.dark(x, y),
                        colors[y * width + x] == Color::Dark,
                        "{url}: module ({x}, {y})"
                    );
                }
            }
            versions.insert(width);
        }
        assert!(versions.len() >= 15, "{versions:?}");
        assert!(versions.iter().any(|&w| w > 64) && versions.iter().any(|&w| w <= 64));
    }

    #[test]
    fn every_mask_is_chosen_for_some_code() {
        let mut masks = std::collections::BTreeSet::new();
        for url in urls() {
            let bits = bits::encode_auto(url.as_bytes(), EC_LEVEL).unwrap();
            let version = bits.version();
            let Version::Normal(number) = version else {
                unreachable!()
            };
            let (data, ec) =
                ec::construct_codewords(&bits.into_bytes(), version, EC_LEVEL).unwrap();
            // Narrow and wide lines count the same penalties.
            let (mask, code) = Layout::<Wide>::new(number, data.len(), ec.len())
                .code(&data, &ec)
                .unwrap();
            if version.width() as usize <= 64 {
                let (narrow_mask, narrow) = Layout::<u64>::new(number, data.len(), ec.len())
                    .code(&data, &ec)
                    .unwrap();
                assert_eq!(narrow_mask, mask, "{url}");
                assert!(
                    narrow
                        .rows
                        .iter()
                        .zip(&code.rows)
                        .all(|(n, w)| w.0 == [*n, 0, 0])
                );
            }
            masks.insert(mask);
        }
        assert_eq!(masks.len(), 8, "{masks:?}");
    }

    #[test]
    fn the_image_is_the_modules_in_a_quiet_zone() {
        for url in urls().into_iter().step_by(5) {
            let html = QrImage::of(&url).unwrap().to_string();
            let b64 = html
                .strip_prefix(IMG_PREFIX)
                .and_then(|r| r.strip_suffix("\">"))
                .unwrap();
            let png = base64::engine::general_purpose::STANDARD
                .decode(b64)
                .unwrap();
            let code = Code::of(&url).unwrap();
            let (size, rows) = pixels(&png);
            assert_eq!(size, code.width() + 2 * QUIET_ZONE);
            for (y, row) in rows.iter().enumerate() {
                for (x, &dark) in row.iter().enumerate() {
                    let inside = |v: usize| (QUIET_ZONE..QUIET_ZONE + code.width()).contains(&v);
                    let want = inside(x) && inside(y) && code.dark(x - QUIET_ZONE, y - QUIET_ZONE);
                    assert_eq!(dark, want, "{url}: ({x}, {y})");
                }
            }
            // A few hundred bytes, where the crate's SVG took a rectangle per module.
            let old = qrcode::QrCode::new(url.as_bytes())
                .unwrap()
                .render::<qrcode::render::svg::Color<'_>>()
                .min_dimensions(160, 160)
                .quiet_zone(true)
                .build();
            assert!(
                html.len() * 10 < old.len(),
                "{} against {}",
                html.len(),
                old.len()
            );
        }
        assert!(
            QrImage::of(&"x".repeat(5000)).is_none(),
            "too long for a QR code"
        );
    }

    #[test]
    fn wide_lines_shift_across_words() {
        let mut line = Wide::default();
        for x in [0, 5, 63, 64, 100, 127, 128, 176] {
            line.set(x);
        }
        for k in [1, 4, 7, 10] {
            let (down, up) = (line.down(k), line.up(k));
            for x in 0..192 {
                let k = k as usize;
                assert_eq!(down.get(x), x + k < 192 && line.get(x + k));
                assert_eq!(up.get(x), x >= k && line.get(x - k));
            }
        }
        for start in -12..200 {
            let want = (0..8).fold(0u8, |acc, i| {
                let x = start + i;
                let dark = (0..192).contains(&x) && line.get(x as usize);
                acc | u8::from(dark) << i
            });
            assert_eq!(line.byte_at(start), want, "{start}");
            if start < 64 {
                let narrow = line.0[0];
                let want = (0..8).fold(0u8, |acc, i| {
                    let x = start + i;
                    acc | u8::from((0..64).contains(&x) && narrow.get(x as usize)) << i
                });
                assert_eq!(narrow.byte_at(start), want, "{start}");
            }
        }
        assert_eq!(Wide::ones(177).count(), 177);
        assert_eq!(Wide::ones(64).count(), 64);
        assert_eq!(u64::ones(64), !0);
    }
}
