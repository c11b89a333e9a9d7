//! Directories only this user can change, and files in them that are
//! opened without following links: the compiled-plugin cache
//! and the watcher's state (`wasimap_watch::store`).
//!
//! Whoever can write such a directory could replace what wasimap reads
//! there (compiled code that runs as the user, the record of which
//! messages are done) or plant a symlink where wasimap creates a file, so
//! that wasimap's write lands on a file of the user's choosing. So a
//! directory wasimap makes is created 0700, and an existing one must be a
//! real directory (not a symlink), owned by the user and not writable by
//! group or others; inside it, files are created 0600 with `O_NOFOLLOW`
//! (and `O_EXCL` for new ones).

use std::fs::{File, OpenOptions};
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt};
use std::path::Path;

use anyhow::{bail, Context, Result};

/// What a private directory is for, in its error messages.
pub struct Purpose {
    /// The directory's name for people ("cache directory").
    pub what: &'static str,
    /// What another user could do with it, said when it is refused.
    pub risk: &'static str,
}

/// The effective uid of this process.
pub fn euid() -> u32 {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() }
}

/// Whether group or others may write what `meta` describes.
pub fn writable_by_others(meta: &std::fs::Metadata) -> bool {
    meta.mode() & 0o022 != 0
}

/// Checks that no one but this user (and root) can replace `path` by
/// renaming or removing one of the directories above it: each must belong
/// to this user or root and be writable by no one else, unless it is
/// sticky (`/tmp`: others cannot rename what is not theirs).
///
/// # Errors
/// Naming the directory and the remedy.
pub fn check_ancestors(path: &Path, purpose: &Purpose) -> Result<()> {
    let what = purpose.what;
    let full = std::fs::canonicalize(path).with_context(|| format!("{what} {}", path.display()))?;
    for dir in full.ancestors().skip(1) {
        let meta = std::fs::metadata(dir).with_context(|| format!("{}", dir.display()))?;
        let owner_ok = meta.uid() == euid() || meta.uid() == 0;
        let sticky = meta.mode() & 0o1000 != 0;
        if !owner_ok || (writable_by_others(&meta) && !sticky) {
            bail!(
                "{what} {} is inside {}, which another user can change (uid {}, mode {:o}): {}; use a directory whose parents only you and root can write",
                path.display(),
                dir.display(),
                meta.uid(),
                meta.mode() & 0o7777,
                purpose.risk
            );
        }
    }
    Ok(())
}

/// Checks that `file` (opened from `path`) belongs to this user and that
/// group and others cannot write it.
///
/// # Errors
/// Naming the problem and the remedy.
pub fn check_file(file: &File, path: &Path, what: &str) -> Result<()> {
    let meta = file.metadata().with_context(|| format!("{what} {}", path.display()))?;
    if meta.uid() != euid() {
        bail!(
            "{what} {} belongs to uid {}, not to you: its owner could read and change what is written there; remove it or use another path",
            path.display(),
            meta.uid()
        );
    }
    if writable_by_others(&meta) {
        bail!(
            "{what} {} is writable by group or others (mode {:o}); `chmod go-w` it",
            path.display(),
            meta.mode() & 0o777
        );
    }
    Ok(())
}

/// Checks that `path` is a real directory (not a symlink) of this user
/// that group and others cannot write, inside directories no one else can
/// change ([`check_ancestors`]).
///
/// # Errors
/// Naming the problem and the remedy.
pub fn check(path: &Path, purpose: &Purpose) -> Result<()> {
    check_ancestors(path, purpose)?;
    let what = purpose.what;
    let meta = std::fs::symlink_metadata(path).with_context(|| format!("{what} {}", path.display()))?;
    if meta.file_type().is_symlink() {
        bail!("{what} {} is a symlink; give the directory itself", path.display());
    }
    if !meta.is_dir() {
        bail!("{what} {} is not a directory", path.display());
    }
    if meta.uid() != euid() {
        bail!(
            "{what} {} belongs to uid {}, not to you: {}; use a directory of your own",
            path.display(),
            meta.uid(),
            purpose.risk
        );
    }
    if writable_by_others(&meta) {
        bail!(
            "{what} {} is writable by group or others (mode {:o}): {}; `chmod go-w` it or use another",
            path.display(),
            meta.mode() & 0o777,
            purpose.risk
        );
    }
    Ok(())
}

/// Creates `path` with mode 0700 if it is missing (its parents as
/// usual), then [`check`]s it.
///
/// # Errors
/// It cannot be created, or [`check`] refuses it.
pub fn ensure(path: &Path, purpose: &Purpose) -> Result<()> {
    if std::fs::symlink_metadata(path).is_err() {
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent).with_context(|| format!("creating {}", parent.display()))?;
        }
        match std::fs::DirBuilder::new().mode(0o700).create(path) {
            Ok(()) => {}
            // Made meanwhile by someone else: the check below decides.
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(e).with_context(|| format!("creating {}", path.display())),
        }
    }
    check(path, purpose)
}

/// Creates a new file at `path` for writing: mode 0600, and refused
/// (`AlreadyExists`) when anything is there, a symlink included.
///
/// # Errors
/// As `open(2)` with `O_CREAT | O_EXCL | O_NOFOLLOW`.
pub fn create_new(path: &Path) -> std::io::Result<File> {
    OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .custom_flags(libc::O_NOFOLLOW)
        .open(path)
}

/// Opens `path` with `options` without following a symlink there (and
/// creating it 0600 if `options` creates).
///
/// # Errors
/// As `open(2)`; `ELOOP` for a symlink.
pub fn open_nofollow(path: &Path, options: &mut OpenOptions) -> std::io::Result<File> {
    options.mode(0o600).custom_flags(libc::O_NOFOLLOW).open(path)
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    const TEST: Purpose = Purpose {
        what: "test directory",
        risk: "others could change it",
    };

    #[test]
    fn new_files_are_private_and_never_follow_a_link() {
        let dir = std::env::temp_dir().join(format!("wasimap-private-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        ensure(&dir, &TEST).unwrap();
        assert_eq!(std::fs::metadata(&dir).unwrap().mode() & 0o777, 0o700);
        let file = dir.join("f");
        drop(create_new(&file).unwrap());
        assert_eq!(std::fs::metadata(&file).unwrap().mode() & 0o777, 0o600);
        assert_eq!(create_new(&file).unwrap_err().kind(), std::io::ErrorKind::AlreadyExists);
        let victim = dir.join("victim");
        std::fs::write(&victim, b"mine").unwrap();
        std::os::unix::fs::symlink(&victim, dir.join("link")).unwrap();
        assert!(create_new(&dir.join("link")).is_err());
        assert!(open_nofollow(&dir.join("link"), OpenOptions::new().write(true)).is_err());
        assert_eq!(std::fs::read(&victim).unwrap(), b"mine");
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o777)).unwrap();
        let e = ensure(&dir, &TEST).unwrap_err().to_string();
        assert!(
            e.contains("test directory") && e.contains("writable by group or others"),
            "{e}"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_directory_inside_one_another_user_can_change_is_refused() {
        // Another user who may write the parent could rename the private
        // directory away and put one of their own in its place.
        let parent = std::env::temp_dir().join(format!("wasimap-private-parent-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&parent);
        std::fs::create_dir(&parent).unwrap();
        let dir = parent.join("state");
        std::fs::set_permissions(&parent, std::fs::Permissions::from_mode(0o777)).unwrap();
        let e = ensure(&dir, &TEST).unwrap_err().to_string();
        assert!(
            e.contains("which another user can change") && e.contains("mode 777"),
            "{e}"
        );
        // Sticky, as /tmp: others cannot rename what is not theirs.
        std::fs::set_permissions(&parent, std::fs::Permissions::from_mode(0o1777)).unwrap();
        ensure(&dir, &TEST).unwrap();
        // A parent of another user (the tests may run as root: it chowns).
        if euid() == 0 {
            std::fs::set_permissions(&parent, std::fs::Permissions::from_mode(0o755)).unwrap();
            std::os::unix::fs::chown(&parent, Some(65534), None).unwrap();
            let e = check(&dir, &TEST).unwrap_err().to_string();
            assert!(e.contains("(uid 65534"), "{e}");
            std::os::unix::fs::chown(&parent, Some(0), None).unwrap();
        }
        std::fs::remove_dir_all(&parent).unwrap();
    }

    #[test]
    fn a_file_of_another_user_or_writable_by_others_is_refused() {
        let dir = std::env::temp_dir().join(format!("wasimap-private-file-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        ensure(&dir, &TEST).unwrap();
        let path = dir.join("out");
        let file = open_nofollow(&path, OpenOptions::new().create(true).truncate(false).write(true)).unwrap();
        check_file(&file, &path, "the output file").unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o666)).unwrap();
        let e = check_file(&file, &path, "the output file").unwrap_err().to_string();
        assert!(e.contains("writable by group or others"), "{e}");
        if euid() == 0 {
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
            std::os::unix::fs::chown(&path, Some(65534), None).unwrap();
            let e = check_file(&file, &path, "the output file").unwrap_err().to_string();
            assert!(e.contains("belongs to uid 65534"), "{e}");
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
