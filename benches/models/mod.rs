//! The networks the benchmarks run (docs/theory.md §8 shapes).
#![allow(dead_code, unused_imports)]

mod lagnet;
mod mnist1d;

pub use lagnet::LagNet;
pub use mnist1d::Mnist1dNet;
