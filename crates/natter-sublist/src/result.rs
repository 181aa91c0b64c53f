//! The answer to a match: plain subscribers plus the members of each queue group.

/// Every subscription whose subject matches a published literal subject.
///
/// A message goes to every entry of `plain` and to one member of each queue group. A value
/// appears once per matching subscription, so a value subscribed on both `foo.*` and
/// `foo.>` appears twice for `foo.bar`. No queue group in `queues` is empty, and no two
/// share a name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Matches<T> {
    /// Subscriptions without a queue group.
    pub plain: Vec<T>,
    /// Queue subscriptions, one entry per queue group name.
    pub queues: Vec<QueueMatch<T>>,
}

/// The matching members of one queue group.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QueueMatch<T> {
    /// The queue group name, as given at subscribe time.
    pub name: Box<[u8]>,
    /// The matching subscriptions in this group; never empty.
    pub members: Vec<T>,
}

impl<T> Default for Matches<T> {
    fn default() -> Self {
        Self {
            plain: Vec::new(),
            queues: Vec::new(),
        }
    }
}

impl<T> Matches<T> {
    /// True when nothing matched.
    pub fn is_empty(&self) -> bool {
        self.plain.is_empty() && self.queues.is_empty()
    }

    /// How many subscriptions matched: plain ones plus every member of every group.
    pub fn len(&self) -> usize {
        self.plain.len() + self.queues.iter().map(|q| q.members.len()).sum::<usize>()
    }

    /// The queue group called `name`, if any of its members matched.
    pub fn queue(&self, name: &[u8]) -> Option<&QueueMatch<T>> {
        self.queues.iter().find(|q| &*q.name == name)
    }

    fn queue_slot(&mut self, name: &[u8]) -> &mut Vec<T> {
        let i = match self.queues.iter().position(|q| &*q.name == name) {
            Some(i) => i,
            None => {
                self.queues.push(QueueMatch {
                    name: name.into(),
                    members: Vec::new(),
                });
                self.queues.len() - 1
            }
        };
        &mut self.queues[i].members
    }
}

impl<T: Clone> Matches<T> {
    /// Appends `members` of the group `name`, merging with an existing group of that name.
    pub(crate) fn extend_queue(&mut self, name: &[u8], members: &[T]) {
        if !members.is_empty() {
            self.queue_slot(name).extend_from_slice(members);
        }
    }

    /// A copy with one more subscription; cached results are shared, so they are never
    /// changed in place.
    pub(crate) fn with_added(&self, queue: Option<&[u8]>, value: &T) -> Self {
        let mut next = self.clone();
        match queue {
            None => next.plain.push(value.clone()),
            Some(name) => next.queue_slot(name).push(value.clone()),
        }
        next
    }
}

impl<T: Clone + PartialEq> Matches<T> {
    /// A copy with one occurrence of the subscription gone, or `None` if it is not here.
    pub(crate) fn without(&self, queue: Option<&[u8]>, value: &T) -> Option<Self> {
        let mut next = self.clone();
        match queue {
            None => {
                let i = next.plain.iter().position(|v| v == value)?;
                next.plain.remove(i);
            }
            Some(name) => {
                let g = next.queues.iter().position(|q| &*q.name == name)?;
                let members = &mut next.queues[g].members;
                let i = members.iter().position(|v| v == value)?;
                members.remove(i);
                if members.is_empty() {
                    next.queues.remove(g);
                }
            }
        }
        Some(next)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn add_and_remove_keep_groups_nonempty_and_unique() {
        let m: Matches<u32> = Matches::default();
        let m = m
            .with_added(Some(b"q"), &1)
            .with_added(Some(b"q"), &2)
            .with_added(None, &3);
        assert_eq!(m.queues.len(), 1);
        assert_eq!(m.queue(b"q").map(|q| q.members.clone()), Some(vec![1, 2]));
        assert_eq!(m.len(), 3);
        let m = m
            .without(Some(b"q"), &1)
            .and_then(|m| m.without(Some(b"q"), &2));
        let m = m.expect("both members were present");
        assert!(m.queues.is_empty());
        assert_eq!(m.plain, vec![3]);
        assert!(m.without(None, &9).is_none());
        assert!(m.without(Some(b"other"), &3).is_none());
    }
}
