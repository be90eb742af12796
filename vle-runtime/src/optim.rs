//! Optimisers over the flat parameter vector, restricted to learnable entries by a mask
//! (see [`crate::params::learnable_mask`]).

use crate::error::{check_len, Error, Result};
use crate::Scalar;

/// A first-order optimiser: descends along `grad` (`p -= lr * ...`).
pub trait Optimizer<T> {
    /// Checks the settings for a parameter vector of `params` entries (e.g. the mask's length
    /// and the hyper-parameters' ranges); the trainers call it in their constructors and at
    /// every `run`, so a wrong optimizer is refused before any step. The default accepts all.
    fn validate(&self, params: usize) -> Result<()> {
        let _ = params;
        Ok(())
    }
    /// One update of the masked entries of `p` from `grad` (same length as `p`). Errors (and
    /// changes nothing) when [`Optimizer::validate`] fails for `p.len()` or `grad` has another
    /// length.
    fn step(&mut self, p: &mut [T], grad: &[T]) -> Result<()>;
    /// Forgets any internal state (moments, step count).
    fn reset(&mut self) {}
}

/// Plain gradient descent `p -= lr * grad` on masked entries.
#[derive(Clone, Debug)]
pub struct Sgd {
    /// Learning rate.
    pub lr: f64,
    /// `mask[i]`: whether entry `i` is updated; as long as the parameter vector (else
    /// [`Optimizer::validate`] and [`Optimizer::step`] refuse it; build it with
    /// [`crate::params::learnable_mask`]).
    pub mask: Vec<bool>,
}

impl Sgd {
    /// SGD with learning rate `lr` on the entries where `mask` is true.
    pub fn new(lr: f64, mask: Vec<bool>) -> Self {
        Sgd { lr, mask }
    }
}

impl<T: Scalar> Optimizer<T> for Sgd {
    /// The mask has `params` entries; `lr` is not negative.
    fn validate(&self, params: usize) -> Result<()> {
        check_mask(&self.mask, params)?;
        check_lr(self.lr)
    }

    fn step(&mut self, p: &mut [T], grad: &[T]) -> Result<()> {
        Optimizer::<T>::validate(self, p.len())?;
        check_len("the gradient given to the optimizer", p.len(), grad.len())?;
        let lr = T::from_f64(self.lr);
        for ((p, &g), _) in p.iter_mut().zip(grad).zip(&self.mask).filter(|(_, &m)| m) {
            *p -= lr * g;
        }
        Ok(())
    }
}

/// Adam (Kingma & Ba) with bias correction, on masked entries.
#[derive(Clone, Debug)]
pub struct Adam<T> {
    /// Learning rate (the size of the first, bias-corrected step).
    pub lr: f64,
    /// Decay rate β1 of the first-moment estimate.
    pub beta1: f64,
    /// Decay rate β2 of the second-moment estimate.
    pub beta2: f64,
    /// ε added to √v̂ in the denominator.
    pub eps: f64,
    /// `mask[i]`: whether entry `i` is updated; as long as the parameter vector (else
    /// [`Optimizer::validate`] and [`Optimizer::step`] refuse it; build it with
    /// [`crate::params::learnable_mask`]).
    pub mask: Vec<bool>,
    m: Vec<T>,
    v: Vec<T>,
    t: i32,
}

impl<T: Scalar> Adam<T> {
    /// β1 = 0.9, β2 = 0.999, ε = 1e-8.
    pub fn new(lr: f64, mask: Vec<bool>) -> Self {
        Self::with(lr, 0.9, 0.999, 1e-8, mask)
    }

    /// Adam with every hyper-parameter given; no step taken yet.
    pub fn with(lr: f64, beta1: f64, beta2: f64, eps: f64, mask: Vec<bool>) -> Self {
        Adam {
            lr,
            beta1,
            beta2,
            eps,
            mask,
            m: Vec::new(),
            v: Vec::new(),
            t: 0,
        }
    }

    /// Number of steps taken since the last reset.
    pub fn steps(&self) -> i32 {
        self.t
    }

    /// A copy of the internal state (moments and step count), e.g. for a checkpoint
    /// ([`crate::checkpoint`]).
    ///
    /// ```
    /// use vle_runtime::{Adam, Optimizer};
    /// let mut opt = Adam::<f64>::new(0.1, vec![true; 2]);
    /// let mut p = vec![1.0, 2.0];
    /// opt.step(&mut p, &[0.5, -0.5]).unwrap();
    /// let mut fresh = Adam::<f64>::new(0.1, vec![true; 2]);
    /// fresh.restore(opt.state()).unwrap();
    /// assert_eq!(fresh.state(), opt.state());
    /// assert_eq!(fresh.steps(), 1);
    /// ```
    pub fn state(&self) -> AdamState<T> {
        AdamState {
            m: self.m.clone(),
            v: self.v.clone(),
            t: self.t,
        }
    }

    /// Replaces the internal state with `state` (from [`Adam::state`]), so the next
    /// [`Optimizer::step`] continues exactly where that state was taken. The moments must be
    /// empty (no step taken yet) or as long as the mask, and `t` must not be negative; nothing
    /// changes on error.
    ///
    /// ```
    /// use vle_runtime::{optim::AdamState, Adam};
    /// let mut opt = Adam::<f64>::new(0.1, vec![true; 2]);
    /// let bad = AdamState { m: vec![0.0; 3], v: vec![0.0; 3], t: 1 };
    /// assert!(opt.restore(bad).is_err());
    /// ```
    pub fn restore(&mut self, state: AdamState<T>) -> Result<()> {
        let expected = if state.m.is_empty() && state.v.is_empty() {
            0
        } else {
            self.mask.len()
        };
        check_len("Adam's first moments m", expected, state.m.len())?;
        check_len("Adam's second moments v", expected, state.v.len())?;
        if state.t < 0 {
            return Err(Error::InvalidHyperParameter {
                name: "Adam's step count t".into(),
                value: f64::from(state.t),
                expected: "t >= 0".into(),
            });
        }
        self.m = state.m;
        self.v = state.v;
        self.t = state.t;
        Ok(())
    }
}

/// The internal state of [`Adam`]: moment estimates and step count (see [`Adam::state`]).
///
/// ```
/// use vle_runtime::Adam;
/// let s = Adam::<f32>::new(0.01, vec![true; 3]).state();
/// assert!(s.m.is_empty() && s.v.is_empty() && s.t == 0);
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct AdamState<T> {
    /// First-moment estimates, one per parameter (empty before the first step).
    pub m: Vec<T>,
    /// Second-moment estimates, one per parameter (empty before the first step).
    pub v: Vec<T>,
    /// Number of steps taken (the exponent of the bias correction).
    pub t: i32,
}

impl<T: Scalar> Optimizer<T> for Adam<T> {
    /// The mask has `params` entries; `lr` is not negative, β1 and β2 in [0, 1) (β = 1
    /// divides by zero in the bias correction), ε finite and > 0 (ε = 0 gives 0/0 where a
    /// gradient entry stays 0).
    fn validate(&self, params: usize) -> Result<()> {
        check_mask(&self.mask, params)?;
        check_lr(self.lr)?;
        for (name, v) in [("Adam's beta1", self.beta1), ("Adam's beta2", self.beta2)] {
            if !(0.0..1.0).contains(&v) {
                return Err(Error::InvalidHyperParameter {
                    name: name.into(),
                    value: v,
                    expected: "a decay rate in [0, 1), e.g. 0.9 for beta1 and 0.999 for beta2"
                        .into(),
                });
            }
        }
        if !(self.eps.is_finite() && self.eps > 0.0) {
            return Err(Error::InvalidHyperParameter {
                name: "Adam's eps".into(),
                value: self.eps,
                expected: "a finite eps > 0, e.g. 1e-8".into(),
            });
        }
        Ok(())
    }

    fn step(&mut self, p: &mut [T], grad: &[T]) -> Result<()> {
        Optimizer::<T>::validate(self, p.len())?;
        check_len("the gradient given to the optimizer", p.len(), grad.len())?;
        if self.m.len() != p.len() {
            self.m = vec![T::zero(); p.len()];
            self.v = vec![T::zero(); p.len()];
            self.t = 0;
        }
        self.t += 1;
        let (b1, b2) = (T::from_f64(self.beta1), T::from_f64(self.beta2));
        let one = T::one();
        let c1 = T::from_f64(1.0 - self.beta1.powi(self.t));
        let c2 = T::from_f64(1.0 - self.beta2.powi(self.t));
        let (lr, eps) = (T::from_f64(self.lr), T::from_f64(self.eps));
        for i in (0..p.len()).filter(|&i| self.mask[i]) {
            let g = grad[i];
            self.m[i] = b1 * self.m[i] + (one - b1) * g;
            self.v[i] = b2 * self.v[i] + (one - b2) * g * g;
            let mh = self.m[i] / c1;
            let vh = self.v[i] / c2;
            p[i] -= lr * mh / (vh.sqrt() + eps);
        }
        Ok(())
    }

    fn reset(&mut self) {
        self.m.clear();
        self.v.clear();
        self.t = 0;
    }
}

/// Halves (by `factor`) a learning rate when a monitored loss has stopped improving:
/// PyTorch's `ReduceLROnPlateau` in mode `min` with a relative threshold and no cooldown, the
/// schedule of the published GLE training (patience 2, factor 0.5, no floor).
#[derive(Clone, Debug)]
pub struct ReduceLrOnPlateau {
    /// Epochs without improvement that are tolerated; the next one reduces the rate.
    pub patience: usize,
    /// Multiplier of a reduction.
    pub factor: f64,
    /// An improvement must beat the best loss by this fraction of it.
    pub threshold: f64,
    /// Lowest rate.
    pub min_lr: f64,
    /// Reductions by no more than this are skipped (the rate stays), as in PyTorch.
    pub eps: f64,
    best: f64,
    bad_epochs: usize,
}

impl ReduceLrOnPlateau {
    /// `patience` and `factor` (in (0, 1)) as given, the rest PyTorch's defaults: relative
    /// threshold 1e-4, min_lr 0, eps 1e-8.
    pub fn new(patience: usize, factor: f64) -> Self {
        ReduceLrOnPlateau {
            patience,
            factor,
            threshold: 1e-4,
            min_lr: 0.0,
            eps: 1e-8,
            best: f64::INFINITY,
            bad_epochs: 0,
        }
    }

    /// Records one epoch's loss; returns the rate for the next epoch.
    pub fn step(&mut self, loss: f64, lr: f64) -> f64 {
        if loss < self.best * (1.0 - self.threshold) {
            (self.best, self.bad_epochs) = (loss, 0);
            return lr;
        }
        self.bad_epochs += 1;
        if self.bad_epochs <= self.patience {
            return lr;
        }
        self.bad_epochs = 0;
        let reduced = (lr * self.factor).max(self.min_lr);
        if lr - reduced > self.eps {
            reduced
        } else {
            lr
        }
    }
}

fn check_mask(mask: &[bool], params: usize) -> Result<()> {
    check_len(
        "the optimizer's mask (one entry per parameter: build it with \
         vle::params::learnable_mask::<Net>())",
        params,
        mask.len(),
    )
}

/// A negative rate ascends the loss: refused. A NaN or infinite rate is not refused here (a
/// checkpoint of such a run is refused when saved): the first update makes the parameters
/// non-finite, which the trainers report naming the entry and the learning rate.
fn check_lr(lr: f64) -> Result<()> {
    if lr < 0.0 {
        Err(Error::InvalidHyperParameter {
            name: "the optimizer's learning rate lr".into(),
            value: lr,
            expected: "lr >= 0 (gradient descent)".into(),
        })
    } else {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// f(p) = ½ Σ a_i (p_i − c_i)², minimum at c.
    fn grad(p: &[f64]) -> Vec<f64> {
        let (a, c) = ([1.0, 10.0, 0.1], [1.0, -2.0, 3.0]);
        (0..3).map(|i| a[i] * (p[i] - c[i])).collect()
    }

    #[test]
    fn sgd_converges_on_a_quadratic_and_respects_the_mask() {
        let mut p = vec![0.0; 3];
        let mut opt = Sgd::new(0.15, vec![true, true, false]);
        for _ in 0..500 {
            let g = grad(&p);
            opt.step(&mut p, &g).unwrap();
        }
        assert!((p[0] - 1.0).abs() < 1e-9 && (p[1] + 2.0).abs() < 1e-9);
        assert_eq!(p[2], 0.0);
    }

    #[test]
    fn plateau_reduces_after_patience_and_stops_at_the_floor_or_eps() {
        let mut s = ReduceLrOnPlateau::new(2, 0.5);
        let mut lr = 1e-3;
        // Improvements keep the rate. A loss within the relative threshold of the best is no
        // improvement; `patience` such epochs are tolerated, the next one halves the rate.
        for loss in [3.0, 2.0, 1.0] {
            lr = s.step(loss, lr);
        }
        assert_eq!(lr, 1e-3);
        for (loss, want) in [(1.0, 1e-3), (0.99995, 1e-3), (1.0, 5e-4), (2.0, 5e-4)] {
            lr = s.step(loss, lr);
            assert_eq!(lr, want);
        }
        // A real improvement resets the count.
        lr = s.step(0.5, lr);
        lr = s.step(0.6, lr);
        lr = s.step(0.6, lr);
        assert_eq!(lr, 5e-4);
        assert_eq!(s.step(0.6, lr), 2.5e-4);
        // Without a floor the rate halves until a step would change it by no more than eps:
        // from 1e-3 that is 1e-3 / 2^16 = 1.53e-8.
        let mut s = ReduceLrOnPlateau::new(0, 0.5);
        let mut lr = 1e-3;
        s.step(1.0, lr);
        for _ in 0..100 {
            lr = s.step(1.0, lr);
        }
        assert_eq!(lr, 1e-3 / 65536.0);
        let mut s = ReduceLrOnPlateau::new(0, 0.5);
        s.min_lr = 1e-5;
        s.step(1.0, 1e-3);
        let mut lr = 1e-3;
        for _ in 0..100 {
            lr = s.step(1.0, lr);
        }
        assert_eq!(lr, 1e-5);
    }

    #[test]
    fn wrong_masks_and_settings_are_refused_before_anything_changes() {
        let mut p = vec![1.0; 3];
        let e = Optimizer::<f64>::step(&mut Sgd::new(0.1, vec![true; 2]), &mut p, &[1.0; 3])
            .unwrap_err();
        assert!(
            matches!(
                e,
                Error::Length {
                    expected: 3,
                    got: 2,
                    ..
                }
            ),
            "{e}"
        );
        assert!(e.to_string().contains("learnable_mask"), "{e}");
        let e = Adam::<f64>::new(0.1, vec![true; 4])
            .step(&mut p, &[1.0; 3])
            .unwrap_err();
        assert!(
            matches!(
                e,
                Error::Length {
                    expected: 3,
                    got: 4,
                    ..
                }
            ),
            "{e}"
        );
        let e = Adam::<f64>::new(0.1, vec![true; 3])
            .step(&mut p, &[1.0; 2])
            .unwrap_err();
        assert!(
            e.to_string()
                .contains("the gradient given to the optimizer"),
            "{e}"
        );
        assert_eq!(p, [1.0; 3]);
        assert!(Optimizer::<f64>::validate(&Sgd::new(-0.1, vec![true; 3]), 3).is_err());
        for (b1, b2, eps, name) in [
            (1.0, 0.999, 1e-8, "beta1"),
            (0.9, -0.1, 1e-8, "beta2"),
            (0.9, f64::NAN, 1e-8, "beta2"),
            (0.9, 0.999, 0.0, "eps"),
            (0.9, 0.999, f64::INFINITY, "eps"),
        ] {
            let e = Adam::<f64>::with(0.1, b1, b2, eps, vec![true; 3])
                .validate(3)
                .unwrap_err();
            assert!(e.to_string().contains(name), "{name}: {e}");
        }
        assert!(Adam::<f64>::new(0.1, vec![true; 3]).validate(3).is_ok());
    }

    #[test]
    fn adam_first_step_is_lr_times_sign_and_converges() {
        let mut p = vec![0.0; 3];
        let mut opt = Adam::new(0.1, vec![true; 3]);
        let g = grad(&p);
        opt.step(&mut p, &g).unwrap();
        // Bias correction makes the first step exactly lr·g/(|g| + ε').
        for i in 0..3 {
            assert!((p[i] + 0.1 * g[i].signum()).abs() < 1e-6, "{p:?}");
        }
        for _ in 0..3000 {
            let g = grad(&p);
            opt.step(&mut p, &g).unwrap();
        }
        assert!(
            (p[0] - 1.0).abs() < 1e-3 && (p[1] + 2.0).abs() < 1e-3 && (p[2] - 3.0).abs() < 1e-2,
            "{p:?}"
        );
        opt.reset();
        assert_eq!(opt.steps(), 0);
    }
}
