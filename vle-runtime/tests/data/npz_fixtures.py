#!/usr/bin/env python3
"""Writes savez.npz and savez_compressed.npz: the same arrays saved with NumPy's own `np.savez`
(stored members) and `np.savez_compressed` (DEFLATE members, the usual way), which
`vle-runtime/tests/npz.rs` reads back value for value.

Needs NumPy (network at install time, not when the tests run):
    python3 -m venv /tmp/np-venv && /tmp/np-venv/bin/pip install numpy
    /tmp/np-venv/bin/python vle-runtime/tests/data/npz_fixtures.py
(The committed files were written with NumPy 2.4.6.)
"""
import os

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))

arrays = {
    "x": np.array([[1.0, 2.0, 3.0], [4.0, 5.0, 6.5]], dtype="<f8"),
    "y": np.array([3, 1, 4, 1, 5, 9, 2, 6], dtype="<i8"),
    # Compressible: DEFLATE shrinks it a lot.
    "z": (np.arange(200, dtype="<f4") % 5) / 4,
    "mask": np.array([True, False, True]),
    "labels": np.array([[0], [255]], dtype="|u1"),
}

np.savez(os.path.join(HERE, "savez.npz"), **arrays)
np.savez_compressed(os.path.join(HERE, "savez_compressed.npz"), **arrays)
