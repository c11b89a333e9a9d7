// `report` in JavaScript: message count, total size and the top senders of
// every mailbox (or of one), from RFC822.SIZE and the envelope's From. A
// port of the Rust plugin (guest/plugins/report): same options, same output.
//
// Reads each mailbox with EXAMINE (nothing is changed) and a streaming
// FETCH, so large mailboxes cost one message of memory. A progress bar
// (mailboxes done of those listed) shows on a terminal.
//
//   wasimap run --allow 127.0.0.1:143 report.wasm --user alice --password secret \
//       [--host H] [--port P] [--tls | --starttls] [--ca-file F] \
//       [--password-secret NAME] [--mailbox NAME] [--top 5]
//
// Built with componentize-js against the WIT world `wasimap:imap/plugin`
// (`just build-js`). How WIT looks from here (jco's conventions): `imap4` is
// a class with static `openTcp`; kebab-case names are camelCase; `u64` is a
// BigInt; `list<u8>` a Uint8Array; `option<T>` undefined or the value; a
// `result` error is thrown as an Error whose `payload` is the error value
// (`imap-error` is `{ tag: 'error' | 'abort' | 'readonly', val: { kind, message, errno } }`);
// throwing a string from `run` makes its `err`.

import { Imap4 } from 'wasimap:imap/client@0.1.0';
import { parseList, mutf7Decode } from 'wasimap:imap/typed@0.1.0';
import { report as progress, finish as finishProgress } from 'wasimap:imap/progress@0.1.0';

const SWITCHES = ['tls', 'starttls'];

/** `--name value` options and `--flag` switches (the SDK's `Args`). */
function parseArgs(args) {
  const values = new Map();
  const flags = new Set();
  for (let i = 0; i < args.length; i++) {
    const a = args[i];
    if (!a.startsWith('--')) throw `unexpected argument ${JSON.stringify(a)}`;
    const name = a.slice(2);
    if (SWITCHES.includes(name)) {
      flags.add(name);
    } else {
      if (i + 1 >= args.length) throw `--${name} needs a value`;
      values.set(name, args[++i]);
    }
  }
  const number = (name, fallback) => {
    const v = values.get(name);
    if (v === undefined) return fallback;
    if (!/^\+?\d+$/.test(v)) throw `--${name}: cannot parse ${JSON.stringify(v)}`;
    return Number(v);
  };
  return { values, flags, number };
}

/** imaplib's exceptions as the Rust SDK words them. */
function describe(e) {
  const err = e && e.payload;
  if (!err || typeof err.tag !== 'string') return String(e);
  const kind = { error: 'IMAP error', abort: 'connection aborted', readonly: 'mailbox is read-only' }[err.tag];
  return `${kind}: ${err.val.message}`;
}

/** A NO completion becomes an error naming `command`, as the SDK words it. */
function ok(command, r) {
  if (r.typ === 'NO') {
    const text = r.data
      .map((d) => (d.tag === 'bytes' ? new TextDecoder().decode(d.val) : ''))
      .join(' ');
    throw `${command} refused: ${text}`;
  }
  return r;
}

/** Connects and logs in from the options every example plugin takes. */
function connect(o) {
  const host = o.values.get('host') ?? '127.0.0.1';
  const tls = o.flags.has('tls');
  const port = o.number('port', tls ? 993 : 143);
  const options = {
    caPem: undefined,
    caFile: o.values.get('ca-file'),
    serverName: undefined,
    clientCertPem: undefined,
    clientKeyPem: undefined,
    dangerouslyAcceptInvalidCerts: false,
  };
  const imap = tls ? Imap4.openTls(host, port, 60.0, options) : Imap4.openTcp(host, port, 60.0);
  if (o.flags.has('starttls')) imap.starttls(options);
  const user = o.values.get('user');
  if (user === undefined) throw '--user is required';
  const password = o.values.get('password');
  const secret = o.values.get('password-secret');
  if (secret !== undefined) ok('LOGIN', imap.loginSecret(user, secret));
  else if (password !== undefined) ok('LOGIN', imap.login(user, password));
  else throw '--password or --password-secret is required';
  return imap;
}

/** Compares strings by their UTF-8 bytes, as Rust's `str` ordering does. */
const utf8 = new TextEncoder();
function byteOrder(a, b) {
  const x = utf8.encode(a);
  const y = utf8.encode(b);
  for (let i = 0; i < Math.min(x.length, y.length); i++) {
    if (x[i] !== y[i]) return x[i] - y[i];
  }
  return x.length - y.length;
}

/** `mailbox@host` of the first From address, host lower-cased (ASCII only). */
function sender(envelope) {
  const lossy = new TextDecoder();
  for (const a of envelope ? envelope.from : []) {
    if (a.mailbox === undefined || a.host === undefined) continue;
    const host = lossy.decode(a.host).replace(/[A-Z]/g, (c) => c.toLowerCase());
    return `${lossy.decode(a.mailbox)}@${host}`;
  }
  return undefined;
}

/** Messages, bytes and per-sender totals of one mailbox. */
function tally(imap, mailbox) {
  const t = { messages: 0n, bytes: 0n, senders: new Map() };
  const selected = ok('EXAMINE', imap.select(mailbox, true));
  const last = selected.data[selected.data.length - 1];
  const count = last && last.tag === 'bytes' ? Number(new TextDecoder().decode(last.val).trim()) || 0 : 0;
  if (count === 0) return t;
  const stream = imap.fetchStream('1:*', '(RFC822.SIZE ENVELOPE)', false);
  try {
    for (let m = stream.next(); m !== undefined; m = stream.next()) {
      // A FETCH without RFC822.SIZE is an unsolicited flag update.
      if (m.size === undefined) continue;
      const who = sender(m.envelope) ?? '(unknown)';
      t.messages += 1n;
      t.bytes += m.size;
      const s = t.senders.get(who) ?? { count: 0n, bytes: 0n };
      s.count += 1n;
      s.bytes += m.size;
      t.senders.set(who, s);
    }
  } finally {
    stream[Symbol.dispose]?.();
  }
  return t;
}

const pad = (v, n) => String(v).padStart(n);

function report(args) {
  const o = parseArgs(args);
  const top = o.number('top', 5);
  const imap = connect(o);
  let mailboxes;
  if (o.values.has('mailbox')) {
    mailboxes = [o.values.get('mailbox')];
  } else {
    const listed = ok('LIST', imap.list('', '*'));
    mailboxes = parseList(listed.data)
      .filter((e) => !e.attributes.some((a) => a.toLowerCase() === '\\noselect'))
      .map((e) => e.name);
  }
  mailboxes.sort(byteOrder);
  // A progress bar on the terminal (the host draws it on stderr or not at all).
  const total = BigInt(mailboxes.length);
  let done = 0n;
  for (const mailbox of mailboxes) {
    let shown = mailbox;
    try {
      shown = mutf7Decode(mailbox);
    } catch {
      // not modified UTF-7 after all: show it as sent
    }
    progress(`report ${shown}`, done, total);
    const t = tally(imap, mailbox);
    progress(`report ${shown}`, ++done, total);
    console.log(`${shown}: ${t.messages} message(s), ${t.bytes} bytes`);
    const senders = [...t.senders].sort(
      (a, b) => (a[1].bytes < b[1].bytes ? 1 : a[1].bytes > b[1].bytes ? -1 : byteOrder(a[0], b[0])),
    );
    for (const [who, s] of senders.slice(0, top)) {
      console.log(`  ${pad(s.count, 6)} ${pad(s.bytes, 10)}  ${who}`);
    }
  }
  finishProgress();
  imap.logout();
}

/** The plugin's export: `run(args) -> result<_, string>`. */
export function run(args) {
  try {
    report(args);
  } catch (e) {
    throw typeof e === 'string' ? e : describe(e);
  }
}
