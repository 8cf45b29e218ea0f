#!/usr/bin/env bash
# Install everything yesman-recovery needs on Debian/Ubuntu: tmux (and, with --test, Prometheus,
# promtool and Alertmanager for the metrics tests, zsh and fish for the shell tests), a virtual
# environment in .venv, and the package itself.
# Idempotent: a second run installs nothing new. Usage: scripts/install.sh [--test]
set -euo pipefail
cd "$(dirname "$0")/.."

want_test=0
[ "${1:-}" = "--test" ] && want_test=1

apt_packages=()
command -v tmux >/dev/null 2>&1 || apt_packages+=(tmux)
python3 -c 'import ensurepip, venv' >/dev/null 2>&1 || apt_packages+=(python3-venv)
if [ "$want_test" = 1 ]; then
    command -v prometheus >/dev/null 2>&1 || apt_packages+=(prometheus)
    command -v prometheus-alertmanager >/dev/null 2>&1 || apt_packages+=(prometheus-alertmanager)
    # The shell-integration tests run real zsh and fish panes (bash is always there).
    command -v zsh >/dev/null 2>&1 || apt_packages+=(zsh)
    command -v fish >/dev/null 2>&1 || apt_packages+=(fish)
fi
if [ "${#apt_packages[@]}" -gt 0 ]; then
    if [ "$(id -u)" -ne 0 ]; then sudo=sudo; else sudo=; fi
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${apt_packages[@]}" >/dev/null
    # The Debian packages start system services (:9090, :9093); the tests run their own.
    if [ "$want_test" = 1 ] && command -v systemctl >/dev/null 2>&1; then
        $sudo systemctl disable --now prometheus >/dev/null 2>&1 || true
        $sudo systemctl disable --now prometheus-alertmanager >/dev/null 2>&1 || true
    fi
fi

[ -x .venv/bin/python ] || python3 -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip >/dev/null
if [ "$want_test" = 1 ]; then
    .venv/bin/python -m pip install -q -e '.[test]'
else
    .venv/bin/python -m pip install -q -e .
fi
