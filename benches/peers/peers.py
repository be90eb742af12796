#!/usr/bin/env python3
"""Peer implementations of the vle MNIST-1D kernels (issue 5): PyTorch (eager) and JAX (jit,
lax.scan), with exactly the discrete semantics of the code `vle_model!` generates.

The network (benches/models/mod.rs, docs/theory.md §8): input 1, six tanh layers of 53 GLE units
(17 with tau_m = tau_r = 1.2; 18 with tau_m = 0.6, tau_r = 0.2; 18 with tau_m = 1.2,
tau_r = 0.2), 10 identity outputs (tau_m = tau_r = 1.2), cross-entropy of softmax(r_out).

Discrete semantics (vle-codegen/tests/snapshots/expansion__mixed_le_memory_cross_entropy.snap,
`euler_step` and `online_step`): layer-synchronous explicit Euler. The state of layer l holds the
membrane u_l and the prospective value p_l; its rate is r_l = tanh(p_l) (identity for the
output). Every layer reads the previous step's rates r_{l-1} (r_0 = x):

    input_l = W_l r_{l-1} + b_l,  a = (input_l - u_l)/tau_m
    p_l <- u_l + tau_r a,         u_l <- u_l + dt a

The online step (local rule, docs/theory.md §5) reads the errors in transit sent in the previous
step, g_l = -W_{l+1}^T eps_{l+1} (hidden), and g_L = beta (sum(y) softmax(r_L) - y) (output),
then per layer, with R' = 1 - r^2 (1 for the output):
    e_hat = -g R',  dv = (e_hat - v)/tau_r,  eps = v + tau_m dv,  v <- v + dt dv
    grad tau_m += dt (input - u)/tau_m eps,   grad tau_r += dt (input - u)/tau_m g R'
    grad b -= dt eps,  grad W -= dt eps r_{l-1}^T   (summed over the batch)
    input <- input + gamma eps, then the Euler step above;
and finally sends the new errors down, g_l <- -W_{l+1}^T eps_{l+1}, with the weights of this step
(in vle's local state after v and eps; a training loop updates the weights after the step).
The exact gradient: L = beta dt sum_{n=1..N} l(state_n, y_n), l = sum_i y_i (logsumexp(r) - r_i),
mean over the batch, differentiated by torch autograd / jax.grad through the Euler steps, with
respect to every parameter (W, b and the time constants: vle's backward sweep computes all).

Usage:
    peers.py --check [--reference reference.npz]   agreement with vle (f64 and f32), then exit
    peers.py --time [--dtype f32] [--json out.json] timings (sample-steps per second)
    peers.py --gemm                                 GEMM peak (torch, numpy), 1 and 2 threads
"""

import argparse
import json
import os
import subprocess
import sys
import time

# Threads must be fixed before torch/jax are imported. One thread: vle's kernels are
# single-threaded. `--threads` changes it.
_threads = "1"
for i, a in enumerate(sys.argv):
    if a == "--threads" and i + 1 < len(sys.argv):
        _threads = sys.argv[i + 1]
    elif a.startswith("--threads="):
        _threads = a.split("=", 1)[1]
os.environ.setdefault("OMP_NUM_THREADS", _threads)
os.environ.setdefault("MKL_NUM_THREADS", _threads)
os.environ.setdefault("OPENBLAS_NUM_THREADS", _threads)
if _threads == "1":
    os.environ.setdefault(
        "XLA_FLAGS",
        "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1",
    )
os.environ.setdefault("JAX_PLATFORMS", "cpu")

import numpy as np  # noqa: E402
import torch  # noqa: E402
import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402

jax.config.update("jax_enable_x64", True)  # f64 for the check; f32 arrays stay f32
torch.set_num_threads(int(_threads))

HERE = os.path.dirname(os.path.abspath(__file__))
SIZES = [1, 53, 53, 53, 53, 53, 53, 10]
N_LAYERS = len(SIZES) - 1
HIDDEN_TAU_M = [1.2] * 17 + [0.6] * 18 + [1.2] * 18
HIDDEN_TAU_R = [1.2] * 17 + [0.2] * 36
DT, BETA, GAMMA = 0.2, 1.0, 0.0
WINDOW, HOLD = 360, 9


# ----------------------------------------------------------------------------- layout

def param_layout():
    """(offset, rows, cols) per tensor, in vle's order: per layer W, b, tau_m, tau_r."""
    out, off = [], 0
    for l in range(N_LAYERS):
        n, m = SIZES[l + 1], SIZES[l]
        for rows, cols in [(n, m), (n, 1), (n, 1), (n, 1)]:
            out.append((off, rows, cols))
            off += rows * cols
    return out, off


def state_layout():
    """Per layer (size, offset of u, offset of p, offset of eps in the local state); the local
    state's length; per hidden layer the offset of its error in transit (after every v, eps)."""
    neurons = sum(SIZES[1:])
    out, off, loc = [], 0, 0
    for l in range(N_LAYERS):
        n = SIZES[l + 1]
        out.append((n, off, neurons + off, loc + n))
        off += n
        loc += 2 * n
    fb = []
    for l in range(N_LAYERS - 1):
        fb.append(loc)
        loc += SIZES[l + 1]
    return out, 2 * neurons, loc, fb


PARAM_LAYOUT, N_PARAMS = param_layout()
LAYER_LAYOUT, N_STATE, N_LOCAL, FB_LAYOUT = state_layout()
N_WEIGHTS = sum(SIZES[l] * SIZES[l + 1] for l in range(N_LAYERS))


def init_flat(seed):
    """Parameters as vle::init_params draws them (uniform ±1/sqrt(fan_in), zero bias,
    declared time constants); not bit-identical to vle's generator, which timing does not need."""
    rng = np.random.default_rng(seed)
    p = np.zeros(N_PARAMS)
    for l in range(N_LAYERS):
        (ow, n, m), (ob, _, _), (otm, _, _), (otr, _, _) = PARAM_LAYOUT[4 * l: 4 * l + 4]
        a = 1.0 / np.sqrt(m)
        p[ow: ow + n * m] = rng.uniform(-a, a, n * m)
        hidden = l < N_LAYERS - 1
        p[otm: otm + n] = HIDDEN_TAU_M if hidden else 1.2
        p[otr: otr + n] = HIDDEN_TAU_R if hidden else 1.2
    return p


def split_params(flat, lib, dtype):
    """Flat vector -> list of (W, b, tau_m, tau_r) per layer (W: rows = post, cols = pre)."""
    out = []
    for l in range(N_LAYERS):
        ts = []
        for k, (off, rows, cols) in enumerate(PARAM_LAYOUT[4 * l: 4 * l + 4]):
            v = np.asarray(flat[off: off + rows * cols], dtype=np.float64)
            ts.append(v.reshape(rows, cols) if k == 0 else v)  # W is 2-D, the rest 1-D
        out.append(tuple(lib(t, dtype) for t in ts))
    return out


def join_grads(grads):
    """List of (gW, gb, gtm, gtr) -> flat numpy vector in vle's layout."""
    flat = np.zeros(N_PARAMS)
    for l in range(N_LAYERS):
        for (off, rows, cols), g in zip(PARAM_LAYOUT[4 * l: 4 * l + 4], grads[l]):
            flat[off: off + rows * cols] = np.asarray(g, dtype=np.float64).reshape(-1)
    return flat


def join_state(us, ps):
    """Per-layer (B, n) u and p -> (B, STATE)."""
    B = np.asarray(us[0]).shape[0]
    s = np.zeros((B, N_STATE))
    for (n, ou, op, _), u, p in zip(LAYER_LAYOUT, us, ps):
        s[:, ou: ou + n] = np.asarray(u, dtype=np.float64)
        s[:, op: op + n] = np.asarray(p, dtype=np.float64)
    return s


def join_local(vs, es, gs):
    """Per-layer v, eps and per hidden layer its error in transit g -> (B, LOCAL)."""
    B = np.asarray(vs[0]).shape[0]
    s = np.zeros((B, N_LOCAL))
    for (n, _, _, oe), v, e in zip(LAYER_LAYOUT, vs, es):
        s[:, oe - n: oe] = np.asarray(v, dtype=np.float64)
        s[:, oe: oe + n] = np.asarray(e, dtype=np.float64)
    for o, g in zip(FB_LAYOUT, gs):
        s[:, o: o + g.shape[1]] = np.asarray(g, dtype=np.float64)
    return s


def held_inputs(batch, seed, steps=WINDOW):
    """Per sample 40 standard-normal values held 9 steps, one-hot class b mod 10 (as the vle
    bench): xs (B, steps, 1), ys (B, steps, 10)."""
    rng = np.random.default_rng(seed)
    vals = rng.standard_normal((batch, (steps + HOLD - 1) // HOLD))
    xs = np.repeat(vals, HOLD, axis=1)[:, :steps, None]
    ys = np.zeros((batch, steps, SIZES[-1]))
    ys[np.arange(batch), :, np.arange(batch) % SIZES[-1]] = 1.0
    return xs, ys


# ----------------------------------------------------------------------------- torch

TDT = {"f32": torch.float32, "f64": torch.float64}
JDT = {"f32": jnp.float32, "f64": jnp.float64}


def t_tensor(a, dtype):
    return torch.tensor(np.asarray(a), dtype=TDT[dtype])


def torch_zero_online(B, dtype):
    z = lambda n: torch.zeros(B, n, dtype=TDT[dtype])  # noqa: E731
    ns = SIZES[1:]
    return dict(
        u=[z(n) for n in ns], p=[z(n) for n in ns], v=[z(n) for n in ns], e=[z(n) for n in ns],
        g=[z(n) for n in ns[:-1]],
    )


def torch_zero_grads(P):
    return [tuple(torch.zeros_like(t) for t in layer) for layer in P]


@torch.inference_mode()
def torch_online_step(P, S, G, x, y, beta, gamma, dt):
    """One online step of the whole batch; S (u, p, v, e per layer) and G updated in place.
    x (B, 1), y (B, 10)."""
    L = N_LAYERS
    u, p, v = S["u"], S["p"], S["v"]
    r, rdp = [], []
    for l in range(L - 1):
        t = torch.tanh(p[l])
        r.append(t)
        rdp.append(1.0 - t * t)
    r.append(p[L - 1])
    # Rate sensitivities: the errors sent in the previous step, and the loss.
    ro = r[L - 1]
    soft = torch.softmax(ro, dim=1)
    g = S["g"] + [beta * (y.sum(dim=1, keepdim=True) * soft - y)]
    new_e = []
    for l in range(L):
        W, b, tm, tr = P[l]
        gW, gb, gtm, gtr = G[l]
        pre = x if l == 0 else r[l - 1]
        inp = torch.addmm(b, pre, W.t())
        gl = g[l] if l == L - 1 else g[l] * rdp[l]  # g R'
        a0 = (inp - u[l]) / tm
        dv = (-gl - v[l]) / tr
        eps = v[l] + tm * dv
        gtm.add_((a0 * eps).sum(0), alpha=dt)
        gtr.add_((a0 * gl).sum(0), alpha=dt)
        gb.sub_(eps.sum(0), alpha=dt)
        gW.addmm_(eps.t(), pre, alpha=-dt)
        v[l] = v[l] + dt * dv
        new_e.append(eps)
        a = (inp + gamma * eps - u[l]) / tm
        p[l] = u[l] + tr * a
        u[l] = u[l] + dt * a
    S["e"] = new_e
    S["g"] = [-(new_e[l + 1] @ P[l + 1][0]) for l in range(L - 1)]


def torch_online_run(P, S, G, xs, ys, beta, gamma, dt):
    """xs (B, steps, 1), ys (B, steps, 10) as torch tensors."""
    for n in range(xs.shape[1]):
        torch_online_step(P, S, G, xs[:, n], ys[:, n], beta, gamma, dt)


def torch_euler_step(P, u, p, x, dt):
    L = N_LAYERS
    r = [torch.tanh(p[l]) for l in range(L - 1)] + [p[L - 1]]
    nu, np_ = [], []
    for l in range(L):
        W, b, tm, tr = P[l]
        pre = x if l == 0 else r[l - 1]
        a = (torch.addmm(b, pre, W.t()) - u[l]) / tm
        np_.append(u[l] + tr * a)
        nu.append(u[l] + dt * a)
    return nu, np_


def torch_exact(P, xs, ys, beta, dt):
    """Batch-mean loss and its gradient by autograd through the Euler steps."""
    P = [tuple(t.detach().clone().requires_grad_(True) for t in layer) for layer in P]
    B = xs.shape[0]
    u = [torch.zeros(B, n, dtype=xs.dtype) for n in SIZES[1:]]
    p = [torch.zeros(B, n, dtype=xs.dtype) for n in SIZES[1:]]
    total = 0.0
    for n in range(xs.shape[1]):
        u, p = torch_euler_step(P, u, p, xs[:, n], dt)
        ro, y = p[-1], ys[:, n]
        lse = torch.logsumexp(ro, dim=1, keepdim=True)
        total = total + (y * (lse - ro)).sum()
    loss = beta * dt * total / B
    flat = [t for layer in P for t in layer]
    grads = torch.autograd.grad(loss, flat)
    G = [tuple(grads[4 * l: 4 * l + 4]) for l in range(N_LAYERS)]
    return loss.detach(), G, ([t.detach() for t in u], [t.detach() for t in p])


# ----------------------------------------------------------------------------- jax

def jax_online_step(P, carry, xy, beta, gamma, dt):
    (u, p, v, e, g_sent, G) = carry
    x, y = xy
    L = N_LAYERS
    r, rdp = [], []
    for l in range(L - 1):
        t = jnp.tanh(p[l])
        r.append(t)
        rdp.append(1.0 - t * t)
    r.append(p[L - 1])
    soft = jax.nn.softmax(r[L - 1], axis=1)
    g = list(g_sent) + [beta * (y.sum(axis=1, keepdims=True) * soft - y)]
    nu, np_, nv, ne, nG = [], [], [], [], []
    for l in range(L):
        W, b, tm, tr = P[l]
        gW, gb, gtm, gtr = G[l]
        pre = x if l == 0 else r[l - 1]
        inp = pre @ W.T + b
        gl = g[l] if l == L - 1 else g[l] * rdp[l]
        a0 = (inp - u[l]) / tm
        dv = (-gl - v[l]) / tr
        eps = v[l] + tm * dv
        nG.append((gW - dt * (eps.T @ pre), gb - dt * eps.sum(0),
                   gtm + dt * (a0 * eps).sum(0), gtr + dt * (a0 * gl).sum(0)))
        nv.append(v[l] + dt * dv)
        ne.append(eps)
        a = (inp + gamma * eps - u[l]) / tm
        np_.append(u[l] + tr * a)
        nu.append(u[l] + dt * a)
    ng = [-(ne[l + 1] @ P[l + 1][0]) for l in range(L - 1)]
    return (nu, np_, nv, ne, ng, nG), None


def make_jax_online(beta, gamma, dt):
    """jit(lax.scan) of the online step over a sequence: xs (steps, B, 1), ys (steps, B, 10)."""
    def run(P, carry, xs, ys):
        step = lambda c, xy: jax_online_step(P, c, xy, beta, gamma, dt)  # noqa: E731
        carry, _ = jax.lax.scan(step, carry, (xs, ys))
        return carry
    return jax.jit(run)


def jax_zero_online(P, B, dtype):
    z = lambda n: jnp.zeros((B, n), dtype=JDT[dtype])  # noqa: E731
    ns = SIZES[1:]
    G = [tuple(jnp.zeros_like(t) for t in layer) for layer in P]
    return ([z(n) for n in ns], [z(n) for n in ns], [z(n) for n in ns], [z(n) for n in ns],
            [z(n) for n in ns[:-1]], G)


def make_jax_exact(beta, dt):
    def loss_fn(P, xs, ys):
        B = xs.shape[1]
        u0 = [jnp.zeros((B, n), dtype=xs.dtype) for n in SIZES[1:]]
        p0 = [jnp.zeros((B, n), dtype=xs.dtype) for n in SIZES[1:]]

        def step(c, xy):
            u, p = c
            x, y = xy
            L = N_LAYERS
            r = [jnp.tanh(p[l]) for l in range(L - 1)] + [p[L - 1]]
            nu, np_ = [], []
            for l in range(L):
                W, b, tm, tr = P[l]
                pre = x if l == 0 else r[l - 1]
                a = (pre @ W.T + b - u[l]) / tm
                np_.append(u[l] + tr * a)
                nu.append(u[l] + dt * a)
            ro = np_[-1]
            lse = jax.nn.logsumexp(ro, axis=1, keepdims=True)
            return (nu, np_), (y * (lse - ro)).sum()

        (u, p), ls = jax.lax.scan(step, (u0, p0), (xs, ys))
        return beta * dt * ls.sum() / B, (u, p)

    return jax.jit(jax.value_and_grad(loss_fn, has_aux=True))


# ----------------------------------------------------------------------------- check

def rel_err(a, b):
    """Normwise relative difference max|a - b| / max|b| (entries that are zero in exact
    arithmetic, or cancel, would make elementwise relative errors meaningless)."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    return float(np.max(np.abs(a - b)) / max(np.max(np.abs(b)), 1e-300))


def rel_err_per_tensor(a, b):
    """The largest normwise relative difference over the parameter tensors (W, b, tau_m, tau_r of
    every layer), so that a wrong small tensor cannot hide behind a large one."""
    return max(rel_err(a[o: o + r * c], b[o: o + r * c]) for (o, r, c) in PARAM_LAYOUT)


def check(ref_path, tol64=1e-10, tol32=2e-3):
    R = dict(np.load(ref_path))
    got_layout = [tuple(int(v) for v in row) for row in R["param_layout"]]
    assert got_layout == PARAM_LAYOUT, f"parameter layout differs: {got_layout} vs {PARAM_LAYOUT}"
    got_layers = [tuple(int(v) for v in row) for row in R["layer_layout"]]
    assert got_layers == LAYER_LAYOUT, f"state layout differs: {got_layers} vs {LAYER_LAYOUT}"
    got_local = R["local_online"].shape[1]
    assert got_local == N_LOCAL, f"local state length differs: {got_local} vs {N_LOCAL}"
    dt, beta, gamma = (float(v) for v in R["hyper"])
    flat = R["params"]
    B = R["xs"].shape[0]
    xs = R["xs"].reshape(B, -1, SIZES[0])
    ys = R["ys"].reshape(B, -1, SIZES[-1])
    failures = []
    print(f"check against {ref_path}: batch {B}, {xs.shape[1]} steps, {N_PARAMS} parameters "
          f"({N_WEIGHTS} weights); normwise relative difference max|a-b|/max|ref| "
          "(gradients: the largest over the parameter tensors)")
    print(f"  tolerance f64 {tol64:g}, f32 {tol32:g}")
    for dtype, tol in [("f64", tol64), ("f32", tol32)]:
        results = {}
        # torch online
        P = split_params(flat, t_tensor, dtype)
        S, G = torch_zero_online(B, dtype), torch_zero_grads(P)
        torch_online_run(P, S, G, t_tensor(xs, dtype), t_tensor(ys, dtype), beta, gamma, dt)
        results[("torch", "online")] = [
            ("states", join_state(S["u"], S["p"]), R["states_online"]),
            ("local", join_local(S["v"], S["e"], S["g"]), R["local_online"]),
            ("grad", join_grads(G), R["grad_online"]),
        ]
        # torch exact
        loss, G, (u, p) = torch_exact(P, t_tensor(xs, dtype), t_tensor(ys, dtype), beta, dt)
        results[("torch", "exact")] = [
            ("loss", float(loss), R["loss_exact"][0]),
            ("states", join_state(u, p), R["states_exact"]),
            ("grad", join_grads(G), R["grad_exact"]),
        ]
        # jax online
        Pj = split_params(flat, lambda a, d: jnp.asarray(a, dtype=JDT[d]), dtype)
        run = make_jax_online(beta, gamma, dt)
        xj = jnp.asarray(np.swapaxes(xs, 0, 1), dtype=JDT[dtype])
        yj = jnp.asarray(np.swapaxes(ys, 0, 1), dtype=JDT[dtype])
        u, p, v, e, g, G = run(Pj, jax_zero_online(Pj, B, dtype), xj, yj)
        results[("jax", "online")] = [
            ("states", join_state(u, p), R["states_online"]),
            ("local", join_local(v, e, g), R["local_online"]),
            ("grad", join_grads(G), R["grad_online"]),
        ]
        (loss, (u, p)), G = make_jax_exact(beta, dt)(Pj, xj, yj)
        results[("jax", "exact")] = [
            ("loss", float(loss), R["loss_exact"][0]),
            ("states", join_state(u, p), R["states_exact"]),
            ("grad", join_grads(G), R["grad_exact"]),
        ]
        for (lib, case), rows in results.items():
            parts = []
            for name, a, b in rows:
                d = rel_err_per_tensor(a, b) if name == "grad" else rel_err(a, b)
                parts.append(f"{name} {d:.1e}")
                if not d <= tol:
                    failures.append(f"{dtype} {lib} {case} {name}: {d:.3e} > {tol:g}")
            print(f"  {dtype} {lib:5s} {case:6s}: " + ", ".join(parts))
    if failures:
        print("CHECK FAILED:\n  " + "\n  ".join(failures))
        sys.exit(1)
    print("check passed")


# ----------------------------------------------------------------------------- timing

def _timeit(fn, min_time, min_reps=3):
    """Calls fn() (one warm-up call first) until min_time seconds and min_reps calls have
    passed; returns the median seconds per call."""
    fn()
    times = []
    t_start = time.perf_counter()
    while len(times) < min_reps or time.perf_counter() - t_start < min_time:
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return float(np.median(times))


def time_all(dtype="f32", batches=(1, 100), min_time=3.0, libs=("torch", "jax"), online_steps=WINDOW):
    """Sample-steps per second of every case; returns a list of dicts."""
    flat = init_flat(1)
    rows = []
    for B in batches:
        xs, ys = held_inputs(B, 2)
        for lib in libs:
            # online: online_steps steps of the batch per call
            if lib == "torch":
                P = split_params(flat, t_tensor, dtype)
                S, G = torch_zero_online(B, dtype), torch_zero_grads(P)
                xt, yt = t_tensor(xs[:, :online_steps], dtype), t_tensor(ys[:, :online_steps], dtype)
                sec = _timeit(lambda: torch_online_run(P, S, G, xt, yt, BETA, GAMMA, DT), min_time)
            else:
                Pj = split_params(flat, lambda a, d: jnp.asarray(a, dtype=JDT[d]), dtype)
                run = make_jax_online(BETA, GAMMA, DT)
                xj = jnp.asarray(np.swapaxes(xs[:, :online_steps], 0, 1), dtype=JDT[dtype])
                yj = jnp.asarray(np.swapaxes(ys[:, :online_steps], 0, 1), dtype=JDT[dtype])
                carry = [jax_zero_online(Pj, B, dtype)]

                def f():
                    carry[0] = run(Pj, carry[0], xj, yj)
                    jax.block_until_ready(carry[0])
                sec = _timeit(f, min_time)
            rows.append(dict(case="online", lib=lib, dtype=dtype, batch=B,
                             sample_steps_per_s=B * online_steps / sec))
            print(f"  {lib:5s} online {dtype} b{B:<3d}: {B * online_steps / sec:12.4g} sample-steps/s",
                  flush=True)
            # exact: a 360-step window, forward + backward
            if lib == "torch":
                xt, yt = t_tensor(xs, dtype), t_tensor(ys, dtype)
                sec = _timeit(lambda: torch_exact(P, xt, yt, BETA, DT), min_time)
            else:
                f_exact = make_jax_exact(BETA, DT)
                xj = jnp.asarray(np.swapaxes(xs, 0, 1), dtype=JDT[dtype])
                yj = jnp.asarray(np.swapaxes(ys, 0, 1), dtype=JDT[dtype])
                sec = _timeit(lambda: jax.block_until_ready(f_exact(Pj, xj, yj)), min_time)
            rows.append(dict(case="exact", lib=lib, dtype=dtype, batch=B,
                             sample_steps_per_s=B * WINDOW / sec))
            print(f"  {lib:5s} exact  {dtype} b{B:<3d}: {B * WINDOW / sec:12.4g} sample-steps/s",
                  flush=True)
    return rows


GEMM_SNIPPET = r"""
import os, sys, time, json
n, lib = int(sys.argv[1]), sys.argv[2]
import numpy as np
if lib == "torch":
    import torch
    torch.set_num_threads(int(os.environ["OMP_NUM_THREADS"]))
    a = torch.randn(n, n, dtype=torch.float32); b = torch.randn(n, n, dtype=torch.float32)
    mm = lambda: torch.mm(a, b)
else:
    a = np.random.default_rng(0).standard_normal((n, n), dtype=np.float32)
    b = np.random.default_rng(1).standard_normal((n, n), dtype=np.float32)
    mm = lambda: a @ b
mm(); mm()
best = float("inf"); t_end = time.perf_counter() + 3.0
while time.perf_counter() < t_end:
    t0 = time.perf_counter(); mm(); best = min(best, time.perf_counter() - t0)
print(json.dumps({"gflops": 2 * n**3 / best / 1e9}))
"""


def gemm_peak(n=2048):
    """f32 GEMM GFLOP/s (best of ~3 s of n×n matmuls), torch and numpy, 1 and 2 threads, each
    in a fresh process so the thread count takes effect."""
    rows = []
    for lib in ("torch", "numpy"):
        for th in (1, 2):
            env = dict(os.environ)
            for k in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
                env[k] = str(th)
            out = subprocess.run([sys.executable, "-c", GEMM_SNIPPET, str(n), lib], env=env,
                                 capture_output=True, text=True, check=True).stdout
            g = json.loads(out.strip().splitlines()[-1])["gflops"]
            rows.append(dict(lib=lib, threads=th, n=n, gflops=g))
            print(f"  GEMM {lib:5s} f32 {n}x{n}, {th} thread(s): {g:8.1f} GFLOP/s", flush=True)
    return rows


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--check", action="store_true")
    ap.add_argument("--reference", default=os.path.join(HERE, "reference.npz"))
    ap.add_argument("--time", action="store_true")
    ap.add_argument("--gemm", action="store_true")
    ap.add_argument("--dtype", default="f32", choices=["f32", "f64"])
    ap.add_argument("--min-time", type=float, default=3.0)
    ap.add_argument("--threads", default="1")
    ap.add_argument("--json", default=None, help="write the results to this file too")
    args = ap.parse_args()
    result = dict(threads=int(args.threads), torch=torch.__version__, jax=jax.__version__,
                  numpy=np.__version__)
    if args.check:
        check(args.reference)
    if args.time:
        print(f"timing ({args.dtype}, {args.threads} thread(s); sample-steps per second)", flush=True)
        result["timings"] = time_all(args.dtype, min_time=args.min_time)
    if args.gemm:
        print("GEMM peak", flush=True)
        result["gemm"] = gemm_peak()
    if args.time or args.gemm:
        line = json.dumps(result)
        print("JSON " + line)
        if args.json:
            with open(args.json, "w") as f:
                f.write(line + "\n")


if __name__ == "__main__":
    main()
