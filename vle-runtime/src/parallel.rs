//! Batches split over cores: the samples of a batch are independent except for the shared
//! gradient, so each rayon task runs [`Network::online_step_batch`] on a contiguous chunk of
//! samples (the first into the caller's gradient, the others into their own buffers, summed
//! into it afterwards).
//!
//! Buffers are allocated once in [`ParallelOnline::new`]; a step driven from inside the pool
//! (a loop in `rayon::scope` or `ThreadPool::install`) allocates nothing on the heap
//! (`tests/alloc.rs`). Driven from a thread outside the pool, each step is injected into the
//! pool's global queue, which allocates (and frees) a small block every ~60 steps. The result
//! is deterministic for a given number of chunks (the gradient sum runs in
//! chunk order) and equals the single-threaded step up to the order of the batch sums.

use rayon::prelude::*;

use crate::error::{check_len, Error, Result};
use crate::params::validate_params;
use crate::sim::{check_finite_data, check_finite_states};
use crate::{Network, Scalar};

/// Work space of [`ParallelOnline::step`]: per chunk a scratch buffer, per chunk after the
/// first a gradient buffer.
#[derive(Clone, Debug)]
pub struct ParallelOnline<T> {
    batch: usize,
    chunk: usize,
    grads: Vec<Vec<T>>,
    scratch: Vec<Vec<T>>,
}

impl<T: Scalar> ParallelOnline<T> {
    /// Splits `batch` samples into at most `chunks` contiguous chunks (at least one sample
    /// each; `chunks = 0` means one per thread of the current rayon pool).
    pub fn new<N: Network>(batch: usize, chunks: usize) -> Self {
        let chunks = if chunks == 0 {
            rayon::current_num_threads()
        } else {
            chunks
        };
        let chunk = batch.div_ceil(chunks.clamp(1, batch.max(1))).max(1);
        let n = batch.div_ceil(chunk);
        Self {
            batch,
            chunk,
            grads: vec![vec![T::zero(); N::PARAMS]; n.saturating_sub(1)],
            scratch: vec![vec![T::zero(); chunk * N::BATCH_SCRATCH]; n],
        }
    }

    /// Number of chunks the batch is split into.
    pub fn chunks(&self) -> usize {
        self.scratch.len()
    }

    /// [`Network::online_step_batch`] of the whole batch (the layouts of that method), the
    /// chunks in parallel; the gradient of every sample is added into `grad`.
    ///
    /// Errors, before anything changes: [`Error::Length`] when a slice does not hold the
    /// batch given to [`ParallelOnline::new`] (`B × STATE`, `B × LOCAL`, `B × INPUT`,
    /// `B × OUTPUT`, `PARAMS`), [`validate_params`] (parameters, dt against every time
    /// constant), [`Error::InvalidHyperParameter`] for a non-finite `beta` or `gamma`,
    /// [`Error::NonFinite`] naming a non-finite input `x[i]`, target `y[i]` or state passed in.
    /// The step's result is not checked (a training loop checks it, e.g. with
    /// [`crate::sim::check_finite_states`]).
    #[allow(clippy::too_many_arguments)]
    pub fn step<N: Network>(
        &mut self,
        p: &[T],
        states: &mut [T],
        locals: &mut [T],
        xs: &[T],
        ys: &[T],
        beta: T,
        gamma: T,
        dt: T,
        grad: &mut [T],
    ) -> Result<()> {
        let b = self.batch;
        check_len(
            "the batch of states (B × STATE)",
            b * N::STATE,
            states.len(),
        )?;
        check_len(
            "the batch of local states (B × LOCAL)",
            b * N::LOCAL,
            locals.len(),
        )?;
        check_len("the batch of inputs (B × INPUT)", b * N::INPUT, xs.len())?;
        check_len("the batch of targets (B × OUTPUT)", b * N::OUTPUT, ys.len())?;
        check_len("the gradient", N::PARAMS, grad.len())?;
        validate_params::<N, T>(p, dt.to_f64())?;
        for (name, v) in [("beta", beta), ("gamma", gamma)] {
            if !v.is_finite() {
                return Err(Error::InvalidHyperParameter {
                    name: name.into(),
                    value: v.to_f64(),
                    expected: "a finite value".into(),
                });
            }
        }
        check_finite_data(xs, "input", N::INPUT, 1, None, 0)?;
        check_finite_data(ys, "target", N::OUTPUT, 1, None, 0)?;
        check_finite_states::<N, T>(states, N::STATE, None, 0)?;
        self.step_unchecked::<N>(p, states, locals, xs, ys, beta, gamma, dt, grad);
        Ok(())
    }

    /// [`ParallelOnline::step`] without its checks, for callers that made them once (the
    /// online trainer); the slices must be the right length.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn step_unchecked<N: Network>(
        &mut self,
        p: &[T],
        states: &mut [T],
        locals: &mut [T],
        xs: &[T],
        ys: &[T],
        beta: T,
        gamma: T,
        dt: T,
        grad: &mut [T],
    ) {
        let (b, c) = (self.batch, self.chunk);
        let Some((sc0, sc_rest)) = self.scratch.split_first_mut() else {
            return;
        };
        // The first chunk adds into `grad` itself, the others into their own buffers, summed
        // into `grad` afterwards in chunk order: one buffer fewer to zero and to sum on the
        // stepping thread.
        let c0 = c.min(b);
        let (s0, s_rest) = states[..b * N::STATE].split_at_mut(c0 * N::STATE);
        let (l0, l_rest) = locals[..b * N::LOCAL].split_at_mut(c0 * N::LOCAL);
        let (x0, x_rest) = xs[..b * N::INPUT].split_at(c0 * N::INPUT);
        let (y0, y_rest) = ys[..b * N::OUTPUT].split_at(c0 * N::OUTPUT);
        let g_rest = &mut self.grads[..];
        let grad = &mut grad[..N::PARAMS];
        rayon::join(
            || N::online_step_batch(p, s0, l0, x0, y0, beta, gamma, dt, grad, c0, sc0),
            || {
                s_rest
                    .par_chunks_mut(c * N::STATE)
                    .zip(l_rest.par_chunks_mut((c * N::LOCAL).max(1)))
                    .zip(x_rest.par_chunks((c * N::INPUT).max(1)))
                    .zip(y_rest.par_chunks((c * N::OUTPUT).max(1)))
                    .zip(g_rest.par_iter_mut())
                    .zip(sc_rest.par_iter_mut())
                    .for_each(|(((((s, l), x), y), g), sc)| {
                        let nb = s.len() / N::STATE;
                        g.iter_mut().for_each(|v| *v = T::zero());
                        N::online_step_batch(p, s, l, x, y, beta, gamma, dt, g, nb, sc);
                    })
            },
        );
        for g in &self.grads {
            crate::kernels::axpy(T::one(), g, grad);
        }
    }
}
