//! Files: NumPy `.npy` arrays and `.npz` archives ([`npy`]), over a hand-written reader and
//! writer of the uncompressed zip format that `.npz` uses ([`zip`]).

pub mod npy;
pub mod zip;

pub use npy::{read_npy, read_npz, write_npy, write_npz, Array, DType, Data};
