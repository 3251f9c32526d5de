// Command snakepit runs Python in a sandbox inside its own process: CPython
// compiled to WebAssembly, run by wazero, with no access to the host but what
// its flags grant.
//
// Usage:
//
//	snakepit run [flags] [-c CODE | FILE | -]   run Python and print its output
//	snakepit doctor [--json]                    check the interpreter, the cache and a call
//	snakepit mcp [flags]                        serve a run_python tool over MCP on stdio
//	snakepit serve [flags]                      serve it over MCP's streamable HTTP, with health and metrics
//
// Install it with
//
//	go install github.com/snakepit-wasm/snakepit/cmd/snakepit@latest
//
// The exit status is 0 on success, 1 when the command failed (a Python
// error, a limit reached, a problem found by doctor) and 2 for a usage
// error. `snakepit help COMMAND` and `snakepit COMMAND -h` describe each
// command and its flags.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

// Exit statuses, as the go command uses them.
const (
	exitOK      = 0
	exitFailure = 1
	exitUsage   = 2
)

type command struct {
	name, args, short string
	run               func(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int
}

var commands []command

func init() {
	// Assigned in init: the commands' own usage refers to this list.
	commands = []command{
		{"run", "[flags] [-c CODE | FILE | -]", "run Python in a fresh sandbox and print its output", runCmd},
		{"doctor", "[--json]", "check the interpreter, its compilation cache and a call", doctorCmd},
		{"mcp", "[flags]", "serve a run_python tool to MCP clients on stdin/stdout", mcpCmd},
		{"serve", "[flags]", "serve the run_python tool over HTTP (MCP streamable HTTP), with health and metrics", serveCmd},
	}
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// run is the whole program, minus the process: tests call it directly.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		usage(stderr)
		return exitUsage
	}
	name, rest := args[0], args[1:]
	switch name {
	case "-h", "-help", "--help", "help":
		if len(rest) == 0 {
			usage(stdout)
			return exitOK
		}
		// `snakepit help run` is `snakepit run -h`.
		name, rest = rest[0], []string{"-h"}
	}
	for _, c := range commands {
		if c.name == name {
			return c.run(ctx, rest, stdin, stdout, stderr)
		}
	}
	fmt.Fprintf(stderr, "snakepit %s: unknown command\nRun 'snakepit help' for usage.\n", name)
	return exitUsage
}

func usage(w io.Writer) {
	fmt.Fprint(w, "snakepit runs Python (CPython compiled to WebAssembly) in a sandbox inside its own process.\n\nUsage:\n\n\tsnakepit <command> [arguments]\n\nThe commands are:\n\n")
	for _, c := range commands {
		fmt.Fprintf(w, "\t%-8s %s\n", c.name, c.short)
	}
	fmt.Fprint(w, "\nUse \"snakepit help <command>\" for more information about a command.\n")
}
