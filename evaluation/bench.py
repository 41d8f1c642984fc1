"""Benchmarks: speed, scale and quality beside the plain LangChain recipe (`make bench`, `inquire bench`).

Synthetic corpora recombine shipped notes deterministically: note i takes the title and summary
of shipped note i mod 64 and a body of 6-10 sentences drawn (seeded by i) from three shipped
notes, under the id `syn-<i>`. Every timing is the median of several runs, measured side by side
in one process.
"""
from __future__ import annotations

import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

from .evaluate import evaluate_search, load_questions, retrieval_metrics
from pipeline.notes import Corpus, Note, load_corpus
from pipeline.settings import OFFLINE_ENV, Settings, force_offline

ROOT = Path(__file__).resolve().parent.parent
DEV_QUESTIONS = ROOT / "evaluation" / "data" / "dev_questions.jsonl"


def synthetic_corpus(shipped: list[Note], n: int, seed: int = 0, body_sentences: tuple[int, int] = (6, 10),
                     short: bool = False) -> list[Note]:
    """Note i: title and summary of shipped note i mod 64, body drawn (seeded by i) from three shipped notes.
    `short` drops the summary, for quick mode's time budget."""
    notes = []
    for i in range(n):
        rng = random.Random(seed * 1_000_003 + i)
        base = shipped[i % len(shipped)]
        donors = [base] + rng.sample(shipped, 2)
        pool = [s for d in donors for s in d.sentences]
        body = " ".join(rng.sample(pool, rng.randint(*body_sentences)))
        notes.append(Note(f"syn-{i:06d}", base.title, "" if short else base.summary, base.sources, base.tags, (), body))
    return notes


def median_ms(fn, runs: int) -> tuple[float, float, list[float]]:
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t) * 1000)
    return statistics.median(times), float(np.percentile(times, 95)), times


def build_timings(notes: list[Note], embedder, workdir: Path, full_runs: int = 1, runs: int = 3) -> dict:
    """Medians of `full_runs` full builds, then of `runs` incremental updates each: add 1 note, edit 10 notes."""
    from pipeline.index import build_index

    settings = Settings(corpus_dir=workdir / "corpus", index_dir=workdir / "index")
    full = statistics.median(build_index(settings, embedder, full=True, corpus=Corpus(list(notes))).seconds for _ in range(full_runs))
    adds, edits, corpus = [], [], list(notes)
    for r in range(runs):
        corpus.append(replace(notes[r], id=f"syn-added-{r}", body=notes[r + 1].body + " " + notes[r + 2].sentences[0]))
        adds.append(build_index(settings, embedder, corpus=Corpus(list(corpus))).seconds)
        corpus = [replace(n, summary=n.summary + f" Edited for the benchmark ({r}).") if i < 10 else n for i, n in enumerate(corpus)]
        edits.append(build_index(settings, embedder, corpus=Corpus(list(corpus))).seconds)
    add, edit = statistics.median(adds), statistics.median(edits)
    return {"notes": len(notes), "full_build_s": round(full, 2), "full_build_runs": full_runs, "notes_per_s": round(len(notes) / full, 1),
            "incremental_add_s": round(add, 3), "incremental_edit10_s": round(edit, 3), "incremental_runs": runs,
            "add_speedup": round(full / add, 1), "settings": settings}


def ask_timings(settings: Settings, embedder, questions: list[str], runs: int = 1) -> dict:
    from pipeline.chain import AnswerEngine
    from pipeline.index import load_index

    engine = AnswerEngine(load_index(settings, embedder.name, embedder.dim), embedder, settings)
    engine.ask(questions[0])  # warm
    parts = {"retrieve": [], "compose": [], "ground": [], "total": []}
    walls = []
    for _ in range(runs):
        for q in questions:
            t = time.perf_counter()
            a = engine.ask(q)
            walls.append((time.perf_counter() - t) * 1000)
            for k in parts:
                parts[k].append(a.timings_ms[k])
    floor = []
    for q in questions:
        t = time.perf_counter()
        v = embedder.embed([q])
        engine.index.note_vectors.search(v, 5)
        floor.append((time.perf_counter() - t) * 1000)
    search = [median_ms(lambda q=q: engine.search.search(q, 5), 1)[0] for q in questions]
    return {"ask_p50_ms": round(statistics.median(walls), 1), "ask_p95_ms": round(float(np.percentile(walls, 95)), 1),
            **{f"{k}_p50_ms": round(statistics.median(v), 2) for k, v in parts.items() if k != "total"},
            "search_p50_ms": round(statistics.median(search), 1), "search_p95_ms": round(float(np.percentile(search, 95)), 1),
            "floor_p50_ms": round(statistics.median(floor), 1)}


class _LangChainEmbeddings:
    """Our embedder behind LangChain's Embeddings interface, so the peer uses the very same model."""

    def __init__(self, embedder):
        self.embedder = embedder

    def embed_documents(self, texts):
        return self.embedder.embed(texts).tolist()

    def embed_query(self, text):
        return self.embedder.embed([text])[0].tolist()


def peer_timings(notes: list[Note], embedder, questions=None) -> dict:
    """The plain LangChain recipe: FAISS.from_documents on whole notes, full rebuild on change."""
    from langchain_core.documents import Document
    from langchain_core.embeddings import Embeddings
    from langchain_community.vectorstores import FAISS

    class Adapter(_LangChainEmbeddings, Embeddings):
        pass

    docs = [Document(page_content=n.text, metadata={"id": n.id}) for n in notes]
    t = time.perf_counter()
    store = FAISS.from_documents(docs, Adapter(embedder))
    rebuild = time.perf_counter() - t
    qs = [q.question for q in questions] if questions else ["Does RLHF hurt calibration?"] * 10
    latency = [median_ms(lambda q=q: store.similarity_search(q, k=5), 1)[0] for q in qs]
    out = {"peer_rebuild_s": round(rebuild, 2), "peer_query_p50_ms": round(statistics.median(latency), 1)}
    if questions:
        ranked = [[d.metadata["id"] for d in store.similarity_search(q.question, k=5)] for q in questions]
        out["peer_recall@5"] = retrieval_metrics(ranked, questions)["recall@5"]
    return out


def reused_vector_index(notes: list[Note], shipped_settings: Settings, embedder, workdir: Path) -> Settings:
    """An index for a large synthetic corpus without re-embedding: each sentence reuses the vector of
    the shipped sentence it was copied from, and the title-and-summary vector comes from the shipped
    note whose title it took."""
    from pipeline.index import combine_note_vector, load_index, note_head_text, write_index

    shipped = load_index(shipped_settings, embedder.name, embedder.dim)
    matrix = shipped.sentence_vectors
    by_text = {}
    for row, note in enumerate(shipped.notes):
        for text, r in zip(note.sentences, shipped.sentence_rows(row)):
            by_text.setdefault(text, r)
    heads = dict(zip([n.title for n in shipped.notes], embedder.embed([note_head_text(n) for n in shipped.notes])))
    title_heads = {n.title: shipped.head_matrix(row) for row, n in enumerate(shipped.notes)}
    sent_rows, note_vecs = [], np.zeros((len(notes), embedder.dim), np.float32)
    for i, n in enumerate(notes):
        rows = [by_text[t] for t in n.sentences]
        sent_rows.extend(rows)
        note_vecs[i] = combine_note_vector(heads[n.title], matrix[rows])
    head_vecs = np.vstack([title_heads[n.title] for n in notes]) if notes else np.zeros((0, embedder.dim), np.float32)
    settings = Settings(corpus_dir=workdir / "corpus", index_dir=workdir / "index")
    write_index(settings, notes, note_vecs, matrix[sent_rows], head_vecs, embedder)
    return settings


def peak_rss_mb(settings: Settings) -> float:
    """Peak RSS (VmHWM) of a fresh process that loads the index and answers one question. Not ru_maxrss:
    Linux carries that across exec from the parent, so every child reported this benchmark's own peak."""
    code = ("from pathlib import Path; from pipeline.settings import Settings, force_offline; force_offline();"
            "from pipeline.chain import AnswerEngine; from pipeline.embed import load_embedder; from pipeline.index import load_index;"
            f"s=Settings(corpus_dir=Path({str(settings.corpus_dir)!r}), index_dir=Path({str(settings.index_dir)!r})); e=load_embedder();"
            "AnswerEngine(load_index(s, e.name, e.dim), e, s).ask('Does RLHF hurt calibration?');"
            "print([l.split()[1] for l in open('/proc/self/status') if l.startswith('VmHWM')][0])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True)
    return round(int(out.stdout.strip().splitlines()[-1]) / 1024, 1)


def disk_mb(folder: Path) -> float:
    return round(sum(p.stat().st_size for p in folder.rglob("*") if p.is_file()) / 2**20, 1)


def cold_start(settings: Settings, runs: int = 3) -> dict:
    """Median seconds from process start to the first answer: the CLI, and the web server through its API."""
    env = {**os.environ, **OFFLINE_ENV}
    args = ["--corpus", str(settings.corpus_dir), "--index", str(settings.index_dir)]
    from gradio_client import Client

    from .server import running_app

    cli, server = [], []
    for _ in range(runs):
        t = time.perf_counter()
        subprocess.run([sys.executable, "-m", "pipeline.cli", "ask", "Does RLHF hurt calibration?", "--json", *args],
                       capture_output=True, check=True, cwd=ROOT, env=env)
        cli.append(time.perf_counter() - t)
        t = time.perf_counter()
        with running_app(settings) as url:
            Client(url, verbose=False).predict("Does RLHF hurt calibration?", api_name="/ask")
            server.append(time.perf_counter() - t)
    return {"cli_cold_start_s": round(statistics.median(cli), 2), "server_cold_start_s": round(statistics.median(server), 2),
            "cold_start_runs": runs, "cli_cold_start_all_s": [round(x, 2) for x in cli], "server_cold_start_all_s": [round(x, 2) for x in server]}


def grounding_throughput(embedder, shipped_settings: Settings) -> float:
    """Sentences per second for sentences that are not verbatim quotes (the slow path)."""
    from pipeline.chain import AnswerEngine
    from pipeline.index import load_index
    from .perturb import make_cases

    engine = AnswerEngine(load_index(shipped_settings, embedder.name, embedder.dim), embedder, shipped_settings)
    cases = [c for c in make_cases(load_corpus(shipped_settings.corpus_dir).notes, True) if c.kind not in ("verbatim", "clause")][:300]
    t = time.perf_counter()
    engine.scorer.score([(c.claim, [c.cited]) for c in cases])
    return round(len(cases) / (time.perf_counter() - t), 1)


PASS = "pass"
IMPORT_TORCH_STACK = "import sentence_transformers"


def _median_wall(cmd: list[str], runs: int, env: dict, stdin: str | None = None) -> float:
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        subprocess.run(cmd, input=stdin, capture_output=True, check=True, cwd=ROOT, env=env, text=True)
        times.append(time.perf_counter() - t)
    return round(statistics.median(times), 2)


def cli_cold_starts(settings: Settings, runs: int = 5) -> dict:
    """Median wall seconds of a fresh process, side by side: `python -c pass`, importing sentence-transformers,
    `inquire ask --json` and `inquire score --json` (features mode) on a built index, per embedder."""
    from pipeline.embed import EMBEDDER_KINDS

    py = [sys.executable, "-c"]
    args = ["--corpus", str(settings.corpus_dir), "--index", str(settings.index_dir)]
    answer = "RLHF made models state confidence worse in words [rlhf-calibration-loss].\n"
    out = {"runs": runs, "python_pass_s": _median_wall(py + [PASS], runs, os.environ.copy()),
           "import_sentence_transformers_s": _median_wall(py + [IMPORT_TORCH_STACK], runs, os.environ.copy())}
    for kind in EMBEDDER_KINDS:
        env = {**os.environ, "INQUIRE_EMBEDDER": kind}
        cli = [sys.executable, "-m", "pipeline.cli"]
        subprocess.run(cli + ["index", *args], capture_output=True, check=True, cwd=ROOT, env=env)  # an index for this embedder
        out[kind] = {"ask_s": _median_wall(cli + ["ask", "Does RLHF hurt calibration?", "--json", *args], runs, env),
                     "score_s": _median_wall(cli + ["score", "-", "--judge", "features", "--json", *args], runs, env, answer)}
    subprocess.run(cli + ["index", *args], capture_output=True, check=True, cwd=ROOT)  # back to the default embedder's index
    return out


def embedder_comparison(corpus_dir: Path, workdir: Path, runs: int = 3) -> dict:
    """Each embedder side by side on the corpus's own sentences: sentences/s (median of `runs`), a full build of
    the shipped corpus (notes/s), hybrid recall@5 and MRR on the dev questions, WiCE test AUROC of the grounding
    features, and the scorer's features-mode sentences/s. ONNX int8 also at 1 thread; torch at batch 16 and 128."""
    from sklearn.metrics import roc_auc_score

    from pipeline.chain import AnswerEngine
    from pipeline.embed import EMBEDDER_KINDS, EmbeddingCache, load_embedder, onnx_embedder
    from pipeline.ground import load_grounding_model
    from .grounding_data import by_claim, wice_rows
    from pipeline.index import build_index, load_index

    notes = load_corpus(corpus_dir).notes
    sentences = [x for n in notes for x in n.sentences][:600]
    questions = load_questions(DEV_QUESTIONS)
    model = load_grounding_model()
    variants = {kind: load_embedder(64, kind) for kind in EMBEDDER_KINDS}
    variants |= {"onnx-int8 1 thread": onnx_embedder("onnx-int8", threads=1),
                 "torch batch 16": load_embedder(16, "torch"), "torch batch 128": load_embedder(128, "torch")}
    speed = {name: [] for name in variants}
    for _ in range(runs):  # interleaved, so machine noise hits every variant alike
        for name, e in variants.items():
            e.embed(sentences[:8])
            t = time.perf_counter()
            e.embed(sentences)
            speed[name].append(len(sentences) / (time.perf_counter() - t))
    out = {name: {"sentences_per_s": round(statistics.median(v), 1)} for name, v in speed.items()}
    for kind in EMBEDDER_KINDS:
        e = variants[kind]
        settings = Settings(corpus_dir=workdir / kind / "corpus", index_dir=workdir / kind / "index")
        shutil.copytree(corpus_dir, settings.corpus_dir)
        builds = [build_index(settings, e, full=True).seconds for _ in range(runs)]
        engine = AnswerEngine(load_index(settings, e.name, e.dim), e, settings)
        hybrid = evaluate_search(engine.search, questions)["hybrid"]
        rows = wice_rows("test", EmbeddingCache(e, limit=None))
        _, p, y = by_claim(rows, model.probability(rows.X))
        out[kind] |= {"full_build_s": round(statistics.median(builds), 2), "notes_per_s": round(len(notes) / statistics.median(builds), 1),
                      "recall@5": round(hybrid["recall@5"], 4), "mrr": round(hybrid["mrr"], 4),
                      "wice_test_auroc": round(float(roc_auc_score(y, p)), 4),
                      "scorer_sentences_per_s": grounding_throughput(e, settings)}
    return out


def _save(results: dict) -> None:
    """Write what has been measured so far, so a run cut short still leaves its numbers."""
    out = ROOT / "bench" / "results.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(results, indent=2))


MEASURED_BUILD_NOTES = 1000  # the largest full build (and peer rebuild) that fits the 20-minute budget


def full(embedder, sizes=(10_000, 100_000)) -> dict:
    questions = load_questions(DEV_QUESTIONS)
    texts = [q.question for q in questions]
    shipped_notes = load_corpus(ROOT / "corpus").notes
    results: dict = {"sizes": {}}
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        shutil.copytree(ROOT / "corpus", tmp / "shipped" / "corpus")
        build = build_timings(shipped_notes, embedder, tmp / "shipped", full_runs=3)
        shipped = build.pop("settings")
        from pipeline.chain import AnswerEngine
        from pipeline.index import build_index, load_index

        build_index(shipped, embedder, corpus=Corpus(list(shipped_notes)))  # undo the timed add and edits
        engine = AnswerEngine(load_index(shipped, embedder.name, embedder.dim), embedder, shipped)
        results["retrieval"] = evaluate_search(engine.search, questions)
        results["peer"] = peer_timings(shipped_notes, embedder, questions)
        results["grounding_sentences_per_s"] = grounding_throughput(embedder, shipped)
        results["cold_start"] = cold_start(shipped, runs=5)
        results["cli_cold_start"] = cli_cold_starts(shipped)
        results["embedders"] = embedder_comparison(ROOT / "corpus", tmp / "embedders")
        _save(results)
        results["sizes"]["shipped"] = {**build, **ask_timings(shipped, embedder, texts, runs=2),
                                       "peak_rss_mb": peak_rss_mb(shipped), "disk_mb": disk_mb(shipped.index_dir)}
        _save(results)
        notes = synthetic_corpus(shipped_notes, MEASURED_BUILD_NOTES)
        measured = build_timings(notes, embedder, tmp / "measured")
        measured_settings = measured.pop("settings")
        results["sizes"][str(MEASURED_BUILD_NOTES)] = {**measured, **ask_timings(measured_settings, embedder, texts[:60]),
                                                       **peer_timings(notes, embedder),
                                                       "peak_rss_mb": peak_rss_mb(measured_settings), "disk_mb": disk_mb(measured_settings.index_dir)}
        _save(results)
        for n in sizes:
            corpus = synthetic_corpus(shipped_notes, n)
            settings = reused_vector_index(corpus, shipped, embedder, tmp / f"s{n}")
            row = {"notes": n, "vectors": "reused from the shipped sentences they were copied from",
                   **ask_timings(settings, embedder, texts[:60]), "peak_rss_mb": peak_rss_mb(settings), "disk_mb": disk_mb(settings.index_dir),
                   "full_build_s_projected": round(n / measured["notes_per_s"], 1)}
            if n <= 10_000:
                extra = replace(shipped_notes[0], id="syn-added")
                add = [build_index(settings, embedder, corpus=Corpus(corpus + [replace(extra, id=f"syn-added-{i}")])).seconds for i in range(3)]
                row["incremental_add_s"] = round(statistics.median(add), 2)
                row["add_speedup_vs_projected_full"] = round(row["full_build_s_projected"] / row["incremental_add_s"], 1)
            results["sizes"][str(n)] = row
            _save(results)
    return results


def table(r: dict) -> str:
    """The results as a text table; a build time marked ~ is projected from the measured build's notes/s."""
    nan = float("nan")
    lines = [f"{'corpus':>8} {'build s':>9} {'add s':>6} {'speedup':>8} {'search':>7} {'ask p50':>8} {'ask p95':>8} {'retr':>6} {'comp':>6} "
             f"{'grnd':>6} {'floor':>6} {'RSS MB':>7} {'disk MB':>8}"]
    for name, s in r["sizes"].items():
        build = f"{s['full_build_s']:.1f}" if "full_build_s" in s else f"~{s.get('full_build_s_projected', nan):.0f}"
        speedup = s.get("add_speedup", s.get("add_speedup_vs_projected_full", nan))
        lines.append(f"{name:>8} {build:>9} {s.get('incremental_add_s', nan):>6.2f} {speedup:>8.1f} {s['search_p50_ms']:>7.1f} {s['ask_p50_ms']:>8.1f} "
                     f"{s['ask_p95_ms']:>8.1f} {s['retrieve_p50_ms']:>6.1f} {s['compose_p50_ms']:>6.1f} {s['ground_p50_ms']:>6.2f} "
                     f"{s['floor_p50_ms']:>6.1f} {s['peak_rss_mb']:>7.0f} {s['disk_mb']:>8.1f}")
    lines.append("times in ms unless marked s; speedup = full build / incremental add of one note")
    for name, m in r["retrieval"].items():
        lines.append(f"retrieval {name:7} recall@1 {m['recall@1']:.3f} recall@5 {m['recall@5']:.3f} MRR {m['mrr']:.3f}")
    p = r["peer"]
    lines.append(f"peer (LangChain FAISS.from_documents), shipped corpus: rebuild {p['peer_rebuild_s']} s, query p50 {p['peer_query_p50_ms']} ms, "
                 f"recall@5 {p['peer_recall@5']:.3f}")
    for name, s in r["sizes"].items():
        if "peer_rebuild_s" in s:
            lines.append(f"peer at {name} notes: rebuild {s['peer_rebuild_s']} s (ours: full {s['full_build_s']} s, add one {s['incremental_add_s']} s), "
                         f"query p50 {s['peer_query_p50_ms']} ms")
    lines.append(f"grounding: {r['grounding_sentences_per_s']} sentences/s (non-quote path); cold start to first answer: "
                 f"CLI {r['cold_start']['cli_cold_start_s']} s, server {r['cold_start']['server_cold_start_s']} s")
    c = r.get("cli_cold_start")
    if c:
        lines.append(f"cold start, median of {c['runs']}: python -c pass {c['python_pass_s']} s, "
                     f"import sentence_transformers {c['import_sentence_transformers_s']} s")
        lines += [f"  {kind:10} inquire ask {v['ask_s']:5.2f} s   inquire score {v['score_s']:5.2f} s"
                  for kind, v in c.items() if isinstance(v, dict)]
    if "embedders" in r:
        lines.append(f"{'embedder':>20} {'sent/s':>7} {'build s':>8} {'notes/s':>8} {'recall@5':>9} {'MRR':>6} {'WiCE':>6} {'score/s':>8}")
        for name, e in r["embedders"].items():
            lines.append(f"{name:>20} {e['sentences_per_s']:>7.1f} {e.get('full_build_s', nan):>8.2f} {e.get('notes_per_s', nan):>8.1f} "
                         f"{e.get('recall@5', nan):>9.4f} {e.get('mrr', nan):>6.3f} {e.get('wice_test_auroc', nan):>6.3f} "
                         f"{e.get('scorer_sentences_per_s', nan):>8.1f}")
    return "\n".join(lines)


QUICK_NOTES = 2000


def quick(embedder) -> dict:
    """One small run in under two minutes. Embedding is nearly all of the build cost (~90 short sentences/s
    on 2 cores), so these synthetic notes are short: a title, tags and one body sentence, no summary."""
    shipped = load_corpus(ROOT / "corpus").notes
    notes = synthetic_corpus(shipped, QUICK_NOTES, body_sentences=(1, 1), short=True)
    questions = [q.question for q in load_questions(DEV_QUESTIONS)][:40]
    with tempfile.TemporaryDirectory() as tmp:
        build = build_timings(notes, embedder, Path(tmp))
        ask = ask_timings(build.pop("settings"), embedder, questions)
    peer = peer_timings(notes, embedder)
    return {"notes": len(notes), "ask_p50_ms": ask["ask_p50_ms"], "floor_p50_ms": ask["floor_p50_ms"],
            "full_build_s": build["full_build_s"], "incremental_add_s": build["incremental_add_s"],
            "peer_rebuild_s": peer["peer_rebuild_s"], "incremental_edit10_s": build["incremental_edit10_s"],
            "peer_query_p50_ms": peer["peer_query_p50_ms"], "words_per_note": round(statistics.mean(len(n.text.split()) for n in notes), 1)}


def run(quick_only: bool = False) -> tuple[dict, str]:
    """The quick run (2,000 short synthetic notes) or the full one (which writes bench/results.json):
    the results and their text table."""
    force_offline()
    from pipeline.embed import load_embedder

    embedder = load_embedder()
    if quick_only:
        result = quick(embedder)
        return result, "\n".join(f"{k}: {v}" for k, v in result.items())
    result = full(embedder)
    return result, table(result)


def main(argv: list[str] | None = None) -> int:
    """`python -m evaluation.bench [--quick] [--json]`."""
    import argparse

    parser = argparse.ArgumentParser(prog="python -m evaluation.bench")
    parser.add_argument("--quick", action="store_true", help="2,000 synthetic notes only, in about two minutes")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    result, text = run(args.quick)
    print(json.dumps(result, indent=2) if args.json else text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
