//! # wasimap-alloc
//!
//! A global allocator for wasimap's single-threaded guests: objects of up
//! to [`SMALL`] bytes come from free lists, one per 16-byte size class,
//! refilled from 64 KiB chunks; everything larger goes to the system
//! allocator (wasi-libc's dlmalloc).
//!
//! Why: typed FETCH results are many small strings and lists (an ENVELOPE
//! is a few dozen), made by the protocol component, lowered into the
//! plugin, freed on both sides; dlmalloc's malloc and free were a third of
//! the instructions of a typed ENVELOPE fetch. A free-list pop or push is
//! a handful of instructions.
//!
//! The cost: memory given to a size class stays in that class (it is
//! reused by the next object of the same size, never by another size, and
//! never returned to dlmalloc; a wasm memory never shrinks anyway). The
//! streaming APIs free each message's objects before the next message, so
//! what a class holds is one message's worth; a job that holds millions
//! of small objects at once keeps their memory for the rest of the run.
//!
//! Only for targets without threads: the pools are not locked. Guests
//! built for `wasm32-wasip2` are single-threaded; the type is not `Sync`
//! elsewhere, so it cannot be made a global allocator there by mistake.

#![cfg_attr(not(target_arch = "wasm32"), allow(dead_code))]

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::UnsafeCell;
use std::ptr::null_mut;

/// Size classes are multiples of this, which is also the alignment every
/// object from a pool has.
const GRANULE: usize = 16;
/// The largest object served from a pool.
pub const SMALL: usize = 512;
const CLASSES: usize = SMALL / GRANULE;
/// Pools are refilled in pieces of this size.
const CHUNK: usize = 64 * 1024;

struct Pools {
    /// The first free object of each class; each free object holds the
    /// address of the next.
    free: [*mut u8; CLASSES],
    /// The unused rest of the last chunk.
    next: *mut u8,
    left: usize,
}

/// The allocator; see the crate's documentation.
pub struct SmallObjects {
    pools: UnsafeCell<Pools>,
    /// Where chunks and large objects come from.
    backing: System,
}

// SAFETY: wasm32 guests built without the atomics feature have one thread,
// so the pools are never touched by two threads.
#[cfg(all(target_arch = "wasm32", not(target_feature = "atomics")))]
unsafe impl Sync for SmallObjects {}

impl SmallObjects {
    /// Empty pools.
    pub const fn new() -> Self {
        SmallObjects {
            pools: UnsafeCell::new(Pools {
                free: [null_mut(); CLASSES],
                next: null_mut(),
                left: 0,
            }),
            backing: System,
        }
    }
}

impl Default for SmallObjects {
    fn default() -> Self {
        Self::new()
    }
}

/// The class of a layout served from a pool, or `None` for the backing
/// allocator.
fn class(layout: Layout) -> Option<usize> {
    let size = layout.size();
    (size != 0 && size <= SMALL && layout.align() <= GRANULE).then(|| (size - 1) / GRANULE)
}

impl SmallObjects {
    /// # Safety
    /// One caller at a time (see the `Sync` impl).
    unsafe fn pop(&self, class: usize) -> *mut u8 {
        // SAFETY: one caller at a time; the pools are only touched here and
        // in `push`. The reference is held across the backing allocator's
        // call below, which is sound because dlmalloc never calls back into
        // this allocator.
        let pools = unsafe { &mut *self.pools.get() };
        let head = pools.free[class];
        if !head.is_null() {
            // SAFETY: a free object holds the next free object's address
            // (written by `push`), and is at least GRANULE bytes, aligned.
            pools.free[class] = unsafe { head.cast::<*mut u8>().read() };
            return head;
        }
        let bytes = (class + 1) * GRANULE;
        if pools.left < bytes {
            // SAFETY: CHUNK and GRANULE make a valid, non-zero layout.
            let chunk = unsafe { self.backing.alloc(Layout::from_size_align_unchecked(CHUNK, GRANULE)) };
            if chunk.is_null() {
                return chunk;
            }
            // The old chunk's rest (less than one object of this class) is
            // left unused.
            pools.next = chunk;
            pools.left = CHUNK;
        }
        let object = pools.next;
        // SAFETY: `bytes <= left`, so the result stays inside the chunk.
        pools.next = unsafe { object.add(bytes) };
        pools.left -= bytes;
        object
    }

    /// # Safety
    /// `object` came from `pop(class)` and is not used any more; one caller
    /// at a time.
    unsafe fn push(&self, object: *mut u8, class: usize) {
        // SAFETY: as in `pop`.
        let pools = unsafe { &mut *self.pools.get() };
        // SAFETY: the object is ours again, at least GRANULE bytes, aligned.
        unsafe { object.cast::<*mut u8>().write(pools.free[class]) };
        pools.free[class] = object;
    }
}

// SAFETY: every object handed out is a distinct piece of memory of at
// least the layout's size, aligned to GRANULE (>= the layout's alignment)
// or by the backing allocator; it is not handed out again until freed.
unsafe impl GlobalAlloc for SmallObjects {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        match class(layout) {
            // SAFETY: the caller's contract (one thread, see `Sync`).
            Some(c) => unsafe { self.pop(c) },
            // SAFETY: the caller's layout contract, passed on.
            None => unsafe { self.backing.alloc(layout) },
        }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        match class(layout) {
            Some(_) => {
                // SAFETY: as in `alloc`.
                let p = unsafe { self.alloc(layout) };
                if !p.is_null() {
                    // SAFETY: `p` holds at least `layout.size()` bytes.
                    unsafe { std::ptr::write_bytes(p, 0, layout.size()) };
                }
                p
            }
            // calloc: fresh pages from the backing allocator need no memset.
            // SAFETY: the caller's layout contract, passed on.
            None => unsafe { self.backing.alloc_zeroed(layout) },
        }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        match class(layout) {
            // SAFETY: `ptr` was allocated with this layout, so from this class.
            Some(c) => unsafe { self.push(ptr, c) },
            // SAFETY: it came from the backing allocator with this layout.
            None => unsafe { self.backing.dealloc(ptr, layout) },
        }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY (whole function): the caller's contract for `realloc`: `ptr`
        // was allocated with `layout`, `new_size` is valid for its alignment.
        let new_layout = unsafe { Layout::from_size_align_unchecked(new_size, layout.align()) };
        match (class(layout), class(new_layout)) {
            (Some(old), Some(new)) if old == new => ptr,
            (None, None) => unsafe { self.backing.realloc(ptr, layout, new_size) },
            _ => {
                let moved = unsafe { self.alloc(new_layout) };
                if !moved.is_null() {
                    unsafe {
                        std::ptr::copy_nonoverlapping(ptr, moved, layout.size().min(new_size));
                        self.dealloc(ptr, layout);
                    }
                }
                moved
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn layout(size: usize, align: usize) -> Layout {
        Layout::from_size_align(size, align).unwrap()
    }

    #[test]
    fn small_objects_are_distinct_aligned_and_reused_by_their_class() {
        let a = SmallObjects::new();
        unsafe {
            let mut seen = Vec::new();
            for size in [1, 15, 16, 17, 100, 512] {
                let p = a.alloc(layout(size, 8));
                assert!(!p.is_null());
                assert_eq!(p as usize % GRANULE, 0);
                std::ptr::write_bytes(p, 0xAB, size);
                seen.push((p, size));
            }
            // No two objects overlap.
            for (i, &(p, n)) in seen.iter().enumerate() {
                for &(q, m) in &seen[i + 1..] {
                    assert!(p as usize + n <= q as usize || q as usize + m <= p as usize);
                }
            }
            let (p, n) = seen[4];
            a.dealloc(p, layout(n, 8));
            assert_eq!(a.alloc(layout(97, 1)), p, "same class, freed last: reused");
            assert_ne!(a.alloc(layout(97, 1)), p, "not handed out twice");
        }
    }

    #[test]
    fn large_or_overaligned_objects_go_to_the_backing_allocator_and_back() {
        let a = SmallObjects::new();
        unsafe {
            let big = a.alloc(layout(SMALL + 1, 8));
            let aligned = a.alloc(layout(64, 64));
            assert_eq!(aligned as usize % 64, 0);
            std::ptr::write_bytes(big, 1, SMALL + 1);
            a.dealloc(big, layout(SMALL + 1, 8));
            a.dealloc(aligned, layout(64, 64));
        }
    }

    #[test]
    fn realloc_keeps_the_bytes_and_gives_room_for_the_new_size() {
        let a = SmallObjects::new();
        unsafe {
            let mut p = a.alloc(layout(8, 1));
            std::ptr::write_bytes(p, 7, 8);
            let mut size = 8;
            for new in [12, 16, 40, 600, 5000, 30, 3] {
                // A neighbour made just before: growing into it would
                // overwrite it.
                let neighbour = a.alloc(layout(new, 1));
                std::ptr::write_bytes(neighbour, 0xEE, new);
                p = a.realloc(p, layout(size, 1), new);
                assert!(!p.is_null());
                let kept = size.min(new);
                assert!(
                    std::slice::from_raw_parts(p, kept).iter().all(|&b| b == 7),
                    "{size} -> {new}"
                );
                std::ptr::write_bytes(p, 7, new);
                assert!(
                    std::slice::from_raw_parts(neighbour, new).iter().all(|&b| b == 0xEE),
                    "{size} -> {new}"
                );
                a.dealloc(neighbour, layout(new, 1));
                size = new;
            }
            a.dealloc(p, layout(size, 1));
        }
    }

    #[test]
    fn zeroed_objects_are_zero_even_when_reused() {
        let a = SmallObjects::new();
        unsafe {
            let p = a.alloc(layout(64, 8));
            std::ptr::write_bytes(p, 0xFF, 64);
            a.dealloc(p, layout(64, 8));
            for size in [64, SMALL + 100] {
                let z = a.alloc_zeroed(layout(size, 8));
                assert!(std::slice::from_raw_parts(z, size).iter().all(|&b| b == 0));
                a.dealloc(z, layout(size, 8));
            }
        }
    }

    #[test]
    fn a_pool_refills_past_one_chunk() {
        let a = SmallObjects::new();
        unsafe {
            let n = 3 * CHUNK / SMALL;
            let objects: Vec<*mut u8> = (0..n).map(|_| a.alloc(layout(SMALL, 8))).collect();
            let mut sorted = objects.clone();
            sorted.sort();
            sorted.dedup();
            assert_eq!(sorted.len(), n);
            for p in objects {
                a.dealloc(p, layout(SMALL, 8));
            }
        }
    }
}
