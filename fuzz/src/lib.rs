//! The checks behind tapstack's fuzz targets, one function per target (see README.md).

pub mod stack;
pub mod wire;
