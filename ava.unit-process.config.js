// The part of `npm run test:unit` that runs in a process per file: the tier's tests in OWN_PROCESS
// (ava.unit.config.js says why each is there), from the same compiled JavaScript and settings.
import unit, { OWN_PROCESS, compiled } from './ava.unit.config.js';

export default {
  ...unit,
  files: Object.keys(OWN_PROCESS).map(compiled),
  workerThreads: false,
};
