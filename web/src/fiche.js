// Guichet agent desk: the screen pop on the agent page (follows the "appel" server-sent
// events, HTML fragments escaped by the server) and, on the ticket form, the live priority
// (computed by the server) and the draft kept in the browser's local storage so that nothing
// typed is lost on a reload. No build step.
"use strict";
(function () {
  var pop = document.getElementById("fiche-appel");
  if (pop) {
    var source = new EventSource("/agent/appel/flux");
    source.addEventListener("appel", function (ev) { pop.innerHTML = ev.data; });
  }

  var form = document.getElementById("form-ticket");
  if (!form) { return; }
  var prefix = "guichet-brouillon-";
  var saved = form.getAttribute("data-brouillon-enregistre");
  if (saved) {
    try { localStorage.removeItem(prefix + saved); } catch (e) { /* storage refused */ }
  }
  var key = prefix + form.getAttribute("data-brouillon");
  var status = document.getElementById("brouillon-etat");
  var fields = form.querySelectorAll("input[type=text], textarea, select, input[type=radio]");

  function collect() {
    var draft = {};
    Array.prototype.forEach.call(fields, function (f) {
      if (f.type === "radio") {
        if (f.checked) { draft[f.name] = f.value; }
      } else {
        draft[f.name] = f.value;
      }
    });
    return draft;
  }

  function restore(draft) {
    Array.prototype.forEach.call(fields, function (f) {
      if (!Object.prototype.hasOwnProperty.call(draft, f.name)) { return; }
      if (f.type === "radio") {
        f.checked = draft[f.name] === f.value;
      } else {
        f.value = draft[f.name];
      }
    });
  }

  // A page re-rendered with errors carries what was posted: it wins over the draft.
  var rerendered = document.getElementById("erreurs") !== null;
  if (!saved && !rerendered) {
    try {
      var kept = localStorage.getItem(key);
      if (kept) {
        restore(JSON.parse(kept));
        if (status) { status.textContent = "Brouillon restauré."; }
      }
    } catch (e) { /* no storage or unreadable draft: start from the server's values */ }
  }

  function keep() {
    try {
      localStorage.setItem(key, JSON.stringify(collect()));
      if (status) { status.textContent = "Brouillon enregistré dans ce navigateur."; }
    } catch (e) { /* storage full or refused */ }
  }

  var output = document.getElementById("priorite");
  function refreshPriority() {
    if (!output) { return; }
    var q = new URLSearchParams();
    ["urgency", "impact", "call_id", "ticket_id"].forEach(function (n) {
      var f = form.elements[n];
      if (f && f.value) { q.set(n, f.value); }
    });
    fetch("/agent/dossier/priorite?" + q.toString(), { credentials: "same-origin" })
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (p) { if (p) { output.textContent = p.label; } })
      .catch(function () { /* the value shown stays the last computed */ });
  }

  form.addEventListener("input", keep);
  form.addEventListener("change", function (ev) {
    keep();
    if (ev.target && (ev.target.name === "urgency" || ev.target.name === "impact")) {
      refreshPriority();
    }
  });
  refreshPriority();
}());
