// `{{name}}`: a wasimap plugin in JavaScript. It logs in and prints every
// mailbox with its message and unseen counts; make it do your job.
//
// WIT as seen from here: `imap4` is a class with static `openTcp`; names are
// camelCase; u64 is a BigInt, list<u8> a Uint8Array, option<T> undefined or
// the value; a failed call throws an Error whose `payload` is the
// `imap-error` (`{ tag: 'error' | 'abort' | 'readonly', val: { kind, message, errno } }`).
// Throwing a string from `run` makes the host print it and exit 1.

import { Imap4 } from 'wasimap:imap/client@0.1.0';
import { parseList, parseStatus, mutf7Decode } from 'wasimap:imap/typed@0.1.0';
import { report, finish } from 'wasimap:imap/progress@0.1.0';

const USAGE = 'usage: {{name}} --user USER (--password PASS | --password-secret NAME) [--host H] [--port P]';

function options(args) {
  const o = { host: '127.0.0.1', port: '143' };
  for (let i = 0; i < args.length; i += 2) {
    if (!args[i].startsWith('--') || i + 1 >= args.length) throw USAGE;
    o[args[i].slice(2)] = args[i + 1];
  }
  if (o.user === undefined || !/^\d+$/.test(o.port)) throw USAGE;
  return o;
}

/** Calls `f`; a thrown imap-error or a NO becomes `run`'s error. */
function check(what, f) {
  let r;
  try {
    r = f();
  } catch (e) {
    throw `${what}: ${e.payload ? e.payload.val.message : e}`;
  }
  if (r.typ !== 'OK') throw `${what} failed: ${r.typ}`;
  return r;
}

export function run(args) {
  const o = options(args);
  let imap;
  try {
    imap = Imap4.openTcp(o.host, Number(o.port), 60.0);
  } catch (e) {
    throw `connecting to ${o.host}:${o.port}: ${e.payload ? e.payload.val.message : e}`;
  }
  if (o['password-secret'] !== undefined) {
    check('LOGIN', () => imap.loginSecret(o.user, o['password-secret']));
  } else {
    check('LOGIN', () => imap.login(o.user, o.password ?? ''));
  }
  const listed = check('LIST', () => imap.list(undefined, undefined));
  const names = parseList(listed.data)
    .filter((e) => !e.attributes.some((a) => a.toLowerCase() === '\\noselect'))
    .map((e) => e.name);
  names.forEach((name, i) => {
    const status = parseStatus(check('STATUS', () => imap.status(name, '(MESSAGES UNSEEN)')).data);
    const items = new Map(status.length ? status[0].items : []);
    const count = (k) => String(items.get(k) ?? 0).padStart(6);
    console.log(`${mutf7Decode(name).padEnd(30)} ${count('MESSAGES')} ${count('UNSEEN')}`);
    // Shown as a bar on a terminal, not at all otherwise.
    report('{{name}}', BigInt(i + 1), BigInt(names.length));
  });
  finish();
  imap.logout();
}
