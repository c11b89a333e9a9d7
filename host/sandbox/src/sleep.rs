//! WASI's monotonic clock with sleeps that end by the run's deadline.
//!
//! The wall-clock limit interrupts a plugin at an epoch check, and epoch
//! checks happen only while wasm runs: a plugin blocked in a WASI sleep
//! (`std::thread::sleep`, Python's `time.sleep`, any poll on a clock
//! pollable) runs no wasm and would hold its thread past the limit. Here
//! every clock pollable a plugin subscribes to fires by the deadline at
//! the latest; the plugin then runs wasm again and the epoch check traps
//! it as a timeout. `now` and `resolution` are WASI's own.
//!
//! A call that runs under a fair CPU slot ([`crate::fair`]) gives it up
//! while it sleeps (it takes it again at its next epoch tick), so a plugin
//! asleep for one account holds no other account's call back.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use wasmtime::component::{HasData, Linker, Resource};
use wasmtime_wasi::clocks::{WasiClocksCtxView, WasiClocksView};
use wasmtime_wasi::p2::bindings::clocks::monotonic_clock::{self, Host};
use wasmtime_wasi::p2::{subscribe, DynPollable, Pollable};
use wasmtime_wasi::WasiView;

use crate::fair::CpuSlot;
use crate::view::WasimapView;

/// WASI's clocks view, the run's deadline and its CPU slot.
pub struct DeadlineClock<'a> {
    clocks: WasiClocksCtxView<'a>,
    deadline: Option<Instant>,
    cpu: Option<CpuSlot>,
    stop: Option<&'static AtomicBool>,
}

/// A clock wait of a watcher's call: it gives the call's CPU slot up
/// while it waits, and ends early when the watcher stops.
struct Sleep {
    until: Instant,
    cpu: CpuSlot,
    stop: Option<&'static AtomicBool>,
}

/// How often a sleep looks at the watcher's stop flag.
const STOP_CHECK: Duration = Duration::from_millis(100);

#[async_trait::async_trait]
impl Pollable for Sleep {
    async fn ready(&mut self) {
        if Instant::now() < self.until {
            self.cpu.give_up();
        }
        loop {
            let now = Instant::now();
            if now >= self.until || self.stop.is_some_and(|s| s.load(Ordering::SeqCst)) {
                return;
            }
            tokio::time::sleep((self.until - now).min(STOP_CHECK)).await;
        }
    }
}

struct DeadlineClocks;

impl HasData for DeadlineClocks {
    type Data<'a> = DeadlineClock<'a>;
}

impl DeadlineClock<'_> {
    /// `wait`, cut to what is left before the deadline.
    fn bounded(&self, wait: Duration) -> Duration {
        match self.deadline {
            Some(d) => wait.min(d.saturating_duration_since(Instant::now())),
            None => wait,
        }
    }
}

impl Host for DeadlineClock<'_> {
    fn now(&mut self) -> wasmtime::Result<monotonic_clock::Instant> {
        self.clocks.now()
    }

    fn resolution(&mut self) -> wasmtime::Result<monotonic_clock::Duration> {
        self.clocks.resolution()
    }

    fn subscribe_instant(&mut self, when: monotonic_clock::Instant) -> wasmtime::Result<Resource<DynPollable>> {
        let wait = Duration::from_nanos(when.saturating_sub(self.clocks.now()?));
        self.subscribe_duration(u64::try_from(self.bounded(wait).as_nanos()).unwrap_or(u64::MAX))
    }

    fn subscribe_duration(&mut self, nanos: monotonic_clock::Duration) -> wasmtime::Result<Resource<DynPollable>> {
        let wait = self.bounded(Duration::from_nanos(nanos));
        match &self.cpu {
            Some(cpu) if !wait.is_zero() => {
                let sleep = self.clocks.table.push(Sleep {
                    until: Instant::now() + wait,
                    cpu: cpu.clone(),
                    stop: self.stop,
                })?;
                subscribe(self.clocks.table, sleep)
            }
            _ => self
                .clocks
                .subscribe_duration(u64::try_from(wait.as_nanos()).unwrap_or(u64::MAX)),
        }
    }
}

/// Replaces the monotonic clock WASI put in `linker` (sync or async: the
/// interface has no blocking functions) with [`DeadlineClock`], bounded
/// by the store's [`crate::WasimapCtx::deadline`]. Any embedder's store
/// data that is a `WasiView` and a [`WasimapView`] can use it: call it
/// after `wasmtime_wasi::p2::add_to_linker_sync` (or `_async`).
///
/// # Errors
/// The linker refused the definitions.
pub fn add_to_linker<T: WasiView + WasimapView + 'static>(linker: &mut Linker<T>) -> wasmtime::Result<()> {
    linker.allow_shadowing(true);
    let added = monotonic_clock::add_to_linker::<T, DeadlineClocks>(linker, |s| {
        let ctx = &*s.wasimap().ctx;
        let (deadline, cpu, stop) = (ctx.deadline, ctx.cpu.clone(), ctx.stop);
        DeadlineClock {
            clocks: s.clocks(),
            deadline,
            cpu,
            stop,
        }
    });
    linker.allow_shadowing(false);
    added
}
