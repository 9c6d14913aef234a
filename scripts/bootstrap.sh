#!/usr/bin/env bash
# Installs everything the demo and the tests need, on a fresh machine or an old
# one: Debian packages, the Python virtualenv at .venv (with the suite, its
# JupyterLab extension built by npm, and the test tools), configurable-http-proxy,
# and the local control plane built from Go modules into a cache outside the
# repository. Every step is skipped when already done.
#
#   scripts/bootstrap.sh          everything (make demo, make test, make bench)
#   scripts/bootstrap.sh python   all but the control-plane build (make lint, make test-fast)
set -euo pipefail
cd "$(dirname "$0")/.."

say() { printf '\033[1m[bootstrap]\033[0m %s\n' "$*" >&2; }

APT_PACKAGES=(chromium openssh-server openssh-client rsync libnss-wrapper mariadb-server iproute2)
missing=()
for pkg in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if ((${#missing[@]})); then
  say "installing Debian packages: ${missing[*]}"
  SUDO=""; [[ $(id -u) -ne 0 ]] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

if [[ ! -x .venv/bin/python ]]; then
  say "creating the virtualenv .venv"
  python3 -m venv .venv
  .venv/bin/pip install -q --upgrade pip
fi

# Reinstall the suite when its definition or sources changed.
stamp=.venv/.mlops-installed
digest=$(cat pyproject.toml labextension/package.json labextension/package-lock.json \
           $(git ls-files labextension/src labextension/style 2>/dev/null || find labextension/src labextension/style -type f) \
         | sha256sum | cut -d' ' -f1)
if [[ ! -f $stamp || "$(cat $stamp)" != "$digest" ]]; then
  say "installing jupyterhub-mlops with its hub, lab and test extras (builds the JupyterLab extension)"
  (cd labextension && npm ci --no-audit --no-fund --loglevel=error)
  rm -rf server_ext/jupyter_mlops/labextension
  PATH="$PWD/.venv/bin:$PATH" .venv/bin/pip install -q -e ".[test]"
  echo "$digest" > $stamp
fi

if [[ ! -x .venv/bin/configurable-http-proxy ]]; then
  say "installing configurable-http-proxy (npm)"
  npm install --silent --no-audit --no-fund --prefix .venv/chp configurable-http-proxy@^5 >/dev/null
  ln -sf ../chp/node_modules/.bin/configurable-http-proxy .venv/bin/configurable-http-proxy
fi

if [[ ! -d ui-tests/node_modules/@jupyterlab/galata || ui-tests/package-lock.json -nt ui-tests/node_modules ]]; then
  say "installing the Galata browser tests (npm; Debian's chromium, no browser download)"
  (cd ui-tests && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund --loglevel=error)
fi

# `bootstrap.sh python` stops here: enough for `make lint` and `make test-fast`,
# which need neither the control plane nor the controllers.
if [[ ${1:-all} == python ]]; then
  say "ready (Python, npm and browser tools; the control plane was not built)"
  exit 0
fi

say "building the local control plane (cached in ${MLOPS_CLUSTER_CACHE:-~/.cache/jupyterhub-mlops})"
bash cluster/build-binaries.sh
say "the hub image's Python packages (images/hub/constraints.txt) in a virtualenv of their own"
PYTHONPATH=cluster .venv/bin/python -m mlops_cluster.hub_image >/dev/null
say "ready"
