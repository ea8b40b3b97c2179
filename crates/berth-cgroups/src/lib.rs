//! berth-cgroups (placeholder, being written).
