//! Property tests over every type the reference's examples show: an example object with one
//! member changed to an arbitrary value or removed either is refused with an error or, once
//! decoded and encoded, decodes to the same encoding again (JSON, and JSON-B beside it). Never
//! a panic.

use std::path::PathBuf;
use std::sync::OnceLock;

use proptest::prelude::*;
use serde_json::Value;

fn corpus() -> &'static Vec<Value> {
    static CORPUS: OnceLock<Vec<Value>> = OnceLock::new();
    CORPUS.get_or_init(|| {
        let dir =
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/reference/examples");
        let mut out = Vec::new();
        let mut names: Vec<_> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|e| e == "md"))
            .collect();
        names.sort();
        for path in names {
            let text = std::fs::read_to_string(path).unwrap();
            for printed in mesh_conformance::unfold::printed_objects(&text)
                .into_iter()
                .flatten()
            {
                if mesh_conformance::probe::reencoded(&printed.value).is_ok() {
                    out.push(printed.value);
                }
            }
        }
        assert!(out.len() > 40, "only {} example objects decode", out.len());
        out
    })
}

/// Every path to a member (object members only), depth first.
fn paths(value: &Value, here: &mut Vec<String>, out: &mut Vec<Vec<String>>) {
    if let Value::Object(map) = value {
        for (k, v) in map {
            here.push(k.clone());
            out.push(here.clone());
            paths(v, here, out);
            here.pop();
        }
    } else if let Value::Array(items) = value {
        for (i, v) in items.iter().enumerate() {
            here.push(format!("#{i}"));
            paths(v, here, out);
            here.pop();
        }
    }
}

fn at<'v>(value: &'v mut Value, path: &[String]) -> Option<&'v mut Value> {
    let mut v = value;
    for step in path {
        v = match step.strip_prefix('#') {
            Some(i) => v.get_mut(i.parse::<usize>().ok()?)?,
            None => v.get_mut(step)?,
        };
    }
    Some(v)
}

#[derive(Debug, Clone)]
enum Change {
    Remove,
    Text(String),
    Number(i64),
    Flag(bool),
    Empty,
}

fn change() -> impl Strategy<Value = Change> {
    prop_oneof![
        Just(Change::Remove),
        ".{0,40}".prop_map(Change::Text),
        any::<i64>().prop_map(Change::Number),
        any::<bool>().prop_map(Change::Flag),
        Just(Change::Empty),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]
    #[test]
    fn changed_examples_decode_to_a_fixed_point_or_are_refused(
        which in any::<prop::sample::Index>(),
        member in any::<prop::sample::Index>(),
        change in change(),
    ) {
        let corpus = corpus();
        let mut object = corpus[which.index(corpus.len())].clone();
        let mut all = Vec::new();
        paths(&object, &mut Vec::new(), &mut all);
        prop_assume!(!all.is_empty());
        let path = all[member.index(all.len())].clone();
        let (last, parent) = path.split_last().unwrap();
        match change {
            Change::Remove => {
                if let Some(Value::Object(map)) = at(&mut object, parent) {
                    map.remove(last);
                }
            }
            other => {
                if let Some(v) = at(&mut object, &path) {
                    *v = match other {
                        Change::Text(t) => Value::String(t),
                        Change::Number(n) => Value::from(n),
                        Change::Flag(b) => Value::Bool(b),
                        _ => Value::Object(Default::default()),
                    };
                }
            }
        }
        if let Ok(once) = mesh_conformance::probe::reencoded(&object) {
            let twice = mesh_conformance::probe::reencoded(&once);
            prop_assert_eq!(twice.as_ref(), Ok(&once), "{:?} at {:?}", object, path);
        }
    }
}

/// The unchanged examples are fixed points too.
#[test]
fn every_example_is_a_fixed_point() {
    for object in corpus() {
        let once = mesh_conformance::probe::reencoded(object).unwrap();
        assert_eq!(mesh_conformance::probe::reencoded(&once), Ok(once));
    }
}
