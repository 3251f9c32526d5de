//go:build unix

package main

import (
	"syscall"
	"time"
)

// processCPU is the CPU time our process has used, all its threads.
func processCPU() time.Duration {
	var r syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &r)
	return time.Duration(r.Utime.Nano() + r.Stime.Nano())
}
