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

use crate::bindings::wasimap::imap::body;
use crate::limits::{Limit, LimitExceeded};
use crate::view::WasimapCtxView;

/// The host side of one `body` resource.
#[derive(Debug)]
pub struct Body {
    bytes: Vec<u8>,
}

impl WasimapCtxView<'_> {
    fn body(&self, handle: &Resource<Body>) -> wasmtime::Result<&Body> {
        Ok(self.table.get(handle)?)
    }

    /// Removes a body from the table and gives its bytes back to the budget.
    fn take_body(&mut self, handle: Resource<Body>) -> wasmtime::Result<Vec<u8>> {
        let body = self.table.delete(handle)?;
        self.ctx.body_bytes_in_use = self.ctx.body_bytes_in_use.saturating_sub(body.bytes.len());
        Ok(body.bytes)
    }
}

impl body::Host for WasimapCtxView<'_> {}

impl body::HostBody for WasimapCtxView<'_> {
    fn new(&mut self, bytes: Vec<u8>) -> wasmtime::Result<Resource<Body>> {
        let budget = self.ctx.limits.body_bytes;
        let total = self.ctx.body_bytes_in_use.checked_add(bytes.len());
        if total.is_none_or(|t| t > budget) {
            return Err(wasmtime::Error::new(LimitExceeded(Limit::Bodies)));
        }
        self.ctx.body_bytes_in_use += bytes.len();
        Ok(self.table.push(Body { bytes })?)
    }

    fn len(&mut self, this: Resource<Body>) -> wasmtime::Result<u64> {
        Ok(self.body(&this)?.bytes.len() as u64)
    }

    fn read(&mut self, this: Resource<Body>, offset: u64, max: u32) -> wasmtime::Result<Vec<u8>> {
        let bytes = &self.body(&this)?.bytes;
        let start = usize::try_from(offset).unwrap_or(usize::MAX).min(bytes.len());
        let end = start.saturating_add(max as usize).min(bytes.len());
        Ok(bytes[start..end].to_vec())
    }

    fn to_bytes(&mut self, this: Resource<Body>) -> wasmtime::Result<Vec<u8>> {
        Ok(self.body(&this)?.bytes.clone())
    }

    fn into_bytes(&mut self, this: Resource<Body>) -> wasmtime::Result<Vec<u8>> {
        self.take_body(this)
    }

    fn drop(&mut self, this: Resource<Body>) -> wasmtime::Result<()> {
        self.take_body(this).map(drop)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bindings::wasimap::imap::body::HostBody;
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
        let b = v.new(b"From: a\r\n\r\nhello".to_vec()).unwrap();
        let again = Resource::<Body>::new_borrow(b.rep());
        assert_eq!(v.len(again).unwrap(), 16);
        let piece = |v: &mut WasimapCtxView<'_>, o, m| v.read(Resource::new_borrow(b.rep()), o, m).unwrap();
        assert_eq!(piece(&mut v, 11, 100), b"hello");
        assert_eq!(piece(&mut v, 0, 4), b"From");
        assert_eq!(piece(&mut v, 16, 4), b"");
        assert_eq!(piece(&mut v, u64::MAX, u32::MAX), b"");
        assert_eq!(v.to_bytes(Resource::new_borrow(b.rep())).unwrap().len(), 16);
        assert_eq!(v.into_bytes(b).unwrap(), b"From: a\r\n\r\nhello");
        assert_eq!(v.ctx.body_bytes_in_use, 0, "into-bytes gives the budget back");
    }

    #[test]
    fn bodies_past_the_budget_trap_and_dropping_gives_it_back() {
        let (mut ctx, mut table) = ctx(10);
        let mut v = WasimapCtxView {
            ctx: &mut ctx,
            table: &mut table,
        };
        let six = v.new(vec![0; 6]).unwrap();
        let err = v.new(vec![0; 5]).unwrap_err();
        assert_eq!(err.downcast_ref::<LimitExceeded>(), Some(&LimitExceeded(Limit::Bodies)));
        assert!(v.new(vec![0; 4]).is_ok(), "up to the budget exactly");
        HostBody::drop(&mut v, six).unwrap();
        assert!(v.new(vec![0; 6]).is_ok(), "a dropped body's bytes are free again");
    }
}
