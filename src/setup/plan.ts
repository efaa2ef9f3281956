/**
 * The shape `buildtrace setup` plans and applies: one item per cloud resource, with the action
 * that brings it to the state BuildTrace needs. Each part (pubsub, storage, bigquery, monitoring,
 * iam) is a module that reads the current state and returns its items; a plan only reads, and
 * `--apply` runs each item's `apply`.
 */

export const SETUP_PARTS = ['pubsub', 'storage', 'bigquery', 'monitoring', 'iam'] as const;
export type SetupPart = (typeof SETUP_PARTS)[number];

/** `update <what>` names what differs, e.g. `update dead-letter policy`. */
export type PlanAction = 'create' | 'ok' | `update ${string}`;

export type PlanItem =
  | {
      readonly part: SetupPart;
      /** e.g. `pubsub subscription drawing-processing-workers` */
      readonly resource: string;
      readonly action: 'ok';
    }
  | {
      readonly part: SetupPart;
      readonly resource: string;
      readonly action: Exclude<PlanAction, 'ok'>;
      /** Performs the action; only `--apply` calls it. */
      readonly apply: () => Promise<void>;
    };
