//! berth-seccomp (placeholder, being written).
