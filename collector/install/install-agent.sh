#!/bin/sh
# Install the Upkeep agent on a Linux machine (systemd): a dedicated venv, the config, the
# token, and the hardened service. The collector serves this script with its own address
# filled in (GET /install/agent.sh); run it as root, e.g.
#   curl -fsSL https://collector.example.net/install/agent.sh | \
#     sudo UPKEEP_AGENT_TOKEN='upk_…' sh -s -- --site office-a
# Re-running upgrades the agent and keeps an existing /etc/upkeep/agent.yaml.
# Options: --url URL (for a new config; default: the collector that served the script)  --site NAME  --ca-bundle FILE
#          --package SPEC (pip spec or wheel; default: upkeep)  --prefix DIR (default /opt/upkeep-agent)
#          --etc DIR (default /etc/upkeep)  --no-service  --dry-run (print the commands only)
set -eu

# Filled in by the collector when it serves the script (collector/install_scripts.py).
COLLECTOR_URL=""
URL="$COLLECTOR_URL" SITE="default" CA_BUNDLE="" PACKAGE="upkeep" PREFIX="/opt/upkeep-agent" ETC="/etc/upkeep"
SERVICE=1 DRY=""
while [ $# -gt 0 ]; do
  case "$1" in
    --url) URL="$2"; shift 2 ;;
    --site) SITE="$2"; shift 2 ;;
    --ca-bundle) CA_BUNDLE="$2"; shift 2 ;;
    --package) PACKAGE="$2"; shift 2 ;;
    --prefix) PREFIX="$2"; shift 2 ;;
    --etc) ETC="$2"; shift 2 ;;
    --no-service) SERVICE=0; shift ;;
    --dry-run) DRY=1; shift ;;
    *) echo "install-agent: unknown option $1" >&2; exit 2 ;;
  esac
done

run() { if [ -n "$DRY" ]; then echo "+ $*"; else "$@"; fi; }
die() { echo "install-agent: $*" >&2; exit 1; }

PYTHON="${PYTHON:-python3}"
"$PYTHON" -c 'import sys, venv; sys.exit(sys.version_info < (3, 11))' 2>/dev/null \
  || die "needs Python >= 3.11 with venv ($PYTHON); e.g. apt-get install python3-venv"

run "$PYTHON" -m venv "$PREFIX"
run "$PREFIX/bin/pip" install --quiet --upgrade pip
run "$PREFIX/bin/pip" install --quiet --upgrade "$PACKAGE"
run install -d -m 0750 "$ETC"

if [ ! -e "$ETC/agent.yaml" ]; then
  [ -n "$URL" ] || die "--url is required for a new install ($ETC/agent.yaml does not exist)"
  [ -n "${UPKEEP_AGENT_TOKEN:-}" ] || die "set UPKEEP_AGENT_TOKEN (from: upkeep token create --client NAME)"
  if [ -n "$DRY" ]; then
    echo "+ write $ETC/agent.token (0640) and $ETC/agent.yaml (0640): collector $URL, site $SITE"
  else
    umask 027
    printf '%s\n' "$UPKEEP_AGENT_TOKEN" > "$ETC/agent.token"
    {
      echo "# Written by install-agent.sh; reference: docs/deployment.md"
      echo "collector:"
      echo "  url: $URL"
      echo "  token_file: $ETC/agent.token"
      [ -n "$CA_BUNDLE" ] && echo "  ca_bundle: $CA_BUNDLE"
      echo "site: $SITE"
    } > "$ETC/agent.yaml"
  fi
fi

run "$PREFIX/bin/upkeep-agent" check-config --config "$ETC/agent.yaml"
if [ "$SERVICE" = 1 ]; then
  run "$PREFIX/bin/upkeep-agent" install-service --config "$ETC/agent.yaml"
  run "$PREFIX/bin/upkeep-agent" status
fi
