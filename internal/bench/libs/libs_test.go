package libs

import (
	"context"
	"encoding/json"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/snakepit-wasm/snakepit/internal/bench/native"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestAll(t *testing.T) {
	all := All()
	if len(all) < 6 {
		t.Errorf("%d workloads, want at least 6", len(all))
	}
	for _, p := range all {
		if !strings.Contains(p.Source, "\ndef run():") {
			t.Errorf("%s defines no run()", p.Name)
		}
		if Library[p.Name] == "" {
			t.Errorf("%s names no library", p.Name)
		}
	}
}

// TestDeterministic runs every workload twice in each of two Debian
// interpreters (whose string hash seeds differ): all four checksums must
// agree.
func TestDeterministic(t *testing.T) {
	py, site, err := native.Debian(native.DebianDir())
	if err != nil {
		t.Skip(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	const driver = "\nimport json\nprint(json.dumps([run(), run()]))\n"
	for _, p := range All() {
		t.Run(p.Name, func(t *testing.T) {
			var got []string
			for range 2 {
				src := "import sys\nsys.path.insert(0, " + quote(site) + ")\n" + p.Source + driver
				args := append(py[1:len(py):len(py)], "-I", "-S", "-c", src)
				out, err := exec.CommandContext(ctx, py[0], args...).Output()
				if err != nil {
					t.Fatalf("%v: %s", err, out)
				}
				var two []json.RawMessage
				if err := json.Unmarshal(out, &two); err != nil || len(two) != 2 {
					t.Fatalf("output %q: %v", out, err)
				}
				got = append(got, string(two[0]), string(two[1]))
			}
			for _, g := range got[1:] {
				if g != got[0] {
					t.Errorf("checksums differ: %q", got)
				}
			}
		})
	}
}

func quote(s string) string { b, _ := json.Marshal(s); return string(b) }
