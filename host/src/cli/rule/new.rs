//! `yagura rule new`: scaffolds a rule project from the templates under `host/templates/<lang>/`,
//! embedded in the binary, so that the project builds and passes its cases as written.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use clap::{Args, ValueEnum};

/// The languages a rule project can be written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Lang {
    /// a crate on the Yagura Rust SDK (sdk/)
    Rust,
    /// app.py on the Python kit (sdk/python), built with componentize-py
    Python,
    /// app.js on the JavaScript kit (sdk/js), built with componentize-js
    Js,
    /// rule.c on the C kit (sdk/c), built with clang for wasm32-wasi
    C,
}

#[derive(Debug, Args)]
pub struct RuleNewArgs {
    /// The language of the rule
    #[arg(long, value_enum)]
    pub lang: Lang,

    /// Create the project in DIR (default: ./NAME). It must not exist or be empty
    #[arg(long, value_name = "DIR")]
    pub dir: Option<PathBuf>,

    /// Rust only: the Yagura Rust SDK the crate depends on (the `sdk` folder of a Yagura
    /// checkout). Default: the SDK of the checkout this yagura was built from
    #[arg(long, value_name = "PATH")]
    pub sdk: Option<PathBuf>,

    /// The rule's id, also the project's and the component's name: lowercase letters, digits
    /// and dashes, starting with a letter (`encoded-powershell`)
    #[arg(value_name = "NAME")]
    pub name: String,
}

/// A template file: where it goes in the project, and its text with `{{id}}`, `{{crate}}` and
/// `{{sdk}}` placeholders.
type Template = (&'static str, &'static str);

const RUST: &[Template] = &[
    (
        "Cargo.toml",
        include_str!("../../../templates/rust/Cargo.toml"),
    ),
    (
        "rust-toolchain.toml",
        include_str!("../../../templates/rust/rust-toolchain.toml"),
    ),
    (
        "src/lib.rs",
        include_str!("../../../templates/rust/src/lib.rs"),
    ),
    (
        "cases.toml",
        include_str!("../../../templates/rust/cases.toml"),
    ),
    (
        ".gitignore",
        include_str!("../../../templates/rust/gitignore"),
    ),
];

const PYTHON: &[Template] = &[
    ("app.py", include_str!("../../../templates/python/app.py")),
    (
        "pyproject.toml",
        include_str!("../../../templates/python/pyproject.toml"),
    ),
    (
        "cases.toml",
        include_str!("../../../templates/python/cases.toml"),
    ),
    (
        ".gitignore",
        include_str!("../../../templates/python/gitignore"),
    ),
];

const JS: &[Template] = &[
    ("app.js", include_str!("../../../templates/js/app.js")),
    (
        "package.json",
        include_str!("../../../templates/js/package.json"),
    ),
    (
        "cases.toml",
        include_str!("../../../templates/js/cases.toml"),
    ),
    (
        ".gitignore",
        include_str!("../../../templates/js/gitignore"),
    ),
];

const C: &[Template] = &[
    ("rule.c", include_str!("../../../templates/c/rule.c")),
    (
        "cases.toml",
        include_str!("../../../templates/c/cases.toml"),
    ),
    (".gitignore", include_str!("../../../templates/c/gitignore")),
];

impl RuleNewArgs {
    /// Writes the project and tells `out` what to do next; returns the project's folder.
    pub fn run(&self, out: &mut dyn Write) -> anyhow::Result<PathBuf> {
        check_name(&self.name)?;
        let dir = self
            .dir
            .clone()
            .unwrap_or_else(|| PathBuf::from(&self.name));
        let is_empty_dir = |d: &Path| d.read_dir().is_ok_and(|mut e| e.next().is_none());
        if dir.exists() && !is_empty_dir(&dir) {
            bail!(
                "{} already exists and is not empty: choose another NAME or --dir",
                dir.display()
            );
        }
        let (templates, sdk) = match self.lang {
            Lang::Rust => (RUST, Some(rust_sdk(self.sdk.as_deref())?)),
            Lang::Python => {
                if self.sdk.is_some() {
                    bail!(
                        "--sdk is for Rust rules; the Python kit is built into yagura and put on \
                         componentize-py's path by `yagura rule build`"
                    );
                }
                (PYTHON, None)
            }
            Lang::Js => {
                if self.sdk.is_some() {
                    bail!(
                        "--sdk is for Rust rules; `yagura rule build` finds the JavaScript kit \
                         itself (the sdk/js folder of the Yagura checkout, or $YAGURA_JS_SDK)"
                    );
                }
                (JS, None)
            }
            Lang::C => {
                if self.sdk.is_some() {
                    bail!(
                        "--sdk is for Rust rules; the C kit is built into yagura and written \
                         next to the build by `yagura rule build`"
                    );
                }
                (C, None)
            }
        };
        // A TOML basic string, quoted and escaped (Windows paths have backslashes).
        let sdk_toml = sdk
            .as_ref()
            .map(|p| toml::Value::String(p.display().to_string()).to_string())
            .unwrap_or_default();
        let crate_name = format!("rule-{}", self.name);
        for (path, template) in templates {
            let text = template
                .replace("{{id}}", &self.name)
                .replace("{{crate}}", &crate_name)
                .replace("{{sdk}}", &sdk_toml);
            let file = dir.join(path);
            if let Some(parent) = file.parent() {
                std::fs::create_dir_all(parent)
                    .with_context(|| format!("cannot create {}", parent.display()))?;
            }
            std::fs::write(&file, text)
                .with_context(|| format!("cannot write {}", file.display()))?;
        }
        let shown = dir.display();
        let lang = match self.lang {
            Lang::Rust => "Rust",
            Lang::Python => "Python",
            Lang::Js => "JavaScript",
            Lang::C => "C",
        };
        writeln!(
            out,
            "created the {lang} rule `{}` in {shown}: one example detection (encoded PowerShell) \
             and its cases",
            self.name
        )?;
        if let Some(sdk) = &sdk {
            writeln!(out, "  Rust SDK: {}", sdk.display())?;
        }
        writeln!(out, "next:")?;
        writeln!(out, "  cd {shown}")?;
        writeln!(
            out,
            "  yagura rule build      # -> target/{}.wasm",
            self.name
        )?;
        writeln!(out, "  yagura rule test       # runs cases.toml")?;
        Ok(dir)
    }
}

/// A rule id: lowercase ASCII letters, digits and single dashes, starting with a letter.
fn check_name(name: &str) -> anyhow::Result<()> {
    let ok = name.len() <= 64
        && name.starts_with(|c: char| c.is_ascii_lowercase())
        && !name.ends_with('-')
        && !name.contains("--")
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
    if !ok {
        bail!(
            "`{name}` is not a rule name: use lowercase letters, digits and dashes, starting \
             with a letter and at most 64 long (`encoded-powershell`)"
        );
    }
    Ok(())
}

/// The Rust SDK to depend on: `--sdk`, else this checkout's `sdk/`; absolute, and checked.
fn rust_sdk(given: Option<&Path>) -> anyhow::Result<PathBuf> {
    let sdk = match given {
        Some(path) => path.to_path_buf(),
        None => Path::new(env!("CARGO_MANIFEST_DIR"))
            .parent()
            .map(|root| root.join("sdk"))
            .context("the host crate has no parent folder")?,
    };
    if !sdk.join("Cargo.toml").is_file() {
        bail!(
            "the Yagura Rust SDK is not at {} (no Cargo.toml there): pass --sdk PATH, the `sdk` \
             folder of a Yagura checkout",
            sdk.display()
        );
    }
    std::fs::canonicalize(&sdk).with_context(|| format!("cannot resolve {}", sdk.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(lang: Lang, name: &str, dir: &Path) -> RuleNewArgs {
        RuleNewArgs {
            lang,
            dir: Some(dir.to_path_buf()),
            sdk: None,
            name: name.to_owned(),
        }
    }

    #[test]
    fn names_are_rule_ids() {
        for good in ["a", "encoded-powershell", "scan2"] {
            assert!(check_name(good).is_ok(), "{good}");
        }
        for bad in [
            "",
            "Encoded",
            "2scan",
            "a_b",
            "a--b",
            "a-",
            "a b",
            &"a".repeat(65),
        ] {
            let err = check_name(bad).expect_err(bad).to_string();
            assert!(err.contains("is not a rule name"), "{err}");
        }
    }

    #[test]
    fn scaffolds_fill_every_placeholder() {
        let tmp = tempfile::tempdir().expect("a temp dir");
        for (lang, templates) in [
            (Lang::Rust, RUST),
            (Lang::Python, PYTHON),
            (Lang::Js, JS),
            (Lang::C, C),
        ] {
            let dir = tmp.path().join(format!("{lang:?}"));
            let mut out = Vec::new();
            args(lang, "my-rule", &dir)
                .run(&mut out)
                .expect("scaffolds");
            for (path, _) in templates {
                let text = std::fs::read_to_string(dir.join(path)).expect("written");
                assert!(!text.contains("{{"), "{path}: {text}");
            }
            let cases = std::fs::read_to_string(dir.join("cases.toml")).expect("cases");
            assert!(cases.contains("rule = \"my-rule\""), "{cases}");
            let out = String::from_utf8(out).expect("utf-8");
            assert!(out.contains("yagura rule build"), "{out}");
        }
        let cargo = std::fs::read_to_string(tmp.path().join("Rust/Cargo.toml")).expect("Cargo");
        let manifest: toml::Table = cargo.parse().expect("Cargo.toml parses");
        assert_eq!(manifest["package"]["name"].as_str(), Some("rule-my-rule"));
        assert!(manifest.contains_key("workspace"), "{cargo}");
        let sdk = manifest["dependencies"]["yagura-sdk"]["path"]
            .as_str()
            .expect("a path");
        assert!(Path::new(sdk).join("Cargo.toml").is_file(), "{sdk}");
    }

    #[test]
    fn refuses_a_non_empty_folder_and_a_missing_sdk() {
        let tmp = tempfile::tempdir().expect("a temp dir");
        std::fs::write(tmp.path().join("keep.txt"), "x").expect("write");
        let err = args(Lang::Python, "r", tmp.path())
            .run(&mut Vec::new())
            .expect_err("not empty");
        assert!(err.to_string().contains("is not empty"), "{err}");
        let mut rust = args(Lang::Rust, "r", &tmp.path().join("new"));
        rust.sdk = Some(tmp.path().to_path_buf());
        let err = rust.run(&mut Vec::new()).expect_err("no SDK there");
        assert!(err.to_string().contains("pass --sdk PATH"), "{err}");
    }
}
