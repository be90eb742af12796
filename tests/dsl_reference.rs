//! Keeps the DSL reference (`docs/dsl.md`, rendered as `vle::_dsl`) in step with the code:
//!
//! - every compile-fail case `tests/ui/<case>.rs` is named in the reference as
//!   `` `tests/ui/<case>.rs` ``, and every case it names exists;
//! - the reserved names and prefixes it lists are exactly those the macro reserves. The tables
//!   (`vle_codegen::names::RESERVED` and `RESERVED_PREFIXES`) belong to `vle-codegen`, which is
//!   not a dependency of this package, so they are read from the source text of
//!   `vle-codegen/src` (`vle-codegen/tests/reserved_names.rs` compares the tables themselves).

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn read(path: &Path) -> String {
    fs::read_to_string(path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()))
}

fn reference() -> String {
    read(&root().join("docs/dsl.md"))
}

/// The code spans (`` `...` ``) of `text`, a paragraph (no code blocks), in order.
fn code_spans(text: &str) -> Vec<&str> {
    text.split('`').skip(1).step_by(2).collect()
}

/// The cases `name` that `text` names as `tests/ui/name.rs`.
fn named_cases(text: &str) -> BTreeSet<String> {
    text.match_indices("tests/ui/")
        .filter_map(|(at, prefix)| {
            let rest = &text[at + prefix.len()..];
            let end = rest
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .unwrap_or(rest.len());
            rest[end..]
                .starts_with(".rs")
                .then(|| rest[..end].to_owned())
        })
        .filter(|name| !name.is_empty())
        .collect()
}

#[test]
fn every_compile_fail_case_is_documented() {
    let doc = reference();
    let named = named_cases(&doc);
    let dir = root().join("tests/ui");
    let cases: BTreeSet<String> = fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("reading {}: {e}", dir.display()))
        .map(|entry| entry.expect("a directory entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "rs"))
        .map(|p| p.file_stem().unwrap().to_string_lossy().into_owned())
        .collect();
    assert!(
        !cases.is_empty(),
        "no compile-fail cases in {}",
        dir.display()
    );
    let undocumented: Vec<_> = cases.difference(&named).collect();
    assert!(
        undocumented.is_empty(),
        "docs/dsl.md does not name these compile-fail cases; describe each error class in its \
         \"Errors\" section with `tests/ui/<case>.rs`: {undocumented:?}"
    );
    let missing: Vec<_> = named.difference(&cases).collect();
    assert!(
        missing.is_empty(),
        "docs/dsl.md names compile-fail cases that do not exist in tests/ui: {missing:?}"
    );
}

/// The code spans of the paragraph of `doc` that starts with `marker` (up to the next blank
/// line).
fn documented_list(doc: &str, marker: &str) -> Vec<String> {
    let start = doc
        .find(&format!("\n{marker}"))
        .unwrap_or_else(|| panic!("docs/dsl.md has no paragraph starting with {marker:?}"));
    let rest = &doc[start + 1 + marker.len()..];
    let paragraph = &rest[..rest.find("\n\n").unwrap_or(rest.len())];
    code_spans(paragraph)
        .into_iter()
        .map(str::to_owned)
        .collect()
}

/// The string literals of `const NAME: &[&str] = &[...];` in the sources of `vle-codegen`.
fn code_list(name: &str) -> Vec<String> {
    let head = format!("const {name}: &[&str] = &[");
    let mut found = Vec::new();
    let mut files: Vec<PathBuf> = Vec::new();
    let mut dirs = vec![root().join("vle-codegen/src")];
    while let Some(dir) = dirs.pop() {
        for entry in fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
            let path = entry.expect("a directory entry").path();
            if path.is_dir() {
                dirs.push(path);
            } else if path.extension().is_some_and(|x| x == "rs") {
                files.push(path);
            }
        }
    }
    for file in files {
        let text = read(&file);
        if let Some(start) = text.find(&head) {
            let body = &text[start + head.len()..];
            let body = &body[..body.find("];").expect("the end of the table")];
            found.push(
                body.split('"')
                    .skip(1)
                    .step_by(2)
                    .map(str::to_owned)
                    .collect::<Vec<_>>(),
            );
        }
    }
    assert_eq!(
        found.len(),
        1,
        "expected exactly one `{head}` in vle-codegen/src"
    );
    found.pop().unwrap()
}

fn assert_same(what: &str, documented: Vec<String>, code: Vec<String>) {
    let doc_set: BTreeSet<&String> = documented.iter().collect();
    assert_eq!(
        doc_set.len(),
        documented.len(),
        "docs/dsl.md lists a reserved {what} twice: {documented:?}"
    );
    let code_set: BTreeSet<&String> = code.iter().collect();
    let only_doc: Vec<_> = doc_set.difference(&code_set).collect();
    let only_code: Vec<_> = code_set.difference(&doc_set).collect();
    assert!(
        only_doc.is_empty() && only_code.is_empty(),
        "the reserved {what} of docs/dsl.md differ from vle-codegen's: listed but not \
         reserved {only_doc:?}, reserved but not listed {only_code:?}"
    );
}

#[test]
fn reserved_names_match_the_code() {
    let doc = reference();
    assert_same(
        "names",
        documented_list(&doc, "Reserved names:"),
        code_list("RESERVED"),
    );
    assert_same(
        "prefixes",
        documented_list(&doc, "Reserved prefixes:"),
        code_list("RESERVED_PREFIXES"),
    );
}
