package pool_test

import (
	"fmt"
	"os"
	"path/filepath"
	goruntime "runtime"
	"testing"

	"github.com/snakepit-wasm/snakepit/pool"
	"github.com/snakepit-wasm/snakepit/runtime"
	"github.com/stretchr/testify/require"
)

// openFDs counts the process's open file descriptors.
func openFDs(t *testing.T) int {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	require.NoError(t, err)
	return len(ents)
}

// MaxOpenFiles capped one interpreter, and a parked session kept the host
// files its guest opened: 252 descriptors a session, and at the 79th
// session the process hit its limit (20,000), where the host's own
// os.CreateTemp and a new pool (memfd_create) failed with "too many open
// files".
func TestParkedSessionsCannotTakeTheHostsFileDescriptors(t *testing.T) {
	if goruntime.GOOS != "linux" {
		t.Skip("counts descriptors in /proc/self/fd")
	}
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "f1.txt"), []byte("x"), 0o644))
	const maxHost = 2000
	r, err := runtime.New(ctx, runtime.Config{MaxHostFiles: maxHost})
	require.NoError(t, err)
	defer r.Close(ctx)
	sessions := 1000
	if testing.Short() {
		sessions = 100
	}
	p, err := pool.NewSessions(ctx, r, pool.Options{Size: 2, MaxSessions: sessions,
		Instance: runtime.Options{Mounts: []runtime.Mount{{GuestPath: "/data", HostDir: dir}}}})
	require.NoError(t, err)
	defer p.Close(ctx)
	before := openFDs(t)
	held := 0
	for k := range sessions {
		res, err := p.Session(fmt.Sprint("s", k)).Run(ctx, exec(`
import errno, os
_keep = []
try:
    for _ in range(250):
        _keep.append(os.open('/data/f1.txt', os.O_RDONLY))
except OSError as e:
    assert e.errno == errno.EMFILE, e
len(_keep)`))
		require.NoError(t, err, "session %d", k)
		var n int
		require.NoError(t, res.Decode(&n))
		held += n
		if k%100 == 99 {
			// The host's own work goes on.
			f, err := os.CreateTemp(t.TempDir(), "host")
			require.NoError(t, err)
			f.Close()
			q, err := pool.New(ctx, r, pool.Options{Size: 1})
			require.NoError(t, err)
			require.NoError(t, q.Close(ctx))
		}
	}
	require.Equal(t, maxHost, held, "the guests got the cap's worth, and not one more")
	// Each live instance also holds its mount's root (an os.Root and
	// wazero's preopen of it), which MaxSessions bounds.
	roots := 2 * (sessions + 2)
	require.LessOrEqual(t, openFDs(t)-before, maxHost+roots)
}

// Scratch files were held outside every cap: 10 sessions each holding
// 60 MB of scratch took the host's heap to 1.94 GiB while MaxSessionMemory
// (256 MiB) refused none. Scratch content now counts in PrivateBytes. (At
// the report's scale, 60 MB a session under 256 MiB, 6 of the 10 were
// refused; this runs at 24 MiB under 96 MiB, to keep -race quick.)
func TestScratchFilesCountInMaxSessionMemory(t *testing.T) {
	const budget, per = 96 << 20, 24
	p, err := pool.NewSessions(ctx, rt(t), pool.Options{Size: 2, MaxSessions: 100, MaxSessionMemory: budget,
		Instance: runtime.Options{Limits: runtime.Limits{MaxScratchBytes: (per + 1) << 20}}})
	require.NoError(t, err)
	defer p.Close(ctx)
	refused := 0
	for k := range 10 {
		_, err := p.Session(fmt.Sprint("s", k)).Run(ctx, exec(fmt.Sprintf("with open('big', 'wb') as f:\n    for _ in range(%d):\n        f.write(b'x' * (1 << 20))", per)))
		if err != nil {
			require.ErrorIs(t, err, pool.ErrTooManySessions)
			refused++
		}
	}
	require.Positive(t, refused, "MaxSessionMemory refused sessions")
	st := p.Stats()
	require.Less(t, st.SessionMemory, uint64(budget+2*(per<<20)*2), "within the budget and one session's worth (content and room)")
	t.Logf("%d sessions refused; the live ones hold %d MiB", refused, st.SessionMemory>>20)
}
