//! vle's MNIST-1D generator against the `mnist1d` package (0.0.2.post1) itself: the same seed
//! must give the same dataset bit for bit (the labels and their order, every value). The
//! reference values in `data/mnist1d_reference.txt` were written by
//! `data/mnist1d_reference.py` from the package; see that script to regenerate them.
//!
//! Exact equality is the right test here: the generator repeats the package's random stream
//! (MT19937) and its floating-point operations in the same order, so any difference is a
//! change of the data, however small.

use vle_runtime::data::mnist1d::{generate, Mnist1dConfig};

const REFERENCE: &str = include_str!("data/mnist1d_reference.txt");

struct Split {
    labels: Vec<usize>,
    first: Vec<f64>,
    last: Vec<f64>,
    checksum: u64,
}

struct Case {
    seed: u32,
    length: usize,
    n_train: usize,
    n_test: usize,
    train: Split,
    test: Split,
}

fn field<'a>(line: &'a str, key: &str) -> &'a str {
    line.split_whitespace()
        .find_map(|w| w.strip_prefix(key).and_then(|r| r.strip_prefix('=')))
        .unwrap_or_else(|| panic!("no {key}= in {line:?}"))
}

fn values<T: std::str::FromStr>(line: &str, prefix: &str) -> Vec<T>
where
    T::Err: std::fmt::Debug,
{
    line.strip_prefix(prefix)
        .unwrap_or_else(|| panic!("expected {prefix:?} in {line:?}"))
        .split_whitespace()
        .map(|v| v.parse().unwrap())
        .collect()
}

fn parse() -> Vec<Case> {
    let mut lines = REFERENCE.lines().filter(|l| !l.starts_with('#'));
    let mut cases = Vec::new();
    while let Some(head) = lines.next() {
        let mut split = |name: &str| Split {
            labels: values(lines.next().unwrap(), &format!("{name} labels ")),
            first: values(lines.next().unwrap(), &format!("{name} first ")),
            last: values(lines.next().unwrap(), &format!("{name} last ")),
            checksum: values::<u64>(lines.next().unwrap(), &format!("{name} checksum "))[0],
        };
        let (train, test) = (split("train"), split("test"));
        cases.push(Case {
            seed: field(head, "seed").parse().unwrap(),
            length: field(head, "length").parse().unwrap(),
            n_train: field(head, "n_train").parse().unwrap(),
            n_test: field(head, "n_test").parse().unwrap(),
            train,
            test,
        });
    }
    cases
}

fn checksum(x: &[f64]) -> u64 {
    x.iter().fold(0u64, |s, v| s.wrapping_add(v.to_bits()))
}

#[test]
fn generator_reproduces_the_mnist1d_package_bit_for_bit() {
    let cases = parse();
    assert_eq!(cases.len(), 3, "reference file: three cases");
    for c in &cases {
        let what = format!("seed {} length {}", c.seed, c.length);
        let d = generate(&Mnist1dConfig {
            seed: c.seed,
            final_seq_length: c.length,
            ..Mnist1dConfig::default()
        })
        .unwrap();
        assert_eq!((d.n_train(), d.n_test()), (c.n_train, c.n_test), "{what}");
        let len = d.length;
        for (name, x, y, r) in [
            ("train", &d.x_train, &d.y_train, &c.train),
            ("test", &d.x_test, &d.y_test, &c.test),
        ] {
            assert_eq!(&y[..r.labels.len()], &r.labels[..], "{what}: {name} labels");
            assert_eq!(&x[..len], &r.first[..], "{what}: first {name} sample");
            assert_eq!(
                &x[x.len() - len..],
                &r.last[..],
                "{what}: last {name} sample"
            );
            assert_eq!(checksum(x), r.checksum, "{what}: {name} values (checksum)");
        }
    }
}
