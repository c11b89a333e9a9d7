//! The watcher's durable state: per account and mailbox, the UIDVALIDITY,
//! the UID below which every message is done (handled or dead-lettered),
//! the batch handed out but not yet recorded, failures, the dead-letter
//! list and counts; and, when the manifest names one, the output file the
//! plugin's output is appended to.
//!
//! Every change is written with write, fsync, rename, fsync of the
//! directory, so a SIGKILL at any instant leaves the old state or the new
//! one, never a mix. The output file is written before the state that
//! records its new length, and cut back to the recorded length when the
//! state is opened: a batch's output is in the file exactly once for each
//! time the batch was recorded as handled, which is once.

use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::io::{Seek, SeekFrom, Write};
use std::os::unix::io::AsRawFd;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};

/// The file the state is kept in, inside the state directory.
const STATE_FILE: &str = "state.json";
/// The lock a running watcher holds, inside the state directory.
const LOCK_FILE: &str = "lock";

/// Everything the watcher remembers.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct State {
    /// Bytes of the output file that hold recorded batches' output.
    pub output_len: u64,
    /// By [`key`].
    pub mailboxes: BTreeMap<String, MailboxState>,
}

/// One watched mailbox.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct MailboxState {
    /// The account's name.
    pub account: String,
    /// The mailbox.
    pub mailbox: String,
    /// The UIDVALIDITY the UIDs below belong to; `None` before the first
    /// session.
    pub uidvalidity: Option<u32>,
    /// Every UID below this one is handled or dead-lettered.
    pub next_uid: u32,
    /// The batch handed to the plugin and not yet recorded.
    pub in_flight: Option<InFlight>,
    /// UIDs up to this one are handed out one at a time: a batch holding
    /// them failed, and only the failing message should be held back.
    pub isolate_through: u32,
    /// Failed calls of the message at the head, when it is alone.
    pub failures: BTreeMap<u32, Failure>,
    /// Messages given up on: `wasimap watch --status` lists them,
    /// `--replay` hands them out again.
    pub dead: Vec<DeadLetter>,
    /// Why the mailbox is not watched (a UIDVALIDITY change under the
    /// `stop` policy, a failed login); `None` while it is.
    pub stopped: Option<String>,
    /// Whether it was stopped by a UIDVALIDITY change (then `--reset`
    /// starts it afresh; otherwise it goes on from `next-uid`).
    #[serde(default)]
    pub stopped_by_uidvalidity: bool,
    /// Counts since the state was created.
    pub counts: Counts,
}

/// A batch handed out.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub struct InFlight {
    /// Its UIDs.
    pub uids: Vec<u32>,
    /// Which try it is (1 for the first).
    pub attempt: u32,
}

/// Failed calls of one message.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub struct Failure {
    /// How many calls failed.
    pub attempts: u32,
    /// The last one's error.
    pub error: String,
}

/// A message given up on.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub struct DeadLetter {
    /// Its UID.
    pub uid: u32,
    /// The UIDVALIDITY the UID belongs to.
    pub uidvalidity: u32,
    /// Calls that failed.
    pub attempts: u32,
    /// The last error.
    pub error: String,
    /// When it was given up on, seconds since the Unix epoch.
    pub at: u64,
}

impl DeadLetter {
    /// Whether `other` is a dead letter of the same message (the same
    /// UID under the same UIDVALIDITY), however its attempts went.
    pub fn names_same(&self, other: &DeadLetter) -> bool {
        self.uid == other.uid && self.uidvalidity == other.uidvalidity
    }
}

/// What happened to a mailbox's messages and sessions.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub struct Counts {
    /// Messages recorded as handled.
    pub handled: u64,
    /// Plugin calls that failed.
    pub failed: u64,
    /// Plugin calls that were retries.
    pub retried: u64,
    /// Messages sent to the dead-letter list.
    pub dead_lettered: u64,
    /// Dead letters handled by `--replay`.
    pub replayed: u64,
    /// Sessions opened after the first.
    pub reconnects: u64,
    /// UIDVALIDITY changes seen.
    pub uidvalidity_changes: u64,
}

impl State {
    /// One mailbox's state, made fresh if it has none yet.
    fn entry(&mut self, account: &str, mailbox: &str) -> &mut MailboxState {
        self.mailboxes
            .entry(key(account, mailbox))
            .or_insert_with(|| MailboxState::fresh(account, mailbox))
    }
}

impl MailboxState {
    /// The state of a mailbox never watched.
    fn fresh(account: &str, mailbox: &str) -> Self {
        MailboxState {
            account: account.into(),
            mailbox: mailbox.into(),
            ..MailboxState::default()
        }
    }
}

/// The state's key of a mailbox.
pub fn key(account: &str, mailbox: &str) -> String {
    format!("{account}/{mailbox}")
}

/// The durable state of a running watcher (it holds the directory's lock).
pub struct Store {
    dir: PathBuf,
    output: Option<PathBuf>,
    state: Mutex<State>,
    /// Held for the store's life: one watcher per state directory.
    _lock: File,
}

impl Store {
    /// Opens (creating) the state directory, takes its lock, reads the
    /// state and cuts the output file back to what the state recorded.
    ///
    /// # Errors
    /// Another watcher holds the directory, or it cannot be read or written.
    pub fn open(dir: &Path, output: Option<&Path>) -> Result<Store> {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        let lock = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(dir.join(LOCK_FILE))
            .with_context(|| format!("opening {}", dir.join(LOCK_FILE).display()))?;
        if !try_lock(&lock) {
            bail!("another wasimap watch is using {} (stop it first)", dir.display());
        }
        let fresh = !dir.join(STATE_FILE).exists();
        let mut state = read(dir)?;
        if let Some(path) = output {
            let file = OpenOptions::new()
                .create(true)
                .truncate(false)
                .write(true)
                .open(path)
                .with_context(|| format!("opening the output file {}", path.display()))?;
            let len = file.metadata()?.len();
            if fresh {
                // A file the watcher never wrote: its content is the
                // user's, and the watcher appends after it.
                state.output_len = len;
                write(dir, &state)?;
            }
            if len < state.output_len {
                bail!(
                    "the output file {} is shorter ({len} bytes) than the state records ({} bytes): it was changed outside the watcher",
                    path.display(),
                    state.output_len
                );
            }
            // What a batch wrote before the watcher died without
            // recording it: the batch is handed out again.
            file.set_len(state.output_len)?;
            file.sync_all()?;
        }
        Ok(Store {
            dir: dir.to_path_buf(),
            output: output.map(Path::to_path_buf),
            state: Mutex::new(state),
            _lock: lock,
        })
    }

    /// A copy of the whole state.
    pub fn snapshot(&self) -> State {
        self.state.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// A copy of one mailbox's state (a fresh one if it has none yet).
    pub fn mailbox(&self, account: &str, mailbox: &str) -> MailboxState {
        let state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        state
            .mailboxes
            .get(&key(account, mailbox))
            .cloned()
            .unwrap_or_else(|| MailboxState::fresh(account, mailbox))
    }

    /// Changes one mailbox's state and writes the whole state durably.
    pub fn update<R>(&self, account: &str, mailbox: &str, f: impl FnOnce(&mut MailboxState) -> R) -> Result<R> {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let r = f(state.entry(account, mailbox));
        write(&self.dir, &state)?;
        Ok(r)
    }

    /// Records a handled batch: its output goes to the output file (then
    /// the state records the file's new length) or, without one, to
    /// stdout once the state is written; `f` updates the mailbox.
    pub fn commit(&self, account: &str, mailbox: &str, output: &[u8], f: impl FnOnce(&mut MailboxState)) -> Result<()> {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let mut next = state.clone();
        if let Some(path) = &self.output {
            let mut file = OpenOptions::new().write(true).open(path)?;
            file.set_len(next.output_len)?;
            file.seek(SeekFrom::Start(next.output_len))?;
            file.write_all(output)?;
            file.sync_all()?;
            next.output_len += output.len() as u64;
            crash_point("after-output");
        }
        f(next.entry(account, mailbox));
        write(&self.dir, &next)?;
        *state = next;
        if self.output.is_none() && !output.is_empty() {
            let mut out = std::io::stdout().lock();
            out.write_all(output)?;
            out.flush()?;
        }
        Ok(())
    }
}

/// Dies at once, like a SIGKILL, where `WASIMAP_WATCH_CRASH_AT` names
/// this point: the tests' way to stop the watcher in the middle of a
/// commit (between the output and the state that records it), a window
/// too narrow to hit with a signal.
fn crash_point(name: &str) {
    if std::env::var("WASIMAP_WATCH_CRASH_AT").is_ok_and(|at| at == name) {
        std::process::abort();
    }
}

/// Takes `file`'s exclusive lock without waiting; false when another
/// process holds it. The lock goes with the descriptor.
fn try_lock(file: &File) -> bool {
    // SAFETY: flock on a descriptor the caller owns.
    unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) == 0 }
}

/// Whether a watcher holds `dir` now (`--status`): creates nothing and
/// holds the lock no longer than the look.
pub fn running(dir: &Path) -> bool {
    File::open(dir.join(LOCK_FILE)).is_ok_and(|f| !try_lock(&f))
}

/// Reads the state of `dir` without taking the lock (`--status`): the
/// file is replaced by rename, so a reader sees one whole version.
///
/// # Errors
/// The file exists but cannot be read or parsed.
pub fn read(dir: &Path) -> Result<State> {
    let path = dir.join(STATE_FILE);
    match std::fs::read(&path) {
        Ok(bytes) => serde_json::from_slice(&bytes).with_context(|| format!("parsing {}", path.display())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(State::default()),
        Err(e) => Err(e).with_context(|| format!("reading {}", path.display())),
    }
}

/// Writes the state durably: a new file, fsync, rename over the old one,
/// fsync of the directory.
fn write(dir: &Path, state: &State) -> Result<()> {
    let tmp = dir.join(format!("{STATE_FILE}.tmp"));
    let bytes = serde_json::to_vec_pretty(state)?;
    {
        let mut f = File::create(&tmp).with_context(|| format!("writing {}", tmp.display()))?;
        f.write_all(&bytes)?;
        f.sync_all()?;
    }
    std::fs::rename(&tmp, dir.join(STATE_FILE))?;
    File::open(dir)?.sync_all()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("wasimap-store-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        d
    }

    #[test]
    fn one_watcher_per_directory() {
        let dir = temp("lock");
        let first = Store::open(&dir, None).unwrap();
        let second = Store::open(&dir, None).err().unwrap();
        assert!(second.to_string().contains("another wasimap watch"), "{second}");
        assert!(running(&dir));
        drop(first);
        assert!(!running(&dir));
        Store::open(&dir, None).unwrap();
    }

    #[test]
    fn output_not_recorded_is_cut_back_at_open() {
        let dir = temp("output");
        let out = dir.join("journal");
        std::fs::create_dir_all(&dir).unwrap();
        {
            let s = Store::open(&dir, Some(&out)).unwrap();
            s.commit("a", "INBOX", b"line 1\n", |m| m.next_uid = 2).unwrap();
        }
        // A batch's output written, then the watcher killed before it
        // recorded the batch.
        let mut f = OpenOptions::new().append(true).open(&out).unwrap();
        f.write_all(b"line 2\n").unwrap();
        drop(f);
        let s = Store::open(&dir, Some(&out)).unwrap();
        assert_eq!(std::fs::read(&out).unwrap(), b"line 1\n");
        assert_eq!(s.mailbox("a", "INBOX").next_uid, 2);
        s.commit("a", "INBOX", b"line 2\n", |m| m.next_uid = 3).unwrap();
        assert_eq!(std::fs::read(&out).unwrap(), b"line 1\nline 2\n");
        assert_eq!(read(&dir).unwrap().output_len, 14);
    }

    #[test]
    fn a_truncated_output_file_is_refused() {
        let dir = temp("short");
        let out = dir.join("journal");
        std::fs::create_dir_all(&dir).unwrap();
        Store::open(&dir, Some(&out))
            .unwrap()
            .commit("a", "INBOX", b"line 1\n", |_| ())
            .unwrap();
        std::fs::write(&out, b"").unwrap();
        let e = Store::open(&dir, Some(&out)).err().unwrap();
        assert!(e.to_string().contains("changed outside the watcher"), "{e}");
    }
}
