package stdlibtest

import (
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// Cause is why a module does not pass clean.
type Cause string

const (
	CauseWASI        Cause = "WASI limit"          // no threads, sockets, processes, signals, ...
	CauseNotBuilt    Cause = "module not built"    // a stdlib C module the build leaves out
	CauseTestModules Cause = "test module missing" // CPython's test C modules (_testcapi, ...), for the test variant
	CausePlatform    Cause = "other platform"      // a test for Windows, macOS, Android, ...
	CauseResource    Cause = "resource"            // needs a regrtest resource (-u) off by default
	CauseSourceTree  Cause = "source tree"         // needs CPython's source tree, not an installed Python
	CauseSlow        Cause = "slow"                // passes its deadline inside wasm
	CauseOurs        Cause = "ours"                // a bug of snakepit-wasm (runtime, scratch, guest)
	CauseBuild       Cause = "build"               // our build of CPython (recipe, configuration, C shim)
	CauseUpstream    Cause = "upstream"            // the test's own assumption, not about WASI or us
	CauseRun         Cause = "the run itself"      // something around the run, not the module
	CauseUnknown     Cause = "not classified"
)

// Note explains a module's outcome where its messages alone do not: read
// from its failures, by hand.
type Note struct {
	Cause  Cause
	Reason string
	When   Status // the outcome it explains; "" means failed or timeout
}

// notes holds the explanations read from the failures of a full run
// (wasm/STDLIB-TESTS.md); they apply when a module does not pass clean.
var notes = map[string]Note{
	"test_bdb":         {CauseOurs, erofs, ""},
	"test_doctest":     {CauseOurs, erofs, ""},
	"test_runpy":       {CauseOurs, erofs, ""},
	"test_support":     {CauseOurs, erofs, ""},
	"test_trace":       {CauseOurs, erofs, ""},
	"test_os":          {CauseOurs, "test_blocking: os.set_blocking on a mounted file failed ENOSYS (wazero refuses O_NONBLOCK on files that are not pollable); fixed in internal/mountfs, passes since", ""},
	"test_inspect":     {CauseUpstream, "test_threading_module_has_signatures (excepthook): inspect.signature of _thread._excepthook is invalid; fails natively too", ""},
	"test_importlib":   {CauseWASI, "os.stat('/tmp/x/../../etc/...') fails EPERM: wasi-libc resolves a path against the preopen it starts in without normalizing '..', and a path climbing out of it is refused (wasmtime does the same)", ""},
	"test_io":          {CauseOurs, "test_large_file_ops (C and Python): the scratch file system has no sparse files, so a write at 2 GiB passes its cap (ENOSPC); tmpfs would hold it (by design: scratch lives in the host's memory)", ""},
	"test_pathlib":     {CauseOurs, "no '/' directory in the sandbox (nothing is mounted there, so os.chdir('/'), Path('/').mkdir(exist_ok=True) and is_mount('/') fail; ×6); os.link refused by the scratch file system (by design; ×3)", ""},
	"test_posix":       {CauseOurs, "os.symlink refused by the scratch file system (by design)", ""},
	"test_posixpath":   {CauseOurs, "ismount('/') is False: no '/' directory in the sandbox; test_realpath_invalid_paths expects wasmtime's EILSEQ for b'/\\xff', where wazero (like Linux) answers ENOENT (upstream)", ""},
	"test_pydoc":       {CauseUpstream, "test_mixed_case_module_names_are_lower_cased fails natively too (the native build of the same source, tests outside the source tree)", ""},
	"test_sysconfig":   {CauseOurs, "test_srcdir_independent_of_cwd changes to '..' of the working directory /tmp: no '/' directory in the sandbox (regrtest would run it one level deeper)", ""},
	"test_tracemalloc": {CauseUpstream, "test_snapshot asserts that the second trace of the snapshot (in address order) has more than 10 frames; the clone's heap is laid out differently from the fresh interpreter's, so another allocation comes second (9 or 10 frames under this runner's shallower stack than regrtest's): fails in the clone only, in every run", ""},
	"test_statistics":  {CauseSlow, "stopped in TestNormalDistPython.test_overlap (natively the whole module takes 22 s of CPU; the machine's load was 15-20)", ""},
	"test_tarfile":     {CauseSlow, "stopped in NoneInfoExtractTests after 467 tests (the machine's load was 15-20)", ""},
	"test_traceback":   {CauseRun, "the first full run met the build directory being replaced under it (ModuleNotFoundError in the fresh run, a module-level skip in the clone); alone, it passes clean in both", LoadError},
	"test_winreg":      {CauseRun, "the build directory was replaced under the first full run (ModuleNotFoundError for the test module itself in the fresh run); the clone skipped it: no module named 'winreg' (Windows only)", LoadError},
	"test_largefile":   {CauseOurs, "skipped whole, 'filesystem does not have largefile support': its probe writes past 2 GiB, and the scratch file system, without sparse files, is full (see test_io)", Passed},
	"test_pickle":      {CauseSlow, "about 280 s inside wasm under a load of 10-15: the clone passed clean (881 tests) in 280 s, the fresh run passed its 5-minute deadline at test 778 of 881", Timeout},
	"test_fstring":     {CauseSlow, "test_many_expressions compiles an f-string of 65,280 expressions: quadratic inside wasm (128 × 255 took 38 s, native 1.5 s; 256 × 255 passes the deadline), cause not found yet (realloc without mremap in wasi-libc's malloc is a suspect)", ""},
}

const erofs = "unlinking a missing file on a read-only mount failed EROFS (test.support's cleanup unlinks caches on every sys.path entry and ignores only ENOENT); fixed in internal/mountfs (readOnlyFS), passes since"

var rules = []struct {
	re    *regexp.Regexp
	cause Cause
}{
	{regexp.MustCompile(`_test(capi|internalcapi|limitedcapi|buffer|multiphase|singlephase|importmultiple|clinic|externalinspection)|_xxtestfuzz|xxsubtype|xxlimited|requires test modules|ndarray object required`), CauseTestModules},
	{regexp.MustCompile(`(?i)subprocess|socket|thread|fork|signal|setitimer|gethostname|openpty|can't start new|getpid|os\.kill|Function not implemented|Not supported|ENOTSUP|ENOSYS|/dev/fd|pip requires ctypes`), CauseWASI},
	{regexp.MustCompile(`No module named '(_?ctypes|_ssl|_hashlib|_sqlite3|_multiprocessing|_posixsubprocess|_posixshmem|mmap|fcntl|termios|resource|grp|pwd|readline|_?curses|_dbm|_gdbm|_uuid|_?tkinter|_interp\w*|ensurepip|idlelib|turtledemo|syslog)'`), CauseNotBuilt},
	{regexp.MustCompile(`(?i)-specific|only (works|runs)? ?on|Windows|macOS|OS X|Darwin|Solaris|Linux|GIL enabled|win32|_winapi|_wmi|winreg|msvcrt|startfile|unnecessary on this platform`), CausePlatform},
	{regexp.MustCompile(`resource '?\w+'? (is )?not enabled|'\w+' resource not enabled|not enough memory|loads of disk-space|Hypothesis required`), CauseResource},
	{regexp.MustCompile(`installed Python|source builds`), CauseSourceTree},
	{regexp.MustCompile(`invoked with -S|requires Py_DEBUG`), CauseBuild},
}

// Classify says why a module's run did not pass clean: its note, else what
// its reason or messages match.
func Classify(r *Result) (Cause, string) {
	if n, ok := notes[r.Module]; ok && (r.Status == n.When || n.When == "" && (r.Status == Failed || r.Status == Timeout)) {
		return n.Cause, n.Reason
	}
	switch r.Status {
	case Timeout:
		return CauseSlow, r.Reason + " in " + r.LastTest
	case Skipped, LoadError, Crash, Memory:
		return match(r.Reason), r.Reason
	case Passed:
		if r.Run <= r.Skipped { // every test skipped (a class's skip counts once, unrun): the main reason says why
			why := topSkip(r)
			return match(why), why
		}
		return "", ""
	}
	// Failures: the cause shared by every message, if there is one.
	var c Cause
	for _, p := range r.Failed {
		pc := match(p.Message)
		if c != "" && pc != c {
			return CauseUnknown, summary(r)
		}
		c = pc
	}
	if c == "" {
		c = CauseUnknown
	}
	return c, summary(r)
}

func match(s string) Cause {
	for _, r := range rules {
		if r.re.MatchString(s) {
			return r.cause
		}
	}
	return CauseUnknown
}

// summary lists a run's distinct failure messages, most frequent first.
func summary(r *Result) string {
	count := map[string]int{}
	var order []string
	for _, p := range r.Failed {
		m := p.Message
		if len(m) > 120 {
			m = m[:120] + "…"
		}
		if count[m] == 0 {
			order = append(order, m)
		}
		count[m]++
	}
	slices.SortStableFunc(order, func(a, b string) int { return count[b] - count[a] })
	var b strings.Builder
	for i, m := range order {
		if i == 3 {
			b.WriteString("; …")
			break
		}
		if i > 0 {
			b.WriteString("; ")
		}
		b.WriteString(m)
		if count[m] > 1 {
			b.WriteString(" (×" + strconv.Itoa(count[m]) + ")")
		}
	}
	return b.String()
}
