//! The subcommands of `mesh`, one module per command group.

pub mod account;
pub mod bench;
pub mod bench_pricing;
pub mod bench_sync;
pub mod catalog;
pub mod conformance;
pub mod dare;
pub mod group;
pub mod hash;
pub mod key;
pub mod message;
pub mod online;
pub mod service;
pub mod unlock;

use mesh_schema::rights::Rights;

/// The rights a device is connected with: `--rights message,web,threshold` (or the flag given
/// once per right).
#[derive(clap::Args, Clone, Debug, Default)]
pub struct RightsArg {
    /// The new device's rights: `message` (read and send the account's messages), `web` (given
    /// the account's decryption key: reads offline, and keeps what it read after it is
    /// removed), `threshold` (given a share of that key: reads only through the service, and
    /// nothing once removed). Default: message,threshold.
    #[arg(long = "rights", value_name = "RIGHTS")]
    rights: Vec<String>,
}

impl RightsArg {
    /// The rights named, which must be named.
    pub fn named(&self) -> anyhow::Result<Rights> {
        if self.rights.is_empty() {
            anyhow::bail!("name the device's rights: --rights message,threshold (or web)");
        }
        Ok(Rights::parse(&self.rights)?)
    }

    /// The rights named, if any.
    pub fn given(&self) -> anyhow::Result<Option<Rights>> {
        match self.rights.is_empty() {
            true => Ok(None),
            false => Ok(Some(Rights::parse(&self.rights)?)),
        }
    }

    pub fn rights(&self) -> anyhow::Result<Rights> {
        if self.rights.is_empty() {
            Ok(Rights::DEFAULT)
        } else {
            Ok(Rights::parse(&self.rights)?)
        }
    }
}
