//! The one integration test binary (each file in tests/ would link the whole
//! SDK again). Modules: the moto harness, bad stacks, and end-to-end scenarios.

mod bad;
mod bench;
mod compose;
mod controls;
mod cost;
mod crash;
mod drift;
mod edge;
mod harness;
mod identity;
mod lag;
mod network;
mod once;
mod regions;
mod scale;
mod semantics;
mod stops;
mod strict;
mod teams;
mod terminal;
mod tiers;
mod upfront;
