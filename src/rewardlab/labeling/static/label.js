// The labelling page: fetch the next pair, play both clips in step, send the answer, repeat.
// The token travels only in the Authorization header (never in a URL the server sees).
"use strict";

const videos = [$("left"), $("right")];
const KEYS = { ArrowLeft: "left", ArrowRight: "right", ArrowUp: "equal", "=": "equal", ArrowDown: "cant_tell", s: "skip", S: "skip" };
let login = null; // the token (common.js), set at the end, once everything it starts is defined
let job = null;   // the assignment on screen
let busy = false; // a request is in flight: keys and buttons wait
let paused = false; // Space: both clips stay paused, also across pairs

async function api(path, body) {
  const init = { headers: login.header() };
  if (body !== undefined) {
    init.method = "POST";
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  const response = await fetch(path, init);
  if (response.status === 401) throw Object.assign(new Error("401"), { status: 401 });
  return response;
}

async function clipUrl(path) {
  const response = await api(path);
  if (!response.ok) throw new Error(`clip ${path}: ${await errorText(response)}`);
  return URL.createObjectURL(await response.blob());
}

function setBusy(on) {
  busy = on;
  for (const b of document.querySelectorAll("#choices button[data-choice]")) b.disabled = on;
}

async function next() {
  setBusy(true);
  try {
    const response = await api("/api/next");
    if (!response.ok) throw new Error(await errorText(response));
    const data = await response.json();
    const { answered, left } = data.progress;
    $("progress").textContent = `${answered} done · ${left} left`;
    if (data.assignment === null) {
      job = null;
      $("pair").hidden = $("choices").hidden = true;
      show("Nothing left to label: thank you!");
      return;
    }
    const broken = data.left.error || data.right.error;
    if (broken) {
      // This pair's clip will not come: the only answer offered is to skip it (stored as a skip).
      job = data;
      $("pair").hidden = $("choices").hidden = true;
      show(`This pair cannot be shown: ${broken}. Press S to skip it.`, true);
      busy = false;
      return;
    }
    if (!data.left.clip || !data.right.clip) {
      show("The clips are being rendered…");
      setTimeout(next, 1000);
      return;
    }
    const urls = await Promise.all([clipUrl(data.left.clip), clipUrl(data.right.clip)]);
    videos.forEach((v, i) => {
      if (v.src) URL.revokeObjectURL(v.src);
      v.src = urls[i];
    });
    job = data;
    applySpeed();
    $("pair").hidden = $("choices").hidden = false;
    show("");
    restart();
    setBusy(false);
  } catch (error) {
    failed(error, next);
  }
}

function failed(error, retry) {
  if (error.status === 401) { login.ask("The token was not accepted: enter it again."); return; }
  show(`${error.message} — retrying in 3 s`, true);
  setTimeout(retry, 3000);
}

async function answer(choice) {
  if (busy || !job) return;
  if ((job.left.error || job.right.error) && choice !== "skip") return; // a pair without its clips can only be skipped
  setBusy(true);
  try {
    const response = await api("/api/label", { assignment: job.assignment, choice });
    // 409: answered already (e.g. in another tab): move on all the same.
    if (!response.ok && response.status !== 409) throw new Error(await errorText(response));
    job = null;
    next();
  } catch (error) {
    if (error.status === 401) { login.ask("The token was not accepted: enter it again."); return; }
    show(`Not saved: ${error.message}. Press the key again.`, true);
    setBusy(false);
  }
}

// Both clips start together, and restart together once both have ended.
function restart() {
  for (const v of videos) v.currentTime = 0;
  if (!paused) for (const v of videos) v.play().catch(() => {});
}
function togglePause() {
  paused = !paused;
  for (const v of videos) paused ? v.pause() : v.play().catch(() => {});
  $("pause").textContent = paused ? "Space Play" : "Space Pause";
}
for (const v of videos) {
  v.addEventListener("ended", () => { if (videos.every((w) => w.ended)) restart(); });
}
// Keep the right clip within 0.1 s of the left one.
videos[0].addEventListener("timeupdate", () => {
  const [l, r] = videos;
  if (!l.ended && !r.ended && Math.abs(l.currentTime - r.currentTime) > 0.1) r.currentTime = l.currentTime;
});

function applySpeed() {
  const rate = Number($("speed").value);
  for (const v of videos) { v.defaultPlaybackRate = rate; v.playbackRate = rate; }
}
$("speed").addEventListener("change", () => { applySpeed(); $("speed").blur(); });

document.addEventListener("keydown", (event) => {
  // A held key repeats: ignore the repeats, or one press would answer the next pair too.
  if (event.repeat || !$("login").hidden || event.target.tagName === "SELECT" || event.ctrlKey || event.metaKey || event.altKey) return;
  if (event.key === " ") { event.preventDefault(); togglePause(); return; }
  const choice = KEYS[event.key];
  if (choice) { event.preventDefault(); answer(choice); }
});
for (const b of document.querySelectorAll("#choices button[data-choice]")) {
  b.addEventListener("click", () => { b.blur(); answer(b.dataset.choice); });
}
$("pause").addEventListener("click", () => { $("pause").blur(); togglePause(); });

login = tokenLogin({ key: "rewardlab-token", hide: ["pair", "choices"], start: next });
login.begin();
