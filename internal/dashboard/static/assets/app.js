// meterd dashboard: a small single-page app over the admin API. No
// framework and no dependency: DOM built with h(), charts drawn as SVG by
// barChart(). Every request carries the admin token, kept in sessionStorage.
'use strict';

(() => {
  const API = '/admin/v1';
  const TOKEN_KEY = 'meterd.adminToken';
  const SVG_NS = 'http://www.w3.org/2000/svg';
  const GROUPS = [
    ['product', 'product_code', 'Product'],
    ['customer', 'customer', 'Customer'],
    ['license', 'license_arn', 'License'],
    ['dimension', 'dimension', 'Dimension'],
    ['tag', 'tag', 'Tag'],
  ];
  const OPERATIONS = ['MeterUsage', 'BatchMeterUsage', 'RegisterUsage', 'ResolveCustomer', 'GetEntitlements'];
  const ERROR_CODES = [
    'CustomerNotEntitledException', 'DuplicateRequestException', 'InvalidProductCodeException',
    'InvalidUsageDimensionException', 'InvalidCustomerIdentifierException', 'TimestampOutOfBoundsException',
    'InvalidEndpointRegionException', 'InvalidTagException', 'InvalidUsageAllocationsException',
    'ValidationException', 'UnrecognizedClientException', 'InvalidSignatureException',
    'InvalidTokenException', 'ThrottlingException', 'InternalServiceErrorException',
  ];
  const localTZ = Intl.DateTimeFormat().resolvedOptions().timeZone || 'UTC';

  // ---- DOM helpers -------------------------------------------------------

  const $ = (sel, root = document) => root.querySelector(sel);

  // h builds an element: h('td', {class: 'num'}, 'text', child…). Strings
  // become text nodes, never HTML.
  function h(tag, attrs, ...children) {
    const el = document.createElement(tag);
    setAttrs(el, attrs);
    append(el, children);
    return el;
  }
  function s(tag, attrs, ...children) {
    const el = document.createElementNS(SVG_NS, tag);
    setAttrs(el, attrs);
    append(el, children);
    return el;
  }
  function setAttrs(el, attrs) {
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v == null || v === false) continue;
      if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
      else if (k === 'text') el.textContent = v;
      else if (k === 'value' && 'value' in el) el.value = v;
      else if (k === 'checked') el.checked = !!v;
      else el.setAttribute(k, v === true ? '' : String(v));
    }
  }
  function append(el, children) {
    for (const c of children.flat(Infinity)) {
      if (c == null || c === false) continue;
      el.append(c instanceof Node ? c : document.createTextNode(String(c)));
    }
  }

  let idSeq = 0;
  const uid = (p) => `${p}-${++idSeq}`;

  // field is a labelled input, select or check box.
  function field(label, control) {
    if (!control.id) control.id = uid('f');
    return h('div', { class: 'field' }, h('label', { for: control.id }, label), control);
  }
  function select(name, options, value) {
    return h('select', { name }, options.map(([v, text]) => {
      const o = h('option', { value: v }, text);
      if (v === value) o.selected = true;
      return o;
    }));
  }
  function datalist(values) {
    const id = uid('dl');
    return [id, h('datalist', { id }, values.map((v) => h('option', { value: v })))];
  }

  function announce(text) {
    const el = $('#status');
    el.textContent = '';
    setTimeout(() => { el.textContent = text; }, 50);
  }

  // ---- formatting --------------------------------------------------------

  const nf = new Intl.NumberFormat(undefined, { maximumFractionDigits: 3 });
  const compact = new Intl.NumberFormat(undefined, { notation: 'compact', maximumFractionDigits: 1 });
  const pct = new Intl.NumberFormat(undefined, { style: 'percent', maximumFractionDigits: 1 });
  const num = (v) => nf.format(Number(v) || 0);

  // toMillis reads an instant: RFC 3339 text, or epoch seconds.
  function toMillis(v) {
    if (typeof v === 'number') return v < 1e12 ? v * 1000 : v;
    if (typeof v === 'string' && /^\d+(\.\d+)?$/.test(v)) return toMillis(Number(v));
    return Date.parse(v);
  }
  const fmtCache = new Map();
  function fmt(ms, tz, opts) {
    const key = tz + JSON.stringify(opts);
    let f = fmtCache.get(key);
    if (!f) {
      f = new Intl.DateTimeFormat(undefined, { timeZone: tz, ...opts });
      fmtCache.set(key, f);
    }
    return Number.isFinite(ms) ? f.format(new Date(ms)) : '—';
  }
  const fmtTime = (ms, tz = localTZ) => fmt(ms, tz, { month: 'short', day: 'numeric', hour: '2-digit', minute: '2-digit', second: '2-digit', hourCycle: 'h23' });
  const fmtClock = (ms, tz = localTZ) => fmt(ms, tz, { hour: '2-digit', minute: '2-digit', second: '2-digit', fractionalSecondDigits: 3, hourCycle: 'h23' });
  function fmtWindow(ms, window, tz) {
    if (window === 'month') return fmt(ms, tz, { year: 'numeric', month: 'short' });
    if (window === 'day') return fmt(ms, tz, { weekday: 'short', month: 'short', day: 'numeric' });
    return fmt(ms, tz, { month: 'short', day: 'numeric', hour: '2-digit', minute: '2-digit', hourCycle: 'h23' });
  }

  // Wall-clock times in an IANA time zone, for the datetime-local inputs
  // (which carry no zone) and the report windows.
  function wallParts(ms, tz) {
    const f = fmtCache.get('parts' + tz) || new Intl.DateTimeFormat('en-US', {
      timeZone: tz, hourCycle: 'h23', year: 'numeric', month: '2-digit', day: '2-digit',
      hour: '2-digit', minute: '2-digit', second: '2-digit',
    });
    fmtCache.set('parts' + tz, f);
    const p = {};
    for (const { type, value } of f.formatToParts(new Date(ms))) p[type] = Number(value);
    return { y: p.year, mo: p.month, d: p.day, h: p.hour % 24, mi: p.minute, s: p.second };
  }
  function tzOffset(ms, tz) {
    const p = wallParts(ms, tz);
    return Date.UTC(p.y, p.mo - 1, p.d, p.h, p.mi, p.s) - Math.floor(ms / 1000) * 1000;
  }
  // wallToMillis turns "2026-11-23T14:00" in tz into an instant.
  function wallToMillis(wall, tz) {
    const m = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})/.exec(wall || '');
    if (!m) return NaN;
    const guess = Date.UTC(+m[1], +m[2] - 1, +m[3], +m[4], +m[5]);
    let t = guess - tzOffset(guess, tz);
    const again = tzOffset(t, tz);
    if (again !== tzOffset(guess, tz)) t = guess - again;
    return t;
  }
  const pad = (n) => String(n).padStart(2, '0');
  function millisToWall(ms, tz) {
    const p = wallParts(ms, tz);
    return `${p.y}-${pad(p.mo)}-${pad(p.d)}T${pad(p.h)}:${pad(p.mi)}`;
  }
  function validTZ(tz) {
    try { new Intl.DateTimeFormat('en-US', { timeZone: tz }); return true; } catch { return false; }
  }
  const iso = (ms) => new Date(ms).toISOString().replace('.000Z', 'Z');

  // ---- the admin API -----------------------------------------------------

  const token = () => sessionStorage.getItem(TOKEN_KEY) || '';

  class APIError extends Error {
    constructor(status, code, message) {
      super(message);
      this.status = status;
      this.code = code;
    }
  }

  function apiURL(path, params) {
    const url = new URL(API + path, location.origin);
    for (const [k, v] of Object.entries(params || {})) {
      if (v !== '' && v != null) url.searchParams.set(k, v);
    }
    return url;
  }

  // api GETs an admin route with the token; it answers the decoded JSON,
  // or the Response itself with raw.
  async function api(path, params, { signal, raw, tokenOverride } = {}) {
    const resp = await fetch(apiURL(path, params), {
      headers: { Authorization: 'Bearer ' + (tokenOverride || token()), Accept: raw ? '*/*' : 'application/json' },
      cache: 'no-store',
      signal,
    });
    if (!resp.ok) {
      let code = '', message = `${resp.status} ${resp.statusText}`;
      try {
        const body = await resp.json();
        if (body && body.error) ({ code, message } = body.error);
      } catch { /* not JSON */ }
      if (resp.status === 401 && !tokenOverride) signOut('The admin token was refused. Enter it again.');
      if (resp.status === 404 && !code) message = `${path} is not served by this meterd.`;
      throw new APIError(resp.status, code, message);
    }
    return raw ? resp : resp.json();
  }

  const aborted = (err) => err && err.name === 'AbortError';

  function errorBox(err, what) {
    return h('p', { class: 'notice', role: 'alert' }, `Could not load ${what}: ${err.message || err}`);
  }

  let accountsCache = null;
  async function accountNames(signal) {
    if (!accountsCache) {
      accountsCache = api('/accounts', null, { signal }).then((list) => {
        const m = new Map();
        for (const a of list || []) m.set(a.id, a.name || '');
        return m;
      }).catch((err) => { accountsCache = null; throw err; });
    }
    return accountsCache;
  }
  function customerLabel(id, names) {
    const name = names && names.get(id);
    return name ? [h('span', { class: 'mono' }, id), ' ', h('span', { class: 'muted' }, `(${name})`)] : h('span', { class: 'mono' }, id || '—');
  }

  // usage reads a usage report; rows always come back as an array.
  async function usage(params, signal) {
    const out = await api('/reports/usage', params, { signal });
    return (out && out.rows) || [];
  }

  // auditEvents pages through LookupEvents-style results (50 a page, as
  // CloudTrail's) up to limit events.
  async function auditEvents(params, limit, signal) {
    const events = [];
    let next = '';
    let truncated = false;
    for (;;) {
      const out = await api('/audit/events', { ...params, max_results: 50, next_token: next }, { signal });
      events.push(...((out && out.Events) || []));
      next = out && out.NextToken;
      if (!next) break;
      if (events.length >= limit) { truncated = true; break; }
    }
    return { events, truncated };
  }

  // Data-plane calls come from the AWS service names; everything else
  // (the admin API, this dashboard's own requests) is "admin".
  const SOURCES = { metering: 'metering.marketplace.amazonaws.com', entitlement: 'entitlement.marketplace.amazonaws.com', admin: 'meterd-admin', all: '' };
  const DATA_SOURCES = [SOURCES.metering, SOURCES.entitlement];
  const isAdminEvent = (e) => !DATA_SOURCES.includes(e.eventSource);

  // ---- charts ------------------------------------------------------------

  function niceStep(max, ticks) {
    const raw = max / ticks;
    const mag = Math.pow(10, Math.floor(Math.log10(raw)));
    const n = raw / mag;
    return (n <= 1 ? 1 : n <= 2 ? 2 : n <= 2.5 ? 2.5 : n <= 5 ? 5 : 10) * mag;
  }

  // barChart draws stacked bars: labels along x, one value per label in
  // each series. It redraws itself to the width it is given.
  function barChart({ labels, series, label, height = 240, unit = '' }) {
    const box = h('div', { class: 'chart' });
    const legend = series.length > 1
      ? h('ul', { class: 'legend', 'aria-label': 'Legend' }, series.map((sr, i) =>
        h('li', null, h('span', { class: `swatch sw${sr.color ?? i}` }), sr.name)))
      : null;
    const totals = labels.map((_, i) => series.reduce((acc, sr) => acc + (sr.values[i] || 0), 0));
    const max = Math.max(0, ...totals);
    const draw = () => {
      const width = Math.max(280, Math.round(box.clientWidth || 800));
      const m = { top: 10, right: 8, bottom: 26, left: 48 };
      const iw = width - m.left - m.right, ih = height - m.top - m.bottom;
      const step = max > 0 ? niceStep(max, 4) : 1;
      const top = max > 0 ? Math.ceil(max / step) * step : 4;
      const y = (v) => m.top + ih - (v / top) * ih;
      const bw = iw / Math.max(1, labels.length);
      const svg = s('svg', {
        viewBox: `0 0 ${width} ${height}`, width, height, role: 'img',
        'aria-label': `${label}: ${labels.length} bars, highest ${num(max)}${unit}`,
      });
      const grid = s('g', { class: 'tick' });
      for (let v = 0; v <= top + step / 2; v += step) {
        grid.append(s('line', { class: 'gridline', x1: m.left, x2: width - m.right, y1: y(v), y2: y(v) }));
        grid.append(s('text', { x: m.left - 6, y: y(v) + 4, 'text-anchor': 'end' }, compact.format(v)));
      }
      svg.append(grid);
      const bars = s('g');
      labels.forEach((lab, i) => {
        let acc = 0;
        series.forEach((sr, si) => {
          const v = sr.values[i] || 0;
          if (v <= 0) return;
          const y0 = y(acc), y1 = y(acc + v);
          acc += v;
          const pad = Math.min(6, bw * 0.18);
          bars.append(s('rect', {
            class: `bar sw${sr.color ?? si}`, x: m.left + i * bw + pad / 2, y: y1,
            width: Math.max(1, bw - pad), height: Math.max(1, y0 - y1),
          }, s('title', null, `${lab}${series.length > 1 ? ' · ' + sr.name : ''}: ${num(v)}${unit}`)));
        });
      });
      svg.append(bars);
      svg.append(s('line', { class: 'baseline', x1: m.left, x2: width - m.right, y1: y(0), y2: y(0) }));
      const axis = s('g', { class: 'axis' });
      const every = Math.max(1, Math.ceil(labels.length / Math.max(1, Math.floor(iw / 86))));
      labels.forEach((lab, i) => {
        if (i % every) return;
        axis.append(s('text', { x: m.left + i * bw + bw / 2, y: height - 8, 'text-anchor': 'middle' }, lab));
      });
      svg.append(axis);
      box.replaceChildren(svg);
    };
    // Draw now at a guess of the width, so that the chart is there as soon
    // as it is attached; the observer redraws it at the real width.
    draw();
    let last = 0;
    new ResizeObserver(() => {
      const w = Math.round(box.clientWidth);
      if (w && w !== last) { last = w; draw(); }
    }).observe(box);
    return h('div', null, box, legend);
  }

  // meter is a small horizontal bar; its width is set through the CSSOM,
  // which the Content-Security-Policy allows (style attributes it does not).
  function meter(fraction, bad) {
    const fill = h('span', { class: `fill${bad ? ' err' : ''}` });
    fill.style.width = `${Math.round(Math.max(0, Math.min(1, fraction)) * 100)}%`;
    return h('span', { class: 'track', 'aria-hidden': 'true' }, fill);
  }

  function table(caption, columns, rows, { empty = 'Nothing to show.' } = {}) {
    if (!rows.length) return h('p', { class: 'empty' }, empty);
    return h('div', { class: 'table-wrap' }, h('table', null,
      caption ? h('caption', null, caption) : null,
      h('thead', null, h('tr', null, columns.map(([name, cls]) => h('th', { scope: 'col', class: cls }, name)))),
      h('tbody', null, rows)));
  }

  // ---- views -------------------------------------------------------------

  function pageHead(title, sub, ...actions) {
    return h('div', { class: 'page-head' },
      h('h1', null, title), sub ? h('span', { class: 'sub' }, sub) : null,
      actions.length ? h('div', { class: 'actions' }, actions) : null);
  }

  function panel(title, sub, ...body) {
    return h('section', { class: 'panel', 'aria-label': title },
      h('h2', null, title, sub ? h('span', { class: 'sub' }, sub) : null), body);
  }

  function stat(label, value, bad) {
    return h('div', { class: 'stat' }, h('div', { class: 'label' }, label),
      h('div', { class: `value${bad ? ' bad' : ''}`, 'data-stat': label }, value));
  }

  // overview: the last 24 hours at a glance.
  async function overview(root, params, signal) {
    const updated = h('span', { class: 'muted' });
    const refresh = h('button', { type: 'button', onclick: () => load() }, 'Refresh');
    const stats = h('div', { class: 'stats', id: 'stats' });
    const chartPanel = panel('Records per hour', `last 24 h · ${localTZ}`, h('p', { class: 'muted' }, 'Loading…'));
    chartPanel.id = 'records-per-hour';
    const topPanel = panel('Top customers', 'last 24 h', h('p', { class: 'muted' }, 'Loading…'));
    topPanel.id = 'top-customers';
    const errPanel = panel('Error rates', 'API calls, last 24 h', h('p', { class: 'muted' }, 'Loading…'));
    errPanel.id = 'error-rates';
    root.append(pageHead('Overview', 'The last 24 hours of metering', updated, refresh),
      stats, chartPanel, h('div', { class: 'grid' }, topPanel, errPanel));

    const body = (p, ...els) => p.replaceChildren(p.firstChild, ...els.filter(Boolean));

    async function load() {
      refresh.disabled = true;
      const now = Date.now();
      const hourStart = Math.floor(now / 3600e3) * 3600e3;
      const from = hourStart - 23 * 3600e3;
      const range = { from: iso(from), to: iso(hourStart + 3600e3) };
      const [hourly, byCustomer, audit, names] = await Promise.allSettled([
        usage({ ...range, window: 'hour', tz: 'UTC' }, signal),
        usage({ ...range, window: 'day', tz: 'UTC', group_by: 'customer' }, signal),
        // Data-plane calls only: the admin API's, this page's own among
        // them, would drown them.
        Promise.all(DATA_SOURCES.map((src) => auditEvents({ start_time: iso(now - 24 * 3600e3), event_source: src }, 500, signal)))
          .then((pages) => ({ events: pages.flatMap((p) => p.events), truncated: pages.some((p) => p.truncated) })),
        accountNames(signal),
      ]);
      if (signal.aborted) return;
      refresh.disabled = false;
      updated.textContent = 'Updated ' + fmt(Date.now(), localTZ, { hour: '2-digit', minute: '2-digit', second: '2-digit', hourCycle: 'h23' });
      const nameMap = names.status === 'fulfilled' ? names.value : null;

      const statEls = [];
      if (hourly.status === 'fulfilled') {
        const buckets = new Map();
        for (let t = from; t <= hourStart; t += 3600e3) buckets.set(t, { records: 0, quantity: 0 });
        for (const r of hourly.value) {
          const t = toMillis(r.window_start);
          const b = buckets.get(t) || { records: 0, quantity: 0 };
          b.records += Number(r.records) || 0;
          b.quantity += Number(r.quantity) || 0;
          buckets.set(t, b);
        }
        const keys = [...buckets.keys()].filter((t) => t >= from).sort((a, b) => a - b);
        const records = keys.map((t) => buckets.get(t).records);
        const totalRecords = records.reduce((a, b) => a + b, 0);
        const totalQuantity = keys.reduce((a, t) => a + buckets.get(t).quantity, 0);
        statEls.push(stat('Records', num(totalRecords)), stat('Quantity', num(totalQuantity)));
        body(chartPanel, barChart({
          labels: keys.map((t) => fmt(t, localTZ, { hour: '2-digit', minute: '2-digit', hourCycle: 'h23' })),
          series: [{ name: 'Records', values: records }],
          label: 'Usage records per hour over the last 24 hours',
          unit: ' records',
        }), totalRecords ? null : h('p', { class: 'empty' }, 'No usage recorded in the last 24 hours.'));
      } else if (!aborted(hourly.reason)) {
        body(chartPanel, errorBox(hourly.reason, 'the usage report'));
      }

      if (byCustomer.status === 'fulfilled') {
        const agg = new Map();
        for (const r of byCustomer.value) {
          const a = agg.get(r.customer) || { records: 0, quantity: 0 };
          a.records += Number(r.records) || 0;
          a.quantity += Number(r.quantity) || 0;
          agg.set(r.customer, a);
        }
        const top = [...agg.entries()].sort((a, b) => b[1].records - a[1].records || b[1].quantity - a[1].quantity).slice(0, 10);
        const most = top.length ? top[0][1].records : 0;
        statEls.push(stat('Customers metered', num(agg.size)));
        body(topPanel, table(null, [['Customer'], ['Records', 'num'], ['Quantity', 'num'], ['Share']],
          top.map(([c, a]) => h('tr', null,
            h('td', null, h('a', { href: '#/usage?' + new URLSearchParams({ customer: c, group_by: 'product,dimension', window: 'hour' }) }, customerLabel(c, nameMap))),
            h('td', { class: 'num' }, num(a.records)),
            h('td', { class: 'num' }, num(a.quantity)),
            h('td', null, h('span', { class: 'bar-cell' }, meter(most ? a.records / most : 0))))),
        { empty: 'No customer metered in the last 24 hours.' }));
      } else if (!aborted(byCustomer.reason)) {
        body(topPanel, errorBox(byCustomer.reason, 'the usage report'));
      }

      if (audit.status === 'fulfilled') {
        const calls = audit.value.events.filter((e) => !isAdminEvent(e));
        const ops = new Map();
        const codes = new Map();
        let errors = 0;
        for (const e of calls) {
          const o = ops.get(e.eventName) || { calls: 0, errors: 0 };
          o.calls++;
          if (e.errorCode) {
            o.errors++;
            errors++;
            codes.set(e.errorCode, (codes.get(e.errorCode) || 0) + 1);
          }
          ops.set(e.eventName, o);
        }
        const rate = calls.length ? errors / calls.length : 0;
        statEls.push(stat('API calls', num(calls.length) + (audit.value.truncated ? '+' : '')),
          stat('Error rate', calls.length ? pct.format(rate) : '—', rate > 0.05));
        const opRows = [...ops.entries()].sort((a, b) => b[1].calls - a[1].calls).map(([name, o]) => h('tr', null,
          h('td', null, h('a', { href: '#/audit?' + new URLSearchParams({ source: 'all', event_name: name }) }, name)),
          h('td', { class: 'num' }, num(o.calls)),
          h('td', { class: 'num' }, num(o.errors)),
          h('td', null, h('span', { class: 'bar-cell' }, meter(o.calls ? o.errors / o.calls : 0, true),
            h('span', { class: 'num' }, pct.format(o.calls ? o.errors / o.calls : 0))))));
        const codeRows = [...codes.entries()].sort((a, b) => b[1] - a[1]).slice(0, 8).map(([code, n]) => h('tr', null,
          h('td', null, h('a', { href: '#/audit?' + new URLSearchParams({ source: 'all', error_code: code }) }, code)),
          h('td', { class: 'num' }, num(n))));
        body(errPanel,
          table(null, [['Operation'], ['Calls', 'num'], ['Errors', 'num'], ['Error rate']], opRows, { empty: 'No API calls in the last 24 hours.' }),
          codeRows.length ? h('div', { class: 'table-wrap' }, table('Most frequent errors', [['Error code'], ['Count', 'num']], codeRows)) : null,
          audit.value.truncated ? h('p', { class: 'muted' }, `Based on the latest ${num(audit.value.events.length)} calls.`) : null);
      } else if (!aborted(audit.reason)) {
        body(errPanel, errorBox(audit.reason, 'the audit log'));
      }
      stats.replaceChildren(...statEls);
      announce('Overview updated');
    }
    await load();
    const timer = setInterval(() => { if (!document.hidden) load(); }, 60e3);
    signal.addEventListener('abort', () => clearInterval(timer));
  }

  // catalog: products, customers and accounts.
  async function catalog(root, params, signal) {
    root.append(pageHead('Products & customers', 'What this meterd knows about'));
    const [products, customers, accounts] = await Promise.allSettled([
      api('/products', null, { signal }), api('/customers', null, { signal }), api('/accounts', null, { signal }),
    ]);
    if (signal.aborted) return;
    const names = new Map();
    if (accounts.status === 'fulfilled') for (const a of accounts.value) names.set(a.id, a.name || '');
    const custList = customers.status === 'fulfilled' ? customers.value : [];

    if (products.status === 'fulfilled') {
      const rows = products.value.map((p) => {
        const cs = custList.filter((c) => c.product === p.code);
        const active = cs.filter((c) => c.active).length;
        return h('tr', null,
          h('th', { scope: 'row' }, h('span', { class: 'mono' }, p.code)),
          h('td', null, p.type),
          h('td', null, customerLabel(p.seller, names)),
          h('td', null, (p.dimensions || []).join(', ')),
          h('td', null, p.agreements || 'both'),
          h('td', { class: 'num' }, `${active} / ${cs.length}`),
          h('td', null, h('a', { href: '#/usage?' + new URLSearchParams({ product: p.code, group_by: 'customer,dimension', window: 'day' }) }, 'Usage')));
      });
      root.append(panel('Products', `${products.value.length}`, table(null,
        [['Code'], ['Type'], ['Seller'], ['Dimensions'], ['Agreements'], ['Active customers', 'num'], ['']], rows,
        { empty: 'No products yet: add one with `meterd products put` or a state file.' })));
    } else if (!aborted(products.reason)) root.append(errorBox(products.reason, 'products'));

    if (customers.status === 'fulfilled') {
      const productFilter = select('product', [['', 'All products'], ...[...new Set(custList.map((c) => c.product))].sort().map((p) => [p, p])], params.get('product') || '');
      const statusFilter = select('status', [['', 'Any status'], ...[...new Set(custList.map((c) => c.status || 'subscribed'))].sort().map((v) => [v, v])], params.get('status') || '');
      const holder = h('div');
      const render = () => {
        const list = custList.filter((c) => (!productFilter.value || c.product === productFilter.value) &&
          (!statusFilter.value || (c.status || 'subscribed') === statusFilter.value));
        holder.replaceChildren(table(`${list.length} of ${custList.length} customers`,
          [['Product'], ['Account'], ['Customer identifier'], ['License'], ['Status'], ['Entitlements', 'num'], ['']],
          list.map((c) => h('tr', null,
            h('td', { class: 'mono' }, c.product),
            h('td', null, customerLabel(c.account_id, names)),
            h('td', { class: 'mono' }, c.customer_identifier || '—'),
            h('td', { class: 'mono wrap', title: c.license_arn || '' }, c.license_arn ? '…' + c.license_arn.slice(-12) : '—'),
            h('td', null, h('span', { class: `badge ${c.active ? 'ok' : 'err'}` }, c.status || 'subscribed'),
              c.pending_until ? h('span', { class: 'muted' }, ' until ' + fmtTime(toMillis(c.pending_until))) : null),
            h('td', { class: 'num' }, num((c.entitlements || []).length)),
            h('td', null, h('a', { href: '#/usage?' + new URLSearchParams({ product: c.product, customer: c.account_id, group_by: 'dimension', window: 'day' }) }, 'Usage')))),
          { empty: 'No customer matches.' }));
      };
      productFilter.addEventListener('change', render);
      statusFilter.addEventListener('change', render);
      render();
      root.append(panel('Customers', null,
        h('div', { class: 'filters' }, field('Product', productFilter), field('Status', statusFilter)), holder));
    } else if (!aborted(customers.reason)) root.append(errorBox(customers.reason, 'customers'));

    if (accounts.status === 'fulfilled') {
      root.append(panel('Accounts', `${accounts.value.length}`, table(null, [['Account'], ['Name'], ['Access keys', 'num'], ['Platforms']],
        accounts.value.map((a) => h('tr', null,
          h('td', { class: 'mono' }, a.id), h('td', null, a.name || '—'),
          h('td', { class: 'num' }, num((a.access_keys || []).length)),
          h('td', null, [...new Set((a.access_keys || []).map((k) => k.platform).filter(Boolean))].join(', ') || '—'))))));
    } else if (!aborted(accounts.reason)) root.append(errorBox(accounts.reason, 'accounts'));
  }

  // usage: the usage explorer.
  async function usageView(root, params, signal) {
    const tzDefault = params.get('tz') && validTZ(params.get('tz')) ? params.get('tz') : localTZ;
    const now = Date.now();
    const today = wallParts(now, tzDefault);
    const dayStart = (offsetDays) => {
      const d = new Date(Date.UTC(today.y, today.mo - 1, today.d + offsetDays));
      return `${d.getUTCFullYear()}-${pad(d.getUTCMonth() + 1)}-${pad(d.getUTCDate())}T00:00`;
    };
    const groups = new Set((params.get('group_by') ?? 'product,dimension').split(',').filter(Boolean));
    const [tzList, tzDl] = datalist(typeof Intl.supportedValuesOf === 'function' ? Intl.supportedValuesOf('timeZone') : ['UTC', localTZ]);

    const f = {
      from: h('input', { type: 'datetime-local', name: 'from', value: params.get('from') || dayStart(-6), step: 60 }),
      to: h('input', { type: 'datetime-local', name: 'to', value: params.get('to') || dayStart(1), step: 60 }),
      tz: h('input', { type: 'text', name: 'tz', value: tzDefault, list: tzList, autocomplete: 'off', spellcheck: 'false' }),
      window: select('window', [['hour', 'Hour'], ['day', 'Day'], ['month', 'Month']], params.get('window') || 'day'),
      product: select('product', [['', 'All products']], params.get('product') || ''),
      customer: h('input', { type: 'text', name: 'customer', value: params.get('customer') || '', placeholder: 'account id or identifier', spellcheck: 'false' }),
      dimension: h('input', { type: 'text', name: 'dimension', value: params.get('dimension') || '', spellcheck: 'false' }),
      measure: select('measure', [['quantity', 'Quantity'], ['records', 'Records']], params.get('measure') || 'quantity'),
    };
    const checks = GROUPS.map(([g, , label]) => h('label', { class: 'check' },
      h('input', { type: 'checkbox', name: 'group_by', value: g, checked: groups.has(g) }), label));
    const err = h('p', { class: 'error', role: 'alert' });
    const run = h('button', { type: 'submit', class: 'primary' }, 'Run report');
    const csv = h('button', { type: 'button', id: 'download-csv' }, 'Download CSV');
    const form = h('form', { class: 'filters', id: 'usage-form', novalidate: true },
      field('From', f.from), field('To', f.to), field('Time zone', f.tz), tzDl,
      field('Window', f.window), field('Product', f.product), field('Customer', f.customer),
      field('Dimension', f.dimension), field('Chart shows', f.measure),
      h('fieldset', null, h('legend', null, 'Group by'), checks),
      err, h('div', { class: 'buttons' }, run, csv));
    const summary = h('p', { class: 'muted', id: 'usage-summary' });
    const chartBox = h('div', { id: 'usage-chart' });
    const tableBox = h('div', { id: 'usage-table' });
    root.append(pageHead('Usage explorer', 'Metered quantity by window, in any time zone'),
      h('section', { class: 'panel', 'aria-label': 'Filters' }, form),
      panel('Usage', null, summary, chartBox), panel('Rows', null, tableBox));

    api('/products', null, { signal }).then((ps) => {
      for (const p of ps) f.product.append(h('option', { value: p.code }, p.code));
      f.product.value = params.get('product') || '';
    }).catch(() => {});

    // query reads the form: the report's parameters, or an error.
    function query() {
      const tz = f.tz.value.trim() || 'UTC';
      if (!validTZ(tz)) return { error: `“${tz}” is not an IANA time zone (for example Europe/Paris or UTC).` };
      const from = wallToMillis(f.from.value, tz), to = wallToMillis(f.to.value, tz);
      if (!Number.isFinite(from) || !Number.isFinite(to)) return { error: 'Give both a start and an end.' };
      if (to <= from) return { error: 'The end must be after the start.' };
      const groupBy = checks.map((c) => c.firstChild).filter((c) => c.checked).map((c) => c.value);
      return {
        tz,
        report: {
          from: iso(from), to: iso(to), window: f.window.value, tz, group_by: groupBy.join(','),
          product: f.product.value, customer: f.customer.value.trim(), dimension: f.dimension.value.trim(),
        },
        hash: new URLSearchParams(Object.entries({
          from: f.from.value, to: f.to.value, tz, window: f.window.value, group_by: groupBy.join(','),
          product: f.product.value, customer: f.customer.value.trim(), dimension: f.dimension.value.trim(), measure: f.measure.value,
        }).filter(([k, v]) => v !== '' || k === 'group_by')),
        groupBy,
      };
    }

    let rows = [], current = null;
    function draw() {
      if (!current) return;
      const { groupBy, tz, report } = current;
      const measure = f.measure.value;
      const fields = GROUPS.filter(([g]) => groupBy.includes(g));
      const keyOf = (r) => fields.map(([, k]) => r[k] || '—').join(' · ') || 'All usage';
      const windows = [...new Set(rows.map((r) => toMillis(r.window_start)))].sort((a, b) => a - b);
      const idx = new Map(windows.map((w, i) => [w, i]));
      const bySeries = new Map();
      let totalQ = 0, totalR = 0;
      for (const r of rows) {
        totalQ += Number(r.quantity) || 0;
        totalR += Number(r.records) || 0;
        const k = keyOf(r);
        if (!bySeries.has(k)) bySeries.set(k, new Array(windows.length).fill(0));
        bySeries.get(k)[idx.get(toMillis(r.window_start))] += Number(r[measure]) || 0;
      }
      let series = [...bySeries.entries()].map(([name, values]) => ({ name, values, total: values.reduce((a, b) => a + b, 0) }))
        .sort((a, b) => b.total - a.total);
      if (series.length > 8) {
        const rest = series.slice(7);
        series = series.slice(0, 7).concat([{ name: `${rest.length} others`, color: 8, values: windows.map((_, i) => rest.reduce((a, sr) => a + sr.values[i], 0)) }]);
      }
      summary.textContent = rows.length
        ? `${num(rows.length)} rows · quantity ${num(totalQ)} · ${num(totalR)} records · windows of one ${report.window} in ${tz}`
        : '';
      chartBox.replaceChildren(rows.length
        ? barChart({ labels: windows.map((w) => fmtWindow(w, report.window, tz)), series, label: `Usage ${measure} per ${report.window}`, height: 280 })
        : h('p', { class: 'empty' }, 'No usage matches these filters.'));
      const shown = rows.slice(0, 1000);
      tableBox.replaceChildren(table(rows.length > shown.length ? `First ${shown.length} of ${rows.length} rows; download the CSV for all.` : null,
        [['Window'], ...fields.map(([, , label]) => [label]), ['Quantity', 'num'], ['Records', 'num']],
        shown.map((r) => h('tr', null,
          h('td', null, fmtWindow(toMillis(r.window_start), report.window, tz)),
          fields.map(([, k]) => h('td', { class: k === 'license_arn' ? 'mono wrap' : 'mono' }, r[k] || '—')),
          h('td', { class: 'num' }, num(r.quantity)),
          h('td', { class: 'num' }, num(r.records)))),
        { empty: 'No rows.' }));
    }

    async function load() {
      const q = query();
      err.textContent = q.error || '';
      if (q.error) return;
      history.replaceState(null, '', '#/usage?' + q.hash);
      run.disabled = true;
      summary.textContent = 'Loading…';
      try {
        rows = await usage(q.report, signal);
        current = q;
        draw();
        announce(`Usage report: ${rows.length} rows`);
      } catch (e) {
        if (aborted(e)) return;
        summary.textContent = '';
        err.textContent = e.message;
      } finally {
        run.disabled = false;
      }
    }

    async function download() {
      const q = query();
      err.textContent = q.error || '';
      if (q.error) return;
      csv.disabled = true;
      try {
        const resp = await api('/reports/usage', { ...q.report, format: 'csv' }, { signal, raw: true });
        const blob = await resp.blob();
        const a = h('a', { href: URL.createObjectURL(blob), download: `meterd-usage-${q.report.window}-${f.from.value.slice(0, 10)}-${f.to.value.slice(0, 10)}.csv` });
        document.body.append(a);
        a.click();
        a.remove();
        setTimeout(() => URL.revokeObjectURL(a.href), 10e3);
        announce('CSV downloaded');
      } catch (e) {
        if (!aborted(e)) err.textContent = e.message;
      } finally {
        csv.disabled = false;
      }
    }

    form.addEventListener('submit', (e) => { e.preventDefault(); load(); });
    csv.addEventListener('click', download);
    f.measure.addEventListener('change', draw);
    await load();
  }

  function resultBadge(e) {
    return e.errorCode
      ? h('span', { class: 'badge err', title: e.errorMessage || '' }, e.errorCode)
      : h('span', { class: 'badge ok' }, 'OK');
  }

  function pretty(v) {
    if (v == null || v === '') return '—';
    if (typeof v === 'string') {
      try { return JSON.stringify(JSON.parse(v), null, 2); } catch { return v; }
    }
    return JSON.stringify(v, null, 2);
  }

  // eventRows is an audit event's row and its hidden detail row.
  function eventRows(e, columns, clock) {
    const id = uid('ev');
    const toggle = h('button', { type: 'button', class: 'link', 'aria-expanded': 'false', 'aria-controls': id }, 'Details');
    const ui = e.userIdentity || {};
    const detail = h('tr', { class: 'detail', id, hidden: true }, h('td', { colspan: columns },
      h('div', { class: 'detail-grid' },
        h('div', null, h('h3', null, 'Call'), h('pre', null, [
          `eventSource: ${e.eventSource || ''}`, `awsRegion: ${e.awsRegion || ''}`, `sourceIPAddress: ${e.sourceIPAddress || ''}`,
          `userAgent: ${e.userAgent || ''}`, `accessKeyId: ${ui.accessKeyId || ''}`, `requestID: ${e.requestID || ''}`,
          e.errorCode ? `errorCode: ${e.errorCode}` : '', e.errorMessage ? `errorMessage: ${e.errorMessage}` : '',
        ].filter(Boolean).join('\n'))),
        h('div', null, h('h3', null, 'Request parameters'), h('pre', null, pretty(e.requestParameters))),
        h('div', null, h('h3', null, 'Response elements'), h('pre', null, pretty(e.responseElements))))));
    toggle.addEventListener('click', () => {
      const open = toggle.getAttribute('aria-expanded') !== 'true';
      toggle.setAttribute('aria-expanded', String(open));
      toggle.textContent = open ? 'Hide' : 'Details';
      detail.hidden = !open;
    });
    const row = h('tr', { class: e.errorCode ? 'is-error' : null, 'data-request-id': e.requestID || '' },
      h('td', { class: 'mono nowrap', title: new Date(toMillis(e.eventTime)).toISOString() }, (clock ? fmtClock : fmtTime)(toMillis(e.eventTime))),
      h('td', null, e.eventName || '—'),
      h('td', { class: 'mono' }, ui.accountId || '—'),
      h('td', { class: 'mono' }, ui.accessKeyId || '—'),
      h('td', null, resultBadge(e)),
      h('td', { class: 'mono nowrap' }, e.requestID || '—'),
      h('td', null, toggle));
    return [row, detail];
  }
  const EVENT_COLUMNS = [['Time'], ['Operation'], ['Account'], ['Access key'], ['Result'], ['Request ID'], ['']];

  // audit: the audit log with filters.
  async function audit(root, params, signal) {
    const [opsList, opsDl] = datalist(OPERATIONS);
    const [codeList, codeDl] = datalist(ERROR_CODES);
    const f = {
      // The Metering API by default: the admin API's events, this page's
      // own requests among them, would drown the calls a seller looks for.
      source: select('source', [['metering', 'Metering API'], ['entitlement', 'Entitlement API'], ['admin', 'Admin API'], ['all', 'All sources']],
        SOURCES[params.get('source')] !== undefined ? params.get('source') : 'metering'),
      start: h('input', { type: 'datetime-local', name: 'start_time', value: params.get('start_time') || '', step: 60 }),
      end: h('input', { type: 'datetime-local', name: 'end_time', value: params.get('end_time') || '', step: 60 }),
      event: h('input', { type: 'text', name: 'event_name', value: params.get('event_name') || '', list: opsList, autocomplete: 'off', spellcheck: 'false' }),
      account: h('input', { type: 'text', name: 'account', value: params.get('account') || '', placeholder: '12-digit account id', spellcheck: 'false' }),
      code: h('input', { type: 'text', name: 'error_code', value: params.get('error_code') || '', list: codeList, autocomplete: 'off', spellcheck: 'false' }),
    };
    const err = h('p', { class: 'error', role: 'alert' });
    const more = h('button', { type: 'button', hidden: true }, 'Load more');
    const form = h('form', { class: 'filters', id: 'audit-form', novalidate: true },
      field('Source', f.source), field(`From (${localTZ})`, f.start), field(`To (${localTZ})`, f.end), field('Operation', f.event), opsDl,
      field('Account', f.account), field('Error code', f.code), codeDl, err,
      h('div', { class: 'buttons' }, h('button', { type: 'submit', class: 'primary' }, 'Search'),
        h('button', { type: 'button', onclick: () => { for (const el of Object.values(f)) el.value = ''; f.source.value = 'metering'; search(); } }, 'Clear filters')));
    const count = h('p', { class: 'muted', id: 'audit-count' });
    const tbody = h('tbody');
    const results = h('div', { class: 'table-wrap' }, h('table', { id: 'audit-table' },
      h('caption', { class: 'visually-hidden' }, 'Audit events, newest first'),
      h('thead', null, h('tr', null, EVENT_COLUMNS.map(([n]) => h('th', { scope: 'col' }, n)))), tbody));
    root.append(pageHead('Audit log', 'One event per API call, data plane and admin'),
      h('section', { class: 'panel', 'aria-label': 'Filters' }, form),
      h('section', { class: 'panel', 'aria-label': 'Events' }, count, results, h('div', { class: 'buttons' }, more)));

    let next = '', shown = 0, base = null;
    async function page(reset) {
      if (reset) {
        const startMs = f.start.value ? wallToMillis(f.start.value, localTZ) : NaN;
        const endMs = f.end.value ? wallToMillis(f.end.value, localTZ) : NaN;
        if (Number.isFinite(startMs) && Number.isFinite(endMs) && endMs <= startMs) {
          err.textContent = 'The end must be after the start.';
          return;
        }
        err.textContent = '';
        base = {
          event_source: SOURCES[f.source.value] || '',
          start_time: Number.isFinite(startMs) ? iso(startMs) : '', end_time: Number.isFinite(endMs) ? iso(endMs) : '',
          event_name: f.event.value.trim(), account: f.account.value.trim(), error_code: f.code.value.trim(),
        };
        const hash = new URLSearchParams(Object.entries({
          source: f.source.value, start_time: f.start.value, end_time: f.end.value, event_name: base.event_name, account: base.account, error_code: base.error_code,
        }).filter(([, v]) => v));
        history.replaceState(null, '', '#/audit' + (hash.toString() ? '?' + hash : ''));
        next = '';
        shown = 0;
        tbody.replaceChildren();
        count.textContent = 'Loading…';
      }
      more.disabled = true;
      try {
        const out = await api('/audit/events', { ...base, max_results: 50, next_token: next }, { signal });
        const events = (out && out.Events) || [];
        for (const e of events) tbody.append(...eventRows(e, EVENT_COLUMNS.length));
        shown += events.length;
        next = (out && out.NextToken) || '';
        count.textContent = shown ? `${num(shown)} ${shown === 1 ? 'event' : 'events'}${next ? ' so far' : ''}, newest first` : 'No event matches these filters.';
        more.hidden = !next;
        announce(count.textContent);
      } catch (e) {
        if (aborted(e)) return;
        count.textContent = '';
        err.textContent = e.message;
      } finally {
        more.disabled = false;
      }
    }
    const search = () => page(true);
    form.addEventListener('submit', (e) => { e.preventDefault(); search(); });
    more.addEventListener('click', () => page(false));
    await search();
  }

  // live: a tail of /admin/v1/events/stream, read with fetch so that the
  // token goes in a header (EventSource cannot send one).
  function live(root, params, signal) {
    const MAX = 500;
    const state = h('span', { class: 'pill', id: 'live-state', role: 'status' }, 'Connecting');
    const pause = h('button', { type: 'button', 'aria-pressed': 'false' }, 'Pause');
    const clear = h('button', { type: 'button' }, 'Clear');
    const filter = h('input', { type: 'search', name: 'filter', placeholder: 'operation, account, error, request id', spellcheck: 'false' });
    const showAdmin = h('input', { type: 'checkbox', name: 'admin', checked: params.get('admin') === '1' });
    const count = h('p', { class: 'muted', id: 'live-count' }, 'Waiting for API calls…');
    const tbody = h('tbody');
    root.append(pageHead('Live tail', 'API calls as they happen', state, pause, clear),
      h('section', { class: 'panel', 'aria-label': 'Filters' }, h('div', { class: 'filters' },
        h('div', { class: 'wide' }, field('Filter', filter)),
        h('div', null, h('label', { class: 'check' }, showAdmin, 'Show admin API calls')))),
      h('section', { class: 'panel', 'aria-label': 'Events' }, count, h('div', { class: 'table-wrap' }, h('table', { id: 'live-table' },
        h('caption', { class: 'visually-hidden' }, 'Live API calls, newest first'),
        h('thead', null, h('tr', null, EVENT_COLUMNS.map(([n]) => h('th', { scope: 'col' }, n)))), tbody))));

    let received = 0, paused = false, buffered = [];
    const matches = (e) => {
      if (!showAdmin.checked && isAdminEvent(e)) return false;
      const q = filter.value.trim().toLowerCase();
      if (!q) return true;
      const ui = e.userIdentity || {};
      return [e.eventName, e.errorCode, e.requestID, ui.accountId, ui.accessKeyId, e.sourceIPAddress]
        .some((v) => v && String(v).toLowerCase().includes(q));
    };
    const events = [];
    function add(e) {
      received++;
      events.unshift(e);
      if (events.length > MAX) events.pop();
      if (paused) { buffered.push(e); return; }
      if (!matches(e)) { updateCount(); return; }
      const [row, detail] = eventRows(e, EVENT_COLUMNS.length, true);
      row.classList.add('new');
      tbody.prepend(row, detail);
      while (tbody.rows.length > MAX * 2) tbody.lastElementChild.remove();
      updateCount();
    }
    function updateCount() {
      const n = Math.floor(tbody.rows.length / 2);
      count.textContent = `${num(received)} ${received === 1 ? 'call' : 'calls'} received · ${num(n)} shown${paused ? ` · paused, ${buffered.length} waiting` : ''}`;
    }
    function redraw() {
      tbody.replaceChildren();
      for (const e of [...events].reverse()) {
        if (matches(e)) tbody.prepend(...eventRows(e, EVENT_COLUMNS.length, true));
      }
      updateCount();
    }
    filter.addEventListener('input', redraw);
    showAdmin.addEventListener('change', redraw);
    pause.addEventListener('click', () => {
      paused = !paused;
      pause.setAttribute('aria-pressed', String(paused));
      pause.textContent = paused ? 'Resume' : 'Pause';
      if (!paused) { buffered = []; redraw(); }
      setState(paused ? 'paused' : connected ? 'live' : 'connecting');
      updateCount();
    });
    clear.addEventListener('click', () => { events.length = 0; buffered = []; received = 0; tbody.replaceChildren(); updateCount(); });

    let connected = false;
    function setState(st, detail) {
      const text = { connecting: 'Connecting', live: 'Live', down: 'Reconnecting', paused: 'Paused' }[st];
      state.className = `pill ${st}`;
      state.textContent = text;
      state.title = detail || '';
      state.dataset.state = st;
    }

    (async () => {
      let delay = 1000;
      while (!signal.aborted) {
        try {
          const resp = await api('/events/stream', null, { signal, raw: true });
          connected = true;
          delay = 1000;
          if (!paused) setState('live');
          const reader = resp.body.pipeThrough(new TextDecoderStream()).getReader();
          let buf = '';
          for (;;) {
            const { value, done } = await reader.read();
            if (done) break;
            buf += value;
            let cut;
            while ((cut = buf.search(/\r?\n\r?\n/)) >= 0) {
              const block = buf.slice(0, cut);
              buf = buf.slice(cut).replace(/^\r?\n\r?\n/, '');
              const data = block.split(/\r?\n/).filter((l) => l.startsWith('data:')).map((l) => l.slice(5).replace(/^ /, '')).join('\n');
              if (!data) continue;
              try { add(JSON.parse(data)); } catch { /* not an event */ }
            }
          }
        } catch (e) {
          if (aborted(e) || signal.aborted) return;
          if (e.status === 401) return;
          setState('down', e.message);
        }
        connected = false;
        if (signal.aborted) return;
        if (!paused) setState('down');
        await new Promise((r) => setTimeout(r, delay));
        delay = Math.min(delay * 2, 15000);
      }
    })();
  }

  // ---- shell: sign-in and routing ---------------------------------------

  const VIEWS = {
    overview: ['Overview', overview],
    catalog: ['Products & customers', catalog],
    usage: ['Usage explorer', usageView],
    audit: ['Audit log', audit],
    live: ['Live tail', live],
  };
  let current = null;

  function stop() {
    if (current) current.abort();
    current = null;
  }

  function showLogin(message) {
    stop();
    $('#view').replaceChildren();
    $('#nav').hidden = true;
    $('#signout').hidden = true;
    $('#login').hidden = false;
    $('#login-error').textContent = message || '';
    document.title = 'Sign in · meterd';
    $('#token').focus();
  }

  function signOut(message) {
    sessionStorage.removeItem(TOKEN_KEY);
    accountsCache = null;
    showLogin(message);
  }

  function route(focus) {
    if (!token()) { showLogin(); return; }
    $('#login').hidden = true;
    $('#nav').hidden = false;
    $('#signout').hidden = false;
    const m = /^#\/([a-z]+)(?:\?(.*))?$/.exec(location.hash);
    const name = m && VIEWS[m[1]] ? m[1] : 'overview';
    if (!m || !VIEWS[m[1]]) history.replaceState(null, '', '#/overview');
    const params = new URLSearchParams(m ? m[2] || '' : '');
    stop();
    current = new AbortController();
    const [title, view] = VIEWS[name];
    document.title = `${title} · meterd`;
    for (const a of document.querySelectorAll('#nav a')) {
      if (a.dataset.view === name) {
        a.setAttribute('aria-current', 'page');
        a.scrollIntoView({ block: 'nearest', inline: 'nearest' });
      }
      else a.removeAttribute('aria-current');
    }
    const root = h('div', { 'data-view': name });
    $('#view').replaceChildren(root);
    if (focus) $('#main').focus();
    Promise.resolve(view(root, params, current.signal)).catch((e) => {
      if (!aborted(e)) root.append(errorBox(e, title.toLowerCase()));
    });
  }

  document.addEventListener('DOMContentLoaded', () => {
    $('#login-form').addEventListener('submit', async (e) => {
      e.preventDefault();
      const input = $('#token');
      const value = input.value.trim();
      const msg = $('#login-error');
      if (!value) { msg.textContent = 'Enter the admin token.'; return; }
      const button = e.target.querySelector('button');
      button.disabled = true;
      msg.textContent = '';
      try {
        await api('/products', null, { tokenOverride: value });
        sessionStorage.setItem(TOKEN_KEY, value);
        input.value = '';
        route(true);
      } catch (err) {
        msg.textContent = err.status === 401 ? 'That token was refused.' : `Could not reach meterd: ${err.message}`;
      } finally {
        button.disabled = false;
      }
    });
    $('#signout').addEventListener('click', () => signOut());
    window.addEventListener('hashchange', () => route(true));
    route(false);
  });
})();
