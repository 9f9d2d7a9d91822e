#!/usr/bin/env bash
# Print the path of a Python interpreter of the wanted version (e.g. 3.10), or fail loudly.
# Looks at PATH, then pyenv's versions, then the usual system places.
set -u
want="$1"
for candidate in "python$want" "$HOME"/.pyenv/versions/"$want".*/bin/python"$want" \
                 /root/.pyenv/versions/"$want".*/bin/python"$want" /usr/bin/python"$want" /usr/local/bin/python"$want"; do
  if "$candidate" -c "import sys; assert sys.version_info[:2] == tuple(map(int, '$want'.split('.')))" 2>/dev/null; then
    command -v "$candidate" 2>/dev/null || echo "$candidate"
    exit 0
  fi
done
echo "error: Python $want not found (needed for the ${2:-environment}); install it or put python$want on PATH" >&2
exit 1
