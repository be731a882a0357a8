// tailwatch local console: a read-only view of the data dir over /api/. No framework, no build
// step. Every value from the logs is attacker-controlled text: it only ever goes into the DOM as
// text nodes (el() below), never as HTML.
"use strict";

function el(tag, attrs, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === "class") e.className = v;
    else if (k === "style") Object.assign(e.style, v); // CSSOM, which the CSP allows (style attributes it blocks)
    else if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
    else e.setAttribute(k, v);
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined) continue;
    e.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return e;
}

async function api(path) {
  const r = await fetch(path, { headers: { accept: "application/json" } });
  const body = await r.json().catch(() => ({}));
  if (!r.ok) throw new Error(body.error || `${r.status} ${r.statusText}`);
  return body;
}

const main = () => document.getElementById("main");
const sev = (s) => el("span", { class: `sev sev-${s}` }, s);
const bytes = (n) => {
  if (n < 1024) return `${n} B`;
  const u = ["KiB", "MiB", "GiB", "TiB"];
  let i = -1;
  do { n /= 1024; i++; } while (n >= 1024 && i < u.length - 1);
  return `${n.toFixed(1)} ${u[i]}`;
};
const when = (t) => (t || "").replace("T", " ").replace(/\.\d+Z$/, "Z");
function table(headers, rows, onclick) {
  return el("table", {},
    el("thead", {}, el("tr", {}, headers.map((h) => el("th", { class: h.num ? "num" : "" }, h.label || h)))),
    el("tbody", {}, rows.length ? rows.map((r) => {
      const tr = el("tr", onclick ? { class: "clickable", onclick: () => onclick(r.data) } : {},
        r.cells.map((c, i) => el("td", { class: headers[i].num ? "num" : "" }, c)));
      if (r.id) tr.dataset.id = r.id;
      return tr;
    }) : el("tr", {}, el("td", { colspan: headers.length, class: "muted" }, "Nothing here."))));
}

function params(hash) {
  const q = hash.split("?")[1] || "";
  return new URLSearchParams(q);
}

async function viewAlerts(p) {
  const query = new URLSearchParams();
  if (p.get("severity")) query.set("severity", p.get("severity"));
  if (p.get("detection")) query.set("detection", p.get("detection"));
  const data = await api(`/api/alerts?${query}`);
  const go = (k, v) => { const n = new URLSearchParams(p); if (v) n.set(k, v); else n.delete(k); location.hash = `#alerts?${n}`; };
  const sevSel = el("select", { id: "f-severity", onchange: (e) => go("severity", e.target.value) },
    el("option", { value: "" }, "all severities"),
    ["CRITICAL", "HIGH", "MEDIUM", "LOW", "INFO"].map((s) => el("option", { value: s }, `${s} (${data.severities[s] || 0})`)));
  sevSel.value = p.get("severity") || "";
  const detSel = el("select", { id: "f-detection", onchange: (e) => go("detection", e.target.value) },
    el("option", { value: "" }, "all detections"),
    data.detections.map((d) => el("option", { value: d.id }, `${d.id} (${d.count})`)));
  detSel.value = p.get("detection") || "";
  main().replaceChildren(
    el("h1", {}, "Alerts ", el("span", { class: "muted" }, `${data.alerts.length} of ${data.total}`)),
    el("div", { class: "filters" }, sevSel, detSel),
    table(["Created", "Severity", "Detection", "Title", { label: "Events", num: true }],
      data.alerts.map((a) => ({ id: a.alertId, data: a, cells: [when(a.createdAt), sev(a.severity), el("code", {}, a.id), a.title, a.eventCount] })),
      (a) => { location.hash = `#alert/${encodeURIComponent(a.alertId)}`; }));
}

function kv(obj) {
  return el("dl", { class: "kv" }, Object.entries(obj).flatMap(([k, v]) => [
    el("dt", {}, k), el("dd", {}, typeof v === "object" && v !== null ? el("code", {}, JSON.stringify(v)) : String(v))]));
}

const ROW_FIELDS = ["p_event_time", "p_log_type", "event_name", "actor_login_name", "target_name", "origin",
  "node_name", "traffic_kind", "src_ip", "dst_ip", "dst_port", "peer_node_name", "tx_bytes", "rx_bytes"];

async function viewAlert(id) {
  const { alert: a, rows } = await api(`/api/alerts/${encodeURIComponent(id)}`);
  const fields = ROW_FIELDS.filter((f) => rows.some((r) => r.row[f] !== undefined && r.row[f] !== null && r.row[f] !== ""));
  main().replaceChildren(
    el("p", {}, el("a", { href: "#alerts" }, "← all alerts")),
    el("h1", {}, sev(a.severity), " ", a.title),
    el("div", { class: "card" }, kv({ detection: `${a.id} — ${a.name}`, alertId: a.alertId, created: when(a.createdAt),
      "first event": when(a.firstEventTime), events: a.eventCount, "log types": a.logTypes.join(", "), dedup: a.dedup,
      "ATT&CK": (a.tags || []).join(", ") || "—", reference: a.reference || "—" })),
    el("div", { class: "card" }, el("p", { style: { margin: "0" } }, a.description)),
    el("h2", {}, "Runbook"), el("div", { class: "runbook" }, a.runbook),
    el("h2", {}, "Context"), el("div", { class: "card" }, Object.keys(a.alertContext || {}).length ? kv(a.alertContext) : el("span", { class: "muted" }, "none")),
    el("h2", {}, `Rows behind it (${rows.length} kept with the alert of ${a.eventCount})`),
    table(["From", ...fields, "Row"], rows.map((r) => ({ cells: [
      el("span", { class: "tag" }, r.source), ...fields.map((f) => String(r.row[f] ?? "")),
      el("details", {}, el("summary", {}, r.row.p_row_id || "row"), el("pre", {}, JSON.stringify(r.row, null, 2)))] }))));
}

async function viewQuarantine() {
  const data = await api("/api/quarantine");
  main().replaceChildren(
    el("h1", {}, "Quarantine ", el("span", { class: "muted" }, `${data.total} value(s) rejected`)),
    el("div", { class: "chips" }, Object.entries(data.reasons).map(([r, n]) => el("span", {}, `${r}: ${n}`))),
    table(["Parsed", "Reason", "Field", "Message", "Source", { label: "Line", num: true }, "Original"],
      data.rows.map((q) => ({ cells: [when(q.p_parse_time), el("code", {}, q.reason), q.field || "", q.message,
        el("span", { class: "mono" }, q.p_source_file || ""), q.line,
        el("details", {}, el("summary", {}, `${q.original_bytes} bytes`), el("pre", {}, q.original || ""))] }))));
}

async function viewNetwork(p) {
  const hours = p.get("hours") || "24";
  const q = new URLSearchParams({ hours });
  if (p.get("until")) q.set("until", p.get("until"));
  const d = await api(`/api/network?${q}`);
  const go = (k, v) => { const n = new URLSearchParams(p); n.set(k, v); location.hash = `#network?${n}`; };
  const hoursSel = el("select", { id: "f-hours", onchange: (e) => go("hours", e.target.value) },
    ["1", "6", "24", "72", "168"].map((h) => el("option", { value: h }, `last ${h} h`)));
  hoursSel.value = hours;
  const max = Math.max(1, ...d.top_talkers.map((t) => t.tx_bytes + t.rx_bytes));
  const jump = d.rows === 0 && d.newest_data_until && d.newest_data_until < d.from
    ? el("button", { id: "jump", onclick: () => go("until", d.newest_data_until) }, `show the ${hours} h up to the newest data (${when(d.newest_data_until)})`) : null;
  main().replaceChildren(
    el("h1", {}, "Who talks to whom"),
    el("div", { class: "filters" }, hoursSel,
      el("span", { class: "muted" }, `${when(d.from)} → ${when(d.until)} · ${d.rows} flow row(s)${d.truncated ? " (truncated)" : ""}`), jump),
    el("div", { class: "grid2" },
      el("section", {}, el("h2", {}, "Top talkers"),
        table(["Node", "Owner", { label: "Sent", num: true }, { label: "Received", num: true }, { label: "Peers", num: true }, ""],
          d.top_talkers.map((t) => ({ cells: [t.node, t.who, bytes(t.tx_bytes), bytes(t.rx_bytes), t.peers,
            el("div", { class: "bar", style: { width: `${Math.round(80 * (t.tx_bytes + t.rx_bytes) / max)}px` } })] })))),
      el("section", {}, el("h2", {}, "Admin-port connections"),
        table(["From", "To", "Service", { label: "Flows", num: true }, { label: "Bytes", num: true }],
          d.admin_edges.map((e) => ({ cells: [e.src, e.dst, `${e.service} (${e.port})`, e.flows, bytes(e.tx_bytes + e.rx_bytes)] }))))),
    el("div", { class: "grid2" },
      el("section", {}, el("h2", {}, "Busiest node-to-node edges"),
        table(["From", "To", { label: "Flows", num: true }, { label: "Bytes", num: true }],
          d.edges.map((e) => ({ cells: [e.src, e.dst, e.flows, bytes(e.tx_bytes + e.rx_bytes)] })))),
      el("section", {}, el("h2", {}, "Exit-node use"),
        table(["Node", { label: "Sent", num: true }, { label: "Received", num: true }, { label: "Destinations", num: true }],
          d.exit_nodes.map((x) => ({ cells: [x.node, bytes(x.tx_bytes), bytes(x.rx_bytes), x.destinations] }))))));
}

async function render() {
  const hash = location.hash || "#alerts";
  const view = hash.slice(1).split(/[/?]/)[0];
  for (const a of document.querySelectorAll("nav a")) a.classList.toggle("active", a.dataset.view === view || (view === "alert" && a.dataset.view === "alerts"));
  try {
    if (view === "alert") await viewAlert(decodeURIComponent(hash.slice("#alert/".length)));
    else if (view === "quarantine") await viewQuarantine();
    else if (view === "network") await viewNetwork(params(hash));
    else await viewAlerts(params(hash));
    document.body.dataset.ready = view;
  } catch (e) {
    main().replaceChildren(el("p", { class: "error" }, `Could not load: ${e.message}`));
    document.body.dataset.ready = "error";
  }
}

window.addEventListener("hashchange", render);
render();
