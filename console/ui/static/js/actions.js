// Actions: a button that opens a confirm dialog saying what will happen (with a preview when
// the action has one, e.g. a drain's evictions, PDB blockers and skipped pods), runs the call,
// and then shows the audit record the server wrote for it. Hidden below the action's role
// (operator unless told) — the server refuses anyway, and writes a `denied` record.
import { useEffect, useRef, useState } from 'preact/hooks';
import { get, q } from './api.js';
import { html } from './html.js';
import { can, when } from './ui.js';

// The server's audit record for `auditId`; admins can read it back, others see what the UI knows.
function AuditNote({ me, auditId, action, target, outcome }) {
  const [record, setRecord] = useState(null);
  useEffect(() => {
    if (!can(me, 'admin')) return;
    // Pages run newest first and `continue` is exclusive, so id+1 with limit 1 is exactly this record.
    get(`/api/v1/audit${q({ continue: auditId + 1, limit: 1 })}`).then(
      (list) => setRecord(list.items.find((r) => r.id === auditId) || null), () => {},
    );
  }, [auditId]);
  const r = record || { id: auditId, token: me.name, role: me.role, action, target };
  return html`<div class="audit-note" role="status" data-testid="audit-record" data-audit-id=${auditId}
      data-complete=${record ? 'yes' : 'no'}>
    <strong>Audit record #${r.id}</strong>: <code>${r.action}</code> on <code>${r.target}</code>${' '}by ${r.token} (${r.role})${' '}
    ${record ? `— ${record.result} at ${when(record.time)}` : `— the action answered ${outcome}; admins read the whole record on the audit page`}
    ${record && record.previous ? html`<div class="muted">previous state: <code>${JSON.stringify(record.previous)}</code></div>` : null}
  </div>`;
}

let dialogs = 0; // ids tying each dialog to its summary (aria-describedby)

export function Action({ me, action, label, target, summary, preview = null, fields = [], run, onDone = null,
  danger = false, role = 'operator' }) {
  const dialog = useRef(null);
  const [summaryId] = useState(() => `action-summary-${++dialogs}`);
  const [values, setValues] = useState(() => Object.fromEntries(fields.map((f) => [f.name, f.initial])));
  const [previewBody, setPreview] = useState(null);
  const [busy, setBusy] = useState(false);
  const [outcome, setOutcome] = useState(null);
  if (!can(me, role)) return null;

  const open = () => {
    setOutcome(null);
    setPreview(preview ? html`<p class="loading">Loading preview…</p>` : null);
    dialog.current.showModal();
    if (preview) preview().then(setPreview, (err) => setPreview(html`<p class="error">Preview failed: ${err.message}</p>`));
  };
  const confirm = async (e) => {
    e.preventDefault();
    setBusy(true);
    try {
      const result = await run(values);
      setOutcome({ result });
    } catch (err) {
      setOutcome({ error: err });
    } finally {
      setBusy(false);
    }
  };
  // onDone (the caller's reload) runs when the dialog closes, not on success: a reload may swap
  // this button for another (cordon -> uncordon) and must not take the audit record away first.
  const onClose = () => { if (outcome && outcome.result && onDone) onDone(outcome.result); };
  const close = () => dialog.current.close();
  const result = outcome && outcome.result;
  return html`<span class="action">
    <button type="button" class=${danger ? 'danger' : ''} data-action=${action} onClick=${open}
      aria-haspopup="dialog" aria-label=${`${label} ${target}`}>${label}</button>
    <dialog ref=${dialog} aria-label=${`${label} ${target}: confirm`} class="confirm" data-dialog=${action}
      aria-describedby=${summaryId} onClose=${onClose}>
      <form method="dialog" onSubmit=${confirm}>
        <h2>${label} <code>${target}</code>?</h2>
        <div class="summary" id=${summaryId}>${summary}</div>
        ${previewBody}
        ${fields.map((f) => html`<label class="field">${f.label}
          ${f.type === 'checkbox'
            ? html`<input type="checkbox" name=${f.name} checked=${values[f.name]}
                onChange=${(ev) => setValues({ ...values, [f.name]: ev.currentTarget.checked })} />`
            : html`<input type="number" name=${f.name} value=${values[f.name]} min=${f.min} max=${f.max}
                onInput=${(ev) => setValues({ ...values, [f.name]: Number(ev.currentTarget.value) })} />`}
        </label>`)}
        ${outcome && outcome.error ? html`<p class="error" role="alert">${outcome.error.status} ${outcome.error.message}</p>` : null}
        ${result ? html`<div class="result">
            <p>Result: <strong data-testid="action-result">${result.result}</strong> ${result.detail || ''}</p>
            ${result.trace_id ? html`<p>Trace <code>${result.trace_id}</code> captured.</p>` : null}
            ${result.evicted ? html`<p>Evicted ${result.evicted.length}, pending ${result.pending.length},
              blocked ${result.blocked.length}${result.partial ? ' (partial)' : ''}.</p>` : null}
            ${result.nodes ? html`<ul class="short">${Object.entries(result.nodes).map(([n, st]) => html`<li>${n}: ${st}</li>`)}</ul>` : null}
            <${AuditNote} me=${me} auditId=${result.audit_id} action=${action} target=${target} outcome=${result.result} />
          </div>` : null}
        <div class="buttons">
          ${result
            ? html`<button type="button" onClick=${close} autofocus>Close</button>`
            : html`<button type="button" onClick=${close}>Cancel</button>
                   <button type="submit" class=${danger ? 'danger' : 'primary'} disabled=${busy}
                     data-confirm=${action}>${busy ? 'Working…' : `Confirm ${label.toLowerCase()}`}</button>`}
        </div>
      </form>
    </dialog>
  </span>`;
}
