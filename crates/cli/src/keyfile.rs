//! Keys named on the command line: a file holding a key in the Mesh JSON form
//! (`{"PrivateKeyECDH": {"crv": "Ed448", "Private": …}}` or `PublicKeyECDH`), or a key-derivation
//! secret (`Z…`), whose profile keys are derived.

use std::path::Path;

use anyhow::{bail, Context};
use mesh_crypto::{profile_keys, PrivateKey, PublicKey, SecretSeed};
use mesh_dare::{KeyParameters, KeyRing};

/// A key argument, resolved.
pub enum KeyArg {
    Private(Vec<(&'static str, PrivateKey)>),
    Public(PublicKey),
}

pub fn resolve(arg: &str) -> anyhow::Result<KeyArg> {
    if Path::new(arg).is_file() {
        let text = std::fs::read(arg).with_context(|| format!("reading key file {arg}"))?;
        let key: KeyParameters = mesh_encoding::from_json(&text)
            .with_context(|| format!("{arg} does not hold a PublicKeyECDH or PrivateKeyECDH"))?;
        return Ok(match key {
            KeyParameters::Public { .. } | KeyParameters::Rsa { .. } => {
                KeyArg::Public(key.public_key()?)
            }
            KeyParameters::Private { .. } => KeyArg::Private(vec![("Key", key.private_key()?)]),
        });
    }
    if arg.starts_with('Z') || arg.starts_with('z') {
        let seed = SecretSeed::parse(arg).context("the key-derivation secret")?;
        return Ok(KeyArg::Private(
            profile_keys(&seed)?
                .into_iter()
                .map(|k| (k.role, k.key))
                .collect(),
        ));
    }
    bail!("'{arg}' is neither a key file nor a key-derivation secret (Z…)")
}

/// The signing key an argument names: the key in a file, or a secret's profile signature key.
pub fn signer(arg: &str) -> anyhow::Result<PrivateKey> {
    match resolve(arg)? {
        KeyArg::Private(keys) => keys
            .into_iter()
            .find(|(role, k)| {
                (*role == "Key" || *role == "ProfileSignature") && k.algorithm().is_signature()
            })
            .map(|(_, k)| k)
            .with_context(|| format!("'{arg}' holds no signature key")),
        KeyArg::Public(_) => bail!("'{arg}' is a public key: signing needs a private key"),
    }
}

/// The encryption key an argument names: a public or private key in a file, or a secret's
/// encryption key.
pub fn recipient(arg: &str) -> anyhow::Result<PublicKey> {
    let key = match resolve(arg)? {
        KeyArg::Public(k) => k,
        KeyArg::Private(keys) => keys
            .into_iter()
            .find(|(role, k)| {
                !k.algorithm().is_signature() && (*role == "Key" || role.ends_with("Encryption"))
            })
            .map(|(_, k)| k.public_key())
            .with_context(|| format!("'{arg}' holds no encryption key"))?,
    };
    if key.algorithm().is_signature() {
        bail!(
            "'{arg}' is a {} key: encryption needs an X448 or X25519 key",
            key.algorithm().curve()
        );
    }
    Ok(key)
}

/// The signing keys of several arguments.
pub fn signers(args: &[String]) -> anyhow::Result<Vec<PrivateKey>> {
    args.iter().map(|a| signer(a)).collect()
}

/// The encryption keys of several arguments.
pub fn recipients(args: &[String]) -> anyhow::Result<Vec<PublicKey>> {
    args.iter().map(|a| recipient(a)).collect()
}

/// A key ring of every key the arguments name (all of a secret's profile keys).
pub fn ring(args: &[String]) -> anyhow::Result<KeyRing> {
    let mut ring = KeyRing::new();
    for arg in args {
        match resolve(arg)? {
            KeyArg::Public(k) => ring.add_public(k),
            KeyArg::Private(keys) => keys.into_iter().for_each(|(_, k)| ring.add_private(k)),
        }
    }
    Ok(ring)
}

/// Write a file readable by its owner only, fsynced, replacing nothing that exists.
pub fn write_private(path: &Path, data: &[u8]) -> anyhow::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options
        .open(path)
        .with_context(|| format!("creating {}", path.display()))?;
    file.write_all(data)?;
    file.sync_all()?;
    Ok(())
}
