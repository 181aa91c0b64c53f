//! The value tree a configuration file parses into, before it means anything.
//!
//! Every value and key keeps its [`Location`], so that the step that turns the tree into
//! [`Options`](super::Options) can point at the exact place of a wrong value.

use super::error::Location;

/// A parsed value.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// A quoted, bare or block string.
    String(String),
    /// An integer, size suffixes already applied (`1MB` is 1048576, `1K` is 1000).
    Integer(i64),
    /// A float (`1.5`).
    Float(f64),
    /// `true`/`false`/`yes`/`no`/`on`/`off`, any case.
    Bool(bool),
    /// An ISO 8601 Zulu date-time (`2016-05-04T18:53:41Z`), kept as written.
    Datetime(String),
    /// `[a, b]`.
    Array(Vec<Node>),
    /// `{ key: value }`.
    Map(Map),
}

impl Value {
    /// A short name of the type, for error messages.
    pub fn type_name(&self) -> &'static str {
        match self {
            Value::String(_) => "a string",
            Value::Integer(_) => "an integer",
            Value::Float(_) => "a float",
            Value::Bool(_) => "a boolean",
            Value::Datetime(_) => "a date",
            Value::Array(_) => "an array",
            Value::Map(_) => "a block",
        }
    }
}

/// A value and where it was written.
#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    /// The value.
    pub value: Value,
    /// Where the value starts (for a `$VARIABLE`, where the reference is).
    pub location: Location,
    /// The literal as written, for numbers with a suffix (`2m`), so a message can quote it.
    pub literal: Option<String>,
}

/// One `key: value` of a block.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    /// The key as written (nats-server matches keys case-insensitively).
    pub key: String,
    /// Where the key starts.
    pub key_location: Location,
    /// The value.
    pub value: Node,
    /// Whether a `$key` reference used this entry: such entries are variables, not fields,
    /// and are not reported as unknown.
    pub used_as_variable: bool,
}

/// A block: entries in the order they were written. A key written twice keeps its last value
/// and that value's place, but stays in the order where it was first written.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Map {
    entries: Vec<Entry>,
}

impl Map {
    /// An empty block.
    pub fn new() -> Self {
        Map::default()
    }

    /// All entries, in order.
    pub fn entries(&self) -> &[Entry] {
        &self.entries
    }

    /// The entry with exactly this key.
    pub fn get(&self, key: &str) -> Option<&Entry> {
        self.entries.iter().find(|e| e.key == key)
    }

    pub(crate) fn get_mut(&mut self, key: &str) -> Option<&mut Entry> {
        self.entries.iter_mut().find(|e| e.key == key)
    }

    /// All entries, in order, taken out of the block.
    pub fn into_entries(self) -> Vec<Entry> {
        self.entries
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether there is no entry.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Adds or replaces an entry.
    pub fn insert(&mut self, entry: Entry) {
        match self.get_mut(&entry.key) {
            Some(old) => {
                old.value = entry.value;
                old.key_location = entry.key_location;
                old.used_as_variable |= entry.used_as_variable;
            }
            None => self.entries.push(entry),
        }
    }
}
