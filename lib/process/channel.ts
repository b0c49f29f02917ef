// The wire between the parent and a worker process: length-prefixed frames
// over a socket pair (the child's fd 3), used by both sides.
//
// Why not Node's IPC channel: with `serialization: 'advanced'` (needed to
// carry Map, BigInt, typed arrays...) every message pays for a JS
// Serializer, a header, a Buffer.concat and a Deserializer, about 4 µs a
// round trip more than JSON; with 'json' the types are lost. Here each frame
// says how it is encoded: a message whose every value JSON carries exactly
// (strings, finite numbers other than -0, booleans, null, plain arrays and
// objects, no shared references) goes as JSON; anything else as
// `v8.serialize`, which throws, having written nothing, when a value cannot
// be cloned. The check walks at most JSON_BUDGET values, so a large message
// simply takes the v8 path, which is the faster one for bulk data anyway.
//
// Frame: u32 LE payload length, u8 encoding (0 JSON, 1 v8, 2 v8 with parts),
// payload. Large binary data (a typed array, Buffer, DataView or ArrayBuffer
// of at least PART_MIN bytes, alone or inside objects) does not go through
// the serializer: the v8 body holds a reference to a part, and the part's
// bytes follow the frame as they are (see "Binary parts" below).

import type { Socket } from 'node:net';
import { isProxy, isSharedArrayBuffer } from 'node:util/types';
import { DefaultDeserializer, DefaultSerializer } from 'node:v8';

const HEADER = 5;
const JSON_FRAME = 0;
const V8_FRAME = 1;
const PARTS_FRAME = 2;
/** Values the JSON check may visit before giving up on JSON. */
const JSON_BUDGET = 4096;

/** Objects the JSON check may meet; more, and the message goes by v8 (it is large anyway). */
const MAX_OBJECTS = 64;

let budget = 0;
// An array, not a Set: a task message holds two or three objects, and
// storing into and scanning a tiny array costs less than hashing. Its length
// stays put between messages (`length = 0` would free the backing store and
// every message would grow a new one); `seenCount` says how much is in use.
const seen: (object | undefined)[] = new Array<undefined>(MAX_OBJECTS).fill(undefined);
let seenCount = 0;

function wasSeen(value: object): boolean {
  for (let i = 0; i < seenCount; i++) if (seen[i] === value) return true;
  return false;
}

/** True if JSON.parse(JSON.stringify(value)) gives back exactly `value`. */
function jsonExact(value: unknown, depth: number): boolean {
  if (--budget < 0) return false;
  switch (typeof value) {
    case 'string':
    case 'boolean':
      return true;
    case 'number':
      return Number.isFinite(value) && (value !== 0 || 1 / value > 0);
    case 'object': {
      if (value === null) return true;
      if (depth > 32 || seenCount >= MAX_OBJECTS || wasSeen(value)) return false;
      seen[seenCount++] = value;
      if (Array.isArray(value)) {
        for (let i = 0; i < value.length; i++) {
          if (!(i in value) || !jsonExact(value[i], depth + 1)) return false;
        }
        return true;
      }
      if (Object.getPrototypeOf(value) !== Object.prototype) return false;
      for (const key in value) {
        if (key === '__proto__' || !Object.prototype.hasOwnProperty.call(value, key)) return false;
        if (!jsonExact((value as Record<string, unknown>)[key], depth + 1)) return false;
      }
      return true;
    }
    default:
      return false;
  }
}

/**
 * Encodes one message as one buffer. Throws, having written nothing, when a
 * value cannot be cloned. Binary parts are copied behind the head: the
 * parent's socket writes are asynchronous, and a caller may change its buffer
 * once `submit` has returned (the task must see the bytes as they were when
 * sent, as with structured clone).
 */
export function encodeFrame(message: unknown[]): Buffer {
  const frame = encodeFrameParts(message);
  return Array.isArray(frame) ? joinParts(frame) : frame;
}

/**
 * Encodes one message as a frame: one buffer, or a frame with binary parts
 * as a list (its head, then each part's bytes, not copied: the list must be
 * written before the caller's values can change, as the worker's synchronous
 * writes are). Throws, having written nothing, when a value cannot be cloned.
 */
export function encodeFrameParts(message: unknown[]): Buffer | Uint8Array[] {
  budget = JSON_BUDGET;
  let exact: boolean;
  try {
    exact = jsonExact(message, 0);
  } finally {
    // Let go of the message's objects (also when a getter threw); the array keeps its size.
    for (let i = 0; i < seenCount; i++) seen[i] = undefined;
    seenCount = 0;
  }
  // JSON.stringify throws past the longest string V8 makes; v8.serialize may still manage.
  let text: string | undefined;
  if (exact) {
    try {
      text = JSON.stringify(message);
    } catch {
      text = undefined;
    }
  }
  if (text !== undefined) {
    const length = Buffer.byteLength(text);
    const frame = Buffer.allocUnsafe(HEADER + length);
    frame.writeUInt32LE(length, 0);
    frame[4] = JSON_FRAME;
    frame.write(text, HEADER, 'utf8');
    return frame;
  }
  // v8.serialize, with room for the frame header written first: the body is
  // not copied again behind a header (a megabyte payload paid that copy).
  const ser = new PartSerializer();
  walkBudget = WALK_BUDGET;
  const arrayBuffers: ArrayBuffer[] = [];
  findArrayBuffers(message, arrayBuffers);
  for (let i = 0; i < arrayBuffers.length; i++) ser.transferArrayBuffer(i, arrayBuffers[i]);
  ser.writeRawBytes(HEADER_ROOM);
  ser.writeHeader();
  ser.writeValue(message);
  const frame = ser.releaseBuffer();
  if (arrayBuffers.length + ser.parts.length > 0) return withParts(frame, arrayBuffers, ser.parts);
  frame.writeUInt32LE(frame.length - HEADER, 0);
  frame[4] = V8_FRAME;
  return frame;
}

const HEADER_ROOM = new Uint8Array(HEADER);

// ---------------------------------------------------------------------------
// Binary parts.
//
// Node's serializer writes a typed array as a host object: its bytes copied
// into the serializer's buffer, then (on the other side) the whole frame
// joined from the socket's 64 KiB reads and the bytes viewed in it. For a
// megabyte that was most of a round trip's CPU on both sides. Here a view of
// PART_MIN bytes or more is written as a reference to a part: the frame's
// head (the header, the parts' lengths, the v8 body) is followed by each
// part's bytes as they are, and the reader copies them as they arrive straight
// into one allocation per part, sized from the head, so nothing is joined.
//
// PARTS_FRAME: u32 LE head length, u8 2, then the head: u32 LE count, u32 LE
// how many of them are ArrayBuffers, count × f64 LE part length, the v8 body;
// then the parts' bytes, in order (the head length does not count them, so
// the small head is read as any frame is).
//
// An ArrayBuffer is not a host object: V8 copies it into the body unless it
// is marked transferred, and then writes its id instead (the serializer does
// not detach it; the reader supplies the buffer for each id). So the message
// is first walked for ArrayBuffers of PART_MIN bytes or more, through plain
// objects, arrays, Maps and Sets, at most WALK_BUDGET values: one found
// deeper, or inside a class instance, goes through the serializer as before
// (slower, as exact). A resizable one is left to the serializer too, which
// keeps its maxByteLength.
//
// In the body every host object starts with a u32 mark: INLINE, followed by
// Node's own format (DefaultSerializer._writeHostObject), or PART, followed
// by the view's kind (PART_KINDS). A part arrives as a view over its own
// ArrayBuffer (byteOffset 0, nothing else in it): what a view held travels,
// not the rest of the buffer it was a window on, as with Node's format, whose
// small views arrive as windows on the frame. A view over a
// SharedArrayBuffer is copied as Node's format copies it (a bare
// SharedArrayBuffer is refused by the serializer, as before).

/** Bytes from which a view travels as a part rather than through the serializer. */
const PART_MIN = 16 * 1024;
const INLINE = 0;
const PART = 1;

type ViewClass = new (buffer: ArrayBuffer, byteOffset: number, length: number) => ArrayBufferView;
/**
 * The kinds of view a part may be, by index on the wire; Buffer is told apart
 * by its constructor, as Node does. A kind Node's serializer does not know
 * (Float16Array, where it exists) is left to it, and refused by it as before,
 * whatever its size.
 */
const PART_KINDS: [string, ViewClass][] = [
  ['Buffer', Buffer],
  ['DataView', DataView],
  ...[
    'Int8Array',
    'Uint8Array',
    'Uint8ClampedArray',
    'Int16Array',
    'Uint16Array',
    'Int32Array',
    'Uint32Array',
    'Float32Array',
    'Float64Array',
    'BigInt64Array',
    'BigUint64Array',
  ]
    .filter((name) => typeof (globalThis as Record<string, unknown>)[name] === 'function')
    .map((name): [string, ViewClass] => [name, (globalThis as Record<string, unknown>)[name] as ViewClass]),
];
const KIND_INDEX = new Map(PART_KINDS.map(([name], i) => [name, i]));

// Node's own host-object format, documented as what these methods do in
// DefaultSerializer and DefaultDeserializer (not in @types/node).
const writeInline = (
  DefaultSerializer.prototype as unknown as { _writeHostObject: (this: DefaultSerializer, view: ArrayBufferView) => void }
)._writeHostObject;
const readInline = (DefaultDeserializer.prototype as unknown as { _readHostObject: (this: DefaultDeserializer) => ArrayBufferView })
  ._readHostObject;

function kindOf(view: ArrayBufferView): number | undefined {
  if (view.constructor === Buffer) return 0;
  return KIND_INDEX.get((view as unknown as { [Symbol.toStringTag]: string })[Symbol.toStringTag]);
}

/** Values the walk for large ArrayBuffers visits at most. */
const WALK_BUDGET = 4096;
let walkBudget = 0;

function findArrayBuffers(value: unknown, found: ArrayBuffer[]): void {
  if (--walkBudget < 0 || typeof value !== 'object' || value === null) return;
  // A proxy's traps could throw, or run code, where the serializer refuses it untouched.
  if (isProxy(value)) return;
  if (value instanceof ArrayBuffer) {
    // `resizable` is ES2024 (Node 20 has it; the compiler's lib does not).
    const resizable = (value as { resizable?: boolean }).resizable === true;
    if (value.byteLength >= PART_MIN && !resizable && !found.includes(value)) found.push(value);
    return;
  }
  // Each loop stops with the budget: a million-item array costs no more than a small one.
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length && walkBudget > 0; i++) findArrayBuffers(value[i], found);
  } else if (value instanceof Map) {
    for (const [k, v] of value) {
      if (walkBudget <= 0) return;
      findArrayBuffers(k, found);
      findArrayBuffers(v, found);
    }
  } else if (value instanceof Set) {
    for (const v of value) {
      if (walkBudget <= 0) return;
      findArrayBuffers(v, found);
    }
  } else {
    const proto = Object.getPrototypeOf(value) as unknown;
    if (proto !== Object.prototype && proto !== null) return;
    for (const key in value) {
      if (walkBudget <= 0) return;
      if (Object.prototype.hasOwnProperty.call(value, key)) findArrayBuffers((value as Record<string, unknown>)[key], found);
    }
  }
}

class PartSerializer extends DefaultSerializer {
  readonly parts: Uint8Array[] = [];

  _writeHostObject(view: ArrayBufferView): void {
    const kind = view.byteLength >= PART_MIN && !isSharedArrayBuffer(view.buffer) ? kindOf(view) : undefined;
    if (kind === undefined) {
      this.writeUint32(INLINE);
      writeInline.call(this, view);
      return;
    }
    this.writeUint32(PART);
    this.writeUint32(kind);
    this.parts.push(new Uint8Array(view.buffer, view.byteOffset, view.byteLength));
  }
}

/** Reads a v8 body whose parts (in the order they were written) are `parts`. */
class PartDeserializer extends DefaultDeserializer {
  readonly #parts: ArrayBuffer[];
  #next: number;

  constructor(body: Buffer, parts: ArrayBuffer[], arrayBuffers: number) {
    super(body);
    this.#parts = parts;
    for (let i = 0; i < arrayBuffers; i++) this.transferArrayBuffer(i, parts[i]);
    this.#next = arrayBuffers;
  }

  _readHostObject(): ArrayBufferView {
    if (this.readUint32() === INLINE) return readInline.call(this);
    const [, View] = PART_KINDS[this.readUint32()];
    const part = this.#parts[this.#next++];
    if (View === (Buffer as unknown as ViewClass)) return Buffer.from(part);
    const size = (View as unknown as { BYTES_PER_ELEMENT?: number }).BYTES_PER_ELEMENT ?? 1;
    return new View(part, 0, part.byteLength / size);
  }
}

const NO_PARTS: ArrayBuffer[] = [];

function decodeV8(body: Buffer, parts: ArrayBuffer[], arrayBuffers: number): unknown[] {
  const des = new PartDeserializer(body, parts, arrayBuffers);
  des.readHeader();
  return des.readValue() as unknown[];
}

/** The frame of a body with parts: its head (header, counts, lengths, body), then the ArrayBuffers, then the views. */
function withParts(body: Buffer, arrayBuffers: ArrayBuffer[], views: Uint8Array[]): Uint8Array[] {
  const parts = [...arrayBuffers.map((b) => new Uint8Array(b)), ...views];
  const meta = Buffer.allocUnsafe(HEADER + 8 + 8 * parts.length);
  const headLength = meta.length - HEADER + body.length - HEADER;
  if (headLength > 0xffff_ffff) throw new RangeError(`Expected a message body of at most 4 GiB, got ${headLength} bytes`);
  meta.writeUInt32LE(headLength, 0);
  meta[4] = PARTS_FRAME;
  meta.writeUInt32LE(parts.length, HEADER);
  meta.writeUInt32LE(arrayBuffers.length, HEADER + 4);
  for (let i = 0; i < parts.length; i++) meta.writeDoubleLE(parts[i].byteLength, HEADER + 8 + 8 * i);
  return [meta, body.subarray(HEADER), ...parts];
}

function joinParts(frame: Uint8Array[]): Buffer {
  let total = 0;
  for (const b of frame) total += b.byteLength;
  const out = Buffer.allocUnsafe(total);
  let at = 0;
  for (const b of frame) {
    out.set(b, at);
    at += b.byteLength;
  }
  return out;
}

/** A parts frame being read: its message, decoded from the head, and the parts it still waits for. */
class PartsInFlight {
  readonly message: unknown[];
  readonly #parts: Uint8Array[];
  #index = 0;
  #filled = 0;

  constructor(head: Buffer) {
    const count = head.readUInt32LE(0);
    const arrayBuffers = head.readUInt32LE(4);
    this.#parts = new Array<Uint8Array>(count);
    const buffers = new Array<ArrayBuffer>(count);
    for (let i = 0; i < count; i++) {
      // allocUnsafeSlow: an ArrayBuffer of its own, exactly the part's size
      // (not a slice of Node's pool), uninitialized: it is filled whole
      // before the message is handed on.
      const part = Buffer.allocUnsafeSlow(head.readDoubleLE(8 + 8 * i));
      this.#parts[i] = part;
      buffers[i] = part.buffer;
    }
    this.message = decodeV8(head.subarray(8 + 8 * count), buffers, arrayBuffers);
  }

  /** Copies what `chunk` holds of the parts from `offset`; returns the bytes taken. */
  fill(chunk: Buffer, offset: number): number {
    let at = offset;
    while (this.#index < this.#parts.length && at < chunk.length) {
      const part = this.#parts[this.#index];
      const n = Math.min(part.length - this.#filled, chunk.length - at);
      part.set(chunk.subarray(at, at + n), this.#filled);
      at += n;
      this.#filled += n;
      if (this.#filled === part.length) {
        this.#index++;
        this.#filled = 0;
      }
    }
    return at - offset;
  }

  get done(): boolean {
    return this.#index === this.#parts.length;
  }
}

/** Splits the byte stream of a socket into messages. */
export class FrameReader {
  readonly #onMessage: (message: unknown[]) => void;
  /** Bytes received and not yet consumed: one buffer, or a list while a large frame arrives. */
  #chunks: Buffer[] = [];
  #buffered = 0;
  /** Bytes needed before parsing is worth trying: a header, or the whole frame it announces. */
  #need = HEADER;
  /** A frame with binary parts whose head was read, while its parts arrive. */
  #inFlight: PartsInFlight | undefined;

  constructor(onMessage: (message: unknown[]) => void) {
    this.#onMessage = onMessage;
  }

  push(chunk: Buffer): void {
    if (this.#inFlight !== undefined) {
      this.#pushParts(chunk);
      return;
    }
    let buf: Buffer;
    if (this.#buffered === 0 && chunk.length >= this.#need) {
      // The common case, a read that starts on a frame boundary, is parsed
      // where it lies: the list is left empty (pushing to an empty list
      // allocates its backing store anew on every read).
      buf = chunk;
    } else {
      this.#chunks.push(chunk);
      this.#buffered += chunk.length;
      // A large frame arrives in many chunks: join them once, when it is whole.
      if (this.#buffered < this.#need) return;
      buf = this.#chunks.length === 1 ? this.#chunks[0] : this.#join();
    }
    let offset = 0;
    try {
      while (buf.length - offset >= HEADER) {
        const length = buf.readUInt32LE(offset);
        const end = offset + HEADER + length;
        if (end > buf.length) break;
        const start = offset + HEADER;
        if (buf[offset + 4] === PARTS_FRAME) {
          const parts = new PartsInFlight(buf.subarray(start, end));
          offset = end + parts.fill(buf, end);
          if (!parts.done) {
            this.#inFlight = parts;
            break;
          }
          this.#onMessage(parts.message);
          continue;
        }
        const message = (
          buf[offset + 4] === JSON_FRAME ? JSON.parse(buf.toString('utf8', start, end)) : decodeV8(buf.subarray(start, end), NO_PARTS, 0)
        ) as unknown[];
        // Consumed before it is handed on: a consumer that throws must not
        // have the same frame delivered again by the next push.
        offset = end;
        this.#onMessage(message);
      }
    } finally {
      this.#keep(buf, offset);
    }
  }

  /**
   * What is left of the stream: nothing, or a partial frame. The common case,
   * a read that ends on a frame boundary, allocates nothing (no view of the
   * empty rest, no new list): a round trip reads one frame on each side, and
   * garbage per call is what brings the next scavenge closer.
   */
  #keep(buf: Buffer, offset: number): void {
    if (offset === buf.length) {
      if (this.#chunks.length > 0) this.#chunks = [];
      this.#buffered = 0;
      this.#need = HEADER;
    } else {
      const rest = buf.subarray(offset);
      this.#chunks = [rest];
      this.#buffered = rest.length;
      this.#need = rest.length >= HEADER ? HEADER + rest.readUInt32LE(0) : HEADER;
    }
  }

  /** The parts of a frame whose head was read go straight into their own buffers; what follows them is read as usual. */
  #pushParts(chunk: Buffer): void {
    const parts = this.#inFlight!;
    const taken = parts.fill(chunk, 0);
    if (!parts.done) return;
    this.#inFlight = undefined;
    const rest = taken === chunk.length ? undefined : chunk.subarray(taken);
    try {
      this.#onMessage(parts.message);
    } catch (err) {
      // As in push: the frames behind this one wait for the next push.
      if (rest !== undefined) this.#keep(rest, 0);
      throw err;
    }
    if (rest !== undefined) this.push(rest);
  }

  #join(): Buffer {
    const buf = Buffer.concat(this.#chunks, this.#buffered);
    this.#chunks = [buf];
    return buf;
  }
}

/** Reads frames from `socket` into `onMessage`. */
export function readFrames(socket: Socket, onMessage: (message: unknown[]) => void): void {
  const reader = new FrameReader(onMessage);
  socket.on('data', (chunk: Buffer) => reader.push(chunk));
}
