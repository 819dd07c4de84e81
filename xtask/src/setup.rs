//! What the commands need on this machine, and installing what is missing, so that on a
//! machine with rustup, Python 3 with pip and Node.js with npm, `cargo xtask demo` and
//! `cargo xtask test` are the only steps.
//!
//! Every missing tool is listed once, with what runs and where it goes, before anything is
//! installed:
//!
//! | need | checked by | installed with, into |
//! | --- | --- | --- |
//! | Rust's `wasm32-unknown-unknown` target | `rustc --print target-libdir` holds `libcore` | `rustup target add`, the toolchain's folder (rustup adds a `rust-toolchain.toml` target only when it installs the toolchain, not to one already there) |
//! | componentize-py 0.25.1 (Python rules) | `componentize-py --version` | `python3 -m pip install`, Python's packages |
//! | componentize-js 0.23.0 (JavaScript rules) | `sdk/js/node_modules` | `npm ci`, `sdk/js/node_modules` |
//! | the OCSF schema check (`test` only): ocsf-json-schema 1.2.0 (the schema.ocsf.io exports) and jsonschema 4.26.0 | both import from `target/tools/ocsf-check` | `pip install --target`, `target/tools/ocsf-check/` |
//! | an OCI registry for the distribution tests (`test` only): Debian's `docker-registry` (CNCF distribution 2.8) | `docker-registry --version`, or `$YAGURA_TEST_REGISTRY` set | `apt-get install docker-registry` (root); the tests start it themselves, on loopback |
//! | a C compiler for wasm32-wasi (C rules; `test` only) | as `yagura rule build` looks: `$WASI_SDK_PATH`, `$YAGURA_ZIG`, Debian's clang with wasi-libc, `zig` on PATH | PyPI's `ziglang` with `pip install --target`, `target/tools/ziglang-<v>/` — nothing outside the checkout, no root |
//!
//! The zig installed here is handed to the commands xtask runs as `$YAGURA_ZIG`.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::{Context, Result, bail};

/// The wasm target Rust rules are built for.
pub const WASM_TARGET: &str = "wasm32-unknown-unknown";
/// The componentize-py release the Python rules are built and documented with.
pub const COMPONENTIZE_PY: &str = "componentize-py";
pub const COMPONENTIZE_PY_VERSION: &str = "0.25.1";
/// The JavaScript kit's folder (its package-lock.json pins componentize-js).
pub const JS_KIT: &str = "sdk/js";
/// The zig release (PyPI `ziglang`) installed for C rules when the machine has no C compiler
/// for wasm32-wasi; the C kit is tested with it and with Debian 12's clang 14.
const ZIGLANG_VERSION: &str = "0.15.2";
/// What `yagura rule build` reads for zig.
const ZIG_ENV: &str = "YAGURA_ZIG";
/// What `scripts/ocsf_check.py` imports, pinned, from `target/tools/ocsf-check/`.
const OCSF_CHECK: &[&str] = &["ocsf-json-schema==1.2.0", "jsonschema==4.26.0"];

/// A tool a command needs.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Need {
    WasmTarget,
    ComponentizePy,
    ComponentizeJs,
    CCompiler,
    OcsfCheck,
    Registry,
}

/// What the rule builds of `build-rules`, `demo` and `bench` need.
pub const RULES: &[Need] = &[Need::WasmTarget, Need::ComponentizePy, Need::ComponentizeJs];
/// `test` builds C rules too.
pub const TESTS: &[Need] = &[
    Need::WasmTarget,
    Need::ComponentizePy,
    Need::ComponentizeJs,
    Need::CCompiler,
    Need::OcsfCheck,
    Need::Registry,
];

/// A missing tool: what to say before installing it, and how.
struct Install {
    /// one line: the tool, the command, where it goes
    says: String,
    run: Box<dyn FnOnce() -> Result<()>>,
}

/// Checks `needs`, installs what is missing (listing it all first), and sets `$YAGURA_ZIG`
/// for the commands xtask runs when the zig under `target/tools/` is the C compiler.
pub fn prepare(root: &Path, needs: &[Need]) -> Result<()> {
    let mut installs = Vec::new();
    for need in needs {
        let install = match need {
            Need::WasmTarget => wasm_target(root)?,
            Need::ComponentizePy => componentize_py(),
            Need::ComponentizeJs => componentize_js(root),
            Need::CCompiler => c_compiler(root)?,
            Need::OcsfCheck => ocsf_check(root),
            Need::Registry => registry(),
        };
        installs.extend(install);
    }
    if installs.is_empty() {
        return Ok(());
    }
    println!("xtask: installing what the rule builds need and this machine lacks (once):");
    for install in &installs {
        println!("  - {}", install.says);
    }
    for install in installs {
        (install.run)()?;
    }
    println!("xtask: installed");
    Ok(())
}

/// The wasm target, when `rustc` lacks it.
fn wasm_target(root: &Path) -> Result<Option<Install>> {
    let rustc = std::env::var_os("RUSTC").unwrap_or_else(|| "rustc".into());
    let libdir = Command::new(&rustc)
        .args(["--print", "target-libdir", "--target", WASM_TARGET])
        .current_dir(root)
        .output()
        .context("running rustc --print target-libdir")?;
    let libdir = PathBuf::from(String::from_utf8_lossy(&libdir.stdout).trim());
    let has_core = std::fs::read_dir(&libdir).is_ok_and(|entries| {
        entries
            .flatten()
            .any(|e| e.file_name().to_string_lossy().starts_with("libcore-"))
    });
    if has_core {
        return Ok(None);
    }
    let sysroot = Command::new(&rustc)
        .args(["--print", "sysroot"])
        .current_dir(root)
        .output()
        .map(|out| String::from_utf8_lossy(&out.stdout).trim().to_owned())
        .unwrap_or_default();
    let root = root.to_path_buf();
    Ok(Some(Install {
        says: format!(
            "Rust's {WASM_TARGET} target (Rust rules): `rustup target add {WASM_TARGET}`, \
             into {sysroot}"
        ),
        run: Box::new(move || {
            run(
                Command::new("rustup")
                    .args(["target", "add", WASM_TARGET])
                    .current_dir(&root),
                &format!(
                    "the {WASM_TARGET} target is missing and rustup could not add it; with a \
                     Rust not managed by rustup, install its standard library for {WASM_TARGET}"
                ),
            )
        }),
    }))
}

/// componentize-py, when it is missing or another version.
fn componentize_py() -> Option<Install> {
    let version = Command::new(COMPONENTIZE_PY).arg("--version").output();
    let now = match version {
        Ok(out) if String::from_utf8_lossy(&out.stdout).contains(COMPONENTIZE_PY_VERSION) => {
            return None;
        }
        Ok(out) => format!("; {} is here", String::from_utf8_lossy(&out.stdout).trim()),
        Err(_) => String::new(),
    };
    let site = python(&[
        "-c",
        "import sysconfig; print(sysconfig.get_paths()['purelib'])",
    ])
    .unwrap_or_else(|| "Python's packages".to_owned());
    let spec = format!("{COMPONENTIZE_PY}=={COMPONENTIZE_PY_VERSION}");
    Some(Install {
        says: format!(
            "{COMPONENTIZE_PY} {COMPONENTIZE_PY_VERSION} (Python rules{now}): `python3 -m pip \
             install {spec}`, into {site} (or your user's packages where that is not writable)"
        ),
        run: Box::new(move || {
            run(
                pip().args(["install", "--quiet", &spec]),
                &format!(
                    "`python3 -m pip install {spec}` failed; install {COMPONENTIZE_PY} \
                     {COMPONENTIZE_PY_VERSION} yourself, with it on PATH"
                ),
            )
        }),
    })
}

/// componentize-js, when `sdk/js/node_modules` lacks it.
fn componentize_js(root: &Path) -> Option<Install> {
    let kit = root.join(JS_KIT);
    if kit
        .join("node_modules")
        .join("@bytecodealliance")
        .join("componentize-js")
        .is_dir()
    {
        return None;
    }
    Some(Install {
        says: format!(
            "componentize-js (JavaScript rules), as {JS_KIT}/package-lock.json pins it: `npm ci` \
             in {JS_KIT}, into {}",
            kit.join("node_modules").display()
        ),
        run: Box::new(move || {
            run(
                Command::new("npm")
                    .args(["ci", "--no-audit", "--no-fund", "--loglevel=error"])
                    .current_dir(&kit),
                "`npm ci` failed; Node.js 20 or later with npm is needed for the JavaScript rules",
            )
        }),
    })
}

/// A C compiler for wasm32-wasi, found as `yagura rule build` finds one, else zig from PyPI
/// under `target/tools/`.
fn c_compiler(root: &Path) -> Result<Option<Install>> {
    let set = |name| std::env::var_os(name).is_some_and(|v: OsString| !v.is_empty());
    if set("WASI_SDK_PATH") || set(ZIG_ENV) || clang_has_wasi_libc() || runs("zig", &["version"]) {
        return Ok(None);
    }
    let dir = root
        .join("target")
        .join("tools")
        .join(format!("ziglang-{ZIGLANG_VERSION}"));
    let zig = dir.join("ziglang").join("zig");
    if runs(&zig, &["version"]) {
        use_zig(&zig);
        return Ok(None);
    }
    let spec = format!("ziglang=={ZIGLANG_VERSION}");
    Ok(Some(Install {
        says: format!(
            "zig {ZIGLANG_VERSION} (C rules: `zig cc` is clang with its own wasi-libc): `python3 \
             -m pip install --target {} {spec}`, about 380 MB, nothing outside target/ (zig \
             keeps its build cache in ~/.cache/zig). Debian's `clang lld wasi-libc \
             libclang-rt-14-dev-wasm32` or a wasi-sdk in WASI_SDK_PATH would be used instead",
            dir.display()
        ),
        run: Box::new(move || {
            let _ = std::fs::remove_dir_all(&dir);
            run(
                pip()
                    .args(["install", "--quiet", "--no-deps", "--target"])
                    .arg(&dir)
                    .arg(&spec),
                &format!(
                    "`python3 -m pip install --target {} {spec}` failed; install a C compiler \
                     for wasm32-wasi yourself (docs/writing-rules-c.md)",
                    dir.display()
                ),
            )?;
            if !runs(&zig, &["version"]) {
                bail!("{} was installed but does not run", zig.display());
            }
            use_zig(&zig);
            Ok(())
        }),
    }))
}

/// Debian's `docker-registry`, which the OCI tests start (host/tests/all/oci.rs), when it
/// is missing.
fn registry() -> Option<Install> {
    if std::env::var_os("YAGURA_TEST_REGISTRY").is_some() || runs("docker-registry", &["--version"])
    {
        return None;
    }
    Some(Install {
        says: "an OCI registry for the distribution tests: Debian's docker-registry \
               (distribution 2.8), `apt-get update && apt-get install docker-registry`, into \
               /usr/bin (the tests start it on loopback ports of their own; the package's \
               service is not needed)"
            .to_owned(),
        run: Box::new(|| {
            let advice = "installing docker-registry failed: install Debian's docker-registry \
                          (or any CNCF distribution binary, named in $YAGURA_TEST_REGISTRY) \
                          yourself";
            run(Command::new("apt-get").args(["update", "-qq"]), advice)?;
            run(
                Command::new("apt-get")
                    .args(["install", "-y", "-qq", "docker-registry"])
                    .env("DEBIAN_FRONTEND", "noninteractive"),
                advice,
            )?;
            if !runs("docker-registry", &["--version"]) {
                bail!("docker-registry was installed but does not run");
            }
            Ok(())
        }),
    })
}

/// Where the OCSF schema check's Python packages go (`PYTHONPATH` for the check).
pub fn ocsf_check_dir(root: &Path) -> PathBuf {
    root.join("target").join("tools").join("ocsf-check")
}

/// The OCSF schema check's packages, when `target/tools/ocsf-check` lacks them.
fn ocsf_check(root: &Path) -> Option<Install> {
    let dir = ocsf_check_dir(root);
    let imports = Command::new("python3")
        .args(["-c", "import jsonschema, ocsf_json_schema"])
        .env("PYTHONPATH", &dir)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if imports {
        return None;
    }
    let specs = OCSF_CHECK.join(" ");
    Some(Install {
        says: format!(
            "{specs} (the OCSF schema check of findings): `python3 -m pip install --target {}              {specs}`, about 20 MB, nothing outside target/",
            dir.display()
        ),
        run: Box::new(move || {
            let _ = std::fs::remove_dir_all(&dir);
            run(
                pip()
                    .args(["install", "--quiet", "--target"])
                    .arg(&dir)
                    .args(OCSF_CHECK),
                &format!(
                    "`python3 -m pip install --target {} {specs}` failed",
                    dir.display()
                ),
            )
        }),
    })
}

/// Hands the zig under `target/tools/` to the commands xtask runs (tests run `yagura rule
/// build`).
fn use_zig(zig: &Path) {
    // SAFETY: xtask sets this before it starts any thread or child process.
    unsafe { std::env::set_var(ZIG_ENV, zig) };
}

/// Whether clang is on PATH and finds a wasm32-wasi libc (it prints the bare name when not).
fn clang_has_wasi_libc() -> bool {
    let Ok(out) = Command::new("clang")
        .args(["--target=wasm32-wasi", "-print-file-name=libc.a"])
        .output()
    else {
        return false;
    };
    let path = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
    out.status.success() && path.is_absolute() && path.is_file()
}

/// Whether `program ARGS` starts and succeeds.
fn runs(program: impl AsRef<std::ffi::OsStr>, args: &[&str]) -> bool {
    Command::new(program)
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// `python3 -m pip`, without its warning about running as root (the install is said above).
fn pip() -> Command {
    let mut cmd = Command::new("python3");
    cmd.args(["-m", "pip"])
        .env("PIP_ROOT_USER_ACTION", "ignore")
        .env("PIP_DISABLE_PIP_VERSION_CHECK", "1");
    cmd
}

/// What `python3 ARGS` prints, trimmed, when it succeeds.
fn python(args: &[&str]) -> Option<String> {
    let out = Command::new("python3").args(args).output().ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

/// Runs an install command, failing with `advice` (and the status) when it fails.
fn run(cmd: &mut Command, advice: &str) -> Result<()> {
    let program = cmd.get_program().to_string_lossy().into_owned();
    let status = cmd
        .status()
        .with_context(|| format!("could not start {program}; {advice}"))?;
    if !status.success() {
        bail!("{advice} ({status})");
    }
    Ok(())
}
