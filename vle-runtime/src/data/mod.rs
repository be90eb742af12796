//! Datasets of labelled sequences: the MNIST-1D generator ([`mnist1d`]) and loading a user's
//! own data from `.npy`/`.npz` files ([`Dataset::from_npz`], [`Dataset::from_npy`]).

pub mod mnist1d;
pub mod numpy;

use std::path::Path;

use crate::error::{Error, Result};
use crate::io::npy::{read_npy, read_npz, Array, DType};

/// Labelled sequences of one channel, split into a training and a test set.
///
/// `x_train` is `n_train × length` row-major (sample `i` is `x_train[i·length..(i+1)·length]`),
/// `y_train[i]` its class in `0..classes`; the same for the test set.
#[derive(Clone, Debug, PartialEq)]
pub struct Dataset {
    /// Training inputs, `n_train × length`, sample-major.
    pub x_train: Vec<f64>,
    /// Training labels, one per sample, each in `0..classes`.
    pub y_train: Vec<usize>,
    /// Test inputs, `n_test × length`, sample-major.
    pub x_test: Vec<f64>,
    /// Test labels, one per sample, each in `0..classes`.
    pub y_test: Vec<usize>,
    /// Values per sequence.
    pub length: usize,
    /// Number of classes; every label is below it.
    pub classes: usize,
}

fn data_error(what: &str, problem: String) -> Error {
    Error::File {
        path: what.to_string(),
        problem,
    }
}

impl Dataset {
    /// Checks and wraps the arrays: lengths agree, both sets are non-empty, every value is
    /// finite and every label is below `classes`.
    pub fn new(
        x_train: Vec<f64>,
        y_train: Vec<usize>,
        x_test: Vec<f64>,
        y_test: Vec<usize>,
        length: usize,
        classes: usize,
    ) -> Result<Self> {
        for (set, x, y) in [
            ("training set", &x_train, &y_train),
            ("test set", &x_test, &y_test),
        ] {
            let what = format!("the {set}");
            if y.is_empty() || length == 0 {
                return Err(Error::EmptyData { what });
            }
            if x.len() != y.len() * length {
                return Err(Error::Length {
                    what: format!("the {set}'s inputs ({} labels × length {length})", y.len()),
                    expected: y.len() * length,
                    got: x.len(),
                });
            }
            check_values(&what, x, length)?;
            check_labels(&what, y, classes)?;
        }
        Ok(Dataset {
            x_train,
            y_train,
            x_test,
            y_test,
            length,
            classes,
        })
    }

    /// Number of training samples.
    pub fn n_train(&self) -> usize {
        self.y_train.len()
    }
    /// Number of test samples.
    pub fn n_test(&self) -> usize {
        self.y_test.len()
    }
    /// Training sample `i`.
    ///
    /// # Panics
    /// When `i` is not below [`Dataset::n_train`], as slice indexing does.
    pub fn train_sample(&self, i: usize) -> &[f64] {
        &self.x_train[i * self.length..(i + 1) * self.length]
    }
    /// Test sample `i`.
    ///
    /// # Panics
    /// When `i` is not below [`Dataset::n_test`], as slice indexing does.
    pub fn test_sample(&self, i: usize) -> &[f64] {
        &self.x_test[i * self.length..(i + 1) * self.length]
    }

    /// Loads an `.npz` archive (`np.savez` or `np.savez_compressed`) holding `x`
    /// (samples × time, numbers) and `y` (integer labels in `0..classes`), and optionally
    /// `x_test` and `y_test` (the names of the published MNIST-1D file). Without a test set,
    /// the first ⌊n·train_split⌋ samples train and the rest test. Other arrays are ignored.
    pub fn from_npz(path: impl AsRef<Path>, classes: usize, train_split: f64) -> Result<Self> {
        let path = path.as_ref();
        let name = path.display().to_string();
        let arrays = read_npz(path)?;
        let get = |key: &str| arrays.iter().find(|(k, _)| k == key).map(|(_, a)| a);
        let keys: Vec<&str> = arrays.iter().map(|(k, _)| k.as_str()).collect();
        let need = |key: &str| {
            get(key).ok_or_else(|| {
                data_error(
                    &name,
                    format!(
                        "no array `{key}`; the archive holds {keys:?}; expected `x` \
                         (samples × time) and `y` (labels), optionally `x_test` and `y_test`"
                    ),
                )
            })
        };
        let train = labelled(
            need("x")?,
            need("y")?,
            &format!("{name}:x"),
            &format!("{name}:y"),
            classes,
        )?;
        let test = match (get("x_test"), get("y_test")) {
            (None, None) => None,
            (Some(x), Some(y)) => Some(labelled(
                x,
                y,
                &format!("{name}:x_test"),
                &format!("{name}:y_test"),
                classes,
            )?),
            _ => {
                return Err(data_error(
                    &name,
                    "holds only one of `x_test` and `y_test`; give both or neither".into(),
                ))
            }
        };
        assemble(train, test, classes, train_split, &name)
    }

    /// Loads `x` (samples × time) and `y` (integer labels) from two `.npy` files, and
    /// optionally a test set from two more; without one, the first ⌊n·train_split⌋ samples
    /// train and the rest test.
    pub fn from_npy(
        x: impl AsRef<Path>,
        y: impl AsRef<Path>,
        test: Option<(&Path, &Path)>,
        classes: usize,
        train_split: f64,
    ) -> Result<Self> {
        let load = |x: &Path, y: &Path| {
            labelled(
                &read_npy(x)?,
                &read_npy(y)?,
                &x.display().to_string(),
                &y.display().to_string(),
                classes,
            )
        };
        let (x, y) = (x.as_ref(), y.as_ref());
        let train = load(x, y)?;
        let test = test.map(|(x, y)| load(x, y)).transpose()?;
        assemble(train, test, classes, train_split, &x.display().to_string())
    }
}

/// Inputs, labels and sequence length of one labelled set.
type Labelled = (Vec<f64>, Vec<usize>, usize);

fn assemble(
    train: Labelled,
    test: Option<Labelled>,
    classes: usize,
    train_split: f64,
    name: &str,
) -> Result<Dataset> {
    let (x, y, length) = train;
    let (x_train, y_train, x_test, y_test) = match test {
        Some((xt, yt, lt)) => {
            if lt != length {
                return Err(data_error(
                    name,
                    format!("the test sequences have length {lt}, the training ones {length}"),
                ));
            }
            (x, y, xt, yt)
        }
        None => {
            let n_train = (y.len() as f64 * train_split) as usize;
            if !(train_split > 0.0 && train_split < 1.0) || n_train == 0 || n_train == y.len() {
                return Err(data_error(
                    name,
                    format!(
                        "cannot split {} samples with train_split = {train_split} into \
                         non-empty training and test sets; give more samples, another split \
                         or a separate test set",
                        y.len()
                    ),
                ));
            }
            (
                x[..n_train * length].to_vec(),
                y[..n_train].to_vec(),
                x[n_train * length..].to_vec(),
                y[n_train..].to_vec(),
            )
        }
    };
    Dataset::new(x_train, y_train, x_test, y_test, length, classes)
}

/// Checks `x` (samples × time, numeric) and `y` (integer labels below `classes`, one per
/// sample) and converts them.
pub fn labelled(
    x: &Array,
    y: &Array,
    x_name: &str,
    y_name: &str,
    classes: usize,
) -> Result<(Vec<f64>, Vec<usize>, usize)> {
    let (n, length) = match x.shape() {
        &[n, t] => (n, t),
        s => {
            return Err(data_error(
                x_name,
                format!(
                    "x must be 2-D (samples × time), got shape {s:?}; for one sample use \
                     x.reshape(1, -1)"
                ),
            ))
        }
    };
    if x.dtype() == DType::Bool {
        return Err(data_error(
            x_name,
            "x holds booleans; expected numbers (save it as float: x.astype('float32'))".into(),
        ));
    }
    if n == 0 || length == 0 {
        return Err(data_error(
            x_name,
            format!("x is empty (shape [{n}, {length}]); it needs at least one sample and one time step"),
        ));
    }
    let xs = x.to_f64();
    check_values(x_name, &xs, length)?;
    let labels = match y.shape() {
        &[m] | &[m, 1] => y.to_i64().map(|v| (m, v)),
        s => {
            return Err(data_error(
                y_name,
                format!("y must be 1-D (one integer label per sample), got shape {s:?}"),
            ))
        }
    };
    let (m, labels) = labels.ok_or_else(|| {
        data_error(
            y_name,
            format!(
                "y holds {} values; expected integer class labels (save them with \
                 y.astype('int64'); one-hot targets: y.argmax(1))",
                y.dtype().descr()
            ),
        )
    })?;
    if m != n {
        return Err(data_error(
            y_name,
            format!("y has {m} labels but x ({x_name}) has {n} samples"),
        ));
    }
    let ys = labels
        .iter()
        .enumerate()
        .map(|(i, &l)| {
            usize::try_from(l)
                .ok()
                .filter(|&c| c < classes)
                .ok_or_else(|| {
                    data_error(
                        y_name,
                        format!("label {i} is {l}; labels must be in 0..{classes} (the network has {classes} outputs)"),
                    )
                })
        })
        .collect::<Result<Vec<usize>>>()?;
    Ok((xs, ys, length))
}

fn check_values(what: &str, x: &[f64], length: usize) -> Result<()> {
    match x.iter().position(|v| !v.is_finite()) {
        None => Ok(()),
        Some(i) => Err(data_error(
            what,
            format!(
                "value {} at sample {}, time {} is not finite; remove or impute NaN and \
                 infinite values",
                x[i],
                i / length.max(1),
                i % length.max(1)
            ),
        )),
    }
}

fn check_labels(what: &str, y: &[usize], classes: usize) -> Result<()> {
    match y.iter().position(|&l| l >= classes) {
        None => Ok(()),
        Some(i) => Err(data_error(
            what,
            format!("label {i} is {}; labels must be in 0..{classes}", y[i]),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::io::npy::{write_npy, write_npz, Data};

    fn dir(tag: &str) -> std::path::PathBuf {
        let d = std::env::temp_dir().join(format!("vle-data-{tag}-{}", std::process::id()));
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    fn x(n: usize, t: usize) -> Array {
        Array::from_f64(vec![n, t], (0..n * t).map(|v| v as f64).collect()).unwrap()
    }
    fn y(labels: &[i64]) -> Array {
        Array::from_i64(vec![labels.len()], labels.to_vec()).unwrap()
    }

    #[test]
    fn loads_npz_with_and_without_a_test_set() {
        let d = dir("npz");
        let p = d.join("d.npz");
        write_npz(&p, &[("x", &x(5, 3)), ("y", &y(&[0, 1, 2, 3, 4]))]).unwrap();
        let ds = Dataset::from_npz(&p, 10, 0.8).unwrap();
        assert_eq!((ds.n_train(), ds.n_test(), ds.length), (4, 1, 3));
        assert_eq!(ds.test_sample(0), &[12.0, 13.0, 14.0]);
        let xt = Array::from_f32(vec![2, 3], vec![0.0; 6]).unwrap();
        let yt = Array::new(vec![2, 1], Data::U8(vec![9, 0])).unwrap();
        write_npz(
            &p,
            &[
                ("x", &x(5, 3)),
                ("y", &y(&[0; 5])),
                ("x_test", &xt),
                ("y_test", &yt),
            ],
        )
        .unwrap();
        let ds = Dataset::from_npz(&p, 10, 0.8).unwrap();
        assert_eq!((ds.n_train(), ds.y_test.clone()), (5, vec![9, 0]));
        std::fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn loads_npy_pairs() {
        let d = dir("npy");
        let (px, py) = (d.join("x.npy"), d.join("y.npy"));
        write_npy(&px, &x(10, 4)).unwrap();
        write_npy(&py, &y(&[1; 10])).unwrap();
        let ds = Dataset::from_npy(&px, &py, None, 10, 0.7).unwrap();
        assert_eq!((ds.n_train(), ds.n_test()), (7, 3));
        let ds = Dataset::from_npy(&px, &py, Some((&px, &py)), 10, 0.7).unwrap();
        assert_eq!((ds.n_train(), ds.n_test()), (10, 10));
        std::fs::remove_dir_all(&d).unwrap();
    }

    fn npz_error(arrays: &[(&str, &Array)]) -> String {
        let d = dir("bad");
        let p = d.join("bad.npz");
        write_npz(&p, arrays).unwrap();
        let e = Dataset::from_npz(&p, 10, 0.8).unwrap_err().to_string();
        std::fs::remove_dir_all(&d).unwrap();
        assert!(e.contains("bad.npz"), "{e}");
        e
    }

    #[test]
    fn wrong_shapes_types_and_values_are_named() {
        let labels = y(&[0, 1, 2, 3, 4]);
        let e = npz_error(&[("x", &x(5, 3))]);
        assert!(e.contains("no array `y`"), "{e}");
        let flat = Array::from_f64(vec![15], vec![0.0; 15]).unwrap();
        let e = npz_error(&[("x", &flat), ("y", &labels)]);
        assert!(e.contains("2-D") && e.contains(":x"), "{e}");
        let e = npz_error(&[("x", &x(5, 3)), ("y", &y(&[0, 1]))]);
        assert!(e.contains("2 labels") && e.contains("5 samples"), "{e}");
        let fy = Array::from_f64(vec![5], vec![0.0; 5]).unwrap();
        let e = npz_error(&[("x", &x(5, 3)), ("y", &fy)]);
        assert!(e.contains("<f8") && e.contains("integer"), "{e}");
        let e = npz_error(&[("x", &x(5, 3)), ("y", &y(&[0, 1, 2, 3, 10]))]);
        assert!(e.contains("label 4 is 10"), "{e}");
        let e = npz_error(&[("x", &x(5, 3)), ("y", &y(&[0, 1, -1, 3, 4]))]);
        assert!(e.contains("label 2 is -1"), "{e}");
        let mut nan = x(5, 3).to_f64();
        nan[7] = f64::NAN;
        let nan = Array::from_f64(vec![5, 3], nan).unwrap();
        let e = npz_error(&[("x", &nan), ("y", &labels)]);
        assert!(
            e.contains("sample 2, time 1") && e.contains("not finite"),
            "{e}"
        );
        let empty = Array::from_f64(vec![0, 3], vec![]).unwrap();
        let e = npz_error(&[("x", &empty), ("y", &y(&[]))]);
        assert!(e.contains("empty"), "{e}");
        let b = Array::new(vec![5, 1], Data::Bool(vec![true; 5])).unwrap();
        let e = npz_error(&[("x", &b), ("y", &labels)]);
        assert!(e.contains("booleans"), "{e}");
        let e = npz_error(&[("x", &x(5, 3)), ("y", &labels), ("x_test", &x(1, 3))]);
        assert!(e.contains("x_test") && e.contains("y_test"), "{e}");
        let e = npz_error(&[
            ("x", &x(5, 3)),
            ("y", &labels),
            ("x_test", &x(1, 4)),
            ("y_test", &y(&[0])),
        ]);
        assert!(e.contains("length 4"), "{e}");
        let e = npz_error(&[("x", &x(1, 3)), ("y", &y(&[0]))]);
        assert!(e.contains("cannot split"), "{e}");
    }

    #[test]
    fn dataset_new_checks_lengths_labels_and_values() {
        assert!(Dataset::new(vec![0.0; 4], vec![0, 1], vec![0.0; 2], vec![0], 2, 2).is_ok());
        assert!(Dataset::new(vec![0.0; 3], vec![0, 1], vec![0.0; 2], vec![0], 2, 2).is_err());
        assert!(Dataset::new(vec![0.0; 4], vec![0, 2], vec![0.0; 2], vec![0], 2, 2).is_err());
        assert!(Dataset::new(vec![0.0; 4], vec![0, 1], vec![], vec![], 2, 2).is_err());
        assert!(Dataset::new(
            vec![f64::INFINITY, 0.0],
            vec![0],
            vec![0.0; 2],
            vec![0],
            2,
            2
        )
        .is_err());
    }
}
