// liveloop browser client: plain JS, no build step.
// Camera + microphone over WebRTC to the server; events over a data channel.
// Options after '#': token=… (bearer token), camera=0 (microphone only), probe=1 (latency probe, for benchmarks).
"use strict";

const $ = (id) => document.getElementById(id);
const state = {
  pc: null, dc: null, stream: null, canvasTimer: null, statsTimer: null,
  regions: [], tracks: [], turn: 0, agentMsg: null, msgs: {}, config: null,
  events: [], turnLog: [], audio: { bytes: 0, packets: 0, firstAudioAt: null }, budgets: {},
};
const TURN_EVENTS = new Set(["utterance.end", "agent.reply", "audio.start", "audio.flush"]);
window.liveloop = state;  // for tests and for the curious
const hashParams = new URLSearchParams(location.hash.slice(1));
const token = hashParams.get("token");
const authHeaders = token ? { Authorization: "Bearer " + token } : {};
const SCALE = 1.5;  // a budget bar spans 0 .. 1.5 x its budget

function setStatus(text, live) {
  $("status").textContent = text;
  $("status-dot").classList.toggle("live", !!live);
}
function toast(text) {
  const t = $("toast"); t.textContent = text; t.classList.remove("hidden");
  clearTimeout(toast.timer); toast.timer = setTimeout(() => t.classList.add("hidden"), 5000);
}

// --- region-aware sending: smooth what the server marks unimportant ---------------
function startCanvas(video) {
  const w = 640, h = 480;
  const canvas = document.createElement("canvas"); canvas.width = w; canvas.height = h;
  const small = document.createElement("canvas"); small.width = w / 8; small.height = h / 8;
  const ctx = canvas.getContext("2d"), sctx = small.getContext("2d");
  const draw = () => {
    if (video.readyState >= 2) {
      if (state.regions.length) {
        sctx.drawImage(video, 0, 0, small.width, small.height);   // downscale = smooth
        ctx.imageSmoothingEnabled = true;
        ctx.drawImage(small, 0, 0, w, h);
        for (const r of state.regions) {                          // important regions stay sharp
          const [x, y, rw, rh] = [r.x * w, r.y * h, r.w * w, r.h * h];
          ctx.drawImage(video, r.x * video.videoWidth, r.y * video.videoHeight,
            r.w * video.videoWidth, r.h * video.videoHeight, x, y, rw, rh);
        }
      } else {
        ctx.drawImage(video, 0, 0, w, h);
      }
    }
  };
  state.canvasTimer = setInterval(draw, 1000 / 30);
  return canvas.captureStream(30).getVideoTracks()[0];
}

async function capBitrate(sender, bps) {
  const p = sender.getParameters();
  if (!p.encodings || !p.encodings.length) p.encodings = [{}];
  p.encodings[0].maxBitrate = bps;
  try { await sender.setParameters(p); } catch (e) { console.warn("setParameters", e); }
}

// --- connect ------------------------------------------------------------------
async function connect() {
  $("connect").disabled = true;
  $("permission").classList.remove("hidden");
  $("permission-error").textContent = "";
  setStatus("asking for camera and microphone…");
  try {
    state.config = await (await fetch("/config")).json();
    try {
      const video = hashParams.get("camera") === "0" ? false : { width: 640, height: 480 };
      state.stream = await navigator.mediaDevices.getUserMedia({ audio: { channelCount: 1, echoCancellation: true },
        video });
    } catch (e) {  // no camera: audio only
      state.stream = await navigator.mediaDevices.getUserMedia({ audio: true });
    }
    $("permission").classList.add("hidden");
    const video = $("local");
    video.srcObject = state.stream;
    video.onloadedmetadata = () => {  // the stage takes the camera's shape, so overlay boxes line up
      if (video.videoWidth) $("stage").style.aspectRatio = `${video.videoWidth} / ${video.videoHeight}`;
    };
    const pc = new RTCPeerConnection({ iceServers: state.config.iceServers, encodedInsertableStreams: PROBE_ENCODED });
    state.pc = pc;
    const mic = state.stream.getAudioTracks()[0];
    if (mic) passEncoded(pc.addTransceiver(mic, { direction: "sendrecv" }).sender);
    const cam = state.stream.getVideoTracks()[0];
    if (cam) {
      $("video-hint").textContent = "camera on";
      // the camera goes to the server only when it has vision: otherwise encoding it is wasted CPU
      if ((state.config.capabilities || {}).vision !== false) {
        const tr = pc.addTransceiver(startCanvas(video), { direction: "sendonly" });
        passEncoded(tr.sender);
        capBitrate(tr.sender, state.config.videoMaxBitrateBps);
      }
    }
    pc.ontrack = (ev) => {
      if (PROBE_ENCODED && ev.track.kind !== "audio") return passEncoded(ev.receiver);
      const remote = ev.streams[0] || new MediaStream([ev.track]);
      $("remote").srcObject = remote;
      if (hashParams.get("probe")) startProbe(state.stream, remote, ev.receiver);
    };
    pc.onconnectionstatechange = () => {
      const s = pc.connectionState;
      setStatus(s, s === "connected");
      if (s === "failed" || s === "closed") disconnect();
    };
    const dc = pc.createDataChannel("events", { ordered: true });
    state.dc = dc;
    dc.onmessage = (ev) => onEvent(JSON.parse(ev.data));
    dc.onopen = () => { $("say-text").disabled = false; $("say-send").disabled = false; };
    setStatus("connecting…");
    await pc.setLocalDescription(await pc.createOffer());
    await new Promise((resolve) => {
      if (pc.iceGatheringState === "complete") return resolve();
      pc.addEventListener("icegatheringstatechange", () => pc.iceGatheringState === "complete" && resolve());
      setTimeout(resolve, 2000);
    });
    const resp = await fetch("/offer", { method: "POST", headers: { "Content-Type": "application/json", ...authHeaders },
      body: JSON.stringify({ sdp: pc.localDescription.sdp, type: "offer" }) });
    const answer = await resp.json();
    if (!resp.ok) throw new Error(answer.message || resp.statusText);
    await pc.setRemoteDescription(answer);
    $("disconnect").disabled = false;
    state.statsTimer = setInterval(pollStats, 500);
  } catch (e) {
    $("permission-error").textContent = String(e.message || e);
    setStatus("not connected");
    toast("Could not connect: " + (e.message || e));
    cleanup();
  }
}

function cleanup() {
  clearInterval(state.canvasTimer); clearInterval(state.statsTimer);
  if (state.pc) state.pc.close();
  if (state.stream) state.stream.getTracks().forEach((t) => t.stop());
  state.pc = state.dc = state.stream = null;
  $("connect").disabled = false; $("disconnect").disabled = true;
  $("say-text").disabled = true; $("say-send").disabled = true;
  $("video-hint").textContent = "camera off";
}
function disconnect() { cleanup(); setStatus("disconnected", false); }

// --- events from the server ------------------------------------------------------
function onEvent(ev) {
  ev.received_ms = performance.now();
  state.events.push(ev);
  if (state.events.length > 500) state.events.shift();
  if (TURN_EVENTS.has(ev.type) && state.turnLog.length < 5000) state.turnLog.push(ev);  // for dashboards and tests
  switch (ev.type) {
    case "hello": {
      const c = ev.capabilities || {};
      $("caps").textContent = ["asr", "tts", "vision"].map((k) => (c[k] ? "✓ " : "✗ ") + k).join("  ");
      renderBudgets(ev.budgets || []);
      break;
    }
    case "transcript":
      if (ev.final) { addMsg("user", ev.text); $("partial").textContent = ""; }
      else $("partial").textContent = ev.text;
      break;
    case "utterance.end": $("partial").textContent = ""; break;
    case "agent.token": agentToken(ev); break;
    case "agent.reply": break;
    case "caption": caption(ev); break;
    case "audio.start":
      state.audio.firstAudioAt = performance.now();
      if (state.msgs[ev.turn]) {
        state.msgs[ev.turn].meta.textContent = ev.spoken
          ? `voice→voice ${ev.voice_to_voice_ms.toFixed(0)} ms` : `text→voice ${ev.text_to_voice_ms.toFixed(0)} ms`;
      }
      break;
    case "audio.flush": $("caption").textContent = "(interrupted)"; break;
    case "tracks": state.tracks = ev.tracks || []; drawOverlay(); break;
    case "regions": state.regions = ev.regions || []; break;
    case "budgets": renderBudgets(ev.budgets); break;
    case "error": toast(`${ev.code}: ${ev.message}`); break;
  }
}

function addMsg(who, text) {
  const el = document.createElement("div");
  el.className = "msg " + who;
  const body = document.createElement("span"); body.textContent = text;
  const meta = document.createElement("span"); meta.className = "meta";
  meta.textContent = who === "user" ? "you" : "agent";
  el.append(body, meta);
  $("transcript").append(el);
  $("transcript").scrollTop = 1e9;
  return { el, body, meta };
}
function agentToken(ev) {
  let m = state.msgs[ev.turn];
  if (!m) {
    m = addMsg("agent", ""); m.turn = ev.turn; m.full = ""; m.spoken = "";
    m.body.innerHTML = '<span class="spoken"></span><span class="unspoken"></span>';
    state.msgs[ev.turn] = m; state.agentMsg = m;
  }
  m.full += ev.text;
  renderAgent(m);
}
function renderAgent(m) {  // spoken words bright, the rest of the reply dim until its audio plays
  m.body.firstChild.textContent = m.spoken;
  m.body.lastChild.textContent = m.full.slice(m.spoken.length);
}
function caption(ev) {  // a caption arrives when its audio leaves the server: sync highlight
  $("caption").textContent = ((caption.turn === ev.turn ? $("caption").textContent : "") + ev.text).slice(-90);
  caption.turn = ev.turn;
  const m = state.msgs[ev.turn];
  if (m) { m.spoken += ev.text; renderAgent(m); }
}

// --- overlay: tracked boxes and predicted paths ------------------------------------
function drawOverlay() {
  const c = $("overlay"), ctx = c.getContext("2d");
  c.width = c.clientWidth; c.height = c.clientHeight;
  ctx.clearRect(0, 0, c.width, c.height);
  for (const t of state.tracks) {
    const [x, y, w, h] = t.box;  // normalised [0, 1]
    ctx.strokeStyle = "#4f8cff"; ctx.lineWidth = 2;
    ctx.strokeRect(x * c.width, y * c.height, w * c.width, h * c.height);
    ctx.fillStyle = "rgba(15,20,32,.8)"; ctx.fillRect(x * c.width, y * c.height - 18, 110, 18);
    ctx.fillStyle = "#e6ebf5"; ctx.font = "12px system-ui";
    ctx.fillText(`${t.label || "track"} #${t.id ?? ""}`, x * c.width + 4, y * c.height - 5);
    if (t.path && t.path.length) {
      ctx.strokeStyle = "#f2b134"; ctx.setLineDash([5, 4]); ctx.beginPath();
      ctx.moveTo((x + w / 2) * c.width, (y + h / 2) * c.height);
      for (const [px, py] of t.path) ctx.lineTo(px * c.width, py * c.height);
      ctx.stroke(); ctx.setLineDash([]);
    }
  }
}

// --- latency dashboard ---------------------------------------------------------------
function renderBudgets(list) {
  const root = $("budgets");
  for (const b of list) {
    state.budgets[b.name] = b;
    let el = root.querySelector(`[data-budget="${b.name}"]`);
    if (!el) {
      el = document.createElement("div"); el.className = "budget"; el.dataset.budget = b.name; el.title = b.doc || "";
      el.innerHTML = `<div class="row"><span class="name"></span><span class="nums"></span></div>
        <div class="bar"><div class="fill"></div><div class="p95"></div><div class="limit"></div></div>`;
      el.querySelector(".name").textContent = b.name.replaceAll("_", " ");
      root.append(el);
    }
    const has = b.p50_ms !== null && b.p50_ms !== undefined;
    el.classList.toggle("idle", !has);
    const fmt = (v) => (v === null || v === undefined ? "–" : v.toFixed(0));
    el.querySelector(".nums").innerHTML = `p50 <b>${fmt(b.p50_ms)}</b> · p95 <b>${fmt(b.p95_ms)}</b> / ${b.budget_ms} ms` +
      ` · n ${b.count} · <span class="${b.misses ? "misses" : ""}">${b.misses} miss${b.misses === 1 ? "" : "es"}</span>`;
    const pct = (v) => Math.min(100, (100 * v) / (SCALE * b.budget_ms));
    const fill = el.querySelector(".fill");
    fill.style.width = has ? pct(b.p50_ms) + "%" : "0";
    fill.className = "fill" + (has && b.p50_ms > b.budget_ms ? " bad" : has && b.p95_ms > b.budget_ms ? " warn" : "");
    const p95 = el.querySelector(".p95");
    p95.style.display = has ? "block" : "none";
    if (has) p95.style.left = pct(b.p95_ms) + "%";
  }
}

async function pollStats() {
  if (!state.pc) return;
  const stats = await state.pc.getStats();
  let text = [];
  stats.forEach((r) => {
    if (r.type === "inbound-rtp" && r.kind === "audio") {
      state.audio.bytes = r.bytesReceived; state.audio.packets = r.packetsReceived;
      state.audio.energy = r.totalAudioEnergy;
      if (r.jitterBufferEmittedCount) {  // mean time a sample waited in the jitter buffer, and its target
        state.audio.jitterBufferMs = (1000 * r.jitterBufferDelay) / r.jitterBufferEmittedCount;
        state.audio.jitterBufferTargetMs = (1000 * (r.jitterBufferTargetDelay || 0)) / r.jitterBufferEmittedCount;
      }
      text.push(`agent audio in: ${r.packetsReceived} pkts, lost ${r.packetsLost}, jitter ${((r.jitter || 0) * 1000).toFixed(0)} ms`);
    }
    if (r.type === "outbound-rtp" && r.kind === "video") {
      text.push(`camera out: ${(r.framesPerSecond || 0).toFixed(0)} fps, ${r.frameWidth || 0}×${r.frameHeight || 0}`);
    }
    if (r.type === "candidate-pair" && r.state === "succeeded" && r.currentRoundTripTime !== undefined) {
      text.push(`rtt ${(r.currentRoundTripTime * 1000).toFixed(0)} ms`);
    }
  });
  $("client-stats").textContent = text.join(" · ");
}

// --- latency probe (#probe=1): when did the user stop speaking, when did the agent's voice arrive -------
// All in this page's clock. The user's end of speech: on the microphone as captured. The agent's voice:
// when its first encoded frame is received (agentArrivals: an encoded-transform worker sees every Opus
// frame before the jitter buffer; the server sends digital silence, 3-byte frames, between replies), and
// when it is heard (agentStarts: the remote track's level after the jitter buffer and decoder).
// (Chromium's encoded insertable streams: with the peer connection's `encodedInsertableStreams`, every
// sender and receiver must pipe its frames through; only the probe asks for them.)
const SILENT_FRAME_BYTES = 10;
const PROBE_ENCODED = !!hashParams.get("probe") && !!(window.RTCRtpSender && RTCRtpSender.prototype.createEncodedStreams);
function passEncoded(sender) {
  if (!PROBE_ENCODED) return;
  const { readable, writable } = sender.createEncodedStreams();
  readable.pipeTo(writable);
}
function watchArrivals(receiver, probe) {
  if (!PROBE_ENCODED || !receiver) return;
  const { readable, writable } = receiver.createEncodedStreams();
  let on = false, last = 0;
  readable.pipeThrough(new TransformStream({
    transform(frame, out) {
      const t = performance.now();
      if (frame.data.byteLength > SILENT_FRAME_BYTES) { if (!on) probe.agentArrivals.push(t); on = true; last = t; }
      else if (on && t - last > 200) on = false;
      out.enqueue(frame);
    },
  })).pipeTo(writable);
}
function startProbe(micStream, remoteStream, receiver) {
  const ctx = new AudioContext();
  const probe = { micEnds: [], agentStarts: [], agentArrivals: [] };
  state.probe = probe;
  watchArrivals(receiver, probe);
  // Voice is a sample louder than -40 dBFS (the server's rule too); times are placed on the sample, so
  // the buffer can be large (few main-thread callbacks: the probe must not slow what it measures).
  const LEVEL = 0.01, QUIET_MS = 200;
  const watch = (stream, onBuffer) => {
    const src = ctx.createMediaStreamSource(stream);
    const node = ctx.createScriptProcessor(1024, 1, 1);
    node.onaudioprocess = (e) => {
      const x = e.inputBuffer.getChannelData(0);
      const ms = 1000 / ctx.sampleRate, t0 = performance.now() - x.length * ms;  // the buffer's first sample
      let first = -1, last = -1;
      for (let i = 0; i < x.length; i++) if (Math.abs(x[i]) > LEVEL) { if (first < 0) first = i; last = i; }
      onBuffer(first < 0 ? null : t0 + first * ms, first < 0 ? null : t0 + (last + 1) * ms, t0);
    };
    src.connect(node); node.connect(ctx.destination);
  };
  let micOn = false, micLast = 0, agentOn = false, agentLast = 0;
  watch(micStream, (first, last, t) => {
    if (last !== null) { micOn = true; micLast = last; }
    else if (micOn && t - micLast > QUIET_MS) { micOn = false; probe.micEnds.push(micLast); }
  });
  watch(remoteStream, (first, last, t) => {
    if (first !== null) { if (!agentOn) probe.agentStarts.push(first); agentOn = true; agentLast = last; }
    else if (agentOn && t - agentLast > QUIET_MS) agentOn = false;
  });
}

$("connect").onclick = connect;
$("disconnect").onclick = disconnect;
$("say").onsubmit = (e) => {
  e.preventDefault();
  const text = $("say-text").value.trim();
  if (!text || !state.dc || state.dc.readyState !== "open") return;
  addMsg("user", text);
  state.dc.send(JSON.stringify({ type: "text", text }));
  $("say-text").value = "";
};
fetch("/healthz").then((r) => r.json()).then((h) => {
  const c = h.capabilities || {};
  $("caps").textContent = ["asr", "tts", "vision"].map((k) => (c[k] ? "✓ " : "✗ ") + k).join("  ");
}).catch(() => {});
renderBudgets([]);
