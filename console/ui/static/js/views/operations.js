// Operations (operators and admins): the cluster's nodes one server page at a time (the API's
// limit/continue and `q` name filter), each with its actions; fleet-wide safe mode; and a
// rollout restart of a Deployment, StatefulSet or DaemonSet named by hand. Uses only routes on
// the spec (the node list and the action routes), so it works without the explorer routes.
import { useState } from 'preact/hooks';
import { enc, post, q } from '../api.js';
import { Action } from '../actions.js';
import { html } from '../html.js';
import { useResource } from '../live.js';
import { NodeActions } from '../nodeactions.js';
import { EnforcementBadge, ErrorNote, Filter, Loading, can } from '../ui.js';

const PAGE = 25;
const RESTARTABLE = ['Deployment', 'StatefulSet', 'DaemonSet'];

function NodePage({ me, cluster }) {
  const [text, setText] = useState('');
  const [stack, setStack] = useState(['']); // continue tokens of the pages seen, for Previous
  const cont = stack[stack.length - 1];
  const { data, error, reload } = useResource(`/api/v1/clusters/${enc(cluster)}/nodes${q({ limit: PAGE, continue: cont, q: text })}`);
  const filter = (value) => { setText(value); setStack(['']); };
  return html`<section aria-label="Node actions" data-testid="ops-nodes">
    <div class="toolbar">
      <h2>Nodes</h2>
      <${Filter} value=${text} onInput=${filter} label="Filter nodes by name" placeholder="Node name contains… (press /)" />
      <button type="button" disabled=${stack.length < 2} onClick=${() => setStack(stack.slice(0, -1))}>Previous page</button>
      <button type="button" disabled=${!data || !data.continue} onClick=${() => setStack([...stack, data.continue])}>Next page</button>
      ${data ? html`<span class="muted" aria-live="polite">page ${stack.length} · ${data.total} nodes in the cluster</span>` : null}
    </div>
    <${ErrorNote} error=${error} />
    ${!data ? html`<${Loading} what="nodes" />` : html`<table class="plain ops" aria-label="Nodes and their actions">
      <thead><tr><th scope="col">Node</th><th scope="col">Enforcement</th><th scope="col">Scheduling</th>
        <th scope="col">Pods</th><th scope="col">Actions</th></tr></thead>
      <tbody>${data.items.map((n) => html`<tr key=${n.name} data-node=${n.name}>
        <th scope="row">${n.name}</th><td><${EnforcementBadge} enforcement=${n.enforcement} /></td>
        <td>${n.unschedulable ? html`<span class="badge cordoned" data-testid="cordoned">cordoned</span>` : 'schedulable'}</td>
        <td>${n.pods}</td><td><${NodeActions} me=${me} cluster=${cluster} node=${n} reload=${reload} /></td></tr>`)}
      </tbody></table>`}
  </section>`;
}

function FleetSafeMode({ me, cluster }) {
  return html`<section class="card" aria-label="Fleet-wide safe mode"><h2>Fleet-wide safe mode</h2>
    <p class="muted">Through the agent ConfigMap every node agent reads: all nodes at once.</p>
    <div class="actions" role="group" aria-label="Fleet-wide safe mode actions">
      <${Action} me=${me} action="safe-mode" label="Safe mode for every node" target=${`${cluster}/fleet`} danger
        summary="Every node agent detaches the scheduler; all tasks return to the kernel's fair class until safe mode is lifted."
        fields=${[{ name: 'wait_seconds', label: 'Wait for the nodes to converge (s)', initial: 0, min: 0, max: 600 }]}
        run=${(v) => post(`/api/v1/clusters/${enc(cluster)}/safe-mode`, { enabled: true, ...v })} />
      <${Action} me=${me} action="safe-mode" label="Lift fleet-wide safe mode" target=${`${cluster}/fleet`}
        summary="Every node agent resumes enforcing the layer plan (nodes put in safe mode one by one stay so)."
        fields=${[{ name: 'wait_seconds', label: 'Wait for the nodes to converge (s)', initial: 0, min: 0, max: 600 }]}
        run=${(v) => post(`/api/v1/clusters/${enc(cluster)}/safe-mode`, { enabled: false, ...v })} />
    </div></section>`;
}

function RolloutRestart({ me, cluster }) {
  const [w, setW] = useState({ kind: 'Deployment', namespace: '', name: '' });
  const set = (key) => (e) => setW({ ...w, [key]: e.currentTarget.value.trim() });
  const ready = w.namespace && w.name;
  return html`<section class="card" aria-label="Rollout restart"><h2>Rollout restart</h2>
    <div class="toolbar" role="group" aria-label="Workload to restart">
      <label>Kind <select value=${w.kind} onChange=${set('kind')}>${RESTARTABLE.map((k) => html`<option value=${k}>${k}</option>`)}</select></label>
      <label>Namespace <input type="text" value=${w.namespace} onInput=${set('namespace')} name="restart-namespace" /></label>
      <label>Name <input type="text" value=${w.name} onInput=${set('name')} name="restart-name" /></label>
      ${ready ? html`<${Action} key=${`${w.kind}/${w.namespace}/${w.name}`} me=${me} action="restart" label="Rollout restart"
          target=${`${cluster}/${w.kind}/${w.namespace}/${w.name}`}
          summary=${`Every pod of this ${w.kind} is replaced by a rolling update (the pod template gets a kubectl.kubernetes.io/restartedAt annotation).`}
          run=${() => post(`/api/v1/clusters/${enc(cluster)}/workloads/${enc(w.kind)}/${enc(w.namespace)}/${enc(w.name)}/restart`)} />`
        : html`<span class="muted">Name a workload to restart it.</span>`}
    </div></section>`;
}

export function Operations({ me, cluster }) {
  if (!can(me, 'operator')) return html`<p class="error" role="alert">Actions are for operators and admins.</p>`;
  return html`<section aria-label="Operations">
    <header class="view-head"><h1>Actions on <code>${cluster}</code></h1>
      <span class="muted">each asks for confirmation and shows the audit record it wrote</span></header>
    <${NodePage} me=${me} cluster=${cluster} />
    <div class="cards"><${FleetSafeMode} me=${me} cluster=${cluster} /><${RolloutRestart} me=${me} cluster=${cluster} /></div>
  </section>`;
}
