//! The storage conformance suite (placeholder replaced below).
