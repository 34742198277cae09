// Savings: realized (capacity actually reclaimed) against identified (rightsizing slack not yet
// taken), per machine type, exactly as the API totals them — the UI adds nothing up itself, so
// a test can check its totals against the API's. Unpriced machine types are flagged, never $0.
import { enc } from '../api.js';
import { html } from '../html.js';
import { useResource } from '../live.js';
import { ErrorNote, Loading, money } from '../ui.js';

function byType(savings) {
  const rows = new Map();
  const row = (type) => {
    if (!rows.has(type)) rows.set(type, { type, realized: null, identified: null });
    return rows.get(type);
  };
  for (const line of savings.realized.by_instance_type) row(line.instance_type).realized = line;
  for (const line of savings.identified.by_instance_type) row(line.instance_type).identified = line;
  for (const type of savings.unpriced_instance_types) row(type);
  return [...rows.values()].sort((a, b) => a.type.localeCompare(b.type));
}

export function Savings({ cluster }) {
  const { data: s, error } = useResource(`/api/v1/clusters/${enc(cluster)}/savings`);
  if (error) return html`<${ErrorNote} error=${error} />`;
  if (!s) return html`<${Loading} what="savings" />`;
  const unpriced = new Set(s.unpriced_instance_types);
  const amount = (line, type) => (unpriced.has(type) ? html`<span class="badge unpriced" title="No price configured for this machine type">unpriced</span>`
    : line ? money(line.amount, s.currency) : '—');
  const hours = (line) => (line ? `${(line.millicore_hours / 1000).toFixed(1)} CPU·h` : '—');
  const share = s.total_cost > 0 ? (x) => `${((100 * x) / s.total_cost).toFixed(1)}% of cost` : () => '';
  return html`<section aria-label="Savings" data-testid="savings">
    <header class="view-head"><h1>Savings</h1><span class="muted">window ${s.window} · identified from ${s.source}</span></header>
    <div class="cards totals">
      <section class="card total" aria-label="Realized savings"><h3>Realized</h3>
        <p class="big" data-testid="realized-total" data-value=${s.realized.total}>${money(s.realized.total, s.currency)}</p>
        <p class="muted">${share(s.realized.total)}</p></section>
      <section class="card total" aria-label="Identified savings"><h3>Identified, not yet taken</h3>
        <p class="big" data-testid="identified-total" data-value=${s.identified.total}>${money(s.identified.total, s.currency)}</p>
        <p class="muted">${share(s.identified.total)}</p></section>
      <section class="card total" aria-label="Total cost"><h3>Total cost</h3>
        <p class="big" data-testid="total-cost" data-value=${s.total_cost}>${money(s.total_cost, s.currency)}</p></section>
    </div>
    ${s.unpriced_instance_types.length ? html`<p class="warn" role="note" data-testid="unpriced">Unpriced machine types
      (add them to the price ConfigMap; they are left out of every total): ${s.unpriced_instance_types.map((t) => html`<code>${t}</code> `)}</p>` : null}
    <table class="plain" aria-label="Savings by machine type" data-testid="savings-by-type">
      <thead><tr><th scope="col">Machine type</th><th scope="col">Realized</th><th scope="col">Reclaimed</th>
        <th scope="col">Identified</th><th scope="col">Slack</th></tr></thead>
      <tbody>${byType(s).map((r) => html`<tr data-type=${r.type} class=${unpriced.has(r.type) ? 'unpriced-row' : ''}>
        <th scope="row">${r.type}</th><td>${amount(r.realized, r.type)}</td><td>${hours(r.realized)}</td>
        <td>${amount(r.identified, r.type)}</td><td>${hours(r.identified)}</td></tr>`)}</tbody>
    </table>
  </section>`;
}
