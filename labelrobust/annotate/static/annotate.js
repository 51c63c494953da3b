// The annotation page: shows the current image, keeps one 0..max rating per class, talks to the
// JSON API (/api/task, /api/answer, /api/skip, /api/back) with the session's CSRF token.
// Keys: digits rate the selected class and move down; ↑/↓ select; ←/→ lower/raise; Enter submits;
// S skips; B or Backspace goes back.
"use strict";

const meta = (name) => document.querySelector(`meta[name="${name}"]`).content;
const CSRF = meta("csrf-token");
const MIN_NONZERO = Number(meta("min-nonzero"));
const MAX_RATING = Number(meta("max-rating"));
const K = Number(meta("num-classes"));

const state = { task: null, selected: 0, warned: false, shownAt: 0, submissionId: "", busy: false };
const rows = Array.from(document.querySelectorAll("tr.scale"));
const $ = (id) => document.getElementById(id);

function newSubmissionId() {
  const bytes = new Uint8Array(16);
  crypto.getRandomValues(bytes);
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

function ratings() {
  return rows.map((row) => Number(row.querySelector("input:checked").value));
}

function setRating(k, value) {
  const v = Math.max(0, Math.min(MAX_RATING, value));
  rows[k].querySelector(`input[value="${v}"]`).checked = true;
  state.warned = false;
}

function select(k) {
  state.selected = (k + K) % K;
  rows.forEach((row, i) => row.classList.toggle("selected", i === state.selected));
}

function say(text, kind) {
  const box = $("message");
  box.textContent = text;
  box.className = "message " + (kind || "");
}

function showProgress(p) {
  $("progress").textContent =
    `you: ${p.answered} answered` + (p.skipped ? `, ${p.skipped} skipped` : "") +
    ` · campaign: ${p.campaign_answers.toLocaleString("en")} / ${p.campaign_target.toLocaleString("en")}`;
}

function show(payload) {
  showProgress(payload.progress);
  state.task = payload.task;
  if (!payload.task) {
    $("work").hidden = true;
    $("done").hidden = false;
    return;
  }
  $("done").hidden = true;
  $("work").hidden = false;
  const t = payload.task;
  $("picture").src = t.image;
  $("caption").textContent = t.ratings ? "Your earlier answer: change it and submit to revise."
    : (t.skipped ? "You skipped this image; you may rate it now." : `Image ${t.position + 1}`);
  rows.forEach((_, k) => setRating(k, t.ratings ? t.ratings[k] : 0));
  select(0);
  state.warned = false;
  state.shownAt = performance.now();
  state.submissionId = newSubmissionId();  // one id per shown image: a resent request is recognised
  say("");
}

async function call(method, url, body) {
  const options = { method, headers: { "X-CSRF-Token": CSRF }, credentials: "same-origin" };
  if (body !== undefined) {
    options.headers["Content-Type"] = "application/json";
    options.body = JSON.stringify(body);
  }
  const response = await fetch(url, options);
  const data = await response.json().catch(() => ({ error: `the server answered ${response.status}` }));
  if (response.status === 401) {
    window.location.assign("/");
  }
  if (!response.ok) {
    throw new Error(data.error || `the server answered ${response.status}`);
  }
  return data;
}

async function act(work) {
  if (state.busy) return;  // one request at a time: a double Enter does not send twice
  state.busy = true;
  document.querySelectorAll(".buttons button").forEach((b) => (b.disabled = true));
  try {
    await work();
  } catch (err) {
    say(err.message, "error");
  } finally {
    state.busy = false;
    document.querySelectorAll(".buttons button").forEach((b) => (b.disabled = false));
  }
}

function submit() {
  if (!state.task) return;
  const values = ratings();
  const nonzero = values.filter((v) => v > 0).length;
  if (nonzero < MIN_NONZERO && !state.warned) {
    state.warned = true;
    say(`Only ${nonzero} class${nonzero === 1 ? " is" : "es are"} above 0; we ask for at least ${MIN_NONZERO} where you can. ` +
        "Press Enter (or Submit) again to send it as it is.", "warning");
    return;
  }
  act(async () => {
    const body = { image_id: state.task.image_id, ratings: values, submission_id: state.submissionId,
                   duration_ms: Math.round(performance.now() - state.shownAt) };
    show(await call("POST", "/api/answer", body));
  });
}

function skip() {
  if (!state.task) return;
  act(async () => show(await call("POST", "/api/skip", { image_id: state.task.image_id, submission_id: state.submissionId })));
}

function back() {
  const before = state.task ? `?before=${state.task.image_id}` : "";
  act(async () => show(await call("GET", "/api/back" + before)));
}

document.addEventListener("keydown", (event) => {
  if (event.altKey || event.ctrlKey || event.metaKey || $("work").hidden) return;
  const key = event.key;
  if (/^[0-9]$/.test(key) && Number(key) <= MAX_RATING) {
    setRating(state.selected, Number(key));
    select(Math.min(state.selected + 1, K - 1));
  } else if (key === "ArrowDown") select(state.selected + 1);
  else if (key === "ArrowUp") select(state.selected - 1);
  else if (key === "ArrowLeft") setRating(state.selected, ratings()[state.selected] - 1);
  else if (key === "ArrowRight") setRating(state.selected, ratings()[state.selected] + 1);
  else if (key === "Enter") submit();
  else if (key === "s" || key === "S") skip();
  else if (key === "b" || key === "B" || key === "Backspace") back();
  else return;
  event.preventDefault();
});

rows.forEach((row, k) => row.addEventListener("click", () => select(k)));
rows.forEach((row) => row.querySelectorAll("input").forEach((input) => input.addEventListener("change", () => (state.warned = false))));
$("scales").addEventListener("submit", (event) => { event.preventDefault(); submit(); });
$("skip").addEventListener("click", skip);
$("back").addEventListener("click", back);

act(async () => show(await call("GET", "/api/task")));
