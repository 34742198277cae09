// Pod view: performance charts (uPlot) built from the agent's samples polled while the view is
// open — CPU used against request and limit, throttling, CPU pressure, runqueue wait — the
// threads and profile groups when the agent reports them, logs with follow (a streamed
// response, bounded in the page), and the manifest with the owner's revision diff.
import { useEffect, useRef, useState } from 'preact/hooks';
import uPlot from 'uplot';
import { enc, q, raw } from '../api.js';
import { html } from '../html.js';
import { useResource } from '../live.js';
import { ErrorNote, Loading, Tabs, href, millicores, when } from '../ui.js';
import { RevisionDiff, WORKLOAD_KINDS } from './workloads.js';

const POLL_MS = 2000;
const MAX_SAMPLES = 300; // 10 minutes at one sample per 2 s
const MAX_LOG_LINES = 5000; // the page keeps the newest lines only
const MIN_WINDOW_S = 60; // the time axis spans at least a minute, so the first samples read as seconds, not years

// The x range from the samples themselves: uPlot widens a single time point by 86,400,000 s.
function timeWindow(u, min, max) {
  const xs = u.data[0];
  if (!xs || !xs.length) return [min, max];
  const last = xs[xs.length - 1];
  return [Math.min(xs[0], last - MIN_WINDOW_S), last];
}

function Chart({ title, series, data, unit }) {
  const box = useRef(null);
  const plot = useRef(null);
  useEffect(() => {
    const width = Math.max(280, box.current.clientWidth);
    plot.current = new uPlot({
      title, width, height: 170,
      series: [{}, ...series.map((s) => ({ label: s.label, stroke: s.color, width: 1.5, dash: s.dash, value: (u, v) => (v === null ? '—' : `${v.toFixed(1)}${unit}`) }))],
      axes: [{}, { values: (u, vals) => vals.map((v) => `${v}${unit}`), size: 60 }],
      scales: { x: { time: true, range: timeWindow } },
    }, data, box.current);
    const observer = new ResizeObserver(() => plot.current.setSize({ width: Math.max(280, box.current.clientWidth), height: 170 }));
    observer.observe(box.current);
    return () => { observer.disconnect(); plot.current.destroy(); };
  }, []);
  useEffect(() => { if (plot.current) plot.current.setData(data); }, [data]);
  return html`<figure class="chart" aria-label=${title}><div ref=${box}></div></figure>`;
}

// A derived series point from two consecutive samples: the share of CFS periods throttled.
function throttledPct(prev, cur) {
  if (!prev || !prev.throttled || !cur.throttled) return null;
  const periods = cur.throttled.nr_periods - prev.throttled.nr_periods;
  const throttled = cur.throttled.nr_throttled - prev.throttled.nr_throttled;
  return periods > 0 ? (100 * throttled) / periods : 0;
}

function Performance({ path }) {
  const [samples, setSamples] = useState([]);
  const [error, setError] = useState(null);
  useEffect(() => {
    let alive = true;
    let timer = 0;
    const poll = async () => {
      try {
        const res = await raw('GET', path);
        const s = await res.json();
        if (!alive) return;
        setError(null);
        setSamples((prev) => (prev.length && prev[prev.length - 1].sampled_at === s.sampled_at ? prev
          : [...prev.slice(-(MAX_SAMPLES - 1)), s]));
      } catch (err) {
        if (alive) setError(err);
      }
      if (alive) timer = setTimeout(poll, POLL_MS);
    };
    poll();
    return () => { alive = false; clearTimeout(timer); };
  }, [path]);
  if (!samples.length) return error ? html`<${ErrorNote} error=${error} />` : html`<${Loading} what="performance" />`;
  const last = samples[samples.length - 1];
  const xs = samples.map((s) => s.sampled_at);
  const col = (f) => samples.map((s, i) => f(s, samples[i - 1]));
  return html`<div class="perf" data-testid="performance">
    <${ErrorNote} error=${error} />
    <dl class="facts inline">
      <dt>Used</dt><dd>${millicores(last.used_m)}</dd><dt>Request</dt><dd>${millicores(last.request_m)}</dd>
      <dt>Limit</dt><dd>${millicores(last.limit_m)}</dd><dt>Layer</dt><dd>${last.layer || '—'}</dd>
      <dt>Sampled</dt><dd>${when(last.sampled_at)}</dd>
    </dl>
    <div class="charts">
      <${Chart} title="CPU (millicores)" unit="m" data=${[xs, col((s) => s.used_m), col((s) => s.request_m), col((s) => s.limit_m)]}
        series=${[{ label: 'used', color: '#2563eb' }, { label: 'request', color: '#16a34a', dash: [6, 4] }, { label: 'limit', color: '#dc2626', dash: [2, 3] }]} />
      <${Chart} title="Throttled periods" unit="%" data=${[xs, col((s, p) => throttledPct(p, s))]}
        series=${[{ label: 'throttled', color: '#d97706' }]} />
      <${Chart} title="CPU pressure" unit="%" data=${[xs, col((s) => s.pressure_pct)]}
        series=${[{ label: 'some', color: '#7c3aed' }]} />
      <${Chart} title="Runqueue wait p99" unit="µs" data=${[xs, col((s) => s.runqueue_wait_p99_us)]}
        series=${[{ label: 'p99 wait', color: '#0891b2' }]} />
    </div>
    ${last.threads && last.threads.length ? html`<h3>Threads and profile groups</h3>
      <table class="plain" aria-label="Threads"><thead><tr>${Object.keys(last.threads[0]).map((k) => html`<th scope="col">${k}</th>`)}</tr></thead>
      <tbody>${last.threads.map((t) => html`<tr>${Object.keys(last.threads[0]).map((k) => html`<td>${String(t[k] ?? '')}</td>`)}</tr>`)}</tbody></table>`
      : null}
  </div>`;
}

function Logs({ path, containers, initial }) {
  const [opts, setOpts] = useState({ container: initial || containers[0] || '', tailLines: 200, sinceSeconds: '', follow: true });
  const [lines, setLines] = useState([]);
  const [state, setState] = useState({ running: false, error: null });
  const pre = useRef(null);
  useEffect(() => {
    const ctl = new AbortController();
    let buffer = [];
    let partial = '';
    setLines([]);
    setState({ running: true, error: null });
    (async () => {
      try {
        const res = await raw('GET', `${path}${q({ container: opts.container, follow: opts.follow, tailLines: opts.tailLines, sinceSeconds: opts.sinceSeconds })}`, { signal: ctl.signal });
        const reader = res.body.getReader();
        const decoder = new TextDecoder();
        for (;;) {
          const { done, value } = await reader.read();
          if (done) break;
          const chunk = partial + decoder.decode(value, { stream: true });
          const parts = chunk.split('\n');
          partial = parts.pop();
          buffer = [...buffer, ...parts].slice(-MAX_LOG_LINES);
          setLines(buffer);
        }
        if (partial) setLines([...buffer, partial].slice(-MAX_LOG_LINES));
        setState({ running: false, error: null });
      } catch (err) {
        if (err.name !== 'AbortError') setState({ running: false, error: err });
      }
    })();
    return () => ctl.abort();
  }, [path, opts.container, opts.follow, opts.tailLines, opts.sinceSeconds]);
  useEffect(() => { if (opts.follow && pre.current) pre.current.scrollTop = pre.current.scrollHeight; }, [lines]);
  const set = (key, value) => setOpts({ ...opts, [key]: value });
  return html`<div class="logs">
    <div class="toolbar" role="group" aria-label="Log options">
      <label>Container <select value=${opts.container} onChange=${(e) => set('container', e.currentTarget.value)}>
        ${containers.map((c) => html`<option value=${c}>${c}</option>`)}</select></label>
      <label>Tail lines <input type="number" min="1" max="10000" value=${opts.tailLines}
        onChange=${(e) => set('tailLines', Number(e.currentTarget.value) || 200)} /></label>
      <label>Since (s) <input type="number" min="1" value=${opts.sinceSeconds} placeholder="all"
        onChange=${(e) => set('sinceSeconds', e.currentTarget.value)} /></label>
      <label><input type="checkbox" checked=${opts.follow} onChange=${(e) => set('follow', e.currentTarget.checked)} /> Follow</label>
      <span class="muted" aria-live="polite">${state.running ? (opts.follow ? 'following…' : 'loading…') : `${lines.length} lines`}</span>
    </div>
    <${ErrorNote} error=${state.error} />
    <pre class="log" ref=${pre} tabindex="0" aria-label="Log output" data-testid="logs">${lines.join('\n')}</pre>
  </div>`;
}

function Manifest({ path, pod, cluster }) {
  const { data, error } = useResource(path);
  const owner = pod.owner && WORKLOAD_KINDS.includes(pod.owner.kind) ? pod.owner : null;
  return html`<div class="manifest">
    <${ErrorNote} error=${error} />
    ${data ? html`<pre class="yaml" tabindex="0" aria-label="Manifest" data-testid="manifest">${data.manifest}</pre>` : html`<${Loading} what="manifest" />`}
    <h3>Revision history ${owner ? html`of <a href=${href('c', cluster, 'ns', pod.namespace, 'workloads', owner.kind, owner.name)}>${owner.kind}/${owner.name}</a>` : ''}</h3>
    ${owner ? html`<${RevisionDiff} cluster=${cluster} namespace=${pod.namespace} kind=${owner.kind} name=${owner.name} />`
      : html`<p class="muted">${pod.owner ? `Owner ${pod.owner.kind}/${pod.owner.name} keeps no revision history.` : 'A bare pod has no revision history.'}</p>`}
  </div>`;
}

function Details({ pod, container }) {
  const shown = container ? pod.containers.filter((c) => c.name === container) : pod.containers;
  return html`<div class="details">
    <table class="plain" aria-label="Containers" data-testid="containers"><thead><tr>
      <th scope="col">Container</th><th scope="col">Image</th><th scope="col">Request</th><th scope="col">Declared</th>
      <th scope="col">Limit</th><th scope="col">Ready</th><th scope="col">Restarts</th></tr></thead>
      <tbody>${shown.map((c) => html`<tr><th scope="row">${c.name}</th><td><code>${c.image}</code></td>
        <td>${millicores(c.request_m)}</td><td>${millicores(c.original_request_m)}</td><td>${millicores(c.limit_m)}</td>
        <td>${c.ready ? 'yes' : 'no'}</td><td>${c.restarts}</td></tr>`)}</tbody></table>
    ${container ? null : html`<div class="kv"><h3>Labels</h3><ul>${Object.entries(pod.labels).map(([k, v]) => html`<li><code>${k}=${v}</code></li>`)}</ul>
      <h3>Annotations</h3><ul>${Object.entries(pod.annotations).map(([k, v]) => html`<li><code>${k}: ${v}</code></li>`)}</ul></div>`}
  </div>`;
}

export function PodView({ cluster, namespace, name, container = null }) {
  const { data: pod, error } = useResource(`/api/v1/clusters/${enc(cluster)}/namespaces/${enc(namespace)}/pods/${enc(name)}`, {
    kind: 'pods', refreshOn: (e) => e.object.name === name && e.object.namespace === namespace && e.type !== 'DELETED',
  });
  const [tab, setTab] = useState(container ? 'logs' : 'performance');
  if (error) return html`<${ErrorNote} error=${error} />`;
  if (!pod) return html`<${Loading} what=${`pod ${namespace}/${name}`} />`;
  const tabs = [{ id: 'performance', label: 'Performance' }, { id: 'logs', label: 'Logs' },
    { id: 'manifest', label: 'Manifest' }, { id: 'details', label: container ? 'Container' : 'Containers and labels' }];
  return html`<section aria-label=${`Pod ${namespace}/${name}`}>
    <header class="view-head">
      <h1>Pod <code>${namespace}/${name}</code>${container ? html` › container <code data-testid="container-name">${container}</code>` : null}</h1>
      <p class="muted">on <a href=${href('c', cluster, 'nodes', pod.node)}>${pod.node || '(unscheduled)'}</a> ·
        ${pod.phase} · tier <strong>${pod.tier}</strong>${pod.profile ? ` · profile ${pod.profile}` : ''} · layer ${pod.layer || '—'}
        · request ${millicores(pod.request_m)}${pod.original_request_m !== null ? ` (declared ${millicores(pod.original_request_m)})` : ''}
        · limit ${millicores(pod.limit_m)}</p>
      ${container ? null : html`<nav aria-label="Containers" class="chips">${pod.containers.map((c) => html`<a
        href=${href('c', cluster, 'ns', namespace, 'pods', name, 'containers', c.name)}>${c.name}</a>`)}</nav>`}
      ${container ? html`<p><a href=${href('c', cluster, 'ns', namespace, 'pods', name)}>← whole pod</a></p>` : null}
    </header>
    <${Tabs} label="Pod sections" current=${tab} onSelect=${setTab} tabs=${tabs} />
    <div role="tabpanel" aria-label=${tab}>
      ${tab === 'performance' ? html`<${Performance} path=${`/api/v1/clusters/${enc(cluster)}/namespaces/${enc(namespace)}/pods/${enc(name)}/performance`} />` : null}
      ${tab === 'logs' ? html`<${Logs} path=${`/api/v1/clusters/${enc(cluster)}/namespaces/${enc(namespace)}/pods/${enc(name)}/logs`}
          containers=${pod.containers.map((c) => c.name)} initial=${container} />` : null}
      ${tab === 'manifest' ? html`<${Manifest} path=${`/api/v1/clusters/${enc(cluster)}/namespaces/${enc(namespace)}/pods/${enc(name)}/manifest`}
          pod=${pod} cluster=${cluster} />` : null}
      ${tab === 'details' ? html`<${Details} pod=${pod} container=${container} />` : null}
    </div>
  </section>`;
}
