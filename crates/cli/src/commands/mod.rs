//! The subcommands of `mesh`, one module per command group.

pub mod account;
pub mod bench;
pub mod bench_pricing;
pub mod bench_sync;
pub mod catalog;
pub mod conformance;
pub mod dare;
pub mod hash;
pub mod key;
pub mod message;
pub mod online;
pub mod service;
