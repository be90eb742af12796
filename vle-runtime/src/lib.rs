//! Runtime of vle: what generated networks run on.
//!
//! Generated code refers to this crate through the `vle` facade (`::vle::Scalar`,
//! `::vle::Network`, ...).
//!
//! - [`network`], [`scalar`]: the contract with generated code.
//! - [`model`]: typed, validated views (`Params`, `State`, `Gradient`) of the flat vectors.
//! - [`params`]: initialisation, validation and clamping of the flat parameter vector.
//! - [`sim`]: forward simulation (Euler reference scheme or RK4 on the continuous system).
//! - [`exact`]: exact discrete gradients (backpropagation through the Euler steps).
//! - [`continuous`]: the continuous adjoint sweep of `vle::_theory` §4.
//! - [`parallel`]: a batch split over cores (rayon).
//! - [`train`]: online training with the local rule, and training with exact gradients.
//! - [`checkpoint`]: saving and loading parameters, optimizer and trainer state to resume runs.
//! - [`signal`], [`optim`], [`rng`], [`error`]: inputs, optimisers, random numbers, errors.

#![warn(missing_docs)]

pub mod checkpoint;
pub mod continuous;
pub mod data;
pub mod error;
pub mod exact;
pub mod io;
pub mod kernels;
pub mod model;
pub mod network;
pub mod optim;
pub mod parallel;
pub mod params;
pub mod rng;
pub mod scalar;
pub mod signal;
pub mod sim;
pub mod train;

pub use checkpoint::{load_params, load_training, save_params, save_training};
pub use continuous::{continuous_adjoint, AdjointSweep};
pub use error::{Error, Result};
pub use exact::{batch_gradient, discrete_loss, exact_gradient, Bptt, Tape, Window};
pub use model::{Gradient, Params, State};
pub use network::{Derivation, LayerInfo, Network, ParamInfo, ParamKind};
pub use optim::{Adam, Optimizer, ReduceLrOnPlateau, Sgd};
pub use parallel::ParallelOnline;
pub use params::{init_params, validate_params};
pub use rng::Rng;
pub use scalar::Scalar;
pub use signal::{FnSignal, HeldSequence, Signal, Sines, SumOfSines};
pub use sim::{Record, Scheme, Simulator};
pub use train::{ExactConfig, ExactTrainer, History, OnlineConfig, OnlineTrainer, Progress};
