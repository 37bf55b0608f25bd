//! Opening the device context for a command: the data directory (`--data`, `$MESH_DATA`, or the
//! user's data directory) and the passphrase (`$MESH_PASSPHRASE`, or asked for on the terminal),
//! or instead of the passphrase an unlocked session's token (`$MESH_SESSION`, from `mesh
//! unlock`).

use std::io::IsTerminal;
use std::path::PathBuf;

use anyhow::{bail, Context};
use mesh_client::unlock::SESSION_ENV;
use mesh_client::{ClientError, Device, MeshHome};

pub const PASSPHRASE_ENV: &str = "MESH_PASSPHRASE";
pub const EXPORT_PASSPHRASE_ENV: &str = "MESH_EXPORT_PASSPHRASE";

pub fn home(data: &Option<PathBuf>) -> MeshHome {
    MeshHome::at(data.clone().unwrap_or_else(MeshHome::default_dir))
}

/// A passphrase from `env`, or typed (twice when `confirm`) on the terminal.
pub fn passphrase(env: &str, prompt: &str, confirm: bool) -> anyhow::Result<String> {
    if let Ok(p) = std::env::var(env) {
        if p.is_empty() {
            bail!("{env} is set but empty");
        }
        return Ok(p);
    }
    if !std::io::stdin().is_terminal() {
        bail!("no passphrase: set {env} or run the command on a terminal");
    }
    let first =
        rpassword::prompt_password(format!("{prompt}: ")).context("reading the passphrase")?;
    if first.is_empty() {
        bail!("the passphrase cannot be empty");
    }
    if confirm {
        let again = rpassword::prompt_password(format!("{prompt} (again): "))?;
        if again != first {
            bail!("the passphrases do not match");
        }
    }
    Ok(first)
}

/// Open the device context, which must exist.
pub fn open(data: &Option<PathBuf>) -> anyhow::Result<Device> {
    let home = home(data);
    if !home.has_device() {
        return Err(mesh_client::ClientError::NoDevice.into());
    }
    if let Some(device) = open_unlocked(&home)? {
        return Ok(device);
    }
    let pass = passphrase(PASSPHRASE_ENV, "Device passphrase", false)?;
    Ok(home.open(&pass)?)
}

/// Open the device context, which must exist, for a command that gives the account's authority
/// away or takes its secrets out (export, escrow, rekey, a new device or its rights, removing a
/// device, a group's new member, bind, unbind, move, a new passphrase): always with the passphrase, never a session, so
/// that whoever holds a session's token may use the device for a while but not take it over.
pub fn open_with_passphrase(data: &Option<PathBuf>) -> anyhow::Result<Device> {
    let home = home(data);
    if !home.has_device() {
        return Err(mesh_client::ClientError::NoDevice.into());
    }
    let pass = passphrase(PASSPHRASE_ENV, "Device passphrase", false).map_err(|e| {
        if session_given() {
            e.context("this command needs the device's passphrase itself, not a session")
        } else {
            e
        }
    })?;
    Ok(home.open(&pass)?)
}

/// Whether a session's token is given (an empty `$MESH_SESSION` is none).
fn session_given() -> bool {
    std::env::var_os(SESSION_ENV).is_some_and(|t| !t.is_empty())
}

/// The device opened by the session in `$MESH_SESSION`, if one is given. A session that cannot
/// be used is an error, unless the passphrase can be had instead (`$MESH_PASSPHRASE`, or a
/// terminal to ask on): then a note says why, and the caller asks for it.
fn open_unlocked(home: &MeshHome) -> anyhow::Result<Option<Device>> {
    let Some(token) = std::env::var_os(SESSION_ENV).filter(|t| !t.is_empty()) else {
        return Ok(None);
    };
    match home.open_session(&token.to_string_lossy()) {
        Ok(device) => Ok(Some(device)),
        Err(e @ ClientError::SessionEnded(_))
            if std::env::var_os(PASSPHRASE_ENV).is_some() || std::io::stdin().is_terminal() =>
        {
            eprintln!("note: {e}");
            Ok(None)
        }
        Err(e) => Err(e.into()),
    }
}

/// Open the device context, creating the device on first use.
pub fn open_or_create(data: &Option<PathBuf>) -> anyhow::Result<Device> {
    let home = home(data);
    let new = !home.has_device();
    if !new {
        if let Some(device) = open_unlocked(&home)? {
            return Ok(device);
        }
    }
    let pass = passphrase(
        PASSPHRASE_ENV,
        if new {
            "New device passphrase"
        } else {
            "Device passphrase"
        },
        new,
    )?;
    Ok(home.open_or_create(&pass)?)
}

/// Run `work` on the device context, making the device first if there is none. If the device
/// was made for this command and the command fails, it is removed again: a failed first command
/// (a bad address, an unknown account, a garbage import file, a failed recovery) leaves no
/// device behind whose passphrase the next attempt would have to match.
pub fn with_device<T>(
    data: &Option<PathBuf>,
    work: impl FnOnce(&mut Device) -> anyhow::Result<T>,
) -> anyhow::Result<T> {
    let dir = home(data).dir().to_path_buf();
    let existed = dir.exists();
    let new = !home(data).has_device();
    // Only what this command makes is taken away again: whatever was there before stays.
    let made: Vec<&str> = ["device.secrets", "device.dare", "config.json", "accounts"]
        .into_iter()
        .filter(|f| !dir.join(f).exists())
        .collect();
    let mut device = open_or_create(data)?;
    let result = work(&mut device);
    if result.is_err() && new {
        drop(device);
        if existed {
            for name in made {
                let path = dir.join(name);
                let _ = if path.is_dir() {
                    std::fs::remove_dir_all(&path)
                } else {
                    std::fs::remove_file(&path)
                };
            }
        } else {
            let _ = std::fs::remove_dir_all(&dir);
        }
    }
    result
}

/// A secret value given as an argument, or read from the terminal (hidden) or standard input.
pub fn secret_value(given: Option<String>, prompt: &str) -> anyhow::Result<String> {
    if let Some(v) = given {
        return Ok(v);
    }
    let value = if std::io::stdin().is_terminal() {
        rpassword::prompt_password(format!("{prompt}: "))?
    } else {
        let mut line = String::new();
        std::io::stdin().read_line(&mut line)?;
        line.trim_end_matches(['\n', '\r']).to_string()
    };
    if value.is_empty() {
        bail!("no {prompt} given");
    }
    Ok(value)
}
