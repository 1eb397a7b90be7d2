// Plan: the planner's Pareto front per system (throughput per chip against speed per user); clicking a point
// shows its deployment and the chips the load needs. When the planner is not in this build, says so.
import { PRECISIONS, api, chart, datalists, download, esc, fmt, job, kpis, message, num, table } from '../ui.js';

const POINT_KEYS = ['pareto', 'front', 'frontier', 'points', 'candidates', 'configs', 'deployments'];
const X_PREF = ['tok_s_per_user', 'interactivity_tok_s', 'tok_s_user', 'tpot_p99_ms', 'tpot_ms'];
const Y_PREF = ['output_tok_s_per_chip', 'tok_s_per_chip', 'throughput_per_chip', 'output_tok_s'];
const PALETTE = ['#2f6fba', '#d0453b', '#2e9b5f', '#e08a2c', '#8a5cc2', '#1b9aaa', '#9aa5b1'];
let running = null;

// The front of a system: the planner's top-level `pareto` list ({system, points}), else a list in the entry.
let fronts = {};
function pointsOf(s) {
  if (fronts[s.system]) return fronts[s.system];
  for (const k of POINT_KEYS) if (Array.isArray(s[k]) && s[k].length && typeof s[k][0] === 'object') return s[k];
  return s.best ? [s.best] : [];
}
const flat = (o, pre = '') => Object.entries(o || {}).flatMap(([k, v]) => (v && typeof v === 'object' && !Array.isArray(v)
  ? flat(v, `${pre}${k}.`) : [[`${pre}${k}`, v]]));
function pick(points, pref, want) {
  const keys = new Set(points.flatMap((p) => flat(p).filter(([, v]) => typeof v === 'number').map(([k]) => k)));
  if (want && keys.has(want)) return want;
  return pref.find((k) => keys.has(k)) || [...keys][0];
}
const get = (p, key) => Object.fromEntries(flat(p))[key];

let planned = {};
function detail(ui, system, p) {
  const s = (planned.systems || []).find((x) => x.system === system) || {};
  const load = planned.load, head = planned.headroom ?? 0;
  const extra = [];
  const same = s.best && s.best.label === p.label
    && Math.abs(s.best.output_tok_s_per_chip - p.output_tok_s_per_chip) <= 1e-6 * Math.abs(p.output_tok_s_per_chip);
  if (same) extra.push(['chips needed for the load (the planner\'s best)', s.best.chips_needed]);
  else if (load && p.output_tok_s_per_chip) {
    extra.push(['chips for the load at this point\'s analytic throughput (load x (1 + headroom) / tok/s per chip)',
      Math.ceil((load.output_tok_s * (1 + head)) / p.output_tok_s_per_chip)]);
    if (s.best) extra.push(['chips the planner\'s best (simulator-checked) deployment needs', s.best.chips_needed]);
  }
  if (load) extra.push(['load', load.described || load.text]);
  const rows = [...extra.map(([k, v]) => ({ k, v })), ...flat(p).map(([k, v]) => ({ k, v }))];
  table(ui.out, 'point', `Chosen point on ${system}: deployment and chips for the load`,
    [{ key: 'k', label: 'field', fmt: (r) => r.k }, { key: 'v', label: 'value', fmt: (r) => (typeof r.v === 'number' ? fmt(r.v) : String(r.v)) }],
    rows).classList.add('full');
}

const EMIT = ['vllm', 'vllm-ascend', 'sglang', 'trt-llm', 'llama.cpp', 'mindie'];

// Launch files of the first system's plan for the engine it was planned for (`suanli plan --emit`)
function launchCard(ui, res, first) {
  let c = ui.out.querySelector('[data-id="launch"]');
  if (!c) {
    c = document.createElement('section');
    c.className = 'card full';
    c.dataset.id = 'launch';
    ui.out.appendChild(c);
  }
  const planned = (first.engine || {}).id;
  const ok = EMIT.includes(planned);
  c.innerHTML = `<div class="card-head"><h3>Launch files for ${esc(first.system)}</h3></div><div class="card-body">
    ${ok ? `<button type="button" class="btn" id="emit">Download ${esc(planned)} launch files</button>`
      : `<p>Planned for ${esc(planned || 'an unnamed stack')}: launch files are written for ${EMIT.join(', ')}; set the engine field and plan again.</p>`}
    <div class="files"></div></div>`;
  if (!ok) return;
  c.querySelector('#emit').onclick = async () => {
    try {
      const out = await api('/api/plan/emit', { engine: planned, plan: res, system: first.system });
      for (const [name, text] of Object.entries(out.files)) download(name, text, 'text/plain');
      c.querySelector('.files').textContent = `written: ${Object.keys(out.files).join(', ')}`;
    } catch (e) { message(c.querySelector('.files'), e.message); }
  };
}

export default {
  title: 'Plan deployments for a load',
  nav: 'Plan',
  lead: 'For each system, the deployments on the Pareto front of throughput per chip against speed per user under the SLO, and the chips the load needs. Click a point.',
  fields: [
    { name: 'model', value: 'llama-3.1-70b', list: 'dl-models' },
    { name: 'systems', label: 'systems (comma-separated)', wide: true, value: 'dgx-h100,dgx-h200', list: 'dl-systems' },
    { name: 'input', label: 'input tokens', type: 'number', value: '2000' },
    { name: 'output', label: 'output tokens', type: 'number', value: '500' },
    { name: 'precision', type: 'select', options: PRECISIONS, value: 'fp8' },
    { name: 'engine', label: 'engine (blank: best-known)', list: 'dl-engines', placeholder: 'vllm==0.9.2' },
    { name: 'slo', label: 'SLO', value: 'ttft_p99=2s,tpot_p99=50ms' },
    { name: 'load', label: 'load', value: '20req/s' },
    { name: 'confidence', label: 'confidence (0.5-0.9; blank: on the predictions)', type: 'number', placeholder: '0.9',
      help: 'size so the SLOs hold and the load is carried at this confidence, on the pessimistic side of the prediction intervals' },
    { name: 'x', label: 'x axis (blank: auto)' }, { name: 'y', label: 'y axis (blank: auto)' },
  ],
  async mount(ui) {
    datalists();
    const st = await api('/api/plan/status');
    if (!st.available) {
      ui.unavailable = st.detail;
      for (const el of ui.form.elements) el.disabled = true;
      message(ui.status, `Plan is unavailable: ${st.detail}. The other pages work; this one will once the planner ships.`, 'info');
    }
  },
  async update(v, ui) {
    if (ui.unavailable === undefined) {
      const st = await api('/api/plan/status');
      if (!st.available) { ui.unavailable = st.detail; }
    }
    if (ui.unavailable) {
      message(ui.status, `Plan is unavailable: ${ui.unavailable}. The other pages work; this one will once the planner ships.`, 'info');
      return;
    }
    if (running) running.cancel();
    const body = { model: v.model, systems: v.systems, input: num(v.input), output: num(v.output),
      precision: v.precision, engine: v.engine || undefined, slo: v.slo || undefined, load: v.load || undefined,
      confidence: num(v.confidence) };
    const mine = job('plan', body, (s) => {
      if (ui.busy()) return;
      ui.status.innerHTML = `<div class="row"><span>${esc(s.message || s.status)} (${Math.round(100 * s.progress)}%)</span>
        <button type="button" class="btn" id="cancel">Cancel</button></div><div class="progress"><div style="width:${Math.round(100 * s.progress)}%"></div></div>`;
      ui.status.querySelector('#cancel').onclick = () => mine.cancel();
    });
    running = mine;
    const res = await mine.promise;
    if (ui.busy()) return;
    running = null;
    message(ui.status, '');
    planned = res;
    fronts = Object.fromEntries((res.pareto || []).map((f) => [f.system, f.points || []]));
    const systems = res.systems || [];
    const all = systems.flatMap((s) => pointsOf(s));
    const xk = pick(all, X_PREF, v.x), yk = pick(all, Y_PREF, v.y);
    const traces = systems.map((s, i) => {
      const pts = pointsOf(s).filter((p) => typeof get(p, xk) === 'number' && typeof get(p, yk) === 'number')
        .sort((a, b) => get(a, xk) - get(b, xk));
      // the throughput band of the system's class (the best deployment's) as relative error bars on per-chip figures
      const b = s.best && (s.best.intervals || {}).output_tok_s_per_chip;
      const rel = b && s.best.output_tok_s_per_chip && /tok_s/.test(yk) ? [b.p10 / s.best.output_tok_s_per_chip, b.p90 / s.best.output_tok_s_per_chip] : null;
      return { type: 'scatter', mode: 'lines+markers', name: s.system || `system ${i + 1}`, x: pts.map((p) => get(p, xk)),
        y: pts.map((p) => get(p, yk)), line: { shape: 'hv' },
        error_y: rel ? { type: 'data', symmetric: false, thickness: 1, array: pts.map((p) => get(p, yk) * (rel[1] - 1)),
          arrayminus: pts.map((p) => get(p, yk) * (1 - rel[0])) } : undefined,
        marker: { size: 9, color: PALETTE[i % PALETTE.length], symbol: pts.map((p) => (p.meets_slo === false ? 'circle-open' : 'circle')) },
        customdata: pts.map((_, j) => [i, j]),
        hovertemplate: `<b>${esc(s.system || '')}</b><br>${esc(xk)} %{x:.4g}<br>${esc(yk)} %{y:.4g}<extra>click for details</extra>` };
    });
    const plot = chart(ui.out, 'pareto', 'Pareto front per system (open circles miss the SLO; click a point)', traces,
      { xaxis: { title: { text: xk } }, yaxis: { title: { text: yk } }, height: 440 }, { full: true });
    plot.removeAllListeners && plot.removeAllListeners('plotly_click');
    plot.on('plotly_click', (ev) => {
      const [i, j] = ev.points[0].customdata;
      const s = systems[i];
      const pts = pointsOf(s).filter((p) => typeof get(p, xk) === 'number' && typeof get(p, yk) === 'number').sort((a, b) => get(a, xk) - get(b, xk));
      detail(ui, s.system, pts[j]);
    });
    const best = systems.filter((s) => s.best);
    kpis(ui.kpis, best.map((s) => {
      const iv = (s.best.intervals || {}).output_tok_s_per_chip, k = s.best.confidence;
      const tip = [iv ? `output tok/s per chip ${fmt(s.best.output_tok_s_per_chip)}, P10-P90 ${fmt(iv.p10)}-${fmt(iv.p90)} (${iv.basis})` : '',
        k ? `at confidence ${k.level}: ${k.extra_chips >= 0 ? '+' : ''}${k.extra_chips} chips against ${k.chips_at_central_prediction} on the central prediction` : ''].filter(Boolean).join('\n');
      return [s.system, `${fmt(s.best.chips_needed)} chips needed` + (k ? ` (${k.extra_chips >= 0 ? '+' : ''}${k.extra_chips} for confidence ${k.level})` : ''), tip];
    }));
    if (best.length) {
      const cols = [...new Set(best.flatMap((s) => flat(s.best).map(([k]) => k)))].slice(0, 14);
      table(ui.out, 'best', 'Best deployment per system', [{ key: 'system', label: 'system', fmt: (r) => r.system },
        ...cols.map((k) => ({ key: k, label: k, fmt: (r) => { const x = get(r.best, k); return typeof x === 'number' ? fmt(x) : String(x ?? ''); } }))],
      best, (r) => detail(ui, r.system, r.best)).classList.add('full');
      launchCard(ui, res, best[0]);
    }
  },
};
