package adapter_test

import (
	"bytes"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
	"time"
)

// cpuStart and cpuEnd bracket a measure of the CPU time used by this
// process and by its live children (the native pool's workers): on a
// shared machine, CPU time is steadier than wall time. Children are read
// from /proc, in clock ticks (10 ms: measure over seconds). Reading /proc
// costs milliseconds, so it happens outside the bracket.
func cpuStart() time.Duration { return children() + self() }

func cpuEnd(start time.Duration) time.Duration { return self() + children() - start }

func self() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func children() time.Duration {
	var d time.Duration
	self := strconv.Itoa(os.Getpid())
	stats, _ := filepath.Glob("/proc/[0-9]*/stat")
	for _, p := range stats {
		b, err := os.ReadFile(p)
		if err != nil {
			continue
		}
		// After "pid (comm)": state ppid ... utime (14th field) stime (15th).
		i := bytes.LastIndexByte(b, ')')
		if i < 0 {
			continue
		}
		f := bytes.Fields(b[i+1:])
		if len(f) < 13 || string(f[1]) != self {
			continue
		}
		u, _ := strconv.ParseInt(string(f[11]), 10, 64)
		s, _ := strconv.ParseInt(string(f[12]), 10, 64)
		d += time.Duration(u+s) * 10 * time.Millisecond // USER_HZ is 100 on Linux
	}
	return d
}
