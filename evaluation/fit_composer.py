"""`python -m evaluation.fit_composer`: fit the composer's ranking (pipeline/rank.py) on the tune split only,
write pipeline/composer_weights.json and print the ablation table (each term removed, refitted, and the
change on tune and measure).

Labels: a sentence of a note that answers a tune on-topic question is positive when it holds one of the
question's key facts (its regexes in evaluation/data/answer_eval_on_topic.jsonl); a sentence of another note
that happens to match a fact is left out, other sentences are negative. Weights: L2-regularised logistic
regression (scikit-learn, C=1) on standardised terms. Cut-offs, on the same tune questions: answer_floor
maximises balanced accuracy of the best sentence's score between on-topic and uncovered tune questions while
leaving at most 1% of on-topic ones below it; brief_cut puts every key fact in the brief most often;
evidence_cut holds every key fact most often while the median answer stays within the setting
`answer_sentences`; also_cut (in relevance, cosine + words) lets another note's best sentence join a broad
question's answer while at most 5% of the (single-note) tune questions gain a note that does not answer them.
"""
from __future__ import annotations

import argparse
import re
import statistics
import sys
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from pipeline.rank import TERMS, WEIGHTS, Ranker

from .answer_data import DATA, EvalQuestion, load_eval_questions

CUT_GRID = 60  # candidate cut-offs: quantiles of the scores of tune sentences that hold a key fact
ABLATION_GRID = 12  # a coarser grid for the ablation's refits (each term removed), which all share it
ALSO_TOLERANCE = 0.05  # share of single-note tune questions allowed to gain a note that does not answer them


@dataclass
class Case:
    """One question with its retrieval and candidate notes computed once (refits only rescore them)."""

    q: EvalQuestion
    notes: list  # compose.NoteEvidence
    ids: list[str]  # per note
    subject_gap: bool
    abstained: bool


def build_cases(engine, questions: list[EvalQuestion]) -> list[Case]:
    from pipeline.chain import Question
    from pipeline.compose import candidate_notes

    cases = []
    for q in questions:
        r = engine._retrieve(Question(q.question, engine.settings.k))
        notes = [] if r.abstain else candidate_notes(q.question, r.qv, engine.index, r.candidates, engine.settings.k, r.parts, r.rare)
        cases.append(Case(q, notes, [engine.index.notes[n.row].id for n in notes], r.subject_gap, r.abstain))
    return cases


def labelled(cases: list[Case]) -> tuple[np.ndarray, np.ndarray]:
    """Feature rows and labels of the on-topic cases' sentences (see the module docstring)."""
    xs, ys = [], []
    for c in cases:
        if c.q.kind != "on_topic":
            continue
        for note, nid in zip(c.notes, c.ids):
            for p, row in zip(note.passages, note.terms):
                hit = any(re.search(f, p.text, re.IGNORECASE) for f in c.q.facts)
                if hit and nid not in c.q.ids:
                    continue
                xs.append(row)
                ys.append(int(hit))
    return np.array(xs), np.array(ys)


def fit(cases: list[Case], settings, terms: tuple[str, ...] = TERMS, grid_size: int = CUT_GRID) -> Ranker:
    from sklearn.linear_model import LogisticRegression

    tune = [c for c in cases if c.q.split == "tune"]
    x, y = labelled(tune)
    x = x[:, [TERMS.index(t) for t in terms]]
    mean, scale = x.mean(axis=0), x.std(axis=0)
    scale[scale == 0] = 1.0
    model = LogisticRegression(C=1.0, max_iter=2000).fit((x - mean) / scale, y)
    trained = f"tune split: {len(tune)} questions, {len(y)} sentences, {int(y.sum())} holding a key fact"
    r = Ranker(terms, model.coef_[0], float(model.intercept_[0]), mean, scale, 1.0, 1.0, 0.0, trained_on=trained)
    r = replace(r, answer_floor=answer_floor(tune, r))
    full, _ = labelled(tune)
    grid = sorted(set(np.quantile(r.score(full)[y == 1], np.linspace(0, 1, grid_size)).round(4)), reverse=True)
    # The brief: the cut-off that puts every key fact in the brief most often (the highest such cut-off).
    r = replace(r, brief_cut=max(grid, key=lambda c: (measure(tune, replace(r, brief_cut=c), settings, "tune")["facts_in_brief"], c)))
    # The evidence: the cut-off that holds every key fact most often while the median answer stays within
    # `settings.answer_sentences`.
    fine = sorted(set(np.quantile(r.score(full)[y == 1], np.linspace(0, 1, 3 * grid_size)).round(4)), reverse=True)
    fits = [(measure(tune, replace(r, evidence_cut=c), settings, "tune"), c) for c in fine]
    fits = [(m["all_facts"], c) for m, c in fits if m["sentences_median"] <= settings.answer_sentences] or [(0.0, 1.0)]
    r = replace(r, evidence_cut=max(fits)[1])
    return replace(r, also_cut=also_cut(tune, r))


def also_cut(tune: list[Case], ranker: Ranker) -> float:
    """The lowest relevance (cosine + words) at which another note's best sentence may join while at most
    ALSO_TOLERANCE of the tune on-topic questions (all asked of one note) gain a note that does not answer them."""
    from pipeline.rank import relevance

    extra = []  # per question: the best relevance among notes that do not answer it, other than the top-scored
    for c in tune:
        if c.q.kind != "on_topic" or not c.notes:
            continue
        lead = max(range(len(c.notes)), key=lambda i: float(ranker.score(c.notes[i].terms).max()) if len(c.notes[i].terms) else -1.0)
        extra.append(max((float(relevance(n.terms).max()) for i, (n, nid) in enumerate(zip(c.notes, c.ids))
                          if i != lead and nid not in c.q.ids and len(n.terms)), default=0.0))
    return float(np.quantile(extra, 1 - ALSO_TOLERANCE)) + 1e-6 if extra else 9.0


def _top(case: Case, ranker: Ranker) -> float:
    return max((float(ranker.score(n.terms).max()) for n in case.notes if len(n.terms)), default=0.0)


def answer_floor(tune: list[Case], ranker: Ranker) -> float:
    on = np.array([_top(c, ranker) for c in tune if c.q.kind == "on_topic" and not c.abstained])
    off = np.array([_top(c, ranker) for c in tune if c.q.kind == "uncovered" and not c.abstained])
    if not len(on) or not len(off):
        return 0.0
    best, floor = -1.0, 0.0
    for t in np.unique(np.concatenate([on, off])):
        if (on < t).mean() > 0.01:
            break
        accuracy = ((on >= t).mean() + (off < t).mean()) / 2
        if accuracy > best:
            best, floor = accuracy, float(t)
    return floor


def outcome(case: Case, ranker: Ranker, settings) -> dict:
    """The composer's choice for one case, without grounding: brief and answer texts, first citation."""
    from pipeline.compose import choose

    scores = [ranker.score(n.terms) for n in case.notes]
    top = max((float(s.max()) for s in scores if len(s)), default=0.0)
    closest = case.subject_gap or top < ranker.answer_floor
    choice = choose(case.notes, scores, ranker, settings, only_best_note=closest)
    by_row = {n.row: nid for n, nid in zip(case.notes, case.ids)}
    sentences = choice.brief + [p for g in choice.evidence for p in g]
    return {"brief": " ".join(p.text for p in choice.brief), "text": " ".join(p.text for p in sentences),
            "first": by_row[choice.brief[0].note_row] if choice.brief else None, "sentences": len(sentences),
            "brief_sentences": len(choice.brief), "closest": closest,
            "brief_words": sum(len(p.text.split()) for p in choice.brief)}


def measure(cases: list[Case], ranker: Ranker, settings, split: str) -> dict:
    """Compose-only quality on one split's on-topic questions (the same facts test as eval_answers)."""
    rows = []
    for c in cases:
        if c.q.split != split or c.q.kind != "on_topic" or c.abstained:
            continue
        o = outcome(c, ranker, settings)
        found = lambda text: all(re.search(f, text, re.IGNORECASE) for f in c.q.facts)
        rows.append((found(o["brief"]), found(o["text"]), o["first"] in c.q.ids, o["sentences"]))
    n = max(len(rows), 1)
    return {"facts_in_brief": round(sum(r[0] for r in rows) / n, 3), "all_facts": round(sum(r[1] for r in rows) / n, 3),
            "first_on_target": round(sum(r[2] for r in rows) / n, 3),
            "sentences_median": statistics.median([r[3] for r in rows]) if rows else None}


def ablation(cases: list[Case], settings, terms: tuple[str, ...] = TERMS) -> list[dict]:
    """Each term removed and the ranking refitted: its change on tune and measure (negative: the term helps)."""
    full = fit(cases, settings, terms, ABLATION_GRID)
    base = {s: measure(cases, full, settings, s) for s in ("tune", "measure")}
    table = [{"term": "(all)", **{f"{s}_{k}": v for s in base for k, v in base[s].items()}}]
    for t in terms:
        r = fit(cases, settings, tuple(x for x in terms if x != t), ABLATION_GRID)
        row = {"term": f"- {t}"}
        for s in ("tune", "measure"):
            m = measure(cases, r, settings, s)
            row.update({f"{s}_{k}": round(v - base[s][k], 3) if isinstance(v, float) and k != "sentences_median" else v
                        for k, v in m.items()})
        table.append(row)
    return table


def ablation_text(table: list[dict]) -> str:
    head = f"{'ranking term removed':22} {'tune: brief / all / first / median':>36} {'measure: brief / all / first / median':>40}"
    lines = [head]
    for r in table:
        cells = [" / ".join(str(r[f"{s}_{k}"]) for k in ("facts_in_brief", "all_facts", "first_on_target", "sentences_median"))
                 for s in ("tune", "measure")]
        lines.append(f"{r['term']:22} {cells[0]:>36} {cells[1]:>40}")
    return "\n".join(lines)


def all_questions() -> list[EvalQuestion]:
    return (load_eval_questions(DATA / "answer_eval_on_topic.jsonl", "on_topic")
            + load_eval_questions(DATA / "answer_eval_uncovered.jsonl", "uncovered"))


def main(argv: list[str] | None = None) -> int:
    import json

    from pipeline.service import load_engine
    from pipeline.settings import Settings, force_offline

    p = argparse.ArgumentParser(prog="python -m evaluation.fit_composer", description=__doc__.splitlines()[0])
    p.add_argument("--out", default=str(WEIGHTS), help="where to write the fitted ranking")
    p.add_argument("--no-ablation", action="store_true", help="only fit")
    args = p.parse_args(argv)
    force_offline()
    engine = load_engine(Settings(), lambda m: print(f"inquire: {m}", file=sys.stderr))
    cases = build_cases(engine, all_questions())
    ranker = fit(cases, engine.settings)
    Path(args.out).write_text(json.dumps(ranker.to_json(), indent=2) + "\n", encoding="utf-8")
    print(f"wrote {args.out}: " + ", ".join(f"{t} {w:+.2f}" for t, w in zip(ranker.terms, ranker.weights))
          + f"; brief_cut {ranker.brief_cut:.3f}, evidence_cut {ranker.evidence_cut:.3f}, answer_floor {ranker.answer_floor:.3f}")
    if not args.no_ablation:
        print(ablation_text(ablation(cases, engine.settings, ranker.terms)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
