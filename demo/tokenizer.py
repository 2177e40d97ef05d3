"""The simplifier's own tokenizer: a sentencepiece unigram model trained on the build's texts,
saved as a T5 tokenizer, and the check that the saved files reload to the same ids."""

from __future__ import annotations

import random
from pathlib import Path

from demo import corpus as demo_corpus
from pls_core.model_layout import MAX_INPUT_TOKENS, SENTENCEPIECE_FILE


def train_tokenizer(texts: list[str], vocab_size: int, folder: Path, seed: int):
    """Train a sentencepiece unigram model and save it as a T5 tokenizer in `folder`.

    Ids: pad 0, eos 1, unk 2, no sentinel tokens. The fast tokenizer (tokenizer.json) is built
    directly from the pieces and scores, so loading it needs neither sentencepiece nor protobuf.
    """
    import io

    import sentencepiece as spm
    from tokenizers import Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, processors
    from transformers import T5TokenizerFast

    lines = demo_corpus.tokenizer_training_text(texts)
    random.Random(seed).shuffle(lines)
    model_bytes = io.BytesIO()
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter(lines), model_writer=model_bytes, vocab_size=vocab_size,
        model_type="unigram", pad_id=0, eos_id=1, unk_id=2, bos_id=-1,
        character_coverage=1.0, normalization_rule_name="identity", hard_vocab_limit=False,
        max_sentence_length=1 << 16, num_threads=1, shuffle_input_sentence=False,
        minloglevel=2)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / SENTENCEPIECE_FILE).write_bytes(model_bytes.getvalue())
    processor = spm.SentencePieceProcessor(model_proto=model_bytes.getvalue())
    vocab = [(processor.id_to_piece(i), processor.get_score(i) if i > 2 else 0.0)
             for i in range(processor.get_piece_size())]

    backend = Tokenizer(models.Unigram(vocab, unk_id=2, byte_fallback=False))
    backend.normalizer = normalizers.Sequence([normalizers.Strip(),
                                               normalizers.Replace(Regex(r"\s+"), " ")])
    backend.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="always")
    backend.decoder = decoders.Metaspace(replacement="▁", prepend_scheme="always")
    backend.post_processor = processors.TemplateProcessing(
        single="$A </s>", pair="$A </s> $B </s>", special_tokens=[("</s>", 1)])
    tokenizer = T5TokenizerFast(
        tokenizer_object=backend, pad_token="<pad>", eos_token="</s>", unk_token="<unk>",
        extra_ids=0, additional_special_tokens=[], model_max_length=MAX_INPUT_TOKENS,
        clean_up_tokenization_spaces=False)
    tokenizer.save_pretrained(folder)
    # save_pretrained of a tokenizer built from an object does not know the sentencepiece file;
    # it stays in the folder for anyone who wants the slow tokenizer.
    return tokenizer


def check_tokenizer(tokenizer, folder: Path, texts: list[str]) -> None:
    """The saved tokenizer reloads with AutoTokenizer, gives the same ids and decodes exactly."""
    from transformers import AutoTokenizer

    reloaded = AutoTokenizer.from_pretrained(folder)
    if reloaded.model_max_length != MAX_INPUT_TOKENS:
        raise RuntimeError(f"tokenizer model_max_length is {reloaded.model_max_length}")
    if (reloaded.pad_token_id, reloaded.eos_token_id, reloaded.unk_token_id) != (0, 1, 2):
        raise RuntimeError("tokenizer special ids are not pad 0, eos 1, unk 2")
    for text in texts:
        ids = tokenizer(text).input_ids
        if reloaded(text).input_ids != ids:
            raise RuntimeError(f"reloaded tokenizer gives other ids for {text!r}")
        decoded = reloaded.decode(ids, skip_special_tokens=True)
        if decoded != " ".join(text.split()):
            raise RuntimeError(f"tokenizer does not decode back exactly: {text!r} -> {decoded!r}")
