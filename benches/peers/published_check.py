#!/usr/bin/env python3
"""Is the published training loop's step (published_loop.py) the step vle generates?

Runs the published loop's step, written out again below as in published_loop.py, and
peers.py's `torch_online_step` (vle's generated semantics, checked against vle to 1e-13 by
`peers.py --check`) side by side: f64, the same parameters (nonzero biases), inputs and
targets, both from rest, the weights changed after every step by the same factor
(1 + 0.01 sin(0.37 n + l), a stand-in for learning that does not depend on rounding) so that
which step's weights send an error down is compared too. Prints the largest relative
differences of u, v and the per-step weight gradient (the published gradient is the batch mean
of eps r^T, vle's the sum times dt: compared after scaling) per layer, in three windows of 150
steps.

    benches/peers/.venv/bin/python benches/peers/published_check.py

Expected: the first steps differ (the published code stores r' = 0 at rest where vle computes
phi'(0) = 1, so its first output error is zero), and once that transient has passed every
quantity agrees to rounding (amplified by the error neurons, as in peers.py --check). Both send
an error down with the weights of the step that computed it (vle since stop 12; before, with the
weights after the step's update: `--feedback updated` of published_loop.py, which this check
then reports as DIFFERENT: 1e-2 to 2e-1 relative in every layer below the output).
"""
import importlib.util
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.argv = [sys.argv[0], "--threads", "1"]
spec = importlib.util.spec_from_file_location("peers", os.path.join(HERE, "peers.py"))
pe = importlib.util.module_from_spec(spec)
spec.loader.exec_module(pe)
import numpy as np  # noqa: E402
import torch  # noqa: E402

torch.set_default_dtype(torch.float64)
B, STEPS, DT = 4, 450, 0.2
L, SIZES = pe.N_LAYERS, pe.SIZES
P = pe.split_params(pe.init_flat(3), pe.t_tensor, "f64")
gen = torch.Generator().manual_seed(0)
P = [(W, b + 0.1 * torch.randn(b.shape, generator=gen), tm, tr) for (W, b, tm, tr) in P]
rng = np.random.default_rng(1)
xs = torch.tensor(rng.standard_normal((B, STEPS, 1)))
labels = torch.tensor(rng.integers(0, 10, B))
ys = torch.nn.functional.one_hot(labels, 10).double()[:, None, :].repeat(1, STEPS, 1)
tanh = (torch.tanh, lambda x: 1 - torch.tanh(x) ** 2)
ident = (lambda x: x, lambda x: torch.ones_like(x))
phis = [tanh] * (L - 1) + [ident]  # peers.py's network: every hidden layer tanh


def published_step(S, x, target):
    """published_loop.py's `step` (learning off), returning the per-layer weight gradients."""
    new = {k: list(v) for k, v in S.items()}
    grads = []
    for l in range(L):
        W, b, tm, tr = P[l]
        below = x if l == 0 else S["r"][l - 1]
        if l == L - 1:
            e = torch.nn.functional.one_hot(target, 10) - torch.softmax(S["r"][l], 1)
        else:
            e = S["eb"][l + 1]
        e = e * S["rp"][l]
        s = below @ W.T + b
        vd = (e - S["v"][l]) / tr
        pv = S["v"][l] + tm * vd
        ud = (s - S["u"][l]) / tm
        pu = S["u"][l] + tr * ud
        new["v"][l] = S["v"][l] + DT * vd
        new["u"][l] = S["u"][l] + DT * ud
        new["r"][l], new["rp"][l] = phis[l][0](pu), phis[l][1](pu)
        new["eb"][l] = pv @ W
        grads.append(-(pv.T @ below) / B)
    return new, grads


def rel(a, b):
    return (a - b).abs().max().item() / max(b.abs().max().item(), 1e-300)


def main():
    zeros = lambda ns: [torch.zeros(B, n) for n in ns]  # noqa: E731
    S1 = dict(u=zeros(SIZES[1:]), v=zeros(SIZES[1:]), r=zeros(SIZES[1:]), rp=zeros(SIZES[1:]),
              eb=zeros(SIZES[:-1]))
    S2 = pe.torch_zero_online(B, "f64")
    G = pe.torch_zero_grads(P)
    third = STEPS // 3
    windows = [{} for _ in range(3)]
    for n in range(STEPS):
        before = [g[0].clone() for g in G]
        S1, g1 = published_step(S1, xs[:, n], labels)
        pe.torch_online_step(P, S2, G, xs[:, n], ys[:, n], 1.0, 0.0, DT)
        for l in range(L):
            W, b, tm, tr = P[l]
            P[l] = (W * (1 + 0.01 * np.sin(0.37 * n + l)), b, tm, tr)
        worst = windows[min(n // third, 2)]
        for l in range(L):
            inc = (G[l][0] - before[l]) / (DT * B)
            for k, d in (("u", rel(S1["u"][l], S2["u"][l])), ("v", rel(S1["v"][l], S2["v"][l])),
                         ("grad W", rel(g1[l], inc))):
                worst[(l, k)] = max(worst.get((l, k), 0.0), d)
    for j, worst in enumerate(windows):
        print(f"steps {j * third}-{(j + 1) * third - 1}: largest relative difference per layer "
              "(u / v / grad W)")
        for l in range(L):
            print(f"  layer {l + 1}: " + " / ".join(f"{worst[(l, k)]:.1e}" for k in ("u", "v", "grad W")))
    # A different step shows as O(1) differences that do not decay; the rest transient decays
    # (layer 1's error neurons, amplified by five lagging layers, are the slowest: 4e-9 in the
    # middle window), and rounding alone is 1e-13..1e-11 here (peers.py --check: 2e-13).
    bad = max(windows[2].values())
    print(f"after the transient: {bad:.1e} ({'same step' if bad < 1e-9 else 'DIFFERENT'})")
    return 0 if bad < 1e-9 else 1


if __name__ == "__main__":
    sys.exit(main())
