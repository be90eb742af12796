#!/usr/bin/env python3
"""Writes mnist1d_reference.txt: reference values of the `mnist1d` package's dataset, which
`vle-runtime/tests/mnist1d_reference.rs` compares with vle's generator bit for bit.

Needs the package and its dependencies (network at install time, not when the tests run):
    python3 -m venv /tmp/m1d-venv && /tmp/m1d-venv/bin/pip install mnist1d==0.0.2.post1
    /tmp/m1d-venv/bin/python vle-runtime/tests/data/mnist1d_reference.py

Per case (seed, final_seq_length): the labels of the first 64 training and test samples, the
first and last sample of each split in full (shortest round-trip decimal), and a checksum of
every value of each split (the wrapping sum of the IEEE-754 bit patterns as u64).
"""
import sys
import types

import numpy as np

try:
    from mnist1d.data import get_dataset_args, make_dataset
except ImportError:
    # The package imports requests and matplotlib at module level; neither is used here.
    for name in ["requests", "matplotlib", "matplotlib.pyplot"]:
        sys.modules.setdefault(name, types.ModuleType(name))
    sys.modules["matplotlib"].pyplot = sys.modules["matplotlib.pyplot"]
    from mnist1d.data import get_dataset_args, make_dataset

CASES = [(42, 40), (42, 360), (7, 40)]


def checksum(x):
    return int(np.ascontiguousarray(x, dtype=np.float64).view(np.uint64).sum(dtype=np.uint64))


def main(path):
    lines = ["# mnist1d 0.0.2.post1, make_dataset with get_dataset_args() defaults but seed and"
             " final_seq_length; written by mnist1d_reference.py"]
    for seed, length in CASES:
        args = get_dataset_args(as_dict=False)
        args.seed = seed
        args.final_seq_length = length
        d = make_dataset(args)
        lines.append(f"case seed={seed} length={length} n_train={len(d['y'])} n_test={len(d['y_test'])}")
        for split, (x, y) in {"train": (d["x"], d["y"]), "test": (d["x_test"], d["y_test"])}.items():
            lines.append(f"{split} labels " + " ".join(str(int(v)) for v in y[:64]))
            lines.append(f"{split} first " + " ".join(repr(float(v)) for v in x[0]))
            lines.append(f"{split} last " + " ".join(repr(float(v)) for v in x[-1]))
            lines.append(f"{split} checksum {checksum(x)}")
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else __file__.rsplit("/", 1)[0] + "/mnist1d_reference.txt")
