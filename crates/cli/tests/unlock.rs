//! Unlocked sessions (issue 13, everyday use): `mesh unlock` asks for the passphrase once and
//! gives a token; commands given it in `$MESH_SESSION` open the device without the passphrase,
//! until the session ends (`mesh lock`, its time, or a new passphrase). Each way of using a
//! session that is not the user's own is tried here and refused.

mod common;
use common::service::{connect_by_witness, Service};
use common::*;

use std::path::Path;
use std::process::{Command, Output, Stdio};

/// `mesh` on the device at `dir` with only the given environment of the device's (no
/// passphrase unless given), standard input not a terminal.
fn run(dir: &Path, env: &[(&str, &str)], args: &[&str]) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_mesh"));
    command
        .args(args)
        .env("MESH_DATA", dir)
        .env_remove("MESH_PASSPHRASE")
        .env_remove("MESH_SESSION")
        .env_remove("MESH_NEW_PASSPHRASE")
        .stdin(Stdio::null());
    for (k, v) in env {
        command.env(k, v);
    }
    command.output().expect("mesh runs")
}

fn succeeds(out: &Output) -> String {
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn refused(out: &Output) -> String {
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(
        err.starts_with("error: ") && !err.contains("panicked"),
        "{err}"
    );
    err
}

/// `mesh unlock --json` on `dir`: the token.
fn unlock(dir: &Path, extra: &[&str]) -> String {
    let mut args = vec!["unlock", "--json"];
    args.extend_from_slice(extra);
    let out = succeeds(&run(dir, &[("MESH_PASSPHRASE", DEVICE_PASS)], &args));
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert!(v["NotOnOrAfter"].as_str().is_some(), "{v}");
    v["Token"].as_str().unwrap().to_string()
}

fn get_with(dir: &Path, token: &str) -> Output {
    run(
        dir,
        &[("MESH_SESSION", token)],
        &["password", "get", "bank.example", "--json"],
    )
}

#[test]
fn a_session_opens_its_own_device_until_it_ends_and_nothing_else() {
    let a = tempfile::tempdir().unwrap();
    let a = a.path();
    ok_in(a, &["account", "create", "alice@example.com"]);
    ok_in(a, &["password", "add", "bank.example", "alice", "pw1"]);

    // The passphrase once; then no passphrase at all.
    let token = unlock(a, &[]);
    assert!(succeeds(&get_with(a, &token)).contains("pw1"));
    // A command that changes the device's secrets under the session (a second account) seals
    // them so the passphrase still opens them, and the session too.
    succeeds(&run(
        a,
        &[("MESH_SESSION", &token)],
        &["account", "create", "work@example.com"],
    ));
    let listed = ok_in(a, &["account", "list"]);
    assert!(listed.contains("work@example.com"), "{listed}");
    assert!(
        succeeds(&run(a, &[("MESH_SESSION", &token)], &["account", "list"]))
            .contains("work@example.com")
    );
    // The human form is for `eval`.
    let shown = succeeds(&run(a, &[("MESH_PASSPHRASE", DEVICE_PASS)], &["unlock"]));
    assert!(shown.starts_with("export MESH_SESSION="), "{shown}");

    // The session file is private, and alone opens nothing: the same id with another key, a
    // key cut short, or an id that tries to leave the directory.
    let sessions = a.join("sessions");
    let files: Vec<_> = std::fs::read_dir(&sessions).unwrap().flatten().collect();
    assert_eq!(files.len(), 2);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(files[0].path())
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o077, 0, "{mode:o}");
        let mode = std::fs::metadata(&sessions).unwrap().permissions().mode();
        assert_eq!(mode & 0o077, 0, "{mode:o}");
    }
    let (id, key) = token.split_once('.').unwrap();
    let mut forged = key.as_bytes().to_vec();
    forged[3] = if forged[3] == b'A' { b'B' } else { b'A' };
    for bad in [
        format!("{id}.{}", String::from_utf8(forged).unwrap()),
        format!("{id}.{}", &key[..20]),
        format!("../../{id}.{key}"),
    ] {
        let err = refused(&get_with(a, &bad));
        assert!(err.contains("cannot be used"), "{bad}: {err}");
        assert!(!err.contains("pw1"));
    }
    // Nor does it open another device: the session file and its token carried to a second
    // device's directory.
    let b = tempfile::tempdir().unwrap();
    let b = b.path();
    ok_in(b, &["account", "create", "bob@example.com"]);
    ok_in(b, &["password", "add", "bank.example", "bob", "pw-bob"]);
    std::fs::create_dir_all(b.join("sessions")).unwrap();
    std::fs::copy(sessions.join(id), b.join("sessions").join(id)).unwrap();
    let err = refused(&get_with(b, &token));
    assert!(err.contains("cannot be used"), "{err}");
    // A wrong session with the passphrase at hand: a note, and the passphrase used.
    let out = run(
        a,
        &[
            ("MESH_SESSION", "nonsense"),
            ("MESH_PASSPHRASE", DEVICE_PASS),
        ],
        &["password", "get", "bank.example"],
    );
    assert!(succeeds(&out).contains("pw1"));
    assert!(String::from_utf8_lossy(&out.stderr).contains("note: the session"));

    // `mesh lock` ends every session: the token, kept by whoever saw it, opens nothing.
    let out = succeeds(&run(a, &[], &["lock", "--json"]));
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&out).unwrap()["Ended"],
        2
    );
    let err = refused(&get_with(a, &token));
    assert!(err.contains("locked"), "{err}");

    // A new passphrase ends the sessions made under the old one, and needs the old one (a
    // session's holder cannot take the device over).
    let token = unlock(a, &[]);
    let err = refused(&run(
        a,
        &[
            ("MESH_SESSION", &token),
            ("MESH_NEW_PASSPHRASE", "new pass"),
        ],
        &["device", "passphrase"],
    ));
    assert!(err.contains("passphrase"), "{err}");
    let err = refused(&run(
        a,
        &[
            ("MESH_PASSPHRASE", "wrong"),
            ("MESH_NEW_PASSPHRASE", "new pass"),
        ],
        &["device", "passphrase"],
    ));
    assert!(err.contains("wrong passphrase"), "{err}");
    assert!(succeeds(&get_with(a, &token)).contains("pw1"));
    // A session file put back after the change (a copy kept from before) opens nothing either.
    let id = token.split_once('.').unwrap().0;
    let kept = std::fs::read(sessions.join(id)).unwrap();
    succeeds(&run(
        a,
        &[
            ("MESH_PASSPHRASE", DEVICE_PASS),
            ("MESH_NEW_PASSPHRASE", "new pass"),
        ],
        &["device", "passphrase"],
    ));
    assert!(!sessions.join(id).exists());
    std::fs::write(sessions.join(id), kept).unwrap();
    let err = refused(&get_with(a, &token));
    assert!(err.contains("another passphrase"), "{err}");
    refused(&run(
        a,
        &[("MESH_PASSPHRASE", DEVICE_PASS)],
        &["password", "list"],
    ));
    let out = run(
        a,
        &[("MESH_PASSPHRASE", "new pass")],
        &["password", "get", "bank.example"],
    );
    assert!(succeeds(&out).contains("pw1"));

    // Bad lifetimes are refused before the passphrase is asked for.
    for minutes in ["0", "20000", "x"] {
        let out = run(
            a,
            &[("MESH_PASSPHRASE", "new pass")],
            &["unlock", "--minutes", minutes],
        );
        assert!(!out.status.success());
        assert!(!String::from_utf8_lossy(&out.stdout).contains("MESH_SESSION="));
    }
}

#[test]
fn a_session_ends_at_its_time() {
    let a = tempfile::tempdir().unwrap();
    let home = mesh_client::MeshHome::at(a.path());
    home.open_or_create("pass").unwrap();
    let unlocked = home
        .unlock("pass", std::time::Duration::from_secs(1))
        .unwrap();
    assert!(home.open_session(&unlocked.token).is_ok());
    std::thread::sleep(std::time::Duration::from_millis(2100));
    let err = home
        .open_session(&unlocked.token)
        .err()
        .unwrap()
        .to_string();
    assert!(
        err.contains("has ended") || err.contains("time is up"),
        "{err}"
    );
    // Its file went with it.
    assert_eq!(
        std::fs::read_dir(a.path().join("sessions"))
            .unwrap()
            .count(),
        0
    );
}

#[test]
fn a_device_without_administrator_rights_reads_through_the_service_in_a_session() {
    let data = tempfile::tempdir().unwrap();
    let service = Service::start(data.path(), None);
    let admin = tempfile::tempdir().unwrap();
    let admin = admin.path();
    ok_in(admin, &["account", "create", "alice@example.com"]);
    ok_in(admin, &["account", "bind", "--service", &service.url]);
    ok_in(admin, &["password", "add", "bank.example", "alice", "pw1"]);
    let phone = tempfile::tempdir().unwrap();
    let phone = phone.path();
    connect_by_witness(&service, admin, phone);
    let token = unlock(phone, &[]);
    // The device's share and the service's contribution, with no passphrase given.
    assert!(succeeds(&get_with(phone, &token)).contains("pw1"));
    succeeds(&run(
        phone,
        &[("MESH_SESSION", &token)],
        &["account", "sync"],
    ));
}

#[test]
fn a_command_still_running_cannot_undo_a_new_passphrase_or_another_commands_change() {
    let a = tempfile::tempdir().unwrap();
    let home = mesh_client::MeshHome::at(a.path());
    home.open_or_create("old").unwrap();
    let token = home
        .unlock("old", std::time::Duration::from_secs(600))
        .unwrap()
        .token;
    // Two commands of the device at once, each with its own copy of the secrets: what each
    // adds is kept.
    let mut first = home.open("old").unwrap();
    let mut second = home.open_session(&token).unwrap();
    first.create_account("one@example.com").unwrap();
    second.create_account("two@example.com").unwrap();
    let (listed, _) = home.open("old").unwrap().accounts();
    assert!(
        listed.contains(&"one@example.com".to_string())
            && listed.contains(&"two@example.com".to_string()),
        "{listed:?}"
    );
    // Both adding the same account: the second is refused, and the first's stays whole.
    let mut third = home.open("old").unwrap();
    let mut fourth = home.open("old").unwrap();
    third.create_account("same@example.com").unwrap();
    let err = fourth
        .create_account("same@example.com")
        .err()
        .unwrap()
        .to_string();
    assert!(err.contains("already"), "{err}");
    let opened = home.open("old").unwrap();
    let account = opened.account(Some("same@example.com")).unwrap();
    assert!(
        account
            .list(mesh_client::CatalogKind::Device)
            .unwrap()
            .len()
            == 1
    );
    // Both removing it: removed (both changing it differently is refused: the unit test of
    // merge_accounts).
    let mut fifth = home.open("old").unwrap();
    let mut sixth = home.open("old").unwrap();
    fifth.forget_account("same@example.com").unwrap();
    sixth.forget_account("same@example.com").unwrap();
    // A command opened before a new passphrase (by the passphrase or by a session) writes
    // nothing after it: the new passphrase stays, and the old one opens nothing.
    let mut stale = home.open("old").unwrap();
    let mut stale_session = home.open_session(&token).unwrap();
    home.change_passphrase("old", "new").unwrap();
    for device in [&mut stale, &mut stale_session] {
        let err = device
            .create_account("three@example.com")
            .err()
            .unwrap()
            .to_string();
        assert!(err.contains("new passphrase"), "{err}");
    }
    assert!(home.open("old").is_err());
    let (listed, _) = home.open("new").unwrap().accounts();
    assert_eq!(listed.len(), 2, "{listed:?}");
    assert!(
        !listed.contains(&"same@example.com".to_string()),
        "{listed:?}"
    );
    assert!(home.open_session(&token).is_err());
}

#[test]
fn a_session_does_not_give_the_account_away() {
    let a = tempfile::tempdir().unwrap();
    let a = a.path();
    ok_in(a, &["account", "create", "alice@example.com"]);
    let token = unlock(a, &[]);
    let session = [("MESH_SESSION", token.as_str())];
    let out_file = a.join("export.dare");
    for args in [
        vec!["account", "export", out_file.to_str().unwrap()],
        vec!["account", "escrow"],
        vec!["account", "rekey"],
        vec!["account", "pin"],
        vec!["device", "accept", "AAAA-BBBB"],
        vec!["device", "passphrase"],
        vec!["device", "preconfig", "--out", "x.json"],
        vec!["device", "auth", "MAAA-AAAA", "--rights", "web"],
        vec!["device", "add", "--code"],
        vec!["device", "delete", "MAAA-AAAA"],
        vec!["account", "connect", "mcu://alice@example.com/EAAA"],
        vec!["account", "bind", "--service", "http://127.0.0.1:9"],
        vec!["account", "unbind"],
        vec!["account", "move", "--service", "http://127.0.0.1:9"],
        vec!["group", "add", "team@example.com", "bob@example.com"],
    ] {
        let mut env = session.to_vec();
        env.push(("MESH_EXPORT_PASSPHRASE", "exported"));
        env.push(("MESH_NEW_PASSPHRASE", "taken over"));
        let err = refused(&run(a, &env, &args));
        assert!(err.contains("passphrase"), "{args:?}: {err}");
    }
    assert!(!out_file.exists());
    // The root is still on the device: escrow did not take it away.
    assert!(ok_in(a, &["account", "info"]).contains("alice@example.com"));
    // An empty MESH_SESSION is no session: the passphrase, without a note.
    let out = run(
        a,
        &[("MESH_SESSION", ""), ("MESH_PASSPHRASE", DEVICE_PASS)],
        &["account", "list"],
    );
    succeeds(&out);
    assert!(
        out.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // Rights that do not parse are refused before the passphrase is asked for.
    let err = refused(&run(
        a,
        &[],
        &["device", "accept", "AAAA", "--rights", "bogus"],
    ));
    assert!(!err.contains("passphrase"), "{err}");
    // A lifetime past the longest is refused before any passphrase is asked for.
    let err = refused(&run(a, &[], &["unlock", "--minutes", "20000"]));
    assert!(err.contains("--minutes"), "{err}");
}

#[test]
fn lock_removes_sessions_and_nothing_else() {
    // No device: nothing is touched.
    let plain = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(plain.path().join("sessions")).unwrap();
    std::fs::write(plain.path().join("sessions/keep.txt"), "mine").unwrap();
    refused(&run(plain.path(), &[], &["lock"]));
    assert!(plain.path().join("sessions/keep.txt").exists());

    let a = tempfile::tempdir().unwrap();
    let a = a.path();
    ok_in(a, &["account", "create", "alice@example.com"]);
    let token = unlock(a, &[]);
    // Something else in the sessions directory stays, and does not stop the lock.
    std::fs::create_dir_all(a.join("sessions/sub")).unwrap();
    std::fs::write(a.join("sessions/notes.txt"), "mine").unwrap();
    let out = succeeds(&run(a, &[], &["lock", "--json"]));
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&out).unwrap()["Ended"],
        1
    );
    assert!(a.join("sessions/sub").is_dir() && a.join("sessions/notes.txt").exists());
    refused(&get_with(a, &token));

    // A sessions directory that is a link elsewhere is not used.
    #[cfg(unix)]
    {
        let elsewhere = tempfile::tempdir().unwrap();
        let precious = elsewhere.path().join("0123456789abcdef0123456789abcdef");
        std::fs::write(&precious, "x").unwrap();
        std::fs::remove_dir_all(a.join("sessions")).unwrap();
        std::os::unix::fs::symlink(elsewhere.path(), a.join("sessions")).unwrap();
        let err = refused(&run(a, &[("MESH_PASSPHRASE", DEVICE_PASS)], &["unlock"]));
        assert!(err.contains("not a directory of this device"), "{err}");
        succeeds(&run(a, &[], &["lock"]));
        assert!(precious.exists());
    }
}
