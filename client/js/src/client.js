// ParleyClient: one logical connection to a Parley gateway over whichever
// transport gets through, with requests matched by ref, reconnect with
// backoff, rooms resumed by seq and messages delivered once each.
//
//   connecting --welcome--> open --transport ends / no pong--> reconnecting
//       ^                                                          |
//       +--------------------- backoff timer fires ---------------+
//   close() (or a hello the server refuses for good) --> closed
//
// Rooms: join() remembers a room once joined; after every welcome the client
// joins each remembered room again with sinceSeq = the last seq it delivered,
// and a room that restarted or moved (a `left` frame saying so) is joined
// again the same way. Messages are delivered in seq order per room and never
// twice: a message whose seq is not past the room's last seq is dropped.

import { Backoff, backoffDelay, default_backoff } from './backoff.js';
import { Emitter } from './emitter.js';
import { ParleyError, retryable_codes } from './errors.js';
import { createTransport, transport_names } from './transports.js';

export const client_name = 'parley-js';
export const client_version = '0.1.0';

/** Hello refusals that a retry would only repeat: the client stops. */
const fatal_hello_codes = new Set([
  'ERROR_CODE_UNAUTHENTICATED', 'ERROR_CODE_INVALID_ARGUMENT', 'ERROR_CODE_TOO_LARGE',
]);

/** `left` reasons after which the room is joined again with sinceSeq (as the page did). */
const rejoin_reasons = new Set([
  'LEFT_REASON_ROOM_RESTARTED', 'LEFT_REASON_ROOM_MOVED', 'LEFT_REASON_ROOM_STOPPED',
]);

/** Rejoin refusals that a retry would only repeat: the room is given up. */
const final_join_codes = new Set([
  'ERROR_CODE_INVALID_ROOM_NAME', 'ERROR_CODE_REFUSED', 'ERROR_CODE_NAME_IN_USE',
  'ERROR_CODE_FORBIDDEN', 'ERROR_CODE_INVALID_ARGUMENT', 'ERROR_CODE_NOT_A_MEMBER',
  'ERROR_CODE_TOO_LARGE', 'ERROR_CODE_UNAUTHENTICATED',
]);

/** Pages of history fetched to fill a resume that missed more than one reply holds. */
const max_fill_pages = 10;
/** Live messages kept for a room while its join is answered. */
const max_buffered = 10_000;

const isSeq = (s) => typeof s === 'string' && /^[0-9]{1,20}$/.test(s);
const seqOf = (s) => (isSeq(s) ? BigInt(s) : null);

/** A JSON mapping uint64: numbers and bigints become decimal strings. */
function u64(v) {
  if (v === undefined || v === null)
    return undefined;
  if (typeof v === 'bigint' || typeof v === 'number')
    return String(v);
  return v;
}

/** Bytes to base64 (a string is taken as base64 already). */
function toBase64(body) {
  if (typeof body === 'string')
    return body;
  const bytes = body instanceof ArrayBuffer ? new Uint8Array(body) : new Uint8Array(body.buffer, body.byteOffset, body.byteLength);
  let s = '';
  for (let i = 0; i < bytes.length; i += 0x8000)
    s += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return btoa(s);
}

/** A fresh idempotency key: a UUID where the runtime has one. */
export function randomId(random = Math.random) {
  const c = globalThis.crypto;
  if (typeof c?.randomUUID === 'function')
    return c.randomUUID();
  const bytes = new Uint8Array(16);
  if (typeof c?.getRandomValues === 'function')
    c.getRandomValues(bytes);
  else
    for (let i = 0; i < bytes.length; ++i)
      bytes[i] = Math.floor(random() * 256);
  return [...bytes].map((b) => b.toString(16).padStart(2, '0')).join('');
}

/**
 * The gateway's http(s) base and its WebSocket URL from what the user gave:
 * `http://host:8080` (or with a path prefix), or `ws://host:8080/ws`.
 * @param {string} url
 * @returns {{ baseUrl: string, wsUrl: string }}
 */
export function gatewayUrls(url) {
  const u = new URL(url);
  u.search = '';
  u.hash = '';
  let path = u.pathname.replace(/\/+$/, '');
  if (u.protocol === 'ws:' || u.protocol === 'wss:') {
    path = path.replace(/\/ws$/, '');
    u.protocol = u.protocol === 'wss:' ? 'https:' : 'http:';
  } else if (u.protocol !== 'http:' && u.protocol !== 'https:') {
    throw new ParleyError('INVALID_URL', `not an http(s) or ws(s) URL: ${url}`);
  }
  const baseUrl = `${u.protocol}//${u.host}${path}`;
  const wsUrl = `${u.protocol === 'https:' ? 'wss:' : 'ws:'}//${u.host}${path}/ws`;
  return { baseUrl, wsUrl };
}

/** localStorage when the runtime has a usable one, else a Map. */
function defaultStorage() {
  try {
    const ls = globalThis.localStorage;
    if (ls && typeof ls.getItem === 'function')
      return ls;
  } catch {
    // access denied (sandboxed frame)
  }
  const m = new Map();
  return { getItem: (k) => (m.has(k) ? m.get(k) : null), setItem: (k, v) => { m.set(k, String(v)); } };
}

/**
 * @typedef {object} RoomState
 * @property {string} room
 * @property {bigint|null} lastSeq the highest seq delivered
 * @property {'joining'|'joined'} status
 * @property {boolean} remembered joined once: rejoined after reconnects
 * @property {Set<string>} members
 * @property {any[]} buffer live messages that came while the join was answered
 * @property {any} joined the last join's answer
 * @property {Promise<any>|null} joinPromise
 * @property {any} joinTransport the transport the join in flight went on
 * @property {number} attempt failed rejoins in a row
 * @property {any} rejoinTimer
 */

export class ParleyClient extends Emitter {
  /**
   * @param {import('./index.d.ts').ParleyClientOptions} [options]
   */
  constructor(options = {}) {
    super();
    const url = options.url ?? globalThis.location?.origin;
    if (!url)
      throw new ParleyError('INVALID_URL', 'options.url is required outside a browser page');
    const { baseUrl, wsUrl } = gatewayUrls(url);
    const transports = (options.transports ?? transport_names).filter((n) => typeof n === 'string');
    if (transports.length === 0)
      throw new ParleyError('UNSUPPORTED', 'options.transports is empty');
    const f = options.fetch ?? globalThis.fetch;
    this.options = {
      baseUrl,
      wsUrl,
      token: options.token,
      user: options.user,
      clientName: options.clientName ?? client_name,
      clientVersion: options.clientVersion ?? client_version,
      transports,
      connectTimeoutMs: options.connectTimeoutMs ?? 5_000,
      requestTimeoutMs: options.requestTimeoutMs ?? 10_000,
      heartbeatMs: options.heartbeatMs ?? 20_000,
      stableAfterMs: options.stableAfterMs ?? 0,
      backoff: { ...default_backoff, ...options.backoff },
      storageKey: options.storageKey ?? 'parley.transport',
      WebSocket: options.WebSocket !== undefined ? options.WebSocket : globalThis.WebSocket,
      // The browser's fetch must be called on the window: bind it.
      fetch: typeof f === 'function' ? (options.fetch ? f : f.bind(globalThis)) : undefined,
      EventSource: options.EventSource !== undefined ? options.EventSource : globalThis.EventSource,
      random: options.random ?? Math.random,
      createTransport: options.createTransport ?? createTransport,
      transportOptions: options.transportOptions ?? {},
    };
    this.storage = options.storage ?? defaultStorage();

    /** @type {'connecting'|'open'|'reconnecting'|'closed'} */
    this.state = 'closed';
    /** The transport in use: 'websocket' | 'sse' | 'longpoll', or null. */
    this.transport = null;
    /** The last welcome (ack.welcome), or null before the first. */
    this.welcome = null;

    this._t = null; // the open transport
    this._opening = null; // the transport being opened
    this._attempting = false;
    this._wanted = false; // connect() called, close() not
    this._ready = false; // welcomed and the remembered rooms' rejoins answered
    this._readyWaiters = new Set();
    /** @type {{ promise: Promise<any>, resolve: (w: any) => void, reject: (e: any) => void } | null} */
    this._connectWaiter = null;
    this._pending = new Map(); // ref -> { resolve, reject, timer, transport }
    this._refs = 0;
    /** @type {Map<string, RoomState>} */
    this._rooms = new Map();
    this._backoff = new Backoff(this.options.backoff, this.options.random);
    this._reconnectTimer = null;
    this._heartbeatTimer = null;
    this._stableTimer = null;
    this._onOnline = () => this._retryNow();
  }

  // -- connection ---------------------------------------------------------------------

  /**
   * Connects (if not connected or connecting) and resolves with the welcome
   * once a transport is open and the hello answered. It keeps retrying with
   * backoff meanwhile; it rejects only on close() (code CLOSED) or when the
   * server refuses the hello for good (UNAUTHENTICATED, INVALID_ARGUMENT,
   * TOO_LARGE: a bad token or name).
   * @returns {Promise<any>}
   */
  connect() {
    if (this.state === 'open' && this.welcome)
      return Promise.resolve(this.welcome);
    if (!this._connectWaiter) {
      let resolve;
      let reject;
      const promise = new Promise((res, rej) => { resolve = res; reject = rej; });
      this._connectWaiter = { promise, resolve, reject };
    }
    const promise = this._connectWaiter.promise;
    if (!this._wanted) {
      this._wanted = true;
      this._backoff.reset();
      globalThis.window?.addEventListener?.('online', this._onOnline);
      this._attempt();
    }
    return promise;
  }

  /**
   * Reconnects now: drops the open transport, or cuts a backoff wait short.
   */
  reconnect() {
    if (!this._wanted)
      return this.connect();
    if (this._t)
      this._drop(this._t, { code: 4000, reason: 'reconnect asked' });
    this._retryNow();
    return this.connect();
  }

  /**
   * Closes cleanly: no reconnect, pending requests rejected with CLOSED,
   * rooms forgotten (the server drops the memberships with the connection).
   * Resolves once the transport is closed (an HTTP session deleted).
   */
  async close() {
    await this._shutdown(new ParleyError('CLOSED', 'the client was closed'), false);
  }

  /** Stops everything; `error` goes to whoever waits. */
  async _shutdown(error, fatal) {
    this._wanted = false;
    globalThis.window?.removeEventListener?.('online', this._onOnline);
    clearTimeout(this._reconnectTimer);
    this._reconnectTimer = null;
    this._stopTimers();
    const t = this._t;
    const opening = this._opening;
    this._t = null;
    this._opening = null;
    this._ready = false;
    this.transport = null;
    this._failPending(null, error.code === 'CLOSED' ? error : new ParleyError('CLOSED', error.message));
    for (const r of this._rooms.values())
      clearTimeout(r.rejoinTimer);
    this._rooms.clear();
    for (const w of [...this._readyWaiters])
      w.reject(error);
    this._readyWaiters.clear();
    const waiter = this._connectWaiter;
    this._connectWaiter = null;
    waiter?.reject(error);
    const wasClosed = this.state === 'closed' && !t && !opening;
    this.state = 'closed';
    if (!wasClosed)
      this.emit('state', { state: 'closed', transport: null, attempt: 0, ...(fatal ? { error } : {}) });
    await Promise.all([t?.close(), opening?.close()]);
  }

  _stopTimers() {
    clearInterval(this._heartbeatTimer);
    clearTimeout(this._stableTimer);
    this._heartbeatTimer = null;
    this._stableTimer = null;
  }

  _setState(state, extra = {}) {
    this.state = state;
    this.emit('state', { state, transport: this.transport, attempt: this._backoff.attempt, ...extra });
  }

  /** The transports to try, the one remembered first. */
  _order() {
    const list = this.options.transports;
    let remembered = null;
    try {
      remembered = this.storage.getItem(this.options.storageKey);
    } catch {
      // no storage
    }
    return remembered && list.includes(remembered)
      ? [remembered, ...list.filter((n) => n !== remembered)]
      : [...list];
  }

  _remember(name) {
    try {
      this.storage.setItem(this.options.storageKey, name);
    } catch {
      // full or disabled: next time starts from the configured order
    }
  }

  /** One round: each transport in order until one is open and welcomed. */
  async _attempt() {
    if (this._attempting || !this._wanted || this._t)
      return;
    this._attempting = true;
    clearTimeout(this._reconnectTimer);
    this._reconnectTimer = null;
    let lastError = null;
    try {
      let token;
      try {
        token = typeof this.options.token === 'function' ? await this.options.token() : this.options.token;
      } catch (e) {
        lastError = new ParleyError('TOKEN', `the token function failed: ${e?.message ?? e}`);
      }
      if (!lastError) {
        for (const name of this._order()) {
          if (!this._wanted)
            return;
          this._setState('connecting', { transport: name });
          let t;
          try {
            t = this.options.createTransport(name, this._transportContext(token));
          } catch (e) {
            lastError = e;
            continue;
          }
          this._opening = t;
          try {
            const welcome = await this._openOne(t, token);
            if (this._opening !== t || !this._wanted)
              return; // closed meanwhile
            this._opening = null;
            this._opened(t, name, welcome);
            return;
          } catch (e) {
            if (this._opening === t)
              this._opening = null;
            t.close();
            if (!this._wanted)
              return;
            if (fatal_hello_codes.has(e?.code)) {
              this.emit('error', e);
              this._shutdown(e, true);
              return;
            }
            lastError = e;
          }
        }
      }
    } finally {
      this._attempting = false;
    }
    this._scheduleReconnect(lastError);
  }

  _transportContext(token) {
    const o = this.options;
    return {
      baseUrl: o.baseUrl,
      wsUrl: o.wsUrl,
      token: token || undefined,
      WebSocket: o.WebSocket,
      fetch: o.fetch,
      EventSource: o.EventSource,
      random: o.random,
      maxBatchBytes: this.welcome?.limits?.maxFrameBytes,
      ...o.transportOptions,
    };
  }

  /** Opens `t` and says hello, within connectTimeoutMs; resolves with the welcome. */
  _openOne(t, token) {
    const ms = this.options.connectTimeoutMs;
    return new Promise((resolve, reject) => {
      let settled = false;
      const finish = (err, value) => {
        if (settled)
          return;
        settled = true;
        clearTimeout(timer);
        if (err)
          reject(err);
        else
          resolve(value);
      };
      const timer = setTimeout(() => finish(new ParleyError('TIMEOUT', `${t.name ?? 'the transport'} did not open and welcome within ${ms} ms`)), ms);
      t.onframe = (frame) => this._onFrame(t, frame);
      t.onclose = (info) => {
        this._failPending(t, new ParleyError('LOST', `the connection closed (${info?.code ?? ''}${info?.reason ? ` ${info.reason}` : ''})`));
        if (this._t === t)
          this._lost(t, info);
        else
          finish(new ParleyError('LOST', `the connection closed before the welcome (${info?.code ?? ''}${info?.reason ? ` ${info.reason}` : ''})`));
      };
      const hello = { clientName: this.options.clientName, clientVersion: this.options.clientVersion };
      if (this.options.user)
        hello.user = this.options.user;
      if (token)
        hello.token = token;
      Promise.resolve()
        .then(() => t.open())
        .then(() => this._send(t, { hello }, ms))
        .then((ack) => finish(null, ack.welcome ?? {}), (e) => finish(e));
    });
  }

  /** `t` is open and welcomed: it becomes the connection. */
  _opened(t, name, welcome) {
    this._t = t;
    this.transport = name;
    this.welcome = welcome;
    if (welcome?.limits?.maxFrameBytes > 0 && 'maxBatchBytes' in t)
      t.maxBatchBytes = welcome.limits.maxFrameBytes;
    this._remember(name);
    this._stopTimers();
    if (this.options.stableAfterMs > 0)
      this._stableTimer = setTimeout(() => this._backoff.reset(), this.options.stableAfterMs);
    else
      this._backoff.reset();
    if (this.options.heartbeatMs > 0)
      this._heartbeatTimer = setInterval(() => this._heartbeat(t), this.options.heartbeatMs);
    this._setState('open', { transport: name });
    this.emit('welcome', welcome);
    const waiter = this._connectWaiter;
    this._connectWaiter = null;
    waiter?.resolve(welcome);
    const rejoins = [...this._rooms.values()].filter((r) => r.remembered).map((r) => this._rejoin(r).catch(() => {}));
    Promise.allSettled(rejoins).then(() => {
      if (this._t === t)
        this._setReady();
    });
  }

  _setReady() {
    this._ready = true;
    for (const w of [...this._readyWaiters])
      w.resolve();
    this._readyWaiters.clear();
  }

  /** Resolves once connected and the rooms are back; rejects with TIMEOUT or CLOSED. */
  _whenReady(timeoutMs) {
    if (this._ready && this._t)
      return Promise.resolve();
    if (!this._wanted)
      return Promise.reject(new ParleyError('CLOSED', 'not connected: call connect() first'));
    return new Promise((resolve, reject) => {
      const w = {
        resolve: () => { clearTimeout(w.timer); this._readyWaiters.delete(w); resolve(); },
        reject: (e) => { clearTimeout(w.timer); this._readyWaiters.delete(w); reject(e); },
        timer: setTimeout(() => w.reject(new ParleyError('TIMEOUT', `not connected within ${timeoutMs} ms`)), timeoutMs),
      };
      this._readyWaiters.add(w);
    });
  }

  /** The open transport `t` ended: reconnect after a backoff. */
  _lost(t, info) {
    if (this._t !== t)
      return;
    this._t = null;
    this.transport = null;
    this._ready = false;
    this._stopTimers();
    for (const r of [...this._rooms.values()]) {
      clearTimeout(r.rejoinTimer);
      if (!r.remembered)
        this._rooms.delete(r.room); // its join() fails with LOST
      r.status = 'joining';
    }
    const error = new ParleyError('LOST', `the connection closed (${info?.code ?? ''}${info?.reason ? ` ${info.reason}` : ''})`);
    this.emit('disconnect', { code: info?.code, reason: info?.reason ?? '' });
    this._scheduleReconnect(error);
  }

  /** Ends `t` from this side (no pong, reconnect asked) and reconnects. */
  _drop(t, info) {
    t.close();
    this._failPending(t, new ParleyError('LOST', info.reason));
    this._lost(t, info);
  }

  _scheduleReconnect(error) {
    if (!this._wanted || this._t || this._reconnectTimer)
      return;
    const delayMs = this._backoff.next();
    this._setState('reconnecting', { delayMs, ...(error ? { error } : {}) });
    this._reconnectTimer = setTimeout(() => {
      this._reconnectTimer = null;
      this._attempt();
    }, delayMs);
  }

  /** Tries now instead of waiting out the backoff (the browser came back online). */
  _retryNow() {
    if (!this._wanted || this._t || this._attempting)
      return;
    clearTimeout(this._reconnectTimer);
    this._reconnectTimer = null;
    this._attempt();
  }

  async _heartbeat(t) {
    if (this._t !== t || !this._ready)
      return;
    try {
      await this._send(t, { ping: { clientTimeMs: String(Date.now()) } }, this.options.requestTimeoutMs);
    } catch (e) {
      if (this._t === t && e.code === 'TIMEOUT')
        this._drop(t, { code: 4000, reason: 'the server stopped answering' });
    }
  }

  // -- requests -----------------------------------------------------------------------

  /** Sends `body` with a fresh ref on `t`; resolves with the ack. */
  _send(t, body, timeoutMs) {
    const ref = String(++this._refs);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this._pending.delete(ref);
        reject(new ParleyError('TIMEOUT', `no answer within ${timeoutMs} ms`));
      }, timeoutMs);
      this._pending.set(ref, { resolve, reject, timer, transport: t });
      t.send({ ref, ...body });
    });
  }

  /** Rejects the requests sent on `t` (all of them for null). */
  _failPending(t, error) {
    for (const [ref, p] of [...this._pending]) {
      if (t && p.transport !== t)
        continue;
      this._pending.delete(ref);
      clearTimeout(p.timer);
      p.reject(error);
    }
  }

  /**
   * Sends any ClientFrame body (without `ref`), e.g. `{ rooms: {} }`, once
   * connected (waiting for the connection within the timeout), and resolves
   * with the ack (`{ rooms: {...} }`). Rejects with a ParleyError: the
   * server's ERROR_CODE_*, TIMEOUT, LOST (the connection dropped) or CLOSED.
   * @param {object} body
   * @param {{ timeoutMs?: number }} [options]
   */
  async request(body, { timeoutMs = this.options.requestTimeoutMs } = {}) {
    const started = Date.now();
    for (;;) {
      const left = Math.max(1, timeoutMs - (Date.now() - started));
      await this._whenReady(left);
      if (this._t && this._ready)
        return this._send(this._t, body, Math.max(1, timeoutMs - (Date.now() - started)));
    }
  }

  /**
   * Joins `room`; resolves with the server's `joined` (its messages are
   * delivered as 'message' events too). Joined rooms are joined again after
   * every reconnect, from the last seq delivered. A room already joined
   * resolves with its last join's answer.
   * @param {string} room
   * @param {{ sinceSeq?: string|number|bigint, timeoutMs?: number }} [options]
   *   sinceSeq: resume from a seq remembered elsewhere (e.g. a reloaded page's transcript)
   */
  async join(room, { sinceSeq, timeoutMs = this.options.requestTimeoutMs } = {}) {
    const known = this._rooms.get(room);
    if (known) {
      if (known.joinPromise)
        return known.joinPromise;
      if (known.status === 'joined')
        return known.joined;
      await this._whenReady(timeoutMs);
      return this._rejoin(known);
    }
    await this._whenReady(timeoutMs);
    if (this._rooms.has(room))
      return this.join(room, { timeoutMs });
    const since = sinceSeq === undefined || sinceSeq === null || sinceSeq === '' ? null : BigInt(sinceSeq);
    /** @type {RoomState} */
    const r = {
      room, lastSeq: since, status: 'joining', remembered: false, members: new Set(), buffer: [],
      joined: null, joinPromise: null, joinTransport: null, attempt: 0, rejoinTimer: null,
    };
    this._rooms.set(room, r);
    const t = this._t;
    const p = this._joinOn(t, r, since);
    r.joinPromise = p;
    r.joinTransport = t;
    try {
      return await p;
    } catch (e) {
      if (this._rooms.get(room) === r && !r.remembered)
        this._rooms.delete(room);
      throw e;
    } finally {
      if (r.joinPromise === p)
        r.joinPromise = null;
    }
  }

  /** Joins a remembered room again on the open transport, from its last seq. */
  _rejoin(r) {
    const t = this._t;
    if (r.joinPromise && r.joinTransport === t)
      return r.joinPromise;
    clearTimeout(r.rejoinTimer);
    r.rejoinTimer = null;
    if (!t || this._rooms.get(r.room) !== r)
      return Promise.reject(new ParleyError('LOST', 'not connected'));
    const p = this._joinOn(t, r, r.lastSeq);
    r.joinPromise = p;
    r.joinTransport = t;
    p.then(() => { r.attempt = 0; }, (e) => this._rejoinFailed(t, r, e))
      .finally(() => {
        if (r.joinPromise === p)
          r.joinPromise = null;
      });
    return p;
  }

  _rejoinFailed(t, r, e) {
    if (this._rooms.get(r.room) !== r || this._t !== t)
      return; // forgotten, or the connection changed: the reconnect rejoins
    if (e?.code === 'LOST' || e?.code === 'CLOSED')
      return;
    if (final_join_codes.has(e?.code)) {
      this._forget(r);
      this.emit('left', { room: r.room, reason: 'REJOIN_FAILED', detail: e.reason ?? '', error: e, rejoining: false });
      this.emit('error', e);
      return;
    }
    // Restarting, unavailable, rate limited, timed out: again soon.
    const delay = backoffDelay(r.attempt++, this.options.backoff, this.options.random);
    r.rejoinTimer = setTimeout(() => {
      r.rejoinTimer = null;
      if (this._t === t)
        this._rejoin(r).catch(() => {});
    }, delay);
  }

  /** Sends a join for `r` on `t` (resuming after `since`) and applies its answer. */
  async _joinOn(t, r, since) {
    r.status = 'joining';
    r.buffer = [];
    const join = { room: r.room };
    if (since !== null)
      join.sinceSeq = String(since);
    let ack;
    try {
      ack = await this._send(t, { join }, this.options.requestTimeoutMs);
    } catch (e) {
      if (e.code === 'ERROR_CODE_ALREADY_MEMBER')
        return this._catchUp(t, r); // an earlier join got through after all (it timed out here)
      if (e.code === 'ERROR_CODE_INVALID_ARGUMENT' && since !== null) {
        // sinceSeq past the room's seq: the room was reset (a gateway on the
        // memory store restarted). Start over without it.
        r.lastSeq = null;
        this.emit('reset', { room: r.room, sinceSeq: String(since) });
        return this._joinOn(t, r, null);
      }
      throw e;
    }
    const joined = ack.joined ?? {};
    const seq = seqOf(joined.seq) ?? 0n;
    let messages = Array.isArray(joined.messages) ? joined.messages : [];
    let reset = false;
    let gap = null;
    if (since !== null && seq < since) {
      // The room's seq went backwards: it is a new room under the old name,
      // whose seqs repeat the old one's. Start over from what it holds.
      reset = true;
      r.lastSeq = null;
      try {
        const h = await this._send(t, { history: { room: r.room } }, this.options.requestTimeoutMs);
        messages = mergeBySeq(h.history?.messages ?? [], messages);
      } catch {
        // live messages still come
      }
    } else {
      if (joined.gap)
        gap = { room: r.room, afterSeq: since === null ? '0' : String(since), beforeSeq: messages[0]?.seq ?? String(seq + 1n) };
      if (joined.more && since !== null && messages.length && isSeq(messages[0].seq)) {
        const older = await this._fillBack(t, r, since, BigInt(messages[0].seq));
        messages = older.messages.concat(messages);
        gap = gap ?? older.gap;
      }
    }
    if (this._rooms.get(r.room) !== r)
      return joined; // left meanwhile
    if (reset)
      this.emit('reset', { room: r.room, sinceSeq: String(since) });
    if (gap)
      this.emit('gap', gap);
    this._joined(r, joined, messages, seq, since);
    return joined;
  }

  /**
   * The history a resume missed beyond one reply: pages (each the newest
   * before `before`) back to `since`; at most max_fill_pages of them.
   */
  async _fillBack(t, r, since, before) {
    const pages = [];
    let gap = null;
    for (let page = 0; ; ++page) {
      if (page === max_fill_pages) {
        gap = { room: r.room, afterSeq: String(since), beforeSeq: String(before) };
        break;
      }
      let h;
      try {
        h = (await this._send(t, { history: { room: r.room, afterSeq: String(since), beforeSeq: String(before) } },
                              this.options.requestTimeoutMs)).history ?? {};
      } catch {
        gap = { room: r.room, afterSeq: String(since), beforeSeq: String(before) };
        break;
      }
      const ms = (h.messages ?? []).filter((m) => isSeq(m.seq));
      if (ms.length === 0)
        break;
      pages.unshift(ms);
      before = BigInt(ms[0].seq);
      if (before <= since + 1n)
        break;
    }
    return { messages: pages.flat(), gap };
  }

  /**
   * Joined without the join's answer (ALREADY_MEMBER): what came after the
   * last seq, and the members, from requests that need no join.
   */
  async _catchUp(t, r) {
    const since = r.lastSeq;
    const history = { room: r.room };
    if (since !== null)
      history.afterSeq = String(since);
    const h = (await this._send(t, { history }, this.options.requestTimeoutMs)).history ?? {};
    const messages = (h.messages ?? []).filter((m) => isSeq(m.seq));
    let members = [...r.members];
    try {
      const p = await this._send(t, { presence: { room: r.room } }, this.options.requestTimeoutMs);
      members = p.presence?.members ?? [];
    } catch {
      // keep what we knew
    }
    const first = messages.length ? BigInt(messages[0].seq) : null;
    const last = messages.length ? BigInt(messages[messages.length - 1].seq) : (since ?? 0n);
    // History answers the newest `limit` messages: when more were missed the
    // first is past since + 1, and the gap flag stays false.
    const gap = h.gap || (since !== null && first !== null && first > since + 1n);
    const joined = { room: r.room, messages, seq: String(last), members, memberCount: members.length };
    if (this._rooms.get(r.room) !== r)
      return joined;
    if (gap)
      this.emit('gap', { room: r.room, afterSeq: since === null ? '0' : String(since), beforeSeq: messages[0]?.seq ?? String(last + 1n) });
    this._joined(r, joined, messages, last, since);
    return joined;
  }

  /** Applies a join's answer: messages in seq order, then the live ones that waited, then presence. */
  _joined(r, joined, messages, seq, since) {
    r.remembered = true;
    r.joined = joined;
    r.members = new Set(joined.members ?? []);
    this.emit('joined', { room: r.room, joined, resumed: since !== null });
    for (const m of [...messages].sort(bySeq))
      this._deliver(r, m);
    if (r.lastSeq === null || seq > r.lastSeq)
      r.lastSeq = seq;
    r.status = 'joined';
    const buffered = r.buffer;
    r.buffer = [];
    for (const m of buffered.sort(bySeq))
      this._deliver(r, m);
    this.emit('presence', { room: r.room, members: sortedMembers(r.members), joined: [], left: [] });
  }

  _forget(r) {
    clearTimeout(r.rejoinTimer);
    if (this._rooms.get(r.room) === r)
      this._rooms.delete(r.room);
  }

  /**
   * Leaves `room` and forgets it (no rejoin). Resolves with the server's
   * `left`; not connected, it only forgets (the server dropped the
   * membership with the connection).
   * @param {string} room
   * @param {{ timeoutMs?: number }} [options]
   */
  async leave(room, options = {}) {
    const r = this._rooms.get(room);
    if (r)
      this._forget(r);
    if (this.state !== 'open')
      return { room, reason: 'LEFT_REASON_REQUESTED' };
    try {
      return (await this.request({ leave: { room } }, options)).left ?? { room, reason: 'LEFT_REASON_REQUESTED' };
    } catch (e) {
      if (e.code === 'ERROR_CODE_NOT_A_MEMBER')
        return { room, reason: 'LEFT_REASON_REQUESTED' };
      throw e;
    }
  }

  /**
   * Publishes to a joined room; resolves with `published` ({ room, seq }).
   * The publish carries an idempotency key (`id`, a fresh UUID unless given)
   * and is sent once more with the same id after UNAVAILABLE,
   * STORE_UNAVAILABLE, TIMEOUT or LOST (then after the reconnect), so the
   * room holds it once either way.
   * @param {string} room
   * @param {string} text
   * @param {{ body?: Uint8Array|ArrayBuffer|string, id?: string, retry?: boolean, timeoutMs?: number }} [options]
   */
  async publish(room, text, { body, id, retry = true, timeoutMs } = {}) {
    const publish = { room, id: id ?? randomId(this.options.random) };
    if (text !== undefined && text !== null && text !== '')
      publish.text = String(text);
    if (body !== undefined && body !== null)
      publish.body = toBase64(body);
    const opts = timeoutMs === undefined ? {} : { timeoutMs };
    try {
      return (await this.request({ publish }, opts)).published ?? {};
    } catch (e) {
      if (!retry || !retryable_codes.has(e?.code) || !this._wanted)
        throw e;
      await sleep(backoffDelay(0, this.options.backoff, this.options.random));
      return (await this.request({ publish }, opts)).published ?? {};
    }
  }

  /**
   * Stored messages of a joined room (`afterSeq < seq < beforeSeq`, the newest
   * `limit`); resolves with `history` ({ room, messages, gap }). Not delivered
   * as 'message' events.
   * @param {string} room
   * @param {{ beforeSeq?: string|number|bigint, afterSeq?: string|number|bigint, limit?: number, timeoutMs?: number }} [options]
   */
  async history(room, { beforeSeq, afterSeq, limit, timeoutMs } = {}) {
    const history = { room };
    if (beforeSeq !== undefined)
      history.beforeSeq = u64(beforeSeq);
    if (afterSeq !== undefined)
      history.afterSeq = u64(afterSeq);
    if (limit)
      history.limit = limit;
    const ack = await this.request({ history }, timeoutMs === undefined ? {} : { timeoutMs });
    return ack.history ?? { room, messages: [] };
  }

  /**
   * Who is in a joined room (the full list); resolves with `presence`.
   * @param {string} room
   */
  async presence(room, options = {}) {
    const ack = await this.request({ presence: { room } }, options);
    const p = ack.presence ?? { room, members: [] };
    const r = this._rooms.get(room);
    if (r && r.status === 'joined')
      r.members = new Set(p.members ?? []);
    return p;
  }

  /** The rooms open on the node; resolves with an array of { name, memberCount, lastSeq }. */
  async rooms(options = {}) {
    const ack = await this.request({ rooms: {} }, options);
    return ack.rooms?.rooms ?? [];
  }

  /** Resolves with `pong` ({ clientTimeMs, serverTimeMs }). */
  async ping(options = {}) {
    const ack = await this.request({ ping: { clientTimeMs: String(Date.now()) } }, options);
    return ack.pong ?? {};
  }

  /** The rooms joined (and rejoined after reconnects). */
  get joinedRooms() {
    return [...this._rooms.values()].filter((r) => r.remembered).map((r) => r.room);
  }

  /**
   * The last seq delivered in `room` (a decimal string), or null.
   * @param {string} room
   */
  lastSeq(room) {
    const s = this._rooms.get(room)?.lastSeq;
    return s === null || s === undefined ? null : String(s);
  }

  /**
   * Who is in `room` as far as the client knows (sorted), or null if not joined.
   * @param {string} room
   */
  members(room) {
    const r = this._rooms.get(room);
    return r ? sortedMembers(r.members) : null;
  }

  // -- frames from the server -----------------------------------------------------------

  _onFrame(t, frame) {
    if (t !== this._t && t !== this._opening)
      return; // a transport we left
    if (frame.ref) {
      const p = this._pending.get(frame.ref);
      if (!p || p.transport !== t)
        return; // answered after its timeout
      this._pending.delete(frame.ref);
      clearTimeout(p.timer);
      if (frame.error)
        p.reject(new ParleyError(frame.error.code ?? 'ERROR_CODE_UNSPECIFIED', frame.error.reason ?? ''));
      else
        p.resolve(frame.ack ?? {});
      return;
    }
    if (frame.message)
      this._onMessage(frame.message);
    else if (frame.presence)
      this._onPresence(frame.presence);
    else if (frame.left)
      this._onLeft(t, frame.left);
    else if (frame.error)
      this.emit('error', new ParleyError(frame.error.code ?? 'ERROR_CODE_UNSPECIFIED', frame.error.reason ?? ''));
  }

  _onMessage(m) {
    const r = this._rooms.get(m.room);
    if (!r)
      return; // a late frame from a room we left
    if (r.status !== 'joined') {
      if (r.buffer.length < max_buffered)
        r.buffer.push(m);
      return;
    }
    this._deliver(r, m);
  }

  /** Emits `m` unless its seq is not past the room's last one. */
  _deliver(r, m) {
    const seq = seqOf(m?.seq);
    if (seq === null)
      return;
    if (r.lastSeq !== null && seq <= r.lastSeq)
      return; // seen already
    r.lastSeq = seq;
    this.emit('message', m);
  }

  _onPresence(p) {
    const r = this._rooms.get(p.room);
    if (!r || r.status !== 'joined')
      return; // the join's answer brings the full list
    if (Array.isArray(p.members) && p.members.length)
      r.members = new Set(p.members);
    for (const u of p.joined ?? [])
      r.members.add(u);
    for (const u of p.left ?? [])
      r.members.delete(u);
    this.emit('presence', { room: p.room, members: sortedMembers(r.members), joined: p.joined ?? [], left: p.left ?? [] });
  }

  _onLeft(t, l) {
    const r = this._rooms.get(l.room);
    if (!r)
      return;
    if (rejoin_reasons.has(l.reason)) {
      // Its seq and backlog survive a restart or a move: join again from the
      // last seq, after a short random pause so a room's members do not all
      // come back in the same millisecond.
      r.status = 'joining';
      this.emit('left', { room: l.room, reason: l.reason, detail: l.detail ?? '', rejoining: true });
      clearTimeout(r.rejoinTimer);
      r.rejoinTimer = setTimeout(() => {
        r.rejoinTimer = null;
        if (this._t === t && this._rooms.get(r.room) === r)
          this._rejoin(r).catch(() => {});
      }, 100 + this.options.random() * 400);
      return;
    }
    this._forget(r);
    this.emit('left', { room: l.room, reason: l.reason ?? 'LEFT_REASON_UNSPECIFIED', detail: l.detail ?? '', rejoining: false });
  }
}

const bySeq = (a, b) => {
  const x = seqOf(a.seq) ?? 0n;
  const y = seqOf(b.seq) ?? 0n;
  return x < y ? -1 : x > y ? 1 : 0;
};

/** Messages of two lists, one per seq, in seq order. */
function mergeBySeq(a, b) {
  const bySeqKey = new Map();
  for (const m of [...a, ...b])
    if (isSeq(m?.seq))
      bySeqKey.set(m.seq, m);
  return [...bySeqKey.values()].sort(bySeq);
}

const sortedMembers = (set) => [...set].sort();

const sleep = (ms) => new Promise((resolve) => { setTimeout(resolve, ms); });
