//! # mesh-dare
//!
//! Data At Rest Encryption (draft-hallambaker-mesh-dare-12) for the Mathematical Mesh:
//!
//! * [`envelope`] — signed and/or encrypted envelopes `[header, payload, trailer]` (§3, §5);
//! * [`crypt`] — key exchange, key wrap and payload encryption (§3.4);
//! * [`container`] with [`frame`] and [`merkle`] — append-only containers (§4, Appendix B, C);
//! * [`catalog`] and [`spool`] — the Mesh's catalogs and spools on top of containers
//!   (schema-08 §4–5, dare-12 §7).
//!
//! Where the draft text and the published data disagree, the data wins and the module says so.

#![forbid(unsafe_code)]

pub mod catalog;
pub mod catalog_index;
pub mod catalog_state;
pub mod container;
pub mod crypt;
pub mod envelope;
mod error;
pub mod frame;
pub mod keys;
pub mod merkle;
pub mod passphrase;
pub mod schema;
pub mod spool;

pub use container::{AppendOptions, Container, ContainerType, Mode};
pub use envelope::{DareEnvelope, EnvelopeOptions, Verification};
pub use error::{DareError, Result};
pub use keys::{keys_in_payload, KeyRing};
pub use schema::{ContentMeta, DareHeader, DareTrailer, KeyParameters};
