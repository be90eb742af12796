//! Training loops: online learning with the local rule, and windows of exact gradients.

use crate::error::{check_len, Error, Result};
use crate::exact::{batch_gradient, sample_window, Bptt, Tape};
use crate::optim::Optimizer;
use crate::parallel::ParallelOnline;
use crate::params::{
    check_dt, check_finite_params, clamp_time_constants, validate_params, zero_non_learnable,
};
use crate::signal::Signal;
use crate::sim::{check_finite_data, check_finite_states, check_signals, check_time, to_scalars};
use crate::{Network, Scalar};

/// Reported after every parameter update.
#[derive(Clone, Debug, PartialEq)]
pub struct Progress {
    /// Parameter updates so far (in this trainer's lifetime).
    pub update: usize,
    /// Steps taken in the current `run` call.
    pub step: usize,
    /// Steps the current `run` call will take in all.
    pub total_steps: usize,
    /// Mean ℓ per step and sample since the previous update.
    pub loss: f64,
}

/// A callback receiving [`Progress`].
pub type ProgressFn<'a> = Option<&'a mut dyn FnMut(&Progress)>;

/// Loss per update.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct History {
    /// Mean instantaneous loss ℓ per step and sample since the previous update.
    pub loss: Vec<f64>,
    /// Global step count at each update.
    pub step: Vec<usize>,
}

impl History {
    /// Number of recorded updates.
    pub fn len(&self) -> usize {
        self.loss.len()
    }
    /// Whether no update was recorded (e.g. a run shorter than `update_every` steps).
    pub fn is_empty(&self) -> bool {
        self.loss.is_empty()
    }
    /// Mean of the last `n` recorded losses.
    pub fn tail_mean(&self, n: usize) -> f64 {
        let k = n.min(self.loss.len()).max(1);
        self.loss[self.loss.len().saturating_sub(k)..]
            .iter()
            .sum::<f64>()
            / k as f64
    }
}

fn hyper(name: &str, value: f64, ok: bool, expected: &str) -> Result<()> {
    if ok {
        Ok(())
    } else {
        Err(Error::InvalidHyperParameter {
            name: name.into(),
            value,
            expected: expected.into(),
        })
    }
}

/// The progress of an [`OnlineTrainer`] (see [`OnlineTrainer::snapshot`]): everything but
/// its config and optimizer.
#[derive(Clone, Debug, PartialEq)]
pub struct OnlineSnapshot<T> {
    /// Number of samples (streams) trained in parallel.
    pub batch: usize,
    /// Network states, `batch × STATE`.
    pub states: Vec<T>,
    /// Local-rule states (error neurons, ε, errors in transit), `batch × LOCAL`.
    pub local: Vec<T>,
    /// Gradient accumulated since the last update, `PARAMS` (not yet averaged over the batch).
    pub grad: Vec<T>,
    /// Steps taken since creation.
    pub steps: usize,
    /// Parameter updates since creation.
    pub updates: usize,
    /// Sum of ℓ over the steps and samples since the last update.
    pub pending_loss: f64,
    /// Steps since the last update (fewer than `update_every`).
    pub pending_steps: usize,
}

/// The progress of an [`ExactTrainer`] (see [`ExactTrainer::snapshot`]): everything but its
/// config and optimizer (the backward-sweep buffers hold nothing between windows).
#[derive(Clone, Debug, PartialEq)]
pub struct ExactSnapshot<T> {
    /// Number of samples trained in parallel.
    pub batch: usize,
    /// Network states at the end of the last window, `batch × STATE`.
    pub states: Vec<T>,
    /// Steps taken since creation.
    pub steps: usize,
    /// Parameter updates (windows) since creation.
    pub updates: usize,
}

/// Settings of [`OnlineTrainer`].
///
/// [`OnlineConfig::default`] is the setting of the examples: dt = 0.01, β = 1, γ = 0 (no
/// nudging), an update every step, τ ≤ 100. Override what differs:
///
/// ```
/// use vle_runtime::OnlineConfig;
/// let config = OnlineConfig { dt: 0.2, update_every: 10, ..OnlineConfig::default() };
/// assert!(config.validate().is_ok());
/// assert_eq!((config.beta, config.gamma, config.tau_max), (1.0, 0.0, 100.0));
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct OnlineConfig {
    /// Euler step, in the time unit of the time constants (τm, τr); must be > 0 and ≤ every
    /// time constant.
    pub dt: f64,
    /// Weight of the loss in the energy.
    pub beta: f64,
    /// Nudging gain of the errors into the membranes.
    pub gamma: f64,
    /// Steps between optimizer updates.
    pub update_every: usize,
    /// Learned time constants are kept in [dt, tau_max].
    pub tau_max: f64,
}

impl Default for OnlineConfig {
    /// dt = 0.01 (the examples' step; it must not exceed the network's smallest time
    /// constant, which [`OnlineTrainer::run`] checks), β = 1, γ = 0 (the errors do not nudge
    /// the membranes), `update_every` = 1 (an optimizer step after every Euler step, as the
    /// published GLE code), `tau_max` = 100 (learned time constants stay within 10⁴ steps).
    fn default() -> Self {
        OnlineConfig {
            dt: 0.01,
            beta: 1.0,
            gamma: 0.0,
            update_every: 1,
            tau_max: 100.0,
        }
    }
}

impl OnlineConfig {
    /// Checks the ranges: `dt` finite and > 0 ([`check_dt`]; that it is at most every time
    /// constant is checked with the parameters, at every `run`), `beta` finite and > 0,
    /// `gamma` finite, `update_every` ≥ 1, `tau_max` ≥ `dt`. Returns
    /// [`Error::InvalidHyperParameter`] naming the first setting out of range.
    pub fn validate(&self) -> Result<()> {
        check_dt::<f64>(self.dt)?;
        hyper(
            "beta",
            self.beta,
            self.beta.is_finite() && self.beta > 0.0,
            "beta > 0",
        )?;
        hyper("gamma", self.gamma, self.gamma.is_finite(), "a finite gain")?;
        hyper(
            "update_every",
            self.update_every as f64,
            self.update_every > 0,
            "at least 1 step",
        )?;
        hyper(
            "tau_max",
            self.tau_max,
            self.tau_max >= self.dt,
            "tau_max >= dt",
        )
    }
}

/// Online learning with the local rule ([`Network::online_step_batch`]) on a batch of streams.
///
/// Per step n (t = t0 + n·dt) and sample: ℓ(state_n, y(t)) is recorded, then `online_step`
/// with x(t), y(t) adds dt·ĝ into the accumulator. Every `update_every` steps the accumulator,
/// averaged over the batch, goes to the optimizer; learned time constants are clamped.
/// State and accumulator persist across `run` calls, so calls chain into one stream.
pub struct OnlineTrainer<N: Network, T: Scalar, O: Optimizer<T>> {
    /// The settings, read and validated at every `run` call.
    pub config: OnlineConfig,
    /// Applies the batch-mean accumulated gradient every `update_every` steps; its state
    /// (e.g. Adam's moments) persists across `run` calls.
    pub optimizer: O,
    batch: usize,
    states: Vec<T>,
    local: Vec<T>,
    grad: Vec<T>,
    steps: usize,
    updates: usize,
    pending_loss: f64,
    pending_steps: usize,
    parallel: Option<ParallelOnline<T>>,
    _n: std::marker::PhantomData<N>,
}

impl<N: Network, T: Scalar, O: Optimizer<T>> OnlineTrainer<N, T, O> {
    /// A trainer for `batch` parallel streams, network and error-neuron states at zero.
    /// Errors: [`Error::InvalidHyperParameter`] if `config` is out of range,
    /// [`Error::EmptyData`] if `batch` is 0, the optimizer's [`Optimizer::validate`] error
    /// (e.g. [`Error::Length`] for a mask that is not `PARAMS` long).
    pub fn new(config: OnlineConfig, batch: usize, optimizer: O) -> Result<Self> {
        config.validate()?;
        if batch == 0 {
            return Err(Error::EmptyData {
                what: "the batch".into(),
            });
        }
        optimizer.validate(N::PARAMS)?;
        Ok(OnlineTrainer {
            config,
            optimizer,
            batch,
            states: vec![T::zero(); batch * N::STATE],
            local: vec![T::zero(); batch * N::LOCAL],
            grad: vec![T::zero(); N::PARAMS],
            steps: 0,
            updates: 0,
            pending_loss: 0.0,
            pending_steps: 0,
            parallel: None,
            _n: std::marker::PhantomData,
        })
    }

    /// Splits each step's batch into `chunks` contiguous chunks run in parallel on the rayon
    /// pool (0: one per thread; 1: single-threaded, the default). The gradient then sums the
    /// chunks' gradients, so its last bits depend on the number of chunks (fixed here, so runs
    /// stay reproducible).
    pub fn parallel(mut self, chunks: usize) -> Self {
        self.parallel = (chunks != 1).then(|| ParallelOnline::new::<N>(self.batch, chunks));
        self
    }

    /// Zeroes network and error-neuron states (e.g. between sequences); keeps the optimizer.
    pub fn reset_state(&mut self) {
        self.states.iter_mut().for_each(|v| *v = T::zero());
        self.local.iter_mut().for_each(|v| *v = T::zero());
    }

    /// Network states, `B × STATE`.
    pub fn states(&self) -> &[T] {
        &self.states
    }
    /// Local-rule states (error neurons, ε, errors in transit), `B × LOCAL`.
    pub fn local_states(&self) -> &[T] {
        &self.local
    }
    /// Steps taken since creation.
    pub fn steps(&self) -> usize {
        self.steps
    }

    /// The trainer's progress (counters, accumulated gradient, per-sample states), so that
    /// [`OnlineTrainer::restore`] on a fresh trainer continues exactly where this one is. The
    /// config and optimizer are public fields and not part of the snapshot; to persist all
    /// of it in a file use [`crate::checkpoint::save_training`].
    ///
    /// ```
    /// # use vle_runtime::*;
    /// # struct Leak;
    /// # static P: [ParamInfo; 1] = [ParamInfo { name: "out.b", layer: "out", symbol: "b",
    /// #     kind: ParamKind::Bias, offset: 0, rows: 1, cols: 1, learnable: true,
    /// #     time_constant: false, defaults: &[] }];
    /// # static D: Derivation = Derivation { text: "", latex: "" };
    /// # impl Network for Leak {
    /// #     const NAME: &'static str = "Leak";
    /// #     const INPUT: usize = 1; const OUTPUT: usize = 1; const PARAMS: usize = 1;
    /// #     const STATE: usize = 1; const CONT: usize = 1; const LOCAL: usize = 0;
    /// #     const NEURONS: usize = 1;
    /// #     fn param_info() -> &'static [ParamInfo] { &P }
    /// #     fn layer_info() -> &'static [LayerInfo] { &[] }
    /// #     fn derivation() -> &'static Derivation { &D }
    /// #     fn output<T: Scalar>(_: &[T], s: &[T], r: &mut [T]) { r[0] = s[0] }
    /// #     fn loss<T: Scalar>(_: &[T], s: &[T], y: &[T]) -> T {
    /// #         T::from_f64(0.5) * (s[0] - y[0]) * (s[0] - y[0]) }
    /// #     fn loss_adjoint<T: Scalar>(_: &[T], s: &[T], y: &[T], k: T, a: &mut [T],
    /// #         _: &mut [T]) -> T { a[0] += k * (s[0] - y[0]);
    /// #         T::from_f64(0.5) * (s[0] - y[0]) * (s[0] - y[0]) }
    /// #     fn euler_step<T: Scalar>(p: &[T], s: &mut [T], x: &[T], dt: T) {
    /// #         s[0] = s[0] + dt * (x[0] + p[0] - s[0]) }
    /// #     fn euler_step_adjoint<T: Scalar>(_: &[T], _: &[T], _: &[T], dt: T, an: &[T],
    /// #         ap: &mut [T], g: &mut [T]) { ap[0] = an[0] * (T::one() - dt); g[0] += an[0] * dt }
    /// #     fn rhs<T: Scalar>(p: &[T], c: &[T], x: &[T], dc: &mut [T]) { dc[0] = x[0] + p[0] - c[0] }
    /// #     fn refresh_prospective<T: Scalar>(_: &[T], _: &mut [T], _: &[T]) {}
    /// #     fn adjoint_rhs<T: Scalar>(_: &[T], _: &[T], _: &[T], _: &[T], _: T, _: &[T],
    /// #         _: &mut [T], _: &mut [T], _: &mut [T]) {}
    /// #     fn online_step<T: Scalar>(p: &[T], s: &mut [T], _: &mut [T], x: &[T], y: &[T],
    /// #         _: T, _: T, dt: T, g: &mut [T]) {
    /// #         s[0] = s[0] + dt * (x[0] + p[0] - s[0]); g[0] += dt * (s[0] - y[0]) }
    /// # }
    /// let config = OnlineConfig { dt: 0.1, beta: 1.0, gamma: 0.0, update_every: 3, tau_max: 10.0 };
    /// let signal = FnSignal::new(1, 1, |t: f64, x: &mut [f64]| x[0] = t.sin(),
    ///     |_: f64, y: &mut [f64]| y[0] = 0.5);
    /// let mut p = vec![0.0];
    /// let mut a = OnlineTrainer::<Leak, f64, _>::new(config.clone(), 1, Sgd::new(0.1, vec![true]))?;
    /// a.run(&mut p, &[&signal], 0.0, 7, None)?;
    /// let mut b = OnlineTrainer::<Leak, f64, _>::new(config, 1, Sgd::new(0.1, vec![true]))?;
    /// b.restore(a.snapshot())?;
    /// assert_eq!(b.snapshot(), a.snapshot());
    /// assert_eq!(b.steps(), 7);
    /// # Ok::<(), vle_runtime::Error>(())
    /// ```
    pub fn snapshot(&self) -> OnlineSnapshot<T> {
        OnlineSnapshot {
            batch: self.batch,
            states: self.states.clone(),
            local: self.local.clone(),
            grad: self.grad.clone(),
            steps: self.steps,
            updates: self.updates,
            pending_loss: self.pending_loss,
            pending_steps: self.pending_steps,
        }
    }

    /// Replaces the trainer's progress with `snapshot` (from [`OnlineTrainer::snapshot`]).
    /// The batch sizes and vector lengths must match and the snapshot's pending steps must be
    /// fewer than `config.update_every`; nothing changes on error. Example: see
    /// [`OnlineTrainer::snapshot`].
    pub fn restore(&mut self, snapshot: OnlineSnapshot<T>) -> Result<()> {
        let b = self.batch;
        check_len("the snapshot's batch", b, snapshot.batch)?;
        check_len(
            "the snapshot's network states (B × STATE)",
            b * N::STATE,
            snapshot.states.len(),
        )?;
        check_len(
            "the snapshot's local states (B × LOCAL)",
            b * N::LOCAL,
            snapshot.local.len(),
        )?;
        check_len(
            "the snapshot's accumulated gradient",
            N::PARAMS,
            snapshot.grad.len(),
        )?;
        hyper(
            "update_every",
            self.config.update_every as f64,
            snapshot.pending_steps < self.config.update_every,
            &format!(
                "more than the snapshot's {} pending steps",
                snapshot.pending_steps
            ),
        )?;
        self.states = snapshot.states;
        self.local = snapshot.local;
        self.grad = snapshot.grad;
        self.steps = snapshot.steps;
        self.updates = snapshot.updates;
        self.pending_loss = snapshot.pending_loss;
        self.pending_steps = snapshot.pending_steps;
        Ok(())
    }

    /// `steps` steps from `t0` with one signal per sample (or one for all); updates `p` in
    /// place every `config.update_every` steps and returns the loss of each update.
    ///
    /// Errors, before any step: [`Error::InvalidHyperParameter`] (config, optimizer, a
    /// non-finite `t0`), [`Error::Length`] (the optimizer's mask), [`Error::Length`],
    /// [`Error::NonFinite`], [`Error::NonPositiveTimeConstant`] or
    /// [`Error::TimeConstantBelowDt`] (parameters and dt, see [`validate_params`]),
    /// [`Error::EmptyData`] or [`Error::Length`] (no signals, or their count or widths do not
    /// match the batch and the network), [`Error::NonFinite`] for a non-finite state restored
    /// into the trainer. During the run, before each step: [`Error::NonFinite`] naming a
    /// non-finite input `x[i]` or target `y[i]` (step, sample); after it: [`Error::NonFinite`]
    /// naming the first non-finite state (step, sample), gradient or parameter. The run stops
    /// at the first error, with the steps and updates before it kept.
    pub fn run<S: Signal>(
        &mut self,
        p: &mut [T],
        signals: &[S],
        t0: f64,
        steps: usize,
        mut progress: ProgressFn<'_>,
    ) -> Result<History> {
        let cfg = self.config.clone();
        cfg.validate()?;
        self.optimizer.validate(N::PARAMS)?;
        validate_params::<N, T>(p, cfg.dt)?;
        check_signals::<N, S>(signals, self.batch)?;
        check_time(t0)?;
        check_finite_states::<N, T>(&self.states, N::STATE, None, 0)?;
        check_finite_local::<N, T>(&self.local)?;
        let (mut xf, mut yf) = (vec![0.0; N::INPUT], vec![0.0; N::OUTPUT]);
        let nb = self.batch;
        let (mut xs, mut ys) = (
            vec![T::zero(); nb * N::INPUT],
            vec![T::zero(); nb * N::OUTPUT],
        );
        let scratch_len = if self.parallel.is_none() {
            nb * N::BATCH_SCRATCH
        } else {
            0
        };
        let mut scratch = vec![T::zero(); scratch_len];
        let (dt, beta, gamma) = (
            T::from_f64(cfg.dt),
            T::from_f64(cfg.beta),
            T::from_f64(cfg.gamma),
        );
        let mut history = History::default();
        for n in 0..steps {
            let t = t0 + n as f64 * cfg.dt;
            // Every sample's input and target, checked before anything changes.
            for b in 0..nb {
                signals[if signals.len() == 1 { 0 } else { b }].at(t, &mut xf, &mut yf);
                check_finite_data(&xf, "input", N::INPUT, 1, Some(self.steps), b)?;
                check_finite_data(&yf, "target", N::OUTPUT, 1, Some(self.steps), b)?;
                to_scalars(&xf, &mut xs[b * N::INPUT..(b + 1) * N::INPUT]);
                to_scalars(&yf, &mut ys[b * N::OUTPUT..(b + 1) * N::OUTPUT]);
            }
            for b in 0..nb {
                let y = &ys[b * N::OUTPUT..(b + 1) * N::OUTPUT];
                let st = &self.states[b * N::STATE..(b + 1) * N::STATE];
                self.pending_loss += N::loss(p, st, y).to_f64();
            }
            match self.parallel.as_mut() {
                Some(par) => par.step_unchecked::<N>(
                    p,
                    &mut self.states,
                    &mut self.local,
                    &xs,
                    &ys,
                    beta,
                    gamma,
                    dt,
                    &mut self.grad,
                ),
                None => N::online_step_batch(
                    p,
                    &mut self.states,
                    &mut self.local,
                    &xs,
                    &ys,
                    beta,
                    gamma,
                    dt,
                    &mut self.grad,
                    nb,
                    &mut scratch,
                ),
            }
            check_finite_states::<N, T>(&self.states, N::STATE, Some(self.steps), 0)?;
            self.steps += 1;
            self.pending_steps += 1;
            // `>=`: `config` is public and `update_every` may be lowered between runs.
            if self.pending_steps >= cfg.update_every {
                let inv = T::one() / T::from_f64(self.batch as f64);
                self.grad.iter_mut().for_each(|g| *g *= inv);
                zero_non_learnable::<N, T>(&mut self.grad)?;
                check_finite_params::<N, T>(&self.grad, "gradient", Some(self.steps - 1))?;
                self.optimizer.step(p, &self.grad)?;
                clamp_time_constants::<N, T>(p, cfg.dt, cfg.tau_max)?;
                check_finite_params::<N, T>(p, "parameter", Some(self.steps - 1))?;
                self.grad.iter_mut().for_each(|g| *g = T::zero());
                let loss = self.pending_loss / (self.pending_steps * self.batch) as f64;
                self.pending_loss = 0.0;
                self.pending_steps = 0;
                self.updates += 1;
                history.loss.push(loss);
                history.step.push(self.steps);
                if let Some(f) = progress.as_mut() {
                    f(&Progress {
                        update: self.updates,
                        step: n + 1,
                        total_steps: steps,
                        loss,
                    });
                }
            }
        }
        Ok(history)
    }
}

/// Settings of [`ExactTrainer`].
///
/// [`ExactConfig::default`]: dt = 0.01, β = 1, windows of 100 steps on the full tape, the
/// state carried from window to window (truncated BPTT), τ ≤ 100. Override what differs:
///
/// ```
/// use vle_runtime::{ExactConfig, Tape};
/// let config = ExactConfig { window: 40, tape: Tape::Checkpoint(0), ..ExactConfig::default() };
/// assert!(config.validate().is_ok());
/// assert!(config.carry_state);
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct ExactConfig {
    /// Euler step, in the time unit of the time constants (τm, τr); must be > 0 and ≤ every
    /// time constant.
    pub dt: f64,
    /// Weight of the loss: L = β·dt·Σ ℓ over a window (scales the gradient, not the
    /// reported loss).
    pub beta: f64,
    /// Steps per window (one optimizer step per window).
    pub window: usize,
    /// How the backward sweep keeps the forward states (memory against recomputation).
    pub tape: Tape,
    /// Start each window from the previous window's final state (truncated BPTT); otherwise
    /// from zero.
    pub carry_state: bool,
    /// Learned time constants are kept in [dt, tau_max].
    pub tau_max: f64,
}

impl Default for ExactConfig {
    /// dt = 0.01 (it must not exceed the network's smallest time constant, which
    /// [`ExactTrainer::run`] checks), β = 1, `window` = 100 steps (one time unit at this dt),
    /// [`Tape::Full`] (no recomputation; use [`Tape::Checkpoint`] for long windows),
    /// `carry_state` (each window starts where the last ended, as a continuous stream),
    /// `tau_max` = 100.
    fn default() -> Self {
        ExactConfig {
            dt: 0.01,
            beta: 1.0,
            window: 100,
            tape: Tape::Full,
            carry_state: true,
            tau_max: 100.0,
        }
    }
}

impl ExactConfig {
    /// Checks the ranges: `dt` finite and > 0 ([`check_dt`]; that it is at most every time
    /// constant is checked with the parameters, at every `run`), `beta` finite and > 0,
    /// `window` ≥ 1, `tau_max` ≥ `dt`. Returns [`Error::InvalidHyperParameter`] naming the
    /// first setting out of range.
    pub fn validate(&self) -> Result<()> {
        check_dt::<f64>(self.dt)?;
        hyper(
            "beta",
            self.beta,
            self.beta.is_finite() && self.beta > 0.0,
            "beta > 0",
        )?;
        hyper(
            "window",
            self.window as f64,
            self.window > 0,
            "at least 1 step",
        )?;
        hyper(
            "tau_max",
            self.tau_max,
            self.tau_max >= self.dt,
            "tau_max >= dt",
        )
    }
}

/// Training with exact discrete gradients ([`crate::exact`]) over consecutive windows.
pub struct ExactTrainer<N: Network, T: Scalar, O: Optimizer<T>> {
    /// The settings, read and validated at every `run` call.
    pub config: ExactConfig,
    /// Applies the batch-mean gradient of each window; its state (e.g. Adam's moments)
    /// persists across `run` calls.
    pub optimizer: O,
    batch: usize,
    states: Vec<T>,
    bptt: Bptt<N, T>,
    steps: usize,
    updates: usize,
}

impl<N: Network, T: Scalar, O: Optimizer<T>> ExactTrainer<N, T, O> {
    /// A trainer for `batch` parallel streams, network states at zero. Errors:
    /// [`Error::InvalidHyperParameter`] if `config` is out of range, [`Error::EmptyData`] if
    /// `batch` is 0, the optimizer's [`Optimizer::validate`] error (e.g. [`Error::Length`] for
    /// a mask that is not `PARAMS` long).
    pub fn new(config: ExactConfig, batch: usize, optimizer: O) -> Result<Self> {
        config.validate()?;
        if batch == 0 {
            return Err(Error::EmptyData {
                what: "the batch".into(),
            });
        }
        optimizer.validate(N::PARAMS)?;
        Ok(ExactTrainer {
            config,
            optimizer,
            batch,
            states: vec![T::zero(); batch * N::STATE],
            bptt: Bptt::new(),
            steps: 0,
            updates: 0,
        })
    }

    /// Zeroes the network states (e.g. between sequences); keeps the optimizer and the
    /// counters. With `carry_state: false` every window starts from zero anyway.
    pub fn reset_state(&mut self) {
        self.states.iter_mut().for_each(|v| *v = T::zero());
    }
    /// Network states at the end of the last window, `B × STATE` (sample-major).
    pub fn states(&self) -> &[T] {
        &self.states
    }
    /// Steps taken since creation (a multiple of `config.window`, unless the window changed).
    pub fn steps(&self) -> usize {
        self.steps
    }

    /// The trainer's progress (counters and per-sample states), so that
    /// [`ExactTrainer::restore`] on a fresh trainer continues exactly where this one is. The
    /// config and optimizer are public fields and not part of the snapshot; to persist all of
    /// it in a file use [`crate::checkpoint::save_training`].
    ///
    /// ```
    /// # use vle_runtime::*;
    /// # struct Leak;
    /// # static P: [ParamInfo; 1] = [ParamInfo { name: "out.b", layer: "out", symbol: "b",
    /// #     kind: ParamKind::Bias, offset: 0, rows: 1, cols: 1, learnable: true,
    /// #     time_constant: false, defaults: &[] }];
    /// # static D: Derivation = Derivation { text: "", latex: "" };
    /// # impl Network for Leak {
    /// #     const NAME: &'static str = "Leak";
    /// #     const INPUT: usize = 1; const OUTPUT: usize = 1; const PARAMS: usize = 1;
    /// #     const STATE: usize = 1; const CONT: usize = 1; const LOCAL: usize = 0;
    /// #     const NEURONS: usize = 1;
    /// #     fn param_info() -> &'static [ParamInfo] { &P }
    /// #     fn layer_info() -> &'static [LayerInfo] { &[] }
    /// #     fn derivation() -> &'static Derivation { &D }
    /// #     fn output<T: Scalar>(_: &[T], s: &[T], r: &mut [T]) { r[0] = s[0] }
    /// #     fn loss<T: Scalar>(_: &[T], s: &[T], y: &[T]) -> T {
    /// #         T::from_f64(0.5) * (s[0] - y[0]) * (s[0] - y[0]) }
    /// #     fn loss_adjoint<T: Scalar>(_: &[T], s: &[T], y: &[T], k: T, a: &mut [T],
    /// #         _: &mut [T]) -> T { a[0] += k * (s[0] - y[0]);
    /// #         T::from_f64(0.5) * (s[0] - y[0]) * (s[0] - y[0]) }
    /// #     fn euler_step<T: Scalar>(p: &[T], s: &mut [T], x: &[T], dt: T) {
    /// #         s[0] = s[0] + dt * (x[0] + p[0] - s[0]) }
    /// #     fn euler_step_adjoint<T: Scalar>(_: &[T], _: &[T], _: &[T], dt: T, an: &[T],
    /// #         ap: &mut [T], g: &mut [T]) { ap[0] = an[0] * (T::one() - dt); g[0] += an[0] * dt }
    /// #     fn rhs<T: Scalar>(p: &[T], c: &[T], x: &[T], dc: &mut [T]) { dc[0] = x[0] + p[0] - c[0] }
    /// #     fn refresh_prospective<T: Scalar>(_: &[T], _: &mut [T], _: &[T]) {}
    /// #     fn adjoint_rhs<T: Scalar>(_: &[T], _: &[T], _: &[T], _: &[T], _: T, _: &[T],
    /// #         _: &mut [T], _: &mut [T], _: &mut [T]) {}
    /// #     fn online_step<T: Scalar>(p: &[T], s: &mut [T], _: &mut [T], x: &[T], y: &[T],
    /// #         _: T, _: T, dt: T, g: &mut [T]) {
    /// #         s[0] = s[0] + dt * (x[0] + p[0] - s[0]); g[0] += dt * (s[0] - y[0]) }
    /// # }
    /// let config = ExactConfig {
    ///     dt: 0.1, beta: 1.0, window: 5, tape: Tape::Full, carry_state: true, tau_max: 10.0,
    /// };
    /// let signal = FnSignal::new(1, 1, |t: f64, x: &mut [f64]| x[0] = t.sin(),
    ///     |_: f64, y: &mut [f64]| y[0] = 0.5);
    /// let mut p = vec![0.0];
    /// let mut a = ExactTrainer::<Leak, f64, _>::new(config.clone(), 1, Sgd::new(0.1, vec![true]))?;
    /// a.run(&mut p, &[&signal], 0.0, 2, None)?;
    /// let mut b = ExactTrainer::<Leak, f64, _>::new(config, 1, Sgd::new(0.1, vec![true]))?;
    /// b.restore(a.snapshot())?;
    /// assert_eq!(b.states(), a.states());
    /// assert_eq!(b.steps(), 10);
    /// # Ok::<(), vle_runtime::Error>(())
    /// ```
    pub fn snapshot(&self) -> ExactSnapshot<T> {
        ExactSnapshot {
            batch: self.batch,
            states: self.states.clone(),
            steps: self.steps,
            updates: self.updates,
        }
    }

    /// Replaces the trainer's progress with `snapshot` (from [`ExactTrainer::snapshot`]). The
    /// batch sizes and vector lengths must match; nothing changes on error. Example: see
    /// [`ExactTrainer::snapshot`].
    pub fn restore(&mut self, snapshot: ExactSnapshot<T>) -> Result<()> {
        check_len("the snapshot's batch", self.batch, snapshot.batch)?;
        check_len(
            "the snapshot's network states (B × STATE)",
            self.batch * N::STATE,
            snapshot.states.len(),
        )?;
        self.states = snapshot.states;
        self.steps = snapshot.steps;
        self.updates = snapshot.updates;
        Ok(())
    }

    /// `windows` windows of `config.window` steps from `t0`, one signal per sample (or one
    /// for all). Window w covers [t0 + w·W·dt, t0 + (w+1)·W·dt]; `p` is updated in place after
    /// each window, and the history holds each window's mean ℓ per step and sample.
    ///
    /// Errors, before any window: as for [`OnlineTrainer::run`] (config, optimizer,
    /// parameters and dt, signals, restored states). Before each window: [`Error::NonFinite`]
    /// naming a non-finite input `x[i]` or target `y[i]` (global step, sample). During it:
    /// [`Error::NonFinite`] naming the first non-finite state (global step, sample), gradient
    /// or parameter. The run stops at the first error, with the windows before it kept.
    pub fn run<S: Signal>(
        &mut self,
        p: &mut [T],
        signals: &[S],
        t0: f64,
        windows: usize,
        mut progress: ProgressFn<'_>,
    ) -> Result<History> {
        let cfg = self.config.clone();
        cfg.validate()?;
        self.optimizer.validate(N::PARAMS)?;
        validate_params::<N, T>(p, cfg.dt)?;
        check_signals::<N, S>(signals, self.batch)?;
        check_time(t0)?;
        check_len(
            "the batch of states",
            self.batch * N::STATE,
            self.states.len(),
        )?;
        check_finite_states::<N, T>(&self.states, N::STATE, None, 0)?;
        let w = cfg.window;
        let (mut xs, mut ys) = (
            vec![T::zero(); self.batch * w * N::INPUT],
            vec![T::zero(); self.batch * w * N::OUTPUT],
        );
        let (mut xb, mut yb) = (Vec::new(), Vec::new());
        let mut grad = vec![T::zero(); N::PARAMS];
        let mut history = History::default();
        for k in 0..windows {
            let ts = t0 + (k * w) as f64 * cfg.dt;
            for b in 0..self.batch {
                let sig = &signals[if signals.len() == 1 { 0 } else { b }];
                sample_window(sig, ts, cfg.dt, w, &mut xb, &mut yb);
                xs[b * w * N::INPUT..(b + 1) * w * N::INPUT].copy_from_slice(&xb);
                ys[b * w * N::OUTPUT..(b + 1) * w * N::OUTPUT].copy_from_slice(&yb);
            }
            check_finite_data(&xs, "input", N::INPUT, w, Some(self.steps), 0)?;
            check_finite_data(&ys, "target", N::OUTPUT, w, Some(self.steps), 0)?;
            if !cfg.carry_state {
                self.reset_state();
            }
            let loss = batch_gradient(
                &mut self.bptt,
                p,
                &mut self.states,
                &xs,
                &ys,
                T::from_f64(cfg.dt),
                T::from_f64(cfg.beta),
                cfg.tape,
                &mut grad,
            )
            .map_err(|e| shift_step(e, self.steps))?;
            zero_non_learnable::<N, T>(&mut grad)?;
            let last = self.steps + w - 1;
            check_finite_params::<N, T>(&grad, "gradient", Some(last))?;
            self.optimizer.step(p, &grad)?;
            clamp_time_constants::<N, T>(p, cfg.dt, cfg.tau_max)?;
            check_finite_params::<N, T>(p, "parameter", Some(last))?;
            self.steps += w;
            self.updates += 1;
            let mean = loss.to_f64() / (cfg.beta * cfg.dt * w as f64);
            history.loss.push(mean);
            history.step.push(self.steps);
            if let Some(f) = progress.as_mut() {
                f(&Progress {
                    update: self.updates,
                    step: (k + 1) * w,
                    total_steps: windows * w,
                    loss: mean,
                });
            }
        }
        Ok(history)
    }
}

/// Refuses non-finite local-rule states (restored from a snapshot), naming the entry.
fn check_finite_local<N: Network, T: Scalar>(local: &[T]) -> Result<()> {
    match local.iter().position(|v| !v.is_finite()) {
        None => Ok(()),
        Some(i) => Err(Error::NonFinite {
            quantity: "state",
            at: crate::error::Location {
                name: format!("local[{}]", i % N::LOCAL.max(1)),
                step: None,
                sample: Some(i / N::LOCAL.max(1)),
            },
            value: local[i].to_f64(),
        }),
    }
}

/// Turns a window-relative step index into a global one.
fn shift_step(e: Error, offset: usize) -> Error {
    match e {
        Error::NonFinite {
            quantity,
            mut at,
            value,
        } => {
            at.step = at.step.map(|s| s + offset);
            Error::NonFinite {
                quantity,
                at,
                value,
            }
        }
        e => e,
    }
}
