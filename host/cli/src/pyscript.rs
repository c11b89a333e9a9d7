//! `wasimap run script.py`: an imaplib script turned into a plugin.
//!
//! The script is not interpreted by the host: componentize-py builds a
//! component of the `plugin` world from the runner app
//! (`guest/python/runner/app.py`), the sandbox's `imaplib`
//! (`guest/python/imaplib/`) and the script's source, which the runner
//! executes as `__main__` in `run(args)`. The component then runs like any
//! plugin (same grants, secrets, limits). The built component is kept in
//! the cache directory under the SHA-256 of everything that went into it
//! (script, runner, imaplib, WIT, componentize-py's version), so a second
//! run of the same script neither builds nor compiles.

use std::ffi::OsString;
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context, Result};
use sha2::{Digest, Sha256};

use crate::scaffold::{COMPONENTIZE_PY_VERSION, WIT};

/// The files of the runner plugin, embedded from `guest/python`.
const RUNNER_FILES: &[(&str, &str)] = &[
    ("app.py", include_str!("../../../guest/python/runner/app.py")),
    ("imaplib.py", include_str!("../../../guest/python/imaplib/imaplib.py")),
    ("wasimap.py", include_str!("../../../guest/python/imaplib/wasimap.py")),
    (
        "wasimap_ssl.py",
        include_str!("../../../guest/python/imaplib/wasimap_ssl.py"),
    ),
];

/// The cache subdirectory of built script components.
const SUBDIR: &str = "pyscripts-v1";

/// The environment variable naming the componentize-py program (default
/// `componentize-py` on `PATH`).
pub const COMPONENTIZE_PY_ENV: &str = "WASIMAP_COMPONENTIZE_PY";

/// Whether `path` names a Python script (`.py`) rather than a component.
pub fn is_script(path: &Path) -> bool {
    path.extension().is_some_and(|e| e == "py")
}

/// A built script component and how it was obtained.
#[derive(Debug)]
pub struct Built {
    /// The component's bytes (a `plugin`-world component).
    pub wasm: Vec<u8>,
    /// True when it came from the cache, false when componentize-py ran.
    pub cached: bool,
}

/// Builds Python scripts into plugins with componentize-py.
#[derive(Debug, Clone)]
pub struct ScriptBuilder {
    program: OsString,
    cache: Option<PathBuf>,
}

impl ScriptBuilder {
    /// A builder keeping components under `cache_root/pyscripts-v1` (none:
    /// every run builds), running `$WASIMAP_COMPONENTIZE_PY` or
    /// `componentize-py`.
    pub fn new(cache_root: Option<&Path>) -> Self {
        let program = std::env::var_os(COMPONENTIZE_PY_ENV).unwrap_or_else(|| "componentize-py".into());
        ScriptBuilder {
            program,
            cache: cache_root.map(|r| r.join(SUBDIR)),
        }
    }

    /// The script's component: from the cache, else built.
    ///
    /// # Errors
    /// The script cannot be read; componentize-py is missing (the message
    /// says how to install it) or fails (a syntax error in the script, for
    /// one: its output is included); the cache cannot be written.
    pub fn build(&self, script: &Path) -> Result<Built> {
        let source = std::fs::read(script).with_context(|| format!("reading {}", script.display()))?;
        let source = String::from_utf8(source)
            .map_err(|_| anyhow::anyhow!("{} is not UTF-8 (Python source must be)", script.display()))?;
        let filename = script
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "script.py".into());
        let key = key(&filename, &source);
        let cached_path = self.cache.as_ref().map(|d| d.join(format!("{key}.wasm")));
        if let Some(path) = &cached_path {
            if let Ok(wasm) = std::fs::read(path) {
                if wasm.starts_with(b"\0asm") {
                    return Ok(Built { wasm, cached: true });
                }
            }
        }
        let version = self.componentize_version()?;
        if version != COMPONENTIZE_PY_VERSION {
            tracing::warn!("componentize-py {version}; wasimap is tested with {COMPONENTIZE_PY_VERSION}");
        }
        let work = WorkDir::create()?;
        let app = work.path().join("app");
        let wit = work.path().join("wit");
        std::fs::create_dir(&app)?;
        std::fs::create_dir(&wit)?;
        for (name, text) in RUNNER_FILES {
            std::fs::write(app.join(name), text)?;
        }
        std::fs::write(app.join("_wasimap_script.py"), script_module(&filename, &source))?;
        for (name, text) in WIT {
            std::fs::write(wit.join(name), text)?;
        }
        let out = work.path().join("plugin.wasm");
        let output = Command::new(&self.program)
            .arg("-d")
            .arg(&wit)
            .args(["-w", "plugin", "componentize", "app", "-p"])
            .arg(&app)
            .arg("-o")
            .arg(&out)
            .current_dir(work.path())
            .output()
            .with_context(|| format!("running {}", self.program.to_string_lossy()))?;
        if !output.status.success() {
            bail!(
                "building {} with componentize-py failed ({}):\n{}{}",
                script.display(),
                output.status,
                String::from_utf8_lossy(&output.stdout),
                String::from_utf8_lossy(&output.stderr)
            );
        }
        let wasm = std::fs::read(&out).context("reading componentize-py's output")?;
        if let (Some(dir), Some(path)) = (&self.cache, &cached_path) {
            store(dir, path, &wasm)?;
        }
        Ok(Built { wasm, cached: false })
    }

    fn componentize_version(&self) -> Result<String> {
        let program = self.program.to_string_lossy();
        let output = match Command::new(&self.program).arg("--version").output() {
            Ok(o) => o,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => bail!(
                "running a .py script needs componentize-py, which is not installed ({program} not found): \
                 install it with `pip install componentize-py=={COMPONENTIZE_PY_VERSION}` \
                 (or name it with {COMPONENTIZE_PY_ENV}=PATH)"
            ),
            Err(e) => return Err(e).with_context(|| format!("running {program} --version")),
        };
        if !output.status.success() {
            bail!(
                "{program} --version failed: {}",
                String::from_utf8_lossy(&output.stderr)
            );
        }
        // "componentize-py 0.25.1"
        let text = String::from_utf8_lossy(&output.stdout);
        Ok(text.split_whitespace().last().unwrap_or_default().to_string())
    }
}

/// The cache key: SHA-256 of the script's name and source, the runner's
/// files, the WIT and the componentize-py version wasimap expects, hex.
fn key(filename: &str, source: &str) -> String {
    let mut h = Sha256::new();
    let mut part = |bytes: &[u8]| {
        h.update((bytes.len() as u64).to_le_bytes());
        h.update(bytes);
    };
    part(b"wasimap-pyscript-1");
    part(COMPONENTIZE_PY_VERSION.as_bytes());
    for (name, text) in RUNNER_FILES.iter().chain(WIT) {
        part(name.as_bytes());
        part(text.as_bytes());
    }
    part(filename.as_bytes());
    part(source.as_bytes());
    h.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

/// `_wasimap_script.py`: the script as data, for the runner to compile.
fn script_module(filename: &str, source: &str) -> String {
    format!(
        "# Generated by wasimap run: the script, as data.\nFILENAME = {}\nSOURCE = {}\n",
        py_str(filename),
        py_str(source)
    )
}

/// A Python string literal of `s` (every character outside printable
/// ASCII escaped, so the file is ASCII whatever `s` holds).
fn py_str(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            ' '..='~' => out.push(c),
            '\n' => out.push_str("\\n"),
            c if (c as u32) < 0x100 => out.push_str(&format!("\\x{:02x}", c as u32)),
            c if (c as u32) < 0x10000 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push_str(&format!("\\U{:08x}", c as u32)),
        }
    }
    out.push('"');
    out
}

/// Writes `wasm` to `path` in `dir` (made private if missing) through a
/// temporary file, so a concurrent run never reads half a component.
fn store(dir: &Path, path: &Path, wasm: &[u8]) -> Result<()> {
    match std::fs::DirBuilder::new().mode(0o700).create(dir) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
        Err(e) => return Err(e).with_context(|| format!("creating {}", dir.display())),
    }
    let tmp = path.with_extension(format!("{}.{}.tmp", std::process::id(), unique()));
    let write = || -> std::io::Result<()> {
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&tmp)?;
        f.write_all(wasm)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)
    };
    write().map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        anyhow::Error::new(e).context(format!("storing {}", path.display()))
    })
}

/// A number no other call in this process returns.
fn unique() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

/// A private build directory under the system's temporary directory,
/// removed with everything in it when dropped.
struct WorkDir(PathBuf);

impl WorkDir {
    fn create() -> Result<Self> {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        let path = std::env::temp_dir().join(format!("wasimap-pyscript-{}-{nanos}-{}", std::process::id(), unique()));
        std::fs::DirBuilder::new()
            .mode(0o700)
            .create(&path)
            .with_context(|| format!("creating {}", path.display()))?;
        Ok(WorkDir(path))
    }

    fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for WorkDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn python_literals_round_trip_every_character() {
        assert_eq!(py_str("a\"b\\c\nd"), r#""a\"b\\c\nd""#);
        assert_eq!(py_str("é\t€𝄞"), r#""\xe9\x09\u20ac\U0001d11e""#);
    }

    #[test]
    fn the_key_depends_on_name_and_source() {
        let k = key("a.py", "print(1)\n");
        assert_eq!(k.len(), 64);
        assert_eq!(k, key("a.py", "print(1)\n"));
        assert_ne!(k, key("b.py", "print(1)\n"));
        assert_ne!(k, key("a.py", "print(2)\n"));
    }

    #[test]
    fn only_py_files_are_scripts() {
        assert!(is_script(Path::new("dir/list.py")));
        assert!(!is_script(Path::new("report.wasm")));
        assert!(!is_script(Path::new("py")));
    }
}
