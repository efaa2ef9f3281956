/**
 * BuildTrace's import rules, one line each; `test/architecture.test.ts` runs them on the tree
 * (`npx depcruise src streams sinks`). Layers, lowest first:
 *   src/domain     types, contracts (source.ts, sink.ts) and pure logic; imports nothing else of ours
 *   src/infra      what a source and a sink share: the SQLite database, Google clients and wire shapes
 *   streams/       pipeline stages and sources; talks to sinks only through src/domain/sink.ts
 *   sinks/         one folder per sink; never sees a pipeline stage
 *   src/service.ts, src/registry.ts   composition: the only modules that know every part
 * src/log.ts and src/timeout.ts are leaf utilities any layer above the domain may use. No module
 * of streams/, sinks/ or src/infra imports src/config.ts: each declares the settings it reads.
 */
const PRODUCT = '^(src|streams|sinks)/';
const UTILITIES = '^src/(log|timeout)[.]ts$';
/** Where the program starts: the processes, and the workers started by URL. */
const ENTRY_POINTS = '^src/(main|cli|simulate)[.]ts$|-worker[.]ts$';

module.exports = {
  forbidden: [
    {
      name: 'no-cycles',
      comment: 'A cycle makes two modules one: neither can be read, tested or changed alone.',
      severity: 'error',
      from: { path: PRODUCT },
      to: { circular: true },
    },
    {
      name: 'no-orphans',
      comment: 'A module nothing imports is dead code, unless it is an entry point or a worker started by URL.',
      severity: 'error',
      from: {
        orphan: true,
        path: PRODUCT,
        pathNot: [ENTRY_POINTS, '[.]d[.]ts$'],
      },
      to: {},
    },
    {
      name: 'no-dead-modules',
      comment: 'Every module is reached from an entry point (the service, the CLI, the simulator) or a worker.',
      severity: 'error',
      from: { path: ENTRY_POINTS },
      to: { path: PRODUCT, pathNot: [ENTRY_POINTS, '[.]d[.]ts$'], reachable: false },
    },
    {
      name: 'domain-imports-only-domain',
      comment: 'src/domain depends on nothing else of the project.',
      severity: 'error',
      from: { path: '^src/domain/' },
      to: { path: PRODUCT, pathNot: '^src/domain/' },
    },
    {
      name: 'utilities-import-nothing',
      comment: 'The leaf utilities (logging, bounded waits) depend on nothing else of the project.',
      severity: 'error',
      from: { path: UTILITIES },
      to: { path: PRODUCT },
    },
    {
      name: 'infra-imports-only-domain',
      comment: 'src/infra serves sources and sinks alike, so it imports neither, nor composition.',
      severity: 'error',
      from: { path: '^src/infra/' },
      to: { path: PRODUCT, pathNot: ['^src/(domain|infra)/', UTILITIES] },
    },
    {
      name: 'streams-never-import-sinks',
      comment: 'streams/ writes through the sink contract (src/domain/sink.ts), never a concrete sink.',
      severity: 'error',
      from: { path: '^streams/' },
      to: { path: '^sinks/' },
    },
    {
      name: 'sinks-never-import-streams',
      comment: 'A sink stores what it is handed; it never reaches back into the pipeline.',
      severity: 'error',
      from: { path: '^sinks/' },
      to: { path: '^streams/' },
    },
    {
      name: 'parts-import-only-lower-layers',
      comment: 'streams/ and sinks/ use the domain, src/infra and the utilities, never the configuration (each part declares the settings it reads), composition, the server or a tool.',
      severity: 'error',
      from: { path: '^(streams|sinks)/' },
      to: { path: '^src/', pathNot: ['^src/(domain|infra)/', UTILITIES] },
    },
    {
      name: 'composition-on-top',
      comment: 'Only the process entry point starts the service; nothing below composition imports it.',
      severity: 'error',
      from: { path: PRODUCT, pathNot: ['^src/main[.]ts$', '^src/service[.]ts$'] },
      to: { path: '^src/(service|registry)[.]ts$' },
    },
    {
      name: 'server-uses-contracts',
      comment: 'The HTTP server is handed its parts (src/server/deps.ts); it never opens a source or a sink itself.',
      severity: 'error',
      from: { path: '^src/server/' },
      to: { path: '^(streams/sources/|sinks/)', pathNot: '^sinks/change-pages[.]ts$' },
    },
  ],
  options: {
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    doNotFollow: { path: 'node_modules' },
    exclude: { path: '^src/web/' },
  },
};
