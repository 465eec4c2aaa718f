//! The shape of `src/`: imports run one way, and no two modules import each other,
//! directly or around a circle.
//!
//! The module graph is built from the `use crate::…` lines of every file under `src/`
//! (`use iam_password_rotation::…` in `main.rs`), one node per file: `src/a/mod.rs`
//! and `src/a.rs` are module `a`, `src/a/b.rs` is `a::b`, `src/lib.rs` is the crate
//! root. An import names the deepest module that exists along its path, and a name
//! the module only re-exports (`pub use`) is followed to where it is defined. A module
//! and its own children and parents are one family, not a dependency (a use's
//! `mod.rs` declares its files and they use its types), except the crate root, which
//! is a module like the others here: what `lib.rs` dispatches to may not import it back.
//!
//! Run `cargo test --test architecture -- --nocapture` to see the layers.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

type Module = Vec<String>;

/// Every `.rs` file under `dir`.
fn sources(dir: &Path, found: &mut Vec<PathBuf>) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            sources(&path, found);
        } else if path.extension().is_some_and(|e| e == "rs") {
            found.push(path);
        }
    }
}

/// The module a file is (`main.rs` is `["main"]`, outside the library).
fn module_of(src: &Path, file: &Path) -> Module {
    let relative = file.strip_prefix(src).expect("under src");
    let mut parts: Vec<String> = relative
        .iter()
        .map(|p| p.to_string_lossy().into_owned())
        .collect();
    let last = parts.pop().expect("a file name");
    match last.as_str() {
        "lib.rs" if parts.is_empty() => {}
        "main.rs" if parts.is_empty() => parts.push("main".into()),
        "mod.rs" => {}
        other => parts.push(other.trim_end_matches(".rs").to_owned()),
    }
    parts
}

fn name(module: &[String]) -> String {
    if module.is_empty() {
        "crate (lib.rs)".into()
    } else {
        module.join("::")
    }
}

/// The text of a file without comments (a doc comment may quote `use crate::…`) and
/// without `#[cfg(test)]` modules (tests may reach anywhere).
fn code(text: &str) -> String {
    let mut kept = String::new();
    let mut skip_depth: Option<usize> = None;
    let mut depth = 0usize;
    let mut pending_cfg_test = false;
    for line in text.lines() {
        let trimmed = line.trim_start();
        if trimmed.starts_with("//") {
            continue;
        }
        if trimmed.starts_with("#[cfg(test)]") {
            pending_cfg_test = true;
            continue;
        }
        let opens = line.matches('{').count();
        let closes = line.matches('}').count();
        if pending_cfg_test {
            pending_cfg_test = false;
            if trimmed.contains("mod ") && !trimmed.ends_with(';') {
                skip_depth = Some(depth);
            }
            if trimmed.contains("mod ") || trimmed.starts_with("use ") {
                depth = depth + opens - closes.min(depth + opens);
                continue;
            }
        }
        let before = depth;
        depth = (depth + opens).saturating_sub(closes);
        if let Some(level) = skip_depth {
            if depth <= level && before > level {
                skip_depth = None;
            }
            continue;
        }
        kept.push_str(line);
        kept.push('\n');
    }
    kept
}

/// The paths (`a::b::C`) of every `use` statement in `text`, and whether it is `pub`.
fn use_paths(text: &str) -> Vec<(Vec<String>, bool)> {
    let mut paths = Vec::new();
    let mut rest = text;
    while let Some(at) = rest.find("use ") {
        let before = &rest[..at];
        let line_start = before.rfind('\n').map_or(0, |i| i + 1);
        let prefix = before[line_start..].trim();
        let after = &rest[at + 4..];
        let Some(end) = after.find(';') else { break };
        let tree = &after[..end];
        rest = &after[end..];
        // Only statements: `use` at the start of a line, maybe after `pub` or `pub(crate)`.
        if !(prefix.is_empty() || prefix.starts_with("pub")) {
            continue;
        }
        let public = prefix.starts_with("pub");
        for path in expand(&without_spaces(tree)) {
            paths.push((path, public));
        }
    }
    paths
}

/// A use tree without white space, `X as Y` kept apart as `X@Y`.
fn without_spaces(tree: &str) -> String {
    tree.split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .replace(" as ", "@")
        .replace(' ', "")
}

/// Expands a use tree (`a::{b, c::{d, e}}`) into its paths.
fn expand(tree: &str) -> Vec<Vec<String>> {
    let Some(open) = tree.find('{') else {
        let path: Vec<String> = tree
            .split("::")
            .map(|s| s.split('@').next().unwrap_or(s).to_owned())
            .filter(|s| !s.is_empty() && s != "self" && s != "*")
            .collect();
        return vec![path];
    };
    let head: Vec<String> = tree[..open]
        .split("::")
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect();
    let inner = &tree[open + 1..tree.rfind('}').unwrap_or(tree.len())];
    let mut parts = Vec::new();
    let (mut depth, mut start) = (0, 0);
    for (i, c) in inner.char_indices() {
        match c {
            '{' => depth += 1,
            '}' => depth -= 1,
            ',' if depth == 0 => {
                parts.push(&inner[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(&inner[start..]);
    parts
        .into_iter()
        .filter(|p| !p.is_empty())
        .flat_map(|part| {
            expand(part).into_iter().map(|tail| {
                let mut path = head.clone();
                path.extend(tail);
                path
            })
        })
        .collect()
}

/// An import path made absolute (`crate::`, `super::`, `self::`, a child module, or
/// `iam_password_rotation::` in `main.rs`); `None` for another crate's path.
fn absolute(module: &[String], path: &[String], modules: &BTreeSet<Module>) -> Option<Module> {
    let first = path.first()?;
    let mut base: Module = match first.as_str() {
        "crate" | "iam_password_rotation" => Vec::new(),
        "self" => module.to_vec(),
        "super" => {
            let mut base = module.to_vec();
            let mut rest = path;
            while rest.first().is_some_and(|s| s == "super") {
                base.pop();
                rest = &rest[1..];
            }
            base.extend(rest.iter().cloned());
            return Some(base);
        }
        child => {
            let mut candidate = if module == ["main".to_owned()] {
                Vec::new()
            } else {
                module.to_vec()
            };
            candidate.push(child.to_owned());
            if !modules.contains(&candidate) {
                return None;
            }
            candidate.pop();
            candidate
        }
    };
    let skip = usize::from(matches!(
        first.as_str(),
        "crate" | "iam_password_rotation" | "self"
    ));
    base.extend(path[skip..].iter().cloned());
    Some(base)
}

/// The module graph, one node per file: for each module, the modules it imports from.
fn graph() -> BTreeMap<Module, BTreeSet<Module>> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    sources(&src, &mut files);
    let texts: BTreeMap<Module, String> = files
        .iter()
        .map(|f| {
            let text = fs::read_to_string(f).expect("readable source");
            (module_of(&src, f), code(&text))
        })
        .collect();
    let modules: BTreeSet<Module> = texts.keys().cloned().collect();
    let imports: BTreeMap<Module, Vec<(Module, bool)>> = texts
        .iter()
        .map(|(module, text)| {
            let paths = use_paths(text)
                .into_iter()
                .filter_map(|(path, public)| {
                    absolute(module, &path, &modules).map(|path| (path, public))
                })
                .collect();
            (module.clone(), paths)
        })
        .collect();
    // What each module re-exports: (module, name) -> the full path it stands for.
    let mut reexports: BTreeMap<(Module, String), Module> = BTreeMap::new();
    for (module, paths) in &imports {
        for (path, public) in paths {
            if let (true, Some(last)) = (public, path.last()) {
                reexports.insert((module.clone(), last.clone()), path.clone());
            }
        }
    }
    let resolve = |path: &[String]| -> Module {
        let mut path = path.to_vec();
        for _ in 0..8 {
            let mut module: Module = Vec::new();
            for i in 0..path.len() {
                if modules.contains(&path[..=i]) {
                    module = path[..=i].to_vec();
                }
            }
            match path.get(module.len()) {
                Some(next) => match reexports.get(&(module.clone(), next.clone())) {
                    Some(target) if target != &path => path = target.clone(),
                    _ => return module,
                },
                None => return module,
            }
        }
        path
    };
    let mut graph: BTreeMap<Module, BTreeSet<Module>> = BTreeMap::new();
    for (module, paths) in &imports {
        let edges = graph.entry(module.clone()).or_default();
        for (path, _) in paths {
            let target = resolve(path);
            if target != *module {
                edges.insert(target);
            }
        }
    }
    graph
}

/// Whether one module is the other's parent or child (a file of a use and its `mod.rs`).
fn family(a: &[String], b: &[String]) -> bool {
    !a.is_empty() && !b.is_empty() && (a.starts_with(b) || b.starts_with(a))
}

/// The graph between the crate root and the top-level modules (`rotation`, `reset`, ...).
fn top_level(graph: &BTreeMap<Module, BTreeSet<Module>>) -> BTreeMap<Module, BTreeSet<Module>> {
    let top = |m: &Module| m.iter().take(1).cloned().collect::<Module>();
    let mut collapsed: BTreeMap<Module, BTreeSet<Module>> = BTreeMap::new();
    for (from, edges) in graph {
        let entry = collapsed.entry(top(from)).or_default();
        for to in edges {
            if top(to) != top(from) {
                entry.insert(top(to));
            }
        }
    }
    collapsed
}

/// The graph between the files of one top-level module, parents and children aside.
fn within(graph: &BTreeMap<Module, BTreeSet<Module>>) -> BTreeMap<Module, BTreeSet<Module>> {
    graph
        .iter()
        .map(|(from, edges)| {
            let kept = edges
                .iter()
                .filter(|to| to.first() == from.first() && !to.is_empty() && !family(from, to))
                .cloned()
                .collect();
            (from.clone(), kept)
        })
        .collect()
}

/// Strongly connected components of more than one module (Tarjan).
fn circles(graph: &BTreeMap<Module, BTreeSet<Module>>) -> Vec<Vec<Module>> {
    struct State<'a> {
        graph: &'a BTreeMap<Module, BTreeSet<Module>>,
        index: BTreeMap<&'a Module, usize>,
        low: BTreeMap<&'a Module, usize>,
        stack: Vec<&'a Module>,
        on_stack: BTreeSet<&'a Module>,
        found: Vec<Vec<Module>>,
    }
    fn visit<'a>(s: &mut State<'a>, v: &'a Module) {
        let n = s.index.len();
        s.index.insert(v, n);
        s.low.insert(v, n);
        s.stack.push(v);
        s.on_stack.insert(v);
        let graph = s.graph;
        for w in graph.get(v).into_iter().flatten() {
            let Some((w, _)) = graph.get_key_value(w) else {
                continue;
            };
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
                component.push(w.clone());
                if w == v {
                    break;
                }
            }
            if component.len() > 1 {
                s.found.push(component);
            }
        }
    }
    let mut state = State {
        graph,
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: Vec::new(),
        on_stack: BTreeSet::new(),
        found: Vec::new(),
    };
    for v in graph.keys() {
        if !state.index.contains_key(v) {
            visit(&mut state, v);
        }
    }
    state.found
}

/// Layer 0 imports nothing of the crate; layer n imports only from layers below n.
fn layers(graph: &BTreeMap<Module, BTreeSet<Module>>) -> BTreeMap<usize, Vec<String>> {
    let mut layer: BTreeMap<&Module, usize> = BTreeMap::new();
    while layer.len() < graph.len() {
        let before = layer.len();
        for (module, edges) in graph {
            if layer.contains_key(module) {
                continue;
            }
            let below: Option<Vec<usize>> = edges
                .iter()
                .filter(|e| graph.contains_key(*e))
                .map(|e| layer.get(e).copied())
                .collect();
            if let Some(below) = below {
                layer.insert(module, below.into_iter().map(|l| l + 1).max().unwrap_or(0));
            }
        }
        if layer.len() == before {
            break;
        }
    }
    let mut by_layer: BTreeMap<usize, Vec<String>> = BTreeMap::new();
    for (module, l) in layer {
        by_layer.entry(l).or_default().push(name(module));
    }
    by_layer
}

fn describe(graph: &BTreeMap<Module, BTreeSet<Module>>, circle: &[Module]) -> String {
    let members: BTreeSet<&Module> = circle.iter().collect();
    circle
        .iter()
        .flat_map(|from| {
            graph[from]
                .iter()
                .filter(|to| members.contains(to))
                .map(move |to| format!("{} -> {}", name(from), name(to)))
        })
        .collect::<Vec<_>>()
        .join(", ")
}

#[test]
fn no_two_modules_of_src_import_each_other_directly_or_around_a_circle() {
    let files = graph();
    assert!(files.len() > 10, "the graph found the modules of src/");
    let top = top_level(&files);
    let inner = within(&files);
    let found: Vec<String> = circles(&top)
        .iter()
        .map(|c| describe(&top, c))
        .chain(circles(&inner).iter().map(|c| describe(&inner, c)))
        .collect();
    assert!(
        found.is_empty(),
        "import circles in src/: {}",
        found.join("; ")
    );
    for (layer, modules) in layers(&top).iter().rev() {
        println!("layer {layer}: {}", modules.join(", "));
    }
}

#[test]
fn the_adapters_and_the_uses_never_import_the_composition_root() {
    let graph = top_level(&graph());
    let root: Module = vec!["app".into()];
    for (module, edges) in &graph {
        let is_adapter_or_use = ["adapters", "rotation", "reset", "audit", "accounts"]
            .iter()
            .any(|top| module.first().is_some_and(|m| m == top));
        if is_adapter_or_use {
            assert!(
                !edges.contains(&root),
                "{} imports the composition root",
                name(module)
            );
        }
    }
}

#[test]
fn a_use_tree_expands_into_every_path_it_names() {
    assert_eq!(
        expand("a::{b,c::{d,e},f}"),
        vec![
            vec!["a", "b"],
            vec!["a", "c", "d"],
            vec!["a", "c", "e"],
            vec!["a", "f"]
        ]
    );
    let graph: BTreeMap<Module, BTreeSet<Module>> = [
        (vec!["a".to_owned()], BTreeSet::from([vec!["b".to_owned()]])),
        (vec!["b".to_owned()], BTreeSet::from([vec!["a".to_owned()]])),
        (vec!["c".to_owned()], BTreeSet::new()),
    ]
    .into_iter()
    .collect();
    assert_eq!(circles(&graph).len(), 1, "a two-module circle is found");
}
