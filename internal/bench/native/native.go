// Package native is the benchmark baseline: a pool of long-lived native
// CPython processes driven over pipes, and a process-per-call mode.
//
// It is not part of the snakepit API. It aims to be the baseline a careful Go
// engineer would write: persistent workers, a compact length-prefixed binary
// protocol over buffered stdin/stdout pipes, JSON done by CPython's C encoder,
// and no goroutine per request.
//
// Each worker runs worker.py (embedded) with -I -S. Functions defined by
// [Pool.Exec] live in the worker's persistent globals, which also hold
// host_call(value): it sends json.dumps(value) to the Go callback of
// [Pool.CallWithCallback] and returns json.loads of its answer.
//
// Output printed by Python code is not captured: the worker points its fds 0
// and 1 at /dev/null and stderr so that prints cannot corrupt the protocol,
// and only the last few KiB of stderr are kept, to explain a worker's death.
package native

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"
)

// ErrClosed is returned by calls on a closed Pool.
var ErrClosed = errors.New("native: pool closed")

// PythonError is an exception raised by Python code in a worker. The worker
// stays usable.
type PythonError struct {
	Type    string // e.g. "ValueError", or "module.Name" outside builtins
	Message string // str() of the exception
}

func (e *PythonError) Error() string {
	if e.Message == "" {
		return e.Type
	}
	return e.Type + ": " + e.Message
}

// Python is how to start a python3.13: the program and the arguments that
// come before python's own, e.g. a dynamic loader, its --library-path and the
// interpreter (see [Debian]).
type Python []string

// argv is p's program and its arguments followed by args.
func (p Python) argv(args ...string) (string, []string) {
	if len(p) == 0 {
		return "", args // fails in Start, as a missing program does
	}
	return p[0], append(p[1:len(p):len(p)], args...)
}

// Command is an exec.Cmd running p with args after its own arguments.
func (p Python) Command(ctx context.Context, args ...string) *exec.Cmd {
	prog, a := p.argv(args...)
	return exec.CommandContext(ctx, prog, a...)
}

// String is the command line.
func (p Python) String() string { return strings.Join(p, " ") }

// PythonPath finds the native python3.13 built from the same source as
// python.wasm, to benchmark against.
//
// In order: $SNAKEPIT_NATIVE_PYTHON (a path or a name on $PATH),
// $SNAKEPIT_PYTHON_DIR/native/bin/python3.13, and the build's cache,
// [CacheDir]/python-wasm/current/native/bin/python3.13.
func PythonPath() (Python, error) {
	if p := os.Getenv("SNAKEPIT_NATIVE_PYTHON"); p != "" {
		path, err := exec.LookPath(p)
		if err != nil {
			return nil, fmt.Errorf("native: SNAKEPIT_NATIVE_PYTHON: %w", err)
		}
		return Python{path}, nil
	}
	const bin = "native/bin/python3.13"
	var tried []string
	if dir := os.Getenv("SNAKEPIT_PYTHON_DIR"); dir != "" {
		tried = append(tried, filepath.Join(dir, bin))
	}
	tried = append(tried, filepath.Join(CacheDir(), "python-wasm/current", bin))
	for _, p := range tried {
		if st, err := os.Stat(p); err == nil && !st.IsDir() {
			return Python{p}, nil
		}
	}
	return nil, fmt.Errorf("native python3.13 not built: run make (looked for %s; or set SNAKEPIT_NATIVE_PYTHON)", strings.Join(tried, ", "))
}

// CacheDir is the build's cache:
// ${SNAKEPIT_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/snakepit-wasm}.
func CacheDir() string {
	if c := os.Getenv("SNAKEPIT_CACHE_DIR"); c != "" {
		return c
	}
	base := os.Getenv("XDG_CACHE_HOME")
	if base == "" {
		base = filepath.Join(os.Getenv("HOME"), ".cache")
	}
	return filepath.Join(base, "snakepit-wasm")
}

// Pool is a fixed number of worker processes. Its methods are safe for
// concurrent use; each call checks out an idle worker, so at most Size calls
// run at once and the others wait.
type Pool struct {
	python Python
	size   int

	// idle holds one entry per slot. A nil entry is a slot whose worker
	// died and could not be restarted yet; the next caller starts one.
	idle   chan *worker
	closed chan struct{}
	// ctx bounds background restarts; Close cancels it.
	ctx    context.Context
	cancel context.CancelFunc
	bg     sync.WaitGroup

	execMu sync.Mutex // serialises Exec, which needs every slot

	mu      sync.Mutex
	closing bool
	live    map[*worker]struct{}
	setup   []string // every successful Exec, replayed into new workers

	closeOnce sync.Once
	closeErr  error
}

// New starts size workers of python concurrently and returns once all are
// ready. ctx bounds only the start.
func New(ctx context.Context, python Python, size int) (*Pool, error) {
	if size < 1 {
		return nil, errors.New("native: pool size must be at least 1")
	}
	workers := make([]*worker, size)
	errs := make([]error, size)
	var wg sync.WaitGroup
	for i := range size {
		wg.Go(func() { workers[i], errs[i] = startWorker(ctx, python, nil) })
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			for _, w := range workers {
				if w != nil {
					w.stdin.Close()
					w.wait()
				}
			}
			return nil, err
		}
	}
	p := &Pool{
		python: python,
		size:   size,
		idle:   make(chan *worker, size),
		closed: make(chan struct{}),
		live:   make(map[*worker]struct{}, size),
	}
	p.ctx, p.cancel = context.WithCancel(context.Background())
	for _, w := range workers {
		p.live[w] = struct{}{}
		p.idle <- w
	}
	return p, nil
}

// Size is the number of workers.
func (p *Pool) Size() int { return p.size }

// Exec runs src in the globals of every worker, and in every worker started
// later to replace one, so that later calls find what it defines whichever
// worker serves them. It waits for all running calls. Since every source is
// kept for replay, Exec is meant for setup, not for work done in a loop.
// If src fails in some worker, it is not kept and the workers may differ.
func (p *Pool) Exec(ctx context.Context, src string) error {
	p.execMu.Lock()
	defer p.execMu.Unlock()
	workers := make([]*worker, 0, p.size)
	errs := make([]error, p.size)
	defer func() {
		for i, w := range workers {
			p.release(w, errs[i])
		}
	}()
	for range p.size {
		w, err := p.get(ctx)
		if err != nil {
			return err
		}
		workers = append(workers, w)
	}
	var wg sync.WaitGroup
	for i, w := range workers {
		wg.Go(func() { _, errs[i] = p.run(ctx, w, opExec, "", []byte(src), nil) })
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	p.mu.Lock()
	p.setup = append(p.setup, src)
	p.mu.Unlock()
	return nil
}

// Call calls the global function fn, defined by an earlier Exec, with the
// positional arguments in argsJSON (a JSON array; empty for none) and
// returns its result as JSON. A Python exception is returned as a
// *PythonError. If ctx ends while the call runs, the worker is killed and
// replaced, and ctx.Err() returned.
func (p *Pool) Call(ctx context.Context, fn string, argsJSON []byte) ([]byte, error) {
	return p.do(ctx, opCall, fn, argsJSON, nil)
}

// CallBytes is Call for a function taking and returning bytes, skipping JSON.
func (p *Pool) CallBytes(ctx context.Context, fn string, arg []byte) ([]byte, error) {
	return p.do(ctx, opCallBytes, fn, arg, nil)
}

// CallWithCallback is Call during which Python's host_call(value) is answered
// by cb, which gets value as JSON and returns the answer as JSON. cb runs on
// the calling goroutine while the worker waits for it.
func (p *Pool) CallWithCallback(ctx context.Context, fn string, argsJSON []byte, cb func([]byte) []byte) ([]byte, error) {
	return p.do(ctx, opCall, fn, argsJSON, cb)
}

func (p *Pool) do(ctx context.Context, op byte, name string, payload []byte, cb func([]byte) []byte) (res []byte, err error) {
	if strings.IndexByte(name, 0) >= 0 {
		return nil, fmt.Errorf("native: function name %q contains NUL", name)
	}
	w, err := p.get(ctx)
	if err != nil {
		return nil, err
	}
	// Unless run returns, as when cb panics, the worker is in an unknown
	// state and must not be reused.
	err = errPanicked
	defer func() { p.release(w, err) }()
	return p.run(ctx, w, op, name, payload, cb)
}

var errPanicked = errors.New("native: callback panicked")

// run does one round trip on w, killing w if ctx ends meanwhile.
func (p *Pool) run(ctx context.Context, w *worker, op byte, name string, payload []byte, cb func([]byte) []byte) ([]byte, error) {
	stop := context.AfterFunc(ctx, w.kill)
	res, err := w.roundTrip(op, name, payload, cb)
	if !stop() {
		// The kill has begun, though maybe not yet marked the worker; an
		// answer that made it is still good, the worker is not.
		w.kill()
		if err != nil {
			return nil, ctx.Err()
		}
	}
	if err != nil {
		if _, ok := err.(*PythonError); !ok {
			// Reaping first completes stderr, which tells why it died.
			w.kill()
			w.wait()
			err = fmt.Errorf("native: worker died: %w", w.describe(err))
		}
	}
	return res, err
}

// release returns w to the pool after a round trip that ended with err, or
// replaces it if it cannot serve another request.
func (p *Pool) release(w *worker, err error) {
	if _, ok := err.(*PythonError); (err == nil || ok) && !w.killed.Load() {
		p.idle <- w
		return
	}
	w.kill()
	p.mu.Lock()
	delete(p.live, w)
	restart := !p.closing
	if restart {
		p.bg.Add(1)
	}
	p.mu.Unlock()
	if !restart {
		w.wait()
		p.idle <- nil
		return
	}
	// The replacement starts in the background so that a cancelled caller
	// returns at once.
	go func() {
		defer p.bg.Done()
		w.wait()
		nw, err := p.start(p.ctx)
		if err != nil {
			nw = nil
		}
		p.idle <- nw
	}()
}

// get checks out a worker, starting one for an empty slot.
func (p *Pool) get(ctx context.Context) (*worker, error) {
	// Checked first, as select would pick at random among ready cases.
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	select {
	case <-p.closed:
		return nil, ErrClosed
	default:
	}
	var w *worker
	select {
	case w = <-p.idle:
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-p.closed:
		return nil, ErrClosed
	}
	if w != nil {
		return w, nil
	}
	w, err := p.start(ctx)
	if err != nil {
		p.idle <- nil
		return nil, err
	}
	return w, nil
}

// start starts a worker with the pool's setup and tracks it.
func (p *Pool) start(ctx context.Context) (*worker, error) {
	p.mu.Lock()
	setup := p.setup
	p.mu.Unlock()
	w, err := startWorker(ctx, p.python, setup)
	if err != nil {
		return nil, err
	}
	p.mu.Lock()
	closing := p.closing
	if !closing {
		p.live[w] = struct{}{}
	}
	p.mu.Unlock()
	if closing {
		w.kill()
		w.wait()
		return nil, ErrClosed
	}
	return w, nil
}

// Close stops the workers: it waits for running calls (killing them after a
// grace period), closes every worker's stdin and waits for it to exit,
// killing it after a grace period. No process or goroutine is left behind.
func (p *Pool) Close() error {
	p.closeOnce.Do(func() {
		p.mu.Lock()
		p.closing = true
		p.mu.Unlock()
		close(p.closed)
		p.cancel()

		grace := time.NewTimer(exitGrace)
		defer grace.Stop()
		var ws []*worker
		for range p.size {
			var w *worker
			select {
			case w = <-p.idle:
			case <-grace.C:
				// Calls still running are killed so that their slots
				// come back; idle workers caught too only exit sooner.
				p.mu.Lock()
				for lw := range p.live {
					lw.kill()
				}
				p.mu.Unlock()
				w = <-p.idle
			}
			if w != nil {
				// Closing stdin now lets all workers exit in parallel.
				w.stdin.Close()
				ws = append(ws, w)
			}
		}
		p.bg.Wait()

		kill := time.AfterFunc(exitGrace, func() {
			for _, w := range ws {
				w.kill()
			}
		})
		var errs []error
		for _, w := range ws {
			errs = append(errs, w.wait())
		}
		kill.Stop()
		p.mu.Lock()
		clear(p.live)
		p.mu.Unlock()
		p.closeErr = errors.Join(errs...)
	})
	return p.closeErr
}

// Memory sums the resident (RSS) and proportional (PSS) set sizes, in bytes,
// of the worker processes, from /proc/<pid>/smaps_rollup (Linux only). PSS
// splits pages shared between workers, such as the interpreter's code, so it
// is the fair measure of what the pool costs.
func (p *Pool) Memory() (rss, pss uint64, err error) {
	for _, pid := range p.PIDs() {
		r, s, err := smapsRollup(pid)
		if err != nil {
			return 0, 0, err
		}
		rss += r
		pss += s
	}
	return rss, pss, nil
}

// CPUTime returns the CPU time the live worker processes have used, from
// /proc/<pid>/schedstat (nanoseconds; Linux only; a worker is one thread).
func (p *Pool) CPUTime() (time.Duration, error) {
	var total time.Duration
	for _, pid := range p.PIDs() {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/schedstat", pid))
		if err != nil {
			return 0, err
		}
		f := strings.Fields(string(b))
		if len(f) == 0 {
			return 0, fmt.Errorf("native: /proc/%d/schedstat: %q", pid, b)
		}
		ns, err := strconv.ParseInt(f[0], 10, 64)
		if err != nil {
			return 0, fmt.Errorf("native: /proc/%d/schedstat: %w", pid, err)
		}
		total += time.Duration(ns)
	}
	return total, nil
}

// PIDs returns the process ids of the live workers.
func (p *Pool) PIDs() []int {
	p.mu.Lock()
	defer p.mu.Unlock()
	pids := make([]int, 0, len(p.live))
	for w := range p.live {
		pids = append(pids, w.cmd.Process.Pid)
	}
	return pids
}

func smapsRollup(pid int) (rss, pss uint64, err error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/smaps_rollup", pid))
	if err != nil {
		return 0, 0, fmt.Errorf("native: %w", err)
	}
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		key, rest, _ := strings.Cut(sc.Text(), ":")
		if key != "Rss" && key != "Pss" {
			continue
		}
		kb, err := strconv.ParseUint(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
		if err != nil {
			return 0, 0, fmt.Errorf("native: smaps_rollup of %d: %w", pid, err)
		}
		if key == "Rss" {
			rss = kb << 10
		} else {
			pss = kb << 10
		}
	}
	return rss, pss, nil
}

// RunFresh runs src in a new python process, as python -I -S -c src, and
// waits for it to exit: the cost of a process per call. Output is discarded;
// a failure reports the end of stderr.
func RunFresh(ctx context.Context, python Python, src string) error {
	cmd := python.Command(ctx, "-I", "-S", "-c", src)
	var stderr tail
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return fmt.Errorf("native: fresh python: %w: %s", err, strings.TrimSpace(stderr.String()))
	}
	return nil
}
