package native

import (
	"bufio"
	"bytes"
	"context"
	_ "embed"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

//go:embed worker.py
var workerSource string

// Frame ops; worker.py documents the protocol.
const (
	opExec      = 'E'
	opCall      = 'C'
	opCallBytes = 'B'
	opReply     = 'R'
	opFail      = 'F'
	opOK        = 'O'
	opError     = 'X'
	opHost      = 'H'
)

// maxFrame bounds a frame so that a corrupted length cannot make us allocate
// gigabytes.
const maxFrame = 1 << 30

// exitGrace is how long a worker may take to exit after its stdin is closed,
// and how long Close waits for calls still running, before killing.
const exitGrace = 2 * time.Second

// worker is one child process; it serves one request at a time.
type worker struct {
	cmd    *exec.Cmd
	stdin  *os.File // our ends of the child's stdin and stdout
	stdout *os.File
	w      *bufio.Writer
	r      *bufio.Reader
	stderr *tail
	killed atomic.Bool

	waitOnce sync.Once
	waitErr  error

	whead [5]byte
	rhead [5]byte
}

// startWorker starts a worker, waits for its ready frame and runs setup in it.
// ctx bounds only the start.
func startWorker(ctx context.Context, python Python, setup []string) (*worker, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	// -I -S: as lean as a production pool would run it, with no site
	// packages and no environment or user directories influencing it.
	prog, args := python.argv("-I", "-S", "-c", workerSource)
	cmd := exec.Command(prog, args...)
	inR, inW, err := blockingPipe()
	if err != nil {
		return nil, err
	}
	outR, outW, err := blockingPipe()
	if err != nil {
		inR.Close()
		inW.Close()
		return nil, err
	}
	cmd.Stdin, cmd.Stdout = inR, outW
	w := &worker{
		cmd:    cmd,
		stdin:  inW,
		stdout: outR,
		w:      bufio.NewWriterSize(inW, 64<<10),
		r:      bufio.NewReaderSize(outR, 64<<10),
		stderr: &tail{},
	}
	cmd.Stderr = w.stderr
	// A grandchild holding stderr open must not make Wait hang.
	cmd.WaitDelay = time.Second
	err = cmd.Start()
	inR.Close()
	outW.Close()
	if err != nil {
		inW.Close()
		outR.Close()
		return nil, fmt.Errorf("native: start %s: %w", python, err)
	}

	stop := context.AfterFunc(ctx, w.kill)
	op, _, err := w.readFrame()
	if err == nil && op != opOK {
		err = fmt.Errorf("protocol error: ready frame has op %q", op)
	}
	for _, src := range setup {
		if err != nil {
			break
		}
		_, err = w.roundTrip(opExec, "", []byte(src), nil)
	}
	if !stop() {
		err = ctx.Err()
	}
	if err != nil {
		w.kill()
		w.wait()
		if _, ok := err.(*PythonError); !ok {
			err = w.describe(err)
		}
		return nil, fmt.Errorf("native: start worker: %w", err)
	}
	return w, nil
}

// roundTrip sends one request and reads frames until its answer, serving host
// callbacks on the way. An error other than *PythonError leaves the worker in
// an unknown state.
func (w *worker) roundTrip(op byte, name string, payload []byte, cb func([]byte) []byte) ([]byte, error) {
	if err := w.send(op, name, payload); err != nil {
		return nil, err
	}
	for {
		op, body, err := w.readFrame()
		if err != nil {
			return nil, err
		}
		switch op {
		case opOK:
			return body, nil
		case opError:
			typ, msg, _ := strings.Cut(string(body), "\x00")
			return nil, &PythonError{Type: typ, Message: msg}
		case opHost:
			if cb == nil {
				err = w.send(opFail, "", []byte("host_call: this call has no host callback"))
			} else {
				err = w.send(opReply, "", cb(body))
			}
			if err != nil {
				return nil, err
			}
		default:
			return nil, fmt.Errorf("protocol error: unexpected op %q", op)
		}
	}
}

func (w *worker) send(op byte, name string, payload []byte) error {
	named := op == opCall || op == opCallBytes
	n := 1 + len(payload)
	if named {
		n += len(name) + 1
	}
	if n > maxFrame {
		return fmt.Errorf("native: request of %d bytes is too large", n)
	}
	binary.LittleEndian.PutUint32(w.whead[:4], uint32(n))
	w.whead[4] = op
	w.w.Write(w.whead[:])
	if named {
		w.w.WriteString(name)
		w.w.WriteByte(0)
	}
	w.w.Write(payload)
	// bufio errors are sticky, so Flush reports any failed write above.
	return w.w.Flush()
}

func (w *worker) readFrame() (byte, []byte, error) {
	if _, err := io.ReadFull(w.r, w.rhead[:]); err != nil {
		return 0, nil, err
	}
	n := binary.LittleEndian.Uint32(w.rhead[:4])
	if n < 1 || n > maxFrame {
		return 0, nil, fmt.Errorf("protocol error: frame length %d", n)
	}
	body := make([]byte, n-1)
	if _, err := io.ReadFull(w.r, body); err != nil {
		return 0, nil, err
	}
	return w.rhead[4], body, nil
}

// kill may run concurrently with a round trip: the dying child closes its
// pipes, which ends the round trip with an error.
func (w *worker) kill() {
	w.killed.Store(true)
	w.cmd.Process.Kill()
}

// wait reaps the child; it may be called more than once. Exit statuses
// caused by our own kill are not errors.
func (w *worker) wait() error {
	w.waitOnce.Do(func() {
		w.waitErr = w.cmd.Wait()
		w.stdin.Close()
		w.stdout.Close()
	})
	if w.waitErr == nil || w.killed.Load() {
		return nil
	}
	return w.describe(w.waitErr)
}

// describe adds how the child ended and what it last wrote to stderr, which
// usually explain why it died. Call it after wait, when stderr is complete.
func (w *worker) describe(err error) error {
	if ps := w.cmd.ProcessState; ps != nil && !errors.Is(err, w.waitErr) {
		err = fmt.Errorf("%w (%v)", err, ps)
	}
	if s := strings.TrimSpace(w.stderr.String()); s != "" {
		err = fmt.Errorf("%w; stderr: %s", err, s)
	}
	return err
}

// tail keeps the last few KiB written to it, which is enough for a
// traceback while bounding what a chatty worker costs.
type tail struct {
	mu  sync.Mutex
	buf []byte
	cut bool
}

const tailSize = 2 << 10

func (t *tail) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf = append(t.buf, p...)
	if len(t.buf) > tailSize {
		t.buf = append(t.buf[:0], t.buf[len(t.buf)-tailSize:]...)
		t.cut = true
	}
	return len(p), nil
}

// String returns the kept text, starting at a line if some was dropped.
func (t *tail) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	b := t.buf
	if t.cut {
		if i := bytes.IndexByte(b, '\n'); i >= 0 {
			b = b[i+1:]
		}
		return "..." + string(b)
	}
	return string(b)
}
