/**
 * BigQuery: the dataset in BIGQUERY_LOCATION and its tables, each created from its spec or
 * migrated (missing columns added, partition expiration set) with the same code the service's
 * start-up check runs (sinks/bigquery/migrate.ts).
 */
import type { TableMetadata } from '@google-cloud/bigquery';
import { describeDrift, hasDrift, migrationPatch, tableDrift, type ExistingTable } from '../../sinks/bigquery/migrate.js';
import { TABLE_IDS, TABLES, tableMetadata } from '../../sinks/bigquery/schema.js';
import type { PlanItem } from './plan.js';
import type { SetupContext } from './context.js';

export async function planBigQuery(ctx: SetupContext): Promise<PlanItem[]> {
  const { dataset: datasetId, bigqueryLocation } = ctx.target;
  const dataset = ctx.clients.bigquery.dataset(datasetId);
  const [exists] = await dataset.exists();
  const items: PlanItem[] = [];
  if (!exists) {
    items.push({
      part: 'bigquery',
      resource: `bigquery dataset ${datasetId} (${bigqueryLocation})`,
      action: 'create',
      apply: async () => void (await dataset.create({ location: bigqueryLocation })),
    });
  } else {
    const [metadata] = await dataset.getMetadata();
    const location = (metadata as { location?: string }).location;
    if (location !== undefined && location.toLowerCase() !== bigqueryLocation.toLowerCase()) {
      // A dataset cannot move: say so rather than plan something that cannot be applied.
      throw new Error(`BigQuery dataset ${datasetId} is in ${location}, not BIGQUERY_LOCATION=${bigqueryLocation}; a dataset cannot move (set BIGQUERY_LOCATION=${location})`);
    }
    items.push({ part: 'bigquery', resource: `bigquery dataset ${datasetId} (${bigqueryLocation})`, action: 'ok' });
  }
  for (const id of TABLE_IDS) {
    const table = dataset.table(id);
    const resource = `bigquery table ${datasetId}.${id}`;
    const tableExists = exists && (await table.exists())[0];
    if (!tableExists) {
      items.push({ part: 'bigquery', resource, action: 'create', apply: async () => void (await table.create(tableMetadata(TABLES[id]))) });
      continue;
    }
    const [metadata] = await table.getMetadata();
    const drift = tableDrift(TABLES[id], metadata as ExistingTable);
    if (!hasDrift(drift)) {
      items.push({ part: 'bigquery', resource, action: 'ok' });
      continue;
    }
    items.push({
      part: 'bigquery',
      resource,
      action: `update ${describeDrift(drift)}`,
      apply: async () => {
        const [fresh] = await table.getMetadata();
        const now = tableDrift(TABLES[id], fresh as ExistingTable);
        if (hasDrift(now)) await table.setMetadata(migrationPatch(fresh as ExistingTable, now) as TableMetadata);
      },
    });
  }
  return items;
}
