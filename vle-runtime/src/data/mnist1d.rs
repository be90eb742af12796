//! MNIST-1D (Greydanus 2020), generated procedurally and seeded (`vle::_theory` §8).
//!
//! Ten digit templates of 12 points are turned into noisy, shifted, scaled, sheared sequences:
//!
//! 1. template + 1e-8 (so that template points that are exactly zero are not mistaken for
//!    padding in step 5), padded with p zeros, p uniform in [36, 60];
//! 2. linear interpolation to 12 + 60 = 72 points;
//! 3. scaled by 1 + 0.4·(U − ½);
//! 4. circular shift to the right by k, k uniform in [0, 48);
//! 5. where the signal is exactly zero (the padding), correlated noise: a Gaussian filter
//!    (σ = 2 samples, radius 8, mirror-reflected edges) of 0.25·N(0, 1) white noise;
//! 6. i.i.d. noise 0.02·N(0, 1) everywhere;
//! 7. minus a shear c·linspace(−½, ½, 72), c = 0.75·(U − ½);
//! 8. linear interpolation to 40 points.
//!
//! 5000 samples (500 per class) are generated class by class, shuffled, standardised with the
//! mean and (population) standard deviation of the whole set, and split 4000 train / 1000 test.
//! Everything follows the reference generator (`mnist1d/data.py` and `transform.py` of the
//! `mnist1d` package, 0.0.2.post1) operation for operation: its random stream (NumPy's legacy
//! MT19937, [`numpy::RandomState`]) drawn in the same order, its interpolation, filter and
//! reductions ([`numpy`]). A seed therefore gives the package's dataset for that seed bit for
//! bit (checked against the package in `tests/mnist1d_reference.rs`). Seed 42 (the default)
//! at length 360 is what the published GLE code trains on (`get_mnist1d_splits(
//! final_seq_length=360)`, which calls the package with these defaults), with this package
//! version; the legacy NumPy stream is frozen, but other SciPy versions could round the
//! interpolation differently in the last bit.
//!
//! ```
//! use vle_runtime::data::mnist1d::{generate, Mnist1dConfig};
//! let data = generate(&Mnist1dConfig { seed: 3, ..Mnist1dConfig::default() }).unwrap();
//! assert_eq!((data.n_train(), data.n_test(), data.length), (4000, 1000, 40));
//! ```

use crate::data::numpy::{self, RandomState};
use crate::data::Dataset;
use crate::error::{Error, Result};

/// Number of classes (digits).
pub const CLASSES: usize = 10;
/// Points per template.
pub const TEMPLATE_LEN: usize = 12;

/// The published raw digit templates (`get_templates` of the reference), before the
/// normalisation of [`templates`].
const RAW_TEMPLATES: [[f64; TEMPLATE_LEN]; CLASSES] = [
    [5.0, 6.0, 6.5, 6.75, 7.0, 7.0, 7.0, 7.0, 6.75, 6.5, 6.0, 5.0],
    [5.0, 3.0, 3.0, 3.4, 3.8, 4.2, 4.6, 5.0, 5.4, 5.8, 5.0, 5.0],
    [5.0, 6.0, 6.5, 6.5, 6.0, 5.25, 4.75, 4.0, 3.5, 3.5, 4.0, 5.0],
    [5.0, 6.0, 6.5, 6.5, 6.0, 5.0, 5.0, 6.0, 6.5, 6.5, 6.0, 5.0],
    [5.0, 4.4, 3.8, 3.2, 2.6, 2.6, 5.0, 5.0, 5.0, 5.0, 5.0, 5.0],
    [5.0, 3.0, 3.0, 3.0, 3.0, 5.0, 6.0, 6.5, 6.5, 6.0, 4.5, 5.0],
    [5.0, 4.0, 3.5, 3.25, 3.0, 3.0, 3.0, 3.0, 3.25, 3.5, 4.0, 5.0],
    [5.0, 7.0, 7.0, 6.6, 6.2, 5.8, 5.4, 5.0, 4.6, 4.2, 5.0, 5.0],
    [5.0, 4.0, 3.5, 3.5, 4.0, 5.0, 5.0, 4.0, 3.5, 3.5, 4.0, 5.0],
    [5.0, 4.0, 3.5, 3.5, 4.0, 5.0, 5.0, 5.0, 5.0, 4.7, 4.3, 5.0],
];

/// Offset added to the template before padding (reference: `eps = 1e-8`), so that only the
/// padding is "exactly zero" when the correlated noise is placed.
const TEMPLATE_EPS: f64 = 1e-8;

/// The ten templates as published: each raw template standardised (its mean subtracted, divided
/// by its population standard deviation), shifted so it starts at 0, and divided by 6. Every
/// template starts and ends at 0.
pub fn templates() -> [[f64; TEMPLATE_LEN]; CLASSES] {
    let mut out = RAW_TEMPLATES;
    for t in &mut out {
        let mean = numpy::mean(t);
        t.iter_mut().for_each(|v| *v -= mean);
        let std = numpy::std(t);
        t.iter_mut().for_each(|v| *v /= std);
        let first = t[0];
        t.iter_mut().for_each(|v| *v = (*v - first) / 6.0);
    }
    out
}

/// Settings of [`generate`]; `Default` gives the published ones (seed 42, as the reference).
#[derive(Clone, Debug, PartialEq)]
pub struct Mnist1dConfig {
    /// Total number of samples; a positive multiple of 10 (equal classes).
    pub num_samples: usize,
    /// Fraction of the (shuffled) samples in the training set; the rest is the test set.
    pub train_split: f64,
    /// Number of padding zeros, uniform in `[padding.0, padding.1]` (inclusive).
    pub padding: (usize, usize),
    /// Scale factor 1 + `scale_coeff`·(U − ½).
    pub scale_coeff: f64,
    /// Circular shift k uniform in `[0, max_translation)`.
    pub max_translation: usize,
    /// Standard deviation of the white noise that is filtered into the correlated noise.
    pub corr_noise_scale: f64,
    /// σ of the Gaussian filter of the correlated noise, in samples of the 72-point signal.
    pub corr_noise_sigma: f64,
    /// Standard deviation of the i.i.d. noise.
    pub iid_noise_scale: f64,
    /// Shear coefficient c = `shear_scale`·(U − ½).
    pub shear_scale: f64,
    /// Length of the final sequences.
    pub final_seq_length: usize,
    /// `numpy.random.seed` of the reference: the MT19937 stream ([`RandomState`]) that
    /// draws every sample and the shuffle; a seed gives the same dataset on every platform,
    /// and the `mnist1d` package's dataset for that seed.
    pub seed: u32,
}

impl Default for Mnist1dConfig {
    fn default() -> Self {
        Mnist1dConfig {
            num_samples: 5000,
            train_split: 0.8,
            padding: (36, 60),
            scale_coeff: 0.4,
            max_translation: 48,
            corr_noise_scale: 0.25,
            corr_noise_sigma: 2.0,
            iid_noise_scale: 0.02,
            shear_scale: 0.75,
            final_seq_length: 40,
            seed: 42,
        }
    }
}

fn invalid(name: &str, value: f64, expected: &str) -> Error {
    Error::InvalidHyperParameter {
        name: format!("Mnist1dConfig::{name}"),
        value,
        expected: expected.into(),
    }
}

impl Mnist1dConfig {
    /// Length of the intermediate signal: template plus the largest padding (72 by default).
    pub fn dilated_len(&self) -> usize {
        TEMPLATE_LEN + self.padding.1
    }

    /// Samples in the training set: ⌊num_samples · train_split⌋.
    pub fn n_train(&self) -> usize {
        (self.num_samples as f64 * self.train_split) as usize
    }

    /// Checks every setting; errors name the field and the valid range.
    pub fn validate(&self) -> Result<()> {
        if self.num_samples == 0
            || !self.num_samples.is_multiple_of(CLASSES)
            || self.num_samples as u64 > 1 << 32
        {
            return Err(invalid(
                "num_samples",
                self.num_samples as f64,
                "a positive multiple of 10 (the same number of samples per class), at most \
                 2^32 (NumPy's shuffle draws 32-bit words)",
            ));
        }
        let n_train = self.n_train();
        if !(self.train_split > 0.0 && self.train_split < 1.0)
            || n_train == 0
            || n_train == self.num_samples
        {
            return Err(invalid(
                "train_split",
                self.train_split,
                "a fraction in (0, 1) that leaves at least one training and one test sample",
            ));
        }
        if self.padding.0 > self.padding.1 {
            return Err(invalid(
                "padding",
                self.padding.0 as f64,
                &format!(
                    "padding.0 <= padding.1 (got ({}, {}))",
                    self.padding.0, self.padding.1
                ),
            ));
        }
        if self.max_translation == 0 || self.max_translation > self.dilated_len() {
            return Err(invalid(
                "max_translation",
                self.max_translation as f64,
                &format!(
                    "1 ..= {} (the length of the padded template)",
                    self.dilated_len()
                ),
            ));
        }
        for (name, v) in [
            ("scale_coeff", self.scale_coeff),
            ("corr_noise_scale", self.corr_noise_scale),
            ("iid_noise_scale", self.iid_noise_scale),
            ("shear_scale", self.shear_scale),
        ] {
            if !(v.is_finite() && v >= 0.0) {
                return Err(invalid(name, v, "a finite value >= 0"));
            }
        }
        if self.scale_coeff >= 2.0 {
            return Err(invalid(
                "scale_coeff",
                self.scale_coeff,
                "< 2 (so that the scale factor 1 + c(U - 1/2) stays positive)",
            ));
        }
        if !(self.corr_noise_sigma.is_finite() && self.corr_noise_sigma > 0.0) {
            return Err(invalid(
                "corr_noise_sigma",
                self.corr_noise_sigma,
                "a finite sigma > 0 (in samples)",
            ));
        }
        if self.final_seq_length < 2 {
            return Err(invalid(
                "final_seq_length",
                self.final_seq_length as f64,
                "at least 2 points",
            ));
        }
        Ok(())
    }
}

/// One sample of class `template` (steps 1–8 of the module documentation), with the random
/// draws in the reference's order and its arithmetic.
fn transform(template: &[f64], config: &Mnist1dConfig, rng: &mut RandomState) -> Result<Vec<f64>> {
    let (lo, hi) = config.padding;
    // `low + int(rand() * (high - low + 1))`
    let p = lo + (rng.random_sample() * (hi - lo + 1) as f64) as usize;
    let mut x: Vec<f64> = template.iter().map(|v| v + TEMPLATE_EPS).collect();
    x.resize(template.len() + p, 0.0);
    let len = config.dilated_len();
    let mut x = numpy::interpolate(&x, len)?;
    let scale = 1.0 + config.scale_coeff * (rng.random_sample() - 0.5);
    x.iter_mut().for_each(|v| *v *= scale);
    let k = rng.randint(config.max_translation as u64)? as usize;
    x.rotate_right(k);
    let white: Vec<f64> = (0..len)
        .map(|_| config.corr_noise_scale * rng.standard_normal())
        .collect();
    let corr = numpy::gaussian_filter1d(&white, config.corr_noise_sigma);
    for (v, c) in x.iter_mut().zip(&corr) {
        if *v == 0.0 {
            *v = *c;
        }
    }
    x.iter_mut()
        .for_each(|v| *v += config.iid_noise_scale * rng.standard_normal());
    let c = config.shear_scale * (rng.random_sample() - 0.5);
    for (v, s) in x.iter_mut().zip(numpy::linspace(-0.5, 0.5, len)) {
        *v -= c * s;
    }
    numpy::interpolate(&x, config.final_seq_length)
}

/// Generates the dataset described in the module documentation.
pub fn generate(config: &Mnist1dConfig) -> Result<Dataset> {
    config.validate()?;
    let mut rng = RandomState::new(config.seed);
    let per_class = config.num_samples / CLASSES;
    let templates = templates();
    let len = config.final_seq_length;
    let mut xs = Vec::with_capacity(config.num_samples * len);
    let mut ys = Vec::with_capacity(config.num_samples);
    for (label, template) in templates.iter().enumerate() {
        for _ in 0..per_class {
            xs.extend(transform(template, config, &mut rng)?);
            ys.push(label);
        }
    }
    // Shuffled first, then standardised over the shuffled array (the summation order).
    let order = rng.permutation(ys.len())?;
    let mut shuffled = Vec::with_capacity(xs.len());
    for &i in &order {
        shuffled.extend_from_slice(&xs[i * len..(i + 1) * len]);
    }
    let mean = numpy::mean(&shuffled);
    let std = numpy::std(&shuffled);
    let std = if std > 0.0 { std } else { 1.0 };
    let n_train = config.n_train();
    let (mut x_train, mut y_train, mut x_test, mut y_test) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for (rank, (&i, row)) in order.iter().zip(shuffled.chunks_exact(len)).enumerate() {
        let row = row.iter().map(|v| (v - mean) / std);
        if rank < n_train {
            x_train.extend(row);
            y_train.push(ys[i]);
        } else {
            x_test.extend(row);
            y_test.push(ys[i]);
        }
    }
    Dataset::new(x_train, y_train, x_test, y_test, len, CLASSES)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dist2(a: &[f64], b: &[f64]) -> f64 {
        a.iter().zip(b).map(|(x, y)| (x - y) * (x - y)).sum()
    }

    #[test]
    fn templates_are_normalised_and_start_and_end_at_zero() {
        for t in templates() {
            assert_eq!(t[0], 0.0);
            assert!(t[TEMPLATE_LEN - 1].abs() < 1e-15);
            let mean = t.iter().sum::<f64>() / 12.0;
            let std = (t.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / 12.0).sqrt();
            assert!((std - 1.0 / 6.0).abs() < 1e-12, "{std}");
        }
        // Template 0 by hand: raw values 5, 6, 6.5, 6.75, 7, ...
        let raw = RAW_TEMPLATES[0];
        let mean = raw.iter().sum::<f64>() / 12.0;
        let std = (raw.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / 12.0).sqrt();
        assert!((templates()[0][4] - (7.0 - 5.0) / std / 6.0).abs() < 1e-12);
    }

    #[test]
    fn default_dataset_has_the_published_shape_balance_and_scaling() {
        let d = generate(&Mnist1dConfig::default()).unwrap();
        assert_eq!(d.length, 40);
        assert_eq!((d.n_train(), d.n_test()), (4000, 1000));
        assert_eq!(d.x_train.len(), 4000 * 40);
        assert_eq!(d.x_test.len(), 1000 * 40);
        let mut counts = [0usize; CLASSES];
        d.y_train
            .iter()
            .chain(&d.y_test)
            .for_each(|&y| counts[y] += 1);
        assert_eq!(counts, [500; CLASSES]);
        // Shuffled: both splits hold every class, in no fixed order.
        assert!((0..CLASSES).all(|c| d.y_test.contains(&c)));
        assert_ne!(d.y_train[..10], d.y_train[10..20]);
        let all: Vec<f64> = d.x_train.iter().chain(&d.x_test).copied().collect();
        let n = all.len() as f64;
        let mean = all.iter().sum::<f64>() / n;
        let std = (all.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / n).sqrt();
        assert!(
            mean.abs() < 1e-12 && (std - 1.0).abs() < 1e-12,
            "{mean} {std}"
        );
        assert!(all.iter().all(|v| v.is_finite()));
    }

    #[test]
    fn deterministic_per_seed() {
        let cfg = Mnist1dConfig {
            num_samples: 200,
            ..Mnist1dConfig::default()
        };
        let a = generate(&cfg).unwrap();
        let b = generate(&cfg).unwrap();
        assert_eq!(a, b);
        let c = generate(&Mnist1dConfig { seed: 43, ..cfg }).unwrap();
        assert_ne!(a.x_train, c.x_train);
    }

    /// Without noise, scaling, shift and shear, every sample is its template stretched by its
    /// padding: a nearest-template classifier that tries every padding is perfect, and the
    /// templates are far apart.
    #[test]
    fn noiseless_samples_are_classified_perfectly_by_the_nearest_template() {
        let cfg = Mnist1dConfig {
            num_samples: 300,
            scale_coeff: 0.0,
            max_translation: 1,
            corr_noise_scale: 0.0,
            iid_noise_scale: 0.0,
            shear_scale: 0.0,
            ..Mnist1dConfig::default()
        };
        let d = generate(&cfg).unwrap();
        // The dataset's standardisation, recovered from the training set is not needed: compare
        // after standardising each candidate the same way as its sample (zero mean, unit norm).
        let normalise = |v: &[f64]| {
            let m = v.iter().sum::<f64>() / v.len() as f64;
            let c: Vec<f64> = v.iter().map(|x| x - m).collect();
            let s = c.iter().map(|x| x * x).sum::<f64>().sqrt();
            c.into_iter().map(|x| x / s).collect::<Vec<_>>()
        };
        let mut candidates = Vec::new();
        for (label, t) in templates().iter().enumerate() {
            for p in cfg.padding.0..=cfg.padding.1 {
                let mut x: Vec<f64> = t.iter().map(|v| v + TEMPLATE_EPS).collect();
                x.resize(TEMPLATE_LEN + p, 0.0);
                let x = numpy::interpolate(
                    &numpy::interpolate(&x, cfg.dilated_len()).unwrap(),
                    cfg.final_seq_length,
                )
                .unwrap();
                candidates.push((label, normalise(&x)));
            }
        }
        let x_all: Vec<&[f64]> = d
            .x_train
            .chunks(d.length)
            .chain(d.x_test.chunks(d.length))
            .collect();
        let y_all: Vec<usize> = d.y_train.iter().chain(&d.y_test).copied().collect();
        for (x, &y) in x_all.iter().zip(&y_all) {
            let x = normalise(x);
            let (best, dist) = candidates
                .iter()
                .map(|(l, c)| (*l, dist2(&x, c)))
                .min_by(|a, b| a.1.total_cmp(&b.1))
                .unwrap();
            assert_eq!(best, y, "distance {dist}");
            assert!(dist < 1e-12, "{dist}");
        }
        // Templates are pairwise distinct by a clear margin.
        let t = templates();
        for i in 0..CLASSES {
            for j in 0..i {
                assert!(dist2(&t[i], &t[j]) > 0.05, "{i} {j}");
            }
        }
    }

    /// With the published noise the task is hard but learnable: a nearest-class-mean
    /// classifier fit on the training set beats chance (10 %) clearly on the test set.
    #[test]
    fn noisy_dataset_is_above_chance_for_a_nearest_mean_classifier() {
        let d = generate(&Mnist1dConfig::default()).unwrap();
        let mut means = vec![vec![0.0; d.length]; CLASSES];
        let mut counts = [0usize; CLASSES];
        for (x, &y) in d.x_train.chunks(d.length).zip(&d.y_train) {
            means[y].iter_mut().zip(x).for_each(|(m, v)| *m += v);
            counts[y] += 1;
        }
        for (m, &c) in means.iter_mut().zip(&counts) {
            m.iter_mut().for_each(|v| *v /= c as f64);
        }
        let correct = d
            .x_test
            .chunks(d.length)
            .zip(&d.y_test)
            .filter(|(x, &y)| {
                (0..CLASSES).min_by(|&a, &b| dist2(x, &means[a]).total_cmp(&dist2(x, &means[b])))
                    == Some(y)
            })
            .count();
        let acc = correct as f64 / d.n_test() as f64;
        assert!(acc > 0.2, "nearest-mean accuracy {acc}");
    }

    #[test]
    fn invalid_settings_are_named() {
        let bad = |c: Mnist1dConfig| generate(&c).unwrap_err().to_string();
        let d = Mnist1dConfig::default();
        assert!(bad(Mnist1dConfig {
            num_samples: 55,
            ..d.clone()
        })
        .contains("num_samples"));
        assert!(bad(Mnist1dConfig {
            num_samples: 0,
            ..d.clone()
        })
        .contains("multiple of 10"));
        assert!(bad(Mnist1dConfig {
            train_split: 1.0,
            ..d.clone()
        })
        .contains("train_split"));
        assert!(bad(Mnist1dConfig {
            padding: (60, 36),
            ..d.clone()
        })
        .contains("padding"));
        assert!(bad(Mnist1dConfig {
            max_translation: 0,
            ..d.clone()
        })
        .contains("max_translation"));
        assert!(bad(Mnist1dConfig {
            iid_noise_scale: f64::NAN,
            ..d.clone()
        })
        .contains("iid_noise_scale"));
        assert!(bad(Mnist1dConfig {
            corr_noise_sigma: 0.0,
            ..d.clone()
        })
        .contains("corr_noise_sigma"));
        assert!(bad(Mnist1dConfig {
            final_seq_length: 1,
            ..d
        })
        .contains("final_seq_length"));
    }
}
