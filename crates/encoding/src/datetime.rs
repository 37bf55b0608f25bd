//! Dates in Mesh JSON: RFC 3339 text, e.g. `2021-10-25T15:49:07Z` (protocol-09 §5.4).
//! Use as `#[serde(with = "mesh_encoding::datetime")]` on `time::OffsetDateTime` fields.

use serde::{Deserialize, Deserializer, Serializer};
use time::format_description::well_known::Rfc3339;
use time::{OffsetDateTime, UtcOffset};

use crate::EncodingError;

/// Format in UTC with a `Z` suffix and whole seconds, as the published data does.
pub fn format(t: OffsetDateTime) -> String {
    let t = t
        .to_offset(UtcOffset::UTC)
        .replace_nanosecond(0)
        .unwrap_or(t);
    t.format(&Rfc3339).unwrap_or_default()
}

pub fn parse(text: &str) -> Result<OffsetDateTime, EncodingError> {
    OffsetDateTime::parse(text.trim(), &Rfc3339)
        .map_err(|_| EncodingError::DateTime(text.to_string()))
}

pub fn serialize<S: Serializer>(t: &OffsetDateTime, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(&format(*t))
}

pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<OffsetDateTime, D::Error> {
    parse(&String::deserialize(deserializer)?).map_err(serde::de::Error::custom)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let t = parse("2021-10-25T15:49:07Z").unwrap();
        assert_eq!(format(t), "2021-10-25T15:49:07Z");
        assert_eq!(
            format(parse("2021-10-25T17:49:07+02:00").unwrap()),
            "2021-10-25T15:49:07Z"
        );
        assert!(parse("25/10/2021").is_err());
    }
}
