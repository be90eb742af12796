//! The random cases of a check: seeds, parameters, stimuli, and the local rule's gradient
//! over a case.

use vle_runtime::params::init_params;
use vle_runtime::{Network, ParamKind, Rng, Signal};

use crate::targets::{case_signal_of_kind, target_kinds, CaseSignal};

/// Seed of case `case` of a check with base seed `seed` (SplitMix64 increment, so that
/// neighbouring base seeds do not share cases).
pub fn case_seed(seed: u64, case: usize) -> u64 {
    let mut z = seed.wrapping_add((case as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15));
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// The random parameters of a case (see [`Check`](super::Check)).
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

/// The random input and target of a case with the default frequency band (see [`Check`](super::Check)).
pub fn case_signal<N: Network>(seed: u64) -> CaseSignal {
    case_signal_in_band::<N>(seed, (0.1, 2.0))
}

/// The random input and target of a case, frequencies uniform in `band` (cycles per unit
/// time), targets of the first family valid for the declared loss
/// ([`crate::targets::target_kinds`]; a check also makes sure the loss is finite with them,
/// see [`crate::targets::choose_targets`]).
pub fn case_signal_in_band<N: Network>(seed: u64, band: (f64, f64)) -> CaseSignal {
    case_signal_of_kind::<N>(seed, band, target_kinds::<N>()[0])
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
