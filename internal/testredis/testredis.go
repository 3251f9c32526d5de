// Package testredis starts a real redis-server (Debian's, which `make
// test-deps` installs) for the tests of the Redis session store: one per
// call, on a free loopback port, keeping nothing on disk, stopped by the
// test's cleanup.
package testredis

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"
)

// Server is a running redis-server.
type Server struct {
	Addr string // host:port
	URL  string // redis://host:port/0
}

// Start starts redis-server and returns it once it answers PING. Without
// redis-server the test is skipped, saying why; under CI ($CI set) it fails
// instead, so that a CI machine missing it cannot pass by skipping.
func Start(t testing.TB) *Server {
	t.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("redis-server is not installed ($CI is set, so this is no skip): %v; `make test-deps` installs Debian's", err)
		}
		t.Skipf("redis-server is not installed (%v): `make test-deps` installs Debian's", err)
	}
	var last error
	// The port is free when picked, not necessarily when redis-server
	// binds it: a clash is retried with another.
	for range 5 {
		s, err := start(t, bin)
		if err == nil {
			return s
		}
		last = err
	}
	t.Fatalf("redis-server did not start: %v", last)
	return nil
}

func start(t testing.TB, bin string) (*Server, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	addr := ln.Addr().String()
	ln.Close()
	_, port, _ := net.SplitHostPort(addr)
	dir := t.TempDir()
	var log strings.Builder
	cmd := exec.Command(bin, "--bind", "127.0.0.1", "--port", port, "--save", "", "--appendonly", "no",
		"--dir", dir, "--daemonize", "no", "--loglevel", "warning", "--logfile", "")
	cmd.Stdout, cmd.Stderr = &log, &log
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	stop := func() {
		cmd.Process.Signal(os.Interrupt)
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
			<-exited
		}
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		select {
		case err := <-exited:
			return nil, fmt.Errorf("%v: %s", err, log.String())
		default:
		}
		if ping(addr) == nil {
			t.Cleanup(stop)
			return &Server{Addr: addr, URL: "redis://" + addr + "/0"}, nil
		}
		if time.Now().After(deadline) {
			stop()
			return nil, fmt.Errorf("no answer on %s within 10 s: %s", addr, log.String())
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// ping speaks just enough of Redis's protocol to tell that it serves.
func ping(addr string) error {
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(time.Second))
	if _, err := c.Write([]byte("PING\r\n")); err != nil {
		return err
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		return err
	}
	if line != "+PONG\r\n" {
		return fmt.Errorf("PING answered %s", strconv.Quote(line))
	}
	return nil
}
