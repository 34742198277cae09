// Node view: enforcement state with its reason, tiers and their load, the fenced CPUs as a CPU
// map, the layer each pod landed in, linter violations, and the node actions (../nodeactions.js).
// Re-fetched when the stream reports a change to this node or to a pod on it.
import { enc } from '../api.js';
import { html } from '../html.js';
import { NodeActions } from '../nodeactions.js';
import { useResource } from '../live.js';
import { VTable } from '../vtable.js';
import { Bar, EnforcementBadge, ErrorNote, Loading, TIERS, millicores, when } from '../ui.js';
import { POD_COLUMNS, openPod } from './explorer.js';

const NODE_POD_COLUMNS = [
  ...POD_COLUMNS.filter((c) => c.key !== 'node' && c.key !== 'owner'),
  { key: 'layer', label: 'Layer', width: '7rem' },
];

function CpuMap({ roles }) {
  if (!roles.length) return html`<p class="muted">No CPU layout reported by the agent.</p>`;
  const fenced = roles.filter((r) => r.role === 'fenced').length;
  return html`<div>
    <div class="cpu-map" role="list" aria-label=${`CPU map: ${fenced} of ${roles.length} CPUs fenced`} data-testid="cpu-map">
      ${roles.map((r) => html`<span role="listitem" class=${`cpu ${r.role}`} title=${`CPU ${r.cpu}: ${r.role}`}
        aria-label=${`CPU ${r.cpu} ${r.role}`}>${r.cpu}</span>`)}
    </div>
    <p class="legend"><span class="cpu fenced"></span> fenced (critical tier only) <span class="cpu shared"></span> shared</p>
  </div>`;
}

function Tiers({ tiers }) {
  const names = [...TIERS.filter((t) => t in tiers), ...Object.keys(tiers).filter((t) => !TIERS.includes(t))];
  return html`<table class="plain" aria-label="Tier load">
    <thead><tr><th scope="col">Tier</th><th scope="col">Requested</th><th scope="col">Used</th>
      <th scope="col">Use / request</th><th scope="col">Pressure</th></tr></thead>
    <tbody>${names.map((t) => {
      const load = tiers[t];
      return html`<tr><th scope="row">${t}</th><td>${millicores(load.request_m)}</td><td>${millicores(load.used_m)}</td>
        <td><${Bar} value=${load.used_m} max=${Math.max(load.request_m, load.used_m)} label=${`${t} use against request`} /></td>
        <td>${load.pressure_pct.toFixed(1)}%</td></tr>`;
    })}</tbody></table>`;
}

function Enforcement({ node }) {
  const e = node.enforcement;
  return html`<dl class="facts" data-testid="enforcement">
    <dt>Enforcement</dt><dd><${EnforcementBadge} enforcement=${e} /></dd>
    ${e && e.reason ? html`<dt>Reason</dt><dd>${e.reason}</dd>` : null}
    ${e && e.kernel ? html`<dt>Kernel</dt><dd>${e.kernel}</dd>` : null}
    ${e && e.since ? html`<dt>Since</dt><dd>${when(e.since)}</dd>` : null}
    ${e && e.exit ? html`<dt>Last scheduler exit</dt><dd>${e.exit}</dd>` : null}
    <dt>Agent</dt><dd>${node.agent.reachable ? 'reachable' : `unreachable${node.agent.error ? `: ${node.agent.error}` : ''}`}</dd>
    <dt>Instance type</dt><dd>${node.instance_type || '—'}</dd>
    <dt>CPUs</dt><dd>${node.cpus ?? '—'} (fenced ${node.fenced || 'none'}, free ${millicores(node.free_m)})</dd>
    <dt>Scheduling</dt><dd>${node.unschedulable ? html`<span class="badge cordoned">cordoned</span>` : 'schedulable'}</dd>
  </dl>`;
}

function Linter({ linter }) {
  if (!linter) return null;
  const failing = Object.entries(linter).filter(([, v]) => v.length);
  return html`<section class="card" aria-label="Linter violations"><h3>Plan linter</h3>
    ${failing.length === 0 ? html`<p>No violations.</p>` : html`<ul class="violations">
      ${failing.map(([inv, list]) => html`<li><strong>${inv}</strong><ul>${list.map((v) => html`<li>${v}</li>`)}</ul></li>`)}
    </ul>`}</section>`;
}

export function NodeView({ me, cluster, name }) {
  const { data: node, error, reload } = useResource(`/api/v1/clusters/${enc(cluster)}/nodes/${enc(name)}`, {
    kind: 'nodes', refreshOn: (e) => e.object.name === name,
  });
  if (error) return html`<${ErrorNote} error=${error} />`;
  if (!node) return html`<${Loading} what=${`node ${name}`} />`;
  return html`<section class="node-view" aria-label=${`Node ${name}`}>
    <header class="view-head"><h1>Node <code>${node.name}</code></h1>
      <${NodeActions} me=${me} cluster=${cluster} node=${node} reload=${reload} /></header>
    <div class="cards">
      <section class="card" aria-label="Enforcement state"><h3>State</h3><${Enforcement} node=${node} /></section>
      <section class="card" aria-label="Tiers"><h3>Tiers and load</h3><${Tiers} tiers=${node.tiers} /></section>
      <section class="card" aria-label="CPU map"><h3>CPU map</h3><${CpuMap} roles=${node.cpu_roles} /></section>
      <${Linter} linter=${node.linter} />
    </div>
    <h2>Pods on this node (${node.pods.length})</h2>
    <div class="table-box"><${VTable} label=${`Pods on ${name}`} testid="node-pods" columns=${NODE_POD_COLUMNS}
      rows=${node.pods} rowKey=${(p) => p.uid} initialSort=${{ key: 'tier', dir: 1 }} onOpen=${(p) => openPod(cluster, p)} /></div>
  </section>`;
}
