//! Limits on what a plugin can make the host spend: the memory of its whole
//! store, its instances, memories and tables, its open connections and
//! child processes, and how long any host call may block. When a limit
//! fires, the limiter records which one, so the runner reports it by type
//! rather than by matching message text.

use std::fmt;
use std::time::{Duration, Instant};

use wasmtime::ResourceLimiter;

/// Which limit stopped a plugin.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Limit {
    /// The store's total linear memory.
    Memory,
    /// Table elements of the store.
    TableElements,
    /// Instances, memories or tables created.
    Count,
    /// Bytes of `body` resources held by the host
    /// ([`TransportLimits::body_bytes`]).
    Bodies,
}

/// A store limit fired; carried as the trap's error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LimitExceeded(pub Limit);

impl fmt::Display for LimitExceeded {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Limit::Memory => f.write_str("the store's memory limit was reached"),
            Limit::TableElements => f.write_str("the store's table limit was reached"),
            Limit::Count => f.write_str("the limit of instances, memories or tables was reached"),
            Limit::Bodies => f.write_str("the run's budget of message bodies held by the host was reached"),
        }
    }
}

impl std::error::Error for LimitExceeded {}

/// Limits of one store, counted across all its memories and tables (a
/// composed plugin has several: its own, the protocol component's, WASI
/// adapters').
#[derive(Debug, Clone, Copy)]
pub struct StoreLimitsConfig {
    /// Bytes of linear memory, all memories together.
    pub memory_bytes: usize,
    /// Table elements, all tables together.
    pub table_elements: usize,
    /// Instances.
    pub instances: usize,
    /// Linear memories.
    pub memories: usize,
    /// Tables.
    pub tables: usize,
}

impl Default for StoreLimitsConfig {
    fn default() -> Self {
        StoreLimitsConfig {
            memory_bytes: 512 << 20,
            table_elements: 1 << 20,
            // A composed plugin has a few dozen core instances; a
            // componentize-py plugin about as many.
            instances: 100,
            memories: 20,
            tables: 50,
        }
    }
}

/// The [`ResourceLimiter`] of a plugin store.
#[derive(Debug)]
pub struct StoreLimiter {
    config: StoreLimitsConfig,
    memory_in_use: usize,
    table_elements_in_use: usize,
    fired: Option<Limit>,
}

impl StoreLimiter {
    /// A limiter enforcing `config`.
    pub fn new(config: StoreLimitsConfig) -> Self {
        StoreLimiter {
            config,
            memory_in_use: 0,
            table_elements_in_use: 0,
            fired: None,
        }
    }

    /// The limit that fired, if any.
    pub fn fired(&self) -> Option<Limit> {
        self.fired
    }

    fn fire(&mut self, limit: Limit) -> wasmtime::Result<bool> {
        self.fired = Some(limit);
        Err(wasmtime::Error::new(LimitExceeded(limit)))
    }
}

/// Moves one item's share of `in_use` from `current` to `desired`, if the
/// total stays within `limit`.
fn regrow(in_use: &mut usize, current: usize, desired: usize, limit: usize) -> bool {
    let others = *in_use - current.min(*in_use);
    match others.checked_add(desired) {
        Some(total) if total <= limit => {
            *in_use = total;
            true
        }
        _ => false,
    }
}

impl ResourceLimiter for StoreLimiter {
    fn memory_growing(&mut self, current: usize, desired: usize, _maximum: Option<usize>) -> wasmtime::Result<bool> {
        if regrow(&mut self.memory_in_use, current, desired, self.config.memory_bytes) {
            return Ok(true);
        }
        self.fire(Limit::Memory)
    }

    fn table_growing(&mut self, current: usize, desired: usize, _maximum: Option<usize>) -> wasmtime::Result<bool> {
        if regrow(
            &mut self.table_elements_in_use,
            current,
            desired,
            self.config.table_elements,
        ) {
            return Ok(true);
        }
        self.fire(Limit::TableElements)
    }

    fn instances(&self) -> usize {
        self.config.instances
    }

    fn memories(&self) -> usize {
        self.config.memories
    }

    fn tables(&self) -> usize {
        self.config.tables
    }
}

/// Limits of the host resources behind the transport.
#[derive(Debug, Clone, Copy)]
pub struct TransportLimits {
    /// Connections (TCP, TLS and process) open at once.
    pub connections: usize,
    /// Child processes (stream connections) running at once.
    pub processes: usize,
    /// Bytes of `body` resources held at once (message bytes the protocol
    /// component hands over, and bodies a plugin builds).
    pub body_bytes: usize,
}

impl Default for TransportLimits {
    fn default() -> Self {
        TransportLimits {
            connections: 16,
            processes: 4,
            // Above the largest message a fetch accepts (the untagged
            // budget, 192 MiB), below the store's 512 MiB of linear memory.
            body_bytes: 256 << 20,
        }
    }
}

/// How long a host call may block: the guest's own timeout if it set one,
/// never more than the time left before `deadline`.
pub fn bounded_wait(requested: Option<Duration>, deadline: Option<Instant>) -> Option<Duration> {
    let left = deadline.map(|d| {
        d.saturating_duration_since(Instant::now())
            .max(Duration::from_millis(1))
    });
    match (requested, left) {
        (Some(r), Some(l)) => Some(r.min(l)),
        (r, l) => r.or(l),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memory_is_counted_across_memories() {
        let mut l = StoreLimiter::new(StoreLimitsConfig {
            memory_bytes: 100,
            ..StoreLimitsConfig::default()
        });
        assert!(l.memory_growing(0, 60, None).unwrap());
        assert!(l.memory_growing(0, 40, None).unwrap(), "a second memory fits exactly");
        let err = l.memory_growing(40, 41, None).unwrap_err();
        assert_eq!(err.downcast_ref::<LimitExceeded>(), Some(&LimitExceeded(Limit::Memory)));
        assert_eq!(l.fired(), Some(Limit::Memory));
        let mut l = StoreLimiter::new(StoreLimitsConfig::default());
        assert!(l.memory_growing(0, usize::MAX, None).is_err(), "no overflow");
    }

    #[test]
    fn waits_are_bounded_by_the_time_left() {
        let soon = Instant::now() + Duration::from_secs(2);
        assert!(bounded_wait(Some(Duration::from_secs(4000)), Some(soon)).unwrap() <= Duration::from_secs(2));
        assert_eq!(
            bounded_wait(Some(Duration::from_millis(5)), Some(soon)),
            Some(Duration::from_millis(5))
        );
        assert!(bounded_wait(None, Some(soon)).unwrap() <= Duration::from_secs(2));
        assert_eq!(bounded_wait(None, None), None);
        let past = Instant::now() - Duration::from_secs(1);
        assert_eq!(bounded_wait(None, Some(past)), Some(Duration::from_millis(1)));
    }
}
