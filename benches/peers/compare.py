#!/usr/bin/env python3
"""Joins criterion's results of `cargo bench --bench kernels` (target/criterion/<group>/<id>/new/)
with the peers' JSON (peers.py --time/--gemm --json) and prints sample-steps per second, the
ratios vle/peer and achieved GFLOP/s. Standard library only.

FLOP count per sample-step (both kernels, vle and peers): 3 products with every weight —
online: forward W r, error feedback W^T eps, update eps r^T; exact gradient: forward W r, the
backward W^T adj and the weight gradient adj r^T — each a multiply-add, so 6 · 14628 = 87768
flops per sample-step. Elementwise work (O(neurons) = 328 per step) is not counted. (vle's
backward sweep recomputes W r from the taped state, 8 · W actually executed; the count above is
the algorithmic one, the same for every implementation.)
"""

import argparse
import json
import os

WEIGHTS = 1 * 53 + 5 * 53 * 53 + 53 * 10  # 14628
FLOPS_PER_SAMPLE_STEP = 6 * WEIGHTS
WINDOW = 360


def read_criterion(root):
    """{(group, id): sample-steps per second} from each benchmark's mean time per iteration."""
    out = {}
    for group in ("online", "exact"):
        gdir = os.path.join(root, group)
        if not os.path.isdir(gdir):
            continue
        for bid in sorted(os.listdir(gdir)):
            est = os.path.join(gdir, bid, "new", "estimates.json")
            meta = os.path.join(gdir, bid, "new", "benchmark.json")
            if not (os.path.exists(est) and os.path.exists(meta)):
                continue
            with open(est) as f:
                ns = json.load(f)["mean"]["point_estimate"]
            with open(meta) as f:
                elems = json.load(f)["throughput"]["Elements"]
            out[(group, bid)] = elems / (ns * 1e-9)
    return out


def fmt(v):
    return "—" if v is None else f"{v:,.0f}"


def ratio(a, b):
    return "—" if a is None or b is None else f"{a / b:.2f}"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--criterion", default="target/criterion")
    ap.add_argument("--peers", default="benches/peers/results/peers.json")
    ap.add_argument("--gemm", default="benches/peers/results/gemm.json")
    ap.add_argument("--markdown", action="store_true", help="print Markdown tables")
    args = ap.parse_args()

    vle = read_criterion(args.criterion)
    peers = {}
    meta = {}
    if os.path.exists(args.peers):
        with open(args.peers) as f:
            meta = json.load(f)
        for r in meta.get("timings", []):
            peers[(r["lib"], r["case"], r["dtype"], r["batch"])] = r["sample_steps_per_s"]
    gemm = []
    if os.path.exists(args.gemm):
        with open(args.gemm) as f:
            gemm = json.load(f).get("gemm", [])

    md = args.markdown
    sep = " | " if md else "  "

    def row(cells, widths):
        if md:
            return "| " + " | ".join(cells) + " |"
        return sep.join(c.rjust(w) if i else c.ljust(w) for i, (c, w) in enumerate(zip(cells, widths)))

    head = ["case", "vle", "torch", "jax", "vle/torch", "vle/jax"]
    widths = [28, 12, 12, 12, 9, 9]
    threads = meta.get("threads", "?")
    print(f"\nsample-steps per second (one Euler step of one sample); vle: 1 thread; "
          f"peers: {threads} thread(s), torch {meta.get('torch', '?')}, jax {meta.get('jax', '?')}")
    print(row(head, widths))
    if md:
        print("|" + "|".join(["---"] + ["---:"] * (len(head) - 1)) + "|")
    for case in ("online", "exact"):
        for dtype in ("f32", "f64"):
            for b in (1, 100):
                v = vle.get((case, f"mnist1d_{dtype}_b{b}"))
                t = peers.get(("torch", case, dtype, b))
                j = peers.get(("jax", case, dtype, b))
                if v is None and t is None and j is None:
                    continue
                name = f"{case} {dtype} b{b}" + (" (360 steps)" if case == "exact" else "")
                print(row([name, fmt(v), fmt(t), fmt(j), ratio(v, t), ratio(v, j)], widths))
    for dtype in ("f32", "f64"):
        v = vle.get(("online", f"lagnet_{dtype}_b1"))
        if v is not None:
            print(row([f"LagNet online {dtype} b1", fmt(v), "—", "—", "—", "—"], widths))
    # Anything else criterion measured (e.g. a batched kernel added later).
    known = {f"mnist1d_{d}_b{b}" for d in ("f32", "f64") for b in (1, 100)} | {"lagnet_f32_b1", "lagnet_f64_b1"}
    for (g, bid), v in sorted(vle.items()):
        if bid not in known:
            print(row([f"{g} {bid}", fmt(v), "—", "—", "—", "—"], widths))

    print(f"\nachieved GFLOP/s at batch 100 ({FLOPS_PER_SAMPLE_STEP} flops per sample-step = "
          f"6 × {WEIGHTS} weights)")
    head2 = ["kernel", "vle", "torch", "jax"]
    w2 = [24, 8, 8, 8]
    print(row(head2, w2))
    if md:
        print("|---|---:|---:|---:|")
    gf = lambda s: "—" if s is None else f"{s * FLOPS_PER_SAMPLE_STEP / 1e9:.2f}"  # noqa: E731
    for case in ("online", "exact"):
        for dtype in ("f32", "f64"):
            v = vle.get((case, f"mnist1d_{dtype}_b100"))
            t = peers.get(("torch", case, dtype, 100))
            j = peers.get(("jax", case, dtype, 100))
            if v is None and t is None and j is None:
                continue
            print(row([f"{case} {dtype} b100", gf(v), gf(t), gf(j)], w2))
    if gemm:
        print("\nGEMM peak, f32 (best of ~3 s of n×n matmuls)")
        print(row(["library", "threads", "n", "GFLOP/s"], [10, 7, 5, 8]))
        if md:
            print("|---|---:|---:|---:|")
        for g in gemm:
            print(row([g["lib"], str(g["threads"]), str(g["n"]), f"{g['gflops']:.1f}"], [10, 7, 5, 8]))


if __name__ == "__main__":
    main()
