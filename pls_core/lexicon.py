"""Technical medical terms and their plain-language equivalents.

Plain Python with no imports beyond the standard library, so that any part of the service (the
/classify endpoint's technical-term count, the demo corpus generator) can use it cheaply.

Terms are grouped by the grammatical slot they fill, which the demo corpus generator needs to
build sentences; `LEXICON` is the flat mapping everyone else uses. Rules the tests enforce:

* every key is lowercase;
* no plain form is itself a key;
* no key occurs as a whole word or phrase inside another key, so each technical phrase of a
  generated sentence is one term with one plain replacement.

`find_terms` is the one matcher of terms in text: the /classify technical-term count, the demo
corpus and its tests all use it.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping

# Diseases and conditions: noun phrases used without an article ("people with ...").
CONDITIONS: dict[str, str] = {
    "myocardial infarction": "heart attack",
    "hypertension": "high blood pressure",
    "hypotension": "low blood pressure",
    "cerebrovascular accident": "stroke",
    "transient ischemic attack": "mini-stroke",
    "diabetes mellitus": "diabetes",
    "hyperlipidemia": "high cholesterol",
    "hypoglycemia": "low blood sugar",
    "hyperglycemia": "high blood sugar",
    "arrhythmia": "irregular heartbeat",
    "atrial fibrillation": "irregular heart rhythm",
    "congestive heart failure": "weak heart pumping",
    "angina pectoris": "chest pain from the heart",
    "deep vein thrombosis": "blood clot in the leg",
    "embolism": "blocked blood vessel",
    "nephrolithiasis": "kidney stones",
    "cholelithiasis": "gallstones",
    "otitis media": "middle ear infection",
    "pharyngitis": "sore throat",
    "allergic rhinitis": "hay fever",
    "gastroenteritis": "stomach bug",
    "osteoarthritis": "wear-and-tear arthritis",
    "osteoporosis": "brittle bones",
    "anemia": "low red blood cell count",
    "hypothyroidism": "underactive thyroid",
    "hyperthyroidism": "overactive thyroid",
    "hepatitis": "liver inflammation",
    "nephritis": "kidney inflammation",
    "cystitis": "bladder infection",
    "sinusitis": "sinus infection",
    "bronchitis": "chest infection",
    "cellulitis": "skin infection",
    "meningitis": "infection of the brain lining",
    "conjunctivitis": "pink eye",
    "urticaria": "hives",
    "varicella": "chickenpox",
    "pertussis": "whooping cough",
    "influenza": "flu",
    "rubella": "german measles",
    "tinea pedis": "athlete's foot",
    "onychomycosis": "nail fungus",
    "halitosis": "bad breath",
    "myopia": "short-sightedness",
    "strabismus": "crossed eyes",
    "gastroesophageal reflux": "acid reflux",
    "sepsis": "blood poisoning",
    "carcinoma": "cancer",
    "neoplasm": "growth",
    "hemorrhage": "bleeding",
    "dermatitis": "skin rash",
    "cholecystitis": "gallbladder inflammation",
    "pneumothorax": "collapsed lung",
    "hematoma": "blood bruise",
    "obesity": "excess body weight",
    "insomnia": "trouble sleeping",
}

# Symptoms and signs: noun phrases used without an article.
SYMPTOMS: dict[str, str] = {
    "dyspnea": "shortness of breath",
    "pyrexia": "fever",
    "cephalalgia": "headache",
    "emesis": "vomiting",
    "pruritus": "itching",
    "syncope": "fainting",
    "edema": "swelling",
    "erythema": "redness",
    "tachycardia": "fast heartbeat",
    "bradycardia": "slow heartbeat",
    "arthralgia": "joint pain",
    "myalgia": "muscle pain",
    "vertigo": "dizziness",
    "epistaxis": "nosebleed",
    "hematuria": "blood in the urine",
    "dysphagia": "trouble swallowing",
    "alopecia": "hair loss",
    "diaphoresis": "sweating",
    "tinnitus": "ringing in the ears",
    "hemoptysis": "coughing up blood",
    "rhinorrhea": "runny nose",
    "dysuria": "painful urination",
    "polyuria": "frequent urination",
    "anorexia": "loss of appetite",
    "malaise": "feeling unwell",
    "paresthesia": "tingling",
    "xerostomia": "dry mouth",
    "dyspepsia": "indigestion",
    "melena": "black stools",
    "hematemesis": "vomiting blood",
    "dysmenorrhea": "painful periods",
    "somnolence": "sleepiness",
    "photophobia": "sensitivity to light",
    "cyanosis": "bluish skin",
    "jaundice": "yellowing of the skin",
    "claudication": "leg pain when walking",
    "nausea": "queasiness",
    "fatigue": "tiredness",
    "xerosis": "dry skin",
    "hyperhidrosis": "heavy sweating",
    "palpitations": "pounding heartbeat",
}

# Medicines: singular nouns ("an analgesic" -> "a painkiller").
MEDICINES: dict[str, str] = {
    "analgesic": "painkiller",
    "antipyretic": "fever reducer",
    "anticoagulant": "blood thinner",
    "antihypertensive": "blood pressure medicine",
    "antiemetic": "anti-sickness medicine",
    "antihistamine": "allergy medicine",
    "anxiolytic": "anti-anxiety medicine",
    "hypnotic": "sleeping pill",
    "diuretic": "water pill",
    "corticosteroid": "steroid",
    "bronchodilator": "airway-opening inhaler",
    "antitussive": "cough medicine",
    "statin": "cholesterol-lowering medicine",
    "antifungal": "fungus-fighting medicine",
    "antiviral": "virus-fighting medicine",
    "anticonvulsant": "seizure medicine",
    "immunosuppressant": "immune-dampening medicine",
    "placebo": "dummy pill",
    "antispasmodic": "cramp medicine",
    "sedative": "calming medicine",
    "emollient": "moisturiser",
    "opioid": "strong painkiller",
    "antimicrobial": "germ-killing medicine",
    "laxative": "bowel-loosening medicine",
    "antacid": "stomach-settling medicine",
}

# Tests and procedures: singular nouns ("an electrocardiogram" -> "a heart tracing").
PROCEDURES: dict[str, str] = {
    "electrocardiogram": "heart tracing",
    "echocardiogram": "heart ultrasound",
    "biopsy": "tissue sample",
    "venipuncture": "blood draw",
    "colonoscopy": "bowel camera test",
    "endoscopy": "camera test",
    "appendectomy": "appendix removal",
    "cholecystectomy": "gallbladder removal",
    "tonsillectomy": "tonsil removal",
    "hysterectomy": "womb removal",
    "mastectomy": "breast removal",
    "nephrectomy": "kidney removal",
    "angioplasty": "artery widening",
    "intubation": "breathing tube placement",
    "catheterization": "tube insertion",
    "hemodialysis": "blood cleaning by machine",
    "radiograph": "x-ray",
    "auscultation": "listening with a stethoscope",
    "spirometry": "breathing test",
    "mammography": "breast x-ray",
    "arthroplasty": "joint replacement",
    "laparoscopy": "keyhole surgery",
    "laparotomy": "open abdominal surgery",
    "general anesthesia": "being put to sleep for surgery",
    "suture": "stitch",
    "tomography": "body scan",
    "lumbar puncture": "spinal tap",
    "immunization": "vaccination",
}

# Body parts: nouns used with "the" ("the sternum" -> "the breastbone").
BODY_PARTS: dict[str, str] = {
    "cranium": "skull",
    "sternum": "breastbone",
    "clavicle": "collarbone",
    "scapula": "shoulder blade",
    "patella": "kneecap",
    "femur": "thigh bone",
    "tibia": "shin bone",
    "vertebral column": "spine",
    "abdomen": "belly",
    "thorax": "chest",
    "larynx": "voice box",
    "pharynx": "throat",
    "trachea": "windpipe",
    "esophagus": "food pipe",
    "myocardium": "heart muscle",
    "axilla": "armpit",
    "umbilicus": "belly button",
    "mandible": "jawbone",
    "coccyx": "tailbone",
    "humerus": "upper arm bone",
    "tympanic membrane": "eardrum",
    "gingiva": "gums",
    "epidermis": "outer layer of skin",
    "cerebrum": "brain",
    "oral cavity": "mouth",
}

# Organ adjectives that qualify a following noun ("renal function" -> "kidney function").
ORGANS: dict[str, str] = {
    "renal": "kidney",
    "hepatic": "liver",
    "cardiac": "heart",
    "pulmonary": "lung",
    "gastric": "stomach",
    "cerebral": "brain",
    "cutaneous": "skin",
    "ocular": "eye",
    "dermal": "skin-layer",
    "vascular": "blood vessel",
    "intestinal": "gut",
    "ophthalmic": "eye-care",
}

# Adjectives that describe a condition ("a chronic illness" -> "a long-term illness").
DESCRIPTORS: dict[str, str] = {
    "acute": "sudden",
    "chronic": "long-term",
    "benign": "harmless",
    "malignant": "cancerous",
    "bilateral": "two-sided",
    "idiopathic": "unexplained",
    "asymptomatic": "symptom-free",
    "congenital": "inborn",
    "nosocomial": "hospital-acquired",
    "iatrogenic": "treatment-caused",
    "refractory": "hard-to-treat",
    "recurrent": "repeated",
    "systemic": "whole-body",
    "hereditary": "inherited",
    "contagious": "catching",
}

# How a medicine is given: adverbs placed after the verb.
ROUTES: dict[str, str] = {
    "intravenously": "through a drip",
    "orally": "by mouth",
    "subcutaneously": "under the skin",
    "intramuscularly": "into a muscle",
    "topically": "on the skin",
    "sublingually": "under the tongue",
    "rectally": "into the bottom",
    "intranasally": "into the nose",
}

# Study and clinical vocabulary used as nouns.
CLINICAL_NOUNS: dict[str, str] = {
    "adverse event": "side effect",
    "efficacy": "effectiveness",
    "morbidity": "illness",
    "mortality": "death rate",
    "prognosis": "outlook",
    "etiology": "cause",
    "comorbidity": "other illness",
    "contraindication": "reason not to use",
    "incidence": "rate of new cases",
    "prevalence": "frequency",
    "pathogen": "germ",
    "metastasis": "spread of cancer",
    "prophylaxis": "prevention",
    "contusion": "bruise",
    "laceration": "cut",
    "fracture": "broken bone",
    "remission": "period without symptoms",
    "exacerbation": "flare-up",
    "lesion": "sore",
    "neonate": "newborn baby",
}

# Formal words and phrases a plain-language summary replaces.
FORMAL_WORDS: dict[str, str] = {
    "administered": "given",
    "commenced": "started",
    "discontinued": "stopped",
    "utilised": "used",
    "ameliorated": "eased",
    "exacerbated": "worsened",
    "prior to": "before",
    "subsequently": "later",
    "approximately": "about",
    "sufficient": "enough",
    "demonstrated": "showed",
    "physician": "doctor",
}

LEXICON_BY_CATEGORY: dict[str, dict[str, str]] = {
    "condition": CONDITIONS,
    "symptom": SYMPTOMS,
    "medicine": MEDICINES,
    "procedure": PROCEDURES,
    "body": BODY_PARTS,
    "organ": ORGANS,
    "descriptor": DESCRIPTORS,
    "route": ROUTES,
    "clinical": CLINICAL_NOUNS,
    "formal": FORMAL_WORDS,
}

LEXICON: dict[str, str] = {
    term: plain for group in LEXICON_BY_CATEGORY.values() for term, plain in group.items()
}



def find_terms(text: str, lexicon: Mapping[str, str] | None = None) -> list[str]:
    """The lexicon's terms in `text`, one entry per occurrence, in order, each given as its key
    in `lexicon` (default :data:`LEXICON`). The one matching rule of the project:

    * case-insensitive, on whole words: no letter, digit or underscore directly before or
      after a match ("infarction," and "(infarction)" match; "infarctions" and
      "preinfarction" do not: no stemming);
    * a hyphen separates words: a term inside a hyphenated compound counts
      ("infarction-related"), and inside a term any run of spaces, line breaks and hyphens
      stands for any other ("myocardial-infarction" and "myocardial\n infarction" are the
      key "myocardial infarction"; "beta blocker" is the key "beta-blocker");
    * matches never overlap: left to right, the longest term starting at a position wins,
      so "myocardial infarction" is found once, not also as "infarction";
    * curly apostrophes count as straight ones.
    """
    if not text:
        return []
    matcher = _DEFAULT_MATCHER if lexicon is None else _matcher(tuple(lexicon))
    return matcher.find(text)


class _TermMatcher:
    """Terms tried only where a word starts whose text begins one of them.

    One regular expression of all terms, tried at every character, cost about 14 us a character
    (0.28 s for a 20,000-character text, holding the interpreter): instead the terms are grouped
    by their first word, and at each word start of the text only the group of that word is tried,
    longest term first, as the single alternation would try them."""

    def __init__(self, keys: tuple[str, ...]) -> None:
        by_form: dict[str, str] = {}  # matching form -> the first key with that form
        for key in keys:
            by_form.setdefault(_canonical(key), key)
        by_form.pop("", None)
        self.by_first_word: dict[str, list[tuple[re.Pattern, str]]] = {}
        for form in sorted(by_form, key=lambda form: (-len(form), form)):
            first = re.match(r"\w+", form)
            if first is None:
                raise ValueError(f"lexicon term {by_form[form]!r} does not start with a letter or digit")
            pattern = re.compile(r"(?:" + _SEPARATOR.join(re.escape(part) for part in form.split(" ")) + r")(?!\w)",
                                 re.IGNORECASE)
            self.by_first_word.setdefault(first.group().casefold(), []).append((pattern, by_form[form]))

    def find(self, text: str) -> list[str]:
        text = _straight(text)
        found: list[str] = []
        end = 0
        for word in _WORD.finditer(text):
            start = word.start()
            if start < end:
                continue  # inside the term found last: matches never overlap
            # casefold, as the patterns' IGNORECASE: the long s and the Kelvin sign find "s" and "k".
            for pattern, key in self.by_first_word.get(word.group().casefold(), ()):
                match = pattern.match(text, start)
                if match:
                    found.append(key)
                    end = match.end()
                    break
        return found


_WORD = re.compile(r"\w+")


# Inside a term, a space stands for any run of whitespace and hyphens.
_SEPARATOR = r"[\s\-]+"


def _straight(text: str) -> str:
    # Same length as `text`: curly apostrophes become straight ones.
    return text.replace("\u2019", "'").replace("\u2018", "'")


def _canonical(term: str) -> str:
    """A term as matching sees it: lowercase, straight apostrophes, single spaces for every
    run of whitespace and hyphens, none at the ends."""
    return " ".join(part for part in re.split(_SEPARATOR, _straight(term).lower()) if part)


@functools.lru_cache(maxsize=32)
def _matcher(keys: tuple[str, ...]) -> _TermMatcher:
    return _TermMatcher(keys)


_DEFAULT_MATCHER = _TermMatcher(tuple(LEXICON))
