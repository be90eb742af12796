//! Batches split over cores: the samples of a batch are independent except for the shared
//! gradient, so each rayon task runs [`Network::online_step_batch`] on a contiguous chunk of
//! samples into its own gradient buffer, and the buffers are summed afterwards.
//!
//! Buffers are allocated once in [`ParallelOnline::new`]; a step driven from inside the pool
//! (a loop in `rayon::scope` or `ThreadPool::install`) allocates nothing on the heap
//! (`tests/alloc.rs`). Driven from a thread outside the pool, each step is injected into the
//! pool's global queue, which allocates (and frees) a small block every ~60 steps. The result is deterministic for a given number of chunks (the gradient sum runs in
//! chunk order) and equals the single-threaded step up to the order of the batch sums.

use rayon::prelude::*;

use crate::{Network, Scalar};

/// Work space of [`ParallelOnline::step`]: per chunk a gradient and a scratch buffer.
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
            grads: vec![vec![T::zero(); N::PARAMS]; n],
            scratch: vec![vec![T::zero(); chunk * N::BATCH_SCRATCH]; n],
        }
    }

    /// Number of chunks the batch is split into.
    pub fn chunks(&self) -> usize {
        self.grads.len()
    }

    /// [`Network::online_step_batch`] of the whole batch (the layouts of that method), the
    /// chunks in parallel; the gradient of every sample is added into `grad`.
    ///
    /// # Panics
    /// When the slices are shorter than the batch given to [`ParallelOnline::new`] needs.
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
    ) {
        let (b, c) = (self.batch, self.chunk);
        states[..b * N::STATE]
            .par_chunks_mut(c * N::STATE)
            .zip(locals[..b * N::LOCAL].par_chunks_mut((c * N::LOCAL).max(1)))
            .zip(xs[..b * N::INPUT].par_chunks((c * N::INPUT).max(1)))
            .zip(ys[..b * N::OUTPUT].par_chunks((c * N::OUTPUT).max(1)))
            .zip(self.grads.par_iter_mut())
            .zip(self.scratch.par_iter_mut())
            .for_each(|(((((s, l), x), y), g), sc)| {
                let nb = s.len() / N::STATE;
                g.iter_mut().for_each(|v| *v = T::zero());
                N::online_step_batch(p, s, l, x, y, beta, gamma, dt, g, nb, sc);
            });
        for g in &self.grads {
            crate::kernels::axpy(T::one(), g, &mut grad[..N::PARAMS]);
        }
    }
}
