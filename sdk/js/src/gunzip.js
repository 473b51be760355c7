// Capped gunzip in plain JavaScript (no dependency, no streams: the plugin's
// exports are synchronous and a component has no zlib): gzip members
// (RFC 1952) around DEFLATE (RFC 1951), decoded the way zlib's `puff.c`
// does. The output never grows past the cap, whatever the input.

/** The gzip magic bytes (RFC 1952). */
export const GZIP_MAGIC = Object.freeze([0x1f, 0x8b]);

/** A record that cannot be transformed: `throw new RecordError(reason)`
 * fails that record only, with the reason in its dead letter. */
export class RecordError extends Error {
  /** @param {string} reason */
  constructor(reason) {
    super(reason);
    this.name = 'RecordError';
  }
}

/** `gunzipCapped` refused its input: past the cap, or not gzip. */
export class GunzipError extends RecordError {
  /** @param {string} reason */
  constructor(reason) {
    super(reason);
    this.name = 'GunzipError';
  }
}

/** Whether `data` starts like a gzip stream. @param {Uint8Array} data */
export function isGzip(data) {
  return data.length >= 2 && data[0] === 0x1f && data[1] === 0x8b;
}

const invalid = (why) => new GunzipError(`invalid gzip data: ${why}`);

/** A byte buffer that refuses to grow past `cap`. */
class Output {
  constructor(cap, hint) {
    this.cap = cap;
    this.buf = new Uint8Array(Math.max(64, Math.min(cap, hint)));
    this.len = 0;
  }
  room(n) {
    if (this.len + n > this.cap) {
      throw new GunzipError(`gzip data decompresses to more than the cap of ${this.cap} bytes`);
    }
    if (this.len + n > this.buf.length) {
      let size = this.buf.length * 2;
      while (size < this.len + n) size *= 2;
      const bigger = new Uint8Array(Math.min(size, this.cap));
      bigger.set(this.buf.subarray(0, this.len));
      this.buf = bigger;
    }
  }
  push(byte) {
    if (this.len === this.buf.length) this.room(1);
    else if (this.len >= this.cap) this.room(1);
    this.buf[this.len++] = byte;
  }
}

/** LSB-first bit reader over `data` from `pos`. */
class Bits {
  constructor(data, pos) {
    this.data = data;
    this.pos = pos;
    this.buf = 0;
    this.cnt = 0;
  }
  need(n) {
    let val = this.buf;
    while (this.cnt < n) {
      if (this.pos >= this.data.length) throw invalid('unexpected end of file');
      val |= this.data[this.pos++] << this.cnt;
      this.cnt += 8;
    }
    this.buf = val >>> n;
    this.cnt -= n;
    return val & ((1 << n) - 1);
  }
}

const MAXBITS = 15;
const LBASE = [3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 15, 17, 19, 23, 27, 31, 35, 43, 51, 59, 67, 83, 99, 115, 131, 163, 195, 227, 258];
const LEXT = [0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 0];
const DBASE = [1, 2, 3, 4, 5, 7, 9, 13, 17, 25, 33, 49, 65, 97, 129, 193, 257, 385, 513, 769, 1025, 1537, 2049, 3073, 4097, 6145, 8193, 12289, 16385, 24577];
const DEXT = [0, 0, 0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7, 8, 8, 9, 9, 10, 10, 11, 11, 12, 12, 13, 13];
const ORDER = [16, 17, 18, 0, 8, 7, 9, 6, 10, 5, 11, 4, 12, 3, 13, 2, 14, 1, 15];

/** A canonical Huffman code from code lengths; `left` > 0: incomplete, < 0: over-subscribed. */
function huffman(lengths) {
  const count = new Uint16Array(MAXBITS + 1);
  const symbol = new Uint16Array(lengths.length);
  for (const l of lengths) count[l]++;
  let left = 1;
  if (count[0] !== lengths.length) {
    for (let len = 1; len <= MAXBITS; len++) {
      left = left * 2 - count[len];
      if (left < 0) return { count, symbol, left };
    }
  } else {
    left = 0;
  }
  const offs = new Uint16Array(MAXBITS + 2);
  for (let len = 1; len < MAXBITS; len++) offs[len + 1] = offs[len] + count[len];
  for (let sym = 0; sym < lengths.length; sym++) {
    if (lengths[sym] !== 0) symbol[offs[lengths[sym]]++] = sym;
  }
  return { count, symbol, left, fast: fastTable(lengths, count) };
}

const FAST_BITS = 9;
const FAST_MASK = (1 << FAST_BITS) - 1;

/** For the next FAST_BITS bits of the stream (LSB first), `symbol << 4 |
 * length` of a code of at most FAST_BITS bits, or 0 (a longer code: decode
 * it bit by bit). */
function fastTable(lengths, count) {
  const table = new Uint32Array(1 << FAST_BITS);
  const next = new Uint16Array(MAXBITS + 2);
  let code = 0;
  for (let len = 1; len <= MAXBITS; len++) {
    code = (code + (len > 1 ? count[len - 1] : 0)) << 1;
    next[len] = code;
  }
  for (let sym = 0; sym < lengths.length; sym++) {
    const len = lengths[sym];
    if (len === 0) continue;
    const c = next[len]++;
    if (len > FAST_BITS) continue;
    let rev = 0;
    for (let i = 0; i < len; i++) rev |= ((c >>> i) & 1) << (len - 1 - i);
    for (let k = rev; k < 1 << FAST_BITS; k += 1 << len) table[k] = (sym << 4) | len;
  }
  return table;
}

function decode(s, h) {
  // A table lookup for codes of up to FAST_BITS bits (nearly every symbol),
  // else bit by bit as puff.c: this runs once per symbol in an interpreter
  // (no JIT inside the component).
  const data = s.data;
  let buf = s.buf;
  let cnt = s.cnt;
  while (cnt < FAST_BITS && s.pos < data.length) {
    buf |= data[s.pos++] << cnt;
    cnt += 8;
  }
  if (cnt >= FAST_BITS) {
    const e = h.fast[buf & FAST_MASK];
    if (e !== 0) {
      const len = e & 15;
      s.buf = buf >>> len;
      s.cnt = cnt - len;
      return e >>> 4;
    }
  }
  const count = h.count;
  let code = 0;
  let first = 0;
  let index = 0;
  for (let len = 1; len <= MAXBITS; len++) {
    if (cnt === 0) {
      if (s.pos >= data.length) throw invalid('unexpected end of file');
      buf = data[s.pos++];
      cnt = 8;
    }
    code |= buf & 1;
    buf >>>= 1;
    cnt--;
    const c = count[len];
    if (code - c < first) {
      s.buf = buf;
      s.cnt = cnt;
      return h.symbol[index + (code - first)];
    }
    index += c;
    first = (first + c) << 1;
    code <<= 1;
  }
  throw invalid('invalid Huffman code');
}

function codes(s, out, start, lencode, distcode) {
  for (;;) {
    let sym = decode(s, lencode);
    if (sym < 256) {
      out.push(sym);
    } else if (sym === 256) {
      return;
    } else {
      sym -= 257;
      if (sym >= 29) throw invalid('invalid literal/length code');
      const len = LBASE[sym] + s.need(LEXT[sym]);
      const dsym = decode(s, distcode);
      if (dsym >= 30) throw invalid('invalid distance code');
      const dist = DBASE[dsym] + s.need(DEXT[dsym]);
      if (dist > out.len - start) throw invalid('invalid distance too far back');
      out.room(len);
      // copyWithin, not a byte loop: a run of zeros (a gzip bomb) copies at
      // native speed up to the cap. An overlapping copy repeats the last
      // `dist` bytes, doubling what one copyWithin can take.
      const buf = out.buf;
      if (dist === 1) {
        // A run of one byte (what a gzip bomb is made of): one native fill.
        buf.fill(buf[out.len - 1], out.len, out.len + len);
        out.len += len;
        continue;
      }
      let from = out.len - dist;
      let left = len;
      while (left > 0) {
        const n = Math.min(left, out.len - from);
        buf.copyWithin(out.len, from, from + n);
        out.len += n;
        left -= n;
      }
    }
  }
}

let FIXED;
function fixed() {
  if (!FIXED) {
    const l = new Uint8Array(288);
    l.fill(8, 0, 144);
    l.fill(9, 144, 256);
    l.fill(7, 256, 280);
    l.fill(8, 280, 288);
    FIXED = [huffman(l), huffman(new Uint8Array(30).fill(5))];
  }
  return FIXED;
}

function dynamic(s) {
  const nlen = s.need(5) + 257;
  const ndist = s.need(5) + 1;
  const ncode = s.need(4) + 4;
  if (nlen > 286 || ndist > 30) throw invalid('bad counts');
  const lengths = new Uint8Array(19);
  for (let i = 0; i < ncode; i++) lengths[ORDER[i]] = s.need(3);
  const lencode = huffman(lengths);
  if (lencode.left !== 0) throw invalid('incomplete code lengths code');
  const all = new Uint8Array(nlen + ndist);
  for (let i = 0; i < nlen + ndist; ) {
    const sym = decode(s, lencode);
    if (sym < 16) {
      all[i++] = sym;
      continue;
    }
    let len = 0;
    let rep;
    if (sym === 16) {
      if (i === 0) throw invalid('repeat with no first length');
      len = all[i - 1];
      rep = 3 + s.need(2);
    } else if (sym === 17) {
      rep = 3 + s.need(3);
    } else {
      rep = 11 + s.need(7);
    }
    if (i + rep > nlen + ndist) throw invalid('too many lengths');
    while (rep--) all[i++] = len;
  }
  if (all[256] === 0) throw invalid('no end-of-block code');
  const lens = huffman(all.subarray(0, nlen));
  if (lens.left < 0 || (lens.left > 0 && nlen - lens.count[0] !== 1)) throw invalid('incomplete literal/length code');
  const dists = huffman(all.subarray(nlen));
  if (dists.left < 0 || (dists.left > 0 && ndist - dists.count[0] !== 1)) throw invalid('incomplete distance code');
  return [lens, dists];
}

/** Inflate one DEFLATE stream at `pos` into `out`; the position after it. */
function inflate(data, pos, out) {
  const s = new Bits(data, pos);
  const start = out.len;
  let last;
  do {
    last = s.need(1);
    const type = s.need(2);
    if (type === 0) {
      // To the byte boundary: whole bytes read ahead go back to the input.
      s.pos -= s.cnt >>> 3;
      s.buf = 0;
      s.cnt = 0;
      if (s.pos + 4 > data.length) throw invalid('unexpected end of file');
      const len = data[s.pos] | (data[s.pos + 1] << 8);
      const nlen = data[s.pos + 2] | (data[s.pos + 3] << 8);
      s.pos += 4;
      if (len !== (~nlen & 0xffff)) throw invalid('stored block length mismatch');
      if (s.pos + len > data.length) throw invalid('unexpected end of file');
      out.room(len);
      out.buf.set(data.subarray(s.pos, s.pos + len), out.len);
      out.len += len;
      s.pos += len;
    } else if (type === 1) {
      const [l, d] = fixed();
      codes(s, out, start, l, d);
    } else if (type === 2) {
      const [l, d] = dynamic(s);
      codes(s, out, start, l, d);
    } else {
      throw invalid('invalid block type');
    }
  } while (!last);
  return s.pos - (s.cnt >>> 3);
}

let CRC_TABLE;
function crc32(buf, from, to) {
  if (!CRC_TABLE) {
    CRC_TABLE = new Uint32Array(256);
    for (let n = 0; n < 256; n++) {
      let c = n;
      for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
      CRC_TABLE[n] = c >>> 0;
    }
  }
  let c = 0xffffffff;
  for (let i = from; i < to; i++) c = CRC_TABLE[(c ^ buf[i]) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

/** The position after the gzip member header at `pos`. */
function header(data, pos) {
  if (pos + 10 > data.length || data[pos] !== 0x1f || data[pos + 1] !== 0x8b) throw invalid('invalid gzip header');
  if (data[pos + 2] !== 8) throw invalid('unsupported compression method');
  const flags = data[pos + 3];
  let p = pos + 10;
  if (flags & 4) {
    if (p + 2 > data.length) throw invalid('unexpected end of file');
    p += 2 + (data[p] | (data[p + 1] << 8));
  }
  for (const bit of [8, 16]) {
    if (flags & bit) {
      while (p < data.length && data[p] !== 0) p++;
      p++;
    }
  }
  if (flags & 2) p += 2;
  if (p > data.length) throw invalid('unexpected end of file');
  return p;
}

/**
 * Decompress gzip `data` (every member), refusing to produce more than `cap`
 * bytes: memory use is bounded by `cap` whatever the input. Throws
 * `GunzipError` with the Rust SDK's wording: `gzip data decompresses to more
 * than the cap of N bytes` or `invalid gzip data: ...`.
 * @param {Uint8Array} data
 * @param {number} cap
 * @returns {Uint8Array}
 */
export function gunzipCapped(data, cap) {
  if (!Number.isSafeInteger(cap) || cap < 0) throw new RangeError('cap must be a non-negative integer');
  const out = new Output(cap, data.length * 4);
  let pos = 0;
  do {
    const start = out.len;
    pos = inflate(data, header(data, pos), out);
    if (pos + 8 > data.length) throw invalid('unexpected end of file');
    const crc = (data[pos] | (data[pos + 1] << 8) | (data[pos + 2] << 16) | (data[pos + 3] << 24)) >>> 0;
    const size = (data[pos + 4] | (data[pos + 5] << 8) | (data[pos + 6] << 16) | (data[pos + 7] << 24)) >>> 0;
    if (crc !== crc32(out.buf, start, out.len)) throw invalid('checksum mismatch');
    if (size !== (out.len - start) >>> 0) throw invalid('length mismatch');
    pos += 8;
  } while (pos < data.length);
  return out.buf.slice(0, out.len);
}
