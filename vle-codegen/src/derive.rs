//! Symbolic derivation for one layer: from its neuron declaration (with the layer's activation
//! bindings) to the expressions every kernel needs (`vle::_theory` §4–§6).
//!
//! Per neuron everything is scalar: the only coupling between neurons is the synaptic input
//! `input = Σ W r_pre + b`, which the emitter handles; here `input` is a symbol. The network-level
//! Lagrangian is 𝓛 = βℓ + Σ λ·m, and a neuron only needs g_r = ∂𝓛/∂r (its rate's total
//! sensitivity, assembled by the emitter from the layers above and the loss).

use std::collections::{HashMap, HashSet};

use proc_macro2::Span;
use syn::Ident;

use crate::ast::{BinOp, FnDecl, MathExpr, NeuronDecl};
use crate::names::builtins_list;
use crate::sym::{solve_linear, Expr, Func, Graph};

/// Solves A x = b, first by back-substitution wherever an equation has a single unknown left
/// (the usual structure of neuron models: this yields the textbook forms, e.g. for GLE
/// v̇ = (ê − v)/τr and ε = v + τm v̇), then by elimination on what remains.
pub fn solve_structured(g: &mut Graph, a: &[Vec<Expr>], b: &[Expr]) -> Option<Vec<Expr>> {
    let n = b.len();
    if a.len() != n || a.iter().any(|row| row.len() != n) {
        return None;
    }
    let mut x: Vec<Option<Expr>> = vec![None; n];
    let mut rows: Vec<usize> = (0..n).collect();
    // The right-hand side of row r with the solved unknowns moved over.
    let reduced = |g: &mut Graph, x: &[Option<Expr>], r: usize| {
        let mut rhs = b[r];
        for (k, xk) in x.iter().enumerate() {
            if let Some(v) = xk {
                if !g.is_zero(a[r][k]) {
                    let t = g.mul(a[r][k], *v);
                    rhs = g.sub(rhs, t);
                }
            }
        }
        rhs
    };
    loop {
        let pick = rows.iter().enumerate().find_map(|(pos, &r)| {
            let open: Vec<usize> = (0..n)
                .filter(|&k| x[k].is_none() && !g.is_zero(a[r][k]))
                .collect();
            (open.len() == 1).then(|| (pos, r, open[0]))
        });
        let Some((pos, r, k)) = pick else { break };
        rows.remove(pos);
        let rhs = reduced(g, &x, r);
        x[k] = Some(g.div(rhs, a[r][k]));
    }
    let open: Vec<usize> = (0..n).filter(|&k| x[k].is_none()).collect();
    if !open.is_empty() {
        if rows.len() != open.len() {
            return None;
        }
        let sub_a: Vec<Vec<Expr>> = rows
            .iter()
            .map(|&r| open.iter().map(|&k| a[r][k]).collect())
            .collect();
        let sub_b: Vec<Expr> = rows.iter().map(|&r| reduced(g, &x, r)).collect();
        let sol = solve_linear(g, &sub_a, &sub_b)?;
        for (&k, v) in open.iter().zip(sol) {
            x[k] = Some(v);
        }
    }
    x.into_iter().collect()
}

/// Functions the DSL refuses because they are not differentiable everywhere.
const NON_SMOOTH: &[&str] = &[
    "abs",
    "relu",
    "max",
    "min",
    "floor",
    "ceil",
    "round",
    "sign",
    "signum",
    "step",
    "heaviside",
    "clamp",
];

/// Name of the synaptic-input symbol inside neuron expressions.
pub const INPUT: &str = "input";

/// What an activation slot is bound to in a layer.
#[derive(Clone)]
pub enum Activation {
    /// A built-in elementary function (`tanh`, `sigmoid`, ...).
    Builtin(Func),
    /// `identity`: the argument itself.
    Identity,
    /// A one-argument `fn` formula, by index into the model's functions; inlined.
    User(usize),
}

/// Lowering context: the user formulas of the network and where errors go.
pub struct Scope<'a> {
    /// The network's `fn` formulas (what [`Activation::User`] indexes).
    pub functions: &'a [FnDecl],
    /// Errors found while lowering are pushed here; lowering continues past them.
    pub errors: &'a mut Vec<syn::Error>,
}

impl Scope<'_> {
    fn err(&mut self, span: Span, msg: impl std::fmt::Display) {
        self.errors.push(syn::Error::new(span, msg));
    }
}

/// What a plain name means while lowering.
enum Meaning {
    Value(Expr),
    Def(usize),
}

/// Lowers DSL expressions of one neuron into a [`Graph`].
struct NeuronLowerer<'n> {
    neuron: &'n NeuronDecl,
    activations: &'n HashMap<String, Activation>,
    names: HashMap<String, Meaning>,
    defs: Vec<(&'n Ident, &'n MathExpr)>,
    def_values: Vec<Option<Expr>>,
    in_progress: HashSet<usize>,
    states: HashSet<String>,
}

/// The derived symbolic model of one layer's neurons.
#[derive(Clone)]
pub struct NeuronSym {
    /// The graph that holds every expression of this neuron (and of the kernels derived from it).
    pub g: Graph,
    /// Name of the neuron model.
    pub neuron: String,
    /// State names, in declaration order.
    pub states: Vec<String>,
    /// Parameter names, in declaration order (the order of `theta` and of [`Layer::values`]).
    ///
    /// [`Layer::values`]: crate::validate::Layer::values
    pub params: Vec<String>,
    /// Mismatch names, in declaration order (one per state).
    pub mismatch_names: Vec<String>,
    /// Name of the prospective quantity (`ubreve` for GLE).
    pub prospective_name: String,
    /// Name of the rate (`r`); the loss reads `layer.<rate_name>`.
    pub rate_name: String,
    /// State symbols s_k, named as declared.
    pub s: Vec<Expr>,
    /// Their time derivatives ṡ_k, symbols `d_<state>` (`d(u)` in the DSL).
    pub ds: Vec<Expr>,
    /// Parameter symbols θ, in `params` order.
    pub theta: Vec<Expr>,
    /// The synaptic-input symbol `input` (Σ W r_pre + b, assembled by the generator).
    pub input: Expr,
    /// The carried prospective value (symbol `p`), argument of the rate.
    pub p: Expr,
    /// The time-step symbol `dt`.
    pub dt: Expr,
    /// Mismatches m_j(s, ṡ, input, θ).
    pub m: Vec<Expr>,
    /// Forward dynamics ṡ_k = f_k(s, input, θ), solved from m = 0.
    pub f: Vec<Expr>,
    /// The prospective quantity as declared, in s, ṡ, θ.
    pub prosp: Expr,
    /// The rate R(p, θ).
    pub rate: Expr,
}

/// The Euler step of one neuron.
pub struct EulerExprs {
    /// s_{n+1} = s_n + dt f(s_n, input, θ), per state.
    pub s_next: Vec<Expr>,
    /// The prospective value carried to the next step, p_{n+1} = prosp(s_n, ṡ_n).
    pub p_next: Expr,
}

/// Reverse mode of the Euler step of one neuron, in the adjoint symbols `adj_<state>`, `adj_p`.
pub struct EulerAdjointExprs {
    /// The symbols `adj_<state>`: the adjoint (loss sensitivity) of each s_{n+1}.
    pub adj_vars: Vec<Expr>,
    /// The symbol `adj_p`: the adjoint of p_{n+1}.
    pub adj_p: Expr,
    /// ∂J/∂s_k: the adjoint carried back to each state s_n.
    pub a_s: Vec<Expr>,
    /// ∂J/∂input: the adjoint of the synaptic input (to weights, bias and presynaptic rates).
    pub a_input: Expr,
    /// ∂J/∂θ: this step's contribution to each parameter's gradient, in `theta` order.
    pub a_theta: Vec<Expr>,
}

/// The rate and its derivatives at the carried prospective value.
pub struct RateExprs {
    /// The rate R(p, θ).
    pub r: Expr,
    /// R'(p) = ∂R/∂p (φ'(ŭ) for GLE).
    pub r_dp: Expr,
    /// ∂R/∂θ, in `theta` order.
    pub r_dtheta: Vec<Expr>,
}

/// The exact continuous adjoint of one neuron in momentum form, with costate symbols
/// `costate_<state>` and the rate sensitivity `g_r`.
pub struct AdjointExprs {
    /// The costate symbols `costate_<state>`: the momenta P_k = ∂𝓛/∂ṡ_k, with P(T) = 0.
    pub costate: Vec<Expr>,
    /// The symbol `g_r`: the rate's total sensitivity ∂𝓛/∂r (from the layers above and the loss).
    pub g_r: Expr,
    /// The multipliers λ_j of the mismatches.
    pub lambda: Vec<Expr>,
    /// dP_k/dt = ∂𝓛/∂s_k, on shell; integrated backwards in time from P(T) = 0.
    pub d_costate: Vec<Expr>,
    /// q = Σ λ_j ∂m_j/∂input (the loss density's sensitivity to the synaptic input).
    pub q: Expr,
    /// Gradient densities ∂𝓛/∂θ, in `theta` order: dL/dθ = ∫ ∂𝓛/∂θ dt.
    pub grad_theta: Vec<Expr>,
}

/// The local rule: the error neuron (linearised inverse of the neuron's input→prospective
/// filter), with error-state symbols `v_<state>` and `g_r`.
pub struct LocalExprs {
    /// The error-neuron state symbols `v_<state>` (one per state of the neuron).
    pub v: Vec<Expr>,
    /// The symbol `g_r`: the rate sensitivity that drives the error neuron (from the layers
    /// above and the loss; without the recurrent part, see `g_rec`).
    pub g_r: Expr,
    /// ê: the error at the prospective quantity, −R'(p) g_r.
    pub e_hat: Expr,
    /// The error neuron's dynamics v̇_k (for GLE, v̇ = (ê − v)/τr).
    pub dv: Vec<Expr>,
    /// ε: the error at the synaptic input (for GLE, e = v + τm v̇), recurrent part included.
    pub eps: Expr,
    /// For a layer with a recurrent projection: the symbol of the rate sensitivity that
    /// arrives through it (`g_r_rec`), kept out of the error neuron.
    pub g_rec: Option<Expr>,
    /// Its contribution to ε: the error neuron's steady-state map applied to it.
    pub eps_rec: Option<Expr>,
    /// Local estimate of ∂𝓛/∂θ.
    pub grad_theta: Vec<Expr>,
}

impl<'n> NeuronLowerer<'n> {
    fn lower(
        &mut self,
        g: &mut Graph,
        scope: &mut Scope,
        e: &MathExpr,
        args: &HashMap<String, Expr>,
    ) -> Expr {
        match e {
            MathExpr::Num { value, .. } => g.num(*value),
            MathExpr::Var(id) => {
                let name = id.to_string();
                if let Some(v) = args.get(&name) {
                    return *v;
                }
                match self.names.get(&name) {
                    Some(Meaning::Value(v)) => *v,
                    Some(Meaning::Def(k)) => {
                        let k = *k;
                        self.def_value(g, scope, k, id.span())
                    }
                    None => {
                        let msg = if self.neuron.activations.iter().any(|a| *a == name) {
                            format!("activation `{name}` must be called, e.g. `{name}(ubreve)`")
                        } else {
                            format!(
                                "unknown name `{name}` in neuron `{}`: declare it with `param`, \
                                 `state`, `let`, `prospective` or `rate` (the synaptic input is \
                                 `input`)",
                                self.neuron.name
                            )
                        };
                        scope.err(id.span(), msg);
                        g.num(0.0)
                    }
                }
            }
            MathExpr::Field { base, .. } => {
                scope.err(
                    base.span(),
                    "`layer.quantity` is only allowed in the energy, not inside a neuron",
                );
                g.num(0.0)
            }
            MathExpr::Neg { expr, .. } => {
                let a = self.lower(g, scope, expr, args);
                g.neg(a)
            }
            MathExpr::Bin { op, lhs, rhs, span } => {
                if *op == BinOp::Pow {
                    if let MathExpr::Num { value, .. } = &**rhs {
                        let a = self.lower(g, scope, lhs, args);
                        if value.fract() == 0.0 && value.abs() <= 64.0 {
                            return g.powi(a, *value as i32);
                        }
                        let b = g.num(*value);
                        return g.powf(a, b);
                    }
                    if let MathExpr::Neg { expr, .. } = &**rhs {
                        if let MathExpr::Num { value, .. } = &**expr {
                            let a = self.lower(g, scope, lhs, args);
                            if value.fract() == 0.0 && value.abs() <= 64.0 {
                                return g.powi(a, -(*value as i32));
                            }
                        }
                    }
                }
                let _ = span;
                let a = self.lower(g, scope, lhs, args);
                let b = self.lower(g, scope, rhs, args);
                match op {
                    BinOp::Add => g.add(a, b),
                    BinOp::Sub => g.sub(a, b),
                    BinOp::Mul => g.mul(a, b),
                    BinOp::Div => g.div(a, b),
                    BinOp::Pow => g.powf(a, b),
                }
            }
            MathExpr::Call {
                func,
                args: call_args,
            } => {
                let name = func.to_string();
                if name == "d" {
                    return self.lower_d(g, scope, func, call_args);
                }
                let lowered: Vec<Expr> = call_args
                    .iter()
                    .map(|a| self.lower(g, scope, a, args))
                    .collect();
                if let Some(act) = self.activations.get(&name) {
                    let act = act.clone();
                    return apply_activation(g, scope, &act, func, &lowered);
                }
                if self.neuron.activations.iter().any(|a| *a == name) {
                    // Unbound activation: reported at the layer; avoid a cascade here.
                    return lowered.first().copied().unwrap_or_else(|| g.num(0.0));
                }
                call_function(g, scope, func, &lowered)
            }
        }
    }

    fn lower_d(
        &mut self,
        g: &mut Graph,
        scope: &mut Scope,
        func: &Ident,
        args: &[MathExpr],
    ) -> Expr {
        match args {
            [MathExpr::Var(id)] if self.states.contains(&id.to_string()) => {
                g.var(&format!("d_{id}"))
            }
            [MathExpr::Var(id)] => {
                scope.err(
                    id.span(),
                    format!(
                        "`d({id})`: only state variables have a time derivative here; declare \
                         `{id}` with `state` or differentiate a state"
                    ),
                );
                g.num(0.0)
            }
            [other] => {
                scope.err(
                    other.span(),
                    "`d(...)` takes a single state variable, e.g. `d(u)`",
                );
                g.num(0.0)
            }
            _ => {
                scope.err(func.span(), "`d(...)` takes exactly one state variable");
                g.num(0.0)
            }
        }
    }

    fn def_value(&mut self, g: &mut Graph, scope: &mut Scope, k: usize, use_span: Span) -> Expr {
        if let Some(v) = self.def_values[k] {
            return v;
        }
        if !self.in_progress.insert(k) {
            scope.err(
                use_span,
                format!("`{}` is defined in terms of itself", self.defs[k].0),
            );
            return g.num(0.0);
        }
        let expr = self.defs[k].1;
        let v = self.lower(g, scope, expr, &HashMap::new());
        self.in_progress.remove(&k);
        self.def_values[k] = Some(v);
        v
    }
}

fn apply_activation(
    g: &mut Graph,
    scope: &mut Scope,
    act: &Activation,
    func: &Ident,
    args: &[Expr],
) -> Expr {
    if args.len() != 1 {
        scope.err(
            func.span(),
            format!("activation `{func}` takes one argument"),
        );
        return g.num(0.0);
    }
    match act {
        Activation::Identity => args[0],
        Activation::Builtin(f) => g.func(*f, args[0]),
        Activation::User(k) => inline_user(g, scope, *k, func, args),
    }
}

fn inline_user(g: &mut Graph, scope: &mut Scope, k: usize, func: &Ident, args: &[Expr]) -> Expr {
    let decl = &scope.functions[k];
    if decl.args.len() != args.len() {
        scope.err(
            func.span(),
            format!(
                "`{}` takes {} argument(s), {} given",
                decl.name,
                decl.args.len(),
                args.len()
            ),
        );
        return g.num(0.0);
    }
    let env: HashMap<String, Expr> = decl
        .args
        .iter()
        .map(|a| a.to_string())
        .zip(args.iter().copied())
        .collect();
    let body = decl.body.clone();
    lower_formula(g, scope, &body, &env, &mut vec![k])
}

/// Lowers the body of a user formula: only its arguments, numbers and functions are visible.
fn lower_formula(
    g: &mut Graph,
    scope: &mut Scope,
    e: &MathExpr,
    env: &HashMap<String, Expr>,
    stack: &mut Vec<usize>,
) -> Expr {
    match e {
        MathExpr::Num { value, .. } => g.num(*value),
        MathExpr::Var(id) => match env.get(&id.to_string()) {
            Some(v) => *v,
            None => {
                scope.err(
                    id.span(),
                    format!("unknown name `{id}`: a `fn` body sees only its arguments, and the loss only `layer.rate` and `target`"),
                );
                g.num(0.0)
            }
        },
        MathExpr::Field { base, .. } => {
            scope.err(
                base.span(),
                "`layer.quantity` is not allowed in a `fn` body",
            );
            g.num(0.0)
        }
        MathExpr::Neg { expr, .. } => {
            let a = lower_formula(g, scope, expr, env, stack);
            g.neg(a)
        }
        MathExpr::Bin { op, lhs, rhs, .. } => {
            let a = lower_formula(g, scope, lhs, env, stack);
            if *op == BinOp::Pow {
                if let MathExpr::Num { value, .. } = &**rhs {
                    if value.fract() == 0.0 && value.abs() <= 64.0 {
                        return g.powi(a, *value as i32);
                    }
                }
            }
            let b = lower_formula(g, scope, rhs, env, stack);
            match op {
                BinOp::Add => g.add(a, b),
                BinOp::Sub => g.sub(a, b),
                BinOp::Mul => g.mul(a, b),
                BinOp::Div => g.div(a, b),
                BinOp::Pow => g.powf(a, b),
            }
        }
        MathExpr::Call { func, args } => {
            let lowered: Vec<Expr> = args
                .iter()
                .map(|a| lower_formula(g, scope, a, env, stack))
                .collect();
            let name = func.to_string();
            if let Some(k) = scope.functions.iter().position(|f| f.name == name) {
                if stack.contains(&k) {
                    scope.err(
                        func.span(),
                        format!("`{name}` calls itself: formulas cannot recurse"),
                    );
                    return g.num(0.0);
                }
                stack.push(k);
                let decl_args: Vec<String> = scope.functions[k]
                    .args
                    .iter()
                    .map(|a| a.to_string())
                    .collect();
                if decl_args.len() != lowered.len() {
                    scope.err(
                        func.span(),
                        format!(
                            "`{name}` takes {} argument(s), {} given",
                            decl_args.len(),
                            lowered.len()
                        ),
                    );
                    stack.pop();
                    return g.num(0.0);
                }
                let env2: HashMap<String, Expr> =
                    decl_args.into_iter().zip(lowered.iter().copied()).collect();
                let body = scope.functions[k].body.clone();
                let v = lower_formula(g, scope, &body, &env2, stack);
                stack.pop();
                return v;
            }
            call_builtin(g, scope, func, &lowered)
        }
    }
}

/// Lowers an expression that sees only the names in `env` (a formula body, or the loss).
pub fn lower_with_env(
    g: &mut Graph,
    scope: &mut Scope,
    e: &MathExpr,
    env: &HashMap<String, Expr>,
) -> Expr {
    lower_formula(g, scope, e, env, &mut Vec::new())
}

/// A call to a built-in or a user formula (from a neuron body).
fn call_function(g: &mut Graph, scope: &mut Scope, func: &Ident, args: &[Expr]) -> Expr {
    let name = func.to_string();
    if let Some(k) = scope.functions.iter().position(|f| f.name == name) {
        return inline_user(g, scope, k, func, args);
    }
    call_builtin(g, scope, func, args)
}

fn call_builtin(g: &mut Graph, scope: &mut Scope, func: &Ident, args: &[Expr]) -> Expr {
    let name = func.to_string();
    let arity = |scope: &mut Scope, n: usize| {
        if args.len() != n {
            scope.err(
                func.span(),
                format!("`{name}` takes {n} argument(s), {} given", args.len()),
            );
            false
        } else {
            true
        }
    };
    if name == "identity" {
        return if arity(scope, 1) { args[0] } else { g.num(0.0) };
    }
    if name == "pow" {
        return if arity(scope, 2) {
            g.powf(args[0], args[1])
        } else {
            g.num(0.0)
        };
    }
    if let Some(f) = Func::from_name(&name) {
        return if arity(scope, 1) {
            g.func(f, args[0])
        } else {
            g.num(0.0)
        };
    }
    if NON_SMOOTH.contains(&name.as_str()) {
        scope.err(
            func.span(),
            format!(
                "`{name}` is not differentiable everywhere, so no exact adjoint exists for it; \
                 use a smooth function ({}), e.g. softplus instead of relu",
                builtins_list()
            ),
        );
    } else if name == "log" {
        scope.err(
            func.span(),
            "unknown function `log`: the natural logarithm is `ln`",
        );
    } else {
        scope.err(
            func.span(),
            format!(
                "unknown function `{name}`: the built-ins are {}, or declare `fn {name}(x) = ...;`",
                builtins_list()
            ),
        );
    }
    g.num(0.0)
}

/// Resolves an activation binding (`phi: tanh`).
pub fn resolve_activation(functions: &[FnDecl], value: &Ident) -> Result<Activation, syn::Error> {
    let name = value.to_string();
    if name == "identity" {
        return Ok(Activation::Identity);
    }
    if let Some(f) = Func::from_name(&name) {
        return Ok(Activation::Builtin(f));
    }
    if let Some(k) = functions.iter().position(|f| f.name == name) {
        if functions[k].args.len() != 1 {
            return Err(syn::Error::new(
                value.span(),
                format!(
                    "`{name}` takes {} arguments; an activation takes one",
                    functions[k].args.len()
                ),
            ));
        }
        return Ok(Activation::User(k));
    }
    if NON_SMOOTH.contains(&name.as_str()) {
        return Err(syn::Error::new(
            value.span(),
            format!(
                "`{name}` is not differentiable everywhere; use a smooth activation ({})",
                builtins_list()
            ),
        ));
    }
    Err(syn::Error::new(
        value.span(),
        format!(
            "unknown activation `{name}`: the built-ins are {}, or declare `fn {name}(x) = ...;`",
            builtins_list()
        ),
    ))
}

/// The first name in `e` for which `want` holds, following the definitions `e` uses (but not
/// `skip`, e.g. the prospective quantity inside the rate, which stands for the carried value):
/// where an error about a dependence of `e` is spanned.
pub fn find_name<'n>(
    neuron: &'n NeuronDecl,
    e: &'n MathExpr,
    want: &dyn Fn(&str) -> bool,
    skip: &str,
    seen: &mut HashSet<String>,
) -> Option<&'n Ident> {
    match e {
        MathExpr::Var(id) => {
            let name = id.to_string();
            if want(&name) {
                return Some(id);
            }
            if name == skip || !seen.insert(name.clone()) {
                return None;
            }
            let def = neuron
                .mismatches
                .iter()
                .chain(&neuron.prospectives)
                .chain(&neuron.rates)
                .chain(&neuron.lets)
                .find(|d| d.name == name)?;
            find_name(neuron, &def.expr, want, skip, seen)
        }
        MathExpr::Call { args, .. } => args
            .iter()
            .find_map(|a| find_name(neuron, a, want, skip, seen)),
        MathExpr::Neg { expr, .. } => find_name(neuron, expr, want, skip, seen),
        MathExpr::Bin { lhs, rhs, .. } => find_name(neuron, lhs, want, skip, seen)
            .or_else(|| find_name(neuron, rhs, want, skip, seen)),
        MathExpr::Num { .. } | MathExpr::Field { .. } => None,
    }
}

/// Lowers and checks one neuron model for one layer; its names must have passed
/// [`check_neuron_names`](crate::names::check_neuron_names). Returns `None` when errors were reported
/// (they are in `scope.errors`).
pub fn derive_neuron(
    neuron: &NeuronDecl,
    activations: &HashMap<String, Activation>,
    scope: &mut Scope,
) -> Option<NeuronSym> {
    let errors_before = scope.errors.len();
    let mut g = Graph::new();
    let mut names: HashMap<String, Meaning> = HashMap::new();
    let mut defs = Vec::new();
    for d in neuron
        .mismatches
        .iter()
        .chain(&neuron.prospectives)
        .chain(&neuron.rates)
        .chain(&neuron.lets)
    {
        names.insert(d.name.to_string(), Meaning::Def(defs.len()));
        defs.push((&d.name, &d.expr));
    }
    let s: Vec<Expr> = neuron
        .states
        .iter()
        .map(|id| g.var(&id.to_string()))
        .collect();
    let ds: Vec<Expr> = neuron
        .states
        .iter()
        .map(|id| g.var(&format!("d_{id}")))
        .collect();
    let theta: Vec<Expr> = neuron
        .params
        .iter()
        .map(|id| g.var(&id.to_string()))
        .collect();
    for (id, v) in neuron
        .states
        .iter()
        .zip(&s)
        .chain(neuron.params.iter().zip(&theta))
    {
        names.insert(id.to_string(), Meaning::Value(*v));
    }
    let input = g.var(INPUT);
    names.insert(INPUT.to_string(), Meaning::Value(input));
    let p = g.var("p");
    let dt = g.var("dt");

    let n_defs = defs.len();
    let mut low = NeuronLowerer {
        neuron,
        activations,
        names,
        defs,
        def_values: vec![None; n_defs],
        in_progress: HashSet::new(),
        states: neuron.states.iter().map(|s| s.to_string()).collect(),
    };
    let empty = HashMap::new();
    let m: Vec<Expr> = neuron
        .mismatches
        .iter()
        .map(|d| low.lower(&mut g, scope, &MathExpr::Var(d.name.clone()), &empty))
        .collect();
    let prosp_def = &neuron.prospectives[0];
    let prosp = low.lower(
        &mut g,
        scope,
        &MathExpr::Var(prosp_def.name.clone()),
        &empty,
    );
    // The rate is lowered with the prospective name standing for the carried value `p`.
    let rate_def = &neuron.rates[0];
    let k_prosp = neuron.mismatches.len();
    low.def_values.iter_mut().for_each(|v| *v = None);
    low.def_values[k_prosp] = Some(p);
    let rate = low.lower(&mut g, scope, &MathExpr::Var(rate_def.name.clone()), &empty);
    // Lower the remaining lets so that errors inside unused ones are still reported.
    for d in &neuron.lets {
        low.lower(&mut g, scope, &MathExpr::Var(d.name.clone()), &empty);
    }
    if scope.errors.len() > errors_before {
        return None;
    }

    // The rate may depend on states only through the prospective quantity; each error is
    // spanned on the offending name (which may sit in a `let` the rate uses).
    let prosp_name = prosp_def.name.to_string();
    let in_rate = |want: &dyn Fn(&str) -> bool| {
        find_name(
            neuron,
            &rate_def.expr,
            want,
            &prosp_name,
            &mut HashSet::new(),
        )
        .map_or_else(|| rate_def.name.span(), Ident::span)
    };
    let mut rate_reads_other = false;
    for (k, name) in neuron.states.iter().enumerate() {
        if g.depends_on(rate, s[k]) || g.depends_on(rate, ds[k]) {
            rate_reads_other = true;
            scope.err(
                in_rate(&|n| *name == n),
                format!(
                    "rate `{}` depends on `{name}` other than through the prospective `{}`: \
                     write the rate as a function of `{}` (and parameters) only",
                    rate_def.name, prosp_def.name, prosp_def.name
                ),
            );
        }
    }
    if g.depends_on(rate, input) {
        rate_reads_other = true;
        scope.err(
            in_rate(&|n| n == INPUT),
            format!(
                "the rate `{}` may not use `input` directly: it is a function of the prospective \
                 quantity `{}` (and parameters), which sees the input through the mismatches \
                 and d(state)",
                rate_def.name, prosp_def.name
            ),
        );
    }
    if g.depends_on(prosp, input) {
        let span = find_name(
            neuron,
            &prosp_def.expr,
            &|n| n == INPUT,
            "",
            &mut HashSet::new(),
        )
        .map_or_else(|| prosp_def.name.span(), Ident::span);
        scope.err(
            span,
            format!(
                "the prospective quantity `{}` may not use `input` directly: the input enters \
                 through the mismatches, and the prospective quantity sees it through d(state), \
                 e.g. `{} = u + tau_r * d(u)`",
                prosp_def.name, prosp_def.name
            ),
        );
    }
    if !rate_reads_other && !g.depends_on(rate, p) {
        scope.err(
            rate_def.name.span(),
            format!(
                "rate `{}` does not depend on the prospective quantity `{}`: the layer's output \
                 would be a constant, so nothing before it could learn; write the rate as a \
                 function of `{}`, e.g. `{} = tanh({})`",
                rate_def.name, prosp_def.name, prosp_def.name, rate_def.name, prosp_def.name
            ),
        );
    }
    // Mismatches affine in d(states), with a solvable system.
    let mut a_mat = vec![vec![g.num(0.0); ds.len()]; m.len()];
    for (j, &mj) in m.iter().enumerate() {
        for (k, &dk) in ds.iter().enumerate() {
            let a = g.diff(mj, dk);
            if ds.iter().any(|&dd| g.depends_on(a, dd)) {
                scope.err(
                    neuron.mismatches[j].name.span(),
                    format!(
                        "mismatch `{}` is not affine in d({}): the forward dynamics must be \
                         solvable for the time derivatives",
                        neuron.mismatches[j].name, neuron.states[k]
                    ),
                );
            }
            a_mat[j][k] = a;
        }
    }
    if !m.iter().any(|&mj| g.depends_on(mj, input)) {
        scope.err(
            neuron.name.span(),
            format!("no mismatch of neuron `{}` depends on `input`: the neuron would ignore its synapses", neuron.name),
        );
    }
    if scope.errors.len() > errors_before {
        return None;
    }
    let zero = g.num(0.0);
    let to_zero: Vec<(Expr, Expr)> = ds.iter().map(|&d| (d, zero)).collect();
    let rhs: Vec<Expr> = m
        .iter()
        .map(|&mj| {
            let c = g.subs(mj, &to_zero);
            g.neg(c)
        })
        .collect();
    let f = match solve_structured(&mut g, &a_mat, &rhs) {
        Some(f) => f,
        None => {
            scope.err(
                neuron.name.span(),
                format!(
                    "the mismatches of neuron `{}` do not determine d({}): each state needs a \
                     mismatch containing its time derivative",
                    neuron.name,
                    neuron
                        .states
                        .iter()
                        .map(|s| s.to_string())
                        .collect::<Vec<_>>()
                        .join("), d(")
                ),
            );
            return None;
        }
    };
    Some(NeuronSym {
        g,
        neuron: neuron.name.to_string(),
        states: neuron.states.iter().map(|s| s.to_string()).collect(),
        params: neuron.params.iter().map(|s| s.to_string()).collect(),
        mismatch_names: neuron
            .mismatches
            .iter()
            .map(|d| d.name.to_string())
            .collect(),
        prospective_name: prosp_def.name.to_string(),
        rate_name: rate_def.name.to_string(),
        s,
        ds,
        theta,
        input,
        p,
        dt,
        m,
        f,
        prosp,
        rate,
    })
}

/// Jacobians of one neuron on shell: A = ∂m/∂ṡ, B = ∂m/∂s, C = ∂m/∂input, ∂p/∂s, ∂p/∂ṡ.
struct Jacobians {
    a: Vec<Vec<Expr>>,
    b: Vec<Vec<Expr>>,
    c: Vec<Expr>,
    ps: Vec<Expr>,
    pds: Vec<Expr>,
}

impl NeuronSym {
    /// Substitutes ṡ → f(s, input, θ).
    pub fn on_shell(&mut self, e: Expr) -> Expr {
        let map: Vec<(Expr, Expr)> = self
            .ds
            .iter()
            .copied()
            .zip(self.f.iter().copied())
            .collect();
        self.g.subs(e, &map)
    }

    /// s' = s + dt f, p' = prosp(s, f): the layer-synchronous Euler step (`vle::_theory` §6).
    pub fn euler(&mut self) -> EulerExprs {
        let g = &mut self.g;
        let s_next: Vec<Expr> = self
            .s
            .iter()
            .zip(&self.f)
            .map(|(&s, &f)| {
                let step = g.mul(self.dt, f);
                g.add(s, step)
            })
            .collect();
        // The prospective value uses the state and derivative of the same step
        // (p_{n+1} = prosp(s_n, ṡ_n)): for GLE with τr = τm this makes ŭ equal the synaptic
        // input exactly (LE is instantaneous at any dt).
        let map: Vec<(Expr, Expr)> = self
            .ds
            .iter()
            .copied()
            .zip(self.f.iter().copied())
            .collect();
        let p_next = g.subs(self.prosp, &map);
        EulerExprs { s_next, p_next }
    }

    /// Reverse mode of [`NeuronSym::euler`]: J = Σ adj_s·s' + adj_p·p', differentiated.
    pub fn euler_adjoint(&mut self, fwd: &EulerExprs) -> EulerAdjointExprs {
        let adj_vars: Vec<Expr> = self
            .states
            .iter()
            .map(|s| self.g.var(&format!("adj_{s}")))
            .collect();
        let adj_p = self.g.var("adj_p");
        let mut terms: Vec<Expr> = adj_vars
            .iter()
            .zip(&fwd.s_next)
            .map(|(&a, &s)| self.g.mul(a, s))
            .collect();
        terms.push(self.g.mul(adj_p, fwd.p_next));
        let j = self.g.sum(&terms);
        let a_s = self.s.clone().iter().map(|&s| self.g.diff(j, s)).collect();
        let a_input = self.g.diff(j, self.input);
        let a_theta = self
            .theta
            .clone()
            .iter()
            .map(|&t| self.g.diff(j, t))
            .collect();
        EulerAdjointExprs {
            adj_vars,
            adj_p,
            a_s,
            a_input,
            a_theta,
        }
    }

    /// The rate at the carried prospective value and its derivatives.
    pub fn rate_exprs(&mut self) -> RateExprs {
        let r_dp = self.g.diff(self.rate, self.p);
        let r_dtheta = self
            .theta
            .clone()
            .iter()
            .map(|&t| self.g.diff(self.rate, t))
            .collect();
        RateExprs {
            r: self.rate,
            r_dp,
            r_dtheta,
        }
    }

    /// Continuous-time right-hand side and the instantaneous prospective value.
    pub fn continuous(&mut self) -> (Vec<Expr>, Expr) {
        let p = self.on_shell(self.prosp);
        (self.f.clone(), p)
    }

    /// Rate as a function of the states and input (prospective substituted, on shell).
    fn rate_on_shell(&mut self) -> Expr {
        let p_val = self.on_shell(self.prosp);
        self.g.subs(self.rate, &[(self.p, p_val)])
    }

    /// The exact adjoint (`vle::_theory` §4) in momentum form: with 𝓛 = Σ λ_j m_j + g_r R,
    /// P_k = ∂𝓛/∂ṡ_k determines λ, and dP_k/dt = ∂𝓛/∂s_k.
    pub fn adjoint(&mut self) -> Option<AdjointExprs> {
        let costate: Vec<Expr> = self
            .states
            .iter()
            .map(|s| self.g.var(&format!("costate_{s}")))
            .collect();
        let g_r = self.g.var("g_r");
        let lam_vars: Vec<Expr> = (0..self.m.len())
            .map(|j| self.g.var(&format!("lam_{j}")))
            .collect();
        let p_prosp = self.prosp;
        let rate_of_s = self.g.subs(self.rate, &[(self.p, p_prosp)]);
        let mut terms: Vec<Expr> = lam_vars
            .iter()
            .zip(&self.m)
            .map(|(&l, &m)| self.g.mul(l, m))
            .collect();
        terms.push(self.g.mul(g_r, rate_of_s));
        let lagr = self.g.sum(&terms);
        // P = Aᵀλ + g_r ∂R/∂ṡ  ⇒  Aᵀ λ = P − g_r ∂R/∂ṡ.
        let n = self.s.len();
        let mut at = vec![vec![self.g.num(0.0); n]; n];
        for (j, &mj) in self.m.clone().iter().enumerate() {
            for k in 0..n {
                at[k][j] = self.g.diff(mj, self.ds[k]);
            }
        }
        let mut rhs = Vec::with_capacity(n);
        for k in 0..n {
            let dr = self.g.diff(rate_of_s, self.ds[k]);
            let c = self.g.mul(g_r, dr);
            rhs.push(self.g.sub(costate[k], c));
        }
        let lam = solve_structured(&mut self.g, &at, &rhs)?;
        // Substitution is simultaneous: put λ on shell first, then replace λ and ṡ together.
        let lam: Vec<Expr> = lam.into_iter().map(|l| self.on_shell(l)).collect();
        let mut sub_lam: Vec<(Expr, Expr)> =
            lam_vars.iter().copied().zip(lam.iter().copied()).collect();
        sub_lam.extend(self.ds.iter().copied().zip(self.f.iter().copied()));
        let finish = |this: &mut Self, e: Expr| this.g.subs(e, &sub_lam);
        let lambda: Vec<Expr> = lam.clone().into_iter().map(|l| finish(self, l)).collect();
        let mut d_costate = Vec::with_capacity(n);
        for k in 0..n {
            let d = self.g.diff(lagr, self.s[k]);
            d_costate.push(finish(self, d));
        }
        let q_raw = {
            let terms: Vec<Expr> = lam_vars
                .iter()
                .zip(&self.m.clone())
                .map(|(&l, &m)| {
                    let dm = self.g.diff(m, self.input);
                    self.g.mul(l, dm)
                })
                .collect();
            self.g.sum(&terms)
        };
        let q = finish(self, q_raw);
        let mut grad_theta = Vec::new();
        for t in self.theta.clone() {
            let d = self.g.diff(lagr, t);
            grad_theta.push(finish(self, d));
        }
        Some(AdjointExprs {
            costate,
            g_r,
            lambda,
            d_costate,
            q,
            grad_theta,
        })
    }

    /// Jacobians of the mismatches and the prospective quantity, on shell.
    fn jacobians(&mut self) -> Jacobians {
        let n = self.s.len();
        let mut a = vec![vec![self.g.num(0.0); n]; n];
        let mut b = vec![vec![self.g.num(0.0); n]; n];
        let mut c = vec![self.g.num(0.0); n];
        for j in 0..n {
            let mj = self.m[j];
            for k in 0..n {
                let da = self.g.diff(mj, self.ds[k]);
                a[j][k] = self.on_shell(da);
                let db = self.g.diff(mj, self.s[k]);
                b[j][k] = self.on_shell(db);
            }
            let dc = self.g.diff(mj, self.input);
            c[j] = self.on_shell(dc);
        }
        let mut ps = Vec::with_capacity(n);
        let mut pds = Vec::with_capacity(n);
        for k in 0..n {
            let d = self.g.diff(self.prosp, self.s[k]);
            ps.push(self.on_shell(d));
            let d = self.g.diff(self.prosp, self.ds[k]);
            pds.push(self.on_shell(d));
        }
        Jacobians { a, b, c, ps, pds }
    }

    /// The local rule (`vle::_theory` §5 generalised): the error neuron is the neuron's own
    /// input→prospective filter, linearised at the current state and run as its inverse:
    /// A v̇ + B v + C ε = 0 and ∂p/∂s·v + ∂p/∂ṡ·v̇ = ê, solved for (v̇, ε). For GLE this is
    /// τr v̇ = −v + ê, ε = v + τm v̇. Returns `None` when the inversion is not causal
    /// (the prospective quantity has no instantaneous dependence on the input).
    ///
    /// With `recurrent`, the error arriving through the layer's own projection (`g_r_rec`)
    /// bypasses the error neuron and enters ε through the neuron's steady-state map (B v + C ε
    /// = 0, ∂p/∂s·v = ê_rec; for GLE ε_rec = ê_rec). Closing the error loop through the
    /// inverse filter instead (GLE's prescription) is unstable as soon as the loop gain exceeds
    /// τr/τm, even when the forward network is stable: the inverse filter's gain rises to
    /// τm/τr at high frequency. The bypass keeps the loop's steady state (= backprop through
    /// the recurrence at rest) and is stable whenever the forward LE-loop would be. For LE
    /// neurons (τr = τm) both prescriptions coincide.
    pub fn local(&mut self, recurrent: bool) -> Option<LocalExprs> {
        let n = self.s.len();
        let v: Vec<Expr> = self
            .states
            .iter()
            .map(|s| self.g.var(&format!("v_{s}")))
            .collect();
        let g_r = self.g.var("g_r");
        let r_dp = self.g.diff(self.rate, self.p);
        let e_hat = {
            let t = self.g.mul(r_dp, g_r);
            self.g.neg(t)
        };
        let Jacobians { a, b, c, ps, pds } = self.jacobians();
        // Unknowns: v̇_0..v̇_{n-1}, ε.
        let mut mat = vec![vec![self.g.num(0.0); n + 1]; n + 1];
        let mut rhs = vec![self.g.num(0.0); n + 1];
        for j in 0..n {
            mat[j][..n].copy_from_slice(&a[j][..n]);
            mat[j][n] = c[j];
            let terms: Vec<Expr> = (0..n).map(|k| self.g.mul(b[j][k], v[k])).collect();
            let bv = self.g.sum(&terms);
            rhs[j] = self.g.neg(bv);
        }
        mat[n][..n].copy_from_slice(&pds[..n]);
        let terms: Vec<Expr> = (0..n).map(|k| self.g.mul(ps[k], v[k])).collect();
        let pv = self.g.sum(&terms);
        rhs[n] = self.g.sub(e_hat, pv);
        let sol = solve_structured(&mut self.g, &mat, &rhs)?;
        let mut dv = sol[..n].to_vec();
        let mut eps_ext = sol[n];
        let (g_rec, eps_rec) = if recurrent {
            let g_rec = self.g.var("g_r_rec");
            let e_hat_rec = {
                let t = self.g.mul(r_dp, g_rec);
                self.g.neg(t)
            };
            // Steady state of the error neuron (v̇ = 0), unknowns v_0..v_{n-1}, ε.
            let mut mat = vec![vec![self.g.num(0.0); n + 1]; n + 1];
            let mut rhs = vec![self.g.num(0.0); n + 1];
            for j in 0..n {
                mat[j][..n].copy_from_slice(&b[j][..n]);
                mat[j][n] = c[j];
            }
            mat[n][..n].copy_from_slice(&ps[..n]);
            rhs[n] = e_hat_rec;
            match solve_structured(&mut self.g, &mat, &rhs) {
                Some(sol) => (Some(g_rec), Some(sol[n])),
                None => {
                    // No steady-state map (structurally singular at rest): the recurrent error
                    // drives the error neuron like any other (GLE's prescription).
                    let total = self.g.add(g_r, g_rec);
                    let swap = [(g_r, total)];
                    dv = dv.into_iter().map(|e| self.g.subs(e, &swap)).collect();
                    eps_ext = self.g.subs(eps_ext, &swap);
                    (Some(g_rec), Some(self.g.num(0.0)))
                }
            }
        } else {
            (None, None)
        };
        let eps = match eps_rec {
            Some(r) => self.g.add(eps_ext, r),
            None => eps_ext,
        };
        let g_total = match g_rec {
            Some(r) => self.g.add(g_r, r),
            None => g_r,
        };
        // Local multipliers: the minimum-norm λ̂ with Σ λ̂_j ∂m_j/∂input = −ε.
        let c_sq_terms: Vec<Expr> = c.iter().map(|&cj| self.g.mul(cj, cj)).collect();
        let c_sq = self.g.sum(&c_sq_terms);
        let scale = {
            let ne = self.g.neg(eps);
            self.g.div(ne, c_sq)
        };
        let lam_hat: Vec<Expr> = c.iter().map(|&cj| self.g.mul(scale, cj)).collect();
        let mut grad_theta = Vec::new();
        for t in self.theta.clone() {
            let mut terms = Vec::new();
            for j in 0..n {
                let dm = self.g.diff(self.m[j], t);
                let dm = self.on_shell(dm);
                terms.push(self.g.mul(lam_hat[j], dm));
            }
            // g_r (∂R/∂θ + R'(p) ∂p/∂θ) at the carried p and the current ṡ.
            let dr = self.g.diff(self.rate, t);
            let dp = self.g.diff(self.prosp, t);
            let dp = self.on_shell(dp);
            let chain = self.g.mul(r_dp, dp);
            let total = self.g.add(dr, chain);
            terms.push(self.g.mul(g_total, total));
            grad_theta.push(self.g.sum(&terms));
        }
        Some(LocalExprs {
            v,
            g_r,
            e_hat,
            dv,
            eps,
            g_rec,
            eps_rec,
            grad_theta,
        })
    }

    /// Whether the rate on shell depends on a parameter anywhere (for `learn` validation).
    pub fn uses_param(&mut self, k: usize) -> bool {
        let t = self.theta[k];
        let r = self.rate_on_shell();
        self.m.iter().any(|&m| self.g.depends_on(m, t))
            || self.g.depends_on(self.prosp, t)
            || self.g.depends_on(r, t)
    }
}
