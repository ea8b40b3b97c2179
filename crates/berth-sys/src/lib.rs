//! berth-sys: the only crate with unsafe code (placeholder).
