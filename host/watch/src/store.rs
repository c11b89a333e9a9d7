//! The watcher's durable state: per account and mailbox, the UIDVALIDITY,
//! the UID below which every message is done (handled or dead-lettered),
//! the batch handed out but not yet recorded, failures, the dead-letter
//! list and counts; and, when the manifest names one, the output file the
//! plugin's output is appended to.
//!
//! The state directory is the watcher's own, checked as the compiled-code
//! cache is ([`wasimap_sandbox::private_dir`]): created 0700, refused when it is a
//! symlink, another user's or writable by group or others; every file in
//! it is opened without following links and created 0600. It holds
//!
//! - `lock`: held by the running watcher (one per directory);
//! - `mailboxes/NAME.json`: one mailbox's record (NAME is the
//!   `account/mailbox` key made safe for a file name, with a hash of it);
//! - `output.json`: how long the output file was when the watcher first
//!   used it (what was there is the user's).
//!
//! A `state.json` of the first layout (every mailbox in one file) is
//! migrated into these when a watcher first opens the directory, then
//! removed.
//!
//! An update rewrites only its mailbox's file (write a new file with
//! `O_CREAT | O_EXCL | O_NOFOLLOW`, fsync, rename, fsync of the
//! directory), so a SIGKILL at any instant leaves the old record or the
//! new one, and the cost of an update is that mailbox's record, which is
//! bounded: dead letters are pruned, oldest first, beyond [`MAX_DEAD`] or
//! [`MAX_DEAD_BYTES`] of errors ([`prune_dead`]), and counted.
//!
//! Exactly-once output: commits are serialized, and each appends its
//! batch's output at the recorded end, fsyncs it, then records in the same
//! atomic write as the mailbox's new watermark the file's new length
//! (`output-end`); the next commit starts only once that write is
//! durable. So the largest `output-end` of all mailboxes (or the start
//! length) is the end of the last recorded batch, and the file is cut
//! back to it when the state is opened: a batch's output is in the file
//! exactly once for each time the batch was recorded as handled, which is
//! once.

use std::collections::BTreeMap;
use std::fs::{File, OpenOptions, Permissions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::io::AsRawFd;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use anyhow::{bail, Context, Result};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use wasimap_sandbox::private_dir::{self, Purpose};

/// The single state file of the first layout, migrated at open.
const OLD_STATE_FILE: &str = "state.json";
/// The lock a running watcher holds, inside the state directory.
const LOCK_FILE: &str = "lock";
/// The directory of the mailboxes' records, inside the state directory.
const MAILBOXES: &str = "mailboxes";
/// The output file's length when the watcher first used it.
const OUTPUT_FILE: &str = "output.json";

/// Dead letters kept per mailbox; the oldest beyond are pruned.
pub const MAX_DEAD: usize = 1000;
/// Bytes of dead letters' errors kept per mailbox (about 262 errors of
/// the 1,000 bytes the watcher keeps of one); the oldest beyond are pruned.
pub const MAX_DEAD_BYTES: usize = 256 << 10;

/// The state directory in the private-directory checks' messages.
const STATE_DIR: Purpose = Purpose {
    what: "state directory",
    risk: "anyone who can write it can change which messages the watcher counts as done, or plant a link its next write follows",
};

/// Everything the watcher remembers.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct State {
    /// Bytes of the output file that hold recorded batches' output (or
    /// were the user's before): the largest `output-end` of the mailboxes,
    /// or the output file's length when the watcher first used it.
    pub output_len: u64,
    /// By [`key`].
    pub mailboxes: BTreeMap<String, MailboxState>,
}

/// One watched mailbox.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", default)]
pub struct MailboxState {
    /// The account's name.
    pub account: String,
    /// The mailbox.
    pub mailbox: String,
    /// The UIDVALIDITY the UIDs below belong to; `None` before the first
    /// session.
    pub uidvalidity: Option<u32>,
    /// Every UID below this one is handled or dead-lettered: a u64, so
    /// that `4294967296` says every UID there can be is done (state files
    /// of the first layout hold a u32 here, read the same).
    pub next_uid: u64,
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
    pub stopped_by_uidvalidity: bool,
    /// Counts since the state was created.
    pub counts: Counts,
    /// The output file's length after this mailbox's last recorded batch
    /// (0 before its first, or without an output file).
    pub output_end: u64,
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
#[serde(rename_all = "kebab-case", default)]
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
    /// Dead letters dropped from the list, oldest first, to keep it
    /// within [`MAX_DEAD`] and [`MAX_DEAD_BYTES`].
    pub dead_pruned: u64,
}

/// The output file's length when the watcher first used it.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
struct OutputStart {
    /// Bytes that were the user's: the watcher appends after them.
    start_len: u64,
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

    /// Records that every UID up to `uid` is done (the watermark never
    /// goes back; after `u32::MAX` it says every UID is) and forgets the
    /// failures of messages now behind it (expunged ones too).
    pub fn done_through(&mut self, uid: u32) {
        self.next_uid = self.next_uid.max(u64::from(uid) + 1);
        let next = self.next_uid;
        self.failures.retain(|u, _| u64::from(*u) >= next);
    }
}

/// Drops the oldest dead letters of `m` beyond [`MAX_DEAD`] letters or
/// [`MAX_DEAD_BYTES`] of their errors, and counts them in
/// `counts.dead-pruned`; the newest is always kept.
pub fn prune_dead(m: &mut MailboxState) {
    let mut count = m.dead.len();
    let mut bytes: usize = m.dead.iter().map(|d| d.error.len()).sum();
    let mut cut = 0;
    while count > 1 && (count > MAX_DEAD || bytes > MAX_DEAD_BYTES) {
        bytes -= m.dead[cut].error.len();
        count -= 1;
        cut += 1;
    }
    if cut > 0 {
        m.dead.drain(..cut);
        m.counts.dead_pruned = m.counts.dead_pruned.saturating_add(cut as u64);
    }
}

/// The state's key of a mailbox.
pub fn key(account: &str, mailbox: &str) -> String {
    format!("{account}/{mailbox}")
}

/// The file name of a mailbox's record: its key with what a file name
/// should not hold replaced (cut to 64 characters, for people), and 16
/// hex digits of its SHA-256 (so that two keys never share a file).
fn file_name(key: &str) -> String {
    let safe: String = key
        .chars()
        .take(64)
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    let digest = Sha256::digest(key.as_bytes());
    let hex: String = digest[..8].iter().map(|b| format!("{b:02x}")).collect();
    format!("{safe}-{hex}.json")
}

/// The durable state of a running watcher (it holds the directory's lock).
pub struct Store {
    /// The mailboxes' records.
    mailboxes: PathBuf,
    inner: Mutex<Inner>,
    /// Held for the store's life: one watcher per state directory.
    _lock: File,
}

/// What the store's lock guards: the state as written, and the output
/// file (appended to by one commit at a time).
struct Inner {
    state: State,
    output: Option<File>,
}

impl Store {
    /// Opens (creating) the state directory, takes its lock, migrates a
    /// state of the first layout, reads the state and cuts the output
    /// file back to what the state recorded.
    ///
    /// # Errors
    /// Another watcher holds the directory; it is not the user's own (a
    /// symlink, another user's, writable by group or others); it or the
    /// output file cannot be read or written.
    pub fn open(dir: &Path, output: Option<&Path>) -> Result<Store> {
        private_dir::ensure(dir, &STATE_DIR)?;
        let lock_path = dir.join(LOCK_FILE);
        let lock = private_dir::open_nofollow(&lock_path, OpenOptions::new().create(true).truncate(false).write(true))
            .with_context(|| format!("opening {}", lock_path.display()))?;
        // A lock made 0644 by an earlier wasimap.
        lock.set_permissions(Permissions::from_mode(0o600))?;
        if !try_lock(&lock) {
            bail!("another wasimap watch is using {} (stop it first)", dir.display());
        }
        let mailboxes = dir.join(MAILBOXES);
        private_dir::ensure(&mailboxes, &STATE_DIR)?;
        // What a write left when the watcher died during it; the
        // directory is private and locked, so these are the watcher's own.
        for d in [dir, mailboxes.as_path()] {
            remove_temps(d)?;
        }
        migrate(dir)?;
        let mut state = load(dir)?;
        let output = match output {
            Some(path) => Some(open_output(dir, path, &mut state)?),
            None => None,
        };
        Ok(Store {
            mailboxes,
            inner: Mutex::new(Inner { state, output }),
            _lock: lock,
        })
    }

    fn inner(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A copy of one mailbox's state (a fresh one if it has none yet).
    pub fn mailbox(&self, account: &str, mailbox: &str) -> MailboxState {
        self.inner()
            .state
            .mailboxes
            .get(&key(account, mailbox))
            .cloned()
            .unwrap_or_else(|| MailboxState::fresh(account, mailbox))
    }

    /// Changes one mailbox's state and writes that mailbox's record
    /// durably (dead letters pruned first).
    ///
    /// # Errors
    /// The record cannot be written; the state in memory is then unchanged.
    pub fn update<R>(&self, account: &str, mailbox: &str, f: impl FnOnce(&mut MailboxState) -> R) -> Result<R> {
        let mut inner = self.inner();
        let k = key(account, mailbox);
        let mut m = inner
            .state
            .mailboxes
            .get(&k)
            .cloned()
            .unwrap_or_else(|| MailboxState::fresh(account, mailbox));
        let r = f(&mut m);
        prune_dead(&mut m);
        write_mailbox(&self.mailboxes, &m)?;
        inner.state.mailboxes.insert(k, m);
        Ok(r)
    }

    /// Records a handled batch: its output goes to the output file (then
    /// the mailbox's record, with `f`'s changes, records the file's new
    /// length) or, without one, to stdout once the record is written.
    ///
    /// # Errors
    /// The output or the record cannot be written.
    pub fn commit(&self, account: &str, mailbox: &str, output: &[u8], f: impl FnOnce(&mut MailboxState)) -> Result<()> {
        let mut inner = self.inner();
        let k = key(account, mailbox);
        let mut m = inner
            .state
            .mailboxes
            .get(&k)
            .cloned()
            .unwrap_or_else(|| MailboxState::fresh(account, mailbox));
        let mut len = inner.state.output_len;
        let to_stdout = inner.output.is_none();
        if let Some(mut file) = inner.output.as_ref() {
            file.set_len(len)?;
            file.seek(SeekFrom::Start(len))?;
            file.write_all(output)?;
            file.sync_all()?;
            len = len
                .checked_add(output.len() as u64)
                .context("the output file's length")?;
            m.output_end = len;
            crash_point("after-output");
        }
        f(&mut m);
        prune_dead(&mut m);
        write_mailbox(&self.mailboxes, &m)?;
        inner.state.output_len = len;
        inner.state.mailboxes.insert(k, m);
        drop(inner);
        if to_stdout && !output.is_empty() {
            let mut out = std::io::stdout().lock();
            out.write_all(output)?;
            out.flush()?;
        }
        Ok(())
    }
}

/// Opens (creating it 0600, never through a symlink) the output file,
/// records its length at the watcher's first use of it, and cuts it back
/// to what `state` recorded.
fn open_output(dir: &Path, path: &Path, state: &mut State) -> Result<File> {
    let file = private_dir::open_nofollow(path, OpenOptions::new().create(true).truncate(false).write(true))
        .with_context(|| format!("opening the output file {}", path.display()))?;
    // Another user's file (planted before the first start), or one in a
    // directory another user can change, could be read, cut or swapped.
    private_dir::check_file(&file, path, "the output file")?;
    private_dir::check_ancestors(
        path,
        &private_dir::Purpose {
            what: "the output file",
            risk: "another user could read, cut or replace the output",
        },
    )?;
    let len = file.metadata()?.len();
    let start = match read_json::<OutputStart>(&dir.join(OUTPUT_FILE))? {
        Some(s) => s.start_len,
        None => {
            // A file the watcher never wrote: its content is the user's,
            // and the watcher appends after it.
            let recorded = state.mailboxes.values().any(|m| m.output_end > 0);
            let start = OutputStart {
                start_len: if recorded { 0 } else { len },
            };
            write_atomic(dir, OUTPUT_FILE, &serde_json::to_vec_pretty(&start)?)?;
            start.start_len
        }
    };
    state.output_len = state.output_len.max(start);
    if len < state.output_len {
        bail!(
            "the output file {} is shorter ({len} bytes) than the state records ({} bytes): it was changed outside the watcher",
            path.display(),
            state.output_len
        );
    }
    // What a batch wrote before the watcher died without recording it:
    // the batch is handed out again.
    file.set_len(state.output_len)?;
    file.sync_all()?;
    Ok(file)
}

/// Moves a `state.json` of the first layout into one record per mailbox
/// (dead letters pruned) and `output.json`, then removes it. A migration
/// cut short is done again from the untouched `state.json`, so it happens
/// once, whole.
fn migrate(dir: &Path) -> Result<()> {
    let old_path = dir.join(OLD_STATE_FILE);
    let Some(old) = read_json::<State>(&old_path)? else {
        return Ok(());
    };
    let mailboxes = dir.join(MAILBOXES);
    for mut m in old.mailboxes.into_values() {
        m.output_end = 0;
        prune_dead(&mut m);
        write_mailbox(&mailboxes, &m)?;
    }
    let start = OutputStart {
        start_len: old.output_len,
    };
    write_atomic(dir, OUTPUT_FILE, &serde_json::to_vec_pretty(&start)?)?;
    std::fs::remove_file(&old_path).with_context(|| format!("removing {} once migrated", old_path.display()))?;
    sync_dir(dir)
}

/// Removes the temporary files (`.NAME.tmp`, and the first layout's
/// `state.json.tmp`) of writes that did not finish.
fn remove_temps(dir: &Path) -> Result<()> {
    for entry in std::fs::read_dir(dir).with_context(|| format!("reading {}", dir.display()))? {
        let name = entry?.file_name();
        let name = name.to_string_lossy();
        if (name.starts_with('.') && name.ends_with(".tmp")) || name == "state.json.tmp" {
            // Unlinks a symlink itself, never what it points to.
            std::fs::remove_file(dir.join(&*name))?;
        }
    }
    Ok(())
}

/// The state of `dir` as written: the first layout's `state.json` while
/// it is not yet migrated, else the mailboxes' records and the output's
/// start.
fn load(dir: &Path) -> Result<State> {
    if let Some(old) = read_json::<State>(&dir.join(OLD_STATE_FILE))? {
        return Ok(old);
    }
    let mut state = State {
        output_len: read_json::<OutputStart>(&dir.join(OUTPUT_FILE))?.map_or(0, |s| s.start_len),
        mailboxes: BTreeMap::new(),
    };
    let mailboxes = dir.join(MAILBOXES);
    let entries = match std::fs::read_dir(&mailboxes) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(state),
        Err(e) => return Err(e).with_context(|| format!("reading {}", mailboxes.display())),
    };
    for entry in entries {
        let name = entry?.file_name();
        let name = name.to_string_lossy();
        if name.starts_with('.') || !name.ends_with(".json") {
            continue;
        }
        let path = mailboxes.join(&*name);
        // Gone since the listing: only a temporary file is ever removed.
        let Some(m) = read_json::<MailboxState>(&path)? else {
            continue;
        };
        state.output_len = state.output_len.max(m.output_end);
        state.mailboxes.insert(key(&m.account, &m.mailbox), m);
    }
    Ok(state)
}

/// Reads and parses `path` without following a symlink; `None` when it
/// does not exist.
fn read_json<T: DeserializeOwned>(path: &Path) -> Result<Option<T>> {
    let mut file = match private_dir::open_nofollow(path, OpenOptions::new().read(true)) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
    };
    let mut bytes = Vec::new();
    file.read_to_end(&mut bytes)
        .with_context(|| format!("reading {}", path.display()))?;
    serde_json::from_slice(&bytes)
        .map(Some)
        .with_context(|| format!("parsing {}", path.display()))
}

/// Writes one mailbox's record durably.
fn write_mailbox(mailboxes: &Path, m: &MailboxState) -> Result<()> {
    let name = file_name(&key(&m.account, &m.mailbox));
    write_atomic(mailboxes, &name, &serde_json::to_vec_pretty(m)?)
}

/// Replaces `dir/name` with `bytes` durably: a new file `.NAME.tmp`
/// (created 0600 with `O_EXCL | O_NOFOLLOW`, so nothing planted there is
/// followed or reused), fsync, rename over the old one, fsync of the
/// directory.
fn write_atomic(dir: &Path, name: &str, bytes: &[u8]) -> Result<()> {
    let tmp = dir.join(format!(".{name}.tmp"));
    let mut f = private_dir::create_new(&tmp).with_context(|| format!("creating {}", tmp.display()))?;
    let written = (|| -> Result<()> {
        f.write_all(bytes)?;
        f.sync_all()?;
        std::fs::rename(&tmp, dir.join(name))?;
        sync_dir(dir)
    })();
    if written.is_err() {
        // Only the file this call created.
        let _ = std::fs::remove_file(&tmp);
    }
    written.with_context(|| format!("writing {}", dir.join(name).display()))
}

/// Makes a rename in `dir` durable.
fn sync_dir(dir: &Path) -> Result<()> {
    private_dir::open_nofollow(dir, OpenOptions::new().read(true))?.sync_all()?;
    Ok(())
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
    private_dir::open_nofollow(&dir.join(LOCK_FILE), OpenOptions::new().read(true)).is_ok_and(|f| !try_lock(&f))
}

/// Reads the state of `dir` without taking the lock (`--status`): each
/// record is replaced by rename, so a reader sees whole versions of each.
/// A directory that does not exist holds no state; one that is not the
/// user's own is refused, as [`Store::open`] refuses it.
///
/// # Errors
/// The directory is refused, or a record cannot be read or parsed.
pub fn read(dir: &Path) -> Result<State> {
    match std::fs::symlink_metadata(dir) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(State::default()),
        _ => private_dir::check(dir, &STATE_DIR)?,
    }
    load(dir)
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::MetadataExt;

    use super::*;

    fn temp(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("wasimap-store-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        d
    }

    fn mode(path: &Path) -> u32 {
        std::fs::symlink_metadata(path).unwrap().mode() & 0o777
    }

    fn letter(uid: u32, error: &str) -> DeadLetter {
        DeadLetter {
            uid,
            uidvalidity: 7,
            attempts: 3,
            error: error.into(),
            at: 0,
        }
    }

    fn with_dead(dead: Vec<DeadLetter>) -> MailboxState {
        MailboxState {
            dead,
            ..MailboxState::default()
        }
    }

    /// The mailbox records' files.
    fn records(dir: &Path) -> Vec<PathBuf> {
        let mut v: Vec<PathBuf> = std::fs::read_dir(dir.join(MAILBOXES))
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        v.sort();
        v
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
        let out = temp("output-journal");
        {
            let s = Store::open(&dir, Some(&out)).unwrap();
            s.commit("a", "INBOX", b"line 1\n", |m| m.next_uid = 2).unwrap();
            // Another mailbox's batch: the file's end is in its record.
            s.commit("b", "INBOX", b"b 1\n", |m| m.next_uid = 5).unwrap();
        }
        // A batch's output written, then the watcher killed before it
        // recorded the batch.
        let mut f = OpenOptions::new().append(true).open(&out).unwrap();
        f.write_all(b"line 2\n").unwrap();
        drop(f);
        let s = Store::open(&dir, Some(&out)).unwrap();
        assert_eq!(std::fs::read(&out).unwrap(), b"line 1\nb 1\n");
        assert_eq!(s.mailbox("a", "INBOX").next_uid, 2);
        s.commit("a", "INBOX", b"line 2\n", |m| m.next_uid = 3).unwrap();
        assert_eq!(std::fs::read(&out).unwrap(), b"line 1\nb 1\nline 2\n");
        let state = read(&dir).unwrap();
        assert_eq!(state.output_len, 18);
        assert_eq!(state.mailboxes["a/INBOX"].output_end, 18);
        assert_eq!(state.mailboxes["b/INBOX"].output_end, 11);
        // An update without output keeps the file's recorded end.
        s.update("b", "INBOX", |m| m.counts.reconnects += 1).unwrap();
        drop(s);
        Store::open(&dir, Some(&out)).unwrap();
        assert_eq!(std::fs::read(&out).unwrap(), b"line 1\nb 1\nline 2\n");
    }

    #[test]
    fn a_users_output_file_is_appended_to_not_cut() {
        let dir = temp("user-output");
        let out = temp("user-output-journal");
        std::fs::write(&out, b"the user's\n").unwrap();
        let s = Store::open(&dir, Some(&out)).unwrap();
        s.commit("a", "INBOX", b"line 1\n", |_| ()).unwrap();
        drop(s);
        Store::open(&dir, Some(&out)).unwrap();
        assert_eq!(std::fs::read(&out).unwrap(), b"the user's\nline 1\n");
    }

    #[test]
    fn a_truncated_output_file_is_refused() {
        let dir = temp("short");
        let out = temp("short-journal");
        Store::open(&dir, Some(&out))
            .unwrap()
            .commit("a", "INBOX", b"line 1\n", |_| ())
            .unwrap();
        std::fs::write(&out, b"").unwrap();
        let e = Store::open(&dir, Some(&out)).err().unwrap();
        assert!(e.to_string().contains("changed outside the watcher"), "{e}");
    }

    #[test]
    fn state_files_are_0600_in_directories_0700() {
        let dir = temp("modes");
        let out = temp("modes-journal");
        let s = Store::open(&dir, Some(&out)).unwrap();
        s.commit("a", "INBOX", b"x\n", |m| {
            m.stopped = Some("login refused: secret".into())
        })
        .unwrap();
        assert_eq!(mode(&dir), 0o700);
        assert_eq!(mode(&dir.join(MAILBOXES)), 0o700);
        let files = records(&dir);
        assert_eq!(files.len(), 1, "{files:?}");
        for f in [&files[0], &dir.join(LOCK_FILE), &dir.join(OUTPUT_FILE), &out] {
            assert_eq!(mode(f), 0o600, "{}", f.display());
        }
    }

    #[test]
    fn a_state_directory_not_the_users_own_is_refused() {
        // Shared: anyone could plant a link where the watcher writes.
        let dir = temp("shared");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::set_permissions(&dir, Permissions::from_mode(0o777)).unwrap();
        for e in [Store::open(&dir, None).err().unwrap(), read(&dir).unwrap_err()] {
            let e = e.to_string();
            assert!(
                e.contains("state directory") && e.contains("writable by group or others") && e.contains("chmod go-w"),
                "{e}"
            );
        }
        assert!(
            !dir.join(LOCK_FILE).exists(),
            "nothing is written in a refused directory"
        );
        // A symlink to a directory of one's own.
        std::fs::set_permissions(&dir, Permissions::from_mode(0o700)).unwrap();
        let link = temp("shared-link");
        std::os::unix::fs::symlink(&dir, &link).unwrap();
        let e = Store::open(&link, None).err().unwrap().to_string();
        assert!(e.contains("is a symlink"), "{e}");
        // Another user's (the tests may run as root: it chowns).
        if private_dir::euid() == 0 {
            std::os::unix::fs::chown(&dir, Some(65534), None).unwrap();
            let e = Store::open(&dir, None).err().unwrap().to_string();
            assert!(e.contains("belongs to uid 65534, not to you"), "{e}");
        }
        // The watcher's own subdirectory made shared is refused too.
        let own = temp("shared-sub");
        drop(Store::open(&own, None).unwrap());
        std::fs::set_permissions(own.join(MAILBOXES), Permissions::from_mode(0o777)).unwrap();
        let e = Store::open(&own, None).err().unwrap().to_string();
        assert!(e.contains("writable by group or others"), "{e}");
    }

    #[test]
    fn a_planted_symlink_at_the_temporary_name_is_refused_not_followed() {
        let dir = temp("planted");
        drop(Store::open(&dir, None).unwrap());
        let victim = temp("planted-victim");
        std::fs::write(&victim, b"the victim's").unwrap();
        let mailboxes = dir.join(MAILBOXES);
        let name = file_name(&key("a", "INBOX"));
        std::os::unix::fs::symlink(&victim, mailboxes.join(format!(".{name}.tmp"))).unwrap();
        let e = write_atomic(&mailboxes, &name, b"{}").unwrap_err();
        assert!(format!("{e:#}").contains("File exists"), "{e:#}");
        assert_eq!(std::fs::read(&victim).unwrap(), b"the victim's");
        // The record itself as a symlink is not read through either.
        std::os::unix::fs::symlink(&victim, mailboxes.join(&name)).unwrap();
        assert!(read(&dir).is_err());
        std::fs::remove_file(mailboxes.join(&name)).unwrap();
        // At open the stale temporary name is the watcher's own again
        // (only the link is removed), and writes go through.
        let s = Store::open(&dir, None).unwrap();
        s.update("a", "INBOX", |m| m.next_uid = 9).unwrap();
        assert_eq!(std::fs::read(&victim).unwrap(), b"the victim's");
        assert_eq!(read(&dir).unwrap().mailboxes["a/INBOX"].next_uid, 9);
        // A planted output file link is not followed either.
        let out = temp("planted-out");
        std::os::unix::fs::symlink(&victim, &out).unwrap();
        drop(s);
        assert!(Store::open(&dir, Some(&out)).is_err());
        assert_eq!(std::fs::read(&victim).unwrap(), b"the victim's");
    }

    #[test]
    fn dead_letters_are_bounded_oldest_first_and_the_pruned_counted() {
        let mut m = with_dead((1..=1200).map(|u| letter(u, "short")).collect());
        prune_dead(&mut m);
        assert_eq!(m.dead.len(), MAX_DEAD);
        assert_eq!(m.dead[0].uid, 201, "the oldest went first");
        assert_eq!(m.dead.last().unwrap().uid, 1200);
        assert_eq!(m.counts.dead_pruned, 200);
        // Bytes: 1,000-byte errors (what the watcher keeps of one).
        let big = "e".repeat(1000);
        let mut m = with_dead((1..=400).map(|u| letter(u, &big)).collect());
        prune_dead(&mut m);
        assert_eq!(m.dead.len(), MAX_DEAD_BYTES / 1000);
        assert_eq!(m.counts.dead_pruned, 400 - (MAX_DEAD_BYTES / 1000) as u64);
        assert_eq!(m.dead.last().unwrap().uid, 400);
        // The newest is kept whatever its size.
        let mut m = with_dead(vec![letter(1, "x"), letter(2, &"y".repeat(MAX_DEAD_BYTES + 1))]);
        prune_dead(&mut m);
        assert_eq!(m.dead.iter().map(|d| d.uid).collect::<Vec<_>>(), vec![2]);
        assert_eq!(m.counts.dead_pruned, 1);
    }

    #[test]
    fn an_update_rewrites_only_its_mailbox_and_stays_bounded_as_history_grows() {
        let dir = temp("bounded");
        let s = Store::open(&dir, None).unwrap();
        s.update("quiet", "INBOX", |m| m.next_uid = 5).unwrap();
        let quiet = records(&dir)[0].clone();
        let quiet_inode = std::fs::metadata(&quiet).unwrap().ino();
        // A plugin that fails every message: each one dead-lettered, as
        // the watcher does, with the 1,000 bytes of error it keeps.
        let error = "e".repeat(1000);
        let mut sizes = Vec::new();
        for uid in 1..=400u32 {
            s.update("busy", "INBOX", |m| {
                m.done_through(uid);
                m.dead.push(letter(uid, &error));
            })
            .unwrap();
            let files = records(&dir);
            assert_eq!(files.len(), 2, "{files:?}");
            let busy = files.iter().find(|f| **f != quiet).unwrap();
            sizes.push(std::fs::metadata(busy).unwrap().len());
        }
        // The other mailbox's record was never rewritten (a rename would
        // have given it a new inode).
        assert_eq!(std::fs::metadata(&quiet).unwrap().ino(), quiet_inode);
        // What one update writes stops growing once the bound is reached.
        let bound = (MAX_DEAD_BYTES + MAX_DEAD_BYTES / 1000 * 200 + 4096) as u64;
        assert!(sizes.iter().all(|&n| n <= bound), "{:?}", sizes.iter().max());
        // (give or take the digits of the growing counts)
        assert!(
            sizes[399] <= sizes[300] + 64,
            "the 400th update costs what the 300th did: {} vs {}",
            sizes[399],
            sizes[300]
        );
        let busy = s.mailbox("busy", "INBOX");
        assert_eq!(busy.counts.dead_pruned + busy.dead.len() as u64, 400);
        assert_eq!(busy.next_uid, 401);
    }

    #[test]
    fn every_uid_through_u32_max_can_be_done() {
        let dir = temp("uidmax");
        let s = Store::open(&dir, None).unwrap();
        s.update("a", "INBOX", |m| {
            m.failures.insert(
                u32::MAX,
                Failure {
                    attempts: 1,
                    error: "x".into(),
                },
            );
            m.done_through(u32::MAX);
            m.done_through(3);
        })
        .unwrap();
        drop(s);
        let m = read(&dir).unwrap().mailboxes["a/INBOX"].clone();
        assert_eq!(m.next_uid, 1 << 32, "past the last UID there can be");
        assert!(m.failures.is_empty());
    }

    #[test]
    fn a_state_json_of_the_first_layout_is_migrated_once() {
        let dir = temp("migrate");
        let out = temp("migrate-journal");
        std::fs::create_dir_all(&dir).unwrap();
        let dead: Vec<String> = (1..=1005)
            .map(|u| format!(r#"{{"uid": {u}, "uidvalidity": 9, "attempts": 3, "error": "boom", "at": 1}}"#))
            .collect();
        // As the first layout wrote it (0644, next-uid a u32).
        let old = format!(
            r#"{{"output-len": 7, "mailboxes": {{
              "work/INBOX": {{"account": "work", "mailbox": "INBOX", "uidvalidity": 9,
                "next-uid": 4294967295, "in-flight": null, "isolate-through": 0, "failures": {{}},
                "dead": [{}], "stopped": null,
                "counts": {{"handled": 5, "failed": 0, "retried": 0, "dead-lettered": 1005,
                  "replayed": 0, "reconnects": 2, "uidvalidity-changes": 0}}}},
              "home/Lists/a b": {{"account": "home", "mailbox": "Lists/a b", "uidvalidity": 1,
                "next-uid": 12, "in-flight": {{"uids": [12, 13], "attempt": 1}}, "isolate-through": 0,
                "failures": {{}}, "dead": [], "stopped": "login refused: no", "stopped-by-uidvalidity": false,
                "counts": {{"handled": 11, "failed": 0, "retried": 0, "dead-lettered": 0,
                  "replayed": 0, "reconnects": 0, "uidvalidity-changes": 0}}}}}}}}"#,
            dead.join(", ")
        );
        std::fs::write(dir.join(OLD_STATE_FILE), old).unwrap();
        std::fs::set_permissions(dir.join(OLD_STATE_FILE), Permissions::from_mode(0o644)).unwrap();
        // Recorded output, and a batch's that was not recorded.
        std::fs::write(&out, b"line 1\nline 2\n").unwrap();
        let s = Store::open(&dir, Some(&out)).unwrap();
        assert!(!dir.join(OLD_STATE_FILE).exists(), "the world-readable file is gone");
        assert_eq!(std::fs::read(&out).unwrap(), b"line 1\n");
        let work = s.mailbox("work", "INBOX");
        assert_eq!(work.next_uid, 4294967295);
        assert_eq!(work.counts.handled, 5);
        assert_eq!(work.dead.len(), MAX_DEAD);
        assert_eq!(work.counts.dead_pruned, 5);
        let home = s.mailbox("home", "Lists/a b");
        assert_eq!(home.in_flight.as_ref().map(|f| f.uids.clone()), Some(vec![12, 13]));
        assert_eq!(home.stopped.as_deref(), Some("login refused: no"));
        assert_eq!(records(&dir).len(), 2);
        // Once: what is recorded after the migration is what a later
        // open reads.
        s.commit("work", "INBOX", b"line 2\n", |m| m.done_through(u32::MAX))
            .unwrap();
        drop(s);
        let s = Store::open(&dir, Some(&out)).unwrap();
        assert_eq!(s.mailbox("work", "INBOX").next_uid, 1 << 32);
        assert_eq!(std::fs::read(&out).unwrap(), b"line 1\nline 2\n");
        let state = read(&dir).unwrap();
        assert_eq!(state.output_len, 14);
        assert_eq!(state.mailboxes.len(), 2);
    }
}
