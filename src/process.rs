//! State that belongs to one process, for hosts that fork.
//!
//! A forked child has only the thread that called `fork()`. A lock that
//! another thread of the parent held at that instant stays locked in the
//! child forever, and a fetch or queue that thread was part of never ends
//! there. So the child never touches the parent's mutable state: its first
//! call builds its own ([`PerProcess::get`]), found without any lock (an
//! atomic word and a slot that no thread of the parent can have touched).
//!
//! Only atomics and [`OnceLock`]s are used here. Each process builds its state
//! in a slot that it claims (a compare-and-swap of `pending` to its pid and
//! the next slot): the threads of one process wait for the one that claimed
//! (it is theirs, alive), while a child, seeing its parent's pid there,
//! claims the next slot, one that no thread of the parent can have begun.

use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};

/// Processes that can build state of their own: the first, and as many
/// generations of forked children (a child of a child...). Past that, a call
/// builds throwaway state for itself ([`Local::Own`]): slower, never stuck.
const SLOTS: usize = 8;

/// A `T` per process, built on first use in that process.
pub(crate) struct PerProcess<T> {
    /// `pid << 32 | slot + 1` of the state in use (complete); 0 before the first.
    current: AtomicU64,
    /// `pid << 32 | slot + 1` of the last slot claimed, complete or not.
    pending: AtomicU64,
    slots: [OnceLock<T>; SLOTS],
}

/// The state a call uses: its process's, or its own when no slot is left.
pub(crate) enum Local<'a, T> {
    Shared(&'a T),
    Own(T),
}

impl<T> std::ops::Deref for Local<'_, T> {
    type Target = T;

    fn deref(&self) -> &T {
        match self {
            Local::Shared(t) => t,
            Local::Own(t) => t,
        }
    }
}

fn pid() -> u32 {
    std::process::id()
}

fn word(pid: u32, slot: usize) -> u64 {
    (u64::from(pid) << 32) | (slot as u64 + 1)
}

/// The slot a non-zero `word` names.
fn index(word: u64) -> usize {
    ((word & 0xffff_ffff) as usize).saturating_sub(1)
}

/// The slot after the one `word` names (0 after none).
fn next(word: u64) -> usize {
    if word == 0 { 0 } else { index(word) + 1 }
}

impl<T> PerProcess<T> {
    /// Nothing built yet.
    pub(crate) const fn new() -> PerProcess<T> {
        PerProcess {
            current: AtomicU64::new(0),
            pending: AtomicU64::new(0),
            slots: [const { OnceLock::new() }; SLOTS],
        }
    }

    /// `value` as this process's state.
    pub(crate) fn with(value: T) -> PerProcess<T> {
        let p = PerProcess::new();
        let _ = p.slots[0].set(value);
        p.pending.store(word(pid(), 0), Ordering::Relaxed);
        p.current.store(word(pid(), 0), Ordering::Release);
        p
    }

    /// This process's state, built by `build` on its first use here. `build`
    /// is shown the parent's state, if there was one complete at the fork:
    /// it may take what it can without waiting (`Mutex::try_lock`), never
    /// what it would have to wait for.
    pub(crate) fn get(&self, build: impl FnOnce(Option<&T>) -> T) -> Local<'_, T> {
        let current = self.current.load(Ordering::Acquire);
        if current != 0 && (current >> 32) as u32 == pid() {
            if let Some(t) = self.slot(current) {
                return Local::Shared(t);
            }
        }
        let parent = self.slot(current);
        self.claim(|| build(parent))
    }

    /// The state built by any process, this one or an ancestor (for state
    /// that is immutable or forks safely by itself); built by `build` when
    /// none was complete at the fork.
    pub(crate) fn get_inherited(&self, build: impl FnOnce() -> T) -> Local<'_, T> {
        let current = self.current.load(Ordering::Acquire);
        if let Some(t) = self.slot(current) {
            return Local::Shared(t);
        }
        self.claim(build)
    }

    /// The state of this process: built by `build` in a slot this call
    /// claims, or by the thread of this process that claimed one first (this
    /// call then waits for it, as `OnceLock` waits).
    fn claim(&self, build: impl FnOnce() -> T) -> Local<'_, T> {
        let me = pid();
        let mut build = Some(build);
        loop {
            let pending = self.pending.load(Ordering::Acquire);
            let mine = pending != 0 && (pending >> 32) as u32 == me;
            // The slot after every slot claimed so far, in this process or
            // (before the fork) in its ancestors.
            let slot = if mine { index(pending) } else { next(pending) };
            if slot >= SLOTS {
                return Local::Own(build.take().map_or_else(|| unreachable!(), |b| b()));
            }
            let claimed = mine
                || self
                    .pending
                    .compare_exchange(pending, word(me, slot), Ordering::AcqRel, Ordering::Acquire)
                    .is_ok();
            if !claimed {
                continue; // another thread claimed first: wait for its slot
            }
            let built = self.slots[slot].get_or_init(|| match build.take() {
                Some(b) => b(),
                None => unreachable!("build runs once"),
            });
            self.current.store(word(me, slot), Ordering::Release);
            return Local::Shared(built);
        }
    }

    /// The complete state `word` names, if any.
    fn slot(&self, word: u64) -> Option<&T> {
        if word == 0 {
            return None;
        }
        self.slots.get(index(word))?.get()
    }
}

impl<T> Default for PerProcess<T> {
    fn default() -> PerProcess<T> {
        PerProcess::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// As a child sees a `PerProcess` whose state its parent built.
    fn from_parent<T>(p: &PerProcess<T>) {
        let parent = u64::from(pid().wrapping_add(1)) << 32;
        for w in [&p.current, &p.pending] {
            let v = w.load(Ordering::Relaxed);
            w.store(parent | (v & 0xffff_ffff), Ordering::Relaxed);
        }
    }

    #[test]
    fn one_state_per_process_built_once() {
        let p = PerProcess::with(1);
        assert_eq!(*p.get(|_| unreachable!()), 1);
        from_parent(&p);
        // A child builds its own, once, shown its parent's; an inherited view
        // keeps the parent's.
        assert_eq!(*p.get_inherited(|| unreachable!()), 1);
        assert_eq!(*p.get(|parent| parent.unwrap() + 1), 2);
        assert_eq!(*p.get(|_| unreachable!()), 2);
    }

    #[test]
    fn a_slot_begun_in_the_parent_is_never_waited_for() {
        // The parent's thread claimed slot 0 and was building it at the fork:
        // `pending` names it and `current` is 0 in the child.
        let p: PerProcess<u32> = PerProcess::new();
        let parent = u64::from(pid().wrapping_add(1)) << 32;
        p.pending.store(parent | 1, Ordering::Relaxed);
        assert_eq!(*p.get_inherited(|| 7), 7);
        assert!(p.slots[0].get().is_none());
        assert_eq!(*p.get_inherited(|| unreachable!()), 7);
    }

    #[test]
    fn past_the_last_slot_each_call_builds_its_own() {
        let p = PerProcess::with(0);
        for generation in 1..SLOTS as u32 {
            from_parent(&p);
            assert_eq!(*p.get(|_| generation), generation);
        }
        from_parent(&p);
        assert!(matches!(p.get(|_| 99), Local::Own(99)));
        assert!(matches!(p.get(|_| 100), Local::Own(100)));
    }

    #[test]
    fn threads_racing_for_the_first_state_share_one() {
        // More threads than slots: all wait for the one that claimed first.
        let p: PerProcess<usize> = PerProcess::new();
        let seen: Vec<usize> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..16)
                .map(|i| {
                    let p = &p;
                    s.spawn(move || *p.get(|_| i))
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        // A thread that lost the race uses the winner's state.
        let first = *p.get(|_| unreachable!());
        assert!(seen.iter().all(|&v| v == first), "{seen:?}");
        assert!(p.slots[1].get().is_none(), "one state built");
    }
}
