// Small shared pieces: formatting, the filter box, tabs, status badges, and the router helpers.
import { useEffect, useRef } from 'preact/hooks';
import { html } from './html.js';

export const ROLE_RANK = { viewer: 0, operator: 1, admin: 2 };
export const TIERS = ['critical', 'high', 'standard', 'batch', 'best-effort'];

export function can(me, role) {
  return Boolean(me) && ROLE_RANK[me.role] >= ROLE_RANK[role];
}

export function millicores(m) {
  if (m === null || m === undefined) return '—';
  return m >= 1000 ? `${(m / 1000).toFixed(m % 1000 === 0 ? 0 : 2)} CPU` : `${m}m`;
}

export function money(amount, currency) {
  return new Intl.NumberFormat(undefined, { style: 'currency', currency: currency || 'USD' }).format(amount);
}

export function when(seconds) {
  if (!seconds) return '—';
  return new Date(seconds * 1000).toISOString().replace('T', ' ').replace(/\.\d+Z$/, 'Z');
}

export function href(...parts) {
  return `#/${parts.map((p) => encodeURIComponent(p)).join('/')}`;
}

export function go(...parts) {
  window.location.hash = href(...parts);
}

// "tier:critical node:n1 web" → every token must match: key:value against that field,
// plain words against name, namespace, node, tier, phase and owner.
export function matcher(text, fields) {
  const tokens = text.trim().toLowerCase().split(/\s+/).filter(Boolean);
  if (!tokens.length) return null;
  return (row) => tokens.every((token) => {
    const colon = token.indexOf(':');
    if (colon > 0) {
      const get = fields[token.slice(0, colon)];
      return get ? String(get(row) ?? '').toLowerCase().includes(token.slice(colon + 1)) : false;
    }
    return Object.values(fields).some((get) => String(get(row) ?? '').toLowerCase().includes(token));
  });
}

export function Filter({ value, onInput, label, placeholder }) {
  const ref = useRef(null);
  useEffect(() => {
    // "/" focuses the view's filter, as in k9s and most list UIs.
    const onKey = (e) => {
      const typing = ['INPUT', 'TEXTAREA', 'SELECT'].includes(document.activeElement?.tagName);
      if (e.key === '/' && !typing && ref.current) { e.preventDefault(); ref.current.focus(); }
    };
    window.addEventListener('keydown', onKey);
    return () => window.removeEventListener('keydown', onKey);
  }, []);
  return html`<label class="filter"><span class="sr-only">${label}</span>
    <input ref=${ref} type="search" value=${value} aria-label=${label} placeholder=${placeholder || 'Filter (press /)'}
      onInput=${(e) => onInput(e.currentTarget.value)} /></label>`;
}

export function Tabs({ tabs, current, onSelect, label }) {
  const onKey = (e) => {
    const i = tabs.findIndex((t) => t.id === current);
    const next = e.key === 'ArrowRight' ? i + 1 : e.key === 'ArrowLeft' ? i - 1 : null;
    if (next === null) return;
    e.preventDefault();
    const tab = tabs[(next + tabs.length) % tabs.length];
    onSelect(tab.id);
    e.currentTarget.querySelector(`[data-tab="${tab.id}"]`)?.focus();
  };
  return html`<div role="tablist" aria-label=${label} class="tabs" onKeyDown=${onKey}>
    ${tabs.map((t) => html`<button type="button" role="tab" data-tab=${t.id} aria-selected=${t.id === current}
      tabindex=${t.id === current ? 0 : -1} onClick=${() => onSelect(t.id)}>${t.label}</button>`)}
  </div>`;
}

export function EnforcementBadge({ enforcement }) {
  if (!enforcement) return html`<span class="badge unknown">unknown</span>`;
  return html`<span class=${`badge ${enforcement.state}`}
    title=${enforcement.reason || enforcement.state}>${enforcement.state}</span>`;
}

export function ErrorNote({ error }) {
  if (!error) return null;
  return html`<p class="error" role="alert">${error.status ? `${error.status} ` : ''}${error.message}</p>`;
}

export function Loading({ what }) {
  return html`<p class="loading" aria-live="polite">Loading ${what}…</p>`;
}

export function Bar({ value, max, label }) {
  const pct = max > 0 ? Math.min(100, (100 * value) / max) : 0;
  return html`<span class="bar" role="meter" aria-label=${label} aria-valuemin="0" aria-valuemax=${max}
    aria-valuenow=${value}><span style=${{ width: `${pct}%` }}></span></span>`;
}
