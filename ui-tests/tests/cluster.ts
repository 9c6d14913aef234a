// The specs' hands on the real control plane, through kubectl with the admin
// kubeconfig that pytest passes (tests/lab/test_sidebar_galata.py).
//
// Argo's real workflow-controller, the real Training Operator and the real Katib
// run in the specs' cluster (their pods run as local processes); the specs read
// what they made and never write a job's status.
import { execFileSync } from 'child_process';
import * as fs from 'fs';

function required(name: string): string {
  const value = process.env[name];
  if (!value) {
    throw new Error(`${name} is not set: run the specs through pytest (tests/lab/test_sidebar_galata.py)`);
  }
  return value;
}

/** The researcher's namespace: the one their notebook server submits to. */
export const NAMESPACE = required('MLOPS_TEST_NAMESPACE');
/** A file the lab serves at its root, for the Submit forms. */
export const TRAIN_FILE = 'train.py';
export const SWEEP_FILE = 'sweep.py';
export const HERA_FILE = 'flows/pipeline.py';

const RESOURCES: Record<string, string> = {
  pytorchjob: 'pytorchjobs.kubeflow.org',
  sweep: 'experiments.kubeflow.org',
  trial: 'trials.kubeflow.org',
  workflow: 'workflows.argoproj.io'
};

/** Run kubectl as admin; its stdout. */
export function kubectl(args: string[], input?: string): string {
  return execFileSync(required('KUBECTL'), [`--kubeconfig=${required('ADMIN_KUBECONFIG')}`, ...args], {
    input,
    encoding: 'utf-8',
    timeout: 120000
  });
}

export function getJson(kind: string, name: string, namespace = NAMESPACE): any {
  return JSON.parse(kubectl(['get', RESOURCES[kind] ?? kind, name, '-n', namespace, '-o', 'json']));
}

export function exists(kind: string, name: string, namespace = NAMESPACE): boolean {
  const found = kubectl(['get', RESOURCES[kind] ?? kind, '-n', namespace, '--ignore-not-found', '-o', 'name']);
  return found.split('\n').some(line => line.endsWith(`/${name}`));
}

/** jobs.spec.ts's train.py waits in the master for this file before its last line. */
export function letTheMasterGoOn(): void {
  fs.writeFileSync(required('MLOPS_TEST_GO_FILE'), '');
}

/**
 * Whole GPUs per product as the API server holds them: `total` sums the
 * allocatable nvidia.com/gpu of schedulable nodes; `cordoned` names products
 * whose nodes are all cordoned (they offer nothing).
 */
export function gpuTotals(): { total: Record<string, number>; cordoned: string[] } {
  const nodes = JSON.parse(kubectl(['get', 'nodes', '-o', 'json'])).items;
  const total: Record<string, number> = {};
  const seen = new Set<string>();
  for (const node of nodes) {
    const product = node.metadata.labels?.['nvidia.com/gpu.product'];
    const gpus = Number(node.status?.allocatable?.['nvidia.com/gpu'] ?? 0);
    if (!product || !gpus) {
      continue;
    }
    seen.add(product);
    if (!node.spec?.unschedulable) {
      total[product] = (total[product] ?? 0) + gpus;
    }
  }
  return { total, cordoned: [...seen].filter(product => !(product in total)) };
}

/** Create any object from its manifest (as admin). */
function create(manifest: object): void {
  kubectl(['create', '-f', '-'], JSON.stringify(manifest));
}

/** A pod that holds `gpus` GPUs of `product` (scheduled by the real scheduler, run by KWOK). */
export function holdGpus(name: string, product: string, gpus: number, namespace = NAMESPACE): void {
  create({
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, namespace },
    spec: {
      nodeSelector: { 'nvidia.com/gpu.product': product },
      tolerations: [{ key: 'nvidia.com/gpu', operator: 'Exists' }],
      containers: [{ name: 'hold', image: 'busybox', resources: { limits: { 'nvidia.com/gpu': String(gpus) } } }]
    }
  });
  kubectl(['wait', `pod/${name}`, '-n', namespace, '--for=jsonpath={.status.phase}=Running', '--timeout=60s']);
}

export function deletePod(name: string, namespace = NAMESPACE): void {
  kubectl(['delete', 'pod', name, '-n', namespace, '--ignore-not-found', '--wait=false']);
}
