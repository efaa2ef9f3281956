/** The embedded store's public face: one import for the composition root and the tests. */
export { LocalStore, openLocalStore, type LocalStoreOptions } from './sink.js';
export { DATABASE_FILE, LocalDatabaseError, DATABASE_ERROR_CODES, openDatabase, type Db } from './database.js';
export { SCHEMA_VERSION } from './schema.js';
