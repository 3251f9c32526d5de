//go:build linux

package main

import (
	"fmt"
	"os"
	"strconv"

	"golang.org/x/sys/unix"
)

// pinTo runs every thread of this process, and the processes pids (each one
// thread), on one CPU alone, so that both sides of a comparison share a
// core: on a VM the virtual CPUs need not be equally fast. The CPU is the
// k-th, modulo their number, of those this process may run on (which need
// not be 0 to n-1: taskset, a container's cpuset), and is returned. Threads
// started later inherit the pinning from the thread that starts them. The
// returned function gives every thread, those started since included, the
// CPUs this process had before.
func pinTo(k int, pids ...int) (cpu int, restore func(), err error) {
	var all, one unix.CPUSet
	if err := unix.SchedGetaffinity(0, &all); err != nil {
		return 0, nil, err
	}
	for n := k % all.Count(); ; cpu++ {
		if all.IsSet(cpu) {
			if n == 0 {
				break
			}
			n--
		}
	}
	one.Set(cpu)
	set := func(s *unix.CPUSet) error {
		tids, err := threads()
		if err != nil {
			return err
		}
		for _, tid := range append(tids, pids...) {
			if err := unix.SchedSetaffinity(tid, s); err != nil && err != unix.ESRCH { // ESRCH: exited since listed
				return fmt.Errorf("setting the CPUs of thread %d: %w", tid, err)
			}
		}
		return nil
	}
	restore = func() { _ = set(&all) }
	if err := set(&one); err != nil {
		restore()
		return 0, nil, err
	}
	return cpu, restore, nil
}

// threads lists this process's thread ids.
func threads() ([]int, error) {
	ents, err := os.ReadDir("/proc/self/task")
	if err != nil {
		return nil, err
	}
	var tids []int
	for _, e := range ents {
		if tid, err := strconv.Atoi(e.Name()); err == nil {
			tids = append(tids, tid)
		}
	}
	return tids, nil
}
