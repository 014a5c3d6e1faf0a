//! provision: a declarative AWS provisioner. See ARCHITECTURE.md for the map.

pub mod aws;
pub mod commands;
pub mod diag;
pub mod drift;
pub mod exec;
pub mod expr;
pub mod graph;
pub mod kind;
pub mod plan;
pub mod provider;
pub mod refresh;
pub mod render;
pub mod session;
pub mod stack;
pub mod state;
pub mod watch;
pub mod yaml;

#[cfg(test)]
mod fake;
