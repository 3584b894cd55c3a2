//! The plan: the YAML file a team writes, turned once into a typed [`Plan`].
//! (Skeleton: loading and validation are being written.)
#![warn(missing_docs)]

pub mod model;
pub use model::*;
