# Sourced by .ci/latest and .ci/pin: a fresh virtual environment holding this checkout with the
# newest releases of everything it depends on, and that set's `pip freeze` in $newest_freeze.
newest_dir=$(mktemp -d "${TMPDIR:-/tmp}/umi-newest-XXXXXX")
trap 'rm -rf "$newest_dir"' EXIT
newest_python="$newest_dir/venv/bin/python"
newest_freeze="$newest_dir/freeze.txt"
python -m venv "$newest_dir/venv"
"$newest_python" -m pip install --quiet --disable-pip-version-check --upgrade pip
"$newest_python" -m pip install --quiet --disable-pip-version-check --upgrade -e ".[test]"
"$newest_python" -m pip freeze --exclude-editable > "$newest_freeze"
