// Who the studio acts as: a signed-in session (short-lived access token, refresh token) or an
// API token pasted by someone holding one (a demo token, a script's). Kept in sessionStorage
// under the key the invitation page uses, so "create my account and join" lands here signed in,
// and a reload keeps the tab signed in while another tab may be someone else.

const KEY = "aladdin.session";
const MARGIN_MS = 30_000; // refresh this long before the access token expires

export class Session {
  constructor(base) {
    this.base = base; // the API root, ".../api/v1/"
    this.data = JSON.parse(sessionStorage.getItem(KEY) || "null");
    this._refreshing = null;
  }

  get signedIn() {
    return Boolean(this.data && this.data.accessToken);
  }

  get user() {
    return this.data?.user ?? null;
  }

  _store(data) {
    // The time it was issued, by this clock: expiresIn counts from there.
    this.data = data && { ...data, obtainedAt: data.obtainedAt ?? Date.now() };
    if (this.data) sessionStorage.setItem(KEY, JSON.stringify(this.data));
    else sessionStorage.removeItem(KEY);
  }

  async signIn(email, password) {
    const answer = await this._post("auth/login", { email, password });
    this._store(answer);
    return answer.user;
  }

  async useApiToken(token) {
    this._store({ accessToken: token, user: null });
    try {
      this.data.user = await this.request("auth/me");
      this._store(this.data);
      return this.data.user;
    } catch (err) {
      this._store(null);
      throw err;
    }
  }

  async signOut() {
    // A session ends on the server (its sockets drop at once); an API token stays valid.
    if (this.data?.refreshToken) await this._post("auth/logout", {}, this.data.accessToken).catch(() => {});
    this._store(null);
  }

  /** A live access token, refreshed first when it is about to expire (the provider's `token`). */
  async token() {
    const d = this.data;
    if (!d) throw new Error("signed out");
    const expires = d.expiresIn ? d.obtainedAt + d.expiresIn * 1000 : Infinity;
    if (d.refreshToken && Date.now() > expires - MARGIN_MS) await this.refresh();
    return this.data.accessToken;
  }

  /** One refresh at a time: a refresh token is single-use, and presenting one twice ends the session. */
  refresh() {
    if (!this._refreshing) {
      const presented = this.data.refreshToken;
      this._refreshing = this._post("auth/refresh", { refreshToken: presented })
        .then((answer) => this._store(answer), (err) => { this._store(null); throw err; })
        .finally(() => { this._refreshing = null; });
    }
    return this._refreshing;
  }

  /** A JSON API call as this session; a 401 is retried once after a refresh. */
  async request(path, { method = "GET", body, retry = true } = {}) {
    const response = await fetch(new URL(path, this.base), {
      method,
      headers: { Authorization: `Bearer ${await this.token()}`, ...(body ? { "Content-Type": "application/json" } : {}) },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    if (response.status === 401 && retry && this.data?.refreshToken) {
      await this.refresh();
      return this.request(path, { method, body, retry: false });
    }
    return answer(response);
  }

  async _post(path, body, token) {
    const response = await fetch(new URL(path, this.base), {
      method: "POST",
      headers: { "Content-Type": "application/json", ...(token ? { Authorization: `Bearer ${token}` } : {}) },
      body: JSON.stringify(body),
    });
    return answer(response);
  }
}

async function answer(response) {
  const body = response.status === 204 ? null : await response.json().catch(() => null);
  if (!response.ok) {
    const err = new Error(body?.message || `${response.status} ${response.statusText}`);
    err.status = response.status;
    throw err;
  }
  return body;
}
