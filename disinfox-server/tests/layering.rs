//! The server's modules in layers (see README, "Architecture"): a module uses modules of its
//! own layer or below, never above, and no two top-level modules use each other, directly or
//! through others. Read from the source tree: every `crate::name` outside comments counts,
//! wherever it is (a `use`, a path in code, a group `crate::{a, b}`).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// The layers, lowest first. A new top-level module must be placed here.
const LAYERS: &[(&str, &[&str])] = &[
    (
        "foundations",
        &[
            "error",
            "client",
            "model",
            "configuration",
            "telemetry",
            "xml",
        ],
    ),
    ("store", &["db"]),
    (
        "domain",
        &[
            "auth",
            "audit",
            "streams",
            "state",
            "ops",
            "bundle",
            "taxii",
            "import",
            "jobs",
            "navigator",
            "correlate",
            "demo",
            "maps",
            "graph",
            "report",
            "intake",
            "live",
        ],
    ),
    ("http", &["http", "routes", "web", "router"]),
    ("application", &["startup", "cli", "main", "lib"]),
];

fn layer_of(module: &str) -> Option<usize> {
    LAYERS.iter().position(|(_, ms)| ms.contains(&module))
}

/// The top-level modules that `code` (one file's text) refers to as `crate::…`, comments left
/// out.
fn references(code: &str) -> BTreeSet<String> {
    let code: String = code
        .lines()
        .map(|line| match line.find("//") {
            Some(i) => &line[..i],
            None => line,
        })
        .collect::<Vec<_>>()
        .join("\n");
    let mut out: BTreeSet<String> = line_refs(&code).into_iter().collect();
    // A group may span lines: `use crate::{\n a,\n b::c,\n};`
    let mut rest = code.as_str();
    while let Some(i) = rest.find("crate::{") {
        let after = &rest[i + "crate::{".len()..];
        let (mut depth, mut end) = (1, after.len());
        for (j, c) in after.char_indices() {
            match c {
                '{' => depth += 1,
                '}' => {
                    depth -= 1;
                    if depth == 0 {
                        end = j;
                        break;
                    }
                }
                _ => {}
            }
        }
        let mut depth = 0;
        let mut item = String::new();
        for c in after[..end].chars().chain([',']) {
            match c {
                '{' => depth += 1,
                '}' => depth -= 1,
                ',' if depth == 0 => {
                    let name: String = item
                        .trim()
                        .chars()
                        .take_while(|c| c.is_alphanumeric() || *c == '_')
                        .collect();
                    if !name.is_empty() {
                        out.insert(name);
                    }
                    item.clear();
                    continue;
                }
                _ => {}
            }
            if depth == 0 {
                item.push(c);
            }
        }
        rest = &after[end..];
    }
    out
}

fn line_refs(line: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = line;
    while let Some(i) = rest.find("crate::") {
        let before = rest[..i].chars().next_back();
        rest = &rest[i + "crate::".len()..];
        if before.is_some_and(|c| c.is_alphanumeric() || c == '_') {
            continue; // `disinfox_crate::`, `foocrate::`
        }
        let name: String = rest
            .chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_')
            .collect();
        if !name.is_empty() {
            out.push(name);
        }
    }
    out
}

/// `src/a/b.rs` and `src/a.rs` and `src/a/mod.rs` belong to top-level module `a`.
fn top_module(src: &Path, file: &Path) -> String {
    let rel = file.strip_prefix(src).unwrap_or(file);
    let first = rel
        .components()
        .next()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .unwrap_or_default();
    first.trim_end_matches(".rs").to_owned()
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let entries = std::fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// Which top-level module uses which, from the source tree.
fn graph() -> BTreeMap<String, BTreeSet<String>> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    assert!(files.len() > 20, "the source tree was not found");
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for file in files {
        let module = top_module(&src, &file);
        let code =
            std::fs::read_to_string(&file).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
        let uses = graph.entry(module.clone()).or_default();
        uses.extend(references(&code).into_iter().filter(|m| *m != module));
    }
    graph
}

/// A cycle of modules using each other, if any, as the path around it.
fn cycle(graph: &BTreeMap<String, BTreeSet<String>>) -> Option<Vec<String>> {
    fn visit(
        g: &BTreeMap<String, BTreeSet<String>>,
        m: &str,
        path: &mut Vec<String>,
        done: &mut BTreeSet<String>,
    ) -> Option<Vec<String>> {
        if let Some(i) = path.iter().position(|p| p == m) {
            let mut c = path[i..].to_vec();
            c.push(m.to_owned());
            return Some(c);
        }
        if done.contains(m) {
            return None;
        }
        path.push(m.to_owned());
        for next in g.get(m).into_iter().flatten() {
            if let Some(c) = visit(g, next, path, done) {
                return Some(c);
            }
        }
        path.pop();
        done.insert(m.to_owned());
        None
    }
    let mut done = BTreeSet::new();
    for m in graph.keys() {
        if let Some(c) = visit(graph, m, &mut Vec::new(), &mut done) {
            return Some(c);
        }
    }
    None
}

#[test]
fn every_module_has_a_layer() {
    let unplaced: Vec<_> = graph()
        .into_keys()
        .filter(|m| layer_of(m).is_none())
        .collect();
    assert!(
        unplaced.is_empty(),
        "modules not placed in a layer of tests/layering.rs: {unplaced:?}"
    );
}

#[test]
fn no_module_uses_a_layer_above_its_own() {
    let mut wrong = Vec::new();
    for (module, uses) in graph() {
        let Some(own) = layer_of(&module) else {
            continue;
        };
        for used in uses {
            match layer_of(&used) {
                Some(l) if l > own => wrong.push(format!(
                    "{module} ({}) uses {used} ({})",
                    LAYERS[own].0, LAYERS[l].0
                )),
                Some(_) => {}
                None => wrong.push(format!("{module} uses crate::{used}, not a module")),
            }
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[test]
fn no_import_cycles_between_modules() {
    if let Some(c) = cycle(&graph()) {
        panic!("modules using each other: {}", c.join(" -> "));
    }
}

#[test]
fn only_the_store_speaks_sql() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let outside: Vec<_> = files
        .iter()
        .filter(|f| top_module(&src, f) != "db")
        .filter(|f| {
            std::fs::read_to_string(f)
                .unwrap_or_else(|e| panic!("{}: {e}", f.display()))
                .lines()
                .any(|l| {
                    l.split("//")
                        .next()
                        .is_some_and(|code| code.contains("sqlx"))
                })
        })
        .map(|f| f.display().to_string())
        .collect();
    assert!(
        outside.is_empty(),
        "SQL belongs to db (the Store's methods); sqlx used in {outside:?}"
    );
}

#[test]
fn the_reader_sees_every_form_of_reference() {
    let code = "use crate::db::Store;\n\
                // use crate::web; (a comment)\n\
                /// see [`crate::routes`]\n\
                let s = crate::state::AppState::new(); // crate::cli\n\
                use crate::{auth::Caller, ops::{self, By},\n    bundle};\n\
                disinfox_crate::x();\n";
    let got: Vec<_> = references(code).into_iter().collect();
    assert_eq!(got, ["auth", "bundle", "db", "ops", "state"]);

    let mut g = BTreeMap::new();
    g.insert("a".to_owned(), BTreeSet::from(["b".to_owned()]));
    g.insert("b".to_owned(), BTreeSet::from(["c".to_owned()]));
    g.insert("c".to_owned(), BTreeSet::from(["a".to_owned()]));
    assert_eq!(cycle(&g).map(|c| c.len()), Some(4));
    g.insert("c".to_owned(), BTreeSet::new());
    assert_eq!(cycle(&g), None);
}

/// README's table of the layers ("The server's modules") names each module in its layer's
/// row, so that the picture a newcomer reads is the one this test enforces.
#[test]
fn the_readme_table_names_every_module_in_its_layer() {
    let readme =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../README.md"))
            .expect("README.md beside the workspace");
    for (layer, modules) in LAYERS {
        let row = readme
            .lines()
            .find(|l| l.starts_with(&format!("| {layer} |")))
            .unwrap_or_else(|| panic!("README has no row for the {layer} layer"));
        // The modules column: the text between the second and third `|`.
        let cells: Vec<&str> = row.split('|').collect();
        let named = cells.get(2).copied().unwrap_or_default();
        for m in modules.iter().filter(|m| !["main", "lib"].contains(m)) {
            assert!(
                named.contains(&format!("`{m}`")),
                "README's {layer} row does not name `{m}`"
            );
        }
    }
}
