//! The check builder: random cases, generated gradients against independent references.

use std::fmt;
use std::marker::PhantomData;

use vle_runtime::exact::{exact_gradient, Tape, Window};
use vle_runtime::params::{init_params, param_entry_name, validate_params};
use vle_runtime::{continuous_adjoint, Network, ParamKind, Rng, Signal, Sines, SumOfSines};

use crate::dual::{dual_gradient, entries_to_check};
use crate::fd::{continuous_loss, fd_continuous};
use crate::ode::{OdeError, Tolerance};
use crate::reference::{
    adjoint_reference, default_checkpoints, fd_ode_loss, fd_ode_step, ode_loss, Convergence,
    ForwardReference,
};
use crate::report::{
    compare, compare_floor, cosine, CaseReport, Comparison, OdeReport, Report, TensorReport,
};

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
        ode_forward: None,
        ode_adjoint: None,
        ode_tolerance: Tolerance::TIGHT,
        // (3) vs (2): two references of the same continuous derivative, compared per tensor
        // with a mixed test |Δ| ≤ 1e-6·max|dL/dθ|_tensor + atol. The numerical adjoint is
        // accurate to a small multiple of the solver's rtol (1e-12) times the integrands; the
        // fourth-order finite differences to h⁴/30·|L⁽⁵⁾| + 1.5·rtol·|L|/h (see
        // [`crate::reference::fd_ode_loss`]), an *absolute* error set by the loss: a tensor
        // whose gradient is 1e-7 of L cannot be resolved to 1e-6 of itself by any finite
        // difference. atol is that bound with a factor 10 of margin, at the smallest step h =
        // 1e-3: atol = 10·1.5·rtol·|L|/1e-3 (1.5e-8·|L| at rtol 1e-12). Any error in either
        // reference (a wrong sign, a missed loss term, a stale trajectory) is O(1).
        reference_tolerance: 1e-6,
        fd_entries: 4,
        levels: 3,
        max_levels: 6,
        convergence_ratio: CONVERGENCE_RATIO,
        _n: PhantomData,
    }
}

/// Largest deviation of the observed order of the Euler scheme from 1 (per halving of dt).
///
/// With e(h) = C·h + D·h² + O(h³), halving h gives the observed order
/// log₂[2(1 + ρ)/(1 + ρ/2)] with ρ = D·h/C, i.e. 1 + ρ/(2 ln 2) + O(ρ²): within ±0.2 as long
/// as |ρ| ≲ 0.25, which the step refinement of [`Check::convergence_ratio`] (h ≤ τ_min/8)
/// provides for the models we know. A wrong order (0: an O(1) mismatch that does not
/// shrink; 2: a scheme other than the one declared) lies far outside.
pub const EULER_ORDER_BAND: f64 = 0.2;

/// Largest deviation of the observed order of the RK4 continuous adjoint from 4. RK4's error
/// e(h) = C·h⁴ + D·h⁵ + … gives the observed order 4 + ρ/(2 ln 2) with ρ = D·h/C; the
/// band ±0.5 accepts |ρ| ≲ 0.7 and still separates 4 from 3 (a first-order error in a stage
/// weight or a midpoint) and from 5.
pub const RK4_ORDER_BAND: f64 = 0.5;

/// Floor of the convergence checks, in units of the ODE solver's `rtol`: once an error is at
/// most `CONVERGENCE_FLOOR × rtol` (relative), it is at the accuracy of the reference and its
/// ratio to the previous one says nothing about the order. The Dopri5 references' global
/// errors are small multiples of rtol (measured: adjoint reference vs finite differences
/// 3e-12, and the RK4 sweep converging cleanly down to 6e-14, at rtol 1e-12); 100 leaves
/// margin for less benign models.
pub const CONVERGENCE_FLOOR: f64 = 100.0;

/// Settings of a check. Defaults: seed 0, 3 cases (or `VLE_VERIFY_CASES`), 200 steps,
/// dt 0.01, beta 1, tolerance 1e-9, every entry of tensors up to 32 entries (larger ones
/// sampled), no cosine assertion, no RK4-against-RK4 continuous check (c); the Dopri5 checks
/// (d) on and (e) on when cheap, for networks with [`Network::CONTINUOUS`]; Dopri5 rtol
/// 1e-12, reference tolerance 1e-6, finite differences on 4 entries per tensor, 3 to 6 step
/// sizes from h₀ ≤ τ_min/8.
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
///   differences of the continuous loss solved by RK4 on a grid `refine` times finer;
/// - (d) [`Check::ode_forward`] (on by default for networks with [`Network::CONTINUOUS`]):
///   the generated Euler forward against the Dopri5 solution of the declared ODEs
///   ([`crate::reference::forward_convergence`]), output rates, at three step sizes: the
///   observed order must be 1 ± [`EULER_ORDER_BAND`];
/// - (e) [`Check::ode_adjoint`] (on by default for continuous networks when cheap, see
///   there): the numerical continuous adjoint of [`crate::reference::adjoint_reference`]
///   (Dopri5, dual-number Jacobians, no generated derivative code) against fourth-order
///   finite differences of the Dopri5 loss ([`crate::reference::fd_ode_loss`]), per tensor
///   ≤ [`Check::reference_tolerance`]; then, against that reference over the same window, the
///   generated discrete gradient (BPTT through Euler) at three step sizes (order 1 ±
///   [`EULER_ORDER_BAND`]) and the generated continuous adjoint (RK4) at three step sizes
///   (order 4 ± [`RK4_ORDER_BAND`], or already within [`CONVERGENCE_FLOOR`]·rtol).
///
/// Convergence step sizes: h₀ = dt/m, h₀/2, h₀/4 over the same window [0, steps·dt], with
/// the smallest integer m such that h₀ ≤ τ_min·[`Check::convergence_ratio`] (τ_min the
/// smallest time-constant entry): the orders are asymptotic statements and need h ≪ τ.
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
    ode_forward: Option<bool>,
    ode_adjoint: Option<bool>,
    ode_tolerance: Tolerance,
    reference_tolerance: f64,
    fd_entries: usize,
    levels: usize,
    max_levels: usize,
    convergence_ratio: f64,
    _n: PhantomData<N>,
}

/// Default of [`Check::convergence_ratio`]: the convergence checks use steps h ≤ τ_min/8.
const CONVERGENCE_RATIO: f64 = 0.125;

/// Which checks a run performs (settings resolved against the network).
#[derive(Clone, Copy, Debug)]
struct Plan {
    continuous: bool,
    forward: bool,
    adjoint: bool,
}

/// Why a case could not be evaluated.
enum CaseError {
    Runtime(vle_runtime::Error),
    Reference(OdeError),
}

impl From<vle_runtime::Error> for CaseError {
    fn from(e: vle_runtime::Error) -> Self {
        CaseError::Runtime(e)
    }
}

impl From<OdeError> for CaseError {
    fn from(e: OdeError) -> Self {
        CaseError::Reference(e)
    }
}

/// Why a check failed. `Display` gives the full diagnostics (and the report's table).
#[derive(Clone, Debug)]
pub struct Failure {
    /// What failed: the settings, a comparison, or a run.
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
    /// A generated scheme does not converge to the continuous reference at its order.
    Convergence,
    /// A Dopri5 reference could not be computed (step-size underflow, non-finite state, ...).
    Reference(OdeError),
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
    // One amplitude, frequency and phase per sine by construction.
    Sines {
        amplitudes: a,
        frequencies: f,
        phases: ph,
        offset: 0.0,
    }
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

/// Default limit of the work estimate (CONT + checked entries)·(PARAMS + STATE) under which
/// [`Check::ode_adjoint`] is on by default: the numerical adjoint makes one dual-number pass
/// through the right-hand side and the loss per state entry and per checked parameter entry,
/// at every solver stage. 20 000 keeps it within a few seconds per case in a debug build for
/// the models of the test zoo; larger networks opt in explicitly.
pub const ADJOINT_WORK_LIMIT: usize = 20_000;

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
    /// 0.1..2). The local rule approaches the exact gradient when ω·τ ≪ 1 (`vle::_theory` §5):
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
    /// Check (d): the generated Euler forward against the Dopri5 solution of the declared
    /// ODEs, first-order convergence. Default: on for networks with [`Network::CONTINUOUS`]
    /// (it costs one Dopri5 solve and three Euler runs).
    pub fn ode_forward(mut self, on: bool) -> Self {
        self.ode_forward = Some(on);
        self
    }
    /// Check (e): the numerical continuous adjoint against finite differences of the Dopri5
    /// loss, and the generated discrete gradient and continuous adjoint converging to it.
    /// Default: on for continuous networks whose work estimate
    /// (CONT + checked entries)·(PARAMS + STATE) is at most [`ADJOINT_WORK_LIMIT`].
    pub fn ode_adjoint(mut self, on: bool) -> Self {
        self.ode_adjoint = Some(on);
        self
    }
    /// Tolerances of the Dopri5 references (default [`Tolerance::TIGHT`]: rtol 1e-12,
    /// atol 1e-14).
    pub fn ode_tolerance(mut self, tol: Tolerance) -> Self {
        self.ode_tolerance = tol;
        self
    }
    /// Largest accepted error between the numerical adjoint and the finite differences of the
    /// Dopri5 loss, relative to the largest |dL/dθ| of the tensor, with an absolute floor of
    /// 10× the finite differences' own error bound, 1.5e-8·|L| at rtol 1e-12 (default 1e-6).
    pub fn reference_tolerance(mut self, tolerance: f64) -> Self {
        self.reference_tolerance = tolerance;
        self
    }
    /// Number of entries per tensor (of those checked, see [`Check::max_entries`]) on which
    /// the numerical adjoint is compared with finite differences (default 4; each entry
    /// costs four Dopri5 solves of the loss). The comparison validates the two references;
    /// the convergence checks use the numerical adjoint on every checked entry.
    pub fn fd_entries(mut self, n: usize) -> Self {
        self.fd_entries = n;
        self
    }
    /// Number of step sizes of the convergence checks (default 3, at least 2): h₀, h₀/2, ….
    /// The last `levels − 1` observed orders must be in the band.
    pub fn levels(mut self, levels: usize) -> Self {
        self.levels = levels;
        self
    }
    /// The convergence checks start at the largest h₀ = dt/m (m a positive integer) with
    /// h₀ ≤ `ratio`·τ_min, τ_min the smallest time-constant entry (default 1/8).
    pub fn convergence_ratio(mut self, ratio: f64) -> Self {
        self.convergence_ratio = ratio;
        self
    }
    /// Largest number of step sizes (default 6, i.e. down to h₀/32): while the last orders
    /// are outside the band the step is halved again, up to this many step sizes, because
    /// the order of a scheme is an asymptotic property (see [`EULER_ORDER_BAND`]).
    pub fn max_levels(mut self, levels: usize) -> Self {
        self.max_levels = levels;
        self
    }

    /// Runs the check; panics with the diagnostics on failure.
    pub fn run(self) -> Report {
        match self.try_run() {
            Ok(r) => r,
            Err(f) => panic!("{f}"),
        }
    }

    /// Runs every check on one case of your choosing (parameters `p`, input and target
    /// `signal` over [0, steps·dt]) instead of random ones; panics with the diagnostics on
    /// failure. The report has one case, with the base seed as its seed (it only selects
    /// the sampled entries of large tensors).
    pub fn run_on<S: Signal + ?Sized>(&self, p: &[f64], signal: &S) -> Report {
        match self.try_run_on(p, signal) {
            Ok(r) => r,
            Err(f) => panic!("{f}"),
        }
    }

    /// [`Check::run_on`] without the panic.
    pub fn try_run_on<S: Signal + ?Sized>(&self, p: &[f64], signal: &S) -> Result<Report, Failure> {
        let plan = self.plan()?;
        if p.len() != N::PARAMS {
            return Err(self.settings_error(format!(
                "the parameter vector has {} entries, the network {}",
                p.len(),
                N::PARAMS
            )));
        }
        if signal.input_dim() != N::INPUT || signal.target_dim() != N::OUTPUT {
            return Err(self.settings_error(format!(
                "the signal has {} inputs and {} targets, the network {} and {}",
                signal.input_dim(),
                signal.target_dim(),
                N::INPUT,
                N::OUTPUT
            )));
        }
        let mut report = self.empty_report(plan);
        self.add_case(&mut report, plan, 0, self.seed, p, signal)
            .map(|()| report)
    }

    fn settings_error(&self, msg: String) -> Failure {
        Failure {
            kind: FailureKind::Settings,
            messages: vec![format!("vle-verify: {}: {msg}", N::NAME)],
            report: None,
        }
    }

    /// Validates the settings and resolves the defaults against the network.
    fn plan(&self) -> Result<Plan, Failure> {
        if self.steps == 0 {
            return Err(self.settings_error("nothing to check (0 steps)".into()));
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
        let tol = self.ode_tolerance;
        if !(tol.rtol > 0.0 && tol.atol > 0.0 && tol.rtol.is_finite() && tol.atol.is_finite()) {
            return Err(self.settings_error(format!(
                "ODE tolerances rtol {} atol {} must be finite and > 0",
                tol.rtol, tol.atol
            )));
        }
        if !(self.convergence_ratio > 0.0 && self.convergence_ratio.is_finite()) {
            return Err(self.settings_error(format!(
                "convergence_ratio = {} must be finite and > 0",
                self.convergence_ratio
            )));
        }
        if self.levels < 2 {
            return Err(self.settings_error(format!(
                "levels = {}: a convergence check needs at least 2 step sizes",
                self.levels
            )));
        }
        let resolve = |opt: Option<bool>, what: &str, default: bool| match opt {
            Some(true) if !N::CONTINUOUS => Err(self.settings_error(format!(
                "the {what} was requested, but the network has no continuous-time kernels \
                 (recurrent projections)"
            ))),
            Some(on) => Ok(on),
            None => Ok(default && N::CONTINUOUS),
        };
        let continuous = resolve(self.continuous, "continuous check", false)?;
        if continuous && self.refine == 0 {
            return Err(self.settings_error("refine must be at least 1".into()));
        }
        let checked = entries_to_check::<N>(self.max_entries, 0).len();
        let work = (N::CONT + checked) * (N::PARAMS + N::STATE);
        Ok(Plan {
            continuous,
            forward: resolve(self.ode_forward, "ODE forward check", true)?,
            adjoint: resolve(
                self.ode_adjoint,
                "ODE adjoint check",
                work <= ADJOINT_WORK_LIMIT,
            )?,
        })
    }

    fn empty_report(&self, plan: Plan) -> Report {
        Report {
            model: N::NAME,
            seed: self.seed,
            steps: self.steps,
            dt: self.dt,
            beta: self.beta,
            tolerance: self.tolerance,
            continuous_tolerance: plan.continuous.then_some(self.continuous_tolerance),
            min_cosine: self.min_cosine,
            ode_rtol: (plan.forward || plan.adjoint).then_some(self.ode_tolerance.rtol),
            reference_tolerance: plan.adjoint.then_some(self.reference_tolerance),
            cases: Vec::new(),
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
        if cases == 0 {
            return Err(self.settings_error(format!(
                "nothing to check (0 cases of {} steps)",
                self.steps
            )));
        }
        let plan = self.plan()?;
        let mut report = self.empty_report(plan);
        let mut messages = Vec::new();
        let mut kind = None;
        for case in 0..cases {
            let cs = case_seed(self.seed, case);
            let p = case_params::<N>(cs, self.dt);
            let signal = case_signal_in_band::<N>(cs, self.frequencies);
            match self.add_case(&mut report, plan, case, cs, &p, &signal) {
                Ok(()) => {}
                Err(f) if matches!(f.kind, FailureKind::Runtime(_) | FailureKind::Reference(_)) => {
                    return Err(f)
                }
                Err(mut f) => {
                    kind.get_or_insert(f.kind);
                    messages.append(&mut f.messages);
                }
            }
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

    /// Evaluates one case and pushes it into `report`. Failed comparisons give a `Failure`
    /// with the report attached, this case included; a refused case (runtime or solver error,
    /// kinds `Runtime` and `Reference`) gives a `Failure` with the report of the cases before.
    fn add_case<S: Signal + ?Sized>(
        &self,
        report: &mut Report,
        plan: Plan,
        case: usize,
        cs: u64,
        p: &[f64],
        signal: &S,
    ) -> Result<(), Failure> {
        let (c, msgs, kind) = match self.run_case(plan, case, cs, p, signal) {
            Ok(v) => v,
            Err(e) => {
                let (what, kind) = match e {
                    CaseError::Runtime(e) => (
                        format!("the runtime refused the case: {e}"),
                        FailureKind::Runtime(e),
                    ),
                    CaseError::Reference(e) => (
                        format!("a Dopri5 reference could not be computed: {e}"),
                        FailureKind::Reference(e),
                    ),
                };
                return Err(Failure {
                    messages: vec![format!(
                        "vle-verify: {}: case {case} (seed {}, case seed {cs}): {what}",
                        N::NAME,
                        self.seed
                    )],
                    kind,
                    report: Some(Box::new(report.clone())),
                });
            }
        };
        let mut messages = msgs;
        let mut kind = kind;
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
        match kind {
            None => Ok(()),
            Some(kind) => Err(Failure {
                kind,
                messages,
                report: Some(Box::new(report.clone())),
            }),
        }
    }

    /// The integer refinement m of the convergence checks: h₀ = dt/m ≤ ratio·τ_min.
    fn refinement(&self, p: &[f64]) -> usize {
        let tau_min = N::param_info()
            .iter()
            .filter(|i| i.time_constant)
            .flat_map(|i| p[i.range()].iter().copied())
            .fold(f64::INFINITY, f64::min);
        if tau_min.is_finite() && tau_min > 0.0 {
            ((self.dt / (self.convergence_ratio * tau_min)).ceil() as usize).max(1)
        } else {
            1
        }
    }

    /// One case: the report, the messages of failed comparisons and the failure kind.
    #[allow(clippy::type_complexity)]
    fn run_case<S: Signal + ?Sized>(
        &self,
        plan: Plan,
        case: usize,
        cs: u64,
        p: &[f64],
        signal: &S,
    ) -> Result<(CaseReport, Vec<String>, Option<FailureKind>), CaseError> {
        let (dt, beta, steps) = (self.dt, self.beta, self.steps);
        validate_params::<N, f64>(p, dt)?;
        let w = Window::sample(signal, 0.0, dt, steps);
        let indices = entries_to_check::<N>(self.max_entries, cs);

        // (a) Generated backward sweep against the dual-number reference.
        let (gen_loss, gen) = exact_gradient::<N, f64>(p, &w.xs, &w.ys, dt, beta, Tape::Full)?;
        let (ref_loss, reference) = dual_gradient::<N>(p, &w.xs, &w.ys, dt, beta, &indices);
        let exact = compare::<N>(&indices, &reference, &gen);

        // (b) The local rule against the exact gradient (all learnable entries).
        let local = local_gradient::<N, _>(p, signal, dt, steps, beta);
        let learn: Vec<usize> = N::param_info()
            .iter()
            .filter(|i| i.learnable)
            .flat_map(|i| i.range())
            .collect();
        let pick = |v: &[f64]| -> Vec<f64> { learn.iter().map(|&i| v[i]).collect() };
        let overall_cosine = cosine(&pick(&local), &pick(&gen));

        // (c) The continuous adjoint against finite differences of the continuous loss.
        let (cont, continuous_loss) = if plan.continuous {
            let sweep = continuous_adjoint::<N, f64, _>(p, signal, None, 0.0, dt, steps, beta)?;
            let fd = fd_continuous::<N, _>(p, signal, 0.0, dt, steps, self.refine, beta, &indices);
            let l = continuous_loss::<N, _>(p, signal, 0.0, dt, steps, self.refine, beta);
            (
                Some(compare::<N>(&indices, &fd, &sweep.grad)),
                Some((l, sweep.loss)),
            )
        } else {
            (None, None)
        };

        // (d), (e): the Dopri5 references.
        let tol = self.ode_tolerance;
        let floor = CONVERGENCE_FLOOR * tol.rtol;
        let m = self.refinement(p);
        let h0 = dt / m as f64;
        let span = steps as f64 * dt;
        let mut msgs = Vec::new();
        let mut kind = None;
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
        let mut ref_cmp = None;
        let (mut discrete, mut continuous, mut reference_loss, mut checkpoints) =
            (None, None, None, 0);
        if plan.adjoint {
            let k = default_checkpoints::<N>(p, span, 1);
            let adj = adjoint_reference::<N, S>(p, signal, 0.0, span, beta, tol, &indices, k)?;
            checkpoints = adj.checkpoints;
            let fd_idx = fd_subset::<N>(&indices, self.fd_entries);
            let fd = fd_ode_loss::<N, S>(p, signal, 0.0, span, beta, tol, &fd_idx)?;
            let loss = ode_loss::<N, S>(p, signal, 0.0, span, beta, tol)?;
            reference_loss = Some(loss);
            let mut full = vec![0.0; N::PARAMS];
            for (&i, &g) in indices.iter().zip(&adj.grad) {
                full[i] = g;
            }
            // Per tensor, floored by the finite differences' absolute error (see
            // `reference_tolerance`): |Δ| ≤ rtol·max|dL/dθ|_tensor + atol.
            let atol = 10.0 * 1.5 * tol.rtol * loss.abs() / fd_ode_step(0.0);
            ref_cmp = Some(compare_floor::<N>(
                &fd_idx,
                &fd,
                &full,
                atol / self.reference_tolerance,
            ));

            let step = |j: usize| -> (f64, usize) {
                let f = m << j;
                (dt / f as f64, steps * f)
            };
            let mut last = Vec::new();
            let (disc, why_disc) = self.converge(h0, 1.0, EULER_ORDER_BAND, floor, |j| {
                let (h, n) = step(j);
                let wj = Window::sample(signal, 0.0, h, n);
                let (_, g) = exact_gradient::<N, f64>(p, &wj.xs, &wj.ys, h, beta, Tape::Full)?;
                let e = relative_distance(&indices, &g, &adj.grad);
                last = g;
                Ok::<_, CaseError>(e)
            })?;
            let last_disc = std::mem::take(&mut last);
            let (cont, why_cont) = self.converge(h0, 4.0, RK4_ORDER_BAND, floor, |j| {
                let (h, n) = step(j);
                let sweep = continuous_adjoint::<N, f64, _>(p, signal, None, 0.0, h, n, beta)?;
                let e = relative_distance(&indices, &sweep.grad, &adj.grad);
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
                        worst_entry::<N>(&indices, last, &adj.grad),
                        self.seed
                    ));
                }
            }
            discrete = Some(disc);
            continuous = Some(cont);
        }

        let mut tensors = Vec::new();
        let tol_exact = self.tolerance;
        let loss_err = (gen_loss - ref_loss).abs() / ref_loss.abs().max(f64::MIN_POSITIVE);
        if !within(loss_err, tol_exact) && gen_loss != ref_loss {
            kind.get_or_insert(FailureKind::Mismatch);
            msgs.push(format!(
                "vle-verify: {}: discrete loss of the window: generated (backward sweep) \
                 {gen_loss:.17e}, reference {ref_loss:.17e}, relative error {loss_err:.3e} > \
                 tolerance {tol_exact:e} (case {case}, seed {}, case seed {cs})",
                N::NAME,
                self.seed
            ));
        }
        for (k, (info, cmp, checked)) in exact.into_iter().enumerate() {
            if !within(cmp.max_rel_error, tol_exact) {
                kind.get_or_insert(FailureKind::Mismatch);
                msgs.push(self.mismatch(
                    "exact discrete gradient (backward sweep) vs dual-number reference",
                    info.offset,
                    &cmp,
                    tol_exact,
                    case,
                    cs,
                ));
            }
            let c = cont.as_ref().map(|v| v[k].1.clone());
            if let Some(c) = &c {
                if !within(c.max_rel_error, self.continuous_tolerance) {
                    kind.get_or_insert(FailureKind::Mismatch);
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
            let r = ref_cmp.as_ref().map(|v| v[k].1.clone());
            if let Some(r) = &r {
                if !within(r.max_rel_error, self.reference_tolerance) {
                    kind.get_or_insert(FailureKind::Mismatch);
                    msgs.push(self.mismatch(
                        "numerical continuous adjoint (Dopri5, dual-number Jacobians; shown as \
                         'generated') vs fourth-order finite differences of the Dopri5 loss",
                        info.offset,
                        r,
                        self.reference_tolerance,
                        case,
                        cs,
                    ));
                }
            }
            let r_range = info.range();
            let local_cosine = cosine(&local[r_range.clone()], &gen[r_range]);
            tensors.push(TensorReport {
                name: info.name,
                len: info.len(),
                checked,
                exact: cmp,
                local_cosine,
                continuous: c,
                reference: r,
            });
        }
        if let Some((l, g)) = continuous_loss {
            let e = (g - l).abs() / l.abs().max(f64::MIN_POSITIVE);
            if !within(e, self.continuous_tolerance) {
                kind.get_or_insert(FailureKind::Mismatch);
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
        let ode = (plan.forward || plan.adjoint).then_some(OdeReport {
            forward,
            reference_loss,
            discrete,
            continuous,
            checkpoints,
            refinement: m,
        });
        Ok((
            CaseReport {
                case,
                seed: cs,
                reference_loss: ref_loss,
                generated_loss: gen_loss,
                tensors,
                overall_cosine,
                continuous_loss,
                ode,
            },
            msgs,
            kind,
        ))
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
                            list(&conv.errors, |v| format!("{v:.3e}")),
                            list(&conv.dts, |v| format!("{v:e}")),
                            list(&conv.orders(), |v| format!("{v:.3}")),
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
            "{}: generated {:.17e}, reference {:.17e}, relative error {:.3e} (relative to max \
             |reference| {:.3e})",
            param_entry_name::<N>(i),
            g[i],
            reference[worst.0],
            worst.1,
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
            list(&conv.errors, |v| format!("{v:.3e}")),
            list(&conv.dts, |v| format!("{v:e}")),
            list(&orders, |v| format!("{v:.3}")),
        )
    })
}

fn list(v: &[f64], f: impl Fn(f64) -> String) -> String {
    v.iter().map(|&x| f(x)).collect::<Vec<_>>().join(", ")
}
