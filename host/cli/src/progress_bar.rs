//! The plugin's progress as an indicatif bar on stderr: one bar per task,
//! taken off the screen while the plugin's output is written.

use std::io::Write;
use std::sync::{Mutex, MutexGuard, PoisonError};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use wasimap_sandbox::progress::ProgressDisplay;

/// A bar on stderr, between a task's first report and its finish.
#[derive(Default)]
pub struct Bar {
    current: Mutex<Option<ProgressBar>>,
}

impl Bar {
    fn current(&self) -> MutexGuard<'_, Option<ProgressBar>> {
        self.current.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl ProgressDisplay for Bar {
    fn report(&self, label: &str, done: u64, total: Option<u64>) {
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
        bar.set_message(label.to_string());
        bar.set_position(done);
    }

    fn finish(&self) {
        if let Some(bar) = self.current().take() {
            bar.finish();
        }
    }

    fn write_output(&self, stderr: bool, bytes: &[u8]) -> std::io::Result<()> {
        let write = || {
            if stderr {
                std::io::stderr().write_all(bytes)
            } else {
                let mut out = std::io::stdout();
                out.write_all(bytes).and_then(|()| out.flush())
            }
        };
        // Cloned so that the plugin's write does not hold the lock a
        // report waits for.
        let bar = self.current().clone();
        match bar {
            Some(bar) if !bar.is_finished() => bar.suspend(write),
            _ => write(),
        }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bar_follows_reports_until_finished() {
        let display = Bar::default();
        display.report("mbox INBOX", 3, Some(3));
        let bar = display.current().clone().unwrap();
        bar.set_draw_target(ProgressDrawTarget::hidden());
        assert_eq!((bar.position(), bar.length()), (3, Some(3)));
        display.report("count", 7, None);
        assert_eq!((bar.position(), bar.length(), bar.message()), (7, None, "count".into()));
        display.finish();
        assert!(bar.is_finished() && display.current().is_none());
        display.finish();
    }
}
