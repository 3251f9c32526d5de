//go:build !unix

package runtime

// maxHostFiles is Config.MaxHostFiles with its default, where the process
// has no RLIMIT_NOFILE to derive it from.
func maxHostFiles(n int) int {
	if n > 0 {
		return n
	}
	return 2048
}
