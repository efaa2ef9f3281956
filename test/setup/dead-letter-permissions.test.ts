/**
 * The operator's grants for `buildtrace dead-letters`, checked on the same data as the service's:
 * they cover every call the command makes, each is needed, and the README names each one.
 */
import test from 'ava';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { DEAD_LETTER_OPERATOR_CALLS, DEAD_LETTER_OPERATOR_GRANTS, ROLE_PERMISSIONS } from '../../src/setup/permissions.js';
import { REPO_ROOT } from '../support/in-process.js';

type Grant = (typeof DEAD_LETTER_OPERATOR_GRANTS)[number];
type Call = (typeof DEAD_LETTER_OPERATOR_CALLS)[number];
const covers = (grants: readonly Grant[], call: Call) =>
  grants.some((g) => g.on === call.on && (ROLE_PERMISSIONS[g.role] as readonly string[]).includes(call.permission));

test('the operator grants cover every call dead-letters makes, and each grant is needed', (t) => {
  for (const call of DEAD_LETTER_OPERATOR_CALLS) t.true(covers(DEAD_LETTER_OPERATOR_GRANTS, call), `${call.call}: ${call.permission} on ${call.on}`);
  DEAD_LETTER_OPERATOR_GRANTS.forEach((grant, i) => {
    const without = DEAD_LETTER_OPERATOR_GRANTS.filter((_, j) => j !== i);
    t.true(DEAD_LETTER_OPERATOR_CALLS.some((c) => !covers(without, c)), `${grant.role} on ${grant.on} serves no call`);
  });
});

test('the README names each operator grant on its resource', (t) => {
  const readme = readFileSync(path.join(REPO_ROOT, 'README.md'), 'utf8');
  const resource = { dlqSubscription: 'subscription `<PUBSUB_DLQ_TOPIC>-sub`', tasksTopic: 'topic `PUBSUB_TOPIC`' } as const;
  for (const grant of DEAD_LETTER_OPERATOR_GRANTS) t.true(readme.includes(`\`${grant.role}\` on ${resource[grant.on]}`), `${grant.role} on ${resource[grant.on]}`);
});
