// The three ways frames travel between a client and the gateway
// (docs/protocol.md): a WebSocket, or an HTTP session read by long-polling or
// as Server-Sent Events. They share one small interface:
//
//   const t = createTransport('sse', ctx);
//   t.onframe = (serverFrame) => ...;   // each frame once, in order
//   t.onclose = ({ code, reason }) => ...; // the transport ended by itself
//   await t.open();                      // rejects if it cannot open
//   t.send(clientFrame);                 // never throws; a failure ends it
//   await t.close();                     // ends it; onclose is not called
//
// Frames are objects in protobuf's JSON mapping; the transports turn them to
// and from JSON text.

import { backoffDelay } from './backoff.js';
import { ParleyError } from './errors.js';
import { SseParser } from './sse.js';

/** The transports, in the default fallback order. */
export const transport_names = Object.freeze(['websocket', 'sse', 'longpoll']);

/**
 * @typedef {object} TransportContext
 * @property {string} baseUrl the gateway's http(s) base URL, without a trailing slash
 * @property {string} wsUrl the WebSocket URL (`ws(s)://.../ws`)
 * @property {string} [token] sent as `?token=` on /ws, as `Authorization: Bearer` on sessions
 * @property {any} [WebSocket] a WebSocket class (the browser's, or the `ws` package's)
 * @property {typeof fetch} [fetch]
 * @property {any} [EventSource] used by 'sse' when present (it carries the session's key cookie)
 * @property {() => number} [random]
 * @property {import('./backoff.js').BackoffOptions} [retryBackoff] between retries of a poll or event stream
 * @property {number} [maxRetries] failed polls / streams in a row before the transport gives up
 * @property {number} [maxBatchBytes] the most bytes one POST .../send carries (welcome.limits.maxFrameBytes)
 * @property {number} [streamIdleMs] an event stream silent this long (no frame, no keep-alive) is reopened
 * @property {number} [ackAfterMs] SSE: a client that only listens acknowledges after this long (an empty send with ?ack=)
 */

const default_retry_backoff = Object.freeze({ initialMs: 250, maxMs: 5_000, factor: 2, jitter: 0.5 });

/**
 * @param {string} name 'websocket' | 'sse' | 'longpoll'
 * @param {TransportContext} ctx
 */
export function createTransport(name, ctx) {
  switch (name) {
    case 'websocket':
      return new WebSocketTransport(ctx);
    case 'sse':
      return new SseTransport(ctx);
    case 'longpoll':
      return new LongPollTransport(ctx);
    default:
      throw new ParleyError('UNSUPPORTED', `unknown transport '${name}'`);
  }
}

/** Parses one frame of JSON text; null if it is not a JSON object. */
function parseFrame(text) {
  try {
    const frame = JSON.parse(text);
    return frame !== null && typeof frame === 'object' && !Array.isArray(frame) ? frame : null;
  } catch {
    return null;
  }
}

/** What every transport shares: the callbacks and closing once. */
export class Transport {
  /** @param {TransportContext} ctx */
  constructor(ctx) {
    this.ctx = ctx;
    /** @type {(frame: any) => void} */
    this.onframe = () => {};
    /** @type {(info: {code: number, reason: string, status?: number}) => void} */
    this.onclose = () => {};
    this.closed = false;
  }

  /** The transport ended by itself: tells onclose, once. */
  _ended(info) {
    if (this.closed)
      return;
    this.closed = true;
    this._teardown();
    this.onclose(info);
  }

  /** Subclasses release what they hold. */
  _teardown() {}

  /** @param {any} frame */
  _deliver(frame) {
    if (!this.closed && frame)
      this.onframe(frame);
  }
}

// -- WebSocket ----------------------------------------------------------------------

export class WebSocketTransport extends Transport {
  name = 'websocket';

  open() {
    const WS = this.ctx.WebSocket;
    if (typeof WS !== 'function')
      return Promise.reject(new ParleyError('UNSUPPORTED', 'no WebSocket implementation (pass options.WebSocket)'));
    let url = this.ctx.wsUrl;
    if (this.ctx.token)
      url += `${url.includes('?') ? '&' : '?'}token=${encodeURIComponent(this.ctx.token)}`;
    return new Promise((resolve, reject) => {
      let ws;
      try {
        ws = new WS(url);
      } catch (e) {
        reject(new ParleyError('CONNECT_FAILED', `cannot open a WebSocket: ${e?.message ?? e}`));
        return;
      }
      this.ws = ws;
      let opened = false;
      ws.onopen = () => {
        opened = true;
        if (this.closed)
          return;
        resolve();
      };
      ws.onmessage = (ev) => this._message(ev.data);
      ws.onerror = () => {}; // a close event follows with what there is to say
      ws.onclose = (ev) => {
        const info = { code: ev?.code ?? 1006, reason: ev?.reason ?? '' };
        if (!opened) {
          this.closed = true;
          this._teardown();
          reject(new ParleyError('CONNECT_FAILED', `the WebSocket closed before it opened (${info.code}${info.reason ? ` ${info.reason}` : ''})`));
          return;
        }
        this._ended(info);
      };
    });
  }

  _message(data) {
    if (typeof data === 'string')
      return this._deliver(parseFrame(data));
    // This client speaks JSON only and the server answers in kind; a text
    // frame handed over as bytes (some Node libraries) is still read.
    if (data instanceof ArrayBuffer || ArrayBuffer.isView(data))
      this._deliver(parseFrame(new TextDecoder().decode(data)));
  }

  send(frame) {
    if (this.closed || !this.ws)
      return;
    try {
      this.ws.send(JSON.stringify(frame));
    } catch (e) {
      this._ended({ code: 1006, reason: `send failed: ${e?.message ?? e}` });
    }
  }

  _teardown() {
    const ws = this.ws;
    if (!ws)
      return;
    ws.onopen = ws.onmessage = ws.onclose = null;
    ws.onerror = () => {};
    try {
      ws.close(1000);
    } catch {
      // already closing
    }
  }

  async close() {
    this.closed = true;
    this._teardown();
  }
}

// -- HTTP sessions (long-polling and Server-Sent Events) -------------------------------

/** What a failed HTTP exchange means for the transport. */
function httpCloseInfo(status, error) {
  const code = status === 403 ? 1008 : status === 413 ? 1009 : status === 503 ? 1013 : 1006;
  return { code, reason: `HTTP ${status}${error ? ` ${error}` : ''}`, status };
}

/** The `error` of an HTTP error answer ({"error":"unknown_session"}), or ''. */
async function errorOf(res) {
  try {
    const body = await res.json();
    return typeof body?.error === 'string' ? body.error : '';
  } catch {
    return '';
  }
}

/** Drops an answer's body we do not read (frees the connection). */
function discard(res) {
  try {
    res.body?.cancel?.().catch?.(() => {});
  } catch {
    // nothing to free
  }
}

const encoder = new TextEncoder();

/**
 * A session of the HTTP transports: opened by POST /v1/sessions, written by
 * POST .../send (frames batched, one POST in flight), closed by DELETE.
 * Subclasses read it.
 */
export class SessionTransport extends Transport {
  /** @param {TransportContext} ctx */
  constructor(ctx) {
    super(ctx);
    this.fetch = ctx.fetch;
    this.random = ctx.random ?? Math.random;
    this.retryBackoff = { ...default_retry_backoff, ...ctx.retryBackoff };
    this.maxRetries = ctx.maxRetries ?? 5;
    this.maxBatchBytes = ctx.maxBatchBytes ?? 65_536;
    this.session = null;
    this.key = null;
    this.pollTimeoutMs = 25_000;
    this.idleTimeoutMs = 60_000;
    /** @type {{frame: any, json: string, bytes: number}[]} */
    this._queue = [];
    this._sending = false;
    /** Aborted by close(): every fetch of the session listens to it. */
    this._abort = new AbortController();
    /** The server dropped the session (said close, or 404): nothing to delete. */
    this._gone = false;
  }

  async _openSession() {
    if (typeof this.fetch !== 'function')
      throw new ParleyError('UNSUPPORTED', 'no fetch implementation (pass options.fetch)');
    /** @type {Record<string, string>} */
    const headers = {};
    if (this.ctx.token)
      headers.Authorization = `Bearer ${this.ctx.token}`;
    let res;
    try {
      res = await this.fetch(`${this.ctx.baseUrl}/v1/sessions`, {
        method: 'POST', headers, signal: this._abort.signal, credentials: 'same-origin', cache: 'no-store',
      });
    } catch (e) {
      throw new ParleyError('CONNECT_FAILED', `cannot open a session: ${e?.message ?? e}`);
    }
    if (!res.ok) {
      const error = await errorOf(res);
      throw new ParleyError('HTTP', `opening a session: HTTP ${res.status}${error ? ` ${error}` : ''}`, { status: res.status });
    }
    let body;
    try {
      body = await res.json();
    } catch {
      body = null;
    }
    if (!body || typeof body.session !== 'string' || typeof body.key !== 'string')
      throw new ParleyError('HTTP', 'opening a session: the answer holds no session and key');
    if (this.closed)
      throw new ParleyError('CLOSED', 'closed while opening');
    this.session = body.session;
    this.key = body.key;
    if (Number.isFinite(body.pollTimeoutMs) && body.pollTimeoutMs > 0)
      this.pollTimeoutMs = body.pollTimeoutMs;
    if (Number.isFinite(body.idleTimeoutMs) && body.idleTimeoutMs > 0)
      this.idleTimeoutMs = body.idleTimeoutMs;
    this.path = `${this.ctx.baseUrl}/v1/sessions/${encodeURIComponent(this.session)}`;
  }

  /**
   * Ended by itself: unless the server already dropped the session (it said
   * close, or answered 404), delete it rather than leave it to time out.
   */
  _ended(info) {
    if (this.closed)
      return;
    super._ended(info);
    if (this.path && !this._gone && info?.status !== 404) {
      Promise.resolve()
        .then(() => this.fetch(this.path, {
          method: 'DELETE', headers: { 'X-Parley-Key': this.key }, credentials: 'same-origin', cache: 'no-store',
        }))
        .then(discard, () => {});
    }
  }

  /** Extra query of a send (SSE acknowledges there). */
  _sendQuery() {
    return '';
  }

  send(frame) {
    if (this.closed)
      return;
    const json = JSON.stringify(frame);
    this._queue.push({ frame, json, bytes: encoder.encode(json).length });
    this._flush();
  }

  /** Takes the frames that fit in one body: at least one, at most maxBatchBytes. */
  _batch() {
    let bytes = 2; // [ ]
    let n = 0;
    while (n < this._queue.length) {
      const add = this._queue[n].bytes + (n > 0 ? 1 : 0);
      if (n > 0 && bytes + add > this.maxBatchBytes)
        break;
      bytes += add;
      ++n;
    }
    return this._queue.splice(0, n);
  }

  async _flush() {
    if (this._sending || this.closed || this._queue.length === 0 || !this.path)
      return;
    this._sending = true;
    const batch = this._batch();
    let res;
    try {
      res = await this.fetch(`${this.path}/send${this._sendQuery()}`, {
        method: 'POST',
        headers: { 'Content-Type': 'application/json', 'X-Parley-Key': this.key },
        body: `[${batch.map((b) => b.json).join(',')}]`,
        signal: this._abort.signal,
        credentials: 'same-origin',
        cache: 'no-store',
      });
    } catch (e) {
      this._sending = false;
      // Whether the server got the frames is unknown, and sending them again
      // could repeat them: the transport ends, the client reconnects and
      // retries what is safe to retry (a publish, with its id).
      this._ended({ code: 1006, reason: `send failed: ${e?.message ?? e}` });
      return;
    }
    this._sending = false;
    if (!res.ok) {
      this._ended(httpCloseInfo(res.status, await errorOf(res)));
      return;
    }
    discard(res);
    this._flush();
  }

  /** Waits `ms`, or less if the transport closes. */
  _sleep(ms) {
    return new Promise((resolve) => {
      const signal = this._abort.signal;
      const done = () => {
        clearTimeout(timer);
        signal.removeEventListener('abort', done);
        resolve();
      };
      const timer = setTimeout(done, ms);
      signal.addEventListener('abort', done, { once: true });
    });
  }

  _retryDelay(failures) {
    return backoffDelay(failures - 1, this.retryBackoff, this.random);
  }

  _teardown() {
    this._abort.abort();
    this._queue = [];
  }

  async close() {
    if (this.closed)
      return;
    this.closed = true;
    this._teardown();
    if (!this.path)
      return;
    try {
      const res = await this.fetch(this.path, {
        method: 'DELETE', headers: { 'X-Parley-Key': this.key }, credentials: 'same-origin', cache: 'no-store',
      });
      discard(res);
    } catch {
      // the session times out by itself
    }
  }
}

// -- long-polling -------------------------------------------------------------------

export class LongPollTransport extends SessionTransport {
  name = 'longpoll';

  constructor(ctx) {
    super(ctx);
    /** The number of the last frame handed on (and acknowledged by the next poll). */
    this.ack = 0;
  }

  async open() {
    await this._openSession();
    this._pollLoop();
  }

  async _pollLoop() {
    let failures = 0;
    while (!this.closed) {
      let res = null;
      let body = null;
      let problem = '';
      // A poll waits at most pollTimeoutMs on the server: one that takes much
      // longer went to a connection that died without saying so.
      const guard = new AbortController();
      const onAbort = () => guard.abort();
      this._abort.signal.addEventListener('abort', onAbort, { once: true });
      const timer = setTimeout(() => guard.abort(), this.pollTimeoutMs + 10_000);
      try {
        res = await this.fetch(`${this.path}/poll?ack=${this.ack}`, {
          headers: { 'X-Parley-Key': this.key }, signal: guard.signal, credentials: 'same-origin', cache: 'no-store',
        });
        if (res.status === 200)
          body = await res.json();
      } catch (e) {
        problem = e?.message ?? String(e);
        res = null;
      } finally {
        clearTimeout(timer);
        this._abort.signal.removeEventListener('abort', onAbort);
      }
      if (this.closed)
        return;
      if (res && res.status !== 200 && res.status < 500) {
        // 404: the session is gone (it said why in an earlier answer, or
        // never existed); 403: wrong key or origin; others: our fault.
        this._ended(httpCloseInfo(res.status, await errorOf(res)));
        return;
      }
      if (!res || res.status !== 200 || !body || typeof body !== 'object') {
        // Lost in flight, or the gateway is busy: poll again with the same
        // ack, so the frames come again; nothing is lost.
        if (res && res.status !== 200)
          problem = `HTTP ${res.status}`;
        if (++failures > this.maxRetries) {
          this._ended({ code: 1006, reason: `polling failed ${failures} times: ${problem || 'a bad answer'}` });
          return;
        }
        await this._sleep(this._retryDelay(failures));
        continue;
      }
      failures = 0;
      this._take(body);
      if (body.close) {
        this._gone = true;
        this._ended({ code: Number(body.close.code) || 1006, reason: String(body.close.reason ?? '') });
        return;
      }
    }
  }

  /** Hands on the frames of one poll answer that were not handed on yet, then acknowledges them. */
  _take(body) {
    const frames = Array.isArray(body.frames) ? body.frames : [];
    const last = Number(body.last);
    if (!Number.isSafeInteger(last) || last < 0) {
      // Unnumbered: hand them on, ack stays.
      for (const f of frames)
        this._deliver(f);
      return;
    }
    const first = last - frames.length + 1;
    for (let i = 0; i < frames.length && !this.closed; ++i) {
      const n = first + i;
      if (n <= this.ack)
        continue; // handed on already
      this._deliver(frames[i]);
      this.ack = n;
    }
    if (!this.closed && last > this.ack)
      this.ack = last;
  }
}

// -- Server-Sent Events -------------------------------------------------------------

export class SseTransport extends SessionTransport {
  name = 'sse';

  constructor(ctx) {
    super(ctx);
    /** The id of the last event handed on: Last-Event-ID on a reconnect, ack= on a send. */
    this.lastId = 0;
    /** The last id the server was told of; the server keeps what is after it for a resume. */
    this._acked = 0;
    /** A client that receives and sends nothing acknowledges after this long. */
    this.ackAfterMs = ctx.ackAfterMs ?? 5_000;
    this._ackTimer = null;
    this.retryMs = 1_000;
    this.streamIdleMs = ctx.streamIdleMs ?? 45_000;
  }

  async open() {
    await this._openSession();
    if (typeof this.ctx.EventSource === 'function')
      this._eventSource();
    else
      this._streamLoop();
  }

  _sendQuery() {
    if (this.lastId <= 0)
      return '';
    this._acked = this.lastId;
    return `?ack=${this.lastId}`;
  }

  /** Acknowledges soon if no send does it first: an empty send with ?ack=. */
  _scheduleAck() {
    if (this._ackTimer || this.closed)
      return;
    this._ackTimer = setTimeout(() => {
      this._ackTimer = null;
      this._ackOnly();
    }, this.ackAfterMs);
  }

  async _ackOnly() {
    if (this.closed || this._sending || this._queue.length > 0 || this.lastId <= this._acked)
      return;
    const upto = this.lastId;
    try {
      const res = await this.fetch(`${this.path}/send?ack=${upto}`, {
        method: 'POST',
        headers: { 'Content-Type': 'application/json', 'X-Parley-Key': this.key },
        body: '[]',
        signal: this._abort.signal,
        credentials: 'same-origin',
        cache: 'no-store',
      });
      discard(res);
      if (res.ok)
        this._acked = Math.max(this._acked, upto);
    } catch {
      // The next send or acknowledgement tells the server instead.
    }
  }

  /** One event of the stream, from either reader. */
  _event(type, data, lastEventId) {
    if (this.closed)
      return;
    if (type === 'close') {
      let info = {};
      try {
        info = JSON.parse(data) ?? {};
      } catch {
        // no details
      }
      this._gone = true;
      this._ended({ code: Number(info.code) || 1006, reason: String(info.reason ?? '') });
      return;
    }
    if (type !== 'message')
      return;
    const id = Number(lastEventId);
    if (lastEventId !== '' && Number.isSafeInteger(id)) {
      if (id <= this.lastId)
        return; // seen already (a resumed stream repeating itself)
      this._deliver(parseFrame(data));
      this.lastId = id;
      this._scheduleAck();
    } else {
      this._deliver(parseFrame(data));
    }
  }

  /** Reads with the runtime's EventSource, which carries the key cookie and resumes by itself. */
  _eventSource() {
    // The key cookie reaches only the page's own origin (SameSite=Strict);
    // from another origin, EventSource (which cannot set headers) gives the
    // key in the query, which the gateway takes for /events.
    let url = `${this.path}/events`;
    const here = globalThis.location?.origin;
    if (here && here !== new URL(this.ctx.baseUrl).origin)
      url += `?key=${encodeURIComponent(this.key)}`;
    const es = new this.ctx.EventSource(url);
    this.es = es;
    let failures = 0;
    es.onopen = () => { failures = 0; };
    es.onmessage = (ev) => this._event('message', ev.data, ev.lastEventId ?? '');
    es.addEventListener('close', (ev) => this._event('close', ev.data, ''));
    es.onerror = () => {
      if (this.closed)
        return;
      // CLOSED (2): the stream failed for good (403, 404, not an event
      // stream); otherwise EventSource retries with Last-Event-ID itself.
      if (es.readyState === 2 || ++failures > this.maxRetries)
        this._ended({ code: 1006, reason: 'the event stream failed' });
    };
  }

  /** Reads the stream with fetch (Node.js has no EventSource), sending the key as a header. */
  async _streamLoop() {
    let failures = 0;
    while (!this.closed) {
      let problem = '';
      const guard = new AbortController();
      const onAbort = () => guard.abort();
      this._abort.signal.addEventListener('abort', onAbort, { once: true });
      let idle = null;
      const touch = () => {
        clearTimeout(idle);
        idle = setTimeout(() => guard.abort(), this.streamIdleMs);
      };
      try {
        touch();
        const headers = { 'X-Parley-Key': this.key, Accept: 'text/event-stream' };
        if (this.lastId > 0)
          headers['Last-Event-ID'] = String(this.lastId);
        const res = await this.fetch(`${this.path}/events`, {
          headers, signal: guard.signal, credentials: 'same-origin', cache: 'no-store',
        });
        if (res.status !== 200 && res.status < 500) {
          clearTimeout(idle);
          this._ended(httpCloseInfo(res.status, await errorOf(res)));
          return;
        }
        if (res.status !== 200 || !res.body)
          throw new Error(`HTTP ${res.status}`);
        failures = 0;
        const parser = new SseParser(
          (ev) => this._event(ev.type, ev.data, ev.lastEventId),
          (ms) => { this.retryMs = ms; });
        const reader = res.body.getReader();
        for (;;) {
          touch();
          const { done, value } = await reader.read();
          if (done || this.closed)
            break;
          parser.feed(value);
        }
        parser.end();
        problem = 'the event stream ended';
      } catch (e) {
        problem = e?.message ?? String(e);
      } finally {
        clearTimeout(idle);
        this._abort.signal.removeEventListener('abort', onAbort);
      }
      if (this.closed)
        return;
      if (++failures > this.maxRetries) {
        this._ended({ code: 1006, reason: `the event stream failed ${failures} times: ${problem}` });
        return;
      }
      // The server's retry: for the first reconnect, then a backoff.
      await this._sleep(failures === 1 ? this.retryMs : Math.max(this.retryMs, this._retryDelay(failures)));
    }
  }

  _teardown() {
    super._teardown();
    clearTimeout(this._ackTimer);
    this._ackTimer = null;
    if (this.es) {
      this.es.onopen = this.es.onmessage = this.es.onerror = null;
      try {
        this.es.close();
      } catch {
        // closed already
      }
    }
  }
}
