//! The resting point — every state, the carried prospective value and the input zero — where
//! every simulation starts. Per layer, at each distinct set of its parameter values:
//!
//! 1. the local inversion is causal: the prospective quantity follows the input instantly;
//! 2. every expression the kernels evaluate there is finite: the forward dynamics, the
//!    prospective value, the rate, and the derivatives of these that the exact adjoint and the
//!    local rule take (R'(p), ∂f/∂s, ...);
//! 3. the local error neuron (the inverse of the input → prospective filter) is stable.
//!
//! A non-finite expression is traced back to the operation of the neuron's source that makes
//! it so (`ln` of 0, `sqrt` at 0, a division by 0, ...), where the error is spanned.

use std::collections::{HashMap, HashSet};

use proc_macro2::Span;

use crate::ast::{BinOp, BindingValue, FnDecl, LayerDecl, MathExpr, Model, NeuronDecl};
use crate::derive::{resolve_activation, Activation, NeuronSym, INPUT};
use crate::sym::{Expr, Func, Graph};
use crate::validate::{Layer, SourceKind};

/// The time step the Euler expressions are evaluated at: they are affine in dt, so any finite
/// value shows whether they are finite.
const DT_PROBE: f64 = 1e-2;

/// The value given to the symbols the kernels are linear in (adjoints, costates, the rate
/// sensitivity g_r, the error neuron's states): an expression linear in them is finite at 1
/// exactly when its coefficients are (and an infinite coefficient is NaN even at 0).
const LINEAR_PROBE: f64 = 1.0;

/// Checks one layer at rest (see the module docs); errors already reported for the same neuron
/// and cause (`reported`) are not repeated for another layer.
pub fn check_layer_at_rest(
    layer: &mut Layer,
    decl: &LayerDecl,
    model: &Model,
    errors: &mut Vec<syn::Error>,
    reported: &mut HashSet<String>,
) {
    let Some(neuron) = model.neurons.iter().find(|n| n.name == decl.neuron) else {
        return;
    };
    // The generator reuses this graph: the nodes added here (the local rule, the Jacobian of
    // its dynamics and the prospective value on shell) are part of what the expansion
    // snapshots pin, so they are added in this order; everything else runs on a copy.
    let local = layer.sym.local(false);
    let jac: Option<Vec<Vec<Expr>>> = local.as_ref().map(|local| {
        let n = local.v.len();
        (0..n)
            .map(|i| {
                (0..n)
                    .map(|j| layer.sym.g.diff(local.dv[i], local.v[j]))
                    .collect()
            })
            .collect()
    });
    let p_rest_expr = jac.as_ref().map(|_| {
        let prosp = layer.sym.prosp;
        layer.sym.on_shell(prosp)
    });
    if local.is_none() && reported.insert(format!("noncausal {}", neuron.name)) {
        errors.push(noncausal_error(&mut layer.sym, neuron));
    }

    let mut sym = layer.sym.clone();
    let p_rest_expr = match p_rest_expr {
        Some(e) => e,
        None => {
            let prosp = sym.prosp;
            sym.on_shell(prosp)
        }
    };
    let recurrent = layer
        .sources
        .iter()
        .any(|s| s.kind == SourceKind::Recurrent);
    let mut kernels = kernel_exprs(&mut sym, local.is_some(), recurrent);
    kernels.extend(jac.iter().flatten().flatten().map(|&e| (Part::Local, e)));
    let activations = bound_activations(decl, &model.functions);

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
        let at = RestPoint::new(&sym, &vals);
        let desc = at.describe(&sym);
        let f_rest: Vec<f64> = sym.f.iter().map(|&e| at.eval(&sym.g, e, 0.0)).collect();
        let p_rest = at.eval(&sym.g, p_rest_expr, 0.0);
        // The carried prospective value starts at 0; the continuous kernels use p_rest.
        let mut ps = vec![0.0];
        if p_rest.is_finite() && p_rest != 0.0 {
            ps.push(p_rest);
        }
        let failing = ps
            .iter()
            .find_map(|&p| {
                kernels
                    .iter()
                    .find(|(_, e)| !at.eval_with_dstates(&sym, &f_rest, *e, p).is_finite())
                    .map(|(part, _)| *part)
            })
            .or((!p_rest.is_finite()).then_some(Part::Forward));
        if let Some(part) = failing {
            let mut loc = Locator {
                neuron,
                functions: &model.functions,
                activations: &activations,
                values: sym
                    .params
                    .iter()
                    .cloned()
                    .zip(vals.iter().copied())
                    .collect(),
                dstates: neuron
                    .states
                    .iter()
                    .map(|s| s.to_string())
                    .zip(f_rest.iter().copied())
                    .collect(),
                prosp_as_p: None,
                memo: HashMap::new(),
                in_progress: HashSet::new(),
            };
            let cause = match loc.find_culprit(&ps) {
                Some(c) => Cause::Operation(c),
                None if f_rest.iter().any(|v| !v.is_finite()) => Cause::Unsolvable,
                None if part == Part::Local => Cause::Inversion,
                None => Cause::Other,
            };
            let (key, error) = not_finite_error(cause, neuron, decl, &layer.name, &desc);
            if reported.insert(key) {
                errors.push(error);
            }
            return;
        }
        // Stability of the error neuron, from its Jacobian at rest.
        let Some(jac) = &jac else { continue };
        let params = &sym.params;
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
        if !hurwitz(&m) {
            errors.push(syn::Error::new(
                decl.neuron.span(),
                format!(
                    "neuron `{}` in layer `{}`: the local error neuron (the inverse of its \
                     input→prospective filter) is unstable{desc}: the filter is not \
                     minimum-phase, so the phase-matched causal inversion does not exist",
                    neuron.name, layer.name
                ),
            ));
            return;
        }
    }
}

/// Why an expression of the kernels is not finite at rest.
enum Cause {
    /// An operation of the neuron's source (`ln` of 0, ...).
    Operation(Culprit),
    /// The mismatches cannot be solved for the derivatives (their coefficients vanish).
    Unsolvable,
    /// The local rule's inversion (the prospective quantity's d(state) coefficients vanish).
    Inversion,
    /// None of the above found.
    Other,
}

/// The error for `cause` in layer `layer` (`desc` names the parameter values), and the key
/// under which it is reported once per neuron model.
fn not_finite_error(
    cause: Cause,
    neuron: &NeuronDecl,
    decl: &LayerDecl,
    layer: &str,
    desc: &str,
) -> (String, syn::Error) {
    let who = format!("neuron `{}` in layer `{layer}`{desc}", neuron.name);
    let rest = "all states, the carried prospective value and the input zero, where every \
                simulation starts";
    let (span, msg) = match cause {
        Cause::Operation(c) => (
            c.span,
            format!(
                "{who}: `{}` is not finite at rest ({rest}): {}; {}",
                c.expr, c.why, c.advice
            ),
        ),
        Cause::Unsolvable => {
            let states: Vec<String> = neuron.states.iter().map(|s| s.to_string()).collect();
            (
                neuron.mismatches[0].name.span(),
                format!(
                    "{who}: the mismatches cannot be solved for d({}) at rest ({rest}): the \
                     coefficients of the derivatives vanish there; give each d(state) a \
                     coefficient that is non-zero at rest, e.g. a time constant (`tau * d(u)`)",
                    states.join("), d(")
                ),
            )
        }
        Cause::Inversion => {
            let prosp = &neuron.prospectives[0].name;
            (
                prosp.span(),
                format!(
                    "{who}: the local rule is not finite at rest ({rest}): it inverts the \
                     input→prospective filter, and the dependence of `{prosp}` on the input \
                     through d(state) vanishes at these parameter values (e.g. a coefficient of \
                     d(u) that is 0); give the d(state) terms of `{prosp}` coefficients that are \
                     non-zero, e.g. a time constant (`u + tau_r * d(u)`)"
                ),
            )
        }
        Cause::Other => {
            return (
                format!("rest {} {layer}", neuron.name),
                syn::Error::new(
                    decl.neuron.span(),
                    format!(
                        "{who}: its equations are not finite at rest ({rest}): e.g. `sqrt(u)`, \
                         `ln(u)` or `1/u` of a state; shift the state or use a function finite \
                         at 0"
                    ),
                ),
            )
        }
    };
    (
        format!("rest {} {span:?}", neuron.name),
        syn::Error::new(span, msg),
    )
}

/// The rate of `layer` at rest for each distinct set of its parameter values, at the carried
/// prospective value 0 and at the prospective value of the resting state (what the loss reads at
/// the first step).
pub fn rates_at_rest(layer: &Layer) -> Vec<f64> {
    let mut sym = layer.sym.clone();
    let prosp = sym.prosp;
    let p_rest_expr = sym.on_shell(prosp);
    let mut out = Vec::new();
    for neuron_i in 0..layer.size {
        let vals: Vec<f64> = layer
            .values
            .iter()
            .map(|v| v.get(neuron_i).copied().unwrap_or(1.0))
            .collect();
        let at = RestPoint::new(&sym, &vals);
        let p_rest = at.eval(&sym.g, p_rest_expr, 0.0);
        for p in [0.0, p_rest] {
            let r = at.eval(&sym.g, sym.rate, p);
            if !out.iter().any(|&o: &f64| o.to_bits() == r.to_bits()) {
                out.push(r);
            }
        }
    }
    out
}

/// The kernels an expression belongs to: what an error names when no operation of the source
/// is found to blame.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Part {
    /// The forward dynamics and the prospective value.
    Forward,
    /// The rate and its derivatives.
    Rate,
    /// The reverse mode of the Euler step and the exact continuous adjoint.
    Adjoint,
    /// The local rule: the error neuron and the local gradients.
    Local,
}

/// Every expression a kernel evaluates for one neuron: forward dynamics, prospective value and
/// rate with their derivatives (the Euler step's reverse mode, the exact adjoint, the local
/// rule).
fn kernel_exprs(sym: &mut NeuronSym, causal: bool, recurrent: bool) -> Vec<(Part, Expr)> {
    let mut out = Vec::new();
    let mut add = |part: Part, es: &[Expr]| out.extend(es.iter().map(|&e| (part, e)));
    let fwd = sym.euler();
    add(Part::Forward, &fwd.s_next);
    add(Part::Forward, &[fwd.p_next]);
    let (f, p) = sym.continuous();
    add(Part::Forward, &f);
    add(Part::Forward, &[p]);
    let re = sym.rate_exprs();
    add(Part::Rate, &[re.r, re.r_dp]);
    add(Part::Rate, &re.r_dtheta);
    let adj = sym.euler_adjoint(&fwd);
    add(Part::Adjoint, &adj.a_s);
    add(Part::Adjoint, &[adj.a_input]);
    add(Part::Adjoint, &adj.a_theta);
    if let Some(a) = sym.adjoint() {
        add(Part::Adjoint, &a.lambda);
        add(Part::Adjoint, &a.d_costate);
        add(Part::Adjoint, &[a.q]);
        add(Part::Adjoint, &a.grad_theta);
    }
    if causal {
        if let Some(l) = sym.local(recurrent) {
            add(Part::Local, &[l.e_hat, l.eps]);
            add(Part::Local, &l.dv);
            add(Part::Local, &l.grad_theta);
        }
    }
    out
}

/// The layer's activation bindings (valid ones: the layer was checked before).
fn bound_activations(decl: &LayerDecl, functions: &[FnDecl]) -> HashMap<String, Activation> {
    decl.bindings
        .iter()
        .filter_map(|b| match &b.value {
            BindingValue::Func(f) => resolve_activation(functions, f)
                .ok()
                .map(|a| (b.key.to_string(), a)),
            BindingValue::Values(_) => None,
        })
        .collect()
}

/// The values of a neuron's symbols at rest, for one set of parameter values.
struct RestPoint {
    names: HashMap<String, f64>,
}

impl RestPoint {
    fn new(sym: &NeuronSym, vals: &[f64]) -> Self {
        let mut names: HashMap<String, f64> = sym
            .params
            .iter()
            .cloned()
            .zip(vals.iter().copied())
            .collect();
        for s in &sym.states {
            names.insert(s.clone(), 0.0);
        }
        names.insert(INPUT.to_string(), 0.0);
        names.insert("dt".to_string(), DT_PROBE);
        RestPoint { names }
    }

    /// ` at tau_m = 1.0, tau_r = 0.5` (nothing for a neuron without parameters).
    fn describe(&self, sym: &NeuronSym) -> String {
        if sym.params.is_empty() {
            return String::new();
        }
        let values: Vec<String> = sym
            .params
            .iter()
            .map(|p| format!("{p} = {:?}", self.names[p]))
            .collect();
        format!(" at {}", values.join(", "))
    }

    /// `e` at rest with the carried prospective value `p`.
    fn eval(&self, g: &Graph, e: Expr, p: f64) -> f64 {
        g.eval(e, &|name| match name {
            "p" => p,
            _ => self.names.get(name).copied().unwrap_or(LINEAR_PROBE),
        })
    }

    /// Like [`RestPoint::eval`], with the symbols `d_<state>` at the derivatives at rest.
    fn eval_with_dstates(&self, sym: &NeuronSym, f_rest: &[f64], e: Expr, p: f64) -> f64 {
        sym.g.eval(e, &|name| {
            if name == "p" {
                return p;
            }
            if let Some(v) = self.names.get(name) {
                return *v;
            }
            name.strip_prefix("d_")
                .and_then(|s| sym.states.iter().position(|x| x == s))
                .map_or(LINEAR_PROBE, |k| f_rest[k])
        })
    }
}

/// Why the neuron is not finite at rest, and where.
struct Culprit {
    span: Span,
    /// The neuron's expression quoted (the call site when the cause is inside a `fn`).
    expr: String,
    why: String,
    advice: String,
}

/// A value at rest, and whether it varies (depends on a state, the input, a parameter or the
/// prospective value): only then are the kernels' derivatives of an operation taken.
#[derive(Clone, Copy)]
struct Val {
    v: f64,
    varying: bool,
}

/// Evaluates the neuron's source expressions at rest, operation by operation, to find the first
/// one whose value or derivative is not finite while its arguments are.
struct Locator<'a> {
    neuron: &'a NeuronDecl,
    functions: &'a [FnDecl],
    activations: &'a HashMap<String, Activation>,
    values: HashMap<String, f64>,
    dstates: HashMap<String, f64>,
    /// In the rate: the value the prospective quantity's name stands for.
    prosp_as_p: Option<f64>,
    memo: HashMap<String, Val>,
    in_progress: HashSet<String>,
}

/// Where a formula is being evaluated: the neuron's own expressions, or a `fn` body (with its
/// arguments, called at `site` in the neuron).
struct Frame<'f> {
    args: Option<&'f HashMap<String, Val>>,
    site: Option<(Span, String)>,
}

fn num(v: f64) -> String {
    if v.is_finite() && v.fract() == 0.0 && v.abs() < 1e15 {
        format!("{}", v as i64)
    } else {
        format!("{v}")
    }
}

impl Locator<'_> {
    /// Looks through the mismatches and the prospective quantity, then the rate at each carried
    /// prospective value in `ps`.
    fn find_culprit(&mut self, ps: &[f64]) -> Option<Culprit> {
        let neuron = self.neuron;
        let top = Frame {
            args: None,
            site: None,
        };
        for d in neuron.mismatches.iter().chain(&neuron.prospectives) {
            if let Err(c) = self.eval(&d.expr, &top) {
                return Some(c);
            }
        }
        for &p in ps {
            self.memo.clear();
            self.prosp_as_p = Some(p);
            for d in &neuron.rates {
                if let Err(c) = self.eval(&d.expr, &top) {
                    return Some(c);
                }
            }
        }
        None
    }

    fn culprit(
        &self,
        frame: &Frame,
        span: Span,
        expr: &dyn std::fmt::Display,
        why: String,
        advice: &str,
    ) -> Culprit {
        match &frame.site {
            Some((site, call)) => Culprit {
                span: *site,
                expr: call.clone(),
                why: format!("it evaluates `{expr}` there, and {why}"),
                advice: advice.to_string(),
            },
            None => Culprit {
                span,
                expr: expr.to_string(),
                why,
                advice: advice.to_string(),
            },
        }
    }

    fn eval(&mut self, e: &MathExpr, frame: &Frame) -> Result<Val, Culprit> {
        match e {
            MathExpr::Num { value, span } => {
                if !value.is_finite() {
                    return Err(self.culprit(
                        frame,
                        *span,
                        e,
                        "the literal is beyond the range of f64".into(),
                        "write a finite number",
                    ));
                }
                Ok(Val {
                    v: *value,
                    varying: false,
                })
            }
            MathExpr::Var(id) => self.name(&id.to_string(), frame),
            MathExpr::Field { .. } => Ok(Val {
                v: 0.0,
                varying: false,
            }),
            MathExpr::Neg { expr, .. } => {
                let a = self.eval(expr, frame)?;
                Ok(Val { v: -a.v, ..a })
            }
            MathExpr::Bin { op, span, lhs, rhs } => {
                let a = self.eval(lhs, frame)?;
                // The lowering's integer powers (`x^2`, `x^-1`): no derivative in the exponent.
                let int_exp = match (&**rhs, op) {
                    (MathExpr::Num { value, .. }, BinOp::Pow)
                        if value.fract() == 0.0 && value.abs() <= 64.0 =>
                    {
                        Some(*value)
                    }
                    (MathExpr::Neg { expr, .. }, BinOp::Pow) => match &**expr {
                        MathExpr::Num { value, .. }
                            if value.fract() == 0.0 && value.abs() <= 64.0 =>
                        {
                            Some(-value)
                        }
                        _ => None,
                    },
                    _ => None,
                };
                let b = match int_exp {
                    Some(n) => Val {
                        v: n,
                        varying: false,
                    },
                    None => self.eval(rhs, frame)?,
                };
                let varying = a.varying || b.varying;
                if !(a.v.is_finite() && b.v.is_finite()) {
                    // Not this operation's fault: a non-finite d(state) (reported apart).
                    return Ok(Val {
                        v: f64::NAN,
                        varying,
                    });
                }
                let v = match op {
                    BinOp::Add => a.v + b.v,
                    BinOp::Sub => a.v - b.v,
                    BinOp::Mul => a.v * b.v,
                    BinOp::Div => {
                        if b.v == 0.0 {
                            return Err(self.culprit(
                                frame,
                                *span,
                                e,
                                format!("its denominator `{rhs}` is 0 there"),
                                "make the denominator non-zero at rest, e.g. add a constant \
                                 (`1 + ...`)",
                            ));
                        }
                        a.v / b.v
                    }
                    BinOp::Pow => return self.power(e, *span, a, b, frame),
                };
                self.finite(e, *span, Val { v, varying }, frame)
            }
            MathExpr::Call { func, args } => self.call(e, func, args, frame),
        }
    }

    /// A result computed from finite arguments that is not finite itself: an overflow.
    fn finite(&self, e: &MathExpr, span: Span, val: Val, frame: &Frame) -> Result<Val, Culprit> {
        if val.v.is_finite() {
            return Ok(val);
        }
        Err(self.culprit(
            frame,
            span,
            e,
            format!("it is {} there (an overflow)", num(val.v)),
            "scale it down so that it stays within the range of f64",
        ))
    }

    fn power(
        &self,
        e: &MathExpr,
        span: Span,
        a: Val,
        b: Val,
        frame: &Frame,
    ) -> Result<Val, Culprit> {
        let advice = "use a base that is positive at rest (e.g. `(1 + x)^y`) or an integer \
                      exponent";
        let v = a.v.powf(b.v);
        let integer = b.v.fract() == 0.0;
        if a.v < 0.0 && !integer {
            let why = format!(
                "a negative base ({}) to a non-integer power ({}) is not a real number",
                num(a.v),
                num(b.v)
            );
            return Err(self.culprit(frame, span, e, why, advice));
        }
        if a.v == 0.0 && b.v < 0.0 {
            let why = format!("0 to the power {} is infinite", num(b.v));
            return Err(self.culprit(frame, span, e, why, advice));
        }
        if a.v == 0.0 && a.varying && !integer && b.v < 1.0 {
            let why = format!(
                "the power {} of a base that is 0 there has an infinite derivative, which the \
                 adjoint and the local rule evaluate",
                num(b.v)
            );
            return Err(self.culprit(frame, span, e, why, advice));
        }
        if b.varying && a.v <= 0.0 {
            let why = format!(
                "its exponent varies, and the derivative in the exponent, ln(base)·base^exponent, \
                 is undefined for the base {} there",
                num(a.v)
            );
            return Err(self.culprit(frame, span, e, why, advice));
        }
        self.finite(
            e,
            span,
            Val {
                v,
                varying: a.varying || b.varying,
            },
            frame,
        )
    }

    fn name(&mut self, name: &str, frame: &Frame) -> Result<Val, Culprit> {
        let varying = |v: f64| Ok(Val { v, varying: true });
        if let Some(args) = frame.args {
            return Ok(args.get(name).copied().unwrap_or(Val {
                v: f64::NAN,
                varying: false,
            }));
        }
        let neuron = self.neuron;
        if let Some(p) = self.prosp_as_p {
            if neuron.prospectives.iter().any(|d| d.name == name) {
                return varying(p);
            }
        }
        if name == INPUT || neuron.states.iter().any(|s| s == name) {
            return varying(0.0);
        }
        if let Some(&v) = self.values.get(name) {
            return varying(v);
        }
        if let Some(&v) = self.memo.get(name) {
            return Ok(v);
        }
        let Some(def) = neuron
            .mismatches
            .iter()
            .chain(&neuron.prospectives)
            .chain(&neuron.rates)
            .chain(&neuron.lets)
            .find(|d| d.name == name)
        else {
            return varying(f64::NAN);
        };
        if !self.in_progress.insert(name.to_string()) {
            return varying(f64::NAN);
        }
        // A cause inside a definition is spanned there (in its `let` line, say).
        let v = self.eval(&def.expr, frame);
        self.in_progress.remove(name);
        let v = v?;
        self.memo.insert(name.to_string(), v);
        Ok(v)
    }

    fn call(
        &mut self,
        e: &MathExpr,
        func: &syn::Ident,
        args: &[MathExpr],
        frame: &Frame,
    ) -> Result<Val, Culprit> {
        let name = func.to_string();
        if name == "d" && frame.args.is_none() {
            let v = match args {
                [MathExpr::Var(id)] => self.dstates.get(&id.to_string()).copied(),
                _ => None,
            };
            return Ok(Val {
                v: v.unwrap_or(f64::NAN),
                varying: true,
            });
        }
        let mut vals = Vec::with_capacity(args.len());
        for a in args {
            vals.push(self.eval(a, frame)?);
        }
        if vals.iter().any(|v| !v.v.is_finite()) {
            return Ok(Val {
                v: f64::NAN,
                varying: true,
            });
        }
        let activation = if frame.args.is_none() {
            self.activations.get(&name).cloned()
        } else {
            None
        };
        let user = |k: usize| self.functions.get(k);
        let target = match &activation {
            Some(Activation::Identity) => return Ok(vals[0]),
            Some(Activation::Builtin(f)) => Callee::Builtin(*f),
            Some(Activation::User(k)) => match user(*k) {
                Some(f) => Callee::User(f),
                None => return Ok(vals[0]),
            },
            None => match self.functions.iter().find(|f| f.name == name) {
                Some(f) => Callee::User(f),
                None if name == "identity" => return Ok(vals[0]),
                None if name == "pow" && vals.len() == 2 => {
                    let span = func.span();
                    return self.power(e, span, vals[0], vals[1], frame);
                }
                None => match Func::from_name(&name) {
                    Some(f) => Callee::Builtin(f),
                    None => return Ok(vals[0]),
                },
            },
        };
        match target {
            Callee::Builtin(f) if activation.is_some() => self
                .builtin(e, func.span(), f, vals[0], frame)
                .map_err(|mut c| {
                    c.why = format!(
                        "`{name}` is bound to `{}` in this layer, and {}",
                        f.name(),
                        c.why
                    );
                    c
                }),
            Callee::Builtin(f) => self.builtin(e, func.span(), f, vals[0], frame),
            Callee::User(decl) => {
                let env: HashMap<String, Val> =
                    decl.args.iter().map(|a| a.to_string()).zip(vals).collect();
                let site = frame
                    .site
                    .clone()
                    .unwrap_or_else(|| (func.span(), e.to_string()));
                let inner = Frame {
                    args: Some(&env),
                    site: Some(site),
                };
                let body = &decl.body;
                self.eval(body, &inner)
            }
        }
    }

    fn builtin(
        &self,
        e: &MathExpr,
        span: Span,
        f: Func,
        a: Val,
        frame: &Frame,
    ) -> Result<Val, Culprit> {
        let v = f.apply(a.v);
        match f {
            Func::Ln if a.v <= 0.0 => Err(self.culprit(
                frame,
                span,
                e,
                format!("ln of {} is {}", num(a.v), num(v)),
                "ln needs an argument that is positive at rest: add a positive constant (e.g. \
                 `ln(1 + x)` for an x that is 0 there) or use `softplus(x)` = ln(1 + exp(x))",
            )),
            Func::Sqrt if a.v < 0.0 || (a.v == 0.0 && a.varying) => Err(self.culprit(
                frame,
                span,
                e,
                if a.v < 0.0 {
                    format!("sqrt of {} is not a real number", num(a.v))
                } else {
                    "sqrt of 0 has an infinite derivative, which the adjoint and the local rule \
                     evaluate"
                        .into()
                },
                "sqrt needs an argument that is positive at rest: add a positive constant (e.g. \
                 `sqrt(1 + x)` for an x that is 0 there, or `sqrt(1 + x^2)`)",
            )),
            _ => self.finite(
                e,
                span,
                Val {
                    v,
                    varying: a.varying,
                },
                frame,
            ),
        }
    }
}

enum Callee<'f> {
    Builtin(Func),
    User(&'f FnDecl),
}

/// The non-causality error: what the prospective quantity depends on, and what to write
/// instead.
fn noncausal_error(sym: &mut NeuronSym, neuron: &NeuronDecl) -> syn::Error {
    let prosp = &neuron.prospectives[0];
    let p = prosp.name.to_string();
    let input = sym.input;
    // States whose derivative the input drives directly, and those the prospective quantity
    // differentiates.
    let driven: Vec<usize> = (0..sym.states.len())
        .filter(|&k| sym.g.depends_on(sym.f[k], input))
        .collect();
    let used: Vec<usize> = (0..sym.states.len())
        .filter(|&k| sym.g.depends_on(sym.prosp, sym.ds[k]))
        .collect();
    let s_drv = driven.first().map_or(&sym.states[0], |&k| &sym.states[k]);
    let intro = format!(
        "neuron `{}`: the local rule inverts the input→prospective filter, so the prospective \
         quantity `{p}` must follow the input instantly",
        neuron.name
    );
    let msg = if used.is_empty() {
        format!(
            "{intro}; as declared it uses no d(state), so it follows the input only through the \
             states and the inversion would differentiate the error (non-causal). Add the \
             derivative of a state the input drives, e.g. `prospective {p} = {s_drv} + tau_r * \
             d({s_drv});` with a time constant `tau_r`"
        )
    } else if !used.iter().any(|k| driven.contains(k)) {
        let used_names: Vec<String> = used
            .iter()
            .map(|&k| format!("d({})", sym.states[k]))
            .collect();
        let mismatch = neuron
            .mismatches
            .iter()
            .zip(&sym.m)
            .find(|(_, &m)| sym.g.depends_on(m, input))
            .map_or(String::new(), |(d, _)| {
                format!(" (through mismatch `{}`)", d.name)
            });
        let driven_names: Vec<String> = driven
            .iter()
            .map(|&k| format!("d({})", sym.states[k]))
            .collect();
        format!(
            "{intro}; it uses {}, but the input does not enter {}: it drives {}{mismatch}, so `{p}` \
             follows the input only through a chain of states and the inversion would \
             differentiate the error (non-causal). Let the prospective quantity use the \
             derivative of a state the input drives, e.g. `prospective {p} = {s_drv} + tau_r * \
             d({s_drv});`, or let `input` enter the mismatch of `{}`",
            used_names.join(", "),
            if used.len() == 1 { "it" } else { "them" },
            if driven_names.is_empty() {
                "no state's derivative".to_string()
            } else {
                driven_names.join(", ")
            },
            sym.states[used[0]]
        )
    } else {
        format!(
            "{intro}; as declared its d(state) terms cancel in the input, so the inversion would \
             differentiate the error (non-causal). Make it depend on the derivative of a state \
             the input drives, e.g. `prospective {p} = {s_drv} + tau_r * d({s_drv});`"
        )
    };
    syn::Error::new(prosp.name.span(), msg)
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
