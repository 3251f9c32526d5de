package runtime_test

import (
	"io/fs"
	"os"
	"path/filepath"
	"testing"

	"github.com/snakepit-wasm/snakepit/runtime"
	"github.com/stretchr/testify/require"
)

// TestZoneinfoFindsTheTimeZoneDatabase runs in a fresh instance and in a
// snapshot clone: zoneinfo reads /usr/share/zoneinfo, which is read-only.
func TestZoneinfoFindsTheTimeZoneDatabase(t *testing.T) {
	const code = `
import zoneinfo, datetime
paris = zoneinfo.ZoneInfo("Europe/Paris")
summer = datetime.datetime(2026, 7, 1, 12, tzinfo=paris)
winter = datetime.datetime(2026, 1, 1, 12, tzinfo=paris)
assert summer.utcoffset() == datetime.timedelta(hours=2), summer.utcoffset()
assert winter.utcoffset() == datetime.timedelta(hours=1), winter.utcoffset()
assert summer.astimezone(zoneinfo.ZoneInfo("America/New_York")).hour == 6
zones = zoneinfo.available_timezones()
assert len(zones) > 400 and "Asia/Tokyo" in zones, len(zones)
try:
    open("/usr/share/zoneinfo/UTC", "wb")
except OSError:
    pass
else:
    raise AssertionError("the time-zone database is writable")
len(zones)
`
	s := newSnapshot(t, runtime.SnapshotOptions{Preload: []string{"zoneinfo"}})
	for name, inst := range map[string]*runtime.Instance{"fresh": newInstance(t, runtime.Options{}), "clone": clone(t, s)} {
		r, err := inst.Run(ctx, runtime.Exec(code))
		require.NoError(t, err, name)
		var n int
		require.NoError(t, r.Decode(&n))
		require.Greater(t, n, 400, name)
	}
}

// TestSQLite uses an in-memory database (with full-text search and R*Tree),
// a file on the scratch file system (two connections to it lock each other
// out), and a database on a read-only mount opened read-only.
func TestSQLite(t *testing.T) {
	inst := newInstance(t, runtime.Options{})
	r, err := inst.Run(ctx, runtime.Exec(`
import sqlite3
mem = sqlite3.connect(":memory:")
mem.execute("create table t (k integer primary key, v text)")
mem.executemany("insert into t (v) values (?)", [("a",), ("b",), ("c",)])
assert mem.execute("select group_concat(v, '') from t").fetchone() == ("abc",)
assert mem.execute("select sqrt(16.0)").fetchone() == (4.0,)  # math functions built in
for fts in ("fts4", "fts5"):  # full-text search built in
    mem.execute(f"create virtual table doc_{fts} using {fts}(body)")
    mem.executemany(f"insert into doc_{fts} values (?)", [("the quick brown fox",), ("lazy dogs sleep",)])
    assert mem.execute(f"select body from doc_{fts} where doc_{fts} match 'quick'").fetchall() == [("the quick brown fox",)]
mem.execute("create virtual table box using rtree(id, x0, x1)")  # R*Tree built in

disk = sqlite3.connect("data.db")  # the scratch file system is the working directory
disk.execute("create table kv (k text primary key, v integer)")
with disk:
    disk.executemany("insert into kv values (?, ?)", [(str(i), i * i) for i in range(1000)])
disk.close()
disk = sqlite3.connect("data.db")
total = disk.execute("select sum(v) from kv").fetchone()[0]
other = sqlite3.connect("data.db", timeout=0)
disk.execute("insert into kv values ('x', 1)")  # holds the write lock until commit
try:
    other.execute("insert into kv values ('y', 2)")
except sqlite3.OperationalError as e:
    locked = str(e)
else:
    locked = ""
disk.commit()
other.execute("insert into kv values ('y', 2)")
other.commit()
rows = disk.execute("select count(*) from kv").fetchone()[0]
disk.close()
other.close()
sqlite3.sqlite_version, total, locked, rows
`))

	require.NoError(t, err)
	var got []any
	require.NoError(t, r.Decode(&got))
	require.Equal(t, "3.46.1", got[0])
	require.EqualValues(t, 332833500, got[1])
	require.Equal(t, "database is locked", got[2])
	require.EqualValues(t, 1002, got[3])
	data, err := fs.ReadFile(inst.Scratch(), "data.db")
	require.NoError(t, err)
	require.Equal(t, "SQLite format 3\x00", string(data[:16]))

	// The file the guest wrote, given to another instance on a read-only mount.
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "data.db"), data, 0o644))
	ro := newInstance(t, runtime.Options{Mounts: []runtime.Mount{{HostDir: dir, GuestPath: "/data"}}})
	r, err = ro.Run(ctx, runtime.Exec(`
import sqlite3
db = sqlite3.connect("file:/data/data.db?mode=ro", uri=True)
n = db.execute("select count(*) from kv").fetchone()[0]
try:
    db.execute("insert into kv values ('x', 1)")
except sqlite3.OperationalError as e:
    refused = str(e)
else:
    refused = ""
n, refused
`))

	require.NoError(t, err)
	require.NoError(t, r.Decode(&got))
	require.EqualValues(t, 1002, got[0])
	require.Contains(t, got[1], "readonly")
}
