//! The service's tables of clients, doors and sockets: values under small numbers that the
//! epoll tokens carry, reused once freed.

/// Values under small reusable numbers (the epoll tokens name them), with the free numbers kept,
/// so adding and counting cost the same whatever the number of sockets.
pub(super) struct Slots<T> {
    items: Vec<Option<T>>,
    free: Vec<usize>,
    live: usize,
}

impl<T> Slots<T> {
    pub(super) fn new() -> Slots<T> {
        Slots {
            items: Vec::new(),
            free: Vec::new(),
            live: 0,
        }
    }

    /// The number the next [`Slots::insert`] will use.
    pub(super) fn next_index(&self) -> usize {
        self.free.last().copied().unwrap_or(self.items.len())
    }

    /// Room for one more value (and its number on the free list once removed); false when the
    /// memory cannot be had.
    pub(super) fn try_reserve_one(&mut self) -> bool {
        (!self.free.is_empty() || self.items.try_reserve(1).is_ok())
            && self
                .free
                .try_reserve((self.items.len() + 1).saturating_sub(self.free.len()))
                .is_ok()
    }

    pub(super) fn insert(&mut self, v: T) -> usize {
        let i = match self.free.pop() {
            Some(i) => i,
            None => {
                self.items.push(None);
                self.items.len() - 1
            }
        };
        self.items[i] = Some(v);
        self.live += 1;
        i
    }

    pub(super) fn get(&self, i: usize) -> Option<&T> {
        self.items.get(i).and_then(Option::as_ref)
    }

    pub(super) fn get_mut(&mut self, i: usize) -> Option<&mut T> {
        self.items.get_mut(i).and_then(Option::as_mut)
    }

    pub(super) fn remove(&mut self, i: usize) -> Option<T> {
        let v = self.items.get_mut(i).and_then(Option::take);
        if v.is_some() {
            self.free.push(i);
            self.live -= 1;
        }
        v
    }

    pub(super) fn is_empty(&self) -> bool {
        self.live == 0
    }

    pub(super) fn len(&self) -> usize {
        self.live
    }
}
