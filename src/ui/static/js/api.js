// The dashboard's only way to the data: the /v1 API with the user's bearer token.

const TOKEN_KEY = 'auditmesh.token';
const MESSAGE_KEY = 'auditmesh.loginMessage';

export const session = {
  get token() {
    return sessionStorage.getItem(TOKEN_KEY);
  },
  signIn(token) {
    sessionStorage.setItem(TOKEN_KEY, token);
    sessionStorage.removeItem(MESSAGE_KEY);
  },
  /** Forget the token; `message` is shown on the login screen (e.g. the server's 401 reason). */
  signOut(message) {
    sessionStorage.removeItem(TOKEN_KEY);
    if (message) sessionStorage.setItem(MESSAGE_KEY, message);
    else sessionStorage.removeItem(MESSAGE_KEY);
  },
  takeMessage() {
    const m = sessionStorage.getItem(MESSAGE_KEY);
    sessionStorage.removeItem(MESSAGE_KEY);
    return m;
  },
  /** The token's claims, decoded for display only (the server is what verifies it). */
  claims() {
    const t = this.token;
    if (!t) return null;
    try {
      const part = t.split('.')[1].replace(/-/g, '+').replace(/_/g, '/');
      return JSON.parse(atob(part.padEnd(part.length + ((4 - (part.length % 4)) % 4), '=')));
    } catch {
      return null;
    }
  },
};

export class ApiError extends Error {
  constructor(status, code, message, body) {
    super(message);
    this.status = status;
    this.code = code;
    this.body = body;
  }
  /** The endpoint does not exist on this server (the API's own 404), as opposed to "no such item". */
  get endpointMissing() {
    return this.status === 404 && (this.body?.message === 'no such endpoint' || this.body === null);
  }
}

let onUnauthorized = () => undefined;
export function setUnauthorizedHandler(fn) {
  onUnauthorized = fn;
}

/** GET an API path relative to the server root, e.g. api('v1/records', { limit: 50 }). */
export async function api(path, params, { signal } = {}) {
  const url = new URL(`../${path.replace(/^\/+/, '')}`, document.baseURI);
  for (const [k, v] of Object.entries(params ?? {})) if (v !== undefined && v !== null && v !== '') url.searchParams.set(k, String(v));
  const token = session.token;
  const res = await fetch(url, {
    headers: { accept: 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
    cache: 'no-store',
    credentials: 'omit',
    signal,
  });
  let body = null;
  try {
    body = await res.json();
  } catch {
    body = null;
  }
  if (res.status === 401) {
    const msg = body?.message ?? 'the server did not accept the token';
    onUnauthorized(msg);
    throw new ApiError(401, 'unauthorized', msg, body);
  }
  if (!res.ok) throw new ApiError(res.status, body?.error ?? `http_${res.status}`, body?.message ?? res.statusText, body);
  return body;
}
