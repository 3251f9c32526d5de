package redisstore_test

import (
	"bufio"
	"context"
	"io/fs"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/snakepit-wasm/snakepit/internal/storetest"
	"github.com/snakepit-wasm/snakepit/internal/testredis"
	"github.com/snakepit-wasm/snakepit/internal/testrt"
	"github.com/snakepit-wasm/snakepit/pool/redisstore"
	"github.com/snakepit-wasm/snakepit/runtime"
	"github.com/stretchr/testify/require"
)

func TestMain(m *testing.M) { testrt.Main(m) }

var ctx = context.Background()

// open starts a redis-server and opens a Store on it; the cleanup closes
// the Store before the server stops.
func open(t testing.TB, opts redisstore.Options) (*redisstore.Store, *testredis.Server) {
	t.Helper()
	srv := testredis.Start(t)
	st, err := redisstore.Open(ctx, srv.URL, opts)
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, st.Close()) })
	return st, srv
}

// client is a plain client on srv, to look at what the store wrote.
func client(t testing.TB, srv *testredis.Server) *redis.Client {
	c := redis.NewClient(&redis.Options{Addr: srv.Addr})
	t.Cleanup(func() { c.Close() })
	return c
}

func TestContract(t *testing.T) {
	st, _ := open(t, redisstore.Options{})
	storetest.Contract(t, st)
}

// A session spilled or saved at Close by one pool resumes in another, with
// its variables and files, through Redis.
func TestSessionsMoveThroughRedis(t *testing.T) {
	st, _ := open(t, redisstore.Options{})
	storetest.Sessions(t, testrt.Runtime(t), st)
}

func TestPrefixIsolatesStores(t *testing.T) {
	srv := testredis.Start(t)
	c := client(t, srv)
	stores := map[string]*redisstore.Store{
		"default": redisstore.New(c, redisstore.Options{}),
		"a":       redisstore.New(c, redisstore.Options{Prefix: "deploy-a:"}),
		"b":       redisstore.New(c, redisstore.Options{Prefix: "deploy-b:"}),
	}
	require.NoError(t, c.Set(ctx, "k", "another application's", 0).Err())
	for name, st := range stores {
		require.NoError(t, st.Put(ctx, "k", []byte(name)))
	}
	for name, st := range stores {
		got, err := st.Get(ctx, "k")
		require.NoError(t, err)
		require.Equal(t, name, string(got))
	}
	keys, err := c.Keys(ctx, "*").Result()
	require.NoError(t, err)
	require.ElementsMatch(t, []string{"k", redisstore.DefaultPrefix + "k", "deploy-a:k", "deploy-b:k"}, keys)

	require.NoError(t, stores["a"].Delete(ctx, "k"))
	_, err = stores["a"].Get(ctx, "k")
	require.ErrorIs(t, err, fs.ErrNotExist)
	for _, name := range []string{"default", "b"} {
		got, err := stores[name].Get(ctx, "k")
		require.NoError(t, err, "another prefix's delete leaves it")
		require.Equal(t, name, string(got))
	}
	v, err := c.Get(ctx, "k").Result()
	require.NoError(t, err)
	require.Equal(t, "another application's", v)
	require.NoError(t, stores["default"].Close(), "a Store from New leaves the client open")
	require.NoError(t, c.Ping(ctx).Err())
}

// Redis is shared and images are a guest's state: a value over the cap is
// refused both ways, and Get does not read it whole.
func TestImagesOverTheCapAreRefused(t *testing.T) {
	const limit = 1 << 10
	st, srv := open(t, redisstore.Options{MaxImage: limit})
	c := client(t, srv)

	require.NoError(t, st.Put(ctx, "at", make([]byte, limit)))
	got, err := st.Get(ctx, "at")
	require.NoError(t, err)
	require.Len(t, got, limit)

	err = st.Put(ctx, "over", make([]byte, limit+1))
	require.ErrorIs(t, err, redisstore.ErrTooLarge)
	require.ErrorIs(t, err, runtime.ErrBadImage, "a pool drops an image it can never restore")
	require.Equal(t, runtime.KindImage, runtime.KindOf(err))
	n, err := c.Exists(ctx, redisstore.DefaultPrefix+"over").Result()
	require.NoError(t, err)
	require.Zero(t, n, "nothing written")

	// Written by another process, one with a larger cap or none.
	require.NoError(t, c.Set(ctx, redisstore.DefaultPrefix+"huge", strings.Repeat("x", 8<<20), 0).Err())
	before := netOutput(t, c)
	_, err = st.Get(ctx, "huge")
	require.ErrorIs(t, err, redisstore.ErrTooLarge)
	require.Less(t, netOutput(t, c)-before, int64(64<<10), "the server sent about the cap, not the value")
}

// netOutput is the bytes the server has sent to its clients.
func netOutput(t *testing.T, c *redis.Client) int64 {
	info, err := c.Info(ctx, "stats").Result()
	require.NoError(t, err)
	sc := bufio.NewScanner(strings.NewReader(info))
	for sc.Scan() {
		if v, ok := strings.CutPrefix(strings.TrimSpace(sc.Text()), "total_net_output_bytes:"); ok {
			n, err := strconv.ParseInt(v, 10, 64)
			require.NoError(t, err)
			return n
		}
	}
	t.Fatal("no total_net_output_bytes in INFO stats")
	return 0
}

func TestTTLExpiresIdleImages(t *testing.T) {
	srv := testredis.Start(t)
	c := client(t, srv)
	st := redisstore.New(c, redisstore.Options{TTL: time.Hour})
	forever := redisstore.New(c, redisstore.Options{Prefix: "forever:"})
	require.NoError(t, st.Put(ctx, "k", []byte("img")))
	require.NoError(t, forever.Put(ctx, "k", []byte("img")))
	ttl, err := c.PTTL(ctx, redisstore.DefaultPrefix+"k").Result()
	require.NoError(t, err)
	require.Greater(t, ttl, 59*time.Minute)
	require.LessOrEqual(t, ttl, time.Hour)
	ttl, err = c.PTTL(ctx, "forever:k").Result()
	require.NoError(t, err)
	require.Equal(t, time.Duration(-1), ttl, "no TTL: no expiry")
}

func TestOpen(t *testing.T) {
	_, err := redisstore.Open(ctx, "http://localhost:6379", redisstore.Options{})
	require.ErrorContains(t, err, "invalid URL scheme")
	srv := testredis.Start(t)
	st, err := redisstore.Open(ctx, srv.URL, redisstore.Options{})
	require.NoError(t, err)
	require.NoError(t, st.Close())
	require.NoError(t, st.Close(), "safe to call twice")
	_, err = st.Get(ctx, "k")
	require.Error(t, err, "closed")

	c := client(t, srv)
	require.NoError(t, c.ConfigSet(ctx, "requirepass", "sesame").Err())
	_, err = redisstore.Open(ctx, srv.URL, redisstore.Options{})
	require.Error(t, err, "Open checks that the server answers")
	st, err = redisstore.Open(ctx, "redis://:sesame@"+srv.Addr+"/3", redisstore.Options{})
	require.NoError(t, err)
	defer st.Close()
	require.NoError(t, st.Put(ctx, "k", []byte("in db 3")))
}

func TestContextFirst(t *testing.T) {
	st, _ := open(t, redisstore.Options{})
	c, cancel := context.WithCancel(ctx)
	cancel()
	_, err := st.Get(c, "k")
	require.ErrorIs(t, err, context.Canceled)
	require.ErrorIs(t, st.Put(c, "k", []byte("x")), context.Canceled)
}
