//! The Postgres database driver (being written).
