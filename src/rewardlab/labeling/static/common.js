// What the labelling page and the operator page share: the message line, error texts, and the token
// (typed once into the login form or taken from the URL fragment #token=..., kept in sessionStorage under
// the page's own key, sent only in the Authorization header, never in a URL the server sees).
"use strict";

const $ = (id) => document.getElementById(id);

function show(text, isError = false) {
  $("message").textContent = text;
  $("message").className = isError ? "error" : "";
  $("message").hidden = !text;
}

// The server's {"error": ...} text of a refused response, or its status text.
async function errorText(response) {
  try { return (await response.json()).error || response.statusText; } catch { return response.statusText; }
}

// The page's token. `key`: its sessionStorage key; `hide`: ids of what the login form replaces;
// `start`: what to run once a token is there (`begin()` at load, after the form, after a new #token= fragment).
function tokenLogin({ key, hide, start }) {
  const login = {
    token: sessionStorage.getItem(key),
    // Forget the token and show the form, with `why` as the message ("" for none).
    ask(why) {
      login.token = null;
      sessionStorage.removeItem(key);
      for (const id of hide) $(id).hidden = true;
      $("login").hidden = false;
      show(why, Boolean(why));
      $("token").focus();
    },
    header() {
      return { Authorization: `Bearer ${login.token}` };
    },
  };
  function take(value) {
    login.token = value;
    sessionStorage.setItem(key, value);
    $("login").hidden = true;
  }
  // A link may carry the token in the fragment: take it, then drop it from the address bar.
  function takeFragment() {
    const fragment = new URLSearchParams(location.hash.slice(1)).get("token");
    if (!fragment) return false;
    take(fragment);
    history.replaceState(null, "", location.pathname + location.search);
    return true;
  }
  $("login").addEventListener("submit", (event) => {
    event.preventDefault();
    const value = $("token").value.trim();
    if (!value) return;
    take(value);
    $("token").value = "";
    show("");
    start();
  });
  window.addEventListener("hashchange", () => { if (takeFragment()) start(); });
  // Start with the fragment's token, else the stored one, else ask (called once the page holds `login`).
  login.begin = () => {
    takeFragment();
    if (login.token) start(); else login.ask("");
  };
  return login;
}
