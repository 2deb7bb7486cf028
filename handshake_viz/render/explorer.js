// handshake-viz explorer. It lays out what the page's data says (views/explorer.py made it from the
// same models as every other format) and analyses nothing. Text from the capture reaches the page
// only as textContent or SVG text, never as markup.
(async () => {
  "use strict";
  // The data: JSON, gzip-compressed and in base64 (render/html.py), read back by the browser itself.
  async function unpack(text) {
    const bytes = Uint8Array.fromBase64 ? Uint8Array.fromBase64(text.trim())
                                        : Uint8Array.from(atob(text.trim()), (c) => c.charCodeAt(0));
    const stream = new Blob([bytes]).stream().pipeThrough(new DecompressionStream("gzip"));
    return JSON.parse(await new Response(stream).text());
  }
  const D = await unpack(document.getElementById("data").textContent);
  const W = D.words;
  const say = (key, values = {}) => W[key].replace(/\{(\w+)\}/g, (_, name) => String(values[name]));
  const $ = (id) => document.getElementById(id);
  const SVG = "http://www.w3.org/2000/svg";

  function el(tag, cls, text) {
    const node = document.createElement(tag);
    if (cls) node.className = cls;
    if (text !== undefined && text !== null) node.textContent = text;
    return node;
  }
  function svg(tag, attrs, text) {
    const node = document.createElementNS(SVG, tag);
    for (const [name, value] of Object.entries(attrs || {})) node.setAttribute(name, value);
    if (text !== undefined) node.textContent = text;
    return node;
  }

  // ---- geometry of the ladder (pixels), as the SVG's columns: stamp, calls, states, lanes ----
  const LH = 15, PAD = 7, SLANT = 10, CAP = 180, GAP_H = 26;
  const X = { stamp: 4, stampW: 100, call: 108, callW: 175, state: 287, stateW: 108, left: 404, right: 804 };
  X.serverState = X.right + 8; X.serverCall = X.serverState + X.stateW + 4;
  X.bracket = X.serverCall + X.callW + 8; X.width = X.bracket + 110;
  const COLOURS = { control: "#000", data: "#1f5fbf", ack: "#707070", reset: "#c0262d" };
  const STATES = new Set(["state", "state-differs"]);
  const CALLS = new Set(["call", "call-error"]);

  // A text's width as the sum of its characters' (each measured once per font): a long
  // conversation has hundreds of thousands of distinct labels to wrap.
  const measure = document.createElement("canvas").getContext("2d");
  const widths = new Map();
  function width(text, font) {
    let table = widths.get(font);
    if (!table) { table = new Map(); widths.set(font, table); }
    let sum = 0;
    for (const char of text) {
      let w = table.get(char);
      if (w === undefined) { measure.font = font; w = measure.measureText(char).width; table.set(char, w); }
      sum += w;
    }
    return sum;
  }
  // Lines of text wrapped at spaces to fit maxWidth, as the SVG wraps its labels.
  function wrap(text, maxWidth, font) {
    const out = [];
    for (const line of text.split("\n")) {
      if (width(line, font) <= maxWidth) { out.push(line); continue; }
      let current = "";
      for (const word of line.split(" ")) {
        const next = current ? current + " " + word : word;
        if (current && width(next, font) > maxWidth) { out.push(current); current = word; } else current = next;
      }
      out.push(current);
    }
    return out;
  }
  const FONTS = { mark: "12px DejaVu Sans, sans-serif", call: "11.5px DejaVu Sans Mono, monospace",
                  sample: "11px DejaVu Sans, sans-serif", label: "12px DejaVu Sans, sans-serif" };
  const markFont = (kind) => CALLS.has(kind) ? FONTS.call : kind === "sample" ? FONTS.sample : FONTS.mark;

  // A packet's details and a fold's rows come as JSON text of their own, read when first needed:
  // a long conversation's page then costs the browser a string each, not a tree of objects.
  function packetData(frame) {
    const packets = D.conversations[view.conv].packets;
    if (typeof packets[frame] === "string") packets[frame] = JSON.parse(packets[frame]);
    return packets[frame] || null;
  }
  function foldedRows(row) {
    if (typeof row.folded === "string") row.folded = JSON.parse(row.folded);
    return row.folded;
  }

  // ---- the state of the page: what is open, what is shown, what is selected ----
  const view = { conv: null, relative: true, acks: true, calls: true, states: true, time: "rows",
                 expanded: new Set(), selected: null, direction: null };
  let layout = null;   // the open conversation's visible rows and their positions

  // ---- the index of conversations ----
  const INDEX_COLUMNS = ["index", "protocol", "client", "server", "packets", "bytes", "opened", "closed", "marks", "duration"];
  let sortColumn = "index", sortDown = false;

  function showIndex() {
    view.conv = null;
    $("index").hidden = false; $("explore").hidden = true; $("controls").hidden = true;
    $("title").textContent = D.title;
    const table = el("table"), head = el("tr");
    for (const column of INDEX_COLUMNS) {
      const th = el("th", null, column === "index" ? "#" : W[column]);
      th.dataset.column = column;
      if (column === sortColumn) th.setAttribute("aria-sort", sortDown ? "descending" : "ascending");
      th.addEventListener("click", () => {
        sortDown = column === sortColumn ? !sortDown : false; sortColumn = column; showIndex();
      });
      head.append(th);
    }
    const thead = el("thead"); thead.append(head);
    const tbody = el("tbody");
    const rows = D.index.map((row, id) => ({ row, id }));
    const key = (r) => r.row[sortColumn];
    rows.sort((a, b) => {
      const x = key(a), y = key(b);
      const order = typeof x === "number" && typeof y === "number" ? x - y : String(x).localeCompare(String(y), undefined, { numeric: true });
      return (sortDown ? -order : order) || a.id - b.id;
    });
    for (const { row, id } of rows) {
      const tr = el("tr");
      tr.dataset.conversation = id;
      for (const column of INDEX_COLUMNS) {
        const value = column === "duration" ? seconds(row.duration) : row[column];
        tr.append(el("td", typeof row[column] === "number" ? "num" : null, typeof value === "number" ? value.toLocaleString("en") : value));
      }
      tr.addEventListener("click", () => { location.hash = "c" + id; });
      tbody.append(tr);
    }
    table.append(thead, tbody);
    const box = $("index");
    box.replaceChildren(el("h2", null, W.conversations), el("p", "note", W["index.hint"]), table);
  }

  function seconds(value) {
    return value < 1 ? (value * 1000).toFixed(3) + " ms" : value.toFixed(6) + " s";
  }

  // ---- one conversation ----
  function openConversation(id) {
    const conversation = D.conversations[id];
    if (view.conv !== id) {
      view.conv = id; view.expanded = new Set(); view.selected = null;
      const graph = conversation.graph;
      view.direction = graph ? (busier(graph.client) >= busier(graph.server) ? "client" : "server") : null;
    }
    $("index").hidden = true; $("explore").hidden = false; $("controls").hidden = false;
    $("title").textContent = conversation.title;
    $("to-index").hidden = D.conversations.length < 2;
    const legend = $("legend");
    const lines = el("ul");
    lines.append(...conversation.legend.map((line) => el("li", null, line)));
    legend.replaceChildren(el("h2", null, W.legend), lines);
    relayout();
    showDetails();
    drawGraph();
  }

  const busier = (direction) => direction.segments.reduce((sum, s) => sum + (s[2] - s[1]), 0);

  // The rows as shown: folds expanded where asked, rows and marks the toggles hide left out.
  function visibleRows(conversation) {
    const out = [];
    const add = (row, key, top) => {
      const marks = row.m.filter((m) => (view.calls || !CALLS.has(m[2])) && (view.states || !STATES.has(m[2])));
      const arrow = row.bare && !view.acks ? null : row.a || null;
      if (!arrow && !marks.length && !row.fold) return;
      out.push({ row, key, top, marks, arrow });
    };
    conversation.rows.forEach((row, i) => {
      if (row.fold && view.expanded.has(String(i))) {
        add({ ...row, folded: null }, String(i), i);   // the fold's line stays, to fold it again
        foldedRows(row).forEach((inner, j) => add(inner, i + "." + j, i));
      } else add(row, String(i), i);
    });
    return out;
  }

  function rowHeight(item) {
    const sides = { client: 0, server: 0 };
    const cols = {};
    item.wrapped = item.marks.map(([lane, text, kind]) => [lane, wrap(text, STATES.has(kind) ? X.stateW : X.callW, markFont(kind)), kind]);
    for (const [lane, lines, kind] of item.wrapped) {
      const column = lane + (STATES.has(kind) ? "s" : "c");
      cols[column] = (cols[column] || 0) + lines.length;
      sides[lane] = Math.max(sides[lane], cols[column]);
    }
    let lines = Math.max(sides.client, sides.server, 1);
    if (item.arrow) {
      item.label = labelLines(item.arrow);
      lines = Math.max(lines, item.label.length + 1);
    }
    return lines * LH + PAD;
  }

  function labelLines(arrow) {
    const text = view.relative || !arrow.absolute || !arrow.absolute.length ? arrow.label : arrow.absolute;
    const span = X.right - X.left - 16;
    return text.flatMap((line) => wrap(line, span, FONTS.label));
  }

  function relayout() {
    const conversation = D.conversations[view.conv];
    const items = visibleRows(conversation);
    const ys = [], gaps = [];
    let y = 46;
    const times = items.map((item) => item.row.t);
    const scale = view.time === "time" ? timeScale(times) : 0;
    items.forEach((item, n) => {
      item.height = rowHeight(item);
      if (n > 0) {
        const before = items[n - 1];
        let step = before.height;
        if (scale && item.row.t !== null && before.row.t !== null) {
          const wanted = (item.row.t - before.row.t) * scale;
          if (wanted > CAP) { gaps.push([y + before.height, item.row.t - before.row.t]); step = before.height + GAP_H; }
          else step = Math.max(step, wanted);
        }
        y += step;
      }
      ys.push(y);
    });
    const bottom = (items.length ? y + items[items.length - 1].height : y) + 60;
    const position = new Map();
    items.forEach((item, n) => { item.y = ys[n]; position.set(item.key, n); });
    layout = { conversation, items, ys, gaps, bottom, position, rendered: new Map() };
    drawStatic();
    renderVisible(true);
  }

  // Pixels per second: the median step between rows becomes two lines; much longer steps are idle gaps.
  function timeScale(times) {
    const steps = [];
    for (let i = 1; i < times.length; i++) {
      if (times[i] !== null && times[i - 1] !== null && times[i] > times[i - 1]) steps.push(times[i] - times[i - 1]);
    }
    if (!steps.length) return 0;
    steps.sort((a, b) => a - b);
    return (2 * LH) / steps[Math.floor(steps.length / 2)];
  }

  // Lifelines, lane heads, phases, TIME_WAIT and idle gaps: few, drawn whole.
  function drawStatic() {
    const { conversation, bottom } = layout;
    const canvas = $("canvas");
    canvas.style.height = bottom + "px";
    canvas.style.width = X.width + "px";
    const lanes = $("lanes");
    lanes.style.width = X.width + "px";
    lanes.replaceChildren();
    const fixed = $("fixed");
    fixed.replaceChildren();
    conversation.lanes.forEach((lane, n) => {
      const x = n === 0 ? X.left : X.right;
      const head = el("div", "lane-head"); head.style.left = x + "px";
      head.append(el("b", null, lane.title), el("span", null, lane.subtitle));
      lanes.append(head);
      const line = el("div", "lifeline");
      line.style.left = x - 1 + "px"; line.style.top = "40px"; line.style.height = bottom - 40 + "px";
      fixed.append(line);
    });
    const firstY = (row) => {
      let best = null;
      for (const item of layout.items) if (item.top >= row) { best = item; break; }
      return best;
    };
    const lastItem = (row) => {
      let best = null;
      for (const item of layout.items) if (item.top <= row) best = item;
      return best;
    };
    for (const [label, first, last] of conversation.brackets) {
      const a = firstY(first), b = lastItem(last);
      if (!a || !b || b.y < a.y) continue;
      const box = el("div", "bracket");
      box.style.left = X.bracket + "px"; box.style.top = a.y + "px"; box.style.height = b.y + b.height - a.y - 4 + "px";
      const text = el("div", "bracket-label", label);
      text.style.left = X.bracket + 14 + "px"; text.style.top = a.y + "px";
      fixed.append(box, text);
    }
    for (const [lane, first, label] of conversation.spans) {
      const a = firstY(first);
      if (!a) continue;
      const x = lane === "client" ? X.left : X.right;
      const bar = el("div", "span");
      bar.style.left = x + "px"; bar.style.top = a.y + LH + "px"; bar.style.height = bottom - a.y - LH + "px";
      const text = el("div", "span-label", label);
      text.style.left = (lane === "client" ? X.state - 10 : X.serverState + 10) + "px";
      text.style.top = Math.max(a.y + a.height, bottom - 50) + "px";
      fixed.append(bar, text);
    }
    for (const [y, idle] of layout.gaps) {
      const gap = el("div", "gap", say("idle", { duration: seconds(idle) }));
      gap.style.left = X.left + "px"; gap.style.width = X.right - X.left + "px";
      gap.style.top = y + 4 + "px"; gap.style.height = GAP_H - 8 + "px";
      fixed.append(gap);
    }
  }

  // Only the rows near the view are in the page: a long conversation stays as light as a short one.
  function renderVisible(all) {
    if (!layout) return;
    const box = $("ladder");
    const top = box.scrollTop - 400, bottom = box.scrollTop + box.clientHeight + 400;
    const { items, ys, rendered } = layout;
    let first = lowerBound(ys, top);
    first = Math.max(0, first - 1);
    const wanted = new Set();
    for (let n = first; n < items.length && ys[n] <= bottom; n++) wanted.add(items[n].key);
    const rows = $("rows");
    if (all) { rows.replaceChildren(); rendered.clear(); }
    for (const [key, node] of rendered) if (!wanted.has(key)) { node.remove(); rendered.delete(key); }
    for (const key of wanted) {
      if (rendered.has(key)) continue;
      const node = drawRow(items[layout.position.get(key)]);
      rendered.set(key, node);
      rows.append(node);
    }
  }

  function lowerBound(values, target) {
    let low = 0, high = values.length;
    while (low < high) { const mid = (low + high) >> 1; if (values[mid] < target) low = mid + 1; else high = mid; }
    return low;
  }

  function drawRow(item) {
    const { row } = item;
    const node = el("div", "row" + (view.selected === item.key ? " selected" : ""));
    node.dataset.key = item.key;
    if (row.f !== null) node.dataset.frame = row.f;
    node.style.top = item.y + "px"; node.style.height = item.height + "px"; node.style.width = X.width + "px";
    const stamp = el("div", "stamp", stampText(row));
    stamp.style.left = X.stamp + "px"; stamp.style.width = X.stampW + "px";
    node.append(stamp);
    const used = {};
    for (const [lane, lines, kind] of item.wrapped) {   // as rowHeight wrapped them
      const state = STATES.has(kind);
      const column = lane + (state ? "s" : "c");
      const mark = el("div", "mark " + kind, lines.join("\n"));
      const x = lane === "client" ? (state ? X.state : X.call) : (state ? X.serverState : X.serverCall);
      mark.style.left = x + "px"; mark.style.width = (state ? X.stateW : X.callW) + "px";
      mark.style.top = (used[column] || 0) * LH + "px";
      if (lane === "client") mark.style.textAlign = "right";
      used[column] = (used[column] || 0) + lines.length;
      node.append(mark);
    }
    if (row.fold && !item.arrow) {
      const fold = el("div", "fold", row.fold);
      fold.style.left = X.call + "px"; fold.style.width = X.width - X.call + "px";
      const open = view.expanded.has(item.key);
      const button = el("button", null, open ? W.collapse : W.expand);
      button.addEventListener("click", (event) => { event.stopPropagation(); toggleFold(item.key); });
      fold.append(button);
      fold.addEventListener("click", () => select(item.key));
      node.append(fold);
    }
    if (item.arrow) node.append(...drawArrow(item));
    node.classList.toggle("hit", row.f !== null);
    node.addEventListener("click", () => select(item.key));
    return node;
  }

  function stampText(row) {
    if (row.t === null) return "";
    const when = seconds(row.t);
    return row.f !== null ? "#" + row.f + "  " + when : when;
  }

  function drawArrow(item) {
    const arrow = item.arrow;
    const leftToRight = arrow.from === "client";
    const x1 = leftToRight ? X.left : X.right, x2 = leftToRight ? X.right : X.left;
    const lines = item.label;
    let yStart = lines.length * LH + 3;   // under its label, dropping across the lanes as in the SVG
    const yEnd = yStart + SLANT;
    if (arrow.sent !== null) {   // it left its side at an earlier row (crossing segments)
      const from = layout.position.get(String(arrow.sent));
      if (from !== undefined) yStart = layout.items[from].y - item.y + 2;
    }
    const colour = COLOURS[arrow.kind];
    const reach = arrow.dropped ? 0.8 : 1;
    const xEnd = x1 + (x2 - x1) * reach, yStop = yStart + (yEnd - yStart) * reach;
    const top = Math.min(yStart, 0);
    const picture = svg("svg", { class: "arrow", width: X.width, height: item.height - top + 4 });
    picture.style.left = "0px"; picture.style.top = top + "px";
    const shift = (value) => value - top;
    const shaft = svg("line", { x1, y1: shift(yStart), x2: xEnd, y2: shift(yStop), stroke: colour,
                                "stroke-width": arrow.kind === "ack" ? 1 : 1.6 });
    if (arrow.kind === "ack") shaft.setAttribute("stroke-dasharray", "5 3");
    const hit = svg("line", { x1, y1: shift(yStart), x2: xEnd, y2: shift(yStop), class: "hit" });
    picture.append(shaft, hit);
    if (arrow.dropped) {
      const s = 6;
      picture.append(svg("path", { d: `M${xEnd - s},${shift(yStop) - s}L${xEnd + s},${shift(yStop) + s}M${xEnd - s},${shift(yStop) + s}L${xEnd + s},${shift(yStop) - s}`,
                                   stroke: "#c0262d", "stroke-width": 2 }));
    } else {
      const dir = Math.sign(x2 - x1), angle = Math.atan2(yStop - yStart, xEnd - x1);
      const head = (a) => `${xEnd - dir * 9 * Math.cos(a)},${shift(yStop) - 9 * Math.sin(a) * dir}`;
      picture.append(svg("polygon", { points: `${xEnd},${shift(yStop)} ${head(angle + 0.35)} ${head(angle - 0.35)}`, fill: colour }));
    }
    const label = el("div", "label " + arrow.kind, lines.join("\n"));
    label.style.left = X.left + 8 + "px"; label.style.width = X.right - X.left - 16 + "px"; label.style.top = "0px";
    const hover = (event) => showTooltip(item, event);
    for (const target of [label, hit]) {
      target.addEventListener("mousemove", hover);
      target.addEventListener("mouseleave", hideTooltip);
    }
    label.dataset.frame = item.row.f;
    return [picture, label];
  }

  function toggleFold(key) {
    const top = key.split(".")[0];
    if (view.expanded.has(top)) view.expanded.delete(top); else view.expanded.add(top);
    relayout();
    if (view.selected && !layout.position.has(view.selected)) view.selected = top;
    scrollToSelected();
  }

  // ---- selection: a row, its packet's details, the URL fragment, the graph's point ----
  function select(key, fromGraph) {
    view.selected = key;
    for (const [k, node] of layout.rendered) node.classList.toggle("selected", k === key);
    const item = layout.items[layout.position.get(key)];
    const frame = item && item.row.f !== null && !item.row.fold ? item.row.f : null;
    const fragment = "#c" + view.conv + (frame !== null ? "-f" + frame : "-r" + key);
    if (location.hash !== fragment) history.replaceState(null, "", fragment);
    showDetails();
    if (frame !== null && D.conversations[view.conv].graph) {
      const sender = packetData(frame).sender;
      const graph = D.conversations[view.conv].graph;
      const inDirection = graph[sender].segments.some((s) => s[3] === frame);
      if (!fromGraph && inDirection && view.direction !== sender) view.direction = sender;
    }
    drawGraph();
  }

  function selectFrame(frame, fromGraph) {
    const conversation = D.conversations[view.conv];
    let key = null;
    conversation.rows.forEach((row, i) => {
      if (row.f === frame && !row.fold) key = String(i);
      if (row.fold && row.frames.includes(frame)) key = i + "." + row.frames.indexOf(frame);
    });
    if (key === null) return;
    const top = key.split(".")[0];
    if (key.includes(".") && !view.expanded.has(top)) { view.expanded.add(top); relayout(); }
    if (!layout.position.has(key)) {   // hidden by a toggle: show what it is
      view.acks = view.calls = view.states = true; syncControls(); relayout();
    }
    select(key, fromGraph);
    scrollToSelected();
  }

  function scrollToSelected() {
    if (!view.selected || !layout.position.has(view.selected)) { renderVisible(true); return; }
    const item = layout.items[layout.position.get(view.selected)];
    const box = $("ladder");
    if (item.y < box.scrollTop + 50 || item.y + item.height > box.scrollTop + box.clientHeight) {
      box.scrollTop = Math.max(0, item.y - box.clientHeight / 3);
    }
    renderVisible(true);
  }

  function step(by) {
    const { items } = layout;
    if (!items.length) return;
    let n = view.selected !== null && layout.position.has(view.selected) ? layout.position.get(view.selected) + by : (by > 0 ? 0 : items.length - 1);
    n = Math.max(0, Math.min(items.length - 1, n));
    select(items[n].key);
    scrollToSelected();
  }

  // ---- a packet's details: its fields, its header, its payload ----
  function packetOf(key) {
    if (!layout || key === null || !layout.position.has(key)) return null;
    const item = layout.items[layout.position.get(key)];
    return item.row.f !== null && !item.row.fold ? packetData(item.row.f) : null;
  }

  function fields(packet) {
    const rows = [[W.frame, "#" + packet.frame], [W.at, packet.at], [W.since, seconds(packet.since)],
                  ["", `${packet.src} → ${packet.dst} (${W["side." + packet.sender]})`]];
    if (packet.flags) rows.push([W.flags, packet.flags.join(", ") || "(none)"]);
    if (packet.seq) rows.push([W.seq, `${packet.seq[1]} (${W.relative}) · ${packet.seq[0]} (${W.absolute})`]);
    if (packet.ack) rows.push([W.ack, `${packet.ack[1]} (${W.relative}) · ${packet.ack[0]} (${W.absolute})`]);
    rows.push([W.length, String(packet.length)]);
    if (packet.window) {
      const [raw, scaled] = packet.window;
      rows.push([W.window, raw && scaled !== raw ? say("window.scaled", { raw, factor: scaled / raw, scaled })
                                                 : say("window.unscaled", { raw })]);
    }
    if (packet.options) rows.push([W.options, optionsText(packet.options)]);
    for (const [mark, meaning] of packet.marks || []) rows.push(["[" + mark.replace(/_/g, " ") + "]", meaning]);
    for (const line of packet.said || []) rows.push(["", line]);
    for (const name of ["icmp", "reporter", "tunnel", "malformed"]) if (packet[name]) rows.push([name, packet[name]]);
    return rows;
  }

  function optionsText(options) {
    const parts = [];
    if (options.mss !== null) parts.push("MSS " + options.mss);
    if (options.wscale !== null) parts.push("window scale " + options.wscale + " (×" + 2 ** options.wscale + ")");
    if (options.sack_permitted) parts.push("SACK permitted");
    if (options.timestamps) parts.push("TSval " + options.timestamps[0] + " TSecr " + options.timestamps[1]);
    for (const [left, right, relLeft, relRight] of options.sack) {
      parts.push(`SACK ${relLeft}-${relRight} (${left}-${right})`);
    }
    return parts.join(", ") || "-";
  }

  function payloadBytes(packet) {
    const hex = packet.payload.hex, bytes = [];
    for (let i = 0; i < hex.length; i += 2) bytes.push(parseInt(hex.slice(i, i + 2), 16));
    return bytes;
  }
  function hexDump(bytes) {
    const lines = [];
    for (let i = 0; i < bytes.length; i += 16) {
      const chunk = bytes.slice(i, i + 16);
      const hex = chunk.map((b) => b.toString(16).padStart(2, "0")).join(" ");
      const text = chunk.map((b) => (b >= 0x20 && b < 0x7f ? String.fromCharCode(b) : ".")).join("");
      lines.push(i.toString(16).padStart(4, "0") + "  " + hex.padEnd(48) + " " + text);
    }
    return lines.join("\n");
  }

  function showDetails() {
    const box = $("details");
    const packet = packetOf(view.selected);
    if (!packet) { box.replaceChildren(el("h2", null, W.details), el("p", "note", W["details.none"])); return; }
    const table = el("table", "fields");
    for (const [name, value] of fields(packet)) {
      const tr = el("tr"); tr.append(el("th", null, name), el("td", null, value)); table.append(tr);
    }
    const parts = [el("h2", null, `${W.details} #${packet.frame}`), table, el("h2", null, W.header)];
    parts.push(packet.header ? headerTable(packet.header) : el("p", "note", W["header.none"]));
    if (packet.length) {
      const bytes = payloadBytes(packet);
      parts.push(el("h2", null, W.payload + (bytes.length < packet.length ? " — " + say("payload.kept", { kept: bytes.length, length: packet.length }) : "")));
      parts.push(el("div", "payload-text", packet.payload.text), el("pre", "hex", hexDump(bytes)));
    }
    box.replaceChildren(...parts);
  }

  // The header as the `header` command draws it: 32 bits wide, each field with its value and bytes.
  function headerTable([number, values]) {
    const table = el("table", "header");
    const bits = el("tr");
    for (let i = 0; i < 32; i++) bits.append(el("td", "bit", String(i)));
    table.append(bits);
    let v = 0;
    for (const [name, layer] of D.layouts[number]) {
      const title = el("tr"), cell = el("td", "layer", name);
      cell.colSpan = 32; title.append(cell); table.append(title);
      let tr = el("tr"), used = 0;
      for (const [field, width] of layer) {
        const [value, raw] = values[v++];
        let remaining = width, first = true;
        while (remaining) {
          const take = Math.min(remaining, 32 - used);
          const td = el("td");
          td.colSpan = take;
          td.append(el("b", null, field + (first ? "" : " (cont.)")));
          if (first) {
            td.append(el("br"), document.createTextNode(value));
            if (raw && width >= 8) td.append(el("br"), el("span", "hex", raw.match(/../g).join(" ")));
          }
          tr.append(td);
          first = false; used += take; remaining -= take;
          if (used === 32) { table.append(tr); tr = el("tr"); used = 0; }
        }
      }
      if (used) table.append(tr);
    }
    return table;
  }

  const tooltip = () => $("tooltip");
  function showTooltip(item, event) {
    const packet = item.row.f !== null ? packetData(item.row.f) : null;
    const lines = packet ? fields(packet).map(([name, value]) => (name ? name + ": " : "") + value) : [...item.label];
    if (packet && packet.length) {
      const bytes = payloadBytes(packet);
      lines.push(W.payload + ": " + packet.payload.text.slice(0, 200));
      lines.push(hexDump(bytes.slice(0, 32)));
    }
    const tip = tooltip();
    tip.textContent = lines.join("\n");
    tip.hidden = false;
    const x = Math.min(event.clientX + 14, window.innerWidth - tip.offsetWidth - 8);
    const y = event.clientY + 16 + tip.offsetHeight > window.innerHeight ? event.clientY - tip.offsetHeight - 8 : event.clientY + 16;
    tip.style.left = Math.max(0, x) + "px"; tip.style.top = Math.max(0, y) + "px";
  }
  function hideTooltip() { tooltip().hidden = true; }

  // ---- the time-sequence graph ----
  const G = { w: 530, h: 330, ph: 150, left: 62, right: 46, top: 10, bottom: 36 };
  let zoom = null;   // {x0, x1, y0, y1} in data units, or null for the whole

  function graphData() {
    const conversation = view.conv !== null ? D.conversations[view.conv] : null;
    return conversation && conversation.graph ? conversation.graph[view.direction] : null;
  }

  // The least and the greatest of values (a spread of 100,000 arguments would overflow the stack).
  function range(values) {
    let low = Infinity, high = -Infinity;
    for (const value of values) { if (value < low) low = value; if (value > high) high = value; }
    return [low, high];
  }

  // The whole graph: every segment and ACK. The receive window may run far above them (zoom out to see it).
  function extent(data) {
    const xs = [], ys = [];
    for (const [t, s0, s1] of data.segments) { xs.push(t); ys.push(s0, s1); }
    for (const [t, ack] of data.acks) { xs.push(t); ys.push(ack); }
    for (const [t] of data.probes) xs.push(t);
    if (!xs.length) return null;
    let [x0, x1] = range(xs), [y0, y1] = range(ys);
    if (x1 === x0) { x0 -= 0.001; x1 += 0.001; }
    if (y1 === y0) { y1 += 1; }
    const padX = (x1 - x0) * 0.03, padY = (y1 - y0) * 0.04;
    return { x0: x0 - padX, x1: x1 + padX, y0: y0 - padY, y1: y1 + padY };
  }

  function drawGraph() {
    const box = $("graph");
    const conversation = view.conv !== null ? D.conversations[view.conv] : null;
    if (!conversation || !conversation.graph) {
      box.replaceChildren(el("h2", null, W.graph), el("p", "note", W["graph.none"]));
      return;
    }
    const data = graphData();
    const whole = extent(data) || { x0: 0, x1: 1, y0: 0, y1: 1 };
    const v = zoom || whole;
    const switcher = el("div", "group");
    for (const side of ["client", "server"]) {
      const button = el("button", "seg", say("graph.direction", { side: W["side." + side] }));
      button.setAttribute("aria-pressed", String(view.direction === side));
      button.dataset.direction = side;
      button.addEventListener("click", () => { view.direction = side; zoom = null; drawGraph(); });
      switcher.append(button);
    }
    const picture = svg("svg", { width: G.w, height: G.h, id: "tsg" });
    const sx = (t) => G.left + (t - v.x0) / (v.x1 - v.x0) * (G.w - G.left - G.right);
    const sy = (s) => G.h - G.bottom - (s - v.y0) / (v.y1 - v.y0) * (G.h - G.top - G.bottom);
    const inside = (t) => t >= v.x0 && t <= v.x1;
    picture.append(clip("tsg-clip", G.h));
    const plot = svg("g", { "clip-path": "url(#tsg-clip)" });
    const selected = selectedFrame();
    // the peer's ACKs and receive window, as steps
    const steps = (points, value) => {
      let d = "", last = null;
      for (const p of points) {
        const x = sx(p[0]), y = sy(value(p));
        d += last === null ? `M${x},${y}` : `H${x}V${y}`;
        last = y;
      }
      return d;
    };
    if (data.acks.length) {
      plot.append(svg("path", { d: steps(data.acks, (p) => p[1] + p[2]) + `H${sx(v.x1)}`, stroke: "#d98b00", fill: "none", "stroke-width": 1.2 }));
      plot.append(svg("path", { d: steps(data.acks, (p) => p[1]) + `H${sx(v.x1)}`, stroke: "#2a9d3f", fill: "none", "stroke-width": 1.2 }));
    }
    for (const [t, left, right, frame] of data.sacks) {
      if (!inside(t)) continue;
      plot.append(svg("line", { x1: sx(t) + 2, x2: sx(t) + 2, y1: sy(left), y2: sy(right), stroke: "#8e44ad", "stroke-width": 2,
                                "data-frame": frame }));
    }
    const BAR = { data: "#1d1d1d", resent: "#c0262d", probe: "#e67e00", control: "#5b2c83" };
    const shown = data.segments.filter((p) => inside(p[0])), acked = data.acks.filter((p) => inside(p[0]));
    if (shown.length + acked.length <= POINTS) {   // each point an element of its own, named by its frame
      for (const [t, s0, s1, frame, kind] of shown) {
        const group = svg("g", { "data-frame": frame, class: "point " + kind });
        group.append(svg("path", { d: bar(sx(t), sy(s0), sy(s1)), stroke: BAR[kind], fill: "none", "stroke-width": kind === "data" ? 1.2 : 2 }));
        if (kind !== "data") group.append(svg("circle", { cx: sx(t), cy: sy(s1), r: 2.5, fill: BAR[kind] }));
        plot.append(group);
      }
      for (const [t, ack, , frame] of acked) {
        plot.append(svg("circle", { cx: sx(t), cy: sy(ack), r: 1.6, fill: "#2a9d3f", "data-frame": frame, class: "point ack" }));
      }
    } else {   // too many to be elements: one path per kind (a click still finds the nearest point)
      for (const kind of Object.keys(BAR)) {
        const d = shown.filter((p) => p[4] === kind).map(([t, s0, s1]) => bar(sx(t), sy(s0), sy(s1))).join("");
        if (d) plot.append(svg("path", { d, stroke: BAR[kind], fill: "none", "stroke-width": kind === "data" ? 1 : 2 }));
      }
      plot.append(svg("path", { d: acked.map(([t, ack]) => `M${sx(t) - 1.5},${sy(ack)}h3`).join(""), stroke: "#2a9d3f",
                                "stroke-width": 2.5 }));
    }
    if (selected !== null) {
      const seg = data.segments.find((s) => s[3] === selected), ack = data.acks.find((a) => a[3] === selected);
      const at = seg ? [seg[0], seg[2]] : ack ? [ack[0], ack[1]] : null;
      if (at) plot.append(svg("circle", { cx: sx(at[0]), cy: sy(at[1]), r: 7, fill: "none", stroke: "#e6007e", "stroke-width": 2,
                                          id: "tsg-selected", "data-frame": selected }));
    }
    picture.append(plot, axes(v, sx, sy, G.h, W["graph.seq"]));
    const probes = probeGraph(data, v);
    attachZoom(picture, sx, sy, v, data);
    const key = el("div", "keys");
    for (const [colour, name] of [["#1d1d1d", "graph.segments"], ["#2a9d3f", "graph.ack"], ["#d98b00", "graph.window"],
                                  ["#8e44ad", "graph.sack"], ["#c0262d", "graph.resent"], ["#e67e00", "graph.probe"]]) {
      const k = el("span", "key"); const swatch = el("i"); swatch.style.background = colour; k.append(swatch, W[name]); key.append(k);
    }
    box.replaceChildren(el("h2", null, W.graph), switcher, picture, key, probes, el("p", "hint", W["graph.hint"]));
  }

  const POINTS = 3000;   // the most points drawn as elements of their own; zoom in to get them
  // A segment's bar: from its first to its last sequence number, with tcptrace's end ticks.
  function bar(x, base, top) {
    const up = Math.min(top, base - 1);
    return `M${x},${base}V${up}M${x - 2.5},${up}h5M${x - 2.5},${base}h5`;
  }

  function clip(id, height) {
    const path = svg("clipPath", { id });
    path.append(svg("rect", { x: G.left, y: G.top, width: G.w - G.left - G.right, height: height - G.top - G.bottom }));
    return path;
  }

  function ticks(low, high, count) {
    const span = high - low, raw = span / count, power = 10 ** Math.floor(Math.log10(raw));
    const stepSize = [1, 2, 5, 10].map((m) => m * power).find((s) => span / s <= count) || raw;
    const out = [];
    for (let t = Math.ceil(low / stepSize) * stepSize; t <= high; t += stepSize) out.push(t);
    return out;
  }

  function number(value) {
    if (Math.abs(value) >= 1e6) return (value / 1e6).toFixed(2).replace(/\.?0+$/, "") + "M";
    if (Math.abs(value) >= 1e4) return (value / 1e3).toFixed(1).replace(/\.0$/, "") + "k";
    return String(+value.toPrecision(6));
  }

  function axes(v, sx, sy, height, yName, right) {
    const group = svg("g", { class: "axis" });
    const bottom = height - G.bottom;
    group.append(svg("line", { x1: G.left, x2: G.w - G.right, y1: bottom, y2: bottom }));
    group.append(svg("line", { x1: G.left, x2: G.left, y1: G.top, y2: bottom }));
    for (const t of ticks(v.x0, v.x1, 6)) {
      group.append(svg("line", { x1: sx(t), x2: sx(t), y1: bottom, y2: bottom + 4 }));
      group.append(svg("text", { x: sx(t), y: bottom + 14, "text-anchor": "middle" }, number(t)));
    }
    for (const s of ticks(v.y0, v.y1, 6)) {
      group.append(svg("line", { x1: G.left - 4, x2: G.left, y1: sy(s), y2: sy(s) }));
      group.append(svg("text", { x: G.left - 6, y: sy(s) + 3, "text-anchor": "end" }, number(s)));
    }
    group.append(svg("text", { x: (G.left + G.w - G.right) / 2, y: height - 2, "text-anchor": "middle" }, W["graph.time"]));
    group.append(svg("text", { x: 10, y: (G.top + bottom) / 2, transform: `rotate(-90 10 ${(G.top + bottom) / 2})`, "text-anchor": "middle" }, yName));
    if (right) {
      group.append(svg("line", { x1: G.w - G.right, x2: G.w - G.right, y1: G.top, y2: bottom }));
      for (const s of ticks(right.y0, right.y1, 4)) {
        const y = bottom - (s - right.y0) / (right.y1 - right.y0) * (height - G.top - G.bottom);
        group.append(svg("text", { x: G.w - G.right + 4, y: y + 3 }, number(s)));
      }
    }
    return group;
  }

  // The sender's congestion control as the kernel saw it, on the same time axis.
  function probeGraph(data, v) {
    const wrapBox = el("div", null);
    wrapBox.id = "probes";
    if (!data.probes.length) { wrapBox.append(el("p", "note", W[data.traced ? "graph.no_probes" : "graph.no_kernel"])); return wrapBox; }
    const h = G.ph;
    const picture = svg("svg", { width: G.w, height: h, id: "tsg-probes" });
    const segs = data.probes.flatMap((p) => [p[1], p[2] === null ? p[1] : p[2]]);
    const windows = { y0: 0, y1: range(segs)[1] * 1.1 + 1 };
    const rtt = { y0: 0, y1: range(data.probes.map((p) => p[3]))[1] * 1.1 || 1 };
    const sx = (t) => G.left + (t - v.x0) / (v.x1 - v.x0) * (G.w - G.left - G.right);
    const sy = (value, range) => h - G.bottom - (value - range.y0) / (range.y1 - range.y0) * (h - G.top - G.bottom);
    picture.append(clip("tsg-probes-clip", h));
    const plot = svg("g", { "clip-path": "url(#tsg-probes-clip)" });
    // Each value holds from one probe to the next: drawn as steps, with a dot where the kernel said it.
    const line = (pick, range, colour, dashed) => {
      let d = "";
      for (const p of data.probes) {
        const value = pick(p);
        if (value === null) continue;
        const x = sx(p[0]), y = sy(value, range);
        d += d ? `H${x}V${y}` : `M${x},${y}`;
        plot.append(svg("circle", { cx: x, cy: y, r: 1.8, fill: colour }));
      }
      if (d) plot.append(svg("path", { d, stroke: colour, fill: "none", "stroke-width": 1.4, ...(dashed ? { "stroke-dasharray": "4 3" } : {}) }));
    };
    line((p) => p[1], windows, "#1f5fbf");
    line((p) => p[2], windows, "#c0262d", true);
    line((p) => p[3], rtt, "#2a9d3f");
    picture.append(plot, axes({ x0: v.x0, x1: v.x1, y0: windows.y0, y1: windows.y1 }, sx, (value) => sy(value, windows), h, "", rtt));
    const key = el("div", "keys");
    for (const [colour, name] of [["#1f5fbf", "graph.cwnd"], ["#c0262d", "graph.ssthresh"], ["#2a9d3f", "graph.srtt"]]) {
      const k = el("span", "key"); const swatch = el("i"); swatch.style.background = colour; k.append(swatch, W[name]); key.append(k);
    }
    wrapBox.append(el("p", "note", W["graph.kernel"]), picture, key);
    return wrapBox;
  }

  function selectedFrame() {
    const packet = packetOf(view.selected);
    return packet ? packet.frame : null;
  }

  // Wheel zooms around the pointer, a drag pans, a click picks the nearest point: the graph is
  // redrawn as it moves, so the drag is followed on the document.
  let drag = null, drawn = null;
  function attachZoom(picture, sx, sy, v, data) {
    drawn = { picture, sx, sy, data };
    picture.addEventListener("wheel", (event) => {
      event.preventDefault();
      const box = picture.getBoundingClientRect();
      const x = v.x0 + (event.clientX - box.left - G.left) / (G.w - G.left - G.right) * (v.x1 - v.x0);
      const y = v.y0 + (G.h - G.bottom - (event.clientY - box.top)) / (G.h - G.top - G.bottom) * (v.y1 - v.y0);
      const factor = event.deltaY < 0 ? 0.8 : 1.25;
      zoom = { x0: x - (x - v.x0) * factor, x1: x + (v.x1 - x) * factor, y0: y - (y - v.y0) * factor, y1: y + (v.y1 - y) * factor };
      drawGraph();
    }, { passive: false });
    picture.addEventListener("mousedown", (event) => {
      event.preventDefault();
      drag = { x: event.clientX, y: event.clientY, v, moved: false };
    });
    picture.addEventListener("dblclick", () => { zoom = null; drawGraph(); });
  }
  document.addEventListener("mousemove", (event) => {
    if (!drag) return;
    const dx = event.clientX - drag.x, dy = event.clientY - drag.y;
    if (!drag.moved && Math.abs(dx) + Math.abs(dy) < 4) return;
    drag.moved = true;
    const kx = (drag.v.x1 - drag.v.x0) / (G.w - G.left - G.right), ky = (drag.v.y1 - drag.v.y0) / (G.h - G.top - G.bottom);
    zoom = { x0: drag.v.x0 - dx * kx, x1: drag.v.x1 - dx * kx, y0: drag.v.y0 + dy * ky, y1: drag.v.y1 + dy * ky };
    drawGraph();
  });
  document.addEventListener("mouseup", (event) => {
    const was = drag;
    drag = null;
    if (was && !was.moved && drawn) pick(event);
  });

  function pick(event) {
    const { picture, sx, sy, data } = drawn;
    const box = picture.getBoundingClientRect();
    const px = event.clientX - box.left, py = event.clientY - box.top;
    let best = null, bestDistance = 10;
    for (const [t, s0, s1, frame] of data.segments) {
      const x = sx(t), top = sy(s1), base = sy(s0);
      const distance = Math.abs(px - x) + (py < top ? top - py : py > base ? py - base : 0);
      if (distance < bestDistance) { best = frame; bestDistance = distance; }
    }
    for (const [t, ack, , frame] of data.acks) {
      const distance = Math.hypot(px - sx(t), py - sy(ack));
      if (distance < bestDistance) { best = frame; bestDistance = distance; }
    }
    if (best !== null) selectFrame(best, true);
  }

  // ---- controls, keyboard and the URL fragment ----
  function syncControls() {
    for (const button of document.querySelectorAll("[data-numbers]")) button.setAttribute("aria-pressed", String((button.dataset.numbers === "relative") === view.relative));
    for (const button of document.querySelectorAll("[data-time]")) button.setAttribute("aria-pressed", String(button.dataset.time === view.time));
    for (const name of ["acks", "calls", "states"]) $("show-" + name).checked = view[name];
  }

  function buildControls() {
    const controls = $("controls");
    const group = (title, ...items) => { const g = el("span", "group"); g.append(el("span", null, title), ...items); return g; };
    const seg = (text, attr, value, apply) => {
      const b = el("button", "seg", text); b.dataset[attr] = value;
      b.addEventListener("click", () => { apply(); syncControls(); relayout(); scrollToSelected(); });
      return b;
    };
    const check = (name) => {
      const label = el("label", "check"), box = el("input"); box.type = "checkbox"; box.id = "show-" + name;
      box.addEventListener("change", () => { view[name] = box.checked; relayout(); scrollToSelected(); });
      label.append(box, W[name]);
      return label;
    };
    const back = el("a", null, "← " + W["index.link"]); back.href = "#index"; back.id = "to-index";
    controls.append(back,
      group(W.numbers, seg(W.relative, "numbers", "relative", () => { view.relative = true; }),
            seg(W.absolute, "numbers", "absolute", () => { view.relative = false; })),
      group(W.show, check("acks"), check("calls"), check("states")),
      group(W.time, seg(W["by.rows"], "time", "rows", () => { view.time = "rows"; }),
            seg(W["by.time"], "time", "time", () => { view.time = "time"; })),
      el("span", "note", W.keys));
    syncControls();
  }

  document.addEventListener("keydown", (event) => {
    if (view.conv === null || event.target.tagName === "INPUT" || event.altKey || event.ctrlKey || event.metaKey) return;
    if (event.key === "j" || event.key === "ArrowDown") { event.preventDefault(); step(1); }
    else if (event.key === "k" || event.key === "ArrowUp") { event.preventDefault(); step(-1); }
    else if (event.key === "Enter" && view.selected !== null) {
      const item = layout.items[layout.position.get(view.selected)];
      if (item && item.row.fold) { event.preventDefault(); toggleFold(item.key); }
    } else if (event.key === "Escape") { view.selected = null; history.replaceState(null, "", "#c" + view.conv); relayout(); showDetails(); drawGraph(); }
  });

  function follow() {
    const hash = decodeURIComponent(location.hash.slice(1));
    const match = /^c(\d+)(?:-f(\d+)|-r([\d.]+))?$/.exec(hash);
    if (!match || !D.conversations[+match[1]]) {
      if (D.conversations.length === 1 && hash !== "index") { openConversation(0); return; }
      showIndex(); return;
    }
    const id = +match[1];
    if (view.conv !== id) zoom = null;
    openConversation(id);
    if (match[2]) selectFrame(+match[2]);
    else if (match[3]) {
      const top = match[3].split(".")[0];
      if (match[3].includes(".")) { view.expanded.add(top); relayout(); }
      if (layout.position.has(match[3])) { select(match[3]); scrollToSelected(); }
    }
  }

  document.documentElement.lang = D.lang;
  document.title = D.title;
  buildControls();
  $("ladder").addEventListener("scroll", () => renderVisible(false), { passive: true });
  window.addEventListener("resize", () => renderVisible(false));
  window.addEventListener("hashchange", follow);
  follow();
})();
