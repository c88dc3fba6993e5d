//! The rooms of `src/serve/` (issue 20): each module's `use` of another module of the server is
//! read from the sources, and the imports must go one way: no cycle, and nothing imports the
//! routes (`app`) or the listener (`net`) but the modules above them. The same for the rooms of
//! `src/` (issue 23): `crate::ROOM` paths between them form no cycle.

use crate::common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// Walks the imports from `m` depth first, failing on a module still on the path: a cycle.
fn visit(
    house: &str,
    m: &str,
    edges: &BTreeMap<String, BTreeSet<String>>,
    path: &mut Vec<String>,
    done: &mut BTreeSet<String>,
) {
    if done.contains(m) {
        return;
    }
    if let Some(at) = path.iter().position(|p| p == m) {
        panic!("an import cycle in {house}: {:?} -> {m}", &path[at..]);
    }
    path.push(m.to_string());
    for next in edges.get(m).into_iter().flatten() {
        visit(house, next, edges, path, done);
    }
    path.pop();
    done.insert(m.to_string());
}

/// The module a file under `src/serve/` is: `app`, `admin::page`, `admin` (for `admin/mod.rs`),
/// `` (for `mod.rs`).
fn module_of(relative: &Path) -> String {
    let parts: Vec<String> = relative
        .iter()
        .map(|p| p.to_string_lossy().trim_end_matches(".rs").to_string())
        .filter(|p| p != "mod")
        .collect();
    parts.join("::")
}

/// Every `.rs` file under `dir`, relative to it.
fn sources(dir: &Path, under: &Path, out: &mut Vec<std::path::PathBuf>) {
    for entry in std::fs::read_dir(dir.join(under)).unwrap() {
        let entry = entry.unwrap();
        let relative = under.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            sources(dir, &relative, out);
        } else if relative.extension().is_some_and(|e| e == "rs") {
            out.push(relative);
        }
    }
}

/// The `use` declarations of `text`, whole (they may span lines), without `use ` and `;`.
fn uses(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut current: Option<String> = None;
    for line in text.lines() {
        let line = line.trim();
        if line.starts_with("//") {
            continue;
        }
        if let Some(c) = current.as_mut() {
            c.push_str(line);
        } else if let Some(rest) = line
            .strip_prefix("pub use ")
            .or_else(|| line.strip_prefix("pub(super) use "))
            .or_else(|| line.strip_prefix("use "))
        {
            current = Some(rest.to_string());
        }
        if current.as_ref().is_some_and(|c| c.ends_with(';')) {
            out.push(current.take().unwrap().trim_end_matches(';').to_string());
        }
    }
    out
}

/// The server modules a `use` path names, as seen from `module`: `super::super::reply::{…}`
/// from `admin::page` is `reply`; `super::{a, b}` names both when they are modules.
fn targets(module: &str, path: &str, modules: &BTreeSet<String>) -> Vec<String> {
    let mut base: Vec<&str> = if module.is_empty() {
        Vec::new()
    } else {
        module.split("::").collect()
    };
    let mut rest = path;
    if let Some(r) = rest.strip_prefix("crate::serve::") {
        base.clear();
        rest = r;
    } else if rest.starts_with("super::") {
        while let Some(r) = rest.strip_prefix("super::") {
            base.pop();
            rest = r;
        }
    } else if !rest.starts_with("self::") {
        // A child module named from its parent (`use signin::SignIn;` in `admin`); else another
        // crate, or crate:: outside the server.
        let first = rest.split("::").next().unwrap_or("");
        let mut child = base.clone();
        child.push(first);
        if !modules.contains(&child.join("::")) {
            return Vec::new();
        }
    }
    let rest = rest.strip_prefix("self::").unwrap_or(rest);
    // Expand one level of braces: `page::{self, Refusal}`, `{config, pox}`.
    let (head, names): (&str, Vec<&str>) = match rest.split_once('{') {
        Some((head, tail)) => (
            head.trim_end_matches("::"),
            tail.trim_end_matches('}')
                .split(',')
                .map(str::trim)
                .collect(),
        ),
        None => (rest, vec![""]),
    };
    let mut found = Vec::new();
    for name in names {
        // `page as self_service`: the path before the alias.
        let name = name.split(" as ").next().unwrap_or(name);
        let head = head.split(" as ").next().unwrap_or(head);
        let full: Vec<&str> = base
            .iter()
            .copied()
            .chain(head.split("::").filter(|s| !s.is_empty()))
            .chain(name.split("::").filter(|s| !s.is_empty() && *s != "self"))
            .collect();
        // The longest prefix of the path that is a module of the server.
        let module = (0..=full.len())
            .rev()
            .map(|n| full[..n].join("::"))
            .find(|m| modules.contains(m))
            .unwrap_or_default();
        found.push(module);
    }
    found
}

#[test]
fn the_server_s_modules_import_one_way() {
    let root = common::root().join("src/serve");
    let mut files = Vec::new();
    sources(&root, Path::new(""), &mut files);
    let modules: BTreeSet<String> = files.iter().map(|f| module_of(f)).collect();
    assert!(
        modules.contains("admin::signin") && modules.contains("reply"),
        "{modules:?}"
    );
    let mut edges: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for file in &files {
        let module = module_of(file);
        let text = std::fs::read_to_string(root.join(file)).unwrap();
        // A module's unit tests (`use super::*`) are no import of it.
        let code = text.split("#[cfg(test)]").next().unwrap_or("");
        for path in uses(code) {
            for target in targets(&module, &path, &modules) {
                if target != module {
                    edges.entry(module.clone()).or_default().insert(target);
                }
            }
        }
    }
    // The reader itself must see the imports it is about.
    assert!(edges["admin::page"].contains("reply"), "{edges:?}");
    assert!(edges["app"].contains("admin"), "{edges:?}");
    assert!(edges["admin"].contains("admin::signin"), "{edges:?}");
    // No cycle: a depth-first walk never meets a module still on its path.
    let mut done = BTreeSet::new();
    for m in &modules {
        visit("src/serve", m, &edges, &mut Vec::new(), &mut done);
    }
    // The routes and the listener are imported only from above them.
    for (from, to) in &edges {
        if to.contains("app") {
            assert!(["net", ""].contains(&from.as_str()), "{from} imports app");
        }
        if to.contains("net") {
            assert_eq!(from, "", "{from} imports net");
        }
    }
}

#[test]
fn the_crate_s_rooms_import_one_way() {
    let root = common::root().join("src");
    let mut files = Vec::new();
    sources(&root, Path::new(""), &mut files);
    // A room: a folder of src/, or a file of its own (main.rs and lib.rs are the door).
    let room_of = |f: &Path| {
        let first = f.iter().next().unwrap().to_string_lossy().into_owned();
        first.trim_end_matches(".rs").to_string()
    };
    let rooms: BTreeSet<String> = files
        .iter()
        .map(|f| room_of(f))
        .filter(|r| r != "main" && r != "lib")
        .collect();
    assert!(
        rooms.contains("bundle") && rooms.contains("diagnostic"),
        "{rooms:?}"
    );
    let mut edges: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for file in &files {
        let from = room_of(file);
        if !rooms.contains(&from) {
            continue;
        }
        let text = std::fs::read_to_string(root.join(file)).unwrap();
        let code = text.split("#[cfg(test)]").next().unwrap_or("");
        for (at, _) in code.match_indices("crate::") {
            let name: String = code[at + "crate::".len()..]
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            if rooms.contains(&name) && name != from {
                edges.entry(from.clone()).or_default().insert(name);
            }
        }
    }
    assert!(edges["commands"].contains("bundle"), "{edges:?}");
    assert!(edges["render"].contains("input"), "{edges:?}");
    let mut done = BTreeSet::new();
    for room in &rooms {
        visit("src", room, &edges, &mut Vec::new(), &mut done);
    }
    // The rooms everything may use import none.
    for leaf in ["diagnostic", "sign"] {
        assert!(
            !edges.contains_key(leaf),
            "{leaf} imports {:?}",
            edges[leaf]
        );
    }
}
