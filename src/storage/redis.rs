//! The Redis cache driver (being written).
