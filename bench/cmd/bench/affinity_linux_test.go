//go:build linux

package main

import (
	"os/exec"
	"testing"

	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

func TestPinToMovesThisProcessAndTheOthersAndBack(t *testing.T) {
	var before unix.CPUSet
	require.NoError(t, unix.SchedGetaffinity(0, &before))
	child := exec.Command("sleep", "30")
	require.NoError(t, child.Start())
	defer func() { _ = child.Process.Kill(); _ = child.Wait() }()
	first := 0
	for !before.IsSet(first) {
		first++
	}

	// The k-th allowed CPU, counted modulo their number: 0 and Count()
	// both name the first.
	cpu, restore, err := pinTo(before.Count(), child.Process.Pid)
	require.NoError(t, err)
	require.Equal(t, first, cpu)
	tids, err := threads()
	require.NoError(t, err)
	for _, tid := range append(tids, child.Process.Pid) {
		var set unix.CPUSet
		require.NoError(t, unix.SchedGetaffinity(tid, &set))
		require.Equal(t, 1, set.Count(), "thread %d", tid)
		require.True(t, set.IsSet(cpu), "thread %d", tid)
	}

	restore()
	tids, err = threads()
	require.NoError(t, err)
	for _, tid := range tids {
		var set unix.CPUSet
		require.NoError(t, unix.SchedGetaffinity(tid, &set))
		require.Equal(t, before, set, "thread %d", tid)
	}
}
