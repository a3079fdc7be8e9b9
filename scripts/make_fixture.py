"""Write tests/fixtures/schema_vN.yuxuan: a project at schema version N with a few labels.

usage: python3 scripts/make_fixture.py N   (run once when migration N is released; commit it)
"""
import glob
import os
import sqlite3
import sys

v = int(sys.argv[1])
p = f"tests/fixtures/schema_v{v}.yuxuan"
if os.path.exists(p):
    sys.exit(f"{p} exists: fixtures of released versions never change")
c = sqlite3.connect(p)
for f in sorted(glob.glob("migrations/sqlite/*.sql"))[:v]:
    c.executescript(open(f, encoding="utf-8").read())
c.execute(f"PRAGMA user_version={v}")
t = "2026-11-22T19:00:00.000Z"
c.execute("INSERT INTO project (id,name,kind,created_at) VALUES (1,'fixture','image',?)", (t,))
c.execute("INSERT INTO label_sets (name,target) VALUES ('class','image')")
c.execute("INSERT INTO labels (label_set_id,name,position,hotkey,color) VALUES (1,'cat',0,'1','#e6194b'),(1,'dog',1,'2','#3cb44b')")
for i in range(1, 4):
    c.execute("INSERT INTO items (kind,source_path,content_hash,added_at) VALUES ('image',?,?,?)", (f"img/{i}.png", f"h{i}", t))
c.execute(
    "INSERT INTO decisions (item_id,label_set_id,label,annotator,action,ms_spent,decided_at) "
    "VALUES (1,1,'cat','fx','accept',900,?),(2,1,'dog','fx','correct',1500,?)",
    (t, t),
)
c.execute("INSERT OR REPLACE INTO item_labels VALUES (1,1,'cat',1),(2,1,'dog',2)")
c.commit()
c.close()
print("wrote", p)
