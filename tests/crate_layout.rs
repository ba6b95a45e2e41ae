//! The crate's layout holds: no import cycle between files of `src/`, and no file over 600 lines
//! (the exported conformance suite excepted).
//!
//! An edge `a.rs -> b.rs` means code in `a.rs` names an item defined in `b.rs`, followed through
//! re-exports, so a module's `mod` declarations and `pub use` facade are not dependencies. Print
//! the whole graph with `cargo test --test crate_layout -- --nocapture`.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};

const MAX_LINES: usize = 600;
const LONG_FILES_ALLOWED: &[&str] = &["storage/conformance.rs"];

/// One file of `src/`: its module path (`["storage", "redis"]`) and its text.
struct Module {
    file: String,
    path: Vec<String>,
    text: String,
}

fn collect(dir: &Path, root: &Path, out: &mut Vec<Module>) {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    entries.sort();
    for entry in entries {
        if entry.is_dir() {
            collect(&entry, root, out);
        } else if entry.extension().is_some_and(|e| e == "rs") {
            let file = entry
                .strip_prefix(root)
                .unwrap()
                .to_string_lossy()
                .replace('\\', "/");
            let mut path: Vec<String> = file
                .trim_end_matches(".rs")
                .split('/')
                .map(str::to_owned)
                .collect();
            if matches!(path.last().map(String::as_str), Some("mod" | "lib")) {
                path.pop();
            }
            out.push(Module {
                file,
                path,
                text: std::fs::read_to_string(&entry).unwrap(),
            });
        }
    }
}

/// The code of a file without comments, string contents (doc links are not dependencies) and
/// its unit tests (a `mod tests` that reaches up with `super::*` is not part of the layout).
fn code_of(text: &str) -> String {
    let text = match text.find("#[cfg(test)]\nmod ") {
        Some(at) => &text[..at],
        None => text,
    };
    let mut out = String::with_capacity(text.len());
    for line in text.lines() {
        let trimmed = line.trim_start();
        if trimmed.starts_with("//") {
            out.push('\n');
            continue;
        }
        let mut in_string = false;
        let mut previous = ' ';
        let mut kept = String::new();
        for (i, c) in line.char_indices() {
            if !in_string && c == '/' && line[i..].starts_with("//") {
                break;
            }
            if c == '"' && previous != '\\' {
                in_string = !in_string;
                kept.push('"');
            } else if !in_string {
                kept.push(c);
            }
            previous = c;
        }
        out.push_str(&kept);
        out.push('\n');
    }
    out
}

/// One imported path and the local name it is known by.
type Import = (Vec<String>, String);

/// Every `use` statement of `code` as (is_reexport, the flattened paths with their local names).
fn use_statements(code: &str) -> Vec<(bool, Vec<Import>)> {
    let mut statements = Vec::new();
    let mut rest = code;
    while let Some((end, reexport)) = find_use(rest) {
        let after = &rest[end..];
        let stop = after.find(';').unwrap_or(after.len());
        let tree: String = after[..stop]
            .chars()
            .filter(|c| !c.is_whitespace())
            .collect();
        let mut paths = Vec::new();
        flatten(&tree, &[], &mut paths);
        statements.push((reexport, paths));
        rest = &after[stop..];
    }
    statements
}

/// Finds the next `use` statement: where its path starts, and whether it is a re-export.
fn find_use(code: &str) -> Option<(usize, bool)> {
    let mut offset = 0;
    for line in code.split_inclusive('\n') {
        let trimmed = line.trim_start();
        let indent = line.len() - trimmed.len();
        for (prefix, reexport) in [
            ("use ", false),
            ("pub use ", true),
            ("pub(crate) use ", true),
            ("pub(super) use ", true),
        ] {
            if trimmed.starts_with(prefix) {
                return Some((offset + indent + prefix.len(), reexport));
            }
        }
        offset += line.len();
    }
    None
}

fn flatten(tree: &str, prefix: &[String], out: &mut Vec<Import>) {
    if let Some(open) = tree.find('{') {
        let head: Vec<String> = tree[..open]
            .split("::")
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect();
        let mut base = prefix.to_vec();
        base.extend(head);
        let inner = &tree[open + 1..tree.rfind('}').unwrap()];
        let mut depth = 0;
        let mut start = 0;
        for (i, c) in inner.char_indices() {
            match c {
                '{' => depth += 1,
                '}' => depth -= 1,
                ',' if depth == 0 => {
                    flatten(&inner[start..i], &base, out);
                    start = i + 1;
                }
                _ => {}
            }
        }
        flatten(&inner[start..], &base, out);
        return;
    }
    if tree.is_empty() {
        return;
    }
    let (path, alias) = match tree.split_once("as") {
        Some((path, alias)) if !path.ends_with(':') && !alias.contains(':') => {
            (path, Some(alias.to_owned()))
        }
        _ => (tree, None),
    };
    let mut full = prefix.to_vec();
    full.extend(
        path.split("::")
            .filter(|s| !s.is_empty())
            .map(str::to_owned),
    );
    if full.last().is_some_and(|s| s == "self") {
        full.pop();
    }
    let local = alias.unwrap_or_else(|| full.last().cloned().unwrap_or_default());
    out.push((full, local));
}

struct Crate {
    modules: Vec<Module>,
    by_path: HashMap<Vec<String>, usize>,
    /// Per module: re-exported local name -> absolute path.
    reexports: Vec<HashMap<String, Vec<String>>>,
}

impl Crate {
    fn absolute(&self, module: &[String], path: &[String]) -> Option<Vec<String>> {
        let first = path.first()?;
        let mut base: Vec<String> = match first.as_str() {
            "crate" => Vec::new(),
            "self" => module.to_vec(),
            "super" => module[..module.len().saturating_sub(1)].to_vec(),
            name => {
                let mut child = module.to_vec();
                child.push(name.to_owned());
                if self.by_path.contains_key(&child) {
                    child.pop();
                    child
                } else {
                    return None; // an external crate
                }
            }
        };
        let mut rest = &path[usize::from(matches!(first.as_str(), "crate" | "self" | "super"))..];
        while rest.first().is_some_and(|s| s == "super") {
            base.pop();
            rest = &rest[1..];
        }
        base.extend(rest.iter().cloned());
        Some(base)
    }

    /// The file that defines what `path` (absolute) names.
    fn resolve(&self, path: &[String], depth: usize) -> Option<usize> {
        if depth > 16 {
            return None;
        }
        let mut module: Vec<String> = Vec::new();
        for (i, segment) in path.iter().enumerate() {
            let mut child = module.clone();
            child.push(segment.clone());
            if self.by_path.contains_key(&child) {
                module = child;
                continue;
            }
            let index = *self.by_path.get(&module)?;
            if let Some(target) = self.reexports[index].get(segment) {
                let mut target = target.clone();
                target.extend(path[i + 1..].iter().cloned());
                return self.resolve(&target, depth + 1);
            }
            return Some(index);
        }
        self.by_path.get(&module).copied()
    }
}

fn load() -> Crate {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut modules = Vec::new();
    collect(&root, &root, &mut modules);
    let by_path = modules
        .iter()
        .enumerate()
        .map(|(i, m)| (m.path.clone(), i))
        .collect();
    let mut krate = Crate {
        modules,
        by_path,
        reexports: Vec::new(),
    };
    let reexports = krate
        .modules
        .iter()
        .map(|m| {
            let mut map = HashMap::new();
            for (reexport, paths) in use_statements(&code_of(&m.text)) {
                if !reexport {
                    continue;
                }
                for (path, local) in paths {
                    if let Some(abs) = krate.absolute(&m.path, &path) {
                        map.insert(local, abs);
                    }
                }
            }
            map
        })
        .collect();
    krate.reexports = reexports;
    krate
}

fn is_ident(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

/// The files each file depends on.
fn graph(krate: &Crate) -> BTreeMap<String, BTreeSet<String>> {
    let mut edges: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (index, module) in krate.modules.iter().enumerate() {
        let code = code_of(&module.text);
        let mut targets = BTreeSet::new();
        // Local names that stand for a module of this crate (`use crate::cart;` -> `cart::Error`).
        let mut module_aliases: HashMap<String, Vec<String>> = HashMap::new();
        for (reexport, paths) in use_statements(&code) {
            for (path, local) in paths {
                let Some(abs) = krate.absolute(&module.path, &path) else {
                    continue;
                };
                if krate.by_path.contains_key(&abs) {
                    module_aliases.insert(local, abs.clone());
                } else if !reexport {
                    targets.extend(krate.resolve(&abs, 0));
                }
            }
        }
        // Paths written in the code: `crate::a::B`, `super::c::D`, `alias::E`.
        let chars: Vec<char> = code.chars().collect();
        let mut i = 0;
        while i < chars.len() {
            if is_ident(chars[i]) && (i == 0 || !(is_ident(chars[i - 1]) || chars[i - 1] == ':')) {
                let start = i;
                let mut j = i;
                while j < chars.len() && (is_ident(chars[j]) || chars[j] == ':') {
                    j += 1;
                }
                let token: String = chars[start..j].iter().collect();
                i = j;
                if !token.contains("::") {
                    continue;
                }
                let segments: Vec<String> = token
                    .split("::")
                    .filter(|s| !s.is_empty())
                    .map(str::to_owned)
                    .collect();
                let abs = match segments[0].as_str() {
                    "crate" | "super" | "self" => krate.absolute(&module.path, &segments),
                    first => module_aliases.get(first).map(|base| {
                        let mut abs = base.clone();
                        abs.extend(segments[1..].iter().cloned());
                        abs
                    }),
                };
                if let Some(target) = abs.and_then(|abs| krate.resolve(&abs, 0)) {
                    targets.insert(target);
                }
                continue;
            }
            i += 1;
        }
        targets.remove(&index);
        edges.insert(
            module.file.clone(),
            targets
                .into_iter()
                .map(|t| krate.modules[t].file.clone())
                .collect(),
        );
    }
    edges
}

/// Strongly connected components with more than one file (Tarjan).
fn cycles(edges: &BTreeMap<String, BTreeSet<String>>) -> Vec<Vec<String>> {
    struct State<'a> {
        edges: &'a BTreeMap<String, BTreeSet<String>>,
        index: HashMap<&'a str, usize>,
        low: HashMap<&'a str, usize>,
        stack: Vec<&'a str>,
        on_stack: BTreeSet<&'a str>,
        next: usize,
        found: Vec<Vec<String>>,
    }
    fn visit<'a>(s: &mut State<'a>, v: &'a str) {
        s.index.insert(v, s.next);
        s.low.insert(v, s.next);
        s.next += 1;
        s.stack.push(v);
        s.on_stack.insert(v);
        for w in s.edges.get(v).into_iter().flatten() {
            let w = w.as_str();
            if !s.index.contains_key(w) {
                visit(s, w);
                let low = s.low[v].min(s.low[w]);
                s.low.insert(v, low);
            } else if s.on_stack.contains(w) {
                let low = s.low[v].min(s.index[w]);
                s.low.insert(v, low);
            }
        }
        if s.low[v] == s.index[v] {
            let mut component = Vec::new();
            while let Some(w) = s.stack.pop() {
                s.on_stack.remove(w);
                component.push(w.to_owned());
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
        edges,
        index: HashMap::new(),
        low: HashMap::new(),
        stack: Vec::new(),
        on_stack: BTreeSet::new(),
        next: 0,
        found: Vec::new(),
    };
    for v in edges.keys() {
        if !state.index.contains_key(v.as_str()) {
            visit(&mut state, v);
        }
    }
    state.found
}

#[test]
fn no_import_cycle_between_files_of_src() {
    let krate = load();
    let edges = graph(&krate);
    for (file, targets) in &edges {
        let lines = krate
            .modules
            .iter()
            .find(|m| &m.file == file)
            .map_or(0, |m| m.text.lines().count());
        let targets: Vec<&str> = targets.iter().map(String::as_str).collect();
        println!("{file} ({lines} lines) -> {}", targets.join(", "));
    }
    let found = cycles(&edges);
    assert!(found.is_empty(), "import cycles between files: {found:#?}");
}

#[test]
fn the_graph_sees_an_edge_through_a_reexport() {
    // The check above is only worth something if it finds real edges: the handle depends on the
    // manager, and the extractor on the per-request state, both named through re-exports or
    // module aliases.
    let edges = graph(&load());
    assert!(edges["handle/mod.rs"].contains("manager.rs"), "{edges:#?}");
    assert!(edges["extract.rs"].contains("request.rs"), "{edges:#?}");
    assert!(edges["error.rs"].contains("cart/error.rs"), "{edges:#?}");
    assert!(!edges["cart/error.rs"].contains("error.rs"), "{edges:#?}");
}

#[test]
fn no_file_of_src_over_600_lines() {
    let krate = load();
    let long: Vec<(String, usize)> = krate
        .modules
        .iter()
        .map(|m| (m.file.clone(), m.text.lines().count()))
        .filter(|(file, lines)| *lines > MAX_LINES && !LONG_FILES_ALLOWED.contains(&file.as_str()))
        .collect();
    assert!(long.is_empty(), "files over {MAX_LINES} lines: {long:?}");
}
