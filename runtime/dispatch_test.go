package runtime_test

import (
	"fmt"
	"testing"

	"github.com/snakepit-wasm/snakepit/runtime"
	"github.com/stretchr/testify/require"
)

// The guest keeps the code of recent sources: running one again runs it
// again (its effects, its last expression's value), only without
// compiling it.
func TestRepeatedSourceRunsAgain(t *testing.T) {
	i := newInstance(t, runtime.Options{})
	_, err := i.Run(ctx, runtime.Exec("n = 0"))
	require.NoError(t, err)
	for k := 1; k <= 3; k++ {
		res, err := i.Run(ctx, runtime.Exec("n += 1\nprint('run', n)\nn * 10"))
		require.NoError(t, err)
		require.JSONEq(t, fmt.Sprint(k*10), string(res.Value))
		require.Equal(t, fmt.Sprintf("run %d\n", k), string(res.Stdout))
		res, err = i.Run(ctx, runtime.Eval("n"))
		require.NoError(t, err)
		require.JSONEq(t, fmt.Sprint(k), string(res.Value))
	}
	// The same text as an expression and as a cell are different requests.
	res, err := i.Run(ctx, runtime.Exec("n"))
	require.NoError(t, err)
	require.JSONEq(t, "3", string(res.Value))
}

// A cell is compiled whole before any of it runs: a syntax error in its
// last expression runs nothing.
func TestCellWithSyntaxErrorRunsNothing(t *testing.T) {
	i := newInstance(t, runtime.Options{})
	_, err := i.Run(ctx, runtime.Exec("x = 1\nyield 2"))
	var pe *runtime.PythonError
	require.ErrorAs(t, err, &pe)
	require.Equal(t, "SyntaxError", pe.Type)
	res, err := i.Run(ctx, runtime.Eval("'x' in globals()"))
	require.NoError(t, err)
	require.JSONEq(t, "false", string(res.Value))
}

// The code cache is bounded in entries, and large sources are not kept.
func TestCodeCacheIsBounded(t *testing.T) {
	i := newInstance(t, runtime.Options{})
	for k := range 200 {
		_, err := i.Run(ctx, runtime.Exec(fmt.Sprintf("x = %d", k)))
		require.NoError(t, err)
	}
	big := fmt.Sprintf("s = %q", make([]byte, 10000))
	_, err := i.Run(ctx, runtime.Exec(big))
	require.NoError(t, err)
	res, err := i.Run(ctx, runtime.Eval("[len(c := __import__('sys').modules['snakepit_guest']._compiled), any(len(k[1]) > 8192 for k in c)]"))
	require.NoError(t, err)
	require.JSONEq(t, "[64, false]", string(res.Value))
}

// Output written without a newline reaches the host by the call's end,
// through the interpreter's own streams and through a buffered one that
// the code put in their place.
func TestOutputWithoutNewlineIsFlushed(t *testing.T) {
	i := newInstance(t, runtime.Options{})
	res, err := i.Run(ctx, runtime.Exec("print('a', end='')\nimport sys\nsys.stderr.write('b')"))
	require.NoError(t, err)
	require.Equal(t, "a", string(res.Stdout))
	require.Equal(t, "b", string(res.Stderr))
	res, err = i.Run(ctx, runtime.Exec("import io, sys\nsys.stdout = io.TextIOWrapper(io.BufferedWriter(io.FileIO(1, 'w', closefd=False)))\nprint('c', end='')"))
	require.NoError(t, err)
	require.Equal(t, "c", string(res.Stdout))
}
