#!/usr/bin/env bash
# Entrypoint of the single-user image: start an unprivileged sshd beside the
# notebook server, then run the notebook command ("$@") in the foreground.
#
# Works in the container (defaults) and outside it (the demo and the tests set
# the variables). Everything is per-user and needs no root:
#
#   MLOPS_SSH_GATEWAY_KEY     the gateway's public key (set by GPUKubeSpawner);
#                             without it, sshd is not started
#   MLOPS_SSH_GATEWAY_FROM    optional address pattern the gateway key may
#                             connect from (authorized_keys from="...")
#   MLOPS_SSHD_PORT           port, default 2222
#   MLOPS_SSHD_LISTEN         address, default 0.0.0.0 (the pod IP outside a pod)
#   MLOPS_SSHD_DIR            runtime directory (host key, pid, keys), default
#                             ~/.jupyterhub-mlops/sshd: on the home volume, so
#                             the pod's host key survives restarts
#   MLOPS_SSHD_CONFIG         sshd_config, default: the one beside this script
#   MLOPS_SSHD_BIN            sshd binary, default /usr/sbin/sshd
#   MLOPS_SSHD_PASS_ENV       variables (glob patterns) that ssh sessions get
#                             from the notebook's environment
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
port=${MLOPS_SSHD_PORT:-2222}
listen=${MLOPS_SSHD_LISTEN:-0.0.0.0}
dir=${MLOPS_SSHD_DIR:-${HOME}/.jupyterhub-mlops/sshd}
config=${MLOPS_SSHD_CONFIG:-${here}/sshd_config}
sshd=${MLOPS_SSHD_BIN:-/usr/sbin/sshd}
pass_env=${MLOPS_SSHD_PASS_ENV:-"HOME PATH LD_LIBRARY_PATH CUDA_* NVIDIA_* CONDA_* VIRTUAL_ENV PYTHONPATH JUPYTERHUB_* JUPYTER_* MLOPS_* KUBERNETES_* LANG LC_*"}

log() { echo "[start-sshd] $*" >&2; }

# The notebook's environment for ssh sessions (GPUs, conda, hub token...):
# one SetEnv with every variable matching MLOPS_SSHD_PASS_ENV. Values that
# cannot be quoted safely are left out.
session_env() {
  local name value out=()
  while IFS= read -r name; do
    for pattern in $pass_env; do
      # shellcheck disable=SC2053
      if [[ $name == $pattern ]]; then
        value=${!name-}
        [[ $value == *'"'* || $value == *$'\n'* || $value == *'\'* ]] && continue
        out+=("\"${name}=${value}\"")
        break
      fi
    done
  done < <(compgen -e)
  ((${#out[@]})) && printf '%s ' "${out[@]}"
}

# sshd starts every session in the home directory of its user's passwd entry,
# not in $HOME. In the image the two agree; where they do not (a notebook run
# under a UID with no passwd entry, as OpenShift-style clusters assign, or as
# root outside a pod in the demo and the tests), sshd reads a passwd of its own
# through nss_wrapper (Debian libnss-wrapper), whose entry for this user names
# the notebook's $HOME. Only sshd's own lookups see it: sessions get a fresh
# environment from sshd, without LD_PRELOAD.
home_wrapper_env() {
  local runtime=$1 uid gid name lib
  uid=$(id -u); gid=$(id -g); name=$(id -un 2>/dev/null || echo notebook)
  [[ "$(getent passwd "$uid" | cut -d: -f6)" == "$HOME" ]] && return 0
  lib=$(ls /usr/lib/*/libnss_wrapper.so /usr/lib/libnss_wrapper.so 2>/dev/null | head -n1 || true)
  if [[ -z $lib ]]; then
    log "no libnss_wrapper.so: ssh sessions start in $(getent passwd "$uid" | cut -d: -f6) instead of $HOME"
    return 0
  fi
  getent passwd | awk -F: -v OFS=: -v uid="$uid" -v home="$HOME" '$3 == uid { $6 = home } { print }' \
    > "$runtime/passwd"
  getent passwd "$uid" >/dev/null \
    || printf '%s:x:%s:%s::%s:%s\n' "$name" "$uid" "$gid" "$HOME" "${SHELL:-/bin/sh}" >> "$runtime/passwd"
  getent group > "$runtime/group"
  getent group "$gid" >/dev/null || printf '%s:x:%s:\n' "$name" "$gid" >> "$runtime/group"
  printf '%s\n' "LD_PRELOAD=$lib" "NSS_WRAPPER_PASSWD=$runtime/passwd" "NSS_WRAPPER_GROUP=$runtime/group"
}

start_sshd() {
  if [[ -z ${MLOPS_SSH_GATEWAY_KEY:-} ]]; then
    log "MLOPS_SSH_GATEWAY_KEY is not set: not starting sshd (no SSH into this server)"
    return 1
  fi
  if [[ ! -x $sshd ]]; then
    log "no sshd at $sshd: not starting sshd (install openssh-server in the image)"
    return 1
  fi
  mkdir -p "$dir" && chmod 700 "$dir"
  # Run as root (only outside a pod: local demo, tests), sshd insists on its
  # privilege-separation directory; as the notebook user it needs none.
  if [[ $(id -u) == 0 ]]; then mkdir -p /run/sshd; fi
  [[ -f $dir/ssh_host_ed25519_key ]] || ssh-keygen -q -t ed25519 -N '' -f "$dir/ssh_host_ed25519_key"
  local options="restrict,pty"
  [[ -n ${MLOPS_SSH_GATEWAY_FROM:-} ]] && options+=",from=\"${MLOPS_SSH_GATEWAY_FROM}\""
  printf '%s %s\n' "$options" "$MLOPS_SSH_GATEWAY_KEY" > "$dir/authorized_keys"
  chmod 600 "$dir/authorized_keys"
  # The user's registered keys (for ssh -J): the gateway writes them to
  # user_keys through its own login just before each ProxyJump, at the path
  # sessions find in MLOPS_SSHD_USER_KEYS (see jupyterhub_mlops.ssh.pod_side).
  # A restarted server trusts no user key until the gateway pushes the
  # current ones (keys revoked meanwhile stay out).
  : > "$dir/user_keys" && chmod 600 "$dir/user_keys"
  # The session environment holds secrets (the hub token): it goes into a
  # private config file in a private runtime directory, never onto sshd's
  # command line, where any process could read it (ps, /proc/*/cmdline), and
  # not onto the home volume, where it would outlive the server.
  local runtime env_config
  runtime=$(mktemp -d "${TMPDIR:-/tmp}/mlops-sshd.XXXXXX")
  env_config="$runtime/sshd_config"
  (umask 077
   { printf 'SetEnv "MLOPS_SSHD_USER_KEYS=%s/user_keys" %s\n' "$dir" "$(session_env || true)"
     printf 'Include %s\n' "$config"; } > "$env_config")
  local args=(-D -e -f "$env_config" -p "$port" -o "ListenAddress=${listen}"
              -o "HostKey=${dir}/ssh_host_ed25519_key" -o "PidFile=${dir}/sshd.pid"
              -o "AuthorizedKeysFile=${dir}/authorized_keys ${dir}/user_keys")
  local wrapper=()
  mapfile -t wrapper < <(home_wrapper_env "$runtime")
  env "${wrapper[@]}" "$sshd" "${args[@]}" 2>>"$dir/sshd.log" &
  sshd_pid=$!
  log "sshd (pid $sshd_pid) listening on ${listen}:${port}, log in $dir/sshd.log"
}

sshd_pid=""
start_sshd || true

if (($# == 0)); then
  # No notebook command (e.g. a test of sshd alone): serve SSH until stopped.
  [[ -n $sshd_pid ]] || exit 1
  trap 'kill "$sshd_pid" 2>/dev/null' TERM INT
  wait "$sshd_pid"
  exit $?
fi

"$@" &
child=$!
trap 'kill -TERM "$child" 2>/dev/null' TERM INT
set +e
wait "$child"; status=$?
# wait returns early when a trapped signal arrives: wait for the real exit.
while kill -0 "$child" 2>/dev/null; do wait "$child"; status=$?; done
[[ -n $sshd_pid ]] && kill "$sshd_pid" 2>/dev/null
exit "$status"
