package stdlibtest

import (
	"encoding/json"
	"fmt"
	"os"
	"reflect"
	"slices"
	"time"
)

// Report is a run of the suite: what `make stdlib-tests` writes as JSON.
type Report struct {
	Interpreter Interpreter `json:"interpreter"`
	Started     time.Time   `json:"started"`
	Seconds     float64     `json:"seconds"` // wall time of the whole run
	Timeout     string      `json:"timeout"` // per module run
	MemoryMiB   uint64      `json:"memory_mib"`
	Parallel    int         `json:"parallel"`
	LoadBefore  string      `json:"load_before"`
	LoadAfter   string      `json:"load_after"`
	Modules     []*Module   `json:"modules"`
	// Notes are remarks about the run added by hand (stdlib-tests -table
	// renders them).
	Notes []string `json:"notes,omitempty"`
}

// Interpreter identifies the build under test.
type Interpreter struct {
	Dir           string `json:"dir"`
	PythonVersion string `json:"python_version"`
	SHA256        string `json:"sha256"`
}

// Module holds a module's run in each mode.
type Module struct {
	Module string  `json:"module"`
	Fresh  *Result `json:"fresh"`
	Clone  *Result `json:"clone"`
	// Rerun is when the module was run again, alone, after the full run
	// (stdlib-tests -update), in UTC.
	Rerun string `json:"rerun,omitempty"`
}

// Agree reports whether the fresh and the cloned interpreter gave the same
// outcome: status, counts and failing tests.
func (m *Module) Agree() bool {
	a, b := m.Fresh, m.Clone
	if a == nil || b == nil {
		return a == b
	}
	if a.Status != b.Status || a.Run != b.Run || a.Failures != b.Failures || a.Errors != b.Errors || a.Skipped != b.Skipped {
		return false
	}
	return reflect.DeepEqual(failedTests(a), failedTests(b))
}

func failedTests(r *Result) []string {
	var ts []string
	for _, p := range r.Failed {
		ts = append(ts, p.Test)
	}
	slices.Sort(ts)
	return ts
}

// CleanBoth reports whether the module passed clean in both modes.
func (m *Module) CleanBoth() bool {
	return m.Fresh != nil && m.Clone != nil && m.Fresh.Clean() && m.Clone.Clean()
}

// Finish records the end of the run.
func (r *Report) Finish(end time.Time, load string) {
	r.Seconds = end.Sub(r.Started).Seconds()
	r.LoadAfter = load
}

// Summary counts a report's outcomes.
type Summary struct {
	Modules, CleanBoth, AllSkipped int
	ByStatus                       map[Status]int // by the fresh run's status
	Disagree                       []string
}

// Summary counts the report's modules by outcome.
func (r *Report) Summary() Summary {
	s := Summary{Modules: len(r.Modules), ByStatus: map[Status]int{}}
	for _, m := range r.Modules {
		if m.CleanBoth() {
			s.CleanBoth++
		}
		if m.Fresh != nil {
			s.ByStatus[m.Fresh.Status]++
			if m.Fresh.Status == Passed && m.Fresh.Run <= m.Fresh.Skipped {
				s.AllSkipped++
			}
		}
		if !m.Agree() {
			s.Disagree = append(s.Disagree, m.Module)
		}
	}
	return s
}

// Write saves the report as JSON, without the tracebacks (the runner's
// -logs keep those).
func (r *Report) Write(path string) error {
	c := *r
	c.Modules = make([]*Module, len(r.Modules))
	for i, m := range r.Modules {
		mc := *m
		mc.Fresh, mc.Clone = trimmed(m.Fresh), trimmed(m.Clone)
		c.Modules[i] = &mc
	}
	b, err := json.MarshalIndent(&c, "", " ")
	if err != nil {
		return fmt.Errorf("stdlibtest: %w", err)
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, append(b, '\n'), 0o644); err != nil {
		return fmt.Errorf("stdlibtest: %w", err)
	}
	return os.Rename(tmp, path)
}

func trimmed(r *Result) *Result {
	if r == nil {
		return nil
	}
	c := *r
	c.Traceback = ""
	c.Failed = make([]Problem, len(r.Failed))
	for i, p := range r.Failed {
		c.Failed[i] = Problem{Test: p.Test, Message: p.Message}
	}
	return &c
}

// ReadReport reads a report written by Write.
func ReadReport(path string) (*Report, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("stdlibtest: %w", err)
	}
	var r Report
	if err := json.Unmarshal(b, &r); err != nil {
		return nil, fmt.Errorf("stdlibtest: %s: %w", path, err)
	}
	return &r, nil
}
