//! Small linear-algebra kernels the generated code calls for its synaptic loops.
//!
//! Written over slices with iterators so the compiler drops bounds checks and vectorises the
//! element-wise loops; the dot product keeps four partial sums to break the floating-point
//! add chain (its rounding order is fixed, so every kernel that recomputes an input gets the
//! identical value).
//!
//! The dense products [`gemm_nn`], [`gemm_tn`] and [`gemm_nt`] dispatch on the scalar type
//! through [`Scalar::gemm_nn`] and friends. The trait's default is a simple generic loop (used
//! for dual numbers); `f32` and `f64` override it with a register-blocked kernel: both operands
//! are packed into zero-padded panels and an `MR × NR` tile of `c` is accumulated in locals over
//! the whole `k`, in plain Rust loops that LLVM vectorises. On x86_64 the kernel is compiled a
//! second time with AVX2 and FMA enabled (`#[target_feature]`) and chosen at run time when
//! the CPU has both (`is_x86_feature_detected!`), so no `-C target-cpu` flag is needed; other
//! CPUs and architectures run the baseline build. Results therefore differ between the two
//! builds by rounding (fused vs separate multiply-add), but not from call to call.

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

/// Whether every entry is finite (for dual numbers: with its derivative), in one branch-free
/// pass that LLVM vectorises: x · 0 is 0 for finite x and NaN for ±∞ and NaN, so the sum of
/// those products over eight lanes is finite exactly when every entry is. (A scan with an
/// early exit, `iter().all(is_finite)`, runs element by element.)
#[inline]
pub fn all_finite<T: Scalar>(x: &[T]) -> bool {
    let mut acc = [T::zero(); 8];
    let mut chunks = x.chunks_exact(8);
    for c in &mut chunks {
        for k in 0..8 {
            acc[k] += c[k] * T::zero();
        }
    }
    for (k, v) in chunks.remainder().iter().enumerate() {
        acc[k] += *v * T::zero();
    }
    acc.iter().all(|a| a.is_finite())
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

/// c\[m×n\] += alpha · a\[m×k\] · b\[k×n\], all row-major.
///
/// Reads the leading `m·k` entries of `a`, `k·n` of `b` and updates the leading `m·n` of `c`
/// (longer slices are fine; shorter ones fail a debug assertion and may panic).
/// Dispatches through [`Scalar::gemm_nn`]: blocked SIMD for `f32`/`f64`, a simple loop
/// otherwise.
#[inline]
pub fn gemm_nn<T: Scalar>(m: usize, n: usize, k: usize, alpha: T, a: &[T], b: &[T], c: &mut [T]) {
    T::gemm_nn(m, n, k, alpha, a, b, c)
}

/// c\[m×n\] += alpha · aᵀ · b, with `a` stored row-major as \[k×m\] and `b` as \[k×n\].
///
/// Reads the leading `k·m` entries of `a`, `k·n` of `b` and updates the leading `m·n` of `c`
/// (longer slices are fine; shorter ones fail a debug assertion and may panic).
/// Dispatches through [`Scalar::gemm_tn`].
#[inline]
pub fn gemm_tn<T: Scalar>(m: usize, n: usize, k: usize, alpha: T, a: &[T], b: &[T], c: &mut [T]) {
    T::gemm_tn(m, n, k, alpha, a, b, c)
}

/// c\[m×n\] += alpha · a · bᵀ, with `a` stored row-major as \[m×k\] and `b` as \[n×k\].
///
/// Reads the leading `m·k` entries of `a`, `n·k` of `b` and updates the leading `m·n` of `c`
/// (longer slices are fine; shorter ones fail a debug assertion and may panic).
/// Dispatches through [`Scalar::gemm_nt`].
#[inline]
pub fn gemm_nt<T: Scalar>(m: usize, n: usize, k: usize, alpha: T, a: &[T], b: &[T], c: &mut [T]) {
    T::gemm_nt(m, n, k, alpha, a, b, c)
}

/// The individual implementations behind [`gemm_nn`], [`gemm_tn`] and [`gemm_nt`], reachable
/// for tests and benchmarks. Not a stable API.
#[doc(hidden)]
pub mod paths {
    use crate::Scalar;

    /// Which operand is transposed.
    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    pub enum Op {
        /// c += alpha · a · b, a \[m×k\], b \[k×n\].
        Nn,
        /// c += alpha · aᵀ · b, a \[k×m\], b \[k×n\].
        Tn,
        /// c += alpha · a · bᵀ, a \[m×k\], b \[n×k\].
        Nt,
    }

    /// The length requirement of the three kernels (all three operands need the same number
    /// of entries whichever is transposed).
    #[inline(always)]
    fn check_lengths<T>(m: usize, n: usize, k: usize, a: &[T], b: &[T], c: &[T]) {
        debug_assert!(
            a.len() >= m * k,
            "gemm: a has {} < m·k = {} entries",
            a.len(),
            m * k
        );
        debug_assert!(
            b.len() >= k * n,
            "gemm: b has {} < k·n = {} entries",
            b.len(),
            k * n
        );
        debug_assert!(
            c.len() >= m * n,
            "gemm: c has {} < m·n = {} entries",
            c.len(),
            m * n
        );
    }

    /// The simple generic implementation: the default of the `Scalar::gemm_*` methods.
    ///
    /// nn and tn add `alpha·a_ip` times row p of `b` to row i of `c` (contiguous, vectorisable
    /// inner loop); nt takes dot products of rows.
    #[allow(clippy::too_many_arguments)]
    pub fn generic<T: Scalar>(
        op: Op,
        m: usize,
        n: usize,
        k: usize,
        alpha: T,
        a: &[T],
        b: &[T],
        c: &mut [T],
    ) {
        check_lengths(m, n, k, a, b, c);
        if m == 0 || n == 0 || k == 0 {
            return;
        }
        let (a, b, c) = (&a[..m * k], &b[..k * n], &mut c[..m * n]);
        match op {
            Op::Nn => {
                for (c_row, a_row) in c.chunks_exact_mut(n).zip(a.chunks_exact(k)) {
                    for (&a_ip, b_row) in a_row.iter().zip(b.chunks_exact(n)) {
                        super::axpy(alpha * a_ip, b_row, c_row);
                    }
                }
            }
            Op::Tn => {
                for (a_row, b_row) in a.chunks_exact(m).zip(b.chunks_exact(n)) {
                    for (&a_pi, c_row) in a_row.iter().zip(c.chunks_exact_mut(n)) {
                        super::axpy(alpha * a_pi, b_row, c_row);
                    }
                }
            }
            Op::Nt => {
                for (c_row, a_row) in c.chunks_exact_mut(n).zip(a.chunks_exact(k)) {
                    for (c_ij, b_row) in c_row.iter_mut().zip(b.chunks_exact(k)) {
                        *c_ij += alpha * dot_wide(a_row, b_row);
                    }
                }
            }
        }
    }

    /// Σ a_i b_i with 16 independent partial sums: wide enough that the compiler keeps them in
    /// vector registers and the adds do not wait on each other (a dot product with one or
    /// four sums is bound by the add latency).
    #[inline(always)]
    fn dot_wide<T: Scalar>(a: &[T], b: &[T]) -> T {
        const W: usize = 16;
        let mut acc = [T::zero(); W];
        let (ca, cb) = (a.chunks_exact(W), b.chunks_exact(W));
        let (ra, rb) = (ca.remainder(), cb.remainder());
        for (x, y) in ca.zip(cb) {
            for l in 0..W {
                acc[l] += x[l] * y[l];
            }
        }
        for (l, (x, y)) in ra.iter().zip(rb).enumerate() {
            acc[l] += *x * *y;
        }
        let mut w = W;
        while w > 1 {
            w /= 2;
            for l in 0..w {
                acc[l] += acc[l + w];
            }
        }
        acc[0]
    }

    /// c\[m×n\] += alpha · a bᵀ for k = 1 (a and b are plain vectors whatever the layout): one
    /// axpy per row, `L` lanes at a time.
    #[inline(always)]
    fn rank_one<T: Scalar, F: MulAdd<T>, const L: usize>(
        m: usize,
        n: usize,
        alpha: T,
        a: &[T],
        b: &[T],
        c: &mut [T],
    ) {
        let b = &b[..n];
        for (c_row, &a_i) in c[..m * n].chunks_exact_mut(n).zip(&a[..m]) {
            let s = alpha * a_i;
            let mut c_chunks = c_row.chunks_exact_mut(L);
            let mut b_chunks = b.chunks_exact(L);
            for (cv, bv) in (&mut c_chunks).zip(&mut b_chunks) {
                // Through local arrays: a whole-vector load, FMA and store.
                let cv: &mut [T; L] = cv.try_into().unwrap();
                let bv: &[T; L] = bv.try_into().unwrap();
                let mut t = *cv;
                for l in 0..L {
                    t[l] = F::mul_add(s, bv[l], t[l]);
                }
                *cv = t;
            }
            // The rest: one half-width vector where it fits, then scalars.
            let (c_rest, b_rest) = (c_chunks.into_remainder(), b_chunks.remainder());
            let h = if c_rest.len() >= L / 2 { L / 2 } else { 0 };
            let (c_half, c_rest) = c_rest.split_at_mut(h);
            let (b_half, b_rest) = b_rest.split_at(h);
            if h > 0 {
                for l in 0..L / 2 {
                    c_half[l] = F::mul_add(s, b_half[l], c_half[l]);
                }
            }
            for (cj, &bj) in c_rest.iter_mut().zip(b_rest) {
                *cj = F::mul_add(s, bj, *cj);
            }
        }
    }

    /// c\[n\] += alpha · Σ_p x_p · (row p of b), b k rows of n (`gemv` with the rows of b
    /// along c): the columns in register blocks of 4 vectors of `L` lanes, each loaded x_p
    /// shared by the block, then one vector at a time; the last n mod L columns as one more
    /// vector that reads on into the next row where that is inside b (those lanes are
    /// dropped, and the lanes never mix), from a zero-padded copy where it is not. The sum
    /// over p is split into independent partial sums (2 per accumulator of a block of 4,
    /// 4 for a single vector) so that the multiply-adds do not wait on each other.
    #[inline(always)]
    fn gemv_rows<T: Scalar, F: MulAdd<T>, const L: usize>(
        n: usize,
        k: usize,
        alpha: T,
        x: &[T],
        b: &[T],
        c: &mut [T],
    ) {
        let (x, b, c) = (&x[..k], &b[..k * n], &mut c[..n]);
        // acc += x_p · (4L entries of b from `at`). A function, not a closure: a closure is
        // not compiled with the caller's target features when it is not inlined.
        #[inline(always)]
        fn block4<T: Scalar, F: MulAdd<T>, const L: usize>(
            acc: &mut [[T; L]; 4],
            xp: T,
            b: &[T],
            at: usize,
        ) {
            let row = &b[at..][..4 * L];
            for (q, acc_q) in acc.iter_mut().enumerate() {
                let v: &[T; L] = row[q * L..][..L].try_into().unwrap();
                for l in 0..L {
                    acc_q[l] = F::mul_add(xp, v[l], acc_q[l]);
                }
            }
        }
        let mut j0 = 0;
        while j0 + 4 * L <= n {
            let (mut even, mut odd) = ([[T::zero(); L]; 4], [[T::zero(); L]; 4]);
            for p in (0..k / 2 * 2).step_by(2) {
                block4::<T, F, L>(&mut even, x[p], b, p * n + j0);
                block4::<T, F, L>(&mut odd, x[p + 1], b, (p + 1) * n + j0);
            }
            if k % 2 == 1 {
                block4::<T, F, L>(&mut even, x[k - 1], b, (k - 1) * n + j0);
            }
            for q in 0..4 {
                let cv: &mut [T; L] = (&mut c[j0 + q * L..][..L]).try_into().unwrap();
                let mut t = *cv;
                for l in 0..L {
                    t[l] = F::mul_add(alpha, even[q][l] + odd[q][l], t[l]);
                }
                *cv = t;
            }
            j0 += 4 * L;
        }
        while j0 < n {
            let cols = L.min(n - j0);
            // Rows p < direct have L entries from (p, j0) inside b; the rest go through `pad`.
            let direct = if k * n >= j0 + L {
                ((k * n - j0 - L) / n + 1).min(k)
            } else {
                0
            };
            let mut acc = [[T::zero(); L]; 4];
            let quads = direct / 4 * 4;
            for p0 in (0..quads).step_by(4) {
                for (i, acc_i) in acc.iter_mut().enumerate() {
                    let v: &[T; L] = b[(p0 + i) * n + j0..][..L].try_into().unwrap();
                    for l in 0..L {
                        acc_i[l] = F::mul_add(x[p0 + i], v[l], acc_i[l]);
                    }
                }
            }
            for (p, &xp) in x.iter().enumerate().skip(quads) {
                let mut v = [T::zero(); L];
                let at = p * n + j0;
                if p < direct {
                    v.copy_from_slice(&b[at..at + L]);
                } else {
                    v[..cols].copy_from_slice(&b[at..at + cols]);
                }
                for l in 0..L {
                    acc[0][l] = F::mul_add(xp, v[l], acc[0][l]);
                }
            }
            for (l, cj) in c[j0..j0 + cols].iter_mut().enumerate() {
                let s = (acc[0][l] + acc[1][l]) + (acc[2][l] + acc[3][l]);
                *cj = F::mul_add(alpha, s, *cj);
            }
            j0 += cols;
        }
    }

    /// c\[n\] += alpha · (b x), b n rows of k (`gemv` with dot products of rows): four rows
    /// at a time, each loaded vector of x shared by the four, `L` partial sums per row; the
    /// last k mod L entries of each row scalar (nothing is read past a row: a non-finite entry
    /// of one row never reaches another row's sum).
    #[inline(always)]
    fn gemv_dots<T: Scalar, F: MulAdd<T>, const L: usize>(
        n: usize,
        k: usize,
        alpha: T,
        x: &[T],
        b: &[T],
        c: &mut [T],
    ) {
        let (x, b, c) = (&x[..k], &b[..n * k], &mut c[..n]);
        let full = k / L * L;
        // c_r += alpha · (the lanes of acc summed in lane order, then the row's last k mod L
        // products). Lane order: a tree of halvings made LLVM split the accumulators into
        // 2-lane vectors; L adds per row, against k multiply-adds.
        #[inline(always)]
        fn finish<T: Scalar, F: MulAdd<T>, const L: usize>(
            acc: [T; L],
            x_tail: &[T],
            row_tail: &[T],
            alpha: T,
            c_r: &mut T,
        ) {
            let mut s = acc.iter().fold(T::zero(), |s, &v| s + v);
            for (&xp, &v) in x_tail.iter().zip(row_tail) {
                s = F::mul_add(xp, v, s);
            }
            *c_r = F::mul_add(alpha, s, *c_r);
        }
        let mut rows4 = b.chunks_exact(4 * k);
        let mut c4 = c.chunks_exact_mut(4);
        for (rows, cq) in (&mut rows4).zip(&mut c4) {
            let mut acc = [[T::zero(); L]; 4];
            for p in (0..full).step_by(L) {
                let xv: &[T; L] = x[p..][..L].try_into().unwrap();
                for (r, acc_r) in acc.iter_mut().enumerate() {
                    let v: &[T; L] = rows[r * k + p..][..L].try_into().unwrap();
                    for l in 0..L {
                        acc_r[l] = F::mul_add(xv[l], v[l], acc_r[l]);
                    }
                }
            }
            for (r, (acc_r, cr)) in acc.into_iter().zip(cq.iter_mut()).enumerate() {
                let row_tail = &rows[r * k + full..(r + 1) * k];
                finish::<T, F, L>(acc_r, &x[full..], row_tail, alpha, cr);
            }
        }
        for (row, cr) in rows4.remainder().chunks_exact(k).zip(c4.into_remainder()) {
            let mut acc = [T::zero(); L];
            for p in (0..full).step_by(L) {
                for l in 0..L {
                    acc[l] = F::mul_add(x[p + l], row[p + l], acc[l]);
                }
            }
            finish::<T, F, L>(acc, &x[full..], &row[full..], alpha, cr);
        }
    }

    /// `acc + x·y`: either two roundings ([`Separate`]) or one ([`Fused`], only used where
    /// the FMA instruction is enabled; elsewhere `mul_add` would be a slow libm call).
    trait MulAdd<T> {
        fn mul_add(x: T, y: T, acc: T) -> T;
    }

    struct Separate;

    impl<T: Scalar> MulAdd<T> for Separate {
        #[inline(always)]
        fn mul_add(x: T, y: T, acc: T) -> T {
            acc + x * y
        }
    }

    #[cfg(target_arch = "x86_64")]
    struct Fused;

    #[cfg(target_arch = "x86_64")]
    impl MulAdd<f32> for Fused {
        #[inline(always)]
        fn mul_add(x: f32, y: f32, acc: f32) -> f32 {
            x.mul_add(y, acc)
        }
    }

    #[cfg(target_arch = "x86_64")]
    impl MulAdd<f64> for Fused {
        #[inline(always)]
        fn mul_add(x: f64, y: f64, acc: f64) -> f64 {
            x.mul_add(y, acc)
        }
    }

    /// One `MR × W` tile of a·b from packed panels (`ap`: k groups of MR entries of a column
    /// of a; `bp`: k groups of W entries of a row of b). The accumulators are a fixed-size
    /// array, so LLVM keeps them in vector registers and the loops unroll completely.
    #[inline(always)]
    fn tile<T: Scalar, F: MulAdd<T>, const MR: usize, const W: usize>(
        ap: &[T],
        bp: &[T],
    ) -> [[T; W]; MR] {
        let mut acc = [[T::zero(); W]; MR];
        for (a, b) in ap.chunks_exact(MR).zip(bp.chunks_exact(W)) {
            let a: &[T; MR] = a.try_into().unwrap();
            let b: &[T; W] = b.try_into().unwrap();
            for r in 0..MR {
                for l in 0..W {
                    acc[r][l] = F::mul_add(a[r], b[l], acc[r][l]);
                }
            }
        }
        acc
    }

    /// c\[rows i0.., cols j0..\] += alpha · (one column panel of b, width W, times every row
    /// panel of a).
    #[inline(always)]
    #[allow(clippy::too_many_arguments)]
    fn column_panel<T: Scalar, F: MulAdd<T>, const MR: usize, const W: usize>(
        m: usize,
        n: usize,
        k: usize,
        j0: usize,
        alpha: T,
        ap: &[T],
        bp: &[T],
        c: &mut [T],
    ) {
        let cols = W.min(n - j0);
        for (ip, ap) in ap.chunks_exact(MR * k).enumerate() {
            let acc = tile::<T, F, MR, W>(ap, bp);
            let i0 = ip * MR;
            let rows = MR.min(m - i0);
            if rows == MR && cols == W {
                for (r, acc_r) in acc.iter().enumerate() {
                    let c_row: &mut [T; W] = (&mut c[(i0 + r) * n + j0..][..W]).try_into().unwrap();
                    for l in 0..W {
                        c_row[l] = F::mul_add(alpha, acc_r[l], c_row[l]);
                    }
                }
            } else {
                for (r, acc_r) in acc.iter().enumerate().take(rows) {
                    let c_row = &mut c[(i0 + r) * n + j0..][..cols];
                    for (c_rl, &acc_rl) in c_row.iter_mut().zip(acc_r) {
                        *c_rl = F::mul_add(alpha, acc_rl, *c_rl);
                    }
                }
            }
        }
    }

    /// Copies columns `j0..j0+w` of b (b(p, j) for p < k) into `dst` as k groups of `w`,
    /// zero-padding columns past n.
    #[inline(always)]
    fn pack_b<T: Scalar>(op: Op, n: usize, k: usize, j0: usize, w: usize, b: &[T], dst: &mut [T]) {
        let cols = w.min(n - j0);
        match op {
            Op::Nn | Op::Tn => {
                for (d, b_row) in dst.chunks_exact_mut(w).zip(b.chunks_exact(n)) {
                    d[..cols].copy_from_slice(&b_row[j0..j0 + cols]);
                }
            }
            Op::Nt => {
                for (l, b_row) in b.chunks_exact(k).skip(j0).take(cols).enumerate() {
                    for (d, &v) in dst.chunks_exact_mut(w).zip(b_row) {
                        d[l] = v;
                    }
                }
            }
        }
    }

    /// The blocked kernel: packs a into zero-padded row panels of MR (k groups of MR), then
    /// for each column panel of b (width NR; the last one narrowed to NR2 or NR4 when that
    /// suffices) packs it and runs [`column_panel`]. Vector problems (m, n or k = 1) go to
    /// [`gemv_rows`], [`gemv_dots`] and [`rank_one`] with vectors of `L` lanes instead.
    #[inline(always)]
    #[allow(clippy::too_many_arguments)]
    fn blocked<
        T: Scalar,
        F: MulAdd<T>,
        const MR: usize,
        const NR: usize,
        const NR2: usize,
        const NR4: usize,
        const L: usize,
    >(
        op: Op,
        m: usize,
        n: usize,
        k: usize,
        alpha: T,
        a: &[T],
        b: &[T],
        c: &mut [T],
        pack: &mut Vec<T>,
    ) {
        check_lengths(m, n, k, a, b, c);
        if m == 0 || n == 0 || k == 0 {
            return;
        }
        // Vector results (batch 1, single neuron): tiles would be mostly padding and packing
        // would cost as much as the arithmetic. A column c (n = 1) is stored like the row cᵀ,
        // and cᵀ = bᵀ·aᵀ is an m = 1 problem, which the simple loop does as axpys over the
        // contiguous n (nn, tn) or as dot products over the contiguous k (nt).
        if n == 1 {
            return match op {
                Op::Nn | Op::Nt => gemv_dots::<T, F, L>(m, k, alpha, b, a, c), // c_i = a_i· · b
                Op::Tn => gemv_rows::<T, F, L>(m, k, alpha, b, a, c),          // c_i = Σ_p b_p a_pi
            };
        }
        if m == 1 {
            return match op {
                Op::Nn | Op::Tn => gemv_rows::<T, F, L>(n, k, alpha, a, b, c), // Σ_p a_p b_p·
                Op::Nt => gemv_dots::<T, F, L>(n, k, alpha, a, b, c),          // c_j = a · b_j·
            };
        }
        if k == 1 {
            return rank_one::<T, F, L>(m, n, alpha, a, b, c);
        }
        let (a, b, c) = (&a[..m * k], &b[..k * n], &mut c[..m * n]);
        let panels = m.div_ceil(MR);
        // Packing space from the caller's per-thread buffer (grown, never shrunk): no heap
        // allocation per call in steady state.
        let (na, nb) = (panels * MR * k, NR * k);
        if pack.len() < na + nb {
            pack.resize(na + nb, T::zero());
        }
        let (ap, bp) = pack[..na + nb].split_at_mut(na);
        ap.fill(T::zero());
        match op {
            Op::Nn | Op::Nt => {
                for (i, a_row) in a.chunks_exact(k).enumerate() {
                    let (ip, r) = (i / MR, i % MR);
                    for (d, &v) in ap[ip * MR * k..].chunks_exact_mut(MR).zip(a_row) {
                        d[r] = v;
                    }
                }
            }
            Op::Tn => {
                for (p, a_row) in a.chunks_exact(m).enumerate() {
                    for (ip, a_part) in a_row.chunks(MR).enumerate() {
                        ap[(ip * k + p) * MR..][..a_part.len()].copy_from_slice(a_part);
                    }
                }
            }
        }
        let full = n / NR * NR;
        for j0 in (0..full).step_by(NR) {
            pack_b(op, n, k, j0, NR, b, bp);
            column_panel::<T, F, MR, NR>(m, n, k, j0, alpha, ap, bp, c);
        }
        let rest = n - full;
        if rest > 0 {
            bp.fill(T::zero());
            if rest <= NR4 {
                pack_b(op, n, k, full, NR4, b, &mut bp[..NR4 * k]);
                column_panel::<T, F, MR, NR4>(m, n, k, full, alpha, ap, &bp[..NR4 * k], c);
            } else if rest <= NR2 {
                pack_b(op, n, k, full, NR2, b, &mut bp[..NR2 * k]);
                column_panel::<T, F, MR, NR2>(m, n, k, full, alpha, ap, &bp[..NR2 * k], c);
            } else {
                pack_b(op, n, k, full, NR, b, bp);
                column_panel::<T, F, MR, NR>(m, n, k, full, alpha, ap, bp, c);
            }
        }
    }

    thread_local! {
        static PACK_F32: std::cell::RefCell<Vec<f32>> = const { std::cell::RefCell::new(Vec::new()) };
        static PACK_F64: std::cell::RefCell<Vec<f64>> = const { std::cell::RefCell::new(Vec::new()) };
    }

    /// Runs `f` with this thread's `f32` packing buffer.
    fn with_pack_f32<R>(f: impl FnOnce(&mut Vec<f32>) -> R) -> R {
        PACK_F32.with(|p| f(&mut p.borrow_mut()))
    }

    /// Runs `f` with this thread's `f64` packing buffer.
    fn with_pack_f64<R>(f: impl FnOnce(&mut Vec<f64>) -> R) -> R {
        PACK_F64.with(|p| f(&mut p.borrow_mut()))
    }

    // Tile shapes. Baseline (x86_64: SSE2, 16 × 128-bit registers): 4 × 2 vectors, 8
    // accumulator registers. AVX2 (16 × 256-bit registers): 6 × 2 vectors, 12 accumulators
    // plus two for the row of b and one broadcast of a. Measured with benches/gemm.rs.
    // Vector problems use the register's lane count (L: 4 / 2 baseline, 8 / 4 AVX2).

    /// The blocked `f32` kernel without target features (all CPUs).
    #[allow(clippy::too_many_arguments)]
    pub fn baseline_f32(
        op: Op,
        m: usize,
        n: usize,
        k: usize,
        alpha: f32,
        a: &[f32],
        b: &[f32],
        c: &mut [f32],
    ) {
        with_pack_f32(|p| blocked::<f32, Separate, 4, 8, 4, 2, 4>(op, m, n, k, alpha, a, b, c, p))
    }

    /// The blocked `f64` kernel without target features (all CPUs).
    #[allow(clippy::too_many_arguments)]
    pub fn baseline_f64(
        op: Op,
        m: usize,
        n: usize,
        k: usize,
        alpha: f64,
        a: &[f64],
        b: &[f64],
        c: &mut [f64],
    ) {
        with_pack_f64(|p| blocked::<f64, Separate, 4, 4, 2, 1, 2>(op, m, n, k, alpha, a, b, c, p))
    }

    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2,fma")]
    #[allow(clippy::too_many_arguments)]
    fn avx2_f32(
        op: Op,
        m: usize,
        n: usize,
        k: usize,
        alpha: f32,
        a: &[f32],
        b: &[f32],
        c: &mut [f32],
    ) {
        with_pack_f32(|p| blocked::<f32, Fused, 6, 16, 8, 4, 8>(op, m, n, k, alpha, a, b, c, p))
    }

    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2,fma")]
    #[allow(clippy::too_many_arguments)]
    fn avx2_f64(
        op: Op,
        m: usize,
        n: usize,
        k: usize,
        alpha: f64,
        a: &[f64],
        b: &[f64],
        c: &mut [f64],
    ) {
        with_pack_f64(|p| blocked::<f64, Fused, 6, 8, 4, 2, 4>(op, m, n, k, alpha, a, b, c, p))
    }

    /// True when this CPU can run the AVX2 + FMA build (detection is cached by std).
    #[cfg(target_arch = "x86_64")]
    #[inline]
    fn has_avx2_fma() -> bool {
        std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma")
    }

    /// The `f32` kernel: the AVX2 + FMA build where the CPU has it, else the baseline.
    #[allow(clippy::too_many_arguments)]
    pub fn dispatch_f32(
        op: Op,
        m: usize,
        n: usize,
        k: usize,
        alpha: f32,
        a: &[f32],
        b: &[f32],
        c: &mut [f32],
    ) {
        #[cfg(target_arch = "x86_64")]
        if has_avx2_fma() {
            // SAFETY: the CPU supports AVX2 and FMA (checked just above), the only
            // precondition of calling a `#[target_feature(enable = "avx2,fma")]` function.
            return unsafe { avx2_f32(op, m, n, k, alpha, a, b, c) };
        }
        baseline_f32(op, m, n, k, alpha, a, b, c)
    }

    /// The `f64` kernel: the AVX2 + FMA build where the CPU has it, else the baseline.
    #[allow(clippy::too_many_arguments)]
    pub fn dispatch_f64(
        op: Op,
        m: usize,
        n: usize,
        k: usize,
        alpha: f64,
        a: &[f64],
        b: &[f64],
        c: &mut [f64],
    ) {
        #[cfg(target_arch = "x86_64")]
        if has_avx2_fma() {
            // SAFETY: the CPU supports AVX2 and FMA (checked just above), the only
            // precondition of calling a `#[target_feature(enable = "avx2,fma")]` function.
            return unsafe { avx2_f64(op, m, n, k, alpha, a, b, c) };
        }
        baseline_f64(op, m, n, k, alpha, a, b, c)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use paths::Op;

    /// The branch-free finiteness test agrees with `is_finite` at every position (lanes and
    /// the remainder) for each kind of non-finite value, and accepts the extreme finite ones.
    #[test]
    fn all_finite_finds_every_non_finite_entry() {
        fn one<T: Scalar>(max: T, tiny: T) {
            let base: Vec<T> = (0..19)
                .map(|i| match i % 4 {
                    0 => max,
                    1 => -max,
                    2 => tiny,
                    _ => T::zero(),
                })
                .collect();
            assert!(all_finite(&base));
            assert!(all_finite::<T>(&[]));
            let bad = [
                T::from_f64(f64::NAN),
                T::from_f64(f64::INFINITY),
                T::from_f64(f64::NEG_INFINITY),
            ];
            for pos in 0..base.len() {
                for v in bad {
                    let mut x = base.clone();
                    x[pos] = v;
                    assert!(!all_finite(&x), "missed {v:?} at {pos}");
                }
            }
        }
        one::<f32>(f32::MAX, f32::from_bits(1));
        one::<f64>(f64::MAX, f64::from_bits(1));
    }

    /// Deterministic test data in [-1, 1].
    fn data(len: usize, seed: f64) -> Vec<f64> {
        (0..len)
            .map(|i| (i as f64 * 0.7548776662 + seed).sin())
            .collect()
    }

    /// (a(i, p), b(p, j)) of the operands as stored for `op`.
    fn entries(
        op: Op,
        m: usize,
        n: usize,
        k: usize,
    ) -> (
        impl Fn(usize, usize) -> usize,
        impl Fn(usize, usize) -> usize,
    ) {
        let ai = move |i: usize, p: usize| if op == Op::Tn { p * m + i } else { i * k + p };
        let bi = move |p: usize, j: usize| if op == Op::Nt { j * k + p } else { p * n + j };
        (ai, bi)
    }

    /// The naive triple loop in f64 and, per entry, the bound Σ_p |alpha a_ip b_pj| + |c0_ij|.
    #[allow(clippy::too_many_arguments)]
    fn reference(
        op: Op,
        m: usize,
        n: usize,
        k: usize,
        alpha: f64,
        a: &[f64],
        b: &[f64],
        c0: &[f64],
    ) -> (Vec<f64>, Vec<f64>) {
        let (ai, bi) = entries(op, m, n, k);
        let mut c = c0[..m * n].to_vec();
        let mut bound = vec![0.0; m * n];
        for i in 0..m {
            for j in 0..n {
                let (mut s, mut s_abs) = (0.0, 0.0);
                for p in 0..k {
                    s += a[ai(i, p)] * b[bi(p, j)];
                    s_abs += (a[ai(i, p)] * b[bi(p, j)]).abs();
                }
                c[i * n + j] += alpha * s;
                bound[i * n + j] = alpha.abs() * s_abs + c0[i * n + j].abs();
            }
        }
        (c, bound)
    }

    type Kernel<T> = fn(Op, usize, usize, usize, T, &[T], &[T], &mut [T]);

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
            Op::Nn => gemm_nn(m, n, k, alpha, a, b, c),
            Op::Tn => gemm_tn(m, n, k, alpha, a, b, c),
            Op::Nt => gemm_nt(m, n, k, alpha, a, b, c),
        }
    }

    /// Runs `kernel` over a grid of shapes, both alphas and all three ops and compares with
    /// the naive loop in f64.
    ///
    /// Tolerance: each entry is c0 + alpha·Σ_p a_ip b_pj, a sum of k+1 terms after one more
    /// multiplication; any summation order (blocked, fused or not) has a rounding error of at
    /// most γ_{k+2} ≈ (k+2)·ε times the sum of the magnitudes (Higham, Accuracy and Stability,
    /// §3.1), and so has the f64 reference. Their difference is below 2·(k+2)·ε·bound ≤
    /// 4·(k+1)·ε·bound with bound = |c0| + |alpha|·Σ_p |a_ip||b_pj|. For f32 the inputs are
    /// exactly representable in both types and the f64 reference error is negligible.
    fn check_against_naive<T: Scalar>(kernel: Kernel<T>, eps: f64, what: &str) {
        let ms = [0usize, 1, 3, 7, 10, 53, 100, 128];
        let ns = [0usize, 1, 5, 16, 17, 53, 100, 128];
        let ks = [0usize, 1, 2, 10, 53, 128];
        for op in [Op::Nn, Op::Tn, Op::Nt] {
            for &m in &ms {
                for &n in &ns {
                    for &k in &ks {
                        // Slices longer than needed: only the leading entries count.
                        let to_t =
                            |v: Vec<f64>| -> Vec<T> { v.into_iter().map(T::from_f64).collect() };
                        let a = to_t(data(m * k + 3, 0.1));
                        let b = to_t(data(k * n + 5, 1.3));
                        let c0 = to_t(data(m * n + 2, 2.9));
                        let a64: Vec<f64> = a.iter().map(|x| x.to_f64()).collect();
                        let b64: Vec<f64> = b.iter().map(|x| x.to_f64()).collect();
                        let c064: Vec<f64> = c0.iter().map(|x| x.to_f64()).collect();
                        for alpha in [1.0, -0.5] {
                            let (want, bound) = reference(op, m, n, k, alpha, &a64, &b64, &c064);
                            let mut c = c0.clone();
                            kernel(op, m, n, k, T::from_f64(alpha), &a, &b, &mut c);
                            for e in 0..m * n {
                                let tol = 4.0 * (k + 1) as f64 * eps * bound[e];
                                let got = c[e].to_f64();
                                assert!(
                                    (got - want[e]).abs() <= tol,
                                    "{what} {op:?} m={m} n={n} k={k} alpha={alpha} entry {e}: \
                                     {got} vs {} (tol {tol})",
                                    want[e]
                                );
                            }
                            // The tail past m·n is untouched.
                            assert_eq!(
                                c[m * n..].iter().map(|x| x.to_f64()).collect::<Vec<_>>(),
                                c064[m * n..]
                            );
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn gemm_f64_dispatched_baseline_and_generic_agree_with_the_naive_loop() {
        check_against_naive::<f64>(dispatched, f64::EPSILON, "dispatched f64");
        check_against_naive::<f64>(paths::baseline_f64, f64::EPSILON, "baseline f64");
        check_against_naive::<f64>(paths::generic, f64::EPSILON, "generic f64");
    }

    #[test]
    fn gemm_f32_dispatched_baseline_and_generic_agree_with_the_naive_loop() {
        let eps = f32::EPSILON as f64;
        check_against_naive::<f32>(dispatched, eps, "dispatched f32");
        check_against_naive::<f32>(paths::baseline_f32, eps, "baseline f32");
        check_against_naive::<f32>(paths::generic, eps, "generic f32");
    }

    /// The vector paths (m, n or k = 1) read whole vectors past a block's last column, into
    /// the next row of b: an infinity in one entry of a or b must make exactly the entries
    /// of c non-finite that the naive loop makes non-finite, and no others. (Checked to fail
    /// when a dropped lane is mixed into a kept one.)
    #[test]
    fn vector_paths_keep_a_non_finite_entry_in_its_own_outputs() {
        fn one<T: Scalar>(kernel: Kernel<T>, what: &str) {
            let shapes = [
                (1, 53, 53),
                (53, 1, 53),
                (1, 5, 17),
                (17, 1, 5),
                (53, 53, 1),
            ];
            for op in [Op::Nn, Op::Tn, Op::Nt] {
                for &(m, n, k) in &shapes {
                    for in_a in [false, true] {
                        let len = if in_a { m * k } else { k * n };
                        // Every entry of the first two rows (whichever of n, k is the row
                        // length), so that each lane reading on into a next row meets the
                        // infinity once, then two more.
                        let first_rows = (2 * n.max(k) + 3).min(len);
                        let positions = (0..first_rows).chain([len / 2, len - 1]);
                        for at in positions {
                            let mut a = data(m * k, 0.1);
                            let mut b = data(k * n, 1.3);
                            if in_a {
                                a[at] = f64::INFINITY
                            } else {
                                b[at] = f64::INFINITY
                            }
                            let c0 = data(m * n, 2.9);
                            let (want, _) = reference(op, m, n, k, 1.0, &a, &b, &c0);
                            let to_t = |v: &[f64]| -> Vec<T> {
                                v.iter().map(|&x| T::from_f64(x)).collect()
                            };
                            let mut c = to_t(&c0);
                            kernel(op, m, n, k, T::one(), &to_t(&a), &to_t(&b), &mut c);
                            for e in 0..m * n {
                                assert_eq!(
                                    c[e].is_finite(),
                                    want[e].is_finite(),
                                    "{what} {op:?} m={m} n={n} k={k} inf in {} at {at}: entry {e}",
                                    if in_a { "a" } else { "b" }
                                );
                            }
                        }
                    }
                }
            }
        }
        one::<f32>(dispatched, "dispatched f32");
        one::<f64>(dispatched, "dispatched f64");
        one::<f32>(paths::baseline_f32, "baseline f32");
        one::<f64>(paths::baseline_f64, "baseline f64");
    }

    #[test]
    fn gemm_dual_carries_value_and_derivative() {
        use num_dual::Dual64;
        // a depends on x with da/dx = a', b on x with db/dx = b': the derivative of c is
        // alpha (a' b + a b') (for tn/nt with the corresponding transposes).
        let (m, n, k) = (5, 7, 3);
        let alpha = -0.5;
        let (a, da, b, db) = (
            data(m * k, 0.2),
            data(m * k, 0.9),
            data(k * n, 1.7),
            data(k * n, 2.4),
        );
        let c0 = data(m * n, 3.1);
        for op in [Op::Nn, Op::Tn, Op::Nt] {
            let ad: Vec<Dual64> = a
                .iter()
                .zip(&da)
                .map(|(&v, &d)| Dual64::new(v, d))
                .collect();
            let bd: Vec<Dual64> = b
                .iter()
                .zip(&db)
                .map(|(&v, &d)| Dual64::new(v, d))
                .collect();
            let mut cd: Vec<Dual64> = c0.iter().map(|&v| Dual64::from(v)).collect();
            dispatched(op, m, n, k, Dual64::from(alpha), &ad, &bd, &mut cd);
            let (value, _) = reference(op, m, n, k, alpha, &a, &b, &c0);
            let zero = vec![0.0; m * n];
            let (d1, _) = reference(op, m, n, k, alpha, &da, &b, &zero);
            let (d2, _) = reference(op, m, n, k, alpha, &a, &db, &zero);
            for e in 0..m * n {
                // k = 3 products of entries in [-1, 1]: a few ulps of a number ≤ 4.
                assert!((cd[e].re - value[e]).abs() <= 1e-14, "{op:?} value {e}");
                assert!(
                    (cd[e].eps - (d1[e] + d2[e])).abs() <= 1e-14,
                    "{op:?} derivative {e}"
                );
            }
        }
    }

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
