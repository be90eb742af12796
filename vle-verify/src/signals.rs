//! Smooth test stimuli: per channel a sum of sines, smoothed steps and smooth noise.
//!
//! Every component is an infinitely differentiable function of time, so the continuous
//! references (Dopri5 at tight tolerance, fourth-order RK4 of the generated adjoint) see no
//! kinks that would spoil their order: "noise" is white noise filtered by a Gaussian kernel,
//! a "step" is a `tanh` ramp.

use vle_runtime::{Rng, Signal};

/// One component of a channel.
#[derive(Clone, Debug, PartialEq)]
pub enum Wave {
    /// a·sin(2π f t + φ) (f in cycles per unit time).
    Sine {
        /// Amplitude a.
        amplitude: f64,
        /// Frequency f, in cycles per unit time.
        frequency: f64,
        /// Phase φ, in radians.
        phase: f64,
    },
    /// a·(1 + tanh((t − at)/width))/2: a smoothed step of height a at time `at`.
    Step {
        /// Height a.
        amplitude: f64,
        /// Time of the midpoint of the ramp.
        at: f64,
        /// Time scale of the ramp (10 % to 90 % of a takes ≈ 2.2·`width`).
        width: f64,
    },
    /// a·n(t), n smooth Gaussian-correlated noise of unit standard deviation: random
    /// impulses on the knots k·σ (k ∈ ℤ, N(0,1) amplitudes drawn from `seed` and k) filtered
    /// by exp(−(t − kσ)²/(2σ²)). σ = `correlation` (unit: time). Knots farther than 9σ are
    /// ignored (their weight is below e^{−40} ≈ 4e-18, under f64 rounding of the sum).
    Noise {
        /// Standard deviation a.
        amplitude: f64,
        /// Correlation time σ (knot spacing and kernel width).
        correlation: f64,
        /// Seed of the knot amplitudes; the same seed gives the same function of t.
        seed: u64,
    },
}

/// Number of knots on each side of t that [`Wave::Noise`] sums.
const NOISE_REACH: i64 = 9;
/// Variance of Σ_k g_k e^{−(t−kσ)²/(2σ²)} with g_k ~ N(0, 1), averaged over t:
/// (1/σ)∫ Σ_k e^{−(t−kσ)²/σ²} dt = √π (checked against the sum in the tests).
const NOISE_VARIANCE: f64 = 1.772_453_850_905_516;

fn knot_value(seed: u64, k: i64) -> f64 {
    let mut rng = Rng::new(seed ^ (k as u64).wrapping_mul(0xD134_2543_DE82_EF95));
    rng.normal()
}

impl Wave {
    /// The value at time `t`.
    pub fn eval(&self, t: f64) -> f64 {
        match *self {
            Wave::Sine {
                amplitude,
                frequency,
                phase,
            } => amplitude * (2.0 * std::f64::consts::PI * frequency * t + phase).sin(),
            Wave::Step {
                amplitude,
                at,
                width,
            } => amplitude * 0.5 * (1.0 + ((t - at) / width).tanh()),
            Wave::Noise {
                amplitude,
                correlation,
                seed,
            } => {
                let s = correlation;
                let c = (t / s).round() as i64;
                let mut v = 0.0;
                for k in c - NOISE_REACH..=c + NOISE_REACH {
                    let d = (t - k as f64 * s) / s;
                    v += knot_value(seed, k) * (-0.5 * d * d).exp();
                }
                amplitude * v / NOISE_VARIANCE.sqrt()
            }
        }
    }
}

/// One channel: an offset plus a sum of waves.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Channel {
    /// Constant added to the waves.
    pub offset: f64,
    /// The components, summed.
    pub waves: Vec<Wave>,
}

impl Channel {
    /// The value at time `t`: `offset` plus every wave.
    pub fn eval(&self, t: f64) -> f64 {
        self.offset + self.waves.iter().map(|w| w.eval(t)).sum::<f64>()
    }
}

/// Inputs and targets, one [`Channel`] each.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Stimulus {
    /// One channel per network input (`INPUT` of them).
    pub inputs: Vec<Channel>,
    /// One channel per target (`OUTPUT` of them).
    pub targets: Vec<Channel>,
}

impl Signal for Stimulus {
    fn input_dim(&self) -> usize {
        self.inputs.len()
    }
    fn target_dim(&self) -> usize {
        self.targets.len()
    }
    fn at(&self, t: f64, x: &mut [f64], y: &mut [f64]) {
        x.iter_mut()
            .zip(&self.inputs)
            .for_each(|(x, c)| *x = c.eval(t));
        y.iter_mut()
            .zip(&self.targets)
            .for_each(|(y, c)| *y = c.eval(t));
    }
}

/// `signal` with its targets mapped to probability vectors: y ← softmax(gain·y) over the
/// outputs (entries in (0, 1) summing to 1), the targets `cross_entropy` needs. A smooth
/// target per output becomes a smooth distribution; a large gain makes it nearly one-hot (a
/// class that switches where the largest target changes).
#[derive(Clone, Debug, PartialEq)]
pub struct SoftmaxTargets<S> {
    /// The signal whose targets become the logits.
    pub signal: S,
    /// The gain of the logits.
    pub gain: f64,
}

impl<S: Signal> Signal for SoftmaxTargets<S> {
    fn input_dim(&self) -> usize {
        self.signal.input_dim()
    }
    fn target_dim(&self) -> usize {
        self.signal.target_dim()
    }
    fn at(&self, t: f64, x: &mut [f64], y: &mut [f64]) {
        self.signal.at(t, x, y);
        softmax_in_place(y, self.gain);
    }
}

/// y ← softmax(gain·y), shifted by the largest logit (no overflow).
pub(crate) fn softmax_in_place(y: &mut [f64], gain: f64) {
    let max = y.iter().fold(f64::NEG_INFINITY, |m, &v| m.max(gain * v));
    let mut sum = 0.0;
    for v in y.iter_mut() {
        *v = (gain * *v - max).exp();
        sum += *v;
    }
    y.iter_mut().for_each(|v| *v /= sum);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn noise_is_smooth_reproducible_and_about_unit_variance() {
        let w = Wave::Noise {
            amplitude: 1.0,
            correlation: 0.1,
            seed: 3,
        };
        let v: Vec<f64> = (0..20000).map(|i| w.eval(i as f64 * 0.01)).collect();
        let var = v.iter().map(|x| x * x).sum::<f64>() / v.len() as f64;
        assert!((0.7..1.4).contains(&var), "{var}");
        assert_eq!(w.eval(1.234), w.eval(1.234));
        // Smooth across the knot-window switch at (c + 1/2)σ: the second difference is tiny.
        let t = 0.15;
        let h = 1e-4;
        let d2 = (w.eval(t + h) - 2.0 * w.eval(t) + w.eval(t - h)) / (h * h);
        assert!(d2.abs() < 1e3, "{d2}");
        assert!((w.eval(t + 1e-12) - w.eval(t - 1e-12)).abs() < 1e-10);
    }

    #[test]
    fn step_and_sine() {
        let s = Wave::Step {
            amplitude: 2.0,
            at: 1.0,
            width: 0.1,
        };
        assert!((s.eval(1.0) - 1.0).abs() < 1e-15);
        assert!(s.eval(3.0) > 1.999_999);
        let c = Channel {
            offset: 0.5,
            waves: vec![Wave::Sine {
                amplitude: 1.0,
                frequency: 0.25,
                phase: 0.0,
            }],
        };
        assert!((c.eval(1.0) - 1.5).abs() < 1e-15);
    }
}
