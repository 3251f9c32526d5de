// Command pgo runs stage 1's command-line python.wasm, built with
// -fprofile-generate, on the profile-guided build's training task (pgo.sh).
// It is the WASI host the recipe needs and nothing more: the snakepit.tick
// import that the preemption patch adds is a no-op here, since nothing is
// preempted, and the exit code is python's.
package main

import (
	"context"
	"crypto/rand"
	"errors"
	"flag"
	"fmt"
	"os"
	"strings"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/imports/wasi_snapshot_preview1"
	"github.com/tetratelabs/wazero/sys"
)

type list []string

func (l *list) String() string     { return strings.Join(*l, ",") }
func (l *list) Set(s string) error { *l = append(*l, s); return nil }

func main() {
	var mounts, env list
	wasm := flag.String("wasm", "", "the instrumented python.wasm")
	cache := flag.String("cache", "", "wazero's compilation cache directory")
	flag.Var(&mounts, "mount", "host:guest[:ro] directory, repeatable")
	flag.Var(&env, "env", "KEY=VALUE, repeatable")
	flag.Parse()
	code, err := run(*wasm, *cache, mounts, env, flag.Args())
	if err != nil {
		fmt.Fprintln(os.Stderr, "pgo:", err)
		os.Exit(2)
	}
	os.Exit(int(code))
}

func run(path, cache string, mounts, env, args []string) (uint32, error) {
	ctx := context.Background()
	bin, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	rc := wazero.NewRuntimeConfigCompiler()
	if cache != "" {
		cc, err := wazero.NewCompilationCacheWithDir(cache)
		if err != nil {
			return 0, err
		}
		rc = rc.WithCompilationCache(cc)
	}
	r := wazero.NewRuntimeWithConfig(ctx, rc)
	defer r.Close(ctx)
	wasi_snapshot_preview1.MustInstantiate(ctx, r)
	if _, err := r.NewHostModuleBuilder("snakepit").NewFunctionBuilder().
		WithFunc(func() {}).Export("tick").Instantiate(ctx); err != nil {
		return 0, err
	}
	fsc := wazero.NewFSConfig()
	for _, m := range mounts {
		host, guest, ok := strings.Cut(m, ":")
		if !ok {
			return 0, fmt.Errorf("mount %q: want host:guest[:ro]", m)
		}
		if g, ro := strings.CutSuffix(guest, ":ro"); ro {
			fsc = fsc.WithReadOnlyDirMount(host, g)
		} else {
			fsc = fsc.WithDirMount(host, guest)
		}
	}
	mc := wazero.NewModuleConfig().WithArgs(append([]string{"python"}, args...)...).
		WithFSConfig(fsc).WithStdout(os.Stdout).WithStderr(os.Stderr).WithStdin(os.Stdin).
		WithSysWalltime().WithSysNanotime().WithSysNanosleep().WithRandSource(rand.Reader)
	for _, kv := range env {
		k, v, _ := strings.Cut(kv, "=")
		mc = mc.WithEnv(k, v)
	}
	_, err = r.InstantiateWithConfig(ctx, bin, mc)
	if se := (*sys.ExitError)(nil); errors.As(err, &se) {
		return se.ExitCode(), nil
	}
	return 0, err
}
