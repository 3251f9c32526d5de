package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"sync"

	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// defaultMaxLine bounds one inbound line (a request), as the SDK's own
// stdio transport does.
const defaultMaxLine = mcp.DefaultMaxLineLength

// lineTransport is MCP's stdio transport, newline-delimited JSON-RPC, made to
// survive its input. The SDK's mcp.IOTransport ends the connection at the
// first line it cannot decode ("[]", "{", an id that is an object): every
// request after it went unanswered and a stateful client lost its session.
// Here such a line gets the JSON-RPC error it deserves and reading goes on.
// It also answers what is still pending when input ends (see Read).
type lineTransport struct {
	in      io.Reader
	out     io.Writer
	maxLine int // 0 means defaultMaxLine
	conn    *lineConn
}

func (t *lineTransport) Connect(context.Context) (mcp.Connection, error) {
	t.conn = &lineConn{out: t.out, lines: make(chan lineOrErr), closed: make(chan struct{}), pending: map[jsonrpc.ID]bool{}, cancelled: map[jsonrpc.ID]bool{}}
	if t.maxLine == 0 {
		t.maxLine = defaultMaxLine
	}
	go t.conn.readLines(t.in, t.maxLine)
	return t.conn, nil
}

type lineOrErr struct {
	line []byte
	err  error
}

type lineConn struct {
	out    io.Writer
	lines  chan lineOrErr
	closed chan struct{}
	once   sync.Once

	mu      sync.Mutex // writes, and the fields below
	pending map[jsonrpc.ID]bool
	// cancelled holds the pending requests the client cancelled until
	// their handlers return: MCP says their answers are not sent.
	cancelled map[jsonrpc.ID]bool
	settled   chan struct{} // closed when pending empties, once input has ended
	eof       bool
	lost      int // requests answered with an error because the server stopped
}

// readLines feeds lines to Read. Reading stdin cannot be interrupted, so it
// runs on its own goroutine, which ends with the input.
func (c *lineConn) readLines(in io.Reader, maxLine int) {
	r := bufio.NewReaderSize(in, 64<<10)
	for {
		line, err := readLine(r, maxLine)
		select {
		case c.lines <- lineOrErr{line, err}:
		case <-c.closed:
			return
		}
		if err != nil && !errors.Is(err, errLineTooLong) {
			return
		}
	}
}

var errLineTooLong = errors.New("line too long")

// readLine returns the next line without its newline; past maxLine it skips
// the rest of the line and returns errLineTooLong.
func readLine(r *bufio.Reader, maxLine int) ([]byte, error) {
	var line []byte
	for {
		chunk, err := r.ReadSlice('\n')
		if len(line)+len(chunk) > maxLine+1 {
			for errors.Is(err, bufio.ErrBufferFull) {
				_, err = r.ReadSlice('\n')
			}
			if err != nil && err != io.EOF {
				return nil, err
			}
			return nil, errLineTooLong
		}
		line = append(line, chunk...)
		switch {
		case errors.Is(err, bufio.ErrBufferFull):
			continue
		case err == io.EOF && len(line) > 0:
			return line, nil
		case err != nil:
			return nil, err
		}
		return line[:len(line)-1], nil
	}
}

// Read returns the next message. A line that is not one is answered here.
// When input ends, Read waits for the requests still running to be answered
// before it reports the end: the SDK closes the connection when Read fails,
// and their answers would be dropped.
func (c *lineConn) Read(ctx context.Context) (jsonrpc.Message, error) {
	for {
		var l lineOrErr
		select {
		case l = <-c.lines:
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-c.closed:
			return nil, io.EOF
		}
		switch {
		case errors.Is(l.err, errLineTooLong):
			c.reject(jsonrpc.ID{}, jsonrpc.CodeInvalidRequest, l.err.Error())
			continue
		case l.err != nil:
			return nil, c.drain(ctx, l.err)
		}
		if len(bytes.TrimSpace(l.line)) == 0 {
			continue
		}
		msg, err := jsonrpc.DecodeMessage(l.line)
		if err != nil {
			code := jsonrpc.CodeInvalidRequest
			if !json.Valid(l.line) {
				code = jsonrpc.CodeParseError
			}
			c.reject(idOf(l.line), code, err.Error())
			continue
		}
		if req, ok := msg.(*jsonrpc.Request); ok {
			c.track(req)
		}
		return msg, nil
	}
}

// drain waits, after input ended, for the pending requests' answers; if ctx
// or the connection ends first, it answers those left with an error.
func (c *lineConn) drain(ctx context.Context, end error) error {
	c.mu.Lock()
	c.eof = true
	c.settled = make(chan struct{})
	if len(c.pending) == 0 {
		close(c.settled)
	}
	settled := c.settled
	c.mu.Unlock()
	select {
	case <-settled:
	case <-ctx.Done():
	case <-c.closed:
	}
	c.mu.Lock()
	ids := make([]jsonrpc.ID, 0, len(c.pending))
	for id := range c.pending {
		ids = append(ids, id)
	}
	c.mu.Unlock()
	for _, id := range ids {
		c.reject(id, jsonrpc.CodeInternalError, "the server stopped before this request finished")
		c.mu.Lock()
		c.lost++
		c.mu.Unlock()
	}
	return end
}

// Lost returns how many requests were answered with an error because the
// server stopped before they finished.
func (c *lineConn) Lost() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.lost
}

func (c *lineConn) Write(_ context.Context, msg jsonrpc.Message) error {
	b, err := jsonrpc.EncodeMessage(msg)
	if err != nil {
		return err
	}
	var id jsonrpc.ID
	if r, ok := msg.(*jsonrpc.Response); ok {
		id = r.ID
	}
	return c.writeLine(b, id)
}

// writeLine writes one message; id is the request it answers, if any.
func (c *lineConn) writeLine(b []byte, id jsonrpc.ID) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	select {
	case <-c.closed:
		return io.ErrClosedPipe // the SDK ended the connection: nobody reads on
	default:
	}
	if id.IsValid() {
		if c.cancelled[id] {
			delete(c.cancelled, id)
			return nil // the client cancelled it
		}
		if !c.pending[id] && c.eof {
			return nil // answered already, by drain
		}
		c.settleLocked(id)
	}
	_, err := c.out.Write(append(b, '\n'))
	return err
}

// track notes a request that awaits an answer, and forgets one the client
// cancelled: MCP says a cancelled request gets none, so its answer is not
// written (a client that stopped reading would block the server on it) and
// drain does not wait for it.
func (c *lineConn) track(req *jsonrpc.Request) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if req.ID.IsValid() {
		c.pending[req.ID] = true
		return
	}
	if req.Method != "notifications/cancelled" {
		return
	}
	var p struct {
		RequestID any `json:"requestId"`
	}
	if json.Unmarshal(req.Params, &p) != nil {
		return
	}
	if id, err := jsonrpc.MakeID(p.RequestID); err == nil && c.pending[id] {
		c.cancelled[id] = true
		c.settleLocked(id)
	}
}

// settleLocked takes id off the pending requests.
func (c *lineConn) settleLocked(id jsonrpc.ID) {
	delete(c.pending, id)
	if c.eof && len(c.pending) == 0 {
		select {
		case <-c.settled:
		default:
			close(c.settled)
		}
	}
}

// reject answers a line that could not be served.
func (c *lineConn) reject(id jsonrpc.ID, code int, msg string) {
	resp := &jsonrpc.Response{ID: id, Error: &jsonrpc.Error{Code: int64(code), Message: msg}}
	b, err := jsonrpc.EncodeMessage(resp)
	if err != nil {
		return
	}
	c.writeLine(b, id)
}

// idOf is a malformed request's id when it has a usable one, so that the
// client can match the error to its request; JSON-RPC says null otherwise.
func idOf(line []byte) jsonrpc.ID {
	var probe struct {
		ID any `json:"id"`
	}
	if json.Unmarshal(line, &probe) != nil {
		return jsonrpc.ID{}
	}
	id, err := jsonrpc.MakeID(probe.ID)
	if err != nil {
		return jsonrpc.ID{}
	}
	return id
}

func (c *lineConn) Close() error {
	c.once.Do(func() { close(c.closed) })
	return nil
}

func (c *lineConn) SessionID() string { return "" }
