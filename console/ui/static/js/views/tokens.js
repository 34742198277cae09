// Tokens (admins): the named tokens with role, creation and last use; create one (its secret is
// in the create response only — the server keeps an HMAC — so it is shown once, here, until
// dismissed); revoke one through the confirm step. Bootstrap tokens (--token) are not listed.
import { useState } from 'preact/hooks';
import { del, enc, post } from '../api.js';
import { Action } from '../actions.js';
import { html } from '../html.js';
import { useResource } from '../live.js';
import { ErrorNote, Loading, ROLE_RANK, can, when } from '../ui.js';

const ROLES = Object.keys(ROLE_RANK);

function Created({ created, onDismiss }) {
  const copy = () => navigator.clipboard && navigator.clipboard.writeText(created.token);
  return html`<div class="audit-note secret" role="alert" data-testid="token-created">
    <p>Token <strong>${created.name}</strong> (${created.role}) created — audit record #${created.audit_id}.
      Copy its secret now: it is not shown again.</p>
    <p><label>Secret <input type="text" readonly value=${created.token} data-testid="token-secret" size="60"
      aria-label=${`Secret of token ${created.name}`} onFocus=${(e) => e.currentTarget.select()} /></label>
      <button type="button" onClick=${copy}>Copy</button> <button type="button" onClick=${onDismiss}>Done</button></p>
  </div>`;
}

function CreateForm({ onCreated }) {
  const [form, setForm] = useState({ name: '', role: 'viewer' });
  const [error, setError] = useState(null);
  const [busy, setBusy] = useState(false);
  const submit = async (e) => {
    e.preventDefault();
    setBusy(true);
    try {
      onCreated(await post('/api/v1/tokens', form));
      setForm({ name: '', role: form.role });
      setError(null);
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  };
  return html`<form class="toolbar" aria-label="Create a token" onSubmit=${submit}>
    <label>Name <input type="text" name="token-name" required pattern="[a-z0-9]([-a-z0-9]*[a-z0-9])?" maxlength="63"
      title="lower-case letters, digits and '-'" value=${form.name}
      onInput=${(e) => setForm({ ...form, name: e.currentTarget.value.trim() })} /></label>
    <label>Role <select name="token-role" value=${form.role} onChange=${(e) => setForm({ ...form, role: e.currentTarget.value })}>
      ${ROLES.map((r) => html`<option value=${r}>${r}</option>`)}</select></label>
    <button type="submit" class="primary" disabled=${busy}>Create token</button>
    <${ErrorNote} error=${error} />
  </form>`;
}

export function Tokens({ me }) {
  const { data, error, reload } = useResource('/api/v1/tokens');
  const [created, setCreated] = useState(null);
  if (!can(me, 'admin')) return html`<p class="error" role="alert">Token management is for admins.</p>`;
  return html`<section aria-label="Tokens">
    <header class="view-head"><h1>Tokens</h1>
      <span class="muted">named tokens; bootstrap tokens given with --token are not listed</span></header>
    <${CreateForm} onCreated=${(c) => { setCreated(c); reload(); }} />
    ${created ? html`<${Created} created=${created} onDismiss=${() => setCreated(null)} />` : null}
    <${ErrorNote} error=${error} />
    ${!data ? html`<${Loading} what="tokens" />` : html`<table class="plain" aria-label="Named tokens" data-testid="tokens-table">
      <thead><tr><th scope="col">Name</th><th scope="col">Role</th><th scope="col">Created</th>
        <th scope="col">Last used</th><th scope="col">State</th><th scope="col">Actions</th></tr></thead>
      <tbody>${data.items.map((t) => html`<tr key=${t.name} data-token=${t.name}>
        <th scope="row">${t.name}</th><td>${t.role}</td><td>${when(t.created)}</td>
        <td>${t.last_used ? when(t.last_used) : 'never'}</td>
        <td>${t.revoked ? html`<span class="badge unreachable" data-testid="revoked">revoked</span>` : 'live'}</td>
        <td>${t.revoked ? null : html`<${Action} me=${me} role="admin" action="token-revoke" label="Revoke" target=${`token/${t.name}`}
          danger onDone=${reload} summary="Requests with this token are refused (401) from now on; its audit history stays."
          run=${() => del(`/api/v1/tokens/${enc(t.name)}`)} />`}</td></tr>`)}</tbody></table>`}
  </section>`;
}
