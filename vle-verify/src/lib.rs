//! # vle-verify
//!
//! Independent checks of what `vle_model!` generates (THEORY.md §6–§7): the exact discrete
//! gradient (backpropagation through the Euler steps) against a forward-mode dual-number
//! reference, the local learning rule against the exact gradient (cosine similarity), and
//! optionally the continuous adjoint against finite differences of the continuous loss.
//!
//! The references call only the *forward* kernels of a network ([`Network::euler_step`],
//! [`Network::loss`], [`Network::rhs`], [`Network::refresh_prospective`],
//! [`Network::output`]); they never call the generated derivative code
//! (`euler_step_adjoint`, `loss_adjoint`, `adjoint_rhs`, `online_step`), except where that
//! code is the thing being checked.
//!
//! - [`check()`]: the builder that draws random cases and runs all checks, returning a
//!   [`Report`] (or panicking / returning a [`Failure`] with diagnostics that name the
//!   model, tensor, entry, both numbers, the relative error, the tolerance and the seed).
//! - [`dual`]: the forward-mode reference of the discrete gradient.
//! - [`fd`]: central finite differences of the discrete and the continuous loss.
//! - [`report`]: per-tensor comparison, the terminal table and JSON.
//!
//! With the facade crate `vle` (feature `verify`, on by default) this crate is `vle::verify`:
//!
//! ```
//! use vle_runtime::Network;
//!
//! /// Checks any network declared with `vle_model!` (e.g. `verify_model::<LagNet>()`).
//! fn verify_model<N: Network>() {
//!     let report = vle_verify::check::<N>()
//!         .seed(7)
//!         .cases(3)
//!         .steps(200)
//!         .dt(0.01)
//!         .run(); // panics with the diagnostics when a generated gradient is wrong
//!     assert!(report.worst_relative_error() <= 1e-9);
//!     println!("{report}"); // aligned table; `report.to_json()` for machines
//!     println!("local rule: min cosine {:.3}", report.min_cosine());
//! }
//! ```
//!
//! The root crate's `tests/verify.rs` runs it on the LagNet of THEORY.md §8. Set
//! `VLE_VERIFY_CASES` to run many more cases (a soak) without editing code.
//!
//! [`Network::euler_step`]: vle_runtime::Network::euler_step
//! [`Network::loss`]: vle_runtime::Network::loss
//! [`Network::rhs`]: vle_runtime::Network::rhs
//! [`Network::refresh_prospective`]: vle_runtime::Network::refresh_prospective
//! [`Network::output`]: vle_runtime::Network::output

pub mod check;
pub mod dual;
pub mod fd;
pub mod report;

pub use check::{check, Check, Failure, FailureKind};
pub use report::{CaseReport, Comparison, Report, TensorReport};
