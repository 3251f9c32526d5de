//go:build !unix

package main

import "time"

// processCPU is not measured here; the native side's CPU time needs
// Linux's /proc as well.
func processCPU() time.Duration { return 0 }
