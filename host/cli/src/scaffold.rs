//! `wasimap new`: a plugin project outside this repository that builds and
//! runs as it is, in Rust (a cargo project on the SDK), Python
//! (componentize-py) or JavaScript (componentize-js).
//!
//! The templates live once, in `host/cli/templates/`, and are embedded here; the
//! WIT of the `plugin` world is the repository's `wit/` itself, embedded
//! file by file, so a project always gets the contract its `wasimap` speaks.

use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use anyhow::{bail, Context, Result};

/// The languages `wasimap new` writes projects in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lang {
    /// A cargo project on `wasimap-sdk`.
    Rust,
    /// componentize-py.
    Python,
    /// componentize-js.
    Js,
}

impl FromStr for Lang {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "rust" => Ok(Lang::Rust),
            "python" => Ok(Lang::Python),
            "js" | "javascript" => Ok(Lang::Js),
            other => Err(format!("unknown language {other:?}: choose rust, python or js")),
        }
    }
}

impl fmt::Display for Lang {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Lang::Rust => "rust",
            Lang::Python => "python",
            Lang::Js => "js",
        })
    }
}

/// componentize-py's version the Python template was tested with (as
/// `./quickstart` installs it).
pub const COMPONENTIZE_PY_VERSION: &str = "0.25.1";

/// The repository's WIT files, every one (worlds.wit names them all).
pub const WIT: &[(&str, &str)] = &[
    ("body.wit", include_str!("../../../wit/body.wit")),
    ("client.wit", include_str!("../../../wit/client.wit")),
    ("lend.wit", include_str!("../../../wit/lend.wit")),
    ("progress.wit", include_str!("../../../wit/progress.wit")),
    ("secrets.wit", include_str!("../../../wit/secrets.wit")),
    ("timezone.wit", include_str!("../../../wit/timezone.wit")),
    ("transport.wit", include_str!("../../../wit/transport.wit")),
    ("typed.wit", include_str!("../../../wit/typed.wit")),
    ("types.wit", include_str!("../../../wit/types.wit")),
    ("watch.wit", include_str!("../../../wit/watch.wit")),
    ("worlds.wit", include_str!("../../../wit/worlds.wit")),
];

const README: &str = include_str!("../templates/common/README.md");
const SMOKE_TEST: &str = include_str!("../templates/common/smoke-test.sh");
const RUST_CARGO: &str = include_str!("../templates/rust/Cargo.toml");
const RUST_LIB: &str = include_str!("../templates/rust/src/lib.rs");
const RUST_BUILD: &str = include_str!("../templates/rust/build.sh");
const PYTHON_APP: &str = include_str!("../templates/python/app.py");
const PYTHON_BUILD: &str = include_str!("../templates/python/build.sh");
const JS_PLUGIN: &str = include_str!("../templates/js/plugin.js");
const JS_BUILD: &str = include_str!("../templates/js/build.sh");
/// The JavaScript tools, pinned as `just build-js` installs them.
const JS_PACKAGE: &str = include_str!("../../../guest/js/package.json");
const JS_LOCK: &str = include_str!("../../../guest/js/package-lock.json");
/// The versions the SDK was built and tested with, as a starting point for
/// the project's own lock file.
const CARGO_LOCK: &str = include_str!("../../../Cargo.lock");
/// The name the JavaScript tools carry in `guest/js/`.
const JS_TOOLS_NAME: &str = "wasimap-js-tools";

/// The checkout this `wasimap` was built from, if it is still there: where
/// a Rust project finds the SDK.
pub fn default_sdk() -> Option<PathBuf> {
    find_sdk(&Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")).ok()
}

/// The SDK at `path`: a wasimap checkout's `guest/sdk`, or the checkout
/// itself; canonical, since the project lives elsewhere.
///
/// # Errors
/// When `path` holds neither.
pub fn find_sdk(path: &Path) -> Result<PathBuf> {
    let is_sdk =
        |p: &Path| std::fs::read_to_string(p.join("Cargo.toml")).is_ok_and(|t| t.contains("name = \"wasimap-sdk\""));
    let found = [path.to_path_buf(), path.join("guest/sdk")]
        .into_iter()
        .find(|p| is_sdk(p));
    let sdk = found.with_context(|| {
        format!(
            "--sdk {}: not a wasimap SDK (give the guest/sdk directory of a wasimap checkout, or the checkout)",
            path.display()
        )
    })?;
    Ok(sdk.canonicalize()?)
}

/// One file of a project: path relative to the project, text, executable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct File {
    /// Relative path.
    pub path: String,
    /// Contents.
    pub text: String,
    /// Whether it is a script to run.
    pub executable: bool,
}

/// A project's name: what `wasimap new` takes as the directory's last
/// component, a package name in every language (`my-plugin`).
fn check_name(name: &str) -> Result<()> {
    let ok = name.len() <= 64
        && name.starts_with(|c: char| c.is_ascii_lowercase())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_');
    if !ok {
        bail!(
            "invalid plugin name {name:?}: use lower-case letters, digits, '-' and '_', starting with a letter (e.g. my-plugin)"
        );
    }
    Ok(())
}

fn fill(template: &str, vars: &[(&str, &str)]) -> String {
    vars.iter()
        .fold(template.to_string(), |t, (k, v)| t.replace(&format!("{{{{{k}}}}}"), v))
}

/// The files of project `name` in `lang`; a Rust project depends on the SDK
/// at `sdk`.
///
/// # Errors
/// An invalid name; a Rust project without an SDK path.
pub fn files(name: &str, lang: Lang, sdk: Option<&Path>) -> Result<Vec<File>> {
    check_name(name)?;
    let crate_name = name.replace('-', "_");
    let sdk = match (lang, sdk) {
        (Lang::Rust, None) => bail!(
            "no wasimap SDK found for a Rust project: pass --sdk PATH to the guest/sdk directory of a wasimap checkout"
        ),
        (_, sdk) => sdk.map(|p| p.display().to_string()).unwrap_or_default(),
    };
    let (language, needs, source) = match lang {
        Lang::Rust => (
            "Rust",
            "Needs Rust with the `wasm32-wasip2` target (`rustup target add wasm32-wasip2`).".to_string(),
            "- `src/lib.rs`: the plugin (`wasimap_sdk::Plugin`, exported by `export_plugin!`)\n- `Cargo.toml`: the SDK dependency, a path to the checkout `wasimap new` came from".to_string(),
        ),
        Lang::Python => (
            "Python",
            format!("Needs componentize-py: `pip install componentize-py=={COMPONENTIZE_PY_VERSION}`."),
            "- `app.py`: the plugin (`WitWorld.run`)\n- `wit/`: the `wasimap:imap/plugin` world it is built against (`componentize-py -d wit -w plugin bindings DIR` shows its Python API)".to_string(),
        ),
        Lang::Js => (
            "JavaScript",
            "Needs node and npm; the first build installs componentize-js (pinned in `package-lock.json`) into `node_modules`.".to_string(),
            "- `plugin.js`: the plugin (an ES module exporting `run`)\n- `wit/`: the `wasimap:imap/plugin` world it is built against\n- `package.json`, `package-lock.json`: componentize-js, pinned".to_string(),
        ),
    };
    let files_section = format!(
        "{source}\n- `build.sh`: the build\n- `smoke-test.sh`: build, `wasimap inspect`, one run against a server"
    );
    let vars = [
        ("name", name),
        ("crate", crate_name.as_str()),
        ("sdk", sdk.as_str()),
        ("componentize_py", COMPONENTIZE_PY_VERSION),
        ("language", language),
        ("needs", needs.as_str()),
        ("files", files_section.as_str()),
    ];
    let file = |path: &str, template: &str, executable: bool| File {
        path: path.to_string(),
        text: fill(template, &vars),
        executable,
    };
    let mut out = vec![
        file("README.md", README, false),
        file("smoke-test.sh", SMOKE_TEST, true),
        file(".gitignore", "*.wasm\n/target\n/node_modules\n", false),
    ];
    let wit = || {
        WIT.iter().map(|(n, text)| File {
            path: format!("wit/{n}"),
            text: text.to_string(),
            executable: false,
        })
    };
    match lang {
        Lang::Rust => {
            out.push(file("Cargo.toml", RUST_CARGO, false));
            out.push(file("src/lib.rs", RUST_LIB, false));
            out.push(file("build.sh", RUST_BUILD, true));
            out.push(File {
                path: "Cargo.lock".into(),
                text: CARGO_LOCK.to_string(),
                executable: false,
            });
        }
        Lang::Python => {
            out.push(file("app.py", PYTHON_APP, false));
            out.push(file("build.sh", PYTHON_BUILD, true));
            out.extend(wit());
        }
        Lang::Js => {
            out.push(file("plugin.js", JS_PLUGIN, false));
            out.push(file("build.sh", JS_BUILD, true));
            for (path, text) in [("package.json", JS_PACKAGE), ("package-lock.json", JS_LOCK)] {
                out.push(File {
                    path: path.into(),
                    text: text.replace(
                        &format!("\"name\": \"{JS_TOOLS_NAME}\""),
                        &format!("\"name\": \"{name}\""),
                    ),
                    executable: false,
                });
            }
            out.extend(wit());
        }
    }
    Ok(out)
}

/// Writes project `dir` (named after its last component) in `lang`.
///
/// # Errors
/// `dir` exists and is not empty, an invalid name, or a write failure.
pub fn create(dir: &Path, lang: Lang, sdk: Option<&Path>) -> Result<Vec<File>> {
    let name = dir.file_name().and_then(|n| n.to_str()).with_context(|| {
        format!(
            "{} has no usable last component to name the plugin after",
            dir.display()
        )
    })?;
    let files = files(name, lang, sdk)?;
    if dir.read_dir().is_ok_and(|mut d| d.next().is_some()) {
        bail!(
            "{} exists and is not empty: choose another name or remove it",
            dir.display()
        );
    }
    for f in &files {
        let path = dir.join(&f.path);
        std::fs::create_dir_all(path.parent().expect("a file inside dir"))
            .with_context(|| format!("creating {}", path.parent().unwrap().display()))?;
        std::fs::write(&path, &f.text).with_context(|| format!("writing {}", path.display()))?;
        if f.executable {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755))?;
        }
    }
    Ok(files)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_wit_file_is_embedded() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../wit");
        let mut on_disk: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .filter(|n| n.ends_with(".wit"))
            .collect();
        on_disk.sort();
        let embedded: Vec<&str> = WIT.iter().map(|(n, _)| *n).collect();
        assert_eq!(on_disk, embedded);
    }

    #[test]
    fn names_are_package_names() {
        for good in ["my-plugin", "a", "inbox_zero2"] {
            check_name(good).unwrap();
        }
        for bad in ["", "My", "-x", "9lives", "a b", "a/b", "é", &"x".repeat(65)] {
            assert!(check_name(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn templates_are_filled_in() {
        let sdk = Path::new("/src/wasimap/guest/sdk");
        for lang in [Lang::Rust, Lang::Python, Lang::Js] {
            let files = files("inbox-zero", lang, Some(sdk)).unwrap();
            for f in &files {
                assert!(!f.text.contains("{{"), "{lang} {}: a placeholder left", f.path);
            }
            let text = |p: &str| &files.iter().find(|f| f.path == p).unwrap().text;
            assert!(text("README.md").contains("./build.sh"));
            assert!(text("smoke-test.sh").contains("inbox-zero.wasm"));
            match lang {
                Lang::Rust => {
                    assert!(text("Cargo.toml").contains("path = \"/src/wasimap/guest/sdk\""));
                    assert!(text("build.sh").contains("release/inbox_zero.wasm"));
                }
                Lang::Python => assert!(text("wit/worlds.wit").contains("world plugin")),
                Lang::Js => {
                    assert!(text("package.json").contains("\"name\": \"inbox-zero\""));
                    assert!(text("package-lock.json").starts_with("{\n  \"name\": \"inbox-zero\""));
                }
            }
        }
        assert!(files("x", Lang::Rust, None).unwrap_err().to_string().contains("--sdk"));
    }

    #[test]
    fn the_sdk_is_found_in_a_checkout_or_its_guest_sdk() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
        let sdk = root.join("guest/sdk").canonicalize().unwrap();
        assert_eq!(find_sdk(&root).unwrap(), sdk);
        assert_eq!(find_sdk(&sdk).unwrap(), sdk);
        assert_eq!(default_sdk().unwrap(), sdk);
        let err = find_sdk(&root.join("host")).unwrap_err().to_string();
        assert!(err.contains("not a wasimap SDK"), "{err}");
    }

    #[test]
    fn the_python_version_is_the_one_quickstart_installs() {
        let quickstart = include_str!("../../../quickstart");
        assert!(quickstart.contains(&format!("COMPONENTIZE_PY_VERSION={COMPONENTIZE_PY_VERSION}\n")));
    }
}
