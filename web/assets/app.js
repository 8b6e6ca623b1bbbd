// pxelab UI: controls, a canvas timeline (lanes per node, packets as arrows), the packet
// inspector, sweeps and run comparison. Plain JS, no build step. Text that comes from runs
// (plugin logs, packet fields) is only ever put into the page with textContent.
"use strict";

const COLORS = {
  discover: "#1f77b4", offer: "#2ca02c", request: "#ff7f0e", ack: "#9467bd", nak: "#d62728",
  proxy: "#e377c2", tftp: "#8c564b", hsrp: "#8a8f99", vrrp: "#b5b21a", "dhcp-other": "#17becf",
  arp: "#6b8e23", other: "#b0b4bc", malformed: "#000000",
};
const CLASS_NAMES = {
  discover: "DISCOVER", offer: "OFFER", request: "REQUEST", ack: "ACK", nak: "NAK",
  proxy: "proxy DHCP / PXE (4011)", tftp: "TFTP", hsrp: "HSRP", vrrp: "VRRP",
  "dhcp-other": "other DHCP", arp: "ARP", other: "other", malformed: "malformed",
};
const BAND_COLORS = { Active: "#2ca02c", Master: "#2ca02c", Standby: "#4a90d9", Backup: "#4a90d9" };
// Real machines (behind a bridge to a TAP) come after the simulated servers.
const LANE_ORDER = { client: 0, router: 1, server: 2, real: 3, tap: 4 };
const REAL_LANE = "#fbf1dc";
const LANE_HEIGHT_MIN = 44;
const LANE_HEIGHT_MAX = 96;
const AXIS_HEIGHT = 30;
const LABEL_WIDTH = 92;

const $ = (id) => document.getElementById(id);

function el(tag, text, className) {
  const node = document.createElement(tag);
  if (text !== undefined && text !== null) node.textContent = String(text);
  if (className) node.className = className;
  return node;
}

function formatNs(ns) {
  const a = Math.abs(ns);
  if (a >= 1e9) return (ns / 1e9).toFixed(a >= 1e11 ? 1 : 3) + " s";
  if (a >= 1e6) return (ns / 1e6).toFixed(3) + " ms";
  if (a >= 1e3) return (ns / 1e3).toFixed(1) + " µs";
  return Math.round(ns) + " ns";
}

// A tick label with as many decimals as the tick step needs (465.8431 ms at 100 ns steps).
function formatTick(t, step) {
  const a = Math.max(Math.abs(t), step);
  const [unit, scale] = a >= 1e9 ? ["s", 1e9] : a >= 1e6 ? ["ms", 1e6] : a >= 1e3 ? ["µs", 1e3] : ["ns", 1];
  const decimals = Math.max(0, Math.min(9, Math.ceil(-Math.log10(step / scale) - 1e-9)));
  return (t / scale).toFixed(decimals) + " " + unit;
}

function setStatus(text, isError) {
  const status = $("status");
  status.textContent = text;
  status.className = isError ? "error" : "";
}

async function api(path, options) {
  const response = await fetch(path, options);
  let body = null;
  try { body = await response.json(); } catch (_) { body = null; }
  if (!response.ok) {
    const message = body && body.error ? body.error : `${response.status} ${response.statusText}`;
    throw new Error(message);
  }
  return body;
}

// ---------------------------------------------------------------- the timeline

// Binary search: first index in sorted `values` with values[i] >= x.
function lowerBound(values, x) {
  let lo = 0, hi = values.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (values[mid] < x) lo = mid + 1; else hi = mid;
  }
  return lo;
}

function niceStep(span, pixels) {
  const target = span / Math.max(1, pixels / 110);
  const power = Math.pow(10, Math.floor(Math.log10(target)));
  for (const m of [1, 2, 5, 10]) if (m * power >= target) return m * power;
  return 10 * power;
}

class Timeline {
  constructor(canvas, options) {
    this.canvas = canvas;
    this.options = options || {};
    this.run = null;
    this.t0 = 0;
    this.t1 = 1;
    this.selected = null;
    this.hoverDup = null;
    this.linked = [];
    this.divergence = null;
    this.tooltip = this.options.tooltip || null;
    this.stats = { renderMs: 0, arrowsDrawn: 0 };
    this.bind();
  }

  setRun(run) {
    this.run = run;
    const nodes = run.nodes.map((node, index) => ({ ...node, index }));
    nodes.sort((a, b) => (LANE_ORDER[a.kind] - LANE_ORDER[b.kind]) || (a.index - b.index));
    this.lanes = nodes;
    this.laneOf = new Map(nodes.map((node, lane) => [node.index, lane]));
    // Arrows (one per receive), sorted by send time, as typed arrays for speed.
    const events = run.events;
    const arrows = [];
    for (let i = 0; i < events.length; i++) {
      const e = events[i];
      if (e.from === undefined || e.n === null) continue;
      const s = events[e.from];
      if (!this.laneOf.has(s.n) || !this.laneOf.has(e.n)) continue;
      arrows.push(i);
    }
    arrows.sort((a, b) => events[events[a].from].t - events[events[b].from].t);
    const n = arrows.length;
    this.arrowEvent = new Int32Array(n);
    this.arrowStart = new Float64Array(n);
    this.arrowEnd = new Float64Array(n);
    this.maxFlight = 0;
    // Per arrow, for the zoomed-out path: its colour class and its lanes.
    this.classes = Object.keys(COLORS);
    this.arrowClass = new Uint8Array(n);
    this.arrowFromLane = new Int16Array(n);
    this.arrowToLane = new Int16Array(n);
    arrows.forEach((index, k) => {
      const e = events[index];
      const c = this.classes.indexOf(e.c);
      this.arrowClass[k] = c < 0 ? this.classes.indexOf("other") : c;
      this.arrowFromLane[k] = this.laneOf.get(events[e.from].n);
      this.arrowToLane[k] = this.laneOf.get(e.n);
      this.arrowEvent[k] = index;
      this.arrowStart[k] = events[e.from].t;
      this.arrowEnd[k] = e.t;
      this.maxFlight = Math.max(this.maxFlight, e.t - events[e.from].t);
    });
    // Dots: state changes, logs worth seeing, drops not tied to a receive.
    this.dots = [];
    for (let i = 0; i < events.length; i++) {
      const e = events[i];
      if (e.n === null || !this.laneOf.has(e.n)) continue;
      const important = e.k === "state" || e.k === "windows-event" ||
        (e.k === "log" && (e.level === "error" || e.level === "warning"));
      if (important) this.dots.push(i);
    }
    this.dotTimes = Float64Array.from(this.dots, (i) => events[i].t);
    this.end = run.summary.sim_time_ns || 1;
    this.resize();
  }

  // The window that shows the boot: from the first packet that is not a redundancy hello to
  // the last thing a client did (its outcome), and at least the first crash.
  interestingRange() {
    const events = this.run.events;
    const clients = new Set(this.run.nodes.map((node, index) => node.kind === "client" ? index : -1));
    let first = Infinity, last = 0;
    for (const e of events) {
      if (e.k === "send" && e.c !== "hsrp" && e.c !== "vrrp") first = Math.min(first, e.t);
      if (clients.has(e.n) && e.k !== "receive" && e.k !== "drop") last = Math.max(last, e.t);
    }
    const crash = this.run.markers.find((m) => m.kind === "crash");
    if (crash) last = Math.max(last, crash.time_ns);
    if (!isFinite(first) || last <= first) return [0, this.end];
    const pad = Math.max((last - first) * 0.03, 1000);
    return [Math.max(0, first - pad), last + pad];
  }

  fit() {
    [this.t0, this.t1] = this.interestingRange();
    this.changed();
  }

  setWindow(t0, t1, quiet) {
    if (!(t1 > t0)) return;
    const span = Math.max(t1 - t0, 50);
    if (t0 < 0) t0 = 0;
    this.t0 = t0;
    this.t1 = t0 + span;
    if (!quiet) this.changed();
    else this.draw();
  }

  changed() {
    this.draw();
    if (this.options.onWindow) this.options.onWindow(this.t0, this.t1, this);
  }

  resize() {
    const ratio = window.devicePixelRatio || 1;
    const lanes = this.lanes ? this.lanes.length : 4;
    // Lanes share the height the window leaves (the legend stays on screen), within limits.
    const top = this.canvas.parentElement.getBoundingClientRect().top + window.scrollY;
    const room = window.innerHeight - top - (this.options.reserve || 70) - AXIS_HEIGHT;
    this.laneHeight = this.options.laneHeight ||
      Math.max(LANE_HEIGHT_MIN, Math.min(LANE_HEIGHT_MAX, Math.floor(room / lanes)));
    const height = AXIS_HEIGHT + lanes * this.laneHeight + 8;
    this.canvas.style.height = height + "px";
    this.canvas.parentElement.style.minHeight = height + "px";
    const width = this.canvas.clientWidth || 800;
    this.canvas.width = Math.round(width * ratio);
    this.canvas.height = Math.round(height * ratio);
    this.width = width;
    this.height = height;
    this.ratio = ratio;
    this.draw();
  }

  x(t) { return LABEL_WIDTH + (t - this.t0) / (this.t1 - this.t0) * (this.width - LABEL_WIDTH - 8); }
  timeAt(x) { return this.t0 + (x - LABEL_WIDTH) / (this.width - LABEL_WIDTH - 8) * (this.t1 - this.t0); }
  laneY(node) { return AXIS_HEIGHT + this.laneOf.get(node) * this.laneHeight + this.laneHeight / 2; }

  // Visible arrow range [from, to) in the arrays sorted by send time.
  visibleArrows() {
    const from = lowerBound(this.arrowStart, this.t0 - this.maxFlight);
    const to = lowerBound(this.arrowStart, this.t1 + 1);
    return [from, to];
  }

  arrowGeometry(k) {
    const events = this.run.events;
    const e = events[this.arrowEvent[k]];
    const s = events[e.from];
    return { x1: this.x(s.t), y1: this.laneY(s.n), x2: this.x(e.t), y2: this.laneY(e.n), event: this.arrowEvent[k] };
  }

  draw() {
    if (!this.run) return;
    const started = performance.now();
    const g = this.canvas.getContext("2d");
    g.setTransform(this.ratio, 0, 0, this.ratio, 0, 0);
    g.clearRect(0, 0, this.width, this.height);
    const events = this.run.events;
    const right = this.width - 8;

    // Lanes and their labels.
    this.lanes.forEach((node, lane) => {
      const top = AXIS_HEIGHT + lane * this.laneHeight;
      // A real machine's lane is tinted: what happens on it happened outside the simulation.
      g.fillStyle = node.kind === "real" ? REAL_LANE : (lane % 2 ? "#fafbfc" : "#f3f5f8");
      g.fillRect(0, top, this.width, this.laneHeight);
      g.strokeStyle = "#d5d9e1";
      g.beginPath(); g.moveTo(LABEL_WIDTH, top + this.laneHeight / 2); g.lineTo(right, top + this.laneHeight / 2); g.stroke();
    });

    g.save();
    g.beginPath(); g.rect(LABEL_WIDTH, 0, right - LABEL_WIDTH, this.height); g.clip();

    // Bands and bars under the mouse have tooltips: their boxes as drawn.
    this.boxes = [];
    // Redundancy states: bands along the bottom of router lanes, one strip per group.
    const groups = new Map();
    for (const band of this.run.bands) {
      const key = band.node + "|" + band.group;
      if (!groups.has(key)) groups.set(key, groups.size);
    }
    const perNode = new Map();
    for (const band of this.run.bands) {
      if (!this.laneOf.has(band.node)) continue;
      if (!perNode.has(band.node)) perNode.set(band.node, []);
      const list = perNode.get(band.node);
      if (!list.includes(band.group)) list.push(band.group);
      const strip = list.indexOf(band.group);
      const strips = Math.max(1, list.length);
      const stripHeight = this.laneHeight >= 70 ? 10 : 6;
      const top = AXIS_HEIGHT + this.laneOf.get(band.node) * this.laneHeight + this.laneHeight - 2 - (strip + 1) * (stripHeight + 1);
      const x1 = Math.max(this.x(band.start_ns), LABEL_WIDTH), x2 = Math.min(this.x(band.end_ns), right);
      if (x2 < LABEL_WIDTH || x1 > right || strips > 4) continue;
      g.fillStyle = BAND_COLORS[band.state] || "#e6a23c";
      g.globalAlpha = 0.6;
      g.fillRect(x1, top, Math.max(1, x2 - x1), stripHeight);
      this.boxes.push({ x1, x2, y1: top, y2: top + stripHeight, text: band.group + ": " + band.state + " from " + formatNs(band.start_ns) + " to " + formatNs(band.end_ns) });
      g.globalAlpha = 1;
      if (x2 - x1 > 90 && stripHeight >= 10) {
        g.fillStyle = "#fff";
        g.font = "bold 9px system-ui, sans-serif";
        g.fillText(band.group + ": " + band.state, x1 + 4, top + 8);
      }
    }

    // Plugin work: bars on server lanes (device lookups in flight).
    for (const bar of this.run.work) {
      if (!this.laneOf.has(bar.node)) continue;
      const x1 = this.x(bar.start_ns), x2 = this.x(bar.end_ns);
      if (x2 < LABEL_WIDTH || x1 > right) continue;
      const sameLane = this.run.work.filter((b) => b.node === bar.node && b.start_ns < bar.start_ns && b.end_ns > bar.start_ns).length;
      const y = AXIS_HEIGHT + this.laneOf.get(bar.node) * this.laneHeight + 4 + (sameLane % 3) * 7;
      g.fillStyle = bar.outcome === "done" ? "rgba(120, 80, 200, 0.6)" : "rgba(214, 39, 40, 0.6)";
      g.fillRect(x1, y, Math.max(2, x2 - x1), 6);
      const outcomes = { done: "done", crashed: "its result crashed the service", cut: "cut short by a crash", open: "still running when the run ended" };
      this.boxes.push({ x1, x2: Math.max(x1 + 2, x2), y1: y - 1, y2: y + 7, text: bar.label + "\n" + formatNs(bar.end_ns - bar.start_ns) + ", " + (outcomes[bar.outcome] || bar.outcome) });
    }

    // Packets: one arrow per receive.
    const [from, to] = this.visibleArrows();
    const count = to - from;
    const heads = count < 3000;
    const selectedEvent = this.selected ? this.selected.event : -1;
    const highlightDup = this.activeDup();
    let drawn = 0;
    g.lineWidth = 1;
    // Zoomed out, thousands of arrows share pixels: one path per colour, each pixel line once.
    const dense = count > 2000;
    if (dense) {
      const paths = this.classes.map(() => null);
      const seen = new Set();
      const scale = (this.width - LABEL_WIDTH - 8) / (this.t1 - this.t0);
      const half = this.laneHeight / 2, t0 = this.t0;
      for (let k = from; k < to; k++) {
        const x1 = Math.round(LABEL_WIDTH + (this.arrowStart[k] - t0) * scale);
        const x2 = Math.round(LABEL_WIDTH + (this.arrowEnd[k] - t0) * scale);
        if (x2 < LABEL_WIDTH || x1 > right) continue;
        const lane1 = this.arrowFromLane[k], lane2 = this.arrowToLane[k];
        const key = ((x1 + 4096) * 16384 + x2 + 4096) * 4096 + lane1 * 64 + lane2;
        if (seen.has(key)) continue;
        seen.add(key);
        const c = this.arrowClass[k];
        const path = paths[c] || (paths[c] = new Path2D());
        path.moveTo(x1, AXIS_HEIGHT + lane1 * this.laneHeight + half);
        path.lineTo(x2, AXIS_HEIGHT + lane2 * this.laneHeight + half);
        drawn++;
      }
      g.globalAlpha = 0.8;
      paths.forEach((path, c) => {
        if (!path) return;
        g.strokeStyle = COLORS[this.classes[c]];
        g.stroke(path);
      });
      g.globalAlpha = 1;
    }
    for (let k = dense ? to : from; k < to; k++) {
      const index = this.arrowEvent[k];
      const e = events[index];
      const a = this.arrowGeometry(k);
      if (a.x2 < LABEL_WIDTH || a.x1 > right) continue;
      const color = COLORS[e.c] || COLORS.other;
      const dup = e.dup !== undefined;
      const dim = highlightDup !== null && e.dup !== highlightDup && index !== selectedEvent;
      g.globalAlpha = dim ? 0.25 : (e.drop ? 0.35 : 0.9);
      g.strokeStyle = color;
      g.lineWidth = dup ? 2.5 : 1.2;
      if (dup && !dim) {
        g.save();
        g.strokeStyle = "rgba(255, 200, 0, 0.55)";
        g.lineWidth = 7;
        g.beginPath(); g.moveTo(a.x1, a.y1); g.lineTo(a.x2, a.y2); g.stroke();
        g.restore();
        g.strokeStyle = color; g.lineWidth = 2.5;
      }
      if (e.drop) g.setLineDash([4, 3]);
      g.beginPath(); g.moveTo(a.x1, a.y1); g.lineTo(a.x2, a.y2); g.stroke();
      if (e.drop) g.setLineDash([]);
      if (heads) this.arrowHead(g, a, color);
      if (index === selectedEvent) {
        g.globalAlpha = 1;
        g.strokeStyle = "#000"; g.lineWidth = 1;
        g.setLineDash([2, 2]);
        g.beginPath(); g.moveTo(a.x1, a.y1); g.lineTo(a.x2, a.y2); g.stroke();
        g.setLineDash([]);
      }
      drawn++;
    }
    g.globalAlpha = 1;
    g.lineWidth = 1;

    // Relayed duplicates of one request: a bracket joining the copies where they arrive.
    this.drawDuplicates(g, right);

    // State changes and warnings: dots on the lane.
    const d0 = lowerBound(this.dotTimes, this.t0), d1 = lowerBound(this.dotTimes, this.t1 + 1);
    for (let k = d0; k < d1 && k - d0 < 5000; k++) {
      const e = events[this.dots[k]];
      const x = this.x(e.t), y = this.laneY(e.n);
      g.fillStyle = e.level === "error" ? "#c0001a" : (e.level === "warning" ? "#e08a00" : "#34495e");
      g.beginPath(); g.arc(x, y, 3, 0, 2 * Math.PI); g.fill();
    }

    // First divergence of a comparison.
    if (this.divergence !== null) {
      const x = this.x(this.divergence);
      g.strokeStyle = "#c000c0"; g.lineWidth = 2; g.setLineDash([6, 4]);
      g.beginPath(); g.moveTo(x, AXIS_HEIGHT); g.lineTo(x, this.height); g.stroke();
      g.setLineDash([]); g.lineWidth = 1;
      g.fillStyle = "#c000c0"; g.font = "bold 11px system-ui, sans-serif";
      g.fillText("first difference in behaviour", x + 4, AXIS_HEIGHT + 11);
    }

    // Crashes and restarts: markers on the lane, a line across all lanes for crashes.
    this.markerBoxes = [];
    for (const marker of this.run.markers) {
      if (!this.laneOf.has(marker.node)) continue;
      const x = this.x(marker.time_ns), y = this.laneY(marker.node);
      if (x < LABEL_WIDTH - 10 || x > right + 10) continue;
      if (marker.kind === "crash") {
        g.strokeStyle = "rgba(192, 0, 26, 0.5)"; g.lineWidth = 1.5; g.setLineDash([5, 4]);
        g.beginPath(); g.moveTo(x, AXIS_HEIGHT); g.lineTo(x, this.height); g.stroke();
        g.setLineDash([]);
        g.fillStyle = "#c0001a";
        g.beginPath(); g.arc(x, y, 10, 0, 2 * Math.PI); g.fill();
        g.strokeStyle = "#fff"; g.lineWidth = 2.5;
        g.beginPath(); g.moveTo(x - 5, y - 5); g.lineTo(x + 5, y + 5); g.moveTo(x + 5, y - 5); g.lineTo(x - 5, y + 5); g.stroke();
        g.fillStyle = "#c0001a"; g.font = "bold 12px system-ui, sans-serif";
        g.fillText("CRASH", x + 13, y - 6);
      } else {
        g.fillStyle = "#1a7f37";
        g.beginPath(); g.moveTo(x, y - 9); g.lineTo(x + 9, y + 7); g.lineTo(x - 9, y + 7); g.closePath(); g.fill();
        g.font = "bold 11px system-ui, sans-serif";
        g.fillText("restart", x + 11, y - 6);
      }
      g.lineWidth = 1;
      this.markerBoxes.push({ x, y, marker });
    }
    g.restore();

    // Lane labels over everything on the left.
    g.fillStyle = "#fff";
    g.fillRect(0, AXIS_HEIGHT, LABEL_WIDTH - 2, this.height);
    this.lanes.forEach((node, lane) => {
      const top = AXIS_HEIGHT + lane * this.laneHeight;
      const real = node.kind === "real";
      if (real) {
        g.fillStyle = REAL_LANE;
        g.fillRect(0, top, LABEL_WIDTH - 2, this.laneHeight);
      }
      g.fillStyle = "#1d2330"; g.font = "bold 12px system-ui, sans-serif";
      g.fillText(node.name, 8, top + this.laneHeight / 2 - 1);
      g.fillStyle = real ? "#9a5b00" : "#778";
      g.font = (real ? "bold " : "") + "10px system-ui, sans-serif";
      g.fillText(real ? "REAL · TAP " + (node.tap || "?") : node.kind, 8, top + this.laneHeight / 2 + 12);
    });

    this.drawAxis(g, right);
    this.stats = { renderMs: performance.now() - started, arrowsDrawn: drawn };
    if (this.options.onDraw) this.options.onDraw(this);
  }

  arrowHead(g, a, color) {
    const dx = a.x2 - a.x1, dy = a.y2 - a.y1;
    const length = Math.hypot(dx, dy);
    if (length < 10) return;
    const ux = dx / length, uy = dy / length;
    g.fillStyle = color;
    g.beginPath();
    g.moveTo(a.x2, a.y2);
    g.lineTo(a.x2 - 7 * ux - 3.5 * uy, a.y2 - 7 * uy + 3.5 * ux);
    g.lineTo(a.x2 - 7 * ux + 3.5 * uy, a.y2 - 7 * uy - 3.5 * ux);
    g.closePath();
    g.fill();
  }

  activeDup() {
    if (this.hoverDup !== null) return this.hoverDup;
    if (this.selected && this.run.events[this.selected.event].dup !== undefined) {
      return this.run.events[this.selected.event].dup;
    }
    return null;
  }

  drawDuplicates(g, right) {
    const events = this.run.events;
    this.run.duplicates.forEach((group, index) => {
      const times = group.receives.map((i) => events[i].t);
      const first = Math.min(...times), last = Math.max(...times);
      if (this.x(last) < LABEL_WIDTH || this.x(first) > right) return;
      const node = events[group.receives[0]].n;
      if (!this.laneOf.has(node)) return;
      const y = this.laneY(node) + 13;
      const x1 = this.x(first), x2 = this.x(last);
      const active = this.activeDup() === index;
      g.strokeStyle = active ? "#d08c00" : "#e0a800";
      g.lineWidth = active ? 3 : 2;
      g.beginPath();
      g.moveTo(x1, y - 6); g.lineTo(x1, y); g.lineTo(x2, y); g.lineTo(x2, y - 6);
      g.stroke();
      g.lineWidth = 1;
      if (x2 - x1 > 24 || active) {
        g.fillStyle = "#8a5d00"; g.font = "bold 10px system-ui, sans-serif";
        g.fillText(group.receives.length + "× " + group.label.split(" at ")[0], x1, y + 11);
      }
    });
  }

  drawAxis(g, right) {
    g.fillStyle = "#fff";
    g.fillRect(0, 0, this.width, AXIS_HEIGHT);
    g.strokeStyle = "#9aa3b5";
    g.beginPath(); g.moveTo(LABEL_WIDTH, AXIS_HEIGHT - 1); g.lineTo(right, AXIS_HEIGHT - 1); g.stroke();
    const step = niceStep(this.t1 - this.t0, right - LABEL_WIDTH);
    g.fillStyle = "#334"; g.font = "11px system-ui, sans-serif";
    for (let t = Math.ceil(this.t0 / step) * step; t <= this.t1; t += step) {
      const x = this.x(t);
      g.beginPath(); g.moveTo(x, AXIS_HEIGHT - 7); g.lineTo(x, AXIS_HEIGHT - 1); g.stroke();
      g.fillText(formatTick(t, step), x + 2, AXIS_HEIGHT - 11);
    }
    g.fillStyle = "#667";
    g.fillText("simulated time", 8, AXIS_HEIGHT - 11);
  }

  // What is under (x, y): a marker, an arrow (nearest within 6 px), or a dot.
  hit(x, y) {
    if (!this.run || x < LABEL_WIDTH) return null;
    for (const box of this.markerBoxes || []) {
      if (Math.hypot(box.x - x, box.y - y) <= 12) return { kind: "marker", event: box.marker.event, marker: box.marker };
    }
    let best = null, bestDistance = 6;
    const [from, to] = this.visibleArrows();
    for (let k = from; k < to; k++) {
      const a = this.arrowGeometry(k);
      const distance = segmentDistance(x, y, a);
      if (distance < bestDistance) { bestDistance = distance; best = { kind: "packet", event: a.event }; }
    }
    if (best) return best;
    const events = this.run.events;
    const t = this.timeAt(x), slack = (this.t1 - this.t0) / (this.width - LABEL_WIDTH) * 5;
    const d0 = lowerBound(this.dotTimes, t - slack), d1 = lowerBound(this.dotTimes, t + slack);
    for (let k = d0; k < d1; k++) {
      const e = events[this.dots[k]];
      if (Math.abs(this.laneY(e.n) - y) < 6) return { kind: "event", event: this.dots[k] };
    }
    for (const box of this.boxes || []) {
      if (x >= box.x1 && x <= box.x2 && y >= box.y1 && y <= box.y2) return { kind: "box", text: box.text };
    }
    return null;
  }

  bind() {
    const canvas = this.canvas;
    let drag = null;
    canvas.addEventListener("wheel", (event) => {
      if (!this.run) return;
      event.preventDefault();
      const rect = canvas.getBoundingClientRect();
      const x = event.clientX - rect.left;
      if (event.shiftKey || Math.abs(event.deltaX) > Math.abs(event.deltaY)) {
        const delta = (event.shiftKey ? event.deltaY : event.deltaX) / (this.width - LABEL_WIDTH) * (this.t1 - this.t0);
        this.setWindow(this.t0 + delta, this.t1 + delta);
        return;
      }
      this.zoomAt(this.timeAt(Math.max(x, LABEL_WIDTH)), Math.exp(event.deltaY * 0.0015));
    }, { passive: false });
    canvas.addEventListener("mousedown", (event) => {
      drag = { x: event.clientX, t0: this.t0, t1: this.t1, moved: false };
      canvas.focus();
    });
    window.addEventListener("mousemove", (event) => {
      if (drag) {
        const dx = event.clientX - drag.x;
        if (Math.abs(dx) > 3) drag.moved = true;
        if (drag.moved) {
          canvas.classList.add("dragging");
          const dt = dx / (this.width - LABEL_WIDTH) * (drag.t1 - drag.t0);
          this.setWindow(drag.t0 - dt, drag.t1 - dt);
        }
        return;
      }
      if (event.target === canvas) this.hover(event);
    });
    window.addEventListener("mouseup", (event) => {
      if (!drag) return;
      const moved = drag.moved;
      drag = null;
      canvas.classList.remove("dragging");
      if (!moved && event.target === canvas) {
        const rect = canvas.getBoundingClientRect();
        const hit = this.hit(event.clientX - rect.left, event.clientY - rect.top);
        this.select(hit);
      }
    });
    canvas.addEventListener("mouseleave", () => { this.hoverDup = null; if (this.tooltip) this.tooltip.hidden = true; this.draw(); });
    canvas.addEventListener("keydown", (event) => {
      if (!this.run) return;
      const span = this.t1 - this.t0, middle = (this.t0 + this.t1) / 2;
      const keys = {
        "+": () => this.zoomAt(middle, 0.7), "=": () => this.zoomAt(middle, 0.7),
        "-": () => this.zoomAt(middle, 1 / 0.7), "_": () => this.zoomAt(middle, 1 / 0.7),
        ArrowLeft: () => this.setWindow(this.t0 - span * 0.15, this.t1 - span * 0.15),
        ArrowRight: () => this.setWindow(this.t0 + span * 0.15, this.t1 + span * 0.15),
        "0": () => this.fit(),
        Home: () => this.setWindow(0, span),
        End: () => this.setWindow(this.end - span, this.end),
      };
      if (keys[event.key]) { event.preventDefault(); keys[event.key](); }
    });
    window.addEventListener("resize", () => { if (this.run) this.resize(); });
  }

  zoomAt(t, factor) {
    const t0 = t - (t - this.t0) * factor, t1 = t + (this.t1 - t) * factor;
    this.setWindow(t0, t1);
  }

  hover(event) {
    const rect = this.canvas.getBoundingClientRect();
    const x = event.clientX - rect.left, y = event.clientY - rect.top;
    const hit = this.hit(x, y);
    const dup = hit && hit.kind === "packet" && this.run.events[hit.event].dup !== undefined
      ? this.run.events[hit.event].dup : null;
    if (dup !== this.hoverDup) { this.hoverDup = dup; this.draw(); }
    if (!this.tooltip) return;
    if (!hit) { this.tooltip.hidden = true; return; }
    let text = hit.text;
    if (hit.event !== undefined) {
      const e = this.run.events[hit.event];
      text = formatNs(e.t) + "  " + this.run.nodes[e.n].name + "\n" + e.x;
      if (e.drop) text += "\n(dropped: " + e.drop + ")";
      if (dup !== null) text += "\nrelayed duplicate: " + this.run.duplicates[dup].label + " via " + this.run.duplicates[dup].giaddrs.join(" and ");
    }
    this.tooltip.textContent = text;
    this.tooltip.hidden = false;
    this.tooltip.style.left = Math.min(x + 14, this.width - 300) + "px";
    this.tooltip.style.top = (y + 14) + "px";
  }

  select(hit) {
    if (hit && hit.event === undefined) return; // a band or a bar: its tooltip says it all
    this.selected = hit;
    this.draw();
    if (hit && this.options.onSelect) this.options.onSelect(hit, this);
  }
}

function segmentDistance(px, py, a) {
  const dx = a.x2 - a.x1, dy = a.y2 - a.y1;
  const length2 = dx * dx + dy * dy;
  let t = length2 ? ((px - a.x1) * dx + (py - a.y1) * dy) / length2 : 0;
  t = Math.max(0, Math.min(1, t));
  return Math.hypot(px - (a.x1 + t * dx), py - (a.y1 + t * dy));
}

// ---------------------------------------------------------------- inspector

function row(table, key, value, className) {
  const tr = el("tr", null, className);
  tr.append(el("td", key), el("td", value));
  table.append(tr);
}

function hexDump(hex) {
  const bytes = hex ? hex.split(" ") : [];
  const lines = [];
  for (let offset = 0; offset < bytes.length; offset += 16) {
    const chunk = bytes.slice(offset, offset + 16);
    const ascii = chunk.map((b) => { const c = parseInt(b, 16); return c >= 32 && c < 127 ? String.fromCharCode(c) : "."; }).join("");
    lines.push(offset.toString(16).padStart(4, "0") + "  " + chunk.join(" ").padEnd(48) + " " + ascii);
  }
  return lines.join("\n");
}

async function inspect(runId, hit) {
  const body = $("inspector-body");
  body.replaceChildren(el("p", "Loading event " + hit.event + "…", "hint"));
  let detail;
  try {
    detail = await api(`/api/runs/${runId}/events/${hit.event}`);
  } catch (error) {
    body.replaceChildren(el("p", error.message, "error"));
    return;
  }
  const parts = [];
  parts.push(el("h3", detail.text));
  const meta = el("table");
  row(meta, "event", "#" + detail.index + " (" + detail.kind + ")");
  row(meta, "time", detail.time + "  (" + detail.time_ns + " ns)");
  row(meta, "node", detail.node);
  if (detail.lan) row(meta, "LAN", detail.lan);
  if (detail.sent_by) row(meta, "sent by", detail.sent_by + " (event #" + detail.sent_event + "), " + detail.latency + " on the wire");
  if (detail.received_by) row(meta, "received by", detail.received_by.length ? detail.received_by.join(", ") : "nobody");
  if (detail.dropped) row(meta, "dropped", detail.dropped);
  if (hit.marker) row(meta, "marker", hit.marker.kind);
  parts.push(meta);
  if (detail.packet) {
    const packet = detail.packet;
    packet.layers.forEach((layer, position) => {
      const details = el("details");
      // The protocol the nodes act on is open; the headers under it are a click away.
      details.open = position === packet.layers.length - 1 || Boolean(layer.error);
      details.append(el("summary", layer.name));
      if (layer.error) details.append(el("p", layer.error, "error"));
      const table = el("table");
      for (const [key, value] of layer.fields) row(table, key, value);
      for (const option of layer.options || []) {
        row(table, "Option " + option.code, option.name + ": " + option.value);
        for (const sub of option.suboptions || []) {
          row(table, "  suboption " + sub.code, sub.name + ": " + sub.value, "sub");
        }
      }
      details.append(table);
      parts.push(details);
    });
    const raw = el("details");
    raw.append(el("summary", "Raw bytes (" + packet.bytes + ")"));
    raw.append(el("pre", hexDump(packet.hex)));
    parts.push(raw);
  }
  body.replaceChildren(...parts);
}

// ---------------------------------------------------------------- the page

const state = {
  topologies: [],
  plugins: [],
  run: null,
  view: "timeline",
  sweepSource: null,
};

const timeline = new Timeline($("timeline"), {
  tooltip: $("tooltip"),
  onSelect: (hit) => { if (state.run) inspect(state.run.id, hit); },
  onWindow: () => writeUrl(),
  onDraw: (t) => exposeView(t),
});

// A debug handle for tests and the curious: what is drawn and where.
function exposeView(t) {
  const markers = (t.markerBoxes || []).map((box) => ({
    kind: box.marker.kind, node: t.run.nodes[box.marker.node].name, x: box.x, y: box.y, event: box.marker.event,
  }));
  const [from, to] = t.visibleArrows();
  window.pxelabView = {
    ready: true,
    runId: t.run.id,
    record: t.run.record ? t.run.record.name : null,
    lanes: t.lanes.map((lane) => lane.name),
    laneKinds: t.lanes.map((lane) => lane.kind),
    laneHeight: t.laneHeight,
    realNodes: t.run.nodes.map((node, index) => node.kind === "real" ? index : -1).filter((index) => index >= 0),
    arrowsTotal: t.arrowEvent.length,
    arrowsVisible: to - from,
    arrowsDrawn: t.stats.arrowsDrawn,
    renderMs: t.stats.renderMs,
    events: t.run.events.length,
    t0: t.t0, t1: t.t1,
    markers,
    duplicates: t.run.duplicates.length,
    selected: t.selected ? t.selected.event : null,
    // The canvas point (page coordinates) of the middle of the first visible arrow that
    // matches `predicate(event)`.
    arrowPoint(predicate) {
      const rect = t.canvas.getBoundingClientRect();
      for (let k = from; k < to; k++) {
        const a = t.arrowGeometry(k);
        if (a.x1 < LABEL_WIDTH || a.x2 > t.width - 8) continue;
        if (predicate && !predicate(t.run.events[a.event], a.event)) continue;
        return { x: rect.left + (a.x1 + a.x2) / 2, y: rect.top + (a.y1 + a.y2) / 2, event: a.event };
      }
      return null;
    },
    canvasRect() { const r = t.canvas.getBoundingClientRect(); return { x: r.left, y: r.top, width: r.width, height: r.height }; },
  };
  t.canvas.dataset.lanes = String(t.lanes.length);
  t.canvas.dataset.arrows = String(t.stats.arrowsDrawn);
  t.canvas.dataset.markers = String(markers.length);
}

function selectedPlugins() {
  const plugins = {};
  for (const select of document.querySelectorAll("#plugins select")) {
    if (select.value !== select.dataset.original) plugins[select.dataset.node] = select.value;
  }
  return plugins;
}

function pluginsText(plugins) {
  return Object.entries(plugins).map(([node, plugin]) => node + "=" + plugin).join(",");
}

function parsePluginsText(text) {
  const plugins = {};
  for (const pair of (text || "").split(",")) {
    const [node, plugin] = pair.split("=");
    if (node && plugin) plugins[node] = plugin;
  }
  return plugins;
}

function currentTopology() {
  return state.topologies.find((t) => t.file === $("topology").value);
}

function renderPluginControls(chosen) {
  const holder = $("plugins");
  holder.replaceChildren();
  const topology = currentTopology();
  const compare = $("compare-plugins");
  compare.replaceChildren();
  if (!topology || !topology.servers) return;
  for (const server of topology.servers) {
    const label = el("label", server.node + " ");
    const select = el("select");
    select.dataset.node = server.node;
    select.dataset.original = server.plugin || "";
    const names = new Set(state.plugins);
    if (server.plugin) names.add(server.plugin);
    for (const name of names) {
      const option = el("option", name === server.plugin ? name + " (topology)" : name);
      option.value = name;
      select.append(option);
    }
    select.value = (chosen && chosen[server.node]) || server.plugin || "";
    label.append(select);
    holder.append(label);
    for (const name of state.plugins) {
      if (name === server.plugin) continue;
      const option = el("option", server.node + " = " + name);
      option.value = server.node + "=" + name;
      compare.append(option);
    }
  }
  // The natural comparison for the KB race: the fixed WDS provider.
  for (const option of compare.options) if (option.value.endsWith("=wds-fixed")) compare.value = option.value;
}

function writeUrl() {
  const params = new URLSearchParams();
  if (state.run && state.run.record && state.view === "timeline") {
    // A served record: the record names the run.
    params.set("record", state.run.record.name);
    params.set("t0", Math.round(timeline.t0));
    params.set("t1", Math.round(timeline.t1));
    const url = "?" + params.toString();
    if (url !== location.search) history.replaceState(null, "", url);
    return;
  }
  params.set("topology", $("topology").value);
  params.set("seed", $("seed").value);
  const plugins = pluginsText(selectedPlugins());
  if (plugins) params.set("plugins", plugins);
  if (state.view !== "timeline") params.set("view", state.view);
  if (state.view === "sweep") params.set("seeds", $("seeds").value);
  if (state.view === "compare") params.set("with", $("compare-plugins").value);
  if (state.run && state.view === "timeline") {
    params.set("t0", Math.round(timeline.t0));
    params.set("t1", Math.round(timeline.t1));
  }
  const url = "?" + params.toString();
  if (url !== location.search) history.replaceState(null, "", url);
}

function showView(view) {
  state.view = view;
  for (const name of ["timeline", "sweep", "compare"]) {
    $("view-" + name).hidden = name !== view;
  }
  for (const tab of document.querySelectorAll(".tab")) tab.classList.toggle("active", tab.dataset.view === view);
  if (view === "timeline" && timeline.run) timeline.resize();
  if (view === "compare") { compareA.resize(); compareB.resize(); }
  writeUrl();
}

function renderSummary(run) {
  const summary = run.summary;
  const box = $("summary");
  box.replaceChildren();
  const line = el("div");
  line.append(el("b", summary.topology + " seed " + summary.seed + ": "));
  const booted = summary.clients.filter((c) => c.outcome === "booted").length;
  line.append(el("span", booted + "/" + summary.clients.length + " clients booted", booted === summary.clients.length ? "ok" : "fail"));
  line.append(document.createTextNode(" · "));
  if (summary.crashes.length) {
    const crash = summary.crashes[0];
    line.append(el("span", summary.crashes.length + " crash(es), first: " + crash.node + " at " + formatNs(crash.time_ns), "crash"));
    const jump = el("button", "Show the crash");
    jump.type = "button";
    jump.style.marginLeft = "8px";
    jump.addEventListener("click", () => {
      const span = 4e6;
      timeline.setWindow(crash.time_ns - span * 0.75, crash.time_ns + span * 0.25);
      const marker = run.markers.find((m) => m.kind === "crash");
      if (marker) timeline.select({ kind: "marker", event: marker.event, marker });
    });
    line.append(jump);
  } else {
    line.append(el("span", "no crash", "ok"));
  }
  line.append(document.createTextNode(" · " + summary.events + " events, " + formatNs(summary.sim_time_ns) + " simulated · "));
  const trace = el("a", "Chrome trace (Perfetto)");
  trace.href = "/api/runs/" + run.id + "/trace.json";
  line.append(trace);
  box.append(line);
  const clients = el("div");
  clients.append(el("span", "clients: "));
  for (const client of summary.clients) {
    const ok = client.outcome === "booted";
    clients.append(el("span", client.name + " " + (ok ? "booted" : client.outcome) + (client.message ? " (" + client.message + ")" : "") + "  ", ok ? "ok" : "fail"));
  }
  box.append(clients);
  const replay = el("div", "replay: ");
  replay.append(el("code", summary.replay));
  replay.append(document.createTextNode("  digest " + summary.digest.slice(0, 16) + "…"));
  box.append(replay);
  if (run.record) box.append(recordLine(run));
}

// What a served record is and what replaying it found.
function recordLine(run) {
  const record = run.record;
  const line = el("div", null, "record");
  line.id = "record-line";
  line.append(el("b", (record.live ? "recorded live run " : "recorded run ") + record.name + ": "));
  if (record.live) {
    const real = run.nodes.filter((node) => node.kind === "real");
    const hosts = real.flatMap((node) => (node.hosts || []).map((host) => host + " behind TAP " + node.tap));
    line.append(document.createTextNode("real machines on the tinted lanes (" + (hosts.join(", ") || "none seen") + "), replayed from their recorded frames · "));
  }
  if (record.matches) {
    line.append(el("span", "the replay is the recorded run, event for event", "ok"));
  } else {
    line.append(el("span", "the replay DIFFERS from the record (recorded " + record.recorded_digest.slice(0, 12) + "…): " + (record.divergence || "the digests differ"), "fail"));
  }
  for (const changed of record.changed_plugins || []) {
    line.append(el("div", "plugin of " + changed.node + " changed since the record", "hint"));
  }
  return line;
}

function renderLegend() {
  const legend = $("legend");
  legend.replaceChildren();
  const item = (color, text, box) => {
    const span = el("span");
    const swatch = el("i", null, box ? "box" : "");
    swatch.style.background = color;
    span.append(swatch, el("span", text));
    legend.append(span);
  };
  for (const key of ["discover", "offer", "request", "ack", "nak", "proxy", "tftp", "arp", "hsrp", "vrrp"]) item(COLORS[key], CLASS_NAMES[key]);
  item("rgba(255,200,0,0.8)", "relayed duplicate of one request (bracket joins the copies)");
  item("#b0b4bc", "dashed: dropped by the receiver");
  item("#2ca02c", "router Active / Master", true);
  item("#4a90d9", "router Standby / Backup", true);
  item("rgba(120,80,200,0.7)", "plugin work in flight (red: ended in a crash)", true);
  item("#c0001a", "✖ crash", true);
  item("#1a7f37", "▲ restart", true);
  legend.append(el("span", "Wheel or +/− zoom · drag or ←/→ pan · 0 fits · click an arrow to inspect"));
}

// Shows run `id` (already made) in the timeline.
async function showRun(id, options, started) {
  const run = await api("/api/runs/" + id);
  state.run = run;
  showView("timeline");
  renderSummary(run);
  timeline.selected = null;
  timeline.setRun(run);
  if (options && options.t0 !== undefined && options.t1 > options.t0) timeline.setWindow(options.t0, options.t1);
  else timeline.fit();
  const elapsed = Math.round(performance.now() - started);
  setStatus(run.events.length + " log records, " + run.summary.digest.slice(0, 12));
  // Timings vary from load to load; they go in the tooltip so the page itself is the same
  // for the same run (the README's screenshot is taken from it).
  $("status").title = "loaded in " + elapsed + " ms, drawn in " + timeline.stats.renderMs.toFixed(1) + " ms";
  $("inspector-body").replaceChildren();
  writeUrl();
}

// Opens a record the server serves (`pxelab serve --record DIR`): replayed on the server.
async function openRecord(options) {
  const name = $("record").value;
  if (!name) return;
  setStatus("Replaying the record " + name + "…");
  $("open-record").disabled = true;
  try {
    const started = performance.now();
    const opened = await api("/api/records/" + encodeURIComponent(name), { method: "POST" });
    await showRun(opened.id, options, started);
  } catch (error) {
    setStatus(error.message, true);
  } finally {
    $("open-record").disabled = false;
  }
}

async function loadRun(options) {
  const topology = $("topology").value;
  const seed = Number($("seed").value);
  if (!Number.isInteger(seed) || seed < 0) { setStatus("The seed must be a whole number ≥ 0.", true); return; }
  const plugins = selectedPlugins();
  setStatus("Running " + topology + " seed " + seed + "…");
  $("run").disabled = true;
  try {
    const started = performance.now();
    const created = await api("/api/runs", {
      method: "POST", headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ topology, seed, plugins }),
    });
    await showRun(created.id, options, started);
  } catch (error) {
    setStatus(error.message, true);
  } finally {
    $("run").disabled = false;
  }
}

async function nextCrash() {
  const topology = $("topology").value;
  const seed = Number($("seed").value) || 0;
  const plugins = pluginsText(selectedPlugins());
  setStatus("Searching the seeds after " + seed + " for a crash…");
  $("next-crash").disabled = true;
  try {
    const query = new URLSearchParams({ topology, after: String(seed) });
    if (plugins) query.set("plugins", plugins);
    const found = await api("/api/next-crash?" + query.toString());
    $("seed").value = found.seed;
    await loadRun();
  } catch (error) {
    setStatus(error.message, true);
  } finally {
    $("next-crash").disabled = false;
  }
}

function startSweep() {
  if (state.sweepSource) state.sweepSource.close();
  showView("sweep");
  const grid = $("sweep-grid");
  grid.replaceChildren();
  const summary = $("sweep-summary");
  const query = new URLSearchParams({ topology: $("topology").value, seeds: $("seeds").value });
  const plugins = pluginsText(selectedPlugins());
  if (plugins) query.set("plugins", plugins);
  summary.textContent = "Sweeping " + $("seeds").value + "…";
  const cells = new Map();
  let crashed = 0, done = 0;
  const source = new EventSource("/api/sweep?" + query.toString());
  state.sweepSource = source;
  source.addEventListener("progress", (message) => {
    const seed = JSON.parse(message.data);
    done = seed.done;
    if (seed.crashed) crashed++;
    const cell = el("button", seed.seed, seed.crashed ? "crashed" : (seed.failed.length ? "failed" : "booted"));
    cell.type = "button";
    cell.title = "seed " + seed.seed + ": " + (seed.crashed ? seed.crashes + " crash(es), " : "") + seed.booted + "/" + seed.clients + " booted";
    cell.dataset.seed = seed.seed;
    cell.addEventListener("click", () => { $("seed").value = seed.seed; loadRun(); });
    cells.set(seed.seed, cell);
    // Keep the grid in seed order while results arrive in any order.
    const after = [...cells.keys()].filter((s) => s > seed.seed).sort((a, b) => a - b)[0];
    if (after !== undefined) grid.insertBefore(cell, cells.get(after)); else grid.append(cell);
    summary.textContent = "Sweeping: " + done + "/" + seed.total + " seeds, " + crashed + " crashed (" + (100 * crashed / done).toFixed(1) + "%)";
  });
  source.addEventListener("done", (message) => {
    source.close();
    const result = JSON.parse(message.data);
    const [low, high] = result.crash_rate_ci95;
    summary.replaceChildren();
    summary.append(el("b", result.topology + " seeds " + result.seeds + ": "));
    summary.append(el("span", "crash rate " + (100 * result.crash_rate).toFixed(1) + "%", result.crashed_runs ? "crash" : "ok"));
    summary.append(document.createTextNode(" (" + result.crashed_runs + " of " + result.runs + " runs; 95% CI " + (100 * low).toFixed(1) + "% to " + (100 * high).toFixed(1) + "%) · " + result.failing_seeds.length + " failing seed(s). Red: a node crashed, orange: a client did not boot, green: all booted. Click a seed to open its timeline."));
    setStatus("Sweep done");
  });
  source.addEventListener("error", (message) => {
    source.close();
    let text = "The sweep stopped";
    try { text = JSON.parse(message.data).error; } catch (_) { /* a dropped connection */ }
    summary.textContent = text;
    setStatus(text, true);
  });
  writeUrl();
}

const compareA = new Timeline($("compare-a"), { laneHeight: 34, onWindow: (t0, t1) => compareB.setWindow(t0, t1, true), tooltip: null, onSelect: (hit, t) => inspect(t.run.id, hit) });
const compareB = new Timeline($("compare-b"), { laneHeight: 34, onWindow: (t0, t1) => compareA.setWindow(t0, t1, true), tooltip: null, onSelect: (hit, t) => inspect(t.run.id, hit) });

async function startCompare() {
  const topology = $("topology").value;
  const seed = Number($("seed").value) || 0;
  const base = selectedPlugins();
  const other = { ...base };
  const swap = $("compare-plugins").value;
  if (!swap) { setStatus("This topology has no server whose plugin can be swapped.", true); return; }
  const [node, plugin] = swap.split("=");
  other[node] = plugin;
  showView("compare");
  setStatus("Running both…");
  try {
    const post = (plugins) => api("/api/runs", { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ topology, seed, plugins }) });
    const [a, b] = await Promise.all([post(base), post(other)]);
    const [runA, runB, diff] = await Promise.all([api("/api/runs/" + a.id), api("/api/runs/" + b.id), api(`/api/compare?a=${a.id}&b=${b.id}`)]);
    const label = (plugins) => pluginsText(plugins) || "as in the topology";
    $("compare-a-title").textContent = "A: " + label(base) + " — " + outcomeText(runA.summary);
    $("compare-b-title").textContent = "B: " + label(other) + " — " + outcomeText(runB.summary);
    compareA.setRun(runA);
    compareB.setRun(runB);
    const summary = $("compare-summary");
    summary.replaceChildren();
    if (diff.identical) {
      summary.textContent = "The two runs are identical, event for event.";
      compareA.divergence = compareB.divergence = null;
      compareA.fit();
    } else {
      // The behaviour (packets, timers, states, crashes) matters more than a log line.
      const d = diff.first_behaviour_divergence || diff.first_divergence;
      const time = (side) => side ? side.t : Infinity;
      const t = Math.min(time(d.a), time(d.b));
      compareA.divergence = compareB.divergence = t;
      const index = d.a ? d.a.index : d.b.index;
      summary.append(el("b", "First difference in behaviour at event #" + index + ", " + formatNs(t) + ":"));
      summary.append(el("div", "A: " + (d.a ? d.a.text : "(run ended)")));
      summary.append(el("div", "B: " + (d.b ? d.b.text : "(run ended)")));
      const first = diff.first_divergence;
      if (first && first.a && (first.a.index !== index)) {
        summary.append(el("div", "(The logs differ earlier, at " + formatNs(first.a.t) + ": " + first.a.text + ")", "hint"));
      }
      const span = 3e6;
      compareA.setWindow(t - span / 2, t + span / 2);
    }
    setStatus("Compared " + topology + " seed " + seed);
  } catch (error) {
    setStatus(error.message, true);
  }
}

function outcomeText(summary) {
  const booted = summary.clients.filter((c) => c.outcome === "booted").length;
  return booted + "/" + summary.clients.length + " booted, " + summary.crashes.length + " crash(es)";
}

async function init() {
  renderLegend();
  const params = new URLSearchParams(location.search);
  try {
    const listed = await api("/api/topologies");
    state.topologies = listed.topologies;
    state.plugins = listed.plugins;
  } catch (error) {
    setStatus("Cannot list topologies: " + error.message, true);
    return;
  }
  try {
    const records = (await api("/api/records")).records;
    const recordSelect = $("record");
    for (const record of records) {
      const option = el("option", record.name + (record.live ? " (live)" : "") + (record.error ? " (unreadable)" : ""));
      option.value = record.name;
      option.disabled = Boolean(record.error);
      recordSelect.append(option);
    }
    $("records").hidden = records.length === 0;
    if (params.get("record")) recordSelect.value = params.get("record");
  } catch (error) {
    setStatus("Cannot list records: " + error.message, true);
  }
  $("open-record").addEventListener("click", () => openRecord());
  const select = $("topology");
  for (const topology of state.topologies) {
    const option = el("option", topology.file + (topology.error ? " (invalid)" : ""));
    option.value = topology.file;
    option.disabled = Boolean(topology.error);
    select.append(option);
  }
  const wanted = params.get("topology");
  if (wanted && state.topologies.some((t) => t.file === wanted)) select.value = wanted;
  else if (state.topologies.some((t) => t.file === "kb2510665.yaml")) select.value = "kb2510665.yaml";
  if (params.get("seed") !== null) $("seed").value = params.get("seed");
  if (params.get("seeds")) $("seeds").value = params.get("seeds");
  renderPluginControls(parsePluginsText(params.get("plugins")));
  if (params.get("with")) $("compare-plugins").value = params.get("with");
  select.addEventListener("change", () => renderPluginControls({}));
  $("controls").addEventListener("submit", (event) => { event.preventDefault(); loadRun(); });
  $("next-crash").addEventListener("click", nextCrash);
  $("sweep").addEventListener("click", startSweep);
  $("compare").addEventListener("click", startCompare);
  for (const tab of document.querySelectorAll(".tab")) tab.addEventListener("click", () => showView(tab.dataset.view));
  const view = params.get("view");
  const windowOf = () => {
    const t0 = Number(params.get("t0")), t1 = Number(params.get("t1"));
    return params.has("t0") && params.has("t1") ? { t0, t1 } : undefined;
  };
  if (params.get("record")) await openRecord(windowOf());
  else if (view === "sweep") startSweep();
  else if (view === "compare") startCompare();
  else if (params.get("topology")) {
    const t0 = Number(params.get("t0")), t1 = Number(params.get("t1"));
    await loadRun(params.has("t0") && params.has("t1") ? { t0, t1 } : undefined);
  } else setStatus("Pick a topology and a seed, then press Run (seed 0 of kb2510665 crashes WDS).");
}

init();
