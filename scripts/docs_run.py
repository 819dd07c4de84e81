#!/usr/bin/env python3
"""Runs the shell examples of the docs as written, so that an example that drifts fails CI.

Every ```sh block of README.md and docs/*.md is one of:

- run against a real `yagura serve` on loopback (docs/api.md's blocks, and elsewhere a block
  after `<!-- docs-run: api -->`), each command in turn in one shell, with `localhost:8080`
  pointed at the server the harness started (one fresh server per file);
- run as commands in a scratch folder that holds the checkout's `rules/` and `target/` and
  the files the docs name (`<!-- docs-run: cli -->` before the block);
- in either, `localhost:5000` is an OCI registry the harness started (Debian's
  `docker-registry`, on a free loopback port with a scratch folder; one per file and kind),
  which the server may follow (`--follow-registries`);
- skipped, with the reason in the comment (`<!-- docs-run: skip: REASON -->`): a build, a
  benchmark, a system install. A block with neither is an error: a new example runs or says
  why it does not.

A command passes when it exits 0 and, where the doc shows its answer in the comment lines
under it (`# 201 {"name":…}`), the answer has that status and every key the doc names; a curl
without it is held to a status below 400. A query (a curl GET) whose answer is not yet what the
doc shows is asked again, up to 1,200 times 0.1 s apart, as the tests poll: alerts are made by
the engine after the events were taken. A command with a placeholder (`…`) fails: write examples that run.

The commands of one file run in order, each in a fresh bash that starts with the variables the
ones before it left (`export ACME=$(…)`). The files the examples read (`acme.pub`,
`yagura-core-0.1.0.ypack`, `security.ndjson`, …) are made from committed data when a command
first names one that is missing (`--list` names them); a `cargo …` line runs in the checkout,
and `cargo run -p yagura --` is the `yagura` under test.

    python3 scripts/docs_run.py                 # every doc; needs target/debug/yagura and
                                                # target/rules (cargo xtask test builds both)
    python3 scripts/docs_run.py docs/api.md     # one file
"""

import argparse
import gzip
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ANNOTATION = re.compile(r"^<!--\s*docs-run:\s*(.*?)\s*-->$")
KEY = re.compile(r'"([A-Za-z_][A-Za-z0-9_]*)"\s*:')
# the files the examples read, made in the scratch folder from committed data when a command
# names one that is not there yet (a command that writes it, `--out NAME` or `key generate`,
# makes its own)
FIXTURES = {
    "acme.pub": "yagura key generate acme",
    "acme.key": "yagura key generate acme",
    "acme-team.pub": "yagura key generate acme-team",
    "yagura-core-0.1.0.ypack": "rules/pack.toml built and signed with acme.key",
    "yagura-core-0.2.0.ypack": "the same at version 0.2.0",
    "security.ndjson": "tests/data/windows' OTRF capture (300 Windows events, NXLog JSON) and "
    "two lines that are not events",
    "conn.log.gz": "tests/data/network/conn-two-blocks.log, gzip-compressed",
    "Security.evtx": "tests/data/evtx/sysmon_psexec_as_system.evtx",
}


class Failure(Exception):
    pass


class Command:
    def __init__(self, line, text):
        self.line = line  # 1-based line in the doc
        self.text = text
        self.answer = []  # the doc's comment lines under the command

    def expected(self):
        """(status or None, keys) the doc shows for this command's answer."""
        text = " ".join(self.answer)
        inline = re.search(r"\s#\s*((\d{3}\s+)?[{\[].*)$", self.text.splitlines()[-1])
        if not text and inline:
            text = inline.group(1)
        status = re.match(r"\s*(\d{3})\b", text)
        return (int(status.group(1)) if status else None), sorted(set(KEY.findall(text)))


class Block:
    def __init__(self, path, line, lines, annotation):
        self.path = path
        self.line = line
        self.lines = lines
        self.annotation = annotation

    def where(self, line=None):
        return f"{self.path.relative_to(ROOT)}:{line or self.line}"

    def commands(self):
        commands = []
        pending = None
        for offset, raw in enumerate(self.lines):
            number = self.line + 1 + offset
            stripped = raw.strip()
            if pending is not None:
                pending.text += "\n" + raw
                if not raw.rstrip().endswith("\\"):
                    commands.append(pending)
                    pending = None
                continue
            if not stripped:
                continue
            if stripped.startswith("#"):
                if commands:
                    commands[-1].answer.append(stripped.lstrip("#").strip())
                continue
            command = Command(number, raw)
            if raw.rstrip().endswith("\\"):
                pending = command
            else:
                commands.append(command)
        if pending is not None:
            raise Failure(f"{self.where()}: the block ends inside a command continued with `\\`")
        return commands


def blocks(path):
    lines = path.read_text(encoding="utf-8").split("\n")
    out = []
    i = 0
    while i < len(lines):
        if lines[i].strip() == "```sh":
            j = i + 1
            while j < len(lines) and not lines[j].strip().startswith("```"):
                j += 1
            before = next((lines[k].strip() for k in range(i - 1, -1, -1) if lines[k].strip()), "")
            found = ANNOTATION.match(before)
            out.append(Block(path, i + 1, lines[i + 1 : j], found.group(1) if found else None))
            i = j
        i += 1
    return out


def run(cmd, cwd, **kw):
    done = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, **kw)
    if done.returncode != 0:
        raise Failure(f"setup: `{' '.join(map(str, cmd))}` failed:\n{done.stdout}{done.stderr}")
    return done


def make_fixture(name, work, yagura):
    """Makes FIXTURES[name] in `work`."""
    if name.endswith((".pub", ".key")):
        run([yagura, "key", "generate", name.rsplit(".", 1)[0]], work)
    elif name.endswith(".ypack"):
        if not (work / "acme.key").exists():
            make_fixture("acme.key", work, yagura)
        version = re.search(r"(\d+\.\d+\.\d+)", name).group(1)
        manifest = (ROOT / "rules" / "pack.toml").read_text(encoding="utf-8")
        manifest = manifest.replace('version = "0.1.0"', f'version = "{version}"', 1)
        source = work / f".pack-{version}.toml"
        source.write_text(
            re.sub(r'(component|cases) = "([^"]+)"',
                   lambda m: f'{m.group(1)} = "{(ROOT / "rules" / m.group(2)).resolve()}"',
                   manifest),
            encoding="utf-8")
        run([yagura, "pack", "build", str(source), "--key", "acme.key", "--no-test",
             "--out", name], work)
    elif name == "security.ndjson":
        capture = ROOT / "tests/data/windows/otrf_empire_psexec_lines_1150-1449.json.gz"
        with gzip.open(capture, "rt", encoding="utf-8") as f:
            events = f.read()
        (work / name).write_text(
            events + '{"EventID":"four","Hostname":"WS01"}\nnot an event\n', encoding="utf-8")
    elif name == "conn.log.gz":
        raw = (ROOT / "tests/data/network/conn-two-blocks.log").read_bytes()
        (work / name).write_bytes(gzip.compress(raw, mtime=0))
    elif name == "Security.evtx":
        shutil.copy(ROOT / "tests/data/evtx/sysmon_psexec_as_system.evtx", work / name)


def prepare(text, work, yagura):
    """Makes the fixtures `text` reads and are not there yet."""
    for name in FIXTURES:
        if not re.search(r"(?<![\w.-])" + re.escape(name) + r"(?![\w.-])", text):
            continue
        if (work / name).exists():
            continue
        stem = name.rsplit(".", 1)[0]
        if re.search(r"--out\s+" + re.escape(name), text) or re.search(
                r"key generate\s+" + re.escape(stem) + r"\b", text):
            continue
        make_fixture(name, work, yagura)


def stop(proc):
    """Ends a process the harness started: politely, then for good after a minute."""
    proc.terminate()
    try:
        proc.wait(timeout=60)
    except subprocess.TimeoutExpired:
        proc.kill()


class Server:
    """`yagura serve` on a free loopback port, with a fresh store; its admin token."""

    def __init__(self, yagura, work, registry=None):
        # a registry the harness started is one the server may follow
        follow = ["--follow-registries", registry.address] if registry else []
        self.proc = subprocess.Popen(
            [yagura, "serve", "--store", str(work / "server-store"), "--listen", "127.0.0.1:0",
             "--log", "warn", *follow],
            cwd=work, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.first_line = self.proc.stdout.readline().strip()
        token = re.search(r"(ygr_\S+)", self.first_line)
        if not token:
            self.stop()
            raise Failure(f"yagura serve printed no admin token: {self.first_line!r}")
        self.token = token.group(1)
        # stderr: `yagura serve: listening on http://127.0.0.1:PORT, store …`
        self.log = []
        for line in self.proc.stderr:
            self.log.append(line)
            found = re.search(r"listening on http://(\S+?),", line)
            if found:
                self.address = found.group(1)
                break
        else:
            self.stop()
            raise Failure(f"yagura serve ended without saying where it listens: {self.log}")
        # keep reading both pipes, so that the server never waits on a full one
        for pipe in (self.proc.stdout, self.proc.stderr):
            threading.Thread(target=self.log.extend, args=(pipe,), daemon=True).start()

    def stop(self):
        stop(self.proc)


class Registry:
    """An OCI registry (`docker-registry`, or $YAGURA_TEST_REGISTRY) on a free loopback port."""

    def __init__(self, work):
        program = os.environ.get("YAGURA_TEST_REGISTRY", "docker-registry")
        for _ in range(5):
            with socket.socket() as s:
                s.bind(("127.0.0.1", 0))
                port = s.getsockname()[1]
            config = work / "registry.yml"
            config.write_text(
                "version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n"
                f"    rootdirectory: {work / 'registry'}\nhttp:\n  addr: 127.0.0.1:{port}\n",
                encoding="utf-8")
            try:
                self.proc = subprocess.Popen([program, "serve", str(config)],
                                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            except OSError as e:
                raise Failure(f"cannot start {program} ({e}): install Debian's docker-registry")
            for _ in range(RETRIES):
                if self.proc.poll() is not None:
                    break
                try:
                    socket.create_connection(("127.0.0.1", port), timeout=1).close()
                    self.address = f"127.0.0.1:{port}"
                    return
                except OSError:
                    time.sleep(0.1)
            self.stop()
        raise Failure("the registry did not start (five ports tried)")

    def stop(self):
        stop(self.proc)


CURL = 'curl() { command curl -w "%{stderr}\\n@@HTTP %{http_code}\\n" "$@"; }\n'
# a query whose answer lacks what the doc shows is asked again, up to this many times, 0.1 s
# apart: what it reads (alerts) is made by the engine after the events were taken
RETRIES = 1200


def is_query(text):
    """A curl GET: asking it again changes nothing."""
    return bool(re.match(r"\s*curl\b", text)) and not re.search(
        r"\s(-X\s*(POST|PUT|DELETE)|-d|--data\S*)\b", text)


def check(c, rc, stdout, stderr):
    """Why the command's result is not what the doc shows, or None."""
    said = (f"\n    $ {c.text.strip()}\n    stdout: {stdout.strip()[:600]}"
            f"\n    stderr: {stderr.strip()[:600]}")
    if rc != 0:
        return f"exit status {rc}{said}"
    statuses = re.findall(r"@@HTTP (\d{3})", stderr)
    want_status, keys = c.expected()
    if statuses:
        status = int(statuses[-1])
        if want_status is not None and status != want_status:
            return f"answered {status}, the doc shows {want_status}{said}"
        if want_status is None and status >= 400:
            return f"answered {status}{said}"
    if keys:
        try:
            answer = json.loads(stdout)
        except ValueError:
            return f"the doc shows a JSON answer; this is not JSON{said}"
        have = set()
        stack = [answer]
        while stack:
            v = stack.pop()
            if isinstance(v, dict):
                have.update(v)
                stack.extend(v.values())
            elif isinstance(v, list):
                stack.extend(v)
        missing = [k for k in keys if k not in have]
        if missing:
            return f"the answer lacks {', '.join(missing)}, which the doc shows{said}"
    return None


def run_commands(blocks_, work, env, yagura, server=None, registry=None):
    """Runs the blocks' commands in turn, each in a shell that starts with the variables the
    ones before it left; returns how many ran."""
    ran = 0
    state = work / "docs-run.env"
    state.write_text("", encoding="utf-8")
    failures = []
    for block in blocks_:
        for c in block.commands():
            text = c.text
            where = block.where(c.line)
            if server and re.match(r"\s*yagura serve\b", text):
                # the harness started it: check what it printed against the doc
                if c.answer and "admin token" in " ".join(c.answer) and (
                        "admin token (shown once, only its hash is stored)"
                        not in server.first_line):
                    failures.append(f"{where}: the doc shows `{c.answer[0]}`; the server "
                                    f"printed {server.first_line!r}")
                continue
            if server and re.match(r"\s*export TOKEN=", text):
                continue  # the admin token, printed at the first start: the harness set it
            if "…" in text:
                failures.append(f"{where}: a command with a placeholder (…) cannot be run as "
                                f"written: {text.strip()}")
                continue
            if server:
                text = text.replace("localhost:8080", server.address)
            if registry:
                text = text.replace("localhost:5000", registry.address)
            # `cargo run -p yagura --` is the yagura built from this checkout: the one given
            text = re.sub(r"cargo run (--release )?(-q )?-p yagura -- ", "yagura ", text)
            prepare(text, work, yagura)
            # cargo finds the workspace (and `cargo xtask`) from the folder it runs in
            text = re.sub(r"(?m)^(\s*)(cargo .*)$", lambda m: f"{m.group(1)}(cd '{ROOT}' && {m.group(2)}\n)", text)
            script = (f"{CURL}cd '{work}'\nsource '{state}' 2>/dev/null\n"
                      f"{{\n{text}\n}} >'{work}/cmd.out' 2>'{work}/cmd.err' </dev/null\n"
                      f"rc=$?\ndeclare -p >'{state}' 2>/dev/null\nexit $rc\n")
            for attempt in range(RETRIES if is_query(text) else 1):
                if attempt:
                    time.sleep(0.1)
                for f in ("cmd.out", "cmd.err"):
                    (work / f).write_text("")
                done = subprocess.run(["bash", "-c", script], cwd=work, env=env,
                                      capture_output=True, text=True, timeout=600)
                rc = done.returncode
                stdout = (work / "cmd.out").read_text(errors="replace")
                stderr = (work / "cmd.err").read_text(errors="replace") + done.stderr
                why = check(c, rc, stdout, stderr)
                if why is None:
                    break
            ran += 1
            if why:
                failures.append(f"{where}: {why}")
    if failures:
        raise Failure("\n".join(failures))
    return ran


def main(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("files", nargs="*", type=Path, help="docs to run (default: all)")
    parser.add_argument("--yagura", type=Path, default=ROOT / "target/debug/yagura")
    parser.add_argument("--list", action="store_true", help="list the blocks and the fixtures")
    args = parser.parse_args(argv[1:])
    files = [p.resolve() for p in args.files] or sorted((ROOT / "docs").glob("*.md")) + [
        ROOT / "README.md"]
    every = [b for f in files for b in blocks(f)]
    if args.list:
        for b in every:
            print(f"{b.where()}: {b.annotation or ('api' if b.path.name == 'api.md' else '?')}")
        for name, how in FIXTURES.items():
            print(f"fixture {name}: {how}")
        return 0
    unmarked = [b for b in every if b.annotation is None and b.path.name != "api.md"]
    bad = [b for b in every if b.annotation and not (
        b.annotation in ("cli", "api") or re.match(r"skip: \S", b.annotation))]
    problems = [f"{b.where()}: a shell example neither run nor marked "
                "`<!-- docs-run: skip: REASON -->`" for b in unmarked]
    problems += [f"{b.where()}: `docs-run: {b.annotation}`: use `api`, `cli` or `skip: REASON`"
                 for b in bad]
    if problems:
        print("\n".join(problems))
        return 1
    if not args.yagura.exists():
        print(f"docs_run: {args.yagura} is missing: build it (cargo build -p yagura)")
        return 1
    yagura = args.yagura.resolve()
    env = dict(os.environ)
    env["PATH"] = f"{yagura.parent}{os.pathsep}{env.get('PATH', '')}"
    env.pop("YAGURA_STORE", None)
    passed = skipped = 0
    by_file = {}
    for b in every:
        by_file.setdefault(b.path, []).append(b)
    try:
        for path, file_blocks in by_file.items():
            skipped += sum(1 for b in file_blocks if b.annotation and b.annotation.startswith("skip"))
            api = [b for b in file_blocks if b.annotation in (None, "api")]
            cli = [b for b in file_blocks if b.annotation == "cli"]
            for kind, chosen in (("api", api), ("cli", cli)):
                if not chosen:
                    continue
                with tempfile.TemporaryDirectory(prefix="docs-run-") as tmp:
                    work = Path(tmp)
                    for f in ("rules", "target", "examples", "tests", "sigma"):
                        (work / f).symlink_to(ROOT / f)
                    # compiled components are kept across runs (the store beside stays fresh)
                    cache = ROOT / "target" / "docs-run" / "cache"
                    cache.mkdir(parents=True, exist_ok=True)
                    (work / ".yagura").mkdir()
                    (work / ".yagura" / "cache").symlink_to(cache)
                    registry = None
                    if any("localhost:5000" in "\n".join(b.lines) for b in chosen):
                        registry = Registry(work)
                    try:
                        if kind == "api":
                            server = Server(yagura, work, registry)
                            try:
                                passed += run_commands(chosen, work,
                                                       dict(env, TOKEN=server.token), yagura,
                                                       server, registry)
                            finally:
                                server.stop()
                        else:
                            passed += run_commands(chosen, work, env, yagura, None, registry)
                    finally:
                        if registry:
                            registry.stop()
    except Failure as e:
        print(f"docs_run: FAILED\n{e}")
        return 1
    print(f"docs_run: {passed} commands of {len(every) - skipped} blocks ran as written; "
          f"{skipped} blocks skipped, each with its reason")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
