package main

import (
	"io"
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// README.md's Go program (its one Go block that is a whole program; the
// others are fragments) must be this package's main.go (past its doc
// comment), so that the README shows a program that compiles; and it runs.
func TestReadmeSnippetIsThisProgramAndRuns(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	require.NoError(t, err)
	blocks := regexp.MustCompile("(?s)```go\n(package main\n.*?)```").FindAllSubmatch(readme, -1)
	require.Len(t, blocks, 1, "README.md's Go programs")
	src, err := os.ReadFile("main.go")
	require.NoError(t, err)
	_, program, ok := strings.Cut(string(src), "package main\n")
	require.True(t, ok)
	require.Equal(t, "package main\n"+program, string(blocks[0][1]), "README.md's Go block must equal examples/readme/main.go from `package main` on")

	r, w, err := os.Pipe()
	require.NoError(t, err)
	stdout := os.Stdout
	os.Stdout = w
	main()
	os.Stdout = stdout
	require.NoError(t, w.Close())
	out, err := io.ReadAll(r)
	require.NoError(t, err)
	require.Equal(t, "45\n", string(out))
}
