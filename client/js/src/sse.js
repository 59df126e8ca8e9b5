// A parser for text/event-stream (the HTML standard's "event stream
// interpretation"), for runtimes without EventSource (Node.js) and for
// streams read with fetch so that headers can be sent.

/**
 * @typedef {object} SseEvent
 * @property {string} type  the `event:` field, 'message' when there is none
 * @property {string} data  the `data:` lines joined with '\n'
 * @property {string} lastEventId  the last `id:` seen on the stream so far
 */

/**
 * Feed it chunks (strings or bytes, cut anywhere, even inside a UTF-8
 * sequence or between CR and LF); it calls `onevent` for each complete event
 * and `onretry` for each `retry:` field. Comments (`: ...`) are skipped.
 */
export class SseParser {
  /**
   * @param {(ev: SseEvent) => void} onevent
   * @param {(ms: number) => void} [onretry]
   */
  constructor(onevent, onretry = () => {}) {
    this.onevent = onevent;
    this.onretry = onretry;
    this.lastEventId = '';
    this._decoder = new TextDecoder('utf-8');
    this._buf = '';
    this._data = '';
    this._type = '';
    this._start = true; // a BOM may open the stream
    this._skipLf = false; // the last chunk ended in CR: a LF first in the next belongs to it
  }

  /** @param {string|Uint8Array|ArrayBuffer} chunk */
  feed(chunk) {
    let text = typeof chunk === 'string'
      ? chunk
      : this._decoder.decode(chunk instanceof ArrayBuffer ? new Uint8Array(chunk) : chunk, { stream: true });
    if (!text)
      return;
    if (this._start) {
      this._start = false;
      if (text.charCodeAt(0) === 0xfeff)
        text = text.slice(1);
    }
    if (this._skipLf) {
      this._skipLf = false;
      if (text[0] === '\n')
        text = text.slice(1);
    }
    this._buf += text;
    let from = 0;
    for (;;) {
      const cr = this._buf.indexOf('\r', from);
      const lf = this._buf.indexOf('\n', from);
      if (cr < 0 && lf < 0)
        break;
      let end;
      let next;
      if (lf >= 0 && (cr < 0 || lf < cr)) {
        end = lf;
        next = lf + 1;
      } else {
        end = cr;
        if (cr + 1 < this._buf.length) {
          next = this._buf[cr + 1] === '\n' ? cr + 2 : cr + 1;
        } else {
          next = cr + 1;
          this._skipLf = true;
        }
      }
      this._line(this._buf.slice(from, end));
      from = next;
    }
    this._buf = this._buf.slice(from);
  }

  /**
   * The stream ended: an event not closed by a blank line is dropped, as the
   * standard says.
   */
  end() {
    this._buf = '';
    this._data = '';
    this._type = '';
    this._skipLf = false;
  }

  /** @param {string} line */
  _line(line) {
    if (line === '') {
      this._dispatch();
      return;
    }
    if (line[0] === ':')
      return; // a comment (keep-alive)
    const colon = line.indexOf(':');
    let field = line;
    let value = '';
    if (colon >= 0) {
      field = line.slice(0, colon);
      value = line.slice(colon + 1);
      if (value[0] === ' ')
        value = value.slice(1);
    }
    switch (field) {
      case 'event':
        this._type = value;
        break;
      case 'data':
        this._data += `${value}\n`;
        break;
      case 'id':
        if (!value.includes('\0'))
          this.lastEventId = value;
        break;
      case 'retry':
        if (/^[0-9]+$/.test(value))
          this.onretry(Number(value));
        break;
      default:
        break; // ignored, as the standard says
    }
  }

  _dispatch() {
    if (this._data === '') {
      this._type = '';
      return;
    }
    const ev = {
      type: this._type || 'message',
      data: this._data.slice(0, -1),
      lastEventId: this.lastEventId,
    };
    this._data = '';
    this._type = '';
    this.onevent(ev);
  }
}
