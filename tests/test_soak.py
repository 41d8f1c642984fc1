"""Soak tests (`make soak`): kill -9 during builds, concurrent load, and memory over many asks.

Each prints what it measured; the closing note of the reliability issue reports these lines.
"""
import os
import random
import resource
import signal
import statistics
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from conftest import ROOT
from evaluation.server import running_app
from pipeline.settings import OFFLINE_ENV

pytestmark = pytest.mark.soak
ENV = {**os.environ, **OFFLINE_ENV}


def snapshot(folder: Path) -> dict:
    return {p.name: p.read_bytes() for p in sorted(folder.glob("*.md"))}


def cli(settings, *args, timeout=300):
    return subprocess.run([sys.executable, "-m", "pipeline.cli", *args, "--corpus", str(settings.corpus_dir),
                           "--index", str(settings.index_dir)], capture_output=True, text=True, cwd=ROOT, env=ENV, timeout=timeout)


def enlarge(settings, copies: int) -> int:
    """Add `copies` renamed copies of every shipped note (their own ids, no related links), so a full build takes
    several seconds: the shipped 64 notes now build in under 2 s, too fast for kills to land mid-build."""
    import frontmatter

    originals = sorted(settings.corpus_dir.glob("*.md"))
    for path in originals:
        for k in range(1, copies + 1):
            post = frontmatter.loads(path.read_text(encoding="utf-8"))
            post["id"], post["related"] = f"{path.stem}-copy{k}", []
            (settings.corpus_dir / f"{path.stem}-copy{k}.md").write_text(frontmatter.dumps(post) + "\n", encoding="utf-8")
    return len(originals) * (copies + 1)


def full_build(settings) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "pipeline.cli", "index", "--full", "--corpus", str(settings.corpus_dir),
                             "--index", str(settings.index_dir)], cwd=ROOT, env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def test_kill_9_during_rebuilds_never_breaks_the_index(workspace):
    rng = random.Random(7)
    notes = enlarge(workspace, copies=2)
    t = time.perf_counter()
    assert full_build(workspace).wait() == 0
    measured = time.perf_counter() - t  # one whole run, start-up included, timed here and now (the machine's load varies)
    assert measured >= 3, f"a full build of {notes} notes took {measured:.1f}s; enlarge the corpus so kills can land mid-build"
    notes_before = snapshot(workspace.corpus_dir)
    kills = 0
    for attempt in range(20):
        proc = full_build(workspace)
        time.sleep(rng.uniform(0.25, 0.9) * measured)  # past start-up, before the end of a typical build
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
            kills += 1
        proc.wait()
        answer = cli(workspace, "search", "sycophancy in RLHF", "--json")
        assert answer.returncode == 0, (attempt, answer.stderr)
        assert snapshot(workspace.corpus_dir) == notes_before
    finished = cli(workspace, "index", "--json")
    assert finished.returncode == 0, finished.stderr
    print(f"\nkill -9 soak: {notes} notes, a measured full build {measured:.1f}s; 20 rebuilds, {kills} killed mid-build; "
          "every following search answered; index completed; notes unchanged")
    assert kills >= 10


def test_fifty_concurrent_asks_through_the_api(workspace):
    from gradio_client import Client

    with running_app(workspace) as url:
        questions = [q.strip() for q in (ROOT / "evaluation" / "data" / "dev_questions.jsonl").read_text().splitlines()][:50]
        import json

        questions = [json.loads(q)["question"] for q in questions]

        def one(q):
            client = Client(url, verbose=False)
            t = time.perf_counter()
            answer = client.predict(q, api_name="/ask")
            return time.perf_counter() - t, answer

        with ThreadPoolExecutor(max_workers=50) as pool:
            results = list(pool.map(one, questions))
    latencies = sorted(r[0] for r in results)
    assert len(results) == 50 and all("sentences" in r[1] for r in results)
    print(f"\n50 concurrent asks: all answered; p50 {statistics.median(latencies):.2f}s, p95 {latencies[int(0.95 * 50) - 1]:.2f}s")


def test_memory_does_not_grow_over_500_asks(engine):
    questions = ["Does RLHF hurt calibration?", "Why are chatbots sycophantic?", "Can backdoors survive alignment?",
                 "What does GRPO do?", "How long should I boil an egg?"]
    for q in questions * 4:
        engine.ask(q)
    before = _rss_mb()
    for i in range(500):
        engine.ask(questions[i % len(questions)] + f" ({i})")
    after = _rss_mb()
    print(f"\n500 sequential asks: RSS {before:.0f} MB before, {after:.0f} MB after")
    assert after - before < 100


def _rss_mb() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
