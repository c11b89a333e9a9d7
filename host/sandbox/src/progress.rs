//! The `wasimap:imap/progress` import: a plugin's progress, shown by a
//! [`ProgressDisplay`] the embedder supplies (the CLI draws a bar on a
//! terminal) and not at all otherwise.
//!
//! While something is drawn, what the plugin writes to the terminal goes
//! through [`Output`], which hands it to the display, so the plugin's
//! lines never land in the middle of a bar.

use std::io::{IsTerminal, Write};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use wasmtime_wasi::p2::{OutputStream, Pollable, StreamError, StreamResult};

/// The most characters of a label shown.
pub const MAX_LABEL_CHARS: usize = 80;

/// What shows a run's progress: one task at a time.
///
/// The sandbox calls it with labels already cleaned ([`clean_label`]) and
/// `done` at most `total`, so a display need not distrust the plugin.
pub trait ProgressDisplay: Send + Sync {
    /// `done` of `total` (none: unknown) in the task `label`.
    fn report(&self, label: &str, done: u64, total: Option<u64>);
    /// Ends the current task, leaving its last state shown.
    fn finish(&self);
    /// Writes the plugin's stdout (`stderr` false) or stderr bytes to this
    /// process's, keeping them off what is drawn.
    fn write_output(&self, stderr: bool, bytes: &[u8]) -> std::io::Result<()>;
}

/// Where a run's progress goes: a display, or nowhere.
#[derive(Clone, Default)]
pub struct Progress {
    display: Option<Arc<dyn ProgressDisplay>>,
}

impl std::fmt::Debug for Progress {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Progress").field("shown", &self.is_shown()).finish()
    }
}

impl Progress {
    /// Progress that is never shown (the default: embedders and captured
    /// runs).
    pub fn hidden() -> Self {
        Progress::default()
    }

    /// Progress shown by `display`.
    pub fn shown_by(display: Arc<dyn ProgressDisplay>) -> Self {
        Progress { display: Some(display) }
    }

    /// A WASI stdout (`stderr` false) or stderr for the plugin that keeps
    /// its writes off what is drawn.
    pub fn output(&self, stderr: bool) -> Output {
        Output {
            stderr,
            progress: self.clone(),
        }
    }

    /// Whether anything is shown.
    pub fn is_shown(&self) -> bool {
        self.display.is_some()
    }

    /// `done` of `total` (none: unknown) in the task `label`.
    pub fn report(&mut self, label: &str, done: u64, total: Option<u64>) {
        if let Some(display) = &self.display {
            display.report(&clean_label(label), total.map_or(done, |t| done.min(t)), total);
        }
    }

    /// Ends the current task.
    pub fn finish(&mut self) {
        if let Some(display) = &self.display {
            display.finish();
        }
    }
}

/// The plugin's stdout or stderr while progress is shown: each write goes
/// through the display.
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
        match &self.progress.display {
            Some(display) => display.write_output(self.stderr, bytes),
            None => write(),
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
    use std::sync::Mutex;

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

    /// Everything a display was told, in order.
    #[derive(Default)]
    struct Recorded(Mutex<Vec<String>>);

    impl ProgressDisplay for Recorded {
        fn report(&self, label: &str, done: u64, total: Option<u64>) {
            self.0.lock().unwrap().push(format!("{label} {done}/{total:?}"));
        }
        fn finish(&self) {
            self.0.lock().unwrap().push("finish".into());
        }
        fn write_output(&self, stderr: bool, bytes: &[u8]) -> std::io::Result<()> {
            self.0
                .lock()
                .unwrap()
                .push(format!("{stderr} {}", String::from_utf8_lossy(bytes)));
            Ok(())
        }
    }

    #[test]
    fn hidden_progress_shows_nothing() {
        let mut p = Progress::hidden();
        p.report("task", 1, Some(2));
        p.finish();
        assert!(!p.is_shown());
    }

    #[test]
    fn a_display_gets_clean_labels_bounded_counts_and_the_output() {
        let recorded = Arc::new(Recorded::default());
        let mut p = Progress::shown_by(recorded.clone());
        p.report("mbox \u{1b}[2J", 5, Some(3));
        p.report("count", 7, None);
        p.output(false).write_all(b"line\n").unwrap();
        p.finish();
        assert_eq!(
            *recorded.0.lock().unwrap(),
            ["mbox \\u{1b}[2J 3/Some(3)", "count 7/None", "false line\n", "finish"]
        );
    }
}
