//! Small linear-algebra kernels the generated code calls for its synaptic loops.
//!
//! Written over slices with iterators so the compiler drops bounds checks and vectorises the
//! element-wise loops; the dot product keeps four partial sums to break the floating-point
//! add chain (its rounding order is fixed, so every kernel that recomputes an input gets the
//! identical value).

use crate::Scalar;

/// Σ a_k b_k with four interleaved partial sums. Panics never; extra entries of the longer
/// slice are ignored.
#[inline(always)]
pub fn dot<T: Scalar>(a: &[T], b: &[T]) -> T {
    let n = a.len().min(b.len());
    let (a, b) = (&a[..n], &b[..n]);
    let mut acc = [T::zero(); 4];
    let mut ca = a.chunks_exact(4);
    let mut cb = b.chunks_exact(4);
    for (x, y) in (&mut ca).zip(&mut cb) {
        acc[0] += x[0] * y[0];
        acc[1] += x[1] * y[1];
        acc[2] += x[2] * y[2];
        acc[3] += x[3] * y[3];
    }
    let mut tail = T::zero();
    for (x, y) in ca.remainder().iter().zip(cb.remainder()) {
        tail += *x * *y;
    }
    (acc[0] + acc[1]) + (acc[2] + acc[3]) + tail
}

/// y += alpha · x, element-wise.
#[inline(always)]
pub fn axpy<T: Scalar>(alpha: T, x: &[T], y: &mut [T]) {
    for (yi, xi) in y.iter_mut().zip(x) {
        *yi += alpha * *xi;
    }
}

/// y = alpha · x, element-wise.
#[inline(always)]
pub fn scale_into<T: Scalar>(alpha: T, x: &[T], y: &mut [T]) {
    for (yi, xi) in y.iter_mut().zip(x) {
        *yi = alpha * *xi;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dot_axpy_and_scale_agree_with_the_naive_loops() {
        for n in [0usize, 1, 3, 4, 5, 8, 53] {
            let a: Vec<f64> = (0..n).map(|k| (k as f64 * 0.37).sin()).collect();
            let b: Vec<f64> = (0..n).map(|k| (k as f64 * 0.11).cos()).collect();
            let naive: f64 = a.iter().zip(&b).map(|(x, y)| x * y).sum();
            // Different summation order: equal to a few ulps of Σ|a_k b_k| ≤ n.
            assert!((dot(&a, &b) - naive).abs() <= 1e-15 * (n as f64 + 1.0));
            let mut y = b.clone();
            axpy(2.0, &a, &mut y);
            let mut z = vec![0.0; n];
            scale_into(2.0, &a, &mut z);
            for k in 0..n {
                assert_eq!(y[k], b[k] + 2.0 * a[k]);
                assert_eq!(z[k], 2.0 * a[k]);
            }
        }
    }
}
