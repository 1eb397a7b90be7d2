// Silicon and policy: die cost and yield for a die area and node; TPP and performance density of the catalog
// against the US export-control (3A090) thresholds.
import { COLORS, api, chart, esc, fmt, kpis, message, num, table } from '../ui.js';

const NODES = ['2nm', '3nm', '4nm', '5nm', '6nm', '7nm', '10nm', '12nm', '16nm', '28nm', '40nm', '90nm'];
const YIELD_COLORS = { poisson: '#2f6fba', murphy: '#e08a2c', seeds: '#2e9b5f', 'negative-binomial': '#d0453b' };
const CLASS_COLORS = { '3A090.a': '#d0453b', '3A090.b': '#e08a2c', below: '#2e9b5f', unknown: '#9aa5b1' };
const AREAS = Array.from({ length: 34 }, (_, i) => 50 + 25 * i);
let policyCache = null;

function classKey(c) {
  if (c.startsWith('3A090.a')) return '3A090.a';
  if (c.startsWith('3A090.b')) return '3A090.b';
  return c.startsWith('below') ? 'below' : 'unknown';
}

async function policy(ui, v) {
  policyCache = policyCache || await api('/api/policy', { chips: 'all' });
  const p = policyCache;
  const r23 = p.rules['oct-2023'];
  const chips = p.chips.filter((c) => c.tpp !== null && (!v.vendor || c.vendor === v.vendor));
  const traces = Object.keys(CLASS_COLORS).map((k) => {
    const mine = chips.filter((c) => classKey(c.class) === k);
    return { type: 'scatter', mode: 'markers', name: k === 'unknown' ? 'class unknown' : k,
      x: mine.map((c) => c.tpp), y: mine.map((c) => c.performance_density ?? 0.1), text: mine.map((c) => c.id),
      marker: { size: 9, color: CLASS_COLORS[k], symbol: mine.map((c) => (c.performance_density === null ? 'x' : 'circle')) },
      customdata: mine.map((c) => `TPP ${fmt(c.tpp)} (${esc(c.tpp_dtype)}), PD ${fmt(c.performance_density)}<br>${esc(c.class)}` +
        (c.named ? `<br>${esc(c.named.slice(0, 90))}…` : '')),
      hovertemplate: '<b>%{text}</b><br>%{customdata}<extra></extra>' };
  }).filter((t) => t.x.length);
  const vline = (x, text) => ({ type: 'line', x0: x, x1: x, yref: 'paper', y0: 0, y1: 1, line: { color: '#5b6775', dash: 'dot' }, name: text });
  const hseg = (y, x0, x1) => ({ type: 'line', x0, x1, y0: y, y1: y, line: { color: '#5b6775', dash: 'dash' } });
  const shapes = [vline(r23.a_tpp_min), vline(r23.b2_tpp_min), vline(r23.b1_tpp_min),
    hseg(r23.a2_pd_min, r23.a2_tpp_min, r23.a_tpp_min), hseg(r23.b2_pd_min, r23.b2_tpp_min, r23.a_tpp_min),
    hseg(r23.b1_pd_min, r23.b1_tpp_min, r23.a_tpp_min)];
  const ann = [[r23.a_tpp_min, 'TPP 4800'], [r23.b2_tpp_min, '1600'], [r23.b1_tpp_min, '2400']]
    .map(([x, t]) => ({ x: Math.log10(x), yref: 'paper', y: 1.02, text: t, showarrow: false, font: { size: 10 } }));
  ann.push(...[[r23.a2_pd_min, 'PD 5.92'], [r23.b2_pd_min, 'PD 3.2'], [r23.b1_pd_min, 'PD 1.6']]
    .map(([y, t]) => ({ x: Math.log10(r23.b2_tpp_min), y: Math.log10(y), text: t, showarrow: false, xanchor: 'right', font: { size: 10 } })));
  chart(ui.out, 'policy', `TPP and performance density against 3A090 (Oct 2023 thresholds, kept Dec 2024): ${chips.length} chips; x: die area unknown, PD drawn at 0.1`, traces,
    { xaxis: { type: 'log', title: { text: 'TPP (dense TOPS x bit length)' } }, yaxis: { type: 'log', title: { text: 'performance density (TPP / mm²)' } },
      shapes, annotations: ann, height: 480 }, { full: true });
  ui.disclaimer.textContent = p.disclaimer;
}

export default {
  title: 'Silicon and policy',
  nav: 'Silicon & policy',
  lead: 'What a die costs at a node (dies per wafer, yield, cost per good die), and where catalog chips fall under US export-control thresholds.',
  fields: [
    { name: 'die_area', label: 'die area mm²', type: 'number', value: '800' },
    { name: 'node', type: 'select', options: NODES, value: '7nm' },
    { name: 'defect_density', label: 'defects / cm² (blank: node default)', type: 'number' },
    { name: 'wafer_price', label: 'wafer USD (blank: node default)', type: 'number' },
    { name: 'yield_model', label: 'yield model', type: 'select', options: ['negative-binomial', 'poisson', 'murphy', 'seeds'] },
    { name: 'hbm_stacks', label: 'HBM stacks', type: 'number', value: '0' },
    { name: 'vendor', label: 'policy: vendor', type: 'select', options: [['', 'all'], 'nvidia', 'amd', 'huawei', 'google', 'intel', 'aws',
      'cambricon', 'biren', 'moore-threads', 'metax', 'hygon', 'kunlunxin', 'apple', 'qualcomm'] },
  ],
  mount(ui) {
    ui.disclaimer = document.createElement('p');
    ui.disclaimer.className = 'lead';
    ui.root.appendChild(ui.disclaimer);
  },
  async update(v, ui) {
    const body = { die_area: num(v.die_area), node: v.node, defect_density: num(v.defect_density), wafer_price: num(v.wafer_price),
      yield_model: v.yield_model, hbm_stacks: num(v.hbm_stacks) };
    const [r, sweep] = await Promise.all([api('/api/silicon', body), api('/api/silicon/sweep', { ...body, die_area: undefined, areas: AREAS })]);
    if (ui.busy()) return;
    message(ui.status, '');
    kpis(ui.kpis, [['dies per wafer', `${r.dies_per_wafer} (${fmt(r.dies_per_wafer_exact)})`],
      [`yield (${r.yield_model})`, fmt(r.yield[r.yield_model])], ['good dies per wafer', fmt(r.good_dies_per_wafer)],
      ['cost per good die', `$${fmt(r.cost_per_good_die_usd)}`], ['packaged chip', `$${fmt(r.packaged_cost_usd)}`],
      ['wafer', `$${fmt(r.wafer_price_usd)}`]]);
    const pts = sweep.points;
    const ytr = Object.keys(YIELD_COLORS).map((m) => ({ type: 'scatter', mode: 'lines', name: m, x: pts.map((p) => p.die_area_mm2),
      y: pts.map((p) => p.yield[m]), line: { color: YIELD_COLORS[m], width: m === r.yield_model ? 3 : 1.5 },
      hovertemplate: `${m}: %{y:.3f} at %{x} mm²<extra></extra>` }));
    ytr.push({ type: 'scatter', mode: 'markers', name: 'this die', x: [r.die_area_mm2], y: [r.yield[r.yield_model]],
      marker: { size: 12, color: '#1d2530', symbol: 'star' }, hovertemplate: 'this die: %{y:.3f}<extra></extra>' });
    chart(ui.out, 'yield', `Yield against die area at ${r.node} (defects ${fmt(r.assumptions.defect_density ? r.assumptions.defect_density.value : null)}/cm²)`, ytr,
      { xaxis: { title: { text: 'die area mm²' } }, yaxis: { title: { text: 'yield' }, range: [0, 1.02] } });
    chart(ui.out, 'die-cost', 'Cost per good die against die area', [
      { type: 'scatter', mode: 'lines', name: 'cost per good die', x: pts.map((p) => p.die_area_mm2), y: pts.map((p) => p.cost_per_good_die_usd), line: { color: COLORS.compute } },
      { type: 'scatter', mode: 'markers', name: 'this die', x: [r.die_area_mm2], y: [r.cost_per_good_die_usd], marker: { size: 12, color: '#1d2530', symbol: 'star' } },
    ], { xaxis: { title: { text: 'die area mm²' } }, yaxis: { title: { text: 'USD per good die' }, type: 'log' } });
    table(ui.out, 'assumptions', 'Figures used and their sources', [
      { key: 'k', label: 'figure', fmt: (a) => a.k }, { key: 'value', label: 'value' }, { key: 'unit', label: 'unit', fmt: (a) => a.unit },
      { key: 'source', label: 'source', fmt: (a) => a.source + (a.note ? ` (${a.note})` : '') }],
    Object.entries(r.assumptions).map(([k, a]) => ({ k, ...a })));
    await policy(ui, v);
  },
};
