package runtime

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	goruntime "runtime"
	"time"

	"github.com/snakepit-wasm/snakepit/internal/abi"
	"github.com/tetratelabs/wazero/api"
)

// HostFunc is a host tool that Python calls with snakepit.call(name, ...).
// args is a JSON list for positional arguments (snakepit.call("f", 1, 2)
// gives [1,2]; no arguments give []) or a JSON object for keyword arguments
// (snakepit.call("f", a=1) gives {"a":1}); Python refuses a call with both,
// with TypeError, so a tool never loses one kind. The returned value is
// encoded as JSON; a returned error raises RuntimeError in Python with its
// message. It runs on the calling goroutine while the guest waits.
type HostFunc func(ctx context.Context, args json.RawMessage) (any, error)

type stateKey struct{}

// callState is what the host imports need during one call.
type callState struct {
	ctx         context.Context
	inst        *Instance
	req         *Request
	hostCalls   int
	pending     []byte      // a host call's answer, until the guest takes it
	madeJSON    []byte      // hostJSON's last conversion, the value of TagHostJSON
	chunks      int         // stream chunks so far
	chunkSize   int         // and their total size
	streamErr   error       // why the host stopped the stream, if it did
	sched       time.Time   // the last Gosched in yield
	fault       error       // an ABI violation seen by an import; taints the instance
	async       *asyncCalls // tools started by snakepit.acall; nil until one is
	asyncEnded  bool        // the call has returned: no more starts
	interrupted time.Time   // when softStop asked the guest to raise KeyboardInterrupt
}

func stateOf(ctx context.Context) *callState {
	st, _ := ctx.Value(stateKey{}).(*callState)
	return st
}

// errStop is what yield panics with when the call's context is done; wazero
// turns the panic into the error Call returns.
type errStop struct{ cause error }

func (e errStop) Error() string { return "call stopped: " + e.cause.Error() }
func (e errStop) Unwrap() error { return e.cause }

func (r *Runtime) instantiateHost(ctx context.Context) error {
	i32, i64 := api.ValueTypeI32, api.ValueTypeI64
	// GoModuleFunc, not WithFunc: reflection cost microseconds per call.
	yield := api.GoModuleFunc(func(ctx context.Context, m api.Module, _ []uint64) { r.hostYield(ctx, m) })
	_, err := r.wr.NewHostModuleBuilder(abi.ImportModule).
		NewFunctionBuilder().WithGoModuleFunction(yield, nil, nil).Export(abi.ImportYield).
		// Never called once python.wasm is rewritten; a yield if it were.
		NewFunctionBuilder().WithGoModuleFunction(yield, nil, nil).Export(abi.ImportTick).
		NewFunctionBuilder().WithGoModuleFunction(api.GoModuleFunc(func(ctx context.Context, m api.Module, s []uint64) {
		s[0] = hostCall(ctx, m, uint32(s[0]), uint32(s[1]), uint32(s[2]), uint32(s[3]))
	}), []api.ValueType{i32, i32, i32, i32}, []api.ValueType{i64}).Export(abi.ImportHostCall).
		NewFunctionBuilder().WithGoModuleFunction(api.GoModuleFunc(func(ctx context.Context, m api.Module, s []uint64) {
		s[0] = uint64(hostTake(ctx, m, uint32(s[0]), uint32(s[1])))
	}), []api.ValueType{i32, i32}, []api.ValueType{i32}).Export(abi.ImportHostTake).
		NewFunctionBuilder().WithGoModuleFunction(api.GoModuleFunc(func(ctx context.Context, m api.Module, s []uint64) {
		s[0] = uint64(hostEmit(ctx, m, uint32(s[0]), uint32(s[1])))
	}), []api.ValueType{i32, i32}, []api.ValueType{i32}).Export(abi.ImportEmit).
		Instantiate(ctx)
	if err != nil {
		return fmt.Errorf("host module: %w", err)
	}
	return nil
}

func (r *Runtime) hostYield(ctx context.Context, m api.Module) {
	st := stateOf(ctx)
	if st == nil {
		// Only entries that bypass Instance.call (the ABI version check).
		if g, ok := m.ExportedGlobal(budgetExport).(api.MutableGlobal); ok {
			g.Set(uint64(uint32(r.knobs.YieldBudget)))
		}
		return
	}
	st.inst.resetBudget()
	if err := st.inst.stopped(st.ctx); err != nil && !st.inst.softStop(st) {
		panic(errStop{err})
	}
	// Entering Go already gave a pending stop-the-world its safe point.
	// Gosched lets other goroutines have this P, but costs microseconds
	// (a thread handoff when the caller locked its OS thread): once a
	// millisecond is enough for the scheduler.
	if now := time.Now(); now.Sub(st.sched) >= schedEvery {
		st.sched = now
		goruntime.Gosched()
	}
}

func (st *callState) violate(format string, args ...any) {
	if st.fault == nil {
		st.fault = &abi.Error{Reason: fmt.Sprintf(format, args...)}
	}
}

// read copies n bytes at ptr out of guest memory, bounded by max.
func (st *callState) read(m api.Module, ptr, n uint32, max int, what string) ([]byte, bool) {
	if int64(n) > int64(max) {
		return nil, false
	}
	b, ok := m.Memory().Read(ptr, n)
	if !ok {
		st.violate("%s out of bounds (%d bytes at 0x%x)", what, n, ptr)
		return nil, false
	}
	return append([]byte(nil), b...), true
}

const hostRefused = 0xffffffff00000000 // status -1: the guest raises RuntimeError

func hostCall(ctx context.Context, m api.Module, namePtr, nameLen, argPtr, argLen uint32) uint64 {
	st := stateOf(ctx)
	if st == nil {
		return hostRefused
	}
	lim := &st.inst.opts.Limits
	if v, ok := m.Memory().Read(namePtr, nameLen); ok && string(v) == abi.HostJSON {
		return st.hostJSON(m, argPtr, argLen)
	}
	name, ok := st.read(m, namePtr, nameLen, 256, "host call name")
	if !ok {
		return st.answerErr(errors.New("snakepit: host call name too long or invalid"))
	}
	arg, ok := st.read(m, argPtr, argLen, lim.MaxHostPayload, "host call argument")
	if !ok {
		return st.answerErr(fmt.Errorf("snakepit: host call argument over %d bytes", lim.MaxHostPayload))
	}
	if bytes.HasPrefix(name, []byte(abi.ReservedPrefix)) {
		// Not counted: a start counts its tool; waits end at the deadline.
		return st.control(string(name), arg)
	}
	st.hostCalls++
	if st.hostCalls > lim.MaxHostCalls {
		return st.answerErr(fmt.Errorf("%w (%d per call)", ErrHostCallLimit, lim.MaxHostCalls))
	}
	f := st.tool(string(name))
	if f == nil {
		return st.answerErr(fmt.Errorf("snakepit: no host function %q", name))
	}
	if !json.Valid(arg) {
		return st.answerErr(errors.New("snakepit: host call argument is not JSON"))
	}
	v, err := f(st.ctx, arg)
	if err != nil {
		return st.answerErr(err)
	}
	out, err := json.Marshal(v)
	if err != nil {
		return st.answerErr(fmt.Errorf("snakepit: encoding the answer of %q: %w", name, err))
	}
	if len(out) > lim.MaxHostPayload {
		return st.answerErr(fmt.Errorf("snakepit: answer of %q over %d bytes", name, lim.MaxHostPayload))
	}
	return st.answer(out)
}

// hostJSON converts a value the guest marshalled into JSON (abi.HostJSON),
// bounded by the result limit both ways, and keeps it for the result. A
// refusal is an error answer: the guest then encodes the value with json,
// which raises or writes it.
func (st *callState) hostJSON(m api.Module, ptr, n uint32) uint64 {
	lim := st.inst.opts.Limits.MaxResult
	if int64(n) > int64(lim) {
		return st.answerErr(abi.ErrJSONTooLarge)
	}
	v, ok := m.Memory().Read(ptr, n) // a view: the guest waits while it is read
	if !ok {
		st.violate("host json argument out of bounds (%d bytes at 0x%x)", n, ptr)
		return st.answerErr(abi.ErrNotJSON)
	}
	out, err := abi.MarshalToJSON(st.inst.conv[:0], v, lim)
	if err != nil {
		return st.answerErr(err)
	}
	// The guest answers with TagHostJSON; the JSON never enters its memory.
	st.inst.conv, st.madeJSON = out, out
	return st.answer([]byte{})
}

// tool finds a host tool: the request's first, then the instance's.
func (st *callState) tool(name string) HostFunc {
	if f := st.req.Host[name]; f != nil {
		return f
	}
	return st.inst.opts.Host[name]
}

func (st *callState) answer(out []byte) uint64 {
	st.pending = out
	return abi.PackPtrLen(0, uint32(len(out)))
}

func (st *callState) answerErr(err error) uint64 {
	st.pending = []byte(err.Error())
	return abi.PackPtrLen(1, uint32(len(st.pending)))
}

func hostTake(ctx context.Context, m api.Module, ptr, n uint32) uint32 {
	st := stateOf(ctx)
	if st == nil || st.pending == nil || int(n) != len(st.pending) {
		if st != nil {
			st.violate("host_take of %d bytes without a matching answer", n)
		}
		return 1
	}
	if !m.Memory().Write(ptr, st.pending) {
		st.violate("host_take buffer out of bounds (%d bytes at 0x%x)", n, ptr)
		return 1
	}
	st.pending = nil
	return 0
}

// hostEmit passes a chunk to OnChunk. An empty chunk is the JSON of the
// call's last abi.HostJSON conversion, once. Its status 1 makes the guest
// raise RuntimeError; once the stream is stopped (streamErr), every emit
// gets it.
func hostEmit(ctx context.Context, m api.Module, ptr, n uint32) uint32 {
	st := stateOf(ctx)
	if st == nil || st.req.OnChunk == nil || st.streamErr != nil {
		return 1
	}
	lim := &st.inst.opts.Limits
	var chunk []byte
	size := int64(n)
	if n == 0 && st.madeJSON != nil {
		// The chunk is the JSON hostJSON just made: handed over, not copied.
		chunk, st.madeJSON, st.inst.conv = st.madeJSON, nil, nil
		size = int64(len(chunk))
	}
	st.chunks++
	st.chunkSize += int(size)
	switch {
	case size > int64(lim.MaxResult):
		st.streamErr = fmt.Errorf("%w: a stream chunk of %d bytes, limit %d", ErrResultTooLarge, size, lim.MaxResult)
	case st.chunks > lim.MaxStreamChunks:
		st.streamErr = fmt.Errorf("%w: more than %d chunks", ErrStreamLimit, lim.MaxStreamChunks)
	case st.chunkSize > lim.MaxStreamBytes:
		st.streamErr = fmt.Errorf("%w: more than %d bytes", ErrStreamLimit, lim.MaxStreamBytes)
	}
	if st.streamErr != nil {
		return 1
	}
	if chunk == nil {
		var ok bool
		chunk, ok = st.read(m, ptr, n, lim.MaxResult, "stream chunk")
		if !ok || !json.Valid(chunk) {
			return 1 // the guest's own module writes strict JSON; raw _snakepit.emit may not
		}
	}
	if err := st.req.OnChunk(chunk); err != nil {
		st.streamErr = fmt.Errorf("stream stopped by OnChunk: %w", err)
		return 1
	}
	return 0
}

// schedEvery spaces yield's calls to runtime.Gosched.
const schedEvery = time.Millisecond
