package runtime

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/snakepit-wasm/snakepit/internal/abi"
)

// asyncCalls are the host tools one call started with snakepit.acall (the
// abi.HostStart control operation), each on a goroutine of its own. None
// outlives the call: end cancels them all and waits.
type asyncCalls struct {
	ctx    context.Context // the call's, canceled by end
	cancel context.CancelFunc
	wg     sync.WaitGroup
	wake   chan struct{} // a tool finished (buffered: a missed wake-up is kept)

	mu    sync.Mutex
	next  int64
	calls map[int64]*asyncCall // started and not yet reported to the guest
}

type asyncCall struct {
	cancel   context.CancelFunc
	finished bool
	answer   []byte // the JSON answer, or
	err      string // the error for the guest
}

// control serves a control operation (a host call named abi.ReservedPrefix...).
func (st *callState) control(name string, arg []byte) uint64 {
	switch name {
	case abi.HostStart:
		return st.asyncStart(arg)
	case abi.HostWait:
		return st.asyncWait(arg)
	case abi.HostCancel:
		var hs []int64
		if json.Unmarshal(arg, &hs) != nil {
			return st.answerErr(errors.New("snakepit: cancel wants a list of handles"))
		}
		if a := st.async; a != nil {
			a.mu.Lock()
			for _, h := range hs {
				if c := a.calls[h]; c != nil {
					c.cancel()
				}
			}
			a.mu.Unlock()
		}
		return st.answer([]byte("null"))
	}
	return st.answerErr(fmt.Errorf("snakepit: no host function %q", name))
}

func (st *callState) asyncStart(arg []byte) uint64 {
	lim := &st.inst.opts.Limits
	var req []json.RawMessage
	var name string
	if json.Unmarshal(arg, &req) != nil || len(req) != 2 || json.Unmarshal(req[0], &name) != nil {
		return st.answerErr(errors.New("snakepit: start wants [name, args]"))
	}
	args := bytes.TrimLeft(req[1], " \t\r\n")
	if len(args) == 0 || (args[0] != '[' && args[0] != '{') {
		return st.answerErr(errors.New("snakepit: host call arguments must be a JSON list or object"))
	}
	if st.asyncEnded {
		return st.answerErr(errors.New("snakepit: the call has ended"))
	}
	a := st.async
	if a == nil {
		ctx, cancel := context.WithCancel(st.ctx)
		a = &asyncCalls{ctx: ctx, cancel: cancel, wake: make(chan struct{}, 1), calls: map[int64]*asyncCall{}}
		st.async = a
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if len(a.calls) >= lim.MaxAsyncHostCalls {
		return st.answer([]byte("null")) // the guest waits for a slot
	}
	st.hostCalls++ // counted as snakepit.call counts: unknown names too
	if st.hostCalls > lim.MaxHostCalls {
		return st.answerErr(fmt.Errorf("%w (%d per call)", ErrHostCallLimit, lim.MaxHostCalls))
	}
	f := st.tool(name)
	if f == nil {
		return st.answerErr(fmt.Errorf("snakepit: no host function %q", name))
	}
	a.next++
	h := a.next
	ctx, cancel := context.WithCancel(a.ctx)
	c := &asyncCall{cancel: cancel}
	a.calls[h] = c
	a.wg.Add(1)
	go func() {
		defer a.wg.Done()
		defer cancel()
		out, err := runTool(ctx, f, name, args, lim.MaxHostPayload)
		a.mu.Lock()
		c.finished, c.answer = true, out
		if err != nil {
			c.err = err.Error()
		}
		a.mu.Unlock()
		select {
		case a.wake <- struct{}{}:
		default:
		}
	}()
	return st.answer(strconv.AppendInt(nil, h, 10))
}

// runTool runs a host tool and encodes its answer. A panic becomes the
// guest's error: on this goroutine it would end the process.
func runTool(ctx context.Context, f HostFunc, name string, args []byte, max int) (out []byte, err error) {
	defer func() {
		if p := recover(); p != nil {
			out, err = nil, fmt.Errorf("snakepit: host function %q panicked: %v", name, p)
		}
	}()
	v, err := f(ctx, args)
	if err != nil {
		return nil, err
	}
	if out, err = json.Marshal(v); err != nil {
		return nil, fmt.Errorf("snakepit: encoding the answer of %q: %w", name, err)
	}
	if len(out) > max {
		return nil, fmt.Errorf("snakepit: answer of %q over %d bytes", name, max)
	}
	return out, nil
}

// asyncWait answers the finished tools, waiting for one if none has
// finished, until the timeout (seconds; null for none) or the call's end.
func (st *callState) asyncWait(arg []byte) uint64 {
	var timeout *float64
	if json.Unmarshal(arg, &timeout) != nil {
		return st.answerErr(errors.New("snakepit: wait wants a timeout in seconds or null"))
	}
	var expire <-chan time.Time
	if timeout != nil && *timeout < 1e6 {
		t := time.NewTimer(time.Duration(max(*timeout, 0) * float64(time.Second)))
		defer t.Stop()
		expire = t.C
	}
	i := st.inst
	for {
		if out := st.finished(); out != nil {
			return st.answer(out)
		}
		var wake chan struct{}
		if st.async != nil {
			wake = st.async.wake
		}
		select {
		case <-wake:
			continue
		case <-expire:
			return st.answer([]byte("[]"))
		case <-st.ctx.Done():
		case <-i.life.Done():
		}
		// The guest's next check stops the call; the error lets Python
		// unwind (finally blocks run) if it gets that far.
		err := i.stopped(st.ctx)
		if err == nil {
			err = ErrClosed
		}
		return st.answerErr(fmt.Errorf("call stopped: %w", err))
	}
}

// finished takes the finished tools out of st.async and encodes them as
// [[handle, ok, value], ...], as many as MaxHostPayload holds (at least
// one); nil when none has finished.
func (st *callState) finished() []byte {
	a := st.async
	if a == nil {
		return nil
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	var hs []int64
	for h, c := range a.calls {
		if c.finished {
			hs = append(hs, h)
		}
	}
	if len(hs) == 0 {
		return nil
	}
	slices.Sort(hs)
	out := []byte{'['}
	for _, h := range hs {
		c := a.calls[h]
		n := len(out)
		if n > 1 {
			out = append(out, ',')
		}
		out = append(out, '[')
		out = strconv.AppendInt(out, h, 10)
		if c.err != "" {
			msg, _ := json.Marshal(c.err)
			out = append(append(out, ",false,"...), msg...)
		} else {
			out = append(append(out, ",true,"...), c.answer...)
		}
		out = append(out, ']')
		if n > 1 && len(out)+1 > st.inst.opts.Limits.MaxHostPayload {
			out = out[:n] // the rest waits for the next wait
			break
		}
		delete(a.calls, h)
	}
	return append(out, ']')
}

// endAsync cancels the tools still running and waits for them: none
// outlives its call. Later starts (from a destructor that sp_release runs)
// are refused.
func (st *callState) endAsync() {
	st.asyncEnded = true
	if a := st.async; a != nil {
		a.cancel()
		a.wg.Wait()
	}
}
