//! The check builder: random cases, generated gradients against independent references.

use std::fmt;
use std::marker::PhantomData;

use vle_runtime::exact::{exact_gradient, Tape, Window};
use vle_runtime::params::{init_params, param_entry_name, validate_params};
use vle_runtime::{continuous_adjoint, Network, ParamKind, Rng, Signal, Sines, SumOfSines};

use crate::dual::{dual_gradient, entries_to_check};
use crate::fd::{continuous_loss, fd_continuous};
use crate::report::{compare, cosine, CaseReport, Comparison, Report, TensorReport};

/// Environment variable overriding the number of cases (for long soaks), e.g.
/// `VLE_VERIFY_CASES=500 cargo test`.
pub const CASES_ENV: &str = "VLE_VERIFY_CASES";

/// Starts a check of network `N` with the default settings (see [`Check`]).
pub fn check<N: Network>() -> Check<N> {
    Check {
        seed: 0,
        cases: 3,
        steps: 200,
        dt: 0.01,
        beta: 1.0,
        // Both sides are exact derivatives of the same f64 computation, evaluated in different
        // orders (forward-mode duals vs the generated reverse sweep), so they differ by
        // rounding alone: each step contributes O(u) = 1.1e-16 relative to the magnitudes of
        // the terms it sums, and over a few hundred steps (with some cancellation between
        // terms of opposite sign) that stays around 1e-14..1e-12 relative to the tensor's
        // largest entry. 1e-9 leaves three orders of margin while any actual derivation error
        // (a wrong factor, a missing term, an off-by-one step) shows up at 1e-6 or far above.
        tolerance: 1e-9,
        min_cosine: None,
        max_entries: 32,
        continuous: None,
        continuous_tolerance: 1e-5,
        refine: 4,
        frequencies: (0.1, 2.0),
        _n: PhantomData,
    }
}

/// Settings of a check. Defaults: seed 0, 3 cases (or `VLE_VERIFY_CASES`), 200 steps,
/// dt 0.01, beta 1, tolerance 1e-9, every entry of tensors up to 32 entries (larger ones
/// sampled), no cosine assertion, no continuous check.
///
/// Per case (seed derived from the base seed and the case index):
/// - parameters: [`init_params`] with the case seed (random weights), learnable neuron
///   parameters scaled by a factor uniform in [0.8, 1.2] (learnable time constants kept
///   ≥ dt), learnable biases uniform in ±0.1 (instead of exactly zero);
/// - input: per channel a sum of 1–3 sines, amplitude in [0.2, 1], frequency in [0.1, 2]
///   cycles per unit time ([`Check::frequencies`]), phase in [0, 2π); target: the same kind
///   of signal per output.
///
/// Checks:
/// - (a) [`exact_gradient`] (generated backward sweep) against the dual-number reference of
///   [`crate::dual`], per tensor, max relative error ≤ tolerance; the two loss values too;
/// - (b) the local rule: [`Network::online_step`] accumulated over the window (fresh state,
///   γ = 0) against the exact gradient, cosine per tensor and overall: reported, asserted only
///   with [`Check::min_cosine`];
/// - (c) optional ([`Check::continuous`]): [`continuous_adjoint`] against central finite
///   differences of the continuous loss solved by RK4 on a grid `refine` times finer.
#[derive(Clone, Debug)]
pub struct Check<N: Network> {
    seed: u64,
    cases: usize,
    steps: usize,
    dt: f64,
    beta: f64,
    tolerance: f64,
    min_cosine: Option<f64>,
    max_entries: usize,
    continuous: Option<bool>,
    continuous_tolerance: f64,
    refine: usize,
    frequencies: (f64, f64),
    _n: PhantomData<N>,
}

/// Why a check failed. `Display` gives the full diagnostics (and the report's table).
#[derive(Clone, Debug)]
pub struct Failure {
    pub kind: FailureKind,
    /// One line per failed comparison (or the error), naming model, tensor, entry, both
    /// numbers, the relative error, the tolerance and the seed.
    pub messages: Vec<String>,
    /// The report of the cases that ran (absent when the failure happened before any
    /// comparison, e.g. invalid settings).
    pub report: Option<Box<Report>>,
}

/// The kind of a [`Failure`].
#[derive(Clone, Debug, PartialEq)]
pub enum FailureKind {
    /// Invalid settings (or `VLE_VERIFY_CASES` unreadable).
    Settings,
    /// The runtime refused the case (invalid parameters, non-finite state, ...).
    Runtime(vle_runtime::Error),
    /// A generated gradient (or loss) disagrees with its reference beyond the tolerance.
    Mismatch,
    /// The local rule's cosine fell below [`Check::min_cosine`].
    LowCosine,
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for m in &self.messages {
            writeln!(f, "{m}")?;
        }
        if let Some(r) = &self.report {
            write!(f, "{r}")?;
        }
        Ok(())
    }
}

impl std::error::Error for Failure {}

/// `a <= b`, false when either is NaN (a NaN must never pass a check).
fn within(a: f64, b: f64) -> bool {
    matches!(
        a.partial_cmp(&b),
        Some(std::cmp::Ordering::Less | std::cmp::Ordering::Equal)
    )
}

/// Seed of case `case` of a check with base seed `seed` (SplitMix64 increment, so that
/// neighbouring base seeds do not share cases).
pub fn case_seed(seed: u64, case: usize) -> u64 {
    let mut z = seed.wrapping_add((case as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15));
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// The random parameters of a case (see [`Check`]).
pub fn case_params<N: Network>(seed: u64, dt: f64) -> Vec<f64> {
    let mut p = init_params::<N, f64>(seed);
    let mut rng = Rng::new(seed ^ 0xA5A5_A5A5_A5A5_A5A5);
    for info in N::param_info().iter().filter(|i| i.learnable) {
        match info.kind {
            ParamKind::Neuron => {
                for v in &mut p[info.range()] {
                    *v *= rng.uniform_range(0.8, 1.2);
                    if info.time_constant {
                        *v = v.max(dt);
                    }
                }
            }
            ParamKind::Bias => p[info.range()]
                .iter_mut()
                .for_each(|b| *b = rng.uniform_range(-0.1, 0.1)),
            ParamKind::Weight { .. } => {}
        }
    }
    p
}

fn random_sines(rng: &mut Rng, (lo, hi): (f64, f64)) -> Sines {
    let k = 1 + rng.below(3);
    let tau = 2.0 * std::f64::consts::PI;
    let a = (0..k).map(|_| rng.uniform_range(0.2, 1.0)).collect();
    let f = (0..k).map(|_| rng.uniform_range(lo, hi)).collect();
    let ph = (0..k).map(|_| rng.uniform_range(0.0, tau)).collect();
    Sines::new(a, f, ph)
}

/// The random input and target of a case with the default frequency band (see [`Check`]).
pub fn case_signal<N: Network>(seed: u64) -> SumOfSines {
    case_signal_in_band::<N>(seed, (0.1, 2.0))
}

/// The random input and target of a case, frequencies uniform in `band` (cycles per unit
/// time).
pub fn case_signal_in_band<N: Network>(seed: u64, band: (f64, f64)) -> SumOfSines {
    let mut rng = Rng::new(seed ^ 0x5A5A_5A5A_5A5A_5A5A);
    SumOfSines {
        inputs: (0..N::INPUT)
            .map(|_| random_sines(&mut rng, band))
            .collect(),
        targets: (0..N::OUTPUT)
            .map(|_| random_sines(&mut rng, band))
            .collect(),
    }
}

/// The local rule's gradient estimate accumulated over `steps` steps from the zero state and
/// zero error-neuron state, nudging γ = 0, driven like the online trainer: step n uses
/// x(t_n) and y(t_n), t_n = n·dt.
pub fn local_gradient<N: Network, S: Signal + ?Sized>(
    p: &[f64],
    signal: &S,
    dt: f64,
    steps: usize,
    beta: f64,
) -> Vec<f64> {
    let mut grad = vec![0.0; N::PARAMS];
    let mut state = vec![0.0; N::STATE];
    let mut local = vec![0.0; N::LOCAL];
    let (mut x, mut y) = (vec![0.0; N::INPUT], vec![0.0; N::OUTPUT]);
    for n in 0..steps {
        signal.at(n as f64 * dt, &mut x, &mut y);
        N::online_step(p, &mut state, &mut local, &x, &y, beta, 0.0, dt, &mut grad);
    }
    grad
}

impl<N: Network> Check<N> {
    /// Base seed; case k uses [`case_seed`]`(seed, k)`.
    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = seed;
        self
    }
    /// Number of random cases (overridden by `VLE_VERIFY_CASES` when set).
    pub fn cases(mut self, cases: usize) -> Self {
        self.cases = cases;
        self
    }
    /// Steps per window.
    pub fn steps(mut self, steps: usize) -> Self {
        self.steps = steps;
        self
    }
    /// Time step.
    pub fn dt(mut self, dt: f64) -> Self {
        self.dt = dt;
        self
    }
    /// Weight of the loss.
    pub fn beta(mut self, beta: f64) -> Self {
        self.beta = beta;
        self
    }
    /// Largest accepted relative error of the exact discrete gradient (default 1e-9).
    pub fn tolerance(mut self, tolerance: f64) -> Self {
        self.tolerance = tolerance;
        self
    }
    /// Fails when the overall local-rule cosine of any case is below `min`.
    pub fn min_cosine(mut self, min: f64) -> Self {
        self.min_cosine = Some(min);
        self
    }
    /// Largest number of entries per tensor compared with the dual reference (one forward
    /// run per entry); larger tensors are sampled with the case seed. Default 32.
    pub fn max_entries(mut self, max: usize) -> Self {
        self.max_entries = max;
        self
    }
    /// Also checks [`continuous_adjoint`] against finite differences of the continuous loss
    /// (only for networks with [`Network::CONTINUOUS`]).
    pub fn continuous(mut self, on: bool) -> Self {
        self.continuous = Some(on);
        self
    }
    /// Tolerance of the continuous check (default 1e-5): the generated sweep is RK4 at `dt`
    /// (error O(dt⁴)), the reference RK4 at dt/`refine` plus finite differences (see
    /// [`crate::fd`]).
    pub fn continuous_tolerance(mut self, tolerance: f64) -> Self {
        self.continuous_tolerance = tolerance;
        self
    }
    /// Frequency band of the random input and target sines, in cycles per unit time (default
    /// 0.1..2). The local rule approaches the exact gradient when ω·τ ≪ 1 (THEORY.md §5):
    /// a low band measures that regime, the default band includes strong gain distortion.
    pub fn frequencies(mut self, lo: f64, hi: f64) -> Self {
        self.frequencies = (lo, hi);
        self
    }
    /// Refinement of the reference grid of the continuous check (default 4).
    pub fn refine(mut self, refine: usize) -> Self {
        self.refine = refine;
        self
    }

    /// Runs the check; panics with the diagnostics on failure.
    pub fn run(self) -> Report {
        match self.try_run() {
            Ok(r) => r,
            Err(f) => panic!("{f}"),
        }
    }

    fn settings_error(&self, msg: String) -> Failure {
        Failure {
            kind: FailureKind::Settings,
            messages: vec![format!("vle-verify: {}: {msg}", N::NAME)],
            report: None,
        }
    }

    /// Runs the check; every case runs, then the failures (if any) are returned together
    /// with the report.
    pub fn try_run(self) -> Result<Report, Failure> {
        let cases = match std::env::var(CASES_ENV) {
            Ok(v) => match v.trim().parse::<usize>() {
                Ok(n) => n,
                Err(_) => {
                    return Err(
                        self.settings_error(format!("{CASES_ENV}={v:?} is not a number of cases"))
                    )
                }
            },
            Err(_) => self.cases,
        };
        if self.steps == 0 || cases == 0 {
            return Err(self.settings_error(format!(
                "nothing to check ({cases} cases of {} steps)",
                self.steps
            )));
        }
        let (lo, hi) = self.frequencies;
        if !(lo.is_finite() && hi.is_finite() && 0.0 <= lo && lo <= hi) {
            return Err(self.settings_error(format!(
                "frequencies {lo}..{hi} must satisfy 0 <= lo <= hi (finite)"
            )));
        }
        if !(self.dt.is_finite() && self.dt > 0.0) {
            return Err(self.settings_error(format!("dt = {} must be finite and > 0", self.dt)));
        }
        if !within(0.0, self.tolerance) {
            return Err(self.settings_error(format!("tolerance = {} must be >= 0", self.tolerance)));
        }
        let continuous = match self.continuous {
            Some(true) if !N::CONTINUOUS => {
                return Err(self.settings_error(
                    "the continuous check was requested, but the network has no \
                     continuous-time kernels (recurrent projections)"
                        .into(),
                ))
            }
            Some(on) => on,
            None => false,
        };
        if continuous && self.refine == 0 {
            return Err(self.settings_error("refine must be at least 1".into()));
        }
        let mut report = Report {
            model: N::NAME,
            seed: self.seed,
            steps: self.steps,
            dt: self.dt,
            beta: self.beta,
            tolerance: self.tolerance,
            continuous_tolerance: continuous.then_some(self.continuous_tolerance),
            min_cosine: self.min_cosine,
            cases: Vec::new(),
        };
        let mut messages = Vec::new();
        let mut kind = None;
        for case in 0..cases {
            let cs = case_seed(self.seed, case);
            let runtime = |e: vle_runtime::Error, report: &Report| Failure {
                messages: vec![format!(
                    "vle-verify: {}: case {case} (seed {}, case seed {cs}): the runtime \
                     refused the case: {e}",
                    N::NAME,
                    self.seed
                )],
                kind: FailureKind::Runtime(e),
                report: Some(Box::new(report.clone())),
            };
            let (c, mut msgs) = match self.run_case(case, cs, continuous) {
                Ok(v) => v,
                Err(e) => return Err(runtime(e, &report)),
            };
            if !msgs.is_empty() {
                kind.get_or_insert(FailureKind::Mismatch);
            }
            messages.append(&mut msgs);
            if let Some(min) = self.min_cosine {
                // NaN (an all-zero gradient) fails too.
                if !within(min, c.overall_cosine) {
                    kind.get_or_insert(FailureKind::LowCosine);
                    messages.push(format!(
                        "vle-verify: {}: local rule: overall cosine with the exact gradient \
                         {:.6} < min_cosine {min} (case {case}, seed {}, case seed {cs})",
                        N::NAME,
                        c.overall_cosine,
                        self.seed
                    ));
                }
            }
            report.cases.push(c);
        }
        match kind {
            None => Ok(report),
            Some(kind) => Err(Failure {
                kind,
                messages,
                report: Some(Box::new(report)),
            }),
        }
    }

    /// One case: the report and the messages of failed comparisons.
    fn run_case(
        &self,
        case: usize,
        cs: u64,
        continuous: bool,
    ) -> vle_runtime::Result<(CaseReport, Vec<String>)> {
        let (dt, beta, steps) = (self.dt, self.beta, self.steps);
        let p = case_params::<N>(cs, dt);
        validate_params::<N, f64>(&p, dt)?;
        let signal = case_signal_in_band::<N>(cs, self.frequencies);
        let w = Window::sample(&signal, 0.0, dt, steps);
        let indices = entries_to_check::<N>(self.max_entries, cs);

        // (a) Generated backward sweep against the dual-number reference.
        let (gen_loss, gen) = exact_gradient::<N, f64>(&p, &w.xs, &w.ys, dt, beta, Tape::Full)?;
        let (ref_loss, reference) = dual_gradient::<N>(&p, &w.xs, &w.ys, dt, beta, &indices);
        let exact = compare::<N>(&indices, &reference, &gen);

        // (b) The local rule against the exact gradient (all learnable entries).
        let local = local_gradient::<N, _>(&p, &signal, dt, steps, beta);
        let learn: Vec<usize> = N::param_info()
            .iter()
            .filter(|i| i.learnable)
            .flat_map(|i| i.range())
            .collect();
        let pick = |v: &[f64]| -> Vec<f64> { learn.iter().map(|&i| v[i]).collect() };
        let overall_cosine = cosine(&pick(&local), &pick(&gen));

        // (c) The continuous adjoint against finite differences of the continuous loss.
        let (cont, continuous_loss) = if continuous {
            let sweep = continuous_adjoint::<N, f64, _>(&p, &signal, None, 0.0, dt, steps, beta)?;
            let fd =
                fd_continuous::<N, _>(&p, &signal, 0.0, dt, steps, self.refine, beta, &indices);
            let l = continuous_loss::<N, _>(&p, &signal, 0.0, dt, steps, self.refine, beta);
            (
                Some(compare::<N>(&indices, &fd, &sweep.grad)),
                Some((l, sweep.loss)),
            )
        } else {
            (None, None)
        };

        let mut tensors = Vec::new();
        let mut msgs = Vec::new();
        let tol = self.tolerance;
        let loss_err = (gen_loss - ref_loss).abs() / ref_loss.abs().max(f64::MIN_POSITIVE);
        if !within(loss_err, tol) && gen_loss != ref_loss {
            msgs.push(format!(
                "vle-verify: {}: discrete loss of the window: generated (backward sweep) \
                 {gen_loss:.17e}, reference {ref_loss:.17e}, relative error {loss_err:.3e} > \
                 tolerance {tol:e} (case {case}, seed {}, case seed {cs})",
                N::NAME,
                self.seed
            ));
        }
        for (k, (info, cmp, checked)) in exact.into_iter().enumerate() {
            if !within(cmp.max_rel_error, tol) {
                msgs.push(self.mismatch(
                    "exact discrete gradient (backward sweep) vs dual-number reference",
                    info.offset,
                    &cmp,
                    tol,
                    case,
                    cs,
                ));
            }
            let c = cont.as_ref().map(|v| v[k].1.clone());
            if let Some(c) = &c {
                if !within(c.max_rel_error, self.continuous_tolerance) {
                    msgs.push(self.mismatch(
                        "continuous adjoint (RK4 sweep) vs finite differences of the continuous \
                         loss",
                        info.offset,
                        c,
                        self.continuous_tolerance,
                        case,
                        cs,
                    ));
                }
            }
            let r = info.range();
            let local_cosine = cosine(&local[r.clone()], &gen[r]);
            tensors.push(TensorReport {
                name: info.name,
                len: info.len(),
                checked,
                exact: cmp,
                local_cosine,
                continuous: c,
            });
        }
        if let Some((l, g)) = continuous_loss {
            let e = (g - l).abs() / l.abs().max(f64::MIN_POSITIVE);
            if !within(e, self.continuous_tolerance) {
                msgs.push(format!(
                    "vle-verify: {}: continuous loss: generated sweep {g:.17e}, reference \
                     (RK4 at dt/{}) {l:.17e}, relative error {e:.3e} > tolerance {:e} \
                     (case {case}, seed {}, case seed {cs})",
                    N::NAME,
                    self.refine,
                    self.continuous_tolerance,
                    self.seed
                ));
            }
        }
        Ok((
            CaseReport {
                case,
                seed: cs,
                reference_loss: ref_loss,
                generated_loss: gen_loss,
                tensors,
                overall_cosine,
                continuous_loss,
            },
            msgs,
        ))
    }

    fn mismatch(
        &self,
        what: &str,
        offset: usize,
        c: &Comparison,
        tol: f64,
        case: usize,
        cs: u64,
    ) -> String {
        format!(
            "vle-verify: {}: {what}: at {}: generated {:.17e}, reference {:.17e}, relative \
             error {:.3e} (relative to the tensor's max |reference| {:.3e}) > tolerance {tol:e} \
             (case {case}, seed {}, case seed {cs}; reproduce with the same settings and \
             .seed({}).cases({}))",
            N::NAME,
            param_entry_name::<N>(offset + c.worst_entry),
            c.worst_generated,
            c.worst_reference,
            c.max_rel_error,
            c.scale,
            self.seed,
            self.seed,
            case + 1,
        )
    }
}
