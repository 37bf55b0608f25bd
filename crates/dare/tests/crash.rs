//! Crash safety: a container whose last frame was cut short reopens at its last complete frame,
//! and a process killed while appending loses nothing it had acknowledged.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

use mesh_dare::{AppendOptions, Container, ContainerType, DareError, KeyRing, Mode};
use rand::Rng;

fn body(index: u64) -> Vec<u8> {
    // Sizes from a few octets to ~70 KB so frames use 1-, 2- and 4-octet lengths.
    let len = ((index * 7919) % 70_000) as usize + (index as usize % 3);
    (0..len).map(|i| (i as u64 ^ index) as u8).collect()
}

#[test]
fn truncation_at_every_offset_of_the_last_frame() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("c.dare");
    let mut c = Container::create(&path, ContainerType::Merkle, &[]).unwrap();
    for i in 1..=5 {
        c.append(&body(i), &AppendOptions::default()).unwrap();
    }
    let before = std::fs::metadata(&path).unwrap().len();
    let root_before = c.tree_digest();
    c.append(
        b"the last frame, which a crash cuts short",
        &AppendOptions::default(),
    )
    .unwrap();
    drop(c);
    let full = std::fs::read(&path).unwrap();
    let work = dir.path().join("cut.dare");
    for cut in before..full.len() as u64 {
        std::fs::write(&work, &full[..cut as usize]).unwrap();
        // Read-only: the tail is ignored, the file untouched.
        let ro = Container::open(&work, Mode::Read).unwrap();
        assert_eq!(ro.frame_count(), 6, "cut at {cut}");
        assert_eq!(ro.dropped_octets(), cut - before);
        drop(ro);
        // For writing: the tail is dropped and appending goes on from the last whole frame.
        let mut c = Container::open(&work, Mode::Write).unwrap();
        assert_eq!(std::fs::metadata(&work).unwrap().len(), before);
        assert_eq!(c.tree_digest(), root_before);
        c.verify().unwrap();
        assert_eq!(c.append(b"again", &AppendOptions::default()).unwrap(), 6);
        c.verify().unwrap();
    }
    // Blocks of zeros after the last frame (a file extended but not written) are dropped too.
    let mut zeros = full.clone();
    zeros.extend_from_slice(&[0u8; 4096]);
    std::fs::write(&work, &zeros).unwrap();
    let c = Container::open(&work, Mode::Write).unwrap();
    assert_eq!(c.frame_count(), 7);
    assert_eq!(std::fs::metadata(&work).unwrap().len(), full.len() as u64);
    // What was cut off is kept beside the container, never just thrown away (it may be damage
    // with sound frames after it).
    let aside = dir.path().join(format!("cut.dare.dropped-{}", full.len()));
    assert_eq!(std::fs::read(aside).unwrap(), vec![0u8; 4096]);
}

#[test]
fn damage_inside_the_file_is_reported_not_truncated() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("c.dare");
    let mut c = Container::create(&path, ContainerType::Chain, &[]).unwrap();
    for i in 1..=3 {
        c.append(&body(i), &AppendOptions::default()).unwrap();
    }
    let second = c.frame_entry(2).unwrap().position as usize;
    drop(c);
    let mut bytes = std::fs::read(&path).unwrap();
    bytes[second] = b'x';
    std::fs::write(&path, &bytes).unwrap();
    assert!(matches!(
        Container::open(&path, Mode::Write),
        Err(DareError::Container { .. })
    ));
    assert_eq!(std::fs::read(&path).unwrap(), bytes);
}

const CHILD_ENV: &str = "MESH_DARE_CRASH_CHILD";

/// The appender the kill test runs in a child process: it appends forever and prints each
/// index once `append` has returned (after fsync).
#[test]
fn crash_child_appender() {
    let Ok(path) = std::env::var(CHILD_ENV) else {
        return;
    };
    let mut c = Container::open(&path, Mode::Write).unwrap();
    let mut next = c.frame_count();
    loop {
        let index = c.append(&body(next), &AppendOptions::default()).unwrap();
        assert_eq!(index, next);
        println!("ack {index}");
        next += 1;
    }
}

#[test]
fn kill_during_appends_loses_nothing_acknowledged() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("killed.dare");
    Container::create(&path, ContainerType::Merkle, &[]).unwrap();
    let mut rng = rand::thread_rng();
    let mut acknowledged = 0u64;
    for round in 0..6 {
        let mut child = Command::new(std::env::current_exe().unwrap())
            .args([
                "crash_child_appender",
                "--exact",
                "--nocapture",
                "--test-threads",
                "1",
            ])
            .env(CHILD_ENV, &path)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let reader = std::thread::spawn(move || {
            let mut last = 0u64;
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if let Some(n) = line.strip_prefix("ack ") {
                    last = n.trim().parse().unwrap();
                }
            }
            last
        });
        std::thread::sleep(Duration::from_millis(rng.gen_range(100..400)));
        child.kill().unwrap(); // SIGKILL: no destructor, no flush
        child.wait().unwrap();
        let last = reader.join().unwrap();
        acknowledged = acknowledged.max(last);
        let c = Container::open(&path, Mode::Write).unwrap();
        assert!(
            c.frame_count() > acknowledged,
            "round {round}: acknowledged {acknowledged}, found {}",
            c.frame_count() - 1
        );
        for index in 1..c.frame_count() {
            assert_eq!(
                c.read_plaintext(index, &KeyRing::new()).unwrap(),
                body(index),
                "frame {index}"
            );
        }
        c.verify().unwrap();
    }
    assert!(acknowledged > 0, "the child never acknowledged an append");
}
