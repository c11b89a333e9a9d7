//! The imports that neither block nor suspend, one implementation for
//! both embeddings (the async bindings map these interfaces to the
//! blocking ones): `types`, `timezone`, `progress` and `body`.

use wasmtime::component::Resource;

use super::generated::wasimap::imap::{body, progress, timezone, types};
use crate::body::Body;
use crate::view::WasimapCtxView;

impl types::Host for WasimapCtxView<'_> {}

impl progress::Host for WasimapCtxView<'_> {
    fn report(&mut self, label: String, done: u64, total: Option<u64>) {
        self.ctx.progress.report(&label, done, total);
    }

    fn finish(&mut self) {
        self.ctx.progress.finish();
    }
}

/// The host's local zone for the protocol component's time utilities.
impl timezone::Host for WasimapCtxView<'_> {
    fn offset_at(&mut self, instant: i64) -> timezone::LocalOffset {
        crate::timezone::offset_at(instant).into()
    }

    fn from_local(&mut self, time: types::StructTime) -> Option<i64> {
        crate::timezone::from_local(&time.into())
    }
}

impl body::Host for WasimapCtxView<'_> {}

impl body::HostBody for WasimapCtxView<'_> {
    fn new(&mut self, bytes: Vec<u8>) -> wasmtime::Result<Resource<Body>> {
        self.new_body(bytes)
    }

    fn len(&mut self, this: Resource<Body>) -> wasmtime::Result<u64> {
        Ok(self.body(&this)?.len())
    }

    fn read(&mut self, this: Resource<Body>, offset: u64, max: u32) -> wasmtime::Result<Vec<u8>> {
        Ok(self.body(&this)?.read(offset, max).to_vec())
    }

    fn to_bytes(&mut self, this: Resource<Body>) -> wasmtime::Result<Vec<u8>> {
        Ok(self.body(&this)?.bytes().to_vec())
    }

    fn into_bytes(&mut self, this: Resource<Body>) -> wasmtime::Result<Vec<u8>> {
        self.take_body(this)
    }

    fn drop(&mut self, this: Resource<Body>) -> wasmtime::Result<()> {
        self.take_body(this).map(drop)
    }
}
