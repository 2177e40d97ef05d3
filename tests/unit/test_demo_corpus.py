"""The demo corpus generator and the demo model build (scripts/models/make_demo_models.py).

The build tests run the real script once in quick mode (about a minute on 2 cores) and check
what it wrote with the same libraries the service uses.
"""

from __future__ import annotations

import re
import subprocess
import sys

import pytest

from demo import corpus as demo_corpus
from demo import parallel_corpus
from pls_core.lexicon import LEXICON, LEXICON_BY_CATEGORY, find_terms
from tests.support.processes import REPO

ROOT = REPO
SCRIPT = ROOT / "scripts" / "models" / "make_demo_models.py"


def run_script(*args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(SCRIPT), *args], cwd=ROOT, capture_output=True,
                          text=True, timeout=timeout)


# ------------------------------------------------------- corpus (the lexicon: tests/unit/test_lexicon.py)


@pytest.fixture(scope="module")
def corpus() -> demo_corpus.Corpus:
    return demo_corpus.build_corpus(7, per_template=30, n_freeform=500)


def test_corpus_is_deterministic(corpus):
    again = demo_corpus.build_corpus(7, per_template=30, n_freeform=500)
    assert again.train == corpus.train
    assert again.heldout_combinations == corpus.heldout_combinations
    assert again.heldout_templates == corpus.heldout_templates
    assert demo_corpus.build_corpus(8, per_template=30, n_freeform=500).train != corpus.train


def test_heldout_templates_are_disjoint_from_training_templates(corpus):
    assert len(demo_corpus.HELDOUT_TEMPLATES) >= 10
    train_frames = {t.technical for t in demo_corpus.TRAIN_TEMPLATES}
    heldout_frames = {t.technical for t in demo_corpus.HELDOUT_TEMPLATES}
    assert not train_frames & heldout_frames
    # No held-out template sentence appears in training, and every held-out template is used.
    train_texts = {tech for tech, _ in corpus.train}
    assert not train_texts & {tech for tech, _ in corpus.heldout_templates}
    frames = [re.sub(r"\{[^}]+\}", "(.+)", re.escape(t.technical).replace(r"\{", "{")
                     .replace(r"\}", "}")) for t in demo_corpus.HELDOUT_TEMPLATES]
    for frame in frames:
        assert any(re.fullmatch(frame, tech, re.IGNORECASE)
                   for tech, _ in corpus.heldout_templates), frame


def test_heldout_combinations_are_not_in_training(corpus):
    train_texts = {tech for tech, _ in corpus.train}
    assert corpus.heldout_combinations
    assert not train_texts & {tech for tech, _ in corpus.heldout_combinations}
    assert len(corpus.heldout_templates) <= 200 and len(corpus.heldout_combinations) <= 300


def test_pairs_replace_every_term(corpus):
    pairs = corpus.train + corpus.heldout_combinations + corpus.heldout_templates
    for technical, plain in pairs:
        terms = find_terms(technical)
        assert terms, technical
        assert not find_terms(plain), (technical, plain)
    replaced, total = demo_corpus.term_replacement(pairs, [plain for _, plain in pairs])
    assert replaced == total > 0


def test_every_term_is_trained(corpus):
    seen = {term for technical, _ in corpus.train for term in find_terms(technical)}
    assert seen == set(LEXICON)
    assert set(LEXICON_BY_CATEGORY) >= {"condition", "symptom", "medicine"}


@pytest.mark.parametrize("case", ["missing_dir", "no_files", "no_target", "misaligned",
                                  "empty_line", "bad_seed", "bad_steps"])
def test_bad_arguments_exit_with_a_message(tmp_path, case):
    data = tmp_path / "data"
    args = ["--out", str(tmp_path / "models"), "--quick", "--corpus", str(data)]
    if case != "missing_dir":
        data.mkdir()
    if case == "no_target":
        (data / "val.source").write_text("a\nb\nc\nd\n")
    if case in ("misaligned", "empty_line", "bad_seed", "bad_steps"):
        (data / "val.source").write_text("one\ntwo\nthree\nfour\n")
        (data / "val.target").write_text("1\n2\n3\n" + ("4\n" if case != "misaligned" else ""))
    if case == "empty_line":
        (data / "val.target").write_text("1\n\n3\n4\n")
    if case == "bad_seed":
        args += ["--seed", "many"]
    if case == "bad_steps":
        args += ["--steps", "0"]
    result = run_script(*args, timeout=60)
    assert result.returncode != 0
    assert "error" in result.stderr.lower()
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "models").exists()


# ----------------------------------------------------------------------------- real text


def test_real_sample_ships_with_its_licence_and_a_fixed_split():
    folder = parallel_corpus.REAL_CORPUS_DIR
    assert (folder / "LICENSE.md").read_text().startswith("Attribution 4.0 International")
    assert "Devaraj" in (folder / "README.md").read_text()
    train, heldout = parallel_corpus.real_pairs_split()
    assert len(heldout) == parallel_corpus.HELDOUT_REAL_PAIRS and len(train) >= 300
    assert not set(train) & set(heldout)
    assert parallel_corpus.real_pairs_split() == (train, heldout)  # the same split every time


# ----------------------------------------------------------------------------- build stamp


def _imported_project_modules(path) -> set[str]:
    """The demo and runners modules `path` imports, at the top or inside functions."""
    import ast

    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.ImportFrom) and node.module:
            candidates = [node.module] + [f"{node.module}.{alias.name}" for alias in node.names]
        elif isinstance(node, ast.Import):
            candidates = [alias.name for alias in node.names]
        else:
            continue
        found.update(name for name in candidates
                     if name.split(".")[0] in ("demo", "runners") and (REPO / f"{name.replace('.', '/')}.py").is_file())
    return found


def test_the_build_stamp_hashes_every_module_the_build_uses():
    """A change in any demo module the build reaches (or in the serving backend the calibration
    scores with) must rebuild the models: each of their files is in the stamp."""
    from demo import build

    used, todo = set(), ["demo.build"]
    while todo:
        name = todo.pop()
        if name not in used:
            used.add(name)
            todo.extend(_imported_project_modules(REPO / f"{name.replace('.', '/')}.py"))
    stamped = {path.resolve() for path in build.stamped_sources()}
    assert {"demo.corpus", "demo.tokenizer", "demo.classifier", "runners.transformers_backend"} <= used
    assert [name for name in sorted(used) if (REPO / f"{name.replace('.', '/')}.py").resolve() not in stamped] == []
