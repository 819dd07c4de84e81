//! The `yagura` binary: everything it does lives in the library's `cli` module.

fn main() -> std::process::ExitCode {
    yagura::cli::main()
}
