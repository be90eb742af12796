//! Forward simulation of a batch: the discrete Euler reference scheme or classical RK4 on the
//! continuous system.

use std::marker::PhantomData;

use crate::error::{check_len, Error, Location, Result};
use crate::params::validate_params;
use crate::signal::Signal;
use crate::{Network, Scalar};

/// Time-stepping scheme.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scheme {
    /// [`Network::euler_step`]: the layer-synchronous reference discretisation (`vle::_theory` §6).
    Euler,
    /// Classical RK4 on the continuous system [`Network::rhs`], inputs at t, t+dt/2, t+dt,
    /// then [`Network::refresh_prospective`] with the input at t+dt.
    Rk4,
}

/// What the simulator records after each step.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Record {
    /// Nothing: only the current state is kept (the default).
    Nothing,
    /// The whole discrete state, `B × STATE` per step.
    States,
    /// The output rates, `B × OUTPUT` per step.
    Outputs,
}

/// Name of discrete-state entry `index` from the layer layout, e.g. `"h1.u[3]"` or
/// `"out.prospective[0]"`.
pub fn state_entry_name<N: Network>(index: usize) -> String {
    for l in N::layer_info() {
        for &(name, off) in l.states {
            if (off..off + l.size).contains(&index) {
                return format!("{}.{}[{}]", l.name, name, index - off);
            }
        }
        let off = l.prospective_offset;
        if (off..off + l.size).contains(&index) {
            return format!("{}.prospective[{}]", l.name, index - off);
        }
    }
    format!("state[{index}]")
}

/// [`Error::NonFinite`] for the first non-finite entry of a batch of states (`B × width`,
/// entries named by [`state_entry_name`]).
pub fn check_finite_states<N: Network, T: Scalar>(
    states: &[T],
    width: usize,
    step: Option<usize>,
    first_sample: usize,
) -> Result<()> {
    if crate::kernels::all_finite(states) {
        return Ok(());
    }
    match states.iter().position(|v| !v.is_finite()) {
        None => Ok(()),
        Some(i) => Err(Error::NonFinite {
            quantity: "state",
            at: Location {
                name: state_entry_name::<N>(i % width),
                step,
                sample: Some(first_sample + i / width),
            },
            value: states[i].to_f64(),
        }),
    }
}

/// [`Error::NonFinite`] for the first non-finite entry of inputs or targets laid out
/// `samples × steps × width` (sample-major, as the batched window slices): `quantity` is
/// `"input"` or `"target"`, and the entry is named `x[i]` or `y[i]` with its step
/// (`first_step` + the step within the window; none when `first_step` is `None`) and sample.
pub fn check_finite_data<T: Scalar>(
    values: &[T],
    quantity: &'static str,
    width: usize,
    steps: usize,
    first_step: Option<usize>,
    first_sample: usize,
) -> Result<()> {
    if crate::kernels::all_finite(values) {
        return Ok(());
    }
    let Some(i) = values.iter().position(|v| !v.is_finite()) else {
        return Ok(());
    };
    let (w, s) = (width.max(1), steps.max(1));
    let symbol = if quantity == "target" { "y" } else { "x" };
    Err(Error::NonFinite {
        quantity,
        at: Location {
            name: format!("{symbol}[{}]", i % w),
            step: first_step.map(|f| f + (i / w) % s),
            sample: Some(first_sample + i / (w * s)),
        },
        value: values[i].to_f64(),
    })
}

/// Scratch space of one RK4 step on the continuous system (internal: the simulator and the
/// continuous adjoint size it, and check what they step).
#[derive(Clone, Debug)]
pub(crate) struct Rk4Scratch<T> {
    /// The stage slopes k1..k4, each `CONT` long.
    pub(crate) k: [Vec<T>; 4],
    /// The stage state `c + h·k`, `CONT` long.
    pub(crate) tmp: Vec<T>,
}

impl<T: Scalar> Rk4Scratch<T> {
    /// Zeroed scratch for a continuous state of `cont` entries (the network's `CONT`).
    pub(crate) fn new(cont: usize) -> Self {
        let z = vec![T::zero(); cont];
        Rk4Scratch {
            k: [z.clone(), z.clone(), z.clone(), z.clone()],
            tmp: z,
        }
    }
}

/// One classical RK4 step of the continuous state `c` (length CONT) with inputs `x0 = x(t)`,
/// `xm = x(t + dt/2)`, `x1 = x(t + dt)`. Leaves the stage slopes in `s.k`. Internal: its
/// callers ([`Simulator`], [`crate::continuous_adjoint`]) check the lengths, `p` and `dt`.
pub(crate) fn rk4_step<N: Network, T: Scalar>(
    p: &[T],
    c: &mut [T],
    x0: &[T],
    xm: &[T],
    x1: &[T],
    dt: T,
    s: &mut Rk4Scratch<T>,
) {
    let half = dt * T::from_f64(0.5);
    let [k1, k2, k3, k4] = &mut s.k;
    let tmp = &mut s.tmp;
    N::rhs(p, c, x0, k1);
    axpy(tmp, c, half, k1);
    N::rhs(p, tmp, xm, k2);
    axpy(tmp, c, half, k2);
    N::rhs(p, tmp, xm, k3);
    axpy(tmp, c, dt, k3);
    N::rhs(p, tmp, x1, k4);
    let sixth = dt / T::from_f64(6.0);
    let two = T::from_f64(2.0);
    for i in 0..c.len() {
        c[i] += sixth * (k1[i] + two * (k2[i] + k3[i]) + k4[i]);
    }
}

/// `out = a + h * b`.
pub(crate) fn axpy<T: Scalar>(out: &mut [T], a: &[T], h: T, b: &[T]) {
    for i in 0..out.len() {
        out[i] = a[i] + h * b[i];
    }
}

pub(crate) fn to_scalars<T: Scalar>(src: &[f64], dst: &mut [T]) {
    dst.iter_mut()
        .zip(src)
        .for_each(|(d, &s)| *d = T::from_f64(s));
}

/// Refuses a non-finite start time (the signals would be sampled at NaN or infinity).
pub(crate) fn check_time(t0: f64) -> Result<()> {
    if t0.is_finite() {
        Ok(())
    } else {
        Err(Error::InvalidHyperParameter {
            name: "t0 (the start time)".into(),
            value: t0,
            expected: "a finite time".into(),
        })
    }
}

/// Checks that `signals` has one entry per sample (or one shared by all) with the network's
/// input and target widths.
pub(crate) fn check_signals<N: Network, S: Signal>(signals: &[S], batch: usize) -> Result<()> {
    if signals.is_empty() {
        return Err(Error::EmptyData {
            what: "the list of signals".into(),
        });
    }
    if signals.len() != 1 {
        check_len(
            "the list of signals (one per sample, or one for all)",
            batch,
            signals.len(),
        )?;
    }
    for s in signals {
        check_len("a signal's input", N::INPUT, s.input_dim())?;
        check_len("a signal's target", N::OUTPUT, s.target_dim())?;
        s.validate()?;
    }
    Ok(())
}

/// A batch of `B` samples, each with its own discrete state (zero-initialised).
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
/// // Leak: s' = x + b − s, output r = s. Two samples, the same constant input.
/// let signal = FnSignal::new(1, 1, |_: f64, x: &mut [f64]| x[0] = 1.0,
///     |_: f64, y: &mut [f64]| y[0] = 0.0);
/// let mut sim = Simulator::<Leak, f64>::new(2)?.with_record(Record::Outputs);
/// sim.run(&[0.5], Scheme::Euler, &[&signal], 0.0, 0.1, 10)?;
/// assert_eq!(sim.trajectory().len(), 10 * 2 * Leak::OUTPUT); // steps × B × OUTPUT
/// // Euler: s_n = 1.5·(1 − 0.9ⁿ), relaxing towards x + b.
/// assert!((sim.state(1)[0] - 1.5 * (1.0 - 0.9f64.powi(10))).abs() < 1e-12);
/// # Ok::<(), vle_runtime::Error>(())
/// ```
pub struct Simulator<N: Network, T: Scalar> {
    batch: usize,
    state: Vec<T>,
    steps: usize,
    record: Record,
    trajectory: Vec<T>,
    xf: Vec<f64>,
    yf: Vec<f64>,
    xt: [Vec<T>; 3],
    scratch: Rk4Scratch<T>,
    _n: PhantomData<N>,
}

impl<N: Network, T: Scalar> Simulator<N, T> {
    /// `batch` samples at state zero. Errors: [`Error::EmptyData`] if `batch == 0`.
    pub fn new(batch: usize) -> Result<Self> {
        if batch == 0 {
            return Err(Error::EmptyData {
                what: "the batch (Simulator::new(0))".into(),
            });
        }
        Ok(Simulator {
            batch,
            state: vec![T::zero(); batch * N::STATE],
            steps: 0,
            record: Record::Nothing,
            trajectory: Vec::new(),
            xf: vec![0.0; N::INPUT],
            yf: vec![0.0; N::OUTPUT],
            // Inputs of the whole batch at t, t + dt/2 and t + dt, `B × INPUT` each.
            xt: std::array::from_fn(|_| vec![T::zero(); batch * N::INPUT]),
            scratch: Rk4Scratch::new(N::CONT),
            _n: PhantomData,
        })
    }

    /// Records states or outputs after every step from now on.
    pub fn with_record(mut self, record: Record) -> Self {
        self.record = record;
        self
    }

    /// Number of samples B.
    pub fn batch(&self) -> usize {
        self.batch
    }
    /// Steps taken since creation or the last [`Simulator::reset`].
    pub fn steps(&self) -> usize {
        self.steps
    }
    /// All states, `B × STATE`.
    pub fn states(&self) -> &[T] {
        &self.state
    }
    /// All states, `B × STATE`, sample-major, writable (e.g. to start from a given state).
    pub fn states_mut(&mut self) -> &mut [T] {
        &mut self.state
    }
    /// The state of sample `b`.
    ///
    /// # Panics
    /// When `b` is not below [`Simulator::batch`], as slice indexing does; use
    /// [`Simulator::states`] with `chunks(N::STATE)` to visit every sample.
    pub fn state(&self, b: usize) -> &[T] {
        &self.state[b * N::STATE..(b + 1) * N::STATE]
    }
    /// Recorded values, one block of `B × recorded_width()` per step.
    pub fn trajectory(&self) -> &[T] {
        &self.trajectory
    }
    /// Width per sample of the recording (STATE, OUTPUT or 0).
    pub fn recorded_width(&self) -> usize {
        match self.record {
            Record::Nothing => 0,
            Record::States => N::STATE,
            Record::Outputs => N::OUTPUT,
        }
    }

    /// Zero state, step counter and recording.
    pub fn reset(&mut self) {
        self.state.iter_mut().for_each(|v| *v = T::zero());
        self.steps = 0;
        self.trajectory.clear();
    }

    /// Output rates of all samples into `r` (`B × OUTPUT`). Errors: [`Error::Length`] for a
    /// wrong `p` or `r`.
    pub fn outputs(&self, p: &[T], r: &mut [T]) -> Result<()> {
        check_len("the parameter vector", N::PARAMS, p.len())?;
        check_len(
            "the buffer of outputs (B × OUTPUT)",
            self.batch * N::OUTPUT,
            r.len(),
        )?;
        for (s, r) in self
            .state
            .chunks_exact(N::STATE.max(1))
            .zip(r.chunks_exact_mut(N::OUTPUT.max(1)))
        {
            N::output(p, s, r);
        }
        Ok(())
    }

    /// One Euler step of every sample with pre-sampled inputs `x_batch` (`B × INPUT`, x(t)).
    /// Checks as [`Simulator::step`] ([`validate_params`] on `p` and `dt`, the inputs and
    /// the current states finite), then [`Error::NonFinite`] for a diverged state.
    pub fn step_inputs(&mut self, p: &[T], x_batch: &[T], dt: T) -> Result<()> {
        validate_params::<N, T>(p, dt.to_f64())?;
        check_len(
            "the batch of inputs (B × INPUT)",
            self.batch * N::INPUT,
            x_batch.len(),
        )?;
        check_finite_data(x_batch, "input", N::INPUT, 1, Some(self.steps), 0)?;
        check_finite_states::<N, T>(&self.state, N::STATE, None, 0)?;
        for b in 0..self.batch {
            N::euler_step(
                p,
                &mut self.state[b * N::STATE..(b + 1) * N::STATE],
                &x_batch[b * N::INPUT..(b + 1) * N::INPUT],
                dt,
            );
        }
        self.finish_step(p)
    }

    /// One step from `t` to `t + dt` with inputs from `signals` (one per sample, or one for
    /// all). Euler uses x(t); RK4 also x(t + dt/2) and x(t + dt).
    ///
    /// Errors, before the step: [`validate_params`] (parameters, `dt` against every time
    /// constant), [`Error::EmptyData`] or [`Error::Length`] for the signals,
    /// [`Error::InvalidHyperParameter`] for a non-finite `t`, [`Error::NonFinite`] naming a
    /// non-finite input `x[i]` (step, sample) or a non-finite state passed in (through
    /// [`Simulator::states_mut`]). After it: [`Error::NonFinite`] naming the entry, the sample
    /// and the step index n (0-based count of steps taken: the step from t_n to t_{n+1}) of a
    /// diverged state; the batch is left as it was after the step.
    pub fn step<S: Signal>(
        &mut self,
        p: &[T],
        scheme: Scheme,
        signals: &[S],
        t: f64,
        dt: f64,
    ) -> Result<()> {
        self.check_run::<S>(p, scheme, signals, t, dt)?;
        self.step_checked(p, scheme, signals, t, dt)
    }

    /// `steps` steps of [`Simulator::step`] from `t0`, stopping at the first error (the checks
    /// of `p`, `dt` and the signals are made once, before the first step).
    pub fn run<S: Signal>(
        &mut self,
        p: &[T],
        scheme: Scheme,
        signals: &[S],
        t0: f64,
        dt: f64,
        steps: usize,
    ) -> Result<()> {
        self.check_run::<S>(p, scheme, signals, t0, dt)?;
        for n in 0..steps {
            self.step_checked(p, scheme, signals, t0 + n as f64 * dt, dt)?;
        }
        Ok(())
    }

    fn check_run<S: Signal>(
        &self,
        p: &[T],
        scheme: Scheme,
        signals: &[S],
        t: f64,
        dt: f64,
    ) -> Result<()> {
        validate_params::<N, T>(p, dt)?;
        check_signals::<N, S>(signals, self.batch)?;
        check_time(t)?;
        if scheme == Scheme::Rk4 {
            crate::error::require_continuous::<N>()?;
        }
        Ok(())
    }

    /// One step after [`Simulator::check_run`]: samples and checks the inputs of every sample
    /// and checks the states before it changes any (an error leaves the batch untouched).
    fn step_checked<S: Signal>(
        &mut self,
        p: &[T],
        scheme: Scheme,
        signals: &[S],
        t: f64,
        dt: f64,
    ) -> Result<()> {
        check_finite_states::<N, T>(&self.state, N::STATE, None, 0)?;
        let times = [t, t + 0.5 * dt, t + dt];
        let stages = if scheme == Scheme::Euler { 1 } else { 3 };
        let ni = N::INPUT;
        for b in 0..self.batch {
            let sig = &signals[if signals.len() == 1 { 0 } else { b }];
            for (i, &tt) in times.iter().enumerate().take(stages) {
                sig.at(tt, &mut self.xf, &mut self.yf);
                check_finite_data(&self.xf, "input", ni, 1, Some(self.steps), b)?;
                to_scalars(&self.xf, &mut self.xt[i][b * ni..(b + 1) * ni]);
            }
        }
        let dtt = T::from_f64(dt);
        for (b, st) in self.state.chunks_exact_mut(N::STATE.max(1)).enumerate() {
            let x = |i: usize| &self.xt[i][b * ni..(b + 1) * ni];
            match scheme {
                Scheme::Euler => N::euler_step(p, st, x(0), dtt),
                Scheme::Rk4 => {
                    rk4_step::<N, T>(
                        p,
                        &mut st[..N::CONT],
                        x(0),
                        x(1),
                        x(2),
                        dtt,
                        &mut self.scratch,
                    );
                    N::refresh_prospective(p, st, x(2));
                }
            }
        }
        self.finish_step(p)
    }

    fn finish_step(&mut self, p: &[T]) -> Result<()> {
        let step = self.steps;
        self.steps += 1;
        check_finite_states::<N, T>(&self.state, N::STATE, Some(step), 0)?;
        match self.record {
            Record::Nothing => {}
            Record::States => self.trajectory.extend_from_slice(&self.state),
            Record::Outputs => {
                let n = self.trajectory.len();
                self.trajectory
                    .resize(n + self.batch * N::OUTPUT, T::zero());
                for b in 0..self.batch {
                    N::output(
                        p,
                        &self.state[b * N::STATE..(b + 1) * N::STATE],
                        &mut self.trajectory[n + b * N::OUTPUT..n + (b + 1) * N::OUTPUT],
                    );
                }
            }
        }
        Ok(())
    }
}
