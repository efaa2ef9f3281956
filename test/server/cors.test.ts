/**
 * CORS on the real service: off unless CORS_ORIGINS is set, and then only the listed origins are
 * echoed, never `*` and never with credentials (the seed's `*` + credentials was a defect).
 */
import test from 'ava';
import { call, startApi, type ApiResponse } from '../support/api-fixture.js';

const APP = 'https://app.example.com';
const OPS = 'http://ops.example.com:8443';
const EVIL = 'https://evil.example.com';

function corsHeaders(res: ApiResponse): Record<string, string> {
  return Object.fromEntries([...res.headers].filter(([name]) => name.startsWith('access-control-')));
}

test('no CORS headers at all by default, whatever the Origin', async (t) => {
  const api = await startApi(t);
  for (const origin of [APP, EVIL, 'null']) {
    t.deepEqual(corsHeaders(await call(`${api.url}/health`, { headers: { origin } })), {});
    t.deepEqual(corsHeaders(await call(`${api.url}/changes?drawing_id=X1`, { headers: { origin } })), {});
    const preflight = await call(`${api.url}/process`, {
      method: 'OPTIONS',
      headers: { origin, 'access-control-request-method': 'POST', 'access-control-request-headers': 'content-type' },
    });
    t.deepEqual(corsHeaders(preflight), {});
  }
});

test('with CORS_ORIGINS only the listed origins are echoed, never * and never with credentials', async (t) => {
  const api = await startApi(t, { CORS_ORIGINS: `${APP}, ${OPS}` });

  // allowed origins are echoed on answers and on errors, so browsers can read error bodies too
  for (const origin of [APP, OPS]) {
    const ok = await call(`${api.url}/health`, { headers: { origin } });
    t.is(ok.status, 200);
    t.is(ok.headers.get('access-control-allow-origin'), origin);
    t.regex(ok.headers.get('vary') ?? '', /origin/i, 'caches must key on Origin');
    t.is(ok.headers.get('access-control-allow-credentials'), null);

    const notFound = await call(`${api.url}/changes?drawing_id=X1`, { headers: { origin } });
    t.is(notFound.status, 404);
    t.is(notFound.headers.get('access-control-allow-origin'), origin);
  }

  // preflight from an allowed origin
  const preflight = await call(`${api.url}/process`, {
    method: 'OPTIONS',
    headers: { origin: APP, 'access-control-request-method': 'POST', 'access-control-request-headers': 'content-type' },
  });
  t.is(preflight.status, 204);
  t.is(preflight.headers.get('access-control-allow-origin'), APP);
  t.regex(preflight.headers.get('access-control-allow-methods') ?? '', /POST/);
  t.regex(preflight.headers.get('access-control-allow-headers') ?? '', /content-type/i);
  t.is(preflight.headers.get('access-control-allow-credentials'), null);

  // anyone else, a near miss, or no Origin gets nothing
  for (const origin of [EVIL, 'null', `${APP}.evil.com`, 'http://app.example.com', `${APP}:443`, APP.toUpperCase()]) {
    t.deepEqual(corsHeaders(await call(`${api.url}/health`, { headers: { origin } })), {}, origin);
    const denied = await call(`${api.url}/process`, {
      method: 'OPTIONS',
      headers: { origin, 'access-control-request-method': 'POST' },
    });
    t.is(denied.headers.get('access-control-allow-origin'), null, origin);
  }
  t.deepEqual(corsHeaders(await call(`${api.url}/health`)), {});
  t.not((await call(`${api.url}/health`, { headers: { origin: EVIL } })).headers.get('access-control-allow-origin'), '*');
});
