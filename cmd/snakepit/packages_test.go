package main

import (
	"archive/zip"
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

// writePackage writes a small package directory: mod.py and pkg/.
func writePackage(t *testing.T) string {
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "mod.py"), []byte("X = 41\n"), 0o644))
	require.NoError(t, os.Mkdir(filepath.Join(dir, "pkg"), 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "pkg", "__init__.py"), []byte("from mod import X\nY = X + 1\n"), 0o644))
	return dir
}

func writeWheel(t *testing.T) string {
	p := filepath.Join(t.TempDir(), "wmod-1.0-py3-none-any.whl")
	f, err := os.Create(p)
	require.NoError(t, err)
	w := zip.NewWriter(f)
	zf, err := w.Create("wmod/__init__.py")
	require.NoError(t, err)
	_, err = zf.Write([]byte("print('wmod imported')\nZ = 'from the wheel'\n"))
	require.NoError(t, err)
	require.NoError(t, w.Close())
	require.NoError(t, f.Close())
	return p
}

func TestRunPackageDirectoryAndWheelWithPreload(t *testing.T) {
	dir := writePackage(t)
	code, stdout, stderr := snakepit(t, "", "run", "--package", dir, "-c", "import mod, pkg\nprint(mod.X, pkg.Y)")
	require.Equal(t, exitOK, code, stderr)
	require.Equal(t, "41 42\n", stdout)

	code, stdout, stderr = snakepit(t, "", "run", "--package", dir, "--package", writeWheel(t), "--preload", "wmod", "-c", "print(wmod.Z)")
	require.Equal(t, exitOK, code, stderr)
	require.Equal(t, "wmod imported\nfrom the wheel\n", stdout, "preloaded before the code, into its namespace")

	code, _, stderr = snakepit(t, "", "run", "-c", "import mod")
	require.Equal(t, exitFailure, code)
	require.Contains(t, stderr, "ModuleNotFoundError", "nothing without --package")
}

func TestRunPathPutsAMountOnSysPath(t *testing.T) {
	dir := writePackage(t)
	code, stdout, stderr := snakepit(t, "", "run", "--mount", dir+":/code", "--path", "/code", "--preload", "pkg", "-c", "print(pkg.Y)")
	require.Equal(t, exitOK, code, stderr)
	require.Equal(t, "42\n", stdout)
}

func TestRunPackageFlagsRefuseBadValues(t *testing.T) {
	notZip := filepath.Join(t.TempDir(), "x.whl")
	require.NoError(t, os.WriteFile(notZip, []byte("not a zip"), 0o644))
	for name, args := range map[string][]string{
		"a missing package":   {"--package", filepath.Join(t.TempDir(), "nope")},
		"a file not a zip":    {"--package", notZip},
		"code as module name": {"--preload", "os; import this"},
		"a relative path":     {"--path", "code"},
	} {
		t.Run(name, func(t *testing.T) {
			code, _, stderr := snakepit(t, "", append(append([]string{"run"}, args...), "-c", "pass")...)
			require.Equal(t, exitUsage, code, stderr)
		})
	}
}

func TestMCPPreloadsPackagesIntoTheSnapshot(t *testing.T) {
	o := mcpOptions{}
	require.NoError(t, o.limits.packages.Set(writePackage(t)))
	require.NoError(t, o.limits.preload.Set("pkg"))
	s := newTestServer(t, o)
	cs := connect(t, s)
	tools, err := cs.ListTools(context.Background(), nil)
	require.NoError(t, err)
	require.Contains(t, tools.Tools[0].Description, "the packages the server was given (pkg already imported)")
	isErr, out, text := call(t, cs, "import mod\n(pkg.Y, mod.X)")
	require.False(t, isErr, text)
	require.JSONEq(t, "[42, 41]", string(out.Value))
}
