//! The life of one watched mailbox, as steps the pool runs
//! ([`super::pool`]): connect (session after session until the watcher
//! stops or the mailbox cannot go on), check UIDVALIDITY against the
//! state, hand out batches of new messages, wait for more (IDLE, or a
//! pause between polls) without holding a thread, reconnect after a
//! capped exponential backoff with jitter.

use std::time::{Duration, Instant};

use wasimap_sandbox::fair::{CpuSlot, Ticket};

use super::config::{Account, Start, UidValidityPolicy};
use super::log::Level;
use super::pool::{Next, Woken};
use super::session::{Session, SessionError};
use super::{backoff, stopping, Handled, Watcher, LOGIN_REFUSALS, STEADY_SESSION};

/// How often a mailbox with new mail, parked in line for a CPU slot, looks
/// whether its turn has come.
const SLOT_WAIT: Duration = Duration::from_millis(10);

/// One mailbox's task.
pub(super) struct Mailbox {
    account: Account,
    mailbox: String,
    phase: Phase,
    /// Connection attempts that failed since the last steady session.
    failures: u32,
    /// Logins refused in a row.
    refusals: u32,
    /// Sessions opened so far.
    sessions: u64,
    /// When the current session was opened.
    opened: Instant,
}

enum Phase {
    /// Open a session.
    Connect,
    /// Look for new mail and hand it out; `first` also checks UIDVALIDITY
    /// against the state; `pending`, new UIDs already found and the slot
    /// to call the plugin under.
    Look {
        session: Box<Session>,
        first: bool,
        pending: Option<(Vec<u32>, CpuSlot)>,
    },
    /// Waiting for mail until `until` (IDLE started, or a poll's pause).
    Waiting { session: Box<Session>, until: Instant },
    /// A failed batch's backoff; the session kept.
    Paused { session: Box<Session> },
    /// New UIDs found, in line for a CPU slot (parked: no thread waits).
    Queued {
        session: Box<Session>,
        uids: Vec<u32>,
        ticket: Ticket,
    },
    /// A reconnect's backoff.
    Backoff,
}

impl Mailbox {
    /// The task of `account`'s `mailbox`.
    pub(super) fn new(account: Account, mailbox: String) -> Mailbox {
        Mailbox {
            account,
            mailbox,
            phase: Phase::Connect,
            failures: 0,
            refusals: 0,
            sessions: 0,
            opened: Instant::now(),
        }
    }
}

impl Watcher {
    /// One step of a mailbox's task.
    pub(super) fn step(&self, mut task: Mailbox, woken: Woken) -> Next<Mailbox> {
        let phase = std::mem::replace(&mut task.phase, Phase::Connect);
        if woken == Woken::Stop || stopping() {
            match phase {
                Phase::Waiting { mut session, .. } => {
                    // DONE first: LOGOUT inside IDLE is not a command.
                    let _ = session.end_wait();
                    session.close();
                }
                Phase::Look { session, .. } | Phase::Paused { session } | Phase::Queued { session, .. } => {
                    session.close()
                }
                Phase::Connect | Phase::Backoff => {}
            }
            return Next::Done;
        }
        match phase {
            Phase::Connect => self.connect(task),
            Phase::Backoff => Next::Run(task),
            Phase::Paused { session } => {
                task.phase = Phase::Look {
                    session,
                    first: false,
                    pending: None,
                };
                Next::Run(task)
            }
            Phase::Queued { session, uids, ticket } => match ticket.try_take() {
                Some(slot) => {
                    task.phase = Phase::Look {
                        session,
                        first: false,
                        pending: Some((uids, slot)),
                    };
                    Next::Run(task)
                }
                None => {
                    task.phase = Phase::Queued { session, uids, ticket };
                    Next::Park {
                        task,
                        fd: None,
                        until: Instant::now() + SLOT_WAIT,
                    }
                }
            },
            Phase::Look {
                mut session,
                first,
                pending,
            } => match self.look(&task, &mut session, first, pending) {
                Ok(Looked::Wait) => self.wait(task, session),
                Ok(Looked::InLine(uids, ticket)) => {
                    task.phase = Phase::Queued { session, uids, ticket };
                    Next::Park {
                        task,
                        fd: None,
                        until: Instant::now() + SLOT_WAIT,
                    }
                }
                Ok(Looked::Pause(d)) => {
                    task.phase = Phase::Paused { session };
                    Next::Park {
                        task,
                        fd: None,
                        until: Instant::now() + d,
                    }
                }
                Ok(Looked::Stopped) => {
                    session.close();
                    Next::Done
                }
                Err(e) => self.disconnected(task, &e),
            },
            Phase::Waiting { mut session, until } => {
                let announced = match woken {
                    Woken::Ready => session.poll_wait(),
                    _ => Ok(false),
                };
                match announced {
                    Ok(false) if Instant::now() < until => park_waiting(task, session, until),
                    Ok(_) => self.look_again(task, session),
                    Err(e) => self.disconnected(task, &e),
                }
            }
        }
    }

    /// Opens a session; a refused login three times in a row, or a secret
    /// that cannot be used, stops the mailbox.
    fn connect(&self, mut task: Mailbox) -> Next<Mailbox> {
        let scope = Self::scope(&task.account, &task.mailbox);
        if task.sessions == 0 {
            if let Some(why) = self.store.mailbox(&task.account.name, &task.mailbox).stopped {
                self.log.line(Level::Error, &scope, "not-watched", &[("reason", why)]);
                return Next::Done;
            }
        }
        match self.open_session(&task.account, &task.mailbox) {
            Ok(session) => {
                task.refusals = 0;
                task.sessions += 1;
                task.opened = Instant::now();
                if task.sessions > 1 {
                    let _ = self
                        .store
                        .update(&task.account.name, &task.mailbox, |m| m.counts.reconnects += 1);
                }
                self.log.line(
                    Level::Info,
                    &scope,
                    "connected",
                    &[
                        ("uidvalidity", session.uidvalidity.to_string()),
                        ("idle", session.has_idle().to_string()),
                    ],
                );
                task.phase = Phase::Look {
                    session: Box::new(session),
                    first: true,
                    pending: None,
                };
                Next::Run(task)
            }
            Err(SessionError::Secret(why)) => {
                self.stop_mailbox(&task.account, &task.mailbox, why);
                Next::Done
            }
            Err(SessionError::Auth(m)) => {
                task.refusals = task.refusals.saturating_add(1);
                if task.refusals >= LOGIN_REFUSALS {
                    self.stop_mailbox(&task.account, &task.mailbox, format!("login refused: {m}"));
                    return Next::Done;
                }
                task.failures = task.failures.saturating_add(1);
                self.reconnect_later(task, "login-refused", &SessionError::Auth(m))
            }
            Err(e) => {
                task.failures = task.failures.saturating_add(1);
                self.reconnect_later(task, "connect-failed", &e)
            }
        }
    }

    /// The session ended: a session that served a while starts the
    /// backoff afresh; one that failed at once (a server that drops every
    /// session) makes it grow.
    fn disconnected(&self, mut task: Mailbox, error: &SessionError) -> Next<Mailbox> {
        // The session's buffers are gone (a flood's 64 MiB, say): give the
        // pages back to the system rather than keep them in an arena.
        super::memory::give_back();
        task.failures = if task.opened.elapsed() >= STEADY_SESSION {
            1
        } else {
            task.failures.saturating_add(1)
        };
        self.reconnect_later(task, "disconnected", error)
    }

    /// Logs why the session ended and parks the task for the
    /// `failures`th backoff.
    fn reconnect_later(&self, mut task: Mailbox, event: &str, error: &SessionError) -> Next<Mailbox> {
        if stopping() {
            // The stop cut the session's read: the watcher's doing, not
            // the server's, so neither a warning nor a reconnect.
            return Next::Done;
        }
        let s = &self.manifest.session;
        let wait = backoff(s.reconnect_min_seconds, s.reconnect_max_seconds, task.failures);
        self.log.line(
            Level::Warn,
            &Self::scope(&task.account, &task.mailbox),
            event,
            &[
                ("error", error.to_string()),
                ("retry-in", format!("{:.1}s", wait.as_secs_f64())),
            ],
        );
        task.phase = Phase::Backoff;
        Next::Park {
            task,
            fd: None,
            until: Instant::now() + wait,
        }
    }

    /// Starts waiting for mail; parks the task on its connection unless
    /// the server has already announced some.
    fn wait(&self, task: Mailbox, mut session: Box<Session>) -> Next<Mailbox> {
        let settings = &self.manifest.session;
        let wait = Duration::from_secs_f64(if session.has_idle() {
            settings.idle_seconds
        } else {
            settings.poll_seconds
        });
        let begun = session.begin_wait().and_then(|()| session.poll_wait());
        match begun {
            // Already announced (with IDLE's continuation, say): look now.
            Ok(true) => self.look_again(task, session),
            Ok(false) => park_waiting(task, session, Instant::now() + wait),
            Err(e) => self.disconnected(task, &e),
        }
    }

    /// After a wait: DONE (or the poll's NOOP), then what the server said
    /// meanwhile, and the mailbox's UIDVALIDITY; then look again.
    fn look_again(&self, mut task: Mailbox, mut session: Box<Session>) -> Next<Mailbox> {
        let ended = session
            .end_wait()
            .and_then(|()| session.drain())
            .and_then(|()| session.check_uidvalidity(&task.mailbox));
        match ended {
            Ok(()) => {
                task.phase = Phase::Look {
                    session,
                    first: false,
                    pending: None,
                };
                Next::Run(task)
            }
            Err(e) => self.disconnected(task, &e),
        }
    }

    /// Hands out what is new until nothing is, a batch failed (pause), or
    /// the mailbox was stopped, or the next batch waits in line for a CPU
    /// slot; `first` checks UIDVALIDITY against the state before anything;
    /// `pending` is a batch whose turn came.
    fn look(
        &self,
        task: &Mailbox,
        session: &mut Session,
        first: bool,
        mut pending: Option<(Vec<u32>, CpuSlot)>,
    ) -> Result<Looked, SessionError> {
        let (account, mailbox) = (&task.account, task.mailbox.as_str());
        if first && !self.check_validity(account, mailbox, session)? {
            return Ok(Looked::Stopped);
        }
        let validity = session.uidvalidity;
        while !stopping() {
            let (uids, cpu) = match pending.take() {
                Some(found) => found,
                None => {
                    let uids = session.uids_from(self.store.mailbox(&account.name, mailbox).next_uid)?;
                    if uids.is_empty() {
                        return Ok(Looked::Wait);
                    }
                    // In line with every other account's calls: parked, not
                    // holding this worker, while others have their turn
                    // (the server is not asked again meanwhile).
                    let ticket = self.cpu.ticket();
                    match ticket.try_take() {
                        Some(slot) => (uids, slot),
                        None => return Ok(Looked::InLine(uids, ticket)),
                    }
                }
            };
            match self.handle_one(account, mailbox, validity, &uids, session, cpu)? {
                Handled::Ok | Handled::Next => {}
                Handled::RetryAfter(d) => return Ok(Looked::Pause(d)),
            }
        }
        Ok(Looked::Wait)
    }

    /// The session's UIDVALIDITY against the state: a first start records
    /// it (and where to start), a change is handled by the manifest's
    /// policy. `false`: the mailbox is stopped.
    fn check_validity(&self, account: &Account, mailbox: &str, session: &mut Session) -> Result<bool, SessionError> {
        let scope = Self::scope(account, mailbox);
        let state = self.store.mailbox(&account.name, mailbox);
        let validity = session.uidvalidity;
        match state.uidvalidity {
            None => {
                let next = match account.start {
                    Start::All => 1,
                    Start::New => session.next_uid_now()?,
                };
                self.update(account, mailbox, |m| {
                    m.uidvalidity = Some(validity);
                    m.next_uid = next;
                });
                self.log.line(
                    Level::Info,
                    &scope,
                    "first-start",
                    &[("uidvalidity", validity.to_string()), ("from-uid", next.to_string())],
                );
            }
            Some(old) if old != validity => {
                let policy = self.manifest.on_uidvalidity_change;
                self.log.line(
                    Level::Error,
                    &scope,
                    "uidvalidity-changed",
                    &[
                        ("old", old.to_string()),
                        ("new", validity.to_string()),
                        ("policy", format!("{policy:?}")),
                    ],
                );
                let next = match policy {
                    UidValidityPolicy::Stop => {
                        self.update(account, mailbox, |m| {
                            m.counts.uidvalidity_changes += 1;
                            m.stopped_by_uidvalidity = true;
                        });
                        self.stop_mailbox(
                            account,
                            mailbox,
                            format!("UIDVALIDITY changed from {old} to {validity}: the recorded UIDs no longer name these messages (wasimap watch --reset {})", account.name),
                        );
                        return Ok(false);
                    }
                    UidValidityPolicy::SkipExisting => session.next_uid_now()?,
                    UidValidityPolicy::HandleAll => 1,
                };
                self.update(account, mailbox, |m| {
                    m.counts.uidvalidity_changes += 1;
                    m.uidvalidity = Some(validity);
                    m.next_uid = next;
                    m.in_flight = None;
                    m.isolate_through = 0;
                    m.failures.clear();
                });
            }
            Some(_) => {}
        }
        Ok(true)
    }
}

/// Parks a waiting session until `until`, or until its socket is
/// readable when it is in IDLE (a polling session's server says nothing
/// between commands).
fn park_waiting(mut task: Mailbox, session: Box<Session>, until: Instant) -> Next<Mailbox> {
    let fd = if session.has_idle() { session.fd() } else { None };
    task.phase = Phase::Waiting { session, until };
    Next::Park { task, fd, until }
}

/// What a look ended with.
enum Looked {
    /// Nothing new: wait for mail.
    Wait,
    /// These new UIDs wait in line for a CPU slot.
    InLine(Vec<u32>, Ticket),
    /// A batch failed: look again after this long.
    Pause(Duration),
    /// The mailbox was stopped (UIDVALIDITY changed under `stop`).
    Stopped,
}
