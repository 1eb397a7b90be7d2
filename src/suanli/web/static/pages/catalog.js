// Catalog: chips, systems and models, searchable and filterable, every figure with its source; and a what-if
// chip editor (bandwidth, compute, memory, price) whose chip the Compare page can re-run against the others.
import { COLORS, api, chart, esc, fmt, linkify as link, message, once, shortSource, table } from '../ui.js';

const GROUPS = { datacenter: 'data-centre', china: 'Chinese', edge: 'edge / client', cpu: 'CPU' };
const EDITS = [['w_bandwidth', 'memory.bandwidth', 'memory.bandwidth_gb_s'], ['w_capacity', 'memory.capacity', 'memory.capacity_gb'],
  ['w_bf16', 'compute.bf16', 'matrix_tflops.bf16'], ['w_fp8', 'compute.fp8', 'matrix_tflops.fp8'], ['w_price', 'price', 'price_usd'],
  ['w_tdp', 'tdp', 'tdp_w']];

function sourcesOf(c, path) {
  const parts = path.split('.');
  for (let i = parts.length; i > 0; i--) {
    const keys = (c.cite || {})[parts.slice(0, i).join('.')];
    if (keys) return keys.split(',').map((k) => c.sources[k.trim()] || k.trim());
  }
  return [];
}
const match = (q, ...xs) => !q || xs.some((x) => String(x ?? '').toLowerCase().includes(q));

async function show(ui, id) {
  const d = await api(`/api/catalog/show/${encodeURIComponent(id)}`);
  let c = ui.out.querySelector('[data-id="detail"]');
  if (!c) { c = document.createElement('section'); c.className = 'card full detail'; c.dataset.id = 'detail'; ui.out.prepend(c); }
  const rows = d.kind === 'model'
    ? Object.entries(d.config || {}).map(([k, v]) => `<dt>${esc(k)}</dt><dd>${esc(JSON.stringify(v))}</dd>`).join('')
    : Object.entries(d.figures).map(([k, f]) => `<dt>${esc(k)}</dt><dd><b>${esc(fmt(f.value))}</b> — ${f.sources.map(link).join('; ') || '<i>no source</i>'}</dd>`).join('');
  c.innerHTML = `<div class="card-head"><h3>${esc(d.id)} (${esc(d.kind)}): ${esc(d.name || '')}</h3></div>
    <dl>${rows}</dl>${d.notes ? `<p class="lead">${esc(d.notes)}</p>` : ''}${d.source ? `<p>source: ${link(d.source)}</p>` : ''}`;
}

async function whatif(ui, v, chips) {
  const base = chips.find((c) => c.id === v.w_chip);
  for (const [name, , path] of EDITS) {
    const input = ui.form.elements[name];
    if (input) input.placeholder = base ? fmt(base.figures[path]) : '';
  }
  const set = EDITS.filter(([name]) => v[name]).map(([name, short]) => `${short}=${v[name]}`).join(',');
  if (!v.w_chip || !set) return;
  const r = await api('/api/design', { base: v.w_chip, set });
  if (ui.busy()) return;
  const rows = [['TPP', 'tpp'], ['performance density', 'performance_density'], ['memory GB/s per W', 'memory_gb_s_per_w'],
    ['bf16 TFLOPS', 'tflops.bf16'], ['fp8 TFLOPS', 'tflops.fp8'], ['bf16 TFLOPS per W', 'tflops_per_w.bf16']]
    .map(([label, k]) => {
      const g = (o) => k.split('.').reduce((a, p) => (a ? a[p] : undefined), o);
      return { label, base: g(r.ppa.base), derived: g(r.ppa.derived) };
    });
  const changes = r.changes.map((c) => ({ label: c.field, base: c.from, derived: c.to }));
  const c = table(ui.out, 'whatif', `What-if ${r.id}: ${r.changes.length} change(s) to ${r.base}`, [
    { key: 'label', label: 'figure', fmt: (x) => x.label }, { key: 'base', label: r.base }, { key: 'derived', label: 'what-if' }],
  [...changes, ...rows]);
  c.classList.add('full');
  const go = document.createElement('p');
  const spec = `${v.w_chip}|${set}`;
  const systems = 'dgx-h100,mi300x-8,hgx-h20,atlas-800-a2';
  go.innerHTML = `<a class="btn primary" id="rerun" href="#/compare?model=${encodeURIComponent(v.w_model || 'llama-3.1-70b')}&systems=${encodeURIComponent(systems)}&whatif=${encodeURIComponent(spec)}">Re-run the comparison with this chip</a>`;
  c.querySelector('.card-body').appendChild(go);
}

export default {
  title: 'Catalog',
  lead: 'Chips, systems and models with every figure\'s source (click a row). Edit a chip (what-if) and re-run the comparison with it.',
  fields: [
    { name: 'tab', label: 'show', type: 'select', options: ['chips', 'systems', 'models'], value: 'chips' },
    { name: 'q', label: 'search', placeholder: 'id, name, vendor, family' },
    { name: 'group', label: 'kind', type: 'select', options: [['', 'all'], ...Object.entries(GROUPS)] },
    { name: 'w_chip', label: 'what-if: chip', list: 'dl-chips', placeholder: 'h100-sxm' },
    { name: 'w_bandwidth', label: 'bandwidth GB/s' }, { name: 'w_capacity', label: 'memory GB' },
    { name: 'w_bf16', label: 'bf16 TFLOPS' }, { name: 'w_fp8', label: 'fp8 TFLOPS' },
    { name: 'w_price', label: 'price USD' }, { name: 'w_tdp', label: 'TDP W' },
    { name: 'w_model', label: 'what-if: model to compare', list: 'dl-models', value: 'llama-3.1-70b' },
  ],
  mount() { import('../ui.js').then((m) => m.datalists()); },
  async update(v, ui) {
    const q = v.q.toLowerCase();
    const [chips, systems, models] = await Promise.all([once('/api/catalog/chips'), once('/api/catalog/systems'), once('/api/catalog/models')]);
    if (ui.busy()) return;
    message(ui.status, '');
    ui.out.querySelectorAll('.card').forEach((c) => { if (c.dataset.id !== 'detail') c.remove(); });
    const byId = Object.fromEntries(chips.chips.map((c) => [c.id, c]));
    if (v.tab === 'chips') {
      const rows = chips.chips.filter((c) => (!v.group || c.group === v.group) && match(q, c.id, c.name, c.vendor, c.family));
      const src = (path) => (c) => (c.figures[path] === undefined ? `${path}: unknown`
        : `${path} = ${fmt(c.figures[path])}: ${sourcesOf(c, path).map(shortSource).join('; ') || 'no source'}`);
      table(ui.out, 'chips', `${rows.length} chips (dense rates; ? = unknown; hover a figure for its source)`, [
        { key: 'id', label: 'id', fmt: (c) => c.id }, { key: 'vendor', label: 'vendor', fmt: (c) => c.vendor },
        { key: 'group', label: 'kind', fmt: (c) => GROUPS[c.group] }, { key: 'year', label: 'year', fmt: (c) => c.year ?? '?' },
        { key: 'bf16_tflops', label: 'BF16 TF', tip: src('matrix_tflops.bf16') }, { key: 'fp8_tflops', label: 'FP8 TF', tip: src('matrix_tflops.fp8') },
        { key: 'memory_gb', label: 'GB', tip: src('memory.capacity_gb') }, { key: 'bandwidth_gb_s', label: 'GB/s', tip: src('memory.bandwidth_gb_s') },
        { key: 'tdp_w', label: 'TDP W', tip: src('tdp_w') },
      ], rows, (c) => show(ui, c.id).catch((e) => message(ui.status, e.message))).classList.add('full');
      const known = rows.filter((c) => c.bandwidth_gb_s && c.bf16_tflops);
      const traces = Object.keys(GROUPS).map((g) => {
        const mine = known.filter((c) => c.group === g);
        return { type: 'scatter', mode: 'markers', name: GROUPS[g], x: mine.map((c) => c.bandwidth_gb_s), y: mine.map((c) => c.bf16_tflops),
          text: mine.map((c) => c.id), marker: { size: 9, color: COLORS[g] },
          hovertemplate: '<b>%{text}</b><br>%{x:,} GB/s, %{y:,} BF16 TFLOPS<extra></extra>' };
      }).filter((t) => t.x.length);
      chart(ui.out, 'chip-map', `Memory bandwidth against BF16 compute (${known.length} chips with both)`, traces,
        { xaxis: { type: 'log', title: { text: 'memory GB/s' } }, yaxis: { type: 'log', title: { text: 'dense BF16 TFLOPS' } } });
    } else if (v.tab === 'systems') {
      const rows = systems.systems.filter((s) => (!v.group || (byId[s.chip] || {}).group === v.group) && match(q, s.id, s.name, s.vendor, s.chip));
      table(ui.out, 'systems', `${rows.length} systems (1x<chip> and <n>x<chip> also work)`, [
        { key: 'id', label: 'id', fmt: (s) => s.id }, { key: 'chip', label: 'chip', fmt: (s) => s.chip }, { key: 'chips', label: 'chips' },
        { key: 'chips_per_node', label: 'per node' }, { key: 'tech', label: 'scale-up', fmt: (s) => (s.scale_up ? s.scale_up.tech || '' : '') },
        { key: 'bw', label: 'GB/s/dir', fmt: (s) => (s.scale_up ? fmt(s.scale_up.bandwidth_gb_s) : '') },
        { key: 'domain', label: 'domain', fmt: (s) => (s.scale_up ? s.scale_up.domain : 1) },
      ], rows, (s) => show(ui, s.id).catch((e) => message(ui.status, e.message))).classList.add('full');
    } else {
      const rows = models.models.filter((m) => match(q, m.id, m.name));
      table(ui.out, 'models', `${rows.length} models`, [
        { key: 'id', label: 'id', fmt: (m) => m.id }, { key: 'layers', label: 'layers' }, { key: 'hidden', label: 'hidden' },
        { key: 'moe', label: 'MoE', fmt: (m) => (m.moe ? 'yes' : '') }, { key: 'total_params_b', label: 'params B' },
        { key: 'active_params_b', label: 'active B' }, { key: 'published_total_b', label: 'published B' },
      ], rows, (m) => show(ui, m.id).catch((e) => message(ui.status, e.message))).classList.add('full');
    }
    await whatif(ui, v, chips.chips);
  },
};
