// Guichet messages page: listen to the typed text before saving it. No build step.
"use strict";
(function () {
  var button = document.getElementById("ecouter-apercu");
  var status = document.getElementById("apercu-etat");
  var form = document.getElementById("form-message");
  var player = null;
  button.addEventListener("click", function () {
    var body = new URLSearchParams();
    body.set("csrf", form.elements.csrf.value);
    body.set("text", form.elements.text.value);
    status.textContent = "Synthèse en cours…";
    fetch("/superviseur/messages/apercu", { method: "POST", body: body, credentials: "same-origin" })
      .then(function (r) {
        if (!r.ok) { return r.text().then(function (t) { throw new Error(t); }); }
        return r.blob();
      })
      .then(function (blob) {
        if (player) { player.pause(); URL.revokeObjectURL(player.src); }
        player = new Audio(URL.createObjectURL(blob));
        player.dataset.taille = String(blob.size);
        status.textContent = "Aperçu prêt (" + Math.round(blob.size / 1024) + " Ko), lecture…";
        return player.play().catch(function () { /* autoplay refused: the status says it is ready */ });
      })
      .catch(function (e) { status.textContent = e.message; });
  });
}());
