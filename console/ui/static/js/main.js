// The console's shell: sign-in with a named token, who-am-I, the cluster picker, navigation,
// the live-stream indicator, and a hash router (#/c/<cluster>/<view>/…) so every view has a URL
// and the browser's back button works. Views below a role's rank are not offered (the server
// refuses them anyway).
import { render } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import { get, setToken, token } from './api.js';
import { html } from './html.js';
import { close as closeStream, subscribe } from './sse.js';
import { ErrorNote, can, href } from './ui.js';
import { Audit } from './views/audit.js';
import { Explorer } from './views/explorer.js';
import { Hub } from './views/hub.js';
import { NodeView } from './views/node.js';
import { Operations } from './views/operations.js';
import { PodView } from './views/pod.js';
import { Savings } from './views/savings.js';
import { Tokens } from './views/tokens.js';
import { WORKLOAD_KINDS, WorkloadView, Workloads } from './views/workloads.js';

function parseRoute() {
  const parts = window.location.hash.replace(/^#\/?/, '').split('/').filter(Boolean).map(decodeURIComponent);
  return parts;
}

function useRoute() {
  const [parts, setParts] = useState(parseRoute);
  useEffect(() => {
    const onChange = () => setParts(parseRoute());
    window.addEventListener('hashchange', onChange);
    return () => window.removeEventListener('hashchange', onChange);
  }, []);
  return parts;
}

function SignIn({ error, onToken }) {
  const [value, setValue] = useState('');
  return html`<main class="signin"><form onSubmit=${(e) => { e.preventDefault(); onToken(value.trim()); }}>
    <h1>Temper console</h1>
    <p>Sign in with a console token (given to <code>temper console serve --token NAME:ROLE:SECRET</code>).</p>
    <label for="token">Token</label>
    <input id="token" type="password" autocomplete="off" value=${value} onInput=${(e) => setValue(e.currentTarget.value)} required />
    <${ErrorNote} error=${error} />
    <button type="submit" class="primary">Sign in</button>
  </form></main>`;
}

function StreamState() {
  const [state, setState] = useState('idle');
  useEffect(() => subscribe('status', setState), []);
  return html`<span class=${`stream ${state}`} role="status" aria-label=${`Live updates: ${state}`} data-testid="stream">● ${state}</span>`;
}

function View({ me, parts, cluster }) {
  const [root, c, view, ...rest] = parts;
  if (root === 'hub') return html`<${Hub} />`;
  if (root === 'audit') return can(me, 'admin') ? html`<${Audit} />` : html`<p class="error">The audit log is for admins.</p>`;
  if (root === 'tokens') return can(me, 'admin') ? html`<${Tokens} me=${me} />` : html`<p class="error">Token management is for admins.</p>`;
  if (root !== 'c' || !c) return html`<${Explorer} cluster=${cluster} />`;
  if (view === 'explorer' || !view) return html`<${Explorer} cluster=${c} tab=${rest[0] || 'pods'} />`;
  if (view === 'nodes' && rest[0]) return html`<${NodeView} key=${rest[0]} me=${me} cluster=${c} name=${rest[0]} />`;
  if (view === 'workloads') return html`<${Workloads} cluster=${c} kind=${WORKLOAD_KINDS.includes(rest[0]) ? rest[0] : 'Deployment'} />`;
  if (view === 'savings') return html`<${Savings} cluster=${c} />`;
  if (view === 'actions') return html`<${Operations} me=${me} cluster=${c} />`;
  if (view === 'ns' && rest[1] === 'pods') {
    const container = rest[3] === 'containers' ? rest[4] : null;
    return html`<${PodView} key=${`${rest[0]}/${rest[2]}/${container}`} cluster=${c} namespace=${rest[0]} name=${rest[2]} container=${container} />`;
  }
  if (view === 'ns' && rest[1] === 'workloads') {
    return html`<${WorkloadView} key=${rest.join('/')} me=${me} cluster=${c} namespace=${rest[0]} kind=${rest[2]} name=${rest[3]} />`;
  }
  return html`<p class="error">No such page: <code>${window.location.hash}</code></p>`;
}

function Shell({ me, clusters, onSignOut }) {
  const parts = useRoute();
  const local = (clusters.find((c) => c.local) || clusters[0] || { name: 'local' }).name;
  const cluster = parts[0] === 'c' && parts[1] ? parts[1] : local;
  const section = parts[0] === 'c' ? (parts[2] === 'ns' ? (parts[4] === 'workloads' ? 'workloads' : 'explorer') : parts[2] === 'nodes' ? 'explorer' : parts[2] || 'explorer') : parts[0] || 'explorer';
  const nav = [
    { id: 'explorer', label: 'Explorer', to: href('c', cluster, 'explorer') },
    { id: 'workloads', label: 'Workloads', to: href('c', cluster, 'workloads', 'Deployment') },
    { id: 'savings', label: 'Savings', to: href('c', cluster, 'savings') },
    { id: 'hub', label: 'Clusters', to: href('hub') },
    ...(can(me, 'operator') ? [{ id: 'actions', label: 'Actions', to: href('c', cluster, 'actions') }] : []),
    ...(can(me, 'admin') ? [{ id: 'audit', label: 'Audit', to: href('audit') }, { id: 'tokens', label: 'Tokens', to: href('tokens') }] : []),
  ];
  const pick = (e) => { window.location.hash = href('c', e.currentTarget.value, 'explorer'); };
  return html`<div class="shell">
    <a class="skip" href="#main" onClick=${(e) => { e.preventDefault(); document.getElementById('main').focus(); }}>Skip to content</a>
    <header class="top">
      <span class="brand">Temper</span>
      <label class="cluster-pick">Cluster <select value=${cluster} onChange=${pick} aria-label="Cluster">
        ${clusters.map((c) => html`<option value=${c.name} disabled=${!c.reachable}>${c.name}${c.reachable ? '' : ' (unreachable)'}</option>`)}
      </select></label>
      <nav aria-label="Main"><ul>${nav.map((n) => html`<li><a href=${n.to} aria-current=${n.id === section ? 'page' : undefined}>${n.label}</a></li>`)}</ul></nav>
      <span class="spacer"></span>
      <${StreamState} />
      <span class="me" data-testid="whoami" data-role=${me.role}>${me.name} <span class="badge role">${me.role}</span></span>
      <button type="button" onClick=${onSignOut}>Sign out</button>
    </header>
    <main id="main" tabindex="-1"><${View} me=${me} parts=${parts} cluster=${cluster} /></main>
  </div>`;
}

function App() {
  const [session, setSession] = useState({ me: null, clusters: [], error: null, checking: Boolean(token()) });
  const signIn = async () => {
    try {
      const [me, clusters] = await Promise.all([get('/api/v1/whoami'), get('/api/v1/clusters')]);
      setSession({ me, clusters: clusters.items, error: null, checking: false });
    } catch (error) {
      setToken('');
      setSession({ me: null, clusters: [], error, checking: false });
    }
  };
  useEffect(() => { if (token()) signIn(); }, []);
  useEffect(() => {
    const onUnauthorized = () => { closeStream(); setToken(''); setSession({ me: null, clusters: [], error: { status: 401, message: 'Token rejected; sign in again.' }, checking: false }); };
    window.addEventListener('temper:unauthorized', onUnauthorized);
    return () => window.removeEventListener('temper:unauthorized', onUnauthorized);
  }, []);
  if (session.checking) return html`<p class="boot">Signing in…</p>`;
  if (!session.me) return html`<${SignIn} error=${session.error} onToken=${(t) => { setToken(t); setSession({ ...session, checking: true }); signIn(); }} />`;
  const signOut = () => { closeStream(); setToken(''); window.location.reload(); };
  return html`<${Shell} me=${session.me} clusters=${session.clusters} onSignOut=${signOut} />`;
}

const root = document.getElementById('app');
root.textContent = ''; // the boot message is static HTML, not Preact's to diff away
render(html`<${App} />`, root);
