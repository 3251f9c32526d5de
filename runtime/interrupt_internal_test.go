package runtime

import (
	"context"
	"encoding/json"
	"errors"
	"testing"

	"github.com/snakepit-wasm/snakepit/internal/abi"
	"github.com/stretchr/testify/require"
	"github.com/tetratelabs/wazero/api"
)

// sp_interrupt, called from the yield path while `while True: pass` runs,
// unwinds the loop with KeyboardInterrupt; the interpreter keeps its state
// and serves the next call. (The deadline policy that will call it is not
// here: this is the mechanism alone.)
func TestInterruptFromYieldRaisesKeyboardInterruptAndKeepsState(t *testing.T) {
	ctx := context.Background()
	r, err := New(ctx, Config{})
	require.NoError(t, err)
	defer r.Close(ctx)
	i, err := r.NewInstance(ctx, Options{})
	require.NoError(t, err)
	defer i.Close(ctx)
	_, err = i.Exec(ctx, "before = 42")
	require.NoError(t, err)

	yields, interrupts := 0, 0
	// The host tool runs during the call: it arms the yield path, which
	// interrupts once the loop has yielded a few times.
	arm := func(context.Context, json.RawMessage) (any, error) {
		i.cur.onYield = func(ctx context.Context, m api.Module) {
			if yields++; yields == 3 {
				interrupts++
				_, err := m.ExportedFunction(abi.ExportInterrupt).Call(ctx) // re-entrant
				require.NoError(t, err)
			}
		}
		return nil, nil
	}
	res, err := i.Run(ctx, Request{Op: OpExec, Code: "import snakepit\nsnakepit.call('arm')\nwhile True:\n    pass\n",
		Host: map[string]HostFunc{"arm": arm}})
	var pe *PythonError
	require.True(t, errors.As(err, &pe), "%v", err)
	require.Equal(t, "KeyboardInterrupt", pe.Type)
	require.Regexp(t, `File "<exec>", line [34],`, pe.Traceback) // in the loop
	require.NotNil(t, res)
	require.Equal(t, 1, interrupts)
	require.NoError(t, i.Err())

	v, err := i.Eval(ctx, "before")
	require.NoError(t, err)
	require.JSONEq(t, "42", string(v.Value))

	// An interrupt asked between requests is void: its pending call runs
	// in the next request and raises nothing.
	_, err = i.mod.ExportedFunction(abi.ExportInterrupt).Call(ctx)
	require.NoError(t, err)
	_, err = i.Exec(ctx, "for _ in range(100000):\n    pass\nbefore += 1")
	require.NoError(t, err)
	v, err = i.Eval(ctx, "before")
	require.NoError(t, err)
	require.JSONEq(t, "43", string(v.Value))
}
