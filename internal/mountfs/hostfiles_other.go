//go:build !unix

package mountfs

// MaxHostFiles returns n, or when n is 0 or less the default cap for
// HostFiles, where the process has no RLIMIT_NOFILE to derive it from.
func MaxHostFiles(n int) int {
	if n > 0 {
		return n
	}
	return 2048
}
