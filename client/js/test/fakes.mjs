// Test doubles: a fake Parley gateway (rooms with seqs, backlog, resume,
// idempotent publish, presence) reachable through a fake WebSocket class and
// a fake fetch implementing the HTTP session endpoints (long-poll and SSE),
// plus helpers. Frames travel asynchronously (setTimeout 0), in order.

const encoder = new TextEncoder();

export const tick = (ms = 0) => new Promise((resolve) => { setTimeout(resolve, ms); });

/** Resolves once `pred()` is true (checked every few ms), or rejects after `ms`. */
export async function until(pred, ms = 2_000, what = 'a condition') {
  const end = Date.now() + ms;
  for (;;) {
    const v = pred();
    if (v)
      return v;
    if (Date.now() > end)
      throw new Error(`timed out waiting for ${what}`);
    await tick(2);
  }
}

/** A seeded PRNG (mulberry32) for jitter. */
export function seeded(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Memory storage with getItem/setItem. */
export function memoryStorage() {
  const m = new Map();
  return { getItem: (k) => (m.has(k) ? m.get(k) : null), setItem: (k, v) => m.set(k, String(v)), map: m };
}

const json = (status, body, headers = {}) =>
  new Response(body === undefined ? null : JSON.stringify(body),
               { status, headers: { 'Content-Type': 'application/json', ...headers } });

export class FakeGateway {
  constructor() {
    this.rooms = new Map();
    this.conns = new Set();
    this.sessions = new Map();
    this.nextConn = 1;
    /** Every frame received: { conn, frame }. */
    this.received = [];
    /** Every HTTP request: { method, path, headers, body }. */
    this.http = [];
    /** URLs WebSockets were opened to. */
    this.wsOpened = [];
    /** (conn, frame) => true to swallow a frame (the test answers or drops it). */
    this.intercept = null;
    /** async ({ url, method, init }, next) => Response: wraps every fetch. */
    this.fetchHook = null;
    this.refuseWebSocket = false;
    /** How long a poll waits with nothing to say. */
    this.pollWaitMs = 300;
    this.sendsInFlight = 0;
    this.maxSendsInFlight = 0;
  }

  room(name) {
    let r = this.rooms.get(name);
    if (!r) {
      r = { name, seq: 0, messages: [], members: new Set(), ids: new Map() };
      this.rooms.set(name, r);
    }
    return r;
  }

  /** A connection; `push(frame)` reaches the client, `close(code, reason)` ends it from the server. */
  connect(transport, push, close) {
    const conn = { id: this.nextConn++, transport, push, close, user: `~guest-${this.nextConn}`, rooms: new Set(), alive: true };
    this.conns.add(conn);
    return conn;
  }

  disconnect(conn) {
    if (!conn.alive)
      return;
    conn.alive = false;
    this.conns.delete(conn);
    for (const name of conn.rooms)
      this.room(name).members.delete(conn);
    conn.rooms.clear();
  }

  /** Ends every connection from the server side, as a crash or restart would. */
  dropAll(code = 1006, reason = 'gone') {
    for (const conn of [...this.conns]) {
      this.disconnect(conn);
      conn.close(code, reason);
    }
  }

  send(conn, frame) {
    if (conn.alive)
      conn.push(frame);
  }

  /** Someone else publishes: stored, sent to every member. */
  publishAs(sender, room, text) {
    const r = this.room(room);
    const m = { room, seq: String(++r.seq), sender, text, serverTimeMs: String(1_700_000_000_000 + r.seq) };
    r.messages.push(m);
    for (const c of r.members)
      this.send(c, { message: m });
    return m;
  }

  handle(conn, frame) {
    if (!conn.alive)
      return;
    this.received.push({ conn, frame });
    if (this.intercept?.(conn, frame))
      return;
    const { ref } = frame;
    const ack = (a) => this.send(conn, { ref, ack: a });
    const error = (code, reason = '') => this.send(conn, { ref, error: { code, reason } });
    const members = (r) => [...new Set([...r.members].map((c) => c.user))].sort();
    if (frame.hello) {
      conn.user = `~${frame.hello.user ?? 'guest'}`;
      return ack({ welcome: { sessionId: String(conn.id), node: 'fake', limits: { maxFrameBytes: 65536, backlog: 25 }, user: conn.user, guest: true } });
    }
    if (frame.join) {
      const r = this.room(frame.join.room);
      if (conn.rooms.has(r.name))
        return error('ERROR_CODE_ALREADY_MEMBER', 'already');
      let messages;
      let more = false;
      if (frame.join.sinceSeq !== undefined) {
        const since = Number(frame.join.sinceSeq);
        if (since > r.seq)
          return error('ERROR_CODE_INVALID_ARGUMENT', 'sinceSeq is past the latest seq');
        const after = r.messages.filter((m) => Number(m.seq) > since);
        more = after.length > 100;
        messages = after.slice(-100);
      } else {
        messages = r.messages.slice(-25);
      }
      r.members.add(conn);
      conn.rooms.add(r.name);
      const joined = { room: r.name, memberCount: r.members.size, seq: String(r.seq), members: members(r) };
      if (messages.length)
        joined.messages = messages;
      if (more)
        joined.more = true;
      return ack({ joined });
    }
    if (frame.publish) {
      const p = frame.publish;
      const r = this.room(p.room);
      if (!conn.rooms.has(r.name))
        return error('ERROR_CODE_NOT_A_MEMBER', 'join first');
      const idKey = p.id ? `${conn.user}\0${p.id}` : null;
      if (idKey && r.ids.has(idKey))
        return ack({ published: { room: r.name, seq: r.ids.get(idKey) } });
      const m = { room: r.name, seq: String(++r.seq), sender: conn.user, text: p.text ?? '' };
      r.messages.push(m);
      if (idKey)
        r.ids.set(idKey, m.seq);
      ack({ published: { room: r.name, seq: m.seq } });
      for (const c of r.members)
        this.send(c, { message: m });
      return undefined;
    }
    if (frame.leave) {
      const r = this.room(frame.leave.room);
      if (!conn.rooms.has(r.name))
        return error('ERROR_CODE_NOT_A_MEMBER', 'not in it');
      r.members.delete(conn);
      conn.rooms.delete(r.name);
      return ack({ left: { room: r.name, reason: 'LEFT_REASON_REQUESTED' } });
    }
    if (frame.history) {
      const h = frame.history;
      const r = this.room(h.room);
      const after = Number(h.afterSeq ?? 0);
      const before = Number(h.beforeSeq ?? 0) || Infinity;
      const limit = h.limit || 100;
      const messages = r.messages.filter((m) => Number(m.seq) > after && Number(m.seq) < before).slice(-limit);
      return ack({ history: { room: r.name, messages } });
    }
    if (frame.presence) {
      const r = this.room(frame.presence.room);
      return ack({ presence: { room: r.name, members: members(r) } });
    }
    if (frame.ping)
      return ack({ pong: { clientTimeMs: frame.ping.clientTimeMs, serverTimeMs: '1' } });
    if (frame.rooms)
      return ack({ rooms: { rooms: [...this.rooms.values()].map((r) => ({ name: r.name, memberCount: r.members.size })) } });
    return error('ERROR_CODE_EMPTY_FRAME', 'nothing');
  }

  /** Frames of a kind the gateway received, e.g. framesOf('join'). */
  framesOf(kind) {
    return this.received.filter(({ frame }) => frame[kind]).map(({ frame }) => frame);
  }

  // -- WebSocket ------------------------------------------------------------------------

  /** A WebSocket class whose sockets reach this gateway. */
  get WebSocket() {
    const gw = this;
    return class FakeWebSocket {
      constructor(url) {
        this.url = url;
        this.readyState = 0;
        gw.wsOpened.push(url);
        setTimeout(() => {
          if (this.readyState !== 0)
            return;
          if (gw.refuseWebSocket) {
            this.readyState = 3;
            this.onerror?.({});
            this.onclose?.({ code: 1006, reason: '' });
            return;
          }
          this.readyState = 1;
          this.conn = gw.connect('websocket',
            (f) => setTimeout(() => this.readyState === 1 && this.onmessage?.({ data: JSON.stringify(f) }), 0),
            (code, reason) => setTimeout(() => {
              if (this.readyState === 3)
                return;
              this.readyState = 3;
              this.onclose?.({ code, reason });
            }, 0));
          this.onopen?.({});
        }, 0);
      }

      send(text) {
        if (this.readyState !== 1)
          throw new Error('not open');
        const frame = JSON.parse(text);
        setTimeout(() => gw.handle(this.conn, frame), 0);
      }

      close(code = 1005) {
        if (this.readyState >= 2)
          return;
        this.readyState = 3;
        if (this.conn)
          gw.disconnect(this.conn);
        setTimeout(() => this.onclose?.({ code, reason: '' }), 0);
      }
    };
  }

  // -- HTTP sessions ----------------------------------------------------------------------

  /** A fetch that serves /v1/sessions... (and fails everything else with 404). */
  get fetch() {
    return async (url, init = {}) => {
      const u = new URL(url);
      const method = init.method ?? 'GET';
      const headers = new Headers(init.headers);
      const entry = { method, path: u.pathname + u.search, headers, body: init.body };
      this.http.push(entry);
      const next = () => this._route(u, method, headers, init);
      if (this.fetchHook)
        return this.fetchHook({ url: u, method, headers, init }, next);
      return next();
    };
  }

  async _route(u, method, headers, init) {
    await tick(0);
    if (init.signal?.aborted)
      throw new DOMException('aborted', 'AbortError');
    if (u.pathname === '/v1/sessions' && method === 'POST')
      return this._openSession(headers);
    const m = /^\/v1\/sessions\/([^/]+)(\/(send|poll|events))?$/.exec(u.pathname);
    if (!m)
      return json(404, { error: 'not_found' });
    const s = this.sessions.get(m[1]);
    if (!s || s.gone)
      return json(404, { error: 'unknown_session' });
    if (headers.get('X-Parley-Key') !== s.key && !(headers.get('Cookie') ?? '').includes(s.key))
      return json(403, { error: 'forbidden' });
    const what = m[3];
    if (!what && method === 'DELETE') {
      s.gone = true;
      this.disconnect(s.conn);
      s.wake?.();
      return new Response(null, { status: 204 });
    }
    if (what === 'send' && method === 'POST')
      return this._sessionSend(s, u, init);
    if (what === 'poll' && method === 'GET')
      return this._poll(s, u, init);
    if (what === 'events' && method === 'GET')
      return this._events(s, headers, init);
    return json(405, { error: 'method_not_allowed' });
  }

  _openSession(headers) {
    const id = `s${this.sessions.size + 1}`;
    const s = {
      id, key: `key-${id}`, frames: [], next: 1, closing: null, gone: false, wake: null, streams: new Set(),
      authorization: headers.get('Authorization'),
    };
    s.conn = this.connect('session', (frame) => {
      const n = s.next++;
      s.frames.push({ n, frame });
      s.wake?.();
      for (const st of s.streams)
        st.write(`id: ${n}\ndata: ${JSON.stringify(frame)}\n\n`);
    }, (code, reason) => {
      s.closing = { code, reason };
      s.wake?.();
      for (const st of s.streams)
        st.write(`event: close\ndata: ${JSON.stringify({ code, reason })}\n\n`, true);
    });
    this.sessions.set(id, s);
    return json(201, { session: id, key: s.key, pollTimeoutMs: 25000, idleTimeoutMs: 60000 },
                { 'Set-Cookie': `parley_key_${id}=${s.key}; HttpOnly` });
  }

  async _sessionSend(s, u, init) {
    this.sendsInFlight += 1;
    this.maxSendsInFlight = Math.max(this.maxSendsInFlight, this.sendsInFlight);
    try {
      await tick(5); // a round trip, so that frames queue meanwhile
      let body;
      try {
        body = JSON.parse(init.body);
      } catch {
        return json(400, { error: 'bad_request' });
      }
      const frames = Array.isArray(body) ? body : [body];
      s.acked = Number(u.searchParams.get('ack') ?? s.acked ?? 0);
      for (const f of frames)
        this.handle(s.conn, f);
      return new Response(null, { status: 204 });
    } finally {
      this.sendsInFlight -= 1;
    }
  }

  async _poll(s, u, init) {
    const ack = Number(u.searchParams.get('ack') ?? 0);
    s.frames = s.frames.filter((f) => f.n > ack);
    if (s.frames.length === 0 && !s.closing) {
      await new Promise((resolve) => {
        const timer = setTimeout(done, this.pollWaitMs);
        init.signal?.addEventListener('abort', done, { once: true });
        s.wake = done;
        function done() {
          clearTimeout(timer);
          resolve();
        }
      });
      s.wake = null;
      if (init.signal?.aborted)
        throw new DOMException('aborted', 'AbortError');
    }
    if (s.gone)
      return json(404, { error: 'unknown_session' });
    const frames = s.frames.filter((f) => f.n > ack);
    const body = { last: frames.length ? frames[frames.length - 1].n : s.next - 1, frames: frames.map((f) => f.frame) };
    if (s.closing && frames.length === 0) {
      body.close = s.closing;
      s.gone = true;
    }
    return json(200, body);
  }

  _events(s, headers, init) {
    const after = Number(headers.get('Last-Event-ID') ?? 0);
    const gw = this;
    let st;
    const stream = new ReadableStream({
      start(controller) {
        st = {
          write(text, end = false) {
            try {
              controller.enqueue(encoder.encode(text));
              if (end)
                controller.close();
            } catch {
              // closed
            }
            if (end)
              s.streams.delete(st);
          },
          /** Ends the stream as a dropped connection would (no close event). */
          cut() {
            s.streams.delete(st);
            try {
              controller.error(new TypeError('network error'));
            } catch {
              // closed
            }
          },
        };
        s.streams.add(st);
        gw.lastStream = st;
        controller.enqueue(encoder.encode('retry: 20\n\n'));
        for (const f of s.frames)
          if (f.n > after)
            controller.enqueue(encoder.encode(`id: ${f.n}\ndata: ${JSON.stringify(f.frame)}\n\n`));
        init.signal?.addEventListener('abort', () => st.cut(), { once: true });
      },
      cancel() {
        s.streams.delete(st);
      },
    });
    return new Response(stream, { status: 200, headers: { 'Content-Type': 'text/event-stream' } });
  }
}

/**
 * A transport the test drives by hand: records what is sent; `reply`,
 * `push` and `end` play the server.
 */
export class ManualTransport {
  static created = [];

  constructor(name, ctx, behaviour = {}) {
    this.name = name;
    this.ctx = ctx;
    this.sent = [];
    this.closed = false;
    this.onframe = () => {};
    this.onclose = () => {};
    this.behaviour = behaviour;
    ManualTransport.created.push(this);
  }

  async open() {
    await tick(0);
    if (this.behaviour.fail)
      throw new Error(`${this.name} refused`);
    if (this.behaviour.hang)
      await new Promise(() => {});
  }

  send(frame) {
    if (this.closed)
      return;
    this.sent.push(frame);
    this.behaviour.onsend?.(this, frame);
  }

  /** Plays the server: a frame to the client, later. */
  push(frame) {
    setTimeout(() => !this.closed && this.onframe(frame), 0);
  }

  /** The server ends the transport. */
  end(code = 1006, reason = 'gone') {
    if (this.closed)
      return;
    this.closed = true;
    this.onclose({ code, reason });
  }

  async close() {
    this.closed = true;
  }

  /** The last frame sent that has `kind`. */
  last(kind) {
    return [...this.sent].reverse().find((f) => f[kind]);
  }
}

/** A welcome for a ManualTransport's hello. */
export function welcomeOn(t, frame) {
  if (frame.hello)
    t.push({ ref: frame.ref, ack: { welcome: { sessionId: '1', user: `~${frame.hello.user ?? 'guest'}`, guest: true } } });
}
