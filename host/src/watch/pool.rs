//! A fixed number of threads for any number of watched mailboxes: worker
//! threads run the steps of the mailboxes' tasks (connect, look for new
//! mail, hand out batches), and one poller thread holds every task that
//! waits (a session in IDLE or between two polls, a reconnect backoff, a
//! batch's retry pause) until its connection is readable or its time has
//! come. A waiting mailbox costs its session's memory and one `pollfd`,
//! no thread.
//!
//! Steps block (the sessions are the core's blocking driver), but only
//! for what a command takes, bounded by the read timeout, or for a plugin
//! call; never for a wait.

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
    queue: Mutex<VecDeque<(T, Woken)>>,
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
}

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
        lock(&self.queue).push_back((task, woken));
        self.queued.notify_one();
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
/// `stack` bytes) and one poller; `stop` is asked at least every 200 ms,
/// and once it says so every parked task is woken with [`Woken::Stop`].
/// Returns how many steps panicked (each ends its task).
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
    let shared = Shared {
        live: AtomicUsize::new(tasks.len()),
        queue: Mutex::new(tasks.into_iter().map(|t| (t, Woken::Run)).collect()),
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
            .spawn_scoped(scope, || poll_loop(&shared, stop))
            .map(drop);
        let started = (0..workers.max(1)).try_fold((), |(), i| {
            started
                .as_ref()
                .map_err(|e| std::io::Error::new(e.kind(), e.to_string()))?;
            std::thread::Builder::new()
                .name(format!("watch worker {i}"))
                .stack_size(stack)
                .spawn_scoped(scope, || work(&shared, step))
                .map(drop)
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

/// A worker: takes a task, steps it until it parks or ends.
fn work<T: Send>(shared: &Shared<T>, step: &(dyn Fn(T, Woken) -> Next<T> + Sync)) {
    loop {
        let (mut task, mut woken) = {
            let mut queue = lock(&shared.queue);
            loop {
                if let Some(job) = queue.pop_front() {
                    break job;
                }
                if shared.live.load(Ordering::SeqCst) == 0 || shared.abandoned.load(Ordering::SeqCst) {
                    return;
                }
                queue = shared.queued.wait(queue).unwrap_or_else(PoisonError::into_inner);
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
/// wake pipe, until no task is left.
fn poll_loop<T: Send>(shared: &Shared<T>, stop: &(dyn Fn() -> bool + Sync)) {
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
