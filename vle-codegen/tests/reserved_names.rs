//! The name tables of `vle_codegen::names` — what the error messages list — are exactly what the
//! DSL reference (`docs/dsl.md`, "Reserved names") lists, in the same order.

use std::path::Path;

use vle_codegen::names::{BUILTIN_FUNCTIONS, ENERGY_FUNCTIONS, RESERVED, RESERVED_PREFIXES};

fn reference() -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/dsl.md");
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()))
}

/// The code spans (`` `...` ``) of the paragraph of `doc` that starts with `marker`.
fn listed(doc: &str, marker: &str) -> Vec<String> {
    let start = doc
        .find(&format!("\n{marker}"))
        .unwrap_or_else(|| panic!("docs/dsl.md has no paragraph starting with {marker:?}"));
    let rest = &doc[start + 1 + marker.len()..];
    let paragraph = &rest[..rest.find("\n\n").unwrap_or(rest.len())];
    paragraph
        .split('`')
        .skip(1)
        .step_by(2)
        .map(str::to_owned)
        .collect()
}

#[test]
fn the_reference_lists_the_tables() {
    let doc = reference();
    for (marker, table) in [
        ("Reserved names:", RESERVED),
        ("Reserved prefixes:", RESERVED_PREFIXES),
        ("Built-in function names:", BUILTIN_FUNCTIONS),
        ("Energy function names:", ENERGY_FUNCTIONS),
    ] {
        assert_eq!(
            listed(&doc, marker),
            table,
            "docs/dsl.md's {marker:?} differs from vle_codegen::names"
        );
    }
}
