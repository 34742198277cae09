// Explorer: the cluster → node → pod → container tree beside sortable, filterable tables of
// nodes and pods, all live from the tab's one SSE stream. Lists are virtualised; the first page
// of pods is small so the first rows paint fast even at 30,000 pods (mark `temper:first-rows`).
import { useMemo, useState } from 'preact/hooks';
import { html } from '../html.js';
import { nodesOf, podsOf, useLive } from '../live.js';
import { VTable, VTree } from '../vtable.js';
import { EnforcementBadge, ErrorNote, Filter, Tabs, go, matcher, millicores } from '../ui.js';

export const POD_FIELDS = {
  name: (p) => p.name, namespace: (p) => p.namespace, ns: (p) => p.namespace, node: (p) => p.node,
  tier: (p) => p.tier, phase: (p) => p.phase, profile: (p) => p.profile,
  owner: (p) => (p.owner ? `${p.owner.kind}/${p.owner.name}` : ''),
};
const NODE_FIELDS = {
  name: (n) => n.name, type: (n) => n.instance_type, state: (n) => n.enforcement?.state,
  cordoned: (n) => (n.unschedulable ? 'yes' : 'no'),
};

export const POD_COLUMNS = [
  { key: 'namespace', label: 'Namespace', width: '1fr' },
  { key: 'name', label: 'Pod', width: '2fr' },
  { key: 'node', label: 'Node', width: '1.2fr' },
  { key: 'phase', label: 'Phase', width: '6rem' },
  { key: 'tier', label: 'Tier', width: '7rem' },
  { key: 'profile', label: 'Profile', width: '7rem' },
  { key: 'request_m', label: 'Request', width: '6rem', render: (p) => millicores(p.request_m) },
  { key: 'limit_m', label: 'Limit', width: '6rem', render: (p) => millicores(p.limit_m) },
  { key: 'original_request_m', label: 'Declared', width: '6rem', render: (p) => millicores(p.original_request_m) },
  { key: 'owner', label: 'Owner', width: '1.5fr', value: (p) => (p.owner ? `${p.owner.kind}/${p.owner.name}` : null) },
];

const NODE_COLUMNS = [
  { key: 'name', label: 'Node', width: '2fr' },
  { key: 'state', label: 'Enforcement', width: '9rem', value: (n) => n.enforcement?.state,
    render: (n) => html`<${EnforcementBadge} enforcement=${n.enforcement} />` },
  { key: 'instance_type', label: 'Instance type', width: '1fr' },
  { key: 'cpus', label: 'CPUs', width: '5rem' },
  { key: 'fenced', label: 'Fenced', width: '6rem', value: (n) => n.fenced || null },
  { key: 'free_m', label: 'Free', width: '6rem', render: (n) => millicores(n.free_m) },
  { key: 'pods', label: 'Pods', width: '5rem' },
  { key: 'unschedulable', label: 'Cordoned', width: '6rem', value: (n) => (n.unschedulable ? 'yes' : '') },
];

export function openPod(cluster, p) { go('c', cluster, 'ns', p.namespace, 'pods', p.name); }

function Tree({ cluster, nodes, pods }) {
  const [expanded, setExpanded] = useState(() => new Set(['c']));
  const byNode = useMemo(() => {
    const map = new Map();
    for (const p of pods.rows()) {
      if (!map.has(p.node)) map.set(p.node, []);
      map.get(p.node).push(p);
    }
    for (const list of map.values()) list.sort((a, b) => a.name.localeCompare(b.name));
    return map;
  }, [pods.version]);
  const nodeNames = useMemo(() => nodes.rows().map((n) => n.name).sort(), [nodes.version]);
  const items = useMemo(() => {
    const out = [{ id: 'c', depth: 0, label: cluster, expandable: true, expanded: expanded.has('c'), kind: 'cluster',
      meta: `${nodes.items.size} nodes` }];
    if (!expanded.has('c')) return out;
    const unscheduled = byNode.has('') ? [''] : [];
    for (const name of [...nodeNames, ...unscheduled]) {
      const nodePods = byNode.get(name) || [];
      const id = `n:${name}`;
      out.push({ id, depth: 1, label: name || '(unscheduled)', expandable: nodePods.length > 0,
        expanded: expanded.has(id), kind: 'node', name, meta: `${nodePods.length} pods` });
      if (!expanded.has(id)) continue;
      for (const p of nodePods) {
        const pid = `p:${p.uid}`;
        out.push({ id: pid, depth: 2, label: `${p.namespace}/${p.name}`, expandable: p.containers.length > 0,
          expanded: expanded.has(pid), kind: 'pod', pod: p, meta: p.tier });
        if (!expanded.has(pid)) continue;
        for (const c of p.containers) out.push({ id: `${pid}/${c}`, depth: 3, label: c, kind: 'container', pod: p, name: c });
      }
    }
    return out;
  }, [expanded, byNode, nodeNames, cluster]);
  const onToggle = (item) => {
    const next = new Set(expanded);
    if (next.has(item.id)) next.delete(item.id); else next.add(item.id);
    setExpanded(next);
  };
  const onOpen = (item) => {
    if (item.kind === 'cluster') onToggle(item);
    else if (item.kind === 'node' && item.name) go('c', cluster, 'nodes', item.name);
    else if (item.kind === 'pod') openPod(cluster, item.pod);
    else if (item.kind === 'container') go('c', cluster, 'ns', item.pod.namespace, 'pods', item.pod.name, 'containers', item.name);
  };
  return html`<${VTree} items=${items} label="Cluster tree" onOpen=${onOpen} onToggle=${onToggle} />`;
}

export function Explorer({ cluster, tab = 'pods' }) {
  const nodes = nodesOf(cluster);
  const pods = podsOf(cluster);
  useLive(nodes, pods);
  const [text, setText] = useState('');
  const list = tab === 'nodes' ? nodes : pods;
  const rows = useMemo(() => {
    const match = matcher(text, tab === 'nodes' ? NODE_FIELDS : POD_FIELDS);
    const all = list.rows();
    return match ? all.filter(match) : all;
  }, [list.version, text, tab]);
  const status = list.loading ? `loading… ${list.items.size} of ${list.total ?? '?'}` : `${rows.length} of ${list.items.size}`;
  return html`<section class="explorer">
    <aside class="pane tree-pane" aria-label="Tree">
      <h2 class="pane-title">Clusters</h2>
      <${Tree} cluster=${cluster} nodes=${nodes} pods=${pods} />
    </aside>
    <div class="pane main-pane">
      <div class="toolbar">
        <${Tabs} label="Explorer tables" current=${tab} onSelect=${(id) => go('c', cluster, 'explorer', id)}
          tabs=${[{ id: 'pods', label: `Pods (${pods.items.size})` }, { id: 'nodes', label: `Nodes (${nodes.items.size})` }]} />
        <${Filter} value=${text} onInput=${setText} label=${`Filter ${tab}`}
          placeholder=${tab === 'pods' ? 'Filter pods: text or tier:batch node:n1 (press /)' : 'Filter nodes (press /)'} />
        <span class="muted count" aria-live="polite" data-testid="list-status">${status}</span>
      </div>
      <${ErrorNote} error=${list.error} />
      ${tab === 'nodes'
        ? html`<${VTable} key="nodes" label="Nodes" testid="nodes-table" columns=${NODE_COLUMNS} rows=${rows}
            rowKey=${(n) => n.name} initialSort=${{ key: 'name', dir: 1 }}
            onOpen=${(n) => go('c', cluster, 'nodes', n.name)} empty=${list.loading ? 'Loading nodes…' : 'No nodes match.'} />`
        : html`<${VTable} key="pods" label="Pods" testid="pods-table" columns=${POD_COLUMNS} rows=${rows}
            rowKey=${(p) => p.uid} markFirstRows="temper:first-rows"
            onOpen=${(p) => openPod(cluster, p)} empty=${list.loading ? 'Loading pods…' : 'No pods match.'} />`}
    </div>
  </section>`;
}
