//! The flat parameter vector: initialisation, validation, time-constant clamping and look-up.

use crate::error::{check_len, Error, Location, Result};
use crate::rng::Rng;
use crate::{Network, ParamInfo, ParamKind, Scalar};

/// The parameter tensor called `name` (e.g. `"h1.tau_m"`).
pub fn find_param<N: Network>(name: &str) -> Option<&'static ParamInfo> {
    N::param_info().iter().find(|i| i.name == name)
}

/// The parameter tensor of `layer` whose symbol is `symbol` (e.g. `("h1", "tau_m")`). For
/// weights (`"W"`) the first projection into `layer` is returned; use [`find_param`] for others.
pub fn find_param_by_symbol<N: Network>(layer: &str, symbol: &str) -> Option<&'static ParamInfo> {
    N::param_info()
        .iter()
        .find(|i| i.layer == layer && i.symbol == symbol)
}

/// The tensor holding flat index `index`, if any.
pub fn param_at<N: Network>(index: usize) -> Option<&'static ParamInfo> {
    N::param_info().iter().find(|i| i.range().contains(&index))
}

/// Name of flat parameter entry `index`, e.g. `"h1.tau_m[3]"`.
pub fn param_entry_name<N: Network>(index: usize) -> String {
    match param_at::<N>(index) {
        Some(i) => format!("{}[{}]", i.name, index - i.offset),
        None => format!("parameter[{index}]"),
    }
}

/// `mask[i]` is true when entry `i` belongs to a learnable tensor.
pub fn learnable_mask<N: Network>() -> Vec<bool> {
    let mut mask = vec![false; N::PARAMS];
    for i in N::param_info().iter().filter(|i| i.learnable) {
        mask[i.range()].iter_mut().for_each(|m| *m = true);
    }
    mask
}

/// Sets the gradient of non-learnable entries to zero. Errors when `grad` is not
/// [`Network::PARAMS`] long.
pub fn zero_non_learnable<N: Network, T: Scalar>(grad: &mut [T]) -> Result<()> {
    check_len("the gradient", N::PARAMS, grad.len())?;
    for i in N::param_info().iter().filter(|i| !i.learnable) {
        grad[i.range()].iter_mut().for_each(|g| *g = T::zero());
    }
    Ok(())
}

/// Total number of presynaptic entries over all weight tensors into `layer`.
pub fn fan_in<N: Network>(layer: &str) -> usize {
    N::param_info()
        .iter()
        .filter(|i| i.layer == layer && matches!(i.kind, ParamKind::Weight { .. }))
        .map(|i| i.cols)
        .sum()
}

/// Initial parameters: neuron parameters from their declared defaults (length 1 broadcasts),
/// weights uniform in ±1/√fan_in (fan_in over all projections into the layer), biases zero.
/// Panics when generated metadata is inconsistent (see [`try_init_params`]).
pub fn init_params<N: Network, T: Scalar>(seed: u64) -> Vec<T> {
    try_init_params::<N, T>(seed).unwrap_or_else(|e| panic!("init_params: {e}"))
}

/// [`init_params`], returning an error when a neuron parameter's defaults have neither length
/// 1 nor the tensor's length, or the tensors do not cover `PARAMS`.
pub fn try_init_params<N: Network, T: Scalar>(seed: u64) -> Result<Vec<T>> {
    let mut rng = Rng::new(seed);
    let mut p = vec![T::zero(); N::PARAMS];
    let covered: usize = N::param_info().iter().map(|i| i.len()).sum();
    check_len(
        "the parameter tensors (sum of ParamInfo lengths)",
        N::PARAMS,
        covered,
    )?;
    for info in N::param_info() {
        let dst = p.get_mut(info.range()).ok_or_else(|| Error::Length {
            what: format!(
                "the parameter vector (tensor `{}` ends beyond it)",
                info.name
            ),
            expected: info.offset + info.len(),
            got: N::PARAMS,
        })?;
        match info.kind {
            ParamKind::Weight { .. } => {
                let a = 1.0 / (fan_in::<N>(info.layer).max(1) as f64).sqrt();
                dst.iter_mut()
                    .for_each(|w| *w = T::from_f64(rng.uniform_range(-a, a)));
            }
            ParamKind::Bias => dst.iter_mut().for_each(|b| *b = T::zero()),
            ParamKind::Neuron => {
                let d = info.defaults;
                if d.len() == 1 {
                    dst.iter_mut().for_each(|v| *v = T::from_f64(d[0]));
                } else {
                    check_len(&format!("defaults of `{}`", info.name), info.len(), d.len())?;
                    dst.iter_mut()
                        .zip(d)
                        .for_each(|(v, &x)| *v = T::from_f64(x));
                }
            }
        }
    }
    Ok(p)
}

/// Sets every bias uniform in ±1/√fan_in of its layer, as PyTorch's `nn.Linear` initialises
/// them ([`init_params`] leaves biases zero); for comparisons with code that starts that way.
/// Draws from its own stream of `seed`, so the weights of `init_params(seed)` stay as they are.
/// Errors when `params` is not [`Network::PARAMS`] long.
pub fn init_biases_fan_in<N: Network, T: Scalar>(params: &mut [T], seed: u64) -> Result<()> {
    check_len("the parameter vector", N::PARAMS, params.len())?;
    let mut rng = Rng::new(seed ^ 0xB1A5_EED5);
    for info in N::param_info()
        .iter()
        .filter(|i| matches!(i.kind, ParamKind::Bias))
    {
        let a = 1.0 / (fan_in::<N>(info.layer).max(1) as f64).sqrt();
        params[info.range()]
            .iter_mut()
            .for_each(|b| *b = T::from_f64(rng.uniform_range(-a, a)));
    }
    Ok(())
}

/// Checks the step alone: `dt` finite and > 0, and still > 0 and finite in the scalar type `T`
/// (a step below f32's smallest positive value would make every Euler update zero). Used by the
/// configs' `validate` and by [`validate_params`]; it knows no time constants, so use
/// [`validate_params`] wherever parameters are at hand.
pub fn check_dt<T: Scalar>(dt: f64) -> Result<()> {
    let in_t = T::from_f64(dt).to_f64();
    if dt.is_finite() && dt > 0.0 && in_t.is_finite() && in_t > 0.0 {
        return Ok(());
    }
    Err(Error::InvalidHyperParameter {
        name: "dt".into(),
        value: dt,
        expected: if dt.is_finite() && dt > 0.0 {
            "a step that stays > 0 in the scalar type (use f64, or a larger dt)".into()
        } else {
            "a finite step > 0, no larger than the smallest time constant".into()
        },
    })
}

/// The check every entry point that integrates makes before its first step (simulation, both
/// trainers, the exact gradient, the continuous adjoint, [`crate::ParallelOnline`]), so that
/// they all accept and refuse the same things: the parameter vector is `PARAMS` long and
/// finite (a NaN is named as passed in, not as a divergence), every time constant is > 0, `dt`
/// passes [`check_dt`], and dt ≤ τ for every time constant (explicit Euler, `vle::_theory` §6;
/// RK4 is held to the same bound so that both schemes run on the same inputs). Errors name the
/// tensor and entry.
pub fn validate_params<N: Network, T: Scalar>(p: &[T], dt: f64) -> Result<()> {
    check_len("the parameter vector", N::PARAMS, p.len())?;
    check_finite_params::<N, T>(p, "parameter", None)?;
    let time_constants = || {
        N::param_info()
            .iter()
            .filter(|i| i.time_constant)
            .flat_map(|info| {
                p[info.range()]
                    .iter()
                    .enumerate()
                    .map(move |(e, v)| (info, e, v))
            })
    };
    for (info, entry, v) in time_constants() {
        let value = v.to_f64();
        if value <= 0.0 {
            return Err(Error::NonPositiveTimeConstant {
                param: info.name.into(),
                entry,
                value,
            });
        }
    }
    check_dt::<T>(dt)?;
    for (info, entry, v) in time_constants() {
        let value = v.to_f64();
        if value < dt {
            return Err(Error::TimeConstantBelowDt {
                param: info.name.into(),
                entry,
                value,
                dt,
            });
        }
    }
    Ok(())
}

/// [`Error::NonFinite`] naming the first non-finite entry of a parameter-shaped vector.
/// `step`: `None` for values passed in by the caller (the message says so), `Some(n)` for
/// values vle produced at step n (the message then speaks of divergence).
pub fn check_finite_params<N: Network, T: Scalar>(
    v: &[T],
    quantity: &'static str,
    step: Option<usize>,
) -> Result<()> {
    if crate::kernels::all_finite(v) {
        return Ok(());
    }
    match v.iter().position(|x| !x.is_finite()) {
        None => Ok(()),
        Some(i) => Err(Error::NonFinite {
            quantity,
            at: Location {
                name: param_entry_name::<N>(i),
                step,
                sample: None,
            },
            value: v[i].to_f64(),
        }),
    }
}

/// Keeps every *learnable* time constant in its valid range [dt, max]: dt ≤ τ is the stability
/// condition of explicit Euler, `max` bounds how slow a neuron may become. Fixed time constants
/// are left alone (use [`validate_params`] for them). Returns the number of entries changed.
/// For dual numbers a clamped entry becomes a constant (its derivative is dropped).
/// Errors: [`Error::Length`] when `p` is not `PARAMS` long, [`Error::InvalidHyperParameter`]
/// when `dt` fails [`check_dt`] or `max` is below `dt` (or NaN); nothing changes then.
pub fn clamp_time_constants<N: Network, T: Scalar>(
    p: &mut [T],
    dt: f64,
    max: f64,
) -> Result<usize> {
    check_len("the parameter vector", N::PARAMS, p.len())?;
    check_dt::<T>(dt)?;
    if max.is_nan() || max < dt {
        return Err(Error::InvalidHyperParameter {
            name: "tau_max".into(),
            value: max,
            expected: format!("tau_max >= dt = {dt}"),
        });
    }
    let mut changed = 0;
    for info in N::param_info()
        .iter()
        .filter(|i| i.time_constant && i.learnable)
    {
        for v in &mut p[info.range()] {
            let x = v.to_f64();
            // NaN stays NaN: the trainers report it by name.
            if x < dt {
                *v = T::from_f64(dt);
                changed += 1;
            } else if x > max {
                *v = T::from_f64(max);
                changed += 1;
            }
        }
    }
    Ok(changed)
}
