// Hub: every cluster this plane can reach (the local one, and peers in hub mode) with its
// reachability and since-when; an unreachable peer is shown as such, the others stay usable.
import { html } from '../html.js';
import { useResource } from '../live.js';
import { ErrorNote, Loading, href, when } from '../ui.js';

export function Hub() {
  const { data, error } = useResource('/api/v1/clusters');
  if (error) return html`<${ErrorNote} error=${error} />`;
  if (!data) return html`<${Loading} what="clusters" />`;
  return html`<section aria-label="Clusters">
    <header class="view-head"><h1>Clusters</h1></header>
    <table class="plain" aria-label="Clusters" data-testid="clusters">
      <thead><tr><th scope="col">Cluster</th><th scope="col">Reachability</th><th scope="col">Since</th>
        <th scope="col">URL</th><th scope="col">Error</th></tr></thead>
      <tbody>${data.items.map((c) => html`<tr>
        <th scope="row">${c.reachable ? html`<a href=${href('c', c.name, 'explorer')}>${c.name}</a>` : c.name}${c.local ? ' (this cluster)' : ''}</th>
        <td><span class=${`badge ${c.reachable ? 'enforcing' : 'unreachable'}`}>${c.reachable ? 'reachable' : 'unreachable'}</span></td>
        <td>${when(c.since)}</td><td><code>${c.url || '—'}</code></td><td>${c.error || ''}</td></tr>`)}</tbody>
    </table>
  </section>`;
}
