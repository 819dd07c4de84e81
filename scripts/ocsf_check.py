#!/usr/bin/env python3
"""Validates OCSF JSON lines against the official OCSF JSON schema.

Every line of every `*.jsonl` / `*.ndjson` file given (or found under a folder given) is
checked against the schema of its own `class_uid`, for the OCSF version its
`metadata.version` declares, with the profiles its `metadata.profiles` declares. The schemas
are the schema.ocsf.io exports the PyPI package `ocsf-json-schema` ships; the validator is
`jsonschema` (Draft 2020-12). Nothing of either is copied here.

    python3 scripts/ocsf_check.py target/ocsf tests/data/ocsf/classes.ndjson

Exits 1 on any invalid line (each printed with its file, line and the schema's words), and
also when no line was checked at all, so a check that saw nothing cannot pass. `cargo xtask
test` runs it on the findings the tests wrote (docs/ocsf.md).
"""

import json
import sys
from collections import Counter
from pathlib import Path

try:
    from jsonschema import Draft202012Validator
    from ocsf_json_schema import OcsfJsonSchemaEmbedded, get_ocsf_schema, get_packaged_versions
except ImportError as e:  # pragma: no cover - said plainly, not as a trace
    sys.exit(
        f"ocsf_check: {e}; install the checker's packages: "
        "python3 -m pip install ocsf-json-schema==1.2.0 jsonschema==4.26.0"
    )

MAX_SHOWN = 20


def files_of(args):
    for arg in args:
        path = Path(arg)
        if path.is_dir():
            yield from sorted(
                p for p in path.rglob("*") if p.suffix in (".jsonl", ".ndjson") and p.is_file()
            )
        elif path.is_file():
            yield path
        else:
            sys.exit(f"ocsf_check: {arg}: no such file or folder")


class Validators:
    """One validator per (version, class, profiles), built on first use."""

    def __init__(self):
        self.schemas = {}
        self.validators = {}
        self.versions = get_packaged_versions()

    def get(self, version, class_uid, profiles):
        key = (version, class_uid, profiles)
        if key not in self.validators:
            if version not in self.versions:
                raise ValueError(
                    f"metadata.version {version!r} is not an OCSF version the schema package "
                    f"ships ({', '.join(sorted(self.versions))})"
                )
            if version not in self.schemas:
                self.schemas[version] = OcsfJsonSchemaEmbedded(get_ocsf_schema(version=version))
            schema = self.schemas[version]
            # by the class's key in the export, which names extension classes with their
            # extension (`win/registry_key_activity`); the package's own uid lookup does not
            names = [k for k, c in schema.schema.schema["classes"].items() if c["uid"] == class_uid]
            if not names:
                raise ValueError(f"class_uid {class_uid} is not a class of OCSF {version}")
            name = names[0]
            self.validators[key] = Draft202012Validator(
                schema.get_class_schema(name, list(profiles))
            )
        return self.validators[key]


def main(argv):
    if len(argv) < 2 or argv[1] in ("-h", "--help"):
        print(__doc__.strip())
        return 0 if len(argv) >= 2 else 2
    validators = Validators()
    checked = Counter()
    valid = 0
    bad = 0
    for path in files_of(argv[1:]):
        with open(path, encoding="utf-8") as f:
            for number, line in enumerate(f, 1):
                if not line.strip():
                    continue
                where = f"{path}:{number}"
                try:
                    value = json.loads(line)
                    metadata = value.get("metadata") or {}
                    version = metadata.get("version")
                    class_uid = value.get("class_uid")
                    if not isinstance(version, str) or not isinstance(class_uid, int):
                        raise ValueError("no metadata.version (string) or class_uid (integer)")
                    profiles = tuple(sorted(metadata.get("profiles") or []))
                    validator = validators.get(version, class_uid, profiles)
                except ValueError as e:
                    bad += 1
                    if bad <= MAX_SHOWN:
                        print(f"{where}: {e}")
                    continue
                errors = sorted(validator.iter_errors(value), key=lambda e: list(e.path))
                checked[(version, class_uid)] += 1
                if errors:
                    bad += 1
                    if bad <= MAX_SHOWN:
                        for error in errors[:5]:
                            at = "/".join(str(p) for p in error.absolute_path) or "(root)"
                            print(f"{where}: at {at}: {error.message}")
                else:
                    valid += 1
    total = sum(checked.values())
    kinds = ", ".join(f"{n} of class {c} (OCSF {v})" for (v, c), n in sorted(checked.items()))
    if bad > MAX_SHOWN:
        print(f"… and {bad - MAX_SHOWN} more invalid lines")
    if total == 0 and bad == 0:
        print("ocsf_check: no OCSF line was found to check")
        return 1
    print(f"ocsf_check: {valid} valid, {bad} invalid; checked {kinds}")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
