//! The subcommands of `mesh`, one module per command group.

pub mod dare;
pub mod hash;
pub mod key;
