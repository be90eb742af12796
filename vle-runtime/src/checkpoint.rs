//! Checkpoints: trained parameters, optimizer state and trainer progress in one file, so that a
//! long training run resumes exactly where it stopped.
//!
//! [`save_training`] writes the parameters, the optimizer ([`Sgd`] or [`Adam`], moments and step
//! count included), the trainer's config and progress (step and update counters, the gradient
//! accumulated since the last update, every sample's network and error-neuron states).
//! [`load_training`] puts all of it back into a freshly constructed trainer and returns the
//! parameters; training then continues bit for bit as if it had never stopped. The trainers
//! draw no random numbers, so there is no generator state to keep. [`save_params`] and
//! [`load_params`] keep parameters alone.
//!
//! # Resuming
//!
//! Pass `t0 = trainer.steps() as f64 * dt` to the next `run` call. Trainers evaluate the
//! signal at `t0 + n·dt`, so a signal that depends on `t` continuously (e.g. [`crate::Sines`])
//! may see times one rounding unit away from those of one long uninterrupted `run` call
//! (`(N·dt) + n·dt` against `(N + n)·dt`); signals sampled on the dt grid
//! ([`crate::HeldSequence`], data sets) see the same samples and the resumed run is
//! bit-identical. Any run split into the same `run` calls is bit-identical for every signal.
//!
//! # File format (version [`FORMAT_VERSION`])
//!
//! One line of JSON:
//!
//! ```text
//! {"format":"vle-checkpoint","version":1,"checksum":"fnv1a64:<16 hex digits>","payload":{...}}
//! ```
//!
//! The checksum is FNV-1a (64 bit) over the payload's bytes exactly as they appear in the file.
//! The payload holds
//! - `network`: the network's name ([`Network::NAME`]);
//! - `layout`: `params`, `state`, `local` ([`Network::PARAMS`], [`Network::STATE`],
//!   [`Network::LOCAL`]), `tensors` (name, offset, rows, cols of every [`crate::ParamInfo`])
//!   and `fingerprint`, FNV-1a 64 of that layout as text;
//! - `scalar`: `"f32"` or `"f64"`;
//! - `params`: the flat parameter vector;
//! - `optimizer`: `null`, `{"sgd":{lr, mask}}` or `{"adam":{lr, beta1, beta2, eps, mask, t, m,
//!   v}}` (`mask` a string of `0`/`1`, one character per parameter);
//! - `trainer`: `null`, `{"online":{config, batch, steps, updates, pending_steps, pending_loss,
//!   states, local, grad}}` or `{"exact":{config, batch, steps, updates, states}}`.
//!
//! Every value is stored as a JSON number that reads back to the same bits (f32 values are
//! widened to f64, which is exact). JSON has no NaN or infinity: saving refuses non-finite
//! values, naming the entry. Hyper-parameters may be infinite (e.g. `tau_max`) and are then
//! written as the strings `"inf"` and `"-inf"`.
//!
//! Loading checks, in this order, and refuses with [`Error::Checkpoint`] naming the file and
//! what is wrong: that the file can be read and is complete JSON (a file cut short anywhere is
//! reported as truncated; only the final newline may be missing), the format marker, the
//! format version, the checksum, the payload's structure, the scalar type, the network's name,
//! its layout (listing what differs), and the lengths and values of every vector.
//!
//! Saving writes a temporary file in the target's directory, flushes it to disk, renames it
//! over the target and flushes the directory: a crash at any moment leaves either the previous
//! checkpoint or the new one, never a mixture ([`write_atomic`]).
//!
//! # Example
//!
//! ```
//! # use vle_runtime::*;
//! # struct Leak;
//! # static P: [ParamInfo; 1] = [ParamInfo { name: "out.b", layer: "out", symbol: "b",
//! #     kind: ParamKind::Bias, offset: 0, rows: 1, cols: 1, learnable: true,
//! #     time_constant: false, defaults: &[] }];
//! # static D: Derivation = Derivation { text: "", latex: "" };
//! # impl Network for Leak {
//! #     const NAME: &'static str = "Leak";
//! #     const INPUT: usize = 1; const OUTPUT: usize = 1; const PARAMS: usize = 1;
//! #     const STATE: usize = 1; const CONT: usize = 1; const LOCAL: usize = 0;
//! #     const NEURONS: usize = 1;
//! #     fn param_info() -> &'static [ParamInfo] { &P }
//! #     fn layer_info() -> &'static [LayerInfo] { &[] }
//! #     fn derivation() -> &'static Derivation { &D }
//! #     fn output<T: Scalar>(_: &[T], s: &[T], r: &mut [T]) { r[0] = s[0] }
//! #     fn loss<T: Scalar>(_: &[T], s: &[T], y: &[T]) -> T {
//! #         T::from_f64(0.5) * (s[0] - y[0]) * (s[0] - y[0]) }
//! #     fn loss_adjoint<T: Scalar>(_: &[T], s: &[T], y: &[T], k: T, a: &mut [T],
//! #         _: &mut [T]) -> T { a[0] += k * (s[0] - y[0]);
//! #         T::from_f64(0.5) * (s[0] - y[0]) * (s[0] - y[0]) }
//! #     fn euler_step<T: Scalar>(p: &[T], s: &mut [T], x: &[T], dt: T) {
//! #         s[0] = s[0] + dt * (x[0] + p[0] - s[0]) }
//! #     fn euler_step_adjoint<T: Scalar>(_: &[T], _: &[T], _: &[T], dt: T, an: &[T],
//! #         ap: &mut [T], g: &mut [T]) { ap[0] = an[0] * (T::one() - dt); g[0] += an[0] * dt }
//! #     fn rhs<T: Scalar>(p: &[T], c: &[T], x: &[T], dc: &mut [T]) { dc[0] = x[0] + p[0] - c[0] }
//! #     fn refresh_prospective<T: Scalar>(_: &[T], _: &mut [T], _: &[T]) {}
//! #     fn adjoint_rhs<T: Scalar>(_: &[T], _: &[T], _: &[T], _: &[T], _: T, _: &[T],
//! #         _: &mut [T], _: &mut [T], _: &mut [T]) {}
//! #     fn online_step<T: Scalar>(p: &[T], s: &mut [T], _: &mut [T], x: &[T], y: &[T],
//! #         _: T, _: T, dt: T, g: &mut [T]) {
//! #         s[0] = s[0] + dt * (x[0] + p[0] - s[0]); g[0] += dt * (s[0] - y[0]) }
//! # }
//! use vle_runtime::checkpoint::{load_training, save_training};
//! use vle_runtime::params::learnable_mask;
//!
//! let config = OnlineConfig { dt: 0.1, beta: 1.0, gamma: 0.0, update_every: 4, tau_max: 10.0 };
//! // Data on the dt grid: a resumed run sees exactly the samples of an uninterrupted one.
//! let values = (0..50).map(|i| (i as f64).sin()).collect();
//! let data = HeldSequence::new(values, 1, 1, 0.1, vec![0.5])?;
//! let trainer = || {
//!     OnlineTrainer::<Leak, f64, _>::new(config.clone(), 1, Adam::new(0.05, learnable_mask::<Leak>()))
//! };
//!
//! // One run of 30 steps.
//! let mut p_straight = vec![0.0];
//! trainer()?.run(&mut p_straight, &[&data], 0.0, 30, None)?;
//!
//! // 13 steps, save, load into a fresh trainer, 17 more steps.
//! let path = std::env::temp_dir().join(format!("vle-doc-{}.ckpt.json", std::process::id()));
//! let mut p = vec![0.0];
//! let mut first = trainer()?;
//! first.run(&mut p, &[&data], 0.0, 13, None)?;
//! save_training(&path, &p, &first)?;
//!
//! let mut second = trainer()?;
//! let mut p = load_training(&path, &mut second)?;
//! second.run(&mut p, &[&data], second.steps() as f64 * 0.1, 17, None)?;
//! assert_eq!(p[0].to_bits(), p_straight[0].to_bits());
//! # std::fs::remove_file(&path).unwrap();
//! # Ok::<(), vle_runtime::Error>(())
//! ```

use std::fs;
use std::marker::PhantomData;
use std::path::Path;

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

use crate::error::{Error, Result};
use crate::exact::Tape;
use crate::io::atomic::write_durably;
use crate::optim::{Adam, AdamState, Optimizer, Sgd};
use crate::params::param_entry_name;
use crate::sim::state_entry_name;
use crate::train::{
    ExactConfig, ExactSnapshot, ExactTrainer, OnlineConfig, OnlineSnapshot, OnlineTrainer,
};
use crate::{Network, Scalar};

/// The value of the `format` field that marks a vle checkpoint.
pub const FORMAT: &str = "vle-checkpoint";

/// The version of the file format this build writes and reads. It changes whenever the
/// payload's structure changes; files of other versions are refused with a message saying
/// which version they are.
pub const FORMAT_VERSION: u32 = 1;

mod sealed {
    pub trait Sealed {}
    impl Sealed for f32 {}
    impl Sealed for f64 {}
}

/// The scalar types whose values checkpoints store exactly: `f32` and `f64`.
///
/// ```
/// use vle_runtime::checkpoint::CheckpointScalar;
/// assert_eq!(<f32 as CheckpointScalar>::TYPE_NAME, "f32");
/// assert_eq!(<f64 as CheckpointScalar>::TYPE_NAME, "f64");
/// ```
pub trait CheckpointScalar: Scalar + sealed::Sealed {
    /// The name written into the file (`"f32"` or `"f64"`).
    const TYPE_NAME: &'static str;
}

impl CheckpointScalar for f32 {
    const TYPE_NAME: &'static str = "f32";
}

impl CheckpointScalar for f64 {
    const TYPE_NAME: &'static str = "f64";
}

/// The complete state of an optimizer: hyper-parameters, mask and internal state.
///
/// ```
/// use vle_runtime::checkpoint::{OptimizerState, StatefulOptimizer};
/// use vle_runtime::Sgd;
/// let sgd = Sgd::new(0.1, vec![true, false]);
/// let state: OptimizerState<f64> = sgd.save_state();
/// assert_eq!(state, OptimizerState::Sgd { lr: 0.1, mask: vec![true, false] });
/// ```
#[derive(Clone, Debug, PartialEq)]
pub enum OptimizerState<T> {
    /// [`Sgd`]: no internal state.
    Sgd {
        /// Learning rate.
        lr: f64,
        /// Which parameters are updated.
        mask: Vec<bool>,
    },
    /// [`Adam`].
    Adam {
        /// Learning rate.
        lr: f64,
        /// Decay of the first moments.
        beta1: f64,
        /// Decay of the second moments.
        beta2: f64,
        /// Regulariser of the denominator.
        eps: f64,
        /// Which parameters are updated.
        mask: Vec<bool>,
        /// Moments and step count.
        state: AdamState<T>,
    },
}

impl<T> OptimizerState<T> {
    /// `"Sgd"` or `"Adam"`.
    ///
    /// ```
    /// use vle_runtime::checkpoint::OptimizerState;
    /// let s = OptimizerState::<f64>::Sgd { lr: 0.1, mask: vec![] };
    /// assert_eq!(s.kind(), "Sgd");
    /// ```
    pub fn kind(&self) -> &'static str {
        match self {
            OptimizerState::Sgd { .. } => "Sgd",
            OptimizerState::Adam { .. } => "Adam",
        }
    }

    /// The mask of updated parameters.
    ///
    /// ```
    /// use vle_runtime::checkpoint::OptimizerState;
    /// let s = OptimizerState::<f64>::Sgd { lr: 0.1, mask: vec![true] };
    /// assert_eq!(s.mask(), &[true]);
    /// ```
    pub fn mask(&self) -> &[bool] {
        match self {
            OptimizerState::Sgd { mask, .. } | OptimizerState::Adam { mask, .. } => mask,
        }
    }
}

/// An optimizer whose complete state can be saved and restored (implemented by [`Sgd`] and
/// [`Adam`]; implement it for your own optimizer to checkpoint trainers that use it).
///
/// ```
/// use vle_runtime::checkpoint::StatefulOptimizer;
/// use vle_runtime::{Adam, Optimizer};
/// let mut a = Adam::<f64>::new(0.1, vec![true]);
/// let mut p = vec![1.0];
/// a.step(&mut p, &[0.3]);
/// let mut b = Adam::<f64>::new(0.5, vec![false]);
/// b.restore_state(a.save_state()).unwrap();
/// assert_eq!((b.lr, b.steps()), (0.1, 1));
/// assert!(vle_runtime::Sgd::new(0.1, vec![true]).restore_state(a.save_state()).is_err());
/// ```
pub trait StatefulOptimizer<T>: Optimizer<T> {
    /// Everything needed to continue exactly from here.
    fn save_state(&self) -> OptimizerState<T>;
    /// Replaces hyper-parameters, mask and internal state with `state`. On error (another
    /// kind of optimizer, inconsistent lengths) nothing changes and the message says what does
    /// not fit.
    fn restore_state(&mut self, state: OptimizerState<T>) -> std::result::Result<(), String>;
}

impl<T: Scalar> StatefulOptimizer<T> for Sgd {
    fn save_state(&self) -> OptimizerState<T> {
        OptimizerState::Sgd {
            lr: self.lr,
            mask: self.mask.clone(),
        }
    }

    fn restore_state(&mut self, state: OptimizerState<T>) -> std::result::Result<(), String> {
        match state {
            OptimizerState::Sgd { lr, mask } => {
                self.lr = lr;
                self.mask = mask;
                Ok(())
            }
            other => Err(format!(
                "it holds the state of an {} optimizer, but the trainer's optimizer is Sgd",
                other.kind()
            )),
        }
    }
}

impl<T: Scalar> StatefulOptimizer<T> for Adam<T> {
    fn save_state(&self) -> OptimizerState<T> {
        OptimizerState::Adam {
            lr: self.lr,
            beta1: self.beta1,
            beta2: self.beta2,
            eps: self.eps,
            mask: self.mask.clone(),
            state: self.state(),
        }
    }

    fn restore_state(&mut self, state: OptimizerState<T>) -> std::result::Result<(), String> {
        match state {
            OptimizerState::Adam {
                lr,
                beta1,
                beta2,
                eps,
                mask,
                state,
            } => {
                let old_mask = std::mem::replace(&mut self.mask, mask);
                if let Err(e) = self.restore(state) {
                    self.mask = old_mask;
                    return Err(e.to_string());
                }
                self.lr = lr;
                self.beta1 = beta1;
                self.beta2 = beta2;
                self.eps = eps;
                Ok(())
            }
            other => Err(format!(
                "it holds the state of an {} optimizer, but the trainer's optimizer is Adam",
                other.kind()
            )),
        }
    }
}

/// The config and progress of a trainer.
#[derive(Clone, Debug, PartialEq)]
pub enum TrainerState<T> {
    /// An [`OnlineTrainer`].
    Online {
        /// Its settings.
        config: OnlineConfig,
        /// Its counters, accumulated gradient and states.
        progress: OnlineSnapshot<T>,
    },
    /// An [`ExactTrainer`].
    Exact {
        /// Its settings.
        config: ExactConfig,
        /// Its counters and states.
        progress: ExactSnapshot<T>,
    },
}

impl<T> TrainerState<T> {
    /// `"OnlineTrainer"` or `"ExactTrainer"`.
    ///
    /// ```
    /// use vle_runtime::checkpoint::TrainerState;
    /// use vle_runtime::train::{ExactSnapshot, ExactConfig};
    /// use vle_runtime::Tape;
    /// let config = ExactConfig {
    ///     dt: 0.1, beta: 1.0, window: 5, tape: Tape::Full, carry_state: true, tau_max: 10.0,
    /// };
    /// let progress = ExactSnapshot::<f64> { batch: 1, states: vec![], steps: 0, updates: 0 };
    /// assert_eq!(TrainerState::Exact { config, progress }.kind(), "ExactTrainer");
    /// ```
    pub fn kind(&self) -> &'static str {
        match self {
            TrainerState::Online { .. } => "OnlineTrainer",
            TrainerState::Exact { .. } => "ExactTrainer",
        }
    }
}

/// A trainer whose config, progress and optimizer can be saved and restored:
/// [`OnlineTrainer`] and [`ExactTrainer`] with a [`StatefulOptimizer`]. Used by
/// [`save_training`] and [`load_training`] (see the [module example](self)).
pub trait ResumableTrainer<T: CheckpointScalar> {
    /// The network trained.
    type Net: Network;
    /// Config and progress of the trainer, and the optimizer's state.
    fn save_state(&self) -> (TrainerState<T>, OptimizerState<T>);
    /// Replaces config, progress and optimizer state. On error (another kind of trainer or
    /// optimizer, another batch size, inconsistent lengths) nothing changes and the message
    /// says what does not fit.
    fn restore_state(
        &mut self,
        trainer: TrainerState<T>,
        optimizer: OptimizerState<T>,
    ) -> std::result::Result<(), String>;
}

impl<N: Network, T: CheckpointScalar, O: StatefulOptimizer<T>> ResumableTrainer<T>
    for OnlineTrainer<N, T, O>
{
    type Net = N;

    fn save_state(&self) -> (TrainerState<T>, OptimizerState<T>) {
        let trainer = TrainerState::Online {
            config: self.config.clone(),
            progress: self.snapshot(),
        };
        (trainer, self.optimizer.save_state())
    }

    fn restore_state(
        &mut self,
        trainer: TrainerState<T>,
        optimizer: OptimizerState<T>,
    ) -> std::result::Result<(), String> {
        let TrainerState::Online { config, progress } = trainer else {
            return Err(format!(
                "it holds the state of an {}, not of an OnlineTrainer",
                trainer.kind()
            ));
        };
        check_batch(self.snapshot().batch, progress.batch)?;
        let old = (self.config.clone(), self.optimizer.save_state());
        self.optimizer.restore_state(optimizer)?;
        self.config = config;
        if let Err(e) = self.restore(progress) {
            self.config = old.0;
            self.optimizer.restore_state(old.1)?;
            return Err(e.to_string());
        }
        Ok(())
    }
}

impl<N: Network, T: CheckpointScalar, O: StatefulOptimizer<T>> ResumableTrainer<T>
    for ExactTrainer<N, T, O>
{
    type Net = N;

    fn save_state(&self) -> (TrainerState<T>, OptimizerState<T>) {
        let trainer = TrainerState::Exact {
            config: self.config.clone(),
            progress: self.snapshot(),
        };
        (trainer, self.optimizer.save_state())
    }

    fn restore_state(
        &mut self,
        trainer: TrainerState<T>,
        optimizer: OptimizerState<T>,
    ) -> std::result::Result<(), String> {
        let TrainerState::Exact { config, progress } = trainer else {
            return Err(format!(
                "it holds the state of an {}, not of an ExactTrainer",
                trainer.kind()
            ));
        };
        check_batch(self.snapshot().batch, progress.batch)?;
        let old = (self.config.clone(), self.optimizer.save_state());
        self.optimizer.restore_state(optimizer)?;
        self.config = config;
        if let Err(e) = self.restore(progress) {
            self.config = old.0;
            self.optimizer.restore_state(old.1)?;
            return Err(e.to_string());
        }
        Ok(())
    }
}

fn check_batch(trainer: usize, saved: usize) -> std::result::Result<(), String> {
    if trainer == saved {
        Ok(())
    } else {
        Err(format!(
            "it was saved from a trainer with batch {saved}, but this trainer has batch \
             {trainer}; construct the trainer with batch {saved}"
        ))
    }
}

/// The contents of a checkpoint file, in memory, for network `N` and scalar type `T`.
///
/// Usually [`save_params`], [`load_params`], [`save_training`] and [`load_training`] are all
/// one needs; this type also gives the bytes of a checkpoint ([`Checkpoint::to_bytes`]) for
/// storing elsewhere than in a file.
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
/// #     fn loss<T: Scalar>(_: &[T], _: &[T], _: &[T]) -> T { T::zero() }
/// #     fn loss_adjoint<T: Scalar>(_: &[T], _: &[T], _: &[T], _: T, _: &mut [T],
/// #         _: &mut [T]) -> T { T::zero() }
/// #     fn euler_step<T: Scalar>(_: &[T], _: &mut [T], _: &[T], _: T) {}
/// #     fn euler_step_adjoint<T: Scalar>(_: &[T], _: &[T], _: &[T], _: T, _: &[T],
/// #         _: &mut [T], _: &mut [T]) {}
/// #     fn rhs<T: Scalar>(_: &[T], _: &[T], _: &[T], _: &mut [T]) {}
/// #     fn refresh_prospective<T: Scalar>(_: &[T], _: &mut [T], _: &[T]) {}
/// #     fn adjoint_rhs<T: Scalar>(_: &[T], _: &[T], _: &[T], _: &[T], _: T, _: &[T],
/// #         _: &mut [T], _: &mut [T], _: &mut [T]) {}
/// #     fn online_step<T: Scalar>(_: &[T], _: &mut [T], _: &mut [T], _: &[T], _: &[T],
/// #         _: T, _: T, _: T, _: &mut [T]) {}
/// # }
/// use vle_runtime::checkpoint::Checkpoint;
///
/// let bytes = Checkpoint::<Leak, f32>::from_params(&[0.25]).to_bytes()?;
/// let back = Checkpoint::<Leak, f32>::from_bytes(&bytes, "in memory")?;
/// assert_eq!(back.params, vec![0.25]);
/// // Another scalar type, a corrupted byte: refused with a message saying so.
/// let e = Checkpoint::<Leak, f64>::from_bytes(&bytes, "in memory").unwrap_err();
/// assert!(e.to_string().contains("f32"));
/// let mut bad = bytes.clone();
/// let i = bad.len() - 5;
/// bad[i] ^= 1;
/// assert!(Checkpoint::<Leak, f32>::from_bytes(&bad, "in memory").is_err());
/// # Ok::<(), vle_runtime::Error>(())
/// ```
pub struct Checkpoint<N: Network, T: CheckpointScalar> {
    /// The flat parameter vector, [`Network::PARAMS`] entries.
    pub params: Vec<T>,
    /// The optimizer's state, when a trainer was saved (or set by a custom training loop,
    /// with `trainer` left `None`, as `examples/mnist1d.rs` does).
    pub optimizer: Option<OptimizerState<T>>,
    /// The trainer's config and progress, when a trainer was saved.
    pub trainer: Option<TrainerState<T>>,
    _net: PhantomData<N>,
}

// By hand: derives would require `N: Clone + Debug + PartialEq`.
impl<N: Network, T: CheckpointScalar> Clone for Checkpoint<N, T> {
    fn clone(&self) -> Self {
        Checkpoint {
            params: self.params.clone(),
            optimizer: self.optimizer.clone(),
            trainer: self.trainer.clone(),
            _net: PhantomData,
        }
    }
}

impl<N: Network, T: CheckpointScalar> std::fmt::Debug for Checkpoint<N, T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Checkpoint")
            .field("network", &N::NAME)
            .field("params", &self.params)
            .field("optimizer", &self.optimizer)
            .field("trainer", &self.trainer)
            .finish()
    }
}

/// Bitwise equality of the stored values is not implied: `0.0 == -0.0`, as for `f64`.
impl<N: Network, T: CheckpointScalar + PartialEq> PartialEq for Checkpoint<N, T> {
    fn eq(&self, other: &Self) -> bool {
        self.params == other.params
            && self.optimizer == other.optimizer
            && self.trainer == other.trainer
    }
}

impl<N: Network, T: CheckpointScalar> Checkpoint<N, T> {
    /// A checkpoint of parameters alone. Example: see [`Checkpoint`].
    pub fn from_params(params: &[T]) -> Self {
        Checkpoint {
            params: params.to_vec(),
            optimizer: None,
            trainer: None,
            _net: PhantomData,
        }
    }

    /// A checkpoint of parameters, trainer and optimizer. Example: see [`save_training`].
    pub fn from_training<R: ResumableTrainer<T, Net = N>>(params: &[T], trainer: &R) -> Self {
        let (t, o) = trainer.save_state();
        Checkpoint {
            params: params.to_vec(),
            optimizer: Some(o),
            trainer: Some(t),
            _net: PhantomData,
        }
    }

    /// Puts the saved trainer and optimizer state into `trainer` and returns the parameters.
    /// `source` names the checkpoint in error messages. Nothing changes on error. Example: see
    /// [`load_training`].
    pub fn restore_into<R: ResumableTrainer<T, Net = N>>(
        self,
        trainer: &mut R,
        source: &str,
    ) -> Result<Vec<T>> {
        let bad = |what: String| Error::Checkpoint {
            path: source.to_string(),
            what,
        };
        let (Some(t), Some(o)) = (self.trainer, self.optimizer) else {
            return Err(bad(
                "it holds parameters only (written by `save_params`), no trainer or optimizer \
                 state; load it with `load_params` and start a new trainer"
                    .into(),
            ));
        };
        trainer.restore_state(t, o).map_err(bad)?;
        Ok(self.params)
    }

    /// The file's bytes (see the [format](self)). Refuses non-finite values, naming the
    /// first. Example: see [`Checkpoint`].
    pub fn to_bytes(&self) -> Result<Vec<u8>> {
        self.encode("the checkpoint being saved")
    }

    /// Reads and checks a checkpoint from its bytes; `source` names it in error messages.
    /// Example: see [`Checkpoint`].
    pub fn from_bytes(bytes: &[u8], source: &str) -> Result<Self> {
        decode::<N, T>(bytes, source)
    }

    /// Writes the checkpoint to `path` atomically ([`write_atomic`]). Example: see
    /// [`save_params`].
    pub fn save(&self, path: impl AsRef<Path>) -> Result<()> {
        let path = path.as_ref();
        let bytes = self.encode(&path.display().to_string())?;
        write_atomic(path, &bytes)
    }

    /// Reads and checks the checkpoint at `path`. Example: see [`load_params`].
    pub fn load(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        let source = path.display().to_string();
        let bytes = fs::read(path).map_err(|e| Error::Checkpoint {
            path: source.clone(),
            what: format!("cannot read it: {e}"),
        })?;
        decode::<N, T>(&bytes, &source)
    }

    fn encode(&self, source: &str) -> Result<Vec<u8>> {
        let bad = |what: String| Error::Checkpoint {
            path: source.to_string(),
            what: format!("cannot save: {what}"),
        };
        let n = N::PARAMS;
        check_vec_len("the parameter vector", n, self.params.len()).map_err(bad)?;
        let params = to_stored(&self.params, |i| {
            format!("parameter {}", param_entry_name::<N>(i))
        })
        .map_err(bad)?;
        let optimizer = match &self.optimizer {
            None => None,
            Some(o) => Some(encode_optimizer::<N, T>(o).map_err(bad)?),
        };
        let trainer = match &self.trainer {
            None => None,
            Some(t) => Some(encode_trainer::<N, T>(t).map_err(bad)?),
        };
        let payload = Payload {
            network: N::NAME.to_string(),
            layout: Layout::of::<N>(),
            scalar: T::TYPE_NAME.to_string(),
            params,
            optimizer,
            trainer,
        };
        let raw = serde_json::value::to_raw_value(&payload)
            .map_err(|e| bad(format!("cannot encode the payload: {e}")))?;
        let envelope = Envelope {
            format: FORMAT.to_string(),
            version: FORMAT_VERSION,
            checksum: checksum_text(raw.get().as_bytes()),
            payload: &raw,
        };
        let mut bytes = serde_json::to_vec(&envelope)
            .map_err(|e| bad(format!("cannot encode the file: {e}")))?;
        bytes.push(b'\n');
        Ok(bytes)
    }
}

/// Saves parameters alone to `path` (atomically: see [`write_atomic`]). Non-finite values are
/// refused, naming the entry.
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
/// #     fn loss<T: Scalar>(_: &[T], _: &[T], _: &[T]) -> T { T::zero() }
/// #     fn loss_adjoint<T: Scalar>(_: &[T], _: &[T], _: &[T], _: T, _: &mut [T],
/// #         _: &mut [T]) -> T { T::zero() }
/// #     fn euler_step<T: Scalar>(_: &[T], _: &mut [T], _: &[T], _: T) {}
/// #     fn euler_step_adjoint<T: Scalar>(_: &[T], _: &[T], _: &[T], _: T, _: &[T],
/// #         _: &mut [T], _: &mut [T]) {}
/// #     fn rhs<T: Scalar>(_: &[T], _: &[T], _: &[T], _: &mut [T]) {}
/// #     fn refresh_prospective<T: Scalar>(_: &[T], _: &mut [T], _: &[T]) {}
/// #     fn adjoint_rhs<T: Scalar>(_: &[T], _: &[T], _: &[T], _: &[T], _: T, _: &[T],
/// #         _: &mut [T], _: &mut [T], _: &mut [T]) {}
/// #     fn online_step<T: Scalar>(_: &[T], _: &mut [T], _: &mut [T], _: &[T], _: &[T],
/// #         _: T, _: T, _: T, _: &mut [T]) {}
/// # }
/// use vle_runtime::checkpoint::{load_params, save_params};
///
/// let path = std::env::temp_dir().join(format!("vle-doc-params-{}.json", std::process::id()));
/// save_params::<Leak, f64>(&path, &[0.125])?;
/// assert_eq!(load_params::<Leak, f64>(&path)?, vec![0.125]);
/// let e = save_params::<Leak, f64>(&path, &[f64::NAN]).unwrap_err();
/// assert!(e.to_string().contains("out.b[0]"));
/// # std::fs::remove_file(&path).unwrap();
/// # Ok::<(), vle_runtime::Error>(())
/// ```
pub fn save_params<N: Network, T: CheckpointScalar>(
    path: impl AsRef<Path>,
    params: &[T],
) -> Result<()> {
    Checkpoint::<N, T>::from_params(params).save(path)
}

/// Loads the parameters of a checkpoint written by [`save_params`] or [`save_training`],
/// refusing files of another network, layout, scalar type or format version and corrupted or
/// truncated files. Example: see [`save_params`].
pub fn load_params<N: Network, T: CheckpointScalar>(path: impl AsRef<Path>) -> Result<Vec<T>> {
    Ok(Checkpoint::<N, T>::load(path)?.params)
}

/// Saves parameters, trainer (config and progress) and optimizer to `path` (atomically: see
/// [`write_atomic`]). Non-finite values are refused, naming the entry. Example: see the
/// [module documentation](self).
pub fn save_training<R, T>(path: impl AsRef<Path>, params: &[T], trainer: &R) -> Result<()>
where
    T: CheckpointScalar,
    R: ResumableTrainer<T>,
{
    Checkpoint::<R::Net, T>::from_training(params, trainer).save(path)
}

/// Loads a checkpoint written by [`save_training`] into `trainer` (config, progress and
/// optimizer state are replaced) and returns the parameters. The trainer must be of the same
/// kind, with the same kind of optimizer and the same batch size; nothing changes on error.
/// Continue with `t0 = trainer.steps() as f64 * dt`. Example: see the
/// [module documentation](self).
pub fn load_training<R, T>(path: impl AsRef<Path>, trainer: &mut R) -> Result<Vec<T>>
where
    T: CheckpointScalar,
    R: ResumableTrainer<T>,
{
    let path = path.as_ref();
    Checkpoint::<R::Net, T>::load(path)?.restore_into(trainer, &path.display().to_string())
}

/// Writes `bytes` to `path` so that a crash at any moment leaves either the old file or the
/// new one: the runtime's one durable write ([`crate::io::write_atomic`], which `.npy` and
/// `.npz` files use too): the bytes go to a temporary file in the same directory
/// (`.<name>.tmp.<pid>.<n>`), which is flushed to disk (`fsync`) and renamed over `path`; then
/// the directory is flushed. On error the temporary file is removed and `path` is untouched.
/// A process killed while writing leaves its temporary file behind (never a damaged `path`);
/// such files may be deleted. Errors are [`Error::Checkpoint`].
///
/// ```
/// use vle_runtime::checkpoint::write_atomic;
/// let path = std::env::temp_dir().join(format!("vle-doc-atomic-{}.txt", std::process::id()));
/// write_atomic(&path, b"first")?;
/// write_atomic(&path, b"second")?;
/// assert_eq!(std::fs::read(&path).unwrap(), b"second");
/// # std::fs::remove_file(&path).unwrap();
/// # Ok::<(), vle_runtime::Error>(())
/// ```
pub fn write_atomic(path: impl AsRef<Path>, bytes: &[u8]) -> Result<()> {
    let path = path.as_ref();
    write_durably(path, bytes).map_err(|e| Error::Checkpoint {
        path: path.display().to_string(),
        what: if e.written() {
            e.to_string()
        } else {
            format!("cannot save: {e}")
        },
    })
}

// ---------------------------------------------------------------------------------------------
// The serialised form.

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Envelope<'a> {
    format: String,
    version: u32,
    checksum: String,
    #[serde(borrow)]
    payload: &'a RawValue,
}

/// The first look at a file: lenient, so that files of other versions get a precise message.
#[derive(Deserialize)]
struct Header {
    format: Option<serde_json::Value>,
    version: Option<serde_json::Value>,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Payload {
    network: String,
    layout: Layout,
    scalar: String,
    params: Vec<f64>,
    optimizer: Option<OptimizerRepr>,
    trainer: Option<TrainerRepr>,
}

#[derive(Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
struct Layout {
    fingerprint: String,
    params: usize,
    state: usize,
    local: usize,
    tensors: Vec<TensorRepr>,
}

#[derive(Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
struct TensorRepr {
    name: String,
    offset: usize,
    rows: usize,
    cols: usize,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "snake_case")]
enum OptimizerRepr {
    Sgd {
        lr: Hyper,
        mask: String,
    },
    Adam {
        lr: Hyper,
        beta1: Hyper,
        beta2: Hyper,
        eps: Hyper,
        mask: String,
        t: i32,
        m: Vec<f64>,
        v: Vec<f64>,
    },
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "snake_case")]
enum TrainerRepr {
    Online {
        config: OnlineConfigRepr,
        batch: usize,
        steps: usize,
        updates: usize,
        pending_steps: usize,
        pending_loss: f64,
        states: Vec<f64>,
        local: Vec<f64>,
        grad: Vec<f64>,
    },
    Exact {
        config: ExactConfigRepr,
        batch: usize,
        steps: usize,
        updates: usize,
        states: Vec<f64>,
    },
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct OnlineConfigRepr {
    dt: Hyper,
    beta: Hyper,
    gamma: Hyper,
    update_every: usize,
    tau_max: Hyper,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct ExactConfigRepr {
    dt: Hyper,
    beta: Hyper,
    window: usize,
    tape: TapeRepr,
    carry_state: bool,
    tau_max: Hyper,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "snake_case")]
enum TapeRepr {
    Full,
    Checkpoint(usize),
}

/// A hyper-parameter: a JSON number when finite, `"inf"` or `"-inf"` otherwise.
#[derive(Clone, Copy)]
struct Hyper(f64);

impl Serialize for Hyper {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        match self.0 {
            v if v.is_finite() => s.serialize_f64(v),
            v if v == f64::INFINITY => s.serialize_str("inf"),
            v if v == f64::NEG_INFINITY => s.serialize_str("-inf"),
            _ => Err(serde::ser::Error::custom("a hyper-parameter is NaN")),
        }
    }
}

impl<'de> Deserialize<'de> for Hyper {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        struct V;
        impl serde::de::Visitor<'_> for V {
            type Value = Hyper;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a number, \"inf\" or \"-inf\"")
            }
            fn visit_f64<E: serde::de::Error>(self, v: f64) -> std::result::Result<Hyper, E> {
                Ok(Hyper(v))
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> std::result::Result<Hyper, E> {
                Ok(Hyper(v as f64))
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> std::result::Result<Hyper, E> {
                Ok(Hyper(v as f64))
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> std::result::Result<Hyper, E> {
                match v {
                    "inf" => Ok(Hyper(f64::INFINITY)),
                    "-inf" => Ok(Hyper(f64::NEG_INFINITY)),
                    _ => Err(E::invalid_value(serde::de::Unexpected::Str(v), &self)),
                }
            }
        }
        d.deserialize_any(V)
    }
}

impl Layout {
    fn of<N: Network>() -> Self {
        let tensors: Vec<TensorRepr> = N::param_info()
            .iter()
            .map(|i| TensorRepr {
                name: i.name.to_string(),
                offset: i.offset,
                rows: i.rows,
                cols: i.cols,
            })
            .collect();
        let mut text = format!("params={};state={};local={}", N::PARAMS, N::STATE, N::LOCAL);
        for t in &tensors {
            text.push_str(&format!(";{}@{}:{}x{}", t.name, t.offset, t.rows, t.cols));
        }
        Layout {
            fingerprint: format!("{:016x}", fnv1a64(text.as_bytes())),
            params: N::PARAMS,
            state: N::STATE,
            local: N::LOCAL,
            tensors,
        }
    }

    /// What differs between the file's layout (`self`) and the network's, one item each.
    fn differences(&self, net: &Layout) -> Vec<String> {
        let mut d = Vec::new();
        for (what, file, ours) in [
            ("PARAMS", self.params, net.params),
            ("STATE", self.state, net.state),
            ("LOCAL", self.local, net.local),
        ] {
            if file != ours {
                d.push(format!(
                    "{what} is {file} in the file but {ours} in the network"
                ));
            }
        }
        for t in &self.tensors {
            match net.tensors.iter().find(|n| n.name == t.name) {
                None => d.push(format!("tensor `{}` is not in the network", t.name)),
                Some(n) if (n.rows, n.cols) != (t.rows, t.cols) => d.push(format!(
                    "tensor `{}` is {}×{} in the file but {}×{} in the network",
                    t.name, t.rows, t.cols, n.rows, n.cols
                )),
                Some(n) if n.offset != t.offset => d.push(format!(
                    "tensor `{}` is at offset {} in the file but {} in the network",
                    t.name, t.offset, n.offset
                )),
                Some(_) => {}
            }
        }
        for n in &net.tensors {
            if !self.tensors.iter().any(|t| t.name == n.name) {
                d.push(format!(
                    "the network's tensor `{}` is not in the file",
                    n.name
                ));
            }
        }
        if d.is_empty() {
            let names = |l: &Layout| l.tensors.iter().map(|t| t.name.clone()).collect::<Vec<_>>();
            if names(self) != names(net) {
                d.push("the tensors are in another order".into());
            } else if self.fingerprint != net.fingerprint {
                d.push(format!(
                    "the layout fingerprint is {} in the file but {} for the network",
                    self.fingerprint, net.fingerprint
                ));
            }
        }
        d
    }
}

/// FNV-1a, 64 bit.
fn fnv1a64(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in bytes {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

fn checksum_text(payload: &[u8]) -> String {
    format!("fnv1a64:{:016x}", fnv1a64(payload))
}

fn check_vec_len(what: &str, expected: usize, got: usize) -> std::result::Result<(), String> {
    if expected == got {
        Ok(())
    } else {
        Err(format!(
            "{what} has {got} entries, but {expected} were expected"
        ))
    }
}

/// Widens to f64 (exact for f32 and f64), refusing non-finite values; `name(i)` names entry i.
fn to_stored<T: CheckpointScalar>(
    v: &[T],
    name: impl Fn(usize) -> String,
) -> std::result::Result<Vec<f64>, String> {
    v.iter()
        .enumerate()
        .map(|(i, x)| {
            let x = x.to_f64();
            if x.is_finite() {
                Ok(x)
            } else {
                Err(format!(
                    "{} is {x}; JSON has no NaN or infinity, and a diverged run is not worth \
                     resuming: save an earlier state or lower the learning rate",
                    name(i)
                ))
            }
        })
        .collect()
}

/// Narrows from f64, refusing values `T` does not represent exactly.
fn from_stored<T: CheckpointScalar>(
    v: &[f64],
    name: impl Fn(usize) -> String,
) -> std::result::Result<Vec<T>, String> {
    v.iter()
        .enumerate()
        .map(|(i, &x)| {
            let y = T::from_f64(x);
            if y.to_f64().to_bits() == x.to_bits() {
                Ok(y)
            } else {
                Err(format!(
                    "{} = {x} is not a value of type {}",
                    name(i),
                    T::TYPE_NAME
                ))
            }
        })
        .collect()
}

fn hyper_out(name: &str, v: f64) -> std::result::Result<Hyper, String> {
    if v.is_nan() {
        Err(format!("the hyper-parameter `{name}` is NaN"))
    } else {
        Ok(Hyper(v))
    }
}

fn mask_text(mask: &[bool]) -> String {
    mask.iter().map(|&m| if m { '1' } else { '0' }).collect()
}

fn mask_from(text: &str, n: usize) -> std::result::Result<Vec<bool>, String> {
    check_vec_len("the optimizer's mask", n, text.len())?;
    text.bytes()
        .map(|c| match c {
            b'1' => Ok(true),
            b'0' => Ok(false),
            _ => Err("the optimizer's mask holds characters other than 0 and 1".to_string()),
        })
        .collect()
}

fn encode_optimizer<N: Network, T: CheckpointScalar>(
    o: &OptimizerState<T>,
) -> std::result::Result<OptimizerRepr, String> {
    check_vec_len("the optimizer's mask", N::PARAMS, o.mask().len())?;
    Ok(match o {
        OptimizerState::Sgd { lr, mask } => OptimizerRepr::Sgd {
            lr: hyper_out("lr", *lr)?,
            mask: mask_text(mask),
        },
        OptimizerState::Adam {
            lr,
            beta1,
            beta2,
            eps,
            mask,
            state,
        } => OptimizerRepr::Adam {
            lr: hyper_out("lr", *lr)?,
            beta1: hyper_out("beta1", *beta1)?,
            beta2: hyper_out("beta2", *beta2)?,
            eps: hyper_out("eps", *eps)?,
            mask: mask_text(mask),
            t: state.t,
            m: to_stored(&state.m, |i| {
                format!("Adam's first moment of {}", param_entry_name::<N>(i))
            })?,
            v: to_stored(&state.v, |i| {
                format!("Adam's second moment of {}", param_entry_name::<N>(i))
            })?,
        },
    })
}

fn decode_optimizer<N: Network, T: CheckpointScalar>(
    o: OptimizerRepr,
) -> std::result::Result<OptimizerState<T>, String> {
    Ok(match o {
        OptimizerRepr::Sgd { lr, mask } => OptimizerState::Sgd {
            lr: lr.0,
            mask: mask_from(&mask, N::PARAMS)?,
        },
        OptimizerRepr::Adam {
            lr,
            beta1,
            beta2,
            eps,
            mask,
            t,
            m,
            v,
        } => {
            let n = if m.is_empty() && v.is_empty() {
                0
            } else {
                N::PARAMS
            };
            check_vec_len("Adam's first moments", n, m.len())?;
            check_vec_len("Adam's second moments", n, v.len())?;
            if t < 0 {
                return Err(format!("Adam's step count is {t} (negative)"));
            }
            OptimizerState::Adam {
                lr: lr.0,
                beta1: beta1.0,
                beta2: beta2.0,
                eps: eps.0,
                mask: mask_from(&mask, N::PARAMS)?,
                state: AdamState {
                    m: from_stored(&m, |i| {
                        format!("Adam's first moment of {}", param_entry_name::<N>(i))
                    })?,
                    v: from_stored(&v, |i| {
                        format!("Adam's second moment of {}", param_entry_name::<N>(i))
                    })?,
                    t,
                },
            }
        }
    })
}

fn sample_entry<N: Network>(what: &str, width: usize, i: usize) -> String {
    let (b, k) = (i / width.max(1), i % width.max(1));
    match what {
        "state" => format!("the state {} of sample {b}", state_entry_name::<N>(k)),
        _ => format!("the local state [{k}] of sample {b}"),
    }
}

fn encode_trainer<N: Network, T: CheckpointScalar>(
    t: &TrainerState<T>,
) -> std::result::Result<TrainerRepr, String> {
    Ok(match t {
        TrainerState::Online { config, progress } => {
            let b = progress.batch;
            check_vec_len("the network states", b * N::STATE, progress.states.len())?;
            check_vec_len("the local states", b * N::LOCAL, progress.local.len())?;
            check_vec_len("the accumulated gradient", N::PARAMS, progress.grad.len())?;
            if !progress.pending_loss.is_finite() {
                return Err(format!(
                    "the accumulated loss is {}; JSON has no NaN or infinity",
                    progress.pending_loss
                ));
            }
            TrainerRepr::Online {
                config: OnlineConfigRepr {
                    dt: hyper_out("dt", config.dt)?,
                    beta: hyper_out("beta", config.beta)?,
                    gamma: hyper_out("gamma", config.gamma)?,
                    update_every: config.update_every,
                    tau_max: hyper_out("tau_max", config.tau_max)?,
                },
                batch: b,
                steps: progress.steps,
                updates: progress.updates,
                pending_steps: progress.pending_steps,
                pending_loss: progress.pending_loss,
                states: to_stored(&progress.states, |i| {
                    sample_entry::<N>("state", N::STATE, i)
                })?,
                local: to_stored(&progress.local, |i| sample_entry::<N>("local", N::LOCAL, i))?,
                grad: to_stored(&progress.grad, |i| {
                    format!("the accumulated gradient of {}", param_entry_name::<N>(i))
                })?,
            }
        }
        TrainerState::Exact { config, progress } => {
            let b = progress.batch;
            check_vec_len("the network states", b * N::STATE, progress.states.len())?;
            TrainerRepr::Exact {
                config: ExactConfigRepr {
                    dt: hyper_out("dt", config.dt)?,
                    beta: hyper_out("beta", config.beta)?,
                    window: config.window,
                    tape: match config.tape {
                        Tape::Full => TapeRepr::Full,
                        Tape::Checkpoint(k) => TapeRepr::Checkpoint(k),
                    },
                    carry_state: config.carry_state,
                    tau_max: hyper_out("tau_max", config.tau_max)?,
                },
                batch: b,
                steps: progress.steps,
                updates: progress.updates,
                states: to_stored(&progress.states, |i| {
                    sample_entry::<N>("state", N::STATE, i)
                })?,
            }
        }
    })
}

fn decode_trainer<N: Network, T: CheckpointScalar>(
    t: TrainerRepr,
) -> std::result::Result<TrainerState<T>, String> {
    Ok(match t {
        TrainerRepr::Online {
            config,
            batch,
            steps,
            updates,
            pending_steps,
            pending_loss,
            states,
            local,
            grad,
        } => {
            let config = OnlineConfig {
                dt: config.dt.0,
                beta: config.beta.0,
                gamma: config.gamma.0,
                update_every: config.update_every,
                tau_max: config.tau_max.0,
            };
            config
                .validate()
                .map_err(|e| format!("the saved trainer config is invalid: {e}"))?;
            check_vec_len("the network states", batch * N::STATE, states.len())?;
            check_vec_len("the local states", batch * N::LOCAL, local.len())?;
            check_vec_len("the accumulated gradient", N::PARAMS, grad.len())?;
            if pending_steps >= config.update_every {
                return Err(format!(
                    "{pending_steps} steps are pending, but updates happen every {} steps",
                    config.update_every
                ));
            }
            TrainerState::Online {
                config,
                progress: OnlineSnapshot {
                    batch,
                    states: from_stored(&states, |i| sample_entry::<N>("state", N::STATE, i))?,
                    local: from_stored(&local, |i| sample_entry::<N>("local", N::LOCAL, i))?,
                    grad: from_stored(&grad, |i| {
                        format!("the accumulated gradient of {}", param_entry_name::<N>(i))
                    })?,
                    steps,
                    updates,
                    pending_loss,
                    pending_steps,
                },
            }
        }
        TrainerRepr::Exact {
            config,
            batch,
            steps,
            updates,
            states,
        } => {
            let config = ExactConfig {
                dt: config.dt.0,
                beta: config.beta.0,
                window: config.window,
                tape: match config.tape {
                    TapeRepr::Full => Tape::Full,
                    TapeRepr::Checkpoint(k) => Tape::Checkpoint(k),
                },
                carry_state: config.carry_state,
                tau_max: config.tau_max.0,
            };
            config
                .validate()
                .map_err(|e| format!("the saved trainer config is invalid: {e}"))?;
            check_vec_len("the network states", batch * N::STATE, states.len())?;
            TrainerState::Exact {
                config,
                progress: ExactSnapshot {
                    batch,
                    states: from_stored(&states, |i| sample_entry::<N>("state", N::STATE, i))?,
                    steps,
                    updates,
                },
            }
        }
    })
}

/// Describes a JSON error of a file that could not be read completely. A file that is the
/// beginning of a JSON text (every byte fits the grammar, the text is not finished) is
/// reported as truncated, whatever serde_json's error: it stops at different places for a cut
/// inside a number, a literal or an escape.
fn json_problem(e: &serde_json::Error, bytes: &[u8]) -> String {
    use serde_json::error::Category;
    let len = bytes.len();
    if e.classify() == Category::Eof || json_cut_short(bytes) {
        return format!(
            "the file is truncated: it ends after {len} bytes in the middle of the checkpoint \
             (an interrupted copy or write?)"
        );
    }
    match e.classify() {
        Category::Syntax | Category::Eof => format!(
            "the file is corrupted or not a vle checkpoint: invalid JSON at line {} column {}",
            e.line(),
            e.column()
        ),
        Category::Data | Category::Io => {
            format!("the file is not a vle checkpoint or is corrupted: {e}")
        }
    }
}

/// Why [`JsonPrefix`] stopped.
enum Stop {
    /// The bytes ended inside the text.
    End,
    /// A byte does not fit the grammar (or the nesting is deeper than serde_json reads).
    Invalid,
}

/// Whether `bytes` is a JSON text cut short: every byte fits the grammar (RFC 8259) and the
/// text is unfinished. Nesting deeper than serde_json's limit (128) counts as invalid.
fn json_cut_short(bytes: &[u8]) -> bool {
    let mut p = JsonPrefix { b: bytes, i: 0 };
    match p.value(0) {
        Err(Stop::End) => true,
        Err(Stop::Invalid) => false,
        // A complete value (a number at the very end may also be unfinished, but a
        // checkpoint is an object, so a bare number is no checkpoint cut short).
        Ok(()) => false,
    }
}

/// A recogniser of JSON prefixes over `b`, at byte `i`.
struct JsonPrefix<'a> {
    b: &'a [u8],
    i: usize,
}

impl JsonPrefix<'_> {
    fn peek(&mut self) -> Result<u8, Stop> {
        while let Some(&c) = self.b.get(self.i) {
            if !matches!(c, b' ' | b'\t' | b'\n' | b'\r') {
                return Ok(c);
            }
            self.i += 1;
        }
        Err(Stop::End)
    }

    fn next_byte(&mut self) -> Result<u8, Stop> {
        let c = *self.b.get(self.i).ok_or(Stop::End)?;
        self.i += 1;
        Ok(c)
    }

    fn value(&mut self, depth: usize) -> Result<(), Stop> {
        if depth > 128 {
            return Err(Stop::Invalid);
        }
        match self.peek()? {
            b'{' => self.container(depth, b'}', true),
            b'[' => self.container(depth, b']', false),
            b'"' => self.string(),
            b'-' | b'0'..=b'9' => self.number(),
            b't' => self.literal(b"true"),
            b'f' => self.literal(b"false"),
            b'n' => self.literal(b"null"),
            _ => Err(Stop::Invalid),
        }
    }

    /// An object (`keyed`) or array from its opening bracket.
    fn container(&mut self, depth: usize, close: u8, keyed: bool) -> Result<(), Stop> {
        self.i += 1;
        if self.peek()? == close {
            self.i += 1;
            return Ok(());
        }
        loop {
            if keyed {
                if self.peek()? != b'"' {
                    return Err(Stop::Invalid);
                }
                self.string()?;
                if self.peek()? != b':' {
                    return Err(Stop::Invalid);
                }
                self.i += 1;
            }
            self.value(depth + 1)?;
            match self.peek()? {
                b',' => self.i += 1,
                c if c == close => {
                    self.i += 1;
                    return Ok(());
                }
                _ => return Err(Stop::Invalid),
            }
        }
    }

    fn string(&mut self) -> Result<(), Stop> {
        self.i += 1;
        loop {
            match self.next_byte()? {
                b'"' => return Ok(()),
                b'\\' => match self.next_byte()? {
                    b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't' => {}
                    b'u' => {
                        for _ in 0..4 {
                            if !self.next_byte()?.is_ascii_hexdigit() {
                                return Err(Stop::Invalid);
                            }
                        }
                    }
                    _ => return Err(Stop::Invalid),
                },
                c if c < 0x20 => return Err(Stop::Invalid),
                _ => {}
            }
        }
    }

    /// `-? (0 | [1-9][0-9]*) (. [0-9]+)? ([eE] [+-]? [0-9]+)?`; the end of the bytes inside
    /// it is [`Stop::End`] (the number may go on).
    fn number(&mut self) -> Result<(), Stop> {
        let digits = |p: &mut Self, at_least_one: bool| -> Result<(), Stop> {
            let start = p.i;
            while let Some(c) = p.b.get(p.i) {
                if !c.is_ascii_digit() {
                    return if at_least_one && p.i == start {
                        Err(Stop::Invalid)
                    } else {
                        Ok(())
                    };
                }
                p.i += 1;
            }
            Err(Stop::End)
        };
        if self.b[self.i] == b'-' {
            self.i += 1;
        }
        match self.next_byte()? {
            b'0' => {}
            b'1'..=b'9' => digits(self, false)?,
            _ => return Err(Stop::Invalid),
        }
        if self.b.get(self.i) == Some(&b'.') {
            self.i += 1;
            digits(self, true)?;
        }
        if matches!(self.b.get(self.i), Some(b'e' | b'E')) {
            self.i += 1;
            if matches!(self.b.get(self.i), Some(b'+' | b'-')) {
                self.i += 1;
            }
            digits(self, true)?;
        }
        match self.b.get(self.i) {
            None => Err(Stop::End),
            Some(_) => Ok(()),
        }
    }

    fn literal(&mut self, word: &[u8]) -> Result<(), Stop> {
        for &w in word {
            if self.next_byte()? != w {
                return Err(Stop::Invalid);
            }
        }
        Ok(())
    }
}

fn decode<N: Network, T: CheckpointScalar>(bytes: &[u8], source: &str) -> Result<Checkpoint<N, T>> {
    let bad = |what: String| Error::Checkpoint {
        path: source.to_string(),
        what,
    };
    if bytes.iter().all(|b| b.is_ascii_whitespace()) {
        return Err(bad(format!(
            "the file is truncated: it holds no checkpoint ({} bytes{}; an interrupted write \
             or copy?)",
            bytes.len(),
            if bytes.is_empty() { "" } else { ", all blank" }
        )));
    }
    let header: Header = serde_json::from_slice(bytes).map_err(|e| bad(json_problem(&e, bytes)))?;
    match &header.format {
        Some(serde_json::Value::String(f)) if f == FORMAT => {}
        Some(other) => {
            return Err(bad(format!(
                "it is not a vle checkpoint: its `format` is {other}, not \"{FORMAT}\""
            )))
        }
        None => {
            return Err(bad(format!(
                "it is not a vle checkpoint: it has no `format` field (\"{FORMAT}\")"
            )))
        }
    }
    match header.version.as_ref().and_then(|v| v.as_u64()) {
        Some(v) if v == u64::from(FORMAT_VERSION) => {}
        Some(v) if v > u64::from(FORMAT_VERSION) => {
            return Err(bad(format!(
                "it has checkpoint format version {v}, newer than this build of vle reads \
                 (version {FORMAT_VERSION}); load it with a newer vle"
            )))
        }
        Some(v) => {
            return Err(bad(format!(
                "it has checkpoint format version {v}, which this build of vle no longer \
                 reads (it reads version {FORMAT_VERSION}); load it with the vle that wrote it"
            )))
        }
        None => {
            return Err(bad(
                "its format version is missing or not a whole number; the file is corrupted".into(),
            ))
        }
    }
    let envelope: Envelope = serde_json::from_slice(bytes)
        .map_err(|e| bad(format!("its envelope is malformed (corrupted file?): {e}")))?;
    let computed = checksum_text(envelope.payload.get().as_bytes());
    if envelope.checksum != computed {
        return Err(bad(format!(
            "checksum mismatch: the file says {} but its contents hash to {computed}; the file \
             is corrupted",
            envelope.checksum
        )));
    }
    let payload: Payload = serde_json::from_str(envelope.payload.get()).map_err(|e| {
        bad(format!(
            "its contents do not match checkpoint format version {FORMAT_VERSION}: {e}"
        ))
    })?;
    if payload.scalar != T::TYPE_NAME {
        return Err(bad(format!(
            "it holds {} values, but is being loaded as {}; load it with the scalar type it \
             was saved with",
            payload.scalar,
            T::TYPE_NAME
        )));
    }
    if payload.network != N::NAME {
        return Err(bad(format!(
            "it was saved from network `{}`, not `{}`",
            payload.network,
            N::NAME
        )));
    }
    let diffs = payload.layout.differences(&Layout::of::<N>());
    if !diffs.is_empty() {
        return Err(bad(format!(
            "the layout of network `{}` differs from the one it was saved with (was the \
             declaration changed?): {}",
            N::NAME,
            diffs.join("; ")
        )));
    }
    check_vec_len("the parameter vector", N::PARAMS, payload.params.len()).map_err(bad)?;
    let params = from_stored(&payload.params, |i| {
        format!("parameter {}", param_entry_name::<N>(i))
    })
    .map_err(bad)?;
    let optimizer = payload
        .optimizer
        .map(decode_optimizer::<N, T>)
        .transpose()
        .map_err(bad)?;
    let trainer = payload
        .trainer
        .map(decode_trainer::<N, T>)
        .transpose()
        .map_err(bad)?;
    // An optimizer without a trainer is a custom training loop's state; a trainer without its
    // optimizer cannot be restored.
    if trainer.is_some() && optimizer.is_none() {
        return Err(bad(
            "it holds a trainer without its optimizer; the file is corrupted".into(),
        ));
    }
    Ok(Checkpoint {
        params,
        optimizer,
        trainer,
        _net: PhantomData,
    })
}

#[cfg(test)]
mod tests {
    use super::json_cut_short;

    #[test]
    fn json_prefixes_are_told_from_invalid_json() {
        let text =
            br#" {"a": [1, -2.5e-3, 0, true, false, null, "x\"\u00e9\n"], "b": {}, "c": []} "#;
        // Every proper prefix of a JSON text (after its first byte) is a text cut short; the
        // whole text is not.
        for k in 1..text.trim_ascii_end().len() {
            assert!(
                json_cut_short(&text[..k]),
                "{:?}",
                std::str::from_utf8(&text[..k])
            );
        }
        assert!(!json_cut_short(text));
        for bad in [
            &br#"{"a": 1]"#[..],
            br#"{"a" 1"#,
            br#"{1: 2"#,
            br#"[01"#,
            br#"[1.e"#,
            br#"[-x"#,
            br#"[tru3"#,
            br#"["\q"#,
            br#"["\u12g"#,
            b"[\"a\x01",
            br#"{"a": 1} x"#,
            br#"}"#,
        ] {
            assert!(!json_cut_short(bad), "{:?}", std::str::from_utf8(bad));
        }
        // Deeper than serde_json reads: invalid, not truncated.
        assert!(!json_cut_short(&[b'['; 200]));
        assert!(json_cut_short(&[b'['; 100]));
    }
}
