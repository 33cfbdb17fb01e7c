//! Rollback replay tests.
