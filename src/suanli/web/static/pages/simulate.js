// Simulate: a request stream through a simulated engine, as a background job with progress and cancel.
// Latency CDFs (TTFT, TPOT, end-to-end), and throughput and queue length over time.
import { PRECISIONS, chart, datalists, esc, fmt, job, kpis, message, num } from '../ui.js';

let running = null;
let trace = null; // {name, text}: an uploaded trace CSV, kept in memory only

function progress(ui, s) {
  const pct = Math.round(100 * (s.progress || 0));
  ui.status.innerHTML = `<div class="row"><span>${s.status}: ${s.message || ''} (${pct}%, ${fmt(s.elapsed_s)} s)</span>
    <button type="button" class="btn" id="cancel">Cancel</button></div><div class="progress"><div style="width:${pct}%"></div></div>`;
  ui.status.querySelector('#cancel').onclick = () => { if (running) running.cancel(); message(ui.status, 'cancelled', 'info'); };
}

// `band`: the P10-P90 interval of the p99 (held-out errors of its class), drawn as an error bar at the 99th percentile
function cdf(ui, id, title, c, unit, color, p99, band) {
  const data = [{ type: 'scatter', mode: 'lines', name: title, x: c.x, y: c.y, line: { color, width: 2 },
    hovertemplate: `%{x:.4g} ${unit}: %{y:.1%} of requests<extra></extra>` }];
  if (band && p99) {
    data.push({ type: 'scatter', mode: 'markers', name: 'p99, P10-P90', x: [p99], y: [0.99], marker: { color: '#1d2530', size: 7 },
      error_x: { type: 'data', symmetric: false, array: [band.p90 - p99], arrayminus: [p99 - band.p10], color: '#1d2530' },
      hovertemplate: `p99 %{x:.4g} ${unit}; P10-P90 ${fmt(band.p10)}-${fmt(band.p90)} ${unit}<br>${esc(band.basis)}<extra></extra>` });
  }
  chart(ui.out, id, title, data,
    { xaxis: { title: { text: unit } }, yaxis: { title: { text: 'share of requests' }, tickformat: '.0%', range: [0, 1.02] }, showlegend: false });
}

export default {
  title: 'Simulate serving under load',
  nav: 'Simulate',
  lead: 'Requests arrive, a scheduler batches them (chunked prefill, KV cache, preemption): what users see and how the queue behaves. Runs in the background.',
  fields: [
    { name: 'model', value: 'llama-3.1-8b', list: 'dl-models' },
    { name: 'system', value: '1xh100-sxm', list: 'dl-systems' },
    { name: 'tp', type: 'number', value: '1' }, { name: 'dp', type: 'number', value: '1' },
    { name: 'precision', type: 'select', options: PRECISIONS, value: 'fp8' },
    { name: 'engine', label: 'engine (blank: best-known)', list: 'dl-engines', placeholder: 'vllm==0.9.2' },
    { name: 'arrival', type: 'select', options: ['poisson', 'gamma', 'concurrency'], value: 'poisson' },
    { name: 'rate', label: 'rate req/s', type: 'number', value: '10' },
    { name: 'cv', label: 'cv (gamma)', type: 'number' },
    { name: 'concurrency', label: 'clients (closed loop)', type: 'number' },
    { name: 'input', label: 'input tokens / dist', value: 'lognormal:mean=1000,sigma=0.5' },
    { name: 'output', label: 'output tokens / dist', value: '200' },
    { name: 'requests', type: 'number', value: '2000' },
    { name: 'seed', type: 'number', value: '0' },
    { name: 'slo', label: 'SLO', value: 'ttft_p99=2s,tpot_p99=50ms' },
    { name: 'trace', label: 'trace CSV (optional)', type: 'file', accept: '.csv,text/csv' },
  ],
  mount(ui) {
    datalists();
    const file = ui.form.elements.trace;
    file.addEventListener('change', async () => {
      const f = file.files[0];
      trace = null;
      if (f && f.size > 5e6) { message(ui.status, 'trace: the file is larger than 5 MB'); return; }
      if (f) trace = { name: f.name, text: await f.text() };
      ui.rerun();
    });
  },
  async update(v, ui) {
    if (running) running.cancel();
    const body = { model: v.model, system: v.system, tp: num(v.tp), dp: num(v.dp), precision: v.precision, engine: v.engine || null,
      arrival: v.arrival, rate: num(v.rate), cv: num(v.cv), concurrency: num(v.concurrency), input: v.input,
      output: v.output, requests: num(v.requests), seed: num(v.seed), slo: v.slo || undefined };
    if (v.arrival === 'concurrency') { body.rate = undefined; body.arrival = 'poisson'; }
    if (trace) body.trace_csv = trace.text;
    const mine = job('simulate', body, (s) => { if (!ui.busy()) progress(ui, s); });
    running = mine;
    const s = await mine.promise;
    if (ui.busy()) return;
    running = null;
    message(ui.status, '');
    const th = s.throughput;
    const iv = s.intervals || {};
    const band = (k) => (iv[k] ? ` (P10-P90 ${fmt(iv[k].p10)}-${fmt(iv[k].p90)})` : '');
    const basis = (k) => (iv[k] ? `P10-P90 of the p99 from ${iv[k].basis}` : 'no interval band for this prediction');
    kpis(ui.kpis, [
      ['completed', `${s.completed} / ${s.requests}`],
      ['TTFT p50 / p99', `${fmt(s.ttft_ms.p50)} / ${fmt(s.ttft_ms.p99)} ms${band('ttft_ms.p99')}`, basis('ttft_ms.p99')],
      ['TPOT p50 / p99', `${fmt(s.tpot_ms.p50)} / ${fmt(s.tpot_ms.p99)} ms${band('tpot_ms.p99')}`, basis('tpot_ms.p99')],
      ['req/s', fmt(th.requests_s)],
      ['output tok/s', fmt(th.output_tok_s)], ['goodput req/s', fmt(s.goodput_requests_s)],
      ['SLO', s.slo_met === null ? 'none given' : (s.slo_met ? `met (${fmt(100 * s.slo_attainment)}%)` : `missed (${fmt(100 * s.slo_attainment)}%)`)],
      ['simulated / wall', `${fmt(s.simulated_s)} s in ${fmt(s.wall_s)} s`],
    ]);
    const ser = s.series;
    cdf(ui, 'cdf-ttft', 'TTFT CDF', ser.cdf.ttft_ms, 'ms', '#2f6fba', s.ttft_ms.p99, iv['ttft_ms.p99']);
    cdf(ui, 'cdf-tpot', 'TPOT CDF', ser.cdf.tpot_ms, 'ms', '#e08a2c', s.tpot_ms.p99, iv['tpot_ms.p99']);
    cdf(ui, 'cdf-e2e', 'End-to-end latency CDF', ser.cdf.e2e_s, 's', '#2e9b5f');
    chart(ui.out, 'throughput', 'Throughput over time', [
      { type: 'scatter', mode: 'lines', name: 'output tok/s', x: ser.time_s, y: ser.output_tok_s, line: { color: '#2f6fba' } },
      { type: 'scatter', mode: 'lines', name: 'completed req/s', x: ser.time_s, y: ser.requests_s, yaxis: 'y2', line: { color: '#e08a2c' } },
    ], { xaxis: { title: { text: 'simulated time (s)' } }, yaxis: { title: { text: 'output tok/s' } },
      yaxis2: { title: { text: 'req/s' }, overlaying: 'y', side: 'right', showgrid: false, automargin: true }, margin: { r: 60 } });
    chart(ui.out, 'queue', 'Queue length over time', [
      { type: 'scatter', mode: 'lines', name: 'waiting for first token', x: ser.time_s, y: ser.waiting, line: { color: '#d0453b' } },
      { type: 'scatter', mode: 'lines', name: 'in the system', x: ser.time_s, y: ser.in_system, line: { color: '#8a5cc2' } },
    ], { xaxis: { title: { text: 'simulated time (s)' } }, yaxis: { title: { text: 'requests' } } });
  },
};
