// The live page of iotbroker: plain JavaScript over the control API, no
// build step. It follows GET /events/stream, lists GET /clients, draws a
// timeline and drives the faults.
"use strict";

const keep = 5000;   // events kept for the timeline
const rows = 300;    // rows in the events table
const state = { events: [], lastSeq: 0, offset: 0, faults: [], clientsKey: "" };
const $ = (sel) => document.querySelector(sel);

// api calls the control API and returns its JSON, or throws its error.
async function api(method, path) {
  const r = await fetch(path, { method });
  const text = await r.text();
  let data;
  try { data = JSON.parse(text); } catch { data = { error: text }; }
  if (!r.ok) throw new Error(data.error || r.statusText);
  return data;
}

function say(msg, isError) {
  const p = $("#result");
  p.textContent = msg;
  p.className = isError ? "error" : "";
}

// act runs an action from the page and shows its answer.
async function act(method, path) {
  try {
    const data = await api(method, path);
    say(method + " " + path + " → " + JSON.stringify(data));
  } catch (e) {
    say(method + " " + path + " → " + e.message, true);
  }
  refreshFaults();
  refreshClients();
}

// ms turns an RFC 3339 time with nanoseconds into milliseconds since the
// epoch, keeping the fraction.
function ms(at) {
  const m = /^(.*T\d\d:\d\d:\d\d)(?:\.(\d+))?Z$/.exec(at);
  if (!m) return Date.parse(at);
  return Date.parse(m[1] + "Z") + (m[2] ? Number("0." + m[2]) * 1000 : 0);
}

function clock(at) {
  const d = new Date(ms(at));
  return d.toTimeString().slice(0, 8) + "." + String(d.getMilliseconds()).padStart(3, "0");
}

function short(s, n) { return s.length > n ? s.slice(0, n) + "…" : s; }

// what says in a few words what an event carries.
function what(e) {
  const payload = () => e.payload !== undefined ? short(e.payload, 80) : "base64:" + short(e.payload_base64 || "", 60);
  switch (e.kind) {
    case "ACCEPT": return (e.remote || "") + (e.fault ? " (hung up on)" : "");
    case "CONNECT": return `keepalive=${e.keepalive} clean=${e.clean_session}` + (e.username ? ` user=${e.username}` : "") + (e.cn ? ` cn=${e.cn}` : "");
    case "CONNACK": return `rc=${e.return_code} session_present=${e.session_present}`;
    case "SUBSCRIBE": case "UNSUBSCRIBE": return (e.filters || []).map((f) => `${f.filter} (qos ${f.qos})`).join(", ");
    case "SUBACK": return "codes " + (e.return_codes || []).join(", ");
    case "PUBLISH": case "DELIVER": case "DROPPED":
      return `${e.topic} qos=${e.qos}${e.dup ? " dup" : ""}${e.retain ? " retain" : ""} ${payload()}` + (e.cause ? ` (${e.cause})` : "");
    case "PUBACK": case "DELIVERY-ACK": return `id=${e.packet_id}`;
    case "UPGRADE": return `HTTP ${e.http_status}` + (e.cause ? ` ${e.cause}` : "");
    case "FAULT": return e.detail || e.fault;
    case "DISCONNECT": return (e.reason ? e.reason + " " : "") + (e.cause || "clean DISCONNECT");
    case "SHADOW": return `${e.shadow_op} ${e.thing}${e.shadow_name ? "/" + e.shadow_name : ""} → ${e.http_status}` + (e.cause ? ` ${e.cause}` : "");
  }
  return e.cause || e.detail || "";
}

function addRow(e) {
  const tr = document.createElement("tr");
  tr.className = "k-" + e.kind;
  tr.dataset.kind = e.kind;
  tr.dataset.seq = e.seq;
  if (e.client_id) tr.dataset.client = e.client_id;
  for (const text of [e.seq, clock(e.at), e.kind, e.client_id || "", e.listener || "", what(e)]) {
    const td = document.createElement("td");
    td.textContent = text;
    tr.appendChild(td);
  }
  const body = $("#events tbody");
  body.insertBefore(tr, body.firstChild);
  while (body.children.length > rows) body.removeChild(body.lastChild);
}

// later runs fn once, a little after the last of a burst of calls.
function later(fn, delay) {
  let timer = 0;
  return () => { clearTimeout(timer); timer = setTimeout(fn, delay); };
}
const clientsSoon = later(refreshClients, 100);
const faultsSoon = later(refreshFaults, 100);

function onEvent(e) {
  if (e.seq <= state.lastSeq) { // iotbroker restarted: its sequence began again
    state.events = [];
    $("#events tbody").textContent = "";
  }
  state.lastSeq = e.seq;
  state.events.push(e);
  if (state.events.length > keep) state.events.splice(0, state.events.length - keep);
  addRow(e);
  $("#event-count").textContent = `(latest #${e.seq})`;
  if (["CONNECT", "CONNACK", "DISCONNECT"].includes(e.kind)) clientsSoon();
  if (e.kind === "FAULT") { faultsSoon(); clientsSoon(); }
}

async function refreshClients() {
  let clients;
  try { clients = await api("GET", "/clients"); } catch { return; }
  const key = JSON.stringify(clients);
  if (key === state.clientsKey) return; // unchanged: keep the rows (and the buttons under the pointer)
  state.clientsKey = key;
  const body = $("#clients tbody");
  body.textContent = "";
  for (const c of clients) {
    const tr = document.createElement("tr");
    tr.dataset.client = c.client_id;
    const since = c.connected_at ? clock(c.connected_at) : "";
    for (const text of [c.client_id, c.listener, c.remote, since, c.keepalive + " s"]) {
      const td = document.createElement("td");
      td.textContent = text;
      tr.appendChild(td);
    }
    const td = document.createElement("td");
    for (const [label, action, mode] of [["cut (FIN)", "cut-client", "fin"], ["cut (RST)", "cut-client", "rst"], ["disconnect", "disconnect-client", ""]]) {
      const b = document.createElement("button");
      b.textContent = label;
      b.dataset.action = action;
      b.dataset.client = c.client_id;
      if (mode) b.dataset.mode = mode;
      td.appendChild(b);
    }
    tr.appendChild(td);
    body.appendChild(tr);
  }
  $("#client-count").textContent = `(${clients.length})`;
}

async function refreshFaults() {
  try { state.faults = await api("GET", "/faults"); } catch { return; }
  for (const b of document.querySelectorAll("[data-switch]")) {
    b.classList.toggle("on", state.faults.some((f) => f.kind === b.dataset.switch));
  }
  const list = $("#faults-on");
  list.textContent = "";
  for (const f of state.faults) {
    const li = document.createElement("li");
    li.textContent = "on: " + f.kind + (f.return_code ? ` (code ${f.return_code})` : "") + (f.filter ? ` (${f.filter})` : "");
    list.appendChild(li);
  }
}

document.addEventListener("click", (ev) => {
  const b = ev.target.closest("button");
  if (!b || b.form) return; // the publish form has its own handler
  const enc = encodeURIComponent;
  const d = b.dataset;
  if (d.switch) {
    const on = !b.classList.contains("on");
    const code = d.switch === "reject-connect" && on ? "?code=" + $("#reject-code").value : "";
    act(on ? "PUT" : "DELETE", "/faults/" + d.switch + code);
  } else if (d.action === "cut-all") {
    act("POST", "/cut?mode=" + d.mode);
  } else if (d.action === "restart") {
    act("POST", "/restart");
  } else if (d.action === "cut-client") {
    act("POST", "/clients/" + enc(d.client) + "/cut?mode=" + d.mode);
  } else if (d.action === "disconnect-client") {
    act("POST", "/clients/" + enc(d.client) + "/disconnect");
  } else if (d.action === "refuse-subscription") {
    act(d.on === "true" ? "PUT" : "DELETE", "/faults/refuse-subscription?filter=" + enc($("#refuse-filter").value));
  }
});

$("#publish").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const f = new FormData(ev.target);
  const path = `/publish?topic=${encodeURIComponent(f.get("topic"))}&qos=${f.get("qos")}&retain=${f.get("retain") === "on"}`;
  try {
    const r = await fetch(path, { method: "POST", body: f.get("payload") });
    const data = await r.json();
    if (!r.ok) throw new Error(data.error);
    say("published " + JSON.stringify(data));
  } catch (e) {
    say("publish: " + e.message, true);
  }
});

// The timeline: one lane for connection attempts, one per client; time
// runs left to right, now at the right edge.
const svgNS = "http://www.w3.org/2000/svg";
const laneHeight = 26, padLeft = 150, padTop = 18;

function el(name, attrs, parent) {
  const n = document.createElementNS(svgNS, name);
  for (const [k, v] of Object.entries(attrs)) n.setAttribute(k, v);
  parent.appendChild(n);
  return n;
}

function mark(e, x, y, g) {
  const attrs = { class: "mark k-" + e.kind, "data-kind": e.kind, "data-seq": e.seq };
  let n;
  switch (e.kind) {
    case "ACCEPT": n = el("rect", { ...attrs, x: x - 1, y: y - 8, width: 2, height: 16 }, g); break;
    case "CONNECT": n = el("circle", { ...attrs, cx: x, cy: y, r: 5 }, g); break;
    case "DISCONNECT": n = el("path", { ...attrs, d: `M${x - 5} ${y - 5}L${x + 5} ${y + 5}M${x - 5} ${y + 5}L${x + 5} ${y - 5}`, "stroke-width": 2 }, g); break;
    case "PUBLISH": n = el("circle", { ...attrs, cx: x, cy: y - 6, r: 3 }, g); break;
    case "DELIVER": n = el("circle", { ...attrs, cx: x, cy: y + 6, r: 3 }, g); break;
    case "TLS-FAILURE": n = el("path", { ...attrs, d: `M${x} ${y - 6}L${x + 5} ${y + 4}L${x - 5} ${y + 4}Z` }, g); break;
    default: return;
  }
  el("title", {}, n).textContent = `#${e.seq} ${clock(e.at)} ${e.kind} ${e.client_id || ""} ${what(e)}`;
}

function draw() {
  if ($("#freeze").checked) return;
  const svg = $("#timeline");
  const span = Number($("#window").value) * 1000;
  const now = Date.now() + state.offset;
  const from = now - span;
  const shown = state.events.filter((e) => ms(e.at) >= from);
  const lanes = ["connect attempts"];
  for (const e of shown) {
    if (e.client_id && !lanes.includes(e.client_id)) lanes.push(e.client_id);
  }
  const width = svg.clientWidth || 800;
  const height = padTop + lanes.length * laneHeight + 4;
  svg.setAttribute("height", height);
  svg.setAttribute("viewBox", `0 0 ${width} ${height}`);
  svg.textContent = "";
  const g = el("g", {}, svg);
  const x = (t) => padLeft + (t - from) / span * (width - padLeft - 10);
  lanes.forEach((name, i) => {
    const y = padTop + i * laneHeight + laneHeight / 2;
    el("line", { class: "lane", x1: padLeft, x2: width, y1: y, y2: y }, g);
    el("text", { x: 4, y: y + 4, "data-lane": name }, g).textContent = short(name, 20);
  });
  const step = span <= 10000 ? 1000 : span <= 60000 ? 5000 : 30000;
  for (let t = Math.ceil(from / step) * step; t <= now; t += step) {
    el("line", { class: "axis", x1: x(t), x2: x(t), y1: padTop - 4, y2: padTop }, g);
    el("text", { x: x(t) - 10, y: 11 }, g).textContent = `-${Math.round((now - t) / 1000)}s`;
  }
  for (const e of shown) {
    const t = ms(e.at);
    if (e.kind === "FAULT") {
      const f = el("line", { class: "mark k-FAULT", "data-kind": "FAULT", "data-seq": e.seq, x1: x(t), x2: x(t), y1: padTop, y2: height, "stroke-dasharray": "3 3" }, g);
      el("title", {}, f).textContent = `#${e.seq} ${clock(e.at)} ${what(e)}`;
      continue;
    }
    const lane = e.client_id ? lanes.indexOf(e.client_id) : 0;
    mark(e, x(t), padTop + lane * laneHeight + laneHeight / 2, g);
  }
}

async function start() {
  try {
    const info = await api("GET", "/info");
    $("#profile").textContent = "profile " + info.profile;
    const list = $("#endpoints");
    for (const [name, e] of Object.entries(info.endpoints)) {
      const li = document.createElement("li");
      li.textContent = `${name} ${e.url}`;
      list.appendChild(li);
    }
  } catch (e) {
    say("info: " + e.message, true);
  }
  let after = 0;
  try {
    const h = await api("GET", "/health");
    state.offset = ms(h.now) - Date.now();
    after = Math.max(0, h.latest_event - 1000);
  } catch (e) {
    say("health: " + e.message, true);
  }
  const source = new EventSource("/events/stream?after=" + after);
  source.onopen = () => { $("#status").textContent = "live"; $("#status").className = "status live"; };
  source.onerror = () => { $("#status").textContent = "reconnecting…"; $("#status").className = "status"; };
  source.onmessage = (m) => onEvent(JSON.parse(m.data));
  source.addEventListener("gap", (m) => say("events discarded before the page saw them: " + m.data, true));
  refreshClients();
  refreshFaults();
  setInterval(refreshClients, 2000);
  setInterval(draw, 250);
}

start();
