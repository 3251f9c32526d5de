package main

import (
	"archive/zip"
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/snakepit-wasm/snakepit/runtime"
)

// flagSet is a command's flags and usage.
type flagSet struct {
	*flag.FlagSet
	name, args, doc string
}

// newFlagSet returns a command's flag set. Its errors are returned, not
// exited on; parse prints the usage.
func newFlagSet(name, args, doc string, stderr io.Writer) *flagSet {
	fs := &flagSet{flag.NewFlagSet("snakepit "+name, flag.ContinueOnError), name, args, doc}
	fs.SetOutput(stderr)
	fs.Usage = func() {} // parse and usageError print it
	return fs
}

// parse parses args; it returns -1 to go on, or the exit status: 0 after
// -h, which prints the whole usage on stdout; 2 for a usage error, printed
// on stderr (by the flag package) with a short usage, as the go command
// does.
func (fs *flagSet) parse(args []string, stdout io.Writer) int {
	err := fs.Parse(args)
	switch {
	case errors.Is(err, flag.ErrHelp):
		fmt.Fprintf(stdout, "usage: snakepit %s %s\n\n%s\nFlags:\n", fs.name, fs.args, fs.doc)
		fs.SetOutput(stdout)
		fs.PrintDefaults()
		return exitOK
	case err != nil:
		fs.shortUsage()
		return exitUsage
	}
	return -1
}

func (fs *flagSet) shortUsage() {
	fmt.Fprintf(fs.Output(), "usage: snakepit %s %s\nRun 'snakepit help %s' for details.\n", fs.name, fs.args, fs.name)
}

// usageError prints a usage error the way the flag package does.
func (fs *flagSet) usageError(format string, args ...any) int {
	fmt.Fprintf(fs.Output(), "snakepit %s: "+format+"\n", append([]any{fs.name}, args...)...)
	fs.shortUsage()
	return exitUsage
}

// limits are the sandbox flags that run and mcp share.
type limits struct {
	memory, stdout, stderr byteSize
	timeout                time.Duration
	mounts                 mountList
	env                    envList
	packages               packageList
	paths                  pathList
	preload                nameList
	numpy                  bool
}

func (l *limits) register(fs *flagSet, timeoutDoc string) {
	def := runtime.DefaultLimits()
	l.memory, l.stdout, l.stderr = byteSize(def.MaxMemory), byteSize(def.MaxStdout), byteSize(def.MaxStderr)
	fs.Var(&l.memory, "memory", "cap on the interpreter's memory (`size`: bytes, or with a K, M or G suffix); past it the call fails")
	fs.DurationVar(&l.timeout, "timeout", l.timeout, timeoutDoc)
	fs.Var(&l.stdout, "max-stdout", "keep at most `size` of the code's stdout; the rest is dropped")
	fs.Var(&l.stderr, "max-stderr", "keep at most `size` of the code's stderr; the rest is dropped")
	fs.Var(&l.mounts, "mount", "grant read-only access to a host directory, as `host:guest` (guest absolute); repeatable")
	fs.Var(&l.env, "env", "set an environment variable: `NAME` passes the host's value, NAME=VALUE sets one; repeatable")
	fs.Var(&l.packages, "package", "make Python code importable: a `dir`ectory holding modules and packages (a site-packages), or a .zip or pure-Python .whl; repeatable")
	fs.Var(&l.paths, "path", "put a guest `dir`ectory (a --mount's) on sys.path; repeatable")
	fs.BoolVar(&l.numpy, "numpy", false, "run the numpy variant of the interpreter (numpy 2.2 built in)")
}

func (l *limits) options() runtime.Options {
	return runtime.Options{
		Limits:   runtime.Limits{MaxMemory: int64(l.memory), MaxStdout: int(l.stdout), MaxStderr: int(l.stderr)},
		Mounts:   l.mounts,
		Env:      l.env.vars,
		Packages: l.packages,
	}
}

// setup is the source that puts --path on sys.path and imports --preload,
// in that order ("" for neither).
func (l *limits) setup() string {
	var b strings.Builder
	if len(l.paths) > 0 {
		q, _ := json.Marshal([]string(l.paths)) // a JSON list of strings is a Python literal
		fmt.Fprintf(&b, "import sys\nsys.path.extend(%s)\n", q)
	}
	for _, name := range l.preload {
		fmt.Fprintf(&b, "import %s\n", name)
	}
	return b.String()
}

// packageList is a flag.Value collecting --package DIR|ZIP.
type packageList []runtime.Package

func (p *packageList) String() string { return "" }

func (p *packageList) Set(v string) error {
	st, err := os.Stat(v)
	switch {
	case err != nil:
		return err
	case st.IsDir():
		*p = append(*p, runtime.Package{HostDir: v})
		return nil
	case st.Size() > maxArchive:
		return fmt.Errorf("%s is larger than %d MiB", v, maxArchive>>20)
	}
	b, err := os.ReadFile(v)
	if err != nil {
		return err
	}
	if _, err := zip.NewReader(bytes.NewReader(b), int64(len(b))); err != nil {
		return fmt.Errorf("%s is neither a directory nor a zip archive or wheel: %w", v, err)
	}
	*p = append(*p, runtime.Package{Zip: b})
	return nil
}

// maxArchive bounds a --package archive, read whole into memory.
const maxArchive = 1 << 30

// pathList is a flag.Value collecting --path DIR.
type pathList []string

func (p *pathList) String() string { return "" }

func (p *pathList) Set(v string) error {
	if !path.IsAbs(v) {
		return fmt.Errorf("the guest path %q must be absolute", v)
	}
	*p = append(*p, path.Clean(v))
	return nil
}

// nameList is a flag.Value collecting --preload NAME.
type nameList []string

func (n *nameList) String() string { return "" }

// moduleName is a dotted module name: what may follow "import ".
var moduleName = regexp.MustCompile(`^[\pL_][\pL\pN_]*(\.[\pL_][\pL\pN_]*)*$`)

func (n *nameList) Set(v string) error {
	if !moduleName.MatchString(v) {
		return fmt.Errorf("%q is not a module name", v)
	}
	*n = append(*n, v)
	return nil
}

// byteSize is a flag.Value for sizes: 1048576, 512K, 64M, 1G (powers of 1024;
// "MiB" and "MB" are read the same).
type byteSize uint64

func (s *byteSize) String() string {
	for _, u := range []struct {
		suffix string
		shift  uint
	}{{"G", 30}, {"M", 20}, {"K", 10}} {
		if *s != 0 && *s%(1<<u.shift) == 0 {
			return strconv.FormatUint(uint64(*s)>>u.shift, 10) + u.suffix
		}
	}
	return strconv.FormatUint(uint64(*s), 10)
}

func (s *byteSize) Set(v string) error {
	num := strings.TrimRight(strings.ToUpper(v), "IB")
	shift := 0
	if n := len(num); n > 0 {
		switch num[n-1] {
		case 'K':
			shift = 10
		case 'M':
			shift = 20
		case 'G':
			shift = 30
		}
		if shift > 0 {
			num = num[:n-1]
		}
	}
	n, err := strconv.ParseUint(num, 10, 64)
	if err != nil || n == 0 || n > (1<<40)>>shift {
		return fmt.Errorf("want a size such as 65536, 512K, 64M or 1G")
	}
	*s = byteSize(n << shift)
	return nil
}

// mountList is a flag.Value collecting --mount host:guest.
type mountList []runtime.Mount

func (m *mountList) String() string { return "" }

func (m *mountList) Set(v string) error {
	// The last colon: a Windows host path has one of its own.
	i := strings.LastIndex(v, ":")
	if i <= 0 || i == len(v)-1 {
		return errors.New("want host:guest, e.g. ./data:/data")
	}
	host, guest := v[:i], v[i+1:]
	if !path.IsAbs(guest) {
		return fmt.Errorf("the guest path %q must be absolute", guest)
	}
	if st, err := os.Stat(host); err != nil || !st.IsDir() {
		return fmt.Errorf("%s is not a directory", host)
	}
	*m = append(*m, runtime.Mount{HostDir: host, GuestPath: path.Clean(guest)})
	return nil
}

// envList is a flag.Value collecting --env NAME and --env NAME=VALUE: the
// guest's environment is empty unless granted variable by variable.
type envList struct{ vars map[string]string }

func (e *envList) String() string { return "" }

func (e *envList) Set(v string) error {
	name, value, ok := strings.Cut(v, "=")
	if name == "" {
		return errors.New("want NAME or NAME=VALUE")
	}
	if !ok {
		if value, ok = os.LookupEnv(name); !ok {
			return fmt.Errorf("%s is not set on the host (use NAME=VALUE to set it)", name)
		}
	}
	if e.vars == nil {
		e.vars = map[string]string{}
	}
	e.vars[name] = value
	return nil
}
