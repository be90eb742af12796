//! Comparison of generated gradients with references, and the report of a check.
//!
//! Relative errors are taken per parameter tensor, relative to the tensor's largest
//! |reference| entry (so a tiny entry next to large ones is not judged on its own relative
//! error, which rounding alone could make large). That denominator is floored at 1e-12 times
//! the largest |reference| entry of the whole gradient, so a tensor whose exact gradient is
//! zero gives a finite number rather than 0/0; when the whole reference is zero the error is
//! absolute.
//!
//! Nothing in a report prints as `NaN` or `inf` where a number is meant: an undefined
//! statistic (the cosine of a zero gradient, the order between two errors that are exactly
//! zero) prints as `n/a` or `—` with its reason, and is `null` in the JSON next to a
//! `…_note` string with the reason (see [`Report::table`] and [`Report::to_json`]).

use vle_runtime::{Network, ParamInfo};

use crate::reference::Convergence;
use crate::targets::TargetKind;

pub use crate::render::{json_num, json_str};

/// Generated values against reference values on the checked entries of one tensor.
#[derive(Clone, Debug, PartialEq)]
pub struct Comparison {
    /// Euclidean norm of the reference over the checked entries.
    pub reference_norm: f64,
    /// Euclidean norm of the generated values over the same entries.
    pub generated_norm: f64,
    /// max |generated − reference| / denominator (see the module docs).
    pub max_rel_error: f64,
    /// The denominator: the tensor's max |reference|, floored.
    pub scale: f64,
    /// Entry (index within the tensor) where the relative error is largest.
    pub worst_entry: usize,
    /// The reference value at `worst_entry` (NaN when no entry was checked).
    pub worst_reference: f64,
    /// The generated value at `worst_entry` (NaN when no entry was checked).
    pub worst_generated: f64,
}

/// A comparison whose accepted error comes, entry by entry, from error estimates of both
/// sides (the references of the continuous problem: see `vle_verify::check::SAFETY`).
#[derive(Clone, Debug, PartialEq)]
pub struct Bounded {
    /// The comparison (the second side's values in `generated`, the first's in `reference`;
    /// relative errors as in [`Comparison`]).
    pub comparison: Comparison,
    /// The largest estimated error of the two sides together over the checked entries,
    /// before the safety factor, relative to the comparison's `scale`.
    pub estimate: f64,
    /// max over the checked entries of |generated − reference| / accepted error: the
    /// comparison passes when it is at most 1.
    pub ratio: f64,
    /// The entry (index within the tensor) where `ratio` is reached.
    pub ratio_entry: usize,
    /// The accepted error at `ratio_entry`, relative to the comparison's `scale`.
    pub accepted: f64,
}

/// A `Bounded` reads as its [`Comparison`] (`b.max_rel_error`, `b.worst_entry`, …): the
/// comparisons that now carry accepted errors keep the fields they had.
impl std::ops::Deref for Bounded {
    type Target = Comparison;
    fn deref(&self) -> &Comparison {
        &self.comparison
    }
}

/// One learnable parameter tensor in one case.
#[derive(Clone, Debug, PartialEq)]
pub struct TensorReport {
    /// The tensor's name from [`ParamInfo`], e.g. `"h1.tau_m"`.
    pub name: &'static str,
    /// Number of entries of the tensor.
    pub len: usize,
    /// Number of entries compared with the reference (all, or a seeded sample).
    pub checked: usize,
    /// Generated exact discrete gradient against the dual-number reference.
    pub exact: Comparison,
    /// Cosine similarity of the local rule's accumulated gradient with the exact gradient over
    /// all entries of the tensor (NaN when it is undefined: see `local_cosine_note`).
    pub local_cosine: f64,
    /// Why `local_cosine` is undefined, when it is ([`cosine_note`]).
    pub local_cosine_note: Option<&'static str>,
    /// Generated continuous adjoint against finite differences of the continuous loss, when
    /// that check ran (accepted error per entry: the larger of the tolerance and the
    /// estimated errors of both sides, see `vle_verify::Check::continuous_tolerance`).
    pub continuous: Option<Bounded>,
    /// The numerical continuous adjoint (Dopri5; in the `generated` fields) against
    /// fourth-order finite differences of the Dopri5 loss (the `reference` fields) on a few
    /// entries, when the ODE adjoint check ran; the accepted error of each entry comes from
    /// the estimated errors of both (see `vle_verify::check::SAFETY`).
    pub reference: Option<Bounded>,
}

/// The checks against the Dopri5 references in one case.
#[derive(Clone, Debug, PartialEq)]
pub struct OdeReport {
    /// Generated Euler forward (output rates) against the Dopri5 forward solution.
    pub forward: Option<Convergence>,
    /// L = β∫ℓ dt by Dopri5 (forward and quadrature together).
    pub reference_loss: Option<f64>,
    /// Generated discrete gradient (BPTT through Euler) against the numerical continuous
    /// adjoint, ‖g − g_ref‖/‖g_ref‖ over the checked entries.
    pub discrete: Option<Convergence>,
    /// Generated continuous adjoint (RK4 sweep) against the numerical continuous adjoint.
    pub continuous: Option<Convergence>,
    /// Checkpoint intervals of the numerical adjoint (0 when it did not run).
    pub checkpoints: usize,
    /// The convergence checks' coarsest step is dt / `refinement`.
    pub refinement: usize,
}

/// One random case: parameters, input and target drawn from `seed`.
#[derive(Clone, Debug, PartialEq)]
pub struct CaseReport {
    /// Index of the case (0-based).
    pub case: usize,
    /// The seed the case was drawn from.
    pub seed: u64,
    /// Discrete loss of the window, L = β·dt·Σ ℓ, from the dual-number reference's forward run.
    pub reference_loss: f64,
    /// The same loss from the generated backward sweep (BPTT).
    pub generated_loss: f64,
    /// One entry per learnable parameter tensor, in the order of [`Network::param_info`].
    pub tensors: Vec<TensorReport>,
    /// Cosine similarity of the local rule's gradient with the exact gradient over all
    /// learnable entries (NaN when it is undefined: see `overall_cosine_note`).
    pub overall_cosine: f64,
    /// Why `overall_cosine` is undefined, when it is ([`cosine_note`]).
    pub overall_cosine_note: Option<&'static str>,
    /// The family the case's random targets were drawn from (None: the caller's signal,
    /// `run_on`).
    pub targets: Option<TargetKind>,
    /// Continuous loss: finite-difference reference (fine RK4) and generated sweep.
    pub continuous_loss: Option<(f64, f64)>,
    /// The step of the continuous check (dt refined until the sweep's RK4 error is resolved),
    /// when that check ran.
    pub continuous_step: Option<f64>,
    /// The sweep's estimated RK4 error at that step, relative to each tensor's largest
    /// gradient entry (Richardson), when the continuous check ran.
    pub continuous_estimate: Option<f64>,
    /// The checks against the Dopri5 references, when any ran.
    pub ode: Option<OdeReport>,
}

impl CaseReport {
    /// Largest relative error of the exact discrete gradient over the tensors of this case.
    pub fn worst_relative_error(&self) -> f64 {
        self.tensors
            .iter()
            .map(|t| t.exact.max_rel_error)
            .fold(0.0, nan_max)
    }
}

/// Result of [`crate::check()`]: settings and one [`CaseReport`] per case.
#[derive(Clone, Debug, PartialEq)]
pub struct Report {
    /// [`Network::NAME`].
    pub model: &'static str,
    /// Base seed of the check (case seeds derive from it).
    pub seed: u64,
    /// Euler steps per window.
    pub steps: usize,
    /// Time step of the window (the convergence checks refine it).
    pub dt: f64,
    /// Weight β of the loss.
    pub beta: f64,
    /// Tolerance of the exact discrete gradient (relative error).
    pub tolerance: f64,
    /// Tolerance of the continuous adjoint, when that check ran.
    pub continuous_tolerance: Option<f64>,
    /// Asserted minimum of the overall local-rule cosine, if any.
    pub min_cosine: Option<f64>,
    /// Relative tolerance of the Dopri5 references, when they ran.
    pub ode_rtol: Option<f64>,
    /// Tolerance of the numerical adjoint against finite differences, when that check ran.
    pub reference_tolerance: Option<f64>,
    /// One report per case, in case order.
    pub cases: Vec<CaseReport>,
    /// The checks that did not run, and why (e.g. a network without continuous-time system).
    pub skipped: Vec<String>,
}

/// `max` that propagates NaN (a NaN error must never look like a pass).
pub(crate) fn nan_max(a: f64, b: f64) -> f64 {
    if a.is_nan() || b.is_nan() {
        f64::NAN
    } else {
        a.max(b)
    }
}

impl Report {
    /// Largest relative error of the generated exact discrete gradient over all cases and
    /// tensors (NaN if any comparison was NaN, 0 when no case ran: see `cases`).
    pub fn worst_relative_error(&self) -> f64 {
        self.cases
            .iter()
            .map(|c| c.worst_relative_error())
            .fold(0.0, nan_max)
    }

    /// Where [`Report::worst_relative_error`] occurred: (case, tensor).
    pub fn worst(&self) -> Option<(&CaseReport, &TensorReport)> {
        self.cases
            .iter()
            .flat_map(|c| c.tensors.iter().map(move |t| (c, t)))
            .max_by(|a, b| a.1.exact.max_rel_error.total_cmp(&b.1.exact.max_rel_error))
    }

    /// Largest relative error of the continuous adjoint, if that check ran.
    pub fn worst_continuous_error(&self) -> Option<f64> {
        let errs: Vec<f64> = self
            .cases
            .iter()
            .flat_map(|c| c.tensors.iter())
            .filter_map(|t| t.continuous.as_ref().map(|c| c.comparison.max_rel_error))
            .collect();
        (!errs.is_empty()).then(|| errs.into_iter().fold(0.0, nan_max))
    }

    /// Largest relative error between the numerical continuous adjoint and the finite
    /// differences of the Dopri5 loss, if that check ran.
    pub fn worst_reference_error(&self) -> Option<f64> {
        let errs: Vec<f64> = self
            .cases
            .iter()
            .flat_map(|c| c.tensors.iter())
            .filter_map(|t| t.reference.as_ref().map(|c| c.comparison.max_rel_error))
            .collect();
        (!errs.is_empty()).then(|| errs.into_iter().fold(0.0, nan_max))
    }

    /// Largest ratio of the error between the numerical continuous adjoint and the finite
    /// differences to its accepted error (the check passes at most 1), if that check ran.
    pub fn worst_reference_ratio(&self) -> Option<f64> {
        let v: Vec<f64> = self
            .cases
            .iter()
            .flat_map(|c| c.tensors.iter())
            .filter_map(|t| t.reference.as_ref().map(|c| c.ratio))
            .collect();
        (!v.is_empty()).then(|| v.into_iter().fold(0.0, nan_max))
    }

    /// Largest estimated error of the two references of the continuous problem over all
    /// cases and tensors, relative to each tensor's scale, if that check ran.
    pub fn worst_reference_estimate(&self) -> Option<f64> {
        let v: Vec<f64> = self
            .cases
            .iter()
            .flat_map(|c| c.tensors.iter())
            .filter_map(|t| t.reference.as_ref().map(|c| c.estimate))
            .collect();
        (!v.is_empty()).then(|| v.into_iter().fold(0.0, nan_max))
    }

    /// (smallest, largest) over the cases of one convergence check (picked by `which` from
    /// the [`OdeReport`]) of the *finest* observed order per case: the order between the two
    /// smallest step sizes whose finer error is above `floor` (pairs at the floor measure the
    /// reference, not the scheme). The finest order is the asymptotic one; coarser pairs may
    /// be pre-asymptotic (see `vle_verify::check::EULER_ORDER_BAND`).
    pub fn order_range(
        &self,
        which: impl Fn(&OdeReport) -> Option<&Convergence>,
        floor: f64,
    ) -> Option<(f64, f64)> {
        let mut out: Option<(f64, f64)> = None;
        for c in self.cases.iter().filter_map(|c| c.ode.as_ref()) {
            let Some(conv) = which(c) else { continue };
            let orders = conv.orders();
            let finest = conv
                .errors
                .windows(2)
                .zip(orders)
                .filter(|(e, q)| e[1] > floor && q.is_finite())
                .map(|(_, q)| q)
                .next_back();
            if let Some(q) = finest {
                out = Some(match out {
                    None => (q, q),
                    Some((a, b)) => (a.min(q), b.max(q)),
                });
            }
        }
        out
    }

    /// Largest error at the finest step size over the cases of one convergence check.
    pub fn finest_error(&self, which: impl Fn(&OdeReport) -> Option<&Convergence>) -> Option<f64> {
        let v: Vec<f64> = self
            .cases
            .iter()
            .filter_map(|c| c.ode.as_ref())
            .filter_map(|o| which(o).and_then(|c| c.errors.last().copied()))
            .collect();
        (!v.is_empty()).then(|| v.into_iter().fold(0.0, nan_max))
    }

    /// Smallest overall local-rule cosine over the cases: NaN when a case has none (see
    /// [`CaseReport::overall_cosine_note`]) or when no case ran.
    pub fn min_cosine(&self) -> f64 {
        if self.cases.is_empty() {
            return f64::NAN;
        }
        self.cases
            .iter()
            .map(|c| c.overall_cosine)
            .fold(f64::INFINITY, |a, b| {
                if a.is_nan() || b.is_nan() {
                    f64::NAN
                } else {
                    a.min(b)
                }
            })
    }

    /// Mean overall local-rule cosine over the cases: NaN when a case has none or when no
    /// case ran.
    pub fn mean_cosine(&self) -> f64 {
        if self.cases.is_empty() {
            return f64::NAN;
        }
        let n = self.cases.len() as f64;
        self.cases.iter().map(|c| c.overall_cosine).sum::<f64>() / n
    }

    /// (smallest, mean, number of cases) over the cases whose overall cosine is defined;
    /// None when no case has one.
    pub fn defined_cosines(&self) -> Option<(f64, f64, usize)> {
        let v: Vec<f64> = self
            .cases
            .iter()
            .map(|c| c.overall_cosine)
            .filter(|c| c.is_finite())
            .collect();
        (!v.is_empty()).then(|| {
            let min = v.iter().copied().fold(f64::INFINITY, f64::min);
            (min, v.iter().sum::<f64>() / v.len() as f64, v.len())
        })
    }

    /// Smallest local-rule cosine of tensor `name` over the cases (None if unknown; NaN when
    /// a case has none).
    pub fn tensor_min_cosine(&self, name: &str) -> Option<f64> {
        let v: Vec<f64> = self
            .cases
            .iter()
            .flat_map(|c| c.tensors.iter())
            .filter(|t| t.name == name)
            .map(|t| t.local_cosine)
            .collect();
        (!v.is_empty()).then(|| {
            v.into_iter().fold(f64::INFINITY, |a, b| {
                if a.is_nan() || b.is_nan() {
                    f64::NAN
                } else {
                    a.min(b)
                }
            })
        })
    }

    /// The learnable tensors whose exact gradient is exactly zero on every checked entry in
    /// every case: their comparisons check nothing (the loss does not depend on them here).
    pub fn zero_gradient_tensors(&self) -> Vec<&'static str> {
        let Some(first) = self.cases.first() else {
            return Vec::new();
        };
        first
            .tensors
            .iter()
            .map(|t| t.name)
            .filter(|name| {
                self.cases.iter().all(|c| {
                    c.tensors
                        .iter()
                        .filter(|t| t.name == *name)
                        .all(|t| t.exact.reference_norm == 0.0 && t.exact.generated_norm == 0.0)
                })
            })
            .collect()
    }

    /// Whether every checked entry of the exact gradient is exactly zero in every case (and
    /// at least one case ran): the check compared zeros with zeros.
    pub fn gradient_is_zero(&self) -> bool {
        !self.cases.is_empty() && self.zero_gradient_tensors().len() == self.cases[0].tensors.len()
    }
}

/// Why [`cosine`]`(local, exact)` is undefined (NaN), if it is.
pub fn cosine_note(local: &[f64], exact: &[f64]) -> Option<&'static str> {
    let (nl, ne) = (norm(local), norm(exact));
    if !ne.is_finite() {
        Some("the exact gradient is not finite")
    } else if !nl.is_finite() {
        Some("the local rule's gradient is not finite (it diverged)")
    } else if nl == 0.0 && ne == 0.0 {
        Some("both gradients are zero")
    } else if ne == 0.0 {
        Some("the exact gradient is zero")
    } else if nl == 0.0 {
        Some("the local rule's gradient is zero")
    } else if !cosine(local, exact).is_finite() {
        Some("the product of the gradients is not finite")
    } else {
        None
    }
}

/// Cosine similarity a·b / (|a||b|); NaN when either vector is zero or non-finite.
pub fn cosine(a: &[f64], b: &[f64]) -> f64 {
    let dot: f64 = a.iter().zip(b).map(|(x, y)| x * y).sum();
    let na = norm(a);
    let nb = norm(b);
    // An overflowing vector (a diverging local rule) has no direction: NaN, not the 0 that
    // finite/inf would give.
    if na > 0.0 && nb > 0.0 && na.is_finite() && nb.is_finite() && dot.is_finite() {
        dot / (na * nb)
    } else {
        f64::NAN
    }
}

/// Euclidean norm.
pub fn norm(a: &[f64]) -> f64 {
    a.iter().map(|x| x * x).sum::<f64>().sqrt()
}

/// Compares `generated` (a full parameter-shaped vector) with `reference` (one value per
/// entry of `indices`, flat indices) tensor by tensor, for every learnable tensor of `N`.
/// Returns (tensor, comparison, number of checked entries).
pub fn compare<N: Network>(
    indices: &[usize],
    reference: &[f64],
    generated: &[f64],
) -> Vec<(&'static ParamInfo, Comparison, usize)> {
    compare_scaled::<N>(indices, reference, generated, 1e-12)
}

/// [`compare`] with the denominator of each tensor floored at `floor_fraction` times the
/// largest |reference| entry over all tensors (1e-12 in [`compare`]; 1 makes every tensor's
/// error relative to the whole gradient's largest entry, the right scale for references
/// whose errors are absolute, set by the loss and not by the tensor).
pub fn compare_scaled<N: Network>(
    indices: &[usize],
    reference: &[f64],
    generated: &[f64],
    floor_fraction: f64,
) -> Vec<(&'static ParamInfo, Comparison, usize)> {
    let global = reference.iter().fold(0.0f64, |m, r| m.max(r.abs()));
    compare_floor::<N>(indices, reference, generated, floor_fraction * global)
}

/// [`compare`] with the denominator of each tensor floored at the absolute value `floor`:
/// the error of an entry is |generated − reference| / max(max |reference| of its tensor,
/// `floor`). With `floor = atol / rtol`, an error ≤ `rtol` means |Δ| ≤ rtol·scale or |Δ| ≤
/// atol: the usual mixed test for a reference whose own error has an absolute part.
pub fn compare_floor<N: Network>(
    indices: &[usize],
    reference: &[f64],
    generated: &[f64],
    floor: f64,
) -> Vec<(&'static ParamInfo, Comparison, usize)> {
    assert_eq!(indices.len(), reference.len());
    let global = reference.iter().fold(0.0f64, |m, r| m.max(r.abs()));
    let mut out = Vec::new();
    for info in N::param_info().iter().filter(|i| i.learnable) {
        let range = info.range();
        let sel: Vec<(usize, f64, f64)> = indices
            .iter()
            .zip(reference)
            .filter(|(i, _)| range.contains(i))
            .map(|(&i, &r)| (i - info.offset, r, generated[i]))
            .collect();
        let tmax = sel.iter().fold(0.0f64, |m, e| m.max(e.1.abs()));
        let scale = if global > 0.0 || floor > 0.0 {
            tmax.max(floor)
        } else {
            1.0
        };
        let mut cmp = Comparison {
            reference_norm: sel.iter().map(|e| e.1 * e.1).sum::<f64>().sqrt(),
            generated_norm: sel.iter().map(|e| e.2 * e.2).sum::<f64>().sqrt(),
            max_rel_error: 0.0,
            scale,
            worst_entry: sel.first().map_or(0, |e| e.0),
            worst_reference: sel.first().map_or(f64::NAN, |e| e.1),
            worst_generated: sel.first().map_or(f64::NAN, |e| e.2),
        };
        for &(entry, r, g) in &sel {
            let err = (g - r).abs() / scale;
            // NaN compares false: make a NaN error the worst so it is reported.
            if err.is_nan() || err > cmp.max_rel_error {
                cmp.max_rel_error = if err.is_nan() { f64::NAN } else { err };
                cmp.worst_entry = entry;
                cmp.worst_reference = r;
                cmp.worst_generated = g;
                if err.is_nan() {
                    break;
                }
            }
        }
        out.push((info, cmp, sel.len()));
    }
    out
}

/// [`compare`] with an accepted absolute error per checked entry: `accepted[k]` for the entry
/// `indices[k]` (the estimated errors of both sides times a safety factor, or more), and
/// `estimate[k]` the estimate before the safety factor (reported). The comparison of a tensor
/// passes when its [`Bounded::ratio`] is at most 1.
pub fn compare_bounded<N: Network>(
    indices: &[usize],
    reference: &[f64],
    generated: &[f64],
    estimate: &[f64],
    accepted: &[f64],
) -> Vec<(&'static ParamInfo, Bounded, usize)> {
    assert!(indices.len() == estimate.len() && indices.len() == accepted.len());
    compare::<N>(indices, reference, generated)
        .into_iter()
        .map(|(info, comparison, n)| {
            let range = info.range();
            let scale = comparison.scale;
            let mut b = Bounded {
                estimate: 0.0,
                ratio: 0.0,
                ratio_entry: comparison.worst_entry,
                accepted: f64::NAN,
                comparison,
            };
            let mut first = true;
            for (k, &i) in indices.iter().enumerate() {
                if !range.contains(&i) {
                    continue;
                }
                let delta = (generated[i] - reference[k]).abs();
                let ratio = if delta == 0.0 {
                    0.0
                } else if accepted[k] > 0.0 {
                    delta / accepted[k]
                } else {
                    f64::INFINITY
                };
                b.estimate = nan_max(b.estimate, estimate[k] / scale);
                // NaN compares false: make a NaN ratio the worst so it is reported.
                if first || ratio.is_nan() || ratio > b.ratio {
                    b.ratio = ratio;
                    b.ratio_entry = i - info.offset;
                    b.accepted = accepted[k] / scale;
                    first = false;
                }
                if ratio.is_nan() {
                    break;
                }
            }
            (info, b, n)
        })
        .collect()
}
