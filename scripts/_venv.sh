# Sourced by scripts/demo and scripts/test: make .venv exist and match pyproject.toml.
#
# Creates .venv with the newest python3 >= 3.11 found (or $PYTHON), and runs
# `pip install -e '.[test,postgres]'` only when pyproject.toml changed since the last
# successful install (a checksum is kept in .venv/.aobo-installed), so repeat runs start at once.

aobo_find_python() {
    local candidate
    for candidate in "${PYTHON:-}" python3.13 python3.12 python3.11 python3; do
        [ -n "$candidate" ] || continue
        command -v "$candidate" >/dev/null 2>&1 || continue
        if "$candidate" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
            echo "$candidate"
            return 0
        fi
    done
    echo "aobo needs Python 3.11 or newer; none found (set PYTHON=/path/to/python3.11)." >&2
    return 1
}

aobo_ensure_venv() {
    local root python stamp wanted
    root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
    cd "$root"
    if ! .venv/bin/python -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
        python=$(aobo_find_python)
        echo "Creating .venv with $("$python" --version)..." >&2
        rm -rf .venv
        "$python" -m venv .venv
    fi
    stamp=.venv/.aobo-installed
    wanted=$(cksum < pyproject.toml)
    if [ "$(cat "$stamp" 2>/dev/null)" != "$wanted" ]; then
        echo "Installing aobo and its dependencies into .venv..." >&2
        .venv/bin/python -m pip install --quiet --disable-pip-version-check --upgrade pip
        .venv/bin/python -m pip install --quiet --disable-pip-version-check -e '.[test,postgres]'
        echo "$wanted" > "$stamp"
    fi
}
