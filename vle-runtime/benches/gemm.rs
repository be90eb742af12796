//! Dense products of `vle_runtime::kernels` at the main workload's shapes: 53×53 weights times a
//! batch of 100 and of 1 (as one column, n = 1, and as the one row, m = 1, that the batch
//! kernels pass at batch 1), `cargo bench -p vle-runtime --bench gemm`.
//!
//! Ids `<kernel>/<dtype>/<impl>` with impl `naive` (the textbook triple loop, dot product over
//! k), `baseline` (the blocked kernel without target features) and `dispatched` (what
//! `kernels::gemm_*` runs on this CPU). Throughput is in "elements" = flops (2·m·n·k per call),
//! so criterion's `elem/s` column reads as FLOP/s.
//!
//! `VLE_BENCH_QUICK=1` shortens every measurement (smoke test).

use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use vle_runtime::kernels::{self, paths::Op};
use vle_runtime::Scalar;

type Kernel<T> = fn(Op, usize, usize, usize, T, &[T], &[T], &mut [T]);

/// The naive triple loop for every op: c_ij += alpha Σ_p a(i, p) b(p, j).
#[allow(clippy::too_many_arguments)]
fn naive<T: Scalar>(op: Op, m: usize, n: usize, k: usize, alpha: T, a: &[T], b: &[T], c: &mut [T]) {
    for i in 0..m {
        for j in 0..n {
            let mut s = T::zero();
            for p in 0..k {
                let aip = if op == Op::Tn {
                    a[p * m + i]
                } else {
                    a[i * k + p]
                };
                let bpj = if op == Op::Nt {
                    b[j * k + p]
                } else {
                    b[p * n + j]
                };
                s += aip * bpj;
            }
            c[i * n + j] += alpha * s;
        }
    }
}

#[allow(clippy::too_many_arguments)]
fn dispatched<T: Scalar>(
    op: Op,
    m: usize,
    n: usize,
    k: usize,
    alpha: T,
    a: &[T],
    b: &[T],
    c: &mut [T],
) {
    match op {
        Op::Nn => kernels::gemm_nn(m, n, k, alpha, a, b, c),
        Op::Tn => kernels::gemm_tn(m, n, k, alpha, a, b, c),
        Op::Nt => kernels::gemm_nt(m, n, k, alpha, a, b, c),
    }
}

fn bench_dtype<T: Scalar>(crit: &mut Criterion, dtype: &str, baseline: Kernel<T>) {
    let shapes: &[(usize, usize, usize)] = &[(53, 100, 53), (53, 1, 53), (1, 53, 53)];
    let impls: [(&str, Kernel<T>); 3] = [
        ("naive", naive::<T>),
        ("baseline", baseline),
        ("dispatched", dispatched::<T>),
    ];
    for &(m, n, k) in shapes {
        let a: Vec<T> = (0..m * k)
            .map(|i| T::from_f64((i as f64 * 0.37).sin()))
            .collect();
        let b: Vec<T> = (0..k * n)
            .map(|i| T::from_f64((i as f64 * 0.11).cos()))
            .collect();
        let mut c: Vec<T> = vec![T::zero(); m * n];
        for (op, name) in [
            (Op::Nn, "gemm_nn"),
            (Op::Tn, "gemm_tn"),
            (Op::Nt, "gemm_nt"),
        ] {
            let mut group = crit.benchmark_group(format!("{name}_{m}x{n}x{k}/{dtype}"));
            group.throughput(Throughput::Elements((2 * m * n * k) as u64));
            for (what, kernel) in impls {
                group.bench_function(what, |bench| {
                    bench.iter(|| {
                        kernel(
                            op,
                            m,
                            n,
                            k,
                            T::from_f64(1e-3),
                            black_box(&a),
                            black_box(&b),
                            &mut c,
                        );
                        black_box(&mut c);
                    })
                });
            }
            group.finish();
        }
    }
}

fn gemm(crit: &mut Criterion) {
    bench_dtype::<f32>(crit, "f32", kernels::paths::baseline_f32);
    bench_dtype::<f64>(crit, "f64", kernels::paths::baseline_f64);
}

fn config() -> Criterion {
    let quick = std::env::var_os("VLE_BENCH_QUICK").is_some();
    let (warm, measure) = if quick { (0.1, 0.3) } else { (0.5, 2.0) };
    Criterion::default()
        .warm_up_time(Duration::from_secs_f64(warm))
        .measurement_time(Duration::from_secs_f64(measure))
        .sample_size(if quick { 10 } else { 50 })
}

criterion_group! { name = benches; config = config(); targets = gemm }
criterion_main!(benches);
