// Audit (admins): the hash-chained record of every mutation, newest first, one server page at a
// time (limit/continue), filtered by time (since/until: the filters GET /api/v1/audit takes),
// with the chain's verification result (incremental, or a full re-hash on request) and export
// of the same time range as JSON Lines or CSV from GET /api/v1/audit/export.
import { useState } from 'preact/hooks';
import { download, q } from '../api.js';
import { html } from '../html.js';
import { useResource } from '../live.js';
import { ErrorNote, Loading, when } from '../ui.js';

const PAGE_SIZES = [25, 100, 500, 1000];

const toSeconds = (local) => (local ? Math.floor(new Date(local).getTime() / 1000) : '');

function Parameters({ record }) {
  const shown = Object.keys(record.parameters).length ? JSON.stringify(record.parameters) : '';
  return html`<code>${shown}</code>${record.previous ? html`<div class="muted">was <code>${JSON.stringify(record.previous)}</code></div>` : null}`;
}

export function Audit() {
  const [range, setRange] = useState({ since: '', until: '' });
  const [limit, setLimit] = useState(100);
  const [full, setFull] = useState(false);
  const [stack, setStack] = useState(['']); // continue tokens of the pages seen, for Newer
  const params = { since: toSeconds(range.since), until: toSeconds(range.until) };
  const cont = stack[stack.length - 1];
  const { data, error, reload } = useResource(`/api/v1/audit${q({ ...params, limit, continue: cont, verify: full ? 'full' : '' })}`);
  const set = (key) => (e) => { setRange({ ...range, [key]: e.currentTarget.value }); setStack(['']); };
  const exportAs = (format) => download(`/api/v1/audit/export${q({ ...params, format })}`, `temper-audit.${format}`);
  return html`<section aria-label="Audit log">
    <header class="view-head"><h1>Audit log</h1>
      ${data ? html`<span class=${`badge ${data.chain_ok ? 'enforcing' : 'unreachable'}`} data-testid="chain" role="status">
        ${data.chain_ok ? 'hash chain verified' : 'hash chain BROKEN'}${full ? ' (full re-hash)' : ''}</span>` : null}</header>
    <div class="toolbar" role="group" aria-label="Audit filter and export">
      <label>Since <input type="datetime-local" value=${range.since} onChange=${set('since')} /></label>
      <label>Until <input type="datetime-local" value=${range.until} onChange=${set('until')} /></label>
      <label>Per page <select value=${limit} onChange=${(e) => { setLimit(Number(e.currentTarget.value)); setStack(['']); }}>
        ${PAGE_SIZES.map((n) => html`<option value=${n}>${n}</option>`)}</select></label>
      <label><input type="checkbox" checked=${full} onChange=${(e) => setFull(e.currentTarget.checked)} /> Re-hash the whole chain</label>
      <button type="button" onClick=${() => (stack.length > 1 ? setStack(['']) : reload())}>Newest</button>
      <button type="button" disabled=${stack.length < 2} onClick=${() => setStack(stack.slice(0, -1))}>Newer</button>
      <button type="button" disabled=${!data || !data.continue} onClick=${() => setStack([...stack, data.continue])}>Older</button>
      <button type="button" onClick=${() => exportAs('jsonl')} data-testid="export-jsonl">Export JSON Lines</button>
      <button type="button" onClick=${() => exportAs('csv')} data-testid="export-csv">Export CSV</button>
    </div>
    <${ErrorNote} error=${error} />
    ${!data ? html`<${Loading} what="audit records" />` : html`<table class="plain audit" aria-label="Audit records" data-testid="audit-table">
      <thead><tr><th scope="col">#</th><th scope="col">Time</th><th scope="col">Token</th><th scope="col">Role</th>
        <th scope="col">Action</th><th scope="col">Target</th><th scope="col">Result</th><th scope="col">Parameters</th>
        <th scope="col">Detail</th></tr></thead>
      <tbody>${data.items.map((r) => html`<tr key=${r.id} data-audit-id=${r.id}>
        <th scope="row">${r.id}</th><td>${when(r.time)}</td><td>${r.token}</td><td>${r.role}</td><td>${r.action}</td>
        <td><code>${r.target}</code></td><td><span class=${`badge result-${r.result}`}>${r.result}</span></td>
        <td><${Parameters} record=${r} /></td><td>${r.detail}</td></tr>`)}</tbody></table>
      ${data.items.length ? null : html`<p class="muted">No records in this range.</p>`}`}
  </section>`;
}
