"""The ONNX embedders against the reference path (sentence-transformers on torch), on real notes."""
import json
import shutil
import subprocess
import sys

import numpy as np
import pytest

from conftest import CORPUS, ROOT, corpus_copy
from pipeline import embed as E
from pipeline.notes import load_corpus

# Stated tolerances (README, "Performance"): fp32 is the same computation, so only float rounding differs;
# int8 quantizes the weights per output channel, which moves a sentence vector by at most ~0.02 in cosine.
FP32_MAX_ABS = 1e-4
INT8_MIN_COS, INT8_MEAN_COS = 0.97, 0.985


@pytest.fixture(scope="module")
def texts():
    notes = load_corpus(CORPUS).notes
    sentences = [s for n in notes for s in n.sentences]
    # Short and long sentences, titles and a whole summary, so padded batches are exercised.
    return sentences[::7] + [n.title for n in notes[:10]] + [notes[0].summary, "RLHF"]


@pytest.fixture(scope="module")
def reference(texts):
    return E.load_embedder(64, "torch")


def test_fp32_gives_the_reference_vectors(texts, reference):
    fast = E.load_embedder(64, "onnx-fp32")
    assert np.abs(fast.embed(texts) - reference.embed(texts)).max() < FP32_MAX_ABS


def test_int8_vectors_stay_within_the_stated_tolerance(texts, reference):
    fast = E.load_embedder(64, "onnx-int8")
    a, b = fast.embed(texts), reference.embed(texts)
    cos = (a * b).sum(axis=1)
    assert np.allclose(np.linalg.norm(a, axis=1), 1, atol=1e-5)
    assert cos.min() >= INT8_MIN_COS and cos.mean() >= INT8_MEAN_COS, (cos.min(), cos.mean())


def test_token_vectors_match_the_reference_piece_for_piece(texts, reference):
    fast = E.load_embedder(64, "onnx-fp32")
    for a, b in zip(fast.token_vectors(texts[:40]), reference.token_vectors(texts[:40])):
        assert a.shape == b.shape and a.shape[0] > 0
        assert np.abs(a - b).max() < 1e-3


def test_batching_does_not_change_a_vector(texts):
    fast = E.load_embedder(64, "onnx-int8")
    alone = np.vstack([fast.embed([t]) for t in texts[:12]])
    assert np.abs(alone - fast.embed(texts[:12])).max() < 1e-4


def test_each_kind_has_its_own_name_so_an_index_is_never_queried_with_other_vectors():
    names = {E.embedder_name(k) for k in E.EMBEDDER_KINDS}
    assert len(names) == len(E.EMBEDDER_KINDS)


def test_an_index_built_by_one_embedder_is_refused_by_another(tmp_path, reference):
    from pipeline.index import IndexCorrupt, build_index, load_index

    settings = corpus_copy(tmp_path)
    build_index(settings, E.load_embedder(64, "onnx-int8"))
    with pytest.raises(IndexCorrupt, match="run `inquire index`"):
        load_index(settings, reference.name, reference.dim)


def test_a_damaged_export_or_one_from_other_weights_is_not_used(tmp_path):
    good = E.onnx_file("onnx-int8")
    E.load_embedder(64, "onnx-int8")  # makes sure the export exists
    copy, stamp = tmp_path / good.name, tmp_path / (good.name + ".json")
    shutil.copy(good, copy)
    shutil.copy(good.with_name(good.name + ".json"), stamp)
    assert E._current(copy)
    record = json.loads(stamp.read_text())
    stamp.write_text(json.dumps({**record, "weights_stat": [0, 0]}))
    assert E._current(copy)  # other size/time but the same weights' digest: still these weights
    stamp.write_text(json.dumps({**record, "weights_stat": [0, 0], "weights_sha256": "another-weights-digest"}))
    assert not E._current(copy)
    stamp.write_text(json.dumps(record))
    data = bytearray(copy.read_bytes())
    data[len(data) // 2] ^= 0xFF
    copy.write_bytes(bytes(data))
    assert not E._current(copy)


def test_an_unknown_embedder_names_the_choices(monkeypatch):
    monkeypatch.setenv("INQUIRE_EMBEDDER", "onnx-int4")
    with pytest.raises(E.ModelMissing, match="onnx-int8, onnx-fp32, torch"):
        E.embedder_kind()


def test_the_cli_answers_without_importing_torch(tmp_path):
    corpus_copy(tmp_path)
    code = ("import sys, json; from pipeline.cli import main; rc = main(sys.argv[1:]);"
            "heavy = sorted(m for m in ('torch', 'sentence_transformers', 'transformers') if m in sys.modules);"
            "print(json.dumps({'rc': rc, 'heavy': heavy}))")
    args = ["ask", "Does RLHF hurt calibration?", "--json", "--corpus", str(tmp_path / "corpus"), "--index", str(tmp_path / "index")]
    subprocess.run([sys.executable, "-c", code, "index", *args[3:]], cwd=ROOT, check=True, capture_output=True)
    out = subprocess.run([sys.executable, "-c", code, *args], cwd=ROOT, check=True, capture_output=True, text=True)
    last = json.loads(out.stdout.strip().splitlines()[-1])
    assert last == {"rc": 0, "heavy": []}
    assert json.loads(out.stdout[: out.stdout.rindex("\n{")])["sentences"]
