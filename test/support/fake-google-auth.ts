/**
 * Credentials for tests that need no network: a real OAuth2 client holding a fixed, unexpired
 * access token, so Google client libraries sign requests with `Bearer <FAKE_TOKEN>` and the fake
 * servers can check the header, without ever looking for Application Default Credentials.
 */
import { OAuth2Client } from 'google-auth-library';

export const FAKE_TOKEN = 'buildtrace-test-token';

/** An auth client that always answers with FAKE_TOKEN. */
export function fakeAuthClient(): OAuth2Client {
  const client = new OAuth2Client();
  client.setCredentials({ access_token: FAKE_TOKEN, expiry_date: Date.now() + 24 * 3600 * 1000 });
  return client;
}
