// Shared helpers of the pages: formatting, API calls and jobs, URL state, forms, charts and tables that export.
// Plain ES module with no imports, so that every page can import it without a cycle.

export const COLORS = { datacenter: '#2f6fba', china: '#d0453b', edge: '#2e9b5f', cpu: '#8a5cc2',
  compute: '#2f6fba', memory: '#e08a2c', network: '#8a5cc2', overhead: '#9aa5b1' };

export const PRECISIONS = ['bf16', 'fp16', 'fp8', 'fp8-block', 'int8', 'w8a16', 'w4a16', 'w4a8', 'fp4', 'mxfp4',
  'q4_0', 'q4_k_m', 'q5_k_m', 'q6_k', 'q8_0', 'f16', 'fp32'];

// <datalist>s of catalog ids for the inputs that name a model, a system or a chip (loaded once).
export async function datalists() {
  if (document.getElementById('dl-models')) return;
  const [m, s, c, e] = await Promise.all([once('/api/catalog/models'), once('/api/catalog/systems'),
    once('/api/catalog/chips'), once('/api/engines')]);
  const make = (id, ids) => {
    if (document.getElementById(id)) return;
    const dl = document.createElement('datalist');
    dl.id = id;
    dl.innerHTML = ids.map((x) => `<option value="${esc(x)}"></option>`).join('');
    document.body.appendChild(dl);
  };
  make('dl-models', m.models.map((x) => x.id));
  make('dl-systems', [...s.systems.map((x) => x.id), ...c.chips.map((x) => `1x${x.id}`)]);
  make('dl-chips', c.chips.map((x) => x.id));
  make('dl-engines', e.engines.flatMap((x) => [x.id, ...x.releases.map((r) => `${x.id}==${r.version}`)]));
}

// ---------- formatting ----------
export function fmt(x, digits = 3) {
  if (x === null || x === undefined || Number.isNaN(x)) return '?';
  if (typeof x !== 'number') return String(x);
  const a = Math.abs(x);
  if (a >= 1000) return x.toLocaleString('en-US', { maximumFractionDigits: 0 });
  if (a === 0) return '0';
  return Number(x.toPrecision(digits)).toString();
}
export const esc = (s) => String(s ?? '').replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;',
  '"': '&quot;', "'": '&#39;' }[c]));
const URL_RE = /https?:\/\/[^\s,;)]+/g;
// A source in a few words: its text's start and the host of its link ("NVIDIA H100 datasheet… (nvidia.com)").
export function shortSource(s) {
  const text = String(s ?? '');
  const url = (text.match(URL_RE) || [])[0];
  let host = '';
  try { host = url ? new URL(url).hostname.replace(/^www\./, '') : ''; } catch { host = ''; }
  const words = text.replace(URL_RE, '').replace(/[\s,;:]+$/, '').trim();
  const head = words.length > 50 ? `${words.slice(0, 50)}…` : words;
  return head && host ? `${head} (${host})` : (head || host);
}
// A source as HTML: its text, escaped, with its links clickable.
export function linkify(s) {
  const text = String(s ?? '');
  let out = '', last = 0;
  for (const m of text.matchAll(URL_RE)) {
    out += esc(text.slice(last, m.index)) + `<a href="${esc(m[0])}" target="_blank" rel="noopener noreferrer">${esc(m[0])}</a>`;
    last = m.index + m[0].length;
  }
  return out + esc(text.slice(last));
}

// ---------- API ----------
export async function api(path, body, method) {
  const opts = { method: method || (body === undefined ? 'GET' : 'POST'), headers: {} };
  if (body !== undefined) { opts.headers['Content-Type'] = 'application/json'; opts.body = JSON.stringify(body); }
  const r = await fetch(path, opts);
  let data = null;
  try { data = await r.json(); } catch { data = null; }
  if (!r.ok) {
    const err = new Error((data && data.detail) || `HTTP ${r.status}`);
    err.status = r.status; err.data = data;
    throw err;
  }
  return data;
}

const cache = {};
export function once(path) { cache[path] = cache[path] || api(path); return cache[path]; }

// A background job: submit, poll, report progress, cancel. Returns {promise, cancel}.
export function job(kind, body, onProgress) {
  let id = null, stopped = false;
  const promise = (async () => {
    const j = await api(`/api/jobs/${kind}`, body);
    id = j.id;
    for (;;) {
      if (stopped) throw Object.assign(new Error('cancelled'), { cancelled: true });
      const s = await api(`/api/jobs/${id}`);
      if (onProgress) onProgress(s);
      if (s.status === 'done') return s.result;
      if (s.status === 'failed') throw new Error(s.error || 'the job failed');
      if (s.status === 'cancelled') throw Object.assign(new Error('cancelled'), { cancelled: true });
      await new Promise((res) => setTimeout(res, 250));
    }
  })();
  return { promise, cancel: () => { stopped = true; if (id) api(`/api/jobs/${id}/cancel`, {}).catch(() => {}); } };
}

// ---------- URL state ----------
export const PAGES = {};
export function route() {
  const [path, query] = location.hash.replace(/^#\/?/, '').split('?');
  return { page: PAGES[path] ? path : 'compare', params: new URLSearchParams(query || '') };
}
export function setParams(values) {
  const { page } = route();
  const p = new URLSearchParams();
  for (const [k, v] of Object.entries(values)) if (v !== '' && v !== null && v !== undefined && v !== false) p.set(k, v);
  history.replaceState(null, '', `#/${page}?${p.toString()}`);
}

// ---------- forms ----------
// field: {name, label, type: text|number|select|checkbox|file, value (default), options, list, help, wide}
export function buildForm(el, fields, params, onChange) {
  el.innerHTML = '';
  const form = document.createElement('form');
  form.className = 'form';
  form.addEventListener('submit', (e) => { e.preventDefault(); onChange(); });
  for (const f of fields) {
    const wrap = document.createElement('label');
    wrap.className = 'field' + (f.wide ? ' wide' : '');
    wrap.innerHTML = `<span>${esc(f.label || f.name)}</span>`;
    let input;
    if (f.type === 'select') {
      input = document.createElement('select');
      for (const o of f.options) {
        const opt = document.createElement('option');
        [opt.value, opt.textContent] = Array.isArray(o) ? o : [o, o];
        input.appendChild(opt);
      }
    } else {
      input = document.createElement('input');
      input.type = f.type === 'number' ? 'text' : (f.type || 'text');
      if (f.type === 'number') input.inputMode = 'decimal';
      input.autocomplete = 'off';
      if (f.list) input.setAttribute('list', f.list);
      if (f.accept) input.accept = f.accept;
      if (f.placeholder) input.placeholder = f.placeholder;
    }
    input.name = f.name;
    input.id = `f-${f.name}`;
    if (f.help) wrap.title = f.help;
    const v = params.has(f.name) ? params.get(f.name) : (f.value ?? '');
    if (f.type === 'checkbox') input.checked = v === true || v === 'true' || v === '1';
    else if (f.type === 'select') { if ([...input.options].some((o) => o.value === v)) input.value = v; }
    else if (f.type !== 'file') input.value = v;
    const typed = debounce(onChange, 500);  // typing re-runs after a pause; a change (enter, blur) at once
    input.addEventListener('change', () => { typed.cancel(); onChange(); });
    if (f.type !== 'select' && f.type !== 'checkbox' && f.type !== 'file') input.addEventListener('input', typed);
    wrap.appendChild(input);
    form.appendChild(wrap);
  }
  el.appendChild(form);
  return form;
}
export function readForm(form, fields) {
  const out = {};
  for (const f of fields) {
    if (f.type === 'file') continue;
    const input = form.elements[f.name];
    out[f.name] = f.type === 'checkbox' ? input.checked : input.value.trim();
  }
  return out;
}
export function debounce(fn, ms) {
  let t;
  const d = (...a) => { clearTimeout(t); t = setTimeout(() => fn(...a), ms); };
  d.cancel = () => clearTimeout(t);
  return d;
}
// '' -> undefined, '12' -> 12, 'abc' -> 'abc' (left for the server to refuse with its one-line reason)
export function num(v) { if (v === '' || v === undefined || v === null) return undefined; const n = Number(v); return Number.isFinite(n) ? n : v; }

// ---------- output blocks ----------
export function message(el, text, kind = 'error') {
  el.innerHTML = text ? `<div class="msg ${kind}" role="${kind === 'error' ? 'alert' : 'status'}">${esc(text)}</div>` : '';
}
function card(el, id, title, extra = '') {
  let c = el.querySelector(`[data-id="${id}"]`);
  if (!c) {
    c = document.createElement('section');
    c.className = 'card';
    c.dataset.id = id;
    c.innerHTML = `<div class="card-head"><h3></h3><span class="tools"></span></div><div class="card-body"></div>`;
    el.appendChild(c);
  }
  c.querySelector('h3').textContent = title;
  c.querySelector('.tools').innerHTML = extra;
  return c;
}
export function download(name, text, type) {
  const a = document.createElement('a');
  a.href = URL.createObjectURL(new Blob([text], { type }));
  a.download = name;
  document.body.appendChild(a); a.click(); a.remove();
  setTimeout(() => URL.revokeObjectURL(a.href), 1000);
}
const csvCell = (v) => { const s = v === null || v === undefined ? '' : String(v); return /[",\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s; };
export const toCsv = (cols, rows) => [cols, ...rows].map((r) => r.map(csvCell).join(',')).join('\n') + '\n';

function traceRows(data) {
  const rows = [];
  for (const t of data) {
    const xs = t.x || [], ys = t.y || [];
    for (let i = 0; i < Math.max(xs.length, ys.length); i++) rows.push([t.name || '', xs[i], ys[i]]);
  }
  return rows;
}

export function chart(el, id, title, data, layout = {}, opts = {}) {
  const c = card(el, id, title, '<button type="button" class="png">PNG</button><button type="button" class="csv">CSV</button>');
  if (opts.full) c.classList.add('full');
  let plot = c.querySelector('.plot');
  if (!plot) { plot = document.createElement('div'); plot.className = 'plot'; c.querySelector('.card-body').appendChild(plot); }
  plot.style.height = `${layout.height || 340}px`;
  c.dataset.kind = 'chart';
  const base = { margin: { l: 60, r: 20, t: 30, b: 50 }, font: { size: 12, family: 'system-ui, sans-serif' },
    paper_bgcolor: 'white', plot_bgcolor: 'white', legend: { orientation: 'h', x: 0, y: 1.01, yanchor: 'bottom' },
    xaxis: { automargin: true, gridcolor: '#e6eaef' }, yaxis: { automargin: true, gridcolor: '#e6eaef' } };
  const lay = { ...base, ...layout, xaxis: { ...base.xaxis, ...(layout.xaxis || {}) }, yaxis: { ...base.yaxis, ...(layout.yaxis || {}) } };
  Plotly.react(plot, data, lay, { displaylogo: false, responsive: true,
    toImageButtonOptions: { format: 'png', filename: `suanli-${id}`, scale: 2 } });
  c.querySelector('.png').onclick = () => Plotly.downloadImage(plot, { format: 'png', filename: `suanli-${id}`, scale: 2 });
  c.querySelector('.csv').onclick = () => download(`suanli-${id}.csv`, toCsv(['series', 'x', 'y'], traceRows(plot.data)), 'text/csv');
  plot.dataset.updated = String(Date.now());
  return plot;
}

// columns: [{key, label, fmt(row), tip(row)}]
export function table(el, id, title, columns, rows, onRow) {
  const c = card(el, id, title, '<button type="button" class="csv">CSV</button>');
  c.dataset.kind = 'table';
  const cell = (col, r) => (col.fmt ? col.fmt(r) : fmt(r[col.key]));
  const numeric = (text) => /^[-+]?[\d,.]+(e[-+]?\d+)?%?$|^\?$|^-$|^$/i.test(String(text));
  const textCols = columns.map((col) => rows.some((r) => !numeric(cell(col, r))));
  const head = columns.map((col, i) => `<th${textCols[i] ? ' class="left"' : ''}>${esc(col.label)}</th>`).join('');
  const body = rows.map((r, i) => `<tr data-i="${i}" class="${r._class || ''}">` + columns.map((col) => {
    const tip = col.tip ? col.tip(r) : '';
    const text = cell(col, r);
    const cls = [tip ? 'tip' : '', numeric(text) ? '' : 'left'].filter(Boolean).join(' ');
    return `<td${tip ? ` title="${esc(tip)}"` : ''}${cls ? ` class="${cls}"` : ''}>${esc(text)}</td>`;
  }).join('') + '</tr>').join('');
  c.querySelector('.card-body').innerHTML = `<div class="scroll"><table><thead><tr>${head}</tr></thead><tbody>${body}</tbody></table></div>`;
  const plain = rows.map((r) => columns.map((col) => cell(col, r)));
  c._export = { columns: columns.map((col) => col.label), rows: plain };
  c.querySelector('.csv').onclick = () => download(`suanli-${id}.csv`, toCsv(c._export.columns, plain), 'text/csv');
  if (onRow) c.querySelectorAll('tbody tr').forEach((tr) => { tr.onclick = () => onRow(rows[Number(tr.dataset.i)]); });
  return c;
}

export function kpis(el, items) {
  el.innerHTML = items.map(([label, value, tip]) => `<div class="kpi"${tip ? ` title="${esc(tip)}"` : ''}><span>${esc(label)}</span><b>${esc(value)}</b></div>`).join('');
}

