// Explore: a design space of what-if chips around a base chip (the CLI's `suanli explore`): a sample of the
// feasible points and the Pareto front over the first two objectives, the front as a table.
import { api, chart, esc, fmt, kpis, message, num, table } from '../ui.js';

export default {
  title: 'Explore designs',
  nav: 'Explore',
  lead: 'Sweep chip figures (compute, bandwidth, capacity, TDP, links, die, node, price) around a base chip: throughput, cost and 3A090 class per design, and the Pareto front under your constraints.',
  fields: [
    { name: 'base', label: 'base chip', value: 'h100-sxm' },
    { name: 'model', value: 'llama-3.1-70b' },
    { name: 'chips', value: '8' },
    { name: 'tp', label: 'TP (comma list)', value: '8' },
    { name: 'batch', label: 'batch per replica', value: '16,64,256' },
    { name: 'precision', value: 'fp8' },
    { name: 'input', type: 'number', value: '2048' },
    { name: 'output', type: 'number', value: '256' },
    { name: 'vary1', label: 'vary', value: 'compute=x0.05:x1:60' },
    { name: 'vary2', label: 'vary', value: 'memory.bandwidth=1TB/s:8TB/s:60' },
    { name: 'vary3', label: 'vary', value: '' },
    { name: 'where', label: 'where', value: 'tpp<4800 and pd<5.92' },
    { name: 'objectives', value: 'tok_s_per_chip:max,tok_s_per_user:max' },
  ],
  async update(v, ui) {
    const body = { base: v.base, model: v.model, chips: v.chips, tp: v.tp, batch: v.batch, precision: v.precision,
      input: num(v.input), output: num(v.output), vary: [v.vary1, v.vary2, v.vary3].filter((x) => x && x.trim()),
      where: v.where, objectives: v.objectives };
    const r = await api('/api/explore', body);
    if (ui.busy()) return;
    message(ui.status, '');
    kpis(ui.kpis, [['design points', fmt(r.points)], ['fit in memory', fmt(r.fits)], ['meet the constraints', fmt(r.feasible)],
      ['on the front', fmt(r.front.length)], ['points per second', fmt(r.points_per_s)]]);
    const goals = r.objectives.map((o) => o.field);
    const [x, y] = [goals[0], goals[1] || goals[0]];
    const varied = Object.keys(r.varied);
    const label = (p) => varied.map((k) => `${esc(k)} ${fmt(p[k])}`).concat([`${esc(p.model)} tp${p.tp} b${p.batch}`,
      `TPP ${fmt(p.tpp)}, PD ${fmt(p.pd)}, ${esc(p.class_2023)}`]).join('<br>');
    chart(ui.out, 'front', `Pareto front of ${fmt(r.feasible)} feasible designs (${r.where || 'no constraint'})`, [
      { type: 'scattergl', mode: 'markers', name: 'feasible designs (sample)', x: r.sample[x] || [], y: r.sample[y] || [],
        marker: { size: 4, opacity: 0.35, color: '#9aa5b1' }, hoverinfo: 'skip' },
      { type: 'scatter', mode: 'lines+markers', name: 'Pareto front', x: r.front.map((p) => p[x]), y: r.front.map((p) => p[y]),
        marker: { size: 8, color: '#d0453b' }, text: r.front.map(label), hovertemplate: '%{text}<extra></extra>' },
    ], { xaxis: { title: { text: x } }, yaxis: { title: { text: y } } });
    const cols = [...varied, 'model', 'chips', 'tp', 'batch', ...goals, 'tpot_ms', 'usd_per_mtok', 'tpp', 'pd', 'class_2023']
      .filter((c, i, a) => a.indexOf(c) === i);
    table(ui.out, 'front-table', 'The front, best first on the first objective', cols.map((c) => ({ key: c, label: c })), r.front);
  },
};
