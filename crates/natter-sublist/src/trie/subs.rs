//! The subscriptions stored at one trie node for one kind (plain, or one queue group).

use std::collections::HashMap;
use std::hash::Hash;
use std::mem;

/// Above this many members a position index replaces the linear scan, so removing one of
/// many subscribers on a hot subject stays O(1).
const INDEX_ABOVE: usize = 16;

/// The members themselves. Most subjects have a single subscriber, and keeping it in the
/// node saves a match the miss on a separate allocation, which in a large trie is one
/// more trip to main memory.
enum Items<T> {
    One(T),
    Many(Vec<T>),
}

impl<T> Items<T> {
    fn as_slice(&self) -> &[T] {
        match self {
            Items::One(v) => std::slice::from_ref(v),
            Items::Many(v) => v,
        }
    }

    fn push(&mut self, value: T) {
        match self {
            Items::Many(v) if v.is_empty() => *self = Items::One(value),
            Items::Many(v) => v.push(value),
            Items::One(_) => {
                if let Items::One(first) = mem::replace(self, Items::Many(Vec::new())) {
                    let mut many = Vec::with_capacity(4);
                    many.push(first);
                    many.push(value);
                    *self = Items::Many(many);
                }
            }
        }
    }

    fn swap_remove(&mut self, i: usize) {
        match self {
            Items::One(_) => *self = Items::Many(Vec::new()),
            Items::Many(v) => {
                v.swap_remove(i);
                if v.len() == 1 {
                    if let Some(last) = v.pop() {
                        *self = Items::One(last);
                    }
                }
            }
        }
    }
}

/// A set of values kept as a dense slice, so a match copies it with one `extend`.
pub(crate) struct SubSet<T> {
    items: Items<T>,
    // Boxed so the many nodes without an index pay one pointer, not a whole empty map.
    #[allow(clippy::box_collection)]
    index: Option<Box<HashMap<T, usize>>>,
}

impl<T> Default for SubSet<T> {
    fn default() -> Self {
        Self {
            items: Items::Many(Vec::new()),
            index: None,
        }
    }
}

impl<T: Clone + Eq + Hash> SubSet<T> {
    fn position(&self, value: &T) -> Option<usize> {
        match &self.index {
            Some(index) => index.get(value).copied(),
            None => self.as_slice().iter().position(|v| v == value),
        }
    }

    /// Adds `value`; false if it was already present.
    pub(crate) fn insert(&mut self, value: T) -> bool {
        if self.position(&value).is_some() {
            return false;
        }
        let len = self.as_slice().len();
        if let Some(index) = &mut self.index {
            index.insert(value.clone(), len);
        } else if len == INDEX_ABOVE {
            let index = self
                .as_slice()
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
            if let Some(moved) = self.items.as_slice().get(i) {
                index.insert(moved.clone(), i);
            }
            if self.items.as_slice().len() <= INDEX_ABOVE / 2 {
                self.index = None;
            }
        }
        true
    }
}

impl<T> SubSet<T> {
    #[inline]
    pub(crate) fn as_slice(&self) -> &[T] {
        self.items.as_slice()
    }

    #[inline]
    pub(crate) fn is_empty(&self) -> bool {
        self.as_slice().is_empty()
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

    #[test]
    fn one_two_one_zero_members() {
        let mut s = SubSet::default();
        assert!(s.is_empty());
        assert!(s.insert(1u32));
        assert_eq!(s.as_slice(), [1]);
        assert!(s.insert(2));
        assert_eq!(s.as_slice(), [1, 2]);
        assert!(s.remove(&1));
        assert_eq!(s.as_slice(), [2]);
        assert!(!s.remove(&1));
        assert!(s.insert(3));
        assert!(s.remove(&3));
        assert_eq!(s.as_slice(), [2]);
        assert!(s.remove(&2));
        assert!(s.is_empty());
        assert!(!s.remove(&2));
        assert!(s.insert(2));
        assert_eq!(s.as_slice(), [2]);
    }
}
