//! The energy E = ½ Σ‖m‖² + β ℓ: its accepted forms, and the loss ℓ, which must read the output
//! layer (the last one declared) and carry a learning signal: a loss that is constant in the
//! output rate (`cross_entropy` of one neuron, a `sum(...)` that ignores the rate) or that is not
//! finite at rest for any target is refused.

use std::collections::HashMap;

use syn::Ident;

use crate::ast::*;
use crate::derive::Scope;
use crate::rest::rates_at_rest;
use crate::sym::{Expr, Graph};
use crate::validate::{Layer, Loss};

/// Output rates and targets at which a `sum(...)` loss's derivative is sampled to tell a
/// constant loss: spread over the range rates and targets take, and never r = y.
const R_SAMPLES: [f64; 5] = [-1.7, -0.3, 0.2, 0.9, 2.3];
const Y_SAMPLES: [f64; 4] = [-1.0, 0.0, 0.5, 1.0];

/// A loss whose derivative is below this at every sample carries no learning signal (an
/// identity like sin² + cos² leaves rounding of a few ulps, ~1e-16, not a gradient).
const CONSTANT_LOSS_SLOPE: f64 = 1e-12;

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

/// Checks the energy: the index of the layer the loss reads, and the loss.
pub fn check_energy(
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
            let mut listed: Vec<String> = Vec::new();
            let mut unknown = Vec::new();
            for a in args {
                match a {
                    MathExpr::Var(id) if listed.contains(&id.to_string()) => {
                        errors.push(syn::Error::new(
                            id.span(),
                            format!("`{id}` is listed twice in `sum_sq(...)`; list it once"),
                        ))
                    }
                    MathExpr::Var(id) if all_mismatches.contains(&id.to_string()) => {
                        listed.push(id.to_string())
                    }
                    other => unknown.push(other),
                }
            }
            let mut missing: Vec<&String> = all_mismatches
                .iter()
                .filter(|m| !listed.contains(m))
                .collect();
            // A misspelled mismatch and the one it leaves out are one mistake.
            for other in unknown {
                let guess = match other {
                    MathExpr::Var(id) => {
                        crate::names::closest(&id.to_string(), missing.iter().map(|m| m.as_str()))
                            .map(str::to_owned)
                    }
                    _ => None,
                };
                let msg = match guess {
                    Some(g) => {
                        missing.retain(|m| **m != g);
                        format!("`{other}` is not a mismatch; did you mean `{g}`, which `sum_sq(...)` leaves out?")
                    }
                    None => format!(
                        "`sum_sq` takes mismatch names; the mismatches are: {}",
                        all_mismatches.join(", ")
                    ),
                };
                errors.push(syn::Error::new(other.span(), msg));
            }
            for m in missing {
                errors.push(syn::Error::new(
                    func.span(),
                    format!("the energy must contain every mismatch: `{m}` is missing from `sum_sq(...)`"),
                ));
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

/// Finds `layer.rate` references and checks they all name the same layer's rate: that layer
/// and the first reference to it.
fn loss_layer<'e>(
    e: &'e MathExpr,
    layers: &[Layer],
    found: &mut Option<(usize, &'e Ident)>,
    errors: &mut Vec<syn::Error>,
) {
    match e {
        // Of two layers with one name (an error reported with the layers), the later one.
        MathExpr::Field { base, field } => match layers.iter().rposition(|l| *base == l.name) {
            Some(k) => {
                if *field != layers[k].sym.rate_name {
                    errors.push(syn::Error::new(
                        field.span(),
                        format!("the loss reads rates: `{base}.{}`", layers[k].sym.rate_name),
                    ));
                }
                match found {
                    Some((prev, _)) if *prev != k => errors.push(syn::Error::new(
                        base.span(),
                        "the loss must read a single output layer",
                    )),
                    Some(_) => {}
                    None => *found = Some((k, base)),
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
    let Some((out, base)) = found else {
        return Err(syn::Error::new(
            e.span(),
            "the loss must read an output layer's rate, e.g. `mse(out.r, target)`",
        ));
    };
    // The output layer is the last one: a layer declared after the one the loss reads could
    // not reach the loss (projections go forward), so it would compute for nothing.
    let last = &layers[layers.len() - 1];
    if out + 1 != layers.len() {
        return Err(syn::Error::new(
            base.span(),
            format!(
                "the loss reads `{base}`, but the output layer is the last one declared, `{}`: \
                 a layer after the one the loss reads cannot reach the loss, so `{}` would \
                 compute for nothing; read `{}.{}` (e.g. `mse({}.{}, target)`), or remove the \
                 layers after `{base}`",
                last.name, last.name, last.name, last.sym.rate_name, last.name, last.sym.rate_name
            ),
        ));
    }
    let rate = format!("{}.{}", last.name, last.sym.rate_name);
    let builtin = |name: &str| -> Option<Result<&Ident, syn::Error>> {
        let (func, args) = is_call(e, name)?;
        let ok = args.len() == 2
            && matches!(&args[0], MathExpr::Field { .. })
            && matches!(&args[1], MathExpr::Var(id) if id == "target");
        Some(if ok {
            Ok(func)
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
        let func = r?;
        if last.size == 1 {
            return Err(syn::Error::new(
                func.span(),
                format!(
                    "`cross_entropy` of the one-neuron layer `{}` is always 0 (the softmax of a \
                     single rate is 1), so it gives no gradient: give `{}` one neuron per class, \
                     or use `mse({rate}, target)` or a `sum(...)` loss",
                    last.name, last.name
                ),
            ));
        }
        return Ok((out, Loss::CrossEntropy));
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
    let at = |e: Expr, rv: f64, yv: f64| g.eval(e, &|n| if n == "r" { rv } else { yv });
    // Constant in the rate: symbolically, or numerically (an identity the simplifier misses).
    let slopes: Vec<f64> = R_SAMPLES
        .iter()
        .flat_map(|&rv| Y_SAMPLES.iter().map(move |&yv| (rv, yv)))
        .map(|(rv, yv)| at(d_expr, rv, yv))
        .filter(|d| d.is_finite())
        .collect();
    if !g.depends_on(expr, r)
        || (!slopes.is_empty() && slopes.iter().all(|d| d.abs() <= CONSTANT_LOSS_SLOPE))
    {
        return Err(syn::Error::new(
            func.span(),
            format!(
                "this loss does not change with `{rate}` (its derivative in the rate is 0), so it \
                 gives no gradient: write an expression of `{rate}` and `target`, e.g. \
                 `sum(({rate} - target)^2)`"
            ),
        ));
    }
    // At rest (where every simulation starts) the loss and its derivative must be finite for
    // some target: one that is not for any target makes every run fail at its first step. (A
    // rate not finite at rest is the neuron's error, reported with it.)
    for r_rest in rates_at_rest(last).into_iter().filter(|r| r.is_finite()) {
        let finite_for_some = Y_SAMPLES
            .iter()
            .any(|&yv| at(expr, r_rest, yv).is_finite() && at(d_expr, r_rest, yv).is_finite());
        if !finite_for_some {
            return Err(syn::Error::new(
                func.span(),
                format!(
                    "this loss is not finite at rest, where every simulation starts and \
                     `{rate}` = {r_rest}, whatever the target: e.g. `ln` or `sqrt` of the rate, \
                     or a division by it; shift its argument (e.g. `ln(1 + {rate})`) or use a \
                     function finite there"
                ),
            ));
        }
    }
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
