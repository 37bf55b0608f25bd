//! The reference implementation's schema definitions (`schema/*.protocol`, its own schema
//! language) read, and one object of every type made from them with every member the type has
//! (its ancestors' included) and a value of the member's kind, to measure whether mesh-rs's
//! types carry every member the reference's do — the examples show only some.
//!
//! The language, as far as it is used here: a type is `Structure NAME` or `Message NAME`
//! (indented one tab), with `Inherits PARENT`, `Abstract` and members (two tabs)
//! `KIND NAME` — KIND one of `String`, `Integer`, `Boolean`, `DateTime`, `Binary`, `Float`,
//! `Struct TYPE`, `Struct * TYPE` or `TStruct TYPE` (tagged: `{"TYPE": {…}}`), the type possibly
//! `Enveloped<T>` (a DARE envelope) — followed by `Multiple` (a list) and `Tag "name"` (the
//! member's name on the wire). `External` (a base class outside the files) adds nothing.

use std::collections::BTreeMap;

use serde_json::{json, Value};

/// A member of a type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    pub kind: String,
    /// For `Struct` and `TStruct`: the type.
    pub of: Option<String>,
    pub tagged: bool,
    pub name: String,
    /// The name on the wire (`Tag`), when it is not `name`.
    pub tag: Option<String>,
    pub multiple: bool,
}

impl Member {
    pub fn wire(&self) -> &str {
        self.tag.as_deref().unwrap_or(&self.name)
    }
}

/// A type of the schema.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TypeDef {
    pub name: String,
    /// The file it is defined in.
    pub file: String,
    pub message: bool,
    pub inherits: Option<String>,
    pub is_abstract: bool,
    pub members: Vec<Member>,
}

/// Every type of the given schema files (name, text).
pub fn parse(files: &[(String, String)]) -> BTreeMap<String, TypeDef> {
    let mut types = BTreeMap::new();
    for (file, text) in files {
        let mut current: Option<TypeDef> = None;
        let mut member: Option<Member> = None;
        let finish = |current: &mut Option<TypeDef>, member: &mut Option<Member>| {
            if let (Some(t), Some(m)) = (current.as_mut(), member.take()) {
                t.members.push(m);
            }
        };
        for raw in text.lines() {
            let line = raw.trim_start_matches('\u{feff}');
            let depth = line.chars().take_while(|c| *c == '\t').count();
            let words: Vec<&str> = line.split_whitespace().collect();
            let Some(first) = words.first().copied() else {
                continue;
            };
            if first.starts_with('|') || first.starts_with("//") {
                continue;
            }
            match (depth, first) {
                (1, "Structure" | "Message") if words.len() >= 2 => {
                    finish(&mut current, &mut member);
                    if let Some(t) = current.take() {
                        types.insert(t.name.clone(), t);
                    }
                    current = Some(TypeDef {
                        name: words[1].to_string(),
                        file: file.clone(),
                        message: first == "Message",
                        ..Default::default()
                    });
                }
                (1, _) => {
                    finish(&mut current, &mut member);
                    if let Some(t) = current.take() {
                        types.insert(t.name.clone(), t);
                    }
                }
                (2, "Inherits") if words.len() >= 2 => {
                    finish(&mut current, &mut member);
                    if let Some(t) = current.as_mut() {
                        t.inherits = Some(words[1].to_string());
                    }
                }
                (2, "Abstract") => {
                    if let Some(t) = current.as_mut() {
                        t.is_abstract = true;
                    }
                }
                (2, "String" | "Integer" | "Boolean" | "DateTime" | "Binary" | "Float")
                    if words.len() >= 2 =>
                {
                    finish(&mut current, &mut member);
                    member = Some(Member {
                        kind: first.to_string(),
                        of: None,
                        tagged: false,
                        name: words[1].to_string(),
                        tag: None,
                        multiple: false,
                    });
                }
                (2, "Struct" | "TStruct") if words.len() >= 3 => {
                    finish(&mut current, &mut member);
                    let star = words[1] == "*";
                    let (of, name) = if star && words.len() >= 4 {
                        (words[2], words[3])
                    } else {
                        (words[1], words[2])
                    };
                    member = Some(Member {
                        kind: "Struct".into(),
                        of: Some(of.to_string()),
                        tagged: star || first == "TStruct",
                        name: name.to_string(),
                        tag: None,
                        multiple: false,
                    });
                }
                (3, "Multiple") => {
                    if let Some(m) = member.as_mut() {
                        m.multiple = true;
                    }
                }
                (3, "Tag") if words.len() >= 2 => {
                    if let Some(m) = member.as_mut() {
                        m.tag = Some(words[1].trim_matches('"').to_string());
                    }
                }
                _ => {}
            }
        }
        finish(&mut current, &mut member);
        if let Some(t) = current.take() {
            types.insert(t.name.clone(), t);
        }
    }
    types
}

/// A type's members, its ancestors' first (a member redefined lower down replaces the higher).
pub fn members(types: &BTreeMap<String, TypeDef>, name: &str) -> Vec<Member> {
    let mut chain = Vec::new();
    let mut next = Some(name.to_string());
    while let Some(n) = next {
        if chain.contains(&n) || chain.len() > 16 {
            break;
        }
        next = types.get(&n).and_then(|t| t.inherits.clone());
        chain.push(n);
    }
    let mut out: Vec<Member> = Vec::new();
    for n in chain.iter().rev() {
        for m in types.get(n).map(|t| t.members.clone()).unwrap_or_default() {
            out.retain(|o| o.wire() != m.wire());
            out.push(m);
        }
    }
    out
}

/// Does `name` descend from `ancestor` (or is it)?
pub fn descends(types: &BTreeMap<String, TypeDef>, name: &str, ancestor: &str) -> bool {
    let mut next = Some(name.to_string());
    let mut steps = 0;
    while let Some(n) = next {
        if n == ancestor {
            return true;
        }
        steps += 1;
        if steps > 16 {
            return false;
        }
        next = types.get(&n).and_then(|t| t.inherits.clone());
    }
    false
}

/// A concrete type for `name`: its first concrete descendant that has none of its own, or
/// itself when it has no descendants.
fn concrete<'t>(types: &'t BTreeMap<String, TypeDef>, name: &str) -> Option<&'t TypeDef> {
    let is_leaf = |t: &TypeDef| {
        !types
            .values()
            .any(|d| d.inherits.as_deref() == Some(&t.name))
    };
    types
        .values()
        .find(|t| !t.is_abstract && t.name != name && is_leaf(t) && descends(types, &t.name, name))
        .or_else(|| types.get(name).filter(|t| !t.is_abstract))
}

/// Objects of type `name`: [`sample`], and, for every tagged member whose type has several
/// concrete kinds, one more object per kind with that member of that kind (a capability of
/// each type in an access entry, say). Each comes with a label saying which variant it is.
pub fn samples(
    types: &BTreeMap<String, TypeDef>,
    name: &str,
    depth: usize,
) -> Vec<(String, Value)> {
    let mut out = vec![(name.to_string(), sample(types, name, depth))];
    for m in members(types, name).into_iter().filter(|m| m.tagged) {
        let Some(of) = m.of.as_deref() else { continue };
        let kinds: Vec<&TypeDef> = types
            .values()
            .filter(|t| !t.is_abstract && descends(types, &t.name, of))
            .filter(|t| {
                !types
                    .values()
                    .any(|d| d.inherits.as_deref() == Some(&t.name))
            })
            .collect();
        if kinds.len() < 2 {
            continue;
        }
        for kind in kinds {
            let mut object = sample(types, name, depth);
            let inner =
                json!({ kind.name.clone(): sample(types, &kind.name, depth.saturating_sub(1)) });
            object[m.wire()] = if m.multiple {
                Value::Array(vec![inner])
            } else {
                inner
            };
            out.push((format!("{name} ({} {})", m.wire(), kind.name), object));
        }
    }
    out
}

/// An object of type `name` with every member set (nested types to `depth` levels).
pub fn sample(types: &BTreeMap<String, TypeDef>, name: &str, depth: usize) -> Value {
    let mut object = serde_json::Map::new();
    for m in members(types, name) {
        let Some(value) = member_value(types, &m, depth) else {
            continue;
        };
        object.insert(
            m.wire().to_string(),
            if m.multiple {
                Value::Array(vec![value])
            } else {
                value
            },
        );
    }
    Value::Object(object)
}

fn member_value(types: &BTreeMap<String, TypeDef>, m: &Member, depth: usize) -> Option<Value> {
    Some(match m.kind.as_str() {
        "String" => json!("text"),
        "Integer" => json!(1),
        "Boolean" => json!(true),
        "Float" => json!(1.5),
        "DateTime" => json!("2022-05-03T16:47:51Z"),
        "Binary" => json!("AAEC"),
        _ => {
            let of = m.of.as_deref()?;
            if of.starts_with("Enveloped<") || of == "DareEnvelope" {
                // An envelope holding an empty object.
                return Some(json!([{}, "e30"]));
            }
            if depth == 0 {
                return None;
            }
            if of == "Key" {
                return Some(json!({"PublicKeyECDH": {"crv": "Ed448", "Public": "AAEC"}}));
            }
            // Untagged, a member is of its declared type; tagged, of any kind of it.
            let t = if m.tagged {
                concrete(types, of)?
            } else {
                types
                    .get(of)
                    .filter(|t| !t.is_abstract)
                    .or_else(|| concrete(types, of))?
            };
            let inner = sample(types, &t.name, depth - 1);
            if m.tagged {
                json!({ t.name.clone(): inner })
            } else {
                inner
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inheritance_tags_lists_and_tagged_members() {
        let text = "Protocol X\n\tStructure Base\n\t\tAbstract\n\t\tString Id\n\t\t\tDescription\n\t\t\t|text\n\tStructure Thing\n\t\tInherits Base\n\t\tBinary Value\n\t\t\tTag \"v\"\n\t\tStruct * Base Others\n\t\t\tMultiple\n\tStructure Other\n\t\tInherits Base\n";
        let types = parse(&[("x".into(), text.into())]);
        assert_eq!(types.len(), 3);
        let names: Vec<String> = members(&types, "Thing")
            .iter()
            .map(|m| m.wire().to_string())
            .collect();
        assert_eq!(names, ["Id", "v", "Others"]);
        let s = sample(&types, "Thing", 2);
        assert_eq!(s["Id"], "text");
        assert!(s["Others"][0].get("Thing").is_some() || s["Others"][0].get("Other").is_some());
    }
}
