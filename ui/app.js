// The page's behaviour: plain JavaScript, no build step, nothing loaded from the internet.
// It calls the service's own API: POST /classify (is the text plain? figures before),
// POST /generate-with-metrics (the summary, figures after) and GET /lexicon (terms to highlight),
// with an API key it asks for when the service answers 401.
"use strict";

const $ = (id) => document.getElementById(id);

// --- where the API is -----------------------------------------------------------------------
// Relative to the page by default (/ui -> /classify); a page hosted elsewhere names the service
// in <meta name="pls-api-base">.
function apiUrl(path) {
  const base = document.querySelector('meta[name="pls-api-base"]').content.trim();
  if (!base) return new URL(path, document.baseURI).href;
  return new URL(path, base.endsWith("/") ? base : base + "/").href;
}

// --- API errors in plain words --------------------------------------------------------------
class ApiError extends Error {}

function retryAfterSeconds(response) {
  const header = response.headers.get("Retry-After");
  if (!header) return null;
  if (/^\d+$/.test(header.trim())) return Number(header.trim());
  const when = Date.parse(header);  // the other form is an HTTP date
  return Number.isNaN(when) ? null : Math.max(1, Math.round((when - Date.now()) / 1000));
}

function fieldName(loc) {
  const field = (loc || []).filter((part) => typeof part === "string").pop() || "";
  if (field === "reference_pls") return "The reference summary";
  if (field === "text" || field === "technical_text") return "The text";
  return field ? `The setting "${field}"` : "The request";
}

function validationMessage(detail) {
  if (!Array.isArray(detail) || detail.length === 0) return "The service refused the request.";
  return detail.map((error) => {
    const who = fieldName(error.loc);
    const msg = String(error.msg || "");
    const atLeast = msg.match(/at least (\d+)/);
    const atMost = msg.match(/at most (\d+)/);
    if (atLeast) return `${who} is too short: it needs at least ${atLeast[1]} characters (not counting spaces at the ends).`;
    if (atMost) return `${who} is too long: the service takes at most ${atMost[1]} characters.`;
    return `${who} was refused: ${msg}.`;
  }).join(" ");
}

async function errorMessage(response) {
  const status = response.status;
  let body = null;
  try { body = await response.json(); } catch (_) { /* not JSON */ }
  if (status === 400 || status === 422) return validationMessage(body && body.detail);
  if (status === 503 || status === 429 || status === 504) {
    const wait = retryAfterSeconds(response);
    const again = wait ? `Please try again in ${wait} s.` : "Please try again in a moment.";
    return status === 504
      ? `The service took too long to answer (the text may be too long for it right now). ${again}`
      : `The service is busy. ${again}`;
  }
  return `Something went wrong in the service (error ${status}). Please try again; if it keeps happening, tell the people who run it.`;
}

// --- API keys --------------------------------------------------------------------------------
// A service with keys on answers 401 to its API (the page, /lexicon and the docs stay open). The
// page then asks for a key and keeps it in sessionStorage: this tab only, gone when it closes.
// Never a cookie (the browser would send it on every request) nor localStorage (kept for good).
const KEY_STORAGE = "pls-api-key";
let apiKey = "";

function readStoredKey() {
  try { return sessionStorage.getItem(KEY_STORAGE) || ""; } catch (_) { return ""; }
}

function keepKey(key) {
  apiKey = key;
  try {
    if (key) sessionStorage.setItem(KEY_STORAGE, key);
    else sessionStorage.removeItem(KEY_STORAGE);
  } catch (_) { /* storage blocked: the key lasts as long as this page does */ }
  $("forget-key").hidden = !key;
}

function forgetKey() {
  keepKey("");
  $("status-text").textContent = "The API key is forgotten. The page asks for it again when the service needs it.";
  $("submit").focus();
}

// Show the key prompt; resolve with the key entered, or reject when the person cancels.
function askForKey(refused) {
  const dialog = $("key-dialog");
  const form = $("key-form");
  const field = $("api-key");
  $("key-message").textContent = refused
    ? "The service did not accept this key. Check it and enter it again."
    : "The service needs an API key to answer.";
  $("key-error").hidden = true;
  field.value = "";
  return new Promise((resolve, reject) => {
    const finish = (key) => {
      form.removeEventListener("submit", submitted);
      $("key-cancel").removeEventListener("click", cancelled);
      dialog.removeEventListener("cancel", cancelled);
      field.value = "";  // the key stays in storage and in the requests, not in the page
      dialog.close();
      if (key) resolve(key);
      else reject(new ApiError("The service needs an API key, and none was entered. Press Simplify to enter one."));
    };
    const submitted = (event) => {
      event.preventDefault();
      const key = field.value.trim();
      if (!key) {
        $("key-error").textContent = "Enter the key first.";
        $("key-error").hidden = false;
        field.focus();
        return;
      }
      finish(key);
    };
    const cancelled = (event) => { event.preventDefault(); finish(""); };
    form.addEventListener("submit", submitted);
    $("key-cancel").addEventListener("click", cancelled);
    dialog.addEventListener("cancel", cancelled);  // Escape
    dialog.showModal();
    field.focus();
  });
}

async function send(path, body, key) {
  const headers = { "Content-Type": "application/json" };
  if (key) headers.Authorization = `Bearer ${key}`;
  try {
    return await fetch(apiUrl(path), { method: "POST", headers, body: JSON.stringify(body) });
  } catch (_) {
    throw new ApiError("The service cannot be reached. Check the connection; a page hosted on another site "
      + "also needs that site listed in the service's PLS_CORS_ORIGINS.");
  }
}

// POST JSON to the API with the key, if there is one; on a 401 ask for a key (again) and retry.
async function postJson(path, body) {
  for (;;) {
    const sentKey = apiKey;
    const response = await send(path, body, sentKey);
    if (response.status === 401) {
      if (sentKey) keepKey("");  // refused: a wrong or withdrawn key is not kept
      const status = $("status-text").textContent;
      $("status-text").textContent = "Waiting for an API key…";
      try {
        keepKey(await askForKey(Boolean(sentKey)));
      } finally {
        $("status-text").textContent = status;
      }
      continue;
    }
    if (!response.ok) throw new ApiError(await errorMessage(response));
    return response.json();
  }
}

// --- medical terms ---------------------------------------------------------------------------
// term -> plain words, each term as phraseKey writes it: every lookup below goes by phraseKey.
let lexicon = {};

async function loadLexicon() {
  try {
    const response = await fetch(apiUrl("lexicon"));
    if (response.ok) lexicon = byPhraseKey(await response.json());
  } catch (_) { /* the page still works, without highlighting */ }
}

function escapeRegExp(text) {
  return text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}

// One regular expression for a set of phrases: longest first, whole words, any case. The rule of
// the server's matcher (pls_core/lexicon.find_terms): inside a phrase, spaces, line breaks and
// hyphens stand for one another ("myocardial-infarction" is "myocardial infarction").
function phrasePattern(phrases) {
  const sorted = [...phrases].sort((a, b) => b.length - a.length)
    .map((phrase) => escapeRegExp(phrase).replace(/[\s-]+/g, "[\\s-]+"));
  return sorted.length ? new RegExp(`\\b(${sorted.join("|")})\\b`, "gi") : null;
}

// The key of a phrase, matched or listed: lower case, one space between its words. Every map a
// match is looked up in is keyed by it ("mini-stroke" is looked up as "mini stroke").
function phraseKey(matched) {
  return matched.toLowerCase().replace(/[\s-]+/g, " ");
}

function byPhraseKey(map) {
  return Object.fromEntries(Object.entries(map).map(([phrase, value]) => [phraseKey(phrase), value]));
}

function termsIn(text) {
  const pattern = phrasePattern(Object.keys(lexicon));
  if (!pattern) return [];
  const found = new Set();
  for (const match of text.matchAll(pattern)) found.add(phraseKey(match[1]));
  return [...found];
}

// Fill `element` with `text`, wrapping each phrase of `classes` (phrase -> CSS class; `classes` and
// `titles` are keyed by phraseKey) in a <mark>. Built from text nodes, never from HTML, so pasted
// text cannot inject markup.
function renderHighlighted(element, text, classes, titles) {
  element.replaceChildren();
  const pattern = phrasePattern(Object.keys(classes));
  let last = 0;
  if (pattern) {
    for (const match of text.matchAll(pattern)) {
      const key = phraseKey(match[1]);
      element.append(text.slice(last, match.index));
      const mark = document.createElement("mark");
      mark.className = classes[key];
      mark.textContent = match[1];
      if (titles[key]) mark.title = titles[key];
      element.append(mark);
      last = match.index + match[1].length;
    }
  }
  element.append(text.slice(last));
}

function showTerms(original, summary) {
  const terms = termsIn(original);
  const inOriginal = {}, originalTitles = {}, inSummary = {}, summaryTitles = {};
  for (const term of terms) {  // terms and the maps' keys are phraseKeys: "mini-stroke" is "mini stroke"
    const plain = phraseKey(lexicon[term]);
    inOriginal[term] = "term";
    originalTitles[term] = `plain words: ${lexicon[term]}`;
    inSummary[plain] = "plain";
    summaryTitles[plain] = `replaces: ${term}`;
    inSummary[term] = "term";  // a term the summary kept
    summaryTitles[term] = `medical term; plain words: ${lexicon[term]}`;
  }
  renderHighlighted($("original"), original, inOriginal, originalTitles);
  renderHighlighted($("summary"), summary, inSummary, summaryTitles);

  const rows = $("terms").tBodies[0];
  rows.replaceChildren();
  const lowerSummary = summary.toLowerCase();
  const contains = (phrase) => phrasePattern([phrase]).test(lowerSummary);
  for (const term of terms) {
    const plain = lexicon[term];
    const verdict = contains(plain) ? "replaced by the plain words"
      : contains(term) ? "kept as it was" : "left out";
    const row = rows.insertRow();
    row.insertCell().append(markOf("term", term));
    row.insertCell().append(markOf("plain", plain));
    row.insertCell().textContent = verdict;
  }
  $("terms").hidden = terms.length === 0;
  $("no-terms").hidden = terms.length > 0;
}

function markOf(className, text) {
  const mark = document.createElement("mark");
  mark.className = className;
  mark.textContent = text;
  return mark;
}

// --- the chart (inline SVG) ----------------------------------------------------------------
const SVG = "http://www.w3.org/2000/svg";

function svgElement(name, attributes, text) {
  const element = document.createElementNS(SVG, name);
  for (const [key, value] of Object.entries(attributes)) element.setAttribute(key, value);
  if (text !== undefined) element.textContent = text;
  return element;
}

const format = (value, digits = 1) => (value === null || value === undefined ? "–" : Number(value).toFixed(digits));

// One small SVG panel per figure, each with its own scale: a bar before and a bar after.
const PANEL = { width: 200, height: 180, top: 50, bottom: 28, bar: 56 };

function panel(title, note) {
  const svg = svgElement("svg", { viewBox: `0 0 ${PANEL.width} ${PANEL.height}`, "aria-hidden": "true" });
  svg.append(svgElement("text", { x: PANEL.width / 2, y: 14, class: "chart-title", "text-anchor": "middle" }, title));
  svg.append(svgElement("text", { x: PANEL.width / 2, y: 28, class: "chart-note", "text-anchor": "middle" }, note));
  return svg;
}

function figurePanel(figure) {
  const svg = panel(figure.label, figure.note);
  const max = Math.max(figure.scaleMax, figure.before || 0, figure.after || 0) || 1;
  const plotHeight = PANEL.height - PANEL.top - PANEL.bottom;
  [["before", figure.before, 38], ["after", figure.after, 106]].forEach(([when, value, x]) => {
    const barHeight = (Math.max(0, value ?? 0) / max) * plotHeight;
    const y = PANEL.top + plotHeight - barHeight;
    svg.append(svgElement("rect", { x, y, width: PANEL.bar, height: barHeight, class: `bar bar-${when}`,
      "data-metric": figure.key, "data-when": when, "data-value": value ?? "" }));
    svg.append(svgElement("text", { x: x + PANEL.bar / 2, y: y - 4, class: "chart-value", "text-anchor": "middle" },
      format(value, figure.digits)));
    svg.append(svgElement("text", { x: x + PANEL.bar / 2, y: PANEL.height - 10, class: "chart-axis", "text-anchor": "middle" }, when));
  });
  svg.append(svgElement("line", { x1: 30, x2: PANEL.width - 30, y1: PANEL.top + plotHeight, y2: PANEL.top + plotHeight,
    class: "chart-baseline" }));
  return svg;
}

// Agreement with the reference summary, 0-100 %: one horizontal bar per score.
function scoresPanel(scores) {
  const svg = panel("Match with reference", "higher = closer, 0–100");
  const rowHeight = (PANEL.height - PANEL.top - 8) / scores.length;
  scores.forEach((score, index) => {
    const y = PANEL.top + index * rowHeight;
    const length = Math.max(0, Math.min(1, score.value ?? 0)) * (PANEL.width - 110);
    svg.append(svgElement("text", { x: 58, y: y + rowHeight / 2 + 4, class: "chart-axis", "text-anchor": "end" }, score.label));
    svg.append(svgElement("rect", { x: 64, y: y + 3, width: length, height: rowHeight - 6, class: "bar bar-after",
      "data-metric": score.key, "data-when": "after", "data-value": score.value ?? "" }));
    svg.append(svgElement("text", { x: 68 + length, y: y + rowHeight / 2 + 4, class: "chart-value" },
      `${Math.round((score.value ?? 0) * 100)}`));
  });
  return svg;
}

function drawChart(figures, scores) {
  const panels = figures.map(figurePanel);
  if (scores.length) panels.push(scoresPanel(scores));
  $("chart").replaceChildren(...panels);
}

function showFigures(classified, metrics) {
  const figures = [
    { key: "reading-ease", label: "Reading ease", note: "higher = easier", scaleMax: 100, digits: 0,
      before: classified.flesch_reading_ease, after: metrics.flesch_reading_ease },
    { key: "grade-level", label: "Grade level", note: "school years, lower = easier", scaleMax: 12, digits: 1,
      before: classified.flesch_kincaid_grade, after: metrics.flesch_kincaid_grade },
    { key: "words", label: "Words", note: "length", scaleMax: 10, digits: 0,
      before: metrics.original_word_length, after: metrics.word_length },
  ];
  const scores = [["rouge1", "ROUGE-1"], ["rouge2", "ROUGE-2"], ["rougeL", "ROUGE-L"], ["bleu", "BLEU"], ["sari", "SARI"]]
    .filter(([key]) => metrics[key] !== null && metrics[key] !== undefined)
    .map(([key, label]) => ({ key, label, value: metrics[key] }));
  drawChart(figures, scores);

  const rows = $("figures").tBodies[0];
  rows.replaceChildren();
  for (const figure of figures) {
    const row = rows.insertRow();
    row.insertCell().textContent = `${figure.label} (${figure.note})`;
    row.insertCell().textContent = format(figure.before, figure.digits);
    row.insertCell().textContent = format(figure.after, figure.digits);
  }
  for (const score of scores) {
    const row = rows.insertRow();
    row.insertCell().textContent = `${score.label} against the reference (0–1)`;
    row.insertCell().textContent = "";
    row.insertCell().textContent = format(score.value, 3);
  }
  $("chart-sentence").textContent = readingSentence(figures);
}

function readingSentence([ease, grade, words]) {
  if (ease.before === null || ease.after === null) return "The reading figures need text with words on both sides.";
  const change = ease.after - ease.before;
  const direction = change > 0.5 ? "easier" : change < -0.5 ? "harder" : "about as easy";
  return `The summary reads ${direction}: reading ease ${format(ease.before, 0)} → ${format(ease.after, 0)}, `
    + `grade level ${format(grade.before)} → ${format(grade.after)}, ${format(words.before, 0)} → ${format(words.after, 0)} words.`;
}

// --- the classification ---------------------------------------------------------------------
function showClassification(classified) {
  $("verdict").textContent = classified.is_pls ? "Plain language" : "Technical";
  $("verdict").className = `verdict ${classified.is_pls ? "verdict-plain" : "verdict-technical"}`;
  $("confidence").textContent = `(${Math.round(classified.confidence * 100)} % likely to be plain language)`;
  $("reasoning").textContent = classified.reasoning;
}

// Fields another version of the service may add to the summary: show them when present.
function showSummaryConfidence(generated) {
  const note = $("summary-confidence");
  const parts = [];
  if (typeof generated.confidence === "number") parts.push(`Model confidence in this summary: ${Math.round(generated.confidence * 100)} %.`);
  if (generated.low_confidence === true) parts.push("The model is unsure about this summary: check it against the original before using it.");
  note.textContent = parts.join(" ");
  note.hidden = parts.length === 0;
  note.classList.toggle("warning", generated.low_confidence === true);
}

// --- progress --------------------------------------------------------------------------------
// The API answers once the whole text is done, so the page shows time spent, not a percentage.
let timer = null;

function startProgress() {
  const started = performance.now();
  $("submit").disabled = true;
  $("spinner").hidden = false;
  $("results").hidden = true;
  // Announced once; the seconds beside it change too often to be read out.
  $("status-text").textContent = "Working… long texts take several seconds.";
  const tick = () => { $("elapsed").textContent = `${((performance.now() - started) / 1000).toFixed(1)} s`; };
  tick();
  timer = setInterval(tick, 200);
  return started;
}

function stopProgress(message) {
  clearInterval(timer);
  $("submit").disabled = false;
  $("spinner").hidden = true;
  $("elapsed").textContent = "";
  $("status-text").textContent = message;
}

function showError(message) {
  $("error").textContent = message;
  $("error").hidden = false;
  $("error").focus();
}

// --- the form --------------------------------------------------------------------------------
async function simplify(event) {
  event.preventDefault();
  const text = $("text").value;
  const reference = $("reference").value.trim();
  $("error").hidden = true;
  $("copy-status").textContent = "";
  const started = startProgress();
  try {
    const classified = await postJson("classify", { text });
    showClassification(classified);
    $("summary-card").hidden = true;
    $("results").hidden = false;
    const body = { technical_text: text, num_beams: Number($("beams").value), max_length: Number($("length").value) };
    if (reference) body.reference_pls = reference;
    const generated = await postJson("generate-with-metrics", body);
    $("summary").dataset.text = generated.generated_pls;
    showTerms(text, generated.generated_pls);
    showFigures(classified, generated.metrics);
    showSummaryConfidence(generated);
    $("timing").textContent = `The model worked ${format(generated.generation_time, 2)} s on ${generated.num_chunks} `
      + `piece${generated.num_chunks === 1 ? "" : "s"} of text.`;
    $("summary-card").hidden = false;
    const seconds = ((performance.now() - started) / 1000).toFixed(1);
    stopProgress(`Done in ${seconds} s.`);
    $("results-heading").focus();
  } catch (error) {
    stopProgress("");
    showError(error instanceof ApiError ? error.message : `The page failed: ${error.message}`);
  }
}

async function copySummary() {
  const text = $("summary").dataset.text || "";
  try {
    await navigator.clipboard.writeText(text);
  } catch (_) {
    // Clipboard API needs HTTPS or localhost: fall back to selecting the text and copying it.
    const scratch = document.createElement("textarea");
    scratch.value = text;
    scratch.setAttribute("readonly", "");
    scratch.className = "offscreen";
    document.body.append(scratch);
    scratch.select();
    const copied = document.execCommand("copy");
    scratch.remove();
    if (!copied) {
      $("copy-status").textContent = "Copying is blocked here: select the summary and copy it by hand.";
      return;
    }
  }
  $("copy-status").textContent = "Copied.";
}

async function loadExamples() {
  let examples = [];
  try {
    const response = await fetch(new URL("ui/examples.json", document.baseURI));
    examples = (await response.json()).examples;
  } catch (_) {
    return;
  }
  const select = $("example");
  examples.forEach((example, index) => select.append(new Option(example.title, String(index))));
  select.addEventListener("change", () => {
    const example = examples[Number(select.value)];
    const source = $("example-source");
    if (!select.value || !example) { source.hidden = true; return; }
    $("text").value = example.text;
    $("reference").value = example.reference || "";
    $("reference-box").open = Boolean(example.reference);
    source.textContent = example.source || "";
    source.hidden = !example.source;
    updateCount();
  });
}

function updateCount() {
  $("text-count").textContent = String($("text").value.length);
}

document.addEventListener("DOMContentLoaded", () => {
  keepKey(readStoredKey());
  $("form").addEventListener("submit", simplify);
  $("forget-key").addEventListener("click", forgetKey);
  $("copy").addEventListener("click", copySummary);
  $("text").addEventListener("input", updateCount);
  loadExamples();
  loadLexicon();
});
