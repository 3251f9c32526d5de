//go:build unix

package mountfs

import "syscall"

// MaxHostFiles returns n, or when n is 0 or less the default cap for
// HostFiles: a quarter of the process's limit on open files (Go raises the
// soft limit to the hard one at start), so that guests at their cap leave
// the host most of it.
func MaxHostFiles(n int) int {
	if n > 0 {
		return n
	}
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil || lim.Cur > 1<<30 {
		return 1 << 16
	}
	return max(int(lim.Cur/4), 64)
}
