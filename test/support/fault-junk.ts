/**
 * Message bodies no producer should send but some will: not JSON, JSON of the wrong shape, bad
 * ids, mixed task forms, binary, pathological nesting. The simulator spoils drawing versions;
 * these spoil the task itself, so a flood test covers the decoder as well as the validator.
 */

export interface JunkBody {
  /** Unique per body, sent as the `junk_id` attribute so its dead letter can be matched. */
  readonly id: string;
  /** What is wrong with it, for the test log. */
  readonly kind: string;
  readonly body: string | Buffer;
}

const door = { id: 'D1', type: 'door', x: 1, y: 2, width: 1, height: 2 };

/** The kinds of junk, in the order `junkBodies` rotates through them; `n` makes each body distinct. */
const KINDS: readonly { readonly kind: string; readonly make: (n: number) => string | Buffer }[] = [
  { kind: 'not JSON', make: (n) => `{"drawing_id": "junk_${n}", "version_a": [` },
  { kind: 'empty body', make: () => Buffer.alloc(0) },
  { kind: 'JSON array', make: (n) => JSON.stringify([n, door]) },
  { kind: 'JSON string', make: (n) => JSON.stringify(`drawing junk_${n}`) },
  { kind: 'JSON number', make: (n) => String(n) },
  { kind: 'JSON null', make: () => 'null' },
  { kind: 'no drawing_id', make: (n) => JSON.stringify({ version_a: [door], version_b: [door], n }) },
  { kind: 'empty drawing_id', make: (n) => JSON.stringify({ drawing_id: '', version_a: [door], version_b: [door], n }) },
  { kind: 'path as drawing_id', make: (n) => JSON.stringify({ drawing_id: `../../etc/passwd${n}`, version_a: [door], version_b: [door] }) },
  { kind: 'drawing_id too long', make: (n) => JSON.stringify({ drawing_id: `d${n}`.padEnd(300, 'x'), version_a: [door], version_b: [door] }) },
  { kind: 'version not an array', make: (n) => JSON.stringify({ drawing_id: `junk_${n}`, version_a: 5, version_b: [door] }) },
  { kind: 'version string not JSON', make: (n) => JSON.stringify({ drawing_id: `junk_${n}`, version_a: '[{', version_b: '[]' }) },
  { kind: 'two task forms', make: (n) => JSON.stringify({ drawing_id: `junk_${n}`, version_a: [door], version_b: [door], version_a_uri: 'a.json' }) },
  { kind: 'bad uploaded_at', make: (n) => JSON.stringify({ drawing_id: `junk_${n}`, version_a: [door], version_b: [door], uploaded_at: 'yesterday' }) },
  { kind: 'binary', make: (n) => Buffer.from([0xff, 0xfe, 0x00, n & 0xff, 0x80, 0x81, 0xc3, 0x28]) },
  { kind: 'deep nesting', make: (n) => `{"drawing_id":"junk_${n}","version_a":${'['.repeat(20_000)}${']'.repeat(20_000)},"version_b":[]}` },
];

/**
 * `count` junk bodies, rotating through every kind.
 *
 * @example
 * const junk = junkBodies(300);
 * await publishBodies(pubsub, topic, junk.map((j) => j.body), (i) => ({ junk_id: junk[i]!.id }));
 */
export function junkBodies(count: number): JunkBody[] {
  return Array.from({ length: count }, (_, n) => {
    const k = KINDS[n % KINDS.length]!;
    return { id: `junk-${n}`, kind: k.kind, body: k.make(n) };
  });
}
