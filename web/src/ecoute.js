// Guichet « Écoute et coaching » on the wallboard: listen, whisper, barge, leave, through
// WebRTC; signalling over the /superviseur/ecoute WebSocket (JSON, see docs/web.md).
"use strict";
(function () {
  var root = document.getElementById("ecoute");
  if (!root) { return; }
  function $(id) { return document.getElementById(id); }
  var choix = $("ecoute-agent"), etat = $("ecoute-etat"), niveau = $("ecoute-niveau");
  var quitter = $("ecoute-quitter"), audio = $("ecoute-audio");
  var modes = root.querySelectorAll("[data-mode]");
  var LABELS = { listen: "Écoute", whisper: "Chuchotement à l'agent", barge: "Intervention" };
  var ws = null, pc = null, local = null, meterTimer = null, current = null, pending = false;

  function say(t) { etat.textContent = t; }
  function send(msg) { if (ws && ws.readyState === 1) { ws.send(JSON.stringify(msg)); } }

  // Agents in a call, read from the wallboard's agent table (re-rendered live by mur.js).
  function refreshAgents() {
    var keep = choix.value;
    var rows = document.querySelectorAll("#agents tbody tr[data-agent]");
    var options = [];
    for (var i = 0; i < rows.length; i++) {
      var state = rows[i].querySelector("td.etat");
      if (state && state.textContent === "En communication") {
        options.push([rows[i].dataset.agent, rows[i].cells[0].textContent]);
      }
    }
    var same = options.length === choix.options.length - 1 && options.every(function (o, k) {
      return choix.options[k + 1].value === o[0];
    });
    if (same) { return; }
    choix.textContent = "";
    var none = document.createElement("option");
    none.value = "";
    none.textContent = options.length ? "(choisissez un agent)" : "(aucun appel en cours)";
    choix.appendChild(none);
    options.forEach(function (o) {
      var opt = document.createElement("option");
      opt.value = o[0];
      opt.textContent = o[1];
      choix.appendChild(opt);
    });
    var still = options.some(function (o) { return o[0] === keep; });
    // A single call in progress is chosen for the supervisor.
    choix.value = still ? keep : (options.length === 1 ? options[0][0] : "");
  }
  var table = document.querySelector("#agents tbody");
  if (table) { new MutationObserver(refreshAgents).observe(table, { childList: true, subtree: true }); }

  function teardown() {
    if (meterTimer) { clearInterval(meterTimer); meterTimer = null; }
    if (pc) { pc.close(); pc = null; }
    if (local) { local.getTracks().forEach(function (t) { t.stop(); }); local = null; }
    audio.srcObject = null;
    niveau.value = 0;
    current = null; pending = false;
    quitter.disabled = true;
    choix.disabled = false;
  }

  function start(mode) {
    var agent = choix.value;
    if (!agent) { say("Choisissez d'abord un agent en communication."); return; }
    pending = true;
    choix.disabled = true;
    say("Connexion à l'appel…");
    // The microphone is always sent, so that listen, whisper and barge switch without a new
    // negotiation (in listen mode the media room drops it).
    navigator.mediaDevices.getUserMedia({ audio: true }).then(function (stream) {
      local = stream;
      pc = new RTCPeerConnection();
      stream.getAudioTracks().forEach(function (t) { pc.addTrack(t, stream); });
      pc.ontrack = function (e) {
        audio.srcObject = e.streams[0] || new MediaStream([e.track]);
        var p = audio.play();
        if (p && p.catch) { p.catch(function () { /* sound after a click */ }); }
      };
      return pc.createOffer().then(function (o) { return pc.setLocalDescription(o); })
        .then(function () {
          return new Promise(function (done) {
            if (pc.iceGatheringState === "complete") { done(); return; }
            pc.onicegatheringstatechange = function () {
              if (pc && pc.iceGatheringState === "complete") { done(); }
            };
            setTimeout(done, 2000);
          });
        }).then(function () {
          send({ type: "start", agent: agent, mode: mode, sdp: pc.localDescription.sdp });
        });
    }).catch(function (e) {
      say("Micro ou audio indisponible (" + e.name + ").");
      teardown();
    });
  }

  function onMessage(msg) {
    switch (msg.type) {
      case "connected":
        if (!pc) { break; }
        pc.setRemoteDescription({ type: "answer", sdp: msg.sdp }).then(function () {
          current = msg.mode; pending = false;
          quitter.disabled = false;
          say(LABELS[msg.mode] + " en cours : " + choix.options[choix.selectedIndex].textContent + ".");
          meterTimer = setInterval(function () {
            if (!pc) { return; }
            pc.getStats().then(function (stats) {
              stats.forEach(function (s) {
                if (s.type === "inbound-rtp" && s.kind === "audio" && typeof s.audioLevel === "number") {
                  niveau.value = s.audioLevel;
                }
              });
            });
          }, 200);
        });
        break;
      case "mode":
        current = msg.mode;
        say(LABELS[msg.mode] + " en cours : " + choix.options[choix.selectedIndex].textContent + ".");
        break;
      case "ended":
        teardown();
        say(msg.message);
        break;
      case "error":
        if (pending && !current) { teardown(); }
        say(msg.message);
        break;
    }
  }

  function connect() {
    var scheme = location.protocol === "https:" ? "wss://" : "ws://";
    ws = new WebSocket(scheme + location.host + "/superviseur/ecoute");
    ws.onmessage = function (ev) {
      var msg;
      try { msg = JSON.parse(ev.data); } catch (e) { return; }
      onMessage(msg);
    };
    ws.onclose = function () {
      if (current || pending) { say("Liaison d'écoute perdue : l'écoute est terminée."); }
      teardown();
      setTimeout(connect, 3000);
    };
  }

  for (var i = 0; i < modes.length; i++) {
    modes[i].addEventListener("click", function (ev) {
      var mode = ev.currentTarget.getAttribute("data-mode");
      if (current) { send({ type: "mode", mode: mode }); }
      else if (!pending) { start(mode); }
    });
  }
  quitter.addEventListener("click", function () { send({ type: "leave" }); });
  refreshAgents();
  connect();
}());
