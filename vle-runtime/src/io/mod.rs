//! Files: NumPy `.npy` arrays and `.npz` archives ([`npy`]; the zip container of `.npz`, stored
//! or DEFLATE-compressed, through the `zip` crate), and the durable, atomic write that every
//! file the runtime saves goes through ([`atomic`]).

pub mod atomic;
pub mod npy;

pub use atomic::write_atomic;
pub use npy::{read_npy, read_npz, write_npy, write_npz, write_npz_compressed, Array, DType, Data};
