//! # vle-verify
//!
//! Independent checks of what `vle_model!` generates (`vle::_theory` §4–§7): for *your* model,
//! whether the derived gradients are right, and how closely the local learning rules follow
//! the exact gradient. One test in your CI:
//!
//! ```
//! use vle_runtime::Network;
//!
//! /// Checks any network declared with `vle_model!`: call `verify_model::<MyNet>()` in a
//! /// `#[test]`.
//! fn verify_model<N: Network>() {
//!     let report = vle_verify::check::<N>().cases(3).run(); // panics with diagnostics
//!     println!("{report}"); // aligned table per case; `report.to_json()` for machines
//! }
//! ```
//!
//! ## The references (none calls generated derivative code)
//!
//! The references call only the *forward* kernels of a network ([`Network::euler_step`],
//! [`Network::loss`], [`Network::rhs`], [`Network::refresh_prospective`],
//! [`Network::output`]); never `euler_step_adjoint`, `loss_adjoint`, `adjoint_rhs` or
//! `online_step`, except where that code is the thing being checked.
//!
//! 1. [`reference::ForwardReference`]: the declared ODEs solved by Dopri5 at tight tolerance
//!    ([`ode`], rtol 1e-12), against which the generated Euler forward must converge at first
//!    order.
//! 2. [`reference::fd_ode_gradient`]: fourth-order central finite differences of the
//!    continuous loss L = β∫ℓ dt (forward and quadrature solved together by Dopri5), the step
//!    on each parameter's own scale (relative to τ for a time constant), with the estimate of
//!    their error (Richardson truncation, solver noise measured by tolerance scaling).
//! 3. [`reference::adjoint_reference`]: the standard ODE adjoint integrated backwards (in
//!    reversed time, Dopri5), Jacobian-transpose products by forward-mode dual numbers through
//!    `rhs` and through the loss of the continuous state.
//! 4. [`dual`]: forward-mode dual numbers through the generated Euler step: the exact
//!    discrete gradient.
//!
//! ## The checks and their tolerances
//!
//! | check | tolerance | why |
//! |---|---|---|
//! | generated exact discrete gradient (BPTT) vs (4) | 1e-9 relative | both exact, differ by rounding only |
//! | generated Euler forward vs (1) | order 1 ± [`check::EULER_ORDER_BAND`] | explicit Euler is first order |
//! | (3) vs (2) | per entry [`check::SAFETY`] × the estimated errors of both | validates the references; both errors are estimated, not assumed, so a stiff network (τ = dt) passes |
//! | generated discrete gradient vs (3) | order 1 ± 0.2 | the discrete loss is an O(dt) quadrature of the continuous one |
//! | generated continuous adjoint (RK4) vs (3) | order 4 ± [`check::RK4_ORDER_BAND`], or ≤ [`check::CONVERGENCE_FLOOR`]·rtol | RK4 is fourth order until it reaches the reference's accuracy |
//! | optional: generated continuous adjoint (RK4) vs finite differences of a finer RK4 loss | 1e-5 relative | at a step where the sweep's Richardson estimate is below a tenth of that |
//! | local rule vs exact gradient | cosine reported; asserted with [`Check::min_cosine`] | `vle::_theory` §5: exact only for LE units or ω·τ ≪ 1 |
//!
//! Orders are measured on three step sizes dt/m, dt/2m, dt/4m over the same window (m makes
//! the first ≤ τ_min/8), halving further (up to 6 step sizes) while a case is still
//! pre-asymptotic. Like is compared with like: the generated gradient at dt only with the
//! exact gradient of the same discrete system (dual numbers), the continuous references only
//! at steps that resolve the fastest time constant (the Euler system differs from the
//! continuous one by O(dt/τ)). The references of the continuous problem need
//! [`Network::CONTINUOUS`] (networks with recurrent projections have only the discrete
//! system: those checks are skipped by default, listed in [`Report::skipped`], and refused
//! when asked for).
//!
//! The random targets suit the declared loss ([`targets`]: probability vectors for
//! `cross_entropy`). A network that learns nothing, or whose exact gradient is zero
//! everywhere, is refused ([`FailureKind::NothingToCheck`]). Reports never print `NaN` or
//! `inf`: an undefined number is `n/a`/`—` with its reason (`null` and a `…_note` in JSON).
//!
//! A failing check names the model, the tensor and entry, both numbers, the relative error,
//! the tolerance and the seed that reproduces it, e.g.
//!
//! ```text
//! vle-verify: LagNet: exact discrete gradient (backward sweep) vs dual-number reference: at
//! h2.tau_r[1]: generated 8.18…e-2, reference 8.18…e-2, relative error 1.0e-6 (…) > tolerance
//! 1e-9 (case 0, seed 42, case seed …; reproduce with the same settings and .seed(42).cases(1))
//! ```
//!
//! ## The check API
//!
//! [`check()`] returns a builder ([`Check`]). Random cases are drawn from a seed; settings:
//!
//! - [`Check::seed`], [`Check::cases`] (or the environment variable `VLE_VERIFY_CASES` for a
//!   soak), [`Check::steps`], [`Check::dt`], [`Check::beta`], [`Check::frequencies`];
//! - [`Check::tolerance`] (exact gradient), [`Check::min_cosine`] (assert the local rule),
//!   [`Check::max_entries`] (sampled entries of large tensors);
//! - [`Check::ode_forward`], [`Check::ode_adjoint`] (on by default for continuous networks,
//!   the adjoint one when cheap: see [`check::ADJOINT_WORK_LIMIT`]), [`Check::ode_tolerance`],
//!   [`Check::reference_tolerance`] (a floor; default: the estimates alone),
//!   [`Check::fd_entries`], [`Check::levels`],
//!   [`Check::max_levels`], [`Check::convergence_ratio`];
//! - [`Check::continuous`]: the older RK4-against-RK4 check of [`fd`].
//!
//! [`Check::run`] panics with the diagnostics, [`Check::try_run`] returns a [`Failure`]
//! (with [`FailureKind`] and the report). [`Check::run_on`] / [`Check::try_run_on`] check a
//! case of your choosing, e.g. a stimulus from [`signals`]:
//!
//! ```
//! use vle_runtime::Network;
//! use vle_verify::signals::{Channel, Stimulus, Wave};
//!
//! fn verify_on_a_step<N: Network>(p: &[f64]) {
//!     let step = Channel {
//!         offset: 0.0,
//!         waves: vec![Wave::Step { amplitude: 1.0, at: 0.5, width: 0.1 }],
//!     };
//!     let noise = Channel {
//!         offset: 0.0,
//!         waves: vec![Wave::Noise { amplitude: 0.3, correlation: 0.2, seed: 1 }],
//!     };
//!     let stimulus = Stimulus {
//!         inputs: vec![step; N::INPUT],
//!         targets: vec![noise; N::OUTPUT],
//!     };
//!     let report = vle_verify::check::<N>()
//!         .dt(0.01)
//!         .steps(150)
//!         .run_on(p, &stimulus);
//!     assert!(report.worst_relative_error() <= 1e-9);
//!     if let Some(q) = report.worst_reference_ratio() {
//!         assert!(q <= 1.0); // the two continuous references agree within their estimates
//!     }
//!     println!("{}", report.to_json());
//! }
//! ```
//!
//! The [`Report`] has one [`CaseReport`] per case: per tensor ([`TensorReport`]) the exact
//! comparison, the local-rule cosine, the reference comparison; per case the
//! [`OdeReport`] with the errors and observed orders at every step size. Summaries:
//! [`Report::worst_relative_error`], [`Report::worst_reference_error`],
//! [`Report::worst_reference_ratio`], [`Report::worst_reference_estimate`],
//! [`Report::order_range`], [`Report::min_cosine`], [`Report::tensor_min_cosine`].
//!
//! With the facade crate `vle` (feature `verify`, on by default) this crate is `vle::verify`.
//! The root crate's `tests/verify.rs` runs it on the models of `tests/models`,
//! `tests/properties.rs` runs property tests (proptest) over the zoo of `tests/zoo`, and
//! `examples/verify_gradients.rs` checks every model and prints a JSON summary.
//!
//! ## Modules
//!
//! - [`check`](mod@check): the builder; [`report`]: comparison, table, JSON; [`targets`]:
//!   targets valid for the declared loss.
//! - [`dual`], [`fd`]: references of the discrete problem (and the older RK4 one).
//! - [`reference`](mod@reference): the Dopri5 references of the continuous problem; [`ode`]: the one
//!   wrapper around `ode_solvers` (forward-only Dopri5, sparse output at a grid; the
//!   library's traps and their regression tests are described there); [`signals`]: smooth
//!   stimuli (sines, smoothed steps, smooth noise).
//!
//! [`Network::euler_step`]: vle_runtime::Network::euler_step
//! [`Network::loss`]: vle_runtime::Network::loss
//! [`Network::rhs`]: vle_runtime::Network::rhs
//! [`Network::refresh_prospective`]: vle_runtime::Network::refresh_prospective
//! [`Network::output`]: vle_runtime::Network::output
//! [`Network::CONTINUOUS`]: vle_runtime::Network::CONTINUOUS

#![warn(missing_docs)]

pub mod check;
pub mod dual;
pub mod fd;
pub mod ode;
pub mod reference;
mod render;
pub mod report;
pub mod signals;
pub mod targets;

pub use check::{check, Check, Failure, FailureKind};
pub use ode::Tolerance;
pub use report::{Bounded, CaseReport, Comparison, OdeReport, Report, TensorReport};
