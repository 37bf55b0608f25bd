//! The JSON of the reference's example files (`*.md`) as it was before it was printed.
//!
//! The examples print JSON between `~~~~` fences. Long strings are folded: at column 63 the
//! string goes on after a newline and two spaces, and a few long UDF or URI strings are broken
//! by a bare newline. Both are folds inside a string, and both are undone here; whitespace
//! between tokens is left alone. Envelope payloads carry the same folds in their bytes (the
//! reference digested and signed the folded text), so the same unfolding reads a payload.

/// Undo the folds of printed JSON: a line break inside a string is removed together with up to
/// two spaces of indentation on the next line.
pub fn unfold(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut in_string = false;
    let mut escaped = false;
    for (n, line) in text.split('\n').enumerate() {
        let line = if in_string {
            line.strip_prefix("  ").unwrap_or(line)
        } else {
            if n > 0 {
                out.push('\n');
            }
            line
        };
        for c in line.chars() {
            if escaped {
                escaped = false;
            } else if in_string && c == '\\' {
                escaped = true;
            } else if c == '"' {
                in_string = !in_string;
            }
        }
        out.push_str(line);
    }
    out
}

/// One JSON value printed in an example file.
#[derive(Debug, Clone)]
pub struct Printed {
    /// Which fenced block of the file (counting from 1) it is in.
    pub block: usize,
    pub value: serde_json::Value,
}

/// Every JSON object printed in an example file, in order. A fenced block may hold several
/// (a container's frames, each header followed by a note such as `[Empty trailer]`); text
/// that is not JSON (terminal sessions, hex dumps, notes) is passed over. A block whose object
/// does not parse is reported as an error with its position.
pub fn printed_objects(text: &str) -> Vec<Result<Printed, (usize, String)>> {
    let mut out = Vec::new();
    for (i, block) in text.split("~~~~").enumerate() {
        if i % 2 == 0 {
            continue;
        }
        let number = i / 2 + 1;
        let unfolded = unfold(block);
        let mut rest = unfolded.as_str();
        while let Some(start) = object_start(rest) {
            rest = &rest[start..];
            let mut stream = serde_json::Deserializer::from_str(rest).into_iter();
            match stream.next() {
                Some(Ok(value)) => {
                    out.push(Ok(Printed {
                        block: number,
                        value,
                    }));
                    rest = &rest[stream.byte_offset()..];
                }
                Some(Err(e)) => {
                    out.push(Err((number, e.to_string())));
                    break;
                }
                None => break,
            }
        }
    }
    out
}

/// Where the next top-level object starts: a `{` at the beginning of a line.
fn object_start(text: &str) -> Option<usize> {
    if text.starts_with('{') {
        return Some(0);
    }
    text.find("\n{").map(|at| at + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_kinds_of_fold_are_undone_and_only_inside_strings() {
        let printed = "{\n  \"A\":\"abc\n  def\",\n  \"B\":\"mcu://x@exa\nmple.com\",\n  \"C\":1}";
        let value: serde_json::Value = serde_json::from_str(&unfold(printed)).unwrap();
        assert_eq!(value["A"], "abcdef");
        assert_eq!(value["B"], "mcu://x@example.com");
        assert_eq!(value["C"], 1);
        // An escaped quote does not end the string.
        let escaped = "{\"A\":\"a\\\"b\n  c\"}";
        let value: serde_json::Value = serde_json::from_str(&unfold(escaped)).unwrap();
        assert_eq!(value["A"], "a\"bc");
    }

    #[test]
    fn several_objects_in_one_block_and_text_between() {
        let text = "intro\n~~~~\n{\"A\":1}\n\n[Empty trailer]\n{\"B\":\n  2}\n~~~~\nmore\n~~~~\n<cmd> x\n~~~~";
        let objects: Vec<_> = printed_objects(text)
            .into_iter()
            .map(Result::unwrap)
            .collect();
        assert_eq!(objects.len(), 2);
        assert_eq!(objects[1].value["B"], 2);
        assert!(objects.iter().all(|o| o.block == 1));
    }
}
