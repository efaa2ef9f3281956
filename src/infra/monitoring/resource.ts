/**
 * Which monitored resource this replica's time series belong to. Each replica writes its own
 * series (task_id = replica id, or its pod on GKE), so replicas never write points into the same
 * series and never collide on "points must be written in order".
 */

export interface MonitoredResource {
  readonly type: 'generic_task' | 'k8s_container';
  readonly labels: Readonly<Record<string, string>>;
}

type Env = Readonly<Record<string, string | undefined>>;

/**
 * `k8s_container` on GKE when the pod's identity is in the environment (downward API:
 * POD_NAME, POD_NAMESPACE, CLUSTER_NAME, and CLUSTER_LOCATION or GOOGLE_CLOUD_REGION), else
 * `generic_task` with namespace `buildtrace`, job = the Cloud Run service (K_SERVICE) or
 * `buildtrace`, and task_id = the replica id.
 *
 * @example
 * detectResource({ projectId: 'p', replicaId: 'r1' }, {}) // generic_task, location 'global'
 */
export function detectResource(ids: { readonly projectId: string; readonly replicaId: string }, env: Env = process.env): MonitoredResource {
  const location = env.CLUSTER_LOCATION || env.GOOGLE_CLOUD_REGION || env.CLOUD_RUN_REGION || 'global';
  if (env.KUBERNETES_SERVICE_HOST && env.POD_NAME && env.POD_NAMESPACE && env.CLUSTER_NAME && location !== 'global') {
    return {
      type: 'k8s_container',
      labels: {
        project_id: ids.projectId,
        location,
        cluster_name: env.CLUSTER_NAME,
        namespace_name: env.POD_NAMESPACE,
        pod_name: env.POD_NAME,
        container_name: env.CONTAINER_NAME || 'buildtrace',
      },
    };
  }
  return {
    type: 'generic_task',
    labels: {
      project_id: ids.projectId,
      location,
      namespace: 'buildtrace',
      job: env.K_SERVICE || 'buildtrace',
      task_id: ids.replicaId,
    },
  };
}
