//! Stored values: validated, minified JSON text.

use std::sync::Arc;

/// One stored JSON value as validated, minified JSON text (object member order preserved).
///
/// Commands carry values to store as `Value`s; top-level keys and sessions with many keys keep
/// them so (cloning is a reference-count increment), while small sessions copy the text into
/// their packed block (`session::Packed`). Gets hand out the text itself (`ValueSink`). Only the
/// protocol layer (and dataset loading) creates values, after validating the JSON.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Value(Arc<str>);

impl Value {
    /// Wraps JSON text that the caller has already validated and minified.
    pub fn from_json_unchecked(json: &str) -> Self {
        Self(Arc::from(json))
    }

    /// The JSON text.
    pub fn as_json(&self) -> &str {
        &self.0
    }

    /// Bytes of JSON text, for memory accounting.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// True for the empty string (never a valid value; present for clippy's `len_without_is_empty`).
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}
