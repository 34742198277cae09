// Live collections: a paged initial list kept current by the tab's SSE stream.
//
// A LiveList holds one kind of one cluster (pods, nodes, or workloads of one kind) in a Map by
// key. It lists page by page (the first page small so the first rows paint fast), applies
// ADDED/MODIFIED/DELETED events as they arrive — also while the list is still loading (see
// load) — and re-lists on a `reset`. Views read `rows()` (cached per version) and re-render at most once per frame.
import { useEffect, useState } from 'preact/hooks';
import { enc, get, pages, q } from './api.js';
import { subscribe } from './sse.js';

export class LiveList {
  constructor({ cluster, kind, keyOf, pathOf, match = () => true }) {
    Object.assign(this, { cluster, kind, keyOf, pathOf, match });
    this.items = new Map();
    this.pending = null;
    this.version = 0;
    this.loading = false;
    this.loaded = false;
    this.error = null;
    this.listeners = new Set();
    this.cached = null;
    this.cachedVersion = -1;
    this.unsubscribe = [];
    this.generation = 0;
  }

  start() {
    if (this.unsubscribe.length) return this;
    this.unsubscribe.push(subscribe(this.kind, (event) => this.apply(event)));
    this.unsubscribe.push(subscribe('reset', () => this.load()));
    this.load();
    return this;
  }

  apply(event) {
    if (event.cluster !== this.cluster || !this.match(event.object)) return;
    const key = this.keyOf(event.object);
    const obj = event.type === 'DELETED' ? null : event.object;
    if (this.pending) this.pending.set(key, obj);
    if (obj) this.items.set(key, obj);
    else this.items.delete(key);
    this.bump();
  }

  // List every page. Events seen since the list began are newer than any listed object, so
  // they are kept in `pending` and win over the pages (a pod deleted mid-list stays deleted).
  async load() {
    const generation = ++this.generation;
    this.loading = true;
    this.error = null;
    this.pending = new Map();
    const fresh = new Map();
    try {
      await pages(this.pathOf, (page, first) => {
        if (generation !== this.generation) return;
        for (const obj of page.items) {
          const key = this.keyOf(obj);
          if (!this.pending.has(key)) fresh.set(key, obj);
        }
        if (first) {
          for (const [key, obj] of this.pending) if (obj) fresh.set(key, obj);
          this.items = fresh;
        }
        this.total = page.total;
        this.bump();
      });
      if (generation === this.generation) this.loaded = true;
    } catch (err) {
      if (generation === this.generation) this.error = err;
    } finally {
      if (generation === this.generation) {
        this.loading = false;
        this.pending = null;
        this.bump();
      }
    }
  }

  bump() {
    this.version += 1;
    for (const fn of this.listeners) fn(this.version);
  }

  rows() {
    if (this.cachedVersion !== this.version) {
      this.cached = Array.from(this.items.values());
      this.cachedVersion = this.version;
    }
    return this.cached;
  }
}

const registry = new Map();

function cached(id, make) {
  if (!registry.has(id)) registry.set(id, make().start());
  return registry.get(id);
}

export function podsOf(cluster) {
  return cached(`${cluster}/pods`, () => new LiveList({
    cluster, kind: 'pods', keyOf: (p) => p.uid,
    pathOf: (page) => `/api/v1/clusters/${enc(cluster)}/pods${q(page)}`,
  }));
}

export function nodesOf(cluster) {
  return cached(`${cluster}/nodes`, () => new LiveList({
    cluster, kind: 'nodes', keyOf: (n) => n.name,
    pathOf: (page) => `/api/v1/clusters/${enc(cluster)}/nodes${q(page)}`,
  }));
}

export function workloadsOf(cluster, kind) {
  return cached(`${cluster}/workloads/${kind}`, () => new LiveList({
    cluster, kind: 'workloads', keyOf: (w) => `${w.namespace}/${w.name}`, match: (w) => w.kind === kind,
    pathOf: (page) => `/api/v1/clusters/${enc(cluster)}/workloads${q({ kind, ...page })}`,
  }));
}

// Re-render the calling component when any of the lists change, at most once per frame.
export function useLive(...lists) {
  const [, setTick] = useState(0);
  useEffect(() => {
    let frame = 0;
    const schedule = () => {
      if (!frame) frame = requestAnimationFrame(() => { frame = 0; setTick((t) => t + 1); });
    };
    for (const list of lists) list.listeners.add(schedule);
    return () => {
      for (const list of lists) list.listeners.delete(schedule);
      if (frame) cancelAnimationFrame(frame);
    };
  }, lists);
}

// Fetch one resource and re-fetch it when `deps` change or when `refreshOn(event)` is true for
// an event of `kind` on the stream (debounced). Returns {data, error, reload}.
export function useResource(path, { kind = null, refreshOn = () => false, deps = [] } = {}) {
  const [state, setState] = useState({ data: null, error: null, path: null });
  const [tick, setTick] = useState(0);
  useEffect(() => {
    let alive = true;
    get(path).then(
      (data) => alive && setState({ data, error: null, path }),
      (error) => alive && setState({ data: null, error, path }),
    );
    return () => { alive = false; };
  }, [path, tick, ...deps]);
  useEffect(() => {
    if (!kind) return undefined;
    let timer = 0;
    const off = subscribe(kind, (event) => {
      if (!refreshOn(event)) return;
      clearTimeout(timer);
      timer = setTimeout(() => setTick((t) => t + 1), 150);
    });
    return () => { off(); clearTimeout(timer); };
  }, [kind, path]);
  const stale = state.path !== path;
  return { data: stale ? null : state.data, error: stale ? null : state.error, reload: () => setTick((t) => t + 1) };
}
