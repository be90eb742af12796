//! Runtime of vle: what generated networks run on.
//!
//! Generated code refers to this crate through the `vle` facade (`::vle::Scalar`,
//! `::vle::Network`, ...).

pub mod network;
pub mod scalar;

pub use network::{Derivation, LayerInfo, Network, ParamInfo, ParamKind};
pub use scalar::Scalar;
