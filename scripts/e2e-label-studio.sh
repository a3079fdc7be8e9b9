#!/usr/bin/env bash
# End to end: a yuxuan Label Studio export imported into a real Label Studio (PyPI
# label-studio==1.23.2, in its own venv under $YUXUAN_CACHE), following the export's README:
# local files serving, a Local Files storage on the images' folder, then every task's image is
# fetched through Label Studio and compared with the file. Not part of `make test` (it installs
# a few hundred MB and starts a server).   bash scripts/e2e-label-studio.sh [path/to/yuxuan]
set -euo pipefail
cd "$(dirname "$0")/.."
BIN="${1:-./target/release/yuxuan}"
[ -x "$BIN" ] || BIN=./target/debug/yuxuan
CACHE="${YUXUAN_CACHE:-$HOME/.cache/yuxuan}"
LS_VERSION=1.23.2
VENV="$CACHE/venv-label-studio-$LS_VERSION"
if [ ! -f "$VENV/.yuxuan-ok" ]; then
  echo "installing label-studio==$LS_VERSION into $VENV (once)"
  rm -rf "$VENV"
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install -q --disable-pip-version-check "label-studio==$LS_VERSION"
  touch "$VENV/.yuxuan-ok"
fi
EMOJI="$CACHE/data-v1/emoji/img64"
[ -d "$EMOJI" ] || { echo "no emoji images in $EMOJI: run make setup" >&2; exit 1; }

WORK="$(mktemp -d)"
LS_PID=""
cleanup() { [ -n "$LS_PID" ] && kill "$LS_PID" 2>/dev/null; wait 2>/dev/null; rm -rf "$WORK"; }
trap cleanup EXIT
mkdir -p "$WORK/photos/a" "$WORK/photos/b"
files=("$EMOJI"/*.png)
cp "${files[@]:0:10}" "$WORK/photos/a/"
cp "${files[@]:10:10}" "$WORK/photos/b/"
"$BIN" new "$WORK/p.yuxuan" --labels a,b >/dev/null
"$BIN" import "$WORK/p.yuxuan" "$WORK/photos" >/dev/null
# Half of them labelled (folder name = label), so tasks carry annotations too.
{ echo "path,label"; for f in "$WORK"/photos/a/*; do echo "$f,a"; done; } > "$WORK/labels.csv"
"$BIN" import-labels "$WORK/p.yuxuan" "$WORK/labels.csv" >/dev/null
"$BIN" export "$WORK/p.yuxuan" --format label-studio --out "$WORK/ls" --ls-document-root "$WORK"

PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
TOKEN=e2e0123456789abcdef0123456789abcdef0123
LOCAL_FILES_SERVING_ENABLED=true LOCAL_FILES_DOCUMENT_ROOT="$WORK" \
  LABEL_STUDIO_BASE_DATA_DIR="$WORK/ls-data" \
  "$VENV/bin/label-studio" start --no-browser --host 127.0.0.1 --port "$PORT" \
  --username e2e@example.com --password e2e-password-1 --user-token "$TOKEN" --enable-legacy-api-token \
  > "$WORK/ls.log" 2>&1 &
LS_PID=$!
for _ in $(seq 180); do
  curl -fsS "http://127.0.0.1:$PORT/health" >/dev/null 2>&1 && break
  sleep 1
done
curl -fsS "http://127.0.0.1:$PORT/health" >/dev/null || { tail -20 "$WORK/ls.log"; exit 1; }

"$VENV/bin/python" - "$PORT" "$TOKEN" "$WORK/ls" <<'PY'
import json, sys, urllib.request
port, token, out = sys.argv[1:]
base = f"http://127.0.0.1:{port}"
def call(method, path, body=None):
    req = urllib.request.Request(base + path, method=method,
        data=None if body is None else json.dumps(body).encode(),
        headers={"Authorization": f"Token {token}", "Content-Type": "application/json"})
    with urllib.request.urlopen(req) as r:
        data = r.read()
        return json.loads(data) if data and r.headers.get_content_type() == "application/json" else data
manifest = json.load(open(out + "/yuxuan-export.json"))
storage = manifest["storage_path"]
project = call("POST", "/api/projects", {"title": "yuxuan e2e", "label_config": open(out + "/label_config.xml").read()})
pid = project["id"]
call("POST", "/api/storages/localfiles", {"project": pid, "path": storage, "use_blob_urls": False, "title": "images"})
tasks = json.load(open(out + "/tasks.json"))
call("POST", f"/api/projects/{pid}/import", tasks)
got = call("GET", f"/api/projects/{pid}/tasks?page_size=1000")
got = got["tasks"] if isinstance(got, dict) else got
assert len(got) == len(tasks), (len(got), len(tasks))
annotated = sum(1 for t in got if t.get("total_annotations", len(t.get("annotations", []))) > 0)
same = 0
for t in got:
    url = t["data"]["image"]
    body = call("GET", url)
    path = manifest["document_root"].rstrip("/") + "/" + urllib.parse.unquote(url.split("?d=", 1)[1])
    assert body == open(path, "rb").read(), url
    same += 1
import label_studio
print(f"Label Studio {label_studio.__version__}: "
      f"{len(got)} tasks imported, {annotated} with annotations, {same} images served identical to the files "
      f"(document root {manifest['document_root']}, storage {storage})")
PY
