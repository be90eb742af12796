//! The check builder: random cases, generated gradients against independent references.

use std::fmt;
use std::marker::PhantomData;

use vle_runtime::exact::{exact_gradient, Tape, Window};
use vle_runtime::params::{param_entry_name, validate_params};
use vle_runtime::{Network, Signal};

use crate::dual::{dual_gradient, entries_to_check};
use crate::fd::{continuous_loss, fd_continuous_estimated};
use crate::ode::{OdeError, Tolerance};
use crate::render::num;
use crate::report::{compare, cosine, cosine_note, CaseReport, Comparison, Report, TensorReport};
pub use crate::targets::CaseSignal;
use crate::targets::{choose_targets, validate_targets, TargetKind};

mod cases;
mod ode;

pub use cases::{case_params, case_seed, case_signal, case_signal_in_band, local_gradient};

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
        // (3) vs (2): no fixed tolerance: every entry is held to SAFETY times the estimated
        // errors of both references (see `SAFETY`); this is an optional floor on top.
        reference_tolerance: 0.0,
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

/// Factor between the estimated error of the two references of the continuous problem and
/// the error accepted between them (check (e), [`Check::reference_tolerance`]).
///
/// Per checked entry, the finite difference's error is estimated as truncation
/// |D₄(h) − D₄(2h)|/15 plus noise 1.5·δ/h, δ the measured (or, when larger, the requested
/// rtol·|L| + atol) error of one Dopri5 loss ([`crate::reference::FdDerivative`]), with h set
/// on the parameter's own scale — relative to τ for a time constant, so a stiff unit
/// (τ = dt) is differentiated on its own time scale; and the numerical adjoint's error as
/// |g(rtol) − g(100·rtol)|/99 (Dopri5's global error is proportional to its tolerance),
/// at least rtol·max|g| + atol. Each estimate is an upper bound up to its model
/// (the noise bound assumes the controller meets rtol; the measured adjoint error came out
/// 0.01–1.25 times the true one against a solve at rtol 1e-13); the actual differences
/// measured on stiff and non-stiff models (τ from dt to 100·dt, GLE and adaptive units,
/// mse, cross-entropy and user losses, every model of the test zoo also at dt = τ_min) were
/// at most 0.17 of the unscaled estimate. 10 covers the
/// estimates' own inaccuracy; a wrong reference (a missed term, a wrong sign, a stale
/// trajectory) is off by O(1), 10⁵ or more times the accepted error.
pub const SAFETY: f64 = 10.0;

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
/// 1e-12, the references compared within [`SAFETY`] times their estimated errors, finite
/// differences on 4 entries per tensor, 3 to 6 step sizes from h₀ ≤ τ_min/8.
///
/// A network that learns nothing is refused ([`FailureKind::NothingToCheck`]): a gradient
/// check of no parameter would pass without checking anything. So is a run whose exact
/// gradient is exactly zero on every checked entry in every case (the loss does not depend
/// on the learnable parameters, e.g. `cross_entropy` over a one-unit output, or β = 0).
///
/// Per case (seed derived from the base seed and the case index):
/// - parameters: [`init_params`](vle_runtime::params::init_params) with the case seed (random weights), learnable neuron
///   parameters scaled by a factor uniform in [0.8, 1.2] (learnable time constants kept
///   ≥ dt), learnable biases uniform in ±0.1 (instead of exactly zero);
/// - input: per channel a sum of 1–3 sines, amplitude in [0.2, 1], frequency in [0.1, 2]
///   cycles per unit time ([`Check::frequencies`]), phase in [0, 2π); target: valid for the
///   declared loss ([`crate::targets`]): the same kind of signal per output for `mse`, a
///   probability vector (softmax of such signals: a class switching over time) for
///   `cross_entropy`, for a `sum(...)` loss the first of those under which the loss is
///   finite.
///
/// Checks:
/// - (a) [`exact_gradient`] (generated backward sweep) against the dual-number reference of
///   [`crate::dual`], per tensor, max relative error ≤ tolerance; the two loss values too;
/// - (b) the local rule: [`Network::online_step`] accumulated over the window (fresh state,
///   γ = 0) against the exact gradient, cosine per tensor and overall: reported, asserted only
///   with [`Check::min_cosine`];
/// - (c) optional ([`Check::continuous`]): [`continuous_adjoint`](vle_runtime::continuous_adjoint) against central finite
///   differences of the continuous loss solved by RK4 on a grid `refine` times finer, both at
///   the first step h₀/2ʲ (h₀ of the convergence checks, ≤ τ_min/8) at which the sweep's
///   Richardson error estimate is below a tenth of the tolerance (RK4 at h ~ τ is far from
///   the continuous solution: measured 1e-2 of the gradient at h = τ = dt);
/// - (d) [`Check::ode_forward`] (on by default for networks with [`Network::CONTINUOUS`]):
///   the generated Euler forward against the Dopri5 solution of the declared ODEs
///   ([`crate::reference::forward_convergence`]), output rates, at three step sizes: the
///   observed order must be 1 ± [`EULER_ORDER_BAND`];
/// - (e) [`Check::ode_adjoint`] (on by default for continuous networks when cheap, see
///   there): the numerical continuous adjoint of [`crate::reference::adjoint_reference`]
///   (Dopri5, dual-number Jacobians, no generated derivative code) against fourth-order
///   finite differences of the Dopri5 loss ([`crate::reference::fd_ode_gradient`]), every
///   entry within [`SAFETY`] times the estimated errors of both; then, against that reference
///   over the same window, the
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

/// Largest number of halvings of the step of the continuous check (c) below h₀ while the
/// sweep's estimated RK4 error is above a tenth of its tolerance (each halving divides it by
/// about 16).
pub const MAX_SWEEP_HALVINGS: usize = 4;

/// Default of [`Check::convergence_ratio`]: the convergence checks use steps h ≤ τ_min/8.
const CONVERGENCE_RATIO: f64 = 0.125;

/// Which checks a run performs (settings resolved against the network).
#[derive(Clone, Copy, Debug)]
struct Plan {
    continuous: bool,
    forward: bool,
    adjoint: bool,
    /// The work estimate of the numerical adjoint (see [`ADJOINT_WORK_LIMIT`]).
    work: usize,
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
    /// Nothing to check: the network learns no parameter, or the loss does not depend on the
    /// learnable parameters in any case (every checked gradient entry is exactly zero).
    NothingToCheck,
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
    /// Also checks [`continuous_adjoint`](vle_runtime::continuous_adjoint) against finite differences of the continuous loss
    /// (only for networks with [`Network::CONTINUOUS`]), both at a step that resolves the
    /// network's dynamics: h₀ of the convergence checks (see [`Check::convergence_ratio`]),
    /// halved while the sweep's estimated error is too large (see
    /// [`Check::continuous_tolerance`]).
    pub fn continuous(mut self, on: bool) -> Self {
        self.continuous = Some(on);
        self
    }
    /// Tolerance of the continuous check (default 1e-5), relative to each tensor's largest
    /// |dL/dθ|: the generated sweep is RK4 at the first step h₀/2ʲ ≤ τ_min/8 whose Richardson
    /// error estimate is at most a tenth of it (see [`MAX_SWEEP_HALVINGS`]; at h = τ RK4's
    /// error reaches 1e-2), the reference RK4 at `refine` times that resolution plus central
    /// finite differences ([`crate::fd::fd_continuous_estimated`]). An entry may also differ
    /// by up to [`SAFETY`] times the estimated errors of both, when that is larger: the
    /// finite differences' error is absolute (set by |L|), so a tensor whose gradient is
    /// small next to the loss cannot be resolved to 1e-5 of itself.
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
    /// A floor on the accepted error between the numerical adjoint and the finite
    /// differences of the Dopri5 loss, relative to the largest |dL/dθ| of the tensor
    /// (default 0: each entry is held to [`SAFETY`] times the estimated errors of both
    /// references, reported as "estimated error"; a floor only loosens that).
    pub fn reference_tolerance(mut self, tolerance: f64) -> Self {
        self.reference_tolerance = tolerance;
        self
    }
    /// Number of entries per tensor (of those checked, see [`Check::max_entries`]) on which
    /// the numerical adjoint is compared with finite differences (default 4; each entry
    /// costs six Dopri5 solves of the loss: the fourth-order difference at h and at 2h, for
    /// its error estimate). The comparison validates the two references;
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
        if let Err(why) = validate_targets::<N, S>(signal, self.dt, self.steps) {
            return Err(self.settings_error(why));
        }
        let mut report = self.empty_report(plan);
        self.add_case(&mut report, plan, 0, self.seed, p, signal, None)?;
        self.nothing_compared(report)
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
        let learnable = N::param_info().iter().any(|i| i.learnable && !i.is_empty());
        if !learnable {
            return Err(Failure {
                kind: FailureKind::NothingToCheck,
                messages: vec![format!(
                    "vle-verify: {}: nothing to check: the model learns no parameter (add a \
                     `learn` item, e.g. `learn W, b;`)",
                    N::NAME
                )],
                report: None,
            });
        }
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
        for (name, v) in [
            ("reference_tolerance", self.reference_tolerance),
            ("continuous_tolerance", self.continuous_tolerance),
        ] {
            if !(v.is_finite() && v >= 0.0) {
                return Err(self.settings_error(format!("{name} = {v} must be finite and >= 0")));
            }
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
            work,
        })
    }

    /// The checks a plan leaves out, and why (for the report).
    fn skipped(&self, plan: Plan) -> Vec<String> {
        let mut out = Vec::new();
        let no_system = "the network has recurrent projections, so only its discrete system is \
                         defined (Network::CONTINUOUS is false)";
        if !N::CONTINUOUS {
            out.push(format!(
                "the checks against the continuous problem (Euler forward and gradients vs \
                 Dopri5 references): {no_system}"
            ));
            return out;
        }
        if !plan.forward {
            out.push("Euler forward vs Dopri5: switched off (ode_forward(false))".into());
        }
        if !plan.adjoint {
            out.push(match self.ode_adjoint {
                Some(false) => "the numerical continuous adjoint and the convergence of the \
                                generated gradients to it: switched off (ode_adjoint(false))"
                    .into(),
                _ => format!(
                    "the numerical continuous adjoint and the convergence of the generated \
                     gradients to it: work estimate {} above ADJOINT_WORK_LIMIT {} (switch on \
                     with ode_adjoint(true))",
                    plan.work, ADJOINT_WORK_LIMIT
                ),
            });
        }
        out
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
            skipped: self.skipped(plan),
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
            let signal = match choose_targets::<N>(cs, self.frequencies, &p, self.dt, self.steps) {
                Ok(s) => s,
                Err(why) => {
                    let mut f = self.settings_error(format!(
                        "case {case} (seed {}, case seed {cs}): {why}",
                        self.seed
                    ));
                    f.report = Some(Box::new(report));
                    return Err(f);
                }
            };
            let targets = Some(signal.kind);
            match self.add_case(&mut report, plan, case, cs, &p, &signal, targets) {
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
            None => self.nothing_compared(report),
            Some(kind) => Err(Failure {
                kind,
                messages,
                report: Some(Box::new(report)),
            }),
        }
    }

    /// Refuses a report in which every checked entry of the exact gradient is exactly zero in
    /// every case: the comparisons compared zeros with zeros.
    fn nothing_compared(&self, report: Report) -> Result<Report, Failure> {
        if !report.gradient_is_zero() {
            return Ok(report);
        }
        Err(Failure {
            kind: FailureKind::NothingToCheck,
            messages: vec![format!(
                "vle-verify: {}: nothing to check: the exact gradient is exactly zero on every \
                 checked entry in every case, so the loss does not depend on the learnable \
                 parameters here (beta = {}{}); the comparisons compared zeros with zeros",
                N::NAME,
                self.beta,
                if N::OUTPUT == 1
                    && crate::targets::loss_kind::<N>() == crate::targets::LossKind::CrossEntropy
                {
                    "; cross_entropy over a one-unit output layer is identically 0: give the \
                     output layer at least two units"
                } else {
                    ""
                }
            )],
            report: Some(Box::new(report)),
        })
    }

    /// Evaluates one case and pushes it into `report`. Failed comparisons give a `Failure`
    /// with the report attached, this case included; a refused case (runtime or solver error,
    /// kinds `Runtime` and `Reference`) gives a `Failure` with the report of the cases before.
    #[allow(clippy::too_many_arguments)]
    fn add_case<S: Signal + ?Sized>(
        &self,
        report: &mut Report,
        plan: Plan,
        case: usize,
        cs: u64,
        p: &[f64],
        signal: &S,
        targets: Option<TargetKind>,
    ) -> Result<(), Failure> {
        let (mut c, msgs, kind) = match self.run_case(plan, case, cs, p, signal) {
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
        c.targets = targets;
        let mut messages = msgs;
        let mut kind = kind;
        if let Some(min) = self.min_cosine {
            // An undefined cosine (a zero or diverged gradient) fails too.
            if !within(min, c.overall_cosine) {
                kind.get_or_insert(FailureKind::LowCosine);
                let value = match c.overall_cosine_note {
                    Some(why) if !c.overall_cosine.is_finite() => {
                        format!("is undefined ({why}) but min_cosine {min} was asserted")
                    }
                    _ => format!("{:.6} < min_cosine {min}", c.overall_cosine),
                };
                messages.push(format!(
                    "vle-verify: {}: local rule: overall cosine with the exact gradient {value} \
                     (case {case}, seed {}, case seed {cs})",
                    N::NAME,
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

        // (a) Generated backward sweep against the dual-number reference: both the exact
        // gradient of the *discrete* loss at dt, whatever dt/τ (like with like).
        let (gen_loss, gen) = exact_gradient::<N, f64>(p, &w.xs, &w.ys, dt, beta, Tape::Full)?;
        let (ref_loss, reference) = dual_gradient::<N>(p, &w.xs, &w.ys, dt, beta, &indices);
        let exact = compare::<N>(&indices, &reference, &gen);
        let mut msgs = Vec::new();
        if reference.iter().any(|v| !v.is_finite()) {
            msgs.push(self.diverged(p, &w, case, cs));
        }

        // (b) The local rule against the exact gradient (all learnable entries).
        let local = local_gradient::<N, _>(p, signal, dt, steps, beta);
        let learn: Vec<usize> = N::param_info()
            .iter()
            .filter(|i| i.learnable)
            .flat_map(|i| i.range())
            .collect();
        let pick = |v: &[f64]| -> Vec<f64> { learn.iter().map(|&i| v[i]).collect() };
        let (local_learn, gen_learn) = (pick(&local), pick(&gen));
        let overall_cosine = cosine(&local_learn, &gen_learn);
        let overall_cosine_note = cosine_note(&local_learn, &gen_learn);

        // The checks of the continuous problem compare with continuous references, so they
        // run at the step h₀ = dt/m that resolves the fastest time constant: the discrete
        // system at dt differs from the continuous one by O(dt/τ), which is O(1) for τ ~ dt.
        let m = self.refinement(p);
        let mut kind = None;

        // (c) The continuous adjoint against finite differences of the continuous loss, at
        // the first step h₀/2ʲ at which the sweep's own RK4 error is resolved.
        let (cont, continuous_loss, continuous_step) = if plan.continuous {
            let (h, n, est, sweep, sweep_err) = self.resolved_sweep(p, signal, m, &indices)?;
            let fd =
                fd_continuous_estimated::<N, _>(p, signal, 0.0, h, n, self.refine, beta, &indices);
            let l = continuous_loss::<N, _>(p, signal, 0.0, h, n, self.refine, beta);
            if !within(est, self.continuous_tolerance / 10.0) {
                kind.get_or_insert(FailureKind::Convergence);
                msgs.push(format!(
                    "vle-verify: {}: continuous adjoint (RK4 sweep): its error, estimated from \
                     the steps {h:e} and {:e}, is still {est:.3e} of the gradient at the \
                     smallest step tried, above a tenth of the tolerance {:e}: the network is \
                     stiffer than its time constants say (case {case}, seed {}, case seed \
                     {cs})",
                    N::NAME,
                    h / 2.0,
                    self.continuous_tolerance,
                    self.seed
                ));
            }
            (
                Some(self.compare_continuous(&indices, &fd, &sweep.grad, &sweep_err)),
                Some((l, sweep.loss)),
                Some((h, est)),
            )
        } else {
            (None, None, None)
        };

        // (d), (e): the Dopri5 references.
        let ode = self.ode_checks(plan, case, cs, p, signal, m, &indices, &mut msgs, &mut kind)?;

        let mut tensors = Vec::new();
        let tol_exact = self.tolerance;
        let loss_err = relative_difference(gen_loss, ref_loss);
        if !within(loss_err, tol_exact) {
            kind.get_or_insert(FailureKind::Mismatch);
            msgs.push(format!(
                "vle-verify: {}: discrete loss of the window: generated (backward sweep) \
                 {}, reference {}, relative error {} > tolerance {tol_exact:e} (case {case}, \
                 seed {}, case seed {cs})",
                N::NAME,
                num(gen_loss, 17),
                num(ref_loss, 17),
                num(loss_err, 3),
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
                if !within(c.ratio, 1.0) {
                    kind.get_or_insert(FailureKind::Mismatch);
                    msgs.push(self.mismatch(
                        "continuous adjoint (RK4 sweep) vs finite differences of the continuous \
                         loss",
                        info.offset,
                        &c.comparison,
                        self.continuous_tolerance,
                        case,
                        cs,
                    ) + &format!(
                        " [accepted: the larger of the tolerance and {SAFETY} × the estimated \
                         errors (sweep's RK4 error, finite differences), {} of the tensor's \
                         scale at [{}], where the error is {} times it]",
                        num(c.accepted, 3),
                        c.ratio_entry,
                        num(c.ratio, 3)
                    ));
                }
            }
            let r = ode
                .references
                .as_ref()
                .and_then(|v| v.iter().find(|(i, _)| i.offset == info.offset))
                .map(|(_, b)| b.clone());
            let r_range = info.range();
            let (l, g) = (&local[r_range.clone()], &gen[r_range]);
            tensors.push(TensorReport {
                name: info.name,
                len: info.len(),
                checked,
                exact: cmp,
                local_cosine: cosine(l, g),
                local_cosine_note: cosine_note(l, g),
                continuous: c,
                reference: r,
            });
        }
        if let Some((l, g)) = continuous_loss {
            let e = relative_difference(g, l);
            if !within(e, self.continuous_tolerance) {
                kind.get_or_insert(FailureKind::Mismatch);
                msgs.push(format!(
                    "vle-verify: {}: continuous loss: generated sweep {}, reference (RK4 at \
                     1/{} of the step {:e}) {}, relative error {} > tolerance {:e} (case \
                     {case}, seed {}, case seed {cs})",
                    N::NAME,
                    num(g, 17),
                    self.refine,
                    continuous_step.map_or(dt, |(h, _)| h),
                    num(l, 17),
                    num(e, 3),
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
                overall_cosine_note,
                targets: None,
                continuous_loss,
                continuous_step: continuous_step.map(|(h, _)| h),
                continuous_estimate: continuous_step.map(|(_, e)| e),
                ode: ode.report,
            },
            msgs,
            kind,
        ))
    }

    /// Why the dual-number reference is not finite: its derivatives overflowed in a forward
    /// run that grows (the message gives the largest |state| and its step).
    fn diverged(&self, p: &[f64], w: &Window, case: usize, cs: u64) -> String {
        let mut state = vec![0.0; N::STATE];
        let (mut peak, mut at) = (0.0f64, 0);
        for n in 0..w.steps {
            N::euler_step(
                p,
                &mut state,
                &w.xs[n * N::INPUT..(n + 1) * N::INPUT],
                self.dt,
            );
            let m = state.iter().fold(0.0f64, |m, v| m.max(v.abs()));
            // A NaN state counts as the peak (it is where the run broke down).
            if !peak.is_nan() && (m.is_nan() || m > peak) {
                (peak, at) = (m, n + 1);
            }
        }
        format!(
            "vle-verify: {}: the dual-number reference is not finite (case {case}, seed {}, case \
             seed {cs}): its derivatives overflowed in the forward run, whose largest |state| is \
             {} (after step {at} of {}). A discrete state that grows like this means explicit \
             Euler at dt = {} is beyond its stability limit for these parameters (about twice \
             the fastest effective time constant, which a coupling such as an adaptation `k` \
             makes shorter than any τ): use a smaller dt",
            N::NAME,
            self.seed,
            num(peak, 3),
            w.steps,
            self.dt
        )
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
            "vle-verify: {}: {what}: at {}: generated {}, reference {}, relative error {} \
             (relative to the tensor's max |reference| {}) > tolerance {tol:e} (case {case}, \
             seed {}, case seed {cs}; reproduce with the same settings and .seed({}).cases({}))",
            N::NAME,
            param_entry_name::<N>(offset + c.worst_entry),
            num(c.worst_generated, 17),
            num(c.worst_reference, 17),
            num(c.max_rel_error, 3),
            num(c.scale, 3),
            self.seed,
            self.seed,
            case + 1,
        )
    }
}

/// |a − b| / max(|a|, |b|): 0 when both are zero (equal), NaN when either is NaN.
fn relative_difference(a: f64, b: f64) -> f64 {
    if a == b {
        0.0
    } else {
        (a - b).abs() / a.abs().max(b.abs())
    }
}
