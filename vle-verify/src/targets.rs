//! Targets valid for the declared loss, and the random stimulus of a case.
//!
//! The gradients are checked for any target, but a target outside the loss' domain makes
//! the check report nonsense (a cross-entropy below zero) or fail on a correct model (a loss
//! that is not finite). So the random targets of a case follow the loss the network declares
//! ([`loss_kind`]):
//!
//! - `mse(out.r, target)`: any real target — sums of sines ([`TargetKind::Signed`]);
//! - `cross_entropy(out.r, target)`: −Σᵢ yᵢ ln softmax(r)ᵢ is a cross-entropy only for a
//!   probability vector y (yᵢ ≥ 0, Σᵢ yᵢ = 1; with any other y it is unbounded below) — the
//!   softmax of sums of sines times [`DISTRIBUTION_GAIN`]: a smooth class that switches over
//!   time ([`TargetKind::Distribution`]);
//! - a user `sum(...)` loss (and a hand-written network): the first of those two kinds under
//!   which the loss is finite at every step of the case's window ([`choose_targets`]).

use vle_runtime::{Network, Rng, Signal, Sines};

use crate::signals::softmax_in_place;

/// The loss a network declares.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LossKind {
    /// `mse(out.r, target)`: ½|r − y|².
    Mse,
    /// `cross_entropy(out.r, target)`: −Σᵢ yᵢ ln softmax(r)ᵢ.
    CrossEntropy,
    /// `sum(<expression>)`, with the expression as the derivation prints it.
    Sum(String),
    /// Not recognised (a hand-written [`Network`] whose derivation text does not name it).
    Unknown,
}

/// The loss `N` declares, read from the first line of its derivation
/// ([`Network::derivation`]), where `vle_model!` writes `…, l = <loss> on <layer>`.
///
/// (The `Network` trait carries no loss descriptor; the derivation text is the one place the
/// generated code states it.)
pub fn loss_kind<N: Network>() -> LossKind {
    let first = N::derivation().text.lines().next().unwrap_or("");
    let Some(start) = first.find(" l = ") else {
        return LossKind::Unknown;
    };
    let rest = &first[start + " l = ".len()..];
    let loss = rest.rsplit_once(" on ").map_or(rest, |(l, _)| l).trim();
    if loss == "0.5 |r - y|^2" {
        LossKind::Mse
    } else if loss == "-sum_i y_i ln softmax(r)_i" {
        LossKind::CrossEntropy
    } else if let Some(expr) = loss.strip_prefix("sum_i ") {
        LossKind::Sum(expr.to_string())
    } else {
        LossKind::Unknown
    }
}

/// The family the random targets of a case are drawn from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TargetKind {
    /// Per output a sum of 1–3 sines (any sign).
    Signed,
    /// A probability vector: softmax over the outputs of [`DISTRIBUTION_GAIN`] times a sum
    /// of sines per output. Every entry in (0, 1), the entries sum to 1.
    Distribution,
}

impl TargetKind {
    /// Short description for reports.
    pub fn describe(self) -> &'static str {
        match self {
            TargetKind::Signed => "sums of sines",
            TargetKind::Distribution => "probability vectors (softmax of sines: a switching class)",
        }
    }
}

/// Gain of the logits of [`TargetKind::Distribution`]: the sums of sines span about ±2, so
/// the logits span about ±6 and the likeliest class holds 0.9–0.99 of the mass most of the
/// time, switching smoothly (the references need a smooth target).
pub const DISTRIBUTION_GAIN: f64 = 3.0;

/// Input and target of a random case: per input a sum of sines, per target a sum of sines
/// mapped to the family `kind`.
#[derive(Clone, Debug, PartialEq)]
pub struct CaseSignal {
    /// One per network input.
    pub inputs: Vec<Sines>,
    /// One per output (before the mapping of `kind`).
    pub targets: Vec<Sines>,
    /// How `targets` become the target vector.
    pub kind: TargetKind,
}

impl Signal for CaseSignal {
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
        if self.kind == TargetKind::Distribution {
            softmax_in_place(y, DISTRIBUTION_GAIN);
        }
    }
}

/// The random input and target of a case, frequencies uniform in `band` (cycles per unit
/// time), targets of the family `kind`. The sines are drawn as before targets had kinds, so
/// a seed gives the same sines for every kind.
pub fn case_signal_of_kind<N: Network>(
    seed: u64,
    band: (f64, f64),
    kind: TargetKind,
) -> CaseSignal {
    let mut rng = Rng::new(seed ^ 0x5A5A_5A5A_5A5A_5A5A);
    CaseSignal {
        inputs: (0..N::INPUT)
            .map(|_| random_sines(&mut rng, band))
            .collect(),
        targets: (0..N::OUTPUT)
            .map(|_| random_sines(&mut rng, band))
            .collect(),
        kind,
    }
}

fn random_sines(rng: &mut Rng, (lo, hi): (f64, f64)) -> Sines {
    let k = 1 + rng.below(3);
    let tau = 2.0 * std::f64::consts::PI;
    let a = (0..k).map(|_| rng.uniform_range(0.2, 1.0)).collect();
    let f = (0..k).map(|_| rng.uniform_range(lo, hi)).collect();
    let ph = (0..k).map(|_| rng.uniform_range(0.0, tau)).collect();
    // One amplitude, frequency and phase per sine by construction.
    Sines {
        amplitudes: a,
        frequencies: f,
        phases: ph,
        offset: 0.0,
    }
}

/// The target families to try for the loss `N` declares, in order (see the module docs).
pub fn target_kinds<N: Network>() -> &'static [TargetKind] {
    match loss_kind::<N>() {
        LossKind::Mse => &[TargetKind::Signed],
        LossKind::CrossEntropy => &[TargetKind::Distribution],
        LossKind::Sum(_) | LossKind::Unknown => &[TargetKind::Signed, TargetKind::Distribution],
    }
}

/// The first step n (0-based) of the discrete window (explicit Euler from the zero state,
/// x(t_n) in step n, ℓ of the new state against y(t_{n+1})) at which ℓ is not finite, if any.
pub fn first_nonfinite_loss<N: Network, S: Signal + ?Sized>(
    p: &[f64],
    signal: &S,
    dt: f64,
    steps: usize,
) -> Option<usize> {
    let (mut x, mut y, mut scratch) = (
        vec![0.0; N::INPUT],
        vec![0.0; N::OUTPUT],
        vec![0.0; N::OUTPUT],
    );
    let mut xs = vec![0.0; N::INPUT];
    let mut state = vec![0.0; N::STATE];
    for n in 0..steps {
        signal.at(n as f64 * dt, &mut x, &mut scratch);
        xs.copy_from_slice(&x);
        N::euler_step(p, &mut state, &xs, dt);
        signal.at((n + 1) as f64 * dt, &mut x, &mut y);
        if !N::loss(p, &state, &y).is_finite() {
            return Some(n);
        }
    }
    None
}

/// The random signal of a case: the first family of [`target_kinds`] under which the loss
/// is finite over the window ([`first_nonfinite_loss`]); `Err` lists the families tried and
/// the step where each failed.
pub fn choose_targets<N: Network>(
    seed: u64,
    band: (f64, f64),
    p: &[f64],
    dt: f64,
    steps: usize,
) -> Result<CaseSignal, String> {
    let mut tried = Vec::new();
    for &kind in target_kinds::<N>() {
        let s = case_signal_of_kind::<N>(seed, band, kind);
        match first_nonfinite_loss::<N, _>(p, &s, dt, steps) {
            None => return Ok(s),
            Some(n) => tried.push(format!(
                "{} (the loss is not finite at step {n}, t = {})",
                kind.describe(),
                (n + 1) as f64 * dt
            )),
        }
    }
    Err(format!(
        "no random target keeps the loss finite: tried {}; check with your own targets in \
         the loss' domain (`run_on`)",
        tried.join(", ")
    ))
}

/// Checks that `signal`'s targets suit the declared loss at the window's sample times
/// t_n = n·dt, n = 1..=steps: for `cross_entropy` every target must be a probability vector
/// (entries ≥ 0 summing to 1 within 1e-9 — far above the rounding of a normalisation,
/// OUTPUT·1.1e-16, far below any unnormalised vector). `Err` names the time, the entry and
/// what to write instead.
pub fn validate_targets<N: Network, S: Signal + ?Sized>(
    signal: &S,
    dt: f64,
    steps: usize,
) -> Result<(), String> {
    if loss_kind::<N>() != LossKind::CrossEntropy {
        return Ok(());
    }
    let (mut x, mut y) = (vec![0.0; N::INPUT], vec![0.0; N::OUTPUT]);
    for n in 1..=steps {
        let t = n as f64 * dt;
        signal.at(t, &mut x, &mut y);
        let sum: f64 = y.iter().sum();
        // NaN entries and sums fail too.
        let negative = y.iter().position(|&v| v.is_nan() || v < 0.0);
        if negative.is_some() || sum.is_nan() || (sum - 1.0).abs() > 1e-9 {
            let what = match negative {
                Some(j) => format!("target[{j}] = {}", y[j]),
                None => format!("the targets sum to {sum}"),
            };
            return Err(format!(
                "the loss is cross_entropy, which needs a probability vector as target (one-hot \
                 or probabilities: entries >= 0 that sum to 1), but at t = {t} (step {n}) {what}"
            ));
        }
    }
    Ok(())
}
