//! Comparison of generated gradients with references, and the report of a check.
//!
//! Relative errors are taken per parameter tensor, relative to the tensor's largest
//! |reference| entry (so a tiny entry next to large ones is not judged on its own relative
//! error, which rounding alone could make large). That denominator is floored at 1e-12 times
//! the largest |reference| entry of the whole gradient, so a tensor whose exact gradient is
//! zero gives a finite number rather than 0/0; when the whole reference is zero the error is
//! absolute.

use std::fmt::{self, Write as _};

use vle_runtime::{Network, ParamInfo};

use crate::reference::Convergence;

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
    /// all entries of the tensor (NaN when either is zero).
    pub local_cosine: f64,
    /// Generated continuous adjoint against finite differences of the continuous loss, when
    /// that check ran.
    pub continuous: Option<Comparison>,
    /// The numerical continuous adjoint (Dopri5; in the `generated` fields) against
    /// fourth-order finite differences of the Dopri5 loss (the `reference` fields) on a few
    /// entries, when the ODE adjoint check ran. The relative error's denominator (`scale`) is
    /// the largest |reference| entry of the whole case, not of the tensor (both references'
    /// errors are absolute, set by the loss).
    pub reference: Option<Comparison>,
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
    /// learnable entries.
    pub overall_cosine: f64,
    /// Continuous loss: finite-difference reference (fine RK4) and generated sweep.
    pub continuous_loss: Option<(f64, f64)>,
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
    /// tensors (NaN if any comparison was NaN).
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
            .filter_map(|t| t.continuous.as_ref().map(|c| c.max_rel_error))
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
            .filter_map(|t| t.reference.as_ref().map(|c| c.max_rel_error))
            .collect();
        (!errs.is_empty()).then(|| errs.into_iter().fold(0.0, nan_max))
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
                .filter(|(e, _)| e[1] > floor)
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

    /// Smallest overall local-rule cosine over the cases.
    pub fn min_cosine(&self) -> f64 {
        self.cases
            .iter()
            .map(|c| c.overall_cosine)
            .fold(f64::INFINITY, |a, b| if b.is_nan() { b } else { a.min(b) })
    }

    /// Mean overall local-rule cosine over the cases.
    pub fn mean_cosine(&self) -> f64 {
        let n = self.cases.len().max(1) as f64;
        self.cases.iter().map(|c| c.overall_cosine).sum::<f64>() / n
    }

    /// Smallest local-rule cosine of tensor `name` over the cases (None if unknown).
    pub fn tensor_min_cosine(&self, name: &str) -> Option<f64> {
        let v: Vec<f64> = self
            .cases
            .iter()
            .flat_map(|c| c.tensors.iter())
            .filter(|t| t.name == name)
            .map(|t| t.local_cosine)
            .collect();
        (!v.is_empty()).then(|| v.into_iter().fold(f64::INFINITY, f64::min))
    }

    /// The report as an aligned plain-text table, one block per case and a summary.
    pub fn table(&self) -> String {
        let mut s = String::new();
        let _ = writeln!(
            s,
            "vle-verify: {} — {} case(s) × {} steps, dt {}, beta {}, seed {}, tolerance {:e}",
            self.model,
            self.cases.len(),
            self.steps,
            self.dt,
            self.beta,
            self.seed,
            self.tolerance
        );
        let cont = self.continuous_tolerance.is_some();
        let refc = self.reference_tolerance.is_some();
        for c in &self.cases {
            let _ = write!(
                s,
                "case {} (seed {}): discrete loss {:.6e} (reference) {:.6e} (generated), \
                 local-rule cosine {}",
                c.case,
                c.seed,
                c.reference_loss,
                c.generated_loss,
                fmt_cos(c.overall_cosine)
            );
            if let Some((r, g)) = c.continuous_loss {
                let _ = write!(s, ", continuous loss {r:.6e} (RK4 fine) {g:.6e} (sweep)");
            }
            s.push('\n');
            let mut header = vec![
                "tensor",
                "checked",
                "|reference|",
                "|generated|",
                "max rel err",
                "worst entry",
                "local cos",
            ];
            if cont {
                header.push("continuous rel err");
            }
            if refc {
                header.push("adjoint ref vs FD");
            }
            let mut rows: Vec<Vec<String>> = vec![header.iter().map(|h| h.to_string()).collect()];
            for t in &c.tensors {
                let mut row = vec![
                    t.name.to_string(),
                    format!("{}/{}", t.checked, t.len),
                    format!("{:.6e}", t.exact.reference_norm),
                    format!("{:.6e}", t.exact.generated_norm),
                    format!("{:.2e}", t.exact.max_rel_error),
                    format!("[{}]", t.exact.worst_entry),
                    fmt_cos(t.local_cosine),
                ];
                if cont {
                    row.push(match &t.continuous {
                        Some(k) => format!("{:.2e}", k.max_rel_error),
                        None => "-".into(),
                    });
                }
                if refc {
                    row.push(match &t.reference {
                        Some(k) => format!("{:.2e}", k.max_rel_error),
                        None => "-".into(),
                    });
                }
                rows.push(row);
            }
            render_rows(&mut s, &rows);
            if let Some(o) = &c.ode {
                if let Some(l) = o.reference_loss {
                    let _ = writeln!(s, "  continuous loss (Dopri5): {l:.12e}");
                }
                for (what, conv) in [
                    ("Euler forward vs Dopri5 (output rates)", &o.forward),
                    (
                        "discrete gradient (Euler BPTT) vs adjoint reference",
                        &o.discrete,
                    ),
                    (
                        "continuous adjoint (RK4) vs adjoint reference",
                        &o.continuous,
                    ),
                ] {
                    if let Some(conv) = conv {
                        let _ = writeln!(
                            s,
                            "  {what}: rel. errors {} at dt {}; orders {}",
                            join(&conv.errors, |v| format!("{v:.2e}")),
                            join(&conv.dts, |v| format!("{v:.3e}")),
                            join(&conv.orders(), |v| format!("{v:.2}")),
                        );
                    }
                }
            }
        }
        let _ = write!(
            s,
            "summary: worst relative error {:.2e}",
            self.worst_relative_error()
        );
        if let Some((c, t)) = self.worst() {
            let _ = write!(s, " (case {}, {}[{}])", c.case, t.name, t.exact.worst_entry);
        }
        let _ = write!(s, ", tolerance {:e}", self.tolerance);
        if let (Some(e), Some(tol)) = (self.worst_continuous_error(), self.continuous_tolerance) {
            let _ = write!(s, "; continuous adjoint worst {e:.2e}, tolerance {tol:e}");
        }
        if let (Some(e), Some(tol)) = (self.worst_reference_error(), self.reference_tolerance) {
            let _ = write!(
                s,
                "; adjoint reference vs FD worst {e:.2e}, tolerance {tol:e}"
            );
        }
        let _ = writeln!(
            s,
            "; local-rule cosine min {} mean {}",
            fmt_cos(self.min_cosine()),
            fmt_cos(self.mean_cosine())
        );
        s
    }

    /// The report as JSON (hand-written; non-finite numbers become `null`).
    pub fn to_json(&self) -> String {
        let mut s = String::from("{");
        let _ = write!(
            s,
            "\"model\":{},\"seed\":{},\"steps\":{},\"dt\":{},\"beta\":{},\"tolerance\":{},\
             \"continuous_tolerance\":{},\"min_cosine\":{},\"worst_relative_error\":{},\
             \"worst_continuous_error\":{},\"min_overall_cosine\":{},\"mean_overall_cosine\":{},\
             \"ode_rtol\":{},\"reference_tolerance\":{},\"worst_reference_error\":{},\
             \"cases\":[",
            json_str(self.model),
            self.seed,
            self.steps,
            json_num(self.dt),
            json_num(self.beta),
            json_num(self.tolerance),
            json_opt(self.continuous_tolerance),
            json_opt(self.min_cosine),
            json_num(self.worst_relative_error()),
            json_opt(self.worst_continuous_error()),
            json_num(self.min_cosine()),
            json_num(self.mean_cosine()),
            json_opt(self.ode_rtol),
            json_opt(self.reference_tolerance),
            json_opt(self.worst_reference_error()),
        );
        for (i, c) in self.cases.iter().enumerate() {
            if i > 0 {
                s.push(',');
            }
            let _ = write!(
                s,
                "{{\"case\":{},\"seed\":{},\"reference_loss\":{},\"generated_loss\":{},\
                 \"overall_cosine\":{},\"continuous_loss\":",
                c.case,
                c.seed,
                json_num(c.reference_loss),
                json_num(c.generated_loss),
                json_num(c.overall_cosine),
            );
            match c.continuous_loss {
                Some((r, g)) => {
                    let _ = write!(
                        s,
                        "{{\"reference\":{},\"generated\":{}}}",
                        json_num(r),
                        json_num(g)
                    );
                }
                None => s.push_str("null"),
            }
            s.push_str(",\"ode\":");
            match &c.ode {
                Some(o) => {
                    let _ = write!(
                        s,
                        "{{\"reference_loss\":{},\"checkpoints\":{},\"refinement\":{},\
                         \"forward\":{},\"discrete\":{},\"continuous\":{}}}",
                        json_opt(o.reference_loss),
                        o.checkpoints,
                        o.refinement,
                        json_conv(o.forward.as_ref()),
                        json_conv(o.discrete.as_ref()),
                        json_conv(o.continuous.as_ref()),
                    );
                }
                None => s.push_str("null"),
            }
            s.push_str(",\"tensors\":[");
            for (j, t) in c.tensors.iter().enumerate() {
                if j > 0 {
                    s.push(',');
                }
                let _ = write!(
                    s,
                    "{{\"name\":{},\"len\":{},\"checked\":{},\"exact\":{},\"local_cosine\":{},\
                     \"continuous\":{},\"reference\":{}}}",
                    json_str(t.name),
                    t.len,
                    t.checked,
                    json_cmp(&t.exact),
                    json_num(t.local_cosine),
                    t.continuous.as_ref().map_or("null".into(), json_cmp),
                    t.reference.as_ref().map_or("null".into(), json_cmp),
                );
            }
            s.push_str("]}");
        }
        s.push_str("]}");
        s
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.table())
    }
}

fn fmt_cos(c: f64) -> String {
    if c.is_nan() {
        "n/a".into()
    } else {
        format!("{c:.6}")
    }
}

fn render_rows(s: &mut String, rows: &[Vec<String>]) {
    let ncol = rows.iter().map(|r| r.len()).max().unwrap_or(0);
    let widths: Vec<usize> = (0..ncol)
        .map(|j| {
            rows.iter()
                .map(|r| r.get(j).map_or(0, |c| c.chars().count()))
                .max()
                .unwrap_or(0)
        })
        .collect();
    for r in rows {
        s.push_str("  ");
        for (j, cell) in r.iter().enumerate() {
            let pad = widths[j] - cell.chars().count();
            if j == 0 {
                s.push_str(cell);
                s.push_str(&" ".repeat(pad));
            } else {
                s.push_str("  ");
                s.push_str(&" ".repeat(pad));
                s.push_str(cell);
            }
        }
        s.push('\n');
    }
}

/// A JSON number; non-finite values become `null`.
pub fn json_num(v: f64) -> String {
    if v.is_finite() {
        // `{:?}` prints the shortest representation that reads back exactly, in a form
        // JSON accepts (`1.0`, `0.001`, `1e-10`, `-2.5e20`).
        format!("{v:?}")
    } else {
        "null".into()
    }
}

fn join(v: &[f64], f: impl Fn(f64) -> String) -> String {
    v.iter().map(|&x| f(x)).collect::<Vec<_>>().join(" ")
}

fn json_list(v: &[f64]) -> String {
    format!(
        "[{}]",
        v.iter().map(|&x| json_num(x)).collect::<Vec<_>>().join(",")
    )
}

fn json_conv(c: Option<&Convergence>) -> String {
    match c {
        Some(c) => format!(
            "{{\"dts\":{},\"errors\":{},\"orders\":{}}}",
            json_list(&c.dts),
            json_list(&c.errors),
            json_list(&c.orders())
        ),
        None => "null".into(),
    }
}

fn json_opt(v: Option<f64>) -> String {
    v.map_or("null".into(), json_num)
}

/// A JSON string literal.
pub fn json_str(v: &str) -> String {
    let mut s = String::with_capacity(v.len() + 2);
    s.push('"');
    for ch in v.chars() {
        match ch {
            '"' => s.push_str("\\\""),
            '\\' => s.push_str("\\\\"),
            '\n' => s.push_str("\\n"),
            '\r' => s.push_str("\\r"),
            '\t' => s.push_str("\\t"),
            c if (c as u32) < 0x20 => {
                let _ = write!(s, "\\u{:04x}", c as u32);
            }
            c => s.push(c),
        }
    }
    s.push('"');
    s
}

fn json_cmp(c: &Comparison) -> String {
    format!(
        "{{\"reference_norm\":{},\"generated_norm\":{},\"max_rel_error\":{},\"scale\":{},\
         \"worst_entry\":{},\"worst_reference\":{},\"worst_generated\":{}}}",
        json_num(c.reference_norm),
        json_num(c.generated_norm),
        json_num(c.max_rel_error),
        json_num(c.scale),
        c.worst_entry,
        json_num(c.worst_reference),
        json_num(c.worst_generated),
    )
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
