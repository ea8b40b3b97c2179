//! berth-image (placeholder, being written).
