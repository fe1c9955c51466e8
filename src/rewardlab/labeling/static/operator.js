// The operator page: read GET /api/operator/stats with an operator token and show it as tables.
// The token travels only in the Authorization header (never in a URL the server sees).
// Every number is shown rounded, with the exact value in the cell's data-value; an undefined one
// (null: NaN on the server) is shown as "–" with a tooltip saying why.
"use strict";

const EVERY_MS = 10000;
let login = null; // the token (common.js), set at the end, once everything it starts is defined
let loading = false;
let last = null; // the latest stats, for the tests and the console

// A cell's content: the value rounded (digits), or "–" with the reason as a tooltip.
function fill(cell, value, digits, why, suffix = "") {
  cell.className = "";
  cell.removeAttribute("title");
  if (value === null || value === undefined || Number.isNaN(value)) {
    cell.textContent = "–";
    cell.dataset.value = "";
    cell.className = "na";
    cell.title = why;
    return;
  }
  cell.dataset.value = String(value);
  cell.textContent = (digits === null ? String(value) : value.toFixed(digits)) + suffix;
}

function row(body, key, values) {
  const tr = document.createElement("tr");
  tr.dataset.key = key;
  for (const [name, value, digits, why, suffix] of values) {
    const td = document.createElement("td");
    td.dataset.field = name;
    if (typeof value === "string") td.textContent = value;
    else fill(td, value, digits, why, suffix);
    tr.appendChild(td);
  }
  body.appendChild(tr);
  return tr;
}

function render(data) {
  const c = data.counts;
  for (const key of ["queries", "segments", "assignments"]) fill($(key), c[key], null, "");
  fill($("answers"), data.answers, null, "");
  fill($("skipped"), data.skipped, null, "");
  const fleissWhy = data.fleiss_items === 0
    ? "no query has two answers yet (skips do not count)"
    : "every answer is in one category: chance agreement is 1 and kappa is 0/0";
  fill($("fleiss"), data.fleiss_kappa, 3, fleissWhy);
  fill($("fleiss-items"), data.fleiss_items, null, "");

  const people = $("people").tBodies[0];
  people.replaceChildren();
  for (const name of Object.keys(data.people).sort()) {
    const who = data.people[name];
    const s = data.annotators[name] || {};
    const none = "no answers yet";
    const gold = s.gold_answered ? "" : "no gold query answered yet (skips do not count)";
    const tr = row(people, name, [
      ["name", name],
      ["role", who.role],
      ["answers", who.answers, null, ""],
      ["skipped", who.skipped, null, ""],
      ["agreement", s.agreement, 3, who.answers ? gold : none],
      ["gold_answered", s.gold_answered ?? 0, null, ""],
      ["median_seconds", s.median_seconds, 1, none],
      ["mean_seconds", s.mean_seconds, 1, none],
    ]);
    if (typeof s.agreement === "number" && s.agreement < 0.7) tr.querySelector("[data-field=agreement]").classList.add("low");
  }

  const pairs = $("pairs").tBodies[0];
  pairs.replaceChildren();
  const keys = Object.keys(data.pairs).sort();
  for (const key of keys) {
    const p = data.pairs[key];
    const [a, b] = key.split("|");
    const kappaWhy = p.shared < 2
      ? "fewer than two queries answered by both"
      : "both gave every answer in one and the same category: chance agreement is 1 and kappa is 0/0";
    row(pairs, key, [
      ["a", a],
      ["b", b],
      ["shared", p.shared, null, ""],
      ["agreement", p.agreement, 3, "no query answered by both"],
      ["kappa", p.kappa, 3, kappaWhy],
    ]);
  }
  $("no-pairs").hidden = keys.length > 0;
}

async function refresh() {
  if (!login || !login.token || loading) return;
  loading = true;
  $("refresh").disabled = true;
  try {
    const response = await fetch("/api/operator/stats", { headers: login.header() });
    if (response.status === 401) { login.ask("The token was not accepted: enter it again."); return; }
    if (response.status === 403) {
      login.ask("That is an annotator's token: this page needs an operator token (rewardlab label add-annotator NAME --operator).");
      return;
    }
    if (!response.ok) throw new Error(await errorText(response));
    last = await response.json();
    render(last);
    $("login").hidden = true;
    $("stats").hidden = false;
    $("updated").textContent = `updated ${new Date().toLocaleTimeString()}`;
    show("");
  } catch (error) {
    show(`Could not read the statistics: ${error.message}`, true);
  } finally {
    loading = false;
    $("refresh").disabled = false;
  }
}

setInterval(() => { if ($("auto").checked && !document.hidden) refresh(); }, EVERY_MS);
$("refresh").addEventListener("click", refresh);

login = tokenLogin({ key: "rewardlab-operator-token", hide: ["stats"], start: refresh });
login.begin();
