/** D-Bus messages: header layout, encoding and decoding ("Message Format" in the D-Bus specification). */
import { type DBusValue, marshal, parseSignature, protocolError, Reader, Variant } from './marshal';

export enum MessageType {
  MethodCall = 1,
  MethodReturn = 2,
  Error = 3,
  Signal = 4,
}

export const Flags = { NoReplyExpected: 0x1, NoAutoStart: 0x2, AllowInteractiveAuthorization: 0x4 } as const;

/** Header field codes and the type of their variant value. */
const FIELD = { path: [1, 'o'], interface: [2, 's'], member: [3, 's'], errorName: [4, 's'], replySerial: [5, 'u'], destination: [6, 's'], sender: [7, 's'], signature: [8, 'g'] } as const;
type FieldName = keyof typeof FIELD;
const UNIX_FDS = 9;

export interface Message {
  type: MessageType;
  flags?: number;
  serial: number;
  path?: string;
  interface?: string;
  member?: string;
  errorName?: string;
  replySerial?: number;
  destination?: string;
  sender?: string;
  /** Body signature; '' (or absent) for an empty body. */
  signature?: string;
  body?: DBusValue[];
}

const MAX_MESSAGE = 128 * 1024 * 1024;

export function encodeMessage(m: Message): Buffer {
  const sig = m.signature ?? '';
  const body = marshal(sig, m.body ?? []);
  const fields: DBusValue[] = [];
  for (const name of Object.keys(FIELD) as FieldName[]) {
    const v = m[name];
    if (v === undefined || (name === 'signature' && v === '')) continue;
    const [code, type] = FIELD[name];
    fields.push([code, new Variant(type, v)]);
  }
  const header = marshal('yyyyuua(yv)', ['l'.charCodeAt(0), m.type, m.flags ?? 0, 1, body.length, m.serial, fields]);
  const pad = (8 - (header.length % 8)) % 8;
  const out = Buffer.concat([header, Buffer.alloc(pad), body]);
  if (out.length > MAX_MESSAGE) throw protocolError(`message of ${out.length} bytes is over the 128 MiB limit`);
  return out;
}

/** The total length of the message at the start of `buf`, or undefined when its fixed header is incomplete. */
export function messageLength(buf: Buffer): number | undefined {
  if (buf.length < 16) return undefined;
  const le = endianness(buf[0]);
  const bodyLen = le ? buf.readUInt32LE(4) : buf.readUInt32BE(4);
  const fieldsLen = le ? buf.readUInt32LE(12) : buf.readUInt32BE(12);
  const headerEnd = 16 + fieldsLen;
  const total = headerEnd + ((8 - (headerEnd % 8)) % 8) + bodyLen;
  if (total > MAX_MESSAGE) throw protocolError(`incoming message of ${total} bytes is over the 128 MiB limit`);
  return total;
}

function endianness(b: number): boolean {
  if (b === 0x6c) return true; // 'l'
  if (b === 0x42) return false; // 'B'
  throw protocolError(`bad endianness byte 0x${b.toString(16)}`);
}

/** Decodes one complete message (exactly messageLength(buf) bytes). */
export function decodeMessage(buf: Buffer): Message {
  const le = endianness(buf[0]);
  const r = new Reader(buf, le);
  const [, type, flags, version, bodyLen, serial, fields] = ['y', 'y', 'y', 'y', 'u', 'u', 'a(yv)'].map((s) => r.read(parseSignature(s)[0])) as [
    number,
    number,
    number,
    number,
    number,
    number,
    [number, Variant][],
  ];
  if (version !== 1) throw protocolError(`protocol version ${version}`);
  if (type < 1 || type > 4) throw protocolError(`message type ${type}`);
  r.align(8);
  const m: Message = { type, flags, serial };
  for (const [code, v] of fields) {
    if (code === UNIX_FDS) throw protocolError('messages carrying unix fds are not supported');
    const entry = (Object.entries(FIELD) as [FieldName, readonly [number, string]][]).find(([, [c]]) => c === code);
    if (!entry) continue; // unknown header fields must be ignored
    if (v.signature !== entry[1][1]) throw protocolError(`header field ${entry[0]} has type ${v.signature}`);
    (m as unknown as Record<string, unknown>)[entry[0]] = v.value;
  }
  const bodyBuf = buf.subarray(r.pos, r.pos + bodyLen);
  if (bodyBuf.length !== bodyLen) throw protocolError('truncated body');
  const sig = m.signature ?? '';
  const br = new Reader(bodyBuf, le);
  m.body = parseSignature(sig).map((t) => br.read(t));
  if (br.pos !== bodyLen) throw protocolError(`${bodyLen - br.pos} bytes after the body of signature ${JSON.stringify(sig)}`);
  return m;
}
