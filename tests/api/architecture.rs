//! The crate's import graph, read from `src/`: each part imports only the parts below it
//! (entry → doors → auth → models → db, see ARCHITECTURE.md), and no files import each other
//! in a loop. A new import that breaks either rule fails here, naming it.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// What each top-level module may import (the crate root's constants are free for all). Doors
/// never import each other; support modules (`config`, `telemetry`, `error`, `state`, `schema`)
/// import nothing above the database.
const ALLOWED: &[(&str, &[&str])] = &[
    ("main", &["*"]),
    ("startup", &["*"]),
    ("seed", &["*"]),
    ("fuzzing", &["*"]),
    ("api", DOOR),
    ("admin", DOOR),
    ("routes", DOOR),
    ("portal", DOOR),
    ("auth", AUTH),
    ("models", &["db", "schema", "config"]),
    ("db", &["config"]),
    ("error", &["db", "telemetry"]),
    ("state", &["db", "config"]),
    ("telemetry", &["config"]),
    ("config", &[]),
    ("schema", &[]),
];
const DOOR: &[&str] = &[
    "auth",
    "models",
    "db",
    "schema",
    "config",
    "error",
    "state",
    "telemetry",
];
const AUTH: &[&str] = &[
    "models",
    "db",
    "schema",
    "config",
    "error",
    "state",
    "telemetry",
];

type Module = Vec<String>;

fn source_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            source_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

fn module_of(root: &Path, file: &Path) -> Module {
    let rel = file.strip_prefix(root).unwrap().with_extension("");
    let mut parts: Module = rel
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    if matches!(
        parts.last().map(String::as_str),
        Some("mod" | "lib" | "main")
    ) && !(parts.len() == 1 && parts[0] == "main")
    {
        parts.pop();
    }
    parts
}

/// The code outside `#[cfg(test)]` modules (tests may reach anywhere), without comments.
fn code(source: &str) -> String {
    let mut kept = String::new();
    let mut lines = source.lines();
    while let Some(line) = lines.next() {
        if line.trim() == "#[cfg(test)]" {
            // Skips the item that follows: up to the line closing its braces.
            let mut depth = 0i32;
            for next in lines.by_ref() {
                depth += next.matches('{').count() as i32 - next.matches('}').count() as i32;
                if depth <= 0 && (next.contains('}') || next.trim_end().ends_with(';')) {
                    break;
                }
            }
            continue;
        }
        let line = match line.find("//") {
            Some(i) => &line[..i],
            None => line,
        };
        kept.push_str(line);
        kept.push('\n');
    }
    kept
}

/// Splits `a, b::{c, d}` at the commas outside braces.
fn split_top(list: &str) -> Vec<&str> {
    let (mut parts, mut depth, mut start) = (Vec::new(), 0, 0);
    for (i, c) in list.char_indices() {
        match c {
            '{' => depth += 1,
            '}' => depth -= 1,
            ',' if depth == 0 => {
                parts.push(&list[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(&list[start..]);
    parts
}

/// The paths a `use` tree names, prefixes joined: `crate::{a, b::{c}}` → `crate::a`, `crate::b::c`.
fn expand(prefix: &str, tree: &str, out: &mut Vec<String>) {
    let tree: String = tree.split_whitespace().collect::<Vec<_>>().join(" ");
    let tree = tree.trim();
    if tree.is_empty() {
        return;
    }
    let join = |p: &str, s: &str| {
        if p.is_empty() {
            s.to_owned()
        } else {
            format!("{p}::{s}")
        }
    };
    if let Some(open) = tree.find('{') {
        let head = tree[..open].trim_end_matches("::");
        let inner = &tree[open + 1..tree.rfind('}').unwrap_or(tree.len())];
        for part in split_top(inner) {
            expand(&join(prefix, head), part, out);
        }
    } else {
        let path = tree.split(" as ").next().unwrap_or(tree).trim();
        out.push(join(prefix, path));
    }
}

/// Every crate-internal path the code names: in `use` items and written out inline.
fn paths(code: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = code;
    while let Some(i) = rest.find("use ") {
        let before = rest[..i].chars().last();
        let after = &rest[i + 4..];
        rest = after;
        if before.is_some_and(|c| c.is_alphanumeric() || c == '_') {
            continue;
        }
        let Some(end) = after.find(';') else { break };
        let tree = &after[..end];
        if tree.trim_start().starts_with("crate") || tree.trim_start().starts_with("super") {
            expand("", tree, &mut out);
        }
    }
    for start in ["crate::", "super::"] {
        let mut rest = code;
        while let Some(i) = rest.find(start) {
            let before = rest[..i].chars().last();
            let tail = &rest[i..];
            let len = tail
                .find(|c: char| !(c.is_alphanumeric() || c == '_' || c == ':'))
                .unwrap_or(tail.len());
            if !before.is_some_and(|c| c.is_alphanumeric() || c == '_' || c == ':') {
                out.push(tail[..len].trim_end_matches(':').to_owned());
            }
            rest = &rest[i + start.len()..];
        }
    }
    out
}

/// The file a path lands in: the deepest module that is a file, following `pub use x::Item`
/// re-exports of a `mod.rs`.
fn resolve(from: &Module, path: &str, files: &BTreeMap<Module, String>) -> Option<Module> {
    let mut segments: Vec<&str> = path.split("::").filter(|s| !s.is_empty()).collect();
    let mut base: Module = match segments.first() {
        Some(&"crate") => {
            segments.remove(0);
            Vec::new()
        }
        Some(&"super" | &"self") => from.clone(),
        _ => return None,
    };
    while let Some(first) = segments.first() {
        match *first {
            "super" => {
                base.pop();
            }
            "self" => {}
            _ => break,
        }
        segments.remove(0);
    }
    base.extend(segments.iter().map(|s| s.to_string()));
    for n in (0..=base.len()).rev() {
        let module = base[..n].to_vec();
        if let Some(source) = files.get(&module) {
            if let Some(item) = base.get(n) {
                for line in source.lines() {
                    let line = line.trim();
                    if let Some(reexport) = line.strip_prefix("pub use ")
                        && let Some((child, items)) = reexport.split_once("::")
                        && items
                            .split(|c: char| !(c.is_alphanumeric() || c == '_'))
                            .any(|w| w == item)
                    {
                        let mut target = module.clone();
                        target.push(child.to_owned());
                        if files.contains_key(&target) {
                            return Some(target);
                        }
                    }
                }
            }
            return Some(module);
        }
    }
    None
}

fn graph() -> BTreeMap<Module, BTreeSet<Module>> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut list = Vec::new();
    source_files(&root, &mut list);
    let files: BTreeMap<Module, String> = list
        .iter()
        .map(|f| (module_of(&root, f), std::fs::read_to_string(f).unwrap()))
        .collect();
    files
        .iter()
        .map(|(module, source)| {
            let deps = paths(&code(source))
                .iter()
                .filter_map(|p| resolve(module, p, &files))
                .filter(|d| d != module)
                .collect();
            (module.clone(), deps)
        })
        .collect()
}

fn name(module: &Module) -> String {
    if module.is_empty() {
        "crate".into()
    } else {
        module.join("::")
    }
}

/// Strongly connected components of more than one file (Tarjan).
fn loops(graph: &BTreeMap<Module, BTreeSet<Module>>) -> Vec<Vec<String>> {
    struct State<'a> {
        graph: &'a BTreeMap<Module, BTreeSet<Module>>,
        index: BTreeMap<&'a Module, usize>,
        low: BTreeMap<&'a Module, usize>,
        stack: Vec<&'a Module>,
        found: Vec<Vec<String>>,
    }
    fn visit<'a>(s: &mut State<'a>, v: &'a Module) {
        let i = s.index.len();
        s.index.insert(v, i);
        s.low.insert(v, i);
        s.stack.push(v);
        for w in s.graph.get(v).into_iter().flatten() {
            if !s.index.contains_key(w) {
                visit(s, w);
                let low = s.low[w].min(s.low[v]);
                s.low.insert(v, low);
            } else if s.stack.contains(&w) {
                let low = s.index[w].min(s.low[v]);
                s.low.insert(v, low);
            }
        }
        if s.low[v] == s.index[v] {
            let mut component = Vec::new();
            while let Some(w) = s.stack.pop() {
                component.push(name(w));
                if w == v {
                    break;
                }
            }
            if component.len() > 1 {
                component.sort();
                s.found.push(component);
            }
        }
    }
    let mut state = State {
        graph,
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: Vec::new(),
        found: Vec::new(),
    };
    for v in graph.keys() {
        if !state.index.contains_key(v) {
            visit(&mut state, v);
        }
    }
    state.found
}

#[test]
fn no_files_import_each_other_in_a_loop() {
    let graph = graph();
    assert!(graph.len() > 50, "read {} files", graph.len());
    assert_eq!(loops(&graph), Vec::<Vec<String>>::new());
}

#[test]
fn each_part_imports_only_the_parts_below_it() {
    let mut wrong = Vec::new();
    for (from, deps) in graph() {
        let Some(top) = from.first() else { continue };
        let allowed = ALLOWED
            .iter()
            .find(|(m, _)| m == top)
            .unwrap_or_else(|| panic!("src/{top} is not in ALLOWED: place it in a layer"))
            .1;
        for dep in deps {
            let Some(target) = dep.first() else { continue };
            if target != top && !allowed.contains(&"*") && !allowed.contains(&target.as_str()) {
                wrong.push(format!("{} imports {}", name(&from), name(&dep)));
            }
        }
    }
    assert_eq!(wrong, Vec::<String>::new());
}

#[test]
fn the_reader_sees_the_loops_it_is_meant_to_catch() {
    let mut files = BTreeMap::new();
    files.insert(vec!["a".to_owned()], "pub use x::Thing;\n".to_owned());
    files.insert(vec!["a".to_owned(), "x".to_owned()], String::new());
    files.insert(vec!["b".to_owned()], String::new());
    let from = vec!["b".to_owned()];
    let code = code("use crate::{a::Thing, b};\n// use crate::c;\nfn f() { crate::b::g() }\n");
    let found: Vec<_> = paths(&code)
        .iter()
        .filter_map(|p| resolve(&from, p, &files))
        .collect();
    assert!(
        found.contains(&vec!["a".to_owned(), "x".to_owned()]),
        "{found:?}"
    );
    assert!(found.contains(&vec!["b".to_owned()]));
    let mut graph = BTreeMap::new();
    graph.insert(from.clone(), BTreeSet::from([vec!["a".to_owned()]]));
    graph.insert(vec!["a".to_owned()], BTreeSet::from([from]));
    assert_eq!(loops(&graph), vec![vec!["a".to_owned(), "b".to_owned()]]);
}
