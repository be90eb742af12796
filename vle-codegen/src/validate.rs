//! Meaning: from the syntax tree to a checked [`Net`] whose layers carry their symbolic
//! derivation. Every user error becomes a `syn::Error` spanned on the offending tokens; errors
//! are collected and combined, and checking continues past an error wherever that cannot cascade.

use std::collections::{HashMap, HashSet};

use proc_macro2::Span;
use syn::Ident;

use crate::ast::*;
use crate::derive::{
    check_neuron_names, derive_neuron, resolve_activation, Activation, NeuronSym, Scope,
};
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

    // Names of neurons, functions, input and layers.
    let mut neuron_names: HashMap<String, usize> = HashMap::new();
    for (k, n) in model.neurons.iter().enumerate() {
        if neuron_names.insert(n.name.to_string(), k).is_some() {
            err(
                &mut errors,
                n.name.span(),
                format!("neuron `{}` is declared twice", n.name),
            );
        }
    }
    let mut fn_names = HashSet::new();
    for f in &model.functions {
        let name = f.name.to_string();
        if crate::sym::Func::from_name(&name).is_some()
            || name == "identity"
            || name == "d"
            || name == "pow"
        {
            err(
                &mut errors,
                f.name.span(),
                format!("`{name}` is a built-in function; choose another name"),
            );
        } else if !fn_names.insert(name.clone()) {
            err(
                &mut errors,
                f.name.span(),
                format!("function `{name}` is declared twice"),
            );
        }
    }
    let (input_name, input_size) = match model.inputs.as_slice() {
        [i] => {
            if i.size == 0 {
                err(
                    &mut errors,
                    i.size_span,
                    "the input needs at least one channel".into(),
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
        if name == input_name || layer_index.contains_key(&name) {
            err(
                &mut errors,
                decl.name.span(),
                format!("`{name}` is already declared"),
            );
        }
        layer_index.entry(name.clone()).or_insert(li);
        if decl.size == 0 {
            err(
                &mut errors,
                decl.size_span,
                format!("layer `{name}` needs at least one neuron"),
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
                    format!("source `{s}` is listed twice"),
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
                err(
                    &mut errors,
                    src.span(),
                    format!("layer `{name}` reads `{s}`, which is declared after it: projections go from earlier layers to later ones (or from a layer to itself)"),
                );
            } else {
                err(
                    &mut errors,
                    src.span(),
                    format!("unknown source `{s}`: expected the input `{input_name}`, an earlier layer, `{name}` itself (recurrent) or `bias`"),
                );
            }
        }
        if decl.sources.is_empty() {
            err(
                &mut errors,
                decl.name.span(),
                format!("layer `{name}` has no presynaptic source"),
            );
        }
        // Neuron and bindings.
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
                    if v.len() != decl.size && !bad {
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
                _ => err(
                    &mut errors,
                    b.key.span(),
                    format!("neuron `{}` has no parameter or activation `{key}`", neuron.name),
                ),
            }
        }
        let values_ok = errors.len() == errors_before_bindings;
        for p in &neuron.params {
            if !given.contains(&p.to_string()) {
                err(
                    &mut errors,
                    decl.neuron.span(),
                    format!(
                        "layer `{name}` gives no value for parameter `{p}` of `{}`",
                        neuron.name
                    ),
                );
            }
        }
        for a in &neuron.activations {
            if !given.contains(&a.to_string()) {
                err(&mut errors, decl.neuron.span(), format!("layer `{name}` binds no function to activation `{a}` of `{}` (e.g. `{a}: tanh`)", neuron.name));
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

    // Local inversion: causal and stable at the declared parameter values.
    if all_layers_ok {
        let mut reported = HashSet::new();
        for (layer, decl) in layers.iter_mut().zip(&model.layers) {
            check_local_inversion(layer, decl, &model.neurons, &mut errors, &mut reported);
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
            }
            Err(es) => errors.extend(es),
        }
    }

    // Learnable parameters.
    let mut learn_weights = false;
    let mut learn_biases = false;
    let mut learn_params = HashSet::new();
    for id in &model.learn {
        let name = id.to_string();
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
                if !learn_params.insert(name.clone()) {
                    err(&mut errors, id.span(), format!("`{name}` is listed twice"));
                }
            }
        }
    }

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

/// Rejects layers whose local error neuron would be non-causal or unstable.
fn check_local_inversion(
    layer: &mut Layer,
    decl: &LayerDecl,
    neurons: &[NeuronDecl],
    errors: &mut Vec<syn::Error>,
    noncausal_reported: &mut HashSet<String>,
) {
    let neuron_span = decl.neuron.span();
    let neuron = neurons.iter().find(|n| n.name == decl.neuron);
    let pros_span = neuron
        .map(|n| n.prospectives[0].name.span())
        .unwrap_or(neuron_span);
    let Some(local) = layer.sym.local(false) else {
        // Reported once per neuron model, on its prospective quantity.
        if !noncausal_reported.insert(layer.sym.neuron.clone()) {
            return;
        }
        errors.push(syn::Error::new(
            pros_span,
            format!(
                "neuron `{}`: the local rule inverts the input→prospective filter, which needs the \
                 prospective quantity to depend on d(state) (e.g. `u + tau_r * d(u)`); as declared the \
                 inversion would differentiate the error (non-causal)",
                layer.sym.neuron
            ),
        ));
        return;
    };
    let n = local.v.len();
    // Jacobian of v̇ in v, evaluated at the resting point (states and input zero) for every
    // distinct set of parameter values of the layer.
    let jac: Vec<Vec<Expr>> = (0..n)
        .map(|i| {
            (0..n)
                .map(|j| layer.sym.g.diff(local.dv[i], local.v[j]))
                .collect()
        })
        .collect();
    // The forward dynamics and the prospective quantity at rest, where simulations start.
    let mut rest_exprs = layer.sym.f.clone();
    let prosp = layer.sym.prosp;
    rest_exprs.push(layer.sym.on_shell(prosp));
    let mut checked: Vec<Vec<u64>> = Vec::new();
    for neuron_i in 0..layer.size {
        let vals: Vec<f64> = layer
            .values
            .iter()
            .map(|v| v.get(neuron_i).copied().unwrap_or(1.0))
            .collect();
        let key: Vec<u64> = vals.iter().map(|v| v.to_bits()).collect();
        if checked.contains(&key) {
            continue;
        }
        checked.push(key);
        let params = layer.sym.params.clone();
        let env = |name: &str| -> f64 {
            params
                .iter()
                .position(|p| p == name)
                .map(|k| vals[k])
                .unwrap_or(0.0)
        };
        let m: Vec<Vec<f64>> = jac
            .iter()
            .map(|row| row.iter().map(|&e| layer.sym.g.eval(e, &env)).collect())
            .collect();
        let desc: Vec<String> = params
            .iter()
            .zip(&vals)
            .map(|(p, v)| format!("{p} = {v:?}"))
            .collect();
        let forward_at_rest = rest_exprs.iter().map(|&e| layer.sym.g.eval(e, &env));
        if m.iter()
            .flatten()
            .copied()
            .chain(forward_at_rest)
            .any(|v| !v.is_finite())
        {
            errors.push(syn::Error::new(
                neuron_span,
                format!(
                    "neuron `{}` in layer `{}`: its equations are not finite at rest (all states \
                     and the input zero, where every simulation starts) at {}: e.g. `sqrt(u)`, \
                     `ln(u)` or `1/u` of a state; shift the state or use a function finite at 0",
                    layer.sym.neuron,
                    layer.name,
                    desc.join(", ")
                ),
            ));
            return;
        }
        if !hurwitz(&m) {
            errors.push(syn::Error::new(
                neuron_span,
                format!(
                    "neuron `{}` in layer `{}`: the local error neuron (the inverse of its \
                     input→prospective filter) is unstable at {}: the filter is not minimum-phase, \
                     so the phase-matched causal inversion does not exist",
                    layer.sym.neuron,
                    layer.name,
                    desc.join(", ")
                ),
            ));
            return;
        }
    }
}

/// Whether every eigenvalue of `m` has a negative real part (Routh–Hurwitz on the
/// characteristic polynomial from Faddeev–LeVerrier).
pub fn hurwitz(m: &[Vec<f64>]) -> bool {
    let n = m.len();
    if n == 0 {
        return true;
    }
    if m.iter().flatten().any(|v| !v.is_finite()) {
        return false;
    }
    // Characteristic polynomial λ^n + c1 λ^{n-1} + ... + cn.
    let mut coeffs = vec![1.0];
    let mut mk = vec![vec![0.0; n]; n];
    let mut prev = vec![vec![0.0; n]; n]; // M_{k-1}
    for k in 1..=n {
        // M_k = A M_{k-1} + c_{k-1} I
        for i in 0..n {
            for j in 0..n {
                let mut s = 0.0;
                for l in 0..n {
                    s += m[i][l] * prev[l][j];
                }
                mk[i][j] = s + if i == j { coeffs[k - 1] } else { 0.0 };
            }
        }
        let mut tr = 0.0;
        for i in 0..n {
            for l in 0..n {
                tr += m[i][l] * mk[l][i];
            }
        }
        coeffs.push(-tr / k as f64);
        prev = mk.clone();
    }
    // Routh array.
    let mut rows: Vec<Vec<f64>> = vec![
        coeffs.iter().step_by(2).copied().collect(),
        coeffs.iter().skip(1).step_by(2).copied().collect(),
    ];
    for _ in 0..n.saturating_sub(1) {
        let a = &rows[rows.len() - 2];
        let b = &rows[rows.len() - 1];
        let b0 = b.first().copied().unwrap_or(0.0);
        if b0 <= 0.0 {
            return false;
        }
        let width = a.len().max(b.len());
        let next: Vec<f64> = (0..width.saturating_sub(1))
            .map(|j| {
                let a1 = a.get(j + 1).copied().unwrap_or(0.0);
                let b1 = b.get(j + 1).copied().unwrap_or(0.0);
                (b0 * a1 - a[0] * b1) / b0
            })
            .collect();
        rows.push(next);
    }
    rows.iter().all(|r| r.first().copied().unwrap_or(1.0) > 0.0)
}

/// Splits `a + b - c` into signed terms.
fn terms<'e>(e: &'e MathExpr, sign: f64, out: &mut Vec<(f64, &'e MathExpr)>) {
    match e {
        MathExpr::Bin {
            op: BinOp::Add,
            lhs,
            rhs,
            ..
        } => {
            terms(lhs, sign, out);
            terms(rhs, sign, out);
        }
        MathExpr::Bin {
            op: BinOp::Sub,
            lhs,
            rhs,
            ..
        } => {
            terms(lhs, sign, out);
            terms(rhs, -sign, out);
        }
        _ => out.push((sign, e)),
    }
}

fn is_call<'e>(e: &'e MathExpr, name: &str) -> Option<(&'e Ident, &'e [MathExpr])> {
    match e {
        MathExpr::Call { func, args } if *func == name => Some((func, args)),
        _ => None,
    }
}

fn check_energy(
    energy: &EnergyDecl,
    model: &Model,
    layers: &[Layer],
) -> Result<(usize, Loss), Vec<syn::Error>> {
    let mut errors = Vec::new();
    let mut ts = Vec::new();
    terms(&energy.expr, 1.0, &mut ts);
    let mut mismatch_seen = false;
    let mut result: Option<(usize, Loss)> = None;
    let all_mismatches: Vec<String> = {
        let mut v: Vec<String> = Vec::new();
        for l in layers {
            for m in &l.sym.mismatch_names {
                if !v.contains(m) {
                    v.push(m.clone());
                }
            }
        }
        v
    };
    for (sign, t) in ts {
        // 0.5 * sum_sq(...), sum_sq(...) * 0.5, sum_sq(...) / 2
        let (factor, rest) = split_factor(t);
        if let Some((func, args)) = is_call(rest, "sum_sq") {
            mismatch_seen = true;
            if (sign * factor.unwrap_or(f64::NAN) - 0.5).abs() > 0.0 {
                errors.push(syn::Error::new(
                    t.span(),
                    "the mismatch part of the energy is `0.5 * sum_sq(...)` (½ Σ‖e‖², `vle::_theory` §3); other weights are not supported",
                ));
            }
            let mut listed = Vec::new();
            for a in args {
                match a {
                    MathExpr::Var(id) if all_mismatches.contains(&id.to_string()) => {
                        listed.push(id.to_string())
                    }
                    other => errors.push(syn::Error::new(
                        other.span(),
                        format!(
                            "`sum_sq` takes mismatch names; the mismatches are: {}",
                            all_mismatches.join(", ")
                        ),
                    )),
                }
            }
            for m in &all_mismatches {
                if !listed.contains(m) {
                    errors.push(syn::Error::new(
                        func.span(),
                        format!("the energy must contain every mismatch: `{m}` is missing from `sum_sq(...)`"),
                    ));
                }
            }
            continue;
        }
        let is_beta = |e: &MathExpr| matches!(e, MathExpr::Var(id) if id == "beta");
        let loss_expr = match t {
            MathExpr::Bin {
                op: BinOp::Mul,
                lhs,
                rhs,
                ..
            } if is_beta(lhs) => Some(&**rhs),
            MathExpr::Bin {
                op: BinOp::Mul,
                lhs,
                rhs,
                ..
            } if is_beta(rhs) => Some(&**lhs),
            _ => None,
        };
        let Some(loss_expr) = loss_expr.filter(|_| sign > 0.0) else {
            errors.push(syn::Error::new(
                t.span(),
                "expected `0.5 * sum_sq(<mismatches>)` or `beta * <loss>` where the loss is `mse(out.r, target)`, `cross_entropy(out.r, target)` or `sum(<expression of out.r and target>)`",
            ));
            continue;
        };
        if result.is_some() {
            errors.push(syn::Error::new(
                t.span(),
                "the energy has more than one `beta * loss` term",
            ));
            continue;
        }
        match check_loss(loss_expr, model, layers) {
            Ok(r) => result = Some(r),
            Err(e) => errors.push(e),
        }
    }
    if !mismatch_seen {
        errors.push(syn::Error::new(
            energy.eq_span,
            "the energy needs its mismatch part `0.5 * sum_sq(<all mismatches>)`",
        ));
    }
    if result.is_none() && errors.is_empty() {
        errors.push(syn::Error::new(energy.eq_span, "the energy needs a loss term `beta * mse(out.r, target)` (or `cross_entropy`, or `sum(...)`)"));
    }
    if errors.is_empty() {
        Ok(result.expect("checked above"))
    } else {
        Err(errors)
    }
}

fn split_factor(t: &MathExpr) -> (Option<f64>, &MathExpr) {
    match t {
        MathExpr::Bin {
            op: BinOp::Mul,
            lhs,
            rhs,
            ..
        } => match (&**lhs, &**rhs) {
            (MathExpr::Num { value, .. }, r) => (Some(*value), r),
            (l, MathExpr::Num { value, .. }) => (Some(*value), l),
            _ => (None, t),
        },
        MathExpr::Bin {
            op: BinOp::Div,
            lhs,
            rhs,
            ..
        } => match &**rhs {
            MathExpr::Num { value, .. } if *value != 0.0 => (Some(1.0 / value), lhs),
            _ => (None, t),
        },
        _ => (Some(1.0), t),
    }
}

/// Finds `layer.rate` references and checks they all name the same layer's rate.
fn loss_layer(
    e: &MathExpr,
    layers: &[Layer],
    found: &mut Option<usize>,
    errors: &mut Vec<syn::Error>,
) {
    match e {
        MathExpr::Field { base, field } => match layers.iter().position(|l| *base == l.name) {
            Some(k) => {
                if *field != layers[k].sym.rate_name {
                    errors.push(syn::Error::new(
                        field.span(),
                        format!("the loss reads rates: `{base}.{}`", layers[k].sym.rate_name),
                    ));
                }
                match found {
                    Some(prev) if *prev != k => errors.push(syn::Error::new(
                        base.span(),
                        "the loss must read a single output layer",
                    )),
                    _ => *found = Some(k),
                }
            }
            None => errors.push(syn::Error::new(
                base.span(),
                format!("unknown layer `{base}`"),
            )),
        },
        MathExpr::Neg { expr, .. } => loss_layer(expr, layers, found, errors),
        MathExpr::Bin { lhs, rhs, .. } => {
            loss_layer(lhs, layers, found, errors);
            loss_layer(rhs, layers, found, errors);
        }
        MathExpr::Call { args, .. } => args
            .iter()
            .for_each(|a| loss_layer(a, layers, found, errors)),
        MathExpr::Num { .. } | MathExpr::Var(_) => {}
    }
}

fn check_loss(e: &MathExpr, model: &Model, layers: &[Layer]) -> Result<(usize, Loss), syn::Error> {
    let mut found = None;
    let mut errors = Vec::new();
    loss_layer(e, layers, &mut found, &mut errors);
    if let Some(first) = errors.into_iter().reduce(|mut a, b| {
        a.combine(b);
        a
    }) {
        return Err(first);
    }
    let Some(out) = found else {
        return Err(syn::Error::new(
            e.span(),
            "the loss must read an output layer's rate, e.g. `mse(out.r, target)`",
        ));
    };
    let builtin = |name: &str| -> Option<Result<(), syn::Error>> {
        let (func, args) = is_call(e, name)?;
        let ok = args.len() == 2
            && matches!(&args[0], MathExpr::Field { .. })
            && matches!(&args[1], MathExpr::Var(id) if id == "target");
        Some(if ok {
            Ok(())
        } else {
            Err(syn::Error::new(
                func.span(),
                format!("`{name}` takes `(layer.rate, target)`"),
            ))
        })
    };
    if let Some(r) = builtin("mse") {
        return r.map(|_| (out, Loss::Mse));
    }
    if let Some(r) = builtin("cross_entropy") {
        return r.map(|_| (out, Loss::CrossEntropy));
    }
    let Some((func, args)) = is_call(e, "sum") else {
        return Err(syn::Error::new(
            e.span(),
            "unsupported loss: use `mse(out.r, target)`, `cross_entropy(out.r, target)` or `sum(<expression of out.r and target>)`",
        ));
    };
    if args.len() != 1 {
        return Err(syn::Error::new(
            func.span(),
            "`sum` takes one elementwise expression",
        ));
    }
    let mut g = Graph::new();
    let r = g.var("r");
    let y = g.var("y");
    let mut errs = Vec::new();
    let expr = {
        let mut scope = Scope {
            functions: &model.functions,
            errors: &mut errs,
        };
        lower_loss(&mut g, &mut scope, &args[0], r, y)
    };
    if let Some(first) = errs.into_iter().reduce(|mut a, b| {
        a.combine(b);
        a
    }) {
        return Err(first);
    }
    let d_expr = g.diff(expr, r);
    let source = g.display(expr);
    Ok((
        out,
        Loss::Sum {
            g,
            expr,
            d_expr,
            source,
        },
    ))
}

fn lower_loss(g: &mut Graph, scope: &mut Scope, e: &MathExpr, r: Expr, y: Expr) -> Expr {
    // Reuse the neuron-free formula lowering by binding `out.r` and `target` as arguments.
    let mut env = HashMap::new();
    env.insert("target".to_string(), y);
    let rewritten = rewrite_fields(e);
    env.insert("__rate".to_string(), r);
    crate::derive::lower_with_env(g, scope, &rewritten, &env)
}

fn rewrite_fields(e: &MathExpr) -> MathExpr {
    match e {
        MathExpr::Field { base, .. } => MathExpr::Var(Ident::new("__rate", base.span())),
        MathExpr::Neg { span, expr } => MathExpr::Neg {
            span: *span,
            expr: Box::new(rewrite_fields(expr)),
        },
        MathExpr::Bin { op, span, lhs, rhs } => MathExpr::Bin {
            op: *op,
            span: *span,
            lhs: Box::new(rewrite_fields(lhs)),
            rhs: Box::new(rewrite_fields(rhs)),
        },
        MathExpr::Call { func, args } => MathExpr::Call {
            func: func.clone(),
            args: args.iter().map(rewrite_fields).collect(),
        },
        other => other.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::hurwitz;

    #[test]
    fn hurwitz_matches_known_spectra() {
        assert!(hurwitz(&[vec![-1.0]]));
        assert!(!hurwitz(&[vec![0.5]]));
        assert!(!hurwitz(&[vec![0.0]]));
        // Eigenvalues -1 ± 2i.
        assert!(hurwitz(&[vec![-1.0, 2.0], vec![-2.0, -1.0]]));
        // Eigenvalues 1, -3.
        assert!(!hurwitz(&[vec![1.0, 0.0], vec![0.0, -3.0]]));
        // Triangular 3x3 with eigenvalues -1, -2, -0.1.
        assert!(hurwitz(&[
            vec![-1.0, 5.0, 1.0],
            vec![0.0, -2.0, 7.0],
            vec![0.0, 0.0, -0.1]
        ]));
        assert!(!hurwitz(&[
            vec![-1.0, 5.0, 1.0],
            vec![0.0, 2.0, 7.0],
            vec![0.0, 0.0, -0.1]
        ]));
    }
}
