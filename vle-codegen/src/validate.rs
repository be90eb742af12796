//! Meaning: from the syntax tree to a checked [`Net`] whose layers carry their symbolic
//! derivation. Every user error becomes a `syn::Error` spanned on the offending tokens; errors
//! are collected and combined, and checking continues past an error wherever that cannot cascade.

use std::collections::{HashMap, HashSet};

use proc_macro2::Span;
use syn::Ident;

use crate::ast::*;
use crate::derive::{derive_neuron, resolve_activation, Activation, NeuronSym, Scope};
use crate::energy::check_energy;
use crate::names::check_neuron_names;
use crate::rest::check_layer_at_rest;
use crate::sym::{Expr, Graph};

/// A checked network.
pub struct Net {
    /// The model's outer attributes, copied onto the generated type.
    pub attrs: Vec<syn::Attribute>,
    /// Visibility of the generated type.
    pub vis: syn::Visibility,
    /// Name of the generated type.
    pub name: Ident,
    /// The input's declared name (`x`).
    pub input_name: String,
    /// Number of input channels.
    pub input_size: usize,
    /// The layers in declaration order, each with its derived neuron model.
    pub layers: Vec<Layer>,
    /// Index of the layer the loss reads.
    pub output: usize,
    /// The loss ℓ of the energy's `beta * loss` term.
    pub loss: Loss,
    /// Whether `learn` lists `W` (all weight matrices).
    pub learn_weights: bool,
    /// Whether `learn` lists `b` (all biases).
    pub learn_biases: bool,
    /// The neuron parameters `learn` lists, by name (in every layer that has them).
    pub learn_params: HashSet<String>,
}

/// A checked layer: its size, sources and parameter values, and its neuron model derived
/// symbolically with the layer's activation bindings.
pub struct Layer {
    /// The layer's declared name.
    pub name: String,
    /// Number of neurons.
    pub size: usize,
    /// The derived per-neuron model (dynamics, adjoint, local rule).
    pub sym: NeuronSym,
    /// Per neuron parameter (in `sym.params` order): one value per neuron.
    pub values: Vec<Vec<f64>>,
    /// Presynaptic sources, one weight matrix each, in declaration order.
    pub sources: Vec<Source>,
    /// Whether the layer has a bias (`+ bias` among its sources).
    pub bias: bool,
}

/// Where a projection comes from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SourceKind {
    /// The network input `x`.
    Input,
    /// An earlier layer, by index into [`Net::layers`].
    Layer(usize),
    /// The layer itself: a recurrent projection (a network with one has only the discrete-time
    /// system; its continuous-time kernels are not defined).
    Recurrent,
}

/// One presynaptic source of a layer.
#[derive(Clone, Debug)]
pub struct Source {
    /// The source's name (the input's or a layer's).
    pub name: String,
    /// Its width: the number of columns of the weight matrix.
    pub size: usize,
    /// What it is.
    pub kind: SourceKind,
}

/// The loss ℓ(r, y) of the output layer.
pub enum Loss {
    /// ½‖r − y‖².
    Mse,
    /// −Σ y_i ln softmax(r)_i.
    CrossEntropy,
    /// Σ_i expr(r_i, y_i), with its derivative in r.
    Sum {
        /// The graph holding `expr` and `d_expr`.
        g: Graph,
        /// The summand ℓ_i in the symbols `r` (the output rate r_i) and `y` (the target y_i).
        expr: Expr,
        /// ∂ℓ_i/∂r_i.
        d_expr: Expr,
        /// `expr` as plain text, for the derivation text.
        source: String,
    },
}

/// Names that are time constants: must be positive and at least dt.
pub fn is_time_constant(name: &str) -> bool {
    name.starts_with("tau")
}

/// Checks a parsed model and derives every layer's neuron model: the [`Net`], or all errors
/// found, combined into one `syn::Error` (each spanned on the offending tokens).
pub fn check(model: &Model) -> Result<Net, syn::Error> {
    let mut errors: Vec<syn::Error> = Vec::new();
    let err = |errors: &mut Vec<syn::Error>, span: Span, msg: String| {
        errors.push(syn::Error::new(span, msg))
    };

    // Neurons: the first declaration of a name counts. A layer that names a neuron declared
    // twice is not checked further: which of the two it means is unknown.
    let mut neuron_names: HashMap<String, usize> = HashMap::new();
    let mut declared_twice: HashSet<String> = HashSet::new();
    for (k, n) in model.neurons.iter().enumerate() {
        let name = n.name.to_string();
        match neuron_names.entry(name) {
            std::collections::hash_map::Entry::Occupied(e) => {
                err(
                    &mut errors,
                    n.name.span(),
                    format!(
                        "neuron `{}` is declared twice; rename one (each layer names the model \
                         it runs)",
                        n.name
                    ),
                );
                declared_twice.insert(e.key().clone());
            }
            std::collections::hash_map::Entry::Vacant(e) => {
                e.insert(k);
            }
        }
    }
    crate::names::check_function_names(model, &mut errors);
    let (input_name, input_size) = match model.inputs.as_slice() {
        [i] => {
            if i.size == 0 {
                err(
                    &mut errors,
                    i.size_span,
                    "the input needs at least one channel, e.g. `input x: 1;`".into(),
                );
            }
            (i.name.to_string(), i.size)
        }
        [] => {
            err(
                &mut errors,
                model.name.span(),
                format!(
                    "network `{}` declares no input: add e.g. `input x: 1;`",
                    model.name
                ),
            );
            (String::new(), 0)
        }
        [_, second, ..] => {
            err(
                &mut errors,
                second.name.span(),
                "only one `input` is supported; widen it instead".into(),
            );
            (model.inputs[0].name.to_string(), model.inputs[0].size)
        }
    };
    if model.layers.is_empty() {
        err(
            &mut errors,
            model.name.span(),
            format!("network `{}` declares no layer", model.name),
        );
    }
    // Whether every source names what it should (else the check that every layer reaches the
    // output would report follow-on errors).
    let mut sources_ok = true;
    // The input's and the layers' names, each once, in source order; `bias` is a source term.
    {
        // A second input is refused above; its name is not checked again.
        let mut top: Vec<(usize, &Ident, &str)> = model
            .inputs
            .iter()
            .take(1)
            .map(|i| (i.item, &i.name, "the input"))
            .chain(model.layers.iter().map(|l| (l.item, &l.name, "a layer")))
            .collect();
        top.sort_by_key(|t| t.0);
        let mut seen: HashMap<String, &str> = HashMap::new();
        for (_, id, what) in top {
            let name = id.to_string();
            if name == "bias" {
                sources_ok = false;
                err(
                    &mut errors,
                    id.span(),
                    "`bias` is the bias term of a layer's sources (`<- x + bias`); choose another \
                     name"
                        .into(),
                );
            } else if let Some(first) = seen.get(&name) {
                sources_ok = false;
                err(
                    &mut errors,
                    id.span(),
                    format!("`{name}` is already declared, as {first}; rename one"),
                );
            } else {
                seen.insert(name, what);
            }
        }
    }

    // Each neuron's names once, whether or not a layer uses it.
    let neuron_ok: Vec<bool> = model
        .neurons
        .iter()
        .map(|n| check_neuron_names(n, &mut errors))
        .collect();
    let mut used_neurons: HashSet<usize> = HashSet::new();
    let mut layer_index: HashMap<String, usize> = HashMap::new();
    let mut layers: Vec<Layer> = Vec::new();
    let mut layer_ok = Vec::new();
    for (li, decl) in model.layers.iter().enumerate() {
        let name = decl.name.to_string();
        layer_index.entry(name.clone()).or_insert(li);
        if decl.size == 0 {
            err(
                &mut errors,
                decl.size_span,
                format!("layer `{name}` needs at least one neuron, e.g. `layer {name}: 1 = ...`"),
            );
        }
        // Sources.
        let mut sources = Vec::new();
        let mut seen_src = HashSet::new();
        for src in &decl.sources {
            let s = src.to_string();
            if !seen_src.insert(s.clone()) {
                err(
                    &mut errors,
                    src.span(),
                    format!("source `{s}` is listed twice; list each source once"),
                );
                continue;
            }
            if s == input_name {
                sources.push(Source {
                    name: s,
                    size: input_size,
                    kind: SourceKind::Input,
                });
            } else if s == name {
                sources.push(Source {
                    name: s,
                    size: decl.size,
                    kind: SourceKind::Recurrent,
                });
            } else if let Some(&k) = layer_index.get(&s).filter(|&&k| k < li) {
                sources.push(Source {
                    name: s,
                    size: model.layers[k].size,
                    kind: SourceKind::Layer(k),
                });
            } else if model.layers.iter().any(|l| l.name == s) {
                sources_ok = false;
                err(
                    &mut errors,
                    src.span(),
                    format!("layer `{name}` reads `{s}`, which is declared after it: projections go from earlier layers to later ones (or from a layer to itself)"),
                );
            } else if model.inputs.is_empty() || model.inputs.iter().any(|i| i.name == s) {
                // No input, or a second one: reported with the inputs.
                sources_ok = false;
            } else {
                sources_ok = false;
                err(
                    &mut errors,
                    src.span(),
                    format!("unknown source `{s}`: expected the input `{input_name}`, an earlier layer, `{name}` itself (recurrent) or `bias`"),
                );
            }
        }
        if decl.sources.is_empty() {
            sources_ok = false;
            err(
                &mut errors,
                decl.name.span(),
                format!(
                    "layer `{name}` has no presynaptic source: add one, e.g. `<- {} + bias`",
                    if input_name.is_empty() {
                        "x"
                    } else {
                        &input_name
                    }
                ),
            );
        }
        // Neuron and bindings.
        if declared_twice.contains(&decl.neuron.to_string()) {
            layer_ok.push(false);
            continue;
        }
        let Some(&nk) = neuron_names.get(&decl.neuron.to_string()) else {
            let known: Vec<String> = model.neurons.iter().map(|n| n.name.to_string()).collect();
            err(
                &mut errors,
                decl.neuron.span(),
                format!(
                    "unknown neuron model `{}`; declared: {}",
                    decl.neuron,
                    if known.is_empty() {
                        "none".into()
                    } else {
                        known.join(", ")
                    }
                ),
            );
            layer_ok.push(false);
            continue;
        };
        let neuron = &model.neurons[nk];
        let mut activations: HashMap<String, Activation> = HashMap::new();
        let mut values: HashMap<String, Vec<f64>> = HashMap::new();
        // Keys given, even when their value was rejected (no "missing" error on top).
        let mut given: HashSet<String> = HashSet::new();
        let errors_before_bindings = errors.len();
        let mut unknown_keys: Vec<&Ident> = Vec::new();
        for b in &decl.bindings {
            let key = b.key.to_string();
            let is_param = neuron.params.iter().any(|p| *p == key);
            let is_act = neuron.activations.iter().any(|a| *a == key);
            if !given.insert(key.clone()) {
                err(&mut errors, b.key.span(), format!("`{key}` is given twice"));
                continue;
            }
            match (&b.value, is_param, is_act) {
                (BindingValue::Func(f), false, true) => match resolve_activation(&model.functions, f) {
                    Ok(a) => {
                        activations.insert(key, a);
                    }
                    Err(e) => errors.push(e),
                },
                (BindingValue::Values(groups), true, false) => {
                    let mut v = Vec::new();
                    let mut bad = false;
                    for gr in groups {
                        if !gr.value.is_finite() {
                            err(&mut errors, gr.span, "value is not finite".into());
                            bad = true;
                        }
                        if is_time_constant(&key) && gr.value <= 0.0 {
                            err(
                                &mut errors,
                                gr.span,
                                format!("time constant `{key}` must be positive, got {}", gr.value),
                            );
                            bad = true;
                        }
                        let count = if gr.count == 0 && groups.len() == 1 { decl.size } else { gr.count.max(1) };
                        v.extend(std::iter::repeat_n(gr.value, count));
                    }
                    if v.len() != decl.size && !bad && decl.size > 0 {
                        err(
                            &mut errors,
                            b.key.span(),
                            format!("`{key}` lists {} value(s) for layer `{name}` of size {}: give one value, or exactly {} (use `value; count` to repeat)", v.len(), decl.size, decl.size),
                        );
                    }
                    values.insert(key, v);
                }
                (BindingValue::Func(f), true, false) => err(
                    &mut errors,
                    f.span(),
                    format!("`{key}` is a parameter of `{}`: give it a number or a list of numbers", neuron.name),
                ),
                (BindingValue::Values(g), false, true) => err(
                    &mut errors,
                    g.first().map(|g| g.span).unwrap_or_else(|| b.key.span()),
                    format!("`{key}` is an activation of `{}`: bind it to a function, e.g. `{key}: tanh`", neuron.name),
                ),
                _ => unknown_keys.push(&b.key),
            }
        }
        // A parameter refused where it is declared (a name declared twice) is not asked for.
        let refused = |id: &Ident| {
            neuron.declared.iter().filter(|(_, d)| d == id).count() > 1
                || crate::names::BUILTIN_FUNCTIONS.contains(&id.to_string().as_str())
        };
        let mut missing: Vec<&Ident> = neuron
            .params
            .iter()
            .chain(&neuron.activations)
            .filter(|p| !given.contains(&p.to_string()) && !refused(p))
            .collect();
        // A misspelled key and the name it leaves unbound are one mistake.
        for key in unknown_keys {
            let names: Vec<String> = missing.iter().map(|m| m.to_string()).collect();
            let guess = crate::names::closest(&key.to_string(), names.iter().map(String::as_str))
                .map(str::to_owned);
            let msg = match &guess {
                Some(g) => {
                    missing.retain(|m| **m != g);
                    format!(
                        "neuron `{}` has no parameter or activation `{key}`; did you mean `{g}`, \
                         which this layer leaves unbound?",
                        neuron.name
                    )
                }
                None => format!(
                    "neuron `{}` has no parameter or activation `{key}`: bind only its \
                     parameters ({}) and activations ({})",
                    neuron.name,
                    list_or_none(&neuron.params),
                    list_or_none(&neuron.activations)
                ),
            };
            err(&mut errors, key.span(), msg);
        }
        let values_ok = errors.len() == errors_before_bindings;
        for m in missing {
            if neuron.params.contains(m) {
                err(
                    &mut errors,
                    decl.neuron.span(),
                    format!(
                        "layer `{name}` gives no value for parameter `{m}` of `{}`",
                        neuron.name
                    ),
                );
            } else {
                err(&mut errors, decl.neuron.span(), format!("layer `{name}` binds no function to activation `{m}` of `{}` (e.g. `{m}: tanh`)", neuron.name));
            }
        }
        let complete = neuron_ok[nk]
            && neuron
                .params
                .iter()
                .all(|p| values.contains_key(&p.to_string()))
            && neuron
                .activations
                .iter()
                .all(|a| activations.contains_key(&a.to_string()));
        used_neurons.insert(nk);
        let mut scope = Scope {
            functions: &model.functions,
            errors: &mut errors,
        };
        let sym = if complete {
            derive_neuron(neuron, &activations, &mut scope)
        } else {
            None
        };
        let sym = sym.filter(|_| values_ok);
        match sym {
            Some(sym) => {
                let vals = sym
                    .params
                    .iter()
                    .map(|p| values.remove(p).unwrap_or_default())
                    .collect();
                layers.push(Layer {
                    name,
                    size: decl.size,
                    sym,
                    values: vals,
                    sources,
                    bias: decl.bias.is_some(),
                });
                layer_ok.push(true);
            }
            None => layer_ok.push(false),
        }
    }
    let all_layers_ok = layer_ok.iter().all(|&b| b) && !layer_ok.is_empty();
    // A neuron no layer uses is still checked, with every activation taken as the identity.
    for (k, neuron) in model.neurons.iter().enumerate() {
        if neuron_ok[k] && !used_neurons.contains(&k) {
            let identity: HashMap<String, Activation> = neuron
                .activations
                .iter()
                .map(|a| (a.to_string(), Activation::Identity))
                .collect();
            let mut scope = Scope {
                functions: &model.functions,
                errors: &mut errors,
            };
            derive_neuron(neuron, &identity, &mut scope);
        }
    }

    // At rest, at the declared parameter values: a causal and stable local inversion, and
    // finite kernels.
    if all_layers_ok {
        let mut reported = HashSet::new();
        for (layer, decl) in layers.iter_mut().zip(&model.layers) {
            check_layer_at_rest(layer, decl, model, &mut errors, &mut reported);
        }
    }

    // Energy.
    let energy = match model.energies.as_slice() {
        [e] => Some(e),
        [] => {
            err(
                &mut errors,
                model.name.span(),
                "no `energy = 0.5 * sum_sq(...) + beta * loss;` declared".into(),
            );
            None
        }
        [_, second, ..] => {
            err(
                &mut errors,
                second.eq_span,
                "`energy` is declared twice".into(),
            );
            None
        }
    };
    let mut output = layers.len().saturating_sub(1);
    let mut loss = Loss::Mse;
    if let (Some(energy), true) = (energy, all_layers_ok) {
        match check_energy(energy, model, &layers) {
            Ok((o, l)) => {
                output = o;
                loss = l;
                if sources_ok {
                    check_layers_reach_output(&layers, model, &mut errors);
                }
            }
            Err(es) => errors.extend(es),
        }
    }

    // Learnable parameters.
    let mut learn_weights = false;
    let mut learn_biases = false;
    let mut learn_params = HashSet::new();
    let mut listed = HashSet::new();
    for id in &model.learn {
        let name = id.to_string();
        if !listed.insert(name.clone()) {
            err(
                &mut errors,
                id.span(),
                format!("`{name}` is listed twice in `learn`; list it once"),
            );
            continue;
        }
        match name.as_str() {
            "W" => learn_weights = true,
            "b" => {
                if all_layers_ok && !layers.iter().any(|l| l.bias) {
                    err(
                        &mut errors,
                        id.span(),
                        "`b`: no layer has a bias (add `+ bias` to a layer's sources)".into(),
                    );
                }
                learn_biases = true;
            }
            _ => {
                let declared = model
                    .neurons
                    .iter()
                    .any(|n| n.params.iter().any(|p| *p == name));
                if !declared {
                    err(&mut errors, id.span(), format!("`learn {name}`: no neuron declares a parameter `{name}` (learnable: `W`, `b` or a neuron `param`)"));
                } else if all_layers_ok {
                    let used = layers.iter_mut().any(|l| {
                        match l.sym.params.iter().position(|p| *p == name) {
                            Some(k) => l.sym.uses_param(k),
                            None => false,
                        }
                    });
                    if !used {
                        err(&mut errors, id.span(), format!("`learn {name}`: the energy does not depend on `{name}` (it appears in no mismatch, prospective or rate of any layer), so it has no gradient"));
                    }
                }
                learn_params.insert(name.clone());
            }
        }
    }

    // The same error from several layers (a mistake in a neuron or a `fn` that several layers
    // use) is one mistake: reported once.
    let mut seen = HashSet::new();
    errors.retain(|e| seen.insert((format!("{:?}", e.span()), e.to_string())));
    let mut it = errors.into_iter();
    if let Some(mut first) = it.next() {
        it.for_each(|e| first.combine(e));
        return Err(first);
    }
    Ok(Net {
        attrs: model.attrs.clone(),
        vis: model.vis.clone(),
        name: model.name.clone(),
        input_name,
        input_size,
        layers,
        output,
        loss,
        learn_weights,
        learn_biases,
        learn_params,
    })
}

/// Every layer must reach the output layer (the last one) through the projections: a layer
/// that no later layer reads changes neither the output nor the loss.
fn check_layers_reach_output(layers: &[Layer], model: &Model, errors: &mut Vec<syn::Error>) {
    let Some(last) = layers.last() else { return };
    let mut reach = vec![false; layers.len()];
    reach[layers.len() - 1] = true;
    for k in (0..layers.len()).rev() {
        if reach[k] {
            for s in &layers[k].sources {
                if let SourceKind::Layer(j) = s.kind {
                    reach[j] = true;
                }
            }
        }
    }
    for (k, decl) in model.layers.iter().enumerate() {
        if reach[k] {
            continue;
        }
        let mut srcs: Vec<&str> = last.sources.iter().map(|s| s.name.as_str()).collect();
        srcs.push(&layers[k].name);
        errors.push(syn::Error::new(
            decl.name.span(),
            format!(
                "layer `{}` does not reach the output layer `{}`: no later layer reads it \
                 (directly or through other layers), so it changes neither the output nor the \
                 loss and its parameters get no gradient; add it to the sources of a later \
                 layer (e.g. `layer {}: ... <- {}`), or remove it",
                layers[k].name,
                last.name,
                last.name,
                srcs.join(" + ")
            ),
        ));
    }
}

/// `a, b` or `none`, for messages that list names.
fn list_or_none(names: &[Ident]) -> String {
    if names.is_empty() {
        "none".into()
    } else {
        names
            .iter()
            .map(|n| n.to_string())
            .collect::<Vec<_>>()
            .join(", ")
    }
}
