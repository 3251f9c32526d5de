//go:build !linux

package main

// pinTo does nothing where Linux's affinity calls are missing.
func pinTo(cpu int, pids ...int) (restore func(), err error) { return func() {}, nil }
