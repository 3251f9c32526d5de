//go:build !linux

package pool

// physicalMemory is unknown off Linux: defaults use a fixed size instead.
func physicalMemory() uint64 { return 0 }
