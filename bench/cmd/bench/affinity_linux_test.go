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
	cpu := 0
	for !before.IsSet(cpu) {
		cpu++
	}

	restore, err := pinTo(cpu, child.Process.Pid)
	require.NoError(t, err)
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
