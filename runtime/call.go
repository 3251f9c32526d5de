// A request and its call: what a Request asks, its checks, and Run, step
// by step.

package runtime

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/snakepit-wasm/snakepit/internal/abi"
	"github.com/snakepit-wasm/snakepit/internal/scratchfs"
	"github.com/tetratelabs/wazero/api"
)

// Op is what a Request asks of the guest.
type Op int32

const (
	// OpExec runs Code as a module body in the instance's __main__, like a
	// notebook cell: when its last statement is an expression, that
	// expression's value is the result (None otherwise). A value JSON cannot
	// hold (NaN, an object, ...) comes back as its repr(), a JSON string.
	OpExec = Op(abi.KindExec)
	// OpEval evaluates the expression Code; the value is the result. A
	// value JSON cannot hold raises TypeError or ValueError in Python.
	OpEval = Op(abi.KindEval)
	// OpCall calls the function Code with Args, a JSON list (positional) or
	// object (keyword arguments); no Args means no arguments. Code is "name"
	// (looked up in __main__, then among the builtins) or "module.name" (the
	// module is imported). A missing name raises NameError or
	// AttributeError in Python.
	OpCall = Op(abi.KindCallJSON)
	// OpCallBytes calls the function Code with Data as one bytes argument.
	OpCallBytes = Op(abi.KindCallBytes)
	// OpStream calls like OpCall and sends each item of the returned
	// iterable to OnChunk as it is produced.
	OpStream = Op(abi.KindCallStream)
)

// Stream names an output stream.
type Stream int

const (
	Stdout Stream = 1
	Stderr Stream = 2
)

// Request is one call into the guest. Make one with Exec, Eval, Call,
// CallJSON, CallBytes or CallStream, then set the optional fields below.
type Request struct {
	Op   Op
	Code string          // source, expression or function name
	Args json.RawMessage // OpCall, OpStream
	Data []byte          // OpCallBytes
	err  error           // from Call: arguments JSON cannot encode
	// Host adds host tools for this call only.
	Host map[string]HostFunc
	// OnOutput, if set, sees stdout/stderr as the guest writes it (within the caps).
	OnOutput func(s Stream, p []byte)
	// Files are written into the scratch file system before the call runs,
	// each replacing any file of that name: the name is relative to the
	// scratch root ("data.csv", "in/a.txt") or absolute under it
	// ("/tmp/data.csv"); missing directories are created. They count
	// against the scratch caps (ErrScratchFull past them; files before the
	// one that failed may have been written). Nothing runs if one fails.
	Files map[string][]byte
	// OnChunk receives stream chunks (OpStream items and snakepit.emit);
	// OpStream requires it. An error stops the stream: OnChunk is not
	// called again, every later emit raises RuntimeError in Python, and
	// Run returns that error, wrapped, whatever the guest did next.
	OnChunk func(chunk json.RawMessage) error
}

// Result is the outcome of a call that returned, normally or with a Python
// exception.
type Result struct {
	Value json.RawMessage // the returned value as JSON; nil for None or bytes
	Bytes []byte          // the returned value when it was bytes
	// Output captured during the call, and whether the caps cut it.
	Stdout, Stderr                   []byte
	StdoutTruncated, StderrTruncated bool
	// Files holds the scratch files the call created, wrote, truncated or
	// renamed (or that sit under a directory it renamed), by name relative
	// to the scratch root, with their content at the call's end; nil when
	// there are none or the collection is off (ScratchOptions.NoResultFiles).
	// Files the call deleted are not in it. The names are the guest's
	// choice, untrusted: check each with HostPath before using it as a
	// path on the host.
	Files map[string][]byte
	// FilesOmitted names the changed files that did not fit in MaxResultFiles,
	// in path order (the first 1,000); Instance.Scratch can still read them.
	FilesOmitted []string
}

// Decode unmarshals the returned JSON value into v. A None result decodes
// as JSON null: v is left as it is, or set to nil if it points to a
// pointer, map, slice or interface. A bytes result (see Bytes) is an error.
func (r *Result) Decode(v any) error {
	if r.Bytes != nil {
		return errors.New("the result is bytes (Result.Bytes), not JSON")
	}
	if r.Value == nil {
		return json.Unmarshal([]byte("null"), v)
	}
	return json.Unmarshal(r.Value, v)
}

func (o Op) String() string {
	switch o {
	case OpExec:
		return "OpExec"
	case OpEval:
		return "OpEval"
	case OpCall:
		return "OpCall"
	case OpCallBytes:
		return "OpCallBytes"
	case OpStream:
		return "OpStream"
	}
	return fmt.Sprintf("Op(%d)", int32(o))
}

// Validate reports why r cannot run, as an error wrapping ErrBadRequest, or
// nil. Instance.Run (and the pool, before it takes a worker) calls it, so
// that a malformed request fails in Go with its reason instead of as an
// obscure Python error.
func (r Request) Validate() error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: %s", ErrBadRequest, fmt.Sprintf(format, args...))
	}
	if r.err != nil {
		return r.err
	}
	switch r.Op {
	case OpExec, OpEval:
	case OpCall, OpCallBytes, OpStream:
		if r.Code == "" {
			return bad("%v needs a function name in Code", r.Op)
		}
	case 0:
		return bad("no Op set")
	default:
		return bad("unknown %v", r.Op)
	}
	if r.Op == OpStream && r.OnChunk == nil {
		return bad("OpStream needs OnChunk")
	}
	if r.Data != nil && r.Op != OpCallBytes {
		return bad("Data is for OpCallBytes, not %v", r.Op)
	}
	for name := range r.Host {
		if strings.HasPrefix(name, abi.ReservedPrefix) {
			return bad("Host: names starting with %q are reserved", abi.ReservedPrefix)
		}
	}
	for name := range r.Files {
		if name == "" || strings.IndexByte(name, 0) >= 0 {
			return bad("Files: the name %q is empty or holds a NUL byte", name)
		}
		if scratchfs.CheckPath(name) != 0 {
			return bad("Files: the name %q is too long or climbs out (..)", name)
		}
	}
	if len(r.Args) > 0 {
		if r.Op != OpCall && r.Op != OpStream {
			return bad("Args is for OpCall and OpStream, not %v", r.Op)
		}
		// Python's json would also take NaN or a bare value; the guest
		// must get what the documentation promises.
		a := bytes.TrimLeft(r.Args, " \t\r\n")
		if len(a) == 0 || (a[0] != '[' && a[0] != '{') || !json.Valid(a) {
			return bad("Args must be a JSON list or object")
		}
	}
	return nil
}

// Runner runs requests: *Instance, *pool.Pool and *pool.Session are
// Runners, so code written against it runs on any of them.
type Runner interface {
	Run(ctx context.Context, req Request) (*Result, error)
}

// Exec asks to run source in __main__ (see OpExec).
func Exec(source string) Request { return Request{Op: OpExec, Code: source} }

// Eval asks for the value of a Python expression (see OpEval).
func Eval(expr string) Request { return Request{Op: OpEval, Code: expr} }

// Call asks to call the Python function fn ("name" or "module.name", see
// OpCall) with args as positional arguments, each encoded as JSON. An
// argument JSON cannot encode makes the request fail with ErrBadRequest.
func Call(fn string, args ...any) Request {
	if args == nil {
		args = []any{}
	}
	a, err := json.Marshal(args)
	if err != nil {
		err = fmt.Errorf("%w: encoding the arguments of %s: %w", ErrBadRequest, fn, err)
	}
	return Request{Op: OpCall, Code: fn, Args: a, err: err}
}

// CallJSON asks to call fn with args, a JSON list (positional arguments)
// or object (keyword arguments); nil means none.
func CallJSON(fn string, args json.RawMessage) Request {
	return Request{Op: OpCall, Code: fn, Args: args}
}

// CallBytes asks to call fn with data as its one bytes argument.
func CallBytes(fn string, data []byte) Request {
	return Request{Op: OpCallBytes, Code: fn, Data: data}
}

// CallStream asks to call fn like CallJSON and to pass each item of the
// iterable it returns to onChunk as it is produced (see OpStream and
// Request.OnChunk).
func CallStream(fn string, args json.RawMessage, onChunk func(json.RawMessage) error) Request {
	return Request{Op: OpStream, Code: fn, Args: args, OnChunk: onChunk}
}

// Run performs one request. A Python exception returns the Result (with the
// output so far) and a *PythonError; the instance stays usable. So do a
// request that cannot run (ErrBadRequest, before anything runs), a result
// over MaxResult, a stream stopped by its caps (ErrStreamLimit) or by
// OnChunk's error, and the memory cap where CPython survives it (see
// Limits.MaxMemory). A trap, the memory cap where it does not, a stop at
// the context's end or an ABI violation return an error and leave the
// instance broken (see Err). An error wrapping the context's error means
// ctx ended first.
func (i *Instance) Run(ctx context.Context, req Request) (*Result, error) {
	if err := req.Validate(); err != nil {
		return nil, err
	}
	i.callMu.Lock()
	defer i.callMu.Unlock()
	if !i.life.Enter() {
		return nil, ErrClosed
	}
	defer i.life.Exit()
	if err := i.brokenErr(); err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	gen, err := i.putFiles(req.Files)
	if err != nil {
		return nil, err
	}
	st, ret, err := i.invoke(ctx, &req)
	if cap(i.conv) > 1<<16 {
		defer func() { i.conv = nil }() // a large value's buffer is not kept
	}
	if st == nil {
		return nil, err
	}
	res := i.collect(gen)
	return i.result(ctx, st, ret, err, res)
}

// invoke writes the request into the guest and runs it; st is nil when it
// never ran.
func (i *Instance) invoke(ctx context.Context, req *Request) (*callState, []uint64, error) {
	i.mu.Lock()
	i.calls++
	i.mu.Unlock()
	a, b, kind := []byte(req.Code), req.Args, abi.Kind(req.Op)
	if req.Op == OpCallBytes {
		b = req.Data
	}
	if len(b) > 0 && (req.Op == OpCall || req.Op == OpStream) {
		// The guest loads marshal's format several times faster than JSON;
		// what the conversion leaves to Python's json goes as it came.
		if m, ok := abi.JSONToMarshal(i.conv[:0], b); ok {
			i.conv, b, kind = m, m, kind|abi.KindMarshalArgs
		}
	}
	if i.pristine && (req.Op == OpExec || req.Op == OpEval) {
		// b, unused by these kinds, carries the source's code when the
		// snapshot's code cache has it (codecache.go). Only for a clone
		// that has run nothing: its compile would give what the cache's
		// compiler gave, exactly.
		b = i.snap.code.code(ctx, req.Op, a)
	}
	i.pristine = false
	if i.mem != nil {
		i.mem.ClearHitLimit() // this request's, not an earlier one's
	}
	if err := i.writeRequest(ctx, a, b); err != nil {
		if errors.Is(err, ErrMemoryLimit) && !errors.Is(err, ErrTrap) {
			// The guest's realloc failed and kept the old buffer: the
			// request never ran, and the interpreter is as it was.
			return nil, nil, err
		}
		return nil, nil, i.breakWith(err)
	}
	st := &callState{ctx: ctx, inst: i, req: req}
	i.out.reset(i.opts.Limits.MaxStdout, Stdout, req.OnOutput)
	i.errOut.reset(i.opts.Limits.MaxStderr, Stderr, req.OnOutput)
	ret, err := i.call(ctx, st, i.run, uint64(kind), uint64(len(a)), uint64(len(b)))
	st.endAsync()
	return st, ret, err
}

// collect gathers what the call left besides its value: its output, and
// the scratch files it changed since gen.
func (i *Instance) collect(gen uint64) *Result {
	res := &Result{Stdout: i.out.buf, Stderr: i.errOut.buf, StdoutTruncated: i.out.truncated, StderrTruncated: i.errOut.truncated}
	i.out.buf, i.errOut.buf = nil, nil
	if i.scratch != nil && !i.opts.Scratch.NoResultFiles {
		res.Files, res.FilesOmitted = i.scratch.ChangedSince(gen, i.opts.Limits.MaxResultFiles)
	}
	return res
}

// result decodes the call's outcome: its value, a Python exception, or what
// stopped it, which breaks the instance.
func (i *Instance) result(ctx context.Context, st *callState, ret []uint64, err error, res *Result) (*Result, error) {
	switch {
	case err != nil && ctx.Err() != nil:
		return res, i.breakWith(fmt.Errorf("call stopped: %w", ctx.Err()))
	case errors.Is(err, ErrClosed):
		return res, i.breakWith(fmt.Errorf("call stopped: %w", ErrClosed))
	case i.hitLimit() && (err != nil || st.fault != nil):
		return res, i.breakWith(i.memoryLimitErr())
	case err != nil:
		return res, i.breakWith(fmt.Errorf("%w: %s", ErrTrap, firstLine(err.Error())))
	case st.fault != nil:
		return res, i.breakWith(st.fault)
	}
	ptr, n := abi.UnpackPtrLen(ret[0])
	if ptr == 0 && !st.interrupted.IsZero() {
		// The interrupt reached the dispatcher itself (formatting an
		// error, say): the call ends at its deadline, without an answer.
		return res, i.breakWith(fmt.Errorf("call stopped: %w", ctx.Err()))
	}
	if ptr == 0 {
		if n == 1 {
			// Not even the MemoryError could be answered: a memory that
			// full would fail every call, so the instance goes.
			return res, i.breakWith(fmt.Errorf("%w: MemoryError while dispatching", ErrMemoryLimit))
		}
		return res, i.breakWith(&abi.Error{Reason: "sp_run could not dispatch the request, or refused its answer"})
	}
	// The frames stay where the guest's objects hold them: each is copied
	// out once, after the table's sizes passed MaxResult.
	mem := i.mod.Memory()
	raw, ok := mem.Read(ptr, n) // a view: DecodeTable bounds n
	if !ok {
		return res, i.breakWith(&abi.Error{Reason: fmt.Sprintf("frame table out of bounds (%d bytes at 0x%x)", n, ptr)})
	}
	table, err := abi.DecodeTable(raw)
	if err != nil {
		return res, i.breakWith(err)
	}
	size := table.Size()
	if size > uint64(i.opts.Limits.MaxResult) {
		i.releaseResult(ctx, st)
		return res, fmt.Errorf("%w: %d bytes, limit %d", ErrResultTooLarge, size, i.opts.Limits.MaxResult)
	}
	frames, err := table.Read(mem)
	if size > 1<<16 {
		i.releaseResult(ctx, st)
	}
	if err != nil {
		return res, i.breakWith(err)
	}
	if st.streamErr != nil {
		// The guest saw its emit fail and may have caught that; the caller
		// learns why the stream stopped either way.
		return res, st.streamErr
	}
	if frames.Raised() {
		pe := &PythonError{Type: string(frames.ExcType), Message: string(frames.ExcMessage), Traceback: string(frames.Traceback)}
		switch {
		case !st.interrupted.IsZero():
			return res, fmt.Errorf("call stopped: %w: %w (%w)", ctx.Err(), ErrInterrupted, pe)
		case ctx.Err() != nil:
			// The deadline passed while Python waited on the host (a host
			// tool saw ctx end); the interpreter itself is fine.
			return res, fmt.Errorf("call stopped: %w (%w)", ctx.Err(), pe)
		case pe.Type == "MemoryError" && i.hitLimit():
			// memory.grow failed at the cap, the allocation returned
			// NULL and CPython unwound with MemoryError, as it does on
			// a native malloc failure: the interpreter kept its state.
			// What filled the memory may still hold it, though, and a
			// memory too full to run anything is given up.
			if !i.roomLeft(ctx) {
				return res, i.breakWith(fmt.Errorf("%w: %w; under 64 KiB left for the next call", i.memoryLimitErr(), pe))
			}
			return res, fmt.Errorf("%w: %w", i.memoryLimitErr(), pe)
		}
		return res, pe
	}
	if !st.interrupted.IsZero() {
		// It caught the interrupt and returned, within the grace: a result
		// after the deadline is still late.
		return res, fmt.Errorf("call stopped: %w: %w", ctx.Err(), ErrInterrupted)
	}
	if frames.JSON != nil {
		if !json.Valid(frames.JSON) {
			return res, i.breakWith(&abi.Error{Reason: "result value is not JSON"})
		}
		res.Value = frames.JSON
	}
	if frames.HostJSON {
		if st.madeJSON == nil {
			return res, i.breakWith(&abi.Error{Reason: "a host JSON value, but the host made none"})
		}
		res.Value, st.madeJSON, i.conv = st.madeJSON, nil, nil // handed over, not copied
	}
	res.Bytes = frames.Bytes
	return res, nil
}

// roomLeft reports whether the interpreter can still allocate 64 KiB and
// answer: a request of its own, uncounted, that leaves nothing behind. It
// has its own deadline: the caller's may be about to end.
func (i *Instance) roomLeft(ctx context.Context) bool {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Second)
	defer cancel()
	code := []byte(roomProbe)
	if i.writeRequest(ctx, code, nil) != nil {
		return false
	}
	ret, err := i.call(ctx, nil, i.run, uint64(OpEval), uint64(len(code)), 0)
	if err != nil {
		i.breakWith(fmt.Errorf("%w: %s", ErrTrap, firstLine(err.Error())))
		return false
	}
	ptr, n := abi.UnpackPtrLen(ret[0])
	mem := i.mod.Memory()
	raw, ok := mem.Read(ptr, n)
	if ptr == 0 || !ok {
		return false
	}
	table, err := abi.DecodeTable(raw)
	if err != nil {
		return false
	}
	frames, err := table.Read(mem)
	return err == nil && !frames.Raised()
}

const roomProbe = "len(bytearray(1 << 16))"

// hitLimit reports whether the request's guest code asked to grow its
// memory past the cap.
func (i *Instance) hitLimit() bool { return i.mem != nil && i.mem.HitLimit() }

func (i *Instance) memoryLimitErr() error {
	return fmt.Errorf("%w (%d MiB)", ErrMemoryLimit, i.opts.Limits.MaxMemory>>20)
}

func (i *Instance) writeRequest(ctx context.Context, a, b []byte) error {
	n := uint64(len(a)) + uint64(len(b))
	if n > 1<<30 {
		return fmt.Errorf("request of %d bytes is too large", n)
	}
	if uint32(n) > i.bufCap {
		ret, err := i.call(ctx, nil, i.buffer, n)
		if err != nil || uint32(ret[0]) == 0 {
			switch {
			case err == nil && i.hitLimit():
				return fmt.Errorf("%w: no room for a request of %d bytes", i.memoryLimitErr(), n)
			case i.hitLimit():
				return fmt.Errorf("%w: %w: sp_buffer(%d): %v", i.memoryLimitErr(), ErrTrap, n, err)
			}
			return fmt.Errorf("%w: sp_buffer(%d) failed: %v", ErrTrap, n, err)
		}
		i.bufPtr, i.bufCap = uint32(ret[0]), uint32(n)
	}
	mem := i.mod.Memory()
	if !mem.Write(i.bufPtr, a) || !mem.Write(i.bufPtr+uint32(len(a)), b) {
		return &abi.Error{Reason: fmt.Sprintf("request buffer out of bounds (0x%x)", i.bufPtr)}
	}
	return nil
}

// call runs fn in the guest under ctx's deadline and the stop mechanism.
// Every entry into the guest goes through here: guest code can run in any of
// them (a __del__ when sp_release frees an object, an allocation in
// sp_buffer), and a call outside the mechanism could neither be stopped nor
// preempted. st is nil outside a request.
func (i *Instance) call(ctx context.Context, st *callState, fn api.Function, params ...uint64) ([]uint64, error) {
	if !i.rt.life.Enter() {
		return nil, ErrClosed
	}
	defer i.rt.life.Exit()
	if st == nil {
		// No request: nothing would end tools started here.
		st = &callState{ctx: ctx, inst: i, req: &Request{}, asyncEnded: true}
	}
	i.cur = st
	defer func() { i.cur = nil }()
	i.resetBudget()
	stop := context.AfterFunc(ctx, i.interruptNow)
	defer stop()
	return fn.Call(context.WithValue(ctx, stateKey{}, st), params...)
}

// sleep serves the guest's sleeps (poll_oneoff's clock). When the call's
// context ends or the instance or runtime closes first, it stops the call
// there, as yield does: returning early would let the guest go on after a
// sleep that did not last, and finish with a result after its deadline.
func (i *Instance) sleep(d time.Duration) {
	ctx := context.Background()
	if st := i.cur; st != nil {
		ctx = st.ctx
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return
	case <-ctx.Done():
	case <-i.life.Done():
	}
	if err := i.stopped(ctx); err != nil && (i.cur == nil || !i.softStop(i.cur)) {
		panic(errStop{err})
	}
}

// softStop interrupts a call whose context has ended instead of stopping
// it, and reports whether the guest may go on running to unwind: the first
// time, it asks the guest to raise KeyboardInterrupt; then for
// MaxInterruptGrace. A closing instance or runtime is stopped at once.
func (i *Instance) softStop(st *callState) bool {
	grace := i.opts.Limits.MaxInterruptGrace
	if grace <= 0 || i.life.Err() != nil {
		return false
	}
	if st.interrupted.IsZero() {
		st.interrupted = time.Now()
		// Re-entrant: the guest is suspended in this yield; sp_interrupt
		// only queues a pending call, which runs once the guest resumes.
		if _, err := i.interrupt.Call(context.WithValue(st.ctx, stateKey{}, st)); err != nil {
			return false
		}
		return true
	}
	return time.Since(st.interrupted) < grace
}

// stopped says why a running call must stop now, if it must.
func (i *Instance) stopped(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	return i.life.Err()
}

func (i *Instance) releaseResult(ctx context.Context, st *callState) {
	if _, err := i.call(ctx, st, i.release); err != nil {
		i.breakWith(fmt.Errorf("%w: sp_release: %v", ErrTrap, err))
	}
}

func (i *Instance) breakWith(err error) error {
	i.mu.Lock()
	defer i.mu.Unlock()
	if i.broken == nil {
		i.broken = err
	}
	return err
}

// firstLine drops the wasm stack trace wazero appends to trap errors.
func firstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i]
	}
	return s
}

// capWriter keeps the first limit bytes written during one call.
type capWriter struct {
	buf       []byte
	limit     int
	truncated bool
	stream    Stream
	onOutput  func(Stream, []byte)
}

func (w *capWriter) reset(limit int, s Stream, on func(Stream, []byte)) {
	*w = capWriter{limit: limit, stream: s, onOutput: on}
}

// Write never fails: the guest must not learn about, or fight, the cap.
func (w *capWriter) Write(p []byte) (int, error) {
	n := len(p)
	if room := w.limit - len(w.buf); len(p) > room {
		p, w.truncated = p[:max(room, 0)], true
	}
	if len(p) > 0 {
		w.buf = append(w.buf, p...)
		if w.onOutput != nil {
			// p is guest memory, which the next call or a clone reusing it
			// overwrites, and which is unmapped when the instance closes.
			w.onOutput(w.stream, bytes.Clone(p))
		}
	}
	return n, nil
}

func (i *Instance) resetBudget() {
	if i.budget != nil {
		i.budgetMu.Lock()
		i.budget.Set(uint64(uint32(i.rt.knobs.YieldBudget)))
		i.budgetMu.Unlock()
	}
}

func (i *Instance) interruptNow() {
	if i.budget != nil {
		i.budgetMu.Lock()
		i.budget.Set(0)
		i.budgetMu.Unlock()
	}
}

// brokenErr is ErrBroken, wrapping why, once a call broke the instance.
func (i *Instance) brokenErr() error {
	i.mu.Lock()
	defer i.mu.Unlock()
	if i.broken != nil {
		return &brokenError{i.broken}
	}
	return nil
}
