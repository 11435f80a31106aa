//! Tidy checks over the workspace's Rust sources: every file opens with its
//! `//!` module doc (what it is for, read before its code), and no source
//! file's non-test code grows past [`MAX_LINES`] (split it by purpose first).
//! Reads files only; no server is started.

use std::path::{Path, PathBuf};

/// The most lines a source file's code may have, its `#[cfg(test)]` tail
/// not counted.
const MAX_LINES: usize = 900;

/// The workspace root, two levels above this crate's manifest.
fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .nth(2)
        .expect("crates/missive-server lies two levels below the workspace root")
        .to_owned()
}

/// Every `.rs` file under `dir`, recursively.
fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries {
        let path = entry.expect("directory entry").path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// Every crate's sources (`src/`, `tests/`, `build.rs`), sorted.
fn workspace_sources() -> Vec<PathBuf> {
    let crates = workspace_root().join("crates");
    let mut files = Vec::new();
    for krate in std::fs::read_dir(&crates).expect("read crates/") {
        let krate = krate.expect("crate entry").path();
        rust_files(&krate.join("src"), &mut files);
        rust_files(&krate.join("tests"), &mut files);
        let build = krate.join("build.rs");
        if build.is_file() {
            files.push(build);
        }
    }
    files.sort();
    assert!(
        files.len() > 50,
        "found only {} source files under {}: is the walk broken?",
        files.len(),
        crates.display()
    );
    files
}

fn relative(path: &Path) -> String {
    path.strip_prefix(workspace_root())
        .unwrap_or(path)
        .display()
        .to_string()
}

/// Whether the file's first line is a `//!` doc.
fn has_module_doc(text: &str) -> bool {
    text.lines()
        .next()
        .is_some_and(|first| first.starts_with("//!"))
}

#[test]
fn every_source_file_opens_with_its_module_doc() {
    let missing: Vec<String> = workspace_sources()
        .into_iter()
        .filter(|path| {
            let text = std::fs::read_to_string(path).expect("read source file");
            !has_module_doc(&text)
        })
        .map(|path| relative(&path))
        .collect();
    assert!(
        missing.is_empty(),
        "these files do not open with a `//!` module doc saying what they are for:\n  {}",
        missing.join("\n  ")
    );
}

/// Lines of code before the file's `#[cfg(test)]` module, if it has one.
fn code_lines(text: &str) -> usize {
    text.lines()
        .take_while(|line| !line.starts_with("#[cfg(test)]"))
        .count()
}

#[test]
fn no_source_file_outgrows_one_purpose() {
    let mut src = Vec::new();
    for krate in std::fs::read_dir(workspace_root().join("crates")).expect("read crates/") {
        rust_files(&krate.expect("crate entry").path().join("src"), &mut src);
    }
    let too_long: Vec<String> = src
        .into_iter()
        .filter_map(|path| {
            let text = std::fs::read_to_string(&path).expect("read source file");
            let lines = code_lines(&text);
            (lines > MAX_LINES).then(|| format!("{} ({lines} lines)", relative(&path)))
        })
        .collect();
    assert!(
        too_long.is_empty(),
        "these files have more than {MAX_LINES} lines of non-test code; split them by purpose:\n  {}",
        too_long.join("\n  ")
    );
}

#[test]
fn the_line_count_stops_at_the_test_module() {
    let text = "//! doc\nfn a() {}\n\n#[cfg(test)]\nmod tests {\n    fn b() {}\n}\n";
    assert_eq!(code_lines(text), 3);
}
