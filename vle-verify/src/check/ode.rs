//! The checks of a case against the continuous problem: (c) the generated RK4 sweep at a
//! resolved step against finite differences of a finer RK4 loss, (d) the generated Euler
//! forward and (e) the generated gradients against the Dopri5 references, with the
//! comparison of the two references (numerical adjoint, finite differences) within their
//! estimated errors.

use vle_runtime::exact::{exact_gradient, Tape, Window};
use vle_runtime::params::param_entry_name;
use vle_runtime::{continuous_adjoint, Network, ParamInfo, Signal};

use super::{
    within, CaseError, Check, FailureKind, Plan, CONVERGENCE_FLOOR, EULER_ORDER_BAND,
    MAX_SWEEP_HALVINGS, RK4_ORDER_BAND, SAFETY,
};
use crate::ode::Tolerance;
use crate::reference::{
    adjoint_reference, default_checkpoints, fd_ode_gradient, Convergence, FdDerivative, FdGradient,
    ForwardReference, LOOSE_FACTOR,
};
use crate::render::num;
use crate::report::{compare, compare_bounded, nan_max, Bounded, OdeReport};

/// What [`Check::ode_checks`] found.
pub(super) struct OdeOutcome {
    /// The record of the checks that ran (None when none did).
    pub report: Option<OdeReport>,
    /// The numerical adjoint against the finite differences, per learnable tensor.
    pub references: Option<Vec<(&'static ParamInfo, Bounded)>>,
}

impl<N: Network> Check<N> {
    /// (d) and (e) of one case (see [`Check`]), at the steps h₀/2ʲ with h₀ = dt/`m`; failed
    /// comparisons push their message into `msgs` and set `kind`.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn ode_checks<S: Signal + ?Sized>(
        &self,
        plan: Plan,
        case: usize,
        cs: u64,
        p: &[f64],
        signal: &S,
        m: usize,
        indices: &[usize],
        msgs: &mut Vec<String>,
        kind: &mut Option<FailureKind>,
    ) -> Result<OdeOutcome, CaseError> {
        if !(plan.forward || plan.adjoint) {
            return Ok(OdeOutcome {
                report: None,
                references: None,
            });
        }
        let (dt, beta, steps) = (self.dt, self.beta, self.steps);
        let tol = self.ode_tolerance;
        let floor = CONVERGENCE_FLOOR * tol.rtol;
        let h0 = dt / m as f64;
        let span = steps as f64 * dt;
        let forward = if plan.forward {
            let fref = ForwardReference::<N, S>::new(p, signal, 0.0, h0, steps * m, tol)?;
            let (conv, why) = self.converge(h0, 1.0, EULER_ORDER_BAND, floor, |j| {
                Ok::<_, CaseError>(fref.euler_error(1 << j))
            })?;
            if let Some(why) = why {
                kind.get_or_insert(FailureKind::Convergence);
                msgs.push(format!(
                    "vle-verify: {}: forward: generated Euler output rates vs the Dopri5 \
                     solution of the declared ODEs (rtol {:e}): {why} (case {case}, seed {}, \
                     case seed {cs})",
                    N::NAME,
                    tol.rtol,
                    self.seed
                ));
            }
            Some(conv)
        } else {
            None
        };
        let mut references = None;
        let (mut discrete, mut continuous, mut reference_loss, mut checkpoints) =
            (None, None, None, 0);
        if plan.adjoint {
            let k = default_checkpoints::<N>(p, span, 1);
            let adj = adjoint_reference::<N, S>(p, signal, 0.0, span, beta, tol, indices, k)?;
            checkpoints = adj.checkpoints;
            let fd_idx = fd_subset::<N>(indices, self.fd_entries);
            let fd = fd_ode_gradient::<N, S>(p, signal, 0.0, span, beta, tol, &fd_idx)?;
            reference_loss = Some(fd.loss);
            // The adjoint's own error, measured by tolerance scaling on the same entries.
            let loose = Tolerance {
                rtol: tol.rtol * LOOSE_FACTOR,
                atol: tol.atol * LOOSE_FACTOR,
            };
            let adj_loose =
                adjoint_reference::<N, S>(p, signal, 0.0, span, beta, loose, &fd_idx, k)?;
            let mut full = vec![0.0; N::PARAMS];
            for (&i, &g) in indices.iter().zip(&adj.grad) {
                full[i] = g;
            }
            let bounded = self.compare_references(&fd_idx, &fd, &full, &adj_loose.grad);
            for (info, b, est) in &bounded {
                if !within(b.ratio, 1.0) {
                    kind.get_or_insert(FailureKind::Mismatch);
                    msgs.push(self.reference_mismatch(info, b, est, case, cs));
                }
            }
            references = Some(bounded.into_iter().map(|(i, b, _)| (i, b)).collect());

            let step = |j: usize| -> (f64, usize) {
                let f = m << j;
                (dt / f as f64, steps * f)
            };
            let mut last = Vec::new();
            let (disc, why_disc) = self.converge(h0, 1.0, EULER_ORDER_BAND, floor, |j| {
                let (h, n) = step(j);
                let wj = Window::sample(signal, 0.0, h, n);
                let (_, g) = exact_gradient::<N, f64>(p, &wj.xs, &wj.ys, h, beta, Tape::Full)?;
                let e = relative_distance(indices, &g, &adj.grad);
                last = g;
                Ok::<_, CaseError>(e)
            })?;
            let last_disc = std::mem::take(&mut last);
            let (cont, why_cont) = self.converge(h0, 4.0, RK4_ORDER_BAND, floor, |j| {
                let (h, n) = step(j);
                let sweep = continuous_adjoint::<N, f64, _>(p, signal, None, 0.0, h, n, beta)?;
                let e = relative_distance(indices, &sweep.grad, &adj.grad);
                last = sweep.grad;
                Ok::<_, CaseError>(e)
            })?;
            for (why, last, what) in [
                (
                    why_disc,
                    &last_disc,
                    "generated discrete gradient (BPTT through Euler)",
                ),
                (why_cont, &last, "generated continuous adjoint (RK4 sweep)"),
            ] {
                if let Some(why) = why {
                    kind.get_or_insert(FailureKind::Convergence);
                    msgs.push(format!(
                        "vle-verify: {}: {what} vs the numerical continuous adjoint (Dopri5 rtol \
                         {:e}): {why}; at the finest dt the worst entry is {} (case {case}, \
                         seed {}, case seed {cs})",
                        N::NAME,
                        tol.rtol,
                        worst_entry::<N>(indices, last, &adj.grad),
                        self.seed
                    ));
                }
            }
            discrete = Some(disc);
            continuous = Some(cont);
        }
        Ok(OdeOutcome {
            report: Some(OdeReport {
                forward,
                reference_loss,
                discrete,
                continuous,
                checkpoints,
                refinement: m,
            }),
            references,
        })
    }

    /// The generated continuous adjoint (RK4 sweep) at the first step h = dt/(m·2ʲ),
    /// j = 0..=[`MAX_SWEEP_HALVINGS`], whose estimated error is at most a tenth of
    /// [`Check::continuous_tolerance`]: (h, number of steps, the estimate, the sweep, the
    /// estimated error of each checked entry). The estimate is Richardson's,
    /// |g(h) − g(h/2)|·16/15 (RK4: e(h) = C·h⁴ + …), per entry; the summary is relative to
    /// each tensor's largest |g(h/2)|, maximised over the checked entries. A
    /// network can be stiffer than its time constants (a coupling such as the adaptation
    /// `k` shortens the effective time constant of a unit), so the step is refined by
    /// measurement, not by τ alone.
    #[allow(clippy::type_complexity)]
    pub(super) fn resolved_sweep<S: Signal + ?Sized>(
        &self,
        p: &[f64],
        signal: &S,
        m: usize,
        indices: &[usize],
    ) -> Result<(f64, usize, f64, vle_runtime::AdjointSweep<f64>, Vec<f64>), CaseError> {
        let (dt, beta, steps) = (self.dt, self.beta, self.steps);
        let at = |f: usize| {
            continuous_adjoint::<N, f64, _>(p, signal, None, 0.0, dt / f as f64, steps * f, beta)
        };
        let mut f = m;
        let mut coarse = at(f)?;
        loop {
            let fine = at(2 * f)?;
            let est = compare::<N>(
                indices,
                &indices.iter().map(|&i| fine.grad[i]).collect::<Vec<_>>(),
                &coarse.grad,
            )
            .iter()
            .fold(0.0, |e, (_, c, _)| nan_max(e, c.max_rel_error))
                * 16.0
                / 15.0;
            if within(est, self.continuous_tolerance / 10.0) || f >= m << MAX_SWEEP_HALVINGS {
                let errors = indices
                    .iter()
                    .map(|&i| (coarse.grad[i] - fine.grad[i]).abs() * 16.0 / 15.0)
                    .collect();
                return Ok((dt / f as f64, steps * f, est, coarse, errors));
            }
            f *= 2;
            coarse = fine;
        }
    }

    /// (c): the sweep `sweep` (full parameter vector, entry errors `sweep_err` per checked
    /// index) against the finite differences `fd` of the finer RK4 loss: each entry within
    /// the larger of [`Check::continuous_tolerance`] times its tensor's largest |dL/dθ| and
    /// [`SAFETY`] times the estimated errors of both (the sweep's, and the finite differences'
    /// plus the finer RK4's, which is `refine`⁴ times smaller than the sweep's). The
    /// estimates matter for a tensor whose gradient is small next to the loss: the finite
    /// differences' error is absolute, set by |L|.
    pub(super) fn compare_continuous(
        &self,
        indices: &[usize],
        fd: &[FdDerivative],
        sweep: &[f64],
        sweep_err: &[f64],
    ) -> Vec<(&'static vle_runtime::ParamInfo, Bounded, usize)> {
        let values: Vec<f64> = fd.iter().map(|d| d.value).collect();
        let finer = 1.0 / (self.refine.max(1) as f64).powi(4);
        let estimate: Vec<f64> = fd
            .iter()
            .zip(sweep_err)
            .map(|(d, &e)| e * (1.0 + finer) + d.error())
            .collect();
        let accepted: Vec<f64> = indices
            .iter()
            .zip(&estimate)
            .map(|(&i, &e)| {
                let info = N::param_info()
                    .iter()
                    .find(|t| t.range().contains(&i))
                    .expect("checked entries lie in a tensor");
                let tmax = indices
                    .iter()
                    .zip(&values)
                    .filter(|(j, _)| info.range().contains(j))
                    .fold(0.0f64, |m, (_, v)| m.max(v.abs()));
                (SAFETY * e).max(self.continuous_tolerance * tmax)
            })
            .collect();
        compare_bounded::<N>(indices, &values, sweep, &estimate, &accepted)
    }

    /// The numerical adjoint `adjoint` (full parameter vector) against the finite differences
    /// `fd` on the entries `fd_idx`, each within [`SAFETY`] times the estimated errors of both
    /// (the finite difference's own estimate; the adjoint's from `loose`, the adjoint at
    /// [`LOOSE_FACTOR`]·rtol on the same entries), or within the floor
    /// [`Check::reference_tolerance`] times the tensor's largest |dL/dθ|. Per tensor: the
    /// comparison and the per-entry estimates.
    #[allow(clippy::type_complexity)]
    fn compare_references(
        &self,
        fd_idx: &[usize],
        fd: &FdGradient,
        adjoint: &[f64],
        loose: &[f64],
    ) -> Vec<(&'static ParamInfo, Bounded, Vec<EntryEstimate>)> {
        let tol = self.ode_tolerance;
        let values: Vec<f64> = fd.entries.iter().map(|d| d.value).collect();
        let gmax = fd_idx.iter().fold(0.0f64, |m, &i| m.max(adjoint[i].abs()));
        let estimates: Vec<EntryEstimate> = fd_idx
            .iter()
            .zip(&fd.entries)
            .zip(loose)
            .map(|((&i, d), &g_loose)| EntryEstimate {
                index: i,
                fd: *d,
                adjoint: ((adjoint[i] - g_loose).abs() / (LOOSE_FACTOR - 1.0))
                    .max(tol.rtol * gmax + tol.atol),
            })
            .collect();
        let estimate: Vec<f64> = estimates.iter().map(|e| e.total()).collect();
        let accepted: Vec<f64> = estimates
            .iter()
            .map(|e| {
                let info = N::param_info()
                    .iter()
                    .find(|t| t.range().contains(&e.index))
                    .expect("checked entries lie in a tensor");
                let tmax = fd_idx
                    .iter()
                    .zip(&values)
                    .filter(|(i, _)| info.range().contains(i))
                    .fold(0.0f64, |m, (_, v)| m.max(v.abs()));
                (SAFETY * e.total()).max(self.reference_tolerance * tmax)
            })
            .collect();
        compare_bounded::<N>(fd_idx, &values, adjoint, &estimate, &accepted)
            .into_iter()
            .map(|(info, b, _)| {
                let mine = estimates
                    .iter()
                    .filter(|e| info.range().contains(&e.index))
                    .copied()
                    .collect();
                (info, b, mine)
            })
            .collect()
    }

    fn reference_mismatch(
        &self,
        info: &ParamInfo,
        b: &Bounded,
        est: &[EntryEstimate],
        case: usize,
        cs: u64,
    ) -> String {
        let i = info.offset + b.ratio_entry;
        let e = est.iter().find(|e| e.index == i);
        let c = &b.comparison;
        let detail = e.map_or(String::new(), |e| {
            format!(
                " = {SAFETY} × (finite differences: truncation {} + noise {} at step {}; \
                 adjoint {})",
                num(e.fd.truncation, 2),
                num(e.fd.noise, 2),
                num(e.fd.step, 3),
                num(e.adjoint, 2)
            )
        });
        format!(
            "vle-verify: {}: numerical continuous adjoint (Dopri5, dual-number Jacobians) vs \
             fourth-order finite differences of the Dopri5 loss: at {}: |difference| is {} \
             times the accepted error {}{detail} (relative to the tensor's max |dL/dθ| \
             {}; the worst relative error is {} at [{}]: adjoint {}, finite differences {}) \
             (case {case}, seed {}, case seed {cs}; reproduce with the same settings and \
             .seed({}).cases({}))",
            N::NAME,
            param_entry_name::<N>(i),
            num(b.ratio, 3),
            num(b.accepted * c.scale, 3),
            num(c.scale, 3),
            num(c.max_rel_error, 3),
            c.worst_entry,
            num(c.worst_generated, 17),
            num(c.worst_reference, 17),
            self.seed,
            self.seed,
            case + 1,
        )
    }

    /// Runs a convergence check with errors from `error_at(j)` at step dt/(m·2^j): at least
    /// `levels` step sizes, refined further (up to `max_levels`) while the last `levels − 1`
    /// observed orders are not all in `order ± band`. The order is an asymptotic property: a
    /// case whose leading error coefficient happens to be small next to the next term (ρ =
    /// D·h/C not small) shows it only at smaller h, while a wrong order (an O(1) difference, or
    /// another scheme) never does. Returns the record (the step sizes relative to the base dt
    /// as set in `dts` by the caller's `error_at`) and the reason of a failure.
    fn converge<E>(
        &self,
        h0: f64,
        order: f64,
        band: f64,
        floor: f64,
        mut error_at: impl FnMut(usize) -> Result<f64, E>,
    ) -> Result<(Convergence, Option<String>), E> {
        let mut conv = Convergence {
            dts: Vec::new(),
            errors: Vec::new(),
        };
        let max = self.max_levels.max(self.levels);
        for j in 0..max {
            conv.errors.push(error_at(j)?);
            conv.dts.push(h0 / (1u64 << j) as f64);
            if j + 1 >= self.levels {
                let tail = Convergence {
                    dts: conv.dts[j + 1 - self.levels..].to_vec(),
                    errors: conv.errors[j + 1 - self.levels..].to_vec(),
                };
                match judge(&tail, order, band, floor) {
                    None => return Ok((conv, None)),
                    Some(_) if j + 1 == max => {
                        let why = format!(
                            "relative errors {} at dt {}: observed orders {}; the last {} are \
                             not all within {order} ± {band} (nor is the error at most \
                             {floor:e}, the reference's accuracy)",
                            list(&conv.errors, |v| num(v, 3)),
                            list(&conv.dts, |v| format!("{v:e}")),
                            list(&conv.orders(), order_str),
                            self.levels - 1,
                        );
                        return Ok((conv, Some(why)));
                    }
                    Some(_) => {}
                }
            }
        }
        unreachable!("the loop returns at its last level")
    }
}

/// The estimated errors of one entry of the reference comparison.
#[derive(Clone, Copy, Debug)]
struct EntryEstimate {
    index: usize,
    fd: crate::reference::FdDerivative,
    adjoint: f64,
}

impl EntryEstimate {
    fn total(&self) -> f64 {
        self.fd.error() + self.adjoint
    }
}

/// Up to `n` (at least 1) of the checked `indices` per learnable tensor: the first, the last
/// and evenly spaced ones in between.
fn fd_subset<N: Network>(indices: &[usize], n: usize) -> Vec<usize> {
    let n = n.max(1);
    let mut out = Vec::new();
    for info in N::param_info().iter().filter(|i| i.learnable) {
        let r = info.range();
        let mine: Vec<usize> = indices.iter().copied().filter(|i| r.contains(i)).collect();
        if mine.len() <= n {
            out.extend(mine);
        } else if n == 1 {
            out.push(mine[0]);
        } else {
            let last = mine.len() - 1;
            let mut pick: Vec<usize> = (0..n).map(|k| mine[k * last / (n - 1)]).collect();
            pick.dedup();
            out.extend(pick);
        }
    }
    out
}

/// ‖g[indices] − reference‖₂ / ‖reference‖₂ (absolute when the reference is zero); NaN
/// propagates.
fn relative_distance(indices: &[usize], g: &[f64], reference: &[f64]) -> f64 {
    let d: f64 = indices
        .iter()
        .zip(reference)
        .map(|(&i, r)| (g[i] - r).powi(2))
        .sum::<f64>()
        .sqrt();
    let n = reference.iter().map(|r| r * r).sum::<f64>().sqrt();
    if n > 0.0 {
        d / n
    } else {
        d
    }
}

/// "name[entry]: generated …, reference …, relative error …" for the entry with the largest
/// |g − reference| (relative to max |reference|).
fn worst_entry<N: Network>(indices: &[usize], g: &[f64], reference: &[f64]) -> String {
    let scale = reference.iter().fold(0.0f64, |m, r| m.max(r.abs()));
    let scale = if scale > 0.0 { scale } else { 1.0 };
    let mut worst = (0usize, -1.0f64);
    for (k, (&i, r)) in indices.iter().zip(reference).enumerate() {
        let e = (g[i] - r).abs() / scale;
        if e.is_nan() || e > worst.1 {
            worst = (k, if e.is_nan() { f64::INFINITY } else { e });
        }
    }
    match indices.get(worst.0) {
        Some(&i) => format!(
            "{}: generated {}, reference {}, relative error {} (relative to max \
             |reference| {:.3e})",
            param_entry_name::<N>(i),
            num(g[i], 17),
            num(reference[worst.0], 17),
            num(worst.1, 3),
            scale
        ),
        None => "(no entries checked)".into(),
    }
}

/// Judges a convergence sequence: every successive pair must show the observed order within
/// `order ± band`, unless the finer error is already at most `floor` (the reference's
/// accuracy). Returns the reason of a failure.
fn judge(conv: &Convergence, order: f64, band: f64, floor: f64) -> Option<String> {
    let orders = conv.orders();
    let bad = conv
        .errors
        .windows(2)
        .zip(&orders)
        .any(|(e, &q)| !(within(e[1], floor) || within((q - order).abs(), band)));
    let nan = conv.errors.iter().any(|e| e.is_nan());
    (bad || nan).then(|| {
        format!(
            "relative errors {} at dt {}: observed orders {}, expected {order} ± {band} \
             (or an error at most {floor:e}, the reference's accuracy)",
            list(&conv.errors, |v| num(v, 3)),
            list(&conv.dts, |v| format!("{v:e}")),
            list(&orders, order_str),
        )
    })
}

/// An observed order, "—" where it is undefined (errors exactly zero or not finite).
fn order_str(q: f64) -> String {
    if q.is_finite() {
        format!("{q:.3}")
    } else {
        "—".into()
    }
}

fn list(v: &[f64], f: impl Fn(f64) -> String) -> String {
    v.iter().map(|&x| f(x)).collect::<Vec<_>>().join(", ")
}
