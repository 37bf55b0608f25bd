//! The report as people read it: a table of everything that did not fully pass, then one
//! summary line; and the counts behind that line.

use std::fmt::Write as _;

use crate::{Outcome, Report};

/// The counts of one run.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct Summary {
    pub files: usize,
    pub objects: usize,
    pub decoded: usize,
    pub whole: usize,
    pub signatures: usize,
    pub signatures_verified: usize,
    pub signatures_failed: usize,
    pub encrypted: usize,
    pub decrypted: usize,
    pub decryptions_failed: usize,
    pub identifiers: usize,
    pub identifiers_matching: usize,
    pub identifiers_failed: usize,
    pub unreadable: usize,
}

fn count<'a>(outcomes: impl Iterator<Item = &'a Outcome>) -> (usize, usize, usize) {
    let (mut all, mut pass, mut fail) = (0, 0, 0);
    for outcome in outcomes {
        all += 1;
        match outcome {
            Outcome::Pass => pass += 1,
            Outcome::Fail(_) => fail += 1,
            Outcome::Cannot(_) => {}
        }
    }
    (all, pass, fail)
}

impl Report {
    pub fn summary(&self) -> Summary {
        let (signatures, signatures_verified, signatures_failed) =
            count(self.signatures.iter().map(|s| &s.outcome));
        let (encrypted, decrypted, decryptions_failed) =
            count(self.decryptions.iter().map(|d| &d.outcome));
        let (identifiers, identifiers_matching, identifiers_failed) =
            count(self.identifiers.iter().map(|i| &i.outcome));
        Summary {
            files: self.files,
            objects: self.objects.len(),
            decoded: self.objects.iter().filter(|o| o.reading.decoded()).count(),
            whole: self.objects.iter().filter(|o| o.reading.whole()).count(),
            signatures,
            signatures_verified,
            signatures_failed,
            encrypted,
            decrypted,
            decryptions_failed,
            identifiers,
            identifiers_matching,
            identifiers_failed,
            unreadable: self.unreadable.len(),
        }
    }

    /// Every row that is not a plain pass, as a table, then the summary line.
    pub fn table(&self) -> String {
        let mut out = String::new();
        let mut line = |file: &str, at: &str, what: &str, detail: &str| {
            let _ = writeln!(out, "{file:<34} {what:<12} {at}: {detail}");
        };
        for place in &self.unreadable {
            line(
                &place.file,
                &place.at,
                "unreadable",
                "printed JSON that does not parse",
            );
        }
        for row in &self.objects {
            let r = &row.reading;
            if let Some(e) = &r.error {
                line(
                    &row.place.file,
                    &row.place.at,
                    "not decoded",
                    &format!("{}: {e}", r.type_name),
                );
                continue;
            }
            let mut parts = Vec::new();
            for (label, list) in [
                ("dropped", &r.dropped),
                ("changed", &r.changed),
                ("added", &r.added),
                ("untyped", &r.untyped),
            ] {
                if !list.is_empty() {
                    parts.push(format!("{label} {}", list.join(" ")));
                }
            }
            if !parts.is_empty() {
                line(
                    &row.place.file,
                    &row.place.at,
                    "not whole",
                    &format!("{}: {}", r.type_name, parts.join("; ")),
                );
            }
        }
        let outcomes = self
            .signatures
            .iter()
            .map(|s| (&s.place, "signature", format!("{} ", s.kid), &s.outcome))
            .chain(
                self.decryptions
                    .iter()
                    .map(|d| (&d.place, "decryption", String::new(), &d.outcome)),
            )
            .chain(
                self.identifiers
                    .iter()
                    .map(|i| (&i.place, "identifier", format!("{} ", i.name), &i.outcome)),
            );
        for (place, what, label, outcome) in outcomes {
            match outcome {
                Outcome::Pass => {}
                Outcome::Fail(why) => line(
                    &place.file,
                    &place.at,
                    what,
                    &format!("{label}FAILS: {why}"),
                ),
                Outcome::Cannot(why) => line(
                    &place.file,
                    &place.at,
                    what,
                    &format!("{label}not checked: {why}"),
                ),
            }
        }
        let _ = writeln!(out, "{}", self.summary());
        out
    }
}

impl std::fmt::Display for Summary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} files: {} objects, {} decoded, {} read whole; {} signatures, {} verified, {} failed; \
             {} encrypted envelopes, {} decrypted, {} failed; {} identifiers, {} match, {} differ; \
             {} unreadable",
            self.files,
            self.objects,
            self.decoded,
            self.whole,
            self.signatures,
            self.signatures_verified,
            self.signatures_failed,
            self.encrypted,
            self.decrypted,
            self.decryptions_failed,
            self.identifiers,
            self.identifiers_matching,
            self.identifiers_failed,
            self.unreadable
        )
    }
}
