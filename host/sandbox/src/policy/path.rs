//! Read grants: files are matched by the path the kernel opened.
//!
//! A grant's directory is canonicalized when it is granted. A request is
//! first matched lexically (no file system access, so an ungranted path
//! reveals nothing about the file system); then the path is resolved and
//! matched again, opened without blocking, checked to be a regular file,
//! and the path of the open descriptor (`/proc/self/fd/N`) is matched a
//! last time before anything is read. `..`, symlinks pointing out of a
//! granted directory and a symlink swapped in between the checks all end
//! in a denial.

use std::io::Read;
use std::os::unix::fs::OpenOptionsExt;
use std::os::unix::io::AsRawFd;
use std::path::Path;

use super::glob::Glob;

/// Longest path accepted, in bytes.
pub const MAX_PATH_BYTES: usize = 4096;
/// Largest file read, in bytes.
pub const MAX_FILE_BYTES: u64 = 1 << 20;

/// Why a read was not done.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReadError {
    /// The policy does not grant it (or the file is not a regular file).
    Denied(super::Denial),
    /// The file could not be read (missing, unreadable, too large).
    Failed(String),
}

/// `path` resolved lexically: absolute, without `.`, `..` or empty
/// components. Checks the length and refuses control characters.
fn lexical(path: &str, what: &str) -> Result<String, String> {
    if path.len() > MAX_PATH_BYTES {
        return Err(format!(
            "{what} of {} bytes is longer than the limit of {MAX_PATH_BYTES}",
            path.len()
        ));
    }
    if !path.starts_with('/') {
        return Err(format!("{what} {path:?} is not an absolute path"));
    }
    if path.chars().any(char::is_control) {
        return Err(format!("{what} {path:?} holds a control character"));
    }
    let mut parts: Vec<&str> = Vec::new();
    for c in path.split('/') {
        match c {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            c => parts.push(c),
        }
    }
    Ok(format!("/{}", parts.join("/")))
}

/// A parsed `--allow-read` grant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PathGrant {
    /// The grant with `.` and `..` resolved lexically.
    lexical: Glob,
    /// The grant with its directory (or, without wildcards, the whole
    /// path) canonicalized when it existed at grant time.
    canonical: Glob,
    source: String,
}

impl PathGrant {
    /// Parses a grant; `*` matches any text, `/` included.
    ///
    /// # Errors
    /// When the grant is relative, too long, holds a control character,
    /// or has a `.` or `..` component after a wildcard.
    pub fn parse(pattern: &str) -> Result<Self, String> {
        let invalid = |e: String| format!("invalid read grant: {e}");
        let components: Vec<&str> = pattern.split('/').collect();
        // The fixed directory: components before the first wildcard one,
        // and before the file name.
        let first_wild = components
            .iter()
            .position(|c| c.contains('*'))
            .unwrap_or(components.len());
        if components[first_wild..].iter().any(|c| *c == "." || *c == "..") {
            return Err(invalid(format!("{pattern:?} has a . or .. component after a wildcard")));
        }
        let raw = match components[..first_wild].join("/") {
            d if d.is_empty() && pattern.starts_with('/') => "/".to_string(),
            d => d,
        };
        let wild = components[first_wild..].join("/");
        let fixed = lexical(&raw, "the grant").map_err(invalid)?;
        // What the kernel makes of the directory as written (through any
        // symlinks), else of its lexical resolution.
        let canonical = |lexical_dir: &str, raw_dir: &str| canonical(raw_dir).or_else(|| canonical(lexical_dir));
        let joined = |dir: &str, rest: &str| match (dir, rest) {
            (d, "") => d.to_string(),
            ("/", r) => format!("/{r}"),
            (d, r) => format!("{d}/{r}"),
        };
        let lexical_text = joined(&fixed, &wild);
        if lexical_text.len() > MAX_PATH_BYTES {
            return Err(invalid(format!("longer than {MAX_PATH_BYTES} bytes")));
        }
        let canonical_text = if wild.is_empty() {
            // No wildcard: the named file itself, if it exists, else its
            // directory.
            canonical(&fixed, &raw).or_else(|| {
                let p = Path::new(&fixed);
                let dir = canonical(p.parent()?.to_str()?, p.parent()?.to_str()?)?;
                Some(joined(&dir, p.file_name()?.to_str()?))
            })
        } else {
            canonical(&fixed, &raw).map(|d| joined(&d, &wild))
        }
        .unwrap_or_else(|| lexical_text.clone());
        Ok(PathGrant {
            lexical: Glob::new(&lexical_text),
            canonical: Glob::new(&canonical_text),
            source: pattern.to_string(),
        })
    }

    /// The grant as written.
    pub fn as_str(&self) -> &str {
        &self.source
    }
}

fn canonical(path: &str) -> Option<String> {
    std::fs::canonicalize(path).ok()?.into_os_string().into_string().ok()
}

/// The lexical check: `Ok(false)` when no grant matches the request as
/// written (resolved lexically), an error when the request is malformed.
pub(crate) fn granted_lexically(grants: &[PathGrant], path: &str) -> Result<bool, String> {
    let p = lexical(path, "the path").map_err(|e| format!("reading refused: {e}"))?;
    Ok(grants.iter().any(|g| g.lexical.matches(&p) || g.canonical.matches(&p)))
}

fn granted_canonically(grants: &[PathGrant], path: &Path) -> bool {
    path.to_str()
        .is_some_and(|p| grants.iter().any(|g| g.canonical.matches(p)))
}

/// Reads `path` if `grants` admit the file it names (after the lexical
/// check the caller did), at most [`MAX_FILE_BYTES`].
pub(crate) fn read_granted(grants: &[PathGrant], path: &str) -> Result<Vec<u8>, ReadError> {
    let outside = || {
        ReadError::Denied(super::Denial::new(
            format!("reading {path:?} not allowed: it resolves to a file outside the read grants"),
            super::Grant::ReadResolved,
        ))
    };
    let failed = |e: std::io::Error| ReadError::Failed(format!("{path:?}: {e}"));
    let resolved = std::fs::canonicalize(path).map_err(failed)?;
    if !granted_canonically(grants, &resolved) {
        return Err(outside());
    }
    // O_NONBLOCK: opening a FIFO does not wait for a writer; O_NOCTTY: a
    // terminal does not become ours. std adds O_CLOEXEC.
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY | libc::O_CLOEXEC)
        .open(&resolved)
        .map_err(failed)?;
    let meta = file.metadata().map_err(failed)?;
    if !meta.is_file() {
        return Err(ReadError::Denied(super::Denial::ungrantable(format!(
            "reading {path:?} refused: it is not a regular file"
        ))));
    }
    let opened = std::fs::read_link(format!("/proc/self/fd/{}", file.as_raw_fd()))
        .map_err(|e| ReadError::Failed(format!("{path:?}: cannot tell which file was opened: {e}")))?;
    if !granted_canonically(grants, &opened) {
        return Err(outside());
    }
    let too_large = || ReadError::Failed(format!("{path:?} is larger than the limit of {MAX_FILE_BYTES} bytes"));
    if meta.len() > MAX_FILE_BYTES {
        return Err(too_large());
    }
    let mut data = Vec::new();
    file.take(MAX_FILE_BYTES + 1).read_to_end(&mut data).map_err(failed)?;
    if data.len() as u64 > MAX_FILE_BYTES {
        return Err(too_large());
    }
    Ok(data)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lexical_resolution() {
        assert_eq!(lexical("/a/./b//c/../d", "p").unwrap(), "/a/b/d");
        assert_eq!(lexical("/../../etc/shadow", "p").unwrap(), "/etc/shadow");
        assert_eq!(lexical("/", "p").unwrap(), "/");
        assert!(lexical("a/b", "p").unwrap_err().contains("not an absolute path"));
        assert!(lexical("", "p").unwrap_err().contains("not an absolute path"));
        assert!(lexical("/a\nb", "p").unwrap_err().contains("control character"));
        assert!(lexical(&format!("/{}", "a".repeat(MAX_PATH_BYTES)), "p")
            .unwrap_err()
            .contains("longer than the limit of 4096"));
    }

    #[test]
    fn invalid_grants() {
        assert!(PathGrant::parse("certs/*")
            .unwrap_err()
            .contains("not an absolute path"));
        assert!(PathGrant::parse("/tmp/*/../x")
            .unwrap_err()
            .contains("after a wildcard"));
        assert!(PathGrant::parse("/tmp/\0").unwrap_err().contains("control character"));
    }

    #[test]
    fn grants_are_canonical() {
        let g = PathGrant::parse("/tmp/x/../certs/*.pem").unwrap();
        assert!(g.lexical.matches("/tmp/certs/ca.pem"));
        assert!(!g.lexical.matches("/tmp/x/../certs/ca.pem"));
        // `*` is path text: it crosses `/`.
        assert!(g.lexical.matches("/tmp/certs/sub/ca.pem"));
    }
}
