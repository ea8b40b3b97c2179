//! Timestamps: see the berth-time crate.

pub use berth_time::*;
