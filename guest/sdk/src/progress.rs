//! [`Progress`]: a job's progress, shown to the person running the plugin.
//!
//! The host draws it as a bar on its stderr when stderr is a terminal and
//! shows nothing otherwise, so reporting never changes a plugin's output.

use crate::bindings::wasimap::imap::progress as host;

/// One task's progress: `done` of `total` units, under a label.
///
/// ```ignore
/// let mut p = Progress::new("mbox INBOX", Some(count.into()));
/// for m in messages {
///     // ... export m ...
///     p.inc(1);
/// }
/// p.finish();
/// ```
///
/// Dropping it finishes the task too. The host shows one bar: tasks
/// follow each other, each starting a new bar.
#[derive(Debug)]
pub struct Progress {
    label: String,
    done: u64,
    total: Option<u64>,
}

impl Progress {
    /// Starts a task of `total` units (none when not known) and shows it.
    pub fn new(label: impl Into<String>, total: Option<u64>) -> Self {
        let p = Progress {
            label: label.into(),
            done: 0,
            total,
        };
        p.show();
        p
    }

    /// `n` more units are done.
    pub fn inc(&mut self, n: u64) {
        self.done = self.done.saturating_add(n);
        self.show();
    }

    /// Shows another label on the same bar (e.g. the mailbox now worked on).
    pub fn set_label(&mut self, label: impl Into<String>) {
        self.label = label.into();
        self.show();
    }

    /// Units done so far.
    pub fn done(&self) -> u64 {
        self.done
    }

    /// Ends the task, leaving its last state on screen.
    pub fn finish(self) {}

    fn show(&self) {
        host::report(&self.label, self.done, self.total);
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        host::finish();
    }
}
