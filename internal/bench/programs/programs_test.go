package programs

import (
	"bytes"
	"context"
	"encoding/json"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/snakepit-wasm/snakepit/internal/bench/native"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// driver runs run() twice and prints both results and the time of the
// first, one JSON value a line.
const driver = `
import json, time
_t = time.perf_counter()
_a = run()
_t = time.perf_counter() - _t
print(json.dumps(_a))
print(json.dumps(run()))
print(_t)
`

type result struct {
	first, second string
	seconds       float64
}

func runProgram(ctx context.Context, python []string, p Program) (result, error) {
	var stdout, stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, python[0], append(python[1:len(python):len(python)], "-I", "-S", "-c", p.Source+driver)...)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return result{}, &runError{err, stderr.String()}
	}
	lines := strings.Split(strings.TrimSpace(stdout.String()), "\n")
	if len(lines) != 3 {
		return result{}, &runError{nil, "unexpected output: " + stdout.String()}
	}
	var r result
	r.first, r.second = lines[0], lines[1]
	err := json.Unmarshal([]byte(lines[2]), &r.seconds)
	return r, err
}

type runError struct {
	err    error
	stderr string
}

func (e *runError) Error() string {
	if e.err == nil {
		return e.stderr
	}
	return e.err.Error() + ": " + e.stderr
}

// TestDeterministic runs every program in two interpreters, whose string
// hash seeds differ, twice in the first: all four results must agree.
func TestDeterministic(t *testing.T) {
	python, err := native.PythonPath()
	if err != nil {
		t.Skip(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	for _, p := range append(All(), ImportHeavy()) {
		t.Run(p.Name, func(t *testing.T) {
			var rs [2]result
			var errs [2]error
			var wg sync.WaitGroup
			for i := range rs {
				wg.Go(func() { rs[i], errs[i] = runProgram(ctx, python, p) })
			}
			wg.Wait()
			for _, err := range errs {
				if err != nil {
					t.Fatal(err)
				}
			}
			a, b := rs[0], rs[1]
			if a.first != a.second || a.first != b.first || a.first != b.second {
				t.Errorf("results differ:\n%s\n%s\n%s\n%s", a.first, a.second, b.first, b.second)
			}
			if len(a.first) > 1000 {
				t.Errorf("checksum of %d bytes is not small", len(a.first))
			}
			t.Logf("run() took %.0f ms", min(a.seconds, b.seconds)*1000)
		})
	}
}

func TestAll(t *testing.T) {
	all := All()
	if len(all) < 8 {
		t.Errorf("%d programs, want at least 8", len(all))
	}
	for i, p := range all {
		if p.Name == ImportHeavy().Name {
			t.Errorf("All includes %s", p.Name)
		}
		if i > 0 && all[i-1].Name >= p.Name {
			t.Errorf("not sorted: %s before %s", all[i-1].Name, p.Name)
		}
		if !strings.Contains(p.Source, "\ndef run():") {
			t.Errorf("%s defines no run()", p.Name)
		}
	}
}
