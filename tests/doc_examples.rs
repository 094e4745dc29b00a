//! Every code example in the rustdoc and the README must compile in a user's crate
//! that depends on `engineio` alone. Doc tests cannot check that by themselves (they
//! see every dependency and dev-dependency of this crate), so this test reads each
//! example and refuses any path into a crate of ours other than through `engineio`
//! (`engineio::http::Response`, not `http::Response`).

use std::fs;
use std::path::{Path, PathBuf};

/// The crates this one depends on (and its dev-dependencies), as paths name them.
fn dependency_crates(root: &Path) -> Vec<String> {
    let manifest = fs::read_to_string(root.join("Cargo.toml")).unwrap();
    let mut crates = Vec::new();
    let mut in_deps = false;
    for line in manifest.lines() {
        let line = line.trim();
        if line.starts_with('[') {
            in_deps = line == "[dependencies]" || line == "[dev-dependencies]";
            continue;
        }
        if in_deps {
            if let Some((name, _)) = line.split_once('=') {
                let name = name.trim();
                if !name.is_empty() && !name.starts_with('#') {
                    crates.push(name.replace('-', "_"));
                }
            }
        }
    }
    assert!(crates.contains(&"http".to_string()), "{crates:?}");
    crates
}

/// The code examples of a Rust source file's doc comments, with their first line.
fn rust_doc_examples(text: &str) -> Vec<(usize, String)> {
    let mut examples = Vec::new();
    let mut current: Option<(usize, String)> = None;
    for (i, line) in text.lines().enumerate() {
        let trimmed = line.trim_start();
        let doc = trimmed
            .strip_prefix("///")
            .or_else(|| trimmed.strip_prefix("//!"));
        let Some(doc) = doc else {
            if let Some(ex) = current.take() {
                examples.push(ex);
            }
            continue;
        };
        let doc = doc.strip_prefix(' ').unwrap_or(doc);
        if doc.trim_start().starts_with("```") {
            match current.take() {
                Some(ex) => examples.push(ex),
                None => {
                    let lang = doc.trim_start().trim_start_matches('`');
                    if lang.is_empty()
                        || lang.starts_with("rust")
                        || lang.starts_with("no_run")
                        || lang.starts_with("should_panic")
                        || lang.starts_with("ignore")
                        || lang.starts_with("compile_fail")
                    {
                        current = Some((i + 1, String::new()));
                    }
                }
            }
            continue;
        }
        if let Some((_, code)) = current.as_mut() {
            code.push_str(doc);
            code.push('\n');
        }
    }
    examples
}

/// The ```rust blocks of a Markdown file.
fn markdown_examples(text: &str) -> Vec<(usize, String)> {
    let mut examples = Vec::new();
    let mut current: Option<(usize, String)> = None;
    for (i, line) in text.lines().enumerate() {
        if line.starts_with("```") {
            match current.take() {
                Some(ex) => examples.push(ex),
                None if line.starts_with("```rust") => current = Some((i + 1, String::new())),
                None => {}
            }
            continue;
        }
        if let Some((_, code)) = current.as_mut() {
            code.push_str(line);
            code.push('\n');
        }
    }
    examples
}

/// The dependency crates that `code` names directly (not through `engineio::`).
fn direct_uses(code: &str, crates: &[String]) -> Vec<String> {
    let mut found = Vec::new();
    for name in crates {
        for pattern in [format!("{name}::"), format!("use {name}")] {
            let mut from = 0;
            while let Some(at) = code[from..].find(&pattern) {
                let start = from + at;
                from = start + pattern.len();
                if pattern.starts_with("use ") {
                    let after = code[from..].chars().next();
                    if matches!(after, Some(c) if c.is_alphanumeric() || c == '_') {
                        continue;
                    }
                    found.push(name.clone());
                    continue;
                }
                let before = code[..start].chars().next_back();
                // `engineio::http::…`, `foo_http::…` and `x.http::` are not direct.
                if matches!(before, Some(c) if c.is_alphanumeric() || c == '_' || c == ':' || c == '.')
                {
                    continue;
                }
                found.push(name.clone());
            }
        }
    }
    found
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

#[test]
fn examples_name_only_engineio_and_std() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let crates = dependency_crates(root);
    let mut files = Vec::new();
    rust_files(&root.join("src"), &mut files);
    let mut problems = Vec::new();
    let mut checked = 0;
    for file in &files {
        let text = fs::read_to_string(file).unwrap();
        for (line, code) in rust_doc_examples(&text) {
            checked += 1;
            for name in direct_uses(&code, &crates) {
                problems.push(format!("{}:{line}: uses `{name}` directly", file.display()));
            }
        }
    }
    let readme = fs::read_to_string(root.join("README.md")).unwrap();
    for (line, code) in markdown_examples(&readme) {
        checked += 1;
        for name in direct_uses(&code, &crates) {
            problems.push(format!("README.md:{line}: uses `{name}` directly"));
        }
    }
    assert!(
        checked > 50,
        "only {checked} examples found: is the scan broken?"
    );
    assert!(
        problems.is_empty(),
        "examples a user's crate could not compile (name the crate through `engineio::`):\n{}",
        problems.join("\n")
    );
}

#[test]
fn the_scan_finds_direct_uses() {
    let crates = vec!["http".to_string(), "serde_json".to_string()];
    assert_eq!(
        direct_uses("let r = http::Response::new(());", &crates),
        ["http"]
    );
    assert_eq!(direct_uses("use serde_json;\n", &crates), ["serde_json"]);
    assert!(direct_uses("let r = engineio::http::Response::new(());", &crates).is_empty());
    assert!(direct_uses("use https_thing::X;", &crates).is_empty());
    let doc = "/// ```\n/// let v = serde_json::json!(1);\n/// ```\nfn f() {}\n";
    let examples = rust_doc_examples(doc);
    assert_eq!(examples.len(), 1);
    assert_eq!(direct_uses(&examples[0].1, &crates), ["serde_json"]);
    let text_block = "/// ```text\n/// http::x\n/// ```\n";
    assert!(rust_doc_examples(text_block).is_empty());
}
