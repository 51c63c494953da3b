// The annotation page: shows the current image, keeps one 0..max rating per class, talks to the
// JSON API (/api/task, /api/answer, /api/skip, /api/back) with the session's CSRF token.
// Keys: digits rate the selected class and move down; ↑/↓ select; ←/→ lower/raise; Enter submits;
// S skips (or, on an earlier image reached with Back, returns to the current one unchanged);
// B or Backspace goes back.
"use strict";

const meta = (name) => document.querySelector(`meta[name="${name}"]`).content;
const CSRF = meta("csrf-token");
const MIN_NONZERO = Number(meta("min-nonzero"));
const MAX_RATING = Number(meta("max-rating"));
const K = Number(meta("num-classes"));
const DISPLAY_SIZE = Number(meta("display-size"));
const MAX_DURATION_MS = 24 * 3600 * 1000;  // the store refuses longer durations

// reviewing: the image shown was reached with Back (submitting revises it)
const state = { task: null, reviewing: false, selected: 0, warned: false, shownAt: 0, submissionId: "", busy: false };
const rows = Array.from(document.querySelectorAll("tr.scale"));
const $ = (id) => document.getElementById(id);

function newSubmissionId() {
  // crypto.getRandomValues works over plain HTTP on a lab network too (randomUUID needs HTTPS)
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

// Keeps keyboard focus on the selected class's checked button, so a screen reader announces
// "class: rating" as it changes; only while focus is in the scales (or nowhere in particular).
function focusSelected() {
  const active = document.activeElement;
  if (active && active !== document.body && !$("scales").contains(active)) return;
  rows[state.selected].querySelector("input:checked").focus({ preventScroll: true });
}

function select(k) {
  state.selected = (k + K) % K;
  rows.forEach((row, i) => row.classList.toggle("selected", i === state.selected));
}

function say(text, kind) {
  const box = state.task ? $("message") : $("done-message");
  box.textContent = text;
  box.className = "message " + (kind || "");
}

function showProgress(p) {
  $("progress").textContent =
    `you: ${p.answered.toLocaleString("en")} answered` + (p.skipped ? `, ${p.skipped.toLocaleString("en")} skipped` : "") +
    ` · campaign: ${p.campaign_answers.toLocaleString("en")} / ${p.campaign_target.toLocaleString("en")}`;
}

function show(payload, reviewing) {
  showProgress(payload.progress);
  state.task = payload.task;
  state.reviewing = Boolean(reviewing && payload.task);
  $("message").textContent = "";
  $("done-message").textContent = "";
  if (!payload.task) {
    $("work").hidden = true;
    $("done").hidden = false;
    $("done-back").focus();
    return;
  }
  $("done").hidden = true;
  $("work").hidden = false;
  const t = payload.task;
  $("picture").src = t.image;
  $("picture").alt = `image ${t.position + 1} of the campaign`;
  $("caption").textContent = state.reviewing
    ? (t.ratings ? "Your earlier answer: change it and press Enter to revise, or S to return unchanged."
      : "You skipped this image: rate it and press Enter, or S to return unchanged.")
    : `Image ${t.position + 1}`;
  $("skip").textContent = state.reviewing ? "Return" : "Skip";
  rows.forEach((_, k) => setRating(k, t.ratings ? t.ratings[k] : 0));
  select(0);
  focusSelected();
  state.warned = false;
  state.shownAt = performance.now();
  state.submissionId = newSubmissionId();  // one id per shown image: a resent request is recognised
}

class ApiError extends Error {
  constructor(message, status) {
    super(message);
    this.status = status;
  }
}

async function call(method, url, body) {
  const options = { method, headers: { "X-CSRF-Token": CSRF }, credentials: "same-origin" };
  if (body !== undefined) {
    options.headers["Content-Type"] = "application/json";
    options.body = JSON.stringify(body);
  }
  let response;
  try {
    response = await fetch(url, options);
  } catch (err) {
    throw new ApiError("The server cannot be reached; nothing was sent. Try again (Enter) when it is back.", 0);
  }
  const data = await response.json().catch(() => ({ error: `the server answered ${response.status}` }));
  if (response.status === 401) {
    window.location.assign("/");
  }
  if (!response.ok) {
    throw new ApiError(data.error || `the server answered ${response.status}`, response.status);
  }
  return data;
}

async function act(work) {
  if (state.busy) return;  // one request at a time: a double Enter does not send twice
  state.busy = true;
  document.querySelectorAll("button").forEach((b) => (b.disabled = true));
  try {
    await work();
  } catch (err) {
    if (err.status === 409) {
      // the image moved on meanwhile (e.g. a resent answer that had arrived): show where things are now
      try { show(await call("GET", "/api/task")); } catch (ignored) { /* the message below says enough */ }
    }
    say(err.message, "error");
  } finally {
    state.busy = false;
    document.querySelectorAll("button").forEach((b) => (b.disabled = false));
  }
}

function submit() {
  if (!state.task || state.busy) return;
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
                   duration_ms: Math.min(MAX_DURATION_MS, Math.round(performance.now() - state.shownAt)) };
    show(await call("POST", "/api/answer", body));
  });
}

function skip() {
  if (!state.task) return;
  if (state.reviewing) {  // an earlier image stays as it was; back to the current one
    act(async () => show(await call("GET", "/api/task")));
    return;
  }
  act(async () => show(await call("POST", "/api/skip", { image_id: state.task.image_id, submission_id: state.submissionId })));
}

function back() {
  const before = state.task ? `?before=${state.task.image_id}` : "";
  act(async () => show(await call("GET", "/api/back" + before), true));
}

function logout() {
  act(async () => {
    await call("POST", "/logout");
    window.location.assign("/");
  });
}

document.addEventListener("keydown", (event) => {
  if (event.altKey || event.ctrlKey || event.metaKey) return;
  const key = event.key;
  if ($("work").hidden) {  // the thank-you panel: only Back (the button handles its own Enter)
    if (!$("done").hidden && (key === "b" || key === "B" || key === "Backspace")) {
      back();
      event.preventDefault();
    }
    return;
  }
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
  event.preventDefault();  // also keeps the browser's own radio-button arrow keys out of the way
  focusSelected();
});

rows.forEach((row, k) => row.addEventListener("click", () => select(k)));
rows.forEach((row) => row.querySelectorAll("input").forEach((input) => input.addEventListener("change", () => (state.warned = false))));
$("scales").addEventListener("submit", (event) => { event.preventDefault(); submit(); });
$("skip").addEventListener("click", skip);
$("back").addEventListener("click", back);
$("done-back").addEventListener("click", back);
$("logout").addEventListener("click", logout);
// reserve the display size so the layout does not jump while an image loads (CSSOM, allowed by the CSP)
$("frame").style.minWidth = $("frame").style.minHeight = `${DISPLAY_SIZE}px`;

act(async () => show(await call("GET", "/api/task")));
