//! A device's rights in its account: the `Roles` of the ConnectionDevice the administrator signs
//! (and of a MessagePin: the rights a device connected with that PIN gets), as in the
//! reference's schema (`SchemaMesh.protocol`) and architecture-17 §4.2 ("granting the new
//! device the messaging and web roles"; the reference's `device accept ID /message /web`).
//!
//! * `message`: the device reads the account's inbound spool and sends messages;
//! * `web`: the device is given the account's decryption key itself, and so reads the account's
//!   catalogs offline — and keeps what it can decrypt after it is removed
//!   (`ArchitectureDisconnectWebDecrypts`);
//! * `threshold`: the device is given a share of that key; it reads only with the service's
//!   contribution (Operate), so a removed device reads nothing more
//!   (`ArchitectureDisconnectThresholdDecrypts`).
//!
//! `message` comes with `web` or `threshold` (messages are encrypted to the account's key); with
//! both, the device is given the key (`web`). Administrator devices hold the account's keys
//! whatever their roles say: that right is proved by the administrator key, not claimed by a
//! role.

use crate::{Result, SchemaError};

/// The role names, as they appear in `Roles`.
pub const MESSAGE: &str = "message";
pub const WEB: &str = "web";
pub const THRESHOLD: &str = "threshold";
/// Written for a device holding none of them; grants nothing.
const NONE: &str = "none";

/// What a device of an account may do beyond writing its catalogs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rights {
    pub message: bool,
    pub web: bool,
    pub threshold: bool,
}

impl Default for Rights {
    fn default() -> Self {
        Rights::DEFAULT
    }
}

impl Rights {
    /// What a device is given when the administrator names nothing, and what a connection made
    /// before rights were written (no `Roles`) stands for: messages, and the catalogs through
    /// the service.
    pub const DEFAULT: Rights = Rights {
        message: true,
        web: false,
        threshold: true,
    };

    /// Every right (an administrator device's connection).
    pub const ALL: Rights = Rights {
        message: true,
        web: true,
        threshold: true,
    };

    /// The rights a user names (`--rights message,web`): each name known, at least one given.
    pub fn parse<S: AsRef<str>>(names: &[S]) -> Result<Rights> {
        let mut rights = Rights {
            message: false,
            web: false,
            threshold: false,
        };
        for name in names.iter().flat_map(|n| n.as_ref().split(',')) {
            match name
                .trim()
                .trim_start_matches('/')
                .to_ascii_lowercase()
                .as_str()
            {
                MESSAGE => rights.message = true,
                WEB => rights.web = true,
                THRESHOLD => rights.threshold = true,
                "" => {}
                other => {
                    return Err(SchemaError::Invalid(format!(
                        "unknown right {other:?}: the rights are {MESSAGE}, {WEB} and {THRESHOLD}"
                    )))
                }
            }
        }
        if rights.is_empty() {
            return Err(SchemaError::Invalid(format!(
                "name at least one right ({MESSAGE}, {WEB}, {THRESHOLD})"
            )));
        }
        // Messages come encrypted to the account's key, and whom to encrypt to is in the
        // contact catalog: a device that reads no catalog could read no message.
        if !rights.reads_catalogs() {
            return Err(SchemaError::Invalid(format!(
                "the {MESSAGE} right needs {WEB} or {THRESHOLD}: messages are encrypted to the \
                 account's key"
            )));
        }
        Ok(rights)
    }

    /// The rights a connection's `Roles` grant (the administrator signed them). No roles at all
    /// is a connection made before rights were written: [`Rights::DEFAULT`]. Names this build
    /// does not know grant nothing.
    pub fn of_roles(roles: &[String]) -> Rights {
        if roles.is_empty() {
            return Rights::DEFAULT;
        }
        Rights::of_names(roles)
    }

    /// The rights named in `names`, and no others (none for an empty list).
    pub fn of_names(roles: &[String]) -> Rights {
        let has = |r: &str| roles.iter().any(|x| x.eq_ignore_ascii_case(r));
        Rights {
            message: has(MESSAGE),
            web: has(WEB),
            threshold: has(THRESHOLD),
        }
    }

    /// The `Roles` to write. Never empty, since no roles would read as [`Rights::DEFAULT`]: a
    /// device holding no right (one connected by another implementation with roles unknown
    /// here, then given new records by a key rotation) is written `["none"]`.
    pub fn roles(&self) -> Vec<String> {
        let names = self.names();
        if names.is_empty() {
            return vec![NONE.to_string()];
        }
        names.into_iter().map(str::to_string).collect()
    }

    /// The names of the rights held, in a fixed order.
    pub fn names(&self) -> Vec<&'static str> {
        [
            (self.message, MESSAGE),
            (self.web, WEB),
            (self.threshold, THRESHOLD),
        ]
        .into_iter()
        .filter_map(|(held, name)| held.then_some(name))
        .collect()
    }

    /// May the device read the account's catalogs (with its own key or through the service)?
    pub fn reads_catalogs(&self) -> bool {
        self.web || self.threshold
    }

    /// Holds no right at all.
    pub fn is_empty(&self) -> bool {
        !(self.message || self.web || self.threshold)
    }
}

impl std::fmt::Display for Rights {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let names = self.names();
        if names.is_empty() {
            f.write_str(NONE)
        } else {
            f.write_str(&names.join(", "))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_parse_and_round_trip() {
        let r = Rights::parse(&["/message", "WEB"]).unwrap();
        assert_eq!(
            r,
            Rights {
                message: true,
                web: true,
                threshold: false
            }
        );
        assert_eq!(Rights::of_roles(&r.roles()), r);
        assert_eq!(
            Rights::parse(&["threshold,message"]).unwrap(),
            Rights::DEFAULT
        );
        assert!(Rights::parse(&["admin"]).is_err());
        assert!(Rights::parse(&["message"]).is_err());
        assert!(Rights::parse::<&str>(&[]).is_err());
        assert!(Rights::parse(&[","]).is_err());
    }

    #[test]
    fn roles_of_older_and_other_connections() {
        // No roles: a connection from before rights were written.
        assert_eq!(Rights::of_roles(&[]), Rights::DEFAULT);
        // Only names unknown here: nothing granted, not the default.
        let other = Rights::of_roles(&["payments".to_string()]);
        assert!(!other.message && !other.reads_catalogs());
        assert_eq!(other.to_string(), "none");
        // Written again (a rotation), still nothing: never the default.
        assert_eq!(Rights::of_roles(&other.roles()), other);
        assert_eq!(Rights::of_names(&[]), other);
    }

    proptest::proptest! {
        /// Roles come from connections anyone may present (signed, but by another
        /// implementation, say) and names from the command line: any list is read without a
        /// panic, what is written reads back as itself, and no list grants more than it names.
        #[test]
        fn any_roles_read_back(roles in proptest::collection::vec("[a-zA-Z/,]{0,12}", 0..6)) {
            let read = Rights::of_roles(&roles);
            proptest::prop_assert_eq!(Rights::of_roles(&read.roles()), read);
            if !roles.is_empty() {
                let named = |r: &str| roles.iter().any(|x| x.eq_ignore_ascii_case(r));
                proptest::prop_assert!(!read.message || named(MESSAGE));
                proptest::prop_assert!(!read.web || named(WEB));
                proptest::prop_assert!(!read.threshold || named(THRESHOLD));
            }
            if let Ok(parsed) = Rights::parse(&roles) {
                proptest::prop_assert!(parsed.reads_catalogs());
                proptest::prop_assert_eq!(Rights::of_roles(&parsed.roles()), parsed);
            }
        }
    }
}
