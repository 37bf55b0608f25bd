//! The subcommands of `mesh`, one module per command group.

pub mod hash;
pub mod key;
