// molt deployer dashboard (docs/dashboard.md).
// Plain DOM, no framework, no inline script or style (the CSP forbids both). Every
// value from moltd is put in the page as text (textContent), never as HTML: device
// ids, attributes and feedback details are written by devices, which are attackers.
// Every action is a call to moltd's management API with the token of this tab; the
// API does the role checks (the disabled buttons for a viewer are a courtesy).
'use strict';

const API = '/api/v1';
const TOKEN_KEY = 'molt.token';
const POLL_MS = 2000;
const PAGE = 50;
const STATES = ['assigned', 'running', 'downloaded', 'cancelling', 'success', 'failure', 'cancelled'];
const RANK = { viewer: 1, operator: 2, admin: 3 };

let me = null;          // {role, actor}
let timer = null;       // the current view's poll
let viewSeq = 0;        // a view's callbacks stop when another view starts

// --- small helpers --------------------------------------------------------------------
function h(tag, attrs, ...kids) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k === 'class') e.className = v;
    else if (k.startsWith('on')) e.addEventListener(k.slice(2), v);
    else e.setAttribute(k, v === true ? '' : String(v));
  }
  for (const k of kids.flat()) {
    if (k === null || k === undefined || k === false) continue;
    e.append(k instanceof Node ? k : document.createTextNode(String(k)));
  }
  return e;
}
const $ = (sel, root = document) => root.querySelector(sel);
const svgNS = 'http://www.w3.org/2000/svg';
function s(tag, attrs, ...kids) {
  const e = document.createElementNS(svgNS, tag);
  for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, String(v));
  for (const k of kids) e.append(k instanceof Node ? k : document.createTextNode(String(k)));
  return e;
}
function ago(ms, now) {
  if (ms === null || ms === undefined) return 'never';
  const d = Math.max(0, Math.round(((now || Date.now()) - ms) / 1000));
  if (d < 60) return `${d} s ago`;
  if (d < 3600) return `${Math.floor(d / 60)} min ago`;
  if (d < 86400) return `${Math.floor(d / 3600)} h ago`;
  return `${Math.floor(d / 86400)} d ago`;
}
const when = ms => (ms ? new Date(ms).toISOString().replace('T', ' ').replace(/\.\d+Z$/, ' UTC') : '');
const stateEl = st => h('span', { class: `state ${st || 'none'}` }, st || 'none');
const can = role => me && RANK[me.role] >= RANK[role];
function status(text) { $('#status').textContent = text; }

class ApiError extends Error {
  constructor(code, msg, body) { super(msg); this.code = code; this.body = body; }
}
async function api(path, opts = {}) {
  const headers = Object.assign({ Authorization: `Bearer ${sessionStorage.getItem(TOKEN_KEY) || ''}` },
    opts.headers || {});
  const res = await fetch(API + path, Object.assign({}, opts, { headers, cache: 'no-store' }));
  const type = res.headers.get('Content-Type') || '';
  const body = type.startsWith('application/json') ? await res.json().catch(() => null) : await res.text();
  if (!res.ok) {
    const msg = body && body.error ? body.error : `HTTP ${res.status}`;
    if (res.status === 401 && !opts.noLogout) logout(msg);
    throw new ApiError(res.status, `${res.status}: ${msg}${body && body.reason ? ` (${body.reason})` : ''}`, body);
  }
  return body;
}
const post = (path, obj) => api(path, { method: 'POST', body: JSON.stringify(obj),
  headers: { 'Content-Type': 'application/json' } });

// Run fn now and every POLL_MS while this view is shown (not while the tab is hidden).
function poll(fn) {
  const seq = viewSeq;
  const tick = async () => {
    if (seq !== viewSeq) return;
    if (!document.hidden) {
      try { await fn(); status(`updated ${new Date().toLocaleTimeString()}`); } catch (e) { status(e.message); }
    }
    if (seq === viewSeq) timer = setTimeout(tick, POLL_MS);
  };
  tick();
}
function download(name, type, text) {
  const url = URL.createObjectURL(new Blob([text], { type }));
  const a = h('a', { href: url, download: name });
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10000);
}
// A write control: disabled for a token whose role is too low, with the reason.
function writable(el, role = 'operator') {
  if (!can(role)) { el.disabled = true; el.title = `needs the ${role} role (this token is ${me.role})`; }
  return el;
}
function readonlyNote(role = 'operator') {
  return can(role) ? null
    : h('p', { class: 'readonly', id: 'readonly' }, `Read-only: this token is a ${me.role}; the ${role} role is needed to change anything here.`);
}

// --- log in ---------------------------------------------------------------------------------
async function login(token) {
  sessionStorage.setItem(TOKEN_KEY, token);
  try {
    me = await api('/whoami', { noLogout: true });
  } catch (e) {
    sessionStorage.removeItem(TOKEN_KEY);
    me = null;
    throw e;
  }
  $('#role').textContent = me.role;
  $('#role').className = `badge ${me.role}`;
  $('#actor').textContent = me.actor;
  $('#login').hidden = true;
  $('#top').hidden = false;
  $('#view').hidden = false;
  route();
}
function logout(why) {
  sessionStorage.removeItem(TOKEN_KEY);
  me = null;
  viewSeq++;
  clearTimeout(timer);
  $('#top').hidden = true;
  $('#view').hidden = true;
  $('#view').replaceChildren();
  $('#login').hidden = false;
  $('#login-error').textContent = why || '';
  $('#token').value = '';
  $('#token').focus();
}

// --- routing ----------------------------------------------------------------------------------
const routes = [
  [/^#\/fleet$/, fleetView],
  [/^#\/campaigns$/, campaignsView],
  [/^#\/campaign\/(\d+)$/, campaignView],
  [/^#\/packages$/, packagesView],
  [/^#\/device\/([A-Za-z0-9._-]+)$/, deviceView],
  [/^#\/audit$/, auditView],
];
function route() {
  if (!me) return;
  viewSeq++;
  clearTimeout(timer);
  const hash = location.hash || '#/fleet';
  const view = $('#view');
  view.replaceChildren();
  for (const a of document.querySelectorAll('[data-nav]'))
    a.classList.toggle('active', hash.startsWith(`#/${a.dataset.nav}`) ||
      (a.dataset.nav === 'campaigns' && hash.startsWith('#/campaign/')));
  for (const [re, fn] of routes) {
    const m = hash.match(re);
    if (m) { fn(view, ...m.slice(1).map(decodeURIComponent)); return; }
  }
  location.hash = '#/fleet';
}

// --- fleet -----------------------------------------------------------------------------------
function fleetView(view) {
  const st = { q: '', cls: '', state: '', offset: 0 };
  const q = h('input', { id: 'fleet-q', type: 'search', placeholder: 'device, version or attribute', size: 28 });
  const cls = h('select', { id: 'fleet-class' }, h('option', { value: '' }, 'every class'));
  const state = h('select', { id: 'fleet-state' }, h('option', { value: '' }, 'any action state'),
    ...STATES.concat(['none']).map(x => h('option', { value: x }, x)));
  const body = h('tbody', { id: 'fleet-rows' });
  const info = h('span', { id: 'fleet-info' });
  const prev = h('button', { type: 'button', class: 'secondary', id: 'fleet-prev' }, '‹ Previous');
  const next = h('button', { type: 'button', class: 'secondary', id: 'fleet-next' }, 'Next ›');
  let first = true;
  async function load() {
    const qs = new URLSearchParams({ offset: st.offset, limit: PAGE });
    if (st.q) qs.set('q', st.q);
    if (st.cls) qs.set('class', st.cls);
    if (st.state) qs.set('state', st.state);
    const page = await api(`/fleet?${qs}`);
    body.replaceChildren(...page.devices.map(d => {
      const mismatch = d.attested_version && d.version && d.attested_version !== d.version;
      return h('tr', { 'data-device': d.id },
        h('td', {}, h('a', { href: `#/device/${encodeURIComponent(d.id)}` }, d.id)),
        h('td', {}, d.class),
        h('td', {}, d.version || '—'),
        h('td', { class: mismatch ? 'mismatch' : null, title: mismatch ? 'attested version differs from the reported one' : null },
          d.attested_version || '—'),
        h('td', {}, d.attested_at ? ago(d.attested_at, page.now) : 'not attested'),
        h('td', {}, ago(d.last_seen, page.now)),
        h('td', {}, d.action ? [h('a', { href: `#/campaign/${d.action.campaign}` }, `#${d.action.campaign}`), ' ',
          stateEl(d.action.state)] : stateEl('none')));
    }));
    const end = Math.min(page.total, st.offset + page.devices.length);
    info.textContent = page.total ? `${st.offset + 1}–${end} of ${page.total}` : 'no device matches';
    prev.disabled = st.offset === 0;
    next.disabled = end >= page.total;
    if (first) {
      first = false;
      performance.mark('fleet-rendered');
      document.body.dataset.fleetRendered = String(page.total);
    }
  }
  const reload = () => { st.offset = 0; load().catch(e => status(e.message)); };
  let debounce = null;
  q.addEventListener('input', () => { clearTimeout(debounce); debounce = setTimeout(() => { st.q = q.value.trim(); reload(); }, 200); });
  cls.addEventListener('change', () => { st.cls = cls.value; reload(); });
  state.addEventListener('change', () => { st.state = state.value; reload(); });
  prev.addEventListener('click', () => { st.offset = Math.max(0, st.offset - PAGE); load().catch(e => status(e.message)); });
  next.addEventListener('click', () => { st.offset += PAGE; load().catch(e => status(e.message)); });
  view.append(h('h1', {}, 'Fleet'),
    h('form', { class: 'inline', onsubmit: e => e.preventDefault() }, q, cls, state),
    h('table', { id: 'fleet' }, h('thead', {}, h('tr', {}, ...['device', 'class', 'reported', 'attested',
      'attestation', 'last seen', 'current action'].map(t => h('th', {}, t)))), body),
    h('div', { class: 'pager' }, prev, next, info));
  api('/classes').then(rows => {
    for (const c of [...new Set(rows.map(r => r.class))]) cls.append(h('option', { value: c }, c));
  }).catch(e => status(e.message));
  poll(load);
}

// --- campaigns ------------------------------------------------------------------------------------
function doneCount(actions) {
  return (actions.success || 0) + (actions.failure || 0) + (actions.cancelled || 0);
}
function totalCount(actions) {
  return Object.values(actions || {}).reduce((a, b) => a + b, 0);
}
function controlButtons(c, after) {
  const err = h('span', { class: 'error', id: `control-error-${c.id}` });
  const b = (op, ok) => writable(h('button', { type: 'button', class: 'secondary', 'data-op': op,
    disabled: !ok, onclick: async () => {
      err.textContent = '';
      try { await post(`/campaigns/${c.id}/${op}`, {}); after(); } catch (e) { err.textContent = e.message; }
    } }, op));
  return h('span', { class: 'controls' }, b('pause', c.state === 'running'), ' ', b('resume', c.state === 'paused'), ' ',
    b('cancel', c.state === 'running' || c.state === 'paused'), ' ', err);
}

function campaignsView(view) {
  const err = h('p', { class: 'error', id: 'campaign-error', role: 'alert' });
  const pkg = h('select', { id: 'c-package', required: true });
  const f = {
    name: h('input', { id: 'c-name', required: true, maxlength: 128 }),
    ids: h('input', { id: 'c-ids', placeholder: 'all devices of the class, or: dev-1, dev-2' }),
    attrs: h('input', { id: 'c-attrs', placeholder: 'key=value, key2=value2' }),
    steps: h('input', { id: 'c-steps', value: '100', placeholder: '10, 50, 100' }),
    threshold: h('input', { id: 'c-threshold', type: 'number', min: 0, max: 100, value: 100 }),
    message: h('textarea', { id: 'c-message', rows: 2, maxlength: 1000 }),
    start: h('input', { id: 'c-start', type: 'datetime-local' }),
  };
  const submit = writable(h('button', { type: 'submit', id: 'c-submit' }, 'Start campaign'));
  async function create(e) {
    e.preventDefault();
    err.textContent = '';
    const body = { name: f.name.value.trim(), package: Number(pkg.value) };
    const filter = {};
    const ids = f.ids.value.split(',').map(x => x.trim()).filter(Boolean);
    if (ids.length) filter.ids = ids;
    const attrs = f.attrs.value.split(',').map(x => x.trim()).filter(Boolean);
    if (attrs.length) {
      filter.attributes = {};
      for (const a of attrs) {
        const i = a.indexOf('=');
        if (i < 1) { err.textContent = `attributes: "${a}" is not key=value`; return; }
        filter.attributes[a.slice(0, i).trim()] = a.slice(i + 1).trim();
      }
    }
    if (Object.keys(filter).length) body.filter = filter;
    const steps = f.steps.value.split(',').map(x => x.trim()).filter(Boolean).map(Number);
    if (steps.length) body.steps = steps;
    if (f.threshold.value !== '') body.failure_threshold = Number(f.threshold.value);
    if (f.message.value) body.message = f.message.value;
    if (f.start.value) body.start_at = new Date(f.start.value).getTime();
    try {
      const c = await post('/campaigns', body);
      location.hash = `#/campaign/${c.id}`;
    } catch (x) { err.textContent = x.message; }
  }
  const body = h('tbody', { id: 'campaign-rows' });
  view.append(h('h1', {}, 'Campaigns'),
    h('div', { class: 'card' }, h('h2', {}, 'New campaign'), readonlyNote(),
      h('form', { class: 'grid', id: 'campaign-form', onsubmit: create },
        h('label', { for: 'c-name' }, 'Name'), f.name,
        h('label', { for: 'c-package' }, 'Package'), pkg,
        h('label', { for: 'c-ids' }, 'Devices (ids)'), f.ids,
        h('label', { for: 'c-attrs' }, 'Attributes'), f.attrs,
        h('label', { for: 'c-steps' }, 'Steps (%)'), f.steps,
        h('label', { for: 'c-threshold' }, 'Failure threshold (%)'), f.threshold,
        h('label', { for: 'c-message' }, 'Message to users'), f.message,
        h('label', { for: 'c-start' }, 'Start at (local time)'), f.start,
        h('span', {}), submit, h('div', { class: 'full' }, err))),
    h('table', { id: 'campaigns' }, h('thead', {}, h('tr', {}, ...['id', 'name', 'version', 'state', 'step',
      'progress', 'created', ''].map(t => h('th', {}, t)))), body));
  api('/packages').then(ps => {
    pkg.replaceChildren(...ps.slice().reverse().map(p =>
      h('option', { value: p.id }, `#${p.id} ${p.class} ${p.version}${p.encryption ? ' (encrypted)' : ''}`)));
  }).catch(e => { err.textContent = e.message; });
  async function load() {
    const list = await api('/campaigns');
    const full = await Promise.all(list.slice().reverse().map(c => api(`/campaigns/${c.id}`)));
    body.replaceChildren(...full.map(c => {
      const total = totalCount(c.actions), done = doneCount(c.actions);
      return h('tr', { 'data-campaign': c.id },
        h('td', {}, h('a', { href: `#/campaign/${c.id}` }, `#${c.id}`)), h('td', {}, c.name), h('td', {}, c.version),
        h('td', {}, stateEl(c.state), c.state_reason ? h('div', { class: 'muted' }, c.state_reason) : null),
        h('td', {}, `${c.step + 1} of ${c.steps.split(',').length}`),
        h('td', { class: 'bar' }, h('progress', { max: total || 1, value: done }), ` ${done}/${total}`),
        h('td', {}, when(c.created)), h('td', {}, controlButtons(c, load)));
    }));
  }
  poll(load);
}

function plot(points, now, closed) {
  const W = 900, H = 260, L = 44, R = 12, T = 12, B = 28;
  const svg = s('svg', { class: 'plot', id: 'campaign-plot', viewBox: `0 0 ${W} ${H}`, role: 'img',
    'aria-label': 'devices by state over time' });
  if (!points.length) return svg;
  // A closed campaign's plot ends at its last event; an open one's runs up to now.
  const last = points[points.length - 1].at;
  const t0 = points[0].at, t1 = Math.max(closed ? last : now, last, t0 + 1000);
  const ymax = Math.max(1, ...points.map(p => Math.max(...STATES.map(st => p[st]))));
  const x = t => L + (W - L - R) * (t - t0) / (t1 - t0), y = v => H - B - (H - T - B) * v / ymax;
  const tick = Math.max(1, Math.ceil(ymax / 5));
  for (let v = 0; v <= ymax; v += tick) {
    svg.append(s('line', { class: 'grid', x1: L, x2: W - R, y1: y(v), y2: y(v) }),
      s('text', { x: L - 6, y: y(v) + 4, 'text-anchor': 'end' }, v));
  }
  svg.append(s('line', { class: 'axis', x1: L, x2: W - R, y1: H - B, y2: H - B }),
    s('line', { class: 'axis', x1: L, x2: L, y1: T, y2: H - B }),
    s('text', { x: L, y: H - 8 }, new Date(t0).toLocaleTimeString()),
    s('text', { x: W - R, y: H - 8, 'text-anchor': 'end' }, new Date(t1).toLocaleTimeString()));
  for (const st of STATES) {
    if (!points.some(p => p[st])) continue;
    // A step line: each count holds until the next event, then up to now.
    const pts = [];
    points.forEach((p, i) => {
      if (i) pts.push(`${x(p.at)},${y(points[i - 1][st])}`);
      pts.push(`${x(p.at)},${y(p[st])}`);
    });
    pts.push(`${x(t1)},${y(points[points.length - 1][st])}`);
    svg.append(s('polyline', { class: `s-${st}`, 'data-state': st, points: pts.join(' ') }));
  }
  return svg;
}

function campaignView(view, id) {
  const head = h('div', { id: 'campaign-head' });
  const pct = h('span', { class: 'big', id: 'campaign-progress' });
  const steps = h('tbody', { id: 'campaign-steps' });
  const plotBox = h('div', { id: 'campaign-plot-box' });
  const legend = h('div', { class: 'legend' }, ...STATES.map(st => h('span', { class: `s-${st}` }, st)));
  const failed = h('tbody', { id: 'campaign-failed' });
  view.append(head,
    h('div', { class: 'row' },
      h('div', { class: 'card' }, h('h2', {}, 'Progress'), pct, h('div', { id: 'campaign-counts', class: 'muted' })),
      h('div', { class: 'card' }, h('h2', {}, 'Steps'),
        h('table', {}, h('thead', {}, h('tr', {}, ...['step', 'targets', 'done', 'by state'].map(t => h('th', {}, t)))), steps))),
    h('div', { class: 'card' }, h('h2', {}, 'Devices by state over time'), legend, plotBox),
    h('div', { class: 'card' }, h('h2', {}, 'Failed devices'),
      h('table', {}, h('thead', {}, h('tr', {}, h('th', {}, 'device'), h('th', {}, 'reported'), h('th', {}, 'why (device feedback)'))), failed)));
  async function load() {
    const [c, t, f] = await Promise.all([api(`/campaigns/${id}`), api(`/campaigns/${id}/timeline`),
      api(`/fleet?campaign=${id}&state=failure&limit=100`)]);
    const total = totalCount(c.actions), done = doneCount(c.actions);
    const p = total ? Math.floor(done * 100 / total) : 0;
    head.replaceChildren(h('h1', {}, `Campaign #${c.id}: ${c.name} `, stateEl(c.state)),
      h('p', {}, `Package #${c.package}, version ${c.version}; steps ${c.steps} %; failure threshold ${c.failure_threshold} %; by ${c.created_by}, ${when(c.created)}`,
        c.start_at ? `; starts ${when(c.start_at)}` : ''),
      c.message ? h('p', { class: 'muted' }, `Message: ${c.message}`) : '',
      c.state_reason ? h('p', { class: 'error', id: 'campaign-reason' }, c.state_reason) : '',
      controlButtons(c, load));
    pct.textContent = `${p} %`;
    pct.dataset.done = String(done);
    pct.dataset.total = String(total);
    $('#campaign-counts').textContent = `${done} of ${total} devices finished: ` +
      STATES.filter(st => c.actions[st]).map(st => `${c.actions[st]} ${st}`).join(', ');
    steps.replaceChildren(...t.steps.map(st => {
      const n = totalCount(st.actions), d = doneCount(st.actions);
      return h('tr', { 'data-step': st.step },
        h('td', {}, `${st.step + 1}${st.step === c.step && c.state === 'running' ? ' (released)' : ''}`),
        h('td', { class: 'num bar' }, `${n} (${st.from}–${st.to} %)`),
        h('td', { class: 'bar' }, h('progress', { max: n || 1, value: d }), ` ${n ? Math.floor(d * 100 / n) : 0} %`),
        h('td', {}, STATES.filter(x => st.actions[x]).map(x => `${st.actions[x]} ${x}`).join(', ')));
    }));
    plotBox.replaceChildren(plot(t.points, t.now, c.state === 'finished' || c.state === 'cancelled'));
    failed.replaceChildren(...f.devices.map(d => h('tr', { 'data-device': d.id },
      h('td', {}, h('a', { href: `#/device/${encodeURIComponent(d.id)}` }, d.id)), h('td', {}, d.version || '—'),
      h('td', { class: 'reason' }, d.action.detail || '(no details sent)'))));
    if (!f.devices.length) failed.append(h('tr', {}, h('td', { colspan: 3, class: 'muted' }, 'none')));
  }
  poll(load);
}

// --- packages ---------------------------------------------------------------------------------------
function packagesView(view) {
  const err = h('p', { class: 'error', id: 'upload-error', role: 'alert' });
  const ok = h('p', { class: 'ok', id: 'upload-ok' });
  const cls = h('select', { id: 'u-class', required: true });
  const file = h('input', { id: 'u-file', type: 'file', required: true });
  const key = h('input', { id: 'u-key', placeholder: 'hex, only for an encrypted image', size: 40, spellcheck: 'false' });
  const submit = writable(h('button', { type: 'submit', id: 'u-submit' }, 'Upload and verify'));
  const body = h('tbody', { id: 'package-rows' });
  async function upload(e) {
    e.preventDefault();
    err.textContent = ''; ok.textContent = '';
    const fl = file.files[0];
    if (!fl) { err.textContent = 'choose a signed image'; return; }
    const qs = new URLSearchParams({ class: cls.value });
    if (/^[A-Za-z0-9._-]{1,128}$/.test(fl.name)) qs.set('filename', fl.name);
    const headers = { 'Content-Type': 'application/octet-stream' };
    if (key.value.trim()) headers['X-Molt-Content-Key'] = key.value.trim();
    try {
      const p = await api(`/packages?${qs}`, { method: 'POST', body: fl, headers });
      ok.textContent = `verified and stored: package #${p.id}, ${p.class} ${p.version}, security counter ${p.security_counter}, signer ${p.signer}`;
      load();
    } catch (x) { err.textContent = x.message; }
  }
  view.append(h('h1', {}, 'Packages'),
    h('div', { class: 'card' }, h('h2', {}, 'Upload a signed image'), readonlyNote(),
      h('p', { class: 'hint' }, 'moltd verifies it with the class\'s signer keys, by the code a device runs, before storing it.'),
      h('form', { class: 'inline', id: 'upload-form', onsubmit: upload },
        h('label', { for: 'u-class' }, 'Class'), cls, file, key, submit), err, ok),
    h('table', { id: 'packages' }, h('thead', {}, h('tr', {}, ...['id', 'class', 'version', 'security counter', 'signer',
      'SHA-256', 'size', 'encryption', 'file', 'uploaded'].map(t => h('th', {}, t)))), body));
  api('/classes').then(rows => {
    cls.replaceChildren(...[...new Set(rows.map(r => r.class))].map(c => h('option', { value: c }, c)));
  }).catch(x => { err.textContent = x.message; });
  async function load() {
    const ps = await api('/packages');
    body.replaceChildren(...ps.slice().reverse().map(p => h('tr', { 'data-package': p.id },
      h('td', {}, `#${p.id}`), h('td', {}, p.class), h('td', {}, p.version), h('td', { class: 'num' }, p.security_counter),
      h('td', {}, p.signer), h('td', {}, h('code', { class: 'sha256', title: p.sha256 }, p.sha256)),
      h('td', { class: 'num' }, p.size), h('td', {}, p.encryption || 'none'), h('td', {}, p.filename),
      h('td', {}, `${when(p.created)} by ${p.uploaded_by}`))));
  }
  load().catch(x => { err.textContent = x.message; });
}

// --- a device ------------------------------------------------------------------------------------------
function deviceView(view, id) {
  const box = h('div');
  view.append(h('h1', {}, `Device ${id}`), box);
  async function load() {
    const d = await api(`/devices/${encodeURIComponent(id)}/history`);
    const dev = d.device, now = d.now;
    const mismatch = dev.attested_version && dev.version && dev.attested_version !== dev.version;
    const kv = pairs => h('dl', { class: 'kv' }, ...pairs.flatMap(([k, v]) => [h('dt', {}, k), h('dd', {}, v)]));
    const summary = kv([
      ['class', dev.class], ['reported version', dev.version || '—'],
      ['attested version', h('span', { id: 'device-attested', class: mismatch ? 'mismatch' : null }, dev.attested_version || 'not attested')],
      ['attested', dev.attested_at ? `${ago(dev.attested_at, now)} (${when(dev.attested_at)})` : 'never'],
      ['measurement', h('code', {}, dev.attested_hash || '—')],
      ['last seen', `${ago(dev.last_seen, now)}`], ['encryption key', dev.encryption_key ? 'provisioned' : 'none'],
      ['attributes', Object.keys(dev.attributes).length ? Object.entries(dev.attributes).map(([k, v]) => `${k}=${v}`).join(', ') : '—'],
      ['provisioned', when(dev.created)]]);
    let evidence = h('p', { class: 'muted' }, 'No attestation token verified yet.');
    if (d.attestation) {
      const ev = d.attestation.evidence || {};
      const comps = Array.isArray(ev.software_components) ? ev.software_components : [];
      evidence = h('div', { id: 'device-evidence' },
        kv([['verified', when(d.attestation.at)], ['token SHA-256', h('code', {}, ev.token_sha256 || '')],
          ['nonce', h('code', {}, ev.nonce || '')], ['signer id', h('code', {}, ev.signer_id || '')],
          ['security counter', ev.security_counter ?? ''], ['boot seed', h('code', {}, ev.boot_seed || '')],
          ['instance id', h('code', {}, ev.instance_id || '')]]),
        comps.length ? h('table', {}, h('thead', {}, h('tr', {}, ...Object.keys(comps[0]).map(k => h('th', {}, k)))),
          h('tbody', {}, ...comps.map(c => h('tr', {}, ...Object.keys(comps[0]).map(k =>
            h('td', {}, h('code', {}, typeof c[k] === 'object' ? JSON.stringify(c[k]) : c[k]))))))) : null);
    }
    const acts = h('table', { id: 'device-actions' },
      h('thead', {}, h('tr', {}, ...['action', 'campaign', 'from → to', 'step', 'state', 'details (device feedback)', 'updated'].map(t => h('th', {}, t)))),
      h('tbody', {}, ...d.actions.map(a => h('tr', { 'data-action': a.id, 'data-state': a.state },
        h('td', {}, `#${a.id}`), h('td', {}, h('a', { href: `#/campaign/${a.campaign}` }, `#${a.campaign} ${a.campaign_name}`)),
        h('td', {}, `${a.version_before || '—'} → ${a.version}`), h('td', { class: 'num' }, a.step + 1), h('td', {}, stateEl(a.state)),
        h('td', { class: 'reason' }, a.detail || ''), h('td', {}, ago(a.updated, now))))));
    const audit = auditTable(d.audit, 'device-audit');
    box.replaceChildren(h('div', { class: 'row' }, h('div', { class: 'card' }, h('h2', {}, 'Summary'), summary),
      h('div', { class: 'card' }, h('h2', {}, 'Attestation evidence'), evidence)),
      h('h2', {}, 'Actions'), acts, h('h2', {}, 'Audit records'), audit);
  }
  poll(load);
}

// --- audit log ----------------------------------------------------------------------------------------------
function auditTable(records, id) {
  return h('table', { id }, h('thead', {}, h('tr', {}, ...['id', 'at', 'actor', 'what', 'object', 'before', 'after', 'detail'].map(t => h('th', {}, t)))),
    h('tbody', {}, ...records.map(r => h('tr', { 'data-audit': r.id, 'data-what': r.what },
      h('td', { class: 'num' }, r.id), h('td', { class: 'when' }, when(r.at)), h('td', {}, r.actor), h('td', {}, r.what), h('td', {}, r.object),
      h('td', {}, r.version_before || ''), h('td', {}, r.version_after || ''), h('td', { class: 'detail' }, r.detail || '')))));
}

function auditView(view) {
  const f = {
    what: h('input', { id: 'a-what', placeholder: 'what (prefix): update, campaign.create', size: 24 }),
    actor: h('input', { id: 'a-actor', placeholder: 'actor: token:ops, device:dev-1', size: 20 }),
    object: h('input', { id: 'a-object', placeholder: 'object', size: 14 }),
    q: h('input', { id: 'a-q', placeholder: 'text in detail', size: 18 }),
  };
  const err = h('p', { class: 'error', id: 'audit-error' });
  const box = h('div', { id: 'audit-box' });
  const more = h('button', { type: 'button', class: 'secondary', id: 'audit-more' }, 'Older ›');
  const newest = h('button', { type: 'button', class: 'secondary', id: 'audit-newest' }, '‹ Newest');
  let before = 0;
  const filters = () => {
    const qs = new URLSearchParams();
    for (const [k, el] of Object.entries(f)) if (el.value.trim()) qs.set(k, el.value.trim());
    return qs;
  };
  async function load() {
    const qs = filters();
    qs.set('limit', 100);
    if (before) qs.set('before', before);
    const page = await api(`/audit/records?${qs}`);
    box.replaceChildren(auditTable(page.records, 'audit'));
    more.disabled = !page.more;
    more.dataset.before = page.records.length ? page.records[page.records.length - 1].id : '';
    newest.disabled = !before;
    err.textContent = '';
  }
  async function exportAs(format) {
    const qs = filters();
    qs.set('format', format);
    qs.set('limit', 100000);
    try {
      const body = await api(`/audit/records?${qs}`);
      if (format === 'csv') download('molt-audit.csv', 'text/csv', body);
      else download('molt-audit.json', 'application/json', JSON.stringify(body.records, null, 1));
    } catch (x) { err.textContent = x.message; }
  }
  const apply = e => { e.preventDefault(); before = 0; load().catch(x => { err.textContent = x.message; }); };
  more.addEventListener('click', () => { before = Number(more.dataset.before) || 0; load().catch(x => { err.textContent = x.message; }); });
  newest.addEventListener('click', () => { before = 0; load().catch(x => { err.textContent = x.message; }); });
  view.append(h('h1', {}, 'Audit log'),
    h('form', { class: 'inline', id: 'audit-form', onsubmit: apply }, f.what, f.actor, f.object, f.q,
      h('button', { type: 'submit', id: 'a-apply' }, 'Filter'),
      h('button', { type: 'button', class: 'secondary', id: 'a-csv', onclick: () => exportAs('csv') }, 'Export CSV'),
      h('button', { type: 'button', class: 'secondary', id: 'a-json', onclick: () => exportAs('json') }, 'Export JSON')),
    err, h('div', { class: 'pager' }, newest, more), box);
  // Live while on the newest page; an older page stays put.
  poll(() => (before ? Promise.resolve() : load()));
}

// --- start ---------------------------------------------------------------------------------------------------
document.addEventListener('DOMContentLoaded', () => {
  $('#login-form').addEventListener('submit', e => {
    e.preventDefault();
    $('#login-error').textContent = '';
    login($('#token').value.trim()).catch(x => { $('#login-error').textContent = x.message; });
  });
  $('#logout').addEventListener('click', () => logout(''));
  window.addEventListener('hashchange', route);
  const t = sessionStorage.getItem(TOKEN_KEY);
  if (t) login(t).catch(x => logout(x.message));
  else logout('');
});
