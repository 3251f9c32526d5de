// Command adapter calls a Python package shipped inside the Go binary: its
// exported functions are listed with their JSON Schemas and called with
// typed results, one streams, one calls a Go host tool, and one awaits
// several host calls at once.
package main

import (
	"context"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log"
	"os"
	"strings"
	"time"

	"github.com/snakepit-wasm/snakepit/adapter"
	"github.com/snakepit-wasm/snakepit/pool"
	"github.com/snakepit-wasm/snakepit/runtime"
)

// all: keeps __init__.py, which a plain pattern leaves out (names starting
// with "_" or ".").
//
//go:embed all:py
var py embed.FS

// Stats and Token mirror the Python dataclass and TypedDict.
type Stats struct {
	Words int      `json:"words"`
	Chars int      `json:"chars"`
	Top   []string `json:"top"`
}

type Token struct {
	Word  string `json:"word"`
	Start int    `json:"start"`
}

var dictionary = map[string]map[string]string{
	"cat": {"fr": "chat", "de": "Katze"},
	"dog": {"fr": "chien", "de": "Hund"},
	"sun": {"fr": "soleil", "de": "Sonne"},
}

func main() {
	if err := run(context.Background(), os.Stdout); err != nil {
		log.Fatal(err)
	}
}

func run(ctx context.Context, out io.Writer) error {
	rt, err := runtime.New(ctx, runtime.Config{})
	if err != nil {
		return err
	}
	defer rt.Close(ctx)

	pkg, err := fs.Sub(py, "py") // the root that goes on sys.path holds textkit/
	if err != nil {
		return err
	}
	p, err := pool.New(ctx, rt, pool.Options{
		Size:        2,
		MaxCallTime: 5 * time.Second,
		Preload:     []string{"textkit"}, // imported once, in the snapshot every call starts from
		Instance: runtime.Options{
			Limits:   runtime.Limits{MaxAsyncHostCalls: 8}, // the dictionary is safe for concurrent use
			Packages: []runtime.Package{{FS: pkg}},
			Host: map[string]runtime.HostFunc{
				"dictionary": func(_ context.Context, args json.RawMessage) (any, error) {
					var a [2]string // word, language
					if err := json.Unmarshal(args, &a); err != nil {
						return nil, err
					}
					if t, ok := dictionary[a[0]][a[1]]; ok {
						return t, nil
					}
					return nil, fmt.Errorf("no %s for %q", a[1], a[0])
				},
			},
		},
	})
	if err != nil {
		return err
	}
	defer p.Close(ctx)

	cat, err := adapter.Catalog(ctx, p)
	if err != nil {
		return err
	}
	for _, f := range cat {
		fmt.Fprintf(out, "%s: %s\n  input: %s\n", f.Name, f.Description, f.Input)
	}

	text := "The cat saw the dog; the dog saw the sun."
	st, err := adapter.Call[Stats](ctx, p, "stats", map[string]any{"text": text, "top": 2})
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "stats: %+v\n", st)

	var words []string
	for tok, err := range adapter.Stream[Token](ctx, p, "tokens", map[string]any{"text": text}) {
		if err != nil {
			return err
		}
		words = append(words, fmt.Sprintf("%s@%d", tok.Word, tok.Start))
		if len(words) == 4 {
			break // the generator is closed inside Python
		}
	}
	fmt.Fprintf(out, "first tokens: %s\n", strings.Join(words, " "))

	fr, err := adapter.Call[string](ctx, p, "translate", map[string]any{"word": "cat", "to": "fr"})
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "cat in French: %s\n", fr)

	all, err := adapter.Call[map[string]string](ctx, p, "translate_all", map[string]any{"words": []string{"cat", "dog", "sun"}, "to": "de"})
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "in German: cat=%s dog=%s sun=%s\n", all["cat"], all["dog"], all["sun"])

	// An LLM's tool call comes as raw JSON; a mismatch is a typed error.
	_, err = adapter.Call[string](ctx, p, "translate", json.RawMessage(`{"word": "cat", "to": "es"}`))
	if errors.Is(err, adapter.ErrArguments) {
		fmt.Fprintf(out, "refused: %v\n", err)
	}
	return nil
}
