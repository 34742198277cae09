// Audit (admins): the hash-chained record of every mutation, with a time filter, the chain's
// verification result, and export as JSON Lines or CSV (the server renders both).
import { useState } from 'preact/hooks';
import { download, q } from '../api.js';
import { html } from '../html.js';
import { useResource } from '../live.js';
import { VTable } from '../vtable.js';
import { ErrorNote, Loading, when } from '../ui.js';

const COLUMNS = [
  { key: 'id', label: '#', width: '4rem' },
  { key: 'time', label: 'Time', width: '11rem', render: (r) => when(r.time) },
  { key: 'token', label: 'Token', width: '1fr' },
  { key: 'role', label: 'Role', width: '6rem' },
  { key: 'action', label: 'Action', width: '1fr' },
  { key: 'target', label: 'Target', width: '2fr' },
  { key: 'result', label: 'Result', width: '6rem' },
  { key: 'detail', label: 'Detail', width: '2fr' },
];

const toSeconds = (local) => (local ? Math.floor(new Date(local).getTime() / 1000) : '');

export function Audit() {
  const [range, setRange] = useState({ since: '', until: '' });
  const params = { since: toSeconds(range.since), until: toSeconds(range.until) };
  const { data, error, reload } = useResource(`/api/v1/audit${q({ ...params, format: 'json', limit: 10000 })}`);
  const set = (key) => (e) => setRange({ ...range, [key]: e.currentTarget.value });
  const exportAs = (format) => download(`/api/v1/audit${q({ ...params, format })}`, `temper-audit.${format}`);
  return html`<section aria-label="Audit log">
    <header class="view-head"><h1>Audit log</h1>
      ${data ? html`<span class=${`badge ${data.chain_ok ? 'enforcing' : 'unreachable'}`} data-testid="chain">
        ${data.chain_ok ? 'hash chain verified' : 'hash chain BROKEN'}</span>` : null}</header>
    <div class="toolbar" role="group" aria-label="Audit filter and export">
      <label>Since <input type="datetime-local" value=${range.since} onChange=${set('since')} /></label>
      <label>Until <input type="datetime-local" value=${range.until} onChange=${set('until')} /></label>
      <button type="button" onClick=${reload}>Refresh</button>
      <button type="button" onClick=${() => exportAs('jsonl')}>Export JSON Lines</button>
      <button type="button" onClick=${() => exportAs('csv')}>Export CSV</button>
    </div>
    <${ErrorNote} error=${error} />
    ${data ? html`<div class="table-box"><${VTable} label="Audit records" testid="audit-table" columns=${COLUMNS}
        rows=${data.items} rowKey=${(r) => r.id} initialSort=${{ key: 'id', dir: -1 }} /></div>`
      : html`<${Loading} what="audit records" />`}
  </section>`;
}
