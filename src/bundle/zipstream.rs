//! A streaming zip writer for entries compressed ahead of time, with flat memory.
//!
//! Why not `zip::ZipWriter`: it keeps every entry's metadata in memory until the end (measured:
//! 61 MB of RSS for 100,000 entries, and a bundle has several entries per person), and it flags
//! only non-ASCII names as UTF-8. Here workers compress entries on their own threads
//! ([`Compressed::new`]), the writer appends them in order, and the central directory is spooled
//! to a temporary file, so memory does not grow with the number of entries. Every name carries the
//! UTF-8 flag; ZIP64 records are written when the counts or offsets need them (APPNOTE 6.3.10).
//! The `zip` crate reads these archives back in the tests.
//!
//! Compression: a per-user file that follows its format's pattern is deflated from the pattern's
//! [`Skeleton`], learned once per run. Any other file held in memory is deflated in one call by
//! libdeflate (`libdeflater`), which measured 1.4–2.9× faster than zlib-rs on the bundle's files at the same
//! or a smaller size (`bench/PROFILE.md`). Files too large to hold (the index and the manifest,
//! which grow with the roster) are deflated as they are written, by zlib-rs ([`Spool`]), since
//! libdeflate has no streaming interface.

use std::fs::File;
use std::io::{self, BufReader, BufWriter, Read, Seek, SeekFrom, Write};

use std::cell::RefCell;

use flate2::Compression;
use flate2::write::DeflateEncoder;
use libdeflater::{CompressionLvl, Compressor};

use crate::bundle::skeleton::Skeleton;

/// Bit 11 of the general-purpose flags: the name is UTF-8 (APPNOTE 4.4.4).
const FLAG_UTF8: u16 = 1 << 11;
const METHOD_STORED: u16 = 0;
const METHOD_DEFLATED: u16 = 8;
/// 2.0: deflate; 4.5: ZIP64.
const VERSION_DEFLATE: u16 = 20;
const VERSION_ZIP64: u16 = 45;
/// "Made by" Unix (3), so the external attributes carry a Unix mode.
const MADE_BY_UNIX: u16 = 3 << 8;
/// A regular file, rw-r--r--.
const EXTERNAL_ATTRS: u32 = 0o100644 << 16;
const U32_MAX: u64 = 0xFFFF_FFFF;

/// An entry's date: the DOS date and time zip stores (UTC here), and, when it came from a real
/// time, the same moment in Unix seconds, written as the "extended timestamp" extra field (0x5455)
/// that most unzip tools (Info-ZIP, 7-Zip, libarchive) restore exactly.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DosTime {
    date: u16,
    time: u16,
    unix: Option<u32>,
}

impl Default for DosTime {
    /// 1980-01-01 00:00:00, the zip epoch, without an extended timestamp.
    fn default() -> Self {
        DosTime {
            date: (1 << 5) | 1,
            time: 0,
            unix: None,
        }
    }
}

/// The extended timestamp extra field's tag and its size with a modification time alone.
const EXTRA_TIME: u16 = 0x5455;
const EXTRA_TIME_LEN: u16 = 5;

/// The civil date (year, month 1-12, day 1-31) of a count of days since 1970-01-01 (Howard
/// Hinnant's algorithm).
pub fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    (yoe + era * 400 + i64::from(month <= 2), month, day)
}

impl DosTime {
    /// From Unix seconds (UTC); `None` outside zip's 1980..=2107 range.
    pub fn from_unix(secs: i64) -> Option<DosTime> {
        let days = secs.div_euclid(86_400);
        let rem = secs.rem_euclid(86_400);
        let (year, month, day) = civil_from_days(days);
        if !(1980..=2107).contains(&year) {
            return None;
        }
        let (hour, minute, second) = (rem / 3600, rem % 3600 / 60, rem % 60);
        Some(DosTime {
            date: (((year - 1980) << 9) | (month << 5) | day) as u16,
            time: ((hour << 11) | (minute << 5) | (second / 2)) as u16,
            unix: u32::try_from(secs).ok(),
        })
    }

    /// The extra field that carries the exact time, empty without one.
    fn extra(self) -> Vec<u8> {
        let mut extra = Vec::new();
        if let Some(unix) = self.unix {
            put16(&mut extra, EXTRA_TIME);
            put16(&mut extra, EXTRA_TIME_LEN);
            extra.push(1); // flags: modification time present
            put32(&mut extra, unix);
        }
        extra
    }

    /// (year, month, day, hour, minute, second).
    pub fn parts(self) -> (u16, u16, u16, u16, u16, u16) {
        (
            1980 + (self.date >> 9),
            (self.date >> 5) & 0xF,
            self.date & 0x1F,
            self.time >> 11,
            (self.time >> 5) & 0x3F,
            (self.time & 0x1F) * 2,
        )
    }
}

/// One entry, compressed and ready to append.
#[derive(Debug, Clone)]
pub struct Compressed {
    name: String,
    method: u16,
    crc32: u32,
    uncompressed_size: u64,
    data: Vec<u8>,
}

impl Compressed {
    /// Deflates `data` at `level`, 0 (store) to [`MAX_LEVEL`]; stored instead when deflate would
    /// not make it smaller.
    pub fn new(name: String, data: &[u8], level: u32) -> Compressed {
        Compressed::from_deflated(name, data, deflate(data, level))
    }

    /// Like [`Compressed::new`], but a file that fits one of `skeletons` (the pattern its format
    /// follows) is deflated from it, without searching for matches again; any other file is
    /// deflated at `level`. Level 0 stores.
    pub fn with_skeletons(
        name: String,
        data: &[u8],
        level: u32,
        skeletons: &[Skeleton],
    ) -> Compressed {
        Compressed::from_deflated(name, data, deflate_from(data, level, skeletons))
    }

    /// `data` deflated, or stored when `deflated` is `None`.
    fn from_deflated(name: String, data: &[u8], deflated: Option<Vec<u8>>) -> Compressed {
        let (method, data_out) = match deflated {
            Some(deflated) => (METHOD_DEFLATED, deflated),
            None => (METHOD_STORED, data.to_vec()),
        };
        Compressed {
            name,
            method,
            crc32: crc32fast::hash(data),
            uncompressed_size: data.len() as u64,
            data: data_out,
        }
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// The same entry under another name (the data is not compressed again).
    pub fn renamed(&self, name: String) -> Compressed {
        Compressed {
            name,
            ..self.clone()
        }
    }

    pub fn compressed_len(&self) -> usize {
        self.data.len()
    }
}

/// The highest deflate level: libdeflate's 12. The streamed entries ([`Spool`]) use zlib's
/// highest, 9, for levels above it.
pub const MAX_LEVEL: u32 = 12;

/// The largest scratch buffer a thread keeps between files.
const SCRATCH_KEEP: usize = 1 << 20;

/// A thread's compressor (for the level it was made for) and its output scratch buffer.
struct Deflater {
    level: u32,
    compressor: Compressor,
    scratch: Vec<u8>,
}

thread_local! {
    /// One compressor per thread, kept between entries: making one allocates and clears its
    /// tables, which costs more than compressing a small file (`bench/PROFILE.md`).
    static DEFLATER: RefCell<Option<Deflater>> = const { RefCell::new(None) };
}

/// Raw deflate of `data` at `level` with this thread's compressor; `None` for level 0 or when the
/// result would not be smaller than `data`. Public for the benchmark's floor
/// (`examples/deflate_floor.rs`), which must time the very compressor the bundle uses.
pub fn deflate(data: &[u8], level: u32) -> Option<Vec<u8>> {
    if level == 0 || data.is_empty() {
        return None;
    }
    let lvl = CompressionLvl::new(level.min(MAX_LEVEL) as i32).ok()?;
    DEFLATER.with(|cell| {
        let mut slot = cell.borrow_mut();
        if !matches!(&*slot, Some(d) if d.level == level) {
            *slot = Some(Deflater {
                level,
                compressor: Compressor::new(lvl),
                scratch: Vec::new(),
            });
        }
        let Deflater {
            compressor,
            scratch,
            ..
        } = slot.as_mut().expect("set just above");
        // Room for one byte less than the input: libdeflate refuses when the result would not
        // fit, which is exactly when the file is better stored. The scratch buffer is reused, so
        // it is not cleared for every file, and the entry keeps only the bytes it needs.
        if scratch.len() < data.len() - 1 {
            scratch.resize(data.len() - 1, 0);
        }
        let deflated = compressor
            .deflate_compress(data, &mut scratch[..data.len() - 1])
            .ok()
            .map(|n| scratch[..n].to_vec());
        // Per-user files are a few KB; do not keep a large file's worth of memory per thread.
        if scratch.len() > SCRATCH_KEEP {
            *scratch = Vec::new();
        }
        deflated
    })
}

/// Raw deflate of `data` from the first of `skeletons` it fits, else by [`deflate`] at `level`;
/// `None` for level 0 or when the result would not be smaller than `data`. Public for the
/// benchmark's floor (`examples/deflate_floor.rs`), which times the bundle's own encoder.
pub fn deflate_from(data: &[u8], level: u32, skeletons: &[Skeleton]) -> Option<Vec<u8>> {
    if level == 0 {
        return None;
    }
    skeletons
        .iter()
        .find_map(|s| s.deflate(data))
        .filter(|d| d.len() < data.len())
        .or_else(|| deflate(data, level))
}

/// An entry too large to hold in memory, deflated as it is written into a temporary file, with
/// its CRC-32 and size; [`ZipStream::add_spool`] appends it.
pub struct Spool {
    encoder: DeflateEncoder<Held>,
    crc: crc32fast::Hasher,
    size: u64,
}

/// Bytes put aside until the end of a zip (a spool's deflated data, the central directory): an
/// unnamed temporary file, when they grow with the department, or memory, for a small zip or when
/// nothing may touch the disk (a bundle made for an upload to `mailconf serve`).
enum Held {
    File(BufWriter<File>),
    Memory(Vec<u8>),
}

impl Held {
    fn file() -> io::Result<Held> {
        Ok(Held::File(BufWriter::new(tempfile::tempfile()?)))
    }

    /// Everything held, to read from the start.
    fn into_reader(self) -> io::Result<Box<dyn Read>> {
        match self {
            Held::File(file) => {
                let mut file = file.into_inner().map_err(|e| e.into_error())?;
                file.seek(SeekFrom::Start(0))?;
                Ok(Box::new(BufReader::new(file)))
            }
            Held::Memory(bytes) => Ok(Box::new(io::Cursor::new(bytes))),
        }
    }

    fn len(&mut self) -> io::Result<u64> {
        match self {
            Held::File(file) => {
                file.flush()?;
                file.get_mut().seek(SeekFrom::End(0))
            }
            Held::Memory(bytes) => Ok(bytes.len() as u64),
        }
    }
}

impl Write for Held {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Held::File(file) => file.write(buf),
            Held::Memory(bytes) => bytes.write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            Held::File(file) => file.flush(),
            Held::Memory(_) => Ok(()),
        }
    }
}

impl Spool {
    /// An empty spool that deflates at `level` (zlib's scale: levels above 9 use 9; 0 stores).
    pub fn new(level: u32) -> io::Result<Spool> {
        Ok(Spool::with_store(Held::file()?, level))
    }

    /// [`Spool::new`], kept in memory instead of a temporary file.
    pub fn in_memory(level: u32) -> Spool {
        Spool::with_store(Held::Memory(Vec::new()), level)
    }

    fn with_store(store: Held, level: u32) -> Spool {
        Spool {
            encoder: DeflateEncoder::new(store, Compression::new(level.min(9))),
            crc: crc32fast::Hasher::new(),
            size: 0,
        }
    }
}

impl Write for Spool {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.encoder.write(buf)?;
        self.crc.update(&buf[..n]);
        self.size += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.encoder.flush()
    }
}

/// What a local header and a central record say about an entry.
struct Header<'a> {
    name: &'a str,
    method: u16,
    crc32: u32,
    compressed_size: u64,
    uncompressed_size: u64,
}

/// Counts the bytes written through it.
struct Counting<W> {
    inner: W,
    written: u64,
}

impl<W: Write> Write for Counting<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.written += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// Where an entry's record goes in the central directory, the listing zip tools show.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Listing {
    /// In the order the entries were appended.
    InOrder,
    /// Before every entry listed in order (entries listed first keep their own order): for a
    /// file that is finished last but belongs at the top, such as the bundle's index.
    First,
}

/// Appends entries to a zip in the order given.
pub struct ZipStream<W: Write> {
    out: Counting<W>,
    central: Held,
    /// Central records listed before all others ([`Listing::First`]): a few, in memory.
    first: Vec<u8>,
    central_len: u64,
    entries: u64,
    time: DosTime,
}

impl<W: Write> ZipStream<W> {
    /// Starts a zip whose entries all carry `time`, its central directory spooled to a
    /// temporary file.
    pub fn new(out: W, time: DosTime) -> io::Result<ZipStream<W>> {
        Ok(ZipStream::with_central(out, time, Held::file()?))
    }

    /// Starts a zip of a few entries, its central directory in memory.
    pub fn small(out: W, time: DosTime) -> ZipStream<W> {
        ZipStream::with_central(out, time, Held::Memory(Vec::new()))
    }

    fn with_central(out: W, time: DosTime, central: Held) -> ZipStream<W> {
        ZipStream {
            out: Counting {
                inner: out,
                written: 0,
            },
            central,
            first: Vec::new(),
            central_len: 0,
            entries: 0,
            time,
        }
    }

    /// Appends one compressed entry.
    pub fn add(&mut self, entry: &Compressed) -> io::Result<()> {
        let header = Header {
            name: &entry.name,
            method: entry.method,
            crc32: entry.crc32,
            compressed_size: entry.data.len() as u64,
            uncompressed_size: entry.uncompressed_size,
        };
        self.append(&header, &mut entry.data.as_slice())
    }

    /// Appends a spooled entry (see [`Spool`]), listed where `listing` says.
    pub fn add_spool(&mut self, name: &str, spool: Spool, listing: Listing) -> io::Result<()> {
        let Spool { encoder, crc, size } = spool;
        let header = |compressed_size| Header {
            name,
            method: METHOD_DEFLATED,
            crc32: crc.finalize(),
            compressed_size,
            uncompressed_size: size,
        };
        let mut deflated = encoder.finish()?;
        let compressed_size = deflated.len()?;
        self.append_listed(
            &header(compressed_size),
            &mut deflated.into_reader()?,
            listing,
        )
    }

    /// Writes a local header, the data, and spools the central record.
    fn append(&mut self, h: &Header<'_>, data: &mut dyn Read) -> io::Result<()> {
        self.append_listed(h, data, Listing::InOrder)
    }

    fn append_listed(
        &mut self,
        h: &Header<'_>,
        data: &mut dyn Read,
        listing: Listing,
    ) -> io::Result<()> {
        let offset = self.out.written;
        if h.compressed_size >= U32_MAX || h.uncompressed_size >= U32_MAX {
            return Err(io::Error::other(format!(
                "{}: a single file of 4 GB or more is not supported",
                h.name
            )));
        }
        let name = h.name.as_bytes();
        let name_len = u16::try_from(name.len())
            .map_err(|_| io::Error::other(format!("{}: file name too long", h.name)))?;

        let extra = self.time.extra();
        let extra_len = extra.len() as u16;
        let mut local = Vec::with_capacity(30 + name.len() + extra.len());
        put32(&mut local, 0x0403_4b50);
        put16(&mut local, VERSION_DEFLATE);
        put16(&mut local, FLAG_UTF8);
        put16(&mut local, h.method);
        put16(&mut local, self.time.time);
        put16(&mut local, self.time.date);
        put32(&mut local, h.crc32);
        put32(&mut local, h.compressed_size as u32);
        put32(&mut local, h.uncompressed_size as u32);
        put16(&mut local, name_len);
        put16(&mut local, extra_len);
        local.extend_from_slice(name);
        local.extend_from_slice(&extra);
        self.out.write_all(&local)?;
        let copied = io::copy(data, &mut self.out)?;
        if copied != h.compressed_size {
            return Err(io::Error::other(format!(
                "{}: expected {} bytes of data, got {copied}",
                h.name, h.compressed_size
            )));
        }

        // The central record; a ZIP64 extra field only when the offset does not fit in 32 bits.
        let zip64 = offset >= U32_MAX;
        let version = if zip64 {
            VERSION_ZIP64
        } else {
            VERSION_DEFLATE
        };
        let mut central = Vec::with_capacity(46 + name.len() + 12 + extra.len());
        put32(&mut central, 0x0201_4b50);
        put16(&mut central, MADE_BY_UNIX | version);
        put16(&mut central, version);
        put16(&mut central, FLAG_UTF8);
        put16(&mut central, h.method);
        put16(&mut central, self.time.time);
        put16(&mut central, self.time.date);
        put32(&mut central, h.crc32);
        put32(&mut central, h.compressed_size as u32);
        put32(&mut central, h.uncompressed_size as u32);
        put16(&mut central, name_len);
        put16(&mut central, if zip64 { 12 } else { 0 } + extra_len);
        put16(&mut central, 0); // comment length
        put16(&mut central, 0); // disk number
        put16(&mut central, 0); // internal attributes
        put32(&mut central, EXTERNAL_ATTRS);
        put32(
            &mut central,
            if zip64 { U32_MAX as u32 } else { offset as u32 },
        );
        central.extend_from_slice(name);
        if zip64 {
            put16(&mut central, 0x0001);
            put16(&mut central, 8);
            put64(&mut central, offset);
        }
        central.extend_from_slice(&extra);
        match listing {
            Listing::InOrder => self.central.write_all(&central)?,
            Listing::First => self.first.extend_from_slice(&central),
        }
        self.central_len += central.len() as u64;
        self.entries += 1;
        Ok(())
    }

    /// Writes the central directory and the end records; returns the writer.
    pub fn finish(mut self) -> io::Result<W> {
        let cd_offset = self.out.written;
        self.out.write_all(&self.first)?;
        io::copy(&mut self.central.into_reader()?, &mut self.out)?;
        let cd_len = self.central_len;
        let needs_zip64 = self.entries >= 0xFFFF || cd_len >= U32_MAX || cd_offset >= U32_MAX;
        let mut end = Vec::with_capacity(98);
        if needs_zip64 {
            let zip64_end_offset = self.out.written;
            put32(&mut end, 0x0606_4b50);
            put64(&mut end, 44);
            put16(&mut end, MADE_BY_UNIX | VERSION_ZIP64);
            put16(&mut end, VERSION_ZIP64);
            put32(&mut end, 0);
            put32(&mut end, 0);
            put64(&mut end, self.entries);
            put64(&mut end, self.entries);
            put64(&mut end, cd_len);
            put64(&mut end, cd_offset);
            // Locator
            put32(&mut end, 0x0706_4b50);
            put32(&mut end, 0);
            put64(&mut end, zip64_end_offset);
            put32(&mut end, 1);
        }
        let entries16 = self.entries.min(0xFFFF) as u16;
        put32(&mut end, 0x0605_4b50);
        put16(&mut end, 0);
        put16(&mut end, 0);
        put16(&mut end, entries16);
        put16(&mut end, entries16);
        put32(&mut end, cd_len.min(U32_MAX) as u32);
        put32(&mut end, cd_offset.min(U32_MAX) as u32);
        put16(&mut end, 0);
        self.out.write_all(&end)?;
        self.out.flush()?;
        Ok(self.out.inner)
    }

    /// Entries appended so far.
    pub fn entries(&self) -> u64 {
        self.entries
    }
}

fn put16(buf: &mut Vec<u8>, v: u16) {
    buf.extend_from_slice(&v.to_le_bytes());
}

fn put32(buf: &mut Vec<u8>, v: u32) {
    buf.extend_from_slice(&v.to_le_bytes());
}

fn put64(buf: &mut Vec<u8>, v: u64) {
    buf.extend_from_slice(&v.to_le_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dos_time_converts_known_dates() {
        let t = DosTime::from_unix(1_700_000_000).unwrap(); // 2023-11-14 22:13:20 UTC
        assert_eq!(t.parts(), (2023, 11, 14, 22, 13, 20));
        assert_eq!(DosTime::default().parts(), (1980, 1, 1, 0, 0, 0));
        assert!(
            DosTime::from_unix(0).is_none(),
            "1970 is before the zip epoch"
        );
    }

    #[test]
    fn small_entries_are_stored_when_deflate_does_not_help() {
        let tiny = Compressed::new("a".into(), b"x", 6);
        assert_eq!(tiny.method, METHOD_STORED);
        let big = Compressed::new("b".into(), &[b'a'; 1000], 6);
        assert_eq!(big.method, METHOD_DEFLATED);
        assert!(big.compressed_len() < 100);
    }
}
