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
    /// Claims alive (calls in progress, holding a slot or not), and the
    /// most there may be: new claims wait while it is reached.
    claims: usize,
    max_claims: usize,
    /// Tickets of the callers waiting, oldest first, each with whether it
    /// is for a new claim.
    queue: VecDeque<(u64, bool)>,
    next_ticket: u64,
}

/// How often a waiting caller looks at its stop condition.
const STOP_CHECK: Duration = Duration::from_millis(100);

impl State {
    /// Whether `ticket` (for a `new` claim or not) may take a free slot
    /// now: first in line, or behind new claims only while the claims are
    /// all taken (those cannot start, and a call in progress must not wait
    /// behind them for its turn back: it would wait forever).
    fn turn_of(&self, ticket: u64, new: bool) -> bool {
        let full = self.claims >= self.max_claims;
        if self.free == 0 || (new && full) {
            return false;
        }
        for &(t, t_new) in &self.queue {
            if t == ticket {
                return true;
            }
            if !(t_new && full) {
                return false;
            }
        }
        false
    }
}

impl CpuSlots {
    /// `slots` slots (at least one), and at most `max_claims` claims alive
    /// at once (at least `slots`): a claim that gave its slot up while it
    /// blocks still counts, so this bounds what the calls in progress may
    /// hold between them (their memory), however many are blocked.
    pub fn new(slots: usize, max_claims: usize) -> Arc<Self> {
        Arc::new(CpuSlots {
            state: Mutex::new(State {
                claims: 0,
                max_claims: max_claims.max(slots.max(1)),
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
        self.wait_turn(until, stop, true)
            .then(|| CpuSlot::new(Arc::clone(self)))
    }

    /// A place in line without waiting on this thread: a caller that
    /// must not hold its thread while it waits (a watcher's mailbox task,
    /// parked between looks) asks [`Ticket::try_take`] now and then. It
    /// counts as waiting from now on, so holders give their turn up to it.
    pub fn ticket(self: &Arc<Self>) -> Ticket {
        let mut state = self.lock();
        let number = state.next_ticket;
        state.next_ticket += 1;
        state.queue.push_back((number, true));
        Ticket {
            slots: Arc::clone(self),
            number,
        }
    }

    /// Queues a ticket and waits until it is first in line and a slot is
    /// free (and, for a `new` claim, the claims are not all taken); takes
    /// the slot. `false` when given up.
    fn wait_turn(&self, until: Option<Instant>, stop: &dyn Fn() -> bool, new: bool) -> bool {
        let mut state = self.lock();
        let ticket = state.next_ticket;
        state.next_ticket += 1;
        state.queue.push_back((ticket, new));
        loop {
            if state.turn_of(ticket, new) {
                state.queue.retain(|&(t, _)| t != ticket);
                state.free -= 1;
                state.claims += usize::from(new);
                // The next in line may have a slot too.
                self.turn.notify_all();
                return true;
            }
            let now = Instant::now();
            let gave_up = stop() || until.is_some_and(|u| now >= u);
            if gave_up {
                state.queue.retain(|&(t, _)| t != ticket);
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

    /// A claim ended.
    fn end_claim(&self) {
        let mut state = self.lock();
        state.claims = state.claims.saturating_sub(1);
        self.turn.notify_all();
    }

    /// Claims alive now.
    pub fn claims(&self) -> usize {
        self.lock().claims
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

/// A place in the line for one of [`CpuSlots`], taken without waiting
/// ([`CpuSlots::ticket`]); dropped, it leaves the line.
#[derive(Debug)]
pub struct Ticket {
    slots: Arc<CpuSlots>,
    number: u64,
}

impl Ticket {
    /// The slot, if this ticket is first in line and a slot is free.
    pub fn try_take(&self) -> Option<CpuSlot> {
        let mut state = self.slots.lock();
        if !state.turn_of(self.number, true) {
            return None;
        }
        state.queue.retain(|&(t, _)| t != self.number);
        state.free -= 1;
        state.claims += 1;
        self.slots.turn.notify_all();
        Some(CpuSlot::new(Arc::clone(&self.slots)))
    }
}

impl Drop for Ticket {
    fn drop(&mut self) {
        let mut state = self.slots.lock();
        // Gone already when its slot was taken.
        state.queue.retain(|&(t, _)| t != self.number);
        self.slots.turn.notify_all();
    }
}

/// A caller's claim on one of [`CpuSlots`]: held while it runs wasm, given
/// up while it blocks or when its turn is over; given back when the last
/// clone is dropped. Clones are handles to the one claim (the store's
/// epoch callback, its transport and its sleeps each hold one).
#[derive(Debug, Clone)]
pub struct CpuSlot(Arc<Claim>);

#[derive(Debug)]
struct Claim {
    slots: Arc<CpuSlots>,
    held: std::sync::atomic::AtomicBool,
}

impl CpuSlot {
    fn new(slots: Arc<CpuSlots>) -> Self {
        CpuSlot(Arc::new(Claim {
            slots,
            held: std::sync::atomic::AtomicBool::new(true),
        }))
    }

    /// Whether the slot is held now.
    pub fn is_held(&self) -> bool {
        self.0.held.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// At an epoch tick: when another caller waits, gives the slot up and
    /// queues for it again, behind them, until `until`; a slot given up
    /// while the call slept is queued for here too. `false` when the slot
    /// did not come back by then (the caller's time is up).
    pub fn yield_turn(&self, until: Option<Instant>) -> bool {
        if self.is_held() && !self.0.slots.contended() {
            return true;
        }
        self.give_up();
        self.take_again(until)
    }

    /// Runs `blocking` (I/O that waits on a peer) with the slot given up,
    /// then waits for it again until `until`.
    pub fn release_while<R>(&self, blocking: impl FnOnce() -> R, until: Option<Instant>) -> R {
        self.give_up();
        let out = blocking();
        self.take_again(until);
        out
    }

    /// Gives the slot up (if held) without queueing for it again: the next
    /// [`CpuSlot::yield_turn`] does (a sleep gives it up this way).
    pub fn give_up(&self) {
        if self.0.held.swap(false, std::sync::atomic::Ordering::SeqCst) {
            self.0.slots.release();
        }
    }

    fn take_again(&self, until: Option<Instant>) -> bool {
        if self.is_held() {
            return true;
        }
        let held = self.0.slots.wait_turn(until, &|| false, false);
        self.0.held.store(held, std::sync::atomic::Ordering::SeqCst);
        held
    }
}

impl Drop for Claim {
    fn drop(&mut self) {
        if *self.held.get_mut() {
            self.slots.release();
        }
        self.slots.end_claim();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[test]
    fn slots_are_given_in_turn_and_back_when_dropped() {
        let slots = CpuSlots::new(1, 4);
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
        let slots = CpuSlots::new(1, 4);
        let hog = slots.acquire(None, &|| false).unwrap();
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
    fn tickets_wait_in_line_without_a_thread() {
        let slots = CpuSlots::new(1, 4);
        let first = slots.ticket();
        let second = slots.ticket();
        assert!(slots.contended());
        assert!(second.try_take().is_none(), "not its turn");
        let slot = first.try_take().expect("first in line, a slot free");
        assert!(second.try_take().is_none(), "no slot free");
        drop(slot);
        let slot = second.try_take().expect("its turn now");
        drop(first);
        assert!(!slots.contended());
        // A ticket dropped before its turn leaves the line.
        let third = slots.ticket();
        let fourth = slots.ticket();
        drop(third);
        drop(slot);
        assert!(fourth.try_take().is_some());
    }

    #[test]
    fn claims_in_progress_are_bounded_even_when_blocked() {
        // Two claims at most: both blocked (slots given up), a third call
        // cannot start however free the slots are.
        let slots = CpuSlots::new(2, 2);
        let a = slots.acquire(None, &|| false).unwrap();
        let b = slots.ticket().try_take().unwrap();
        a.give_up();
        b.give_up();
        assert_eq!(slots.free(), 2);
        let third = slots.ticket();
        assert!(third.try_take().is_none(), "two claims are in progress");
        let soon = Instant::now() + Duration::from_millis(50);
        assert!(slots.acquire(Some(soon), &|| false).is_none());
        // A blocked claim takes its slot back whatever the count.
        assert!(a.yield_turn(None));
        drop(a);
        assert_eq!(slots.claims(), 1);
        assert!(third.try_take().is_some(), "a claim ended");
    }

    #[test]
    fn blocking_work_runs_without_the_slot() {
        let slots = CpuSlots::new(1, 4);
        let slot = slots.acquire(None, &|| false).unwrap();
        let free_inside = slot.release_while(|| slots.free(), None);
        assert_eq!(free_inside, 1, "the slot was free while the call blocked");
        assert!(slot.is_held());
        assert_eq!(slots.free(), 0);
        // Given up by a sleep, it is queued for again at the next tick.
        let clone = slot.clone();
        clone.give_up();
        assert_eq!(slots.free(), 1);
        assert!(slot.yield_turn(None));
        assert_eq!(slots.free(), 0);
        drop(clone);
        assert_eq!(slots.free(), 0, "the claim lives while a handle does");
        drop(slot);
        assert_eq!(slots.free(), 1);
    }
}
