package abi

import (
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// The contract's constants are written three times, in Go (here), C
// (guest/snakepit.c, compiled into python.wasm) and Python (the guest's
// modules): these tests read the C and Python sources and fail on any
// difference, so that a change on one side cannot ship without the others.

func source(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	return string(b)
}

// pyAssign returns the literals of a Python assignment `A, B = 1, 2` (or
// `A = 1`) found on a line of its own, by name.
func pyAssign(t *testing.T, src, names string) []string {
	t.Helper()
	m := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(names) + ` = (.+)$`).FindStringSubmatch(src)
	require.NotNil(t, m, "no line %q = ...", names)
	vals := strings.Split(m[1], ", ")
	require.Len(t, vals, len(strings.Split(names, ", ")), "%s = %s", names, m[1])
	return vals
}

func TestCConstantsMatch(t *testing.T) {
	c := source(t, "guest/snakepit.c")
	define := func(name string) int {
		// stage2.sh reads the version from this exact form for the MANIFEST.
		m := regexp.MustCompile(`(?m)^#define ` + name + ` ([0-9]+)$`).FindStringSubmatch(c)
		require.NotNil(t, m, "#define %s", name)
		n, err := strconv.Atoi(m[1])
		require.NoError(t, err)
		return n
	}
	require.Equal(t, Version, define("SP_ABI_VERSION"))
	require.Equal(t, MaxFrames, define("SP_MAX_FRAMES"))
	require.Equal(t, int(KindCallJSON), define("SP_KIND_CALL_JSON"))
	require.Equal(t, int(KindMarshalArgs), define("SP_KIND_MARSHAL_ARGS"))

	names := func(re string) []string {
		var out []string
		for _, m := range regexp.MustCompile(re).FindAllStringSubmatch(c, -1) {
			out = append(out, m[1])
		}
		slices.Sort(out)
		return out
	}
	exports := []string{ExportVersion, ExportInit, ExportBuffer, ExportRun, ExportRelease, ExportSeed, ExportSeedFlag, ExportFdsIntact, ExportInterrupt}
	slices.Sort(exports)
	require.Equal(t, exports, names(`(?m)^EXPORT\((\w+)\) `), "EXPORT(...) in snakepit.c")
	imports := []string{ImportYield, ImportHostCall, ImportHostTake, ImportEmit}
	slices.Sort(imports)
	require.Equal(t, imports, names(`(?m)^IMPORT\((\w+)\) `), "IMPORT(...) in snakepit.c")
	require.Contains(t, c, `#define IMPORT(name) __attribute__((import_module("`+ImportModule+`"), import_name(#name)))`)
	// The tick import is CPython's, from the preemption patch.
	require.Contains(t, source(t, "../../wasm/python.wasm.build/patches/preempt.patch"),
		`import_module("`+ImportModule+`"), import_name("`+ImportTick+`")`)
}

func TestPythonConstantsMatch(t *testing.T) {
	py := source(t, "guest/snakepit_guest.py")
	kinds := pyAssign(t, py, "EXEC, EVAL, CALL_JSON, CALL_BYTES, CALL_STREAM")
	for k, want := range []Kind{KindExec, KindEval, KindCallJSON, KindCallBytes, KindCallStream} {
		require.Equal(t, strconv.Itoa(int(want)), kinds[k], "request kind %d", k)
	}
	tags := pyAssign(t, py, "TAG_JSON, TAG_BYTES, TAG_TYPE, TAG_MESSAGE, TAG_TRACEBACK")
	for k, want := range []rune{TagJSON, TagBytes, TagType, TagMessage, TagTraceback} {
		require.Equal(t, `b"`+string(want)+`"`, tags[k], "frame tag %d", k)
	}
	require.Regexp(t, `(?m)^_HOST_MADE = b"`+string(rune(TagHostJSON))+`", b""$`, py)
	require.Equal(t, []string{strconv.Itoa(int(KindMarshalArgs))}, pyAssign(t, py, "MARSHAL_ARGS"))
	require.Equal(t, []string{strconv.Quote(HostJSON)}, pyAssign(t, py, "_HOST_JSON"))
	require.Equal(t, []string{strconv.Quote(GuestLibPath)}, pyAssign(t, py, "_ADAPTER_LIB"))
	mod, fn, _ := strings.Cut(MarshalFunction, ".")
	require.Equal(t, "snakepit_guest", mod, "the module sp_init runs the dispatcher in")
	require.Regexp(t, `(?m)^def `+fn+`\(`, py, MarshalFunction)

	// The adapter's entry points, and the control calls it makes.
	ad := source(t, "guest/snakepit_adapter.py")
	for _, entry := range []string{AdapterCall, AdapterStream, AdapterCatalog} {
		mod, fn, _ := strings.Cut(entry, ".")
		require.Equal(t, "snakepit_adapter", mod, entry)
		require.Regexp(t, `(?m)^def `+fn+`\(`, ad, entry)
		_, err := GuestLib.Open(mod + ".py")
		require.NoError(t, err, entry)
	}
	var control []string
	for _, m := range regexp.MustCompile(`_snakepit\.call\("([^"]+)"`).FindAllStringSubmatch(ad, -1) {
		control = append(control, m[1])
	}
	slices.Sort(control)
	control = slices.Compact(control)
	want := []string{HostCancel, HostStart, HostWait}
	slices.Sort(want)
	require.Equal(t, want, control, "control calls in snakepit_adapter.py")
	for _, name := range control {
		require.True(t, strings.HasPrefix(name, ReservedPrefix), name)
	}
}

// The interpreters committed to the module speak this version.
func TestEmbeddedManifestsMatch(t *testing.T) {
	for _, path := range []string{"../../wasm/embedded/MANIFEST", "../../wasm/numpy/blob/MANIFEST"} {
		b, err := os.ReadFile(path)
		if os.IsNotExist(err) && strings.Contains(path, "numpy") {
			continue // the numpy variant is committed only when built
		}
		require.NoError(t, err)
		require.Regexp(t, `(?m)^abi `+strconv.Itoa(Version)+`$`, string(b), path)
	}
}
