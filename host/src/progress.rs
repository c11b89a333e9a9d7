//! The `wasimap:imap/progress` import: a plugin's progress, drawn with
//! indicatif on stderr when stderr is a terminal and not at all otherwise.
//!
//! While a bar is on screen, what the plugin writes to a terminal goes
//! through [`Output`], which takes the bar off, writes, and draws it again,
//! so the plugin's lines never land in the middle of the bar.

use std::io::{IsTerminal, Write};
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use wasmtime_wasi::p2::{OutputStream, Pollable, StreamError, StreamResult};

/// The most characters of a label shown.
pub const MAX_LABEL_CHARS: usize = 80;

/// Where a run's progress goes: one bar at a time, or nowhere.
#[derive(Debug, Clone, Default)]
pub struct Progress {
    /// Whether bars are drawn at all.
    shown: bool,
    /// The current task's bar, between its first `report` and `finish`;
    /// shared with the run's [`Output`]s.
    bar: Arc<Mutex<Option<ProgressBar>>>,
}

impl Progress {
    /// Progress that is never drawn (the default: embedders and captured
    /// runs).
    pub fn hidden() -> Self {
        Progress::default()
    }

    /// Progress drawn on this process's stderr if it is a terminal, else
    /// hidden (`wasimap run`).
    pub fn on_stderr_if_terminal() -> Self {
        Progress {
            shown: std::io::stderr().is_terminal(),
            bar: Arc::default(),
        }
    }

    /// The current bar, if a task is under way.
    fn current(&self) -> std::sync::MutexGuard<'_, Option<ProgressBar>> {
        self.bar.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// A WASI stdout (`stderr` false) or stderr for the plugin that keeps
    /// its writes off the bar.
    pub fn output(&self, stderr: bool) -> Output {
        Output {
            stderr,
            progress: self.clone(),
        }
    }

    /// Whether anything is drawn.
    pub fn is_shown(&self) -> bool {
        self.shown
    }

    /// `done` of `total` (none: unknown) in the task `label`.
    pub fn report(&mut self, label: &str, done: u64, total: Option<u64>) {
        if !self.shown {
            return;
        }
        let mut current = self.current();
        let bar = current.get_or_insert_with(|| {
            let bar = ProgressBar::with_draw_target(total, ProgressDrawTarget::stderr());
            bar.set_style(style(total.is_some()));
            bar
        });
        if bar.length() != total {
            bar.set_style(style(total.is_some()));
            match total {
                Some(len) => bar.set_length(len),
                None => bar.unset_length(),
            }
        }
        bar.set_message(clean_label(label));
        bar.set_position(total.map_or(done, |t| done.min(t)));
    }

    /// Ends the current task, leaving its last state on screen.
    pub fn finish(&mut self) {
        if let Some(bar) = self.current().take() {
            bar.finish();
        }
    }
}

/// The plugin's stdout or stderr while progress is drawn: each write takes
/// the bar off the screen and draws it again after.
#[derive(Debug, Clone)]
pub struct Output {
    stderr: bool,
    progress: Progress,
}

impl Output {
    fn write_all(&self, bytes: &[u8]) -> std::io::Result<()> {
        let write = || {
            if self.stderr {
                std::io::stderr().write_all(bytes)
            } else {
                std::io::stdout()
                    .write_all(bytes)
                    .and_then(|()| std::io::stdout().flush())
            }
        };
        let bar = self.progress.current().clone();
        match bar {
            Some(bar) if !bar.is_finished() => bar.suspend(write),
            _ => write(),
        }
    }

    fn flush(&self) -> std::io::Result<()> {
        if self.stderr {
            std::io::stderr().flush()
        } else {
            std::io::stdout().flush()
        }
    }
}

fn stream_error(e: std::io::Error) -> StreamError {
    if e.kind() == std::io::ErrorKind::BrokenPipe {
        StreamError::Closed
    } else {
        StreamError::LastOperationFailed(e.into())
    }
}

impl wasmtime_wasi::cli::IsTerminal for Output {
    fn is_terminal(&self) -> bool {
        if self.stderr {
            IsTerminal::is_terminal(&std::io::stderr())
        } else {
            IsTerminal::is_terminal(&std::io::stdout())
        }
    }
}

impl wasmtime_wasi::cli::StdoutStream for Output {
    fn p2_stream(&self) -> Box<dyn OutputStream> {
        Box::new(self.clone())
    }

    fn async_stream(&self) -> Box<dyn tokio::io::AsyncWrite + Send + Sync> {
        Box::new(self.clone())
    }
}

impl OutputStream for Output {
    fn write(&mut self, bytes: bytes::Bytes) -> StreamResult<()> {
        self.write_all(&bytes).map_err(stream_error)
    }

    fn flush(&mut self) -> StreamResult<()> {
        Output::flush(self).map_err(stream_error)
    }

    fn check_write(&mut self) -> StreamResult<usize> {
        Ok(64 << 10)
    }
}

#[async_trait::async_trait]
impl Pollable for Output {
    async fn ready(&mut self) {}
}

impl tokio::io::AsyncWrite for Output {
    fn poll_write(self: Pin<&mut Self>, _: &mut Context<'_>, buf: &[u8]) -> Poll<std::io::Result<usize>> {
        Poll::Ready(self.write_all(buf).map(|()| buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Output::flush(&self))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

fn style(bounded: bool) -> ProgressStyle {
    let template = if bounded {
        "{msg} [{bar:30}] {pos}/{len} ({elapsed})"
    } else {
        "{spinner} {msg} {pos} ({elapsed})"
    };
    ProgressStyle::with_template(template)
        .expect("a valid template")
        .progress_chars("=> ")
}

/// A label as shown: its first [`MAX_LABEL_CHARS`] characters, escaped
/// for the terminal ([`crate::terminal::escape`]: escape sequences, line
/// breaks, bidi and other format characters shown as `\u{..}`).
pub fn clean_label(label: &str) -> String {
    let end = label
        .char_indices()
        .nth(MAX_LABEL_CHARS)
        .map_or(label.len(), |(i, _)| i);
    crate::terminal::escape(&label[..end]).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_show_control_and_bidi_characters_escaped_and_lose_length() {
        assert_eq!(clean_label("mbox \u{1b}[2JINBOX\r\n"), "mbox \\u{1b}[2JINBOX\\r\\n");
        // U+202E would show "report-\u{202e}txt.exe" as "report-exe.txt".
        assert_eq!(clean_label("report-\u{202e}txt.exe"), "report-\\u{202e}txt.exe");
        assert_eq!(clean_label("\u{2067}a\u{200f}\u{61c}"), "\\u{2067}a\\u{200f}\\u{61c}");
        assert_eq!(clean_label(&"x".repeat(500)).chars().count(), MAX_LABEL_CHARS);
        assert_eq!(clean_label(&"ü".repeat(500)), "ü".repeat(MAX_LABEL_CHARS));
        assert_eq!(clean_label("Büro"), "Büro");
    }

    #[test]
    fn hidden_progress_keeps_no_bar() {
        let mut p = Progress::hidden();
        p.report("task", 1, Some(2));
        assert!(p.current().is_none() && !p.is_shown());
        p.finish();
    }

    #[test]
    fn a_shown_bar_follows_reports_until_finished() {
        let mut p = Progress {
            shown: true,
            bar: Arc::default(),
        };
        p.report("mbox INBOX", 5, Some(3));
        let bar = p.current().clone().unwrap();
        bar.set_draw_target(ProgressDrawTarget::hidden());
        assert_eq!((bar.position(), bar.length()), (3, Some(3)), "done is at most total");
        p.report("count", 7, None);
        assert_eq!((bar.position(), bar.length(), bar.message()), (7, None, "count".into()));
        p.finish();
        assert!(bar.is_finished() && p.current().is_none());
        p.finish();
    }
}
