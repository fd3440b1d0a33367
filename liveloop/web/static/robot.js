// liveloop robot panel: the simulated robot, its target and its plan, live (plain JS, no build step).
// Loaded by index.html on every page; it only builds its panel where the server has a robot
// (`liveloop robot`: GET /robot/state answers; under `liveloop serve` it is 404 and nothing shows).
// Events come over the WebSocket /robot/ws (liveloop/apps/robot.py, fields in liveloop/robots/view.py).
"use strict";

(() => {
  const hash = new URLSearchParams(location.hash.slice(1));
  const token = hash.get("token");
  const withToken = (path) => (token ? `${path}?token=${encodeURIComponent(token)}` : path);
  const robot = { hello: null, last: null, states: 0, ws: null, sendGoal: null };
  window.liveloopRobot = robot;  // for tests and for the curious

  const GOALS = [
    ["Follow", { kind: "follow" }], ["Stop", { kind: "stop" }],
    ["←", { kind: "move", direction: "left" }], ["→", { kind: "move", direction: "right" }],
    ["↑", { kind: "move", direction: "forward" }], ["↓", { kind: "move", direction: "back" }],
  ];

  function el(tag, attrs = {}, ...children) {
    const e = document.createElement(tag);
    Object.assign(e, attrs);
    for (const c of children) e.append(c);
    return e;
  }

  function buildPanel() {
    const css = el("link", { rel: "stylesheet", href: "/static/robot.css" });
    document.head.append(css);
    const canvas = el("canvas", { id: "robot-canvas", width: 480, height: 480 });
    const buttons = el("div", { className: "robot-goals" });
    for (const [label, goal] of GOALS) {
      const b = el("button", { textContent: label, title: goal.direction ? `go ${goal.direction}` : goal.kind });
      b.dataset.goal = JSON.stringify(goal);
      b.onclick = () => robot.sendGoal({ type: "goal", ...goal });
      buttons.append(b);
    }
    const panel = el("section", { className: "robot card", id: "robot-panel" },
      el("h2", {}, "Robot", el("span", { className: "hint", id: "robot-conn", textContent: "connecting…" })),
      el("div", { className: "robot-stage" }, canvas),
      el("div", { className: "robot-status", id: "robot-status" }),
      el("div", { className: "robot-pursuit", id: "robot-pursuit" }),
      buttons,
      el("ul", { className: "robot-log", id: "robot-log" }));
    (document.querySelector("main") || document.body).append(panel);
    return canvas;
  }

  function draw(canvas) {
    const h = robot.hello, s = robot.last;
    const ctx = canvas.getContext("2d");
    const W = canvas.width, H = canvas.height;
    ctx.clearRect(0, 0, W, H);
    if (!h) return;
    const [wx0, wy0, wx1, wy1] = h.workspace;
    const sx = W / (wx1 - wx0), sy = H / (wy1 - wy0);
    const X = (x) => (x - wx0) * sx, Y = (y) => H - (y - wy0) * sy;  // the world's y is up
    ctx.fillStyle = "#0a0d15"; ctx.fillRect(0, 0, W, H);
    const [bx0, by0, bx1, by1] = h.target_box;                          // where the target may be
    ctx.setLineDash([6, 5]); ctx.strokeStyle = "#3a4a70"; ctx.lineWidth = 1;
    ctx.strokeRect(X(bx0), Y(by1), (bx1 - bx0) * sx, (by1 - by0) * sy);
    ctx.setLineDash([]);
    ctx.fillStyle = "#39415a";                                          // the obstacle
    ctx.beginPath(); ctx.arc(X(h.obstacle.x), Y(h.obstacle.y), h.obstacle.r * sx, 0, 2 * Math.PI); ctx.fill();
    if (!s) return;
    if (s.plan && s.plan.length) {                                      // the plan the robot was sent
      ctx.strokeStyle = "#b58cff"; ctx.lineWidth = 2; ctx.beginPath();
      s.plan.forEach(([x, y], i) => (i ? ctx.lineTo(X(x), Y(y)) : ctx.moveTo(X(x), Y(y))));
      ctx.stroke();
    }
    const [tx, ty] = s.target, [vx, vy] = s.target_velocity;            // the target, its velocity (1 s)
    ctx.strokeStyle = "#ef5b5b"; ctx.fillStyle = "#ef5b5b"; ctx.lineWidth = 2;
    ctx.beginPath(); ctx.arc(X(tx), Y(ty), Math.max(4, h.grasp_radius * sx), 0, 2 * Math.PI); ctx.stroke();
    ctx.beginPath(); ctx.moveTo(X(tx), Y(ty)); ctx.lineTo(X(tx + vx), Y(ty + vy)); ctx.stroke();
    const [rx, ry] = s.robot;                                           // the robot: filled = gripper closed
    const colour = { running: "#35c28b", stopped: "#ef5b5b", idle: "#8a96b3" }[s.mode] || "#8a96b3";
    ctx.strokeStyle = colour; ctx.fillStyle = colour; ctx.lineWidth = 3;
    ctx.beginPath(); ctx.arc(X(rx), Y(ry), 9, 0, 2 * Math.PI);
    if (s.gripper > 0) ctx.fill(); else ctx.stroke();
  }

  function render(canvas) {
    draw(canvas);
    const s = robot.last;
    if (!s) return;
    document.getElementById("robot-status").textContent =
      `${s.mode} · episode ${s.episode} · ${s.time_s.toFixed(1)} s · distance ${s.distance_m.toFixed(2)} m` +
      `${s.held ? " · holding the target" : ""} · age ${s.age_ms.toFixed(0)} ms`;
    const p = s.pursuit || {};
    document.getElementById("robot-pursuit").textContent = p.text ? `Goal: ${p.text}` : "";
    const log = document.getElementById("robot-log");
    log.replaceChildren(...(s.log || []).slice(-4).map((line) => el("li", { textContent: line })));
  }

  function connect(canvas) {
    const proto = location.protocol === "https:" ? "wss:" : "ws:";
    const ws = new WebSocket(`${proto}//${location.host}${withToken("/robot/ws")}`);
    robot.ws = ws;
    robot.sendGoal = (msg) => ws.readyState === WebSocket.OPEN && ws.send(JSON.stringify(msg));
    const conn = document.getElementById("robot-conn");
    ws.onopen = () => { conn.textContent = "live"; };
    ws.onclose = () => { conn.textContent = "disconnected — retrying"; setTimeout(() => connect(canvas), 2000); };
    ws.onmessage = (msg) => {
      const ev = JSON.parse(msg.data);
      if (ev.type === "robot.hello") robot.hello = ev;
      else if (ev.type === "robot.state") { robot.last = ev; robot.states += 1; }
      else if (ev.type === "error") conn.textContent = `${ev.code}: ${ev.message}`;
      else return;
      requestAnimationFrame(() => render(canvas));
    };
  }

  async function start() {
    let resp;
    try {
      resp = await fetch("/robot/state", { headers: token ? { Authorization: "Bearer " + token } : {} });
    } catch (e) { return; }
    if (resp.status === 404) {  // "no_state": a robot that has not reported yet; anything else: no robot here
      const body = await resp.json().catch(() => ({}));
      if (body.code !== "no_state") return;
    } else if (resp.status !== 200) return;
    connect(buildPanel());
  }
  start();
})();
