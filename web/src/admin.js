// Administration pages: the directory import (upload, progress bar, report of rejected rows)
// and WAV uploads on the messages page. Files are sent as the raw request body with the
// CSRF token in the X-CSRF-Token header.
(function () {
  "use strict";

  function csrfToken() {
    var input = document.querySelector("input[name=csrf]");
    return input ? input.value : "";
  }

  function text(el, s) {
    if (el) { el.textContent = s; }
  }

  // ---- directory import ----
  var importButton = document.getElementById("importer");
  if (importButton) {
    var fileInput = document.getElementById("fichier-annuaire");
    var bar = document.getElementById("progression");
    var status = document.getElementById("import-etat");
    var report = document.getElementById("rapport");

    var showReport = function (job) {
      report.textContent = "";
      var summary = document.createElement("p");
      summary.id = "import-resume";
      summary.textContent = job.inserted + " personne(s) créée(s), " + job.updated +
        " mise(s) à jour, " + job.rejected.length + " ligne(s) rejetée(s).";
      report.appendChild(summary);
      if (job.rejected.length > 0) {
        var table = document.createElement("table");
        table.id = "lignes-rejetees";
        var head = table.insertRow();
        ["Ligne", "Motif"].forEach(function (h) {
          var th = document.createElement("th");
          th.textContent = h;
          head.appendChild(th);
        });
        job.rejected.forEach(function (r) {
          var row = table.insertRow();
          row.insertCell().textContent = String(r.line);
          row.insertCell().textContent = r.reason;
        });
        report.appendChild(table);
      }
    };

    var poll = function (id) {
      fetch("/admin/annuaire/import/" + id, { credentials: "same-origin" })
        .then(function (r) { return r.json(); })
        .then(function (job) {
          var percent = job.total === 0 ? 100 : Math.round(100 * job.done / job.total);
          bar.value = percent;
          if (job.status === "en_cours") {
            text(status, "Import en cours : " + job.done + " / " + job.total + " lignes valides (" + percent + " %)");
            setTimeout(function () { poll(id); }, 300);
          } else if (job.status === "termine") {
            text(status, "Import terminé (" + percent + " %).");
            showReport(job);
            importButton.disabled = false;
          } else {
            text(status, "Import interrompu : " + (job.error || "erreur inconnue"));
            showReport(job);
            importButton.disabled = false;
          }
        })
        .catch(function () {
          text(status, "Le serveur ne répond pas : l'état de l'import est inconnu.");
          importButton.disabled = false;
        });
    };

    importButton.addEventListener("click", function () {
      var file = fileInput.files && fileInput.files[0];
      if (!file) {
        text(status, "Choisissez d'abord un fichier CSV.");
        return;
      }
      importButton.disabled = true;
      bar.hidden = false;
      bar.value = 0;
      report.textContent = "";
      text(status, "Envoi du fichier…");
      fetch("/admin/annuaire/import", {
        method: "POST",
        credentials: "same-origin",
        headers: { "Content-Type": "text/csv", "X-CSRF-Token": importButton.dataset.csrf },
        body: file
      })
        .then(function (r) {
          return r.json().then(function (body) { return { ok: r.ok, body: body }; });
        })
        .then(function (res) {
          if (!res.ok) {
            text(status, "Import refusé : " + res.body.error);
            importButton.disabled = false;
            return;
          }
          poll(res.body.id);
        })
        .catch(function () {
          text(status, "L'envoi du fichier a échoué.");
          importButton.disabled = false;
        });
    });
  }

  // ---- prompt replacement ----
  var replaceButton = document.getElementById("annonce-remplacer");
  if (replaceButton) {
    var promptStatus = document.getElementById("annonce-etat");
    replaceButton.addEventListener("click", function () {
      var input = document.getElementById("annonce-wav");
      var file = input.files && input.files[0];
      var id = document.getElementById("annonce-id").value;
      if (!file) {
        text(promptStatus, "Choisissez d'abord un fichier WAV.");
        return;
      }
      text(promptStatus, "Envoi du fichier…");
      fetch("/api/v1/admin/prompts/" + encodeURIComponent(id), {
        method: "PUT",
        credentials: "same-origin",
        headers: { "Content-Type": "audio/wav", "X-CSRF-Token": replaceButton.dataset.csrf },
        body: file
      })
        .then(function (r) {
          return r.json().then(function (body) { return { ok: r.ok, body: body }; });
        })
        .then(function (res) {
          if (res.ok) {
            window.location = "/admin/annonces?ok=1";
          } else {
            text(promptStatus, "Fichier refusé : " + res.body.error);
          }
        })
        .catch(function () { text(promptStatus, "L'envoi du fichier a échoué."); });
    });
  }

  // ---- WAV upload on the messages page ----
  var programme = document.getElementById("form-programme");
  if (programme) {
    var wav = document.getElementById("p-wav");
    var state = document.getElementById("programme-etat");
    programme.addEventListener("submit", function (event) {
      var file = wav.files && wav.files[0];
      if (!file) { return; } // typed text: the plain form post
      event.preventDefault();
      var form = new FormData(programme);
      var query = new URLSearchParams({
        text: form.get("text") || "",
        starts_at: form.get("starts_at") || "",
        ends_at: form.get("ends_at") || "",
        library_name: form.get("library_name") || "",
        times: "local"
      });
      text(state, "Envoi du fichier…");
      fetch("/api/v1/lines/" + encodeURIComponent(form.get("line")) + "/messages/" +
            encodeURIComponent(form.get("kind")) + "/audio?" + query.toString(), {
        method: "PUT",
        credentials: "same-origin",
        headers: { "Content-Type": "audio/wav", "X-CSRF-Token": csrfToken() },
        body: file
      })
        .then(function (r) {
          return r.json().then(function (body) { return { ok: r.ok, body: body }; });
        })
        .then(function (res) {
          if (res.ok) {
            window.location = "/superviseur/messages?ok=enregistre";
          } else {
            text(state, "Fichier refusé : " + res.body.error);
          }
        })
        .catch(function () { text(state, "L'envoi du fichier a échoué."); });
    });
  }
})();
