//! provision: a declarative AWS provisioner. See ARCHITECTURE.md for the map.

pub mod aws;
pub mod diag;
pub mod drift;
pub mod exec;
pub mod expr;
pub mod graph;
pub mod kind;
pub mod ops;
pub mod plan;
pub mod provider;
pub mod render;
pub mod stack;
pub mod state;
pub mod watch;
pub mod yaml;

#[cfg(test)]
mod fake;
