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
//! Each artifact ends with a trailer recording the key it was compiled for
//! (SHA-256 of the plugin, the protocol component and the engine's
//! compatibility hash), the length and the CRC-32 of the compiled bytes;
//! all three are checked before wasmtime maps the file, so an artifact
//! copied over another's name, a truncated or corrupted file or a stale one
//! is recompiled, never run. The check reads the file through one small
//! buffer rather than a mapping: wasmtime then maps the file itself
//! (`Component::deserialize_file`) and only the pages a run executes
//! become part of the process. A checksum is enough here: whoever can
//! write the directory could write any digest too, which is why the
//! directory must be private (above); the trailer only has to catch
//! accidents, and SHA-256 of the artifact was half of a cached start's CPU.

use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use anyhow::{bail, Result};
use wasmtime::component::Component;
use wasmtime::Engine;

use crate::private_dir::{self, euid, writable_by_others, Purpose};

/// The last bytes of every artifact. An artifact of the earlier layout
/// (the header in front) does not end with it and is recompiled.
const MAGIC: &[u8; 16] = b"wasimap-cwasm-2\n";
/// The trailer after the compiled bytes: CRC-32 (4), length (8), key (32),
/// magic (16); integers little-endian.
const TRAILER: usize = 4 + 8 + 32 + MAGIC.len();
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

/// The cache directory in the shared private-directory checks' messages.
const CACHE_DIR: Purpose = Purpose {
    what: "cache directory",
    risk: "anyone who can write it chooses the compiled code that runs as you",
};

impl ArtifactCache {
    /// Opens (creating it if missing, with mode 0700) the cache under
    /// `root`.
    ///
    /// # Errors
    /// When `root` or wasimap's subdirectory is a symlink, not the user's,
    /// or writable by others.
    pub fn open(root: &Path) -> Result<Self> {
        private_dir::ensure(root, &CACHE_DIR)?;
        let dir = root.join(SUBDIR);
        private_dir::ensure(&dir, &CACHE_DIR)?;
        Ok(ArtifactCache { dir })
    }

    /// The directory holding the artifacts.
    #[cfg(test)]
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn path(&self, key: &Key) -> PathBuf {
        let hex: String = key.iter().map(|b| format!("{b:02x}")).collect();
        self.dir.join(format!("{hex}.cwasm"))
    }

    /// The artifact for `key`, if one is stored and intact.
    pub fn load(&self, engine: &Engine, key: &Key) -> Option<Component> {
        match self.load_checked(engine, key) {
            Ok(component) => Some(component),
            Err(e) => {
                tracing::debug!(error = %e, "no usable cached artifact");
                None
            }
        }
    }

    fn load_checked(&self, engine: &Engine, key: &Key) -> Result<Component> {
        use std::io::{Seek, SeekFrom};
        use std::os::fd::AsRawFd;
        let (mut file, len) = open_artifact(&self.path(key))?;
        check_artifact(&mut file, len, key)?;
        // wasmtime 48 opens components by path only: this path names the
        // very file checked above, not whatever the name points to now.
        let checked = PathBuf::from(format!("/proc/self/fd/{}", file.as_raw_fd()));
        // SAFETY: the file is a private regular file of this user in a
        // directory only this user can write, and its bytes are the ones
        // `store` wrote for this key and engine (trailer checked above);
        // wasimap never writes an artifact in place (a new one is renamed
        // over the name), so the mapped file does not change under the run.
        match unsafe { Component::deserialize_file(engine, &checked) } {
            Ok(component) => Ok(component),
            Err(e) => {
                // A cache on a noexec mount (or no /proc) cannot be mapped
                // executable: load a copy, as before the mapping.
                tracing::debug!(error = %e, "artifact not mappable, loading a copy");
                let mut bytes = Vec::new();
                file.seek(SeekFrom::Start(0))?;
                (&mut file).take(len - TRAILER as u64).read_to_end(&mut bytes)?;
                // SAFETY: as above; the same checked file, read again.
                unsafe { Component::deserialize(engine, &bytes) }.map_err(anyhow::Error::from)
            }
        }
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
            let mut f = private_dir::create_new(&tmp)?;
            f.write_all(&body)?;
            f.write_all(&trailer(&body, key))?;
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

fn trailer(body: &[u8], key: &Key) -> [u8; TRAILER] {
    trailer_of(crc32fast::hash(body), body.len() as u64, key)
}

/// The trailer of compiled bytes of this CRC-32 and length.
fn trailer_of(crc: u32, len: u64, key: &Key) -> [u8; TRAILER] {
    let mut t = [0u8; TRAILER];
    t[..4].copy_from_slice(&crc.to_le_bytes());
    t[4..12].copy_from_slice(&len.to_le_bytes());
    t[12..44].copy_from_slice(key);
    t[44..].copy_from_slice(MAGIC);
    t
}

/// Opens an artifact that must be a private regular file of this user;
/// returns it with its length.
fn open_artifact(path: &Path) -> Result<(File, u64)> {
    let f: File = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
        .open(path)?;
    let meta = f.metadata()?;
    if !meta.is_file() || meta.uid() != euid() || writable_by_others(&meta) || meta.len() > MAX_ARTIFACT {
        bail!("{} is not a private regular file of this user", path.display());
    }
    Ok((f, meta.len()))
}

/// Checks the trailer of an artifact of `len` bytes against `key` and the
/// bytes before it, read in pieces (the file is not mapped here).
fn check_artifact(mut file: impl Read, len: u64, key: &Key) -> Result<()> {
    let Some(body_len) = len.checked_sub(TRAILER as u64) else {
        bail!("shorter than its trailer");
    };
    let mut crc = crc32fast::Hasher::new();
    let mut buf = vec![0u8; 1 << 16];
    let mut body = (&mut file).take(body_len);
    loop {
        let n = body.read(&mut buf)?;
        if n == 0 {
            break;
        }
        crc.update(&buf[..n]);
    }
    if body.limit() != 0 {
        bail!("changed while read");
    }
    let mut found = [0u8; TRAILER];
    file.read_exact(&mut found)?;
    let expected = trailer_of(crc.finalize(), body_len, key);
    if found[44..] != expected[44..] {
        bail!("not an artifact of this wasimap");
    }
    if found[12..44] != expected[12..44] {
        bail!("compiled for another plugin or engine");
    }
    if found[..12] != expected[..12] {
        bail!("truncated or corrupted");
    }
    Ok(())
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
    fn artifacts_are_checked_against_key_length_and_checksum() {
        let key = [7u8; 32];
        let body = b"native code";
        let mut file = body.to_vec();
        file.extend_from_slice(&trailer(body, &key));
        let check = |f: &[u8], k: &Key| check_artifact(f, f.len() as u64, k).map_err(|e| e.to_string());
        assert_eq!(check(&file, &key), Ok(()));
        assert_eq!(
            check(&file, &[8u8; 32]).unwrap_err(),
            "compiled for another plugin or engine"
        );
        let mut flipped = file.clone();
        flipped[3] ^= 1;
        assert_eq!(check(&flipped, &key).unwrap_err(), "truncated or corrupted");
        let mut cut = body[..5].to_vec();
        cut.extend_from_slice(&trailer(body, &key));
        assert_eq!(check(&cut, &key).unwrap_err(), "truncated or corrupted");
        assert_eq!(check(&file[..40], &key).unwrap_err(), "shorter than its trailer");
        assert_eq!(check(&file[1..], &key).unwrap_err(), "truncated or corrupted");
        let mut old_layout = b"wasimap-cwasm-1\n".to_vec();
        old_layout.extend_from_slice(&file);
        old_layout.push(b'x');
        assert_eq!(check(&old_layout, &key).unwrap_err(), "not an artifact of this wasimap");
        // A file that grows while it is read is refused too.
        assert!(check_artifact(&file[..], file.len() as u64 - 1, &key).is_err());
        assert!(check_artifact(&file[..20], file.len() as u64, &key).is_err());
    }
}
