// suanli pages: a hash router, forms bound to the URL, charts and tables that export, jobs, and the report.
// Plain ES modules, no build step. Each page module exports {title, fields, mount(ui), update(values, ui)}.
// State lives in the URL (#/page?key=value...), so a view can be shared; charts and tables export PNG and CSV.

import { PAGES, buildForm, download, esc, message, readForm, route, setParams } from './ui.js';
import compare from './pages/compare.js';
import predict from './pages/predict.js';
import simulate from './pages/simulate.js';
import plan from './pages/plan.js';
import catalogPage from './pages/catalog.js';
import validation from './pages/validation.js';
import silicon from './pages/silicon.js';
import explore from './pages/explore.js';


Object.assign(PAGES, { compare, predict, simulate, plan, explore, catalog: catalogPage, validation, silicon });
// ---------- report ----------
async function report() {
  const btn = document.getElementById('report');
  const { page } = route();
  const sections = [];
  for (const c of document.querySelectorAll('#page .card')) {
    const title = c.querySelector('h3').textContent;
    if (c.dataset.kind === 'chart') {
      const gd = c.querySelector('.plot');
      if (gd && gd.data) sections.push({ title, figure: { data: gd.data, layout: gd.layout } });
    } else if (c.dataset.kind === 'table' && c._export) sections.push({ title, ...c._export });
  }
  btn.disabled = true;
  try {
    const r = await fetch('/api/report', { method: 'POST', headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ title: `suanli: ${PAGES[page].title}`, url: location.href, sections }) });
    if (!r.ok) throw new Error((await r.json()).detail);
    download(`suanli-${page}-report.html`, await r.text(), 'text/html');
  } catch (e) { message(document.getElementById('status'), `report: ${e.message}`); }
  finally { btn.disabled = false; }
}

// ---------- router ----------
let current = null;
function mount() {
  const { page, params } = route();
  const mod = PAGES[page];
  document.querySelectorAll('#nav a').forEach((a) => a.classList.toggle('active', a.dataset.page === page));
  document.title = `suanli: ${mod.title}`;
  const root = document.getElementById('page');
  root.innerHTML = `<h2>${esc(mod.title)}</h2><p class="lead">${esc(mod.lead || '')}</p><div class="inputs"></div>
    <div class="status"></div><div class="kpis"></div><div class="out"></div>`;
  const ui = { root, inputs: root.querySelector('.inputs'), status: root.querySelector('.status'),
    kpis: root.querySelector('.kpis'), out: root.querySelector('.out'), seq: 0 };
  current = { page, mod, ui };
  const fields = typeof mod.fields === 'function' ? mod.fields() : mod.fields;
  ui.fields = fields;
  let last = null;
  const changed = (force) => {
    const v = readForm(ui.form, fields);
    if (force !== true && JSON.stringify(v) === last) return;  // a blur after typing: nothing new to run
    setParams(v);
    run(v);
  };
  const run = async (values) => {
    last = JSON.stringify(values);
    const seq = ++ui.seq;
    ui.busy = () => seq !== ui.seq;  // a newer update started: drop this one's results
    document.body.classList.add('loading');
    try { await mod.update(values, ui); } catch (e) { if (seq === ui.seq && !e.cancelled) message(ui.status, e.message); }
    finally { if (seq === ui.seq) document.body.classList.remove('loading'); }
  };
  ui.form = buildForm(ui.inputs, fields, params, changed);
  ui.rerun = () => changed(true);
  if (mod.mount) mod.mount(ui);
  run(readForm(ui.form, fields));
}

function init() {
  const nav = document.getElementById('nav');
  nav.innerHTML = Object.entries(PAGES).map(([k, m]) => `<a href="#/${k}" data-page="${k}">${esc(m.nav || m.title)}</a>`).join('');
  document.getElementById('report').onclick = report;
  window.addEventListener('hashchange', mount);
  mount();
}
init();
