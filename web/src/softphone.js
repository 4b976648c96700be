// Guichet browser softphone: signalling over the /agent/softphone WebSocket (JSON messages,
// see docs/web.md), media through WebRTC (PCMU) to the media room. No build step.
"use strict";
(function () {
  var root = document.getElementById("softphone");
  if (!root) { return; }
  function $(id) { return document.getElementById(id); }
  var etat = $("softphone-etat"), appel = $("softphone-appel"), bandeau = $("softphone-bandeau");
  var appelant = $("softphone-appelant"), vip = $("softphone-vip");
  var repondre = $("softphone-repondre"), raccrocher = $("softphone-raccrocher");
  var micro = $("softphone-micro"), attente = $("softphone-attente");
  var niveau = $("softphone-niveau"), audio = $("softphone-audio");
  var touches = root.querySelectorAll("[data-touche]");
  var ws = null, pc = null, local = null, ring = null, audioCtx = null, meterTimer = null;
  var ringing = false, inCall = false, held = false, stopped = false;
  // Set when the server refused to attach this page (softphone disabled, call elsewhere).
  var refusal = null;

  function say(text) { etat.textContent = text; }
  function send(msg) { if (ws && ws.readyState === 1) { ws.send(JSON.stringify(msg)); } }
  function context() {
    if (!audioCtx) {
      var Ctx = window.AudioContext || window.webkitAudioContext;
      if (!Ctx) { return null; }
      audioCtx = new Ctx();
    }
    if (audioCtx.state === "suspended") { audioCtx.resume(); }
    return audioCtx;
  }
  // Browsers only let sound start after a gesture: any click on the page unlocks the ringer.
  document.addEventListener("click", function () { context(); });

  // French ring cadence: 440 Hz, 1.5 s on, 3.5 s off, generated with WebAudio.
  function startRinging() {
    stopRinging();
    var ctx = context();
    if (!ctx) { return; }
    var gain = ctx.createGain();
    gain.gain.value = 0;
    gain.connect(ctx.destination);
    var osc = ctx.createOscillator();
    osc.frequency.value = 440;
    osc.connect(gain);
    osc.start();
    var burst = function () {
      var t = ctx.currentTime;
      gain.gain.setValueAtTime(0.2, t);
      gain.gain.setValueAtTime(0, t + 1.5);
    };
    burst();
    ring = { osc: osc, gain: gain, timer: setInterval(burst, 5000) };
  }
  function stopRinging() {
    if (!ring) { return; }
    clearInterval(ring.timer);
    try { ring.osc.stop(); } catch (e) { /* already stopped */ }
    ring.gain.disconnect();
    ring = null;
  }

  function controls() {
    repondre.disabled = !ringing;
    raccrocher.disabled = !(ringing || inCall);
    micro.disabled = !inCall;
    attente.disabled = !inCall;
    for (var i = 0; i < touches.length; i++) { touches[i].disabled = !inCall; }
  }

  function teardown() {
    stopRinging();
    if (meterTimer) { clearInterval(meterTimer); meterTimer = null; }
    if (pc) { pc.close(); pc = null; }
    if (local) { local.getTracks().forEach(function (t) { t.stop(); }); local = null; }
    audio.srcObject = null;
    niveau.value = 0;
    niveau.textContent = "0";
    ringing = false; inCall = false; held = false;
    micro.setAttribute("aria-pressed", "false");
    micro.textContent = "Couper le micro";
    attente.setAttribute("aria-pressed", "false");
    attente.textContent = "Mettre en attente";
    controls();
  }

  // Inbound audio level from the receiver's statistics (0 to 1), several times a second.
  function startMeter() {
    meterTimer = setInterval(function () {
      if (!pc) { return; }
      pc.getStats().then(function (stats) {
        stats.forEach(function (s) {
          if (s.type === "inbound-rtp" && s.kind === "audio" && typeof s.audioLevel === "number") {
            niveau.value = s.audioLevel;
            niveau.textContent = s.audioLevel.toFixed(2);
          }
        });
      });
    }, 200);
  }

  function answer() {
    if (!ringing) { return; }
    ringing = false;
    stopRinging();
    controls();
    say("Établissement de la communication…");
    context();
    navigator.mediaDevices.getUserMedia({ audio: true }).then(function (stream) {
      local = stream;
      pc = new RTCPeerConnection();
      stream.getAudioTracks().forEach(function (t) { pc.addTrack(t, stream); });
      pc.ontrack = function (e) {
        audio.srcObject = e.streams[0] || new MediaStream([e.track]);
        var p = audio.play();
        if (p && p.catch) { p.catch(function () { /* autoplay refused: sound after a click */ }); }
      };
      pc.onconnectionstatechange = function () {
        if (pc && pc.connectionState === "failed") {
          say("La liaison audio a échoué : l'appel est raccroché.");
          send({ type: "hangup" });
        }
      };
      return pc.createOffer().then(function (offer) {
        return pc.setLocalDescription(offer);
      }).then(function () {
        // The whole offer goes at once, candidates included (no trickle).
        return new Promise(function (done) {
          if (pc.iceGatheringState === "complete") { done(); return; }
          pc.onicegatheringstatechange = function () {
            if (pc && pc.iceGatheringState === "complete") { done(); }
          };
          setTimeout(done, 2000);
        });
      }).then(function () {
        send({ type: "answer", sdp: pc.localDescription.sdp });
      });
    }).catch(function (e) {
      say("Micro indisponible (" + e.name + ") : l'appel ne peut pas être pris ici.");
      send({ type: "hangup" });
      teardown();
    });
  }

  function onMessage(msg) {
    switch (msg.type) {
      case "ready":
        refusal = null;
        say("Softphone prêt : les appels qui vous sont présentés sonnent dans cette page.");
        break;
      case "incoming":
        teardown();
        ringing = true;
        bandeau.textContent = "Appel entrant";
        appelant.textContent = (msg.name ? msg.name + " — " : "") + msg.number;
        vip.hidden = !(msg.vip || msg.p0);
        appel.hidden = false;
        say("Appel entrant sur la ligne " + msg.line + ".");
        controls();
        startRinging();
        break;
      case "connected":
        if (!pc) { break; }
        pc.setRemoteDescription({ type: "answer", sdp: msg.sdp }).then(function () {
          inCall = true;
          bandeau.textContent = "En communication";
          say("En communication.");
          controls();
          startMeter();
        }).catch(function () {
          say("Réponse audio du serveur illisible : l'appel est raccroché.");
          send({ type: "hangup" });
        });
        break;
      case "held":
        held = msg.on;
        attente.setAttribute("aria-pressed", held ? "true" : "false");
        attente.textContent = held ? "Reprendre l'appel" : "Mettre en attente";
        say(held ? "Appelant en attente (musique d'attente)." : "En communication.");
        break;
      case "ended":
        teardown();
        appel.hidden = true;
        say(msg.message);
        break;
      case "error":
        if (ws && !ws.attached) { refusal = msg.message; }
        say(msg.message);
        break;
      case "replaced":
        stopped = true;
        teardown();
        appel.hidden = true;
        say("Le softphone est ouvert dans une autre page : cette page ne sonne plus.");
        break;
    }
  }

  function connect() {
    var scheme = location.protocol === "https:" ? "wss://" : "ws://";
    ws = new WebSocket(scheme + location.host + "/agent/softphone");
    ws.attached = false;
    ws.onmessage = function (ev) {
      var msg;
      try { msg = JSON.parse(ev.data); } catch (e) { return; }
      if (msg.type === "ready") { ws.attached = true; }
      onMessage(msg);
    };
    ws.onclose = function () {
      teardown();
      appel.hidden = true;
      if (stopped) { return; }
      if (refusal) {
        say(refusal + " (nouvelle tentative dans 30 secondes)");
        setTimeout(connect, 30000);
        return;
      }
      say("Softphone déconnecté : nouvelle tentative dans quelques secondes…");
      setTimeout(connect, 3000);
    };
  }

  repondre.addEventListener("click", answer);
  raccrocher.addEventListener("click", function () { send({ type: "hangup" }); });
  micro.addEventListener("click", function () {
    if (!local) { return; }
    var muted = micro.getAttribute("aria-pressed") !== "true";
    local.getAudioTracks().forEach(function (t) { t.enabled = !muted; });
    micro.setAttribute("aria-pressed", muted ? "true" : "false");
    micro.textContent = muted ? "Rétablir le micro" : "Couper le micro";
  });
  attente.addEventListener("click", function () { send({ type: "hold", on: !held }); });
  for (var i = 0; i < touches.length; i++) {
    touches[i].addEventListener("click", function (ev) {
      send({ type: "dtmf", digits: ev.currentTarget.getAttribute("data-touche") });
    });
  }
  controls();
  connect();
}());
