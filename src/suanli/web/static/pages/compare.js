// Compare: one model and request shape on several systems (data-centre, Chinese and edge together), ranked,
// with tok/s per chip, tok/s per W, $/Mtok, TTFT and TPOT. Hovering a number shows how it was made.
import { COLORS, PRECISIONS, api, chart, datalists, esc, fmt, kpis, message, num, shortSource, table } from '../ui.js';

const GROUPS = { datacenter: 'data-centre', china: 'Chinese', edge: 'edge / client', cpu: 'CPU' };
const METRICS = [
  ['output_tok_s_per_chip', 'Output tok/s per chip', 'tok/s', true],
  ['tok_s_per_w', 'Output tok/s per W (IT power, incl. host)', 'tok/s/W', true],
  ['usd_blended', '$ per million tokens (blended)', '$/Mtok', false],
  ['ttft_ms', 'TTFT, one request joining the batch (ms)', 'ms', false],
  ['tpot_ms', 'TPOT (ms)', 'ms', false],
];

export function explain(r) {
  if (r.error) return r.error;
  const x = r.explain || {};
  const lines = [`${r.system}: ${r.chips} x ${r.chip}, tp${r.tp} pp${r.pp} ep${r.ep} dp${r.dp}, batch ${r.batch}`];
  for (const phase of ['decode', 'prefill']) {
    const rows = (x.by_class || {})[phase] || [];
    const total = rows.reduce((a, b) => a + b.time_ms, 0) || 1;
    lines.push(`${phase} step ${fmt(total)} ms: ` + rows.map((c) => `${c.op_class} ${Math.round(100 * c.time_ms / total)}% (${c.bound})`).join(', '));
  }
  for (const f of x.figures || []) {
    lines.push(`${f.figure} = ${f.value === null ? 'unknown' : fmt(f.value)} ${f.unit} [${(f.sources || []).map(shortSource).join('; ') || 'no source'}]`);
  }
  lines.push(x.calibrated ? 'factors: calibrated for this chip family' : `factors: ${x.factors || '?'}`);
  if (r.engine) {
    const e = r.engine;
    lines.push(`engine: ${e.name} ${e.version || (e.as_of ? `(as of ${e.as_of})` : '')}; ` +
      ['graph', 'moe', 'memory'].filter((k) => e.paths[k]).map((k) => `${k}: ${e.paths[k]}`).join('; '));
  }
  if (r.power_w) lines.push(`power ${fmt(r.power_w)} W IT (chips + host), ${fmt(r.tokens_per_joule)} tokens/J`);
  for (const n of r.econ_notes || []) lines.push(n);
  if (r.whatif) lines.push('what-if: ' + r.whatif.map((c) => `${c.field} ${fmt(c.from)} -> ${fmt(c.to)}`).join(', '));
  return lines.join('\n');
}

// [P10, P90] of a row's figure: its own interval, or for tok/s/W and $/Mtok the throughput band (the power and
// cost per hour stay, so tok/s/W moves with throughput and $/Mtok against it)
export function bandOf(r, key) {
  const iv = r.intervals || {};
  if (iv[key]) return [iv[key].p10, iv[key].p90];
  const t = iv.output_tok_s_per_chip;
  if (!t || r[key] === null || r[key] === undefined || !r.output_tok_s_per_chip) return null;
  const lo = t.p10 / r.output_tok_s_per_chip, hi = t.p90 / r.output_tok_s_per_chip;
  if (key === 'tok_s_per_w') return [r[key] * lo, r[key] * hi];
  if (key === 'usd_blended') return [r[key] / hi, r[key] / lo];
  return null;
}

function whatifOf(text) {
  if (!text) return undefined;
  const i = text.indexOf('|');
  return i < 0 ? { chip: text, set: '' } : { chip: text.slice(0, i), set: text.slice(i + 1) };
}

export default {
  title: 'Compare systems',
  nav: 'Compare',
  lead: 'One model and request shape on several systems, each with its best layout and batch. Hover a number to see how it was made.',
  fields: [
    { name: 'model', label: 'model', value: 'llama-3.1-8b', list: 'dl-models' },
    { name: 'systems', label: 'systems (comma-separated)', wide: true, list: 'dl-systems',
      value: 'dgx-h100,mi300x-8,hgx-h20,atlas-800-a2,1xrtx-4090,1xjetson-agx-orin' },
    { name: 'input', label: 'input tokens', type: 'number', value: '1024' },
    { name: 'output', label: 'output tokens', type: 'number', value: '256' },
    { name: 'precision', type: 'select', options: PRECISIONS, value: 'fp8' },
    { name: 'engine', label: 'engine (blank: best-known per chip)', list: 'dl-engines', placeholder: 'vllm==0.9.2' },
    { name: 'batch', label: 'batch (blank: largest)', type: 'number' },
    { name: 'tpot_max', label: 'TPOT limit ms', type: 'number' },
    { name: 'rank_by', label: 'rank by', type: 'select', value: 'tok_s_per_chip',
      options: ['tok_s_per_chip', 'tok_s', 'tok_s_per_user', 'ttft', 'tpot'] },
    { name: 'whatif', label: 'what-if chip (chip|changes)', wide: true, placeholder: 'h100-sxm|memory.bandwidth=6TB/s',
      help: 'Set from the Catalog page\'s what-if editor: a chip and `suanli design --set` changes' },
  ],
  mount() { datalists(); },
  async update(v, ui) {
    const body = { model: v.model, systems: v.systems, input: num(v.input), output: num(v.output), precision: v.precision,
      engine: v.engine || null, batch: num(v.batch), tpot_max: num(v.tpot_max), rank_by: v.rank_by, detail: true, whatif: whatifOf(v.whatif) };
    const res = await api('/api/compare', body);
    if (ui.busy()) return;
    message(ui.status, '');
    const rows = res.systems.map((r) => ({ ...r, usd_blended: r.usd_per_mtok ? r.usd_per_mtok.blended : null,
      _class: r.error ? 'err' : (r.whatif ? 'whatif' : '') }));
    const ok = rows.filter((r) => !r.error);
    const top = ok[0];
    kpis(ui.kpis, [
      ['systems ranked', `${ok.length} of ${rows.length}`],
      ['best', top ? top.system : 'none'],
      ['best tok/s per chip', top ? fmt(top.output_tok_s_per_chip) : '?'],
      ['model', `${res.model}, ${res.precision}`],
    ]);
    const tip = (r) => explain(r);
    const layout = (r) => (r.error ? '' : `tp${r.tp} pp${r.pp} ep${r.ep} dp${r.dp}`);
    table(ui.out, 'ranking', `Ranked by ${res.rank_by}`, [
      { key: 'rank', label: '#', fmt: (r) => r.rank ?? '-' },
      { key: 'system', label: 'system', fmt: (r) => r.system },
      { key: 'group', label: 'kind', fmt: (r) => GROUPS[r.group] || r.group || '' },
      { key: 'chips', label: 'chips', fmt: (r) => `${r.chips} x ${r.chip}` },
      { key: 'layout', label: 'layout', fmt: layout },
      { key: 'batch', label: 'batch', fmt: (r) => r.batch ?? '' },
      { key: 'output_tok_s_per_chip', label: 'tok/s/chip', tip },
      { key: 'tok_s_per_w', label: 'tok/s/W', tip },
      { key: 'usd_blended', label: '$/Mtok', tip },
      { key: 'ttft_ms', label: 'TTFT ms', tip },
      { key: 'tpot_ms', label: 'TPOT ms', tip },
      { key: 'error', label: 'note', fmt: (r) => r.error || r.notes || '' },
    ], rows).classList.add('full');
    for (const [key, title, unit, high] of METRICS) {
      const sorted = [...ok].sort((a, b) => ((high ? -1 : 1) * ((a[key] ?? (high ? -Infinity : Infinity)) - (b[key] ?? (high ? -Infinity : Infinity)))));
      const order = sorted.filter((r) => r[key] !== null && r[key] !== undefined).map((r) => r.system);
      const traces = Object.keys(GROUPS).map((g) => {
        const mine = sorted.filter((r) => r.group === g && r[key] !== null && r[key] !== undefined);
        const bands = mine.map((r) => bandOf(r, key));
        return { type: 'bar', name: GROUPS[g], x: mine.map((r) => r.system), y: mine.map((r) => r[key]),
          marker: { color: COLORS[g], pattern: { shape: mine.map((r) => (r.whatif ? '/' : '')) } },
          error_y: { type: 'data', symmetric: false, color: '#444', thickness: 1,
            array: mine.map((r, i) => (bands[i] ? bands[i][1] - r[key] : 0)),
            arrayminus: mine.map((r, i) => (bands[i] ? r[key] - bands[i][0] : 0)) },
          customdata: mine.map((r, i) => esc((bands[i] ? `P10-P90 ${fmt(bands[i][0])}-${fmt(bands[i][1])} ${unit}\n` : '')
            + explain(r)).replace(/\n/g, '<br>')),
          hovertemplate: `<b>%{x}</b>: %{y:.4g} ${unit}<br>%{customdata}<extra></extra>` };
      }).filter((t) => t.x.length);
      const missing = ok.filter((r) => r[key] === null || r[key] === undefined).map((r) => r.system);
      chart(ui.out, key, title + (missing.length ? ` (unknown for ${missing.join(', ')})` : ''), traces, {
        barmode: 'overlay', xaxis: { categoryorder: 'array', categoryarray: order }, yaxis: { title: { text: unit } },
        hoverlabel: { align: 'left', font: { size: 11 } },
      });
    }
  },
};
