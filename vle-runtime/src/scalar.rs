//! The scalar type generated kernels are generic over.
//!
//! Generated code only ever calls the methods of [`Scalar`] (by absolute path), so a kernel
//! written once runs in `f32`, `f64` and in the dual numbers that `vle-verify` uses for
//! forward-mode reference derivatives.

use std::fmt::Debug;
use std::ops::{Add, AddAssign, Div, DivAssign, Mul, MulAssign, Neg, Sub, SubAssign};

use num_dual::{Dual64, DualNum};

/// A real number type: `f32`, `f64` or a dual number (`num_dual::Dual64`).
///
/// Every elementary function the DSL accepts is a method here; all of them are smooth on
/// their domain, which is what makes symbolic differentiation of user models sound.
pub trait Scalar:
    Copy
    + Debug
    + Send
    + Sync
    + 'static
    + Add<Output = Self>
    + Sub<Output = Self>
    + Mul<Output = Self>
    + Div<Output = Self>
    + Neg<Output = Self>
    + AddAssign
    + SubAssign
    + MulAssign
    + DivAssign
{
    /// Converts a literal (rounding to the type's precision).
    fn from_f64(v: f64) -> Self;
    /// The real part as `f64` (for duals: the value, derivative dropped).
    fn to_f64(self) -> f64;
    fn zero() -> Self {
        Self::from_f64(0.0)
    }
    fn one() -> Self {
        Self::from_f64(1.0)
    }
    fn tanh(self) -> Self;
    fn exp(self) -> Self;
    fn ln(self) -> Self;
    fn sqrt(self) -> Self;
    fn sin(self) -> Self;
    fn cos(self) -> Self;
    fn powi(self, n: i32) -> Self;
    fn powf(self, e: Self) -> Self;
    /// Logistic function 1/(1+e^{-x}), evaluated without overflow for large |x|.
    fn sigmoid(self) -> Self {
        if self.to_f64() >= 0.0 {
            Self::one() / (Self::one() + (-self).exp())
        } else {
            let z = self.exp();
            z / (Self::one() + z)
        }
    }
    /// ln(1+e^x), evaluated without overflow for large |x|.
    fn softplus(self) -> Self {
        if self.to_f64() > 0.0 {
            self + (Self::one() + (-self).exp()).ln()
        } else {
            (Self::one() + self.exp()).ln()
        }
    }
    /// True when the value (and, for duals, the derivative) is finite.
    fn is_finite(self) -> bool;
}

macro_rules! float_scalar {
    ($t:ty) => {
        impl Scalar for $t {
            #[inline(always)]
            fn from_f64(v: f64) -> Self {
                v as $t
            }
            #[inline(always)]
            fn to_f64(self) -> f64 {
                self as f64
            }
            #[inline(always)]
            fn tanh(self) -> Self {
                <$t>::tanh(self)
            }
            #[inline(always)]
            fn exp(self) -> Self {
                <$t>::exp(self)
            }
            #[inline(always)]
            fn ln(self) -> Self {
                <$t>::ln(self)
            }
            #[inline(always)]
            fn sqrt(self) -> Self {
                <$t>::sqrt(self)
            }
            #[inline(always)]
            fn sin(self) -> Self {
                <$t>::sin(self)
            }
            #[inline(always)]
            fn cos(self) -> Self {
                <$t>::cos(self)
            }
            #[inline(always)]
            fn powi(self, n: i32) -> Self {
                <$t>::powi(self, n)
            }
            #[inline(always)]
            fn powf(self, e: Self) -> Self {
                <$t>::powf(self, e)
            }
            #[inline(always)]
            fn is_finite(self) -> bool {
                <$t>::is_finite(self)
            }
        }
    };
}

float_scalar!(f32);
float_scalar!(f64);

impl Scalar for Dual64 {
    fn from_f64(v: f64) -> Self {
        Dual64::from(v)
    }
    fn to_f64(self) -> f64 {
        self.re
    }
    fn tanh(self) -> Self {
        DualNum::tanh(&self)
    }
    fn exp(self) -> Self {
        DualNum::exp(&self)
    }
    fn ln(self) -> Self {
        DualNum::ln(&self)
    }
    fn sqrt(self) -> Self {
        DualNum::sqrt(&self)
    }
    fn sin(self) -> Self {
        DualNum::sin(&self)
    }
    fn cos(self) -> Self {
        DualNum::cos(&self)
    }
    fn powi(self, n: i32) -> Self {
        DualNum::powi(&self, n)
    }
    fn powf(self, e: Self) -> Self {
        // x^e = exp(e ln x): differentiates in both arguments.
        (e * DualNum::ln(&self)).exp()
    }
    fn is_finite(self) -> bool {
        self.re.is_finite() && self.eps.is_finite()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stable_sigmoid_and_softplus_agree_with_naive_forms_where_those_are_safe() {
        for &x in &[-30.0f64, -3.0, -0.5, 0.0, 0.7, 4.0, 30.0] {
            let naive_sig = 1.0 / (1.0 + (-x).exp());
            let naive_sp = (1.0 + x.exp()).ln();
            assert!((Scalar::sigmoid(x) - naive_sig).abs() <= 1e-15);
            assert!((Scalar::softplus(x) - naive_sp).abs() <= 1e-13 * naive_sp.max(1.0));
        }
        // Where the naive forms overflow, the stable ones stay finite.
        assert_eq!(Scalar::sigmoid(-800.0f64), 0.0);
        assert!((Scalar::softplus(800.0f64) - 800.0).abs() < 1e-12);
    }

    #[test]
    fn dual_derivatives_of_the_elementary_functions() {
        let x = Dual64::new(0.3, 1.0);
        let h = 1e-6;
        let fd = |f: fn(f64) -> f64| (f(0.3 + h) - f(0.3 - h)) / (2.0 * h);
        // Central differences: truncation error ~ h^2 f''' ≈ 1e-12, rounding ~ 1e-16/h = 1e-10.
        let tol = 1e-9;
        assert!((Scalar::sigmoid(x).eps - fd(<f64 as Scalar>::sigmoid)).abs() < tol);
        assert!((Scalar::softplus(x).eps - fd(<f64 as Scalar>::softplus)).abs() < tol);
        assert!((Scalar::tanh(x).eps - fd(f64::tanh)).abs() < tol);
        assert!((Scalar::powf(x, Dual64::from(2.5)).eps - fd(|v| v.powf(2.5))).abs() < tol);
    }
}
