// Package stdlibtest runs the test modules of CPython's Lib/test inside the
// sandbox, each in a fresh instance and in a snapshot clone, and writes the
// table of what passes (wasm/STDLIB-TESTS.md, `make stdlib-tests`).
//
// A module runs in one call: the guest imports test.<module>, loads it with
// unittest's loader (which honours load_tests, as regrtest does) and runs it
// with regrtest's defaults (no optional resources). Each run has its own
// deadline and memory cap; a module that traps, passes its deadline or its
// memory cap is recorded as such, with the test it was in.
package stdlibtest

import (
	"context"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/snakepit-wasm/snakepit/internal/artifact"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/snakepit-wasm/snakepit/runtime"
)

// EnvDir selects the interpreter to test: a directory usable as
// runtime.Config.Dir. Default: the current local build
// (artifact.DefaultDir()), or its test/ variant when there is one.
const EnvDir = "SNAKEPIT_STDLIB_DIR"

//go:embed runner.py
var prelude string

// Dirs returns the interpreter to test and the directory holding CPython's
// test package (its test/ subdirectory). The interpreter is $SNAKEPIT_STDLIB_DIR, else
// the current local build; a test/ directory inside it (the build variant
// with CPython's test C modules) is preferred. The test package is looked
// for beside the interpreter, then in its parent.
func Dirs() (dir, testlib string, err error) {
	dir = os.Getenv(EnvDir)
	if dir == "" {
		dir = artifact.DefaultDir()
	}
	if _, err := os.Stat(filepath.Join(dir, "test", "python.wasm")); err == nil {
		dir = filepath.Join(dir, "test")
	}
	if _, err := artifact.Locate(dir); err != nil {
		return "", "", err
	}
	for _, d := range []string{dir, filepath.Dir(dir)} {
		if _, err := os.Stat(filepath.Join(d, "testlib", "test", "__init__.py")); err == nil {
			return dir, filepath.Join(d, "testlib"), nil
		}
	}
	return "", "", fmt.Errorf("stdlibtest: no testlib/test beside %s: %w", dir, runtime.ErrNotBuilt)
}

// Modules lists the test modules of testlib/test as regrtest counts them at
// the top level: test_*.py files and test_* packages.
func Modules(testlib string) ([]string, error) {
	ents, err := os.ReadDir(filepath.Join(testlib, "test"))
	if err != nil {
		return nil, fmt.Errorf("stdlibtest: %w", err)
	}
	var mods []string
	for _, e := range ents {
		n := e.Name()
		if !strings.HasPrefix(n, "test_") {
			continue
		}
		if e.IsDir() {
			if _, err := os.Stat(filepath.Join(testlib, "test", n, "__init__.py")); err == nil {
				mods = append(mods, n)
			}
		} else if m, ok := strings.CutSuffix(n, ".py"); ok {
			mods = append(mods, m)
		}
	}
	sort.Strings(mods)
	return mods, nil
}

// Mode is how a module's interpreter starts.
type Mode string

const (
	Fresh Mode = "fresh" // runtime.Runtime.NewInstance
	Clone Mode = "clone" // runtime.Snapshot.NewInstance
)

// Status is a module run's outcome.
type Status string

const (
	Passed    Status = "passed"     // no failure, no error, no unexpected success
	Failed    Status = "failed"     // ran, with failures or errors
	Skipped   Status = "skipped"    // the module raised SkipTest as it loaded
	LoadError Status = "load-error" // the module failed to import
	Timeout   Status = "timeout"    // its deadline passed
	Memory    Status = "memory"     // it reached its memory cap
	Crash     Status = "crash"      // the guest trapped or exited
)

// Problem is one failing test.
type Problem struct {
	Test      string `json:"test"`
	Message   string `json:"message"` // the traceback's last line
	Traceback string `json:"traceback,omitempty"`
}

// Result is one module's run in one mode.
type Result struct {
	Module              string         `json:"module"`
	Mode                Mode           `json:"mode"`
	Status              Status         `json:"status"`
	Reason              string         `json:"reason,omitempty"` // why skipped, not loaded or stopped
	Run                 int            `json:"run"`
	Failures            int            `json:"failures"`
	Errors              int            `json:"errors"`
	Skipped             int            `json:"skipped"`
	ExpectedFailures    int            `json:"expected_failures,omitempty"`
	UnexpectedSuccesses int            `json:"unexpected_successes,omitempty"`
	Failed              []Problem      `json:"failed,omitempty"`
	SkipReasons         map[string]int `json:"skip_reasons,omitempty"`
	Traceback           string         `json:"traceback,omitempty"` // a load error's
	Seconds             float64        `json:"seconds"`             // host wall time, instance start included
	LastTest            string         `json:"last_test,omitempty"` // the test running when it stopped
	Started             int            `json:"started"`             // tests started
	Stdout              string         `json:"-"`
	Stderr              string         `json:"-"`
}

// Clean reports whether the module ran tests, not all of them skipped, with
// no failure and no error.
func (r *Result) Clean() bool { return r.Status == Passed && r.Run > r.Skipped }

// Config sets a Runner's limits; the zero value means the defaults.
type Config struct {
	Dir, Testlib string        // from Dirs by default
	Timeout      time.Duration // per module run; default 10 minutes
	MaxMemory    int64         // per module run; default 1 GiB
}

// Runner runs modules in fresh instances and in clones of one snapshot.
type Runner struct {
	cfg  Config
	rt   *runtime.Runtime
	snap *runtime.Snapshot
	opts runtime.Options
}

// NewRunner compiles the interpreter and takes the snapshot the clones start
// from: an instance that ran the runner's prelude.
func NewRunner(ctx context.Context, cfg Config) (*Runner, error) {
	if cfg.Dir == "" || cfg.Testlib == "" {
		d, tl, err := Dirs()
		if err != nil {
			return nil, err
		}
		cfg.Dir, cfg.Testlib = d, tl
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 10 * time.Minute
	}
	if cfg.MaxMemory == 0 {
		cfg.MaxMemory = 1 << 30
	}
	rt, err := runtime.New(ctx, runtime.Config{Dir: cfg.Dir})
	if err != nil {
		return nil, err
	}
	r := &Runner{cfg: cfg, rt: rt, opts: runtime.Options{
		// Room for what the tests write and open; our defaults are for
		// user code, not what the suite measures.
		Limits:  runtime.Limits{MaxMemory: cfg.MaxMemory, MaxOpenFiles: 1024, MaxScratchBytes: 512 << 20, MaxScratchFiles: 50000},
		Mounts:  []runtime.Mount{{GuestPath: "/testlib", HostDir: cfg.Testlib}},
		Scratch: runtime.ScratchOptions{NoResultFiles: true},
	}}
	r.snap, err = rt.NewSnapshot(ctx, runtime.SnapshotOptions{Options: r.opts, Setup: prelude})
	if err != nil {
		rt.Close(ctx)
		return nil, err
	}
	return r, nil
}

// Build says which interpreter the Runner tests.
func (r *Runner) Build() runtime.Build { return r.rt.Build() }

// Close releases the snapshot and the runtime.
func (r *Runner) Close(ctx context.Context) error {
	r.snap.Close()
	return r.rt.Close(ctx)
}

// Run runs one module in a new interpreter started in mode; skip names test
// methods to leave out. Its error is the runner's own (an instance that
// could not start); what the module does is in the Result.
func (r *Runner) Run(ctx context.Context, module string, mode Mode, skip ...string) (*Result, error) {
	res := &Result{Module: module, Mode: mode}
	start := time.Now()
	defer func() { res.Seconds = time.Since(start).Seconds() }()
	ctx, cancel := context.WithTimeout(ctx, r.cfg.Timeout)
	defer cancel()
	var inst *runtime.Instance
	var err error
	if mode == Clone {
		inst, err = r.snap.NewInstance(ctx, runtime.CloneOptions{})
	} else {
		inst, err = r.rt.NewInstance(ctx, r.opts)
		if err == nil {
			_, err = inst.Run(ctx, runtime.Exec(prelude))
		}
	}
	if err != nil {
		inst.Close(context.WithoutCancel(ctx))
		return nil, fmt.Errorf("stdlibtest: %s: starting a %s interpreter: %w", module, mode, err)
	}
	defer inst.Close(context.WithoutCancel(ctx))
	args, _ := json.Marshal([]any{module, append([]string{}, skip...)})
	out, err := inst.Run(ctx, runtime.Request{Op: runtime.OpCall, Code: "run", Args: args,
		OnChunk: func(c json.RawMessage) error {
			res.Started++
			_ = json.Unmarshal(c, &res.LastTest)
			return nil
		}})
	if out != nil {
		res.Stdout, res.Stderr = string(out.Stdout), string(out.Stderr)
	}
	var pe *runtime.PythonError
	switch {
	case err == nil:
		last, started := res.LastTest, res.Started
		if err := out.Decode(res); err != nil {
			return nil, fmt.Errorf("stdlibtest: %s: decoding the result: %w", module, err)
		}
		res.Module, res.Mode, res.LastTest, res.Started = module, mode, last, started
		if res.Status == Passed || res.Status == Failed || res.Status == Skipped {
			res.LastTest = ""
		}
	case errors.Is(err, context.DeadlineExceeded):
		res.Status, res.Reason = Timeout, fmt.Sprintf("deadline of %s passed", r.cfg.Timeout)
	case errors.Is(err, runtime.ErrMemoryLimit):
		res.Status, res.Reason = Memory, err.Error()
	case errors.As(err, &pe):
		// run() catches everything; this is the runner itself failing
		// (a test replaced something it relies on).
		res.Status, res.Reason = Crash, firstLine(pe.Error())
		res.Traceback = pe.Traceback
	default:
		res.Status, res.Reason = Crash, firstLine(err.Error())
	}
	return res, nil
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(s, "\n")
	return s
}
