//! CPU time shared fairly between plugin calls that run at once in one
//! process (`wasimap watch` runs every account's calls in one). A call
//! runs wasm only while it holds one of a few [`CpuSlots`]; slots are
//! handed out first come, first served; a call that holds one gives it up
//! at the next epoch tick when another call waits (and queues again
//! behind it), and whenever it blocks in the host (reading from or
//! writing to its server, connecting), so a call stalled by a hostile
//! server or computing without end costs the others at most a tick of
//! waiting per turn, not its whole time limit.

use std::collections::VecDeque;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

/// A number of CPU slots, fair to everyone who waits for one.
#[derive(Debug)]
pub struct CpuSlots {
    state: Mutex<State>,
    turn: Condvar,
}

#[derive(Debug)]
struct State {
    free: usize,
    /// Tickets of the callers waiting, oldest first.
    queue: VecDeque<u64>,
    next_ticket: u64,
}

/// How often a waiting caller looks at its stop condition.
const STOP_CHECK: Duration = Duration::from_millis(100);

impl CpuSlots {
    /// `slots` slots (at least one).
    pub fn new(slots: usize) -> Arc<Self> {
        Arc::new(CpuSlots {
            state: Mutex::new(State {
                free: slots.max(1),
                queue: VecDeque::new(),
                next_ticket: 0,
            }),
            turn: Condvar::new(),
        })
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Waits for a slot, in turn, until `until` or until `stop` says so;
    /// the slot, or `None` if it did not come by then.
    pub fn acquire(self: &Arc<Self>, until: Option<Instant>, stop: &dyn Fn() -> bool) -> Option<CpuSlot> {
        self.wait_turn(until, stop).then(|| CpuSlot {
            slots: Arc::clone(self),
            held: true,
        })
    }

    /// Queues a ticket and waits until it is first in line and a slot is
    /// free; takes the slot. `false` when given up.
    fn wait_turn(&self, until: Option<Instant>, stop: &dyn Fn() -> bool) -> bool {
        let mut state = self.lock();
        let ticket = state.next_ticket;
        state.next_ticket += 1;
        state.queue.push_back(ticket);
        loop {
            if state.free > 0 && state.queue.front() == Some(&ticket) {
                state.queue.pop_front();
                state.free -= 1;
                // The next in line may have a slot too.
                self.turn.notify_all();
                return true;
            }
            let now = Instant::now();
            let gave_up = stop() || until.is_some_and(|u| now >= u);
            if gave_up {
                state.queue.retain(|&t| t != ticket);
                self.turn.notify_all();
                return false;
            }
            let wait = until.map_or(STOP_CHECK, |u| (u - now).min(STOP_CHECK));
            state = self
                .turn
                .wait_timeout(state, wait)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
    }

    fn release(&self) {
        self.lock().free += 1;
        self.turn.notify_all();
    }

    /// Whether someone waits for a slot.
    pub fn contended(&self) -> bool {
        !self.lock().queue.is_empty()
    }

    /// Slots free now.
    pub fn free(&self) -> usize {
        self.lock().free
    }
}

/// A caller's claim on one of [`CpuSlots`]: held while it runs wasm, given
/// up while it blocks or when its turn is over; given back when dropped.
#[derive(Debug)]
pub struct CpuSlot {
    slots: Arc<CpuSlots>,
    held: bool,
}

impl CpuSlot {
    /// Whether the slot is held now.
    pub fn is_held(&self) -> bool {
        self.held
    }

    /// At an epoch tick: when another caller waits, gives the slot up and
    /// queues for it again, behind them, until `until`. `false` when the
    /// slot did not come back by then (the caller's time is up).
    pub fn yield_turn(&mut self, until: Option<Instant>) -> bool {
        if self.held && !self.slots.contended() {
            return true;
        }
        self.reacquire_after(|| (), until)
    }

    /// Runs `blocking` (I/O that waits on a peer) with the slot given up,
    /// then waits for it again until `until`.
    pub fn release_while<R>(&mut self, blocking: impl FnOnce() -> R, until: Option<Instant>) -> R {
        let mut out = None;
        self.reacquire_after(|| out = Some(blocking()), until);
        out.expect("the closure ran")
    }

    fn reacquire_after(&mut self, between: impl FnOnce(), until: Option<Instant>) -> bool {
        if self.held {
            self.slots.release();
            self.held = false;
        }
        between();
        self.held = self.slots.wait_turn(until, &|| false);
        self.held
    }
}

impl Drop for CpuSlot {
    fn drop(&mut self) {
        if self.held {
            self.slots.release();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[test]
    fn slots_are_given_in_turn_and_back_when_dropped() {
        let slots = CpuSlots::new(1);
        let first = slots.acquire(None, &|| false).unwrap();
        assert_eq!(slots.free(), 0);
        // Nobody else can have it until it is given back.
        let soon = Instant::now() + Duration::from_millis(50);
        assert!(slots.acquire(Some(soon), &|| false).is_none());
        assert!(!slots.contended(), "a caller that gave up leaves the line");
        drop(first);
        assert_eq!(slots.free(), 1);
        assert!(
            slots.acquire(None, &|| true).is_some(),
            "a free slot is taken before stop is asked"
        );
    }

    #[test]
    fn a_holder_yields_to_a_waiter_at_its_tick_and_queues_behind_it() {
        let slots = CpuSlots::new(1);
        let mut hog = slots.acquire(None, &|| false).unwrap();
        // Without waiters, a tick changes nothing.
        assert!(hog.yield_turn(None));
        let ran = Arc::new(AtomicUsize::new(0));
        let waiter = {
            let (slots, ran) = (slots.clone(), ran.clone());
            std::thread::spawn(move || {
                let _slot = slots.acquire(None, &|| false).unwrap();
                ran.fetch_add(1, Ordering::SeqCst);
            })
        };
        let end = Instant::now() + Duration::from_secs(10);
        while !slots.contended() {
            assert!(Instant::now() < end, "the waiter queued");
            std::thread::sleep(Duration::from_millis(1));
        }
        // At its next tick the hog gives the slot up, the waiter runs, and
        // the hog has it back after.
        assert!(hog.yield_turn(None));
        assert!(hog.is_held());
        waiter.join().unwrap();
        assert_eq!(ran.load(Ordering::SeqCst), 1);
    }

    #[test]
    fn blocking_work_runs_without_the_slot() {
        let slots = CpuSlots::new(1);
        let mut slot = slots.acquire(None, &|| false).unwrap();
        let free_inside = slot.release_while(|| slots.free(), None);
        assert_eq!(free_inside, 1, "the slot was free while the call blocked");
        assert!(slot.is_held());
        assert_eq!(slots.free(), 0);
    }
}
