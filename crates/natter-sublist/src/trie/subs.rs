//! The subscriptions stored at one trie node for one kind (plain, or one queue group).

use std::collections::HashMap;
use std::hash::Hash;

/// Above this many members a position index replaces the linear scan, so removing one of
/// many subscribers on a hot subject stays O(1).
const INDEX_ABOVE: usize = 16;

/// A set of values kept as a dense slice, so a match copies it with one `extend`.
pub(crate) struct SubSet<T> {
    items: Vec<T>,
    // Boxed so the many nodes without an index pay one pointer, not a whole empty map.
    #[allow(clippy::box_collection)]
    index: Option<Box<HashMap<T, usize>>>,
}

impl<T> Default for SubSet<T> {
    fn default() -> Self {
        Self {
            items: Vec::new(),
            index: None,
        }
    }
}

impl<T: Clone + Eq + Hash> SubSet<T> {
    fn position(&self, value: &T) -> Option<usize> {
        match &self.index {
            Some(index) => index.get(value).copied(),
            None => self.items.iter().position(|v| v == value),
        }
    }

    /// Adds `value`; false if it was already present.
    pub(crate) fn insert(&mut self, value: T) -> bool {
        if self.position(&value).is_some() {
            return false;
        }
        if let Some(index) = &mut self.index {
            index.insert(value.clone(), self.items.len());
        } else if self.items.len() == INDEX_ABOVE {
            let index = self
                .items
                .iter()
                .chain(std::iter::once(&value))
                .enumerate()
                .map(|(i, v)| (v.clone(), i))
                .collect();
            self.index = Some(Box::new(index));
        }
        self.items.push(value);
        true
    }

    /// Removes `value`; false if it was not present.
    pub(crate) fn remove(&mut self, value: &T) -> bool {
        let Some(i) = self.position(value) else {
            return false;
        };
        self.items.swap_remove(i);
        if let Some(index) = &mut self.index {
            index.remove(value);
            if let Some(moved) = self.items.get(i) {
                index.insert(moved.clone(), i);
            }
            if self.items.len() <= INDEX_ABOVE / 2 {
                self.index = None;
            }
        }
        true
    }
}

impl<T> SubSet<T> {
    pub(crate) fn as_slice(&self) -> &[T] {
        &self.items
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.items.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn set_semantics_survive_index_creation_and_removal() {
        let mut s = SubSet::default();
        for i in 0..100u32 {
            assert!(s.insert(i));
            assert!(!s.insert(i));
        }
        for i in (0..100u32).step_by(3) {
            assert!(s.remove(&i));
            assert!(!s.remove(&i));
        }
        let mut left: Vec<u32> = s.as_slice().to_vec();
        left.sort_unstable();
        let want: Vec<u32> = (0..100).filter(|i| i % 3 != 0).collect();
        assert_eq!(left, want);
        for i in want {
            assert!(s.remove(&i), "{i} should still be present");
        }
        assert!(s.is_empty());
        assert!(s.index.is_none());
    }
}
