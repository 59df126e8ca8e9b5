import assert from 'node:assert/strict';
import { test } from 'node:test';

import { SseParser } from '../src/index.js';

function parseAll(chunks) {
  const events = [];
  const retries = [];
  const p = new SseParser((ev) => events.push(ev), (ms) => retries.push(ms));
  for (const c of chunks)
    p.feed(c);
  p.end();
  return { events, retries };
}

const stream = [
  'retry: 1000',
  '',
  'id: 1',
  'data: {"ref":"1","ack":{"welcome":{"sessionId":"7","user":"~ann"}}}',
  '',
  ': keep-alive',
  '',
  'id: 2',
  'data: {"message":{"room":"lobby","seq":"1","text":"héllo 会議室"}}',
  '',
  'data: line one',
  'data: line two',
  '',
  'event: close',
  'data: {"code":1001,"reason":"server shutting down"}',
  '',
  '',
].join('\n');

const expected = [
  { type: 'message', data: '{"ref":"1","ack":{"welcome":{"sessionId":"7","user":"~ann"}}}', lastEventId: '1' },
  { type: 'message', data: '{"message":{"room":"lobby","seq":"1","text":"héllo 会議室"}}', lastEventId: '2' },
  { type: 'message', data: 'line one\nline two', lastEventId: '2' },
  { type: 'close', data: '{"code":1001,"reason":"server shutting down"}', lastEventId: '2' },
];

test('parses ids, events, multi-line data, comments and retry', () => {
  const { events, retries } = parseAll([stream]);
  assert.deepEqual(events, expected);
  assert.deepEqual(retries, [1000]);
});

test('the same events whatever the chunk boundaries (every split point, and one char at a time)', () => {
  for (let i = 0; i <= stream.length; ++i)
    assert.deepEqual(parseAll([stream.slice(0, i), stream.slice(i)]).events, expected, `split at ${i}`);
  for (let i = 0; i < stream.length; i += 7)
    for (let j = i; j <= stream.length; j += 11)
      assert.deepEqual(parseAll([stream.slice(0, i), stream.slice(i, j), stream.slice(j)]).events, expected,
                       `splits at ${i}, ${j}`);
  assert.deepEqual(parseAll([...stream]).events, expected);
});

test('CRLF, CR and LF line ends alike, a CRLF cut between its CR and LF included', () => {
  for (const eol of ['\r\n', '\r']) {
    const s = stream.replaceAll('\n', eol);
    assert.deepEqual(parseAll([s]).events, expected, JSON.stringify(eol));
    for (let i = 0; i <= s.length; ++i)
      assert.deepEqual(parseAll([s.slice(0, i), s.slice(i)]).events, expected, `${JSON.stringify(eol)} split at ${i}`);
  }
  // A CR ending a chunk, its LF starting the next: one line end, not two
  // (two would dispatch "a" alone).
  assert.deepEqual(parseAll(['data: a\r', '\ndata: b\r\n\r\n']).events,
                   [{ type: 'message', data: 'a\nb', lastEventId: '' }]);
});

test('bytes cut inside a UTF-8 sequence are decoded whole', () => {
  const bytes = new TextEncoder().encode(stream);
  for (let i = 0; i < bytes.length; i += 3) {
    const { events } = parseAll([bytes.subarray(0, i), bytes.subarray(i)]);
    assert.deepEqual(events, expected, `byte split at ${i}`);
  }
  const one = [];
  for (const b of bytes)
    one.push(new Uint8Array([b]));
  assert.deepEqual(parseAll(one).events, expected);
});

test('edge cases of the format', () => {
  // A BOM at the start is skipped; no space after the colon is fine; a line
  // without a colon is a field with an empty value; unknown fields and
  // events without data are dropped; an unfinished event at the end is dropped.
  const { events, retries } = parseAll(['\uFEFFdata:x\n\nevent: ping\n\ndata\ndata\n\nfoo: bar\nid: 9\n\nretry: soon\ndata: last']);
  assert.deepEqual(events, [
    { type: 'message', data: 'x', lastEventId: '' },
    { type: 'message', data: '\n', lastEventId: '' },
  ]);
  assert.deepEqual(retries, []);
  // The id outlives its event (here: set by an event without data).
  const r = parseAll(['id: 5\n\ndata: a\n\n']);
  assert.deepEqual(r.events, [{ type: 'message', data: 'a', lastEventId: '5' }]);
  // Only the first space after the colon is removed.
  assert.deepEqual(parseAll(['data:  two spaces\n\n']).events[0].data, ' two spaces');
});
