//go:build !linux

package adapter_test

import "time"

func cpuStart() time.Duration { return 0 }

func cpuEnd(time.Duration) time.Duration { return 0 }
