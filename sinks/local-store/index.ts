/** The embedded store's public face: one import for the composition root and the tests. */
export { LocalStore, openLocalStore, type LocalStoreOptions } from './sink.js';
export { DATABASE_FILE, LocalDatabaseError, DATABASE_ERROR_CODES, openDatabase, type Db } from '../../src/infra/sqlite/database.js';
export { SCHEMA_VERSION } from '../../src/infra/sqlite/schema.js';
