//! SQL tests.
