"""`make eval-answers` / `inquire eval`: does each answer answer its question? Prints a table and
writes bench/answers.json.

Hand-written data in evaluation/data/ (every record carries a `split`: `tune` questions may be looked at
while changing the composer, `measure` questions only measured):
- answer_eval_on_topic.jsonl: {"question", "ids", "facts": [regex], "split"}: the key facts a complete
  answer must hold, and the notes that answer it;
- answer_eval_uncovered.jsonl: {"question", "kind": "uncovered" | "partial", "split"} plus, for a
  partly covered question, the covering "ids" and "uncovered" regexes naming the part the notes lack, and
  for an uncovered question in the notes' own field, its "subject";
- answer_eval_blind3.jsonl (when present): measure-only questions of all shapes written by someone who never
  saw an answer or the code, run once after the composer was chosen, reported as a set of their own ("blind3").
  The two earlier blind sets were measured once the same way, then folded into the tune split (their records say
  so in "origin");
- dev_questions.jsonl: 128 retrieval questions, none of which may be declined.
"""
from __future__ import annotations

import argparse
import json
import re
import statistics
import sys
from pathlib import Path

from .answer_data import DATA, SPLITS, EvalQuestion, load_eval_questions
from .evaluate import evaluate_search, load_questions

OUT = Path("bench") / "answers.json"
BLIND = "answer_eval_blind3.jsonl"
BLIND_SPLIT = "blind3"
SEED_QUESTION = "What happens when post-training patches try to add human values without upstream pipeline change?"
SEED_IDS = ("poisoning-survives-alignment", "sycophancy-by-design", "rlhf-truth-indifference",
            "binary-reward-calibration", "outputs-as-actions", "hard-rlvr-samples")


def _text(answer: dict) -> str:
    return " ".join(" ".join(p) for p in answer["paragraphs"])


def _brief(answer: dict) -> str:
    return " ".join(answer["sentences"][i]["text"] for i in answer.get("brief", []))


def judge_answer(q: EvalQuestion, answer: dict) -> dict:
    """One question's outcome: declined, facts found (in the brief, anywhere), first sentence on target,
    uncovered subject said first, uncovered part named."""
    text = _text(answer)
    first = answer["sentences"][0]["citations"] if answer["sentences"] else []
    brief = _brief(answer)
    row = {"question": q.question, "kind": q.kind, "split": q.split, "declined": answer["abstained"],
           "sentences": len(answer["sentences"]), "cited": sorted({c for s in answer["sentences"] for c in s["citations"]}),
           "brief_sentences": len(answer.get("brief", [])), "brief_words": len(brief.split())}
    # "Not covered" said first: declined, or the first line says what the notes lack and at most 3 sentences follow.
    not_covered_first = answer["abstained"] or (bool(answer.get("closest")) and len(answer["sentences"]) <= 3)
    if q.kind == "on_topic":
        missing = [f for f in q.facts if not re.search(f, text, re.IGNORECASE)]
        row.update(all_facts=not missing and not answer["abstained"], missing_facts=missing,
                   facts_in_brief=not answer["abstained"] and all(re.search(f, brief, re.IGNORECASE) for f in q.facts),
                   first_on_target=bool(set(first) & set(q.ids)))
    elif q.kind == "uncovered":
        row.update(handled=answer["abstained"] or bool(answer.get("not_covered")) or bool(answer.get("closest")),
                   not_covered_first=not_covered_first, in_field=bool(q.subject))
    else:
        gaps = " ".join(answer.get("not_covered", []))  # the reading restates the question, so only this field counts
        named = all(re.search(u, gaps, re.IGNORECASE) for u in q.uncovered)
        row.update(handled=not answer["abstained"] and named and bool(set(row["cited"]) & set(q.ids)), named=named)
    return row


def summarise(rows: list[dict], dev_declined: int, dev_total: int) -> dict:
    on = [r for r in rows if r["kind"] == "on_topic"]
    off = [r for r in rows if r["kind"] == "uncovered"]
    part = [r for r in rows if r["kind"] == "partial"]
    lengths = [r["sentences"] for r in on if not r["declined"]]
    briefs = [r for r in on if not r["declined"]]
    in_field = [r for r in off if r["in_field"]]

    def share(xs, key):
        return round(sum(bool(x[key]) for x in xs) / len(xs), 4) if xs else None

    return {
        "on_topic": len(on), "all_key_facts": share(on, "all_facts"), "first_sentence_on_target": share(on, "first_on_target"),
        "key_facts_in_brief": share(on, "facts_in_brief"),
        "brief_sentences_median": statistics.median([r["brief_sentences"] for r in briefs]) if briefs else None,
        "brief_words_median": statistics.median([r["brief_words"] for r in briefs]) if briefs else None,
        "on_topic_declined": sum(r["declined"] for r in on),
        "sentences_median": statistics.median(lengths) if lengths else None,
        "sentences_range": [min(lengths), max(lengths)] if lengths else None,
        "uncovered": len(off), "uncovered_declined": share(off, "handled"),
        "uncovered_not_covered_first": share(off, "not_covered_first"),
        "in_field_uncovered": len(in_field), "in_field_not_covered_first": share(in_field, "not_covered_first"),
        "partial": len(part), "partial_answered_with_gap_named": share(part, "handled"),
        "dev_declined": dev_declined, "dev_questions": dev_total,
    }


def evaluate(engine, data_dir: Path = DATA) -> dict:
    questions = (load_eval_questions(data_dir / "answer_eval_on_topic.jsonl", "on_topic")
                 + load_eval_questions(data_dir / "answer_eval_uncovered.jsonl", "uncovered"))
    rows = [judge_answer(q, engine.ask(q.question).to_json()) for q in questions]
    blind = load_eval_questions(data_dir / BLIND, "on_topic") if (data_dir / BLIND).exists() else []
    blind_rows = [judge_answer(q, engine.ask(q.question).to_json()) for q in blind]
    for r in blind_rows:
        r["split"] = BLIND_SPLIT
    rows += blind_rows
    dev = load_questions(data_dir / "dev_questions.jsonl")
    dev_declined = [q.question for q in dev if engine.ask(q.question).draft.abstained]
    seed = engine.ask(SEED_QUESTION).to_json()
    seed_cited = sorted({c for s in seed["sentences"] for c in s["citations"]} & set(SEED_IDS))
    retrieval = evaluate_search(engine.search, dev)
    on_topic_ranked = [q for q in questions if q.kind == "on_topic"]
    sets = SPLITS + ((BLIND_SPLIT,) if blind else ())
    return {
        "splits": {split: summarise([r for r in rows if r["split"] == split], len(dev_declined), len(dev)) for split in sets},
        "dev_declined_questions": dev_declined,
        "seed": {"cited_seed_notes": seed_cited, "count": len(seed_cited),
                 "includes_required": {"sycophancy-by-design", "rlhf-truth-indifference"} <= set(seed_cited)},
        "recall@5": {"dev_hybrid": retrieval["hybrid"]["recall@5"],
                     "on_topic_hybrid": _recall_at_5(engine, on_topic_ranked)},
        "questions": rows,
    }


def _recall_at_5(engine, questions: list[EvalQuestion]) -> float:
    hits = [bool({h.id for h in engine.search.search(q.question, 5)} & set(q.ids)) for q in questions]
    return round(sum(hits) / max(len(hits), 1), 4)


def table(result: dict) -> str:
    keys = [("key_facts_in_brief", "on-topic: every key fact inside the brief"), ("all_key_facts", "on-topic answers holding every key fact"),
            ("first_sentence_on_target", "first sentence cites an answering note"),
            ("brief_sentences_median", "brief: sentences, median"), ("brief_words_median", "brief: words, median"),
            ("sentences_median", "sentences per answer, median"), ("sentences_range", "sentences per answer, range"),
            ("on_topic_declined", "on-topic questions declined"), ("uncovered_declined", "uncovered: declined or gap named"),
            ("uncovered_not_covered_first", "uncovered: declined or not-covered first (<=3)"),
            ("in_field_not_covered_first", "in-field uncovered: same"),
            ("partial_answered_with_gap_named", "partly covered: answered, gap named"), ("dev_declined", "dev questions declined")]
    sets = list(result["splits"])
    lines = [f"{'':48} " + " ".join(f"{s:>10}" for s in sets)]
    for key, label in keys:
        vals = [result["splits"][s][key] for s in sets]
        lines.append(f"{label:48} " + " ".join(f"{str(v):>10}" for v in vals))
    lines.append(f"{'counts (on-topic / uncovered / partial)':48} " + " ".join(
        f"{result['splits'][s]['on_topic']}/{result['splits'][s]['uncovered']}/{result['splits'][s]['partial']:>3}".rjust(10) for s in sets))
    lines.append(f"hybrid recall@5: dev {result['recall@5']['dev_hybrid']}, on-topic eval {result['recall@5']['on_topic_hybrid']}")
    lines.append(f"seed question cites {result['seed']['count']}/6 seed notes: {', '.join(result['seed']['cited_seed_notes'])}")
    return "\n".join(lines)


def run(engine, out: Path = OUT) -> dict:
    """Evaluate, write the JSON report to `out`, return it."""
    result = evaluate(engine)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return result


def summary(result: dict) -> dict:
    return {k: v for k, v in result.items() if k != "questions"}


def command(settings, log) -> tuple[dict, str]:
    """`inquire eval` (entry point `eval` in the `inquire.commands` group): the engine over `settings`
    evaluated and bench/answers.json written; returns the summary (its --json) and the table."""
    from pipeline.service import load_engine

    result = run(load_engine(settings, log))
    return summary(result), table(result)


def main(argv: list[str] | None = None) -> int:
    from pipeline.service import load_engine
    from pipeline.settings import Settings, force_offline

    p = argparse.ArgumentParser(prog="python -m evaluation.eval_answers", description=__doc__.splitlines()[0])
    p.add_argument("--json", action="store_true", help="print the JSON instead of the table")
    p.add_argument("--out", default=str(OUT), help="where to write the JSON report")
    p.add_argument("--no-ablation", action="store_true", help="skip the composer's ablation table (each ranking term removed and refitted)")
    args = p.parse_args(argv)
    force_offline()
    engine = load_engine(Settings(), lambda m: print(f"inquire: {m}", file=sys.stderr))
    result = run(engine, Path(args.out))
    print(json.dumps(summary(result), indent=2) if args.json else table(result))
    if not args.no_ablation and not args.json:
        from .fit_composer import ablation, ablation_text, all_questions, build_cases

        print("\nComposer ablation (compose only, no grounding): each term removed and the ranking refitted on tune;")
        print("columns: every key fact in the brief / anywhere / first sentence on target / median sentences (changes from (all))")
        print(ablation_text(ablation(build_cases(engine, all_questions()), engine.settings, engine.ranker.terms)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
