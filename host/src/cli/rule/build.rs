//! `yagura rule build`: turns a rule project into a component at `DIR/target/<name>.wasm`.
//!
//! - **Rust** (a `Cargo.toml`): `cargo build --release --target wasm32-unknown-unknown`, then
//!   the core module is wrapped into a component with `wit-component` (what `wasm-tools
//!   component new` does), reading the component type `wit-bindgen` embedded. The name is the
//!   package name without its `rule-` prefix.
//! - **Python** (an `app.py`): `componentize-py … componentize --stub-wasi` with the Python kit
//!   and the WIT this host runs, both built into the binary and written under
//!   `DIR/target/yagura-kit/`. The name is `[project].name` of `pyproject.toml`, else the
//!   folder's name.
//! - **JavaScript** (an `app.js`): `node build.mjs DIR OUT --wit …` of the JavaScript kit, which
//!   stages the rule with the kit and calls componentize-js's JS API with every WASI-needing
//!   feature disabled. The kit is the `sdk/js` folder of the checkout this yagura was built
//!   from (or `$YAGURA_JS_SDK`); its pinned componentize-js is installed there with `npm ci` on
//!   first use. The WIT is this host's, written under `DIR/target/yagura-kit/`. The name is
//!   `name` of `package.json`, else the folder's name.
//! - **C** (a `rule.c`): clang for `wasm32-wasi` (a wasi-sdk's, `zig cc`, or Debian's clang,
//!   lld and wasi-libc: see `c_toolchain`) compiles every `.c` file of the project with the C
//!   kit (yagura.h, yagura.c and the `wit-bindgen c` bindings, built into the binary and
//!   written under `DIR/target/yagura-kit/c/`) into a reactor module; a module that imports
//!   WASI is refused naming the functions and the libc calls behind them; the rest is wrapped
//!   into a component with `wit-component`, as for Rust. The name is the folder's name.
//!
//! Errors say what to install or where the problem is, for authors who never used cargo or pip.

use std::ffi::OsString;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

use anyhow::{Context, bail};
use clap::Args;

use super::c_toolchain::{self, C_PACKAGES};

const WASM_TARGET: &str = "wasm32-unknown-unknown";
/// The componentize-py release the Python kit is tested with (docs/writing-rules-python.md).
const COMPONENTIZE_PY: &str = "componentize-py";
const COMPONENTIZE_PY_VERSION: &str = "0.25.1";
/// The world every rule targets.
const WORLD: &str = "detection-rule";
/// Where the JavaScript kit is, when not in the checkout yagura was built from.
const JS_SDK_ENV: &str = "YAGURA_JS_SDK";

/// The WIT this host runs, for componentize-py.
const WIT: &str = include_str!("../../../../wit/types.wit");

/// The Python kit (sdk/python/yagura_sdk), written next to the build so that it is always the
/// kit of this host.
const KIT: &[(&str, &str)] = &[
    (
        "__init__.py",
        include_str!("../../../../sdk/python/yagura_sdk/__init__.py"),
    ),
    (
        "config.py",
        include_str!("../../../../sdk/python/yagura_sdk/config.py"),
    ),
    (
        "event.py",
        include_str!("../../../../sdk/python/yagura_sdk/event.py"),
    ),
    (
        "finding.py",
        include_str!("../../../../sdk/python/yagura_sdk/finding.py"),
    ),
    (
        "matchers.py",
        include_str!("../../../../sdk/python/yagura_sdk/matchers.py"),
    ),
    (
        "state.py",
        include_str!("../../../../sdk/python/yagura_sdk/state.py"),
    ),
];

/// The C kit (sdk/c), written next to the build so that it is always the kit of this host.
const C_KIT: &[(&str, &[u8])] = &[
    ("yagura.h", include_bytes!("../../../../sdk/c/yagura.h")),
    ("yagura.c", include_bytes!("../../../../sdk/c/yagura.c")),
    (
        "vendor/stb_sprintf.h",
        include_bytes!("../../../../sdk/c/vendor/stb_sprintf.h"),
    ),
    (
        "bindings/yagura_rule.h",
        include_bytes!("../../../../sdk/c/bindings/yagura_rule.h"),
    ),
    (
        "bindings/yagura_rule.c",
        include_bytes!("../../../../sdk/c/bindings/yagura_rule.c"),
    ),
    (
        "bindings/yagura_rule_component_type.o",
        include_bytes!("../../../../sdk/c/bindings/yagura_rule_component_type.o"),
    ),
];

#[derive(Debug, Args)]
pub struct RuleBuildArgs {
    /// Cargo's build folder for Rust rules (default: the project's `target`). Share one
    /// between rule projects to compile the SDK's dependencies once
    #[arg(long, value_name = "DIR")]
    pub target_dir: Option<PathBuf>,

    /// Print only errors and the result
    #[arg(long)]
    pub quiet: bool,

    /// The rule project: a folder made by `yagura rule new`
    #[arg(value_name = "DIR", default_value = ".")]
    pub dir: PathBuf,
}

impl RuleBuildArgs {
    /// Builds the project; returns the component's path.
    pub fn run(&self, out: &mut dyn Write) -> anyhow::Result<PathBuf> {
        let dir = &self.dir;
        if !dir.is_dir() {
            bail!("{} is not a folder", dir.display());
        }
        let started = Instant::now();
        let (lang, output) = if dir.join("Cargo.toml").is_file() {
            ("Rust", self.build_rust(dir)?)
        } else if dir.join("app.py").is_file() {
            ("Python", self.build_python(dir)?)
        } else if dir.join("app.js").is_file() {
            ("JavaScript", self.build_js(dir, out)?)
        } else if dir.join("rule.c").is_file() {
            ("C", build_c(dir)?)
        } else {
            bail!(
                "{} holds no Cargo.toml (a Rust rule), app.py (a Python rule), app.js (a \
                 JavaScript rule) or rule.c (a C rule); create a rule project with `yagura rule \
                 new --lang rust|python|js|c NAME`",
                dir.display()
            );
        };
        let size = std::fs::metadata(&output)
            .with_context(|| format!("cannot read {}", output.display()))?
            .len();
        let size = if size >= 1 << 20 {
            format!("{:.1} MiB", size as f64 / f64::from(1 << 20))
        } else {
            format!("{:.1} KiB", size as f64 / 1024.0)
        };
        writeln!(
            out,
            "built {} ({lang}, {size}, {:.1} s)",
            output.display(),
            started.elapsed().as_secs_f64()
        )?;
        Ok(output)
    }

    fn build_rust(&self, dir: &Path) -> anyhow::Result<PathBuf> {
        let manifest = dir.join("Cargo.toml");
        let cargo = std::env::var_os("CARGO").unwrap_or_else(|| OsString::from("cargo"));
        let (package, default_target) = cargo_package(&cargo, &manifest)?;
        let id = package.strip_prefix("rule-").unwrap_or(&package).to_owned();
        let target_dir = self.target_dir.clone().unwrap_or(default_target);

        let mut cmd = Command::new(&cargo);
        cmd.args([
            "build",
            "--release",
            "--target",
            WASM_TARGET,
            "--manifest-path",
        ])
        .arg(&manifest)
        .arg("--target-dir")
        .arg(&target_dir)
        .current_dir(dir);
        if self.quiet {
            cmd.arg("--quiet");
        }
        let status = cmd
            .status()
            .with_context(|| format!("cannot run cargo ({})", cargo.to_string_lossy()))?;
        if !status.success() {
            bail!(
                "cargo could not build {} ({status}); the compiler's messages are above. If \
                 they say the `{WASM_TARGET}` target may not be installed: `rustup target add \
                 {WASM_TARGET}`",
                manifest.display()
            );
        }
        let core = target_dir
            .join(WASM_TARGET)
            .join("release")
            .join(format!("{}.wasm", package.replace('-', "_")));
        let module =
            std::fs::read(&core).with_context(|| format!("cannot read {}", core.display()))?;
        let component = wit_component::ComponentEncoder::default()
            .validate(true)
            .module(&module)
            .with_context(|| {
                format!(
                    "{} is not a Yagura rule module (no WIT metadata): does the crate call \
                     `yagura_sdk::export_rule!`?",
                    core.display()
                )
            })?
            .encode()
            .with_context(|| format!("cannot make a component of {}", core.display()))?;
        let output = dir.join("target").join(format!("{id}.wasm"));
        write_atomically(&output, &component)?;
        Ok(output)
    }

    fn build_python(&self, dir: &Path) -> anyhow::Result<PathBuf> {
        let id = python_name(dir)?;
        let target = dir.join("target");
        let kit_root = target.join("yagura-kit");
        let kit = kit_root.join("python");
        let wit = kit_root.join("wit");
        write_if_changed(&wit.join("types.wit"), WIT)?;
        for (name, text) in KIT {
            write_if_changed(&kit.join("yagura_sdk").join(name), text)?;
        }
        check_componentize_py()?;
        let output = target.join(format!("{id}.wasm"));
        let tmp = target.join(format!("{id}.wasm.tmp"));
        let result = Command::new(COMPONENTIZE_PY)
            .arg("-d")
            .arg(&wit)
            .args(["-w", WORLD, "componentize", "--stub-wasi", "-p"])
            .arg(&kit)
            .arg("-p")
            .arg(dir)
            .args(["app", "-o"])
            .arg(&tmp)
            .stdin(Stdio::null())
            // a Python error is the news, not componentize-py's Rust backtrace
            .env("RUST_BACKTRACE", "0")
            .env("RUST_LIB_BACKTRACE", "0")
            .output()
            .with_context(|| format!("cannot run {COMPONENTIZE_PY}"))?;
        if !result.status.success() {
            let _ = std::fs::remove_file(&tmp);
            let stderr = String::from_utf8_lossy(&result.stderr);
            bail!(
                "componentize-py could not build {} ({}). It runs app.py at build time, so a \
                 Python error in app.py or what it imports shows here:\n{}{}",
                dir.join("app.py").display(),
                result.status,
                String::from_utf8_lossy(&result.stdout),
                readable_traceback(&stderr, &[&kit, dir])
            );
        }
        std::fs::rename(&tmp, &output)
            .with_context(|| format!("cannot move {} to {}", tmp.display(), output.display()))?;
        Ok(output)
    }

    fn build_js(&self, dir: &Path, out: &mut dyn Write) -> anyhow::Result<PathBuf> {
        let id = js_name(dir)?;
        let target = dir.join("target");
        let wit = target.join("yagura-kit").join("wit").join("types.wit");
        write_if_changed(&wit, WIT)?;
        let kit = js_sdk()?;
        check_node()?;
        ensure_node_modules(&kit, self.quiet, out)?;
        let output = target.join(format!("{id}.wasm"));
        let result = Command::new("node")
            .arg(kit.join("build.mjs"))
            .arg(dir)
            .arg(&output)
            .arg("--wit")
            .arg(&wit)
            .stdin(Stdio::null())
            .output()
            .context("cannot run node")?;
        if !result.status.success() {
            bail!(
                "componentize-js could not build {} ({}). It runs app.js at build time, so a \
                 JavaScript error in app.js or what it imports shows here:\n{}{}",
                dir.join("app.js").display(),
                result.status,
                String::from_utf8_lossy(&result.stdout),
                String::from_utf8_lossy(&result.stderr).trim_end()
            );
        }
        Ok(output)
    }
}

/// Builds a C rule project: clang → a reactor core module → checked imports → a component.
fn build_c(dir: &Path) -> anyhow::Result<PathBuf> {
    let id = folder_name(dir)?;
    let target = dir.join("target");
    let kit = target.join("yagura-kit").join("c");
    for (name, bytes) in C_KIT {
        write_bytes_if_changed(&kit.join(name), bytes)?;
    }
    let sources = c_sources(dir)?;
    let compiler = c_toolchain::find()?;
    let core = kit.join(format!("{id}.core.wasm"));
    let mut cmd = compiler.command();
    cmd.args([
        "--target=wasm32-wasi",
        "-O2",
        "-std=gnu11",
        "-Wall",
        "-mexec-model=reactor",
    ]);
    cmd.arg("-I")
        .arg(&kit)
        .arg("-I")
        .arg(kit.join("bindings"))
        .args(&sources)
        .arg(kit.join("yagura.c"))
        .arg(kit.join("bindings").join("yagura_rule.c"))
        .arg(kit.join("bindings").join("yagura_rule_component_type.o"))
        .arg("-o")
        .arg(&core)
        .stdin(Stdio::null());
    let result = cmd
        .output()
        .with_context(|| format!("cannot run {}", compiler.name()))?;
    let stderr = String::from_utf8_lossy(&result.stderr);
    if !result.status.success() {
        bail!(
            "{} could not build {} ({}):\n{}{}",
            compiler.name(),
            dir.display(),
            result.status,
            stderr.trim_end(),
            c_hint(&stderr)
        );
    }
    // warnings are the author's to see
    if !stderr.trim().is_empty() {
        eprintln!("{}", stderr.trim_end());
    }
    let module = std::fs::read(&core).with_context(|| format!("cannot read {}", core.display()))?;
    check_c_imports(&module, dir)?;
    let component = wit_component::ComponentEncoder::default()
        .validate(true)
        .module(&module)
        .with_context(|| {
            format!(
                "{} is not a Yagura rule module (no WIT metadata): was the kit's \
                 bindings/yagura_rule_component_type.o linked?",
                core.display()
            )
        })?
        .encode()
        .with_context(|| format!("cannot make a component of {}", core.display()))?;
    let output = target.join(format!("{id}.wasm"));
    write_atomically(&output, &component)?;
    Ok(output)
}

/// The project's C sources: every `.c` file in the folder and in its `src/`, sorted.
fn c_sources(dir: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let mut sources = Vec::new();
    for folder in [dir.to_path_buf(), dir.join("src")] {
        let Ok(entries) = std::fs::read_dir(&folder) else {
            continue;
        };
        for entry in entries {
            let path = entry
                .with_context(|| format!("cannot list {}", folder.display()))?
                .path();
            if path.extension().is_some_and(|e| e == "c") && path.is_file() {
                sources.push(path);
            }
        }
    }
    sources.sort();
    Ok(sources)
}

/// What to do about the usual first-build failures, after clang's own messages.
fn c_hint(stderr: &str) -> String {
    let hint = if stderr.contains("undefined symbol: yagura_rule") {
        "the rule must define its description and callbacks as `const yg_rule yagura_rule = \
         { .info = &INFO, .on_events = on_events };` (yagura.h)"
            .to_owned()
    } else if stderr.contains("wasm-ld") && stderr.contains("not found")
        || stderr.contains("unable to execute command")
    {
        format!("clang needs the wasm linker (wasm-ld): `{C_PACKAGES}`")
    } else if stderr.contains("file not found") && stderr.contains(".h") {
        format!("a C library header is missing; the wasi-libc headers come with `{C_PACKAGES}`")
    } else if stderr.contains("libclang_rt.builtins-wasm32") {
        format!("clang's wasm32 runtime is missing: `{C_PACKAGES}`")
    } else {
        return String::new();
    };
    format!("\nhint: {hint}")
}

/// Refuses a module that imports anything but the Yagura world, naming the functions and the
/// libc calls that bring them in.
fn check_c_imports(module: &[u8], dir: &Path) -> anyhow::Result<()> {
    let mut foreign = Vec::new();
    for payload in wasmparser::Parser::new(0).parse_all(module) {
        let payload = payload.context("clang wrote a module wasmparser cannot read")?;
        if let wasmparser::Payload::ImportSection(imports) = payload {
            for import in imports {
                let import = import.context("clang wrote a module with a bad import")?;
                if !import.module.starts_with("yagura:detection/") && import.module != "$root" {
                    foreign.push(format!("{}::{}", import.module, import.name));
                }
            }
        }
    }
    if foreign.is_empty() {
        return Ok(());
    }
    let wasi = foreign.iter().any(|i| i.starts_with("wasi"));
    bail!(
        "the C rule in {} imports {}, which the host does not give rules{}",
        dir.display(),
        foreign.join(", "),
        if wasi {
            ". These are WASI: rules have no stdout, files, clock or environment. libc's \
             printf, puts and snprintf (its stdio: fd_write, fd_seek, fd_close), fopen \
             (path_open), time or clock (clock_time_get), getenv (environ_get) and exit \
             (proc_exit) bring them in. Use yg_log for messages, yg_fmt or yg_snprintf for \
             text, and event times instead of the clock (docs/writing-rules-c.md)"
        } else {
            ": declare only the functions of yagura.h"
        }
    )
}

/// The JavaScript kit: `$YAGURA_JS_SDK`, else the `sdk/js` folder of this checkout; checked.
fn js_sdk() -> anyhow::Result<PathBuf> {
    let kit = match std::env::var_os(JS_SDK_ENV) {
        Some(path) => PathBuf::from(path),
        None => Path::new(env!("CARGO_MANIFEST_DIR"))
            .parent()
            .map(|root| root.join("sdk").join("js"))
            .context("the host crate has no parent folder")?,
    };
    if !kit.join("build.mjs").is_file() {
        bail!(
            "the Yagura JavaScript kit is not at {} (no build.mjs there): set {JS_SDK_ENV} to \
             the `sdk/js` folder of a Yagura checkout",
            kit.display()
        );
    }
    Ok(kit)
}

/// Checks that Node.js is installed.
fn check_node() -> anyhow::Result<()> {
    match Command::new("node").arg("--version").output() {
        Ok(out) if out.status.success() => Ok(()),
        _ => bail!(
            "node is not installed (or not on PATH); JavaScript rules are built with \
             componentize-js, which needs Node.js 20 or later with npm"
        ),
    }
}

/// Installs the kit's pinned componentize-js with `npm ci` when its `node_modules` lacks it.
fn ensure_node_modules(kit: &Path, quiet: bool, out: &mut dyn Write) -> anyhow::Result<()> {
    let installed = kit
        .join("node_modules")
        .join("@bytecodealliance")
        .join("componentize-js");
    if installed.is_dir() {
        return Ok(());
    }
    if !quiet {
        writeln!(
            out,
            "installing componentize-js (npm ci in {}), once",
            kit.display()
        )?;
    }
    let result = Command::new("npm")
        .args(["ci", "--no-audit", "--no-fund", "--loglevel=error"])
        .current_dir(kit)
        .stdin(Stdio::null())
        .output()
        .context("cannot run npm; it comes with Node.js 20 or later")?;
    if !result.status.success() {
        bail!(
            "`npm ci` in {} failed ({}); it installs the componentize-js that package-lock.json \
             pins:\n{}",
            kit.display(),
            result.status,
            String::from_utf8_lossy(&result.stderr).trim_end()
        );
    }
    Ok(())
}

/// `name` of `package.json`, else the folder's name.
fn js_name(dir: &Path) -> anyhow::Result<String> {
    let package = dir.join("package.json");
    if package.is_file() {
        let text = std::fs::read_to_string(&package)
            .with_context(|| format!("cannot read {}", package.display()))?;
        let json: serde_json::Value = serde_json::from_str(&text)
            .map_err(|e| anyhow::anyhow!("{}: {}", package.display(), e))?;
        if let Some(name) = json.get("name").and_then(|n| n.as_str()) {
            return Ok(name.to_owned());
        }
    }
    folder_name(dir)
}

/// componentize-py's error output, shortened for a Python author: without the Rust backtrace,
/// and with the paths it shows for the `-p` folders (`/0/…`, `/1/…`, in `-p` order) turned
/// back into real ones.
fn readable_traceback(stderr: &str, path_dirs: &[&Path]) -> String {
    let mut text = stderr
        .split("\nStack backtrace:")
        .next()
        .unwrap_or(stderr)
        .trim_end()
        .to_owned();
    for (i, dir) in path_dirs.iter().enumerate() {
        text = text.replace(
            &format!("File \"/{i}/"),
            &format!("File \"{}/", dir.display()),
        );
    }
    text
}

/// The name of the project's `cdylib` package and cargo's target folder, from `cargo metadata`.
fn cargo_package(cargo: &OsString, manifest: &Path) -> anyhow::Result<(String, PathBuf)> {
    let output = Command::new(cargo)
        .args([
            "metadata",
            "--format-version",
            "1",
            "--no-deps",
            "--manifest-path",
        ])
        .arg(manifest)
        .output()
        .with_context(|| {
            format!(
                "cannot run cargo ({}): install Rust with rustup (https://rustup.rs)",
                cargo.to_string_lossy()
            )
        })?;
    if !output.status.success() {
        bail!(
            "cargo cannot read {}:\n{}",
            manifest.display(),
            String::from_utf8_lossy(&output.stderr).trim_end()
        );
    }
    let metadata: serde_json::Value =
        serde_json::from_slice(&output.stdout).context("cannot parse `cargo metadata` output")?;
    let target = metadata["target_directory"]
        .as_str()
        .map(PathBuf::from)
        .context("`cargo metadata` gave no target_directory")?;
    let is_cdylib = |p: &serde_json::Value| {
        p["targets"]
            .as_array()
            .into_iter()
            .flatten()
            .flat_map(|t| t["crate_types"].as_array().into_iter().flatten())
            .any(|t| t == "cdylib")
    };
    let package = metadata["packages"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|p| is_cdylib(p))
        .and_then(|p| p["name"].as_str())
        .with_context(|| {
            format!(
                "{} has no library with crate-type = [\"cdylib\"]: a rule crate needs one",
                manifest.display()
            )
        })?;
    Ok((package.to_owned(), target))
}

/// `[project].name` of `pyproject.toml`, else the folder's name.
fn python_name(dir: &Path) -> anyhow::Result<String> {
    let pyproject = dir.join("pyproject.toml");
    if pyproject.is_file() {
        let text = std::fs::read_to_string(&pyproject)
            .with_context(|| format!("cannot read {}", pyproject.display()))?;
        let table: toml::Table = text
            .parse()
            .map_err(|e| anyhow::anyhow!("{}: {}", pyproject.display(), e))?;
        if let Some(name) = table
            .get("project")
            .and_then(|p| p.get("name"))
            .and_then(|n| n.as_str())
        {
            return Ok(name.to_owned());
        }
    }
    folder_name(dir)
}

/// The folder's own name (of its canonical path, so that `.` works).
fn folder_name(dir: &Path) -> anyhow::Result<String> {
    let canonical =
        std::fs::canonicalize(dir).with_context(|| format!("cannot resolve {}", dir.display()))?;
    canonical
        .file_name()
        .and_then(|n| n.to_str())
        .map(str::to_owned)
        .with_context(|| format!("{} has no usable folder name", dir.display()))
}

/// Checks that componentize-py is installed; a different version is used, with a warning.
fn check_componentize_py() -> anyhow::Result<()> {
    let install = format!("python3 -m pip install {COMPONENTIZE_PY}=={COMPONENTIZE_PY_VERSION}");
    match Command::new(COMPONENTIZE_PY).arg("--version").output() {
        Ok(out) if out.status.success() => {
            let version = String::from_utf8_lossy(&out.stdout);
            if !version.contains(COMPONENTIZE_PY_VERSION) {
                eprintln!(
                    "warning: {} is installed; Yagura's Python kit is tested with \
                     {COMPONENTIZE_PY} {COMPONENTIZE_PY_VERSION} (`{install}`)",
                    version.trim()
                );
            }
            Ok(())
        }
        _ => bail!(
            "{COMPONENTIZE_PY} is not installed (or not on PATH); it turns app.py into a \
             WebAssembly component. Install it with: {install}"
        ),
    }
}

fn write_if_changed(path: &Path, text: &str) -> anyhow::Result<()> {
    write_bytes_if_changed(path, text.as_bytes())
}

fn write_bytes_if_changed(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    if std::fs::read(path).is_ok_and(|old| old == bytes) {
        return Ok(());
    }
    write_atomically(path, bytes)
}

/// Writes beside and renames, so that a reader never sees half a file.
fn write_atomically(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)
            .with_context(|| format!("cannot create {}", parent.display()))?;
    }
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, bytes).with_context(|| format!("cannot write {}", tmp.display()))?;
    std::fs::rename(&tmp, path)
        .with_context(|| format!("cannot move {} to {}", tmp.display(), path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_folder_without_a_project_says_how_to_make_one() {
        let tmp = tempfile::tempdir().expect("a temp dir");
        let args = RuleBuildArgs {
            target_dir: None,
            quiet: true,
            dir: tmp.path().to_path_buf(),
        };
        let err = args.run(&mut Vec::new()).expect_err("nothing to build");
        assert!(err.to_string().contains("yagura rule new"), "{err}");
    }

    #[test]
    fn python_name_comes_from_pyproject_else_the_folder() {
        let tmp = tempfile::tempdir().expect("a temp dir");
        let dir = tmp.path().join("folder-name");
        std::fs::create_dir(&dir).expect("mkdir");
        assert_eq!(python_name(&dir).expect("a name"), "folder-name");
        std::fs::write(
            dir.join("pyproject.toml"),
            "[project]\nname = \"my-rule\"\n",
        )
        .expect("write");
        assert_eq!(python_name(&dir).expect("a name"), "my-rule");
    }

    #[test]
    fn js_name_comes_from_package_json_else_the_folder() {
        let tmp = tempfile::tempdir().expect("a temp dir");
        let dir = tmp.path().join("folder-name");
        std::fs::create_dir(&dir).expect("mkdir");
        assert_eq!(js_name(&dir).expect("a name"), "folder-name");
        std::fs::write(dir.join("package.json"), r#"{"name": "my-rule"}"#).expect("write");
        assert_eq!(js_name(&dir).expect("a name"), "my-rule");
    }

    #[test]
    fn tracebacks_name_real_files_and_drop_the_rust_backtrace() {
        let stderr = "AssertionError: Traceback (most recent call last):\n  File \"/1/app.py\", \
                      line 23, in <module>\nNameError: name 'x' is not defined\n\n\
                      Stack backtrace:\n   0: anyhow::Error::msg\n";
        let text = readable_traceback(stderr, &[Path::new("kit"), Path::new("my-rule")]);
        assert!(text.contains("File \"my-rule/app.py\", line 23"), "{text}");
        assert!(
            text.ends_with("NameError: name 'x' is not defined"),
            "{text}"
        );
    }

    #[test]
    fn the_embedded_kit_is_the_whole_package() {
        let kit = Path::new(env!("CARGO_MANIFEST_DIR")).join("../sdk/python/yagura_sdk");
        let mut files: Vec<String> = std::fs::read_dir(&kit)
            .expect("the kit")
            .filter_map(|e| e.ok()?.file_name().into_string().ok())
            .filter(|n| n.ends_with(".py"))
            .collect();
        files.sort();
        let embedded: Vec<&str> = KIT.iter().map(|(n, _)| *n).collect();
        assert_eq!(files, embedded, "add new kit modules to KIT");
    }

    #[test]
    fn the_embedded_c_kit_is_the_whole_kit() {
        let kit = Path::new(env!("CARGO_MANIFEST_DIR")).join("../sdk/c");
        let mut files = Vec::new();
        for sub in ["", "vendor", "bindings"] {
            for entry in std::fs::read_dir(kit.join(sub)).expect("the kit") {
                let path = entry.expect("an entry").path();
                if path.is_file() {
                    let name = path.file_name().expect("a name").to_string_lossy();
                    files.push(if sub.is_empty() {
                        name.into_owned()
                    } else {
                        format!("{sub}/{name}")
                    });
                }
            }
        }
        files.retain(|f| f != "README.md");
        files.sort();
        let mut embedded: Vec<&str> = C_KIT.iter().map(|(n, _)| *n).collect();
        embedded.sort();
        assert_eq!(files, embedded, "add new kit files to C_KIT");
    }

    #[test]
    fn clang_failures_come_with_the_fix() {
        let hint = c_hint("wasm-ld: error: undefined symbol: yagura_rule");
        assert!(hint.contains("const yg_rule yagura_rule"), "{hint}");
        let hint = c_hint("rule.c:1:10: fatal error: 'stdlib.h' file not found");
        assert!(hint.contains("wasi-libc"), "{hint}");
        assert_eq!(c_hint("rule.c:3:1: error: expected ';'"), "");
    }
}
