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
	CauseUnknown     Cause = "not classified"
)

// Note explains a module's outcome where its messages alone do not: read
// from its failures, by hand.
type Note struct {
	Cause  Cause
	Reason string
}

// notes holds the explanations read from the failures of a full run
// (wasm/STDLIB-TESTS.md); they apply when a module does not pass clean.
var notes = map[string]Note{}

var rules = []struct {
	re    *regexp.Regexp
	cause Cause
}{
	{regexp.MustCompile(`_test(capi|internalcapi|limitedcapi|buffer|multiphase|singlephase|importmultiple|clinic|externalinspection)|xxsubtype|xxlimited|requires test modules`), CauseTestModules},
	{regexp.MustCompile(`(?i)subprocess|socket|thread|fork|signal|can't start new|getpid|os\.kill|Function not implemented|Not supported|ENOTSUP|ENOSYS`), CauseWASI},
	{regexp.MustCompile(`No module named '(_?ctypes|_ssl|_hashlib|_sqlite3|_multiprocessing|_posixsubprocess|_posixshmem|mmap|fcntl|termios|resource|grp|pwd|readline|_?curses|_dbm|_gdbm|_uuid|_?tkinter|_interp\w*|ensurepip|idlelib|turtledemo)'`), CauseNotBuilt},
	{regexp.MustCompile(`(?i)-specific|only (works|runs)? ?on|Windows|macOS|Darwin|Solaris|Linux|GIL enabled|win32`), CausePlatform},
	{regexp.MustCompile(`resource '?\w+'? (is )?not enabled|'\w+' resource not enabled`), CauseResource},
	{regexp.MustCompile(`installed Python|source builds`), CauseSourceTree},
}

// Classify says why a module's run did not pass clean: its note, else what
// its reason or messages match.
func Classify(r *Result) (Cause, string) {
	if n, ok := notes[r.Module]; ok {
		return n.Cause, n.Reason
	}
	switch r.Status {
	case Timeout:
		return CauseSlow, r.Reason + " in " + r.LastTest
	case Skipped, LoadError, Crash, Memory:
		return match(r.Reason), r.Reason
	case Passed:
		if r.Run == r.Skipped { // every test skipped: the main reason says why
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
