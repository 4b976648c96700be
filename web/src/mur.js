// Guichet wallboard: renders the "mur" server-sent events. No build step, no library.
"use strict";
(function () {
  function hms(s) {
    s = Math.max(0, s | 0);
    var h = Math.floor(s / 3600), m = Math.floor(s / 60) % 60, r = s % 60;
    return (h < 10 ? "0" : "") + h + ":" + (m < 10 ? "0" : "") + m + ":" + (r < 10 ? "0" : "") + r;
  }
  function pct(ratio) {
    if (!ratio || !ratio.denominator) return "—";
    return (100 * ratio.numerator / ratio.denominator).toFixed(1).replace(".", ",") + " %";
  }
  function cell(tr, text, cls) {
    var td = document.createElement("td");
    td.textContent = text;
    if (cls) td.className = cls;
    tr.appendChild(td);
    return td;
  }
  var last = null;
  var limits = ["seuil-attente", "seuil-file", "seuil-ns"];
  limits.forEach(function (id) {
    var input = document.getElementById(id);
    var saved = window.localStorage.getItem("guichet." + id);
    if (saved !== null) input.value = saved;
    input.addEventListener("change", function () {
      window.localStorage.setItem("guichet." + id, input.value);
      if (last) render(last);
    });
  });
  function limit(id) { return Number(document.getElementById(id).value); }
  function render(view) {
    last = view;
    var incidents = document.getElementById("incidents-en-cours");
    incidents.textContent = "";
    (view.incidents || []).forEach(function (i) {
      var p = document.createElement("p");
      p.className = "erreur incident-majeur";
      p.style.fontSize = "1.4rem";
      p.dataset.incident = String(i.id);
      var a = document.createElement("a");
      a.href = "/superviseur/incidents/" + i.id;
      a.textContent = "Incident majeur n° " + i.id + " : " + i.title;
      var strong = document.createElement("strong");
      strong.appendChild(a);
      p.appendChild(strong);
      p.appendChild(document.createTextNode(" — " + i.services + " — " + i.status + " depuis " + i.elapsed));
      incidents.appendChild(p);
    });
    var msgs = document.getElementById("messages");
    msgs.textContent = "";
    if (view.error) {
      var e = document.createElement("p");
      e.className = "erreur"; e.setAttribute("role", "alert"); e.textContent = view.error;
      msgs.appendChild(e);
    }
    (view.messages || []).forEach(function (m) {
      var p = document.createElement("p");
      p.className = m.kind === "crise" ? "erreur message-crise" : "ok message-dissuasion";
      p.textContent = (m.kind === "crise" ? "Message de crise" : "Message de dissuasion") +
        " — " + m.line_name + " (" + m.line + ") : « " + m.text + " »";
      msgs.appendChild(p);
    });
    var files = document.querySelector("#files tbody");
    files.textContent = "";
    (view.queues || []).forEach(function (q) {
      var tr = document.createElement("tr");
      tr.dataset.file = q.name;
      cell(tr, q.name + (q.open ? "" : " (fermée)"));
      var w = cell(tr, String(q.waiting.length), q.waiting.length > limit("seuil-file") ? "alerte" : "");
      var vip = q.waiting.filter(function (c) { return c.vip; }).length;
      if (vip) {
        var b = document.createElement("span");
        b.className = "vip"; b.textContent = vip + " VIP";
        w.appendChild(document.createTextNode(" ")); w.appendChild(b);
      }
      cell(tr, hms(q.longest_wait_secs), q.longest_wait_secs > limit("seuil-attente") ? "alerte" : "");
      cell(tr, q.agents_available + " / " + q.agents_logged_in);
      var t = q.today || {};
      cell(tr, String(t.presented || 0));
      cell(tr, String(t.answered || 0));
      cell(tr, String(t.abandoned || 0));
      cell(tr, pct(t.answer_rate));
      cell(tr, pct(t.abandon_rate));
      var sl = t.service_level;
      var low = sl && sl.denominator && 100 * sl.numerator / sl.denominator < limit("seuil-ns");
      cell(tr, pct(sl), low ? "alerte" : "");
      files.appendChild(tr);
    });
    var agents = document.querySelector("#agents tbody");
    agents.textContent = "";
    (view.agents || []).forEach(function (a) {
      var tr = document.createElement("tr");
      tr.dataset.agent = a.login;
      cell(tr, a.name);
      cell(tr, a.state, "etat");
      cell(tr, a.state === "Déconnecté" ? "—" : hms(a.time_in_state_secs));
      cell(tr, String(a.calls_answered));
      var actions = cell(tr, "");
      if (a.state !== "Déconnecté") {
        if (a.state.indexOf("En pause") !== 0) {
          actions.appendChild(button("Pause forcée", "forcer-pause", a.login,
            { action: "pause", reason: "Demandée par la supervision" }));
        }
        actions.appendChild(button("Déconnecter", "forcer-deconnexion", a.login, { action: "deconnexion" }));
      }
      agents.appendChild(tr);
    });
    document.getElementById("maj").textContent = new Date().toLocaleTimeString("fr-FR");
  }
  function button(label, cls, login, body) {
    var b = document.createElement("button");
    b.type = "button"; b.className = cls; b.textContent = label;
    b.addEventListener("click", function () {
      var said = document.getElementById("action-agent");
      fetch("/api/v1/agents/" + encodeURIComponent(login) + "/state", {
        method: "PUT",
        credentials: "same-origin",
        headers: { "Content-Type": "application/json",
                   "X-CSRF-Token": document.getElementById("jeton").dataset.csrf },
        body: JSON.stringify(body)
      }).then(function (r) {
        if (r.ok) { said.textContent = label + " : fait pour " + login + "."; return; }
        return r.json().then(function (e) { said.textContent = e.error || ("Erreur " + r.status); });
      }).catch(function (e) { said.textContent = e.message; });
    });
    return b;
  }
  var status = document.getElementById("connexion-flux");
  var source = new EventSource("/superviseur/mur/flux");
  source.addEventListener("mur", function (ev) {
    status.textContent = "En direct";
    render(JSON.parse(ev.data));
  });
  source.onerror = function () { status.textContent = "Flux interrompu, reconnexion…"; };
  document.getElementById("plein-ecran").addEventListener("click", function () {
    document.body.classList.toggle("mur-plein");
    if (document.fullscreenElement) { document.exitFullscreen(); }
    else if (document.documentElement.requestFullscreen) {
      document.documentElement.requestFullscreen().catch(function () {});
    }
  });
  var style = document.createElement("style");
  style.textContent = ".mur-plein{font-size:150%}.mur-plein header{display:none}" +
    ".alerte{background:#c00;color:#fff;font-weight:bold}#files td,#agents td{font-size:1.2rem}" +
    "#seuils input{width:5rem}";
  document.head.appendChild(style);
}());
