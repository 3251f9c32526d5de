package runtime_test

import (
	"encoding/json"
	"testing"
	"testing/fstest"

	"github.com/snakepit-wasm/snakepit/runtime"
	"github.com/stretchr/testify/require"
)

// Every bad option is refused with ErrBadOptions by one function, before
// anything starts; NewInstance and NewSnapshot run it.
func TestOptionsValidate(t *testing.T) {
	fsys := fstest.MapFS{}
	require.NoError(t, runtime.Options{}.Validate())
	require.NoError(t, runtime.Options{Limits: runtime.Limits{MaxResult: runtime.NoLimit, MaxMemory: runtime.NoLimit}}.Validate())
	for name, o := range map[string]runtime.Options{
		"a limit below NoLimit":    {Limits: runtime.Limits{MaxStdout: -2}},
		"a memory cap below zero":  {Limits: runtime.Limits{MaxMemory: -5}},
		"a relative mount":         {Mounts: []runtime.Mount{{GuestPath: "data", FS: fsys}}},
		"a mount over the stdlib":  {Mounts: []runtime.Mount{{GuestPath: runtime.StdlibPath, FS: fsys}}},
		"a mount in the stdlib":    {Mounts: []runtime.Mount{{GuestPath: runtime.StdlibPath + "/json", FS: fsys}}},
		"a mount over zoneinfo":    {Mounts: []runtime.Mount{{GuestPath: runtime.ZoneinfoPath, FS: fsys}}},
		"a mount over packages":    {Mounts: []runtime.Mount{{GuestPath: runtime.PackagesPath, FS: fsys}}},
		"a mount on scratch":       {Mounts: []runtime.Mount{{GuestPath: "/tmp", FS: fsys}}},
		"a mount of nothing":       {Mounts: []runtime.Mount{{GuestPath: "/data"}}},
		"a relative scratch path":  {Scratch: runtime.ScratchOptions{Path: "tmp"}},
		"scratch at the root":      {Scratch: runtime.ScratchOptions{Path: "/"}},
		"scratch over the stdlib":  {Scratch: runtime.ScratchOptions{Path: runtime.StdlibPath}},
		"a reserved host tool":     {Host: map[string]runtime.HostFunc{"snakepit.x": nil}},
		"an env name with =":       {Env: map[string]string{"A=B": "c"}},
		"an empty env name":        {Env: map[string]string{"": "c"}},
		"an env value with NUL":    {Env: map[string]string{"A": "b\x00c"}},
		"a package of two sources": {Packages: []runtime.Package{{FS: fsys, HostDir: "/"}}},
		"a package of none":        {Packages: []runtime.Package{{}}},
	} {
		t.Run(name, func(t *testing.T) {
			require.ErrorIs(t, o.Validate(), runtime.ErrBadOptions)
			_, err := rt(t).NewInstance(ctx, o)
			require.ErrorIs(t, err, runtime.ErrBadOptions)
			_, err = rt(t).NewSnapshot(ctx, runtime.SnapshotOptions{Options: o})
			require.ErrorIs(t, err, runtime.ErrBadOptions)
		})
	}
}

// DefaultLimits is what a zero Limits means: an instance given it
// explicitly behaves as one given nothing.
func TestDefaultLimitsAreTheZeroValues(t *testing.T) {
	d := runtime.DefaultLimits()
	require.Equal(t, int64(256<<20), d.MaxMemory)
	a := newInstance(t, runtime.Options{Limits: d})
	b := newInstance(t, runtime.Options{})
	for _, i := range []*runtime.Instance{a, b} {
		r, err := i.Run(ctx, runtime.Exec("print('x' * (2 << 20))"))
		require.NoError(t, err)
		require.Len(t, r.Stdout, d.MaxStdout)
		require.True(t, r.StdoutTruncated)
	}
}

// Request constructors build what the Op documents, and an argument JSON
// cannot encode is a bad request, not a panic or a Python error.
func TestRequestConstructors(t *testing.T) {
	i := newInstance(t, runtime.Options{})
	for _, tc := range []struct {
		req  runtime.Request
		want string
	}{
		{runtime.Exec("x = 40\ndef up(b): return b.upper()\nx + 1"), "41"},
		{runtime.Eval("x + 2"), "42"},
		{runtime.Call("divmod", 7, 2), "[3,1]"},
		{runtime.CallJSON("dict", []byte(`{"a":1}`)), `{"a":1}`},
		{runtime.CallJSON("list", nil), "[]"},
	} {
		r, err := i.Run(ctx, tc.req)
		require.NoError(t, err, "%v %s", tc.req.Op, tc.req.Code)
		require.JSONEq(t, tc.want, string(r.Value))
	}
	r, err := i.Run(ctx, runtime.CallBytes("up", []byte("abc")))
	require.NoError(t, err)
	require.Equal(t, []byte("ABC"), r.Bytes)
	_, err = i.Run(ctx, runtime.Call("len", make(chan int)))
	require.ErrorIs(t, err, runtime.ErrBadRequest)
	require.ErrorIs(t, runtime.Call("len", make(chan int)).Validate(), runtime.ErrBadRequest)
	var got []int
	_, err = i.Run(ctx, runtime.CallStream("range", []byte("[3]"), func(c json.RawMessage) error {
		got = append(got, int(c[0]-'0'))
		return nil
	}))
	require.NoError(t, err)
	require.Equal(t, []int{0, 1, 2}, got)
	var _ runtime.Runner = i
}
