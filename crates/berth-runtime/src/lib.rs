//! berth-runtime library (placeholder).
