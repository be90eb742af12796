//! README's "Use vle in your own crate" and the CI guide (`docs/verify_in_ci.md`) show the files
//! of `tests/user_crate/`, which `cargo test --workspace` builds and tests; this keeps the shown
//! copies equal to them, and the dependency line equal to the workspace's version.

use std::fs;
use std::path::Path;

fn read(relative: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(relative);
    fs::read_to_string(&path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()))
}

/// The fenced code blocks of `markdown` after the heading `section` and before the next `## `
/// heading: (info string, body).
fn blocks(markdown: &str, section: &str) -> Vec<(String, String)> {
    let start = markdown
        .find(section)
        .unwrap_or_else(|| panic!("no section {section:?}"));
    let rest = &markdown[start + section.len()..];
    let rest = &rest[..rest.find("\n## ").unwrap_or(rest.len())];
    let mut out = Vec::new();
    let mut lines = rest.lines();
    while let Some(line) = lines.next() {
        if let Some(info) = line.strip_prefix("```") {
            let body: Vec<&str> = lines.by_ref().take_while(|l| *l != "```").collect();
            out.push((info.to_owned(), body.join("\n")));
        }
    }
    out
}

fn assert_same(shown: &str, file: &str, what: &str) {
    let actual = read(file);
    let actual = actual.trim_end();
    if shown.trim_end() != actual {
        let line = shown
            .lines()
            .zip(actual.lines())
            .position(|(a, b)| a != b)
            .unwrap_or(shown.lines().count().min(actual.lines().count()));
        panic!(
            "{what} differs from {file} at line {}:\n  shown: {:?}\n  file:  {:?}\n\
             Update both together.",
            line + 1,
            shown.lines().nth(line),
            actual.lines().nth(line)
        );
    }
}

/// `0.1.0` → `"0.1"`: the requirement a user writes for this release.
fn version_requirement() -> String {
    let manifest = read("Cargo.toml");
    let line = manifest
        .lines()
        .find(|l| l.starts_with("version = "))
        .expect("a workspace version in Cargo.toml");
    let version = line.trim_start_matches("version = ").trim_matches('"');
    let parts: Vec<&str> = version.split('.').collect();
    format!("\"{}.{}\"", parts[0], parts[1])
}

#[test]
fn readme_shows_the_user_crate() {
    let readme = read("README.md");
    let shown = blocks(&readme, "## Use vle in your own crate");
    let infos: Vec<&str> = shown.iter().map(|(i, _)| i.as_str()).collect();
    assert_eq!(
        infos,
        ["toml", "rust", "rust,ignore"],
        "README's section: Cargo.toml, src/lib.rs, tests/gradients.rs"
    );
    assert_eq!(
        shown[0].1,
        format!("[dependencies]\nvle = {}", version_requirement()),
        "README's dependency line must name this release"
    );
    let manifest = read("tests/user_crate/Cargo.toml");
    assert!(
        manifest.contains("[dependencies]\nvle = { path = \"../..\" }"),
        "tests/user_crate depends on vle by path (the README by version)"
    );
    assert_same(
        &shown[1].1,
        "tests/user_crate/src/lib.rs",
        "README's src/lib.rs",
    );
    assert_same(
        &shown[2].1,
        "tests/user_crate/tests/gradients.rs",
        "README's tests/gradients.rs",
    );
}

#[test]
fn ci_guide_shows_the_user_crates_test() {
    let guide = read("docs/verify_in_ci.md");
    let shown = blocks(&guide, "## The test file");
    assert_eq!(shown[0].0, "rust,ignore");
    assert_same(
        &shown[0].1,
        "tests/user_crate/tests/gradients.rs",
        "docs/verify_in_ci.md's test file",
    );
}
