//! `dist/` holds real output for readers who do not build: the publish files of the default
//! provider and every per-user file of the example roster's first person. This test fails when
//! dist/ is stale. Regenerate with:
//!
//!     MAILCONF_UPDATE_DIST=1 cargo test --test it dist::

use crate::common;

use std::collections::BTreeMap;
use std::path::Path;

use mailconf::input::provider::Provider;
use mailconf::input::roster::{self, ReadOptions};
use mailconf::render::{Context, publish};

/// What dist/ should hold: relative path → bytes.
fn expected() -> BTreeMap<String, Vec<u8>> {
    let provider = Provider::kumail();
    let ctx = Context::new(&provider, None);
    let mut files = BTreeMap::new();
    for f in publish::files(&provider, ctx.protocol).unwrap() {
        files.insert(format!("publish/{}", f.path), f.bytes);
    }
    let roster = roster::read(
        &common::root().join("examples/department.csv"),
        &provider,
        ReadOptions::default(),
    )
    .unwrap();
    let example = &roster.accounts[0];
    for f in ctx.user_files(example).unwrap() {
        files.insert(format!("users/{}/{}", example.address, f.path), f.bytes);
    }
    files
}

fn walk(dir: &Path, prefix: &str, out: &mut BTreeMap<String, Vec<u8>>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let entry = entry.unwrap();
        let name = format!("{prefix}{}", entry.file_name().to_string_lossy());
        if entry.file_type().unwrap().is_dir() {
            walk(&entry.path(), &format!("{name}/"), out);
        } else {
            out.insert(name, std::fs::read(entry.path()).unwrap());
        }
    }
}

#[test]
fn dist_is_fresh() {
    let dist = common::root().join("dist");
    let expected = expected();
    if std::env::var_os("MAILCONF_UPDATE_DIST").is_some() {
        for sub in ["publish", "users"] {
            let _ = std::fs::remove_dir_all(dist.join(sub));
        }
        for (path, bytes) in &expected {
            let target = dist.join(path);
            std::fs::create_dir_all(target.parent().unwrap()).unwrap();
            std::fs::write(target, bytes).unwrap();
        }
    }
    let mut actual = BTreeMap::new();
    walk(&dist, "", &mut actual);
    actual.remove("README.md");
    // Screenshots come from a browser (tests/it/pages.rs), whose pixels vary with its fonts.
    actual.retain(|path, _| !path.starts_with("screenshots/"));
    // Examples written by hand for running the server (a systemd unit, an nginx configuration).
    actual.retain(|path, _| !path.starts_with("serve/"));
    let stale: Vec<&String> = expected
        .iter()
        .filter(|(p, b)| actual.get(*p) != Some(*b))
        .map(|(p, _)| p)
        .collect();
    let extra: Vec<&String> = actual
        .keys()
        .filter(|p| !expected.contains_key(*p))
        .collect();
    assert!(
        stale.is_empty() && extra.is_empty(),
        "dist/ is stale (differs: {stale:?}; not generated: {extra:?}).\n\
         Regenerate with: MAILCONF_UPDATE_DIST=1 cargo test --test it dist::"
    );
}
