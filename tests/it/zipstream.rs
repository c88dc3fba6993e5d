//! The streaming zip writer, read back with the `zip` crate (an independent reader).

use crate::common;

use std::io::Read;

use std::io::Write;

use mailconf::bundle::zipstream::{Compressed, DosTime, Listing, Spool, ZipStream};

#[test]
fn entries_round_trip_with_flags_time_and_modes() {
    let time = DosTime::from_unix(1_700_000_000).unwrap();
    let mut zip = ZipStream::new(Vec::new(), time).unwrap();
    let big: Vec<u8> = (0..50_000u32)
        .flat_map(|i| (i % 251).to_le_bytes())
        .collect();
    let files: Vec<(String, Vec<u8>)> = vec![
        (
            "top/ascii.txt".into(),
            b"hello hello hello hello hello".to_vec(),
        ),
        (
            "top/日本語/名前.xml".into(),
            "<a>山田</a>".repeat(20).into_bytes(),
        ),
        ("top/empty".into(), Vec::new()),
        ("top/x".into(), b"x".to_vec()),
        ("top/big.bin".into(), big),
    ];
    // Every level libdeflate has, stored (0) included.
    for (i, (name, data)) in files.iter().enumerate() {
        let level = [0, 1, 6, 12][i % 4];
        zip.add(&Compressed::new(name.clone(), data, level))
            .unwrap();
    }
    // Spooled entries: one written last but listed first, one listed in order.
    let mut index = Spool::new(6).unwrap();
    for _ in 0..5_000 {
        index.write_all("<li>山田 &amp;</li>\n".as_bytes()).unwrap();
    }
    let mut manifest = Spool::new(1).unwrap();
    manifest.write_all(&b"a,b\r\n".repeat(10_000)).unwrap();
    zip.add_spool("top/manifest.csv", manifest, Listing::InOrder)
        .unwrap();
    zip.add_spool("top/index.html", index, Listing::First)
        .unwrap();
    let bytes = zip.finish().unwrap();

    let mut archive = zip::ZipArchive::new(std::io::Cursor::new(&bytes)).unwrap();
    assert_eq!(archive.len(), files.len() + 2);
    let listed: Vec<String> = archive
        .file_names()
        .map(|n| n.unwrap().into_owned())
        .collect();
    let mut expected = vec!["top/index.html"];
    expected.extend(files.iter().map(|(n, _)| n.as_str()));
    expected.push("top/manifest.csv");
    // file_names() follows the central directory's order.
    assert_eq!(listed, expected);
    let mut page = String::new();
    archive
        .by_name("top/index.html")
        .unwrap()
        .read_to_string(&mut page)
        .unwrap();
    assert_eq!(page, "<li>山田 &amp;</li>\n".repeat(5_000));
    for (i, (name, data)) in files.iter().enumerate() {
        let mut f = archive.by_index(i + 1).unwrap();
        assert_eq!(f.name().unwrap(), name.as_str());
        let mut read = Vec::new();
        f.read_to_end(&mut read).unwrap();
        assert_eq!(&read, data, "{name}");
        assert_eq!(f.unix_mode(), Some(0o100644));
        let t = f.last_modified().unwrap();
        assert_eq!(
            (
                t.year(),
                t.month(),
                t.day(),
                t.hour(),
                t.minute(),
                t.second()
            ),
            (2023, 11, 14, 22, 13, 20)
        );
    }
    let mut manifest = String::new();
    archive
        .by_name("top/manifest.csv")
        .unwrap()
        .read_to_string(&mut manifest)
        .unwrap();
    assert_eq!(manifest, "a,b\r\n".repeat(10_000));
    for (name, flags) in common::zip_central_flags(&bytes) {
        assert_eq!(flags & 0x0800, 0x0800, "{name}");
    }
}

#[test]
fn more_than_65535_entries_use_zip64_end_records() {
    let mut zip = ZipStream::new(Vec::new(), DosTime::default()).unwrap();
    let n = 70_000u32;
    for i in 0..n {
        zip.add(&Compressed::new(format!("f/{i}"), &i.to_le_bytes(), 1))
            .unwrap();
    }
    let bytes = zip.finish().unwrap();
    assert!(
        bytes.windows(4).any(|w| w == [0x50, 0x4b, 0x06, 0x06]),
        "a ZIP64 end record"
    );
    let mut archive = zip::ZipArchive::new(std::io::Cursor::new(&bytes)).unwrap();
    assert_eq!(archive.len(), n as usize);
    let mut last = Vec::new();
    archive
        .by_name(&format!("f/{}", n - 1))
        .unwrap()
        .read_to_end(&mut last)
        .unwrap();
    assert_eq!(last, (n - 1).to_le_bytes());
}
