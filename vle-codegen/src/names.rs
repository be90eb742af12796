//! The names of the DSL: the tables of reserved and built-in names (the error messages and
//! `docs/dsl.md` list these very tables; a test compares them), and the checks that every name
//! is declared once, in one role: a neuron's parameters, activations, states and definitions, the
//! `fn`s and their parameters, the built-in functions, the input and the layers.
//!
//! A name declared twice is reported once, on its second declaration (in source order).

use std::collections::HashMap;

use syn::Ident;

use crate::ast::{FnDecl, Model, NeuronDecl, Role};

/// Names the generated kernels use for their own locals and slices: a neuron may not declare
/// them (they would alias or be shadowed).
pub const RESERVED: &[&str] = &[
    "input",
    "d",
    "dt",
    "p",
    "beta",
    "gamma",
    "target",
    "params",
    "state",
    "local",
    "grad",
    "adj",
    "adj_next",
    "adj_prev",
    "x",
    "y",
    "c",
    "dc",
    "costate",
    "dcostate",
    "errors",
    "grad_density",
    "scale",
    "i",
    "j",
    "loss",
    "dloss",
    "r_out",
    "r_out_dp",
    "eps_i",
    "T",
    "y_total",
    "log_norm",
    "norm",
    "r_max",
    "diff",
    "g_r",
];

/// Prefixes of the symbols derived from a neuron's names (`d_u` is d(u), `v_u` the error
/// neuron's state, ...): a neuron may not declare a name that starts with one.
pub const RESERVED_PREFIXES: &[&str] = &[
    "d_", "v_", "adj_", "costate_", "lam_", "rate_", "g_r_", "g_rec_", "grad_", "next_", "row_",
];

/// The built-in functions that neurons, `fn`s and `sum(...)` losses call (`d(u)` aside, which
/// is no function of a value). A neuron name, a `fn` or a `fn` parameter may not take one.
pub const BUILTIN_FUNCTIONS: &[&str] = &[
    "tanh", "sigmoid", "softplus", "exp", "ln", "sqrt", "sin", "cos", "identity", "pow",
];

/// The functions of the energy; a `fn` may not take their names (the energy would not call it).
pub const ENERGY_FUNCTIONS: &[&str] = &["sum_sq", "mse", "cross_entropy", "sum"];

/// The built-in functions as error messages list them: `tanh, ..., identity, pow(x, y)`.
pub fn builtins_list() -> String {
    BUILTIN_FUNCTIONS
        .iter()
        .map(|&f| if f == "pow" { "pow(x, y)" } else { f })
        .collect::<Vec<_>>()
        .join(", ")
}

/// The candidate closest to `name` by edit distance, if close enough to be a misspelling of it
/// (at most half the shorter name's length, and at least 2 edits allowed): then a mistyped name
/// and the name it leaves out are one mistake, reported once.
pub fn closest<'c>(name: &str, candidates: impl IntoIterator<Item = &'c str>) -> Option<&'c str> {
    candidates
        .into_iter()
        .map(|c| (edit_distance(name, c), c))
        .filter(|&(d, c)| d <= (name.chars().count().min(c.chars().count()) / 2).max(2))
        .min_by_key(|&(d, _)| d)
        .map(|(_, c)| c)
}

/// Levenshtein distance.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut diag = row[0];
        row[0] = i + 1;
        for (j, &cb) in b.iter().enumerate() {
            let next = (diag + usize::from(ca != cb))
                .min(row[j] + 1)
                .min(row[j + 1] + 1);
            diag = row[j + 1];
            row[j + 1] = next;
        }
    }
    row[b.len()]
}

fn is_reserved(name: &str) -> bool {
    RESERVED.contains(&name) || RESERVED_PREFIXES.iter().any(|p| name.starts_with(p))
}

fn reserved_error(id: &Ident) -> syn::Error {
    syn::Error::new(
        id.span(),
        format!(
            "`{id}` is reserved: the generated kernels use the names {} and the prefixes {} for \
             their own quantities; choose another name",
            RESERVED.join(", "),
            RESERVED_PREFIXES.join(", ")
        ),
    )
}

/// Checks a neuron's declarations once, independently of the layers that use it: reserved,
/// built-in and duplicate names (each reported on its second declaration), and the required
/// items. Returns whether it is well-formed.
pub fn check_neuron_names(neuron: &NeuronDecl, errors: &mut Vec<syn::Error>) -> bool {
    let before = errors.len();
    let mut seen: HashMap<String, Role> = HashMap::new();
    for (role, id) in &neuron.declared {
        let name = id.to_string();
        if is_reserved(&name) {
            errors.push(reserved_error(id));
        } else if BUILTIN_FUNCTIONS.contains(&name.as_str()) {
            errors.push(syn::Error::new(
                id.span(),
                format!(
                    "`{name}` is a built-in function, so it cannot also be {} of neuron `{}` \
                     (`{name}(...)` would call the function, `{name}` name the {}): choose \
                     another name",
                    role.describe(),
                    neuron.name,
                    short(*role)
                ),
            ));
        } else if let Some(first) = seen.get(&name) {
            errors.push(syn::Error::new(
                id.span(),
                format!(
                    "`{name}` is declared twice in neuron `{}`: it is already {}; rename one",
                    neuron.name,
                    first.describe()
                ),
            ));
        } else {
            seen.insert(name, *role);
        }
    }
    if neuron.states.is_empty() {
        errors.push(syn::Error::new(
            neuron.name.span(),
            format!(
                "neuron `{}` declares no `state`: declare its ODE states, e.g. `state u;`",
                neuron.name
            ),
        ));
    } else if neuron.mismatches.len() != neuron.states.len() {
        errors.push(syn::Error::new(
            neuron.name.span(),
            format!(
                "neuron `{}` has {} state(s) and {} mismatch(es): declare one `mismatch` per \
                 `state` (the constraint that determines its dynamics)",
                neuron.name,
                neuron.states.len(),
                neuron.mismatches.len()
            ),
        ));
    }
    if neuron.prospectives.len() != 1 || neuron.rates.len() != 1 {
        errors.push(syn::Error::new(
            neuron.name.span(),
            format!(
                "neuron `{}` must declare exactly one `prospective` and one `rate` (the rate is a \
                 function of the prospective quantity)",
                neuron.name
            ),
        ));
    }
    errors.len() == before
}

fn short(role: Role) -> &'static str {
    match role {
        Role::Param => "parameter",
        Role::Activation => "activation",
        Role::State => "state",
        Role::Mismatch => "mismatch",
        Role::Prospective => "prospective quantity",
        Role::Rate => "rate",
        Role::Let => "definition",
    }
}

/// Checks the `fn` names and parameters: not a built-in, declared once, and no neuron name
/// (parameter, activation, state or definition) that is also a `fn`.
pub fn check_function_names(model: &Model, errors: &mut Vec<syn::Error>) {
    let mut first: HashMap<String, &FnDecl> = HashMap::new();
    for f in &model.functions {
        let name = f.name.to_string();
        if BUILTIN_FUNCTIONS.contains(&name.as_str()) || name == "d" {
            errors.push(syn::Error::new(
                f.name.span(),
                format!("`{name}` is a built-in function; choose another name for this `fn`"),
            ));
        } else if ENERGY_FUNCTIONS.contains(&name.as_str()) {
            errors.push(syn::Error::new(
                f.name.span(),
                format!(
                    "`{name}` is a function of the energy (`{}`); choose another name for this \
                     `fn`",
                    ENERGY_FUNCTIONS.join("`, `")
                ),
            ));
        } else if let Some(prev) = first.get(&name) {
            errors.push(syn::Error::new(
                f.name.span(),
                format!(
                    "function `{name}` is declared twice (the first `fn {}` has {} \
                     parameter(s)); rename one",
                    prev.name,
                    prev.args.len()
                ),
            ));
        } else {
            first.insert(name.clone(), f);
            // A neuron name declared before this `fn` makes the `fn` the second declaration;
            // one declared after it is reported in the neuron (below).
            if let Some((neuron, role)) = neuron_local(model, &name, |n| n.item < f.item) {
                errors.push(syn::Error::new(
                    f.name.span(),
                    format!(
                        "`{name}` is already declared in neuron `{neuron}` as {}: a `fn` may not \
                         share a name with a neuron's parameters, activations, states or \
                         definitions; rename one",
                        role.describe()
                    ),
                ));
            }
        }
        let mut args: HashMap<String, &Ident> = HashMap::new();
        for a in &f.args {
            let an = a.to_string();
            if args.insert(an.clone(), a).is_some() {
                errors.push(syn::Error::new(
                    a.span(),
                    format!("`{an}` is a parameter of `fn {name}` twice; rename one"),
                ));
            } else if BUILTIN_FUNCTIONS.contains(&an.as_str())
                || model.functions.iter().any(|g| g.name == an)
            {
                errors.push(syn::Error::new(
                    a.span(),
                    format!(
                        "parameter `{an}` of `fn {name}` is named like a function (`{an}(...)` \
                         would call the function, `{an}` name the parameter); choose another name"
                    ),
                ));
            }
        }
    }
    // Neuron names declared after a `fn` of the same name.
    for neuron in &model.neurons {
        for (role, id) in &neuron.declared {
            let name = id.to_string();
            if is_reserved(&name) || BUILTIN_FUNCTIONS.contains(&name.as_str()) {
                continue; // reported by check_neuron_names
            }
            if let Some(f) = first.get(&name).filter(|f| f.item < neuron.item) {
                errors.push(syn::Error::new(
                    id.span(),
                    format!(
                        "`{name}` is already declared as a function (`fn {}`), so it cannot also \
                         be {} of neuron `{}`; rename one",
                        f.name,
                        role.describe(),
                        neuron.name
                    ),
                ));
            }
        }
    }
}

/// The first neuron (among those `which` accepts) that declares `name`: its name and the role.
fn neuron_local<'m>(
    model: &'m Model,
    name: &str,
    which: impl Fn(&NeuronDecl) -> bool,
) -> Option<(&'m Ident, Role)> {
    model.neurons.iter().filter(|n| which(n)).find_map(|n| {
        n.declared
            .iter()
            .find(|(_, id)| *id == name)
            .map(|(role, _)| (&n.name, *role))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sym::Func;

    #[test]
    fn every_engine_function_is_a_listed_builtin() {
        for f in Func::ALL {
            assert!(BUILTIN_FUNCTIONS.contains(&f.name()), "{}", f.name());
        }
        // The rest of the table: what the lowering handles besides `Func`.
        let others: Vec<&str> = BUILTIN_FUNCTIONS
            .iter()
            .copied()
            .filter(|n| Func::from_name(n).is_none())
            .collect();
        assert_eq!(others, ["identity", "pow"]);
    }

    #[test]
    fn misspellings_are_matched_and_other_names_are_not() {
        assert_eq!(closest("tau_x", ["tau_r", "tau_m"]), Some("tau_r"));
        assert_eq!(closest("taum", ["k", "tau_m"]), Some("tau_m"));
        assert_eq!(closest("phy", ["phi"]), Some("phi"));
        assert_eq!(closest("e_b2", ["e_b"]), Some("e_b"));
        assert_eq!(closest("gain", ["tau_r"]), None);
        assert_eq!(closest("x", []), None);
        assert_eq!(edit_distance("kitten", "sitting"), 3);
    }

    #[test]
    fn the_message_list_is_the_table() {
        assert_eq!(
            builtins_list(),
            "tanh, sigmoid, softplus, exp, ln, sqrt, sin, cos, identity, pow(x, y)"
        );
    }
}
