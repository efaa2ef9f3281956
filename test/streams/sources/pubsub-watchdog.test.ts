/**
 * When the Pub/Sub watchdog reopens a stream, on explicit clock values: only after trouble, only
 * once the stream has been quiet for the whole period, and never while a delivery is unsettled.
 */
import test from 'ava';
import { StreamWatchdog } from '../../../streams/sources/pubsub-watchdog.js';

const QUIET_MS = 1_000;
/** When the stream under test was opened. */
const T0 = 50_000;

function openedWatchdog(): StreamWatchdog {
  const watchdog = new StreamWatchdog(QUIET_MS);
  watchdog.opened(T0);
  return watchdog;
}

test('a quiet stream without trouble is an empty subscription and is left alone', (t) => {
  const watchdog = openedWatchdog();
  t.false(watchdog.due(true, 0, T0 + 60_000));
});

test('after trouble, a stream quiet for the whole period is due, and not a moment before', (t) => {
  const watchdog = openedWatchdog();
  watchdog.trouble(T0 + 500);
  t.false(watchdog.due(true, 0, T0 + QUIET_MS - 1));
  t.true(watchdog.due(true, 0, T0 + QUIET_MS));
});

test('a message after the trouble clears it; new trouble on a stream long quiet makes it due at once', (t) => {
  const watchdog = openedWatchdog();
  watchdog.trouble(T0 + 100);
  watchdog.message(T0 + 200);
  t.false(watchdog.due(true, 0, T0 + 10_000));
  watchdog.trouble(T0 + 10_000);
  t.true(watchdog.due(true, 0, T0 + 10_000));
});

test('a stream closed on its own is trouble even without an error', (t) => {
  const watchdog = openedWatchdog();
  watchdog.message(T0 + 300);
  t.false(watchdog.due(false, 0, T0 + 300 + QUIET_MS - 1));
  t.true(watchdog.due(false, 0, T0 + 300 + QUIET_MS));
});

test('nothing is reopened while a delivery is unsettled', (t) => {
  const watchdog = openedWatchdog();
  watchdog.trouble(T0);
  t.false(watchdog.due(false, 1, T0 + 60_000));
  t.true(watchdog.due(false, 0, T0 + 60_000));
});

test('a reopened stream starts its quiet period afresh', (t) => {
  const watchdog = openedWatchdog();
  watchdog.trouble(T0);
  t.true(watchdog.due(false, 0, T0 + 5_000));
  watchdog.opened(T0 + 5_000);
  t.false(watchdog.due(true, 0, T0 + 5_000 + QUIET_MS - 1));
});
