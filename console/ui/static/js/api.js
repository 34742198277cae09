// The one module that talks to the server. Every call goes to /api/v1 (a test extracts every
// path literal in the UI and checks it against the server's OpenAPI spec), carries the bearer
// token, and turns the {"error": {code, message}} body of a 4xx into an ApiError.

const TOKEN_KEY = 'temper.console.token';

export const enc = encodeURIComponent;

export function token() {
  return sessionStorage.getItem(TOKEN_KEY) || '';
}

export function setToken(value) {
  if (value) sessionStorage.setItem(TOKEN_KEY, value);
  else sessionStorage.removeItem(TOKEN_KEY);
}

export class ApiError extends Error {
  constructor(status, code, message) {
    super(message || code || `HTTP ${status}`);
    this.status = status;
    this.code = code;
  }
}

// A query string from an object: null, undefined and '' values are left out.
export function q(params) {
  const parts = [];
  for (const [key, value] of Object.entries(params || {})) {
    if (value === null || value === undefined || value === '') continue;
    parts.push(`${enc(key)}=${enc(String(value))}`);
  }
  return parts.length ? `?${parts.join('&')}` : '';
}

function checkPath(path) {
  if (!path.startsWith('/api/v1/')) throw new Error(`the console UI calls only /api/v1, not ${path}`);
}

async function fail(res) {
  let code = `http_${res.status}`;
  let message = res.statusText;
  try {
    const body = await res.json();
    if (body && body.error) ({ code, message } = body.error);
  } catch (_) { /* not a JSON error body */ }
  if (res.status === 401) window.dispatchEvent(new CustomEvent('temper:unauthorized'));
  throw new ApiError(res.status, code, message);
}

// fetch with the token; resolves to the Response (caller reads it), rejects with ApiError on 4xx/5xx.
export async function raw(method, path, { body, signal } = {}) {
  checkPath(path);
  const headers = { Authorization: `Bearer ${token()}` };
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  const res = await fetch(path, {
    method, headers, signal, body: body === undefined ? undefined : JSON.stringify(body),
  });
  if (!res.ok) await fail(res);
  return res;
}

export async function get(path, opts) {
  const res = await raw('GET', path, opts);
  const type = res.headers.get('Content-Type') || '';
  return type.includes('json') ? res.json() : res.text();
}

export async function post(path, body = {}) {
  return (await raw('POST', path, { body })).json();
}

export async function del(path) {
  return (await raw('DELETE', path)).json();
}

// The largest page the API serves (its OpenAPI `limit` maximum; more is a 400 bad-limit).
export const MAX_PAGE = 1000;

// Every page of a paged list (limit/continue), handing each page to onPage as it arrives.
export async function pages(pathOf, onPage, { firstLimit = 500, limit = MAX_PAGE, signal } = {}) {
  let cont = '';
  let first = true;
  for (;;) {
    const page = await get(pathOf({ limit: first ? firstLimit : limit, continue: cont }), { signal });
    onPage(page, first);
    first = false;
    cont = page.continue;
    if (!cont) return;
  }
}

// Save a server response as a file (trace and audit downloads), with the token in the header.
export async function download(path, filename) {
  const res = await raw('GET', path);
  const blob = await res.blob();
  const url = URL.createObjectURL(blob);
  const a = document.createElement('a');
  a.href = url;
  a.download = filename;
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 1000);
}
