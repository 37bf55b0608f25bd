//! Members of an object that its type does not declare.
//!
//! Every structure that keeps such members (forward compatibility: a newer peer's fields pass
//! through a re-encoding untouched) keeps them in an [`Unknown`], never in a plain map, so that
//! what a reader did not understand can be listed: [`noting`] runs a decoding and returns the
//! names of the members that landed in an `Unknown` on the way (`mesh conformance` uses it to
//! say whether an object was read whole). Outside `noting` nothing is recorded.

use std::cell::RefCell;
use std::ops::{Deref, DerefMut};

use serde::{Deserialize, Deserializer, Serialize};
use serde_json::{Map, Value};

/// The members an object carried that its type does not declare, kept as they came.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[serde(transparent)]
pub struct Unknown(pub Map<String, Value>);

thread_local! {
    static NOTED: RefCell<Option<Vec<String>>> = const { RefCell::new(None) };
}

impl<'de> Deserialize<'de> for Unknown {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let members = Map::deserialize(deserializer)?;
        if !members.is_empty() {
            NOTED.with(|noted| {
                if let Some(names) = noted.borrow_mut().as_mut() {
                    names.extend(members.keys().cloned());
                }
            });
        }
        Ok(Unknown(members))
    }
}

/// Run `decode` and return, beside its result, the names of the members that any structure
/// decoded on the way kept without understanding them.
pub fn noting<R>(decode: impl FnOnce() -> R) -> (R, Vec<String>) {
    /// Puts the caller's record back however `decode` ends, a panic included (otherwise the
    /// thread would go on recording for good).
    struct Restore(Option<Option<Vec<String>>>);
    impl Drop for Restore {
        fn drop(&mut self) {
            if let Some(outer) = self.0.take() {
                NOTED.with(|noted| *noted.borrow_mut() = outer);
            }
        }
    }
    let mut restore = Restore(Some(
        NOTED.with(|noted| noted.borrow_mut().replace(Vec::new())),
    ));
    let result = decode();
    let names = NOTED.with(|noted| noted.borrow_mut().take().unwrap_or_default());
    let outer = restore.0.take().flatten().map(|mut o| {
        o.extend(names.iter().cloned());
        o
    });
    NOTED.with(|noted| *noted.borrow_mut() = outer);
    (result, names)
}

impl Deref for Unknown {
    type Target = Map<String, Value>;
    fn deref(&self) -> &Self::Target {
        &self.0
    }
}

impl DerefMut for Unknown {
    fn deref_mut(&mut self) -> &mut Self::Target {
        &mut self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Deserialize, Serialize)]
    struct Known {
        a: u32,
        #[serde(flatten)]
        extra: Unknown,
    }

    #[test]
    fn members_a_type_does_not_declare_are_kept_and_listed() {
        let (known, names) =
            noting(|| serde_json::from_str::<Known>(r#"{"a":1,"b":2,"c":[3]}"#).unwrap());
        assert_eq!(known.a, 1);
        assert_eq!(names, vec!["b".to_string(), "c".to_string()]);
        // Re-encoding keeps them.
        let again = serde_json::to_value(&known).unwrap();
        assert_eq!(again, serde_json::json!({"a":1,"b":2,"c":[3]}));
        // Outside `noting`, nothing is recorded, and a nested `noting` reports to its caller.
        let (_, outer) = noting(|| {
            let (_, inner) = noting(|| serde_json::from_str::<Known>(r#"{"a":1,"z":0}"#));
            assert_eq!(inner, vec!["z".to_string()]);
        });
        assert_eq!(outer, vec!["z".to_string()]);
        // A decoding that panics leaves nothing recording.
        let caught = std::panic::catch_unwind(|| noting(|| panic!("decoder failed")));
        assert!(caught.is_err());
        assert!(NOTED.with(|noted| noted.borrow().is_none()));
    }
}
