// meshctl dashboard: the topology (cytoscape) and per workload / per edge charts (uPlot),
// from the server's snapshots: the history once, then one every 2 s over server-sent events.
"use strict";

const KEEP = 300; // points per series (10 minutes at 2 s)
const series = new Map(); // id -> { t, rps, sr, p50, p95, p99 }
const cards = new Map(); // id -> { el, charts: [uPlot, uPlot] }
let graphShape = "";

const cy = cytoscape({
  container: document.getElementById("graph"),
  wheelSensitivity: 0.3,
  style: [
    { selector: "node", style: {
      "background-color": "#1f6feb", "border-color": "#58a6ff", "border-width": 2,
      label: "data(label)", color: "#d8e0e8", "font-size": 11, "text-wrap": "wrap",
      "text-valign": "bottom", "text-margin-y": 6, width: 34, height: 34 } },
    { selector: "node.down", style: { "background-color": "#6e7681", "border-color": "#f85149" } },
    { selector: "node.external", style: { "background-color": "#30363d", "border-color": "#8294a8" } },
    { selector: "edge", style: {
      width: 3, "curve-style": "bezier", "target-arrow-shape": "triangle",
      "line-color": "#3fb950", "target-arrow-color": "#3fb950",
      label: "data(label)", color: "#d8e0e8", "font-size": 10, "text-wrap": "wrap",
      "text-background-color": "#171e26", "text-background-opacity": 0.9,
      "text-background-padding": 2 } },
    { selector: "edge.plain", style: {
      "line-color": "#f85149", "target-arrow-color": "#f85149", "line-style": "dashed" } },
  ],
});

const fmt = {
  rps: (v) => (v == null ? "–" : v >= 100 ? v.toFixed(0) : v.toFixed(1)),
  pct: (v) => (v == null ? "–" : (100 * v).toFixed(v === 1 ? 0 : 1) + "%"),
  ms: (v) => (v == null ? "–" : v >= 100 ? v.toFixed(0) : v.toFixed(1)),
};

function successClass(v) {
  if (v == null) return "";
  return v >= 0.99 ? "ok" : v >= 0.95 ? "warn" : "bad";
}

function figuresOf(node) {
  // A server's own traffic is what it received; a client only calls.
  if (node.inbound && node.inbound.requests > 0) return node.inbound;
  return node.outbound || node.inbound || null;
}

function push(id, time, f) {
  let s = series.get(id);
  if (!s) {
    s = { t: [], rps: [], sr: [], p50: [], p95: [], p99: [] };
    series.set(id, s);
  }
  s.t.push(time / 1000);
  s.rps.push(f ? f.rps : null);
  s.sr.push(f && f.successRate != null ? 100 * f.successRate : null);
  s.p50.push(f ? f.latencyP50Ms : null);
  s.p95.push(f ? f.latencyP95Ms : null);
  s.p99.push(f ? f.latencyP99Ms : null);
  for (const k of Object.keys(s)) if (s[k].length > KEEP) s[k].shift();
}

function chart(el, title, lines) {
  const opts = {
    width: Math.max(120, el.clientWidth || 140), height: 80,
    title, legend: { show: lines.length > 1, live: false },
    cursor: { show: false }, select: { show: false },
    scales: { x: { time: true } },
    axes: [
      { show: false },
      { size: 34, stroke: "#8294a8", grid: { stroke: "#263241" }, ticks: { show: false },
        font: "10px system-ui" },
    ],
    series: [{}].concat(lines.map(([label, color]) => ({ label, stroke: color, width: 1.5, spanGaps: true }))),
  };
  return new uPlot(opts, [[]].concat(lines.map(() => [])), el);
}

function card(container, id, title, subtitle) {
  let c = cards.get(id);
  if (c) return c;
  const el = document.createElement("div");
  el.className = "card";
  el.id = "card-" + id.replace(/[^a-zA-Z0-9_-]/g, "_");
  el.innerHTML =
    '<div class="title"><span class="name"></span><span class="badges"></span></div>' +
    '<div class="id"></div>' +
    '<div class="figures">' +
    '<div><b class="f-rps">–</b><span>rps</span></div>' +
    '<div><b class="f-sr">–</b><span>success</span></div>' +
    '<div><b class="f-p50">–</b><span>p50 ms</span></div>' +
    '<div><b class="f-p95">–</b><span>p95 ms</span></div>' +
    '<div><b class="f-p99">–</b><span>p99 ms</span></div></div>' +
    '<div class="charts"><div class="c1"></div><div class="c2"></div></div>';
  el.querySelector(".name").textContent = title;
  el.querySelector(".id").textContent = subtitle || "";
  container.appendChild(el);
  c = {
    el,
    charts: [
      chart(el.querySelector(".c1"), "requests/s", [["rps", "#58a6ff"]]),
      chart(el.querySelector(".c2"), "latency ms", [["p50", "#3fb950"], ["p95", "#d29922"], ["p99", "#f85149"]]),
    ],
  };
  cards.set(id, c);
  return c;
}

function fill(c, id, f, badges) {
  const q = (s) => c.el.querySelector(s);
  q(".f-rps").textContent = fmt.rps(f && f.rps);
  const sr = q(".f-sr");
  sr.textContent = fmt.pct(f && f.successRate);
  sr.className = "f-sr " + successClass(f && f.successRate);
  q(".f-p50").textContent = fmt.ms(f && f.latencyP50Ms);
  q(".f-p95").textContent = fmt.ms(f && f.latencyP95Ms);
  q(".f-p99").textContent = fmt.ms(f && f.latencyP99Ms);
  q(".badges").innerHTML = badges;
  c.el.dataset.rps = f ? String(f.rps) : "0";
  c.el.dataset.successRate = f && f.successRate != null ? String(f.successRate) : "";
  const s = series.get(id);
  if (s) {
    c.charts[0].setData([s.t, s.rps]);
    c.charts[1].setData([s.t, s.p50, s.p95, s.p99]);
  }
}

function shortId(identity) {
  if (!identity) return "";
  const m = identity.match(/\/ns\/([^/]+)\/sa\/(.+)$/);
  return m ? m[1] + "/" + m[2] : identity;
}

function render(snap) {
  document.getElementById("window").textContent = "figures over the last " + snap.windowSeconds + " s";
  document.getElementById("edge-window").textContent = "over the last " + snap.edgeWindowSeconds + " s";
  const nodes = new Map(snap.nodes.map((n) => [n.id, n]));
  // Graph: re-laid out only when who is in it changes.
  const ids = snap.nodes.map((n) => n.id);
  for (const e of snap.edges) if (!nodes.has(e.source) && !ids.includes(e.source)) ids.push(e.source);
  const shape = ids.join(",") + "|" + snap.edges.map((e) => e.id).join(",");
  if (shape !== graphShape) {
    graphShape = shape;
    cy.elements().remove();
    cy.add(ids.map((id) => ({ group: "nodes", data: { id, label: id } })));
    cy.add(snap.edges.map((e) => ({ group: "edges", data: { id: e.id, source: e.source, target: e.target, label: "" } })));
    const roots = ids.filter((id) => !snap.edges.some((e) => e.target === id));
    cy.layout({ name: "breadthfirst", directed: true, roots, spacingFactor: 1.6, padding: 40 }).run();
  }
  for (const id of ids) {
    const n = nodes.get(id);
    const f = n ? figuresOf(n) : null;
    const el = cy.getElementById(id);
    el.data("label", id + "\n" + (n ? shortId(n.identity) : "outside the dashboard") +
      (f ? "\n" + fmt.rps(f.rps) + " rps · " + fmt.pct(f.successRate) : ""));
    el.toggleClass("down", !!(n && n.error));
    el.toggleClass("external", !n);
  }
  for (const e of snap.edges) {
    const el = cy.getElementById(e.id);
    el.data("label", (e.mtls ? "mTLS" : "plaintext") + " · " + fmt.rps(e.rps) + " rps\n" +
      fmt.pct(e.successRate) + " · p99 " + fmt.ms(e.latencyP99Ms) + " ms");
    el.toggleClass("plain", !e.mtls);
  }
  // Cards.
  for (const n of snap.nodes) {
    const c = card(document.getElementById("nodes"), "node:" + n.id, n.id, n.identity || n.admin);
    c.el.querySelector(".id").textContent = (n.identity || "no identity") + " · admin " + n.admin;
    const badge = n.error ? '<span class="badge err" title="' + n.error.replace(/"/g, "&quot;") + '">unreachable</span>' : "";
    fill(c, "node:" + n.id, figuresOf(n), badge);
    c.el.dataset.node = n.id;
  }
  for (const e of snap.edges) {
    const c = card(document.getElementById("edges"), "edge:" + e.id, e.source + " → " + e.target, e.clientId || "no client identity");
    fill(c, "edge:" + e.id, e, e.mtls ? '<span class="badge mtls">mTLS</span>' : '<span class="badge plain">plaintext</span>');
    c.el.dataset.edge = e.id;
    c.el.dataset.mtls = String(e.mtls);
  }
  const stamp = new Date(snap.time).toLocaleTimeString();
  const st = document.getElementById("status");
  st.textContent = "live · " + stamp;
  st.className = "status live";
  if (snap.edges.length > 0 && snap.nodes.some((n) => { const f = figuresOf(n); return f && f.rps > 0; })) {
    document.body.dataset.ready = "true";
  }
}

function add(snap) {
  for (const n of snap.nodes) push("node:" + n.id, snap.time, figuresOf(n));
  for (const e of snap.edges) push("edge:" + e.id, snap.time, e);
}

function connect() {
  const source = new EventSource("/events");
  source.addEventListener("history", (ev) => {
    const history = JSON.parse(ev.data) || [];
    series.clear();
    history.forEach(add);
    if (history.length) render(history[history.length - 1]);
  });
  source.addEventListener("snapshot", (ev) => {
    const snap = JSON.parse(ev.data);
    add(snap);
    render(snap);
  });
  source.onerror = () => {
    const st = document.getElementById("status");
    st.textContent = "reconnecting…";
    st.className = "status down";
  };
}

connect();
