#!/usr/bin/env bash
# Run the app under Xvfb on the demo project, drive it with xdotool, save screenshots under
# assets/screenshots/. Needs: xvfb xauth xdotool imagemagick (make setup-gui installs them).
#   bash scripts/screenshots.sh [path/to/yuxuan]
set -euo pipefail
cd "$(dirname "$0")/.."
BIN="${1:-./target/release/yuxuan}"
[ -x "$BIN" ] || BIN=./target/debug/yuxuan
OUT=assets/screenshots
mkdir -p "$OUT"
for tool in xvfb-run xdotool import; do
  command -v "$tool" >/dev/null || { echo "missing $tool: run 'make setup-gui'" >&2; exit 1; }
done
# A throwaway eframe storage dir, so the annotator name prompt shows once and is answered here.
export XDG_DATA_HOME="$(mktemp -d)"
export YUXUAN_CACHE="${YUXUAN_CACHE:-$HOME/.cache/yuxuan}"
"$BIN" demo --no-train >/dev/null
DEMO="$YUXUAN_CACHE/demo-v1"

shoot() { # shoot NAME PROJECT KEYS...
  local name=$1 project=$2; shift 2
  xvfb-run -a -s "-screen 0 1400x900x24" bash -c '
    set -e
    "$0" gui "$1" & pid=$!
    sleep 6
    win=$(xdotool search --sync --name "yuxuan" | head -1)
    xdotool windowactivate --sync "$win" 2>/dev/null || true
    # The name prompt on first start.
    xdotool type --delay 40 "demo"; xdotool key Return; sleep 2
    for k in "${@:3}"; do
      case "$k" in
        click:*) xy=${k#click:}; xdotool mousemove ${xy%,*} ${xy#*,} click 1 ;;
        sleep:*) sleep ${k#sleep:} ;;
        *) xdotool key "$k" ;;
      esac
      sleep 0.4
    done
    sleep 2
    import -window root "$2"
    kill $pid' "$BIN" "$project" "$OUT/$name.png" "$@"
  echo "saved $OUT/$name.png"
}

shoot review-images "$DEMO/emoji.yuxuan" Return 2 3 Right
shoot shortcuts "$DEMO/emoji.yuxuan" question
if [ -f "$DEMO/forms.yuxuan" ]; then
  shoot review-forms "$DEMO/forms.yuxuan"
fi
