// The actions on one node — cordon or uncordon, drain (with its preview), safe mode on or off,
// trace capture and download — used by the node view and the operations page. Every path is a
// route of the OpenAPI spec (tests/console/test_ui_paths_in_spec.py checks that).
import { useState } from 'preact/hooks';
import { download, enc, get, post } from './api.js';
import { Action } from './actions.js';
import { html } from './html.js';
import { can } from './ui.js';

const LIST_MAX = 50;

function Names({ items, label, testid, text = (x) => x }) {
  if (!items.length) return null;
  return html`<div><h3>${label} (${items.length})</h3><ul class="short" data-testid=${testid} aria-label=${label}>
    ${items.slice(0, LIST_MAX).map((x) => html`<li>${text(x)}</li>`)}
    ${items.length > LIST_MAX ? html`<li>… ${items.length - LIST_MAX} more</li>` : null}</ul></div>`;
}

// What a drain would do now, from GET …/drain: evictions, PodDisruptionBudget blockers, skipped pods.
export function DrainPreview({ preview }) {
  const { evictions, blockers, skipped } = preview;
  return html`<div class="preview" data-testid="drain-preview">
    <p>${evictions.length} pod(s) will be evicted through the eviction API${blockers.length
      ? `; ${blockers.length} blocked now by a PodDisruptionBudget (retried until the timeout)` : ''}${skipped.length
      ? `; ${skipped.length} skipped` : ''}.</p>
    <${Names} items=${evictions} label="Evicted" testid="drain-evictions" />
    <${Names} items=${blockers} label="Blocked by a PodDisruptionBudget" testid="drain-blockers"
      text=${(b) => `${b.pod}: ${b.pdb} — ${b.reason}`} />
    <${Names} items=${skipped} label="Skipped" testid="drain-skipped" text=${(s) => `${s.pod}: ${s.reason}`} />
  </div>`;
}

export function NodeActions({ me, cluster, node, reload }) {
  const [trace, setTrace] = useState(null);
  if (!can(me, 'operator')) return null;
  const target = `${cluster}/node/${node.name}`;
  const safe = Boolean(node.enforcement && node.enforcement.state === 'safe-mode');
  return html`<div class="actions" role="group" aria-label=${`Actions on node ${node.name}`}>
    ${node.unschedulable
      ? html`<${Action} key="uncordon" me=${me} action="uncordon" label="Uncordon" target=${target} onDone=${reload}
          summary="The node becomes schedulable again (spec.unschedulable = false)." run=${() => post(`/api/v1/clusters/${enc(cluster)}/nodes/${enc(node.name)}/uncordon`)} />`
      : html`<${Action} key="cordon" me=${me} action="cordon" label="Cordon" target=${target} onDone=${reload}
          summary="The node is marked unschedulable (spec.unschedulable = true); running pods stay." run=${() => post(`/api/v1/clusters/${enc(cluster)}/nodes/${enc(node.name)}/cordon`)} />`}
    <${Action} me=${me} action="drain" label="Drain" target=${target} danger onDone=${reload}
      summary="Cordon the node, then evict its pods through the eviction API, honouring PodDisruptionBudgets."
      preview=${() => get(`/api/v1/clusters/${enc(cluster)}/nodes/${enc(node.name)}/drain`).then((p) => html`<${DrainPreview} preview=${p} />`)}
      fields=${[{ name: 'dry_run', label: 'Dry run (evict nothing)', type: 'checkbox', initial: false },
        { name: 'timeout_seconds', label: 'Timeout (s)', initial: 60, min: 1, max: 3600 }]}
      run=${(v) => post(`/api/v1/clusters/${enc(cluster)}/nodes/${enc(node.name)}/drain`, v)} />
    <${Action} me=${me} action="safe-mode" label=${safe ? 'Leave safe mode' : 'Safe mode'} target=${target} danger=${!safe}
      onDone=${reload}
      summary=${safe ? 'The node agent resumes enforcing the layer plan on this node.'
        : 'The node agent detaches the scheduler; every task on the node returns to the kernel\'s fair class.'}
      run=${() => post(`/api/v1/clusters/${enc(cluster)}/nodes/${enc(node.name)}/safe-mode`, { enabled: !safe })} />
    <${Action} me=${me} action="traces" label="Capture trace" target=${target}
      summary="The node's agent records a scheduler trace for the given number of seconds; it can then be downloaded."
      fields=${[{ name: 'seconds', label: 'Seconds', initial: 5, min: 1, max: 300 }]}
      run=${(v) => post(`/api/v1/clusters/${enc(cluster)}/nodes/${enc(node.name)}/traces`, v)}
      onDone=${(r) => setTrace(r.trace_id)} />
    ${trace ? html`<button type="button" data-testid="trace-download" aria-label=${`Download trace ${trace} of ${node.name}`}
        onClick=${() => download(`/api/v1/clusters/${enc(cluster)}/nodes/${enc(node.name)}/traces/${enc(trace)}`, `${node.name}-${trace}.trace`)}>
        Download trace ${trace}</button>` : null}
  </div>`;
}
