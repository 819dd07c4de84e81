//! The C compiler `yagura rule build` uses for C rules: clang for `wasm32-wasi` with a
//! wasi-libc, from one of three places, tried in this order:
//!
//! 1. `$WASI_SDK_PATH`: a wasi-sdk's clang and sysroot;
//! 2. `$YAGURA_ZIG`: a `zig` binary (`zig cc` is clang with its own wasi-libc and wasm linker;
//!    `cargo xtask` installs one from PyPI's `ziglang` under `target/tools/` and points this at
//!    it when the machine has no other);
//! 3. `clang` on PATH that finds a wasi-libc (Debian's `clang lld wasi-libc
//!    libclang-rt-14-dev-wasm32`);
//! 4. `zig` on PATH.
//!
//! `$YAGURA_C_TOOLCHAIN` (`wasi-sdk`, `zig` or `clang`) picks one of them and fails if it is
//! not there, so a machine that has several can test each.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::bail;

/// Where a wasi-sdk is.
pub(super) const WASI_SDK_ENV: &str = "WASI_SDK_PATH";
/// A zig binary to compile with.
pub(super) const ZIG_ENV: &str = "YAGURA_ZIG";
/// Picks one of the toolchains by name.
const CHOICE_ENV: &str = "YAGURA_C_TOOLCHAIN";
/// What to install for C rules on Debian 12 (docs/writing-rules-c.md).
pub(super) const C_PACKAGES: &str = "apt-get install clang lld wasi-libc libclang-rt-14-dev-wasm32";

/// A compiler for C rules: the program, the arguments that come before clang's own, and the
/// sysroot to pass.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct CToolchain {
    pub kind: Kind,
    pub program: PathBuf,
    pub sysroot: Option<PathBuf>,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) enum Kind {
    WasiSdk,
    Clang,
    Zig,
}

impl CToolchain {
    /// The compile command, up to clang's arguments.
    pub fn command(&self) -> Command {
        let mut cmd = Command::new(&self.program);
        if self.kind == Kind::Zig {
            cmd.arg("cc");
        }
        if let Some(sysroot) = &self.sysroot {
            cmd.arg(format!("--sysroot={}", sysroot.display()));
        }
        // zig keeps DWARF in the module unless told otherwise; the component has no use for it
        if self.kind == Kind::Zig {
            cmd.arg("-s");
        }
        cmd
    }

    /// How error messages name it.
    pub fn name(&self) -> String {
        match self.kind {
            Kind::Zig => format!("zig cc ({})", self.program.display()),
            Kind::WasiSdk | Kind::Clang => self.program.display().to_string(),
        }
    }
}

/// The first toolchain that is there, in the order of the module doc.
pub(super) fn find() -> anyhow::Result<CToolchain> {
    let env = |name| std::env::var_os(name).filter(|v: &OsString| !v.is_empty());
    let choice = env(CHOICE_ENV).map(|v| v.to_string_lossy().into_owned());
    let wanted = |kind: &str| choice.as_deref().is_none_or(|c| c == kind);
    if let Some(c) = &choice
        && !["wasi-sdk", "zig", "clang"].contains(&c.as_str())
    {
        bail!("{CHOICE_ENV}={c:?}: expected `wasi-sdk`, `zig` or `clang`");
    }

    if wanted("wasi-sdk")
        && let Some(sdk) = env(WASI_SDK_ENV)
    {
        let sdk = PathBuf::from(sdk);
        let clang = sdk.join("bin").join("clang");
        if !runs(&clang, &["--version"]) {
            bail!(
                "{WASI_SDK_ENV} is {}, but {} does not run",
                sdk.display(),
                clang.display()
            );
        }
        return Ok(CToolchain {
            kind: Kind::WasiSdk,
            program: clang,
            sysroot: Some(sdk.join("share").join("wasi-sysroot")),
        });
    }
    if wanted("zig")
        && let Some(zig) = env(ZIG_ENV)
    {
        let zig = PathBuf::from(zig);
        if !runs(&zig, &["version"]) {
            bail!("{ZIG_ENV} is {}, which does not run", zig.display());
        }
        return Ok(zig_at(zig));
    }
    if wanted("clang") && clang_has_wasi_libc(Path::new("clang")) {
        return Ok(CToolchain {
            kind: Kind::Clang,
            program: PathBuf::from("clang"),
            sysroot: None,
        });
    }
    if wanted("zig") && runs(Path::new("zig"), &["version"]) {
        return Ok(zig_at(PathBuf::from("zig")));
    }
    let picked = choice.map_or_else(String::new, |c| format!(" ({CHOICE_ENV}={c})"));
    bail!(
        "no C compiler for wasm32-wasi was found{picked}. C rules are compiled by clang with a \
         wasi-libc; any of these will do: Debian's `{C_PACKAGES}`; a zig binary on PATH or in \
         {ZIG_ENV} (`python3 -m pip install --target DIR ziglang==0.15.2` ships one as \
         DIR/ziglang/zig; `cargo xtask test` installs it under target/tools/ when nothing else \
         is there); or a wasi-sdk in {WASI_SDK_ENV}"
    )
}

fn zig_at(program: PathBuf) -> CToolchain {
    CToolchain {
        kind: Kind::Zig,
        program,
        sysroot: None,
    }
}

/// Whether `program ARGS` starts and succeeds.
fn runs(program: &Path, args: &[&str]) -> bool {
    Command::new(program)
        .args(args)
        .output()
        .is_ok_and(|out| out.status.success())
}

/// Whether `clang` runs and knows where a wasm32-wasi libc is (it prints the bare file name
/// when it does not).
fn clang_has_wasi_libc(clang: &Path) -> bool {
    let Ok(out) = Command::new(clang)
        .args(["--target=wasm32-wasi", "-print-file-name=libc.a"])
        .output()
    else {
        return false;
    };
    let path = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
    out.status.success() && path.is_absolute() && path.is_file()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zig_is_called_as_zig_cc_without_debug_info() {
        let zig = zig_at(PathBuf::from("/opt/zig/zig"));
        let cmd = zig.command();
        let args: Vec<_> = cmd.get_args().collect();
        assert_eq!(args, ["cc", "-s"]);
        assert_eq!(zig.name(), "zig cc (/opt/zig/zig)");
    }

    #[test]
    fn a_wasi_sdk_passes_its_sysroot() {
        let sdk = CToolchain {
            kind: Kind::WasiSdk,
            program: PathBuf::from("/opt/wasi-sdk/bin/clang"),
            sysroot: Some(PathBuf::from("/opt/wasi-sdk/share/wasi-sysroot")),
        };
        let cmd = sdk.command();
        let args: Vec<_> = cmd.get_args().collect();
        assert_eq!(args, ["--sysroot=/opt/wasi-sdk/share/wasi-sysroot"]);
    }

    #[test]
    fn a_missing_program_does_not_run() {
        assert!(!runs(
            Path::new("/nonexistent/yagura-test-clang"),
            &["--version"]
        ));
        assert!(!clang_has_wasi_libc(Path::new(
            "/nonexistent/yagura-test-clang"
        )));
    }
}
