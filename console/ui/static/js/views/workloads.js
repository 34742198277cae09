// Workload views: Deployments, StatefulSets, DaemonSets and Jobs as live tables, and one
// workload's pods, revision history with a unified diff between any two revisions, and the
// rollout-restart action.
import { useEffect, useMemo, useState } from 'preact/hooks';
import { enc, get, post, q } from '../api.js';
import { Action } from '../actions.js';
import { html } from '../html.js';
import { useLive, useResource, workloadsOf } from '../live.js';
import { VTable } from '../vtable.js';
import { ErrorNote, Filter, Loading, Tabs, go, matcher } from '../ui.js';
import { POD_COLUMNS, openPod } from './explorer.js';

export const WORKLOAD_KINDS = ['Deployment', 'StatefulSet', 'DaemonSet', 'Job'];

const COLUMNS = [
  { key: 'namespace', label: 'Namespace', width: '1fr' },
  { key: 'name', label: 'Name', width: '2fr' },
  { key: 'ready', label: 'Ready', width: '7rem', value: (w) => w.ready, render: (w) => `${w.ready}/${w.replicas}` },
  { key: 'replicas', label: 'Replicas', width: '6rem' },
  { key: 'pods', label: 'Pods', width: '6rem' },
];

export function Workloads({ cluster, kind }) {
  const list = workloadsOf(cluster, kind);
  useLive(list);
  const [text, setText] = useState('');
  const rows = useMemo(() => {
    const match = matcher(text, { name: (w) => w.name, namespace: (w) => w.namespace, ns: (w) => w.namespace });
    return match ? list.rows().filter(match) : list.rows();
  }, [list.version, text]);
  return html`<section class="pane main-pane full">
    <div class="toolbar">
      <${Tabs} label="Workload kinds" current=${kind} onSelect=${(k) => go('c', cluster, 'workloads', k)}
        tabs=${WORKLOAD_KINDS.map((k) => ({ id: k, label: `${k}s` }))} />
      <${Filter} value=${text} onInput=${setText} label=${`Filter ${kind}s`} />
      <span class="muted count">${rows.length} of ${list.items.size}</span>
    </div>
    <${ErrorNote} error=${list.error} />
    <${VTable} key=${kind} label=${`${kind}s`} testid="workloads-table" columns=${COLUMNS} rows=${rows}
      rowKey=${(w) => `${w.namespace}/${w.name}`} initialSort=${{ key: 'name', dir: 1 }}
      onOpen=${(w) => go('c', cluster, 'ns', w.namespace, 'workloads', kind, w.name)}
      empty=${list.loading ? 'Loading…' : `No ${kind}s.`} />
  </section>`;
}

function DiffText({ text }) {
  if (!text) return html`<p class="muted">The two revisions are identical.</p>`;
  return html`<pre class="diff" data-testid="revision-diff" tabindex="0" aria-label="Revision diff">${text.split('\n').map((line) => {
    const cls = line.startsWith('+') && !line.startsWith('+++') ? 'add'
      : line.startsWith('-') && !line.startsWith('---') ? 'del' : line.startsWith('@@') ? 'hunk' : '';
    return html`<span class=${cls}>${`${line}\n`}</span>`; // htm drops a literal newline between tags
  })}</pre>`;
}

export function RevisionDiff({ cluster, namespace, kind, name }) {
  const { data, error } = useResource(`/api/v1/clusters/${enc(cluster)}/namespaces/${enc(namespace)}/workloads/${enc(kind)}/${enc(name)}/revisions`);
  const [range, setRange] = useState(null);
  const [diff, setDiff] = useState({ text: null, error: null });
  const revisions = data ? [...data.items].sort((a, b) => a.revision - b.revision) : [];
  useEffect(() => {
    if (revisions.length >= 2 && !range) setRange({ from: revisions[revisions.length - 2].revision, to: revisions[revisions.length - 1].revision });
  }, [data]);
  useEffect(() => {
    if (!range) return;
    get(`/api/v1/clusters/${enc(cluster)}/namespaces/${enc(namespace)}/workloads/${enc(kind)}/${enc(name)}/revisions/diff${q(range)}`).then(
      (r) => setDiff({ text: r.diff, error: null }), (err) => setDiff({ text: null, error: err }),
    );
  }, [range && range.from, range && range.to, cluster, namespace, kind, name]);
  if (error) return html`<${ErrorNote} error=${error} />`;
  if (!data) return html`<${Loading} what="revisions" />`;
  if (revisions.length < 2) return html`<p class="muted">${revisions.length} revision(s) recorded; nothing to diff.</p>`;
  const pick = (which) => (e) => setRange({ ...range, [which]: Number(e.currentTarget.value) });
  const options = revisions.map((r) => html`<option value=${r.revision}>${r.revision} — ${r.name} (${r.created})</option>`);
  return html`<div class="revisions">
    <div class="toolbar">
      <label>From <select value=${range && range.from} onChange=${pick('from')}>${options}</select></label>
      <label>To <select value=${range && range.to} onChange=${pick('to')}>${options}</select></label>
    </div>
    <${ErrorNote} error=${diff.error} />
    ${diff.text !== null ? html`<${DiffText} text=${diff.text} />` : null}
  </div>`;
}

export function WorkloadView({ me, cluster, namespace, kind, name }) {
  const { data, error, reload } = useResource(`/api/v1/clusters/${enc(cluster)}/namespaces/${enc(namespace)}/workloads/${enc(kind)}/${enc(name)}`, {
    kind: 'workloads', refreshOn: (e) => e.object.name === name && e.object.namespace === namespace,
  });
  const [tab, setTab] = useState('pods');
  if (error) return html`<${ErrorNote} error=${error} />`;
  if (!data) return html`<${Loading} what=${`${kind} ${name}`} />`;
  return html`<section aria-label=${`${kind} ${namespace}/${name}`}>
    <header class="view-head"><h1>${kind} <code>${namespace}/${name}</code></h1>
      <span class="muted">${data.ready}/${data.replicas} ready</span>
      <div class="actions" role="group" aria-label="Workload actions">
        ${kind !== 'Job' ? html`<${Action} me=${me} action="restart" label="Rollout restart" target=${`${cluster}/${kind}/${namespace}/${name}`}
          summary=${`Every pod of this ${kind} is replaced by a rolling update (the pod template gets a restartedAt annotation).`}
          onDone=${reload} run=${() => post(`/api/v1/clusters/${enc(cluster)}/workloads/${enc(kind)}/${enc(namespace)}/${enc(name)}/restart`)} />` : null}
      </div></header>
    <${Tabs} label="Workload sections" current=${tab} onSelect=${setTab}
      tabs=${[{ id: 'pods', label: `Pods (${data.pods.length})` }, { id: 'revisions', label: 'Revisions' }]} />
    ${tab === 'pods'
      ? html`<div class="table-box"><${VTable} label=${`Pods of ${name}`} columns=${POD_COLUMNS} rows=${data.pods}
          rowKey=${(p) => p.uid} onOpen=${(p) => openPod(cluster, p)} /></div>`
      : html`<${RevisionDiff} cluster=${cluster} namespace=${namespace} kind=${kind} name=${name} />`}
  </section>`;
}
