import assert from 'node:assert/strict';
import { test } from 'node:test';

import { ParleyClient, backoffDelay } from '../src/index.js';
import { FakeGateway, ManualTransport, memoryStorage, tick, until, welcomeOn } from './fakes.mjs';

/** A client of `gw` with short timeouts; `events` collects what it emits. */
function client(gw, extra = {}) {
  const c = new ParleyClient({
    url: 'http://gw.test:8080',
    user: 'ann',
    WebSocket: gw.WebSocket,
    fetch: gw.fetch,
    EventSource: null,
    storage: memoryStorage(),
    connectTimeoutMs: 300,
    requestTimeoutMs: 300,
    heartbeatMs: 0,
    backoff: { initialMs: 10, maxMs: 40, factor: 2, jitter: 0.5 },
    random: () => 0.5,
    transportOptions: { retryBackoff: { initialMs: 5, maxMs: 20 } },
    ...extra,
  });
  const events = { state: [], message: [], presence: [], left: [], error: [], reset: [], gap: [], welcome: [] };
  for (const k of Object.keys(events))
    c.on(k, (e) => events[k].push(e));
  return { c, events };
}

const texts = (events) => events.message.map((m) => `${m.room}#${m.seq}:${m.text}`);

test('connects over a WebSocket: hello, welcome, states', async () => {
  const gw = new FakeGateway();
  const { c, events } = client(gw);
  assert.equal(c.state, 'closed');
  const welcome = await c.connect();
  assert.equal(welcome.user, '~ann');
  assert.equal(c.transport, 'websocket');
  assert.equal(c.state, 'open');
  assert.deepEqual(events.state.map((s) => `${s.state}:${s.transport}`), ['connecting:websocket', 'open:websocket']);
  const hello = gw.framesOf('hello')[0];
  assert.deepEqual(hello.hello, { clientName: 'parley-js', clientVersion: '0.1.0', user: 'ann' });
  assert.equal(events.welcome.length, 1);
  assert.equal(await c.connect(), welcome); // connected already
  const pong = await c.ping();
  assert.ok(pong.serverTimeMs);
  await c.close();
  assert.equal(c.state, 'closed');
  assert.equal(c.transport, null);
});

test('a token (string or async function, asked per connect) goes in the URL and in hello', async () => {
  const gw = new FakeGateway();
  let asked = 0;
  const { c } = client(gw, { token: async () => `t${++asked}` });
  await c.connect();
  assert.equal(gw.wsOpened[0], 'ws://gw.test:8080/ws?token=t1');
  assert.equal(gw.framesOf('hello')[0].hello.token, 't1');
  gw.dropAll();
  await until(() => gw.framesOf('hello').length === 2);
  assert.equal(gw.wsOpened[1], 'ws://gw.test:8080/ws?token=t2');
  assert.equal(asked, 2);
  await c.close();
});

test('requests carry fresh refs; errors reject with the server code', async () => {
  const gw = new FakeGateway();
  const { c } = client(gw);
  await c.connect();
  await assert.rejects(c.publish('nowhere', 'x', { retry: false }),
                       (e) => e.code === 'ERROR_CODE_NOT_A_MEMBER' && e.reason === 'join first');
  const refs = gw.received.map(({ frame }) => frame.ref);
  assert.equal(new Set(refs).size, refs.length);
  assert.deepEqual(await c.request({ rooms: {} }), { rooms: { rooms: [{ name: 'nowhere', memberCount: 0 }] } });
  await c.close();
});

test('a request without an answer rejects with TIMEOUT; its late answer is ignored', async () => {
  const gw = new FakeGateway();
  let held = null;
  gw.intercept = (conn, frame) => {
    if (frame.ping && !held) {
      held = { conn, frame };
      return true;
    }
    return false;
  };
  const { c, events } = client(gw, { requestTimeoutMs: 50 });
  await c.connect();
  const started = Date.now();
  await assert.rejects(c.ping(), (e) => e.code === 'TIMEOUT');
  assert.ok(Date.now() - started >= 45, 'not before the timeout');
  assert.equal(c._pending.size, 0);
  // The answer comes late: dropped, it settles nothing else.
  const next = c.request({ presence: { room: 'lobby' } }, { timeoutMs: 300 });
  gw.send(held.conn, { ref: held.frame.ref, ack: { pong: { clientTimeMs: 'late' } } });
  const ack = await next;
  assert.ok(ack.presence, 'the next request gets its own answer');
  assert.equal(events.error.length, 0);
  assert.equal(c.state, 'open');
  await c.close();
});

test('a request made before the connection is up waits for it; after close() it rejects CLOSED', async () => {
  const gw = new FakeGateway();
  const { c } = client(gw);
  await assert.rejects(c.ping(), { code: 'CLOSED' });
  const connecting = c.connect();
  const pong = c.ping(); // sent once welcomed
  await connecting;
  assert.ok((await pong).serverTimeMs);
  await c.close();
  await assert.rejects(c.ping(), { code: 'CLOSED' });
});

test('join delivers the backlog, then live messages once each; presence follows diffs', async () => {
  const gw = new FakeGateway();
  gw.publishAs('bob', 'lobby', 'one');
  gw.publishAs('bob', 'lobby', 'two');
  const { c, events } = client(gw);
  await c.connect();
  const joined = await c.join('lobby');
  assert.equal(joined.seq, '2');
  assert.deepEqual(texts(events), ['lobby#1:one', 'lobby#2:two']);
  assert.deepEqual(events.presence.at(-1), { room: 'lobby', members: ['~ann'], joined: [], left: [] });
  const published = await c.publish('lobby', 'three');
  assert.deepEqual(published, { room: 'lobby', seq: '3' });
  await until(() => events.message.length === 3);
  assert.equal(events.message[2].sender, '~ann');
  // A presence diff and a duplicate of a message already delivered.
  const conn = [...gw.conns][0];
  gw.send(conn, { presence: { room: 'lobby', joined: ['bob', 'cid'] } });
  gw.send(conn, { presence: { room: 'lobby', left: ['cid'] } });
  gw.send(conn, { message: { room: 'lobby', seq: '2', sender: 'bob', text: 'two' } });
  gw.send(conn, { message: { room: 'elsewhere', seq: '9', sender: 'bob', text: 'not joined' } });
  await until(() => events.presence.length === 3);
  await tick(10);
  // Sorted by code unit, as the server sorts names.
  assert.deepEqual(events.presence.at(-1).members, ['bob', '~ann']);
  assert.deepEqual(events.presence.at(-1).joined, []);
  assert.deepEqual(events.presence.at(-1).left, ['cid']);
  assert.deepEqual(c.members('lobby'), ['bob', '~ann']);
  assert.deepEqual(texts(events), ['lobby#1:one', 'lobby#2:two', 'lobby#3:three']);
  assert.equal(c.lastSeq('lobby'), '3');
  assert.deepEqual(c.joinedRooms, ['lobby']);
  // Joining again resolves with the join already made.
  assert.equal(await c.join('lobby'), joined);
  assert.equal(gw.framesOf('join').length, 1);
  await c.close();
});

test('after a reconnect rooms are joined again with sinceSeq = the last seq; nothing is delivered twice', async () => {
  const gw = new FakeGateway();
  const { c, events } = client(gw);
  await c.connect();
  await c.join('lobby');
  await c.join('team:core');
  gw.publishAs('bob', 'lobby', 'a');
  gw.publishAs('bob', 'lobby', 'b');
  gw.publishAs('bob', 'team:core', 'x');
  await until(() => events.message.length === 3);

  gw.dropAll(1006, 'crash');
  // While the client is away.
  gw.publishAs('bob', 'lobby', 'c');
  gw.publishAs('bob', 'lobby', 'd');
  await until(() => c.state === 'reconnecting');
  const reconnecting = events.state.find((s) => s.state === 'reconnecting');
  assert.equal(reconnecting.error.code, 'LOST');
  assert.ok(reconnecting.delayMs >= 5 && reconnecting.delayMs <= 10);
  await until(() => gw.framesOf('join').length === 4 && c.state === 'open');
  const rejoins = gw.framesOf('join').slice(2).map((f) => f.join);
  assert.deepEqual(rejoins.sort((a, b) => a.room.localeCompare(b.room)),
                   [{ room: 'lobby', sinceSeq: '2' }, { room: 'team:core', sinceSeq: '1' }]);
  await until(() => events.message.length === 5);
  // The server repeats what was delivered already: dropped.
  const conn = [...gw.conns][0];
  gw.send(conn, { message: { room: 'lobby', seq: '3', sender: 'bob', text: 'c' } });
  gw.send(conn, { message: { room: 'lobby', seq: '1', sender: 'bob', text: 'a' } });
  gw.publishAs('bob', 'lobby', 'e');
  await until(() => events.message.length >= 6);
  await tick(20);
  assert.deepEqual(texts(events), ['lobby#1:a', 'lobby#2:b', 'team:core#1:x', 'lobby#3:c', 'lobby#4:d', 'lobby#5:e']);
  await c.close();
});

test('a restarted or moved room is joined again with sinceSeq; a removed one is forgotten', async () => {
  const gw = new FakeGateway();
  const { c, events } = client(gw, { random: () => 0 });
  await c.connect();
  await c.join('lobby');
  gw.publishAs('bob', 'lobby', 'a');
  await until(() => events.message.length === 1);
  const conn = [...gw.conns][0];
  // The room restarts: the member is out, messages go on.
  gw.room('lobby').members.delete(conn);
  conn.rooms.delete('lobby');
  gw.send(conn, { left: { room: 'lobby', reason: 'LEFT_REASON_ROOM_RESTARTED', detail: 'restarted' } });
  gw.publishAs('bob', 'lobby', 'b');
  await until(() => gw.framesOf('join').length === 2);
  assert.deepEqual(gw.framesOf('join')[1].join, { room: 'lobby', sinceSeq: '1' });
  await until(() => events.message.length === 2);
  assert.deepEqual(events.left[0], { room: 'lobby', reason: 'LEFT_REASON_ROOM_RESTARTED', detail: 'restarted', rejoining: true });

  gw.room('lobby').members.delete(conn);
  conn.rooms.delete('lobby');
  gw.send(conn, { left: { room: 'lobby', reason: 'LEFT_REASON_ROOM_MOVED' } });
  await until(() => gw.framesOf('join').length === 3);
  assert.deepEqual(gw.framesOf('join')[2].join, { room: 'lobby', sinceSeq: '2' });

  await until(() => c._rooms.get('lobby')?.status === 'joined');
  gw.send(conn, { left: { room: 'lobby', reason: 'LEFT_REASON_REMOVED', detail: 'kicked' } });
  await until(() => events.left.length === 3);
  assert.equal(events.left[2].rejoining, false);
  assert.deepEqual(c.joinedRooms, []);
  await tick(20);
  assert.equal(gw.framesOf('join').length, 3);
  assert.deepEqual(texts(events), ['lobby#1:a', 'lobby#2:b']);
  await c.close();
});

test('a resume that missed more than one reply holds fills back from history, in seq order', async () => {
  const gw = new FakeGateway();
  const { c, events } = client(gw);
  await c.connect();
  await c.join('lobby', { sinceSeq: '0' });
  gw.publishAs('bob', 'lobby', 'm1');
  await until(() => events.message.length === 1);
  gw.dropAll();
  for (let i = 2; i <= 260; ++i)
    gw.publishAs('bob', 'lobby', `m${i}`);
  await until(() => events.message.length === 260, 3000);
  const seqs = events.message.map((m) => Number(m.seq));
  assert.deepEqual(seqs, Array.from({ length: 260 }, (_, i) => i + 1));
  const history = gw.framesOf('history').map((f) => f.history);
  assert.deepEqual(history[0], { room: 'lobby', afterSeq: '1', beforeSeq: '161' });
  assert.equal(events.gap.length, 0);
  await c.close();
});

test('a sinceSeq past the room\'s seq (the room was reset): reset event, join without it', async () => {
  const gw = new FakeGateway();
  gw.publishAs('bob', 'lobby', 'new room, first message');
  const { c, events } = client(gw);
  await c.connect();
  await c.join('lobby', { sinceSeq: '40' }); // remembered from an older room
  assert.deepEqual(gw.framesOf('join').map((f) => f.join), [{ room: 'lobby', sinceSeq: '40' }, { room: 'lobby' }]);
  assert.deepEqual(events.reset, [{ room: 'lobby', sinceSeq: '40' }]);
  assert.deepEqual(texts(events), ['lobby#1:new room, first message']);
  await c.close();
});

test('ALREADY_MEMBER on a rejoin (an earlier join got through): catch up from history', async () => {
  const gw = new FakeGateway();
  let dropJoinAnswer = false;
  gw.intercept = (conn, frame) => {
    if (frame.join && dropJoinAnswer) {
      dropJoinAnswer = false;
      // The join happens, its answer is lost.
      const r = gw.room(frame.join.room);
      r.members.add(conn);
      conn.rooms.add(r.name);
      return true;
    }
    return false;
  };
  const { c, events } = client(gw, { requestTimeoutMs: 150, random: () => 0 });
  await c.connect();
  await c.join('lobby');
  gw.publishAs('bob', 'lobby', 'a');
  await until(() => events.message.length === 1);
  const conn = [...gw.conns][0];
  gw.room('lobby').members.delete(conn);
  conn.rooms.delete('lobby');
  dropJoinAnswer = true;
  gw.send(conn, { left: { room: 'lobby', reason: 'LEFT_REASON_ROOM_RESTARTED' } });
  gw.publishAs('bob', 'lobby', 'b'); // the client is not a member yet
  await until(() => gw.framesOf('history').length === 1, 2000);
  await until(() => events.message.length === 2);
  assert.deepEqual(gw.framesOf('history')[0].history, { room: 'lobby', afterSeq: '1' });
  assert.deepEqual(texts(events), ['lobby#1:a', 'lobby#2:b']);
  await c.close();
});

test('fallback: websocket refused, then sse fails, longpoll works; the choice is remembered', async () => {
  const gw = new FakeGateway();
  gw.refuseWebSocket = true;
  gw.fetchHook = async (req, next) => {
    if (req.url.pathname.endsWith('/events'))
      return new Response('{"error":"forbidden"}', { status: 403 });
    return next();
  };
  const storage = memoryStorage();
  const { c, events } = client(gw, { storage });
  await c.connect();
  assert.equal(c.transport, 'longpoll');
  assert.deepEqual(events.state.map((s) => `${s.state}:${s.transport}`),
                   ['connecting:websocket', 'connecting:sse', 'connecting:longpoll', 'open:longpoll']);
  assert.equal(storage.getItem('parley.transport'), 'longpoll');
  await c.join('lobby');
  await c.publish('lobby', 'over long-polling');
  await until(() => events.message.length === 1);
  await c.close();
  assert.ok(gw.http.some((h) => h.method === 'DELETE'));

  // Next time: long-polling first, no WebSocket tried.
  gw.refuseWebSocket = false;
  const opened = gw.wsOpened.length;
  const second = client(gw, { storage });
  await second.c.connect();
  assert.equal(second.c.transport, 'longpoll');
  assert.deepEqual(second.events.state.map((s) => `${s.state}:${s.transport}`), ['connecting:longpoll', 'open:longpoll']);
  assert.equal(gw.wsOpened.length, opened);
  await second.c.close();
});

test('fallback: a WebSocket that opens but never welcomes gives way to sse within connectTimeoutMs', async () => {
  const gw = new FakeGateway();
  gw.intercept = (conn, frame) => conn.transport === 'websocket' && Boolean(frame.hello);
  const { c, events } = client(gw, { connectTimeoutMs: 200 });
  const started = Date.now();
  await c.connect();
  assert.equal(c.transport, 'sse');
  assert.ok(Date.now() - started >= 195);
  assert.deepEqual(events.state.map((s) => `${s.state}:${s.transport}`),
                   ['connecting:websocket', 'connecting:sse', 'open:sse']);
  // Frames flow over SSE.
  await c.join('lobby');
  await c.publish('lobby', 'over sse');
  await until(() => events.message.length === 1);
  assert.equal(events.message[0].text, 'over sse');
  await c.close();
});

test('on reconnect the remembered transport is tried first, then the rest in order', async () => {
  ManualTransport.created = [];
  const works = new Set(['sse']);
  const storage = memoryStorage();
  const c = new ParleyClient({
    url: 'http://gw.test', storage, heartbeatMs: 0, connectTimeoutMs: 100, random: () => 0,
    backoff: { initialMs: 5, maxMs: 5 },
    createTransport: (name, ctx) => new ManualTransport(name, ctx, { fail: !works.has(name), onsend: welcomeOn }),
  });
  await c.connect();
  assert.equal(c.transport, 'sse');
  assert.deepEqual(ManualTransport.created.map((t) => t.name), ['websocket', 'sse']);
  // sse breaks, longpoll works: sse (remembered) first, then websocket, then longpoll.
  works.delete('sse');
  works.add('longpoll');
  ManualTransport.created.at(-1).end(1006, 'gone');
  await until(() => c.transport === 'longpoll');
  assert.deepEqual(ManualTransport.created.map((t) => t.name), ['websocket', 'sse', 'sse', 'websocket', 'longpoll']);
  assert.equal(storage.getItem('parley.transport'), 'longpoll');
  await c.close();
});

test('reconnect delays grow with backoff and cap, and start over after a successful connect', async () => {
  ManualTransport.created = [];
  let up = false;
  const backoff = { initialMs: 4, maxMs: 20, factor: 2, jitter: 0.5 };
  const c = new ParleyClient({
    url: 'http://gw.test', storage: memoryStorage(), heartbeatMs: 0, transports: ['websocket'], random: () => 0.25, backoff,
    createTransport: (name, ctx) => new ManualTransport(name, ctx, { fail: !up, onsend: welcomeOn }),
  });
  const delays = [];
  c.on('state', (s) => { if (s.state === 'reconnecting') delays.push(s.delayMs); });
  const connected = c.connect();
  await until(() => delays.length === 6, 3000);
  const expected = [0, 1, 2, 3, 4, 5].map((a) => backoffDelay(a, backoff, () => 0.25));
  assert.deepEqual(expected, [4, 7, 14, 18, 18, 18]); // 4, 8, 16, 20, 20, 20 less a quarter of half
  assert.deepEqual(delays, expected);
  up = true;
  await connected;
  ManualTransport.created.at(-1).end();
  await until(() => delays.length === 7);
  assert.equal(delays[6], 4, 'the first delay again');
  await c.close();
});

test('publish sends an id and retries once with the same id after UNAVAILABLE', async () => {
  const gw = new FakeGateway();
  let refuse = 1;
  gw.intercept = (conn, frame) => {
    if (frame.publish && refuse > 0) {
      --refuse;
      gw.send(conn, { ref: frame.ref, error: { code: 'ERROR_CODE_UNAVAILABLE', reason: 'restarting' } });
      return true;
    }
    return false;
  };
  const { c, events } = client(gw);
  await c.connect();
  await c.join('lobby');
  const published = await c.publish('lobby', 'hello');
  const sent = gw.framesOf('publish');
  assert.equal(sent.length, 2);
  assert.notEqual(sent[0].ref, sent[1].ref);
  assert.equal(sent[0].publish.id, sent[1].publish.id);
  assert.ok(sent[0].publish.id.length > 0 && new TextEncoder().encode(sent[0].publish.id).length <= 64);
  assert.deepEqual(published, { room: 'lobby', seq: '1' });
  await until(() => events.message.length === 1);
  // Each publish gets its own id.
  await c.publish('lobby', 'again');
  assert.notEqual(gw.framesOf('publish')[2].publish.id, sent[0].publish.id);
  // Only once: a second refusal is the caller's.
  refuse = 2;
  await assert.rejects(c.publish('lobby', 'twice refused'), { code: 'ERROR_CODE_UNAVAILABLE' });
  assert.equal(gw.framesOf('publish').length, 5);
  await c.close();
});

test('publish after a timeout retries with the same id: the room stores it once', async () => {
  const gw = new FakeGateway();
  let lose = true;
  gw.intercept = (conn, frame) => {
    if (frame.publish && lose) {
      lose = false;
      // Stored, but the ack is lost.
      const realSend = gw.send.bind(gw);
      gw.send = (cn, f) => { if (!f.ack?.published) realSend(cn, f); };
      gw.intercept = null;
      gw.handle(conn, frame);
      gw.send = realSend;
      return true;
    }
    return false;
  };
  const { c, events } = client(gw, { requestTimeoutMs: 150 });
  await c.connect();
  await c.join('lobby');
  const published = await c.publish('lobby', 'once', { id: 'my-key-1' });
  assert.deepEqual(published, { room: 'lobby', seq: '1' });
  const sent = gw.framesOf('publish'); // the first one is recorded twice (intercepted, then handled)
  assert.equal(new Set(sent.map((f) => f.ref)).size, 2);
  assert.ok(sent.every((f) => f.publish.id === 'my-key-1'));
  assert.equal(gw.room('lobby').messages.length, 1);
  await tick(20);
  assert.equal(events.message.length, 1);
  await c.close();
});

test('publish lost with the connection is sent again, same id, after the reconnect and rejoin', async () => {
  const gw = new FakeGateway();
  let cut = true;
  gw.intercept = (conn, frame) => {
    if (frame.publish && cut) {
      cut = false;
      setTimeout(() => gw.dropAll(), 0);
      return true;
    }
    return false;
  };
  const { c } = client(gw, { requestTimeoutMs: 1000 });
  await c.connect();
  await c.join('lobby');
  const published = await c.publish('lobby', 'through a reconnect');
  assert.deepEqual(published, { room: 'lobby', seq: '1' });
  const kinds = gw.received.map(({ frame }) => Object.keys(frame).find((k) => k !== 'ref'));
  assert.deepEqual(kinds, ['hello', 'join', 'publish', 'hello', 'join', 'publish']);
  const ids = gw.framesOf('publish').map((f) => f.publish.id);
  assert.equal(ids[0], ids[1]);
  await c.close();
});

test('close() rejects pending requests with CLOSED and stops reconnecting', async () => {
  const gw = new FakeGateway();
  gw.intercept = (conn, frame) => Boolean(frame.ping); // never answered
  const { c, events } = client(gw, { requestTimeoutMs: 5000 });
  await c.connect();
  await c.join('lobby');
  const pending = [c.ping(), c.ping()];
  await tick(5);
  await c.close();
  for (const p of pending)
    await assert.rejects(p, { code: 'CLOSED' });
  assert.equal(c.state, 'closed');
  assert.equal(events.state.at(-1).state, 'closed');
  assert.deepEqual(c.joinedRooms, []);
  const opened = gw.wsOpened.length;
  gw.dropAll();
  await tick(100);
  assert.equal(gw.wsOpened.length, opened, 'no reconnect');
  assert.equal(gw.conns.size, 0);
});

test('close() while reconnecting cancels the retry; connect() waiting rejects CLOSED', async () => {
  const gw = new FakeGateway();
  gw.refuseWebSocket = true;
  const { c, events } = client(gw, { transports: ['websocket'], backoff: { initialMs: 30, maxMs: 30 } });
  const connecting = c.connect();
  await until(() => c.state === 'reconnecting');
  await c.close();
  await assert.rejects(connecting, { code: 'CLOSED' });
  const opened = gw.wsOpened.length;
  await tick(100);
  assert.equal(gw.wsOpened.length, opened);
  assert.equal(events.state.at(-1).state, 'closed');
});

test('a hello refused as UNAUTHENTICATED stops the client: no retry', async () => {
  const gw = new FakeGateway();
  gw.intercept = (conn, frame) => {
    if (!frame.hello)
      return false;
    gw.send(conn, { ref: frame.ref, error: { code: 'ERROR_CODE_UNAUTHENTICATED', reason: 'token expired' } });
    return true;
  };
  const { c, events } = client(gw, { token: 'bad' });
  await assert.rejects(c.connect(), { code: 'ERROR_CODE_UNAUTHENTICATED' });
  assert.equal(c.state, 'closed');
  assert.equal(events.error[0].code, 'ERROR_CODE_UNAUTHENTICATED');
  assert.equal(events.state.at(-1).error.code, 'ERROR_CODE_UNAUTHENTICATED');
  await tick(60);
  assert.equal(gw.framesOf('hello').length, 1);
});

test('a heartbeat without a pong drops the connection and reconnects', async () => {
  const gw = new FakeGateway();
  let silent = true;
  gw.intercept = (conn, frame) => Boolean(frame.ping) && silent;
  const { c } = client(gw, { heartbeatMs: 20, requestTimeoutMs: 100 });
  await c.connect();
  await until(() => c.state === 'reconnecting', 2000);
  silent = false;
  await until(() => c.state === 'open' && gw.framesOf('hello').length >= 2, 2000);
  await c.close();
});

test('leave forgets the room: no rejoin after a reconnect, late frames dropped', async () => {
  const gw = new FakeGateway();
  const { c, events } = client(gw);
  await c.connect();
  await c.join('lobby');
  const left = await c.leave('lobby');
  assert.deepEqual(left, { room: 'lobby', reason: 'LEFT_REASON_REQUESTED' });
  const conn = [...gw.conns][0];
  gw.send(conn, { message: { room: 'lobby', seq: '7', sender: 'bob', text: 'late' } });
  gw.dropAll();
  await until(() => gw.framesOf('hello').length === 2 && c.state === 'open');
  await tick(20);
  assert.equal(gw.framesOf('join').length, 1);
  assert.equal(events.message.length, 0);
  await c.close();
});

test('history, presence and rooms return the acks', async () => {
  const gw = new FakeGateway();
  for (let i = 1; i <= 5; ++i)
    gw.publishAs('bob', 'lobby', `m${i}`);
  const { c, events } = client(gw);
  await c.connect();
  await c.join('lobby');
  const h = await c.history('lobby', { afterSeq: 1n, beforeSeq: 5, limit: 2 });
  assert.deepEqual(h.messages.map((m) => m.seq), ['3', '4']);
  assert.deepEqual(gw.framesOf('history')[0].history, { room: 'lobby', afterSeq: '1', beforeSeq: '5', limit: 2 });
  assert.equal(events.message.length, 5, 'history is not delivered as messages');
  assert.deepEqual((await c.presence('lobby')).members, ['~ann']);
  assert.deepEqual(await c.rooms(), [{ name: 'lobby', memberCount: 1 }]);
  await c.close();
});
