import assert from 'node:assert/strict';
import { test } from 'node:test';

import { createTransport, gatewayUrls } from '../src/index.js';
import { FakeGateway, tick, until } from './fakes.mjs';

function context(gw, extra = {}) {
  const { baseUrl, wsUrl } = gatewayUrls('http://gw.test:8080');
  return {
    baseUrl, wsUrl, WebSocket: gw.WebSocket, fetch: gw.fetch, EventSource: undefined,
    random: () => 0.5, retryBackoff: { initialMs: 5, maxMs: 20 }, ...extra,
  };
}

/** Opens `name` on `gw`; collects frames and the close. */
async function open(name, gw, extra = {}) {
  const t = createTransport(name, context(gw, extra));
  const frames = [];
  let closed = null;
  t.onframe = (f) => frames.push(f);
  t.onclose = (info) => { closed = info; };
  await t.open();
  return { t, frames, closed: () => closed };
}

test('gatewayUrls derives the WebSocket URL from the http base and back', () => {
  assert.deepEqual(gatewayUrls('http://127.0.0.1:8080'), { baseUrl: 'http://127.0.0.1:8080', wsUrl: 'ws://127.0.0.1:8080/ws' });
  assert.deepEqual(gatewayUrls('https://chat.example/parley/'), { baseUrl: 'https://chat.example/parley', wsUrl: 'wss://chat.example/parley/ws' });
  assert.deepEqual(gatewayUrls('wss://chat.example/ws'), { baseUrl: 'https://chat.example', wsUrl: 'wss://chat.example/ws' });
  assert.throws(() => gatewayUrls('ftp://x'), /not an http/);
});

test('websocket: /ws?token=..., JSON text both ways', async () => {
  const gw = new FakeGateway();
  const { t, frames } = await open('websocket', gw, { token: 'a b&c' });
  assert.equal(gw.wsOpened[0], 'ws://gw.test:8080/ws?token=a%20b%26c');
  t.send({ ref: '1', hello: { user: 'ann' } });
  await until(() => frames.length === 1);
  assert.equal(frames[0].ack.welcome.user, '~ann');
  await t.close();
});

test('websocket: a socket that never opens rejects open()', async () => {
  const gw = new FakeGateway();
  gw.refuseWebSocket = true;
  await assert.rejects(open('websocket', gw), { code: 'CONNECT_FAILED' });
  await assert.rejects(open('websocket', gw, { WebSocket: undefined }), { code: 'UNSUPPORTED' });
});

test('longpoll: opens with Bearer, sends with the key, receives by polling, DELETE on close', async () => {
  const gw = new FakeGateway();
  const { t, frames } = await open('longpoll', gw, { token: 'tok' });
  assert.equal(gw.http[0].method, 'POST');
  assert.equal(gw.http[0].path, '/v1/sessions');
  assert.equal(gw.sessions.get('s1').authorization, 'Bearer tok');
  t.send({ ref: '1', hello: { user: 'ann' } });
  t.send({ ref: '2', join: { room: 'lobby' } });
  await until(() => frames.length === 2);
  assert.deepEqual(frames.map((f) => f.ref), ['1', '2']);
  const send = gw.http.find((h) => h.path === '/v1/sessions/s1/send');
  assert.equal(send.headers.get('X-Parley-Key'), 'key-s1');
  assert.equal(send.headers.get('Content-Type'), 'application/json');
  assert.ok(Array.isArray(JSON.parse(send.body)));
  const polls = gw.http.filter((h) => h.path.startsWith('/v1/sessions/s1/poll'));
  assert.equal(polls[0].path, '/v1/sessions/s1/poll?ack=0');
  assert.ok(polls.every((p) => p.headers.get('X-Parley-Key') === 'key-s1'));
  await t.close();
  assert.ok(gw.http.some((h) => h.method === 'DELETE' && h.path === '/v1/sessions/s1'));
  assert.equal(gw.sessions.get('s1').gone, true);
});

test('longpoll: frames queued while a POST is in flight go together in the next one', async () => {
  const gw = new FakeGateway();
  const { t, frames } = await open('longpoll', gw);
  t.send({ ref: '1', hello: {} });
  for (let i = 2; i <= 10; ++i)
    t.send({ ref: String(i), ping: { clientTimeMs: String(i) } });
  await until(() => frames.length === 10);
  const sends = gw.http.filter((h) => h.path.startsWith('/v1/sessions/s1/send')).map((h) => JSON.parse(h.body));
  assert.deepEqual(sends.map((b) => b.length), [1, 9]);
  assert.deepEqual(sends.flat().map((f) => f.ref), ['1', '2', '3', '4', '5', '6', '7', '8', '9', '10']);
  assert.equal(gw.maxSendsInFlight, 1);
  assert.deepEqual(frames.map((f) => f.ref), ['1', '2', '3', '4', '5', '6', '7', '8', '9', '10']);
  await t.close();
});

test('longpoll: a batch stays within maxBatchBytes', async () => {
  const gw = new FakeGateway();
  const { t, frames } = await open('longpoll', gw, { maxBatchBytes: 200 });
  t.send({ ref: '0', hello: {} });
  for (let i = 1; i <= 6; ++i)
    t.send({ ref: String(i), ping: { clientTimeMs: '1'.repeat(40) } });
  await until(() => frames.length === 7);
  const bodies = gw.http.filter((h) => h.path.startsWith('/v1/sessions/s1/send')).map((h) => h.body);
  assert.ok(bodies.length >= 3, `${bodies.length} bodies`);
  assert.ok(bodies.every((b) => new TextEncoder().encode(b).length <= 200), bodies.map((b) => b.length).join());
  await t.close();
});

test('longpoll: a lost poll answer is polled again with the same ack; nothing is handed on twice', async () => {
  const gw = new FakeGateway();
  let lose = 2; // the next two answers that carry frames are lost in flight
  gw.fetchHook = async (req, next) => {
    const res = await next();
    if (req.url.pathname.endsWith('/poll') && lose > 0) {
      const body = await res.clone().json();
      if (body.frames.length > 0) {
        --lose;
        throw new TypeError('fetch failed: the connection was reset');
      }
    }
    return res;
  };
  const { t, frames } = await open('longpoll', gw);
  t.send({ ref: '1', hello: { user: 'ann' } });
  t.send({ ref: '2', join: { room: 'lobby' } });
  await until(() => frames.length >= 2 && lose === 0);
  gw.publishAs('bob', 'lobby', 'one');
  gw.publishAs('bob', 'lobby', 'two');
  await until(() => frames.length >= 4);
  await tick(50);
  assert.deepEqual(frames.map((f) => f.ref ?? f.message?.text), ['1', '2', 'one', 'two']);
  const acks = gw.http.filter((h) => h.path.includes('/poll')).map((h) => Number(new URL(h.path, 'http://x').searchParams.get('ack')));
  // The lost answers are asked for again with the ack that preceded them.
  assert.equal(acks[0], 0);
  const firstNonZero = acks.findIndex((a) => a > 0);
  assert.ok(firstNonZero >= 3, `acks ${acks}`); // two lost answers, then a delivered one, all with ack=0
  assert.ok(acks.every((a, i) => i === 0 || a >= acks[i - 1]), `acks never go back: ${acks}`);
  assert.equal(t.ack, 4);
  await t.close();
});

test('longpoll: a repeated answer (frames already handed on) is not handed on again', () => {
  const t = createTransport('longpoll', context(new FakeGateway()));
  const got = [];
  t.onframe = (f) => got.push(f.n);
  t._take({ last: 2, frames: [{ n: 1 }, { n: 2 }] });
  t._take({ last: 3, frames: [{ n: 2 }, { n: 3 }] }); // overlaps
  t._take({ last: 3, frames: [] });
  assert.deepEqual(got, [1, 2, 3]);
  assert.equal(t.ack, 3);
});

test('longpoll: close in a poll answer ends the transport with its code; 404 ends it too', async () => {
  const gw = new FakeGateway();
  const a = await open('longpoll', gw);
  a.t.send({ ref: '1', hello: {} });
  await until(() => a.frames.length === 1);
  gw.sessions.get('s1').conn.close(1008, 'slow consumer');
  await until(() => a.closed());
  assert.deepEqual(a.closed(), { code: 1008, reason: 'slow consumer' });
  await tick(20);
  assert.ok(!gw.http.some((h) => h.method === 'DELETE'), 'a session the server closed is not deleted');

  const b = await open('longpoll', gw);
  gw.sessions.get('s2').gone = true;
  await until(() => b.closed(), 2000);
  assert.equal(b.closed().status, 404);
  assert.match(b.closed().reason, /404 unknown_session/);
});

test('longpoll: polls failing again and again end the transport', async () => {
  const gw = new FakeGateway();
  const { t, closed } = await open('longpoll', gw, { maxRetries: 3 });
  gw.fetchHook = async (req, next) => {
    if (req.url.pathname.endsWith('/poll'))
      throw new TypeError('fetch failed');
    return next();
  };
  await until(() => closed(), 2000);
  assert.equal(closed().code, 1006);
  assert.match(closed().reason, /polling failed 4 times/);
  // Given up on: deleted rather than left to time out.
  await until(() => gw.http.some((h) => h.method === 'DELETE' && h.path === '/v1/sessions/s1'));
  await t.close();
});

test('sse (fetch): key header, frames as events, resume with Last-Event-ID after a cut, no duplicates', async () => {
  const gw = new FakeGateway();
  const { t, frames } = await open('sse', gw);
  t.send({ ref: '1', hello: { user: 'ann' } });
  t.send({ ref: '2', join: { room: 'lobby' } });
  await until(() => frames.length === 2);
  const ev = gw.http.find((h) => h.path === '/v1/sessions/s1/events');
  assert.equal(ev.headers.get('X-Parley-Key'), 'key-s1');
  assert.equal(ev.headers.get('Last-Event-ID'), null);
  gw.lastStream.cut(); // the connection drops
  gw.publishAs('bob', 'lobby', 'while away');
  await until(() => frames.length === 3);
  const again = gw.http.filter((h) => h.path === '/v1/sessions/s1/events');
  assert.equal(again.length, 2);
  assert.equal(again[1].headers.get('Last-Event-ID'), '2');
  assert.equal(frames[2].message.text, 'while away');
  // Acknowledged on the next send.
  t.send({ ref: '3', ping: {} });
  await until(() => frames.length === 4);
  assert.ok(gw.http.some((h) => h.path === '/v1/sessions/s1/send?ack=3'));
  // A stream repeating an event already seen (same id) hands nothing on twice.
  gw.sessions.get('s1').streams.values().next().value.write(`id: 3\ndata: ${JSON.stringify({ message: { room: 'lobby', seq: '1' } })}\n\n`);
  await tick(20);
  assert.equal(frames.length, 4);
  assert.deepEqual(frames.map((f) => f.ref ?? f.message?.text), ['1', '2', 'while away', '3']);
  await t.close();
});

test('sse: a client that only listens acknowledges after ackAfterMs with an empty send', async () => {
  const gw = new FakeGateway();
  const { t, frames } = await open('sse', gw, { ackAfterMs: 30 });
  t.send({ ref: '1', hello: { user: 'ann' } });
  await until(() => frames.length === 1);
  // The hello's send went out before any event: nothing acknowledged yet.
  gw.publishAs('bob', 'lobby', 'x'); // not a member: nothing comes
  t.send({ ref: '2', join: { room: 'lobby' } });
  await until(() => frames.length === 2);
  gw.publishAs('bob', 'lobby', 'one');
  gw.publishAs('bob', 'lobby', 'two');
  await until(() => frames.length === 4);
  const empty = (ack) => gw.http.filter((h) => h.body === '[]' && h.path.endsWith(`?ack=${ack}`));
  await until(() => empty(4).length > 0);
  // The next event gets an acknowledgement of its own; 4 was not sent again.
  gw.publishAs('bob', 'lobby', 'three');
  await until(() => frames.length === 5);
  await until(() => empty(5).length > 0);
  assert.equal(empty(4).length, 1, 'each id acknowledged once');
  assert.equal(empty(5).length, 1);
  await t.close();
});

test('sse (fetch): event: close ends the transport with its code', async () => {
  const gw = new FakeGateway();
  const { t, frames, closed } = await open('sse', gw);
  t.send({ ref: '1', hello: {} });
  await until(() => frames.length === 1);
  gw.sessions.get('s1').conn.close(1001, 'server shutting down');
  await until(() => closed());
  assert.deepEqual(closed(), { code: 1001, reason: 'server shutting down' });
});

test('sse: uses EventSource when there is one (it carries the key cookie)', async () => {
  const gw = new FakeGateway();
  const made = [];
  class FakeEventSource {
    constructor(url) {
      this.url = url;
      this.readyState = 0;
      this.listeners = {};
      made.push(this);
    }
    addEventListener(type, fn) { (this.listeners[type] ??= []).push(fn); }
    close() { this.readyState = 2; }
  }
  const { t, frames, closed } = await open('sse', gw, { EventSource: FakeEventSource });
  assert.equal(made.length, 1);
  assert.equal(made[0].url, 'http://gw.test:8080/v1/sessions/s1/events');
  assert.ok(!gw.http.some((h) => h.path.endsWith('/events')), 'no fetch of the stream');
  const es = made[0];
  es.onmessage({ data: '{"ref":"1","ack":{}}', lastEventId: '1' });
  es.onmessage({ data: '{"ref":"1","ack":{}}', lastEventId: '1' }); // repeated
  es.onmessage({ data: '{"message":{"room":"r","seq":"1"}}', lastEventId: '2' });
  assert.equal(frames.length, 2);
  es.onerror(); // CONNECTING: EventSource retries by itself
  assert.equal(closed(), null);
  es.listeners.close[0]({ data: '{"code":1008,"reason":"flood"}' });
  assert.deepEqual(closed(), { code: 1008, reason: 'flood' });
  assert.equal(es.readyState, 2);
  await t.close();

  // A page on another origin has no cookie to send: the key goes in the query.
  globalThis.location = { origin: 'http://page.test' };
  try {
    await open('sse', gw, { EventSource: FakeEventSource });
    assert.equal(made[1].url, 'http://gw.test:8080/v1/sessions/s2/events?key=key-s2');
  } finally {
    delete globalThis.location;
  }
});

test('sessions: an HTTP error opening the session rejects open()', async () => {
  const gw = new FakeGateway();
  gw.fetchHook = async () => new Response('{"error":"unavailable"}', { status: 503 });
  await assert.rejects(open('longpoll', gw), (e) => e.code === 'HTTP' && e.status === 503 && /unavailable/.test(e.message));
  gw.fetchHook = async () => { throw new TypeError('fetch failed'); };
  await assert.rejects(open('sse', gw), { code: 'CONNECT_FAILED' });
});
