"""A generated parallel corpus (technical sentence -> plain sentence) for the demo models.

Standard library only. Everything is drawn from one `random.Random(seed)`, so a seed always
gives the same corpus.

Two kinds of pairs are made:

* Template pairs: a sentence frame written in a technical and a plain register, with slots
  filled from `pls_core.lexicon` (the technical term on one side, its plain form on the other).
* Free-form pairs: random everyday filler words with lexicon terms dropped in at random places;
  the plain side is the same sentence with only the terms replaced. These teach the model to
  copy what it does not know and to replace only the terms, instead of answering every input
  with the nearest template.

Held out from training: (a) unseen slot combinations of the training templates, (b) whole
templates the model never sees in training, and (c) a few fresh free-form sentences.
"""

from __future__ import annotations

import random
import re
import string
from dataclasses import dataclass, field

from pls_core.lexicon import LEXICON, LEXICON_BY_CATEGORY, find_terms

Pair = tuple[str, str]


@dataclass(frozen=True)
class Template:
    """A sentence frame in both registers.

    Slots: `{category}` is a term of that lexicon category, `{category#2}` a second, different
    term of the same category, `{a:category}` the term with its indefinite article ("an
    analgesic" / "a painkiller"), and `{n}` a number copied unchanged to both sides.
    """

    technical: str
    plain: str


# Training templates. Non-slot wording changes between the registers only in a few consistent
# ways (lexicon formal words, "presented with" -> "came in with", "participants" -> "people",
# "performed" -> "done", "assess" -> "check"), so the changes are learnable.
TRAIN_TEMPLATES: tuple[Template, ...] = (
    Template("Patients with {condition} were administered {a:medicine} {route}.",
             "Patients with {condition} were given {a:medicine} {route}."),
    Template("The patient presented with {symptom} and {symptom#2}.",
             "The patient came in with {symptom} and {symptom#2}."),
    Template("{symptom} is a common adverse event of {medicine} therapy.",
             "{symptom} is a common side effect of {medicine} therapy."),
    Template("{a:procedure} was performed to assess the {body}.",
             "{a:procedure} was done to check the {body}."),
    Template("{descriptor} {condition} was diagnosed in {n} participants.",
             "{descriptor} {condition} was diagnosed in {n} people."),
    Template("{organ} function declined after {a:procedure}.",
             "{organ} function declined after {a:procedure}."),
    Template("The physician recommended {a:procedure} prior to surgery.",
             "The doctor recommended {a:procedure} before surgery."),
    Template("{medicine} treatment ameliorated {symptom} in most patients.",
             "{medicine} treatment eased {symptom} in most patients."),
    Template("{symptom} was exacerbated by {condition}.",
             "{symptom} was worsened by {condition}."),
    Template("The {medicine} was discontinued because of {symptom}.",
             "The {medicine} was stopped because of {symptom}."),
    Template("{a:descriptor} {organ} lesion was found on {a:procedure}.",
             "{a:descriptor} {organ} sore was found on {a:procedure}."),
    Template("There is no evidence that {medicine} therapy lowers the mortality of {condition}.",
             "There is no evidence that {medicine} therapy lowers the death rate of {condition}."),
    Template("The prognosis of {descriptor} {condition} is poor.",
             "The outlook of {descriptor} {condition} is poor."),
    Template("The etiology of {condition} remains unclear.",
             "The cause of {condition} remains unclear."),
    Template("{condition} is a contraindication to {a:medicine}.",
             "{condition} is a reason not to use {a:medicine}."),
    Template("Pain in the {body} was managed with {a:medicine}.",
             "Pain in the {body} was managed with {a:medicine}."),
    Template("Did the {medicine} reduce {symptom}?",
             "Did the {medicine} reduce {symptom}?"),
    Template("Take the {medicine} {route} twice a day.",
             "Take the {medicine} {route} twice a day."),
    Template("Symptoms include {symptom}, {symptom#2} and {symptom#3}.",
             "Symptoms include {symptom}, {symptom#2} and {symptom#3}."),
    Template("{condition} and {condition#2} often occur together.",
             "{condition} and {condition#2} often occur together."),
    Template("We found {n} trials that compared {a:medicine} with {a:medicine#2}.",
             "We found {n} trials that compared {a:medicine} with {a:medicine#2}."),
    Template("The incidence of {condition} was higher in the {medicine} group.",
             "The rate of new cases of {condition} was higher in the {medicine} group."),
    Template("The prevalence of {condition} rose with age.",
             "The frequency of {condition} rose with age."),
    Template("{a:fracture} of the {body} was seen on the radiograph.",
             "{a:fracture} of the {body} was seen on the x-ray."),
    Template("After {a:procedure}, the patient reported {symptom}.",
             "After {a:procedure}, the patient reported {symptom}."),
    Template("{medicine} given {route} demonstrated efficacy against {condition}.",
             "{medicine} given {route} showed effectiveness against {condition}."),
    Template("Children with {descriptor} {condition} may need {a:procedure}.",
             "Children with {descriptor} {condition} may need {a:procedure}."),
    Template("The study assessed {organ} and {organ#2} outcomes in {n} participants.",
             "The study checked {organ} and {organ#2} outcomes in {n} people."),
    Template("{symptom} subsequently resolved without treatment.",
             "{symptom} later resolved without treatment."),
    Template("Approximately {n} percent of patients developed {condition}.",
             "About {n} percent of patients developed {condition}."),
    Template("If you have {symptom}, stop the {medicine} and call your physician.",
             "If you have {symptom}, stop the {medicine} and call your doctor."),
    Template("{condition} can lead to {condition#2} if left untreated.",
             "{condition} can lead to {condition#2} if left untreated."),
    Template("The {body} and the {body#2} were examined.",
             "The {body} and the {body#2} were examined."),
    Template("{a:procedure} showed {descriptor} changes in the {body}.",
             "{a:procedure} showed {descriptor} changes in the {body}."),
    Template("Is {a:medicine} safe for people with {condition}?",
             "Is {a:medicine} safe for people with {condition}?"),
    Template("Risk of {condition} was lower with {medicine} prophylaxis.",
             "Risk of {condition} was lower with {medicine} prevention."),
    Template("{medicine} was commenced {route} on day {n}.",
             "{medicine} was started {route} on day {n}."),
    Template("Our review looked at {medicine} for {descriptor} {symptom}.",
             "Our review looked at {medicine} for {descriptor} {symptom}."),
    Template("No patient had {symptom} after {a:procedure} of the {body}.",
             "No patient had {symptom} after {a:procedure} of the {body}."),
    Template("{condition}, {condition#2} and {condition#3} were the main comorbidity groups.",
             "{condition}, {condition#2} and {condition#3} were the main other illness groups."),
    Template("The neonate had {symptom} at birth.",
             "The newborn baby had {symptom} at birth."),
    Template("Those who received {a:medicine} had less {symptom} than those who received a placebo.",
             "Those who received {a:medicine} had less {symptom} than those who received a dummy pill."),
    Template("{organ} damage is a known risk of {descriptor} {condition}.",
             "{organ} damage is a known risk of {descriptor} {condition}."),
    Template("A remission of {condition} was sufficient to stop the {medicine}.",
             "A period without symptoms of {condition} was enough to stop the {medicine}."),
    Template("Tell your nurse about any {symptom} or {symptom#2}.",
             "Tell your nurse about any {symptom} or {symptom#2}."),
    Template("In {n} cases the {body} was injured, with {a:laceration} and {a:contusion}.",
             "In {n} cases the {body} was injured, with {a:laceration} and {a:contusion}."),
    Template("{descriptor} {symptom} was reported by {n} of the participants.",
             "{descriptor} {symptom} was reported by {n} of the people."),
    Template("{a:medicine} was utilised to treat {condition} in the {organ} unit.",
             "{a:medicine} was used to treat {condition} in the {organ} unit."),
    Template("The {body} was swollen; {a:procedure} was planned.",
             "The {body} was swollen; {a:procedure} was planned."),
    Template("Why does {condition} cause {symptom}?",
             "Why does {condition} cause {symptom}?"),
    Template("Both {a:medicine} and {a:procedure} were offered to the patient.",
             "Both {a:medicine} and {a:procedure} were offered to the patient."),
    Template("Metastasis to the {body} was ruled out by {a:procedure}.",
             "Spread of cancer to the {body} was ruled out by {a:procedure}."),
)

# Held-out templates: never used for training, only to measure how far term replacement
# carries over to sentence shapes the model has not seen.
HELDOUT_TEMPLATES: tuple[Template, ...] = (
    Template("Most patients with {condition} also had {symptom}.",
             "Most patients with {condition} also had {symptom}."),
    Template("The trial tested {a:medicine} against {condition}.",
             "The trial tested {a:medicine} against {condition}."),
    Template("{symptom} and {symptom#2} were reported after {n} weeks.",
             "{symptom} and {symptom#2} were reported after {n} weeks."),
    Template("We do not know whether {a:procedure} helps people with {condition}.",
             "We do not know whether {a:procedure} helps people with {condition}."),
    Template("Doctors often use {a:medicine} when {condition} is {descriptor}.",
             "Doctors often use {a:medicine} when {condition} is {descriptor}."),
    Template("The {body} was injured in {n} of the children.",
             "The {body} was injured in {n} of the children."),
    Template("People taking {a:medicine} {route} had fewer episodes of {symptom}.",
             "People taking {a:medicine} {route} had fewer episodes of {symptom}."),
    Template("Can {condition} be prevented with {a:medicine}?",
             "Can {condition} be prevented with {a:medicine}?"),
    Template("{a:procedure} of the {body} is usually safe.",
             "{a:procedure} of the {body} is usually safe."),
    Template("Some people develop {condition} and then {symptom}.",
             "Some people develop {condition} and then {symptom}."),
    Template("There were changes in {organ} tests during {descriptor} {condition}.",
             "There were changes in {organ} tests during {descriptor} {condition}."),
    Template("Call a nurse if {symptom} gets worse after {a:procedure}.",
             "Call a nurse if {symptom} gets worse after {a:procedure}."),
)

# Everyday words for free-form sentences: copied through unchanged by the model.
FILLER_WORDS: tuple[str, ...] = tuple("""
the a an of to and in on at for with from by about as into over after before under between
through during without within among against toward upon across behind beyond near around
is was are were be been being has have had do does did will would can could may might must
should shall it its this that these those they them their we our you your he she his her
i me my one two three four five six seven eight nine ten first second last next other some
many much more most few less least all each every both either neither any no not only also
very quite rather often sometimes never always usually again still yet already soon then
now here there when where why how what which who whose while because although though since
until unless if so but or nor than like just even well too back up down out off away
day week month year time morning evening night hour minute today yesterday tomorrow
man woman child children person people family friend mother father son daughter group team
home house room school work office car bus train road street city town village country world
water food bread milk tea coffee fruit apple rice meat fish egg sugar salt oil soup cake
book paper letter phone table chair door window bed floor wall garden tree flower grass
dog cat bird horse cow sheep river lake sea mountain hill field forest rain snow wind sun
good bad big small long short high low new old young early late hot cold warm cool easy hard
happy sad quick slow full empty open closed clean dirty dark light heavy soft strong weak
red blue green yellow black white brown grey
make made take took give gave go went come came see saw look find found keep kept tell told
say said ask asked use used try tried help helped need needed want wanted feel felt leave left
call called move moved live lived bring brought begin began show showed hear heard play played
run ran walk walked sit sat stand stood read write wrote eat ate drink drank sleep slept
buy bought pay paid meet met learn learned change changed follow followed stop stopped start
started wait waited turn turned watch watched carry carried answer answered open opened
study studies result results data number level rate risk trial review report measure
question answer reason problem idea way part place point case fact example story plan
""".split())

EXTRA_CHARACTERS = (string.ascii_letters + string.digits + string.punctuation
                    + "°±µ×÷≤≥–—‘’“”…·éèêàâüöäïçñß€£")

_SLOT = re.compile(r"\{(?:(a):)?([a-z]+)(?:#(\d))?\}")
# Single lexicon terms that templates name directly as a slot ({a:fracture}, ...).
_NAMED_TERMS = {term for term in LEXICON if " " not in term}


@dataclass
class Corpus:
    """Training pairs and the held-out sets, each a list of (technical, plain) pairs."""

    seed: int
    train: list[Pair] = field(default_factory=list)
    heldout_combinations: list[Pair] = field(default_factory=list)
    heldout_templates: list[Pair] = field(default_factory=list)
    heldout_freeform: list[Pair] = field(default_factory=list)
    # The free-form pairs of `train` (also in `train`), for a copy-first training phase.
    train_freeform: list[Pair] = field(default_factory=list)


def _article(word: str) -> str:
    return "an" if word[:1].lower() in "aeiou" else "a"


def _capitalise(text: str) -> str:
    return text[:1].upper() + text[1:]


def _slot_keys(template: Template) -> list[tuple[str, str]]:
    """The distinct (category, index) slots of a template, in order of first use."""
    keys: list[tuple[str, str]] = []
    for match in _SLOT.finditer(template.technical):
        key = (match.group(2), match.group(3) or "1")
        if key not in keys:
            keys.append(key)
    return keys


def _draw_fill(template: Template, rng: random.Random,
               terms: dict[str, list[str]]) -> dict[tuple[str, str], str]:
    """One random choice of a term (or number) for every slot; same-category slots differ."""
    fill: dict[tuple[str, str], str] = {}
    for category, index in _slot_keys(template):
        if category == "n":
            fill[(category, index)] = str(rng.choice([rng.randint(2, 20), rng.randint(21, 999)]))
        elif category in LEXICON_BY_CATEGORY:
            used = {term for (cat, _), term in fill.items() if cat == category}
            choices = [t for t in terms[category] if t not in used]
            fill[(category, index)] = rng.choice(choices)
        elif category in _NAMED_TERMS:
            fill[(category, index)] = category
        else:
            raise ValueError(f"unknown slot {category!r} in template {template.technical!r}")
    return fill


def render(template: Template, fill: dict[tuple[str, str], str]) -> Pair:
    """The (technical, plain) sentences of a template with the given slot fill."""

    def side(text: str, plain: bool) -> str:
        def replace(match: re.Match) -> str:
            category, index = match.group(2), match.group(3) or "1"
            term = fill[(category, index)]
            word = LEXICON[term] if plain and category != "n" else term
            return f"{_article(word)} {word}" if match.group(1) else word

        return _capitalise(_SLOT.sub(replace, text))

    return side(template.technical, False), side(template.plain, True)


def _term_lists(max_terms_per_category: int | None) -> dict[str, list[str]]:
    """Each category's terms in lexicon order (commonest first), optionally cut short."""
    return {category: list(group)[:max_terms_per_category]
            for category, group in LEXICON_BY_CATEGORY.items()}


def template_pairs(template: Template, count: int, rng: random.Random,
                   max_terms_per_category: int | None = None) -> list[Pair]:
    """Up to `count` distinct pairs of one template (fewer when the slots allow fewer)."""
    terms = _term_lists(max_terms_per_category)
    pairs: dict[str, Pair] = {}
    attempts = 0
    while len(pairs) < count and attempts < count * 20:
        attempts += 1
        pair = render(template, _draw_fill(template, rng, terms))
        pairs.setdefault(pair[0], pair)
    return list(pairs.values())


def freeform_pair(rng: random.Random, vocabulary: list[str] | None = None) -> Pair:
    """Filler words with 1-3 lexicon terms in random places; plain side swaps only the terms."""
    vocabulary = vocabulary or sorted(LEXICON)
    length = rng.randint(4, 16)
    words: list[tuple[str, str]] = []
    for _ in range(length):
        roll = rng.random()
        if roll < 0.06:
            number = str(rng.randint(1, 500))
            words.append((number, number))
        else:
            word = rng.choice(FILLER_WORDS)
            words.append((word, word))
    terms = rng.sample(vocabulary, rng.randint(1, 3))
    for term in terms:
        words.insert(rng.randint(0, len(words)), (term, LEXICON[term]))
    # Sprinkle commas, then finish the sentence.
    technical: list[str] = []
    plain: list[str] = []
    for i, (tech_word, plain_word) in enumerate(words):
        if i < len(words) - 1 and rng.random() < 0.08:
            tech_word, plain_word = tech_word + ",", plain_word + ","
        technical.append(tech_word)
        plain.append(plain_word)
    end = rng.choice([".", ".", ".", "?", ""])
    tech_text, plain_text = " ".join(technical) + end, " ".join(plain) + end
    if rng.random() < 0.8:
        tech_text, plain_text = _capitalise(tech_text), _capitalise(plain_text)
    return tech_text, plain_text


def build_corpus(
    seed: int = 0,
    *,
    per_template: int = 150,
    n_freeform: int = 6000,
    n_heldout_combinations: int = 300,
    n_heldout_templates: int = 200,
    n_heldout_freeform: int = 100,
    max_terms_per_category: int | None = None,
) -> Corpus:
    """The demo corpus: deterministic for a given seed and sizes.

    `per_template` training pairs per training template (fewer where the slots allow fewer),
    `n_freeform` free-form training pairs, and the held-out sets capped at the given sizes.
    `max_terms_per_category` keeps only the first (commonest) terms of each lexicon category,
    for a small quick build. Training order is shuffled (deterministically).
    """
    limit = max_terms_per_category
    rng = random.Random(seed)
    corpus = Corpus(seed=seed)
    heldout_per_template = -(-n_heldout_combinations // len(TRAIN_TEMPLATES))
    for template in TRAIN_TEMPLATES:
        pairs = template_pairs(template, per_template + heldout_per_template, rng, limit)
        split = min(heldout_per_template, len(pairs) // 5)
        corpus.heldout_combinations.extend(pairs[:split])
        corpus.train.extend(pairs[split:])
    corpus.heldout_combinations = corpus.heldout_combinations[:n_heldout_combinations]

    per_heldout = -(-n_heldout_templates // len(HELDOUT_TEMPLATES))
    for template in HELDOUT_TEMPLATES:
        corpus.heldout_templates.extend(template_pairs(template, per_heldout, rng, limit))
    corpus.heldout_templates = corpus.heldout_templates[:n_heldout_templates]

    seen = {tech for tech, _ in corpus.train}
    vocabulary = sorted(term for terms in _term_lists(limit).values() for term in terms)
    freeform: dict[str, Pair] = {}
    while len(freeform) < n_freeform + n_heldout_freeform:
        pair = freeform_pair(rng, vocabulary)
        if pair[0] not in seen:
            freeform.setdefault(pair[0], pair)
    freeform_pairs = list(freeform.values())
    corpus.heldout_freeform = freeform_pairs[:n_heldout_freeform]
    corpus.train_freeform = freeform_pairs[n_heldout_freeform:]
    corpus.train.extend(corpus.train_freeform)
    rng.shuffle(corpus.train)
    return corpus


def tokenizer_training_text(texts: list[str]) -> list[str]:
    """Lines for training a subword tokenizer: the texts plus every word's variants.

    A word seen in only one form (say lowercase, or never before a comma) gets split oddly by a
    tokenizer trained on few sentences, so each word is also given capitalised and punctuated.
    """
    lines = list(texts)
    # Every printable character, so a character the corpus lacks ("=", "<", "µ") still gets
    # a piece instead of becoming <unk> and vanishing from the output.
    lines.append(" ".join(EXTRA_CHARACTERS))
    words = sorted({w.strip(".,;:?!()") for text in texts for w in text.split()} - {""})
    for word in words:
        variants = [word, _capitalise(word), word + ",", word + ".", word + "?", f"({word})"]
        lines.append(" ".join(variants))
    return lines


def term_replacement(pairs: list[Pair], outputs: list[str]) -> tuple[int, int]:
    """(replaced, total): lexicon terms in the technical inputs whose plain form is in the output."""
    replaced = total = 0
    for (technical, _), output in zip(pairs, outputs):
        lowered = output.lower()
        for term in find_terms(technical):
            total += 1
            replaced += LEXICON[term].lower() in lowered
    return replaced, total
