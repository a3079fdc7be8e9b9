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
# The demo with its first models (trained once, ~1 min on 2 cores; then cached), so the
# screenshots show suggestions as a new user sees them after `make run`.
"$BIN" demo >/dev/null
DEMO="$YUXUAN_CACHE/demo-v3"

# Work on a copy (projects and their model files), so the screenshots never add decisions
# to the cached demo.
WORK="$(mktemp -d)"
for p in emoji forms; do
  [ -f "$DEMO/$p.yuxuan" ] || continue
  cp "$DEMO/$p.yuxuan" "$WORK/$p.yuxuan"
  [ -d "$DEMO/$p.yuxuan.models" ] && cp -r "$DEMO/$p.yuxuan.models" "$WORK/"
done

shoot() { # shoot NAME PROJECT STEPS...   (a step: an xdotool key name, click:X,Y or sleep:S)
  local name=$1 project=$2; shift 2
  xvfb-run -a -s "-screen 0 1400x900x24" bash -c '
    set -e
    "$0" gui --annotator demo "$1" & pid=$!
    sleep 6
    win=$(xdotool search --name "yuxuan" | head -1)
    # No window manager: give the window the keyboard focus explicitly.
    xdotool windowfocus --sync "$win"
    xdotool mousemove 700 450
    for k in "${@:3}"; do
      case "$k" in
        click:*) xy=${k#click:}; xdotool mousemove ${xy%,*} ${xy#*,} click 1 ;;
        sleep:*) sleep ${k#sleep:} ;;
        *) xdotool key "$k" ;;
      esac
      sleep 0.5
    done
    sleep 2
    import -window root -crop 1280x820+0+0 "$2"
    kill $pid' "$BIN" "$project" "$OUT/$name.png" "$@"
  echo "saved $OUT/$name.png"
}

# Two annotators' windows side by side on one team project (a throwaway PostgreSQL server on
# 127.0.0.1, started by `yuxuan debug-pg-server` and stopped when its stdin closes).
shoot_team() {
  local fifo url
  fifo="$WORK/pg.fifo"; mkfifo "$fifo"
  "$BIN" debug-pg-server --project demo-team < "$fifo" > "$WORK/pg.url" &
  exec 9> "$fifo"
  for _ in $(seq 100); do [ -s "$WORK/pg.url" ] && break; sleep 0.2; done
  url=$(head -1 "$WORK/pg.url")
  "$BIN" push "$WORK/emoji.yuxuan" "$url" >/dev/null
  xvfb-run -a -s "-screen 0 2580x860x24" bash -c '
    set -e
    "$0" gui --annotator ann "$1" & a=$!
    sleep 7
    "$0" gui --annotator bob "$1" & b=$!
    sleep 7
    wins=($(xdotool search --name "yuxuan"))
    xdotool windowmove "${wins[1]}" 1300 0
    xdotool windowfocus --sync "${wins[0]}"; xdotool mousemove 640 400
    for k in Return 2 Return; do xdotool key $k; sleep 0.7; done
    xdotool windowfocus --sync "${wins[1]}"; xdotool mousemove 1940 400
    for k in Return 1; do xdotool key $k; sleep 0.7; done
    sleep 3
    import -window root -crop 2580x820+0+0 "$2"
    kill $a $b' "$BIN" "$url" "$OUT/team-two-annotators.png"
  exec 9>&-
  wait
  echo "saved $OUT/team-two-annotators.png"
}

# Quality control on a copy of the emoji demo: 5 scripted annotators, 30 % × 3 overlap, 20
# gold items, each annotator wrong 15 % of the time; then Insights and the review queue.
shoot_quality() {
  local q="$WORK/quality.yuxuan"
  cp "$WORK/emoji.yuxuan" "$q"
  [ -d "$WORK/emoji.yuxuan.models" ] && cp -r "$WORK/emoji.yuxuan.models" "$WORK/quality.yuxuan.models"
  python3 - "$q" "$YUXUAN_CACHE/data-v1/emoji/emoji.json" "$WORK/truth.csv" "$WORK/gold.csv" <<'PY'
import json, os, sqlite3, sys
db, meta, truth, gold = sys.argv[1:]
cat = {e["image"]: e["category"] for e in json.load(open(meta))}
rows = sqlite3.connect(db).execute("SELECT id, source_path FROM items WHERE kind = 'image' ORDER BY id").fetchall()
with open(truth, "w") as t, open(gold, "w") as g:
    t.write("path,label\n"); g.write("item_id,label\n")
    for k, (i, p) in enumerate(rows):
        c = cat.get(os.path.basename(p))
        if c:
            t.write(f'"{p}","{c}"\n')
            if k % 12 == 5:
                g.write(f'{i},"{c}"\n')
PY
  "$BIN" gold "$q" "$WORK/gold.csv" >/dev/null
  "$BIN" simulate "$q" --truth "$WORK/truth.csv" --annotators 5 --overlap 0.3x3 --error-rate 0.15 --think-ms 0 2>/dev/null
  shoot quality-insights "$q" click:505,12 sleep:3
  shoot quality-review "$q" click:${YUXUAN_FILTER_XY:-315,37} sleep:1 click:${YUXUAN_REVIEW_XY:-315,84} sleep:2
}

# Objects: scikit-image's public-domain sample photos (installed by setup), pre-labelled by
# YOLO11n; the shot shows the second box selected.
shoot_boxes() {
  local b="$WORK/photos.yuxuan" photos="$YUXUAN_CACHE/data-v1/photos"
  "$BIN" new "$b" --kind objects --labels person,cup,dining\ table,spoon,motorcycle,bicycle >/dev/null
  "$BIN" import "$b" "$photos/coffee.png" "$photos/astronaut.png" "$photos/motorcycle_left.png" >/dev/null
  "$BIN" prelabel "$b" >/dev/null
  shoot review-boxes "$b" Tab Tab
}

if [ "${YUXUAN_SHOTS:-}" = boxes ]; then
  shoot_boxes
  rm -rf "$WORK"
  exit 0
fi

if [ "${YUXUAN_SHOTS:-}" = quality ]; then
  shoot_quality
  rm -rf "$WORK"
  exit 0
fi

if [ "${YUXUAN_SHOTS:-}" = team ]; then
  shoot_team
  rm -rf "$WORK"
  exit 0
fi

# First, while the copy has no decisions of its own (the layout, and so the button, moves).
shoot insights-duplicates "$WORK/emoji.yuxuan" click:505,12 sleep:2 click:237,464 sleep:6
shoot review-images "$WORK/emoji.yuxuan" 2 3 Return 1
shoot shortcuts "$WORK/emoji.yuxuan" question
shoot training "$WORK/emoji.yuxuan" click:435,12
shoot review-zh "$WORK/emoji.yuxuan" click:1220,12 sleep:1 click:1200,62
if [ -f "$WORK/forms.yuxuan" ]; then
  shoot review-forms "$WORK/forms.yuxuan"
fi
shoot_boxes
shoot_team
shoot_quality
rm -rf "$WORK"
