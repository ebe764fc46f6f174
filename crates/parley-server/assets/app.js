// parley web UI: one page, three views chosen by the path.
//   /              lobby: create a session, hand out the seat links
//   /room/{id}     a seat's room (party, mediator, or the principal of a delegated seat)
//   /owner/{id}    the owner's (or an auditor's) view: full trace and closing analysis
// The token travels in the URL fragment (#token=…), is kept in sessionStorage and
// removed from the address bar. Everything talks to the API in docs/api.md.

'use strict';

// ---------------------------------------------------------------------------
// small DOM helpers
// ---------------------------------------------------------------------------

const SVG_NS = 'http://www.w3.org/2000/svg';

/** h('div', {class: 'x', testid: 'y', on: {click: f}}, children…) */
function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  setAttrs(el, attrs);
  appendAll(el, children);
  return el;
}

function s(tag, attrs, ...children) {
  const el = document.createElementNS(SVG_NS, tag);
  setAttrs(el, attrs);
  appendAll(el, children);
  return el;
}

function setAttrs(el, attrs) {
  if (!attrs) return;
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k === 'on') {
      for (const [ev, fn] of Object.entries(v)) el.addEventListener(ev, fn);
    } else if (k === 'testid') {
      el.setAttribute('data-testid', v);
    } else if (k === 'text') {
      el.textContent = v;
    } else if (k === 'class') {
      el.setAttribute('class', v);
    } else if (k === 'style') {
      // Through the CSSOM: the Content-Security-Policy refuses inline style attributes.
      el.style.cssText = v;
    } else if (['hidden', 'disabled', 'checked', 'selected', 'value', 'open', 'required', 'readOnly'].includes(k)) {
      el[k] = v;
    } else {
      el.setAttribute(k, v === true ? '' : String(v));
    }
  }
}

function appendAll(el, children) {
  for (const c of children.flat(Infinity)) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
}

/** Replaces an element's children; nested arrays are flattened, null/false skipped. */
function fill(el, ...children) {
  el.replaceChildren();
  appendAll(el, children);
  return el;
}

function byTestId(id, root = document) {
  return root.querySelector(`[data-testid="${id}"]`);
}

function announce(text) {
  const el = document.getElementById('announcer');
  if (!el) return;
  el.textContent = '';
  // a fresh text node so that screen readers announce repeated messages too
  setTimeout(() => { el.textContent = text; }, 30);
}

function fmtU(u) {
  return typeof u === 'number' && Number.isFinite(u) ? u.toFixed(3) : '—';
}

function titleCase(x) {
  return x ? x.charAt(0).toUpperCase() + x.slice(1) : x;
}

// ---------------------------------------------------------------------------
// tokens and the API
// ---------------------------------------------------------------------------

/** The token for this page: from #token=… (then stored and removed from the address bar) or sessionStorage. */
function takeToken() {
  const key = `parley:token:${location.pathname}`;
  const params = new URLSearchParams(location.hash.replace(/^#/, ''));
  const fromHash = params.get('token');
  if (fromHash) {
    try { sessionStorage.setItem(key, fromHash); } catch { /* storage disabled: keep it in memory only */ }
    history.replaceState(history.state, '', location.pathname + location.search);
    return fromHash;
  }
  try { return sessionStorage.getItem(key); } catch { return null; }
}

/**
 * The server's creator token, needed to create sessions: from #create=… in the lobby's
 * address (parley serve prints it; then stored and removed from the address bar) or
 * sessionStorage.
 */
function takeCreator() {
  const key = 'parley:create';
  const params = new URLSearchParams(location.hash.replace(/^#/, ''));
  const fromHash = params.get('create');
  if (fromHash) {
    try { sessionStorage.setItem(key, fromHash); } catch { /* storage disabled: keep it in memory only */ }
    history.replaceState(history.state, '', location.pathname + location.search);
    return fromHash;
  }
  try { return sessionStorage.getItem(key); } catch { return null; }
}

class ApiError extends Error {
  constructor(message, status, data) {
    super(message);
    this.status = status;
    this.data = data;
  }
}

async function api(method, path, { token, body } = {}) {
  const headers = { Accept: 'application/json' };
  if (token) headers.Authorization = `Bearer ${token}`;
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  let res;
  try {
    res = await fetch(path, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      cache: 'no-store',
    });
  } catch (e) {
    throw new ApiError(`The server could not be reached (${e.message}).`, 0, null);
  }
  const text = await res.text();
  let data = null;
  if (text) {
    try { data = JSON.parse(text); } catch { data = null; }
  }
  if (!res.ok) {
    let msg = data && typeof data.error === 'string' ? data.error : `${res.status} ${res.statusText}`;
    if (res.status === 401) msg = `This link's token was not accepted (${msg}). It may be mistyped or expired.`;
    if (res.status === 403) msg = `Not allowed: ${msg}`;
    throw new ApiError(msg, res.status, data);
  }
  return { status: res.status, data };
}

/** An error line next to an action, read out by screen readers. */
function errorBox(testid = 'error') {
  const el = h('p', { class: 'error', role: 'alert', 'aria-live': 'assertive', testid, hidden: true });
  el.show = (msg) => { el.textContent = msg; el.hidden = !msg; };
  el.clear = () => el.show('');
  return el;
}

/** Runs an async action with its buttons disabled and errors shown in `err`. */
async function guarded(buttons, err, fn) {
  const list = Array.isArray(buttons) ? buttons : [buttons];
  for (const b of list) if (b) { b.disabled = true; b.setAttribute('aria-busy', 'true'); }
  err?.clear();
  try {
    return await fn();
  } catch (e) {
    err?.show(e.message || String(e));
    return undefined;
  } finally {
    for (const b of list) if (b) { b.disabled = false; b.removeAttribute('aria-busy'); }
  }
}

// ---------------------------------------------------------------------------
// outcomes
// ---------------------------------------------------------------------------

/** An outcome (array of labels in issue order, or object issue → label) as an array of labels. */
function labelsOf(outcome, issues) {
  if (!outcome) return null;
  if (Array.isArray(outcome)) return outcome.map(String);
  if (typeof outcome === 'object') return issues.map((is) => (outcome[is.name] === undefined ? '' : String(outcome[is.name])));
  return null;
}

function objectOf(labels, issues) {
  const o = {};
  issues.forEach((is, i) => { o[is.name] = labels[i]; });
  return o;
}

function outcomeView(outcome, issues, { compareTo = null, testid } = {}) {
  const labels = labelsOf(outcome, issues);
  if (!labels) return h('span', { class: 'muted' }, 'no outcome');
  const other = compareTo ? labelsOf(compareTo, issues) : null;
  return h('ul', { class: 'outcome', testid },
    labels.map((v, i) => h('li', { class: other && other[i] !== v ? 'chip changed' : 'chip' },
      h('span', { class: 'chip-k' }, issues[i] ? issues[i].name : `issue ${i + 1}`), ' ',
      h('span', { class: 'chip-v' }, v))));
}

function utilityBar(u, { label = 'utility for me', testid, reservation } = {}) {
  const pct = typeof u === 'number' ? Math.max(0, Math.min(1, u)) * 100 : 0;
  const below = typeof u === 'number' && typeof reservation === 'number' && u < reservation;
  return h('span', { class: `ubar${below ? ' below' : ''}` },
    h('span', { class: 'ubar-track', 'aria-hidden': 'true' }, h('span', { class: 'ubar-fill', style: `width:${pct}%` })),
    h('span', { class: 'ubar-num' }, h('span', { class: 'visually-hidden' }, `${label} `), h('span', { testid }, fmtU(u))));
}

// ---------------------------------------------------------------------------
// live updates: WebSocket, falling back to polling every 2 s
// ---------------------------------------------------------------------------

function setConnection(mode) {
  const el = document.getElementById('connection');
  if (!el) return;
  const text = { live: 'live', polling: 'updating every 2 s', connecting: 'connecting…', ended: 'finished', offline: 'offline' }[mode] || mode;
  el.hidden = false;
  el.dataset.mode = mode;
  el.textContent = text;
}

function liveView(id, token, { onView, onFatal }) {
  let ws = null;
  let pollTimer = null;
  let retry = 0;
  let stopped = false;
  let lastStatus = null;
  const base = `/api/sessions/${encodeURIComponent(id)}`;

  function deliver(view) {
    lastStatus = view && view.status;
    onView(view);
    if (lastStatus === 'ended') finish();
  }

  function finish() {
    stopped = true;
    stopPolling();
    if (ws && ws.readyState <= 1) ws.close(1000, 'ended');
    setConnection('ended');
  }

  async function poll() {
    try {
      const { data } = await api('GET', base, { token });
      deliver(data);
      return data;
    } catch (e) {
      if ([401, 403, 404].includes(e.status)) {
        stopped = true;
        stopPolling();
        onFatal(e.message);
      } else {
        setConnection('offline');
      }
      return null;
    }
  }

  function startPolling() {
    if (pollTimer || stopped) return;
    setConnection('polling');
    pollTimer = setInterval(poll, 2000);
  }

  function stopPolling() {
    if (pollTimer) clearInterval(pollTimer);
    pollTimer = null;
  }

  function reconnectLater() {
    const delay = Math.min(30000, 2000 * 2 ** retry);
    retry += 1;
    setTimeout(() => { if (!stopped) connect(); }, delay);
  }

  function connect() {
    if (stopped || typeof WebSocket === 'undefined') { startPolling(); return; }
    const url = `${location.protocol === 'https:' ? 'wss:' : 'ws:'}//${location.host}${base}/ws`;
    try {
      ws = new WebSocket(url);
    } catch {
      startPolling();
      reconnectLater();
      return;
    }
    // Incremental pushes: each carries the events from `since` on; the rest is kept here.
    let held = [];
    ws.addEventListener('open', () => ws.send(JSON.stringify({ token, incremental: true })));
    ws.addEventListener('message', (e) => {
      let msg;
      try { msg = JSON.parse(e.data); } catch { return; }
      if (msg && msg.type === 'view' && msg.view) {
        retry = 0;
        stopPolling();
        if (!stopped) setConnection('live');
        const v = msg.view;
        if (typeof v.since === 'number') {
          held = held.slice(0, v.since).concat(v.events || []);
          v.events = held;
          delete v.since;
        }
        deliver(v);
      } else if (msg && msg.error) {
        onFatal(msg.error);
      }
    });
    ws.addEventListener('close', (e) => {
      ws = null;
      if (stopped) return;
      if (e.code === 4401 || e.code === 4403 || e.code === 4404) {
        stopped = true;
        stopPolling();
        onFatal(`The live connection was refused: ${e.reason || `code ${e.code}`}.`);
        return;
      }
      startPolling();
      reconnectLater();
    });
  }

  setConnection('connecting');
  poll().then((view) => { if (view && view.status !== 'ended' && !stopped) connect(); });
  return { refresh: poll };
}

/** Orders views, so that a slow poll answer never replaces a newer pushed view. */
// Notices (ratification) carry no seq: rank by the largest engine seq, then by count.
function maxSeq(events) {
  let m = -1;
  for (const e of events || []) if (typeof e.seq === 'number' && e.seq > m) m = e.seq;
  return m;
}

function viewRank(view) {
  const status = { waiting: 0, running: 1, ended: 2 }[view.status] ?? 0;
  const events = view.events || [];
  return [status, maxSeq(events), events.length];
}

function olderThan(a, b) {
  const ra = viewRank(a);
  const rb = viewRank(b);
  for (let i = 0; i < ra.length; i += 1) {
    if (ra[i] !== rb[i]) return ra[i] < rb[i];
  }
  return false;
}

// ---------------------------------------------------------------------------
// SVG plots
// ---------------------------------------------------------------------------

/**
 * The utility plane of two parties.
 * opts: {parties: [a, b], points, frontier, nash, ks, agreement, reserved, label}
 */
function planePlot(opts) {
  const W = 360;
  const H = 360;
  const m = { l: 48, r: 14, t: 14, b: 44 };
  const pw = W - m.l - m.r;
  const ph = H - m.t - m.b;
  const X = (u) => m.l + Math.max(0, Math.min(1, u)) * pw;
  const Y = (u) => m.t + (1 - Math.max(0, Math.min(1, u))) * ph;
  const [a, b] = opts.parties;
  const svg = s('svg', {
    viewBox: `0 0 ${W} ${H}`, class: 'plot', role: 'img', 'aria-label': opts.label || `Utility plane: ${a} against ${b}`, testid: opts.testid || 'plane-plot',
  });
  svg.append(s('title', {}, opts.label || `Utility plane: ${a} (across) against ${b} (up)`));
  const g = s('g', { class: 'axes' });
  for (const t of [0, 0.25, 0.5, 0.75, 1]) {
    g.append(
      s('line', { x1: X(t), x2: X(t), y1: m.t, y2: m.t + ph, class: 'grid' }),
      s('line', { y1: Y(t), y2: Y(t), x1: m.l, x2: m.l + pw, class: 'grid' }),
      s('text', { x: X(t), y: m.t + ph + 16, 'text-anchor': 'middle', class: 'tick' }, String(t)),
      s('text', { x: m.l - 6, y: Y(t) + 4, 'text-anchor': 'end', class: 'tick' }, String(t)),
    );
  }
  g.append(
    s('rect', { x: m.l, y: m.t, width: pw, height: ph, class: 'frame' }),
    s('text', { x: m.l + pw / 2, y: H - 6, 'text-anchor': 'middle', class: 'axis-label' }, `utility of ${a}`),
    s('text', { x: 12, y: m.t + ph / 2, 'text-anchor': 'middle', class: 'axis-label', transform: `rotate(-90 12 ${m.t + ph / 2})` }, `utility of ${b}`),
  );
  svg.append(g);

  const valid = (p) => Array.isArray(p) && p.length >= 2 && p.every((x) => typeof x === 'number');
  if (Array.isArray(opts.reserved) && opts.reserved.length >= 2) {
    const [ra, rb] = opts.reserved;
    svg.append(
      s('line', { x1: X(ra), x2: X(ra), y1: m.t, y2: m.t + ph, class: 'reserve', testid: 'reservation-line' }),
      s('line', { x1: m.l, x2: m.l + pw, y1: Y(rb), y2: Y(rb), class: 'reserve', testid: 'reservation-line' }),
    );
  }
  if (Array.isArray(opts.points)) {
    const gp = s('g', { class: 'points' });
    for (const p of opts.points) if (valid(p)) gp.append(s('circle', { cx: X(p[0]), cy: Y(p[1]), r: 1.8, class: 'pt' }));
    svg.append(gp);
  }
  if (Array.isArray(opts.frontier) && opts.frontier.length) {
    const fr = opts.frontier.filter(valid).slice().sort((p, q) => p[0] - q[0] || q[1] - p[1]);
    svg.append(s('polyline', { points: fr.map((p) => `${X(p[0])},${Y(p[1])}`).join(' '), class: 'frontier-line' }));
    const gf = s('g', { class: 'frontier' });
    for (const p of fr) gf.append(s('circle', { cx: X(p[0]), cy: Y(p[1]), r: 3, class: 'fpt' }, s('title', {}, `${fmtU(p[0])}, ${fmtU(p[1])}`)));
    svg.append(gf);
  }
  if (Array.isArray(opts.trail)) {
    for (const t of opts.trail) {
      if (!valid(t.at)) continue;
      svg.append(s('circle', { cx: X(t.at[0]), cy: Y(t.at[1]), r: 4, class: `trail ${t.cls || ''}` }, s('title', {}, t.title || '')));
    }
  }
  if (valid(opts.ks)) {
    const [x, y] = [X(opts.ks[0]), Y(opts.ks[1])];
    svg.append(s('rect', { x: x - 5, y: y - 5, width: 10, height: 10, class: 'ks', testid: 'ks-point' }, s('title', {}, `Kalai–Smorodinsky ${fmtU(opts.ks[0])}, ${fmtU(opts.ks[1])}`)));
  }
  // Drawn after the square, larger and hollow: where Nash and Kalai–Smorodinsky
  // coincide both stay visible.
  if (valid(opts.nash)) {
    const [x, y] = [X(opts.nash[0]), Y(opts.nash[1])];
    svg.append(s('path', { d: `M${x},${y - 9} L${x + 9},${y} L${x},${y + 9} L${x - 9},${y} Z`, class: 'nash', testid: 'nash-point' }, s('title', {}, `Nash ${fmtU(opts.nash[0])}, ${fmtU(opts.nash[1])}`)));
  }

  if (valid(opts.agreement)) {
    const [x, y] = [X(opts.agreement[0]), Y(opts.agreement[1])];
    const pts = [];
    for (let i = 0; i < 10; i += 1) {
      const r = i % 2 ? 4 : 10;
      const ang = -Math.PI / 2 + (i * Math.PI) / 5;
      pts.push(`${x + r * Math.cos(ang)},${y + r * Math.sin(ang)}`);
    }
    svg.append(s('polygon', { points: pts.join(' '), class: 'agreement', testid: 'agreement-point' }, s('title', {}, `Agreement ${fmtU(opts.agreement[0])}, ${fmtU(opts.agreement[1])}`)));
  }
  return svg;
}

function plotLegend(items) {
  return h('ul', { class: 'legend' }, items.filter(Boolean).map(([cls, text]) => h('li', {}, h('span', { class: `key ${cls}`, 'aria-hidden': 'true' }), text)));
}

/** Utility for me of each offer over the rounds (a party's room). */
function concessionChart(events, me, rounds, reservation) {
  const pts = events.filter((e) => typeof e.my_utility === 'number' && e.type !== 'end');
  if (!pts.length) return null;
  const W = 480;
  const H = 200;
  const m = { l: 40, r: 10, t: 10, b: 30 };
  const pw = W - m.l - m.r;
  const ph = H - m.t - m.b;
  const maxR = Math.max(1, rounds || 1);
  const X = (r) => m.l + (Math.max(0, Math.min(maxR, r)) / maxR) * pw;
  const Y = (u) => m.t + (1 - Math.max(0, Math.min(1, u))) * ph;
  const svg = s('svg', { viewBox: `0 0 ${W} ${H}`, class: 'plot chart', role: 'img', 'aria-label': 'Utility for you of each offer, by round', testid: 'concession-chart' });
  svg.append(s('title', {}, 'Utility for you of each offer, by round'));
  for (const t of [0, 0.5, 1]) {
    svg.append(s('line', { x1: m.l, x2: m.l + pw, y1: Y(t), y2: Y(t), class: 'grid' }), s('text', { x: m.l - 6, y: Y(t) + 4, 'text-anchor': 'end', class: 'tick' }, String(t)));
  }
  for (const r of [0, Math.round(maxR / 2), maxR]) {
    svg.append(s('text', { x: X(r), y: H - 10, 'text-anchor': 'middle', class: 'tick' }, String(r)));
  }
  svg.append(s('rect', { x: m.l, y: m.t, width: pw, height: ph, class: 'frame' }));
  if (typeof reservation === 'number') svg.append(s('line', { x1: m.l, x2: m.l + pw, y1: Y(reservation), y2: Y(reservation), class: 'reserve' }));
  const series = { mine: [], theirs: [], texts: [] };
  for (const e of pts) {
    const who = e.from || e.by;
    const key = who === me ? 'mine' : (e.type === 'carry' || e.type === 'text' || who === 'mediator') ? 'texts' : 'theirs';
    series[key].push(e);
  }
  for (const [key, list] of Object.entries(series)) {
    if (!list.length) continue;
    svg.append(s('polyline', { points: list.map((e) => `${X(e.round ?? 0)},${Y(e.my_utility)}`).join(' '), class: `series ${key}` }));
    for (const e of list) svg.append(s('circle', { cx: X(e.round ?? 0), cy: Y(e.my_utility), r: 3, class: `series-pt ${key}` }));
  }
  return h('figure', { class: 'chart-figure' }, svg,
    h('figcaption', {}, plotLegend([
      series.mine.length && ['mine', 'your offers'],
      series.theirs.length && ['theirs', 'their offers'],
      series.texts.length && ['texts', 'mediator texts'],
      typeof reservation === 'number' && ['reserve', `your reservation value ${fmtU(reservation)}`],
    ])));
}

// ---------------------------------------------------------------------------
// events, described for people
// ---------------------------------------------------------------------------

function who(name, me, principal = false) {
  if (name !== me) return name;
  return principal ? 'Your delegate' : 'You';
}

/** An event in words, for `me`; a principal reads its delegate's moves as such. */
function describeEvent(e, me, principal = false) {
  const by = e.by ?? e.from ?? e.role;
  if (principal && by === me) {
    switch (e.type) {
      case 'ratification-pending': return 'Your delegate\'s acceptance waits for your confirmation';
      case 'ratification-refused': return 'You refused your delegate\'s acceptance';
      case 'ratified':
      case 'ratification-confirmed': return 'You confirmed your delegate\'s acceptance';
      default: {
        const said = describeEvent(e, me, false);
        return said.startsWith('You ') ? `Your delegate ${said.slice(4)}`.replace(/\byour\b/g, 'its') : said;
      }
    }
  }
  switch (e.type) {
    case 'start': return `Talks started${e.protocol ? ` (${e.protocol}` : ''}${e.rounds ? `, ${e.rounds} rounds)` : e.protocol ? ')' : ''}`;
    case 'phase': return `Moved from ${e.from || 'indirect'} to ${e.to || 'direct'} talks${typeof e.progress === 'number' ? ` (progress ${e.progress.toFixed(2)})` : ''}`;
    case 'offer': return `${who(by, me)} offered`;
    case 'accept': return `${who(by, me)} accepted the standing offer`;
    case 'walk-away': return `${who(by, me)} walked away`;
    case 'proposal': return `${who(by, me)} proposed to ${e.to === me ? 'you' : e.to || 'the mediator'}`;
    case 'carry': return `${e.from === me ? 'You' : 'The mediator'} carried a text to ${e.to === me ? 'you' : e.to}`;
    case 'text': return `${by === me ? 'You' : 'The mediator'} tabled a text`;
    case 'vote': return `${who(by, me)} ${e.accept ? 'accepted' : 'rejected'} the text`;
    case 'call-direct': return `The mediator called for direct talks${typeof e.progress === 'number' ? ` (progress ${e.progress.toFixed(2)})` : ''}`;
    case 'consent': return `${who(by, me)} ${e.accept ? 'consented to' : 'refused'} direct talks`;
    case 'default': return 'The mediator\'s text stands as the default of the direct talks';
    case 'confide': return `${who(by, me)} confided ${by === me ? 'your' : 'its'} preferences to the mediator`;
    case 'invalid': return `Invalid action by ${by ?? 'a party'}${e.reason ? `: ${e.reason}` : e.what ? `: ${e.what}` : ''}`;
    case 'end': return e.agreement ? 'Talks ended with an agreement' : `Talks ended without agreement${e.reason ? ` (${e.reason})` : ''}`;
    case 'ratification-pending': return by === me ? 'Your acceptance waits for your principal\'s confirmation' : `An acceptance by ${by || 'a delegate'} waits for its principal's confirmation`;
    case 'ratification-refused': return by === me ? 'Your principal refused your acceptance' : `${by ? `${by}'s` : 'The'} principal refused its acceptance`;
    case 'ratified':
    case 'ratification-confirmed': return by === me ? 'Your principal confirmed your acceptance' : `${by ? `${by}'s` : 'The'} principal confirmed its acceptance`;
    case 'join': case 'joined': return `${who(by ?? e.role, me)} joined`;
    case 'message': return `${who(by, me)} wrote to ${e.to === 'all' ? 'everyone' : e.to === me ? 'you' : e.to}: “${e.text}”`;
    case 'model-call': return `${who(by, me)} asked its language model${e.note ? ` (${e.note})` : ''}`;
    default: {
      const rest = Object.entries(e).filter(([k]) => !['seq', 'round', 'time', 'type', 'my_utility', 'outcome', 'utilities'].includes(k));
      return `${e.type || 'event'}${rest.length ? `: ${rest.map(([k, v]) => `${k} ${typeof v === 'object' ? JSON.stringify(v) : v}`).join(', ')}` : ''}`;
    }
  }
}

function eventOutcome(e) {
  if (e.outcome) return e.outcome;
  if (e.type === 'end' && e.agreement) return e.agreement;
  if (e.text && e.type !== 'message') return e.text;
  return null;
}

function historyItem(e, ctx) {
  const outcome = eventOutcome(e);
  const mine = (e.by ?? e.from) === ctx.me;
  const utilities = Array.isArray(e.utilities) ? e.utilities : null;
  return h('li', { class: `hist-item type-${e.type}${mine ? ' mine' : ''}`, testid: 'history-item', 'data-seq': e.seq, 'data-type': e.type },
    h('div', { class: 'hist-head' },
      h('span', { class: 'hist-round' }, typeof e.round === 'number' ? `R${e.round + ctx.roundBase}` : '·'),
      h('span', { class: 'hist-what' }, describeEvent(e, ctx.me, ctx.principal)),
      typeof e.my_utility === 'number'
        ? h('span', { class: 'hist-u' }, utilityBar(e.my_utility, { testid: 'history-utility', reservation: ctx.reservation }))
        : null,
      utilities ? h('span', { class: 'hist-us' }, `utilities ${utilities.map(fmtU).join(' / ')}`) : null),
    outcome ? outcomeView(outcome, ctx.issues) : null);
}

// ---------------------------------------------------------------------------
// lobby
// ---------------------------------------------------------------------------

const NEGOTIATORS = [
  ['boulware', 'Boulware — concedes late'],
  ['linear', 'Linear — concedes steadily'],
  ['conceder', 'Conceder — concedes early'],
  ['hardliner', 'Hardliner — never concedes'],
  ['random', 'Random — random acceptable offers'],
  ['tit-for-tat', 'Tit-for-tat — mirrors concessions'],
  ['frequency', 'Frequency — models the other side'],
  ['best', 'Best — parley\'s strongest (models the other side, times its concessions)'],
  ['llm', 'Language model — an LLM behind the server\'s OpenAI-compatible endpoint, inside parley\'s guardrails'],
];
const MEDIATORS = [
  ['shuttle', 'Shuttle — compromise texts between positions'],
  ['hill-climber', 'Hill-climber — single negotiating text'],
  ['llm', 'Language model — an LLM writes the texts and speaks to the parties'],
];
const PROTOCOLS = [
  ['saop', 'Direct talks (alternating offers; technical name: SAOP)', 'The parties take turns: offer, accept the standing offer, or walk away. No mediator.'],
  ['shuttle', 'Shuttle mediation', 'The parties never meet: each sends proposals to a mediator, who carries texts to each room separately.'],
  ['single-text', 'Single negotiating text', 'A mediator puts one text to everyone each round; each accepts or rejects it.'],
  ['staged', 'Staged talks (indirect, then direct)', 'An indirect phase through a mediator, then direct alternating offers once every party consents (the mediator calls for it when its progress measure reaches the threshold, and at the indirect deadline). The mediator\'s text stands as the default in direct talks. If no move is agreed by the indirect deadline, the talks end with no deal.'],
];

async function lobby(main) {
  document.title = 'New negotiation — parley';
  const creatorFromAddress = takeCreator();
  const err = errorBox('lobby-error');
  fill(main, 
    h('h1', {}, 'Start a negotiation'),
    h('p', { class: 'lead' }, 'Choose a scenario and a protocol, then decide who plays each role: a person, a program, or one of the built-in negotiators. You receive one secret link per seat, to hand to whoever holds it.'),
    h('p', { class: 'loading' }, 'Loading scenarios…'),
    err,
  );
  let scenarios;
  try {
    ({ data: scenarios } = await api('GET', '/api/scenarios'));
  } catch (e) {
    main.querySelector('.loading').remove();
    err.show(`Could not load the scenarios: ${e.message}`);
    return;
  }
  main.querySelector('.loading').remove();
  if (!Array.isArray(scenarios) || !scenarios.length) {
    err.show('The server offers no scenarios.');
    return;
  }

  const scenarioSel = h('select', { id: 'scenario', name: 'scenario', testid: 'scenario' },
    scenarios.map((sc) => h('option', { value: sc.id }, sc.name ? `${sc.name} (${sc.id})` : sc.id)));
  const scenarioInfo = h('div', { class: 'scenario-info', testid: 'scenario-info' });
  const uploadInput = h('input', { type: 'file', id: 'upload', testid: 'upload', accept: '.toml,.json,.zip,application/json,application/zip', 'aria-describedby': 'upload-help' });
  const uploadErr = errorBox('upload-error');
  // An uploaded scenario: what to send, and how the server described it.
  let uploaded = null;
  const protocolSel = h('select', { id: 'protocol', name: 'protocol', testid: 'protocol', 'aria-describedby': 'protocol-help' },
    PROTOCOLS.map(([v, label]) => h('option', { value: v }, label)));
  const protocolHelp = h('p', { id: 'protocol-help', class: 'help' });
  const rounds = h('input', { id: 'rounds', name: 'rounds', type: 'number', min: 1, max: 10000, step: 1, value: '40', required: true, testid: 'rounds', inputmode: 'numeric' });
  const indirectSel = h('select', { id: 'indirect', testid: 'indirect' }, h('option', { value: 'shuttle' }, 'shuttle mediation'), h('option', { value: 'single-text' }, 'single negotiating text'));
  const threshold = h('input', { id: 'threshold', type: 'number', min: 0, max: 1, step: 0.05, value: '0.75', testid: 'threshold', 'aria-describedby': 'threshold-help' });
  const indirectRounds = h('input', { id: 'indirect-rounds', type: 'number', min: 1, max: 10000, step: 1, placeholder: 'half the rounds', testid: 'indirect-rounds', inputmode: 'numeric' });
  const seed = h('input', { id: 'seed', type: 'number', min: 0, step: 1, value: '0', testid: 'seed', inputmode: 'numeric' });
  const postSettlement = h('input', { type: 'checkbox', id: 'post-settlement', testid: 'post-settlement', checked: true });
  const postField = h('div', { class: 'check' }, postSettlement, h('label', { for: 'post-settlement' }, 'After a deal, the mediator may propose improvements (post-settlement); one stands only if every party accepts it'));
  const ttlDays = h('input', { id: 'ttl', type: 'number', min: 1, max: 365, step: 1, value: '7', testid: 'ttl-days', inputmode: 'numeric' });
  const timeLimit = h('input', { id: 'time-limit', type: 'number', min: 1, step: 1, placeholder: 'none', testid: 'time-limit', inputmode: 'numeric', 'aria-describedby': 'time-limit-help' });
  const seatTimeout = h('input', { id: 'seat-timeout', type: 'number', min: 1, step: 1, placeholder: 'none', testid: 'seat-timeout', inputmode: 'numeric', 'aria-describedby': 'seat-timeout-help' });
  const ownerSees = h('select', { id: 'owner-sees', testid: 'owner-sees', 'aria-describedby': 'owner-sees-help' },
    h('option', { value: '' }, 'the default: what the parties tell a built-in mediator, else the public record'),
    h('option', { value: 'public' }, 'the public record only'),
    h('option', { value: 'confided' }, 'the public record and what the parties tell the mediator'),
    h('option', { value: 'all' }, 'everything: every private move and every party\'s preferences'));
  const ownerSeesField = h('div', { class: 'field' }, h('label', { for: 'owner-sees' }, 'You, the host, see'), ownerSees,
    h('p', { id: 'owner-sees-help', class: 'help' }, 'Every party is shown this setting in its room. With "everything" you also get an auditor link to the full log; otherwise private moves stay between each party and the mediator.'));
  const creatorInput = h('input', { id: 'creator-token', type: 'text', testid: 'creator-token', autocomplete: 'off', spellcheck: 'false', value: creatorFromAddress || '', 'aria-describedby': 'creator-help' });
  const creatorField = h('div', { class: 'field', hidden: !!creatorFromAddress },
    h('label', { for: 'creator-token' }, 'Creator token'), creatorInput,
    h('p', { id: 'creator-help', class: 'help' }, 'Creating sessions needs the token parley serve printed when it started (the lobby address it printed carries it after #create=).'));
  const stagedBox = h('fieldset', { class: 'sub', testid: 'staged-options' },
    h('legend', {}, 'Staged talks'),
    h('div', { class: 'field' }, h('label', { for: 'indirect' }, 'Indirect phase'), indirectSel),
    h('div', { class: 'field' }, h('label', { for: 'threshold' }, 'Progress threshold to move to direct talks'), threshold,
      h('p', { id: 'threshold-help', class: 'help' }, 'Between 0 and 1. The mediator reports its progress; at this level the talks move to direct offers.')),
    h('div', { class: 'field' }, h('label', { for: 'indirect-rounds' }, 'Rounds for the indirect phase'), indirectRounds));
  const rolesBox = h('div', { class: 'roles', testid: 'roles' });

  const createBtn = h('button', { type: 'submit', class: 'primary', testid: 'create-session' }, 'Create session');
  const form = h('form', { class: 'card lobby-form', novalidate: true, 'aria-describedby': 'lobby-error-region' },
    h('fieldset', {}, h('legend', {}, '1. Scenario'),
      h('div', { class: 'field' }, h('label', { for: 'scenario' }, 'Scenario'), scenarioSel),
      h('div', { class: 'field' }, h('label', { for: 'upload' }, 'Or upload your own'), uploadInput,
        h('p', { id: 'upload-help', class: 'help' }, 'A scenario file in parley\'s format (.toml or .json), or a Genius folder zipped (.zip). A file may leave out the parties\' preferences: each party then states its own, privately, in its room before the talks start.'),
        uploadErr),
      scenarioInfo),
    h('fieldset', {}, h('legend', {}, '2. Protocol and deadline'),
      h('div', { class: 'field' }, h('label', { for: 'protocol' }, 'Protocol'), protocolSel, protocolHelp),
      stagedBox,
      h('div', { class: 'field' }, h('label', { for: 'rounds' }, 'Deadline in rounds'), rounds),
      h('details', { class: 'more' }, h('summary', {}, 'More options'),
        h('div', { class: 'field' }, h('label', { for: 'seed' }, 'Chance setting of the built-in negotiators ', h('small', { class: 'muted' }, '(random seed)')), seed,
          h('p', { class: 'help' }, 'The same number replays the same choices; change it for a different run.')),
        h('div', { class: 'field' }, h('label', { for: 'ttl' }, 'Links stay valid for (days)'), ttlDays),
        h('div', { class: 'field' }, h('label', { for: 'time-limit' }, 'Time limit for the talks (minutes)'), timeLimit,
          h('p', { id: 'time-limit-help', class: 'help' }, 'Optional. When it runs out the talks end with no deal; every room shows the time left.')),
        h('div', { class: 'field' }, h('label', { for: 'seat-timeout' }, 'A seat must act within (seconds)'), seatTimeout,
          h('p', { id: 'seat-timeout-help', class: 'help' }, 'Optional. A seat that does not act in time forfeits its turn (walks away, passes or says no), so nobody can stall the talks.')),
        postField)),
    h('fieldset', {}, h('legend', {}, '3. Who plays each role'),
      h('p', { class: 'help' }, 'A person seat gets an invitation link to a room in this web page; a program seat gets a token for the API. A mandate turns the seat into a delegate: it may accept alone only outcomes worth at least that much to its party; other acceptances wait for its principal, who gets a link of their own.'),
      rolesBox),
    h('fieldset', {}, h('legend', {}, '4. What the host sees'), ownerSeesField, creatorField),
    h('div', { class: 'actions' }, createBtn),
    err);
  main.append(form);
  const results = h('section', { class: 'results', testid: 'session-created', 'aria-live': 'polite', hidden: true, tabindex: '-1' });
  main.append(results);

  const roleState = {}; // role name → {choice, mandate} kept while switching protocol/scenario

  function currentScenario() {
    if (scenarioSel.value === '__upload__' && uploaded) return uploaded.described;
    return scenarios.find((sc) => sc.id === scenarioSel.value) || scenarios[0];
  }

  uploadInput.addEventListener('change', () => guarded(uploadInput, uploadErr, async () => {
    const file = uploadInput.files && uploadInput.files[0];
    if (!file) return;
    const creator = creatorInput.value.trim();
    if (!creator) { creatorField.hidden = false; uploadErr.show('Reading a scenario needs the creator token (below, under 4).'); return; }
    const name = file.name.toLowerCase();
    let ref;
    if (name.endsWith('.zip')) {
      const bytes = new Uint8Array(await file.arrayBuffer());
      let bin = '';
      for (let i = 0; i < bytes.length; i += 0x8000) bin += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
      ref = { upload_genius_zip: btoa(bin) };
    } else if (name.endsWith('.toml')) {
      ref = { upload_toml: await file.text() };
    } else {
      let json;
      try { json = JSON.parse(await file.text()); } catch (e) { throw new Error(`${file.name} is not JSON: ${e.message}`); }
      ref = { upload: json };
    }
    const { data } = await api('POST', '/api/scenarios/preview', { token: creator, body: { scenario: ref } });
    uploaded = { ref, described: data, file: file.name };
    let opt = scenarioSel.querySelector('option[value="__upload__"]');
    if (!opt) { opt = h('option', { value: '__upload__' }); scenarioSel.append(opt); }
    opt.textContent = `${data.name} (uploaded: ${file.name})`;
    scenarioSel.value = '__upload__';
    renderScenario();
    renderRoles();
    announce(`Scenario ${data.name} read from ${file.name}.`);
  }));

  function renderScenario() {
    const sc = currentScenario();
    const own = sc.sets_own_preferences || [];
    // What the parties set privately is for nobody else: not "everything" for the host.
    const all = ownerSees.querySelector('option[value="all"]');
    all.disabled = own.length > 0;
    if (all.disabled && ownerSees.value === 'all') ownerSees.value = '';
    fill(scenarioInfo, 
      sc.description ? h('p', {}, sc.description) : null,
      own.length ? h('p', { class: 'notice', testid: 'agenda-note' }, `An agenda: ${own.join(', ')} state${own.length === 1 ? 's' : ''} ${own.length === 1 ? 'its' : 'their'} own preferences, privately, before the talks start. Nobody else sees them, you included; such a party needs a seat.`) : null,
      (sc.notes || []).length ? h('details', { testid: 'upload-notes' }, h('summary', {}, `${sc.notes.length} repair(s) made while reading the file`), h('ul', {}, sc.notes.map((n) => h('li', {}, n)))) : null,
      h('p', {}, h('strong', {}, 'Parties: '), (sc.parties || []).join(', ')),
      h('details', {}, h('summary', {}, `${(sc.issues || []).length} issues and their values`),
        h('dl', { class: 'issues' }, (sc.issues || []).map((is) => [h('dt', {}, is.name), h('dd', {}, (is.values || []).join(' · '))]))));
  }

  function renderRoles() {
    const sc = currentScenario();
    const proto = protocolSel.value;
    const mediatorDefault = proto === 'single-text' || (proto === 'staged' && indirectSel.value === 'single-text') ? 'hill-climber' : 'shuttle';
    const names = [...(sc.parties || [])];
    if (proto !== 'saop') names.push('mediator');
    fill(rolesBox);
    names.forEach((name, i) => {
      const isMediator = name === 'mediator' && i === names.length - 1 && proto !== 'saop';
      const st = roleState[name] || {};
      const selId = `role-${i}`;
      const mandateId = `mandate-${i}`;
      const agents = isMediator ? MEDIATORS : NEGOTIATORS;
      const defaultChoice = isMediator ? `agent:${mediatorDefault}` : i === 0 ? 'seat:person' : 'agent:conceder';
      let choice = st.choice || defaultChoice;
      if (isMediator && !st.touched) choice = `agent:${mediatorDefault}`;
      const ownPrefs = !isMediator && (sc.sets_own_preferences || []).includes(name);
      if (ownPrefs && choice.startsWith('agent:')) choice = 'seat:person';
      const sel = h('select', { id: selId, testid: `role-${name}`, 'data-role': name },
        h('optgroup', { label: 'Seats (held with a link or token)' },
          h('option', { value: 'seat:person' }, 'Person seat — invitation link'),
          h('option', { value: 'seat:program' }, 'Program seat — API token')),
        ownPrefs ? null : h('optgroup', { label: isMediator ? 'Built-in mediators' : 'Built-in negotiators' },
          agents.map(([v, label]) => h('option', { value: `agent:${v}` }, label))));
      sel.value = choice;
      const mandate = h('input', {
        id: mandateId, type: 'number', min: 0, max: 1, step: 0.05, placeholder: 'none', testid: `mandate-${name}`, value: st.mandate || '', 'aria-describedby': `${mandateId}-help`,
      });
      const confideId = `confide-${i}`;
      const confideBox = h('input', { type: 'checkbox', id: confideId, testid: `confide-${name}`, checked: st.confide !== undefined ? st.confide : true });
      const confideField = h('div', { class: 'check confide-agent' }, confideBox,
        h('label', { for: confideId }, 'The built-in negotiator confides its preferences to the mediator'));
      const allowedBoxes = (sc.issues || []).map((is, k) => {
        const boxes = (is.values || []).slice(0, 40).map((v, j) => {
          const bid = `allow-${i}-${k}-${j}`;
          return { value: v, input: h('input', { type: 'checkbox', id: bid, checked: true, testid: `allow-${name}-${is.name}-${v}` }), label: h('label', { for: bid }, v) };
        });
        return { issue: is.name, boxes, el: h('fieldset', { class: 'allowed-issue' }, h('legend', {}, is.name),
          h('div', { class: 'allowed-values' }, boxes.map((b) => h('span', { class: 'check small' }, b.input, b.label)))) };
      });
      const mandateField = h('div', { class: 'field mandate' },
        h('label', { for: mandateId }, 'Mandate: least utility it may accept alone (optional)'), mandate,
        h('p', { id: `${mandateId}-help`, class: 'help' }, 'Leave empty for a seat that decides alone.'),
        allowedBoxes.length ? h('details', { class: 'allowed', testid: `allowed-${name}` },
          h('summary', {}, 'Values it may accept alone, issue by issue (optional)'),
          h('p', { class: 'help' }, 'Untick what the delegate may not accept without its principal; an issue with every value ticked is left to the delegate.'),
          allowedBoxes.map((a) => a.el)) : null);
      mandateField.allowedBoxes = allowedBoxes;
      const sync = () => {
        const seat = sel.value.startsWith('seat:');
        mandateField.hidden = !seat || isMediator;
        confideField.hidden = seat || isMediator || proto === 'saop';
        roleState[name] = { choice: sel.value, mandate: mandate.value, confide: confideBox.checked, touched: roleState[name]?.touched || false };
      };
      sel.addEventListener('change', () => { roleState[name] = { ...(roleState[name] || {}), touched: true }; sync(); });
      mandate.addEventListener('input', sync);
      confideBox.addEventListener('change', sync);
      sync();
      rolesBox.append(h('div', { class: 'role-row', 'data-role': name },
        h('div', { class: 'field' }, h('label', { for: selId }, h('span', { class: 'role-name' }, name), isMediator ? ' (mediator)' : ' (party)', ' — played by'), sel,
          isMediator ? null : confideField),
        mandateField));
    });
  }

  function renderProtocol() {
    const p = PROTOCOLS.find(([v]) => v === protocolSel.value);
    protocolHelp.textContent = p ? p[2] : '';
    stagedBox.hidden = protocolSel.value !== 'staged';
    postField.hidden = protocolSel.value === 'saop';
    renderRoles();
  }

  scenarioSel.addEventListener('change', () => { renderScenario(); renderRoles(); });
  protocolSel.addEventListener('change', renderProtocol);
  indirectSel.addEventListener('change', renderRoles);
  renderScenario();
  renderProtocol();

  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    err.clear();
    const body = { scenario: scenarioSel.value === '__upload__' && uploaded ? uploaded.ref : scenarioSel.value, protocol: protocolSel.value, roles: {} };
    const r = Number(rounds.value);
    if (!Number.isInteger(r) || r < 1 || r > 10000) {
      err.show('The deadline must be a whole number of rounds between 1 and 10,000.');
      rounds.focus();
      return;
    }
    body.rounds = r;
    if (body.protocol === 'staged') {
      body.indirect = indirectSel.value;
      const t = Number(threshold.value);
      if (threshold.value === '' || !(t >= 0 && t <= 1)) { err.show('The progress threshold must be between 0 and 1.'); threshold.focus(); return; }
      body.threshold = t;
      if (indirectRounds.value !== '') {
        const ir = Number(indirectRounds.value);
        if (!Number.isInteger(ir) || ir < 1 || ir > r) { err.show('The indirect phase needs a whole number of rounds, at most the deadline.'); indirectRounds.focus(); return; }
        body.indirect_rounds = ir;
      }
    }
    if (seed.value !== '') body.seed = Number(seed.value);
    if (ttlDays.value !== '') body.token_ttl_seconds = Math.round(Number(ttlDays.value) * 86400);
    if (timeLimit.value !== '') {
      const m = Number(timeLimit.value);
      if (!(m > 0)) { err.show('The time limit must be a positive number of minutes.'); timeLimit.focus(); return; }
      body.time_limit_seconds = Math.round(m * 60);
    }
    if (seatTimeout.value !== '') {
      const t = Number(seatTimeout.value);
      if (!Number.isInteger(t) || t < 1) { err.show('A seat\'s time to act must be a whole number of seconds.'); seatTimeout.focus(); return; }
      body.seat_timeout_seconds = t;
    }
    const mandates = {};
    const kinds = {};
    const confide = [];
    for (const row of rolesBox.querySelectorAll('.role-row')) {
      const name = row.dataset.role;
      const sel = row.querySelector('select');
      const [kind, value] = sel.value.split(':');
      body.roles[name] = kind === 'seat' ? { seat: value } : { agent: value };
      kinds[name] = sel.value;
      const c = row.querySelector('.confide-agent');
      if (kind === 'agent' && c && !c.hidden && c.querySelector('input').checked) confide.push(name);
      const mandateBox = row.querySelector('.mandate');
      const m = mandateBox && mandateBox.querySelector('input[type="number"]');
      if (kind === 'seat' && m && !mandateBox.hidden) {
        const mandate = {};
        if (m.value !== '') {
          const mu = Number(m.value);
          if (!(mu >= 0 && mu <= 1)) { err.show(`The mandate of ${name} must be between 0 and 1.`); m.focus(); return; }
          mandate.min_utility = mu;
        }
        for (const a of mandateBox.allowedBoxes || []) {
          const ticked = a.boxes.filter((b) => b.input.checked).map((b) => b.value);
          if (ticked.length === 0) { err.show(`The delegate of ${name} must be allowed at least one value of ${a.issue}.`); return; }
          if (ticked.length < a.boxes.length) (mandate.allowed ||= {})[a.issue] = ticked;
        }
        if (Object.keys(mandate).length) mandates[name] = mandate;
      }
    }
    if (Object.keys(mandates).length) body.mandates = mandates;
    if (confide.length) body.confide = confide;
    if (body.protocol !== 'saop') body.post_settlement = postSettlement.checked;
    if (ownerSees.value) body.owner_sees = ownerSees.value;
    const creator = creatorInput.value.trim();
    if (!creator) {
      creatorField.hidden = false;
      err.show('Creating a session needs the creator token that parley serve printed.');
      creatorInput.focus();
      return;
    }
    try { sessionStorage.setItem('parley:create', creator); } catch { /* memory only */ }
    await guarded(createBtn, err, async () => {
      const { data } = await api('POST', '/api/sessions', { body, token: creator });
      showCreated(data, body, kinds);
    });
  });

  function linkField(id, label, url, testid, extra) {
    const input = h('input', { id, type: 'text', readOnly: true, value: url, testid, class: 'link-input', spellcheck: 'false', autocomplete: 'off' });
    const copyBtn = h('button', { type: 'button', testid: `copy-${testid}`, 'aria-label': `Copy ${label}` }, 'Copy');
    const status = h('span', { class: 'copy-status', 'aria-live': 'polite' });
    copyBtn.addEventListener('click', async () => {
      let ok = false;
      try {
        await navigator.clipboard.writeText(url);
        ok = true;
      } catch {
        input.select();
        try { ok = document.execCommand('copy'); } catch { ok = false; }
      }
      status.textContent = ok ? 'Copied.' : 'Copy failed: select the link and copy it by hand.';
      setTimeout(() => { status.textContent = ''; }, 4000);
    });
    input.addEventListener('focus', () => input.select());
    return h('div', { class: 'field link-field' },
      h('label', { for: id }, label),
      h('div', { class: 'link-row' }, input, copyBtn, h('a', { href: url, target: '_blank', rel: 'noopener noreferrer', class: 'button-link', 'aria-label': `Open ${label} in a new tab` }, 'Open')),
      extra || null,
      status);
  }

  function showCreated(data, body, kinds) {
    const abs = (link) => new URL(link, location.origin).href;
    const seatCards = [];
    for (const [role, seat] of Object.entries(data.seats || {})) {
      const kind = (kinds[role] || 'seat:person').split(':')[1];
      const md = body.mandates && body.mandates[role];
      const mdText = md ? [md.min_utility !== undefined ? `at least ${md.min_utility}` : null, md.allowed ? `limits on ${Object.keys(md.allowed).join(', ')}` : null].filter(Boolean).join('; ') : '';
      const parts = [h('h3', {}, `${role} — ${kind} seat${md ? ` (delegate, mandate: ${mdText})` : ''}`)];
      parts.push(linkField(`invite-${role}`, `Invitation link for ${role}`, abs(seat.link), `invite-link-${role}`));
      if (kind === 'program') {
        parts.push(h('p', { class: 'help' }, 'A program uses the API with this seat token: ', h('code', {}, `Authorization: Bearer ${seat.token}`), `, session id ${data.id}.`));
      }
      if (seat.principal_link) parts.push(linkField(`principal-${role}`, `Principal link for ${role} (confirms acceptances outside the mandate)`, abs(seat.principal_link), `principal-link-${role}`));
      seatCards.push(h('div', { class: 'card seat-card', testid: `seat-card-${role}` }, parts));
    }
    const agents = Object.entries(body.roles).filter(([, v]) => v.agent).map(([k, v]) => h('li', {}, `${k}: built-in ${v.agent}`));
    const ownerUrl = abs(data.owner_link || `/owner/${data.id}#token=${data.owner_token}`);
    const sees = { public: 'the public record', confided: 'the public record and what the parties tell the mediator', all: 'everything, with the full log' }[data.owner_sees] || 'the public record';
    const auditorUrl = data.auditor_token ? abs(`/owner/${data.id}#token=${data.auditor_token}`) : null;
    fill(results, 
      h('h2', {}, 'Session created'),
      h('p', {}, 'Session ', h('code', { testid: 'session-id' }, data.id), ` — ${body.protocol}, ${body.rounds} rounds. The talks start when every seat has joined.`),
      h('div', { class: 'notice warn', role: 'note' },
        h('strong', {}, 'These links are secrets. '),
        'Each carries a token after the # sign: whoever has a link can act for that seat, or read the whole trace. Send each link only to the one who holds the seat, over a private channel. They are shown only now: copy them before leaving this page.'),
      seatCards.length ? seatCards : h('p', {}, 'Every role is played by a built-in negotiator: the talks run at once. Follow them with the owner link.'),
      agents.length ? h('div', { class: 'card' }, h('h3', {}, 'Built-in negotiators'), h('ul', {}, agents)) : null,
      h('div', { class: 'card seat-card' }, h('h3', {}, 'Owner'),
        linkField('owner-link-input', `Owner link (you see ${sees})`, ownerUrl, 'owner-link'),
        auditorUrl ? linkField('auditor-link-input', 'Auditor link (the same, read-only, to hand to an auditor)', auditorUrl, 'auditor-link') : null),
      h('p', {}, h('a', { href: '/', testid: 'new-session' }, 'Start another session')));
    results.hidden = false;
    form.hidden = true;
    results.focus();
    announce('Session created. The invitation links are shown.');
  }
}

// ---------------------------------------------------------------------------
// shared page pieces for rooms and the owner view
// ---------------------------------------------------------------------------

function phaseText(view) {
  if (view.status === 'waiting') return 'Not started';
  const phase = view.phase || (view.protocol === 'saop' ? 'direct' : view.protocol === 'staged' ? 'indirect' : 'indirect');
  if (phase === 'direct') return 'Direct talks';
  if (phase === 'indirect') return view.protocol === 'single-text' ? 'Indirect talks — single text through the mediator' : 'Indirect talks — through the mediator';
  if (phase === 'post-settlement') return 'Post-settlement — the mediator looks for improvements';
  return titleCase(String(phase));
}

// The engine counts rounds from 0; people count from 1.
const ROUND_BASE = 1;

function roundText(view) {
  const total = view.rounds;
  const r = typeof view.round === 'number' ? Math.min(view.round + ROUND_BASE, total || Infinity) : null;
  if (view.status === 'waiting') return `${total} rounds`;
  if (r === null) return total ? `of ${total} rounds` : '';
  return `Round ${r} of ${total}`;
}

function statusBar() {
  const el = h('section', { class: 'statusbar', 'aria-label': 'Session status' },
    h('div', { class: 'stat' }, h('span', { class: 'stat-k' }, 'Status'), h('span', { class: 'badge', testid: 'status' }, '…')),
    h('div', { class: 'stat' }, h('span', { class: 'stat-k' }, 'Phase'), h('span', { class: 'stat-v', testid: 'phase' }, '…')),
    h('div', { class: 'stat stat-round' }, h('span', { class: 'stat-k' }, 'Deadline'),
      h('span', { class: 'stat-v', testid: 'round' }, '…'),
      h('progress', { max: 1, value: 0, class: 'deadline', 'aria-label': 'Share of the deadline used', testid: 'deadline-progress' })),
    h('div', { class: 'stat' }, h('span', { class: 'stat-k' }, 'The host sees'), h('span', { class: 'stat-v', testid: 'host-sees' }, '…')),
    h('div', { class: 'stat stat-clock', hidden: true }, h('span', { class: 'stat-k' }, 'Time left'), h('span', { class: 'stat-v', role: 'timer', testid: 'time-left' }, '…')),
    h('p', { class: 'stat-rules muted small', testid: 'stage-rules', hidden: true }));
  el.update = (view) => {
    // Staged talks: when the indirect phase ends and when the mediator may call for
    // direct talks, always in sight.
    const rules = byTestId('stage-rules', el);
    const st0 = view.settings || {};
    if (view.protocol === 'staged' && typeof st0.indirect_rounds === 'number') {
      rules.hidden = false;
      rules.textContent = `Indirect talks last at most ${st0.indirect_rounds} of ${view.rounds} rounds; `
        + `the mediator calls for direct talks once its progress measure reaches ${typeof st0.threshold === 'number' ? st0.threshold : 'its threshold'} `
        + '(and at the end of the indirect phase); talks go direct only if every party consents.';
    } else {
      rules.hidden = true;
    }
    byTestId('host-sees', el).textContent = {
      public: 'the public record', confided: 'what you tell the mediator', all: 'everything',
    }[view.owner_sees] || 'the public record';
    const st = byTestId('status', el);
    st.textContent = view.status;
    st.dataset.status = view.status;
    const ph = byTestId('phase', el);
    ph.textContent = phaseText(view);
    ph.dataset.phase = view.phase || '';
    byTestId('round', el).textContent = roundText(view);
    const prog = byTestId('deadline-progress', el);
    const frac = view.rounds ? Math.min(1, ((view.round ?? 0) + (view.status === 'ended' ? 1 : 0)) / view.rounds) : 0;
    prog.value = view.status === 'waiting' ? 0 : frac;
    // A wall-clock limit: the time left, counted down here from when the talks end.
    el.endsAt = view.status === 'running' && typeof view.ends_at === 'number' ? view.ends_at : null;
    el.querySelector('.stat-clock').hidden = !(typeof view.time_limit_seconds === 'number' && view.status !== 'ended');
    tick();
  };
  const tick = () => {
    const out = byTestId('time-left', el);
    if (el.endsAt === null || el.endsAt === undefined) { out.textContent = 'starts with the talks'; return; }
    const left = Math.max(0, Math.round(el.endsAt - Date.now() / 1000));
    const hms = [Math.floor(left / 3600), Math.floor((left % 3600) / 60), left % 60];
    out.textContent = `${hms[0] ? `${hms[0]} h ` : ''}${String(hms[1]).padStart(hms[0] ? 2 : 1, '0')} min ${String(hms[2]).padStart(2, '0')} s`;
  };
  setInterval(tick, 1000);
  return el;
}

function fatal(main, msg) {
  setConnection('offline');
  fill(main, 
    h('h1', {}, 'Cannot open this page'),
    h('p', { class: 'error', role: 'alert', testid: 'fatal' }, msg),
    h('p', {}, 'Check that you opened the whole link you were given, including the part after #. ', h('a', { href: '/' }, 'Go to the start page.')));
}

function noToken(main, what) {
  fill(main, 
    h('h1', {}, `No token for this ${what}`),
    h('p', { class: 'error', role: 'alert', testid: 'fatal' }, 'This page needs the secret link you were given (it ends with #token=…). Open that link again.'),
    h('p', {}, h('a', { href: '/' }, 'Go to the start page.')));
}

function resultSection() {
  const sec = h('section', { class: 'card result', testid: 'result', hidden: true, tabindex: '-1', 'aria-labelledby': 'result-h' });
  sec.update = (view, issues, { reservation } = {}) => {
    const r = view.result;
    if (view.status !== 'ended' && !r) { sec.hidden = true; return; }
    const agreement = r ? r.agreement : null;
    const reason = r ? r.reason : null;
    const ok = !!agreement;
    sec.hidden = false;
    sec.dataset.outcome = ok ? 'agreement' : 'no-agreement';
    sec.className = `card result ${ok ? 'ok' : 'fail'}`;
    const myU = r && typeof r.my_utility === 'number' ? r.my_utility : null;
    fill(sec, 
      h('h2', { id: 'result-h' }, ok ? 'Result: agreement' : 'Result: no agreement'),
      h('p', { testid: 'result-reason' }, ok ? 'The talks ended with an agreement.' : `The talks ended without an agreement${reason ? ` (${reason})` : ''}.`,
        !ok && typeof reservation === 'number' ? ` You fall back to your alternative, worth ${fmtU(reservation)}.` : ''),
      myU !== null ? h('p', { class: 'big-u' }, 'Utility for you: ', h('strong', { testid: 'result-utility' }, fmtU(myU))) : null,
      r && Array.isArray(r.utilities) ? h('p', {}, 'Utilities: ', h('span', { testid: 'result-utilities' }, r.utilities.map(fmtU).join(' / '))) : null,
      ok ? outcomeView(agreement, issues, { testid: 'result-outcome' }) : null);
  };
  return sec;
}

/** Issue selects with a live value. `onChange(labels)` on any change. */
function outcomeBuilder(issues, { idPrefix, onChange }) {
  const controls = issues.map((is, i) => {
    const id = `${idPrefix}-${i}`;
    let ctl;
    if (Array.isArray(is.values) && is.values.length) {
      ctl = h('select', { id, 'data-issue': is.name, testid: 'issue-select' }, is.values.map((v) => h('option', { value: String(v) }, String(v))));
    } else {
      ctl = h('input', { id, type: 'number', 'data-issue': is.name, testid: 'issue-select', min: is.min, max: is.max, step: is.step || 'any', value: is.min ?? 0 });
    }
    ctl.addEventListener('change', () => onChange(read()));
    return h('div', { class: 'field issue-field' }, h('label', { for: id }, is.name), ctl);
  });
  const el = h('div', { class: 'builder-grid' }, controls);
  function read() {
    return [...el.querySelectorAll('[data-issue]')].map((c) => c.value);
  }
  el.read = read;
  el.set = (labels) => {
    if (!labels) return;
    el.querySelectorAll('[data-issue]').forEach((c, i) => { if (labels[i] !== undefined && labels[i] !== '') c.value = labels[i]; });
    onChange(read());
  };
  el.setDisabled = (d) => el.querySelectorAll('[data-issue]').forEach((c) => { c.disabled = d; });
  return el;
}

// ---------------------------------------------------------------------------
// a seat's room (party, principal, or mediator)
// ---------------------------------------------------------------------------

function isPrincipalView(view) {
  const r = view.role || {};
  return r.principal === true || r.kind === 'principal';
}

async function room(main, id) {
  const token = takeToken();
  if (!token) { noToken(main, 'room'); return; }
  let view = null;
  let ui = null;
  let live = null;

  fill(main, h('p', { class: 'loading' }, 'Opening the room…'));

  const onView = (v) => {
    if (!v || typeof v !== 'object') return;
    if (view && olderThan(v, view)) return;
    const kind = v.role && v.role.kind;
    if (!ui) {
      if (kind === 'owner' || kind === 'auditor') { ui = ownerUI(main, id, token, v); }
      else if (kind === 'mediator') { ui = mediatorUI(main, id, token, v, () => live.refresh()); }
      else { ui = partyUI(main, id, token, v, () => live.refresh()); }
    }
    const prev = view;
    view = v;
    ui.update(v, prev);
  };
  live = liveView(id, token, { onView, onFatal: (msg) => { if (!ui) fatal(main, msg); else ui.fatal?.(msg); } });
}

function heldByText(r) {
  if (r.held_by === 'agent') return r.agent ? `built-in ${r.agent}` : 'built-in negotiator';
  return `${r.held_by || ''} seat${r.delegate || r.mandate ? ' (delegate)' : ''}`.trim();
}

function roleRoster(view) {
  const me = view.role && view.role.name;
  return h('ul', { class: 'roster', testid: 'roster' }, (view.roles || []).map((r) => h('li', { 'data-role': r.name },
    h('span', { class: 'role-name' }, r.name), r.name === me ? ' (you)' : '', ' — ',
    heldByText(r),
    r.held_by !== 'agent' ? h('span', { class: `joined ${r.joined ? 'yes' : 'no'}` }, r.joined ? ' · joined' : ' · not joined yet') : null,
    r.preferences_set === false ? h('span', { class: 'joined no' }, ' · preferences not set yet') : r.preferences_set ? h('span', { class: 'joined yes' }, ' · preferences set') : null)));
}

// ---------------------------------------------------------------------------
// one's own preferences (agenda sessions): importance of each issue, a score for
// each value, never-accept marks, and what no deal is worth; a live preview
// ---------------------------------------------------------------------------

/** Numeric labels of an issue, if every label is a number (an integer or real issue). */
function numericValues(issue) {
  const xs = (issue.values || []).map(Number);
  return xs.length > 1 && xs.every((x) => Number.isFinite(x)) ? xs : null;
}

/** How many values an issue may have and still be scored one by one. */
const SCORED_VALUES = 12;

function preferencesEditor(issues, { onSave, saved }) {
  const err = errorBox('preferences-error');
  const rows = issues.map((issue, i) => {
    const many = (issue.values || []).length > SCORED_VALUES && numericValues(issue);
    const weight = h('input', { type: 'range', min: 0, max: 10, step: 1, value: 5, id: `pw-${i}`, testid: `importance-${i}` });
    const weightOut = h('output', { for: `pw-${i}` }, '5');
    const valueRows = [];
    let direction = null;
    if (many) {
      direction = h('select', { id: `pd-${i}`, testid: `direction-${i}` },
        h('option', { value: 'up' }, 'more is better'), h('option', { value: 'down' }, 'less is better'));
    } else {
      (issue.values || []).forEach((v, k) => {
        const score = h('input', { type: 'range', min: 0, max: 10, step: 1, value: 10 - Math.round((10 * k) / Math.max(1, issue.values.length - 1)), id: `ps-${i}-${k}`, testid: `score-${i}-${k}` });
        const out = h('output', { for: `ps-${i}-${k}` }, score.value);
        const never = h('input', { type: 'checkbox', id: `pn-${i}-${k}`, testid: `never-${i}-${k}` });
        score.addEventListener('input', () => { out.textContent = score.value; preview(); });
        never.addEventListener('change', preview);
        valueRows.push({ label: v, score, never, el: h('div', { class: 'pref-value' },
          h('label', { for: `ps-${i}-${k}` }, v), score, out,
          h('span', { class: 'check small' }, never, h('label', { for: `pn-${i}-${k}` }, 'never accept'))) });
      });
    }
    weight.addEventListener('input', () => { weightOut.textContent = weight.value; preview(); });
    if (direction) direction.addEventListener('change', preview);
    const el = h('fieldset', { class: 'pref-issue', testid: `pref-issue-${i}` },
      h('legend', {}, issue.name),
      h('div', { class: 'range-field' }, h('label', { for: `pw-${i}` }, `How much ${issue.name} matters to you (0 = not at all, 10 = most)`), weight, weightOut),
      many ? [h('label', { for: `pd-${i}` }, `From ${issue.values[0]} to ${issue.values[issue.values.length - 1]}:`), direction]
        : [h('p', { class: 'help' }, 'Score each value: 10 for the one you like best, 0 for one worth nothing to you.'), ...valueRows.map((r) => r.el)]);
    return { issue, weight, direction, valueRows, el };
  });
  const walk = h('input', { type: 'range', min: 0, max: 100, step: 1, value: 30, id: 'p-walk', testid: 'reservation-input' });
  const walkOut = h('output', { for: 'p-walk' }, '0.30');
  walk.addEventListener('input', () => { walkOut.textContent = (walk.value / 100).toFixed(2); preview(); });
  const previewList = h('ul', { class: 'pref-preview', testid: 'preferences-preview' });
  const save = h('button', { type: 'button', class: 'primary', testid: 'save-preferences' }, 'Save my preferences');

  // The utility of an outcome (labels in issue order) under the form as it stands:
  // exactly the native format's rule (weights over their sum, scores over their max).
  function utility(labels) {
    const total = rows.reduce((a, r) => a + Number(r.weight.value), 0);
    if (total <= 0) return 0;
    let u = 0;
    rows.forEach((r, i) => {
      const w = Number(r.weight.value) / total;
      if (r.direction) {
        const xs = numericValues(r.issue);
        const lo = xs[0]; const hi = xs[xs.length - 1];
        const x = Number(labels[i]);
        const e = hi === lo ? 1 : (x - lo) / (hi - lo);
        u += w * (r.direction.value === 'up' ? e : 1 - e);
      } else {
        const max = Math.max(...r.valueRows.map((v) => Number(v.score.value)));
        const k = r.valueRows.findIndex((v) => v.label === labels[i]);
        u += max > 0 && k >= 0 ? (w * Number(r.valueRows[k].score.value)) / max : 0;
      }
    });
    return u;
  }
  function crosses(labels) {
    return rows.some((r, i) => r.valueRows.some((v) => v.never.checked && v.label === labels[i]));
  }
  function samples() {
    // One's best and worst packages, and the middle value of every issue.
    const best = rows.map((r) => {
      if (r.direction) { const v = r.issue.values; return r.direction.value === 'up' ? v[v.length - 1] : v[0]; }
      const allowed = r.valueRows.filter((v) => !v.never.checked);
      return (allowed.length ? allowed : r.valueRows).reduce((a, b) => (Number(b.score.value) > Number(a.score.value) ? b : a)).label;
    });
    const worst = rows.map((r) => {
      if (r.direction) { const v = r.issue.values; return r.direction.value === 'up' ? v[0] : v[v.length - 1]; }
      return r.valueRows.reduce((a, b) => (Number(b.score.value) < Number(a.score.value) ? b : a)).label;
    });
    const middle = rows.map((r) => r.issue.values[Math.floor((r.issue.values.length - 1) / 2)]);
    return [['Your best package', best], ['A middle package', middle], ['Your worst package', worst]];
  }
  function preview() {
    const reservation = walk.value / 100;
    fill(previewList, ...samples().map(([name, labels]) => {
      const u = utility(labels);
      return h('li', {},
        h('strong', {}, name), ': ', labels.map((v, i) => `${issues[i].name} ${v}`).join(', '), ' — ',
        crosses(labels) ? h('span', { class: 'warn-text' }, 'you never accept this') : [utilityBar(u, { reservation }), u < reservation ? h('span', { class: 'muted small' }, ' (below what no deal is worth)') : null]);
    }));
  }
  function read() {
    const terms = [];
    const redLines = [];
    rows.forEach((r) => {
      const weight = Number(r.weight.value);
      if (r.direction) {
        const xs = numericValues(r.issue);
        const span = xs[xs.length - 1] - xs[0] || 1;
        if (weight > 0) terms.push({ issue: r.issue.name, weight, linear: r.direction.value === 'up' ? { slope: 1 / span, offset: 0 } : { slope: -1 / span, offset: 1 } });
        return;
      }
      if (weight > 0) {
        const values = {};
        r.valueRows.forEach((v) => { values[v.label] = Number(v.score.value); });
        terms.push({ issue: r.issue.name, weight, values });
      }
      const never = r.valueRows.filter((v) => v.never.checked).map((v) => v.label);
      if (never.length) redLines.push({ issue: r.issue.name, never });
    });
    const body = { reservation: walk.value / 100, utility: { issues: terms } };
    if (redLines.length) body.red_lines = redLines;
    return body;
  }
  function load(p) {
    if (!p) return;
    if (typeof p.reservation === 'number') { walk.value = Math.round(p.reservation * 100); walkOut.textContent = p.reservation.toFixed(2); }
    const terms = (p.utility && p.utility.issues) || [];
    rows.forEach((r) => {
      const t = terms.find((x) => x.issue === r.issue.name);
      r.weight.value = t ? Math.round(Math.min(10, t.weight * 10 / Math.max(...terms.map((x) => x.weight)))) : 0;
      r.weight.nextSibling.textContent = r.weight.value;
      if (t && t.linear && r.direction) r.direction.value = t.linear.slope >= 0 ? 'up' : 'down';
      if (t && t.values) {
        const max = Math.max(...Object.values(t.values));
        r.valueRows.forEach((v) => { v.score.value = max > 0 ? Math.round((10 * (t.values[v.label] || 0)) / max) : 0; v.score.nextSibling.textContent = v.score.value; });
      }
      const line = (p.red_lines || []).find((l) => l.issue === r.issue.name);
      r.valueRows.forEach((v) => { v.never.checked = !!(line && (line.never || []).map(String).includes(v.label)); });
    });
  }
  save.addEventListener('click', () => guarded(save, err, async () => {
    if (rows.every((r) => Number(r.weight.value) === 0)) { err.show('Say how much at least one issue matters to you.'); return; }
    await onSave(read());
  }));
  load(saved);
  preview();
  return h('div', { class: 'pref-editor' },
    ...rows.map((r) => r.el),
    h('fieldset', { class: 'pref-issue' }, h('legend', {}, 'No deal'),
      h('div', { class: 'range-field' },
        h('label', { for: 'p-walk' }, 'What would no deal be worth to you, on the same scale? (0 = any deal beats no deal; 0.60 = a deal must be worth at least 60% of your best package)'),
        walk, walkOut),
      h('p', { class: 'help' }, 'Think of your best alternative if these talks fail — another offer, going to court, the status quo — and place it on the scale of the packages below. parley will never let you offer or accept anything worth less without asking you first.')),
    h('h3', {}, 'What some packages would be worth to you'),
    previewList,
    h('div', { class: 'actions' }, save), err);
}

function partyUI(main, id, token, firstView, refresh) {
  const base = `/api/sessions/${encodeURIComponent(id)}`;
  const issues = (firstView.scenario && firstView.scenario.issues) || [];
  const role = firstView.role || {};
  const me = role.name;
  const principal = isPrincipalView(firstView);
  // What walking away is worth: it moves with time when the alternative is a lottery
  // over time (`reservation_now`, read at the latest event this seat saw).
  let reservation = typeof role.reservation === 'number' ? role.reservation : null;
  const mandateMin = role.mandate && typeof role.mandate.min_utility === 'number' ? role.mandate.min_utility : null;
  const hasMediator = (firstView.roles || []).some((r) => r.name === 'mediator') || (firstView.protocol && firstView.protocol !== 'saop');
  let view = firstView;
  let lastFocusTarget = null;

  document.title = `${me}${principal ? ' (principal)' : ''} — ${(firstView.scenario && firstView.scenario.name) || 'parley'}`;

  const bar = statusBar();
  const result = resultSection();
  const joinSec = h('section', { class: 'card join', testid: 'join-panel', hidden: true, 'aria-labelledby': 'join-h' });
  const prefSec = h('section', { class: 'card preferences', testid: 'preferences', hidden: true, 'aria-labelledby': 'pref-h' });
  const ratSec = h('section', { class: 'card ratification', testid: 'ratification', hidden: true, 'aria-live': 'polite' });
  const reqSec = h('section', { class: 'card request', testid: 'pending', 'aria-labelledby': 'req-h' });
  const reqErr = errorBox('action-error');

  // -- the offer builder --------------------------------------------------
  const draftU = h('output', { testid: 'draft-utility', class: 'draft-u', 'aria-live': 'polite' }, '—');
  const draftBar = h('span', { class: 'ubar-track big', 'aria-hidden': 'true' }, h('span', { class: 'ubar-fill' }));
  const draftNote = h('p', { class: 'help draft-note', testid: 'draft-note' });
  const builderErr = errorBox('builder-error');
  let evalSeq = 0;
  let evalTimer = null;
  const evaluateDraft = (labels) => {
    if (principal) return;
    clearTimeout(evalTimer);
    draftU.textContent = '…';
    draftU.dataset.state = 'pending';
    evalTimer = setTimeout(async () => {
      evalSeq += 1;
      const mySeq = evalSeq;
      try {
        const { data } = await api('POST', `${base}/evaluate`, { token, body: { outcome: objectOf(labels, issues) } });
        if (mySeq !== evalSeq) return;
        const u = data.utility;
        draftU.textContent = fmtU(u);
        draftU.dataset.state = 'ok';
        draftU.dataset.value = String(u);
        draftBar.firstChild.style.width = `${Math.max(0, Math.min(1, u)) * 100}%`;
        const notes = [];
        if (reservation !== null && u < reservation) notes.push(`Below your reservation value (${fmtU(reservation)}): walking away would be worth more to you.`);
        if (mandateMin !== null && u < mandateMin) notes.push(`Below your mandate (${fmtU(mandateMin)}).`);
        draftNote.textContent = notes.join(' ');
        builderSec.classList.toggle('below', reservation !== null && u < reservation);
        builderErr.clear();
      } catch (e) {
        if (mySeq !== evalSeq) return;
        draftU.textContent = '—';
        draftU.dataset.state = 'error';
        builderErr.show(`Could not evaluate the draft: ${e.message}`);
      }
    }, 120);
  };
  const builder = outcomeBuilder(issues, { idPrefix: 'draft', onChange: evaluateDraft });
  const fillStanding = h('button', { type: 'button', class: 'secondary', testid: 'fill-standing' }, 'Start from the standing offer');
  const fillLast = h('button', { type: 'button', class: 'secondary', testid: 'fill-last' }, 'Start from my last offer');
  const sendOffer = h('button', { type: 'button', class: 'primary', testid: 'send-offer' }, 'Send this offer');
  const sendProposal = h('button', { type: 'button', class: 'primary', testid: 'send-proposal' }, 'Propose this to the mediator');
  const builderSec = h('section', { class: 'card builder', testid: 'offer-builder', 'aria-labelledby': 'builder-h' },
    h('h2', { id: 'builder-h' }, 'Your draft'),
    h('p', { class: 'help' }, 'Choose a value for every issue. The utility shown is yours only; nobody else sees it.'),
    builder,
    h('div', { class: 'draft-u-row' }, h('span', {}, 'Utility for me of this draft: '), draftU, draftBar),
    draftNote,
    h('div', { class: 'actions' }, fillStanding, fillLast),
    h('div', { class: 'actions send' }, sendOffer, sendProposal),
    builderErr);

  function lastOwnOffer() {
    const evs = view.events || [];
    for (let i = evs.length - 1; i >= 0; i -= 1) {
      const e = evs[i];
      if ((e.type === 'offer' || e.type === 'proposal') && (e.from ?? e.by) === me && e.outcome) return labelsOf(e.outcome, issues);
    }
    return null;
  }
  function standingLabels() {
    const p = view.pending;
    if (p && p.standing) return labelsOf(p.standing, issues);
    if (p && p.text) return labelsOf(p.text, issues);
    return null;
  }
  fillStanding.addEventListener('click', () => builder.set(standingLabels()));
  fillLast.addEventListener('click', () => builder.set(lastOwnOffer()));

  async function act(body, buttons, err = reqErr) {
    return guarded(buttons, err, async () => {
      const { status, data } = await api('POST', `${base}/actions`, { token, body });
      if (status === 202 || (data && data.pending_ratification)) {
        announce('Your acceptance is outside your mandate: it waits for your principal.');
      }
      lastFocusTarget = 'request';
      await refresh();
      return data;
    });
  }
  // Safe actions: putting or taking anything worth less than walking away pays now
  // asks once more, saying what walking away would pay; anything across one's own red
  // line is stopped (the server would refuse it).
  function riskOf(u, outcome) {
    const lines = (view.role && view.role.red_lines) || [];
    for (const l of lines) {
      const v = outcome ? outcome[l.issue] : undefined;
      if (v !== undefined && l.refused.includes(String(v))) {
        return { block: true, text: `This crosses your red line on ${l.issue} (${v}): you cannot offer or accept it.` };
      }
    }
    if (typeof u === 'number' && reservation !== null && u < reservation) {
      return { text: `This is worth ${fmtU(u)} to you; walking away now would pay ${fmtU(reservation)}.` };
    }
    return null;
  }
  function safeClick(button, risk, run) {
    const box = h('p', { class: 'notice warn', testid: 'confirm-warning', role: 'alert', hidden: true });
    const label = button.textContent;
    let armedFor = null;
    button.addEventListener('click', () => {
      const r = risk();
      const key = JSON.stringify(r);
      if (r && r.block) { box.textContent = r.text; box.hidden = false; return; }
      if (r && armedFor !== key) {
        armedFor = key;
        box.textContent = `${r.text} Click "${label} anyway" to go ahead.`;
        box.hidden = false;
        button.textContent = `${label} anyway`;
        return;
      }
      armedFor = null; box.hidden = true; button.textContent = label;
      run();
    });
    return box;
  }
  const draftRisk = () => {
    const u = draftU.dataset.state === 'ok' ? Number(draftU.dataset.value) : undefined;
    return riskOf(u, objectOf(builder.read(), issues));
  };
  const offerWarn = safeClick(sendOffer, draftRisk, () => act({ type: 'offer', outcome: objectOf(builder.read(), issues) }, [sendOffer, sendProposal], builderErr));
  const proposalWarn = safeClick(sendProposal, draftRisk, () => act({ type: 'propose', outcome: objectOf(builder.read(), issues) }, [sendOffer, sendProposal], builderErr));
  builderSec.append(offerWarn, proposalWarn);

  // -- history --------------------------------------------------------------
  const histList = h('ol', { class: 'history', testid: 'history', reversed: true, tabindex: '0', 'aria-label': 'Events you can see, newest first' });
  const histSec = h('section', { class: 'card hist-card', 'aria-labelledby': 'hist-h' },
    h('h2', { id: 'hist-h' }, 'History ', h('span', { class: 'muted small' }, '(newest first)')),
    histList);
  const chartSec = h('section', { class: 'card chart-card', hidden: true, 'aria-labelledby': 'chart-h' }, h('h2', { id: 'chart-h' }, 'Utility for you, round by round'));
  const renderedSeqs = new Set();

  const aboutSec = h('section', { class: 'card about', 'aria-labelledby': 'about-h' });

  // -- messages -------------------------------------------------------------
  // Who a party may write to: while the talks go through the mediator, the mediator
  // only (the server enforces it); otherwise every role.
  const msgTo = h('select', { id: 'msg-to', testid: 'message-to' });
  const msgText = h('textarea', { id: 'msg-text', testid: 'message-text', rows: 3, maxlength: 2000 });
  const msgSend = h('button', { type: 'button', class: 'secondary', testid: 'message-send' }, 'Send message');
  // The drafting assistant: a model drafts words for the offer being built, from this
  // seat's own view; it only fills the box, and sends nothing.
  const msgDraft = h('button', { type: 'button', class: 'secondary', testid: 'message-draft', title: 'A language model drafts a message explaining the offer you are building. Nothing is sent: edit it, then send it or not.' }, 'Draft words for my offer');
  const msgErr = errorBox();
  const msgSec = h('section', { class: 'card messages', testid: 'messages', 'aria-labelledby': 'msg-h' },
    h('h2', { id: 'msg-h' }, 'Write a message'),
    h('p', { class: 'help' }, 'Messages appear in the history of whoever you write to, and in yours.'),
    h('label', { for: 'msg-to' }, 'To'), msgTo,
    h('label', { for: 'msg-text' }, 'Message'), msgText,
    h('div', { class: 'actions' }, msgSend, principal || !firstView.drafting ? null : msgDraft), msgErr);
  function renderMessageTargets() {
    const roles = (view.roles || []).map((r) => r.name).filter((n) => n !== me);
    const mediated = roles.includes('mediator');
    const direct = view.phase === 'direct' || view.phase === 'post-settlement' || view.protocol === 'saop';
    const targets = mediated && !direct ? ['mediator'] : ['all', ...roles];
    const key = targets.join('|');
    if (msgTo.dataset.key === key) return;
    msgTo.dataset.key = key;
    fill(msgTo, ...targets.map((t) => h('option', { value: t }, t === 'all' ? 'everyone' : t)));
  }
  msgSend.addEventListener('click', () => guarded([msgSend], msgErr, async () => {
    const text = msgText.value.trim();
    if (!text) { msgErr.show('Write something first.'); return; }
    await api('POST', `${base}/messages`, { token, body: { to: msgTo.value, text } });
    msgText.value = '';
    announce('Message sent.');
    await refresh();
  }));

  msgDraft.addEventListener('click', () => guarded([msgDraft, msgSend], msgErr, async () => {
    const r = await api('POST', `${base}/draft`, { token, body: { outcome: objectOf(builder.read(), issues) } });
    msgText.value = r.text;
    msgText.focus();
    announce('A draft is in the message box. Nothing was sent.');
  }));

  const grid = h('div', { class: 'room-grid' },
    h('div', { class: 'col-main' }, reqSec, principal ? null : builderSec),
    h('div', { class: 'col-side' }, chartSec, histSec, principal ? null : msgSec, aboutSec));

  fill(main, 
    h('h1', {}, (firstView.scenario && firstView.scenario.name) || 'Negotiation', ' ', h('span', { class: 'h1-sub' }, principal ? `— principal of ${me}` : `— you are ${me}`)),
    bar, result, ratSec, prefSec, joinSec,
    grid);

  function renderAbout() {
    const description = view.scenario && view.scenario.description;
    const briefing = view.role && view.role.briefing;
    fill(aboutSec, 
      h('h2', { id: 'about-h' }, 'Your seat'),
      description ? h('p', { class: 'briefing', testid: 'scenario-description' }, description) : null,
      briefing ? [h('h3', {}, 'Your briefing (only you see it)'), h('p', { class: 'briefing', testid: 'briefing' }, briefing)] : null,
      h('dl', { class: 'facts' },
        h('dt', {}, 'Party'), h('dd', { testid: 'my-role' }, me),
        reservation !== null ? [h('dt', {}, 'Reservation value'), h('dd', { testid: 'reservation' }, `${fmtU(reservation)} — what your alternative (no deal) is worth to you${view.role && view.role.alternative ? ' now' : ''}`)] : null,
        view.role && view.role.alternative ? [h('dt', {}, 'Your alternative'), h('dd', { testid: 'alternative' },
          `a lottery that changes as the talks go on: ${view.role.alternative.consequences.map((c) => c.label).join(', ')}`)] : null,
        view.role && Array.isArray(view.role.red_lines) && view.role.red_lines.length ? [h('dt', {}, 'Your red lines'), h('dd', { testid: 'red-lines' },
          view.role.red_lines.map((l) => `${l.issue}: never ${l.refused.join(', ')}`).join('; '),
          ' — you cannot offer or accept these')] : null,
        role.mandate ? [h('dt', {}, 'Mandate'), h('dd', { testid: 'mandate' }, 'You may accept alone ',
          [mandateMin !== null ? `outcomes worth at least ${fmtU(mandateMin)}` : null,
            role.mandate.allowed ? Object.entries(role.mandate.allowed).map(([k, v]) => `${k}: ${v.join(' or ')}`).join('; ') : null].filter(Boolean).join(', with '),
          '; other acceptances wait for your principal.')] : null,
        h('dt', {}, 'Protocol'), h('dd', {}, `${view.protocol}, ${view.rounds} rounds`)),
      h('h3', {}, 'Roles'), roleRoster(view));
  }

  // Agenda sessions: each party states its own preferences before the talks start.
  let prefKey = null;
  function renderPreferences() {
    const r = view.role || {};
    const key = JSON.stringify([view.status, r.sets_own_preferences, r.preferences_set]);
    if (key === prefKey) return;
    prefKey = key;
    if (!r.sets_own_preferences || view.status !== 'waiting') { prefSec.hidden = true; fill(prefSec); return; }
    prefSec.hidden = false;
    const head = h('h2', { id: 'pref-h' }, r.preferences_set ? 'Your preferences (saved)' : 'Your preferences');
    const intro = h('p', {}, 'Say what matters to you in these talks. ', h('strong', {}, 'Nobody else sees this'),
      ': not the other parties, not the host, and the mediator only if you confide in it. The talks start when every party has saved its preferences and joined; until then you may change them.');
    if (principal) { fill(prefSec, head, h('p', {}, r.preferences_set ? 'Your delegate has set the preferences of your party.' : 'Your delegate has not set the preferences of your party yet.')); return; }
    fill(prefSec, head, intro, h('p', { class: 'loading' }, 'Loading…'));
    api('GET', `${base}/preferences`, { token }).then(({ data }) => {
      const editor = preferencesEditor(issues, {
        saved: data && data.preferences,
        onSave: async (body) => {
          await api('PUT', `${base}/preferences`, { token, body });
          announce('Your preferences are saved.');
          prefKey = null;
          await refresh();
        },
      });
      fill(prefSec, head, intro, editor);
    }).catch((e) => fill(prefSec, head, intro, h('p', { class: 'error', role: 'alert' }, e.message)));
  }

  let joinKey = null;
  function renderJoin() {
    const mine = (view.roles || []).find((r) => r.name === me);
    const joined = !!(mine && mine.joined);
    const key = JSON.stringify([view.status, joined, (view.roles || []).map((r) => [r.joined, r.preferences_set])]);
    if (key === joinKey) return;
    joinKey = key;
    if (view.status !== 'waiting') { joinSec.hidden = true; return; }
    joinSec.hidden = false;
    const waitingFor = (view.roles || []).filter((r) => r.held_by !== 'agent' && !r.joined).map((r) => r.name);
    const unsetPrefs = (view.roles || []).filter((r) => r.preferences_set === false).map((r) => r.name);
    if (joined || principal) {
      fill(joinSec, h('h2', { id: 'join-h' }, principal ? 'Waiting for the talks to start' : 'You have joined'),
        h('p', { testid: 'waiting-for' }, waitingFor.length ? `Waiting for ${waitingFor.join(', ')} to join. The talks start when every seat has joined.`
          : unsetPrefs.length ? `Waiting for ${unsetPrefs.join(', ')} to set ${unsetPrefs.length > 1 ? 'their' : 'its'} preferences.` : 'The talks are about to start.'));
      return;
    }
    const err = errorBox('join-error');
    const confide = hasMediator ? h('input', { type: 'checkbox', id: 'confide', testid: 'confide' }) : null;
    const joinBtn = h('button', { type: 'button', class: 'primary', testid: 'join' }, 'Join the talks');
    joinBtn.addEventListener('click', () => guarded(joinBtn, err, async () => {
      await api('POST', `${base}/join`, { token, body: hasMediator ? { confide: !!(confide && confide.checked) } : {} });
      announce('You joined.');
      await refresh();
    }));
    fill(joinSec, 
      h('h2', { id: 'join-h' }, 'Join the talks'),
      h('p', {}, 'The talks start when every seat has joined', waitingFor.length ? ` (not yet: ${waitingFor.join(', ')})` : '', '.'),
      confide ? h('div', { class: 'check' }, confide, h('label', { for: 'confide' }, 'Confide my preferences to the mediator. It uses them only to choose texts; the other parties never see them.')) : null,
      h('div', { class: 'actions' }, joinBtn), err);
  }

  function renderRatification() {
    const r = view.ratification;
    if (!r || r.status !== 'pending') {
      ratSec.hidden = true;
      fill(ratSec);
      return;
    }
    ratSec.hidden = false;
    const action = r.action || {};
    const what = action.type === 'accept' ? 'accept the standing offer'
      : action.type === 'vote' ? `${action.accept ? 'accept' : 'reject'} the text`
        : action.type ? action.type : 'act';
    const outcome = action.outcome || action.standing || (action.type === 'accept' && view.pending && view.pending.standing) || (action.type === 'vote' && view.pending && view.pending.text) || null;
    const u = typeof action.my_utility === 'number' ? action.my_utility : (action.type === 'accept' && view.pending ? view.pending.standing_utility : undefined);
    if (principal) {
      const err = errorBox('ratify-error');
      const yes = h('button', { type: 'button', class: 'primary', testid: 'ratify-confirm' }, 'Confirm');
      const no = h('button', { type: 'button', class: 'danger', testid: 'ratify-refuse' }, 'Refuse');
      const send = (confirm) => guarded([yes, no], err, async () => {
        await api('POST', `/api/sessions/${encodeURIComponent(id)}/ratify`, { token, body: { confirm } });
        announce(confirm ? 'You confirmed the acceptance.' : 'You refused the acceptance; your delegate acts again.');
        await refresh();
      });
      yes.addEventListener('click', () => send(true));
      no.addEventListener('click', () => send(false));
      fill(ratSec, 
        h('h2', {}, 'Your confirmation is needed'),
        h('p', {}, `Your delegate for ${me} wants to ${what}, which is outside its mandate.`),
        outcome ? outcomeView(outcome, issues) : null,
        typeof u === 'number' ? h('p', {}, 'Utility for your party: ', h('strong', { testid: 'ratify-utility' }, fmtU(u))) : null,
        h('div', { class: 'actions' }, yes, no), err);
    } else {
      fill(ratSec, h('h2', {}, 'Waiting for your principal'),
        h('p', { testid: 'ratification-notice' }, `Your request to ${what} is outside your mandate; it waits for your principal to confirm or refuse it.`));
    }
  }

  let reqKey = null;
  function renderRequest() {
    const p = view.pending;
    const key = JSON.stringify([view.status, p, view.ratification && view.ratification.status, (view.events || []).length && p ? view.events[view.events.length - 1].seq : null]);
    if (key === reqKey) return;
    reqKey = key;
    const hadFocus = reqSec.contains(document.activeElement) || document.activeElement === document.body || lastFocusTarget === 'request';
    reqErr.clear();
    // A delegate whose acceptance waits for its principal has nothing to do meanwhile:
    // no "Your turn", no buttons that would only be refused.
    const held = !principal && view.ratification && view.ratification.status === 'pending';
    const kind = p && !held ? p.kind : null;
    reqSec.dataset.kind = kind || 'none';
    main.dataset.pendingKind = kind || 'none';
    sendOffer.hidden = kind !== 'act';
    sendProposal.hidden = kind !== 'propose';
    builderSec.classList.toggle('inactive', !(kind === 'act' || kind === 'propose'));
    fillStanding.hidden = !(p && (p.standing || p.text));
    const heading = h('h2', { id: 'req-h', tabindex: '-1' });
    const parts = [heading];
    if (view.status === 'ended') {
      heading.textContent = 'The talks are over';
      parts.push(h('p', {}, 'See the result above.'));
    } else if (view.status === 'waiting') {
      heading.textContent = 'Not started yet';
      parts.push(h('p', {}, view.role && view.role.sets_own_preferences
        ? 'The talks start when every seat has joined and every party has saved its preferences.'
        : 'The talks start when every seat has joined.'));
    } else if (held) {
      heading.textContent = 'Waiting for your principal';
      parts.push(h('p', { testid: 'waiting' }, 'Your acceptance is outside your mandate: it counts only once your principal confirms it. If your principal refuses it, it will be your turn again.'));
    } else if (!p) {
      heading.textContent = 'Waiting';
      parts.push(h('p', { testid: 'waiting' }, view.ratification && view.ratification.status === 'pending' ? 'Waiting for the principal.' : hasMediator && view.phase !== 'direct' ? 'Waiting for the mediator and the other parties.' : 'Waiting for the other side.'));
    } else if (principal) {
      heading.textContent = 'Your delegate is to act';
      parts.push(h('p', {}, 'You are watching as the principal. You are asked only to confirm or refuse acceptances outside the mandate.'));
      if (p.standing) parts.push(h('p', {}, 'Standing offer:'), outcomeView(p.standing, issues), h('p', {}, 'Utility for your party: ', h('strong', {}, fmtU(p.standing_utility))));
    } else if (kind === 'act') {
      heading.textContent = 'Your turn';
      if (p.standing) {
        const standingU = h('strong', { testid: 'standing-utility' }, fmtU(p.standing_utility));
        const lastOffer = [...(view.events || [])].reverse().find((e) => e.type === 'offer');
        const from = lastOffer ? (lastOffer.from ?? lastOffer.by) : null;
        const acceptBtn = h('button', { type: 'button', class: 'primary', testid: 'accept' }, 'Accept this offer');
        const acceptWarn = safeClick(acceptBtn, () => riskOf(p.standing_utility, p.standing), () => act({ type: 'accept' }, [acceptBtn]));
        parts.push(
          h('p', {}, 'The standing offer', from && from !== me ? ` (from ${from})` : '', ':'),
          outcomeView(p.standing, issues, { testid: 'standing-offer' }),
          h('p', { class: 'u-line' }, 'Utility for me: ', standingU, reservation !== null ? h('span', { class: 'muted' }, ` (my reservation value: ${fmtU(reservation)})`) : null),
          mandateMin !== null && typeof p.standing_utility === 'number' && p.standing_utility < mandateMin ? h('p', { class: 'notice warn' }, 'Accepting this is outside your mandate: your principal would have to confirm it.') : null,
          h('div', { class: 'actions' }, acceptBtn), acceptWarn,
          h('p', { class: 'muted small' }, 'Accepting makes a deal only when every party has accepted the same offer; a counter-offer from anyone replaces it.'));
        if (typeof p.standing_utility !== 'number') {
          api('POST', `${base}/evaluate`, { token, body: { outcome: objectOf(labelsOf(p.standing, issues), issues) } })
            .then(({ data }) => { standingU.textContent = fmtU(data.utility); }).catch(() => {});
        }
        parts.push(h('p', {}, 'Or make a counter-offer with your draft.'));
        const dflt = [...(view.events || [])].reverse().find((e) => e.type === 'default');
        if (dflt) {
          parts.push(h('p', { class: 'notice', testid: 'default-rule' }, 'The mediator\'s default text stands',
            typeof dflt.my_utility === 'number' ? ` (worth ${fmtU(dflt.my_utility)} to you)` : '',
            ': a counter-offer must be worth at least as much to you, and every party must accept an offer for a deal. If the deadline passes and every party had accepted the default, it stands.'));
        }
      } else {
        parts.push(h('p', {}, 'No offer stands yet: make the first offer with your draft.'));
      }
      parts.push(walkAwayControl());
    } else if (kind === 'propose') {
      heading.textContent = 'Your turn: a proposal to the mediator';
      const passBtn = h('button', { type: 'button', class: 'secondary', testid: 'pass' }, 'Pass (nothing new to say)');
      passBtn.addEventListener('click', () => act({ type: 'pass' }, [passBtn]));
      parts.push(h('p', {}, 'Send the mediator a proposal with your draft, or pass. Only the mediator sees your proposal; it may put the same terms to the other parties as its own text, never saying whose they are.'), h('div', { class: 'actions' }, passBtn));
    } else if (kind === 'consent') {
      heading.textContent = 'The mediator calls for direct talks';
      const yes = h('button', { type: 'button', class: 'primary', testid: 'consent-accept' }, 'Consent to direct talks');
      const no = h('button', { type: 'button', class: 'secondary', testid: 'consent-refuse' }, 'Stay with the mediator');
      yes.addEventListener('click', () => act({ type: 'consent', accept: true }, [yes, no]));
      no.addEventListener('click', () => act({ type: 'consent', accept: false }, [yes, no]));
      parts.push(
        h('p', {}, 'The mediator judges the talks ready to go direct (or the indirect phase is ending). The talks go direct only if every party consents; every party sees the answers.'),
        h('p', {}, 'In direct talks the parties exchange offers in turn. The mediator\'s text, if it tables one, stands as the default: a counter-offer must be worth at least the default to whoever makes it, and if the deadline passes and every party had accepted the default, it becomes the deal.'),
        h('p', { class: 'muted' }, 'If you stay, the indirect talks go on; if the indirect deadline passes without a move to direct talks, the talks end with no deal.'),
        h('div', { class: 'actions' }, yes, no));
    } else if (kind === 'vote') {
      heading.textContent = 'Your turn: answer the text';
      const textU = h('strong', { testid: 'text-utility' }, fmtU(p.text_utility ?? p.my_utility));
      if (typeof (p.text_utility ?? p.my_utility) !== 'number' && p.text) {
        api('POST', `${base}/evaluate`, { token, body: { outcome: objectOf(labelsOf(p.text, issues), issues) } })
          .then(({ data }) => { textU.textContent = fmtU(data.utility); }).catch(() => {});
      }
      const yes = h('button', { type: 'button', class: 'primary', testid: 'vote-accept' }, 'Accept the text');
      const no = h('button', { type: 'button', class: 'secondary', testid: 'vote-reject' }, 'Reject the text');
      const voteWarn = safeClick(yes, () => riskOf(p.text_utility ?? p.my_utility, p.text), () => act({ type: 'vote', accept: true }, [yes, no]));
      no.addEventListener('click', () => act({ type: 'vote', accept: false }, [yes, no]));
      const afterDeal = view.phase === 'post-settlement';
      if (afterDeal) heading.textContent = 'After the deal: a text instead of it?';
      parts.push(h('p', {}, afterDeal
        ? 'The talks reached a deal. The mediator puts this text to every party instead: it replaces the deal only if every party accepts it, so accept it if it is at least as good for you as the deal.'
        : 'The mediator puts this text to you:'), outcomeView(p.text, issues, { testid: 'vote-text' }),
        h('p', { class: 'u-line' }, 'Utility for me: ', textU, reservation !== null ? h('span', { class: 'muted' }, ` (my reservation value: ${fmtU(reservation)})`) : null),
        h('div', { class: 'actions' }, yes, no), voteWarn,
        h('p', { class: 'muted small' }, afterDeal ? 'If any party rejects it, the deal stands.' : 'A text becomes the deal only if every party accepts it; the others do not see your answer.'));
    } else {
      heading.textContent = `Request: ${kind}`;
      parts.push(h('pre', {}, JSON.stringify(p, null, 2)));
    }
    parts.push(reqErr);
    fill(reqSec, ...parts);
    if (p && !principal && hadFocus) heading.focus({ preventScroll: true });
    lastFocusTarget = null;
  }

  function walkAwayControl() {
    const wa = h('button', { type: 'button', class: 'danger', testid: 'walk-away', 'aria-expanded': 'false' }, 'Walk away…');
    const confirmBox = h('div', { class: 'confirm', hidden: true },
      h('p', {}, `Walk away for good? The talks end with no deal${reservation !== null ? ` and you get your reservation value, ${fmtU(reservation)}` : ''}.`));
    const yes = h('button', { type: 'button', class: 'danger', testid: 'walk-away-confirm' }, 'Yes, walk away');
    const no = h('button', { type: 'button', class: 'secondary', testid: 'walk-away-cancel' }, 'Cancel');
    confirmBox.append(h('div', { class: 'actions' }, yes, no));
    wa.addEventListener('click', () => { confirmBox.hidden = false; wa.setAttribute('aria-expanded', 'true'); no.focus(); });
    no.addEventListener('click', () => { confirmBox.hidden = true; wa.setAttribute('aria-expanded', 'false'); wa.focus(); });
    yes.addEventListener('click', () => act({ type: 'walk-away' }, [yes, no, wa]));
    return h('div', { class: 'walk' }, h('div', { class: 'actions' }, wa), confirmBox);
  }

  function renderHistory() {
    const evs = view.events || [];
    const ctx = { me, issues, reservation, roundBase: ROUND_BASE, principal };
    for (let i = 0; i < evs.length; i += 1) {
      const e = evs[i];
      const key = e.seq ?? `i${i}`;
      if (renderedSeqs.has(key)) continue;
      renderedSeqs.add(key);
      histList.prepend(historyItem(e, ctx));
    }
    main.dataset.lastSeq = String(maxSeq(evs));
    main.dataset.eventCount = String(evs.length);
    const chart = concessionChart(evs, me, view.rounds, reservation);
    if (chart) {
      chartSec.hidden = false;
      fill(chartSec, chartSec.firstChild, chart);
    }
  }

  function announceNew(prev) {
    if (!prev) return;
    if (prev.status !== 'ended' && view.status === 'ended') {
      const r = view.result;
      announce(r && r.agreement ? `The talks ended with an agreement, worth ${fmtU(r.my_utility)} to you.` : `The talks ended without agreement${r && r.reason ? ` (${r.reason})` : ''}.`);
      return;
    }
    if (view.pending && !principal && JSON.stringify(view.pending) !== JSON.stringify(prev.pending)) {
      const p = view.pending;
      const msg = p.kind === 'act' ? (p.standing ? `Your turn. The standing offer is worth ${fmtU(p.standing_utility)} to you.` : 'Your turn: make an offer.')
        : p.kind === 'propose' ? 'Your turn: send the mediator a proposal or pass.'
          : p.kind === 'vote' ? 'Your turn: accept or reject the mediator\'s text.' : 'Your turn.';
      announce(msg);
    } else if (view.ratification && view.ratification.status === 'pending' && !(prev.ratification && prev.ratification.status === 'pending')) {
      announce(principal ? 'Your confirmation is needed.' : 'Your acceptance waits for your principal.');
    }
  }

  function updateTitle() {
    const yourTurn = !principal && view.pending && view.status === 'running';
    const needsYou = principal && view.ratification && view.ratification.status === 'pending';
    document.title = `${yourTurn || needsYou ? '● Your turn — ' : ''}${me}${principal ? ' (principal)' : ''} — ${(view.scenario && view.scenario.name) || 'parley'}`;
  }

  let builderInit = false;
  return {
    update(v, prev) {
      view = v;
      if (v.role && typeof v.role.reservation_now === 'number') reservation = v.role.reservation_now;
      main.dataset.status = v.status;
      bar.update(v);
      result.update(v, issues, { reservation });
      renderJoin();
      renderPreferences();
      renderRatification();
      renderRequest();
      renderHistory();
      renderAbout();
      if (!principal) renderMessageTargets();
      // The draft starts at one's own best package, once one's preferences are known.
      if (!builderInit && !principal && (v.status !== 'waiting' || !(v.role && v.role.sets_own_preferences))) {
        builderInit = true;
        const best = view.role && view.role.best_outcome ? labelsOf(view.role.best_outcome, issues) : null;
        builder.set(lastOwnOffer() || best || standingLabels() || builder.read());
      }
      builder.setDisabled(v.status === 'ended');
      // Once the talks are over the result says it all: no request, no draft.
      reqSec.hidden = v.status === 'ended';
      // Nothing to draft before one's own preferences are known.
      builderSec.hidden = v.status === 'ended' || (v.status === 'waiting' && !!(v.role && v.role.sets_own_preferences));
      grid.classList.toggle('ended', v.status === 'ended');
      announceNew(prev);
      updateTitle();
      if (prev && prev.status !== 'ended' && v.status === 'ended') result.focus({ preventScroll: false });
    },
    fatal(msg) { reqErr.show(msg); },
  };
}

// ---------------------------------------------------------------------------
// the mediator's room
// ---------------------------------------------------------------------------

function mediatorUI(main, id, token, firstView, refresh) {
  const base = `/api/sessions/${encodeURIComponent(id)}`;
  const issues = (firstView.scenario && firstView.scenario.issues) || [];
  const parties = (firstView.roles || []).map((r) => r.name).filter((n) => n !== 'mediator');
  let view = firstView;
  document.title = `mediator — ${(firstView.scenario && firstView.scenario.name) || 'parley'}`;

  const bar = statusBar();
  const result = resultSection();
  const joinSec = h('section', { class: 'card join', testid: 'join-panel', hidden: true });
  const posSec = h('section', { class: 'card positions', testid: 'positions', 'aria-labelledby': 'pos-h' });
  const confSec = h('section', { class: 'card', testid: 'confided', 'aria-labelledby': 'conf-h' });
  const planeSec = h('section', { class: 'card', testid: 'mediator-plane', 'aria-labelledby': 'plane-h' });
  const textErr = errorBox('text-error');
  // What the draft is worth to the parties that confided, and whether it crosses a red
  // line (the mediator is told every red line): evaluated as it changes.
  const draftInfo = h('p', { class: 'help', testid: 'text-draft-utilities', 'aria-live': 'polite' });
  let draftSeq = 0;
  // Where the draft lies on the plane (when every party confided).
  let draftAt = null;
  const evaluateText = (labels) => {
    draftSeq += 1;
    const mySeq = draftSeq;
    api('POST', `${base}/evaluate`, { token, body: { outcome: objectOf(labels, issues) } })
      .then(({ data }) => {
        if (mySeq !== draftSeq) return;
        const us = Object.entries(data.utilities || {}).map(([p, u]) => `${p} ${fmtU(u)}`);
        const parts = [us.length ? `Worth to the parties that confided: ${us.join(', ')}.` : 'No party confided: the draft\'s worth to them is unknown.'];
        if (data.crosses_red_line_on) parts.push(`It crosses a party's red line on ${data.crosses_red_line_on}: it cannot be put.`);
        draftInfo.textContent = parts.join(' ');
        draftAt = (view.plane && Array.isArray(view.plane.parties)) ? view.plane.parties.map((p) => (data.utilities || {})[p]) : null;
        renderConfided();
      })
      .catch(() => {});
  };
  const builder = outcomeBuilder(issues, { idPrefix: 'text', onChange: evaluateText });
  const sendText = h('button', { type: 'button', class: 'primary', testid: 'send-text' }, 'Send this text');
  const fillBtns = h('div', { class: 'actions', testid: 'fill-from' });
  const textState = h('p', { class: 'help', testid: 'text-request' });
  const textSec = h('section', { class: 'card builder', testid: 'text-builder', 'aria-labelledby': 'text-h' },
    h('h2', { id: 'text-h' }, 'Draft text'), textState, builder, draftInfo, fillBtns, h('div', { class: 'actions send' }, sendText), textErr);
  const progErr = errorBox('progress-error');
  const slider = h('input', { type: 'range', id: 'progress', min: 0, max: 1, step: 0.05, value: '0', testid: 'progress' });
  const progOut = h('output', { for: 'progress', testid: 'progress-value' }, '0.00');
  const moveDirect = h('button', { type: 'button', class: 'secondary', testid: 'move-direct' }, 'Send this text and move to direct talks');
  const progSec = h('section', { class: 'card', testid: 'progress-panel', 'aria-labelledby': 'prog-h' },
    h('h2', { id: 'prog-h' }, 'Progress'),
    h('p', { class: 'help', id: 'progress-help' }, 'Your measure of how close the sides are, from 0 (far apart) to 1. It is reported with each text you send; staged talks move to direct offers when it reaches the threshold. Sending a text with progress 1 moves them now.'),
    h('div', { class: 'field range-field' }, h('label', { for: 'progress' }, 'Progress to report with the next text'), slider, progOut),
    h('div', { class: 'actions' }, moveDirect), progErr);
  slider.setAttribute('aria-describedby', 'progress-help');
  const histList = h('ol', { class: 'history', testid: 'history', reversed: true, tabindex: '0', 'aria-label': 'Events, newest first' });
  const histSec = h('section', { class: 'card', 'aria-labelledby': 'hist-h' }, h('h2', { id: 'hist-h' }, 'History ', h('span', { class: 'muted small' }, '(newest first)')), histList);
  const renderedSeqs = new Set();

  slider.addEventListener('input', () => { progOut.textContent = Number(slider.value).toFixed(2); });
  const act = (body, buttons, err) => guarded(buttons, err, async () => {
    await api('POST', `${base}/actions`, { token, body });
    await refresh();
  }).finally(() => applyControls());
  // Progress travels with a text (`{"type": "text", "outcome": …, "progress": p}`), as the server implements it.
  const reportsProgress = () => view.protocol === 'staged' && view.phase !== 'direct';
  const textBody = (progress) => {
    const body = { type: 'text', outcome: objectOf(builder.read(), issues) };
    if (progress !== undefined) body.progress = progress;
    return body;
  };
  sendText.addEventListener('click', () => act(textBody(reportsProgress() ? Number(slider.value) : undefined), [sendText, moveDirect], textErr));
  moveDirect.addEventListener('click', () => act(textBody(1.0), [sendText, moveDirect], progErr).then(() => announce('Text sent; asked to move to direct talks.')));

  fill(main, 
    h('h1', {}, (firstView.scenario && firstView.scenario.name) || 'Negotiation', ' ', h('span', { class: 'h1-sub' }, '— you are the mediator')),
    bar, result, joinSec,
    h('div', { class: 'room-grid' },
      h('div', { class: 'col-main' }, posSec, textSec, firstView.protocol === 'staged' ? progSec : null),
      h('div', { class: 'col-side' }, confSec, planeSec, histSec)));

  function latestPositions() {
    const latest = {};
    for (const e of view.events || []) {
      const from = e.from ?? e.by;
      if ((e.type === 'proposal' || e.type === 'offer') && parties.includes(from) && e.outcome) latest[from] = { outcome: labelsOf(e.outcome, issues), round: e.round, type: e.type };
    }
    return latest;
  }

  function renderPositions() {
    const latest = latestPositions();
    const cols = parties;
    const table = h('table', { class: 'pos-table', testid: 'positions-table' },
      h('caption', { class: 'visually-hidden' }, 'Latest position of each party, issue by issue'),
      h('thead', {}, h('tr', {}, h('th', { scope: 'col' }, 'Issue'), cols.map((p) => h('th', { scope: 'col' }, p, latest[p] ? h('span', { class: 'muted small' }, ` (R${latest[p].round + ROUND_BASE})`) : '')))),
      h('tbody', {}, issues.map((is, i) => {
        const vals = cols.map((p) => (latest[p] ? latest[p].outcome[i] : null));
        const differ = new Set(vals.filter((v) => v !== null)).size > 1;
        return h('tr', { class: differ ? 'differ' : 'agree' }, h('th', { scope: 'row' }, is.name, differ ? h('span', { class: 'visually-hidden' }, ' (positions differ)') : ''),
          vals.map((v) => h('td', {}, v === null ? h('span', { class: 'muted' }, '—') : v)));
      })));
    fill(posSec, h('h2', { id: 'pos-h' }, "Each side's latest position"),
      Object.keys(latest).length ? h('div', { class: 'table-wrap', tabindex: '0', role: 'region', 'aria-label': 'Table (scrolls sideways)' }, table) : h('p', { class: 'muted' }, 'No proposals yet.'),
      h('p', { class: 'help' }, 'Highlighted rows are issues where the positions differ.'));
    fill(fillBtns, ...cols.filter((p) => latest[p]).map((p) => {
      const b = h('button', { type: 'button', class: 'secondary', 'data-party': p }, `Start from ${p}'s position`);
      b.addEventListener('click', () => builder.set(latest[p].outcome));
      return b;
    }));
  }

  function renderConfided() {
    const list = Array.isArray(view.role && view.role.confided) ? view.role.confided : Array.isArray(view.confided) ? view.confided : null;
    const fromView = list ? list.map((c) => (typeof c === 'string' ? c : c.party)) : null;
    const fromEvents = (view.events || []).filter((e) => e.type === 'confide').map((e) => e.by ?? e.from);
    const confided = new Set(fromView || fromEvents);
    fill(confSec, h('h2', { id: 'conf-h' }, 'Confided preferences'),
      h('ul', { class: 'plain' }, parties.map((p) => h('li', { 'data-party': p, 'data-confided': confided.has(p) ? 'yes' : 'no' },
        h('span', { class: `dot ${confided.has(p) ? 'yes' : 'no'}`, 'aria-hidden': 'true' }), `${p}: `, confided.has(p) ? 'confided its preferences to you' : 'did not confide')))); 
    const plane = view.plane;
    if (plane && Array.isArray(plane.parties) && plane.parties.length >= 2) {
      fill(planeSec, h('h2', { id: 'plane-h' }, 'Utility plane (confided)'),
        planePlot({
          parties: plane.parties, points: plane.points, frontier: plane.frontier, nash: plane.nash, ks: plane.kalai_smorodinsky, reserved: plane.reserved, testid: 'plane-plot',
          // Proposals and texts so far (the latest darker), and the draft being written.
          trail: [...(plane.moves || []).map((m) => ({ at: m.at, cls: m.type === 'text' || m.type === 'carry' ? 'text' : 'proposal', title: `${m.type}${m.from ? ` from ${m.from}` : ''}: ${m.at.map(fmtU).join(', ')}` })),
            ...(draftAt && draftAt.every((u) => typeof u === 'number') ? [{ at: draftAt, cls: 'draft', title: `your draft: ${draftAt.map(fmtU).join(', ')}` }] : [])],
        }),
        plotLegend([Array.isArray(plane.points) && plane.points.length && ['pt', 'possible outcomes'], plane.frontier && ['fpt', 'Pareto frontier'], plane.nash && ['nash', 'Nash point'],
          plane.kalai_smorodinsky && ['ks', 'Kalai–Smorodinsky'], plane.reserved && ['reserve', 'reservation values'],
          (plane.moves || []).length && ['trail-proposal', 'proposals'], (plane.moves || []).length && ['trail-text', 'texts put'], draftAt && ['trail-draft', 'your draft']]));
    } else {
      fill(planeSec, h('h2', { id: 'plane-h' }, 'Utility plane'),
        h('p', { class: 'muted', testid: 'no-plane' }, confided.size >= 2 ? 'No plot available yet.' : 'The parties did not confide their preferences (or not all of them did), so there is no utility plane to show.'));
    }
  }

  let joinKey = null;
  function renderJoin() {
    const mine = (view.roles || []).find((r) => r.name === 'mediator');
    const joined = !!(mine && mine.joined);
    const key = JSON.stringify([view.status, joined]);
    if (key === joinKey) return;
    joinKey = key;
    if (view.status !== 'waiting') { joinSec.hidden = true; return; }
    joinSec.hidden = false;
    if (joined) { fill(joinSec, h('h2', {}, 'You have joined'), h('p', {}, 'The talks start when every seat has joined.')); return; }
    const err = errorBox('join-error');
    const joinBtn = h('button', { type: 'button', class: 'primary', testid: 'join' }, 'Join as mediator');
    joinBtn.addEventListener('click', () => guarded(joinBtn, err, async () => { await api('POST', `${base}/join`, { token, body: {} }); await refresh(); }));
    fill(joinSec, h('h2', {}, 'Join the talks'), h('p', {}, 'The talks start when every seat has joined.'), h('div', { class: 'actions' }, joinBtn), err);
  }

  function renderHistory() {
    const evs = view.events || [];
    for (let i = 0; i < evs.length; i += 1) {
      const e = evs[i];
      const key = e.seq ?? `i${i}`;
      if (renderedSeqs.has(key)) continue;
      renderedSeqs.add(key);
      histList.prepend(historyItem(e, { me: 'mediator', issues, roundBase: ROUND_BASE }));
    }
    main.dataset.lastSeq = String(maxSeq(evs));
    main.dataset.eventCount = String(evs.length);
  }

  function applyControls() {
    const v = view;
    const canText = !!(v.pending && v.pending.kind === 'text' && v.status === 'running');
    sendText.disabled = !canText;
    textSec.classList.toggle('inactive', !canText);
    textState.textContent = v.status === 'ended' ? 'The talks are over.' : canText ? 'Your turn: put a text to the parties.' : 'Waiting for the parties; you can prepare the next text.';
    const stagedIndirect = v.protocol === 'staged' && v.phase !== 'direct';
    moveDirect.disabled = !(stagedIndirect && canText);
    slider.disabled = !(stagedIndirect && v.status !== 'ended');
    builder.setDisabled(v.status === 'ended');
    textSec.hidden = v.status === 'ended';
    progSec.hidden = v.status === 'ended';
    return canText;
  }

  return {
    update(v, prev) {
      view = v;
      main.dataset.status = v.status;
      const kind = v.pending ? v.pending.kind : 'none';
      main.dataset.pendingKind = kind;
      bar.update(v);
      result.update(v, issues);
      renderJoin();
      renderPositions();
      renderConfided();
      renderHistory();
      const canText = applyControls();
      if (canText && !(prev && prev.pending && prev.pending.kind === 'text')) announce('Your turn: put a text to the parties.');
      if (prev && prev.status !== 'ended' && v.status === 'ended') announce('The talks are over.');
      document.title = `${canText ? '● Your turn — ' : ''}mediator — ${(v.scenario && v.scenario.name) || 'parley'}`;
    },
    fatal(msg) { textErr.show(msg); },
  };
}

// ---------------------------------------------------------------------------
// owner / auditor view
// ---------------------------------------------------------------------------

async function ownerPage(main, id) {
  const token = takeToken();
  if (!token) { noToken(main, 'owner view'); return; }
  fill(main, h('p', { class: 'loading' }, 'Opening the session…'));
  let view = null;
  let ui = null;
  const live = liveView(id, token, {
    onView: (v) => {
      if (!v || typeof v !== 'object') return;
      if (view && olderThan(v, view)) return;
      if (!ui) {
        const kind = v.role && v.role.kind;
        ui = kind === 'owner' || kind === 'auditor' || !kind ? ownerUI(main, id, token, v)
          : kind === 'mediator' ? mediatorUI(main, id, token, v, () => live.refresh())
            : partyUI(main, id, token, v, () => live.refresh());
      }
      const prev = view;
      view = v;
      ui.update(v, prev);
    },
    onFatal: (msg) => { if (!ui) fatal(main, msg); },
  });
}

function ownerUI(main, id, token, firstView) {
  const base = `/api/sessions/${encodeURIComponent(id)}`;
  const issues = (firstView.scenario && firstView.scenario.issues) || [];
  const auditor = firstView.role && firstView.role.kind === 'auditor';
  // The full log holds every private move: the owner reads it only when it sees all.
  const fullLog = auditor || firstView.owner_sees === 'all';
  let view = firstView;
  document.title = `${auditor ? 'Audit' : 'Owner'} — ${(firstView.scenario && firstView.scenario.name) || 'parley'}`;

  const bar = statusBar();
  const result = resultSection();
  const seatsSec = h('section', { class: 'card', 'aria-labelledby': 'seats-h' });
  const anaSec = h('section', { class: 'card analysis', testid: 'analysis', hidden: true, 'aria-labelledby': 'ana-h' });
  const evTableBody = h('tbody', {});
  const evSec = h('section', { class: 'card', 'aria-labelledby': 'ev-h' },
    h('h2', { id: 'ev-h' }, 'Events'),
    h('p', { class: 'help', testid: 'owner-sees-note' }, {
      all: 'Every event of the talks, as the engine recorded it, private moves included.',
      confided: 'The public record and what the parties told the mediator (this session\'s setting); their other moves stay private.',
    }[firstView.owner_sees] || 'The public record of the talks (this session\'s setting): what the parties tell the mediator stays private.'),
    h('div', { class: 'table-wrap', tabindex: '0', role: 'region', 'aria-label': 'Table (scrolls sideways)' }, h('table', { class: 'data-table', testid: 'events-table' },
      h('thead', {}, h('tr', {}, ['seq', 'round', 'event', 'outcome'].map((c) => h('th', { scope: 'col' }, c)))),
      evTableBody)));
  const traceErr = errorBox('trace-error');
  const chain = h('p', { class: 'chain', testid: 'chain-ok' }, 'Checking the hash chain…');
  const traceBody = h('tbody', {});
  const traceSec = h('section', { class: 'card', 'aria-labelledby': 'trace-h', hidden: !fullLog },
    h('h2', { id: 'trace-h' }, 'Audit log'),
    h('p', { class: 'help' }, 'Every record of the session log with its hash chain: hash = SHA-256(previous hash ‖ seq ‖ kind ‖ body ‖ at), each record sealed with the server\'s key.'),
    chain, traceErr,
    h('div', { class: 'table-wrap', tabindex: '0', role: 'region', 'aria-label': 'Table (scrolls sideways)' }, h('table', { class: 'data-table trace', testid: 'trace-table' },
      h('thead', {}, h('tr', {}, ['seq', 'kind', 'at', 'body', 'previous hash', 'hash'].map((c) => h('th', { scope: 'col' }, c)))),
      traceBody)));

  // -- the owner's controls: export what it sees; cancel talks not over ------------
  const ctlErr = errorBox('owner-error');
  const download = (name, type, text) => {
    const url = URL.createObjectURL(new Blob([text], { type }));
    const a = h('a', { href: url, download: name, hidden: true });
    document.body.append(a);
    a.click();
    setTimeout(() => { URL.revokeObjectURL(url); a.remove(); }, 1000);
  };
  const csvCell = (x) => { const t = x === undefined || x === null ? '' : String(x); return /[",\n]/.test(t) ? `"${t.replace(/"/g, '""')}"` : t; };
  const exportJson = h('button', { type: 'button', class: 'secondary', testid: 'export-json' }, 'Download the record (JSON)');
  const exportCsv = h('button', { type: 'button', class: 'secondary', testid: 'export-csv' }, 'Download the events (CSV)');
  const exportSvg = h('button', { type: 'button', class: 'secondary', testid: 'export-svg', hidden: true }, 'Download the plot (SVG)');
  exportJson.addEventListener('click', () => guarded(exportJson, ctlErr, async () => {
    // Everything this owner may see: its view (events, result, analysis), and the
    // full log with its hash chain when the session shows it everything.
    const { data } = await api('GET', base, { token });
    const record = { exported_at: new Date().toISOString(), view: data };
    if (fullLog) record.trace = (await api('GET', `${base}/trace`, { token })).data;
    download(`${id}.json`, 'application/json', `${JSON.stringify(record, null, 2)}\n`);
  }));
  exportCsv.addEventListener('click', () => {
    const cols = ['seq', 'round', 'time', 'type', 'from', ...issues.map((is) => is.name), 'accept', 'reason'];
    const rows = (view.events || []).map((e) => {
      const labels = labelsOf(eventOutcome(e), issues) || [];
      return [e.seq, e.round, e.time, e.type, e.from ?? e.by ?? e.role ?? '', ...issues.map((_, i) => labels[i] ?? ''), e.accept ?? '', e.reason ?? ''];
    });
    download(`${id}-events.csv`, 'text/csv', `${[cols, ...rows].map((r) => r.map(csvCell).join(',')).join('\n')}\n`);
  });
  exportSvg.addEventListener('click', () => {
    const svg = anaSec.querySelector('svg[data-testid="plane-plot"]');
    if (!svg) return;
    const copy = svg.cloneNode(true);
    copy.setAttribute('xmlns', SVG_NS);
    download(`${id}-plot.svg`, 'image/svg+xml', `<?xml version="1.0" encoding="UTF-8"?>\n${copy.outerHTML}\n`);
  });
  const cancelBtn = h('button', { type: 'button', class: 'danger', testid: 'cancel-session', 'aria-expanded': 'false' }, 'Cancel the session…');
  const cancelYes = h('button', { type: 'button', class: 'danger', testid: 'cancel-confirm' }, 'Yes, cancel it');
  const cancelNo = h('button', { type: 'button', class: 'secondary', testid: 'cancel-keep' }, 'Keep it going');
  const cancelBox = h('div', { class: 'confirm', hidden: true },
    h('p', {}, 'End the talks now, with no deal? Every party gets what walking away is worth to it; the cancellation is logged and cannot be undone.'),
    h('div', { class: 'actions' }, cancelYes, cancelNo));
  cancelBtn.addEventListener('click', () => { cancelBox.hidden = false; cancelBtn.setAttribute('aria-expanded', 'true'); cancelNo.focus(); });
  cancelNo.addEventListener('click', () => { cancelBox.hidden = true; cancelBtn.setAttribute('aria-expanded', 'false'); cancelBtn.focus(); });
  cancelYes.addEventListener('click', () => guarded([cancelYes, cancelNo], ctlErr, async () => {
    await api('POST', `${base}/cancel`, { token });
    cancelBox.hidden = true;
    announce('The session is cancelled.');
  }));
  const ctlSec = h('section', { class: 'card owner-controls', testid: 'owner-controls', 'aria-labelledby': 'ctl-h' },
    h('h2', { id: 'ctl-h' }, 'Record and controls'),
    h('p', { class: 'help' }, 'Keep this page\'s address: it is your owner link, valid for a year, longer than the seats\' links. The exports hold what you see here.'),
    h('div', { class: 'actions' }, exportJson, exportCsv, exportSvg),
    auditor ? null : h('div', { class: 'walk' }, h('div', { class: 'actions' }, cancelBtn), cancelBox),
    ctlErr);

  fill(main, 
    h('h1', {}, (firstView.scenario && firstView.scenario.name) || 'Negotiation', ' ', h('span', { class: 'h1-sub' }, auditor ? '— audit view (read-only)' : '— owner view')),
    bar, result, ctlSec, anaSec, seatsSec, evSec, traceSec);

  const renderedSeqs = new Set();
  function renderEvents() {
    const evs = view.events || [];
    for (let i = 0; i < evs.length; i += 1) {
      const e = evs[i];
      const key = e.seq ?? `i${i}`;
      if (renderedSeqs.has(key)) continue;
      renderedSeqs.add(key);
      const outcome = eventOutcome(e);
      const labels = outcome ? labelsOf(outcome, issues) : null;
      evTableBody.append(h('tr', { 'data-type': e.type },
        h('td', {}, typeof e.seq === 'number' ? String(e.seq) : '—'),
        h('td', {}, e.round === undefined ? '' : String(e.round + ROUND_BASE)),
        h('td', {}, describeEvent(e, null)),
        h('td', { class: 'outcome-cell' }, labels ? labels.join(' · ') : '',
          Array.isArray(e.utilities) ? h('span', { class: 'muted' }, ` (utilities ${e.utilities.map(fmtU).join(' / ')})`) : null)));
    }
  }

  // The latest re-issued link, kept across the seats table's redraws.
  const reissued = h('div', { class: 'reissued', 'aria-live': 'polite', testid: 'reissued' });
  let seatsKey = null;
  function renderSeats() {
    const key = JSON.stringify([view.roles, view.status]);
    if (key === seatsKey) return;
    seatsKey = key;
    // A new link for a seat (or its principal): the old one stops working at once.
    const reissueBtn = (r, principal) => {
      const b = h('button', { type: 'button', class: 'secondary small', testid: `reissue-${r.name}${principal ? '-principal' : ''}` }, principal ? 'New principal link' : 'New link');
      b.addEventListener('click', () => guarded(b, ctlErr, async () => {
        const { data } = await api('POST', `${base}/reissue`, { token, body: { role: r.name, principal } });
        const url = new URL(data.link, location.origin).href;
        const input = h('input', { type: 'text', readOnly: true, value: url, class: 'link-input', testid: `new-link-${r.name}${principal ? '-principal' : ''}`, 'aria-label': `New link for ${r.name}${principal ? ' (principal)' : ''}` });
        input.addEventListener('focus', () => input.select());
        fill(reissued, h('p', {}, `New link for ${r.name}${principal ? '\'s principal' : ''} (the old one no longer works; this is shown once):`), input);
        announce(`A new link for ${r.name} is shown.`);
      }));
      return b;
    };
    fill(seatsSec, h('h2', { id: 'seats-h' }, 'Seats'),
      h('div', { class: 'table-wrap', tabindex: '0', role: 'region', 'aria-label': 'Table (scrolls sideways)' }, h('table', { class: 'data-table', testid: 'seats-table' },
        h('thead', {}, h('tr', {}, h('th', { scope: 'col' }, 'role'), h('th', { scope: 'col' }, 'played by'), h('th', { scope: 'col' }, 'joined'), auditor ? null : h('th', { scope: 'col' }, 'links'))),
        h('tbody', {}, (view.roles || []).map((r) => h('tr', { 'data-role': r.name },
          h('th', { scope: 'row' }, r.name),
          h('td', {}, heldByText(r)),
          h('td', {}, r.held_by === 'agent' ? '—' : r.joined ? 'yes' : 'not yet',
            r.preferences_set === false ? ' (preferences not set)' : ''),
          auditor ? null : h('td', {}, r.held_by === 'agent' ? '—' : [reissueBtn(r, false), r.delegate ? reissueBtn(r, true) : null])))))),
      reissued,
      h('p', { class: 'muted' }, `${view.protocol}, ${view.rounds} rounds`));
  }

  let traceBusy = false;
  let traceAgain = false;
  let lastTraceLen = -1;
  async function loadTrace() {
    if (traceBusy) { traceAgain = true; return; }
    traceBusy = true;
    try {
      const { data } = await api('GET', `${base}/trace`, { token });
      const records = Array.isArray(data) ? data : (data.records || data.trace || []);
      const ok = Array.isArray(data) ? undefined : data.chain_ok;
      chain.textContent = ok === true ? `Hash chain verified: ${records.length} records.` : ok === false ? 'The hash chain does NOT verify.' : `${records.length} records.`;
      chain.dataset.ok = String(ok);
      chain.className = `chain ${ok === true ? 'ok' : ok === false ? 'bad' : ''}`;
      if (records.length !== lastTraceLen) {
        lastTraceLen = records.length;
        fill(traceBody, ...records.map((r) => {
          const body = typeof r.body === 'string' ? r.body : JSON.stringify(r.body);
          const short = body && body.length > 90 ? `${body.slice(0, 90)}…` : body;
          return h('tr', { 'data-kind': r.kind },
            h('td', { class: 'nowrap' }, String(r.seq)), h('td', { class: 'nowrap' }, String(r.kind)), h('td', { class: 'nowrap' }, r.at ? String(r.at) : ''),
            h('td', { class: 'body-cell' }, body && body.length > 90 ? h('details', {}, h('summary', {}, short), h('pre', {}, body)) : (body || '')),
            h('td', { class: 'hash', title: r.prev_hash || '' }, r.prev_hash ? `${r.prev_hash.slice(0, 10)}…` : ''),
            h('td', { class: 'hash', title: r.hash || '' }, r.hash ? `${r.hash.slice(0, 10)}…` : ''));
        }));
      }
      traceErr.clear();
    } catch (e) {
      traceErr.show(`Could not load the audit log: ${e.message}`);
    } finally {
      traceBusy = false;
      if (traceAgain) { traceAgain = false; setTimeout(loadTrace, 500); }
    }
  }

  let anaKey = null;
  function renderAnalysis() {
    let a = view.analysis;
    if (!a) { anaSec.hidden = true; return; }
    const key = JSON.stringify([a, view.result]);
    if (key === anaKey) return;
    anaKey = key;
    anaSec.hidden = false;
    if (a.pending) {
      fill(anaSec, h('h2', { id: 'ana-h' }, 'Closing analysis'), h('p', { class: 'muted', testid: 'analysis-pending' }, 'Computing the frontier, Nash and Kalai–Smorodinsky points…'));
      return;
    }
    if (a.error) {
      fill(anaSec, h('h2', { id: 'ana-h' }, 'Closing analysis'), h('p', { class: 'error', testid: 'analysis-error' }, `The analysis failed: ${a.error}`));
      return;
    }
    const parties = a.parties || [];
    const two = parties.length >= 2;
    // The agreement's utilities: from the analysis, else from the owner's result.
    const agreementU = a.agreement_utilities || (view.result && view.result.agreement && Array.isArray(view.result.utilities) ? view.result.utilities : null);
    a = { ...a, agreement_utilities: agreementU };
    const row = (label, vals) => h('tr', {}, h('th', { scope: 'row' }, label), parties.map((_, i) => h('td', { class: 'num' }, vals ? fmtU(vals[i]) : '—')));
    fill(anaSec, 
      h('h2', { id: 'ana-h' }, 'Closing analysis'),
      h('p', { class: 'help' }, 'Where the outcome lies against what was possible: the Pareto frontier, the Nash bargaining solution and the Kalai–Smorodinsky solution, computed from every party\'s preferences now that the talks are over.'),
      h('div', { class: 'analysis-grid' },
        two ? h('figure', { class: 'plot-figure' },
          planePlot({ parties: parties.slice(0, 2), frontier: a.frontier, points: a.points, nash: a.nash, ks: a.kalai_smorodinsky, agreement: a.agreement_utilities, reserved: a.reserved, testid: 'plane-plot', label: `Utility plane: ${parties[0]} against ${parties[1]}, with the Pareto frontier, Nash and Kalai–Smorodinsky points and the agreement` }),
          h('figcaption', {}, plotLegend([
            ['fpt', 'Pareto frontier'], a.nash && ['nash', 'Nash'], a.kalai_smorodinsky && ['ks', 'Kalai–Smorodinsky'],
            a.agreement_utilities && ['agreement', 'agreement'], a.reserved && ['reserve', 'reservation values']]),
          parties.length > 2 ? h('p', { class: 'help' }, `The plot shows the first two of ${parties.length} parties.`) : null)) : null,
        h('div', { class: 'table-wrap', tabindex: '0', role: 'region', 'aria-label': 'Table (scrolls sideways)' }, h('table', { class: 'data-table', testid: 'analysis-table' },
          h('caption', {}, 'Utilities by party'),
          h('thead', {}, h('tr', {}, h('th', { scope: 'col' }, ''), parties.map((p) => h('th', { scope: 'col' }, p)))),
          h('tbody', {},
            row('agreement', a.agreement_utilities),
            row('reservation', a.reserved),
            row('Nash', a.nash),
            row('Kalai–Smorodinsky', a.kalai_smorodinsky))),
          h('p', { class: 'muted' }, `Pareto frontier: ${(a.frontier || []).length} points.`,
            typeof a.nash_distance === 'number' ? ` Distance to Nash: ${fmtU(a.nash_distance)}.` : '',
            typeof a.pareto_distance === 'number' ? ` Distance to the frontier: ${fmtU(a.pareto_distance)}.` : ''))));
  }

  return {
    update(v, prev) {
      view = v;
      main.dataset.status = v.status;
      bar.update(v);
      result.update(v, issues);
      renderSeats();
      renderEvents();
      renderAnalysis();
      cancelBtn.hidden = v.status === 'ended' || v.status === 'failed';
      if (cancelBtn.hidden) cancelBox.hidden = true;
      exportSvg.hidden = !anaSec.querySelector('svg[data-testid="plane-plot"]');
      const n = (v.events || []).length;
      if (fullLog && (!prev || n !== (prev.events || []).length || v.status !== prev.status)) loadTrace();
      main.dataset.lastSeq = String(maxSeq(v.events));
    },
  };
}

// ---------------------------------------------------------------------------
// routing
// ---------------------------------------------------------------------------

function start() {
  const main = document.getElementById('main');
  const path = location.pathname;
  let m = /^\/room\/([^/]+)\/?$/.exec(path);
  if (m) { room(main, decodeURIComponent(m[1])); return; }
  m = /^\/owner\/([^/]+)\/?$/.exec(path);
  if (m) { ownerPage(main, decodeURIComponent(m[1])); return; }
  lobby(main);
}

if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', start);
else start();
