// Validation: predicted against measured on log axes, and the error by hardware family and by engine.
// Data: a measurement CSV the server offers by name, or one uploaded here (parsed by the server as data).
import { api, chart, esc, fmt, job, kpis, message, table } from '../ui.js';

let upload = null; // {name, text}
let running = null;
const PALETTE = ['#2f6fba', '#d0453b', '#2e9b5f', '#e08a2c', '#8a5cc2', '#1b9aaa', '#b5651d', '#9aa5b1', '#c2185b', '#455a64'];

function byGroup(rows, key) {
  const g = {};
  for (const r of rows) if (r.ape !== null && r.ape !== undefined) (g[r[key]] = g[r[key]] || []).push(r);
  return Object.entries(g).map(([k, rs]) => ({ k, n: rs.length, mape: rs.reduce((a, r) => a + r.ape, 0) / rs.length,
    bias: rs.reduce((a, r) => a + (r.signed ?? 0), 0) / rs.length })).sort((a, b) => b.n - a.n);
}

function errorChart(ui, id, title, groups) {
  chart(ui.out, id, title, [{ type: 'bar', name: 'MAPE', x: groups.map((g) => g.k), y: groups.map((g) => 100 * g.mape),
    marker: { color: '#2f6fba' }, customdata: groups.map((g) => [g.n, 100 * g.bias]),
    hovertemplate: '<b>%{x}</b>: MAPE %{y:.1f}%<br>%{customdata[0]} rows, bias %{customdata[1]:+.1f}%<extra></extra>' }],
  { yaxis: { title: { text: 'mean absolute % error' } }, xaxis: { tickangle: -30 } });
}

export default {
  title: 'Validation: predicted against measured',
  nav: 'Validation',
  lead: 'Every row of a measurement file predicted from its setup alone. Rows suanli cannot predict are counted as skipped, with the reason.',
  fields: [
    { name: 'dataset', label: 'dataset offered by the server', type: 'select', options: [['', '(none: upload a CSV)']] },
    { name: 'csv', label: 'or upload a measurement CSV', type: 'file', accept: '.csv,text/csv' },
    { name: 'kind', label: 'metrics', type: 'select', options: [['', 'all'], ['throughput', 'throughput'], ['latency', 'latency']] },
  ],
  async mount(ui) {
    const sel = ui.form.elements.dataset;
    const want = new URLSearchParams(location.hash.split('?')[1] || '').get('dataset') || '';
    const { datasets } = await api('/api/validate/datasets');
    for (const d of datasets) { const o = document.createElement('option'); o.value = d; o.textContent = d; sel.appendChild(o); }
    if (datasets.includes(want)) sel.value = want;
    else if (!want && datasets.length) sel.value = datasets.includes('edge_cn') ? 'edge_cn' : datasets[0];
    const file = ui.form.elements.csv;
    file.addEventListener('change', async () => {
      const f = file.files[0];
      upload = null;
      if (f && f.size > 5e6) { message(ui.status, 'data: the file is larger than 5 MB'); return; }
      if (f) { upload = { name: f.name, text: await f.text() }; sel.value = ''; }
      ui.rerun();
    });
    ui.rerun();
  },
  async update(v, ui) {
    if (running) running.cancel();
    if (!v.dataset && !upload) {
      if (ui.form.elements.dataset.options.length > 1 || ui.mounted) message(ui.status, 'Pick a dataset or upload a measurement CSV.', 'info');
      ui.mounted = true;
      return;
    }
    const body = upload && !v.dataset ? { csv: upload.text } : { dataset: v.dataset };
    const mine = job('validate', body, (s) => {
      if (ui.busy()) return;
      ui.status.innerHTML = `<div class="row"><span>${esc(s.message || s.status)}</span><button type="button" class="btn" id="cancel">Cancel</button></div>
        <div class="progress"><div style="width:${Math.round(100 * s.progress)}%"></div></div>`;
      ui.status.querySelector('#cancel').onclick = () => mine.cancel();
    });
    running = mine;
    const res = await mine.promise;
    if (ui.busy()) return;
    running = null;
    message(ui.status, '');
    const rows = res.rows.filter((r) => !v.kind || r.kind === v.kind);
    const done = rows.filter((r) => r.predicted !== null && r.predicted > 0);
    const mape = done.length ? done.reduce((a, r) => a + r.ape, 0) / done.length : null;
    const banded = done.filter((r) => r.p10 !== null && r.p10 !== undefined);
    const inside = banded.filter((r) => r.p10 <= r.measured && r.measured <= r.p90).length;
    kpis(ui.kpis, [['rows', rows.length], ['predicted', done.length], ['skipped', rows.length - done.length],
      ['MAPE', mape === null ? '?' : `${fmt(100 * mape)}%`],
      ['in P10-P90', banded.length ? `${fmt(100 * inside / banded.length)}%` : '-',
        'share of measured values inside the interval band of their prediction (the bundled bands; on the bundled files this is their own fit)'],
      ['source', upload && !v.dataset ? upload.name : v.dataset]]);
    const fams = [...new Set(done.map((r) => r.family))];
    const traces = fams.map((f, i) => {
      const mine2 = done.filter((r) => r.family === f);
      return { type: 'scatter', mode: 'markers', name: f, x: mine2.map((r) => r.measured), y: mine2.map((r) => r.predicted),
        marker: { size: 7, color: PALETTE[i % PALETTE.length], symbol: mine2.map((r) => (r.kind === 'latency' ? 'diamond' : 'circle')), opacity: 0.8 },
        customdata: mine2.map((r) => `${esc(r.id)}: ${esc(r.hardware)} ${esc(r.model)} ${esc(r.engine || '')}<br>${esc(r.metric)}, error ${fmt(100 * r.signed)}%`
          + (r.p10 ? `<br>P10-P90 of the measured value ${fmt(r.p10)}-${fmt(r.p90)}` : '')),
        hovertemplate: 'measured %{x:.4g}, predicted %{y:.4g}<br>%{customdata}<extra></extra>' };
    });
    const vals = done.flatMap((r) => [r.measured, r.predicted]);
    const lo = Math.min(...vals, 1), hi = Math.max(...vals, 10);
    traces.push({ type: 'scatter', mode: 'lines', name: 'predicted = measured', x: [lo, hi], y: [lo, hi], line: { color: '#1d2530', dash: 'dash' }, hoverinfo: 'skip' });
    traces.push({ type: 'scatter', mode: 'lines', name: '±25%', x: [lo, hi, null, lo, hi], y: [lo * 1.25, hi * 1.25, null, lo * 0.75, hi * 0.75],
      line: { color: '#9aa5b1', dash: 'dot' }, hoverinfo: 'skip' });
    chart(ui.out, 'scatter', 'Predicted against measured (circles: throughput, diamonds: latency)', traces,
      { xaxis: { type: 'log', title: { text: 'measured' } }, yaxis: { type: 'log', title: { text: 'predicted' } }, height: 460 },
      { full: true });
    errorChart(ui, 'by-family', 'Error by hardware family', byGroup(done, 'family'));
    errorChart(ui, 'by-engine', 'Error by engine', byGroup(done, 'engine_family'));
    const skipped = Object.entries(res.summary.skipped_reasons || {}).map(([reason, n]) => ({ reason, n }));
    if (skipped.length) {
      table(ui.out, 'skipped', 'Skipped rows and why', [{ key: 'n', label: 'rows' }, { key: 'reason', label: 'reason', fmt: (r) => r.reason }], skipped);
    }
  },
};
