/**
 * Cloud Storage's own rule for a bucket name, written once for the configuration and the simulator.
 */

/** 3 to 63 characters of lowercase letters, digits, `-`, `_` and `.`, starting and ending with a letter or digit. */
export const BUCKET_NAME_PATTERN = /^[a-z0-9][a-z0-9._-]{1,61}[a-z0-9]$/;
