// Predict: one deployment, op by op. Stacked bars of where a step's time goes (compute / memory / network /
// overhead) and the memory of one chip (weights, KV cache, activations, reserve, free) against its capacity.
import { COLORS, PRECISIONS, api, chart, datalists, fmt, kpis, message, num, table } from '../ui.js';

const BOUNDS = ['compute', 'memory', 'network', 'overhead'];
let uploaded = null; // {name, config} from a config.json the user picked (kept in memory only)

function opChart(ui, d, phase) {
  const ops = d.breakdown.filter((o) => o.phase === phase);
  const label = ops.map((o) => o.name);
  const traces = BOUNDS.map((b) => ({
    type: 'bar', name: b, x: label, y: ops.map((o) => (o.bound === b ? o.time_ms : 0)), marker: { color: COLORS[b] },
    customdata: ops.map((o) => `${o.op_class}, x${o.count}: ${fmt(o.gflops)} GFLOP, ${fmt(o.mbytes)} MB moved` +
      (o.comm_mbytes ? `, ${fmt(o.comm_mbytes)} MB sent` : '')),
    hovertemplate: '<b>%{x}</b> (' + b + '-bound): %{y:.4g} ms<br>%{customdata}<extra></extra>',
  }));
  const title = phase === 'decode' ? 'Decode step (mid-generation), op by op' : 'Prefill of the batch, op by op';
  chart(ui.out, `ops-${phase}`, title, traces, { barmode: 'stack', yaxis: { title: { text: 'ms per step' } },
    xaxis: { tickangle: -40 } });
}

function phaseChart(ui, d) {
  const phases = ['prefill', 'decode'];
  const sums = phases.map((p) => {
    const s = Object.fromEntries(BOUNDS.map((b) => [b, 0]));
    for (const o of d.breakdown) if (o.phase === p) s[o.bound] = (s[o.bound] || 0) + o.time_ms;
    return s;
  });
  const totals = sums.map((s) => BOUNDS.reduce((a, b) => a + s[b], 0) || 1);
  const traces = BOUNDS.map((b) => ({
    type: 'bar', name: b, x: ['prefill (batch)', 'decode step'], marker: { color: COLORS[b] },
    y: sums.map((s, i) => (100 * s[b]) / totals[i]), customdata: sums.map((s) => s[b]),
    hovertemplate: `%{x}: ${b} %{y:.1f}% = %{customdata:.4g} ms<extra></extra>`,
  }));
  chart(ui.out, 'bounds', 'Where the time goes (share of step time by bound)', traces,
    { barmode: 'stack', yaxis: { title: { text: '% of step time' }, range: [0, 100] } });
}

function memoryChart(ui, d) {
  const m = d.memory_gb_per_chip;
  const parts = [['weights', '#2f6fba'], ['kv_cache', '#e08a2c'], ['activations', '#8a5cc2'], ['reserve', '#9aa5b1']];
  const traces = parts.map(([k, c]) => ({ type: 'bar', orientation: 'h', name: k.replace('_', ' '), y: [d.chip], x: [m[k]],
    marker: { color: c }, hovertemplate: `${k.replace('_', ' ')}: %{x:.2f} GB<extra></extra>` }));
  if (m.free > 0) traces.push({ type: 'bar', orientation: 'h', name: 'free', y: [d.chip], x: [m.free],
    marker: { color: '#d5dde6' }, hovertemplate: 'free: %{x:.2f} GB<extra></extra>' });
  const used = m.weights + m.kv_cache + m.activations + (m.reserve || 0);
  if (m.capacity === undefined) {  // the chip's capacity is not in the catalog: what the model needs, no verdict
    chart(ui.out, 'memory', `Memory of one chip: ${fmt(used)} GB needed; capacity unknown, fit not checked`,
      traces.filter((t) => t.x[0] !== undefined), { barmode: 'stack', xaxis: { title: { text: 'GB per chip' } } });
    return;
  }
  chart(ui.out, 'memory', `Memory of one chip: ${fmt(used)} of ${fmt(m.capacity)} GB` + (d.fits ? ' (fits)' : ' (does not fit)'),
    traces, { barmode: 'stack', xaxis: { title: { text: 'GB per chip' } },
      shapes: [{ type: 'line', x0: m.capacity, x1: m.capacity, y0: -0.5, y1: 0.5, line: { color: '#d0453b', width: 3 } }],
      annotations: [{ x: m.capacity, y: 0.5, text: 'capacity', showarrow: false, yanchor: 'bottom', font: { color: '#d0453b' } }] });
}

function engineLabel(e) {
  return e ? `${e.name} ${e.version || (e.as_of ? `(as of ${e.as_of})` : '')}`.trim() : '?';
}

function engineTip(e) {
  if (!e) return '';
  const paths = Object.entries(e.paths).map(([k, v]) => `${k}: ${v}`).join('\n');
  return `${e.note ? e.note + '\n' : ''}${paths}`;
}

export default {
  title: 'Predict one deployment',
  nav: 'Predict',
  lead: 'TTFT, TPOT, throughput and memory fit, explained op by op. Upload a config.json to predict a model not in the catalog.',
  fields: [
    { name: 'model', value: 'llama-3.1-70b', list: 'dl-models' },
    { name: 'system', value: 'dgx-h100', list: 'dl-systems' },
    { name: 'tp', type: 'number', value: '8' }, { name: 'pp', type: 'number', value: '1' },
    { name: 'ep', type: 'number', value: '1' }, { name: 'dp', type: 'number', value: '1' },
    { name: 'precision', type: 'select', options: PRECISIONS, value: 'fp8' },
    { name: 'engine', label: 'engine (blank: best-known)', list: 'dl-engines', placeholder: 'vllm==0.9.2' },
    { name: 'batch', type: 'number', value: '64' },
    { name: 'input', label: 'input tokens', type: 'number', value: '2048' },
    { name: 'output', label: 'output tokens', type: 'number', value: '128' },
    { name: 'speculative', label: 'speculative (blank: none)', placeholder: 'mtp:3, eagle:4, draft=llama-3.2-1b:4' },
    { name: 'images', label: 'images per prompt (VLMs; blank: none)', placeholder: '1, 2@1280x720' },
    { name: 'config', label: 'config.json (optional)', type: 'file', accept: '.json,application/json' },
  ],
  mount(ui) {
    datalists();
    const file = ui.form.elements.config;
    file.addEventListener('change', async () => {
      const f = file.files[0];
      uploaded = null;
      if (!f) return;
      if (f.size > 5e6) { message(ui.status, 'config: the file is larger than 5 MB'); return; }
      try { uploaded = { name: f.name.replace(/\.json$/i, ''), config: JSON.parse(await f.text()) }; }
      catch (e) { message(ui.status, `config: ${f.name} is not valid JSON (${e.message})`); return; }
      ui.form.elements.model.value = uploaded.name;
      ui.rerun();
    });
  },
  async update(v, ui) {
    const body = { model: v.model, system: v.system, tp: num(v.tp), pp: num(v.pp), ep: num(v.ep), dp: num(v.dp),
      precision: v.precision, engine: v.engine || null, batch: num(v.batch), input: num(v.input),
      output: num(v.output), speculative: v.speculative || null, images: v.images || null };
    if (uploaded && uploaded.name === v.model) body.config = uploaded.config;
    let d, error = '';
    try { d = await api('/api/predict', body); } catch (e) {
      if (!(e.data && e.data.result)) throw e;
      d = e.data.result; error = e.message;  // does not fit: show why, and the memory that does not fit
    }
    if (ui.busy()) return;
    message(ui.status, error);
    const iv = d.intervals || {};
    const band = (k) => (iv[k] ? ` (P10-P90 ${fmt(iv[k].p10)}-${fmt(iv[k].p90)})` : '');
    const basis = (k) => (iv[k] ? `P10-P90 from ${iv[k].basis}` : 'no interval band for this prediction');
    kpis(ui.kpis, [
      ['TTFT (batch prefill)', `${fmt(d.ttft_ms)} ms`, 'prefill of the whole batch; ' + basis('ttft_ms')],
      ['TTFT (joining a running batch)', `${fmt(d.ttft_loaded_ms)} ms${band('ttft_loaded_ms')}`, basis('ttft_loaded_ms')],
      ['TPOT', `${fmt(d.tpot_ms)} ms${band('tpot_ms')}`, basis('tpot_ms')], ['output tok/s', fmt(d.output_tok_s)],
      ['tok/s per chip', `${fmt(d.output_tok_s_per_chip)}${band('output_tok_s_per_chip')}`, basis('output_tok_s_per_chip')],
      ['chips', `${d.chips} x ${d.chip}`],
      ['fits', d.fits === null ? 'not checked (capacity unknown)' : (d.fits ? 'yes' : 'no')], ['factors', d.factors === 'calibrated' ? 'calibrated' : d.factors.split(/[:;]/)[0], d.factors],
      ['engine', engineLabel(d.engine), engineTip(d.engine)],
      ...(d.engine && d.engine.paths.speculative ? [['speculative', d.engine.paths.speculative.split(' tokens out')[0]
        + ' tokens out', d.engine.paths.speculative]] : []),
      ...(d.engine && d.engine.paths.vision ? [['images', d.engine.paths.vision.split(' (')[0], d.engine.paths.vision]]
        : []),
    ]);
    memoryChart(ui, d);
    phaseChart(ui, d);
    opChart(ui, d, 'decode');
    opChart(ui, d, 'prefill');
    table(ui.out, 'ops', 'Every op (time per step)', [
      { key: 'phase', label: 'phase', fmt: (o) => o.phase }, { key: 'name', label: 'op', fmt: (o) => o.name },
      { key: 'op_class', label: 'class', fmt: (o) => o.op_class }, { key: 'count', label: 'count' },
      { key: 'time_ms', label: 'ms' }, { key: 'bound', label: 'bound', fmt: (o) => o.bound },
      { key: 'gflops', label: 'GFLOP' }, { key: 'mbytes', label: 'MB' }, { key: 'comm_mbytes', label: 'MB sent' },
    ], d.breakdown).classList.add('full');
  },
};
