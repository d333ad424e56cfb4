#!/usr/bin/env bash
# Installs the real clients the integration tests drive — Claude Code and the Codex CLI —
# into .clients/ (gitignored). Idempotent: skips what is already installed.
set -euo pipefail
cd "$(dirname "$0")/.."
PREFIX=.clients
mkdir -p "$PREFIX"
if [ ! -x "$PREFIX/node_modules/.bin/claude" ] || [ ! -x "$PREFIX/node_modules/.bin/codex" ]; then
  npm install --prefix "$PREFIX" --no-audit --no-fund --loglevel=error \
    @anthropic-ai/claude-code @openai/codex
fi
# npm 11 does not run the package's postinstall, which leaves `claude` a placeholder.
CC="$PREFIX/node_modules/@anthropic-ai/claude-code"
if [ -f "$CC/install.cjs" ] && ! "$PREFIX/node_modules/.bin/claude" --version >/dev/null 2>&1; then
  (cd "$CC" && node install.cjs)
fi
"$PREFIX/node_modules/.bin/claude" --version
"$PREFIX/node_modules/.bin/codex" --version
