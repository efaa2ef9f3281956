/**
 * Least privilege, checked on the data setup grants from: every call the service makes is
 * covered by a role granted on that call's resource, every grant serves at least one call that
 * no other grant covers, every permission granted is either needed or an accepted extra with its
 * reason, nothing is granted on the project that a narrower resource could hold, and the
 * README's IAM table is the one rendered from this data.
 */
import test from 'ava';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import {
  ACCEPTED_EXTRAS,
  iamTable,
  ROLE_PERMISSIONS,
  RUNTIME_GRANTS,
  SERVICE_AGENT_GRANTS,
  SERVICE_CALLS,
  type Grant,
  type ServiceCall,
} from '../../src/setup/permissions.js';
import { REPO_ROOT } from '../support/in-process.js';

const covers = (grants: readonly Grant[], call: ServiceCall) =>
  grants.some((g) => g.on === call.on && (ROLE_PERMISSIONS[g.role] as readonly string[]).includes(call.permission));

test('the granted roles cover every call the service makes, on the resource the call touches', (t) => {
  for (const call of SERVICE_CALLS) t.true(covers(RUNTIME_GRANTS, call), `${call.call}: ${call.permission} on ${call.on}`);
});

test('every grant is needed: without it some call fails', (t) => {
  RUNTIME_GRANTS.forEach((grant, i) => {
    const without = RUNTIME_GRANTS.filter((_, j) => j !== i);
    t.true(
      SERVICE_CALLS.some((c) => !covers(without, c)),
      `${grant.role} on ${grant.on} serves no call the other grants do not already cover`,
    );
  });
});

test('nothing granted is beyond what the calls need, except the named extras of the narrowest predefined roles', (t) => {
  const needed = new Set(SERVICE_CALLS.map((c) => `${c.on} ${c.permission}`));
  for (const grant of RUNTIME_GRANTS) {
    for (const permission of ROLE_PERMISSIONS[grant.role]) {
      if (needed.has(`${grant.on} ${permission}`)) continue;
      t.truthy(ACCEPTED_EXTRAS[permission], `${grant.role} on ${grant.on} grants ${permission}, which no call needs`);
    }
  }
  // No role that could change IAM, delete a topic or a bucket, or read other projects' data.
  const all: string[] = RUNTIME_GRANTS.flatMap((g) => [...ROLE_PERMISSIONS[g.role]]);
  t.false(all.some((p) => /setIamPolicy|\.topics\.delete|\.subscriptions\.delete|buckets\.delete|datasets\.delete|datasets\.update/.test(p)));
  // Every accepted extra is actually granted (the list does not hide stale entries).
  for (const extra of Object.keys(ACCEPTED_EXTRAS)) t.true(all.includes(extra), `${extra} is listed as accepted but not granted`);
});

test('only permissions that exist nowhere else are granted on the project', (t) => {
  for (const grant of RUNTIME_GRANTS.filter((g) => g.on === 'project')) {
    const served = SERVICE_CALLS.filter((c) => c.on === 'project' && (ROLE_PERMISSIONS[grant.role] as readonly string[]).includes(c.permission));
    t.true(served.length > 0, `${grant.role} on the project serves a project-level call`);
  }
  t.deepEqual(
    SERVICE_CALLS.filter((c) => c.on === 'project').map((c) => c.permission).sort(),
    ['bigquery.jobs.create', 'monitoring.metricDescriptors.create', 'monitoring.timeSeries.create'],
  );
});

test("the Pub/Sub service agent gets publish on the dead-letter topic and consume on the subscription, nothing else", (t) => {
  t.deepEqual(
    SERVICE_AGENT_GRANTS.map((g) => `${g.role} ${g.on}`),
    ['roles/pubsub.publisher dlqTopic', 'roles/pubsub.subscriber subscription'],
  );
});

test("the README's IAM table is the one rendered from the grants", (t) => {
  const readme = readFileSync(path.join(REPO_ROOT, 'README.md'), 'utf8');
  t.true(readme.includes(iamTable()), `README.md should contain:\n${iamTable()}`);
});
