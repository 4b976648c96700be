// Guichet agent page: the status section follows the "poste" server-sent events (HTML
// fragments escaped by the server). No build step.
"use strict";
(function () {
  var section = document.getElementById("poste");
  var source = new EventSource("/agent/flux");
  source.addEventListener("poste", function (ev) { section.innerHTML = ev.data; });
}());
