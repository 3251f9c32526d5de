package stdlibtest

import (
	"fmt"
	"strings"
)

// Markdown renders the report as the published table.
func Markdown(r *Report) string {
	var b strings.Builder
	s := r.Summary()
	fmt.Fprintf(&b, "# CPython's test suite inside the sandbox\n\n%d modules, %d clean in both modes\n\n", s.Modules, s.CleanBoth)
	b.WriteString("| module | fresh | run | failures | errors | skipped | clone agrees |\n|---|---|--:|--:|--:|--:|---|\n")
	for _, m := range r.Modules {
		f := m.Fresh
		if f == nil {
			continue
		}
		fmt.Fprintf(&b, "| %s | %s | %d | %d | %d | %d | %v |\n", m.Module, f.Status, f.Run, f.Failures, f.Errors, f.Skipped, m.Agree())
	}
	return b.String()
}
