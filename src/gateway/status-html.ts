/**
 * The status page itself: plain HTML rendered from a {@link StatusState}
 * (every registry-provided string escaped), one inline style and one inline
 * script (allowed by their hashes in the Content-Security-Policy, nothing
 * else is), which follows `status/events` and re-renders what changed with
 * DOM text nodes, never markup.
 *
 * @module
 */
import { createHash } from 'node:crypto';
import type {
  StatusInstance,
  StatusService,
  StatusStaleness,
  StatusState,
} from './status-state.js';

const STYLE = `
body{font:14px/1.4 system-ui,sans-serif;margin:1.5em;color:#222}
h1{font-size:1.3em;margin:0 0 .3em}
h2{font-size:1.05em;margin:1.2em 0 .3em}
code{font-size:.95em}
table{border-collapse:collapse;min-width:40em}
th,td{padding:.15em .7em;border-bottom:1px solid #ddd;text-align:left}
td.picks,td.inflight,td.ejections{text-align:right;font-variant-numeric:tabular-nums}
.badge{border-radius:.3em;padding:0 .4em;font-size:.85em}
.badge.fresh{background:#dfd;color:#060}
.badge.stale{background:#b00;color:#fff}
.since{color:#a00}
.count,#connection{color:#666}
tr.ejected td{color:#a00}
`;

const SCRIPT = `'use strict';
(function () {
  var main = document.getElementById('services');
  var registry = document.getElementById('registry');
  var connection = document.getElementById('connection');
  var empty = document.getElementById('empty');
  var services = new Map();
  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined) e.textContent = String(text);
    return e;
  }
  function sinceText(s) {
    return s.stale ? 'since ' + new Date(s.staleSince).toISOString() + (s.error ? ': ' + s.error : '') : '';
  }
  function badge(s) {
    return el('span', 'badge ' + (s.stale ? 'stale' : 'fresh'), s.stale ? 'stale' : 'fresh');
  }
  function countText(n) { return n === 1 ? '1 instance' : n + ' instances'; }
  function setStats(tr, picks, inFlight, ejected, ejections) {
    tr.className = ejected ? 'instance ejected' : 'instance';
    tr.cells[4].textContent = String(picks);
    tr.cells[5].textContent = String(inFlight);
    tr.cells[6].textContent = String(ejections);
    tr.cells[7].textContent = ejected ? 'yes' : 'no';
  }
  function row(i) {
    var tr = el('tr', 'instance');
    tr.dataset.id = i.id;
    tr.append(el('td', 'id', i.id), el('td', 'address', (i.secure ? 'https://' : 'http://') + i.address),
      el('td', 'status', i.status), el('td', 'zone', i.zone === null ? '' : i.zone),
      el('td', 'picks'), el('td', 'inflight'), el('td', 'ejections'), el('td', 'ejected'));
    setStats(tr, i.picks, i.inFlight, i.ejected, i.ejections);
    return tr;
  }
  function renderService(s) {
    var section = el('section', 'service ' + (s.stale ? 'stale' : 'fresh'));
    section.dataset.service = s.name;
    var h = el('h2');
    h.append(el('span', 'name', s.name), ' ', badge(s), ' ', el('span', 'since', sinceText(s)), ' ',
      el('span', 'count', countText(s.instances.length)));
    var table = el('table');
    var head = el('tr');
    ['instance', 'address', 'status', 'zone', 'picks', 'in flight', 'ejections', 'ejected'].forEach(function (t) {
      head.append(el('th', '', t));
    });
    table.append(el('thead'), el('tbody'));
    table.tHead.append(head);
    var rows = new Map();
    s.instances.forEach(function (i) {
      var tr = row(i);
      rows.set(i.id, tr);
      table.tBodies[0].append(tr);
    });
    section.append(h, table);
    return { section: section, rows: rows };
  }
  // In order: a full state comes sorted, so each service goes last (O(1)).
  function place(s, inOrder) {
    var entry = renderService(s);
    var old = services.get(s.name);
    if (old) {
      old.section.replaceWith(entry.section);
    } else if (inOrder) {
      main.append(entry.section);
    } else {
      var next = null;
      services.forEach(function (v, k) {
        if (k > s.name && (next === null || k < next.name)) next = { name: k, section: v.section };
      });
      main.insertBefore(entry.section, next === null ? null : next.section);
    }
    services.set(s.name, entry);
  }
  function remove(name) {
    var old = services.get(name);
    if (old) old.section.remove();
    services.delete(name);
  }
  function header(s) {
    registry.className = s.stale ? 'stale' : 'fresh';
    registry.replaceChildren(el('span', 'label', 'registry'), ' ', el('code', 'url', s.registry), ' ', badge(s), ' ',
      el('span', 'since', sinceText(s)));
  }
  function done() { empty.hidden = services.size > 0; }
  var source = new EventSource('status/events');
  var known = '';
  source.addEventListener('open', function () { connection.textContent = 'live'; });
  source.addEventListener('error', function () { connection.textContent = 'reconnecting'; });
  source.addEventListener('failure', function (e) {
    // For good: reconnecting would only fail again. Reload the page to retry.
    source.close();
    connection.textContent = 'failed: ' + JSON.parse(e.data).error;
  });
  source.addEventListener('state', function (e) {
    var s = JSON.parse(e.data);
    known = s.registry;
    main.replaceChildren();
    services.clear();
    header(s);
    s.services.forEach(function (x) { place(x, true); });
    done();
    connection.textContent = 'live';
  });
  source.addEventListener('catalog', function (e) {
    var d = JSON.parse(e.data);
    header({ registry: known, stale: d.stale, staleSince: d.staleSince, error: d.error });
    d.removed.forEach(remove);
    d.services.forEach(function (x) { place(x, false); });
    done();
  });
  source.addEventListener('stats', function (e) {
    JSON.parse(e.data).changes.forEach(function (c) {
      var s = services.get(c[0]);
      var tr = s && s.rows.get(c[1]);
      if (tr) setStats(tr, c[2], c[3], c[4], c[5]);
    });
  });
})();
`;

const hash = (text: string): string =>
  `'sha256-${createHash('sha256').update(text, 'utf8').digest('base64')}'`;

/**
 * The page's Content-Security-Policy: nothing but its own inline style and
 * script (by hash) and event streams from its own origin.
 */
export const STATUS_PAGE_CSP = [
  "default-src 'none'",
  `script-src ${hash(SCRIPT)}`,
  `style-src ${hash(STYLE)}`,
  "connect-src 'self'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join('; ');

const ESCAPES: Readonly<Record<string, string>> = {
  '&': '&amp;',
  '<': '&lt;',
  '>': '&gt;',
  '"': '&quot;',
  "'": '&#39;',
};

/** `text` with `& < > " '` escaped: safe in HTML text and in quoted attributes. */
export const escapeHtml = (text: string): string => text.replace(/[&<>"']/g, (c) => ESCAPES[c]!);

const sinceText = (s: StatusStaleness): string =>
  s.stale && s.staleSince !== null
    ? `since ${new Date(s.staleSince).toISOString()}${s.error === null ? '' : `: ${s.error}`}`
    : '';

const badge = (s: StatusStaleness): string =>
  s.stale ? '<span class="badge stale">stale</span>' : '<span class="badge fresh">fresh</span>';

const instanceRow = (i: StatusInstance): string => {
  const td = (cls: string, text: string | number): string =>
    `<td class="${cls}">${escapeHtml(String(text))}</td>`;
  return [
    `<tr class="instance${i.ejected ? ' ejected' : ''}" data-id="${escapeHtml(i.id)}">`,
    td('id', i.id),
    td('address', `${i.secure ? 'https' : 'http'}://${i.address}`),
    td('status', i.status),
    td('zone', i.zone ?? ''),
    td('picks', i.picks),
    td('inflight', i.inFlight),
    td('ejections', i.ejections),
    td('ejected', i.ejected ? 'yes' : 'no'),
    '</tr>',
  ].join('');
};

const serviceSection = (s: StatusService): string => {
  const n = s.instances.length;
  return [
    `<section class="service ${s.stale ? 'stale' : 'fresh'}" data-service="${escapeHtml(s.name)}">`,
    `<h2><span class="name">${escapeHtml(s.name)}</span> ${badge(s)} `,
    `<span class="since">${escapeHtml(sinceText(s))}</span> `,
    `<span class="count">${n === 1 ? '1 instance' : `${n} instances`}</span></h2>`,
    '<table><thead><tr><th>instance</th><th>address</th><th>status</th><th>zone</th>',
    '<th>picks</th><th>in flight</th><th>ejections</th><th>ejected</th></tr></thead><tbody>',
    ...s.instances.map(instanceRow),
    '</tbody></table></section>',
  ].join('');
};

/** The whole page for `state`, ready to follow its event stream. */
export const renderStatusPage = (state: StatusState): string =>
  [
    '<!doctype html>',
    '<html lang="en"><head><meta charset="utf-8">',
    '<meta name="viewport" content="width=device-width, initial-scale=1">',
    `<title>rxdisco gateway status</title><style>${STYLE}</style></head><body>`,
    '<header><h1>rxdisco gateway</h1>',
    `<p id="registry" class="${state.stale ? 'stale' : 'fresh'}"><span class="label">registry</span> `,
    `<code class="url">${escapeHtml(state.registry)}</code> ${badge(state)} `,
    `<span class="since">${escapeHtml(sinceText(state))}</span></p>`,
    '<p id="connection">connecting</p></header>',
    `<p id="empty"${state.services.length > 0 ? ' hidden' : ''}>No service has an instance.</p>`,
    '<main id="services">',
    ...state.services.map(serviceSection),
    `</main><script>${SCRIPT}</script></body></html>`,
  ].join('');
