//go:build !linux

package native

import "os"

// blockingPipe is os.Pipe: the benchmark's baseline is measured on Linux,
// where pipe_linux.go makes the faster blocking pipe.
func blockingPipe() (r, w *os.File, err error) { return os.Pipe() }
