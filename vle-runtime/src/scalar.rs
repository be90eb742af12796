//! The scalar type generated kernels are generic over.
//!
//! Generated code only ever calls the methods of [`Scalar`] (by absolute path), so a kernel
//! written once runs in `f32`, `f64` and in the dual numbers that `vle-verify` uses for
//! forward-mode reference derivatives.

use std::fmt::Debug;
use std::ops::{Add, AddAssign, Div, DivAssign, Mul, MulAssign, Neg, Sub, SubAssign};

use num_dual::{Dual64, DualNum};

use crate::kernels::paths::{self, Op};

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
    /// 0 (for duals: derivative 0).
    fn zero() -> Self {
        Self::from_f64(0.0)
    }
    /// 1 (for duals: derivative 0).
    fn one() -> Self {
        Self::from_f64(1.0)
    }
    /// Hyperbolic tangent. `f32` uses [`tanh_f32`] (a rational fit, relative error ≤ 3.5e-7,
    /// no library call, so batch loops vectorise); `f64` and duals the library function.
    fn tanh(self) -> Self;
    /// e^x.
    fn exp(self) -> Self;
    /// Natural logarithm (NaN for x < 0, −∞ at 0).
    fn ln(self) -> Self;
    /// Square root (NaN for x < 0).
    fn sqrt(self) -> Self;
    /// Sine (argument in radians).
    fn sin(self) -> Self;
    /// Cosine (argument in radians).
    fn cos(self) -> Self;
    /// x^n for an integer exponent `n` (any sign of x).
    fn powi(self, n: i32) -> Self;
    /// x^e for a real exponent `e`, which may itself carry a derivative. For duals computed
    /// as exp(e·ln x), so it needs x > 0 there.
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

    /// c\[m×n\] += alpha · a\[m×k\] · b\[k×n\]; see [`crate::kernels::gemm_nn`].
    ///
    /// The default is a simple generic loop; `f32` and `f64` override it with the blocked
    /// SIMD kernel.
    fn gemm_nn(m: usize, n: usize, k: usize, alpha: Self, a: &[Self], b: &[Self], c: &mut [Self]) {
        paths::generic(Op::Nn, m, n, k, alpha, a, b, c)
    }
    /// c\[m×n\] += alpha · aᵀ · b with a stored \[k×m\]; see [`crate::kernels::gemm_tn`].
    fn gemm_tn(m: usize, n: usize, k: usize, alpha: Self, a: &[Self], b: &[Self], c: &mut [Self]) {
        paths::generic(Op::Tn, m, n, k, alpha, a, b, c)
    }
    /// c\[m×n\] += alpha · a · bᵀ with b stored \[n×k\]; see [`crate::kernels::gemm_nt`].
    fn gemm_nt(m: usize, n: usize, k: usize, alpha: Self, a: &[Self], b: &[Self], c: &mut [Self]) {
        paths::generic(Op::Nt, m, n, k, alpha, a, b, c)
    }
}

/// tanh in `f32` without a library call, so that loops over a batch stay branch-free and can
/// be vectorised: tanh(x) = x·P(x²)/Q(x²) on |x| ≤ 9 (beyond, tanh rounds to ±1 in `f32`),
/// P of degree 6 and Q of degree 3 in x², fitted to minimise the relative error (Lawson
/// iterations on a dense grid, done for this crate). Measured on 4·10⁶ points of [−10, 10]:
/// relative error ≤ 3.5e-7 (≈ 3 ulp; libm's `tanhf` ≈ 1 ulp); the result is clamped to
/// [−1, 1] so that 1 − tanh² is never negative.
#[inline(always)]
pub fn tanh_f32(x: f32) -> f32 {
    // The fitted coefficients (f64; rounded to f32 where used).
    const P: [f64; 7] = [
        9.999_999_933_866_208e-1,
        1.308_401_271_178_025_7e-1,
        3.103_959_110_641_419e-3,
        1.115_433_787_431_995e-5,
        -2.022_534_161_334_682e-8,
        5.278_002_036_083_5e-11,
        -8.488_843_494_616_484e-14,
    ];
    const Q: [f64; 4] = [
        1.0,
        4.641_733_981_411_381e-1,
        2.449_518_999_007_933e-2,
        2.546_149_398_549_228e-4,
    ];
    let x = x.clamp(-9.0, 9.0);
    let t = x * x;
    let c = |v: f64| v as f32;
    let p = c(P[6]) * t + c(P[5]);
    let p = ((((p * t + c(P[4])) * t + c(P[3])) * t + c(P[2])) * t + c(P[1])) * t + c(P[0]);
    let q = ((c(Q[3]) * t + c(Q[2])) * t + c(Q[1])) * t + c(Q[0]);
    (x * p / q).clamp(-1.0, 1.0)
}

macro_rules! float_scalar {
    ($t:ty, $gemm:ident, $tanh:path) => {
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
                $tanh(self)
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
            #[inline]
            fn gemm_nn(
                m: usize,
                n: usize,
                k: usize,
                alpha: Self,
                a: &[Self],
                b: &[Self],
                c: &mut [Self],
            ) {
                paths::$gemm(Op::Nn, m, n, k, alpha, a, b, c)
            }
            #[inline]
            fn gemm_tn(
                m: usize,
                n: usize,
                k: usize,
                alpha: Self,
                a: &[Self],
                b: &[Self],
                c: &mut [Self],
            ) {
                paths::$gemm(Op::Tn, m, n, k, alpha, a, b, c)
            }
            #[inline]
            fn gemm_nt(
                m: usize,
                n: usize,
                k: usize,
                alpha: Self,
                a: &[Self],
                b: &[Self],
                c: &mut [Self],
            ) {
                paths::$gemm(Op::Nt, m, n, k, alpha, a, b, c)
            }
        }
    };
}

float_scalar!(f32, dispatch_f32, tanh_f32);
float_scalar!(f64, dispatch_f64, f64::tanh);

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

#[cfg(test)]
mod tanh_tests {
    use super::tanh_f32;

    /// The fit's bound (3.5e-7 relative, see `tanh_f32`) with margin for the points between
    /// the fitting grid: 5e-7 relative, plus exact symmetry, ±1 in the tails and NaN passing
    /// through.
    #[test]
    fn fast_f32_tanh_is_accurate_odd_and_bounded() {
        let mut worst = 0.0f64;
        for k in -200_000..=200_000 {
            let x = k as f32 * 5e-5; // [-10, 10]
            let y = tanh_f32(x) as f64;
            let r = (x as f64).tanh();
            if r != 0.0 {
                worst = worst.max(((y - r) / r).abs());
            }
            assert_eq!(tanh_f32(-x), -tanh_f32(x));
            assert!(y.abs() <= 1.0);
        }
        for x in [1e-30f32, 1e-8, 1e-3] {
            assert!(((tanh_f32(x) as f64) / (x as f64) - 1.0).abs() <= 5e-7);
        }
        assert!(worst <= 5e-7, "{worst:e}");
        // Beyond the clamp at 9 the value is the fit's at 9: 1 − 6e-8, one ulp below 1.
        assert!((1.0 - tanh_f32(50.0) as f64) <= 2e-7);
        assert_eq!(tanh_f32(f32::INFINITY), tanh_f32(9.0));
        assert!(tanh_f32(f32::NAN).is_nan());
    }
}
