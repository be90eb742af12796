//! NumPy's legacy random stream (`numpy.random.seed` / `RandomState`: MT19937) and the few
//! NumPy and SciPy numerics the reference MNIST-1D generator uses, operation for operation, so
//! that [`super::mnist1d::generate`] with a seed gives the dataset the `mnist1d` package gives
//! with that seed (the published experiments' data), not just one with the same distribution.
//!
//! What is reproduced, and from where (read, not copied): the MT19937 generator of Matsumoto
//! and Nishimura (1998) with `init_genrand` seeding; NumPy's legacy draws built on it
//! (`random_sample`: 53 bits from two words; `randn`: the polar method with its cached second
//! value; `randint` and `shuffle`: masked rejection on 32-bit words); NumPy's pairwise
//! summation (blocks of 128, eight accumulators); `numpy.linspace`; `numpy.interp` (what
//! `scipy.interpolate.interp1d(kind="linear")` calls); `scipy.ndimage.gaussian_filter1d`
//! (truncated, normalised kernel; symmetric correlation, reflected edges).
//!
//! What can still differ: `exp` and `log` come from the platform's libm, which NumPy may
//! replace by its own vectorised versions; the values then differ in the last bit, never the
//! integers drawn (the shuffle, paddings and shifts).

use crate::error::{Error, Result};

/// MT19937 with NumPy's legacy conversions.
#[derive(Clone, Debug)]
pub struct RandomState {
    mt: Box<[u32; N]>,
    index: usize,
    /// The second value of the last polar-method pair, returned by the next normal draw.
    gauss: Option<f64>,
}

const N: usize = 624;
const M: usize = 397;

impl RandomState {
    /// `numpy.random.seed(seed)` (`init_genrand`).
    pub fn new(seed: u32) -> Self {
        let mut mt = Box::new([0u32; N]);
        mt[0] = seed;
        for i in 1..N {
            let prev = mt[i - 1];
            mt[i] = 1_812_433_253u32
                .wrapping_mul(prev ^ (prev >> 30))
                .wrapping_add(i as u32);
        }
        RandomState {
            mt,
            index: N,
            gauss: None,
        }
    }

    fn twist(&mut self) {
        const UPPER: u32 = 0x8000_0000;
        const LOWER: u32 = 0x7fff_ffff;
        const MATRIX_A: u32 = 0x9908_b0df;
        let mt = &mut self.mt;
        for i in 0..N {
            let y = (mt[i] & UPPER) | (mt[(i + 1) % N] & LOWER);
            let mag = if y & 1 == 1 { MATRIX_A } else { 0 };
            mt[i] = mt[(i + M) % N] ^ (y >> 1) ^ mag;
        }
        self.index = 0;
    }

    /// The next 32-bit word (tempered).
    pub fn next_u32(&mut self) -> u32 {
        if self.index >= N {
            self.twist();
        }
        let mut y = self.mt[self.index];
        self.index += 1;
        y ^= y >> 11;
        y ^= (y << 7) & 0x9d2c_5680;
        y ^= (y << 15) & 0xefc6_0000;
        y ^ (y >> 18)
    }

    /// `numpy.random.rand()`: uniform in [0, 1) with 53 random bits.
    pub fn random_sample(&mut self) -> f64 {
        let a = self.next_u32() >> 5;
        let b = self.next_u32() >> 6;
        (a as f64 * 67_108_864.0 + b as f64) / 9_007_199_254_740_992.0
    }

    /// `numpy.random.randn()`: the polar method; each accepted pair gives two draws.
    pub fn standard_normal(&mut self) -> f64 {
        if let Some(g) = self.gauss.take() {
            return g;
        }
        loop {
            let x1 = 2.0 * self.random_sample() - 1.0;
            let x2 = 2.0 * self.random_sample() - 1.0;
            let r2 = x1 * x1 + x2 * x2;
            if r2 < 1.0 && r2 != 0.0 {
                let f = (-2.0 * r2.ln() / r2).sqrt();
                self.gauss = Some(f * x1);
                return f * x2;
            }
        }
    }

    /// A value in `0..=max` by masked rejection on 32-bit words (`random_interval`, and
    /// `randint`'s legacy path); `max` below 2³².
    fn interval(&mut self, max: u32) -> u32 {
        if max == 0 {
            return 0;
        }
        let mask = u32::MAX >> max.leading_zeros();
        loop {
            let v = self.next_u32() & mask;
            if v <= max {
                return v;
            }
        }
    }

    /// `numpy.random.randint(0, high)` and `numpy.random.choice(high)`: uniform in
    /// `0..high`. Errors (as NumPy raises) when `high` is not in `1..=2³²`.
    pub fn randint(&mut self, high: u64) -> Result<u64> {
        if !(1..=1 << 32).contains(&high) {
            return Err(Error::InvalidArgument {
                argument: "RandomState::randint high".into(),
                problem: format!("is {high}; give a range size in 1..=2^32"),
            });
        }
        Ok(self.interval((high - 1) as u32) as u64)
    }

    /// `numpy.random.permutation(n)`: a Fisher–Yates shuffle of `0..n` from the back. Errors
    /// when `n` is above 2³² (the 32-bit stream cannot draw those indices as NumPy does).
    pub fn permutation(&mut self, n: usize) -> Result<Vec<usize>> {
        if n > 1 << 32 {
            return Err(Error::InvalidArgument {
                argument: "RandomState::permutation n".into(),
                problem: format!("is {n}; give at most 2^32 entries"),
            });
        }
        let mut v: Vec<usize> = (0..n).collect();
        for i in (1..n).rev() {
            let j = self.interval(i as u32) as usize;
            v.swap(i, j);
        }
        Ok(v)
    }
}

/// `numpy.sum` of a contiguous `f64` array: pairwise summation, blocks of at most 128 summed
/// with eight accumulators.
pub fn pairwise_sum(a: &[f64]) -> f64 {
    let n = a.len();
    if n < 8 {
        a.iter().fold(0.0, |s, &v| s + v)
    } else if n <= 128 {
        let mut r = [0.0f64; 8];
        r.copy_from_slice(&a[..8]);
        let full = n - n % 8;
        for chunk in a[8..full].chunks_exact(8) {
            for (r_j, &v) in r.iter_mut().zip(chunk) {
                *r_j += v;
            }
        }
        let mut res = ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]));
        for &v in &a[full..] {
            res += v;
        }
        res
    } else {
        let half = n / 2;
        let half = half - half % 8;
        pairwise_sum(&a[..half]) + pairwise_sum(&a[half..])
    }
}

/// `numpy.mean` of a contiguous `f64` array.
pub fn mean(a: &[f64]) -> f64 {
    (0.0 + pairwise_sum(a)) / a.len() as f64
}

/// `numpy.std` (population) of a contiguous `f64` array.
pub fn std(a: &[f64]) -> f64 {
    let m = mean(a);
    let sq: Vec<f64> = a.iter().map(|&v| (v - m) * (v - m)).collect();
    ((0.0 + pairwise_sum(&sq)) / a.len() as f64).sqrt()
}

/// `numpy.linspace(start, stop, n)` (endpoint included).
pub fn linspace(start: f64, stop: f64, n: usize) -> Vec<f64> {
    if n == 0 {
        return Vec::new();
    }
    if n == 1 {
        return vec![start];
    }
    let step = (stop - start) / (n - 1) as f64;
    let mut y: Vec<f64> = (0..n)
        .map(|i| {
            if step == 0.0 {
                i as f64 / (n - 1) as f64 * (stop - start) + start
            } else {
                i as f64 * step + start
            }
        })
        .collect();
    y[n - 1] = stop;
    y
}

/// `numpy.interp(x, xp, fp)` for increasing `xp`: the segment j with xp\[j\] ≤ x < xp\[j+1\],
/// fp\[j\] + slope·(x − xp\[j\]) with the slope of the segment (exactly fp\[j\] where x hits a
/// grid point); outside `[xp[0], xp[last]]` the end values, as NumPy's defaults. Errors when
/// `xp` is empty or `fp` is not as long as `xp`.
pub fn interp(x: &[f64], xp: &[f64], fp: &[f64]) -> Result<Vec<f64>> {
    let n = xp.len();
    if n == 0 || fp.len() != n {
        return Err(Error::InvalidArgument {
            argument: "interp xp, fp".into(),
            problem: format!(
                "xp has {n} and fp {} entries; give one value per grid point (at least one)",
                fp.len()
            ),
        });
    }
    Ok(x.iter()
        .map(|&v| {
            if v < xp[0] {
                return fp[0];
            }
            if v >= xp[n - 1] {
                return fp[n - 1];
            }
            // Largest j with xp[j] <= v.
            let j = xp.partition_point(|&g| g <= v) - 1;
            if xp[j] == v {
                return fp[j];
            }
            let slope = (fp[j + 1] - fp[j]) / (xp[j + 1] - xp[j]);
            slope * (v - xp[j]) + fp[j]
        })
        .collect())
}

/// The reference generator's `interpolate(x, n)`: `x` sampled at linspace(0, 1, len) read
/// at linspace(0, 1, n). Errors when `x` is empty.
pub fn interpolate(x: &[f64], n: usize) -> Result<Vec<f64>> {
    interp(&linspace(0.0, 1.0, n), &linspace(0.0, 1.0, x.len()), x)
}

/// Index `i` mirrored into `0..n` with the edge sample repeated (`d c b a | a b c d | d c b a`,
/// SciPy's mode "reflect").
fn reflect(i: i64, n: usize) -> usize {
    let period = 2 * n as i64;
    let j = i.rem_euclid(period);
    if j < n as i64 {
        j as usize
    } else {
        (period - 1 - j) as usize
    }
}

/// `scipy.ndimage.gaussian_filter1d(x, sigma)` with the defaults (truncate 4, mode
/// "reflect": `d c b a | a b c d | d c b a`).
pub fn gaussian_filter1d(x: &[f64], sigma: f64) -> Vec<f64> {
    let radius = (4.0 * sigma + 0.5) as usize;
    let scale = -0.5 / (sigma * sigma);
    let phi: Vec<f64> = (-(radius as i64)..=radius as i64)
        .map(|d| (scale * (d * d) as f64).exp())
        .collect();
    let total = 0.0 + pairwise_sum(&phi);
    let w: Vec<f64> = phi.iter().map(|v| v / total).collect();
    let n = x.len() as i64;
    let at = |i: i64| x[reflect(i, x.len())];
    let r = radius as i64;
    (0..n)
        .map(|i| {
            // Centre first, then the pairs from the outside in (SciPy's symmetric branch).
            let mut acc = at(i) * w[radius];
            for d in (1..=r).rev() {
                acc += (at(i - d) + at(i + d)) * w[(r - d) as usize];
            }
            acc
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The reference implementation's own check value: `init_genrand(5489)`, the 10000th
    /// output is 4123659995 (Matsumoto–Nishimura, mt19937ar test output; also the C++
    /// standard's `std::mt19937` requirement).
    #[test]
    fn mt19937_matches_the_published_check_value() {
        let mut r = RandomState::new(5489);
        let mut last = 0;
        for _ in 0..10_000 {
            last = r.next_u32();
        }
        assert_eq!(last, 4_123_659_995);
    }

    #[test]
    fn pairwise_sum_is_exact_on_integers_and_follows_the_blocking() {
        let v: Vec<f64> = (1..=1000).map(f64::from).collect();
        assert_eq!(pairwise_sum(&v), 500_500.0);
        // 1 + 2⁻⁵³·(many) loses the small terms when added one by one to 1, but the eight
        // accumulators of a block add them among themselves first.
        let mut w = vec![2f64.powi(-53); 16];
        w[0] = 1.0;
        let seq = w.iter().fold(0.0, |s, &x| s + x);
        assert_eq!(seq, 1.0);
        assert!(pairwise_sum(&w) > 1.0);
    }

    #[test]
    fn linspace_and_interp_hit_the_grid_exactly() {
        let g = linspace(0.0, 1.0, 5);
        assert_eq!(g, vec![0.0, 0.25, 0.5, 0.75, 1.0]);
        let y = interp(&[0.0, 0.125, 1.0, 0.5], &g, &[0.0, 2.0, 4.0, 6.0, 8.0]).unwrap();
        assert!(interp(&[0.5], &[], &[]).is_err());
        assert!(interp(&[0.5], &g, &[1.0; 4]).is_err());
        assert!(interpolate(&[], 5).is_err());
        assert_eq!(y, vec![0.0, 1.0, 8.0, 4.0]);
        assert_eq!(
            interpolate(&[0.0, 1.0], 5).unwrap(),
            vec![0.0, 0.25, 0.5, 0.75, 1.0]
        );
        let x = [1.0, 3.0, 2.0];
        assert_eq!(interpolate(&x, 3).unwrap(), x.to_vec());
        // 72 -> 40: the ends are kept exactly.
        let y: Vec<f64> = (0..72).map(|i| (i as f64).sin()).collect();
        let z = interpolate(&y, 40).unwrap();
        assert_eq!((z[0], z[39]), (y[0], y[71]));
    }

    #[test]
    fn gaussian_filter_keeps_constants_and_mass_and_reflects_at_the_edges() {
        // A constant stays constant (normalised weights, reflected edges): rounding only.
        let c = gaussian_filter1d(&[2.5; 20], 2.0);
        assert!(c.iter().all(|v| (v - 2.5).abs() < 1e-14));
        // An impulse far from the edges becomes the normalised Gaussian (radius 8).
        let mut d = vec![0.0; 40];
        d[20] = 1.0;
        let g = gaussian_filter1d(&d, 2.0);
        assert!((g.iter().sum::<f64>() - 1.0).abs() < 1e-14);
        assert_eq!((g[11], g[29]), (0.0, 0.0));
        assert!(g[12] > 0.0 && (g[19] / g[20] - (-0.125f64).exp()).abs() < 1e-14);
        // Reflection: the edge sample is repeated.
        assert_eq!(
            (reflect(-1, 5), reflect(-2, 5), reflect(5, 5), reflect(6, 5)),
            (0, 1, 4, 3)
        );
    }

    #[test]
    fn draws_are_in_range_and_shuffles_are_permutations() {
        let mut r = RandomState::new(42);
        for _ in 0..1000 {
            let u = r.random_sample();
            assert!((0.0..1.0).contains(&u));
            assert!(r.randint(48).unwrap() < 48);
        }
        assert!(r.randint(0).is_err() && r.randint((1 << 32) + 1).is_err());
        let mut p = r.permutation(100).unwrap();
        p.sort_unstable();
        assert_eq!(p, (0..100).collect::<Vec<_>>());
    }
}
