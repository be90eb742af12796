//! Benchmarks of the generated kernels (issue 5): the MNIST-1D network of docs/theory.md §8 and the
//! LagNet network, `cargo bench --bench kernels`.
//!
//! Throughput is reported in sample-steps (one Euler step of one sample): criterion's
//! `elem/s` column. Cases (ids `<group>/<case>`):
//!
//! - `online/mnist1d_{f32,f64}_b{1,100}`: one online step (forward, error neurons, local
//!   parameter updates) of every sample of the batch with the generated batch kernel
//!   `Network::online_step_batch` (what `OnlineTrainer::run` calls);
//!   `online/mnist1d_f32_b100_2threads` the same on two chunks in parallel
//!   (`vle::ParallelOnline`); `online/mnist1d_f32_b{1,100}_per_sample` the per-sample
//!   `Network::online_step` for each sample into one shared gradient (for reference).
//! - `exact/mnist1d_{f32,f64}_b{1,100}`: the exact gradient of a 360-step window (forward
//!   with a full tape, backward sweep), `Bptt::gradient` (batch 1, reused buffers) and
//!   `batch_gradient` (batch 100); both run the batch kernels `euler_step_batch` and
//!   `euler_step_adjoint_batch` (at batch 1 their products are vector products).
//! - `online/lagnet_{f32,f64}_b1`: the LagNet online step.
//!
//! A new online implementation is one more closure factory and one more line in [`online`].
//!
//! The environment variable `VLE_BENCH_QUICK=1` shortens every measurement (smoke test).

mod models;

use std::time::Duration;

use criterion::measurement::WallTime;
use criterion::{criterion_group, criterion_main, BenchmarkGroup, Criterion, Throughput};
use models::{LagNet, Mnist1dNet};
use std::hint::black_box;
use vle::{Bptt, Network, Rng, Scalar, Tape};

/// Steps of docs/theory.md §8: MNIST-1D and LagNet (whose τr = 0.1 forbids dt = 0.2).
const DT_MNIST: f64 = 0.2;
const DT_LAGNET: f64 = 0.01;
/// Steps per MNIST-1D sample: 40 input values, each held for 9 steps.
const WINDOW: usize = 360;
const BETA: f64 = 1.0;
const GAMMA: f64 = 0.0;

/// One online step of a whole batch: `(p, states, local, xs, ys, beta, gamma, dt, grad)` with
/// `states` `B × STATE`, `local` `B × LOCAL`, `xs` `B × INPUT`, `ys` `B × OUTPUT`; the local
/// gradient estimate is added into `grad`.
trait OnlineStep<T>: FnMut(&[T], &mut [T], &mut [T], &[T], &[T], T, T, T, &mut [T]) {}
impl<T, F: FnMut(&[T], &mut [T], &mut [T], &[T], &[T], T, T, T, &mut [T])> OnlineStep<T> for F {}

/// The generated batch kernel (`Network::online_step_batch`, what `OnlineTrainer::run` calls):
/// matrix products over the batch; its scratch is allocated once, outside the timing.
fn batched<N: Network, T: Scalar>(batch: usize) -> impl OnlineStep<T> {
    let mut scratch = vec![T::zero(); batch * N::BATCH_SCRATCH];
    move |p, states, local, xs, ys, beta, gamma, dt, grad| {
        N::online_step_batch(
            p,
            states,
            local,
            xs,
            ys,
            beta,
            gamma,
            dt,
            grad,
            batch,
            &mut scratch,
        )
    }
}

/// The batch kernel on `chunks` chunks of the batch in parallel (`vle::ParallelOnline`, the
/// rayon pool).
fn parallel<N: Network, T: Scalar>(batch: usize, chunks: usize) -> impl OnlineStep<T> {
    let mut par = vle::ParallelOnline::<T>::new::<N>(batch, chunks);
    move |p, states, local, xs, ys, beta, gamma, dt, grad| {
        par.step::<N>(p, states, local, xs, ys, beta, gamma, dt, grad)
            .expect("the bench's slices hold its batch, its parameters are valid")
    }
}

/// The per-sample kernel for each sample (`Network::online_step`; the trainer before the
/// batch kernels).
#[allow(clippy::too_many_arguments)]
fn per_sample<N: Network, T: Scalar>(
    p: &[T],
    states: &mut [T],
    local: &mut [T],
    xs: &[T],
    ys: &[T],
    beta: T,
    gamma: T,
    dt: T,
    grad: &mut [T],
) {
    let batch = states.len() / N::STATE;
    for b in 0..batch {
        N::online_step(
            p,
            &mut states[b * N::STATE..(b + 1) * N::STATE],
            &mut local[b * N::LOCAL..(b + 1) * N::LOCAL],
            &xs[b * N::INPUT..(b + 1) * N::INPUT],
            &ys[b * N::OUTPUT..(b + 1) * N::OUTPUT],
            beta,
            gamma,
            dt,
            grad,
        );
    }
}

/// Inputs and targets of a batch of MNIST-1D-like samples, in scalar type `T`: per sample, 40
/// standard-normal values each held for 9 steps (`B × WINDOW × INPUT`, sample-major) and a
/// one-hot class held over the window (`B × WINDOW × OUTPUT`). For networks with other widths
/// every input channel gets its own value and the "class" is `b mod OUTPUT`.
fn held_inputs<N: Network, T: Scalar>(batch: usize, seed: u64) -> (Vec<T>, Vec<T>) {
    let mut rng = Rng::new(seed);
    let hold = 9;
    let mut xs = Vec::with_capacity(batch * WINDOW * N::INPUT);
    let mut ys = Vec::with_capacity(batch * WINDOW * N::OUTPUT);
    for b in 0..batch {
        let mut value = vec![0.0; N::INPUT];
        for n in 0..WINDOW {
            if n % hold == 0 {
                value.iter_mut().for_each(|v| *v = rng.normal());
            }
            xs.extend(value.iter().map(|&v| T::from_f64(v)));
            ys.extend((0..N::OUTPUT).map(|i| T::from_f64((i == b % N::OUTPUT) as u8 as f64)));
        }
    }
    (xs, ys)
}

/// Benchmarks `step` on network `N` in scalar type `T` at `batch`. Each iteration is one step
/// of every sample; the inputs walk through a 360-step held sequence (step n of every sample
/// reads its input n mod 360), state and accumulator persist across iterations as in training.
fn bench_online<N: Network, T: Scalar>(
    g: &mut BenchmarkGroup<'_, WallTime>,
    id: &str,
    batch: usize,
    dt: f64,
    mut step: impl OnlineStep<T>,
) {
    let p: Vec<T> = vle::init_params::<N, T>(1);
    vle::validate_params::<N, T>(&p, dt).expect("benchmark parameters");
    let (xs_seq, ys_seq) = held_inputs::<N, T>(batch, 2);
    // Re-laid out step-major: xs[n] is the B × INPUT block of step n.
    let (ni, no) = (N::INPUT, N::OUTPUT);
    let mut xs = vec![T::zero(); WINDOW * batch * ni];
    let mut ys = vec![T::zero(); WINDOW * batch * no];
    for b in 0..batch {
        for n in 0..WINDOW {
            let (src_x, src_y) = ((b * WINDOW + n) * ni, (b * WINDOW + n) * no);
            let (dst_x, dst_y) = ((n * batch + b) * ni, (n * batch + b) * no);
            xs[dst_x..dst_x + ni].copy_from_slice(&xs_seq[src_x..src_x + ni]);
            ys[dst_y..dst_y + no].copy_from_slice(&ys_seq[src_y..src_y + no]);
        }
    }
    let mut states = vec![T::zero(); batch * N::STATE];
    let mut local = vec![T::zero(); batch * N::LOCAL];
    let mut grad = vec![T::zero(); N::PARAMS];
    let (beta, gamma, dt) = (T::from_f64(BETA), T::from_f64(GAMMA), T::from_f64(dt));
    let mut n = 0usize;
    g.throughput(Throughput::Elements(batch as u64));
    g.bench_function(id, |bencher| {
        bencher.iter(|| {
            let k = n % WINDOW;
            n += 1;
            step(
                black_box(&p),
                &mut states,
                &mut local,
                &xs[k * batch * ni..(k + 1) * batch * ni],
                &ys[k * batch * no..(k + 1) * batch * no],
                beta,
                gamma,
                dt,
                &mut grad,
            );
        })
    });
    // Keep the results observable (and check they stayed finite).
    assert!(
        black_box(&grad).iter().all(|g| g.is_finite()),
        "{id}: non-finite gradient"
    );
}

/// Exact gradient of one 360-step window from the zero state, full tape: `Bptt::gradient`
/// with reused buffers at batch 1, `batch_gradient` (per-sample sweeps, batch mean) otherwise.
fn bench_exact<N: Network, T: Scalar>(
    g: &mut BenchmarkGroup<'_, WallTime>,
    id: &str,
    batch: usize,
) {
    let p: Vec<T> = vle::init_params::<N, T>(1);
    let (xs, ys) = held_inputs::<N, T>(batch, 2);
    let mut bptt = Bptt::<N, T>::new();
    let mut states = vec![T::zero(); batch * N::STATE];
    let mut grad = vec![T::zero(); N::PARAMS];
    let (beta, dt) = (T::from_f64(BETA), T::from_f64(DT_MNIST));
    g.throughput(Throughput::Elements((batch * WINDOW) as u64));
    g.bench_function(id, |bencher| {
        bencher.iter(|| {
            states.iter_mut().for_each(|s| *s = T::zero());
            let loss = if batch == 1 {
                grad.iter_mut().for_each(|g| *g = T::zero());
                bptt.gradient(
                    black_box(&p),
                    &mut states,
                    &xs,
                    &ys,
                    dt,
                    beta,
                    Tape::Full,
                    &mut grad,
                )
            } else {
                vle::batch_gradient(
                    &mut bptt,
                    black_box(&p),
                    &mut states,
                    &xs,
                    &ys,
                    dt,
                    beta,
                    Tape::Full,
                    &mut grad,
                )
            };
            black_box(loss.expect("exact gradient"))
        })
    });
}

fn quick() -> bool {
    std::env::var("VLE_BENCH_QUICK").is_ok_and(|v| v == "1")
}

fn configure<'a>(
    c: &'a mut Criterion,
    name: &str,
    measurement: u64,
) -> BenchmarkGroup<'a, WallTime> {
    let mut g = c.benchmark_group(name);
    g.sample_size(10);
    if quick() {
        g.warm_up_time(Duration::from_millis(200));
        g.measurement_time(Duration::from_millis(500));
    } else {
        g.warm_up_time(Duration::from_secs(1));
        g.measurement_time(Duration::from_secs(measurement));
    }
    g
}

fn online(c: &mut Criterion) {
    type M = Mnist1dNet;
    let mut g = configure(c, "online", 3);
    bench_online::<M, f32>(&mut g, "mnist1d_f32_b1", 1, DT_MNIST, batched::<M, f32>(1));
    bench_online::<M, f64>(&mut g, "mnist1d_f64_b1", 1, DT_MNIST, batched::<M, f64>(1));
    bench_online::<M, f32>(
        &mut g,
        "mnist1d_f32_b100",
        100,
        DT_MNIST,
        batched::<M, f32>(100),
    );
    bench_online::<M, f64>(
        &mut g,
        "mnist1d_f64_b100",
        100,
        DT_MNIST,
        batched::<M, f64>(100),
    );
    // Both cores: the batch in two chunks on the rayon pool.
    bench_online::<M, f32>(
        &mut g,
        "mnist1d_f32_b100_2threads",
        100,
        DT_MNIST,
        parallel::<M, f32>(100, 2),
    );
    // The per-sample kernel, for reference.
    bench_online::<M, f32>(
        &mut g,
        "mnist1d_f32_b1_per_sample",
        1,
        DT_MNIST,
        per_sample::<M, f32>,
    );
    bench_online::<M, f32>(
        &mut g,
        "mnist1d_f32_b100_per_sample",
        100,
        DT_MNIST,
        per_sample::<M, f32>,
    );
    bench_online::<LagNet, f32>(
        &mut g,
        "lagnet_f32_b1",
        1,
        DT_LAGNET,
        per_sample::<LagNet, f32>,
    );
    bench_online::<LagNet, f64>(
        &mut g,
        "lagnet_f64_b1",
        1,
        DT_LAGNET,
        per_sample::<LagNet, f64>,
    );
    g.finish();
}

fn exact(c: &mut Criterion) {
    let mut g = configure(c, "exact", 5);
    bench_exact::<Mnist1dNet, f32>(&mut g, "mnist1d_f32_b1", 1);
    bench_exact::<Mnist1dNet, f64>(&mut g, "mnist1d_f64_b1", 1);
    if !quick() {
        // About 2 s per iteration: room for criterion's minimum of 10 without its warning.
        g.measurement_time(Duration::from_secs(30));
    }
    bench_exact::<Mnist1dNet, f32>(&mut g, "mnist1d_f32_b100", 100);
    bench_exact::<Mnist1dNet, f64>(&mut g, "mnist1d_f64_b100", 100);
    g.finish();
}

criterion_group!(benches, online, exact);
criterion_main!(benches);
