"""The lexicon and its one matcher, pls_core.lexicon.find_terms (the /classify technical-term
count, the demo corpus and its tests all match terms with it)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pls_core.lexicon import LEXICON, LEXICON_BY_CATEGORY, find_terms
from pls_core.readability import count_technical_terms
from tests.support.samples import LEX

# ----------------------------------------------------------------------------- the lexicon


def test_lexicon_is_large_and_sound():
    assert len(LEXICON) >= 150
    assert sum(len(group) for group in LEXICON_BY_CATEGORY.values()) == len(LEXICON), "a term in two categories"
    assert LEXICON["myocardial infarction"] == "heart attack"
    assert LEXICON["hypertension"] == "high blood pressure"
    assert LEXICON["analgesic"] == "painkiller"
    assert all(key == key.lower() for key in LEXICON)
    assert not any(plain.lower() in LEXICON for plain in LEXICON.values())


def test_no_key_occurs_inside_another_key():
    # Each technical phrase of a generated sentence is one term with one plain replacement.
    for term in LEXICON:
        others = {key: plain for key, plain in LEXICON.items() if key != term}
        assert find_terms(term, others) == [], term


# ----------------------------------------------------------------------------- matching


def test_find_terms_matches_whole_words_case_insensitively():
    text = "Acute Myocardial infarction and hypertensions, treated orally."
    assert find_terms(text) == ["acute", "myocardial infarction", "orally"]


def test_multi_word_term_is_found_once_not_also_its_contained_term():
    text = "She had a myocardial infarction; a second INFARCTION followed."
    assert find_terms(text, LEX) == ["myocardial infarction", "infarction"]


def test_longest_match_wins_for_nested_terms():
    text = "Congestive heart failure differs from heart failure."
    assert find_terms(text, LEX) == ["congestive heart failure", "heart failure"]


def test_case_insensitive_and_punctuation_around_terms():
    text = "Hypertension, (hypertension) and HYPERTENSION. hypertension!"
    assert find_terms(text, LEX) == ["hypertension"] * 4


def test_whole_words_only():
    # No stemming and no partial words: plural, prefix and "ct" inside "act" do not count.
    assert find_terms("infarctions, preinfarction, act, fact, actual", LEX) == []
    assert find_terms("A CT scan was done.", LEX) == ["ct"]


@pytest.mark.parametrize("text, found", [
    # Spaces, line breaks and hyphens inside a term stand for one another; the key is returned.
    ("myocardial\n  infarction", ["myocardial infarction"]),
    ("myocardial-infarction", ["myocardial infarction"]),
    ("a beta-blocker or a beta blocker", ["beta-blocker", "beta-blocker"]),
    ("a beta - blocker", ["beta-blocker"]),
    # A hyphen is a word boundary: a term inside a hyphenated compound counts.
    ("infarction-related deaths", ["infarction"]),
    ("post-infarction care", ["infarction"]),
    ("hypertension-related, CT-guided", ["hypertension", "ct"]),
    # ... but letters, digits and underscores are not.
    ("infarction_related, infarction2", []),
])
def test_hyphens_and_spaces(text, found):
    assert find_terms(text, LEX) == found


def test_hyphenated_terms_of_the_project_lexicon():
    # lexicon.find_terms once used \b...\b and missed these; readability counted them.
    assert find_terms("an acute myocardial-infarction") == ["acute", "myocardial infarction"]
    assert find_terms("deep-vein thrombosis, treated sub-cutaneously") == ["deep vein thrombosis"]


def test_curly_apostrophe_and_regex_characters_in_terms():
    assert find_terms("Crohn\u2019s disease and Crohn's disease", LEX) == ["crohn's disease"] * 2
    assert find_terms("C. difficile infection", LEX) == ["c. difficile"]
    assert find_terms("cx difficile", LEX) == []  # "." is literal


def test_empty_text_or_lexicon():
    assert find_terms("", LEX) == []
    assert find_terms("myocardial infarction", {}) == []
    assert find_terms("myocardial infarction", {"  ": "x"}) == []


def test_letters_that_match_only_case_insensitively_still_name_their_key():
    # The long s and the Kelvin sign match "s" and "k" under IGNORECASE but do not lowercase
    # to them: the key comes from the alternative that matched, not from the matched text.
    assert find_terms("\u017fep\u017fis and \u212aIDNEY stones", {"sepsis": "x", "kidney stones": "y"}) == [
        "sepsis", "kidney stones"]


def test_keys_are_returned_as_the_lexicon_spells_them():
    lexicon = {"EMBOLISM": "clot"}
    assert [lexicon[term] for term in find_terms("an Embolism", lexicon)] == ["clot"]


def test_the_classify_count_is_the_number_of_terms_found():
    multi = sorted((k for k in LEXICON if " " in k), key=len, reverse=True)
    assert multi, "the project lexicon should contain multi-word terms"
    term = multi[0]
    text = f"We saw {term} and later {term.upper().replace(' ', '-')} again, with hypertension."
    found = find_terms(text)  # lexicon=None -> pls_core.lexicon.LEXICON
    assert found == [term, term, "hypertension"]
    assert count_technical_terms(text) == len(found)
    for text in ("a beta blocker or a beta-blocker", "C. difficile infection", "act, fact"):
        assert count_technical_terms(text, LEX) == len(find_terms(text, LEX))


def test_plain_forms_of_the_corpus_carry_no_term():
    # The plain replacements, matched with the same rule, contain no technical term.
    plain_forms = " . ".join(LEXICON.values())
    assert find_terms(plain_forms) == []


def _one_alternation(text: str) -> list[str]:
    """The matching rule as one regular expression of all terms, tried at every character: what
    find_terms did before it tried only the terms of each word start (53x slower on 20,000
    characters of abstracts). The two must agree everywhere."""
    import re

    from pls_core.lexicon import _SEPARATOR, _canonical, _straight

    forms: dict[str, str] = {}
    for key in LEXICON:
        forms.setdefault(_canonical(key), key)
    order = sorted(forms, key=lambda form: (-len(form), form))
    pattern = re.compile(r"(?<!\w)(?:" + "|".join(
        "(" + _SEPARATOR.join(re.escape(part) for part in form.split(" ")) + ")" for form in order) + r")(?!\w)",
        re.IGNORECASE)
    return [forms[order[match.lastindex - 1]] for match in pattern.finditer(_straight(text))]


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from([*LEXICON, "the", "with", "Myocardial", "INFARCTION", "-", "--", "(", ")",
                                 "\u2019s", "'s", "\n", "  ", "x", "_", "2", "pre", "\u017fep\u017fis", "\u212aIDNEY",
                                 "\u0130", "\u00df"]), max_size=30),
       st.lists(st.sampled_from([" ", "", "-", "\n", " - "]), min_size=30, max_size=30))
def test_word_start_matching_equals_one_alternation(words: list[str], gaps: list[str]) -> None:
    text = "".join(word + gap for word, gap in zip(words, gaps))
    assert find_terms(text) == _one_alternation(text)


def test_word_start_matching_equals_one_alternation_on_real_abstracts() -> None:
    from tests.support.processes import REPO

    texts = [line for name in ("val.source", "val.target")
             for line in (REPO / "data" / "cochrane" / name).read_text().splitlines() if line]
    assert len(texts) > 800
    for text in texts:
        assert find_terms(text) == _one_alternation(text)
