//! Benchmark helpers for `just bench`.

#[path = "inputs.rs"]
mod inputs_impl;

pub use inputs_impl::*;
