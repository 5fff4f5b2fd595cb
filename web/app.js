/*
 * app.js: etl's web view.  Each page is drawn from etl-api's JSON (/api/v1/) and kept
 * live by its Server-Sent Events, read with fetch so the token goes in a header.
 * Rows are keyed by id and updated in place: a progress bar is the same element from one
 * update to the next, and nothing moves under the reader's eyes.  No build step, no
 * library, nothing from another origin.
 */
'use strict';

const API = '/api/v1';
let token = sessionStorage.getItem('etl-token') || '';
let me = null;
let pageAbort = null;

/* ---- small helpers ---- */

function el(tag, attrs, ...kids) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k === 'text') e.textContent = v;
    else if (k.startsWith('on')) e.addEventListener(k.slice(2), v);
    else e.setAttribute(k, v === true ? '' : v);
  }
  for (const k of kids) if (k !== null && k !== undefined) e.append(k);
  return e;
}

function ago(iso) {
  if (!iso) return '';
  const s = (Date.now() - new Date(iso).getTime()) / 1000;
  if (s < 60) return Math.max(0, Math.round(s)) + ' s ago';
  if (s < 3600) return Math.round(s / 60) + ' min ago';
  if (s < 86400) return Math.round(s / 3600) + ' h ago';
  return new Date(iso).toLocaleString();
}

function secs(n) {
  if (n === null || n === undefined) return '–';
  n = Number(n);
  if (n < 60) return n.toFixed(n < 10 ? 1 : 0) + ' s';
  if (n < 3600) return Math.round(n / 60) + ' min';
  return (n / 3600).toFixed(1) + ' h';
}

function toast(msg) {
  const t = document.getElementById('toast');
  t.textContent = msg;
  t.classList.add('show');
  clearTimeout(toast.timer);
  toast.timer = setTimeout(() => t.classList.remove('show'), 3000);
}

function headers(extra) {
  const h = Object.assign({}, extra || {});
  if (token) h.Authorization = 'Bearer ' + token;
  return h;
}

async function api(path, opts) {
  opts = opts || {};
  const r = await fetch(API + path, {
    method: opts.method || 'GET', headers: headers(opts.body ? { 'Content-Type': 'application/json' } : {}),
    body: opts.body ? JSON.stringify(opts.body) : undefined, signal: opts.signal,
  });
  if (r.status === 401) { showLogin('This page needs a token.'); throw new Error('401'); }
  const text = await r.text();
  let body = null;
  try { body = text ? JSON.parse(text) : null; } catch (e) { body = text; }
  if (!r.ok) throw new Error((body && body.error) || r.status + ' ' + r.statusText);
  return body;
}

async function apiText(path, signal) {
  const r = await fetch(API + path, { headers: headers(), signal });
  if (!r.ok) {
    let m = r.status + '';
    try { m = (await r.json()).error; } catch (e) { /* not JSON */ }
    throw new Error(m);
  }
  return r.text();
}

/* Follow a Server-Sent Events stream: onmsg(event, data) per message; reconnects with
 * Last-Event-ID until signal aborts. */
async function follow(path, onmsg, signal) {
  let last = null;
  const live = document.getElementById('live');
  while (!signal.aborted) {
    try {
      const h = headers({ Accept: 'text/event-stream' });
      if (last) h['Last-Event-ID'] = last;
      const r = await fetch(API + path, { headers: h, signal });
      if (!r.ok) throw new Error(r.status);
      live.classList.add('on');
      const rd = r.body.getReader();
      const dec = new TextDecoder();
      let buf = '';
      for (;;) {
        const { value, done } = await rd.read();
        if (done) break;
        buf += dec.decode(value, { stream: true });
        let i;
        while ((i = buf.indexOf('\n\n')) >= 0) {
          const block = buf.slice(0, i);
          buf = buf.slice(i + 2);
          let ev = 'message', data = [], id = null;
          for (const line of block.split('\n')) {
            if (line.startsWith('event: ')) ev = line.slice(7);
            else if (line.startsWith('data: ')) data.push(line.slice(6));
            else if (line.startsWith('id: ')) id = line.slice(4);
          }
          if (id) last = id;
          if (data.length) {
            try { onmsg(ev, JSON.parse(data.join('\n'))); } catch (e) { console.error(e); }
          }
        }
      }
    } catch (e) {
      if (signal.aborted) return;
    }
    live.classList.remove('on');
    await new Promise((res) => setTimeout(res, 2000));
  }
}

/* A <progress> and its percentage, updated in place. */
function bar(p) {
  const pr = el('progress', { max: 1, value: 0 });
  const pct = el('span', { class: 'num' });
  const msg = el('div', { class: 'msg' });
  const box = el('div', {}, el('div', { class: 'bar' }, pr, pct), msg);
  box.update = (q) => {
    const total = q && Number(q.total) > 0 ? Number(q.total) : 0;
    const done = q ? Number(q.done) || 0 : 0;
    if (total > 0) { pr.max = total; pr.value = Math.min(done, total); pct.textContent = Math.round(100 * done / total) + '%'; }
    else { pr.removeAttribute('value'); pct.textContent = ''; }
    msg.textContent = (q && q.message) || '';
    pr.setAttribute('aria-label', msg.textContent || 'progress');
  };
  box.update(p);
  return box;
}

function sparkline(values) {
  const w = 120, h = 24, max = Math.max(1, ...values);
  const ns = 'http://www.w3.org/2000/svg';
  const svg = document.createElementNS(ns, 'svg');
  svg.setAttribute('class', 'spark');
  svg.setAttribute('width', w);
  svg.setAttribute('height', h);
  svg.setAttribute('role', 'img');
  svg.setAttribute('aria-label', 'completed per minute, last hour: ' + values.reduce((a, b) => a + b, 0) + ' in all');
  const pts = values.map((v, i) => (i * (w - 2) / (values.length - 1) + 1).toFixed(1) + ',' + (h - 2 - (v / max) * (h - 4)).toFixed(1));
  const pl = document.createElementNS(ns, 'polyline');
  pl.setAttribute('points', pts.join(' '));
  pl.setAttribute('fill', 'none');
  pl.setAttribute('stroke', '#2b6cb0');
  pl.setAttribute('stroke-width', '1.5');
  svg.append(pl);
  return svg;
}

/* A table whose rows are keyed: rows(list) adds, updates and removes them in place. */
function keyedTable(id, cols, key, fill) {
  const tbody = el('tbody');
  const table = el('table', { id }, el('thead', {}, el('tr', {}, ...cols.map((c) => el('th', { scope: 'col', class: c.num ? 'num' : null, text: c.name })))), tbody);
  if (cols.some((c) => c.width)) {
    const cg = el('colgroup', {}, ...cols.map((c) => { const x = el('col'); if (c.width) x.style.width = c.width; return x; }));
    table.prepend(cg);
  }
  const rows = new Map();
  table.rows_ = (list) => {
    const seen = new Set();
    list.forEach((item, i) => {
      const k = String(key(item));
      seen.add(k);
      let tr = rows.get(k);
      if (!tr) {
        tr = el('tr', { 'data-key': k });
        tr.cells_ = cols.map((c) => el('td', { class: c.num ? 'num' : null }));
        tr.append(...tr.cells_);
        rows.set(k, tr);
      }
      fill(tr, item);
      if (tbody.children[i] !== tr) tbody.insertBefore(tr, tbody.children[i] || null);
    });
    for (const [k, tr] of rows) if (!seen.has(k)) { tr.remove(); rows.delete(k); }
    if (!list.length && !tbody.querySelector('.empty')) {
      tbody.append(el('tr', { class: 'empty' }, el('td', { colspan: cols.length, class: 'muted', text: 'None.' })));
    } else if (list.length) {
      const e = tbody.querySelector('.empty');
      if (e) e.remove();
    }
  };
  return table;
}

function setText(td, s) { if (td.textContent !== String(s)) td.textContent = s; }
function jobLink(id) { return el('a', { href: '#/job/' + id, text: id.slice(0, 8) }); }

function showLogin(msg) {
  const f = document.getElementById('login');
  f.hidden = false;
  document.getElementById('login-msg').textContent = msg || '';
}

/* ---- pages ---- */

function overviewTables() {
  const queues = keyedTable('queues', [
    { name: 'Queue', width: '14%' }, { name: 'Ready', num: 1 }, { name: 'Deferred', num: 1 }, { name: 'Active', num: 1 },
    { name: 'Done 1 h', num: 1 }, { name: 'Failed 1 h', num: 1 }, { name: 'Oldest ready', num: 1 }, { name: 'Last hour', width: '140px' },
  ], (q) => q.name, (tr, q) => {
    const c = tr.cells_;
    tr.dataset.queue = q.name;
    if (!c[0].firstChild) c[0].append(el('a', { href: '#/jobs?queue=' + encodeURIComponent(q.name), text: q.name }));
    c[0].title = q.task + (q.paused ? ' (paused)' : '');
    setText(c[1], q.ready); setText(c[2], q.deferred); setText(c[3], q.active);
    setText(c[4], q.completed); setText(c[5], q.failed); setText(c[6], secs(q.oldest_ready_seconds));
    const key = q.per_minute.join(',');
    if (c[7].dataset.k !== key) { c[7].dataset.k = key; c[7].replaceChildren(sparkline(q.per_minute)); }
  });
  const ctls = keyedTable('controllers', [
    { name: 'Controller' }, { name: 'Host' }, { name: 'PID', num: 1 }, { name: 'Running / capacity', num: 1 }, { name: 'Heartbeat', num: 1 },
  ], (k) => k.id, (tr, k) => {
    const c = tr.cells_;
    setText(c[0], k.id); setText(c[1], k.host); setText(c[2], k.pid);
    setText(c[3], k.running + ' / ' + (k.capacity === null ? '?' : k.capacity)); setText(c[4], secs(k.heartbeat_age) + ' ago');
  });
  return { queues, ctls };
}

function runningTable() {
  return keyedTable('running', [
    { name: 'Job', width: '7rem' }, { name: 'Queue', width: '12%' }, { name: 'Host', width: '12%' }, { name: 'For', num: 1, width: '5rem' }, { name: 'Progress', width: '50%' },
  ], (j) => j.id, (tr, j) => {
    const c = tr.cells_;
    tr.dataset.job = j.id;
    if (!c[0].firstChild) c[0].append(jobLink(j.id));
    setText(c[1], j.queue); setText(c[2], j.host || ''); setText(c[3], secs(j.seconds));
    if (!c[4].bar) { c[4].bar = bar(j.progress); c[4].append(c[4].bar); }
    c[4].bar.update(j.progress);
  });
}

function pageOverview(main, signal) {
  const { queues, ctls } = overviewTables();
  main.replaceChildren(el('h1', { text: 'Overview' }), el('h2', { text: 'Queues' }), el('div', { class: 'scroll' }, queues),
    el('h2', { text: 'Controllers' }), el('div', { class: 'scroll' }, ctls));
  const draw = (o) => { queues.rows_(o.queues); ctls.rows_(o.controllers); };
  api('/overview', { signal }).then(draw).catch((e) => toast(e.message));
  follow('/overview', (ev, o) => { if (ev === 'overview') draw(o); }, signal);
}

function pageActivity(main, signal) {
  const running = runningTable();
  main.replaceChildren(el('h1', { text: 'Activity' }), el('p', { class: 'muted', text: 'Running jobs, live. A job with sub-tasks shows each on its own bar on its page.' }),
    el('div', { class: 'scroll' }, running));
  const draw = (o) => running.rows_(o.running);
  api('/overview', { signal }).then(draw).catch((e) => toast(e.message));
  follow('/overview', (ev, o) => { if (ev === 'overview') draw(o); }, signal);
}

function jobsTable() {
  return keyedTable('jobs', [
    { name: 'Job', width: '7rem' }, { name: 'Queue', width: '12%' }, { name: 'State', width: '7rem' }, { name: 'Created', width: '9rem' },
    { name: 'Data' }, { name: 'Error' },
  ], (j) => j.id, (tr, j) => {
    const c = tr.cells_;
    tr.dataset.job = j.id;
    if (!c[0].firstChild) c[0].append(jobLink(j.id));
    setText(c[1], j.queue);
    setText(c[2], j.state); c[2].className = 'state state-' + j.state;
    setText(c[3], ago(j.created_on));
    setText(c[4], JSON.stringify(j.data)); c[4].title = c[4].textContent;
    setText(c[5], j.error || '');
  });
}

function pageJobs(main, signal, params) {
  const table = jobsTable();
  const f = {};
  const form = el('form', { class: 'filters', role: 'search' });
  for (const [k, label] of [['queue', 'Queue'], ['state', 'State'], ['key', 'Key'], ['q', 'Text in data'], ['batch', 'Batch']]) {
    const id = 'f-' + k;
    f[k] = k === 'state'
      ? el('select', { id }, ...['', 'created', 'retry', 'active', 'completed', 'cancelled', 'failed'].map((s) => el('option', { value: s, text: s || 'any' })))
      : el('input', { id, size: 14 });
    f[k].value = params.get(k) || '';
    form.append(el('label', { for: id, text: label }), f[k]);
  }
  form.append(el('button', { type: 'submit', text: 'Filter' }));
  const more = el('button', { type: 'button', text: 'Older', disabled: true });
  let next = null, shown = [];
  const load = (before) => {
    const qs = new URLSearchParams();
    for (const k in f) if (f[k].value) qs.set(k, f[k].value);
    qs.set('limit', '50');
    if (before) qs.set('before', before);
    api('/jobs?' + qs, { signal }).then((r) => {
      shown = before ? shown.concat(r.jobs) : r.jobs;
      table.rows_(shown);
      next = r.next;
      more.disabled = !next;
    }).catch((e) => toast(e.message));
  };
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    const qs = new URLSearchParams();
    for (const k in f) if (f[k].value) qs.set(k, f[k].value);
    location.hash = '#/jobs' + (qs.toString() ? '?' + qs : '');
  });
  more.addEventListener('click', () => load(next));
  main.replaceChildren(el('h1', { text: 'Jobs' }), form, el('div', { class: 'scroll' }, table), el('div', { class: 'actions' }, more));
  load(null);
}

function eventsTable() {
  return keyedTable('events', [
    { name: 'Event', num: 1, width: '5rem' }, { name: 'Type', width: '16rem' }, { name: 'At', width: '9rem' }, { name: 'Payload' },
  ], (e) => e.event_id, (tr, e) => {
    const c = tr.cells_;
    tr.className = e.error ? 'ev-error' : '';
    setText(c[0], e.event_id); setText(c[1], e.type); setText(c[2], new Date(e.created_on).toLocaleTimeString());
    c[3].className = 'payload';
    setText(c[3], e.payload === null ? '' : JSON.stringify(e.payload));
  });
}

function pageJob(main, signal, id) {
  const title = el('h1', { text: 'Job ' + id });
  const fields = el('dl', { class: 'fields', id: 'job-fields' });
  const state = el('span', { id: 'job-state', class: 'state' });
  const prog = bar(null);
  const actions = el('div', { class: 'actions' });
  const runs = el('ol', { id: 'runs' });
  const events = eventsTable();
  const tree = el('div', { id: 'tree', class: 'tree' });
  const log = el('pre', { id: 'log', tabindex: 0, 'aria-label': 'the job\'s log' });
  const allEvents = [];
  main.replaceChildren(title, el('p', {}, 'State: ', state), prog, actions, fields,
    el('h2', { text: 'Runs' }), runs, el('h2', { text: 'Sub-tasks' }), tree,
    el('h2', { text: 'Journal' }), el('div', { class: 'scroll' }, events), el('h2', { text: 'Log' }), log);
  let jobState = null;
  const act = (verb) => api('/jobs/' + id + '/' + verb, { method: 'POST' })
    .then(() => { toast(verb === 'retry' ? 'Retried' : 'Cancelled'); loadJob(); })
    .catch((e) => toast(e.message));
  const loadJob = () => api('/jobs/' + id, { signal }).then((d) => {
    const j = d.job;
    jobState = j.state;
    setText(state, j.state); state.className = 'state state-' + j.state;
    prog.update(j.progress);
    /* no progress to show: a bar that runs while it runs, none after */
    prog.hidden = !j.progress && !['active', 'created', 'retry'].includes(j.state);
    fields.replaceChildren();
    for (const k of ['queue', 'task', 'priority', 'retry_count', 'retry_limit', 'singleton_key', 'batch_id', 'parent_id', 'created_on', 'started_on', 'completed_on', 'host', 'controller_id', 'etl_context_id', 'run']) {
      if (j[k] === null || j[k] === undefined) continue;
      fields.append(el('dt', { text: k }), el('dd', { text: String(j[k]) }));
    }
    fields.append(el('dt', { text: 'data' }), el('dd', { text: JSON.stringify(j.data) }));
    if (j.output) fields.append(el('dt', { text: 'output' }), el('dd', { text: JSON.stringify(j.output) }));
    runs.replaceChildren(...(d.runs.length ? d.runs.map((r) => el('li', { class: r.error ? 'state-failed' : 'state-completed', text: r.type + ' at ' + new Date(r.at).toLocaleString() + (r.payload && r.payload.message ? ': ' + r.payload.message : '') }))
      : [el('li', { class: 'muted', text: 'No run has ended yet.' })]));
    const canAct = me && me.role !== 'viewer';
    actions.replaceChildren(
      el('button', { id: 'retry', type: 'button', text: 'Retry', disabled: !canAct || !['failed', 'cancelled', 'completed'].includes(j.state), onclick: () => act('retry') }),
      el('button', { id: 'cancel', type: 'button', class: 'danger', text: 'Cancel', disabled: !canAct || !['created', 'retry', 'active'].includes(j.state), onclick: () => act('cancel') }));
  }).catch((e) => { if (!signal.aborted) toast(e.message); });
  const drawTree = (t) => {
    const subs = t.contexts.filter((c) => c.depth > 0);
    if (!subs.length) { if (!tree.firstChild) tree.append(el('p', { class: 'muted', text: 'None.' })); return; }
    const p = tree.querySelector('p.muted');
    if (p) p.remove();
    for (const c of subs) {
      let row = tree.querySelector('[data-ctx="' + c.etl_context_id + '"]');
      if (!row) {
        row = el('div', { class: 'ctx', 'data-ctx': c.etl_context_id });
        row.label = el('div');
        row.bar = bar(c.progress);
        row.append(row.label, row.bar);
        tree.append(row);
      }
      row.label.textContent = '  '.repeat(c.depth - 1) + (c.task || 'context') + ' #' + c.etl_context_id + ' ' + c.status + (c.job ? ' (' + c.job.state + ')' : '');
      row.bar.update(c.progress);
    }
  };
  const loadLog = () => apiText('/jobs/' + id + '/log?tail=65536', signal).then((t) => {
    const atEnd = log.scrollTop + log.clientHeight >= log.scrollHeight - 4;
    if (log.textContent !== t) { log.textContent = t; if (atEnd) log.scrollTop = log.scrollHeight; }
  }).catch((e) => { if (!signal.aborted) log.textContent = '(' + e.message + ')'; });
  loadJob();
  loadLog();
  follow('/jobs/' + id + '/events', (ev, list) => {
    if (ev !== 'events') return;
    allEvents.push(...list);
    events.rows_(allEvents);
    const last = list[list.length - 1];
    const pe = list.filter((e) => /:PROGRESS$/.test(e.type)).pop();
    if (pe) prog.update(pe.payload);
    if (last && /:(FINAL|ERROR|INITIAL)$/.test(last.type)) { loadJob(); loadLog(); }
  }, signal);
  follow('/jobs/' + id + '/tree', (ev, t) => { if (ev === 'tree') drawTree(t); }, signal);
  const timer = setInterval(() => {
    if (jobState === 'active') { loadLog(); loadJob(); }
  }, 2000);
  signal.addEventListener('abort', () => clearInterval(timer));
}

function pageFailures(main, signal) {
  const t = keyedTable('failures', [
    { name: 'Queue', width: '14%' }, { name: 'Error' }, { name: 'Jobs', num: 1, width: '5rem' }, { name: 'Last', width: '9rem' }, { name: '', width: '8rem' },
  ], (f) => f.queue + '\u0000' + f.error, (tr, f) => {
    const c = tr.cells_;
    if (!c[0].firstChild) c[0].append(el('a', { href: '#/jobs?queue=' + encodeURIComponent(f.queue) + '&state=failed', text: f.queue }));
    setText(c[1], f.error); c[1].title = f.error;
    setText(c[2], f.count); setText(c[3], ago(f.last));
    if (!c[4].firstChild && me && me.role !== 'viewer') {
      c[4].append(el('button', { type: 'button', class: 'retry-queue', text: 'Retry all', 'aria-label': 'Retry the failed jobs of ' + f.queue,
        onclick: (e) => { e.target.disabled = true; api('/queues/' + encodeURIComponent(f.queue) + '/retry?state=failed', { method: 'POST' }).then((r) => { toast('Retried ' + r.retried); load(); }).catch((x) => toast(x.message)); } }));
    }
  });
  const load = () => api('/failures', { signal }).then((l) => t.rows_(l)).catch((e) => toast(e.message));
  main.replaceChildren(el('h1', { text: 'Failures' }), el('p', { class: 'muted', text: 'Failed jobs, grouped by queue and error.' }), el('div', { class: 'scroll' }, t));
  load();
}

function pageBatches(main, signal) {
  const t = keyedTable('batches', [
    { name: 'Batch', width: '7rem' }, { name: 'Jobs', num: 1 }, { name: 'Pending', num: 1 }, { name: 'Completed', num: 1 }, { name: 'Failed', num: 1 }, { name: 'Closed' }, { name: 'Created' },
  ], (b) => b.id, (tr, b) => {
    const c = tr.cells_;
    if (!c[0].firstChild) c[0].append(el('a', { href: '#/jobs?batch=' + b.id, text: b.id.slice(0, 8) }));
    setText(c[1], b.jobs); setText(c[2], b.pending); setText(c[3], b.completed); setText(c[4], b.failed);
    setText(c[5], b.closed ? 'yes' : 'no'); setText(c[6], ago(b.created_on));
  });
  main.replaceChildren(el('h1', { text: 'Batches' }), el('div', { class: 'scroll' }, t));
  api('/batches', { signal }).then((l) => t.rows_(l)).catch((e) => toast(e.message));
}

function pageSchedules(main, signal) {
  const t = keyedTable('schedules', [
    { name: 'Schedule' }, { name: 'Queue' }, { name: 'Cron' }, { name: 'Time zone' }, { name: 'Next', width: '40%' },
  ], (s) => s.name, (tr, s) => {
    const c = tr.cells_;
    setText(c[0], s.name); setText(c[1], s.queue); setText(c[2], s.cron); setText(c[3], s.timezone);
    setText(c[4], s.next.map((n) => new Date(n).toLocaleString()).join(', '));
  });
  main.replaceChildren(el('h1', { text: 'Schedules' }), el('div', { class: 'scroll' }, t));
  api('/schedules', { signal }).then((l) => t.rows_(l)).catch((e) => toast(e.message));
}

/* ---- CoVE (seed 002): a validation app's pages for a cove_process job ----
 * progress while it runs (each step its bar), the results once done (errors grouped by
 * path with examples, additional fields, statistics, downloads), an error page when it
 * failed, and an expired page once its files were removed (etl-api answers 410). */

const COVE_STEPS = ['fetch', 'sample', 'was_json_uploaded', 'convert_spreadsheet_to_json', 'get_schema',
  'convert_json_to_spreadsheets', 'additional_fields', 'validate', 'statistics'];

async function download(id, name) {
  const r = await fetch(API + '/jobs/' + id + '/files/' + encodeURIComponent(name), { headers: headers() });
  if (!r.ok) { toast(r.status === 410 ? 'This file has expired.' : 'Download failed: ' + r.status); return; }
  const url = URL.createObjectURL(await r.blob());
  const a = el('a', { href: url, download: name });
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10000);
}

function coveTable(id, cols, rows) {
  return el('table', { id },
    el('thead', {}, el('tr', {}, ...cols.map((c) => el('th', { scope: 'col', text: c })))),
    el('tbody', {}, ...(rows.length ? rows.map((r) => el('tr', {}, ...r.map((x) => el('td', {}, x)))) : [el('tr', { class: 'empty' }, el('td', { colspan: cols.length, class: 'muted', text: 'None.' }))])));
}

function coveResults(main, id, j, o) {
  const up = o.upload || {};
  const st = o.statistics || {};
  const summary = el('p', { id: 'cove-summary' }, (o.error_count ? o.error_count + ' validation error' + (o.error_count === 1 ? '' : 's') : 'No validation errors') +
    ' in ' + st.releases + ' release' + (st.releases === 1 ? '' : 's') + ' of ' + (up.name || 'the data') + ' (' + up.kind + ', ' + up.size + ' bytes).');
  const sample = o.sample ? el('p', { id: 'cove-sample', class: 'note', text: 'Sample mode: only the first ' + o.sample.kept + ' releases were checked' + (o.sample.more ? '; the file has more.' : '.') }) : null;
  const errors = coveTable('cove-errors', ['Error', 'Path', 'Count', 'Examples'], (o.errors || []).map((g) => [
    g.message, el('code', { text: g.path }), String(g.count),
    el('ul', {}, ...g.examples.map((x) => el('li', {}, el('code', { text: x.path }), x.value === null || x.value === undefined ? '' : ' = ' + JSON.stringify(x.value))))]));
  const add = coveTable('cove-additional', ['Field', 'Count', 'Examples'], Object.entries(o.additional_fields || {}).map(([k, v]) => [
    el('code', { text: k }), String(v.count), el('ul', {}, ...v.examples.map((x) => el('li', {}, el('code', { text: x }))))]));
  const stats = el('dl', { id: 'cove-stats', class: 'fields' });
  for (const [k, v] of Object.entries(st)) stats.append(el('dt', { text: k.replace(/_/g, ' ') }), el('dd', { text: typeof v === 'object' && v !== null ? JSON.stringify(v) : String(v) }));
  const dl = el('ul', { id: 'cove-downloads' }, ...(o.downloads || []).map((d) => el('li', {},
    el('a', { href: '#', 'data-file': d.name, onclick: (e) => { e.preventDefault(); download(id, d.name); }, text: d.name }), ' (' + d.label + ')')));
  document.title = 'etl: results for ' + (up.name || id);
  main.replaceChildren(...[el('h1', { text: 'Results: ' + (up.name || id) }), summary, sample,
    o.schema ? el('p', { class: 'muted', text: 'Checked against ' + o.schema.title + (o.schema.data_version ? ', data version ' + o.schema.data_version : '') + '.' }) : null,
    el('h2', { text: 'Validation errors' }), el('div', { class: 'scroll' }, errors),
    el('h2', { text: 'Additional fields' }), el('p', { class: 'muted', text: 'Fields the schema does not have: not errors, but check their names.' }), el('div', { class: 'scroll' }, add),
    el('h2', { text: 'Statistics' }), stats,
    el('h2', { text: 'Downloads' }), dl,
    el('p', { class: 'muted', text: 'Data is kept ' + o.expire_days + ' days after it was checked (' + new Date(j.completed_on).toLocaleDateString() + ').' }),
    el('p', {}, el('a', { href: '#/job/' + id, text: 'The job behind this page' }))].filter((x) => x));
}

function pageCove(main, signal, id) {
  const title = el('h1', { text: 'Checking your data' });
  const list = el('ol', { id: 'cove-steps', class: 'steps' });
  const bars = new Map();
  for (const s of COVE_STEPS) {
    const b = bar(null);
    const li = el('li', { 'data-step': s }, el('div', { class: 'step-name', text: s.replace(/_/g, ' ') }), b);
    b.li = li;
    bars.set(s, b);
    list.append(li);
  }
  let shown = null;
  const show = () => api('/jobs/' + id, { signal }).then(async (d) => {
    const j = d.job;
    if (['created', 'retry', 'active'].includes(j.state)) {
      if (shown !== 'progress') { main.replaceChildren(title, el('p', { id: 'cove-state', class: 'muted', text: 'Your data is being checked; this page follows it.' }), list); shown = 'progress'; }
      return;
    }
    if (shown === 'final') return;
    shown = 'final';
    if (j.state !== 'completed') {
      const why = (j.output && j.output.message) || j.state;
      document.title = 'etl: could not check the data';
      main.replaceChildren(el('h1', { id: 'cove-error', text: 'We could not check your data' }),
        el('p', { class: 'error', text: why }), el('p', {}, el('a', { href: '#/job/' + id, text: 'The job behind this page' })));
      return;
    }
    const r = await fetch(API + '/jobs/' + id + '/files', { headers: headers(), signal });
    if (r.status === 410) {
      const o = j.output || {};
      document.title = 'etl: expired';
      main.replaceChildren(el('h1', { id: 'cove-expired', text: 'These results have expired' }),
        el('p', { text: 'The data checked on ' + new Date(j.completed_on).toLocaleDateString() + ' has been removed: uploads are kept ' + (o.expire_days || '?') + ' days. Check the file again to see its results.' }));
      return;
    }
    coveResults(main, id, j, j.output || {});
  }).catch((e) => { if (!signal.aborted) toast(e.message); });
  show();
  /* the stream brings the steps' bars; the job's end is also looked for every 2 s (a job
   * not started when the page opened has no context for its stream to follow yet) */
  const poll = setInterval(() => { if (shown !== 'final') show(); }, 2000);
  signal.addEventListener('abort', () => clearInterval(poll));
  follow('/jobs/' + id + '/events', (ev, evs) => {
    if (ev !== 'events') return;
    for (const e of evs) {
      if (/:PROGRESS$/.test(e.type) && e.payload) {
        const m = /^(?:step \d+\/\d+: )?([a-z_]+)$/.exec(e.payload.message || '');
        if (m && bars.has(m[1])) {
          /* the steps before it are done (or did not apply) */
          for (const s of COVE_STEPS) {
            if (s === m[1]) break;
            const b = bars.get(s);
            if (!b.li.classList.contains('done')) { b.li.classList.add('done'); b.update({ done: 1, total: 1, message: b.li.dataset.ran ? 'done' : 'done or not needed' }); }
          }
          const b = bars.get(m[1]);
          b.li.dataset.ran = '1';
          b.update({ done: e.payload.done, total: e.payload.total, message: Number(e.payload.done) >= Number(e.payload.total) ? 'done' : 'running' });
          if (Number(e.payload.done) >= Number(e.payload.total)) b.li.classList.add('done');
        }
      }
      if (/:(FINAL|ERROR)$/.test(e.type)) show();
    }
  }, signal);
}

/* ---- routing ---- */

function route() {
  if (pageAbort) pageAbort.abort();
  pageAbort = new AbortController();
  const signal = pageAbort.signal;
  const main = document.getElementById('main');
  const h = location.hash.replace(/^#/, '') || '/';
  const [path, qs] = h.split('?');
  const params = new URLSearchParams(qs || '');
  const parts = path.split('/').filter(Boolean);
  const page = parts[0] || 'overview';
  for (const a of document.querySelectorAll('nav a')) {
    if (a.dataset.page === page) a.setAttribute('aria-current', 'page');
    else a.removeAttribute('aria-current');
  }
  document.title = 'etl: ' + page;
  if (page === 'overview') pageOverview(main, signal);
  else if (page === 'activity') pageActivity(main, signal);
  else if (page === 'jobs') pageJobs(main, signal, params);
  else if (page === 'job' && parts[1]) pageJob(main, signal, parts[1]);
  else if (page === 'failures') pageFailures(main, signal);
  else if (page === 'batches') pageBatches(main, signal);
  else if (page === 'schedules') pageSchedules(main, signal);
  else if (page === 'cove' && parts[1]) pageCove(main, signal, parts[1]);
  else main.replaceChildren(el('h1', { text: 'Not found' }), el('p', {}, el('a', { href: '#/', text: 'Overview' })));
}

async function start() {
  /* a token in the address (?token=) is kept for the tab and taken out of the address */
  const u = new URL(location.href);
  if (u.searchParams.get('token')) {
    token = u.searchParams.get('token');
    sessionStorage.setItem('etl-token', token);
    u.searchParams.delete('token');
    history.replaceState(null, '', u.pathname + u.search + u.hash);
  }
  document.getElementById('login').addEventListener('submit', (e) => {
    e.preventDefault();
    token = document.getElementById('token').value.trim();
    sessionStorage.setItem('etl-token', token);
    document.getElementById('login').hidden = true;
    start();
  });
  try {
    me = await api('/me');
    document.getElementById('who').textContent = me.name + ' (' + me.role + ')';
  } catch (e) {
    return;
  }
  window.onhashchange = route;
  route();
}

start();
