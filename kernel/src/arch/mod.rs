//! Architecture support. Each architecture module defines the same names.

#[path = "aarch64/mod.rs"]
mod imp;
pub use imp::*;
