//! The compiled-plugin cache: a directory wasimap owns.
//!
//! A compiled artifact is native code that wasmtime maps and runs without
//! further checks, so whoever can write the cache chooses what runs. The
//! cache therefore lives in a directory that belongs to the user and that
//! nobody else can write (created with mode 0700; an existing one owned by
//! someone else or writable by group or others is refused), in a
//! subdirectory of its own (`artifacts-v1`). wasimap only ever creates,
//! renames and removes files it made itself there; it follows no symlink
//! and deletes nothing else, so `--cache-dir ~` costs nothing but a
//! subdirectory.
//!
//! Each artifact records the key it was compiled for (SHA-256 of the
//! plugin, the protocol component and the engine's compatibility hash) and
//! the SHA-256 of its own bytes; both are checked before the bytes are
//! handed to wasmtime, so an artifact copied over another's name, a
//! truncated file or a stale one is recompiled, never run.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use anyhow::{bail, Context, Result};
use sha2::{Digest, Sha256};
use wasmtime::component::Component;
use wasmtime::Engine;

const MAGIC: &[u8; 16] = b"wasimap-cwasm-1\n";
const SUBDIR: &str = "artifacts-v1";
/// Larger artifacts are not read (a componentize-py plugin compiles to
/// about 60 MB).
const MAX_ARTIFACT: u64 = 1 << 30;

/// The key of one compiled artifact.
pub type Key = [u8; 32];

/// An open cache directory.
#[derive(Debug, Clone)]
pub struct ArtifactCache {
    dir: PathBuf,
}

fn euid() -> u32 {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() }
}

/// Whether group or others may write what `meta` describes.
fn writable_by_others(meta: &std::fs::Metadata) -> bool {
    meta.mode() & 0o022 != 0
}

/// Checks that `path` is a real directory (not a symlink) of this user
/// that group and others cannot write.
fn check_owned_dir(path: &Path) -> Result<()> {
    let meta = std::fs::symlink_metadata(path).with_context(|| format!("cache directory {}", path.display()))?;
    if meta.file_type().is_symlink() {
        bail!(
            "cache directory {} is a symlink; give the directory itself",
            path.display()
        );
    }
    if !meta.is_dir() {
        bail!("cache directory {} is not a directory", path.display());
    }
    if meta.uid() != euid() {
        bail!(
            "cache directory {} belongs to uid {}, not to you: compiled code from it would run as you",
            path.display(),
            meta.uid()
        );
    }
    if writable_by_others(&meta) {
        bail!(
            "cache directory {} is writable by group or others (mode {:o}): anyone who can write it chooses what runs; `chmod go-w` it or use another",
            path.display(),
            meta.mode() & 0o777
        );
    }
    Ok(())
}

fn create_private_dir(path: &Path) -> Result<()> {
    match std::fs::DirBuilder::new().mode(0o700).create(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(e).with_context(|| format!("creating {}", path.display())),
    }
}

impl ArtifactCache {
    /// Opens (creating it if missing, with mode 0700) the cache under
    /// `root`.
    ///
    /// # Errors
    /// When `root` or wasimap's subdirectory is a symlink, not the user's,
    /// or writable by others.
    pub fn open(root: &Path) -> Result<Self> {
        if !root.exists() {
            if let Some(parent) = root.parent().filter(|p| !p.as_os_str().is_empty()) {
                std::fs::create_dir_all(parent).with_context(|| format!("creating {}", parent.display()))?;
            }
            create_private_dir(root)?;
        }
        check_owned_dir(root)?;
        let dir = root.join(SUBDIR);
        create_private_dir(&dir)?;
        check_owned_dir(&dir)?;
        Ok(ArtifactCache { dir })
    }

    /// The directory holding the artifacts.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn path(&self, key: &Key) -> PathBuf {
        let hex: String = key.iter().map(|b| format!("{b:02x}")).collect();
        self.dir.join(format!("{hex}.cwasm"))
    }

    /// The artifact for `key`, if one is stored and intact.
    pub fn load(&self, engine: &Engine, key: &Key) -> Option<Component> {
        let mapped = match map_artifact(&self.path(key)) {
            Ok(m) => m,
            Err(e) => {
                tracing::debug!(error = %e, "no usable cached artifact");
                return None;
            }
        };
        let body = verified_body(mapped.bytes(), key)?;
        // SAFETY: the bytes come from a file in a directory only this user
        // can write, and they are the ones `store` wrote for this key and
        // engine (key and SHA-256 checked above).
        unsafe { Component::deserialize(engine, body) }.ok()
    }

    /// Stores `component` under `key`, atomically (a new file, then a
    /// rename), so a concurrent start never reads half an artifact.
    pub fn store(&self, component: &Component, key: &Key) -> Result<()> {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let body = component.serialize().map_err(anyhow::Error::from)?;
        let tmp = self.dir.join(format!(
            ".tmp-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        let written = (|| -> Result<()> {
            let mut f = OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .custom_flags(libc::O_NOFOLLOW)
                .open(&tmp)?;
            f.write_all(MAGIC)?;
            f.write_all(key)?;
            f.write_all(&Sha256::digest(&body))?;
            f.write_all(&body)?;
            f.sync_all()?;
            std::fs::rename(&tmp, self.path(key))?;
            Ok(())
        })();
        if written.is_err() {
            // Only the file this call created.
            let _ = std::fs::remove_file(&tmp);
        }
        written
    }
}

/// A read-only private mapping of an artifact file: hashed and handed to
/// wasmtime without a copy into the heap first (the cached start is a few
/// milliseconds, and this is most of it).
struct Mapped {
    ptr: *mut libc::c_void,
    len: usize,
}

impl Mapped {
    fn bytes(&self) -> &[u8] {
        // SAFETY: `ptr` maps `len` readable bytes until `drop`.
        unsafe { std::slice::from_raw_parts(self.ptr.cast::<u8>(), self.len) }
    }
}

impl Drop for Mapped {
    fn drop(&mut self) {
        // SAFETY: the mapping made in `map_artifact`, unmapped once.
        unsafe {
            libc::munmap(self.ptr, self.len);
        }
    }
}

fn map_artifact(path: &Path) -> Result<Mapped> {
    use std::os::fd::AsRawFd;
    let f: File = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
        .open(path)?;
    let meta = f.metadata()?;
    if !meta.is_file() || meta.uid() != euid() || writable_by_others(&meta) || meta.len() > MAX_ARTIFACT {
        bail!("{} is not a private regular file of this user", path.display());
    }
    let len = usize::try_from(meta.len())?;
    if len == 0 {
        bail!("{} is empty", path.display());
    }
    // SAFETY: a fresh private read-only mapping of an open regular file;
    // MAP_PRIVATE keeps later writes to the file from changing what was
    // verified only as far as the kernel's copy-on-write allows, which is
    // why the directory must be private to the user.
    let ptr = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            len,
            libc::PROT_READ,
            libc::MAP_PRIVATE | libc::MAP_POPULATE,
            f.as_raw_fd(),
            0,
        )
    };
    if ptr == libc::MAP_FAILED {
        return Err(std::io::Error::last_os_error().into());
    }
    Ok(Mapped { ptr, len })
}

fn verified_body<'a>(bytes: &'a [u8], key: &Key) -> Option<&'a [u8]> {
    let rest = bytes.strip_prefix(MAGIC.as_slice())?;
    let (stored_key, rest) = rest.split_at_checked(32)?;
    let (digest, body) = rest.split_at_checked(32)?;
    (stored_key == key && digest == Sha256::digest(body).as_slice()).then_some(body)
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    fn temp(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("wasimap-cache-test-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        d
    }

    #[test]
    fn a_new_cache_is_private_and_its_own_subdirectory() {
        let root = temp("new");
        let cache = ArtifactCache::open(&root).unwrap();
        assert_eq!(cache.dir(), root.join(SUBDIR));
        for d in [&root, &root.join(SUBDIR)] {
            assert_eq!(std::fs::metadata(d).unwrap().mode() & 0o777, 0o700);
        }
        std::fs::remove_dir_all(&root).unwrap();
    }

    #[test]
    fn foreign_shared_and_linked_directories_are_refused() {
        let root = temp("shared");
        std::fs::create_dir_all(&root).unwrap();
        std::fs::set_permissions(&root, std::fs::Permissions::from_mode(0o777)).unwrap();
        let err = ArtifactCache::open(&root).unwrap_err().to_string();
        assert!(err.contains("writable by group or others"), "{err}");
        std::fs::set_permissions(&root, std::fs::Permissions::from_mode(0o755)).unwrap();
        let link = temp("link");
        std::os::unix::fs::symlink(&root, &link).unwrap();
        assert!(ArtifactCache::open(&link).unwrap_err().to_string().contains("symlink"));
        // wasimap's own subdirectory as a symlink elsewhere is refused too.
        let elsewhere = temp("elsewhere");
        std::fs::create_dir_all(&elsewhere).unwrap();
        std::os::unix::fs::symlink(&elsewhere, root.join(SUBDIR)).unwrap();
        assert!(ArtifactCache::open(&root).unwrap_err().to_string().contains("symlink"));
        for d in [&root, &link, &elsewhere] {
            let _ = std::fs::remove_file(d);
            let _ = std::fs::remove_dir_all(d);
        }
    }

    #[test]
    fn bodies_are_checked_against_key_and_digest() {
        let key = [7u8; 32];
        let body = b"native code";
        let mut file = MAGIC.to_vec();
        file.extend_from_slice(&key);
        file.extend_from_slice(&Sha256::digest(body));
        file.extend_from_slice(body);
        assert_eq!(verified_body(&file, &key), Some(&body[..]));
        assert_eq!(verified_body(&file, &[8u8; 32]), None, "another plugin's artifact");
        let mut tampered = file.clone();
        *tampered.last_mut().unwrap() ^= 1;
        assert_eq!(verified_body(&tampered, &key), None);
        assert_eq!(verified_body(&file[..40], &key), None, "truncated");
        assert_eq!(verified_body(b"", &key), None);
    }
}
