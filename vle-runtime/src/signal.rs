//! Input and target streams as functions of time.

use crate::error::{Error, Result};

/// An input `x(t)` and a target `y(t)`, evaluated at any time (the RK4 integrators ask for
/// midpoints too).
pub trait Signal {
    /// Length of `x(t)`; must equal the network's `INPUT`.
    fn input_dim(&self) -> usize;
    /// Length of `y(t)`; must equal the network's `OUTPUT`.
    fn target_dim(&self) -> usize;
    /// Writes `x(t)` (length `input_dim`) and `y(t)` (length `target_dim`).
    fn at(&self, t: f64, x: &mut [f64], y: &mut [f64]);
    /// Checks that the signal can be evaluated (e.g. that a [`HeldSequence`] built field by
    /// field has a hold ≥ 1); every entry point that takes signals calls it before the first
    /// step. The default accepts every signal. (The values themselves are checked as they are
    /// sampled: a NaN input or target is refused naming its entry, step and sample.)
    fn validate(&self) -> Result<()> {
        Ok(())
    }
}

impl<S: Signal + ?Sized> Signal for &S {
    fn input_dim(&self) -> usize {
        (**self).input_dim()
    }
    fn target_dim(&self) -> usize {
        (**self).target_dim()
    }
    fn validate(&self) -> Result<()> {
        (**self).validate()
    }
    fn at(&self, t: f64, x: &mut [f64], y: &mut [f64]) {
        (**self).at(t, x, y)
    }
}

/// A signal from two closures `x(t, &mut x)` and `y(t, &mut y)`.
///
/// ```
/// use vle_runtime::{FnSignal, Signal};
/// let s = FnSignal::new(
///     1,
///     1,
///     |t: f64, x: &mut [f64]| x[0] = t.sin(),
///     |_: f64, y: &mut [f64]| y[0] = 0.5,
/// );
/// let (mut x, mut y) = ([0.0], [0.0]);
/// s.at(0.0, &mut x, &mut y);
/// assert_eq!((x[0], y[0]), (0.0, 0.5));
/// ```
pub struct FnSignal<FX, FY> {
    /// Length of `x(t)`.
    pub input_dim: usize,
    /// Length of `y(t)`.
    pub target_dim: usize,
    /// Writes `x(t)` into its second argument.
    pub input: FX,
    /// Writes `y(t)` into its second argument.
    pub target: FY,
}

impl<FX, FY> FnSignal<FX, FY>
where
    FX: Fn(f64, &mut [f64]),
    FY: Fn(f64, &mut [f64]),
{
    /// The signal with `input_dim` inputs written by `input` and `target_dim` targets written
    /// by `target`.
    pub fn new(input_dim: usize, target_dim: usize, input: FX, target: FY) -> Self {
        FnSignal {
            input_dim,
            target_dim,
            input,
            target,
        }
    }
}

impl<FX, FY> Signal for FnSignal<FX, FY>
where
    FX: Fn(f64, &mut [f64]),
    FY: Fn(f64, &mut [f64]),
{
    fn input_dim(&self) -> usize {
        self.input_dim
    }
    fn target_dim(&self) -> usize {
        self.target_dim
    }
    fn at(&self, t: f64, x: &mut [f64], y: &mut [f64]) {
        (self.input)(t, x);
        (self.target)(t, y);
    }
}

/// One channel Σ_k a_k sin(2π f_k t + φ_k) + offset (frequencies in cycles per unit time).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Sines {
    /// Amplitudes a_k.
    pub amplitudes: Vec<f64>,
    /// Frequencies f_k, in cycles per unit time.
    pub frequencies: Vec<f64>,
    /// Phases φ_k, in radians.
    pub phases: Vec<f64>,
    /// Constant added to the sum.
    pub offset: f64,
}

fn invalid(argument: &str, problem: impl Into<String>) -> Error {
    Error::InvalidArgument {
        argument: format!("HeldSequence {argument}"),
        problem: problem.into(),
    }
}

impl Sines {
    /// The sum of sines with offset 0. Errors ([`Error::InvalidArgument`]) when the three vectors
    /// differ in length: give one amplitude, frequency and phase per sine.
    ///
    /// ```
    /// use vle_runtime::Sines;
    /// let s = Sines::new(vec![1.0, 0.5], vec![1.0, 3.0], vec![0.0, 0.2])?;
    /// assert_eq!(s.eval(0.0), 0.5 * 0.2f64.sin());
    /// assert!(Sines::new(vec![1.0], vec![1.0, 2.0], vec![0.0]).is_err());
    /// # Ok::<(), vle_runtime::Error>(())
    /// ```
    pub fn new(amplitudes: Vec<f64>, frequencies: Vec<f64>, phases: Vec<f64>) -> Result<Self> {
        let s = Sines {
            amplitudes,
            frequencies,
            phases,
            offset: 0.0,
        };
        s.validate()?;
        Ok(s)
    }

    /// Checks that amplitudes, frequencies and phases have one entry per sine.
    pub fn validate(&self) -> Result<()> {
        let n = self.amplitudes.len();
        for (what, len) in [
            ("frequencies", self.frequencies.len()),
            ("phases", self.phases.len()),
        ] {
            if len != n {
                return Err(Error::InvalidArgument {
                    argument: format!("Sines {what}"),
                    problem: format!(
                        "{len} {what} for {n} amplitudes; give one amplitude, frequency and \
                         phase per sine"
                    ),
                });
            }
        }
        Ok(())
    }

    /// The value at time `t`.
    pub fn eval(&self, t: f64) -> f64 {
        let tau = 2.0 * std::f64::consts::PI;
        self.offset
            + self
                .amplitudes
                .iter()
                .zip(&self.frequencies)
                .zip(&self.phases)
                .map(|((a, f), ph)| a * (tau * f * t + ph).sin())
                .sum::<f64>()
    }
}

/// Input and target channels, each a sum of sines.
///
/// ```
/// use vle_runtime::{Signal, Sines, SumOfSines};
/// let signal = SumOfSines::default()
///     .with_input(Sines::new(vec![1.0], vec![0.5], vec![0.0])?)
///     .with_input(Sines::new(vec![0.3, 0.2], vec![2.0, 5.0], vec![0.0, 1.0])?)
///     .with_target(Sines::new(vec![1.0], vec![0.5], vec![0.3])?);
/// assert_eq!((signal.input_dim(), signal.target_dim()), (2, 1));
/// # Ok::<(), vle_runtime::Error>(())
/// ```
#[derive(Clone, Debug, Default, PartialEq)]
pub struct SumOfSines {
    /// One entry per input channel: `x_i(t) = inputs[i].eval(t)`.
    pub inputs: Vec<Sines>,
    /// One entry per target channel: `y_j(t) = targets[j].eval(t)`.
    pub targets: Vec<Sines>,
}

impl SumOfSines {
    /// One input channel, no target; errors as [`Sines::new`].
    pub fn new(amplitudes: Vec<f64>, frequencies: Vec<f64>, phases: Vec<f64>) -> Result<Self> {
        Ok(SumOfSines {
            inputs: vec![Sines::new(amplitudes, frequencies, phases)?],
            targets: Vec::new(),
        })
    }

    /// Adds an input channel (the next entry of x).
    pub fn with_input(mut self, input: Sines) -> Self {
        self.inputs.push(input);
        self
    }

    /// Adds a target channel (the next entry of y).
    pub fn with_target(mut self, target: Sines) -> Self {
        self.targets.push(target);
        self
    }
}

impl Signal for SumOfSines {
    fn input_dim(&self) -> usize {
        self.inputs.len()
    }
    fn target_dim(&self) -> usize {
        self.targets.len()
    }
    fn at(&self, t: f64, x: &mut [f64], y: &mut [f64]) {
        x.iter_mut()
            .zip(&self.inputs)
            .for_each(|(x, s)| *x = s.eval(t));
        y.iter_mut()
            .zip(&self.targets)
            .for_each(|(y, s)| *y = s.eval(t));
    }
    /// Every channel passes [`Sines::validate`].
    fn validate(&self) -> Result<()> {
        self.inputs
            .iter()
            .chain(&self.targets)
            .try_for_each(Sines::validate)
    }
}

/// A sequence of input vectors, each held for `hold` steps of `dt` from `t0`, with one target
/// for the whole sequence (MNIST-1D of `vle::_theory` §8: 40 values × 9 steps of dt = 0.2).
/// Before `t0` the first vector is given, after the end the last one.
#[derive(Clone, Debug, PartialEq)]
pub struct HeldSequence {
    /// `len × input_dim` values, row-major.
    pub values: Vec<f64>,
    /// Entries per input vector (the network's `INPUT`).
    pub input_dim: usize,
    /// Steps of `dt` each vector is shown for (≥ 1).
    pub hold: usize,
    /// The simulation step the sequence is laid out on.
    pub dt: f64,
    /// Time at which the first vector starts.
    pub t0: f64,
    /// The target, the same at every time (e.g. a one-hot class).
    pub target: Vec<f64>,
}

impl HeldSequence {
    /// Starts at t = 0. Errors ([`Error::InvalidArgument`] naming the argument) when
    /// `input_dim` is 0, `values` is empty or not a multiple of `input_dim` long, `hold` is 0,
    /// or `dt` is not finite and > 0.
    ///
    /// ```
    /// use vle_runtime::HeldSequence;
    /// let s = HeldSequence::new(vec![1.0, 2.0, 3.0, 4.0], 2, 3, 0.1, vec![1.0])?;
    /// assert_eq!((s.len(), s.steps()), (2, 6));
    /// assert!(HeldSequence::new(vec![1.0, 2.0, 3.0], 2, 3, 0.1, vec![1.0]).is_err());
    /// # Ok::<(), vle_runtime::Error>(())
    /// ```
    pub fn new(
        values: Vec<f64>,
        input_dim: usize,
        hold: usize,
        dt: f64,
        target: Vec<f64>,
    ) -> Result<Self> {
        let s = HeldSequence {
            values,
            input_dim,
            hold,
            dt,
            t0: 0.0,
            target,
        };
        s.check()?;
        Ok(s)
    }

    fn check(&self) -> Result<()> {
        let n = self.values.len();
        if self.input_dim == 0 {
            return Err(invalid(
                "input_dim",
                "is 0; give the entries per input vector (the network's INPUT)",
            ));
        }
        if n == 0 || !n.is_multiple_of(self.input_dim) {
            return Err(invalid(
                "values",
                format!(
                    "holds {n} values, not a non-zero multiple of input_dim = {}; give the \
                     vectors one after the other",
                    self.input_dim
                ),
            ));
        }
        if self.hold == 0 {
            return Err(invalid(
                "hold",
                "is 0; show each vector for at least 1 step",
            ));
        }
        if !(self.dt.is_finite() && self.dt > 0.0) {
            return Err(invalid(
                "dt",
                format!("is {}; give the finite step > 0 of the simulation", self.dt),
            ));
        }
        if !self.t0.is_finite() {
            return Err(invalid(
                "t0",
                format!("is {}; give a finite start time", self.t0),
            ));
        }
        Ok(())
    }

    /// Number of held vectors.
    pub fn len(&self) -> usize {
        self.values.len().checked_div(self.input_dim).unwrap_or(0)
    }

    /// Whether there are no vectors (never for one built by [`HeldSequence::new`]).
    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }

    /// Number of steps of `dt` the sequence lasts (`len × hold`).
    pub fn steps(&self) -> usize {
        self.len() * self.hold
    }

    /// Index of the vector shown at time `t`. Times are rounded onto the dt grid with a
    /// tolerance of 1e-6 dt, so `t0 + n·dt` computed in floating point maps to step n, and the
    /// RK4 midpoint `t + dt/2` sees the same vector as `t`.
    pub fn index_at(&self, t: f64) -> usize {
        let s = (t - self.t0) / self.dt + 1e-6;
        if s <= 0.0 {
            return 0;
        }
        ((s.floor() as usize) / self.hold.max(1)).min(self.len().saturating_sub(1))
    }
}

impl Signal for HeldSequence {
    fn input_dim(&self) -> usize {
        self.input_dim
    }
    fn target_dim(&self) -> usize {
        self.target.len()
    }
    fn at(&self, t: f64, x: &mut [f64], y: &mut [f64]) {
        let i = self.index_at(t);
        // A sequence that fails `validate` (built field by field) gives NaN, which the entry
        // points would name, rather than a panic; they refuse it before sampling anyway.
        match self
            .values
            .get(i * self.input_dim..(i + 1) * self.input_dim)
        {
            Some(v) if v.len() == x.len() => x.copy_from_slice(v),
            _ => x.fill(f64::NAN),
        }
        match self.target.len() == y.len() {
            true => y.copy_from_slice(&self.target),
            false => y.fill(f64::NAN),
        }
    }
    /// The checks of [`HeldSequence::new`], for sequences built field by field.
    fn validate(&self) -> Result<()> {
        self.check()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn held_sequence_holds_each_value_for_hold_steps() {
        let s =
            HeldSequence::new((0..40).map(f64::from).collect(), 1, 9, 0.2, vec![1.0, 0.0]).unwrap();
        assert_eq!(s.steps(), 360);
        let (mut x, mut y) = ([0.0], [0.0; 2]);
        for n in 0..400 {
            s.at(n as f64 * 0.2, &mut x, &mut y);
            assert_eq!(x[0], ((n / 9).min(39)) as f64, "step {n}");
            s.at(n as f64 * 0.2 + 0.1, &mut x, &mut y);
            assert_eq!(x[0], ((n / 9).min(39)) as f64, "midpoint of step {n}");
        }
        assert_eq!(y, [1.0, 0.0]);
    }

    #[test]
    fn constructors_refuse_inconsistent_arguments_by_name() {
        let e = Sines::new(vec![1.0, 2.0], vec![1.0], vec![0.0, 0.0]).unwrap_err();
        assert!(e.to_string().contains("frequencies"), "{e}");
        let e = Sines::new(vec![1.0], vec![1.0], vec![]).unwrap_err();
        assert!(e.to_string().contains("phases"), "{e}");
        assert!(SumOfSines::new(vec![1.0], vec![], vec![0.0]).is_err());
        let held = |v: Vec<f64>, dim, hold, dt| HeldSequence::new(v, dim, hold, dt, vec![0.0]);
        for (e, name) in [
            (held(vec![1.0; 4], 0, 1, 0.1), "input_dim"),
            (held(vec![1.0; 3], 2, 1, 0.1), "values"),
            (held(vec![], 1, 1, 0.1), "values"),
            (held(vec![1.0; 2], 1, 0, 0.1), "hold"),
            (held(vec![1.0; 2], 1, 1, 0.0), "dt"),
            (held(vec![1.0; 2], 1, 1, f64::NAN), "dt"),
            (held(vec![1.0; 2], 1, 1, -0.1), "dt"),
        ] {
            let e = e.unwrap_err().to_string();
            assert!(e.contains(name), "{name}: {e}");
        }
        // Built field by field: refused by `validate`, which every entry point calls; sampled
        // directly, NaN rather than a panic.
        let mut s = held(vec![1.0; 2], 1, 1, 0.1).unwrap();
        s.hold = 0;
        let e = Signal::validate(&s).unwrap_err().to_string();
        assert!(e.contains("hold"), "{e}");
        s.input_dim = 0;
        s.values.clear();
        let (mut x, mut y) = ([0.0], [0.0; 2]);
        s.at(0.3, &mut x, &mut y);
        assert!(x[0].is_nan() && y[0].is_nan() && s.is_empty() && s.steps() == 0);
        let bad = SumOfSines::default().with_input(Sines {
            amplitudes: vec![1.0],
            ..Sines::default()
        });
        assert!(bad.validate().is_err());
    }

    #[test]
    fn with_input_adds_channels_in_order() {
        let s = SumOfSines::default()
            .with_input(Sines::new(vec![1.0], vec![0.25], vec![0.0]).unwrap())
            .with_input(Sines {
                offset: 2.0,
                ..Sines::default()
            })
            .with_target(Sines::new(vec![3.0], vec![0.25], vec![0.0]).unwrap());
        assert_eq!((s.input_dim(), s.target_dim()), (2, 1));
        let (mut x, mut y) = ([0.0; 2], [0.0]);
        // sin(2π · 0.25 · 1) = 1 up to rounding of π/2.
        s.at(1.0, &mut x, &mut y);
        assert!((x[0] - 1.0).abs() < 1e-15 && x[1] == 2.0 && (y[0] - 3.0).abs() < 1e-15);
    }

    #[test]
    fn sum_of_sines_and_closures() {
        let s = SumOfSines::new(vec![1.0, 0.5], vec![1.0, 2.0], vec![0.0, 0.3])
            .unwrap()
            .with_target(Sines::new(vec![2.0], vec![0.5], vec![0.0]).unwrap());
        let (mut x, mut y) = ([0.0], [0.0]);
        s.at(0.1, &mut x, &mut y);
        let tau = 2.0 * std::f64::consts::PI;
        assert!((x[0] - ((tau * 0.1).sin() + 0.5 * (tau * 0.2 + 0.3).sin())).abs() < 1e-15);
        assert!((y[0] - 2.0 * (tau * 0.05).sin()).abs() < 1e-15);
        let f = FnSignal::new(1, 1, |t, x| x[0] = t, |t, y| y[0] = 2.0 * t);
        f.at(3.0, &mut x, &mut y);
        assert_eq!((x[0], y[0]), (3.0, 6.0));
    }
}
