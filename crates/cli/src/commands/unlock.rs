//! `mesh unlock` and `mesh lock`: a session that opens the device without the passphrase for a
//! while ([`mesh_client::unlock`]), and the end of every such session; `mesh device
//! passphrase`, which changes the passphrase (and so ends them too).

use std::time::Duration;

use clap::Args;
use mesh_client::unlock::SESSION_ENV;

use crate::session::{home, passphrase, PASSPHRASE_ENV};

/// Where `mesh device passphrase` takes the new passphrase from, if not typed.
pub const NEW_PASSPHRASE_ENV: &str = "MESH_NEW_PASSPHRASE";

#[derive(Args)]
pub struct UnlockArgs {
    /// How long the session lasts, in minutes (at most 7 days).
    #[arg(long, default_value_t = 60, value_name = "MINUTES")]
    minutes: u64,
    #[arg(long)]
    json: bool,
}

#[derive(Args)]
pub struct LockArgs {
    #[arg(long)]
    json: bool,
}

pub fn unlock(a: UnlockArgs, data: &Option<std::path::PathBuf>) -> anyhow::Result<()> {
    let home = home(data);
    if !home.has_device() {
        return Err(mesh_client::ClientError::NoDevice.into());
    }
    let lifetime = Duration::from_secs(a.minutes.saturating_mul(60));
    if a.minutes == 0 || lifetime > mesh_client::unlock::MAX_LIFETIME {
        anyhow::bail!(
            "--minutes must be from 1 to {}",
            mesh_client::unlock::MAX_LIFETIME.as_secs() / 60
        );
    }
    // Always the passphrase: a session does not make another.
    let pass = passphrase(PASSPHRASE_ENV, "Device passphrase", false)?;
    let unlocked = home.unlock(&pass, lifetime)?;
    let out = serde_json::json!({
        "Token": unlocked.token,
        "NotOnOrAfter": unlocked.ends(),
    });
    crate::output::emit(a.json, &out, |o| {
        println!(
            "export {SESSION_ENV}={}",
            o["Token"].as_str().unwrap_or_default()
        );
        eprintln!(
            "The device is unlocked until {} for commands given {SESSION_ENV} \
             (run `eval \"$(mesh unlock)\"` to set it); `mesh lock` ends it sooner.",
            o["NotOnOrAfter"].as_str().unwrap_or_default()
        );
    })
}

pub fn lock(a: LockArgs, data: &Option<std::path::PathBuf>) -> anyhow::Result<()> {
    let ended = home(data).lock()?;
    let out = serde_json::json!({ "Ended": ended });
    crate::output::emit(a.json, &out, |_| {
        println!(
            "{ended} session{} ended; commands need the passphrase again",
            if ended == 1 { "" } else { "s" }
        );
    })
}

pub fn change_passphrase(data: &Option<std::path::PathBuf>, json: bool) -> anyhow::Result<()> {
    let home = home(data);
    if !home.has_device() {
        return Err(mesh_client::ClientError::NoDevice.into());
    }
    // The current passphrase, never a session: whoever holds a session's token may use the
    // device for a while, not take it over.
    let old = passphrase(PASSPHRASE_ENV, "Current device passphrase", false)?;
    let new = passphrase(NEW_PASSPHRASE_ENV, "New device passphrase", true)?;
    let ended = home.change_passphrase(&old, &new)?;
    let out = serde_json::json!({ "Changed": true, "SessionsEnded": ended });
    crate::output::emit(json, &out, |_| {
        println!("the device's passphrase is changed; {ended} unlocked session(s) ended");
    })
}
