/**
 * `buildtrace diff A.json B.json`: the same validation, diff and wording as the service, on two
 * local files, so a person can check a pair by hand without running the pipeline.
 */
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { countChanges, DEFAULT_MATCH_RADIUS, DEFAULT_TOLERANCE, validateAndDiff } from '../domain/diff.js';
import { parsePyFloat, validateVersion } from '../domain/drawing.js';
import { DRAWING_ID_PATTERN } from '../domain/task.js';
import { MATCH_MODES, type ChangeSet, type MatchMode } from '../domain/types.js';
import { renderOverlay } from '../overlay/render.js';
import { type CliCommand, UsageError, usageErrorFrom } from './io.js';

export const DIFF_USAGE = `Usage: buildtrace diff A.json B.json [--json] [--tolerance N] [--match MODE] [--radius N] [--drawing-id ID] [--svg FILE [--changes-only]]

Compares two versions of a drawing (JSON arrays of {"id", "type", "x", "y", "width", "height"})
and prints what was added, removed, moved and modified, in the words the service stores.

Options:
  --json            print the change set as JSON instead of text
  --tolerance N     a coordinate or size must change by more than N to count (default ${DEFAULT_TOLERANCE})
  --match MODE      id (default: match objects by id only), geometry (then pair what ids leave
                    unmatched by geometry) or auto (geometry only when more than half of A's
                    ids are absent from B); as MATCH_FALLBACK and a task's "match"
  --radius N        how far an object may move and still be paired by geometry (default ${DEFAULT_MATCH_RADIUS})
  --drawing-id ID   the drawing named in messages (default: the folder holding A when A is
                    named version_a.json, as in the seed's layout; otherwise "cli")
  --svg FILE        also draw the changes as an SVG overlay into FILE (unchanged objects in grey)
  --changes-only    with --svg: draw only what a stored result keeps, leaving unchanged objects out,
                    the picture GET /changes/overlay.svg gives for an inline task
  -h, --help        show this help

Exit status: 0 when the versions were compared, 2 for bad usage, an unreadable file or a
malformed version.
`;

export const diffCommand: CliCommand = {
  synopsis: 'diff A.json B.json [--json] [--tolerance N] [--match MODE] [--radius N] [--drawing-id ID] [--svg FILE [--changes-only]]',
  async run(argv, io) {
    const args = parse(argv);
    if (args === 'help') {
      io.out(DIFF_USAGE);
      return 0;
    }
    const [a, b] = await Promise.all([readVersion(args.fileA), readVersion(args.fileB)]);
    const changes = validateAndDiff(a, b, args.drawingId, { tolerance: args.tolerance, match: args.match, radius: args.radius });
    if (args.svg !== null) await writeOverlay(args.svg, args.drawingId, changes, args.changesOnly ? null : { a, b });
    io.out(args.json ? `${JSON.stringify(changes, null, 2)}\n` : formatText(args.drawingId, changes));
    return 0;
  },
};

interface DiffArgs {
  readonly fileA: string;
  readonly fileB: string;
  readonly json: boolean;
  readonly tolerance: number;
  readonly match: MatchMode;
  readonly radius: number;
  readonly drawingId: string;
  readonly svg: string | null;
  readonly changesOnly: boolean;
}

function parse(argv: readonly string[]): DiffArgs | 'help' {
  let parsed;
  try {
    parsed = parseArgs({
      args: joinNegativeValues(argv, ['--tolerance', '--radius']),
      allowPositionals: true,
      strict: true,
      options: {
        json: { type: 'boolean', default: false },
        tolerance: { type: 'string' },
        match: { type: 'string', default: 'id' },
        radius: { type: 'string' },
        'drawing-id': { type: 'string' },
        svg: { type: 'string' },
        'changes-only': { type: 'boolean', default: false },
        help: { type: 'boolean', short: 'h', default: false },
      },
    });
  } catch (err) {
    throw usageErrorFrom(err);
  }
  const { values, positionals: files } = parsed;
  if (values.help) return 'help';

  if (files.length !== 2) {
    throw new UsageError(`diff takes two files, version A and version B; got ${files.length} (see --help)`);
  }
  const [fileA, fileB] = files as [string, string];

  let tolerance = DEFAULT_TOLERANCE;
  if (values.tolerance !== undefined) {
    const n = parsePyFloat(values.tolerance);
    if (n === undefined || n < 0) {
      throw new UsageError(`--tolerance must be a number of at least 0, got ${JSON.stringify(values.tolerance)}`);
    }
    tolerance = n;
  }

  const match = values.match;
  if (!(MATCH_MODES as readonly string[]).includes(match)) {
    throw new UsageError(`--match must be one of ${MATCH_MODES.join(', ')}, got ${JSON.stringify(match)}`);
  }
  let radius = DEFAULT_MATCH_RADIUS;
  if (values.radius !== undefined) {
    const n = parsePyFloat(values.radius);
    if (n === undefined || n < 0 || !Number.isFinite(n)) {
      throw new UsageError(`--radius must be a finite number of at least 0, got ${JSON.stringify(values.radius)}`);
    }
    radius = n;
  }

  const drawingId = values['drawing-id'] ?? defaultDrawingId(fileA);
  if (!DRAWING_ID_PATTERN.test(drawingId)) {
    throw new UsageError(
      `--drawing-id must be 1 to 128 letters, digits, ".", "_" or "-", starting with a letter or digit, got ${JSON.stringify(drawingId)}`,
    );
  }
  if (values.svg === '') throw new UsageError('--svg needs a file name, e.g. --svg overlay.svg');
  if (values['changes-only'] && values.svg === undefined) throw new UsageError('--changes-only only applies with --svg FILE');
  return { fileA, fileB, json: values.json, tolerance, match: match as MatchMode, radius, drawingId, svg: values.svg ?? null, changesOnly: values['changes-only'] };
}

/**
 * parseArgs reads `--tolerance -1` as an option followed by the unknown option `-1` ("argument is
 * ambiguous"); joined as `--tolerance=-1` the value reaches our own check, which says what is wrong.
 */
function joinNegativeValues(argv: readonly string[], options: readonly string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] as string;
    const next = argv[i + 1];
    if (options.includes(arg) && next !== undefined && /^-\.?\d/.test(next)) {
      out.push(`${arg}=${next}`);
      i++;
    } else {
      out.push(arg);
    }
  }
  return out;
}

/** In the seed's layout (`<drawing_id>/version_a.json`) the folder names the drawing. */
function defaultDrawingId(fileA: string): string {
  if (path.basename(fileA) !== 'version_a.json') return 'cli';
  const folder = path.basename(path.dirname(path.resolve(fileA)));
  return DRAWING_ID_PATTERN.test(folder) ? folder : 'cli';
}

async function readVersion(file: string): Promise<unknown> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    const why =
      e.code === 'ENOENT' ? 'no such file' : e.code === 'EISDIR' ? 'it is a directory' : e.code === 'EACCES' ? 'permission denied' : e.message;
    throw new UsageError(`cannot read ${file}: ${why}`);
  }
  try {
    return JSON.parse(text.charCodeAt(0) === 0xfeff ? text.slice(1) : text);
  } catch (err) {
    throw new UsageError(`${file} is not valid JSON: ${(err as Error).message}`);
  }
}

/** The versions were validated by the diff already, so validating them again cannot fail. */
async function writeOverlay(file: string, drawingId: string, changes: ChangeSet, raw: { a: unknown; b: unknown } | null): Promise<void> {
  const versions = raw && { a: validateVersion(raw.a, drawingId, 'a'), b: validateVersion(raw.b, drawingId, 'b') };
  try {
    await writeFile(file, renderOverlay({ drawingId, changes, versions }));
  } catch (err) {
    throw new UsageError(`cannot write ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
}

/** Counts first, then every item (not only the summary's three examples), then the summary. */
export function formatText(drawingId: string, changes: ChangeSet): string {
  const counts = countChanges(changes);
  // The renamed count only where geometry matching ran: id matching alone prints what it always did.
  const renamed = changes.renamed === undefined ? '' : `, ${counts.renamed} renamed, ${changes.ambiguous?.length ?? 0} ambiguous`;
  const lines = [
    `drawing ${drawingId}: ${counts.added} added, ${counts.removed} removed, ${counts.moved} moved, ${counts.modified} modified${renamed}`,
  ];
  for (const kind of ['added', 'removed', 'moved', 'modified', 'renamed', 'ambiguous'] as const) {
    const items = changes[kind] ?? [];
    if (items.length === 0) continue;
    lines.push(`${kind}:`);
    for (const item of items) lines.push(`  ${item.description}`);
  }
  lines.push(`summary: ${changes.summary}`);
  return `${lines.join('\n')}\n`;
}
