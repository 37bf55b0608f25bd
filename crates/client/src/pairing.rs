//! Connecting a device with a pairing code (seed 003, in Mesh terms).
//!
//! The administrator device opens a rendezvous channel on the service and shows a numeric code
//! made of the channel id and a random 32-bit token: the bit `1`, the Elias-delta code of
//! `channel + 1`, then the 32 token bits, read as one unsigned integer of at most 64 bits. Both
//! devices run SPAKE2 (Ed25519 group, symmetric) with the code in decimal as password and the
//! account address as identity, over the channel (`v1.provision_helo` from the administrator,
//! `v1.provision_ehlo` from the new device). The administrator then makes a device secret for the
//! new device and the records that connect it, and posts them in `v1.provision_finish`,
//! encrypted with XChaCha20-Poly1305 under the SPAKE2 key. The new device checks that the
//! account is the one its user named and that the records are for the secret it was given,
//! submits its own CatalogedDevice entry to the service (so a failed pairing adds no device),
//! checks that it is then in the device catalog, and is authenticated by the service as it
//! syncs. A code rotates to a new channel and token every 15 seconds until used.

use std::time::{Duration, Instant};

use chacha20poly1305::aead::{Aead, KeyInit};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use mesh_crypto::{PublicKey, SecretSeed};
use mesh_dare::DareEnvelope;
use mesh_encoding::base64url;
use mesh_schema::catalog::CatalogedDevice;
use mesh_schema::key::required;
use mesh_schema::profile::ProfileDevice;
use mesh_schema::rights::Rights;
use mesh_schema::{expect_item, MeshItem};
use serde::{Deserialize, Serialize};
use spake2::{Ed25519Group, Identity, Password, Spake2};

use crate::catalogs::CatalogKind;
use crate::connect::{check_records, grant_device};
use crate::context::{open_with_grant, Account, Device, MeshHome};
use crate::online::{self, channel_poll, channel_post, ServiceBinding, Session};
use crate::{ClientError, Result};

/// How long one code is shown before it rotates.
pub const ATTEMPT: Duration = Duration::from_secs(15);
const POLL: Duration = Duration::from_millis(200);

fn push_bits(bits: &mut Vec<bool>, value: u64, count: u32) {
    for i in (0..count).rev() {
        bits.push((value >> i) & 1 == 1);
    }
}

/// Elias-delta code of `n` (n ≥ 1).
pub fn elias_delta(n: u64) -> Vec<bool> {
    let l = 63 - n.leading_zeros(); // floor(log2 n)
    let m = 63 - ((l + 1) as u64).leading_zeros(); // floor(log2 (l + 1))
    let mut bits = vec![false; m as usize];
    push_bits(&mut bits, (l + 1) as u64, m + 1);
    push_bits(&mut bits, n & ((1u64 << l) - 1), l);
    bits
}

/// Read an Elias-delta code from `bits` at `at`; the value and the position after it.
fn read_delta(bits: &[bool], mut at: usize) -> Option<(u64, usize)> {
    let mut m = 0;
    while !*bits.get(at)? {
        m += 1;
        at += 1;
        if m > 6 {
            return None;
        }
    }
    let mut l1 = 0u64;
    for _ in 0..=m {
        l1 = (l1 << 1) | u64::from(*bits.get(at)?);
        at += 1;
    }
    let l = l1.checked_sub(1)?;
    if l > 63 {
        return None;
    }
    let mut n = 1u64;
    for _ in 0..l {
        n = (n << 1) | u64::from(*bits.get(at)?);
        at += 1;
    }
    Some((n, at))
}

/// The pairing code of a channel and token; `None` when it would exceed 64 bits.
pub fn encode_code(channel: u64, token: u32) -> Option<u64> {
    let mut bits = vec![true];
    bits.extend(elias_delta(channel.checked_add(1)?));
    push_bits(&mut bits, u64::from(token), 32);
    if bits.len() > 64 {
        return None;
    }
    Some(bits.iter().fold(0u64, |acc, b| (acc << 1) | u64::from(*b)))
}

/// Channel and token from a code as typed: digits, with any separators (spaces, dashes…).
pub fn decode_code(text: &str) -> Result<(u64, u32, u64)> {
    let digits: String = text.chars().filter(char::is_ascii_digit).collect();
    let bad = || ClientError::Invalid(format!("'{text}' is not a pairing code"));
    let code: u64 = digits.parse().map_err(|_| bad())?;
    if code == 0 {
        return Err(bad());
    }
    let width = 64 - code.leading_zeros() as usize;
    let bits: Vec<bool> = (0..width).rev().map(|i| (code >> i) & 1 == 1).collect();
    let (n, at) = read_delta(&bits, 1).ok_or_else(bad)?;
    if bits.len() != at + 32 {
        return Err(bad());
    }
    let token = bits[at..]
        .iter()
        .fold(0u32, |acc, b| (acc << 1) | u32::from(*b));
    Ok((n - 1, token, code))
}

/// A code for people: its decimal digits in groups of four.
pub fn format_code(code: u64) -> String {
    let digits = code.to_string();
    let first = digits.len() % 4;
    let mut groups = Vec::new();
    if first > 0 {
        groups.push(digits[..first].to_string());
    }
    for chunk in digits.as_bytes()[first..].chunks(4) {
        groups.push(String::from_utf8_lossy(chunk).into_owned());
    }
    groups.join("-")
}

#[derive(Serialize, Deserialize)]
struct Blob {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    spake_msg: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    nonce: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    ciphertext: Option<String>,
}

/// What the new device sends back, encrypted under the pairing key, to show it holds it: the
/// device UDF it was given, after a label.
fn confirmation(device_udf: &str) -> Vec<u8> {
    format!("v1.provision_done:{device_udf}").into_bytes()
}

/// What the administrator sends the new device, encrypted.
#[derive(Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Finish {
    account_address: String,
    device_secret: String,
    enveloped_profile_account: DareEnvelope,
    cataloged_device: CatalogedDevice,
    /// The device-catalog entry the new device submits itself.
    prepared_entry: DareEnvelope,
}

fn blob(kind: &str) -> Blob {
    Blob {
        kind: kind.into(),
        spake_msg: None,
        nonce: None,
        ciphertext: None,
    }
}

fn to_bytes(b: &Blob) -> Vec<u8> {
    serde_json::to_vec(b).expect("a blob serializes")
}

struct Channel<'a> {
    url: &'a str,
    signer: &'a PublicKey,
    encryption: &'a PublicKey,
    id: u64,
    /// What the service asks of whoever uses the channel: derived from the code's token.
    key: Vec<u8>,
}

impl Channel<'_> {
    fn post(&self, b: &Blob) -> Result<()> {
        channel_post(
            self.url,
            self.signer,
            self.encryption,
            (self.id, &self.key),
            to_bytes(b),
        )
    }

    /// Wait for a blob of `kind`; `Ok(None)` at the deadline. Another kind is an error.
    fn wait(&self, kind: &str, deadline: Instant, ignore: &[&str]) -> Result<Option<Blob>> {
        while Instant::now() < deadline {
            let polled = channel_poll(self.url, self.signer, self.encryption, (self.id, &self.key))
                .map_err(|e| match e {
                    // The service answers a code it knows no channel for as if there were none.
                    ClientError::Service(404, _) => ClientError::Invalid(
                        "no pairing is open for this code: wrong code, or the administrator \
                         device no longer shows it"
                            .into(),
                    ),
                    other => other,
                })?;
            if let Some(bytes) = polled {
                if let Ok(b) = serde_json::from_slice::<Blob>(&bytes) {
                    if b.kind == kind {
                        return Ok(Some(b));
                    }
                    if !ignore.contains(&b.kind.as_str()) {
                        return Err(ClientError::Invalid(format!("unexpected '{}' on the pairing channel: someone else is using it; start again", b.kind)));
                    }
                }
            }
            std::thread::sleep(POLL);
        }
        Ok(None)
    }
}

fn spake(code: u64, address: &str) -> (spake2::Spake2<Ed25519Group>, Vec<u8>) {
    Spake2::<Ed25519Group>::start_symmetric(
        &Password::new(code.to_string().as_bytes()),
        &Identity::new(address.as_bytes()),
    )
}

fn spake_finish(state: spake2::Spake2<Ed25519Group>, msg: Option<&str>) -> Result<Vec<u8>> {
    let msg = base64url::decode(msg.unwrap_or_default())?;
    state
        .finish(&msg)
        .map_err(|e| ClientError::Invalid(format!("pairing handshake failed: {e:?}")))
}

/// Administrator: show codes (`show` is called with each) until a new device pairs or
/// `total` runs out. Returns the UDF of the device prepared for it.
pub fn add_device(
    device: &Device,
    account: &Account,
    rights: Rights,
    total: Duration,
    show: &mut dyn FnMut(&str),
) -> Result<String> {
    let mut session = Session::open(device, account)?;
    let (url, signer, encryption) = session.service_keys();
    let give_up = Instant::now() + total;
    while Instant::now() < give_up {
        let token: u32 = rand::random();
        let key = mesh_protocol::messages::channel_key(token, &account.address);
        let id = session.allocate_channel(&key)?;
        let Some(code) = encode_code(id, token) else {
            continue;
        };
        let channel = Channel {
            url: &url,
            signer: &signer,
            encryption: &encryption,
            id,
            key,
        };
        let (state, msg) = spake(code, &account.address);
        channel.post(&Blob {
            spake_msg: Some(base64url::encode(&msg)),
            ..blob("v1.provision_helo")
        })?;
        show(&format_code(code));
        let Some(ehlo) = channel.wait(
            "v1.provision_ehlo",
            (Instant::now() + ATTEMPT).min(give_up),
            &["v1.provision_helo"],
        )?
        else {
            continue; // rotate
        };
        let key = spake_finish(state, ehlo.spake_msg.as_deref())?;
        // The new device's secret and the records that connect it.
        let (seed, profile, udf, profile_env) = crate::connect::new_device("paired device")?;
        let cataloged = grant_device(&mut session, account, &profile, Some(profile_env), rights)?;
        let prepared =
            account.prepare_entry(CatalogKind::Device, &MeshItem::from(cataloged.clone()))?;
        let prepared_copy = prepared.clone();
        let finish = Finish {
            account_address: account.address.clone(),
            device_secret: seed.udf().to_string(),
            enveloped_profile_account: account.profile_envelope()?,
            cataloged_device: cataloged,
            prepared_entry: prepared,
        };
        let plaintext =
            serde_json::to_vec(&finish).map_err(|e| ClientError::Invalid(e.to_string()))?;
        let nonce: [u8; 24] = rand::random();
        let cipher = XChaCha20Poly1305::new_from_slice(&key)
            .map_err(|_| ClientError::Invalid("pairing key of the wrong size".into()))?;
        let ciphertext = cipher
            .encrypt(XNonce::from_slice(&nonce), plaintext.as_slice())
            .map_err(|_| ClientError::Invalid("encryption failed".into()))?;
        channel.post(&Blob {
            nonce: Some(base64url::encode(&nonce)),
            ciphertext: Some(base64url::encode(&ciphertext)),
            ..blob("v1.provision_finish")
        })?;
        // Only an administrator device changes the device catalog at the service, and only
        // for a device that showed it holds the pairing key (seed 003 has the new device submit
        // the entry; here the administrator does, once the device has confirmed).
        let done = channel.wait(
            "v1.provision_done",
            (Instant::now() + Duration::from_secs(30)).min(give_up.max(Instant::now() + POLL)),
            &["v1.provision_finish"],
        )?;
        let confirmed = done.is_some_and(|d| {
            let nonce = base64url::decode(d.nonce.as_deref().unwrap_or_default()).ok();
            let ciphertext = base64url::decode(d.ciphertext.as_deref().unwrap_or_default()).ok();
            match (nonce, ciphertext) {
                (Some(n), Some(c)) if n.len() == 24 => cipher
                    .decrypt(XNonce::from_slice(&n), c.as_slice())
                    .is_ok_and(|p| p == confirmation(&udf)),
                _ => false,
            }
        });
        if !confirmed {
            // Nothing of the failed pairing stays: the share granted for it is withdrawn.
            session.withdraw_grants(&udf)?;
            return Err(ClientError::Invalid(
                "the new device did not confirm the pairing: no device was added".into(),
            ));
        }
        account.append_prepared(CatalogKind::Device, prepared_copy)?;
        session.push(CatalogKind::Device.name())?;
        return Ok(udf);
    }
    Err(ClientError::Invalid(
        "no device paired before the time ran out".into(),
    ))
}

/// New device: pair with the code shown on an administrator device of `address`, creating this
/// device from the secret it is given.
pub fn join(
    home: &MeshHome,
    passphrase: &str,
    address: &str,
    code_text: &str,
    url: Option<&str>,
) -> Result<(Device, Account)> {
    if home.has_device() {
        return Err(ClientError::Invalid(format!(
            "{} already holds a device; pair into a fresh directory",
            home.dir().display()
        )));
    }
    let address = address.to_ascii_lowercase();
    let (id, token, code) = decode_code(code_text)?;
    let info = online::hello(&address, url)?;
    let channel = Channel {
        url: &info.url,
        signer: &info.signature,
        encryption: &info.encryption,
        id,
        key: mesh_protocol::messages::channel_key(token, &address),
    };
    let deadline = Instant::now() + Duration::from_secs(30);
    let helo = channel
        .wait("v1.provision_helo", deadline, &[])?
        .ok_or_else(|| {
            ClientError::Invalid(
                "the administrator device is not showing this code any more".into(),
            )
        })?;
    let (state, msg) = spake(code, &address);
    channel.post(&Blob {
        spake_msg: Some(base64url::encode(&msg)),
        ..blob("v1.provision_ehlo")
    })?;
    let key = spake_finish(state, helo.spake_msg.as_deref())?;
    let finish = channel
        .wait(
            "v1.provision_finish",
            Instant::now() + Duration::from_secs(30),
            &["v1.provision_ehlo"],
        )?
        .ok_or_else(|| {
            ClientError::Invalid("the administrator device did not finish the pairing".into())
        })?;
    let cipher = XChaCha20Poly1305::new_from_slice(&key)
        .map_err(|_| ClientError::Invalid("pairing key of the wrong size".into()))?;
    let nonce = base64url::decode(finish.nonce.as_deref().unwrap_or_default())?;
    if nonce.len() != 24 {
        return Err(ClientError::Invalid(
            "a pairing message with a bad nonce".into(),
        ));
    }
    let plaintext = cipher
        .decrypt(
            XNonce::from_slice(&nonce),
            base64url::decode(finish.ciphertext.as_deref().unwrap_or_default())?.as_slice(),
        )
        .map_err(|_| {
            ClientError::Invalid(
                "the pairing message does not decrypt: wrong code, or it was tampered with".into(),
            )
        })?;
    let finish: Finish = serde_json::from_slice(&plaintext)
        .map_err(|e| ClientError::Invalid(format!("pairing message: {e}")))?;
    // 1. The account the user named.
    if !finish.account_address.eq_ignore_ascii_case(&address) {
        return Err(ClientError::Invalid(format!(
            "the pairing is for {}, not {address}",
            finish.account_address
        )));
    }
    let profile = crate::connect::account_profile_for(&finish.enveloped_profile_account, &address)?;
    let admin = required(&profile.administrator_signature, "AdministratorSignature")?;
    // 2. Records made for the secret this device was given.
    let seed = SecretSeed::parse(&finish.device_secret)?;
    let expected = ProfileDevice::from_seed(&seed, None)?.check()?;
    if finish.cataloged_device.device_udf.as_deref() != Some(expected.as_str()) {
        return Err(ClientError::Invalid(
            "the device record is not for the device secret sent with it".into(),
        ));
    }
    let mut device = home.create_with_secret(passphrase, seed)?;
    let (credentials, grant) = check_records(&device, &finish.cataloged_device, &admin)?;
    let account_public = required(&profile.account_encryption, "AccountEncryption")?;
    // The prepared entry is encrypted to the account: open it with the share just granted and
    // the service's contribution (which also shows that the service holds the other share).
    let binding = ServiceBinding::from_info(&info);
    let operator = Session::operator_for(&binding, &finish.account_address, &credentials)?;
    let prepared: CatalogedDevice = expect_item!(
        MeshItem::from_bytes(&open_with_grant(
            &grant,
            &account_public,
            &operator,
            &finish.prepared_entry
        )?)?,
        CatalogedDevice
    )?;
    if prepared.device_udf.as_deref() != Some(device.udf()) {
        return Err(ClientError::Invalid(
            "the prepared catalog entry is for another device".into(),
        ));
    }
    let account = device.add_connected_account(
        &finish.enveloped_profile_account,
        &grant,
        &finish.cataloged_device,
    )?;
    // 3. The administrator submits the device's catalog entry (only an administrator device
    // changes the device catalog) once this device confirms it holds the key; 5. the service
    // authenticates the device as it does.
    let nonce: [u8; 24] = rand::random();
    let done = cipher
        .encrypt(
            XNonce::from_slice(&nonce),
            confirmation(device.udf()).as_slice(),
        )
        .map_err(|_| ClientError::Invalid("encryption failed".into()))?;
    channel.post(&Blob {
        nonce: Some(base64url::encode(&nonce)),
        ciphertext: Some(base64url::encode(&done)),
        ..blob("v1.provision_done")
    })?;
    let mut session = Session::start(&account, binding, credentials)?;
    // 4. Present in the device catalog, as the service holds it.
    let deadline = Instant::now() + Duration::from_secs(30);
    while account.get(CatalogKind::Device, device.udf())?.is_none() && Instant::now() < deadline {
        std::thread::sleep(POLL);
        session.sync(&mut |_, _, _| {})?;
    }
    if account.get(CatalogKind::Device, device.udf())?.is_none() {
        return Err(ClientError::Invalid(
            "this device is not in the account's device catalog after pairing".into(),
        ));
    }
    Ok((device, account))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn elias_delta_round_trips() {
        for channel in 0..=100_000u64 {
            let token = (channel as u32).wrapping_mul(2_654_435_761);
            let code = encode_code(channel, token).expect("fits in 64 bits");
            let (c, t, back) = decode_code(&code.to_string()).unwrap();
            assert_eq!((c, t, back), (channel, token, code));
        }
        // Known values: delta(1) = "1", delta(2) = "0100", delta(17) = "001010001".
        let s = |v: Vec<bool>| {
            v.iter()
                .map(|b| if *b { '1' } else { '0' })
                .collect::<String>()
        };
        assert_eq!(s(elias_delta(1)), "1");
        assert_eq!(s(elias_delta(2)), "0100");
        assert_eq!(s(elias_delta(17)), "001010001");
    }

    #[test]
    fn the_64_bit_limit() {
        // 1 + delta(n) + 32 bits must fit: the largest channel that fits, and the first that does not.
        let mut last_ok = 0;
        for shift in 0..40 {
            let channel = (1u64 << shift) - 1;
            if encode_code(channel, u32::MAX).is_some() {
                last_ok = shift;
            }
        }
        assert!(last_ok >= 20, "channels up to 2^20 fit");
        assert!(encode_code((1u64 << 40) - 1, 0).is_none());
        assert!(encode_code(u64::MAX, 0).is_none());
    }

    #[test]
    fn separators_are_ignored() {
        let code = encode_code(4242, 0xDEAD_BEEF).unwrap();
        let shown = format_code(code);
        assert!(shown.contains('-'));
        for typed in [
            shown.clone(),
            shown.replace('-', " "),
            shown.replace('-', ""),
            format!(" {shown} "),
        ] {
            assert_eq!(decode_code(&typed).unwrap(), (4242, 0xDEAD_BEEF, code));
        }
        assert!(decode_code("").is_err());
        assert!(decode_code("12-34").is_err());
        assert!(decode_code("99999999999999999999999").is_err());
    }
}
