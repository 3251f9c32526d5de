// Command interpreter is a code interpreter's loop on a snakepit pool: the
// user uploads a CSV, model-written Python computes with csv and
// statistics and writes report.json, and the host returns the files the
// code wrote. A session keeps the upload for the next cell, which draws
// chart.svg from it.
package main

import (
	"context"
	"fmt"
	"io"
	"io/fs"
	"log"
	"os"
	"slices"
	"strings"

	"github.com/snakepit-wasm/snakepit/pool"
	"github.com/snakepit-wasm/snakepit/runtime"
)

const sales = `region,month,amount
north,jan,120.5
north,feb,98
south,jan,143
south,feb,151.25
west,jan,87
`

// The cells a model might write.
const (
	summarise = `
import csv, json, statistics
from collections import defaultdict
by_region = defaultdict(list)
with open("sales.csv", newline="") as f:
    for row in csv.DictReader(f):
        by_region[row["region"]].append(float(row["amount"]))
report = {r: {"total": sum(v), "mean": statistics.mean(v)} for r, v in sorted(by_region.items())}
with open("report.json", "w") as f:
    json.dump(report, f, indent=1, sort_keys=True)
print("regions:", len(report))
`
	chart = `
import csv, os
rows = list(csv.DictReader(open("sales.csv")))
bars = "".join(
    f'<rect x="{10 + 30 * i}" y="{200 - float(r["amount"])}" width="20" height="{r["amount"]}"/>'
    for i, r in enumerate(rows))
os.makedirs("out", exist_ok=True)
with open("out/chart.svg", "w") as f:
    f.write(f'<svg xmlns="http://www.w3.org/2000/svg" width="200" height="200">{bars}</svg>')
`
)

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
	p, err := pool.New(ctx, rt, pool.Options{
		Size: 1,
		Mode: pool.ModeSession,
		Instance: runtime.Options{
			MemoryLimit: 128 << 20,
			// Each conversation gets 8 MiB of files, at most 1,000 of them,
			// and at most 1 MiB of them back per cell.
			Scratch: runtime.ScratchOptions{MaxBytes: 8 << 20, MaxFiles: 1000, MaxOutput: 1 << 20},
		},
	})
	if err != nil {
		return err
	}
	defer p.Close(ctx)

	// Cell 1: the upload travels with the request.
	res, err := p.RunSession(ctx, "conversation-1", runtime.Request{
		Op: runtime.OpExec, Code: summarise,
		Files: map[string][]byte{"sales.csv": []byte(sales)},
	})
	if err != nil {
		return err
	}
	fmt.Fprint(out, string(res.Stdout))
	printFiles(out, res)
	fmt.Fprint(out, string(res.Files["report.json"]), "\n")

	// Cell 2: same session, so sales.csv is still there.
	res, err = p.RunSession(ctx, "conversation-1", runtime.Request{Op: runtime.OpExec, Code: chart})
	if err != nil {
		return err
	}
	printFiles(out, res)
	fmt.Fprintf(out, "chart.svg has %d bars\n", strings.Count(string(res.Files["out/chart.svg"]), "<rect"))

	// Everything the session holds, read from the host between cells.
	files, err := p.SessionFiles("conversation-1")
	if err != nil {
		return err
	}
	return fs.WalkDir(files, ".", func(name string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		info, err := d.Info()
		if err == nil {
			fmt.Fprintf(out, "session file %s (%d bytes)\n", name, info.Size())
		}
		return err
	})
}

func printFiles(out io.Writer, res *runtime.Result) {
	var names []string
	for name := range res.Files {
		names = append(names, name)
	}
	slices.Sort(names)
	fmt.Fprintf(out, "written: %s\n", strings.Join(names, ", "))
}
