//! `wasimap:imap/body`: message bytes held by the host, so that they cross
//! from the protocol component to a plugin as a handle. A `list<u8>` going
//! component to component is copied by the adapter one element at a time;
//! into and out of the host it is a memcpy.
//!
//! Bodies live in the store's resource table and count against
//! [`crate::limits::TransportLimits::body_bytes`]: a plugin that builds
//! bodies without end is stopped by a trap ([`Limit::Bodies`]), as one
//! that grows its linear memory without end is.

use wasmtime::component::Resource;

use crate::limits::{Limit, LimitExceeded};
use crate::view::WasimapCtxView;

/// The host side of one `body` resource.
#[derive(Debug)]
pub struct Body {
    bytes: Vec<u8>,
}

impl Body {
    /// Its length in bytes.
    pub fn len(&self) -> u64 {
        self.bytes.len() as u64
    }

    /// Up to `max` bytes from `offset`; empty past the end.
    pub fn read(&self, offset: u64, max: u32) -> &[u8] {
        let start = usize::try_from(offset).unwrap_or(usize::MAX).min(self.bytes.len());
        let end = start.saturating_add(max as usize).min(self.bytes.len());
        &self.bytes[start..end]
    }

    /// All of it.
    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }
}

impl WasimapCtxView<'_> {
    /// A new body of `bytes`, counted against the run's budget.
    ///
    /// # Errors
    /// [`LimitExceeded`] past the budget (the run traps).
    pub(crate) fn new_body(&mut self, bytes: Vec<u8>) -> wasmtime::Result<Resource<Body>> {
        let budget = self.ctx.limits.body_bytes;
        let total = self.ctx.body_bytes_in_use.checked_add(bytes.len());
        if total.is_none_or(|t| t > budget) {
            return Err(wasmtime::Error::new(LimitExceeded(Limit::Bodies)));
        }
        self.ctx.body_bytes_in_use += bytes.len();
        Ok(self.table.push(Body { bytes })?)
    }

    /// The body behind `handle`.
    pub(crate) fn body(&self, handle: &Resource<Body>) -> wasmtime::Result<&Body> {
        Ok(self.table.get(handle)?)
    }

    /// Removes a body from the table and gives its bytes back to the budget.
    pub(crate) fn take_body(&mut self, handle: Resource<Body>) -> wasmtime::Result<Vec<u8>> {
        let body = self.table.delete(handle)?;
        self.ctx.body_bytes_in_use = self.ctx.body_bytes_in_use.saturating_sub(body.bytes.len());
        Ok(body.bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::limits::TransportLimits;
    use crate::view::WasimapCtx;
    use wasmtime::component::ResourceTable;

    fn ctx(budget: usize) -> (WasimapCtx, ResourceTable) {
        let mut ctx = WasimapCtx::default();
        ctx.limits = TransportLimits {
            body_bytes: budget,
            ..TransportLimits::default()
        };
        (ctx, ResourceTable::new())
    }

    #[test]
    fn a_body_reads_back_whole_and_in_pieces() {
        let (mut ctx, mut table) = ctx(100);
        let mut v = WasimapCtxView {
            ctx: &mut ctx,
            table: &mut table,
        };
        let b = v.new_body(b"From: a\r\n\r\nhello".to_vec()).unwrap();
        let body = v.body(&b).unwrap();
        assert_eq!(body.len(), 16);
        assert_eq!(body.read(11, 100), b"hello");
        assert_eq!(body.read(0, 4), b"From");
        assert_eq!(body.read(16, 4), b"");
        assert_eq!(body.read(u64::MAX, u32::MAX), b"");
        assert_eq!(body.bytes().len(), 16);
        assert_eq!(v.take_body(b).unwrap(), b"From: a\r\n\r\nhello");
        assert_eq!(v.ctx.body_bytes_in_use, 0, "taking it gives the budget back");
    }

    #[test]
    fn bodies_past_the_budget_trap_and_dropping_gives_it_back() {
        let (mut ctx, mut table) = ctx(10);
        let mut v = WasimapCtxView {
            ctx: &mut ctx,
            table: &mut table,
        };
        let six = v.new_body(vec![0; 6]).unwrap();
        let err = v.new_body(vec![0; 5]).unwrap_err();
        assert_eq!(err.downcast_ref::<LimitExceeded>(), Some(&LimitExceeded(Limit::Bodies)));
        assert!(v.new_body(vec![0; 4]).is_ok(), "up to the budget exactly");
        v.take_body(six).unwrap();
        assert!(v.new_body(vec![0; 6]).is_ok(), "a taken body's bytes are free again");
    }
}
