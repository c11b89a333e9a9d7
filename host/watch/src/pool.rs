//! A few threads for any number of watched mailboxes: worker threads run
//! the steps of the mailboxes' tasks (connect, look for new mail, hand out
//! batches), and one poller thread holds every task that waits (a session
//! in IDLE or between two polls, a reconnect backoff, a batch's retry
//! pause) until its connection is readable or its time has come. A
//! waiting mailbox costs its session's memory and one `pollfd`, no
//! thread.
//!
//! Steps block (the sessions are the core's blocking driver), but only
//! for what a command takes, bounded by the read timeout, or for a plugin
//! call and its turn on the CPU; never for a wait. A step blocked by a
//! hostile server (a stalled read) must not hold back another account's
//! mail, so the pool grows: when a task has been queued for
//! [`GROW_AFTER`] with no worker free, the poller starts another worker,
//! up to one per task (a task is on one worker at a time); a worker above
//! the base count ends when it finds no work while another worker already
//! waits for some, or after [`IDLE_EXIT`] without work.

use std::collections::VecDeque;
use std::os::fd::RawFd;
use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Condvar, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

/// Why a task's step runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Woken {
    /// The task is new, or its last step asked to go on.
    Run,
    /// The connection it waits on is readable (or closed).
    Ready,
    /// Its time came.
    Timer,
    /// The watcher is stopping: end the task.
    Stop,
}

/// What a step asks for next.
pub enum Next<T> {
    /// Another step at once.
    Run(T),
    /// Wait until `fd` is readable or `until`, whichever comes first.
    Park {
        /// The task.
        task: T,
        /// The connection to watch; `None` waits for the time only.
        fd: Option<RawFd>,
        /// When to run it anyway.
        until: Instant,
    },
    /// The task is over.
    Done,
}

struct Parked<T> {
    task: T,
    fd: Option<RawFd>,
    until: Instant,
}

struct Shared<T> {
    /// Tasks to step, with when they were queued.
    queue: Mutex<VecDeque<(T, Woken, Instant)>>,
    queued: Condvar,
    parked: Mutex<Vec<Parked<T>>>,
    /// Tasks not yet done.
    live: AtomicUsize,
    /// A thread could not be started: every thread leaves, the tasks are
    /// dropped (their sessions closed).
    abandoned: AtomicBool,
    panics: AtomicUsize,
    /// Written to interrupt the poller's `poll` (a new parked task, the end).
    wake_read: RawFd,
    wake_write: RawFd,
    /// Workers running, and how many of them wait for a task.
    workers: AtomicUsize,
    idle: AtomicUsize,
    /// Workers kept however idle, and the most there may be.
    base: usize,
    max: usize,
    /// Workers' stack size.
    stack: usize,
}

/// How long a queued task may wait with every worker busy before the
/// poller starts another worker: short steps (a command, a quick call)
/// finish well within it, so a burst of them grows nothing.
pub const GROW_AFTER: Duration = Duration::from_millis(100);

/// How long a worker above the base count waits for a task before it
/// ends.
pub const IDLE_EXIT: Duration = Duration::from_secs(5);

/// The longest the poller sleeps without looking at `stop`: the stop flag
/// is set by a signal handler, which cannot wake it.
const STOP_CHECK: Duration = Duration::from_millis(200);

fn lock<X>(m: &Mutex<X>) -> MutexGuard<'_, X> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl<T> Shared<T> {
    fn wake_poller(&self) {
        // SAFETY: a one-byte write to our own non-blocking pipe; a full
        // pipe already wakes the poller.
        unsafe { libc::write(self.wake_write, [1u8].as_ptr().cast(), 1) };
    }

    fn enqueue(&self, task: T, woken: Woken) {
        lock(&self.queue).push_back((task, woken, Instant::now()));
        self.queued.notify_one();
    }

    /// Whether a queued task has waited [`GROW_AFTER`] with no worker
    /// free, and another worker may start; and when to look again if a
    /// task waits but not that long yet.
    fn needs_worker(&self) -> (bool, Option<Duration>) {
        let queue = lock(&self.queue);
        let Some((_, _, since)) = queue.front() else {
            return (false, None);
        };
        if self.idle.load(Ordering::SeqCst) > 0 || self.workers.load(Ordering::SeqCst) >= self.max {
            return (false, None);
        }
        let waited = since.elapsed();
        (waited >= GROW_AFTER, Some(GROW_AFTER.saturating_sub(waited)))
    }

    fn finish(&self) {
        if self.live.fetch_sub(1, Ordering::SeqCst) == 1 {
            // The last one: let every thread see it.
            let _guard = lock(&self.queue);
            self.queued.notify_all();
            self.wake_poller();
        }
    }
}

/// Runs `tasks` to their end on `workers` threads (each with a stack of
/// `stack` bytes; more while steps block, up to one per task) and one
/// poller; `stop` is asked at least every 200 ms, and once it says so
/// every parked task is woken with [`Woken::Stop`]. Returns how many
/// steps panicked (each ends its task).
///
/// # Errors
/// The threads or the wake pipe could not be made.
pub fn run<T: Send>(
    tasks: Vec<T>,
    workers: usize,
    stack: usize,
    stop: &(dyn Fn() -> bool + Sync),
    step: &(dyn Fn(T, Woken) -> Next<T> + Sync),
) -> std::io::Result<usize> {
    let mut fds = [0; 2];
    // SAFETY: `fds` has room for the two descriptors.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_NONBLOCK | libc::O_CLOEXEC) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    let base = workers.max(1);
    let start = Instant::now();
    let shared = Shared {
        live: AtomicUsize::new(tasks.len()),
        max: base.max(tasks.len()),
        base,
        stack,
        workers: AtomicUsize::new(0),
        idle: AtomicUsize::new(0),
        queue: Mutex::new(tasks.into_iter().map(|t| (t, Woken::Run, start)).collect()),
        queued: Condvar::new(),
        parked: Mutex::new(Vec::new()),
        abandoned: AtomicBool::new(false),
        panics: AtomicUsize::new(0),
        wake_read: fds[0],
        wake_write: fds[1],
    };
    let result = std::thread::scope(|scope| -> std::io::Result<()> {
        let started = std::thread::Builder::new()
            .name("watch poller".into())
            .spawn_scoped(scope, || poll_loop(&shared, stop, scope, step))
            .map(drop);
        let started = (0..base).try_fold((), |(), _| {
            started
                .as_ref()
                .map_err(|e| std::io::Error::new(e.kind(), e.to_string()))?;
            start_worker(&shared, scope, step)
        });
        if started.is_err() {
            // The threads that did start leave; the scope waits for them.
            shared.abandoned.store(true, Ordering::SeqCst);
            let _guard = lock(&shared.queue);
            shared.queued.notify_all();
            shared.wake_poller();
        }
        started
    });
    // SAFETY: our own descriptors, no longer used by any thread.
    unsafe {
        libc::close(fds[0]);
        libc::close(fds[1]);
    }
    result.map(|()| shared.panics.load(Ordering::SeqCst))
}

/// Starts a worker thread in `scope`.
fn start_worker<'scope, T: Send>(
    shared: &'scope Shared<T>,
    scope: &'scope std::thread::Scope<'scope, '_>,
    step: &'scope (dyn Fn(T, Woken) -> Next<T> + Sync),
) -> std::io::Result<()> {
    let n = shared.workers.fetch_add(1, Ordering::SeqCst);
    std::thread::Builder::new()
        .name(format!("watch worker {n}"))
        .stack_size(shared.stack)
        .spawn_scoped(scope, move || work(shared, step))
        .map(drop)
        .inspect_err(|_| {
            shared.workers.fetch_sub(1, Ordering::SeqCst);
        })
}

/// A worker: takes a task, steps it until it parks or ends; leaves when
/// no task is left, or when it found none for [`IDLE_EXIT`] while more
/// than the base count run.
fn work<T: Send>(shared: &Shared<T>, step: &(dyn Fn(T, Woken) -> Next<T> + Sync)) {
    let leave = || {
        shared.workers.fetch_sub(1, Ordering::SeqCst);
    };
    loop {
        let (mut task, mut woken) = {
            let mut queue = lock(&shared.queue);
            loop {
                if let Some((task, woken, _)) = queue.pop_front() {
                    break (task, woken);
                }
                if shared.live.load(Ordering::SeqCst) == 0 || shared.abandoned.load(Ordering::SeqCst) {
                    return leave();
                }
                let surplus = || {
                    shared
                        .workers
                        .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| (n > shared.base).then(|| n - 1))
                        .is_ok()
                };
                // Nothing to do, above the base count, and another worker
                // already waits for the next task: this one is not needed.
                // (Waiting out IDLE_EXIT alone would not do: tasks handed
                // to whichever worker wakes keep every one of them busy
                // now and then.)
                if shared.idle.load(Ordering::SeqCst) > 0 && surplus() {
                    return;
                }
                shared.idle.fetch_add(1, Ordering::SeqCst);
                let (q, waited) = shared
                    .queued
                    .wait_timeout(queue, IDLE_EXIT)
                    .unwrap_or_else(PoisonError::into_inner);
                shared.idle.fetch_sub(1, Ordering::SeqCst);
                queue = q;
                if waited.timed_out() && queue.is_empty() && surplus() {
                    return;
                }
            }
        };
        loop {
            match std::panic::catch_unwind(AssertUnwindSafe(|| step(task, woken))) {
                Ok(Next::Run(t)) => {
                    task = t;
                    woken = Woken::Run;
                }
                Ok(Next::Park { task, fd, until }) => {
                    lock(&shared.parked).push(Parked { task, fd, until });
                    shared.wake_poller();
                    break;
                }
                Ok(Next::Done) => {
                    shared.finish();
                    break;
                }
                Err(_) => {
                    shared.panics.fetch_add(1, Ordering::SeqCst);
                    shared.finish();
                    break;
                }
            }
        }
    }
}

/// The poller: one `poll` over every parked task's connection and the
/// wake pipe, until no task is left; it also starts a worker when queued
/// tasks wait for one.
fn poll_loop<'scope, T: Send>(
    shared: &'scope Shared<T>,
    stop: &(dyn Fn() -> bool + Sync),
    scope: &'scope std::thread::Scope<'scope, '_>,
    step: &'scope (dyn Fn(T, Woken) -> Next<T> + Sync),
) {
    let mut pollfds: Vec<libc::pollfd> = Vec::new();
    // Index in `parked` of each pollfd after the first (the wake pipe).
    let mut owners: Vec<usize> = Vec::new();
    loop {
        if shared.live.load(Ordering::SeqCst) == 0 || shared.abandoned.load(Ordering::SeqCst) {
            return;
        }
        let stopping = stop();
        pollfds.clear();
        owners.clear();
        pollfds.push(libc::pollfd {
            fd: shared.wake_read,
            events: libc::POLLIN,
            revents: 0,
        });
        // Stopping, every parked task is woken below at each round; those
        // parked later wake the poll through the pipe, so no spinning.
        let mut timeout = STOP_CHECK;
        match shared.needs_worker() {
            // A failure to start one leaves the pool as it is: the tasks
            // wait for the workers there are.
            (true, _) => {
                drop(start_worker(shared, scope, step));
                // Another may be due soon: look again shortly.
                timeout = Duration::from_millis(10);
            }
            (false, Some(soon)) => timeout = timeout.min(soon.max(Duration::from_millis(1))),
            (false, None) => {}
        }
        // How many were parked when the poll was set up: those parked
        // since come after them.
        let polled = {
            let parked = lock(&shared.parked);
            let now = Instant::now();
            if stopping && !parked.is_empty() {
                timeout = Duration::ZERO;
            }
            for (i, p) in parked.iter().enumerate() {
                timeout = timeout.min(p.until.saturating_duration_since(now));
                if let Some(fd) = p.fd {
                    pollfds.push(libc::pollfd {
                        fd,
                        events: libc::POLLIN,
                        revents: 0,
                    });
                    owners.push(i);
                }
            }
            parked.len()
        };
        // Round up: a wait that ends in 0.4 ms must not spin.
        let ms = i32::try_from(timeout.as_micros().div_ceil(1000)).unwrap_or(i32::MAX);
        // SAFETY: `pollfds` is a valid array of its length.
        let n = unsafe { libc::poll(pollfds.as_mut_ptr(), pollfds.len() as libc::nfds_t, ms) };
        if n < 0 {
            // EINTR (the stop signal): look again.
            continue;
        }
        if pollfds[0].revents != 0 {
            let mut sink = [0u8; 64];
            // SAFETY: reads into our buffer from our own non-blocking pipe.
            while unsafe { libc::read(shared.wake_read, sink.as_mut_ptr().cast(), sink.len()) } > 0 {}
        }
        let mut ready = vec![false; polled];
        for (pfd, &owner) in pollfds[1..].iter().zip(&owners) {
            if pfd.revents != 0 {
                ready[owner] = true;
            }
        }
        // Tasks parked since the poll started are after `ready`'s end:
        // only their time or a stop wakes them this round.
        let now = Instant::now();
        let woken: Vec<(T, Woken)> = {
            let mut parked = lock(&shared.parked);
            let mut woken = Vec::new();
            let mut i = 0;
            let mut index = 0;
            while i < parked.len() {
                let why = if stopping {
                    Some(Woken::Stop)
                } else if ready.get(index).copied().unwrap_or(false) {
                    Some(Woken::Ready)
                } else if parked[i].until <= now {
                    Some(Woken::Timer)
                } else {
                    None
                };
                index += 1;
                match why {
                    Some(w) => woken.push((parked.remove(i).task, w)),
                    None => i += 1,
                }
            }
            woken
        };
        for (task, why) in woken {
            shared.enqueue(task, why);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_step_blocked_for_long_does_not_hold_back_another_task() {
        // One worker; the first task's step blocks until the second task
        // has run (at most 10 s): only a worker started for the second
        // task lets the first see it run.
        let other_ran = AtomicBool::new(false);
        let saw_it = AtomicBool::new(false);
        let step = |task: u8, _| {
            if task == 0 {
                let end = Instant::now() + Duration::from_secs(10);
                while !other_ran.load(Ordering::SeqCst) && Instant::now() < end {
                    std::thread::sleep(Duration::from_millis(5));
                }
                saw_it.store(other_ran.load(Ordering::SeqCst), Ordering::SeqCst);
            } else {
                other_ran.store(true, Ordering::SeqCst);
            }
            Next::Done
        };
        let started = Instant::now();
        let panics = run(vec![0u8, 1], 1, 1 << 20, &|| false, &step).unwrap();
        assert_eq!(panics, 0);
        assert!(
            saw_it.load(Ordering::SeqCst),
            "the second task ran while the first was blocked"
        );
        assert!(started.elapsed() < Duration::from_secs(5), "{:?}", started.elapsed());
    }

    #[test]
    fn quick_steps_grow_no_worker() {
        // A burst of short steps, each well under GROW_AFTER, on two
        // workers: the pool stays at two.
        let most = AtomicUsize::new(0);
        let running = AtomicUsize::new(0);
        let step = |_: usize, _| {
            let now = running.fetch_add(1, Ordering::SeqCst) + 1;
            most.fetch_max(now, Ordering::SeqCst);
            std::thread::sleep(Duration::from_millis(2));
            running.fetch_sub(1, Ordering::SeqCst);
            Next::Done
        };
        run((0..20).collect(), 2, 1 << 20, &|| false, &step).unwrap();
        assert!(
            most.load(Ordering::SeqCst) <= 2,
            "{} ran at once",
            most.load(Ordering::SeqCst)
        );
    }
}
