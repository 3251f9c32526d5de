package stdlibtest

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
	"time"
)

// Markdown renders the report as the published table.
func Markdown(r *Report) string {
	sorted := *r
	sorted.Modules = slices.Clone(r.Modules)
	slices.SortFunc(sorted.Modules, func(a, b *Module) int { return cmp.Compare(a.Module, b.Module) })
	r = &sorted
	var b strings.Builder
	s := r.Summary()
	fmt.Fprintf(&b, "# CPython's test suite inside the sandbox\n\n")
	fmt.Fprintf(&b, "Written by `make stdlib-tests` (internal/stdlibtest); the same results as JSON: [stdlib-tests.json](stdlib-tests.json).\n\n")
	fmt.Fprintf(&b, "- interpreter: CPython %s, python.wasm sha256 %s\n", r.Interpreter.PythonVersion, short(r.Interpreter.SHA256))
	fmt.Fprintf(&b, "- run: %s UTC, %s wall time, %d at a time, each module run with a %s deadline and a %d MiB memory cap; %s before, %s after\n",
		r.Started.Format("2006-01-02 15:04"), time.Duration(r.Seconds*float64(time.Second)).Round(time.Second), r.Parallel, r.Timeout, r.MemoryMiB, r.LoadBefore, r.LoadAfter)
	for _, n := range r.Notes {
		fmt.Fprintf(&b, "- %s\n", n)
	}
	var reruns []string
	for _, m := range r.Modules {
		if m.Rerun != "" {
			reruns = append(reruns, m.Module+" ("+m.Rerun+")")
		}
	}
	if len(reruns) > 0 {
		fmt.Fprintf(&b, "- run again alone after a fix, at the time given (UTC): %s\n", strings.Join(reruns, ", "))
	}
	fmt.Fprintf(&b, "- each module runs in one call, in a fresh interpreter and again in a clone of a snapshot; tests are loaded as regrtest loads them (unittest's loader, `load_tests`), with regrtest's defaults: no optional resources (`-u`), the scratch file system as the working directory, the test package mounted read-only at /testlib\n\n")

	fmt.Fprintf(&b, "## Summary\n\n%d modules; **%d pass clean in both the fresh and the cloned interpreter** (tests run, not all skipped, no failure, no error), %d of them with every test skipped do not count.\n\n", s.Modules, s.CleanBoth, s.AllSkipped)
	b.WriteString("| outcome (fresh) | modules |\n|---|--:|\n")
	for _, st := range []Status{Passed, Failed, Skipped, LoadError, Timeout, Memory, Crash} {
		if n := s.ByStatus[st]; n > 0 {
			fmt.Fprintf(&b, "| %s | %d |\n", st, n)
		}
	}
	causes := map[Cause][]string{}
	for _, m := range r.Modules {
		if m.Fresh == nil || m.CleanBoth() {
			continue
		}
		c, _ := Classify(m.worse())
		causes[c] = append(causes[c], m.Module)
	}
	b.WriteString("\nModules not passing clean, by cause:\n\n| cause | modules | |\n|---|--:|---|\n")
	for _, c := range sortedKeys(causes, func(a, b Cause) int { return cmp.Or(len(causes[b])-len(causes[a]), cmp.Compare(a, b)) }) {
		fmt.Fprintf(&b, "| %s | %d | %s |\n", c, len(causes[c]), strings.Join(causes[c], ", "))
	}

	b.WriteString("\n## Fresh and cloned interpreters\n\n")
	if len(s.Disagree) == 0 {
		b.WriteString("Every module gave the same outcome (status, counts and failing tests) in both.\n")
	} else {
		fmt.Fprintf(&b, "%d modules differ:\n\n", len(s.Disagree))
		for _, m := range r.Modules {
			if !m.Agree() {
				fmt.Fprintf(&b, "- %s: fresh %s, clone %s\n", m.Module, counts(m.Fresh), counts(m.Clone))
			}
		}
	}

	b.WriteString("\n## Failures that are ours\n\n")
	ours := 0
	for _, m := range r.Modules {
		if m.Fresh != nil && !m.CleanBoth() {
			if c, why := Classify(m.worse()); c == CauseOurs || c == CauseBuild {
				fmt.Fprintf(&b, "- %s (%s): %s\n", m.Module, c, why)
				ours++
			}
		}
	}
	if ours == 0 {
		b.WriteString("None left.\n")
	}

	skips := map[string]int{}
	for _, m := range r.Modules {
		if m.Fresh != nil {
			for why, n := range m.Fresh.SkipReasons {
				skips[why] += n
			}
		}
	}
	b.WriteString("\n## Top reasons tests were skipped\n\nInside modules that ran (modules skipped whole are in the table):\n\n| reason | tests |\n|---|--:|\n")
	for i, why := range sortedKeys(skips, func(a, b string) int { return cmp.Or(skips[b]-skips[a], cmp.Compare(a, b)) }) {
		if i == 25 {
			break
		}
		fmt.Fprintf(&b, "| %s | %d |\n", cell(why), skips[why])
	}

	b.WriteString("\n## Every module\n\nCounts are the fresh interpreter's; seconds are fresh / clone, instance start included.\n\n")
	b.WriteString("| module | outcome | run | failures | errors | skipped | seconds | clone agrees | cause | reason |\n|---|---|--:|--:|--:|--:|--:|---|---|---|\n")
	for _, m := range r.Modules {
		f, c := m.Fresh, m.Clone
		if f == nil || c == nil {
			fmt.Fprintf(&b, "| %s | not run | | | | | | | | |\n", m.Module)
			continue
		}
		outcome, cause, why := string(f.Status), "", ""
		switch {
		case m.CleanBoth():
			outcome = "clean"
		case f.Status == Passed && f.Run <= f.Skipped:
			outcome = "all skipped"
			fallthrough
		default:
			cc, w := Classify(m.worse())
			cause, why = string(cc), w
		}
		agree := "yes"
		if !m.Agree() {
			agree = "**no**: " + counts(c)
		}
		fmt.Fprintf(&b, "| %s | %s | %d | %d | %d | %d | %.1f / %.1f | %s | %s | %s |\n",
			m.Module, outcome, f.Run, f.Failures, f.Errors, f.Skipped, f.Seconds, c.Seconds, agree, cause, cell(why))
	}
	return b.String()
}

// worse is the run to explain: the fresh one, unless only the clone failed.
func (m *Module) worse() *Result {
	if m.Fresh.Clean() && m.Clone != nil && !m.Clone.Clean() {
		return m.Clone
	}
	return m.Fresh
}

func counts(r *Result) string {
	if r == nil {
		return "not run"
	}
	return fmt.Sprintf("%s (run %d, failures %d, errors %d, skipped %d)", r.Status, r.Run, r.Failures, r.Errors, r.Skipped)
}

func topSkip(r *Result) string {
	best, n := "", 0
	for why, k := range r.SkipReasons {
		if k > n || k == n && why < best {
			best, n = why, k
		}
	}
	return best
}

func short(s string) string {
	if len(s) > 16 {
		return s[:16]
	}
	return s
}

// cell makes text safe inside a table cell.
func cell(s string) string {
	s = strings.ReplaceAll(s, "|", `\|`)
	return strings.ReplaceAll(s, "\n", " ")
}

func sortedKeys[K comparable, V any](m map[K]V, f func(a, b K) int) []K {
	ks := make([]K, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	slices.SortFunc(ks, f)
	return ks
}
