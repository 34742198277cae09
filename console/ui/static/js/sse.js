// The tab's one live-update stream: a single EventSource on /api/v1/events multiplexing nodes,
// pods and workloads. EventSource reconnects by itself and resends Last-Event-ID, so the server
// resumes where the tab left off; when the gap is too old it sends `event: reset` and every
// subscriber re-lists. EventSource cannot send headers, hence ?access_token=.
import { q, token } from './api.js';

const KINDS = ['nodes', 'pods', 'workloads'];
const handlers = { nodes: new Set(), pods: new Set(), workloads: new Set(), reset: new Set(), status: new Set() };
let source = null;
let state = 'idle';

function setState(next) {
  state = next;
  for (const fn of handlers.status) fn(state);
}

function open() {
  if (source) return;
  source = new EventSource(`/api/v1/events${q({ kinds: KINDS.join(','), access_token: token() })}`);
  setState('connecting');
  source.onopen = () => setState('live');
  source.onerror = () => setState(source && source.readyState === EventSource.CLOSED ? 'closed' : 'reconnecting');
  for (const kind of KINDS) {
    source.addEventListener(kind, (msg) => {
      let event;
      try { event = JSON.parse(msg.data); } catch (_) { return; }
      for (const fn of handlers[kind]) fn(event);
    });
  }
  source.addEventListener('reset', () => { for (const fn of handlers.reset) fn(); });
}

export function subscribe(kind, fn) {
  handlers[kind].add(fn);
  if (kind !== 'status') open();
  else fn(state);
  return () => handlers[kind].delete(fn);
}

export function close() {
  if (source) source.close();
  source = null;
  setState('idle');
}
