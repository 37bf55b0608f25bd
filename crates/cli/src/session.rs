//! Opening the device context for a command: the data directory (`--data`, `$MESH_DATA`, or the
//! user's data directory) and the passphrase (`$MESH_PASSPHRASE`, or asked for on the terminal).

use std::io::IsTerminal;
use std::path::PathBuf;

use anyhow::{bail, Context};
use mesh_client::{Device, MeshHome};

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
    let pass = passphrase(PASSPHRASE_ENV, "Device passphrase", false)?;
    Ok(home.open(&pass)?)
}

/// Open the device context, creating the device on first use.
pub fn open_or_create(data: &Option<PathBuf>) -> anyhow::Result<Device> {
    let home = home(data);
    let new = !home.has_device();
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
