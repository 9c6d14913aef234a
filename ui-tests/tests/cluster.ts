// The specs' hands on the real control plane, through kubectl with the admin
// kubeconfig that pytest passes (tests/lab/test_sidebar_galata.py).
//
// No Training Operator or Katib controller runs in the specs' cluster (Argo's
// real workflow-controller does, see workflow.spec.ts): the specs play them
// here — they create the pods a controller would and write status through the
// status subresource, as the real controller does — and play the kubelet's log
// server by pointing KWOK's Logs objects at files.
import { execFileSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';

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

/** What the controller does: a merge patch of `status` through the status subresource. */
export function writeStatus(kind: string, name: string, status: object, namespace = NAMESPACE): void {
  kubectl([
    'patch',
    RESOURCES[kind],
    name,
    '-n',
    namespace,
    '--subresource=status',
    '--type=merge',
    '-p',
    JSON.stringify({ status })
  ]);
}

/** Create any object from its manifest (as admin). */
export function create(manifest: object): void {
  kubectl(['create', '-f', '-'], JSON.stringify(manifest));
}

function criLine(line: string): string {
  return `${new Date().toISOString().replace(/\.\d+Z$/, '.000000000Z')} stdout F ${line}\n`;
}

/**
 * A pod as the controller creates it, run by KWOK; with `logLines`, the
 * kubelet's part too: KWOK serves them (CRI log format) as the container's log
 * (with `follow`, also the lines `appendLog` adds later).
 */
export function runPod(
  name: string,
  spec: any,
  options: { labels: Record<string, string>; owner?: any; logLines?: string[]; follow?: boolean },
  namespace = NAMESPACE
): void {
  const metadata: any = { name, namespace, labels: options.labels };
  if (options.owner) {
    metadata.ownerReferences = [
      {
        apiVersion: options.owner.apiVersion,
        kind: options.owner.kind,
        name: options.owner.metadata.name,
        uid: options.owner.metadata.uid,
        controller: true
      }
    ];
  }
  create({ apiVersion: 'v1', kind: 'Pod', metadata, spec });
  if (options.logLines) {
    const file = logFile(name, namespace);
    fs.writeFileSync(file, options.logLines.map(criLine).join(''));
    create({
      apiVersion: 'kwok.x-k8s.io/v1alpha1',
      kind: 'Logs',
      metadata: { name, namespace },
      spec: { logs: [{ containers: [spec.containers[0].name], logsFile: file, follow: options.follow ?? false }] }
    });
  }
  kubectl(['wait', `pod/${name}`, '-n', namespace, '--for=jsonpath={.status.phase}=Running', '--timeout=60s']);
}

function logFile(pod: string, namespace: string): string {
  return path.join(required('LOGS_DIR'), `${namespace}-${pod}.log`);
}

/** The container writes on: with `follow`, KWOK hands these lines to followers of the log. */
export function appendLog(pod: string, lines: string[], namespace = NAMESPACE): void {
  fs.appendFileSync(logFile(pod, namespace), lines.map(criLine).join(''));
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
