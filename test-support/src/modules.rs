//! The module graph of a crate, read from its source: every `crate::…` path in code (`use`
//! declarations and paths written out in place) is an edge from the module that writes it to the
//! module it names. The house checks run on it: no import cycle, and no layer importing a layer
//! above it.
//!
//! Edges are compared between siblings: a path from `flow::deploy` to `aws::stack` counts as
//! `flow` → `aws`, and one from `flow::deploy` to `flow::change_set` as `deploy` → `change_set`
//! inside `flow`. A module reaching into its own descendants or ancestors is not an edge (a parent
//! declares its children; a child may use what its parent holds). Test modules — files declared
//! `#[cfg(test)] mod x;` and the `#[cfg(test)] mod tests { … }` block at the bottom of a file —
//! and binaries under `bin/` are left out: they are not part of the library's layering.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// A module, as its path from the crate root (`flow::deploy`; the root is empty).
pub type Module = Vec<String>;

/// The modules of one crate and the sibling-level edges between them.
#[derive(Debug, Default)]
pub struct ModuleGraph {
    modules: BTreeSet<Module>,
    edges: BTreeMap<Module, BTreeSet<Module>>,
    /// Where each edge was seen first: `(from, to)` → the file and the path written.
    seen: BTreeMap<(Module, Module), (PathBuf, String)>,
}

/// `a::b` for a module path.
pub fn name(module: &[String]) -> String {
    module.join("::")
}

impl ModuleGraph {
    /// Reads every `.rs` file under `src` (a crate's `src/`).
    pub fn read(src: &Path) -> std::io::Result<Self> {
        let mut files = Vec::new();
        collect(src, &mut files)?;
        let mut sources = BTreeMap::new();
        for file in files {
            let relative = file.strip_prefix(src).unwrap_or(&file).to_path_buf();
            if relative.starts_with("bin") {
                continue;
            }
            sources.insert(
                module_of(&relative),
                (file.clone(), std::fs::read_to_string(&file)?),
            );
        }
        let test_only = test_modules(&sources);
        let mut graph = ModuleGraph {
            modules: sources
                .keys()
                .filter(|m| !test_only.iter().any(|t| m.starts_with(t)))
                .cloned()
                .collect(),
            ..ModuleGraph::default()
        };
        for (module, (file, text)) in &sources {
            if !graph.modules.contains(module) {
                continue;
            }
            for path in crate_paths(&code_of(text)) {
                let Some(target) = graph.resolve(&path) else {
                    continue;
                };
                graph.add(module, &target, file, &path.join("::"));
            }
        }
        Ok(graph)
    }

    /// The longest known module `path` starts with.
    fn resolve(&self, path: &[String]) -> Option<Module> {
        (1..=path.len())
            .rev()
            .map(|n| path[..n].to_vec())
            .find(|prefix| self.modules.contains(prefix))
    }

    fn add(&mut self, from: &Module, to: &Module, file: &Path, written: &str) {
        let shared = from.iter().zip(to).take_while(|(a, b)| a == b).count();
        if shared == from.len() || shared == to.len() {
            return;
        }
        let (a, b) = (from[..=shared].to_vec(), to[..=shared].to_vec());
        self.seen
            .entry((a.clone(), b.clone()))
            .or_insert_with(|| (file.to_path_buf(), format!("crate::{written}")));
        self.edges.entry(a).or_default().insert(b);
    }

    /// The modules each module imports from (siblings only).
    pub fn edges(&self) -> &BTreeMap<Module, BTreeSet<Module>> {
        &self.edges
    }

    /// Where the edge `from` → `to` was first written: the file and the path.
    pub fn witness(&self, from: &Module, to: &Module) -> Option<&(PathBuf, String)> {
        self.seen.get(&(from.clone(), to.clone()))
    }

    /// Every import cycle: each a set of sibling modules that reach each other (Tarjan's
    /// strongly connected components of more than one module).
    pub fn cycles(&self) -> Vec<Vec<Module>> {
        let nodes: Vec<&Module> = self.edges.keys().collect();
        let mut tarjan = Tarjan {
            graph: &self.edges,
            index: BTreeMap::new(),
            low: BTreeMap::new(),
            stack: Vec::new(),
            on_stack: BTreeSet::new(),
            next: 0,
            components: Vec::new(),
        };
        for node in nodes {
            if !tarjan.index.contains_key(node) {
                tarjan.visit(node);
            }
        }
        tarjan.components
    }

    /// The imports between top-level modules that go up `layers` (lowest first): `(from, to)`
    /// where `to`'s layer is above `from`'s. A top-level module in no layer is reported as
    /// `(module, [])`, so a new module has to be placed.
    pub fn upward_imports(&self, layers: &[&[&str]]) -> Vec<(Module, Module)> {
        let layer_of = |m: &Module| layers.iter().position(|l| l.contains(&m[0].as_str()));
        let mut out = Vec::new();
        for top in self.modules.iter().filter(|m| m.len() == 1) {
            if layer_of(top).is_none() {
                out.push((top.clone(), Vec::new()));
            }
        }
        for (from, tos) in self.edges.iter().filter(|(m, _)| m.len() == 1) {
            for to in tos {
                if let (Some(a), Some(b)) = (layer_of(from), layer_of(to))
                    && b > a
                {
                    out.push((from.clone(), to.clone()));
                }
            }
        }
        out
    }
}

struct Tarjan<'a> {
    graph: &'a BTreeMap<Module, BTreeSet<Module>>,
    index: BTreeMap<&'a Module, usize>,
    low: BTreeMap<&'a Module, usize>,
    stack: Vec<&'a Module>,
    on_stack: BTreeSet<&'a Module>,
    next: usize,
    components: Vec<Vec<Module>>,
}

impl<'a> Tarjan<'a> {
    fn visit(&mut self, node: &'a Module) {
        self.index.insert(node, self.next);
        self.low.insert(node, self.next);
        self.next += 1;
        self.stack.push(node);
        self.on_stack.insert(node);
        let graph = self.graph;
        for next in graph.get(node).into_iter().flatten() {
            if !self.index.contains_key(next) {
                self.visit(next);
                let low = self.low[node].min(self.low[next]);
                self.low.insert(node, low);
            } else if self.on_stack.contains(next) {
                let low = self.low[node].min(self.index[next]);
                self.low.insert(node, low);
            }
        }
        if self.low[node] == self.index[node] {
            let mut component = Vec::new();
            while let Some(member) = self.stack.pop() {
                self.on_stack.remove(member);
                component.push(member.clone());
                if member == node {
                    break;
                }
            }
            if component.len() > 1 {
                component.sort();
                self.components.push(component);
            }
        }
    }
}

fn collect(dir: &Path, files: &mut Vec<PathBuf>) -> std::io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if path.is_dir() {
            collect(&path, files)?;
        } else if path.extension().is_some_and(|e| e == "rs") {
            files.push(path);
        }
    }
    Ok(())
}

/// `flow/deploy.rs` and `flow/deploy/mod.rs` → `flow::deploy`; `lib.rs`, `main.rs` → the root.
fn module_of(relative: &Path) -> Module {
    let mut parts: Vec<String> = relative
        .with_extension("")
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    if matches!(
        parts.last().map(String::as_str),
        Some("mod" | "lib" | "main")
    ) {
        parts.pop();
    }
    parts
}

/// The modules declared `#[cfg(test)] mod name;` by their parent.
fn test_modules(sources: &BTreeMap<Module, (PathBuf, String)>) -> Vec<Module> {
    let mut out = Vec::new();
    for (module, (_, text)) in sources {
        let mut rest = text.as_str();
        while let Some(at) = rest.find("#[cfg(test)]") {
            rest = &rest[at + "#[cfg(test)]".len()..];
            let declaration = rest.trim_start();
            let declaration = declaration
                .strip_prefix("pub(crate) ")
                .or_else(|| declaration.strip_prefix("pub(super) "))
                .or_else(|| declaration.strip_prefix("pub "))
                .unwrap_or(declaration);
            if let Some(tail) = declaration.strip_prefix("mod ") {
                let name: String = tail
                    .chars()
                    .take_while(|c| c.is_alphanumeric() || *c == '_')
                    .collect();
                let after = tail[name.len()..].trim_start();
                if after.starts_with(';') {
                    let mut child = module.clone();
                    child.push(name);
                    out.push(child);
                }
            }
        }
    }
    out
}

/// The code of a file without comment lines and without the `#[cfg(test)] mod … { … }` block
/// (a file's tests sit at its bottom, so the code ends where the block starts).
fn code_of(text: &str) -> String {
    let mut code = String::new();
    let mut lines = text.lines().peekable();
    while let Some(line) = lines.next() {
        let trimmed = line.trim_start();
        if trimmed == "#[cfg(test)]"
            && lines.peek().is_some_and(|next| {
                let next = next.trim_start();
                next.starts_with("mod ") && next.trim_end().ends_with('{')
            })
        {
            break;
        }
        if trimmed.starts_with("//") {
            continue;
        }
        code.push_str(line);
        code.push('\n');
    }
    code
}

/// Every `crate::a::b` path in `code`, groups (`crate::{a, b::c}`) expanded to their first
/// segments.
fn crate_paths(code: &str) -> Vec<Vec<String>> {
    let ident = |s: &str| -> String {
        s.chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_')
            .collect()
    };
    let mut out = Vec::new();
    let mut rest = code;
    while let Some(at) = rest.find("crate::") {
        let before = rest[..at].chars().last();
        rest = &rest[at + "crate::".len()..];
        // `noteapp_runtime::…` and other crates' paths end in `_crate::` only by accident of
        // naming; a real `crate::` stands alone.
        if before.is_some_and(|c| c.is_alphanumeric() || c == '_') {
            continue;
        }
        if let Some(group) = rest.strip_prefix('{') {
            let end = group.find('}').unwrap_or(group.len());
            for item in group[..end].split(',') {
                let first: Vec<String> = item
                    .trim()
                    .split("::")
                    .map(ident)
                    .take_while(|s| !s.is_empty())
                    .collect();
                if !first.is_empty() {
                    out.push(first);
                }
            }
            continue;
        }
        let mut path = Vec::new();
        let mut tail = rest;
        loop {
            let segment = ident(tail);
            if segment.is_empty() {
                break;
            }
            tail = &tail[segment.len()..];
            path.push(segment);
            match tail.strip_prefix("::") {
                Some(next) if !next.starts_with('{') => tail = next,
                _ => break,
            }
        }
        if !path.is_empty() {
            out.push(path);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(parts: &[&str]) -> Module {
        parts.iter().map(|s| s.to_string()).collect()
    }

    fn graph(files: &[(&str, &str)]) -> ModuleGraph {
        let dir = tempfile::tempdir().unwrap();
        for (path, text) in files {
            let path = dir.path().join(path);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, text).unwrap();
        }
        ModuleGraph::read(dir.path()).unwrap()
    }

    #[test]
    fn paths_are_read_from_uses_groups_and_code_but_not_comments_or_tests() {
        let code = "use crate::a::b;\nuse crate::{c, d::e};\n// crate::f\nfn x() { crate::g::h(); noteapp_crate::i(); }\n";
        let paths: Vec<String> = crate_paths(&code_of(code))
            .iter()
            .map(|p| p.join("::"))
            .collect();
        assert_eq!(paths, ["a::b", "c", "d::e", "g::h"]);
        let with_tests = "use crate::a;\n#[cfg(test)]\nmod tests {\n    use crate::b;\n}\n";
        assert_eq!(crate_paths(&code_of(with_tests)), vec![strings(&["a"])]);
    }

    #[test]
    fn a_cycle_between_siblings_is_found_and_a_parent_child_use_is_not() {
        let g = graph(&[
            ("lib.rs", "pub mod a; pub mod b; pub mod c;"),
            ("a/mod.rs", "pub mod x; use crate::b::thing;"),
            ("a/x.rs", "use crate::a::Parent;"),
            ("b.rs", "use crate::c::other;"),
            ("c.rs", "use crate::a::x::deep;"),
        ]);
        assert_eq!(
            g.cycles(),
            vec![vec![strings(&["a"]), strings(&["b"]), strings(&["c"])]]
        );
        let layers: &[&[&str]] = &[&["c"], &["b"], &["a"]];
        assert_eq!(
            g.upward_imports(layers),
            vec![(strings(&["c"]), strings(&["a"]))]
        );
    }

    #[test]
    fn test_modules_declared_by_their_parent_are_left_out() {
        let g = graph(&[
            ("lib.rs", "pub mod a; pub mod b;"),
            ("a.rs", "use crate::b::x;\n#[cfg(test)]\nmod tests;"),
            ("a/tests.rs", "use crate::b::y;"),
            ("b.rs", "#[cfg(test)]\nmod checks;"),
            ("b/checks.rs", "use crate::a::z;"),
        ]);
        assert!(g.cycles().is_empty(), "{:?}", g.edges());
        assert_eq!(g.edges().len(), 1);
    }

    /// The layers of each crate, lowest first: a module may import from its own layer and the
    /// ones below, never from one above, and never in a cycle.
    const RUNTIME_LAYERS: &[&[&str]] = &[
        &["domain", "functions", "release_shift"],
        &[
            "store", "settings", "aws_http", "logging", "config", "auth", "metrics",
        ],
        &["api", "ws", "guard"],
        &["local"],
    ];
    const DEPLOYER_LAYERS: &[&[&str]] = &[
        &["config", "plan", "release", "policy", "template"],
        &["error", "output", "progress", "interrupt", "clock"],
        &["aws"],
        &["image", "smoke"],
        &["flow"],
        &["commands", "cli"],
    ];

    #[test]
    fn the_runtime_and_the_deployer_have_no_import_cycle_and_no_upward_import() {
        for (krate, layers) in [("runtime", RUNTIME_LAYERS), ("deployer", DEPLOYER_LAYERS)] {
            let g = ModuleGraph::read(&crate::workspace().join(krate).join("src")).unwrap();
            let explain = |from: &Module, to: &Module| match g.witness(from, to) {
                Some((file, path)) => format!("{}: {path}", file.display()),
                None => "a module in no layer: add it to the layers".to_owned(),
            };
            let cycles: Vec<String> = g
                .cycles()
                .iter()
                .map(|cycle| {
                    let names: Vec<String> = cycle.iter().map(|m| name(m)).collect();
                    let edges: Vec<String> = cycle
                        .iter()
                        .flat_map(|a| cycle.iter().map(move |b| (a, b)))
                        .filter(|(a, b)| g.edges().get(*a).is_some_and(|to| to.contains(*b)))
                        .map(|(a, b)| format!("  {} → {} ({})", name(a), name(b), explain(a, b)))
                        .collect();
                    format!("{}\n{}", names.join(" ↔ "), edges.join("\n"))
                })
                .collect();
            assert!(
                cycles.is_empty(),
                "{krate}: import cycles:\n{}",
                cycles.join("\n")
            );
            let upward: Vec<String> = g
                .upward_imports(layers)
                .iter()
                .map(|(a, b)| format!("  {} → {} ({})", name(a), name(b), explain(a, b)))
                .collect();
            assert!(
                upward.is_empty(),
                "{krate}: imports up the layers:\n{}",
                upward.join("\n")
            );
        }
    }
}
