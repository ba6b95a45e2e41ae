//! The driver conformance suite (being written).
