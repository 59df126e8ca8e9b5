// Long-polling and Server-Sent Events against the real parley-gateway
// (docs/protocol.md, "Without WebSockets"): Node's own fetch speaks the HTTP
// endpoints by hand, and the JavaScript client library (client/js) chats
// over each transport with a WebSocket user.
//
//   PARLEY_GATEWAY_BIN=build/release/gateway/parley-gateway \
//     node --test tests/js/http_transports.test.mjs
//
// Every wait is bounded: polls carry a short `wait`, streams are read with
// a deadline.

import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, test, before, after } from 'node:test';
import { fileURLToPath } from 'node:url';

import { need, startGateway } from './gateway.mjs';
import { ParleyClient, SseParser } from '../../client/js/src/index.js';

const WebSocket = await need('ws');

const test_ms = 30_000;

// -- the endpoints by hand ------------------------------------------------------------

/// Opens a session; resolves to { session, key, base, headers }.
async function open(gw, init = {}) {
  const r = await fetch(`${gw.url}/v1/sessions`, { method: 'POST', ...init });
  assert.equal(r.status, 201, await r.clone().text());
  const j = await r.json();
  assert.match(j.session, /^[0-9a-f]{32}$/);
  assert.match(j.key, /^[0-9a-f]{32}$/);
  assert.notEqual(j.session, j.key);
  return { ...j, base: `${gw.url}/v1/sessions/${j.session}`, headers: { 'X-Parley-Key': j.key },
           cookie: r.headers.get('set-cookie') };
}

async function send(s, body, { headers = s.headers, raw = false, query = '' } = {}) {
  const r = await fetch(`${s.base}/send${query}`, {
    method: 'POST', headers: { 'Content-Type': 'application/json', ...headers },
    body: raw ? body : JSON.stringify(body),
  });
  return { status: r.status, body: await r.json() };
}

async function poll(s, ack = 0, { wait = 2000, headers = s.headers } = {}) {
  const r = await fetch(`${s.base}/poll?ack=${ack}&wait=${wait}`, { headers });
  return { status: r.status, body: await r.json() };
}

/// Polls (acknowledging as it goes) until `pred(frame)` holds; returns
/// { frame, frames: every frame seen, last }.
async function pollUntil(s, pred, { from = 0, deadline = Date.now() + 8000 } = {}) {
  let ack = from;
  const seen = [];
  while (Date.now() < deadline) {
    const { status, body } = await poll(s, ack, { wait: 1000 });
    assert.equal(status, 200, JSON.stringify(body));
    seen.push(...body.frames);
    ack = body.last;
    const hit = body.frames.find(pred);
    if (hit || body.close)
      return { frame: hit, frames: seen, last: ack, close: body.close };
  }
  throw new Error(`no such frame within the deadline; saw ${JSON.stringify(seen)}`);
}

/// Says hello as `user` (and joins `room`, then waits for the presence diff
/// that names it, which comes ~200 ms later); returns the cursor after it.
async function hello(s, user, room) {
  const frames = [{ ref: 'h', hello: { user } }];
  if (room)
    frames.push({ ref: 'j', join: { room } });
  assert.equal((await send(s, frames)).status, 202);
  const { last } = await pollUntil(s, room ? (f) => f.presence?.joined?.includes(user)
                                            : (f) => f.ref === 'h');
  return last;
}

/// Two polls from `cursor` at once, each waiting up to 20 s. Whichever the
/// gateway saw first is answered at once, superseded, by the other: its
/// answer is the event that proves the other one waits. Resolves to
/// { superseded: that answer, waiting: the other poll's promise }.
async function twoPolls(s, cursor) {
  const polls = [poll(s, cursor, { wait: 20_000 }), poll(s, cursor, { wait: 20_000 })];
  const first = await Promise.race(polls.map((p, i) => p.then((r) => ({ r, i }))));
  return { superseded: first.r, waiting: polls[1 - first.i] };
}

/// Reads an event stream until `enough(events)` or the deadline; returns the
/// events ({ type, data, lastEventId }) and aborts the request.
async function readEvents(url, headers, enough, { ms = 5000 } = {}) {
  const ac = new AbortController();
  const timer = setTimeout(() => ac.abort(), ms);
  const events = [];
  try {
    const r = await fetch(url, { headers, signal: ac.signal });
    assert.equal(r.status, 200);
    assert.match(r.headers.get('content-type'), /^text\/event-stream/);
    const parser = new SseParser((ev) => events.push(ev));
    for await (const chunk of r.body) {
      parser.feed(chunk);
      if (enough(events))
        break;
    }
  } catch (e) {
    if (e.name !== 'AbortError')
      throw e;
  } finally {
    clearTimeout(timer);
    ac.abort();
  }
  return events;
}

// -- the protocol ---------------------------------------------------------------------

describe('long-polling', { timeout: 120_000 }, () => {
  let gw;
  before(async () => {
    gw = await startGateway(['--store=memory', '--auth=none', '--rate-limit=1000', '--rate-burst=1000']);
  });
  after(async () => {
    await gw?.stop();
  });

  test('a session says hello, joins, publishes and reads its frames in order', { timeout: test_ms }, async () => {
    const s = await open(gw);
    assert.equal((await send(s, [{ ref: '1', hello: { user: 'ann' } },
                                 { ref: '2', join: { room: 'lp-basic' } }])).status, 202);
    const { frames, last } = await pollUntil(s, (f) => f.ref === '2');
    assert.equal(frames[0].ref, '1');
    assert.equal(frames[0].ack.welcome.user, 'ann');
    assert.equal(frames[0].ack.welcome.sessionId, s.session);
    assert.deepEqual(frames[1].ack.joined.members, ['ann']);
    assert.equal(last, 2);
    const r = await send(s, { ref: '3', publish: { room: 'lp-basic', text: 'hi' } });
    assert.deepEqual(r, { status: 202, body: { accepted: 1 } });
    const got = await pollUntil(s, (f) => f.ref === '3', { from: last });
    const msg = got.frames.find((f) => f.message);
    assert.equal(msg.message.text, 'hi');
    assert.equal(got.frame.ack.published.seq, msg.message.seq);
  });

  test('a lost poll answer loses nothing: the same ack gets the same frames', { timeout: test_ms }, async () => {
    const s = await open(gw);
    const cursor = await hello(s, 'lost', 'lp-lost');
    await send(s, [{ ref: 'a', ping: {} }, { ref: 'b', ping: {} }]);
    // Without acknowledging: poll from the same cursor until both replies are there.
    let first;
    for (const deadline = Date.now() + 8000; ;) {
      first = await poll(s, cursor);
      assert.equal(first.status, 200);
      if (first.body.frames.some((f) => f.ref === 'b') || Date.now() > deadline)
        break;
    }
    assert.deepEqual(first.body.frames.map((f) => f.ref), ['a', 'b']);
    // The answer "got lost": poll again with the old ack.
    const again = await poll(s, cursor);
    assert.deepEqual(again.body, first.body);
    // Acknowledged, they are gone; nothing new comes.
    const after = await poll(s, first.body.last, { wait: 200 });
    assert.deepEqual(after.body, { last: first.body.last, frames: [] });
  });

  test('a second poll on a session answers the first at once, superseded', { timeout: test_ms }, async () => {
    const s = await open(gw);
    const cursor = await hello(s, 'twice', 'lp-twice');
    const started = Date.now();
    const { superseded, waiting } = await twoPolls(s, cursor);
    assert.ok(Date.now() - started < 5000, 'the older poll was answered when the newer came');
    assert.deepEqual(superseded.body, { last: cursor, frames: [], superseded: true });
    // The newer poll is the one that gets the next frame.
    await send(s, { ref: 'p', ping: {} });
    const a2 = await waiting;
    assert.equal(a2.status, 200);
    assert.deepEqual(a2.body.frames.map((f) => f.ref), ['p']);
  });

  test("no one reads someone else's session: an id without its key is refused", { timeout: test_ms }, async () => {
    const victim = await open(gw);
    const cursor = await hello(victim, 'victim', 'lp-private');
    await send(victim, { ref: 's', publish: { room: 'lp-private', text: 'secret' } });
    const thief = await open(gw);
    for (const headers of [{}, thief.headers, { 'X-Parley-Key': victim.key.replace(/.$/, (c) => (c === '0' ? '1' : '0')) }]) {
      const r = await poll(victim, cursor, { headers, wait: 100 });
      assert.equal(r.status, 403, JSON.stringify(r.body));
      assert.equal(r.body.error, 'forbidden');
      const w = await send(victim, { ref: 'x', publish: { room: 'lp-private', text: 'forged' } }, { headers });
      assert.equal(w.status, 403);
    }
    // Someone else's cookie does not open it either; its own does.
    const name = `parley_key_${victim.session}`;
    assert.ok(victim.cookie.startsWith(`${name}=${victim.key};`), victim.cookie);
    assert.match(victim.cookie, /HttpOnly/);
    assert.match(victim.cookie, /SameSite=Strict/);
    assert.match(victim.cookie, new RegExp(`Path=/v1/sessions/${victim.session}`));
    assert.equal((await poll(victim, cursor, { headers: { Cookie: `${name}=${thief.key}` }, wait: 100 })).status, 403);
    const own = await poll(victim, cursor, { headers: { Cookie: `${name}=${victim.key}` } });
    assert.equal(own.status, 200);
    // The victim's frames are all there, nothing forged among them.
    const texts = (await pollUntil(victim, (f) => f.ref === 's', { from: cursor })).frames
      .filter((f) => f.message).map((f) => f.message.text);
    assert.deepEqual(texts, ['secret']);
    // An id that never was.
    const r = await fetch(`${gw.url}/v1/sessions/${'0'.repeat(32)}/poll`, { headers: victim.headers });
    assert.equal(r.status, 404);
    assert.equal((await r.json()).error, 'unknown_session');
  });

  test('bad bodies and parameters get a clear error and leave the session as it was', { timeout: test_ms }, async () => {
    const s = await open(gw);
    const cursor = await hello(s, 'careless', 'lp-bad');
    const cases = [
      ['not json', 'not json'],
      ['{"ref":"1","hello":', 'truncated'],
      ['42', 'a number'],
      ['[]', 'an empty array'],
      ['[{"ref":"1","ping":{}}, 7]', 'an array with a non-object'],
    ];
    for (const [body, what] of cases) {
      const r = await send(s, body, { raw: true });
      assert.equal(r.status, 400, what);
      assert.equal(r.body.error, 'bad_request', what);
      assert.equal(typeof r.body.reason, 'string', what);
    }
    // Nothing of the refused bodies was delivered (the first case's ping included).
    assert.deepEqual((await poll(s, cursor, { wait: 200 })).body.frames, []);
    // A frame the protocol refuses is delivered and answered with the protocol's error.
    const r = await send(s, [{ ref: 'm', jion: { room: 'lp-bad' } }, { ref: 'ok', ping: {} }]);
    assert.equal(r.status, 202);
    const { frames } = await pollUntil(s, (f) => f.ref === 'ok', { from: cursor });
    assert.equal(frames[0].ref, 'm');
    assert.equal(frames[0].error.code, 'ERROR_CODE_UNKNOWN_FIELD');
    // Oversize: over --max-frame-bytes (64 KiB by default).
    const big = await fetch(`${s.base}/send`, {
      method: 'POST', headers: s.headers,
      body: JSON.stringify({ ref: 'big', publish: { room: 'lp-bad', text: 'x'.repeat(70_000) } }),
    });
    assert.equal(big.status, 413);
    assert.equal((await big.json()).error, 'too_large');
    // Bad cursors and waits.
    for (const q of ['ack=abc', 'ack=-1', 'ack=999999', 'ack=1&wait=soon']) {
      const b = await fetch(`${s.base}/poll?${q}`, { headers: s.headers });
      assert.equal(b.status, 400, q);
    }
    // Wrong methods.
    assert.equal((await fetch(`${s.base}/send`, { headers: s.headers })).status, 405);
    assert.equal((await fetch(`${s.base}/poll`, { method: 'POST', headers: s.headers, body: '{}' })).status, 405);
    assert.equal((await fetch(`${gw.url}/v1/sessions`)).status, 405);
    // Still working.
    await send(s, { ref: 'alive', ping: {} });
    assert.ok((await pollUntil(s, (f) => f.ref === 'alive')).frame.ack.pong);
  });

  test('a page from another origin may not open a session', { timeout: test_ms }, async () => {
    const r = await fetch(`${gw.url}/v1/sessions`, { method: 'POST', headers: { Origin: 'https://evil.example' } });
    assert.equal(r.status, 403);
    assert.equal((await r.json()).error, 'forbidden');
    const own = await fetch(`${gw.url}/v1/sessions`, { method: 'POST', headers: { Origin: gw.url } });
    assert.equal(own.status, 201);
  });

  test("docs/protocol.md's examples have the shape of the real answers", { timeout: test_ms }, async () => {
    const here = path.dirname(fileURLToPath(import.meta.url));
    const doc = await readFile(path.join(here, '..', '..', 'docs', 'protocol.md'), 'utf8');
    const sec = doc.split('\n## Without WebSockets: long-polling and Server-Sent Events\n')[1]?.split('\n## ')[0];
    assert.ok(sec, 'docs/protocol.md lacks the section');
    const examples = [...sec.matchAll(/\n```json\n([\s\S]*?)\n```\n/g)].map((m) => JSON.parse(m[1]));
    assert.equal(examples.length, 4);
    const keys = (o) => Object.keys(o).sort();
    // Opening.
    const r = await fetch(`${gw.url}/v1/sessions`, { method: 'POST' });
    const opened = await r.json();
    assert.deepEqual(keys(examples[0]), keys(opened));
    const s = { ...opened, base: `${gw.url}/v1/sessions/${opened.session}`, headers: { 'X-Parley-Key': opened.key } };
    // A poll with frames: the welcome, as in the example.
    await send(s, { ref: '1', hello: { user: 'ann' } });
    const answer = (await poll(s, 0)).body;
    assert.deepEqual(keys(examples[1]), keys(answer));
    assert.deepEqual(keys(examples[1].frames[0]), keys(answer.frames[0]));
    assert.deepEqual(keys(examples[1].frames[0].ack.welcome).filter((k) => k in answer.frames[0].ack.welcome),
                     keys(examples[1].frames[0].ack.welcome));
    // A close, and an HTTP error.
    assert.deepEqual(keys(examples[2]), ['close', 'frames', 'last']);
    assert.deepEqual(keys(examples[2].close), ['code', 'reason']);
    const refused = await poll(s, 0, { headers: {} });
    assert.deepEqual(keys(examples[3]), keys(refused.body));
    assert.equal(examples[3].error, refused.body.error);
  });

  test('DELETE ends the session: its id answers 404 from then on', { timeout: test_ms }, async () => {
    const s = await open(gw);
    await hello(s, 'leaver', 'lp-delete');
    const d = await fetch(s.base, { method: 'DELETE', headers: s.headers });
    assert.equal(d.status, 204);
    assert.equal((await poll(s, 0)).status, 404);
    assert.equal((await send(s, { ref: 'z', ping: {} })).status, 404);
  });
});

describe('a page of another origin (CORS)', { timeout: 60_000 }, () => {
  test('an allowed origin is answered with CORS headers, preflight included; others are refused', { timeout: test_ms }, async () => {
    const app = 'https://app.example';
    const gw = await startGateway(['--store=memory', '--auth=none', `--allowed-origins=${app}`]);
    try {
      const pre = await fetch(`${gw.url}/v1/sessions/x/send`, {
        method: 'OPTIONS',
        headers: { Origin: app, 'Access-Control-Request-Method': 'POST',
                   'Access-Control-Request-Headers': 'content-type, x-parley-key' },
      });
      assert.equal(pre.status, 204);
      assert.equal(pre.headers.get('access-control-allow-origin'), app);
      assert.match(pre.headers.get('access-control-allow-methods'), /POST/);
      assert.match(pre.headers.get('access-control-allow-headers').toLowerCase(), /x-parley-key/);
      const r = await fetch(`${gw.url}/v1/sessions`, { method: 'POST', headers: { Origin: app } });
      assert.equal(r.status, 201);
      assert.equal(r.headers.get('access-control-allow-origin'), app);
      const s = await r.json();
      const base = `${gw.url}/v1/sessions/${s.session}`;
      const sent = await fetch(`${base}/send`, { method: 'POST', headers: { Origin: app, 'X-Parley-Key': s.key },
                                                 body: JSON.stringify({ ref: 'h', hello: { user: 'cors' } }) });
      assert.equal(sent.status, 202);
      assert.equal(sent.headers.get('access-control-allow-origin'), app);
      // An EventSource of that page sends the key in the query.
      const ac = new AbortController();
      const ev = await fetch(`${base}/events?key=${s.key}`, { headers: { Origin: app }, signal: ac.signal });
      assert.equal(ev.status, 200);
      assert.equal(ev.headers.get('access-control-allow-origin'), app);
      ac.abort();
      // Another page gets nothing, preflight or not.
      for (const method of ['OPTIONS', 'POST']) {
        const no = await fetch(`${gw.url}/v1/sessions`, { method, headers: { Origin: 'https://evil.example' } });
        assert.equal(no.status, 403, method);
        assert.equal(no.headers.get('access-control-allow-origin'), null);
      }
    } finally {
      await gw.stop();
    }
  });
});

describe('long-polling limits', { timeout: 120_000 }, () => {
  test('a session nobody polls is closed after --session-idle-timeout', { timeout: test_ms }, async () => {
    const gw = await startGateway(['--store=memory', '--auth=none', '--session-idle-timeout=1',
                                   '--public-metrics']);
    try {
      const s = await open(gw);
      await hello(s, 'sleepy');
      // Watched from /metrics, which does not touch the session.
      let m = '';
      for (const deadline = Date.now() + 10_000; Date.now() < deadline;) {
        m = await (await fetch(`${gw.url}/metrics`)).text();
        if (/parley_gateway_http_sessions 0\n/.test(m))
          break;
        await new Promise((r) => setTimeout(r, 100));
      }
      assert.match(m, /parley_gateway_dropped_total\{reason="idle_timeout"\} 1/);
      assert.match(m, /parley_gateway_http_sessions 0/);
      assert.equal((await poll(s, 0)).status, 404);
    } finally {
      await gw.stop();
    }
  });

  test('a session that stops polling is closed as a slow consumer at the outbound bound', { timeout: test_ms }, async () => {
    const gw = await startGateway(['--store=memory', '--auth=none', '--outbound-frames=16',
                                   '--rate-limit=1000', '--rate-burst=1000', '--public-metrics']);
    try {
      const slow = await open(gw);
      const cursor = await hello(slow, 'slow', 'lp-slow');
      const fast = await open(gw);
      await hello(fast, 'fast', 'lp-slow');
      // The publisher reads its own frames as they come (4 at a time, within
      // the bound of 16); the slow one reads nothing.
      let ack = 0;
      for (let i = 0; i < 20; i += 2) {
        const batch = [i, i + 1].map((k) => ({ ref: `p${k}`, publish: { room: 'lp-slow', text: `m${k}` } }));
        assert.equal((await send(fast, batch)).status, 202);
        ack = (await pollUntil(fast, (f) => f.ref === `p${i + 1}`, { from: ack })).last;
      }
      // What the slow one gets: the close, said once, then 404.
      const r = await poll(slow, cursor);
      assert.equal(r.status, 200);
      assert.equal(r.body.close.code, 1008);
      assert.match(r.body.close.reason, /slow consumer/);
      assert.equal((await poll(slow, r.body.last)).status, 404);
      // Only the slow one: the publisher goes on.
      const m = await (await fetch(`${gw.url}/metrics`)).text();
      assert.match(m, /parley_slow_consumer_disconnects_total 1\n/);
      await send(fast, { ref: 'still', ping: {} });
      assert.ok((await pollUntil(fast, (f) => f.ref === 'still', { from: ack })).frame.ack.pong);
    } finally {
      await gw.stop();
    }
  });

  test('a flood of posts meets the rate limit, then close 1008', { timeout: test_ms }, async () => {
    const gw = await startGateway(['--store=memory', '--auth=none', '--rate-limit=5', '--rate-burst=5',
                                   '--rate-strikes=10']);
    try {
      const s = await open(gw);
      await hello(s);
      let accepted = 0;
      for (let i = 0; i < 40; ++i) {
        const r = await send(s, { ref: `f${i}`, ping: {} });
        if (r.status === 202)
          ++accepted;
      }
      assert.ok(accepted > 0);
      const { frames, close } = await pollUntil(s, () => false);
      const limited = frames.filter((f) => f.error?.code === 'ERROR_CODE_RATE_LIMITED');
      assert.ok(limited.length >= 10, `${limited.length} refused`);
      assert.ok(frames.filter((f) => f.ack?.pong).length <= 6, 'at most the burst got through');
      assert.deepEqual(close, { code: 1008, reason: 'rate limit exceeded' });
    } finally {
      await gw.stop();
    }
  });

  test('a drain answers a waiting poll with close 1001', { timeout: test_ms }, async () => {
    const gw = await startGateway(['--store=memory', '--auth=none']);
    const s = await open(gw);
    const cursor = await hello(s, 'drained');
    const { waiting } = await twoPolls(s, cursor);
    const stopped = gw.stop();
    const r = await waiting;
    assert.equal(r.body.close.code, 1001);
    assert.equal((await stopped).code, 0);
  });
});

describe('Server-Sent Events', { timeout: 120_000 }, () => {
  test('frames arrive as events; Last-Event-ID resumes after the last one seen', { timeout: test_ms }, async () => {
    const gw = await startGateway(['--store=memory', '--auth=none']);
    try {
      const s = await open(gw);
      await send(s, [{ ref: 'h', hello: { user: 'sse' } }, { ref: 'j', join: { room: 'sse-room' } },
                     { ref: '1', publish: { room: 'sse-room', text: 'one' } }]);
      const url = `${s.base}/events`;
      const first = await readEvents(url, s.headers, (evs) => evs.some((e) => JSON.parse(e.data).ref === '1'));
      const frames = first.map((e) => JSON.parse(e.data));
      assert.deepEqual(first.map((e) => Number(e.lastEventId)), frames.map((_, i) => i + 1));
      assert.equal(frames[0].ack.welcome.user, 'sse');
      // The stream was cut after event 2; a reconnect with Last-Event-ID: 2
      // gets 3 onward, and what comes after.
      await send(s, { ref: '2', publish: { room: 'sse-room', text: 'two' } });
      const again = await readEvents(url, { ...s.headers, 'Last-Event-ID': '2' },
                                     (evs) => evs.some((e) => JSON.parse(e.data).ref === '2'));
      assert.equal(Number(again[0].lastEventId), 3);
      const texts = again.map((e) => JSON.parse(e.data)).filter((f) => f.message).map((f) => f.message.text);
      assert.deepEqual(texts, ['one', 'two']);
      // The key may come in the query (an EventSource on another origin);
      // without it the stream is refused.
      const refused = await fetch(url);
      assert.equal(refused.status, 403);
      const byQuery = await readEvents(`${url}?key=${s.key}`, {}, (evs) => evs.length > 0, { ms: 1500 });
      assert.ok(Array.isArray(byQuery));
    } finally {
      await gw.stop();
    }
  });

  test('a resume point older than what is kept ends the session with a close event', { timeout: test_ms }, async () => {
    const gw = await startGateway(['--store=memory', '--auth=none', '--outbound-frames=4',
                                   '--rate-limit=1000', '--rate-burst=1000']);
    try {
      const s = await open(gw);
      const frames = [{ ref: 'h', hello: { user: 'forgetful' } }];
      for (let i = 0; i < 10; ++i)
        frames.push({ ref: `p${i}`, ping: {} });
      await send(s, frames.slice(0, 1));
      const url = `${s.base}/events`;
      // Stream everything, each ping sent once the stream carried the frame
      // before it (the stream keeps only the last 4 for a resume; frames
      // not streamed yet would count against the bound).
      let sent = 1;
      const sends = [];
      const streamed = await readEvents(url, s.headers, (evs) => {
        for (; sent < frames.length && sent <= evs.length; ++sent)
          sends.push(send(s, frames[sent]));
        return evs.length >= 11;
      });
      assert.deepEqual((await Promise.all(sends)).map((r) => r.status), Array(10).fill(202));
      assert.equal(streamed.length, 11);
      const late = await readEvents(url, { ...s.headers, 'Last-Event-ID': '1' }, (evs) => evs.some((e) => e.type === 'close'));
      const close = late.find((e) => e.type === 'close');
      assert.ok(close, JSON.stringify(late));
      assert.equal(JSON.parse(close.data).code, 1008);
      assert.match(JSON.parse(close.data).reason, /resume point lost/);
    } finally {
      await gw.stop();
    }
  });

  test('an empty send with ?ack= acknowledges what the stream carried, and frees it', { timeout: test_ms }, async () => {
    const gw = await startGateway(['--store=memory', '--auth=none', '--public-metrics']);
    try {
      const s = await open(gw);
      await send(s, [{ ref: 'h', hello: { user: 'acker' } }, { ref: 'p', ping: {} }]);
      const events = await readEvents(`${s.base}/events`, s.headers, (evs) => evs.length >= 2);
      assert.equal(events.length, 2);
      const queued = async () => Number(/\nparley_gateway_outbound_queued_frames (\d+)/
        .exec(await (await fetch(`${gw.url}/metrics`)).text())?.[1]);
      assert.equal(await queued(), 2, 'kept for a resume');
      const r = await send(s, [], { query: '?ack=2' });
      assert.deepEqual(r, { status: 202, body: { accepted: 0 } });
      assert.equal(await queued(), 0);
      assert.equal((await send(s, [], { query: '?ack=9' })).status, 400, 'a frame never sent');
    } finally {
      await gw.stop();
    }
  });
});

// -- the library over each transport ----------------------------------------------------

describe('the JavaScript client over each transport', { timeout: 120_000 }, () => {
  let gw;
  before(async () => {
    gw = await startGateway(['--store=memory', '--auth=none']);
  });
  after(async () => {
    await gw?.stop();
  });

  for (const transport of ['longpoll', 'sse']) {
    test(`a ${transport} user and a WebSocket user chat in one room`, { timeout: test_ms }, async () => {
      const room = `lib-${transport}`;
      const storage = new Map();
      const mem = { getItem: (k) => storage.get(k) ?? null, setItem: (k, v) => storage.set(k, v) };
      const http = new ParleyClient({ url: gw.url, user: `h-${transport}`, transports: [transport], storage: mem });
      const ws = new ParleyClient({ url: gw.url, user: `w-${transport}`, WebSocket, transports: ['websocket'], storage: mem });
      const got = { http: [], ws: [] };
      http.on('message', (m) => got.http.push(m.text));
      ws.on('message', (m) => got.ws.push(m.text));
      try {
        await http.connect();
        assert.equal(http.transport, transport);
        await ws.connect();
        assert.equal(ws.transport, 'websocket');
        await http.join(room);
        await ws.join(room);
        await http.publish(room, 'from http');
        await ws.publish(room, 'from ws');
        const deadline = Date.now() + 5000;
        while ((got.http.length < 2 || got.ws.length < 2 || http.members(room).length < 2)
               && Date.now() < deadline)
          await new Promise((r) => setTimeout(r, 50));
        assert.deepEqual(got.http, ['from http', 'from ws']);
        assert.deepEqual(got.ws, ['from http', 'from ws']);
        assert.deepEqual([...http.members(room)].sort(), [`h-${transport}`, `w-${transport}`].sort());
      } finally {
        await http.close();
        await ws.close();
      }
    });
  }

  test('without a working WebSocket the client falls back by itself and remembers it', { timeout: test_ms }, async () => {
    const storage = new Map();
    const mem = { getItem: (k) => storage.get(k) ?? null, setItem: (k, v) => storage.set(k, v) };
    // A WebSocket class that never connects (as behind a proxy that refuses upgrades).
    class Refused extends WebSocket {
      constructor(url, ...rest) {
        super(url.replace('/ws', '/no-websocket-here'), ...rest);
      }
    }
    const c = new ParleyClient({ url: gw.url, user: 'fallback', WebSocket: Refused, connectTimeoutMs: 2000, storage: mem });
    try {
      await c.connect();
      assert.equal(c.transport, 'sse');
      assert.ok([...storage.values()].includes('sse'), JSON.stringify([...storage]));
    } finally {
      await c.close();
    }
  });
});
