#!/usr/bin/env python3
"""Import the model folders into the BentoML model store as `pls-simplifier` and `pls-classifier`.

    python scripts/models/import_models.py [--models-dir models] [--source demo|dvc]

Each folder is checked for completeness and loaded once (the T5 with transformers, the
classifier with joblib) before anything is written. The store version is derived from the
files' content, so importing identical content again creates nothing and prints the existing
tag. BentoML builds the new model in a temporary folder and moves it into the store only when
complete, so a failed import leaves nothing behind. Honours BENTOML_HOME.

The last import is the one served: the service and bentofile.yaml resolve `NAME:latest`, so
after both models are in the store `latest` is moved to the versions just imported, also when
they were already there (re-importing an older model is a rollback).
A simplifier folder that ships only `spiece.model` gets a `tokenizer.json` in its store copy,
converted once here, so the API process can count tokens with the `tokenizers` library alone.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path

from pls_core import model_layout as layout
from pls_core.integrity import sha256_of

REPO_ROOT = Path(__file__).resolve().parents[2]
MAKE_HINT = "build the demo models with `python scripts/models/make_demo_models.py`, or pull yours with `scripts/models/pull_models.sh`"


class ImportFailed(Exception):
    """A model folder cannot be imported; the message says why and what to run."""


@dataclass(frozen=True)
class ModelSpec:
    store_name: str
    dirname: str
    kind: str  # "simplifier" | "classifier"


SPECS = (
    ModelSpec(layout.SIMPLIFIER_MODEL_NAME, layout.SIMPLIFIER_DIRNAME, "simplifier"),
    ModelSpec(layout.CLASSIFIER_MODEL_NAME, layout.CLASSIFIER_DIRNAME, "classifier"),
)


def file_hashes(folder: Path) -> dict[str, str]:
    """sha256 of every file below `folder`, keyed by POSIX relative path, sorted."""
    hashes = {}
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        hashes[path.relative_to(folder).as_posix()] = sha256_of(path)
    return hashes


def content_version(hashes: dict[str, str]) -> str:
    """A store version that changes exactly when some file's name or content changes."""
    listing = "\n".join(f"{name} {sha}" for name, sha in sorted(hashes.items()))
    return hashlib.sha256(listing.encode()).hexdigest()[:16]


def check_complete(spec: ModelSpec, folder: Path) -> None:
    if not folder.is_dir():
        raise ImportFailed(f"{folder} does not exist: {MAKE_HINT}")
    if spec.kind == "simplifier":
        missing = layout.missing_simplifier_files(folder)
    else:
        missing = layout.missing_classifier_files(folder)
    if missing:
        raise ImportFailed(f"{folder} is incomplete, missing: {', '.join(missing)}; {MAKE_HINT}")


def check_loadable(spec: ModelSpec, folder: Path) -> None:
    """Load the model the way the runner will, so a broken folder never reaches the store."""
    try:
        if spec.kind == "simplifier":
            from transformers import AutoTokenizer, T5ForConditionalGeneration

            tokenizer = AutoTokenizer.from_pretrained(folder)
            model = T5ForConditionalGeneration.from_pretrained(folder)
            # The model may have more embedding rows than the tokenizer has tokens (t5-base: 32,128
            # for 32,100), never fewer: a token past the last row cannot be embedded.
            if len(tokenizer) > model.config.vocab_size:
                raise ImportFailed(
                    f"{folder / 'config.json'}: vocab_size is {model.config.vocab_size}, fewer than the "
                    f"{len(tokenizer)} tokens of the tokenizer ({', '.join(layout.SIMPLIFIER_TOKENIZER_FILES)}, "
                    "with its extra ids): the tokenizer and the weights are not from one model")
        else:
            import joblib

            classifier = joblib.load(folder / layout.CLASSIFIER_FILE)
            vectorizer = joblib.load(folder / layout.VECTORIZER_FILE)
            if not hasattr(vectorizer, "transform") or not hasattr(classifier, "predict_proba"):
                raise TypeError(f"{layout.VECTORIZER_FILE} needs `transform` and "
                                f"{layout.CLASSIFIER_FILE} `predict_proba`")
            if layout.LABEL_PLAIN not in list(getattr(classifier, "classes_", [])):
                raise ValueError(f"{layout.CLASSIFIER_FILE} has no class {layout.LABEL_PLAIN!r}")
    except ImportFailed:
        raise
    except Exception as exc:
        raise ImportFailed(f"{folder} does not load as a {spec.kind}: {type(exc).__name__}: {exc}") from exc


def read_metrics(folder: Path) -> dict:
    path = folder / layout.METRICS_FILE
    if not path.is_file():
        return {}
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise ImportFailed(f"{path} is not valid JSON: {exc}") from exc


def dvc_md5(folder: Path) -> str | None:
    """The folder's md5 as recorded in dvc.lock, when DVC tracks it."""
    lock = REPO_ROOT / "dvc.lock"
    if not lock.is_file():
        return None
    import yaml

    try:
        relative = folder.resolve().relative_to(REPO_ROOT).as_posix()
    except ValueError:
        return None
    stages = (yaml.safe_load(lock.read_text()) or {}).get("stages", {})
    for stage in stages.values():
        for out in stage.get("outs", []):
            if out.get("path") == relative:
                return out.get("md5")
    return None


@dataclass
class PreparedImport:
    spec: ModelSpec
    folder: Path
    tag: object  # bentoml.Tag
    hashes: dict[str, str]
    exists: bool


def prepare(spec: ModelSpec, models_dir: Path) -> PreparedImport:
    """Check one folder fully (complete, loadable) and work out its store tag."""
    import bentoml

    folder = models_dir / spec.dirname
    check_complete(spec, folder)
    hashes = file_hashes(folder)
    tag = bentoml.Tag(spec.store_name, content_version(hashes))
    try:
        bentoml.models.get(tag)
        exists = True
    except bentoml.exceptions.NotFound:
        exists = False
    if not exists:
        check_loadable(spec, folder)
    return PreparedImport(spec, folder, tag, hashes, exists)


def save(prepared: PreparedImport, source: str) -> None:
    """Write one checked folder into the store; BentoML moves it in only when complete."""
    import bentoml

    spec = prepared.spec
    labels = {"source": source, "kind": spec.kind}
    md5 = dvc_md5(prepared.folder)
    if md5:
        labels["dvc_md5"] = md5
    metadata = {"files_sha256": prepared.hashes, "metrics": read_metrics(prepared.folder)}
    if spec.kind == "simplifier":
        metadata["task_prefix"] = layout.TASK_PREFIX
        metadata["max_input_tokens"] = layout.max_input_tokens(prepared.folder)
    with bentoml.models.create(prepared.tag, labels=labels, metadata=metadata) as model:
        shutil.copytree(prepared.folder, model.path, dirs_exist_ok=True)
        if spec.kind == "simplifier":
            write_tokenizer_json(Path(model.path))
        if spec.kind == "simplifier":  # the ctranslate2 backend's weights, converted once, here
            from convert_ct2 import CT2_SUBDIR, convert_t5

            convert_t5(prepared.folder, Path(model.path) / CT2_SUBDIR)
            # Raised inside `create`: BentoML discards the half-made model, nothing is stored.
            trial_generation(Path(model.path), prepared.folder)


TRIAL_TEXT = "The patient had a myocardial infarction."


def trial_generation(folder: Path, source: Path) -> None:
    """Generate once with each serving backend from the store copy `folder` of `source`, as the
    runner will: a folder that imports but cannot serve is refused here, not at the first request."""
    from runners.ct2_backend import CTranslate2Backend
    from runners.transformers_backend import TransformersBackend

    limit = layout.max_input_tokens(folder)
    for name, make in (("ctranslate2", lambda: CTranslate2Backend(str(folder), "cpu", "auto")),
                       ("transformers", lambda: TransformersBackend(str(folder), "cpu"))):
        try:
            # A text longer than the input limit: the truncation path is tried too.
            generations = make().generate([TRIAL_TEXT, TRIAL_TEXT + " word" * limit], 8, 2)
        except Exception as exc:
            raise ImportFailed(
                f"{source}: a trial generation with the {name} backend failed ({type(exc).__name__}: "
                f"{exc}); check tokenizer_config.json (model_max_length), config.json (vocab_size) and the "
                "tokenizer files against the weights") from exc
        if [g.tokens_input for g in generations][1] > limit:
            raise ImportFailed(f"{source}: the {name} backend read more than the {limit}-token input limit "
                               "(tokenizer_config.json: model_max_length)")


# Texts on which a converted tokenizer must give the SentencePiece model's own ids.
_TOKENIZER_PROBES = (
    layout.TASK_PREFIX + "The patient had a myocardial infarction.",
    "Fluconazole  reduced bias (95% CI 0.61\u20130.89; \u22655 \u00b5g/kg) vs. placebo, e.g. in Crohn\u2019s disease.",
)


def write_tokenizer_json(folder: Path) -> None:
    """Write `tokenizer.json` for a folder that has only `spiece.model`, checked against
    SentencePiece itself, so the API can tokenize with the `tokenizers` library alone."""
    if (folder / layout.TOKENIZER_FILE).is_file():
        return
    from transformers import T5Tokenizer, T5TokenizerFast

    reference = T5Tokenizer(str(folder / layout.SENTENCEPIECE_FILE), legacy=True)
    expected = [reference(text).input_ids for text in _TOKENIZER_PROBES]
    # transformers' converter reads add_prefix_space=null in tokenizer_config.json as "no
    # prefix space", unlike SentencePiece's dummy prefix: try both, keep the one that agrees.
    for add_prefix_space in (True, False):
        fast = T5TokenizerFast.from_pretrained(folder, from_slow=True, add_prefix_space=add_prefix_space)
        if [fast(text).input_ids for text in _TOKENIZER_PROBES] == expected:
            fast.backend_tokenizer.save(str(folder / layout.TOKENIZER_FILE))
            return
    raise ImportFailed(f"{folder / layout.SENTENCEPIECE_FILE} converts to a {layout.TOKENIZER_FILE} "
                       "that tokenizes differently")


def _latest_file(name: str) -> Path:
    # BentoML keeps the version `NAME:latest` resolves to in the file <store>/NAME/latest; it
    # only ever moves it forward to the newest creation, so a re-import needs to set it.
    from bentoml._internal.configuration.containers import BentoMLContainer

    return Path(BentoMLContainer.model_store_dir.get()) / name / "latest"


def latest_version(name: str) -> str | None:
    path = _latest_file(name)
    return path.read_text().strip() if path.is_file() else None


def make_latest(tag) -> None:
    """Make `NAME:latest` resolve to `tag` (an existing version in the store)."""
    path = _latest_file(tag.name)
    temporary = path.with_name("latest.tmp")
    temporary.write_text(tag.version)
    temporary.replace(path)  # atomic: a reader sees the old or the new version, never half


def import_models(models_dir: Path, source: str) -> list[str]:
    """Import both folders, or neither: return their store tags."""
    import bentoml

    # Every check for both models runs before anything is written.
    prepared = [prepare(spec, models_dir) for spec in SPECS]
    previous = {item.spec.store_name: latest_version(item.spec.store_name) for item in prepared}
    saved = []
    try:
        for item in prepared:
            if item.exists:
                print(f"{item.tag} is already in the store with identical content; nothing imported")
                continue
            save(item, source)
            saved.append(item.tag)
            print(f"imported {item.folder} as {item.tag}")
        for item in prepared:
            make_latest(item.tag)
            print(f"{item.spec.store_name}:latest -> {item.tag} (served and built from now on)")
    except BaseException:
        for tag in saved:  # keep the pair consistent: undo this run's first import
            bentoml.models.delete(tag)
        for name, version in previous.items():  # and serve what was served before
            if version is not None:
                make_latest(bentoml.Tag(name, version))
        raise
    return [str(item.tag) for item in prepared]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models-dir", type=Path, default=Path("models"),
                        help="folder holding t5_base/ and baseline_classifier/ (default: models)")
    parser.add_argument("--source", choices=("demo", "dvc"), default="demo",
                        help="label recording where the models came from (pull_models.sh passes dvc)")
    args = parser.parse_args(argv)
    try:
        import_models(args.models_dir, args.source)
    except ImportFailed as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
